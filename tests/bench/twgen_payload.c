/* SPDX-License-Identifier: MIT */
/*
 * twgen's payloads: TLS 1.3 ClientHello, server flight and client finish records, the pool of
 * full-size application-data segments, and DNS queries and responses.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "twgen.h"

/* ------------------------------------------------------------------------------------------ */
/* TLS messages */

static size_t tw_put_ext_hdr(uint8_t *p, uint16_t type, size_t len)
{
    tw_put_be16(p, type);
    tw_put_be16(p + 2, (uint16_t)len);
    return 4;
}

/*
 * A Chrome-shaped TLS 1.3 ClientHello record: GREASE, SNI, groups, ALPN, signature
 * algorithms, key shares (X25519, plus X25519MLKEM768 when pq), supported_versions, often a
 * GREASE ECH extension, and padding to 512 bytes when small. Returns the record length.
 */
size_t tw_build_client_hello(struct tw_rng *r, uint8_t *b, const char *sni, bool pq,
                             bool grease_indep)
{
    static const uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                      0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                                      0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
    static const uint16_t sigalgs[] = {0x0403, 0x0804, 0x0401, 0x0503,
                                       0x0805, 0x0501, 0x0806, 0x0601};
    static const uint8_t alpn[] = {0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h',
                                   't',  't',  'p',  '/', '1', '.',  '1'};
    uint16_t grease = (uint16_t)(0x0a0a + 0x1010 * tw_rng_below(r, 16));
    uint16_t grease2 =
        grease_indep
            ? (uint16_t)(0x0a0a + 0x1010 * tw_rng_below(r, 16))
            : (uint16_t)(0x0a0a + 0x1010 * ((tw_rng_below(r, 15) + 1 + (grease >> 12)) % 16));
    size_t snl = strlen(sni);
    size_t p = 9; /* record header (5) + handshake header (4) */

    tw_put_be16(b + p, 0x0303);
    p += 2;
    tw_rng_fill(r, b + p, 32);
    p += 32;
    b[p++] = 32;
    tw_rng_fill(r, b + p, 32);
    p += 32;
    tw_put_be16(b + p, (uint16_t)(2 * (TW_ARRAY_LEN(suites) + 1)));
    p += 2;
    tw_put_be16(b + p, grease);
    p += 2;
    for (size_t i = 0; i < TW_ARRAY_LEN(suites); i++, p += 2)
        tw_put_be16(b + p, suites[i]);
    b[p++] = 1;
    b[p++] = 0;

    size_t ext_len_at = p;
    p += 2;
    size_t ext_start = p;

    p += tw_put_ext_hdr(b + p, grease, 0);
    p += tw_put_ext_hdr(b + p, 0x0000, snl + 5); /* server_name */
    tw_put_be16(b + p, (uint16_t)(snl + 3));
    b[p + 2] = 0;
    tw_put_be16(b + p + 3, (uint16_t)snl);
    memcpy(b + p + 5, sni, snl);
    p += snl + 5;
    p += tw_put_ext_hdr(b + p, 0x0017, 0); /* extended_master_secret */
    p += tw_put_ext_hdr(b + p, 0xff01, 1); /* renegotiation_info */
    b[p++] = 0;
    {
        uint16_t groups[5];
        size_t ng = 0;
        groups[ng++] = grease;
        if (pq)
            groups[ng++] = 0x11ec;
        groups[ng++] = 0x001d;
        groups[ng++] = 0x0017;
        groups[ng++] = 0x0018;
        p += tw_put_ext_hdr(b + p, 0x000a, 2 + 2 * ng); /* supported_groups */
        tw_put_be16(b + p, (uint16_t)(2 * ng));
        p += 2;
        for (size_t i = 0; i < ng; i++, p += 2)
            tw_put_be16(b + p, groups[i]);
    }
    p += tw_put_ext_hdr(b + p, 0x000b, 2); /* ec_point_formats */
    b[p++] = 1;
    b[p++] = 0;
    p += tw_put_ext_hdr(b + p, 0x0023, 0); /* session_ticket */
    p += tw_put_ext_hdr(b + p, 0x0010, sizeof(alpn));
    memcpy(b + p, alpn, sizeof(alpn));
    p += sizeof(alpn);
    p += tw_put_ext_hdr(b + p, 0x0005, 5); /* status_request */
    b[p] = 1;
    memset(b + p + 1, 0, 4);
    p += 5;
    p += tw_put_ext_hdr(b + p, 0x000d, 2 + 2 * TW_ARRAY_LEN(sigalgs));
    tw_put_be16(b + p, (uint16_t)(2 * TW_ARRAY_LEN(sigalgs)));
    p += 2;
    for (size_t i = 0; i < TW_ARRAY_LEN(sigalgs); i++, p += 2)
        tw_put_be16(b + p, sigalgs[i]);
    p += tw_put_ext_hdr(b + p, 0x0012, 0); /* signed_certificate_timestamp */
    {
        size_t shares = 5 + 36 + (pq ? 4 + 1216 : 0);
        p += tw_put_ext_hdr(b + p, 0x0033, 2 + shares); /* key_share */
        tw_put_be16(b + p, (uint16_t)shares);
        p += 2;
        tw_put_be16(b + p, grease);
        tw_put_be16(b + p + 2, 1);
        b[p + 4] = 0;
        p += 5;
        if (pq) {
            tw_put_be16(b + p, 0x11ec);
            tw_put_be16(b + p + 2, 1216);
            tw_rng_fill(r, b + p + 4, 1216);
            p += 4 + 1216;
        }
        tw_put_be16(b + p, 0x001d);
        tw_put_be16(b + p + 2, 32);
        tw_rng_fill(r, b + p + 4, 32);
        p += 36;
    }
    p += tw_put_ext_hdr(b + p, 0x002d, 2); /* psk_key_exchange_modes */
    b[p++] = 1;
    b[p++] = 1;
    p += tw_put_ext_hdr(b + p, 0x002b, 7); /* supported_versions */
    b[p++] = 6;
    tw_put_be16(b + p, grease2);
    tw_put_be16(b + p + 2, 0x0304);
    tw_put_be16(b + p + 4, 0x0303);
    p += 6;
    p += tw_put_ext_hdr(b + p, 0x001b, 3); /* compress_certificate: brotli */
    b[p++] = 2;
    tw_put_be16(b + p, 0x0002);
    p += 2;
    if (pq || tw_rng_below(r, 2) == 0) {
        /* GREASE encrypted_client_hello (outer): HPKE suite, config id, enc, payload */
        static const size_t ech_payload = 240;
        p += tw_put_ext_hdr(b + p, 0xfe0d, 1 + 4 + 1 + 2 + 32 + 2 + ech_payload);
        b[p++] = 0; /* outer */
        tw_put_be16(b + p, 0x0001);
        tw_put_be16(b + p + 2, 0x0001);
        p += 4;
        b[p++] = (uint8_t)tw_rng_below(r, 256);
        tw_put_be16(b + p, 32);
        tw_rng_fill(r, b + p + 2, 32);
        p += 34;
        tw_put_be16(b + p, (uint16_t)ech_payload);
        tw_rng_fill(r, b + p + 2, ech_payload);
        p += 2 + ech_payload;
        p += tw_put_ext_hdr(b + p, 0x4469, 5); /* application_settings: h2 */
        tw_put_be16(b + p, 3);
        b[p + 2] = 2;
        b[p + 3] = 'h';
        b[p + 4] = '2';
        p += 5;
    }
    p += tw_put_ext_hdr(b + p, grease2, 1);
    b[p++] = 0;
    {
        size_t hs_len = p - 5;
        if (hs_len + 4 <= 512) { /* padding (RFC 7685) to 512 bytes */
            size_t pad = 512 - hs_len - 4;
            p += tw_put_ext_hdr(b + p, 0x0015, pad);
            memset(b + p, 0, pad);
            p += pad;
        }
    }
    tw_put_be16(b + ext_len_at, (uint16_t)(p - ext_start));
    b[0] = 0x16;
    tw_put_be16(b + 1, 0x0301);
    tw_put_be16(b + 3, (uint16_t)(p - 5));
    b[5] = 0x01;
    b[6] = 0;
    tw_put_be16(b + 7, (uint16_t)(p - 9));
    return p;
}

/* ServerHello + ChangeCipherSpec + encrypted remainder of the flight, filling one segment. */
size_t tw_build_server_flight(struct tw_rng *r, uint8_t *b, size_t seg, bool pq)
{
    size_t ks = pq ? 1120 : 32;
    size_t p = 9;
    tw_put_be16(b + p, 0x0303);
    p += 2;
    tw_rng_fill(r, b + p, 32);
    p += 32;
    b[p++] = 32;
    tw_rng_fill(r, b + p, 32);
    p += 32;
    tw_put_be16(b + p, 0x1301);
    p += 2;
    b[p++] = 0;
    tw_put_be16(b + p, (uint16_t)(6 + 8 + ks));
    p += 2;
    p += tw_put_ext_hdr(b + p, 0x002b, 2);
    tw_put_be16(b + p, 0x0304);
    p += 2;
    p += tw_put_ext_hdr(b + p, 0x0033, 4 + ks);
    tw_put_be16(b + p, pq ? 0x11ec : 0x001d);
    tw_put_be16(b + p + 2, (uint16_t)ks);
    tw_rng_fill(r, b + p + 4, ks);
    p += 4 + ks;
    b[0] = 0x16;
    tw_put_be16(b + 1, 0x0303);
    tw_put_be16(b + 3, (uint16_t)(p - 5));
    b[5] = 0x02;
    b[6] = 0;
    tw_put_be16(b + 7, (uint16_t)(p - 9));

    static const uint8_t ccs[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
    memcpy(b + p, ccs, sizeof(ccs));
    p += sizeof(ccs);
    if (seg > p + 5 + 32) {
        size_t body = seg - p - 5;
        b[p] = 0x17;
        tw_put_be16(b + p + 1, 0x0303);
        tw_put_be16(b + p + 3, (uint16_t)body);
        tw_rng_fill(r, b + p + 5, body);
        p += 5 + body;
    }
    return p;
}

/* ChangeCipherSpec, Finished and a request, as encrypted records. */
size_t tw_build_client_finish(struct tw_rng *r, uint8_t *b)
{
    static const uint8_t ccs[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
    size_t p = sizeof(ccs);
    size_t req = 200 + tw_rng_below(r, 500);
    memcpy(b, ccs, p);
    b[p] = 0x17;
    tw_put_be16(b + p + 1, 0x0303);
    tw_put_be16(b + p + 3, 53);
    tw_rng_fill(r, b + p + 5, 53);
    p += 58;
    b[p] = 0x17;
    tw_put_be16(b + p + 1, 0x0303);
    tw_put_be16(b + p + 3, (uint16_t)req);
    tw_rng_fill(r, b + p + 5, req);
    return p + 5 + req;
}

void tw_payload_pool_init(struct tw_gen *g)
{
    for (int v = 0; v < 2; v++) {
        struct tw_payload *pool = v ? g->data6 : g->data4;
        size_t len = v ? TW_MSS6 : TW_MSS4;
        for (int i = 0; i < TW_PAYLOAD_POOL; i++) {
            uint8_t *b = pool[i].b;
            b[0] = 0x17;
            tw_put_be16(b + 1, 0x0303);
            tw_put_be16(b + 3, (uint16_t)(len - 5));
            tw_rng_fill(&g->r, b + 5, len - 5);
            pool[i].sum = tw_csum_add(0, b, len);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* DNS messages */

/* DNS wire form of a dotted name; returns bytes written. */
static size_t tw_dns_put_name(uint8_t *p, const char *name)
{
    size_t n = 0;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        p[n++] = (uint8_t)l;
        memcpy(p + n, s, l);
        n += l;
        s += l;
        if (*s == '.')
            s++;
    }
    p[n++] = 0;
    return n;
}

/* Query: header, question, optional EDNS0 OPT. Returns the length. */
size_t tw_build_dns_query(uint8_t *b, uint16_t id, const char *name, uint16_t qtype, bool edns)
{
    size_t p = 12;
    tw_put_be16(b, id);
    tw_put_be16(b + 2, 0x0100);
    tw_put_be16(b + 4, 1);
    tw_put_be16(b + 6, 0);
    tw_put_be16(b + 8, 0);
    tw_put_be16(b + 10, edns ? 1 : 0);
    p += tw_dns_put_name(b + p, name);
    tw_put_be16(b + p, qtype);
    tw_put_be16(b + p + 2, 1);
    p += 4;
    if (edns) {
        static const uint8_t opt[] = {0x00, 0x00, 0x29, 0x10, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00};
        memcpy(b + p, opt, sizeof(opt));
        p += sizeof(opt);
    }
    return p;
}

static size_t tw_put_rr_head(uint8_t *b, uint16_t name_ptr, uint16_t type, uint32_t ttl,
                             uint16_t rdlen)
{
    tw_put_be16(b, (uint16_t)(0xc000 | name_ptr));
    tw_put_be16(b + 2, type);
    tw_put_be16(b + 4, 1);
    tw_put_be32(b + 6, ttl);
    tw_put_be16(b + 10, rdlen);
    return 12;
}

/*
 * Response to a query: sometimes NXDOMAIN, sometimes a CNAME whose target points into the
 * question name, then 1-4 A / AAAA records or an HTTPS record, all named by pointers.
 */
size_t tw_build_dns_response(struct tw_rng *r, uint8_t *b, uint16_t id, const char *name,
                             uint16_t qtype, bool edns, bool big, const uint8_t *addr,
                             bool *has_addr)
{
    size_t p = tw_build_dns_query(b, id, name, qtype, false);
    uint16_t an = 0;
    uint16_t owner = 12;
    bool nx = tw_rng_below(r, 100) < 3;

    if (has_addr != NULL)
        *has_addr = false;
    tw_put_be16(b + 2, nx ? 0x8183 : 0x8180);
    if (!nx) {
        if (tw_rng_below(r, 100) < 30) {
            /* CNAME edgeN.<name minus its first label> */
            size_t first = b[12];
            uint16_t target = (uint16_t)p + 12;
            uint8_t lbl[8];
            int l = snprintf((char *)lbl, sizeof(lbl), "edge%u", tw_rng_below(r, 100));
            p += tw_put_rr_head(b + p, 12, 5, 300, (uint16_t)(1 + l + 2));
            b[p] = (uint8_t)l;
            memcpy(b + p + 1, lbl, (size_t)l);
            tw_put_be16(b + p + 1 + l, (uint16_t)(0xc000 | (12 + 1 + first)));
            p += 1 + (size_t)l + 2;
            owner = target;
            an++;
        }
        if (qtype == 1 || qtype == 28) {
            unsigned n =
                big ? (qtype == 1 ? 110 : 60) + tw_rng_below(r, 10) : 1 + tw_rng_below(r, 4);
            size_t alen = qtype == 1 ? 4 : 16;
            for (unsigned i = 0; i < n; i++) {
                p +=
                    tw_put_rr_head(b + p, owner, qtype, 60 + tw_rng_below(r, 3600), (uint16_t)alen);
                tw_rng_fill(r, b + p, alen);
                if (qtype == 1)
                    b[p] = (uint8_t)(198 + (b[p] & 1)); /* keep it off multicast/reserved */
                else
                    tw_put_be16(b + p, 0x2001);
                if (i == 0 && addr != NULL) {
                    memcpy(b + p, addr, alen);
                    if (has_addr != NULL)
                        *has_addr = true;
                }
                p += alen;
                an++;
            }
        } else {
            /* HTTPS (65): priority 1, target ".", alpn=h2 */
            static const uint8_t svcb[] = {0x00, 0x01, 0x00, 0x00, 0x01,
                                           0x00, 0x03, 0x02, 'h',  '2'};
            p += tw_put_rr_head(b + p, owner, 65, 300, sizeof(svcb));
            memcpy(b + p, svcb, sizeof(svcb));
            p += sizeof(svcb);
            an++;
        }
    }
    tw_put_be16(b + 6, an);
    if (edns) {
        static const uint8_t opt[] = {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00};
        memcpy(b + p, opt, sizeof(opt));
        p += sizeof(opt);
        tw_put_be16(b + 10, 1);
    }
    return p;
}
