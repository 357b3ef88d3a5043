/* SPDX-License-Identifier: MIT */
/*
 * twgen - deterministic generator of a mixed-traffic capture for benchmarking tunwatch.
 *
 *   twgen -n PACKETS -o FILE.pcap [-s SEED] [-N NAMES.tsv]
 *   twgen --rules N -o RULES.yml
 *
 * The capture is classic pcap (LINKTYPE_ETHERNET, microsecond timestamps) with, per packet:
 *   ~70% TLS bulk transfers on long-lived flows (handshake, TLS 1.3 ClientHello with SNI,
 *        server flight, 1448-byte data segments, delayed ACKs, FIN)
 *   ~12% short TLS flows (a few data segments each)
 *   ~10% DNS over UDP (A/AAAA/HTTPS queries, answers with compression pointers, CNAMEs)
 *    ~3% DNS over TCP
 *    ~5% ICMP echo and ARP noise
 * About 15% of flows are IPv6, 1% VLAN-tagged, 5% of TLS flows use port 8443, and 25% of
 * ClientHellos carry an X25519MLKEM768 (0x11ec) key share, which makes them ~1.9 KB and
 * splits them over two segments. SNI and DNS names come from a fixed pool of 5,000 benign
 * names plus ~1% names under tunnel services (ngrok, localto.net, trycloudflare.com, ...).
 * All IPv4, TCP, UDP and ICMP checksums are correct.
 *
 * -N writes one line per name the capture carries where a decoder should see it:
 * "FRAME<TAB>dns|sni<TAB>NAME" (frame numbers are 1-based; a split ClientHello is listed at
 * the frame of its last segment). tests/bench/check_gen.sh compares it with tshark.
 *
 * --rules writes N Sigma rules, one YAML document each, alternating network_connection
 * (DestinationHostname|endswith) and dns_query (QueryName|endswith) with unique suffixes
 * '.tNNNNN.tunnel-bench.net'. A few rules instead carry suffixes of names the capture
 * contains, so the benchmark also exercises the alert path.
 *
 * Everything derives from a splitmix64/xorshift PRNG with a fixed seed: the same arguments
 * give the same bytes on every machine.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TW_GEN_DEFAULT_PACKETS 2000000ULL
#define TW_GEN_DEFAULT_SEED 0x7475ULL
#define TW_GEN_START_SEC 1700000000U
#define TW_GEN_MEAN_GAP_US 6 /* ~166k packets/s: a busy 1-2 Gbit/s link */

#define TW_POOL_NAMES 5000
#define TW_TUNNEL_NAMES 64
#define TW_NAME_LEN 256

#define TW_MSS4 1448
#define TW_MSS6 1428
#define TW_PAYLOAD_POOL 64

#define TW_BULK_SLOTS 64
#define TW_SHORT_SLOTS 32
#define TW_DNSTCP_SLOTS 8
#define TW_DNS_PENDING 128
#define TW_PKT_MAX 2048
#define TW_CH_MAX 2300

#define TW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define TW_TCP_FIN 0x01
#define TW_TCP_SYN 0x02
#define TW_TCP_PSH 0x08
#define TW_TCP_ACK 0x10

/* ------------------------------------------------------------------------------------------ */
/* PRNG */

static uint64_t tw_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* xorshift64* seeded through splitmix64 (never zero). */
struct tw_rng {
    uint64_t s;
};

static void tw_rng_seed(struct tw_rng *r, uint64_t seed)
{
    uint64_t st = seed;
    r->s = tw_splitmix64(&st);
    if (r->s == 0)
        r->s = 0x1234567ULL;
}

static uint64_t tw_rng_next(struct tw_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n); n > 0. The modulo bias is irrelevant here. */
static uint32_t tw_rng_below(struct tw_rng *r, uint32_t n)
{
    return (uint32_t)((tw_rng_next(r) >> 32) % n);
}

static void tw_rng_fill(struct tw_rng *r, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = tw_rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = tw_rng_next(r);
        memcpy(p, &v, n);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Byte helpers and the Internet checksum */

static void tw_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void tw_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One's-complement sum of big-endian 16-bit words; an odd tail is padded with zero.
 * Only call with an even-length prefix when more data follows. */
static uint64_t tw_csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

static uint16_t tw_csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ------------------------------------------------------------------------------------------ */
/* Names */

static const char *const tw_prefixes[] = {"www",   "api",  "cdn",    "static", "img",
                                          "login", "mail", "assets", "m",      "app"};
static const char *const tw_domains[] = {
    "example-cdn.com",  "example.com",      "example.net",       "example.org",
    "shop-example.com", "news-example.net", "video-example.org", "cloud-example.io"};
static const char *const tw_tunnel_suffixes[] = {
    ".ngrok-free.app",    ".ngrok.io",      ".ngrok.app", ".ngrok-free.dev", ".localto.net",
    ".trycloudflare.com", ".devtunnels.ms", ".loca.lt",   ".localtonet.com",
};
static const char *const tw_words[] = {"alpha", "river", "stone", "quiet", "maple", "orbit",
                                       "delta", "lunar", "cedar", "prism", "ember", "nova"};

struct tw_names {
    char benign[TW_POOL_NAMES][64];
    char tunnel[TW_TUNNEL_NAMES][64];
};

/* Benign name i; independent of the seed so that generated rules can target it. */
static void tw_benign_name(unsigned i, char *buf, size_t size)
{
    uint64_t st = 0xb0b0ULL + i;
    uint64_t h = tw_splitmix64(&st);
    snprintf(buf, size, "%s.site%u.%s", tw_prefixes[h % TW_ARRAY_LEN(tw_prefixes)], i,
             tw_domains[(h >> 16) % TW_ARRAY_LEN(tw_domains)]);
}

static void tw_names_init(struct tw_names *nm)
{
    struct tw_rng r;
    static const char hex[] = "0123456789abcdef";

    for (unsigned i = 0; i < TW_POOL_NAMES; i++)
        tw_benign_name(i, nm->benign[i], sizeof(nm->benign[i]));
    tw_rng_seed(&r, 0x70bbe1ULL);
    for (unsigned i = 0; i < TW_TUNNEL_NAMES; i++) {
        const char *suf = tw_tunnel_suffixes[i % TW_ARRAY_LEN(tw_tunnel_suffixes)];
        char label[32];
        unsigned n = 4 + tw_rng_below(&r, 9);
        for (unsigned k = 0; k < n; k++)
            label[k] = hex[tw_rng_below(&r, 16)];
        label[n] = '\0';
        if (strcmp(suf, ".trycloudflare.com") == 0) {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "%s-%s-%s%s",
                     tw_words[tw_rng_below(&r, TW_ARRAY_LEN(tw_words))],
                     tw_words[tw_rng_below(&r, TW_ARRAY_LEN(tw_words))], label, suf);
        } else if (strcmp(suf, ".devtunnels.ms") == 0) {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "%s-8080.euw%s", label, suf);
        } else if (i % 7 == 0) {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "x%s", suf);
        } else {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "%s%s", label, suf);
        }
    }
}

/* Skewed towards low indices (roughly ln(N/k)/N), so some names are popular. */
static const char *tw_pick_name(struct tw_rng *r, const struct tw_names *nm)
{
    if (tw_rng_below(r, 100) == 0)
        return nm->tunnel[tw_rng_below(r, TW_TUNNEL_NAMES)];
    return nm->benign[tw_rng_below(r, 1 + tw_rng_below(r, TW_POOL_NAMES))];
}

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

/* ------------------------------------------------------------------------------------------ */
/* Hosts, flows, generator state */

struct tw_host {
    uint8_t mac[6];
    uint8_t ip[16]; /* IPv4 in the first 4 bytes */
};

struct tw_flow {
    bool active;
    int kind;  /* TW_K_* */
    int state; /* TW_S_* */
    bool v6;
    uint16_t vlan; /* 0: untagged */
    struct tw_host cli, srv;
    uint16_t cport, sport;
    uint16_t cipid, sipid;
    uint8_t cttl, sttl;
    uint32_t cseq, sseq; /* next sequence number each side sends */
    uint32_t ts_off;     /* TCP timestamp offset */
    uint32_t data_left;  /* server data segments still to send */
    uint32_t unacked;
    bool pq; /* post-quantum key share: ClientHello in two segments */
    uint64_t hello_seed;
    size_t ch_sent;
    char name[TW_NAME_LEN];
    uint16_t qtype, dns_id;
};

enum { TW_K_BULK, TW_K_SHORT, TW_K_DNSTCP };

enum {
    TW_S_SYN,
    TW_S_SYNACK,
    TW_S_ACK,
    TW_S_CH,
    TW_S_SFLIGHT,
    TW_S_CFIN,
    TW_S_DATA,
    TW_S_DACK,
    TW_S_DNSQ,
    TW_S_DNSR,
    TW_S_FIN_C,
    TW_S_FIN_S,
    TW_S_LASTACK,
};

struct tw_dns_pending {
    bool v6;
    uint16_t vlan;
    struct tw_host cli, srv;
    uint16_t cport;
    uint16_t id, qtype;
    bool edns;
    char name[TW_NAME_LEN];
};

struct tw_payload {
    uint8_t b[TW_MSS4];
    uint64_t sum;
};

struct tw_gen {
    FILE *out;
    FILE *names_out;
    struct tw_rng r;
    struct tw_names *nm;
    uint64_t ts_us;
    uint64_t frames;
    uint64_t bytes;
    uint64_t target;
    uint8_t pkt[TW_PKT_MAX];
    struct tw_payload data4[TW_PAYLOAD_POOL], data6[TW_PAYLOAD_POOL];
    struct tw_flow bulk[TW_BULK_SLOTS], shortf[TW_SHORT_SLOTS], dnstcp[TW_DNSTCP_SLOTS];
    struct tw_dns_pending pend[TW_DNS_PENDING];
    unsigned pend_head, pend_n;
    struct tw_host gw, resolver4[2], resolver6[2];
    bool icmp_reply_due;
    struct tw_host icmp_cli, icmp_srv;
    uint16_t icmp_id, icmp_seq;
    bool arp_reply_due;
    struct tw_host arp_asker, arp_target;
    uint64_t n_flows, n_v6, n_vlan, n_pq, n_dns, n_sni, n_tunnel;
    bool write_err;
};

static void tw_host_client(struct tw_host *h, bool v6, unsigned idx)
{
    memset(h, 0, sizeof(*h));
    h->mac[0] = 0x02;
    h->mac[1] = 0x00;
    tw_put_be32(h->mac + 2, 0x0a000000U | idx);
    if (v6) {
        static const uint8_t pfx[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00};
        memcpy(h->ip, pfx, 8);
        tw_put_be32(h->ip + 12, idx);
        h->ip[8] = 0x02;
    } else {
        tw_put_be32(h->ip, 0x0a000000U | (idx & 0xffffff)); /* 10.0.0.0/8 */
    }
}

/* Servers live behind the gateway: 198.18.0.0/15 (RFC 2544) and 2001:db8:ff::/48. */
static void tw_host_server(struct tw_gen *g, struct tw_host *h, bool v6, const char *name)
{
    uint64_t st = 0;
    for (const char *s = name; *s; s++)
        st = st * 131 + (uint8_t)*s;
    uint64_t hv = tw_splitmix64(&st);
    memset(h, 0, sizeof(*h));
    memcpy(h->mac, g->gw.mac, 6);
    if (v6) {
        static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff};
        memcpy(h->ip, pfx, 6);
        memcpy(h->ip + 8, &hv, 8);
    } else {
        tw_put_be32(h->ip, 0xc6120000U | (uint32_t)(hv & 0x1ffff));
        if (h->ip[3] == 0 || h->ip[3] == 255)
            h->ip[3] = 7;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Frame assembly */

static void tw_write_frame(struct tw_gen *g, size_t len)
{
    uint32_t gap = tw_rng_below(&g->r, 2 * TW_GEN_MEAN_GAP_US + 1);
    uint32_t hdr[4];

    g->ts_us += gap;
    hdr[0] = (uint32_t)(TW_GEN_START_SEC + g->ts_us / 1000000U);
    hdr[1] = (uint32_t)(g->ts_us % 1000000U);
    hdr[2] = (uint32_t)len;
    hdr[3] = (uint32_t)len;
    if (fwrite(hdr, sizeof(hdr), 1, g->out) != 1 || fwrite(g->pkt, len, 1, g->out) != 1)
        g->write_err = true;
    g->frames++;
    g->bytes += len;
}

static void tw_note_name(struct tw_gen *g, const char *kind, const char *name)
{
    if (strstr(name, "ngrok") || strstr(name, "localto") || strstr(name, "trycloudflare") ||
        strstr(name, "devtunnels") || strstr(name, "loca.lt"))
        g->n_tunnel++;
    if (g->names_out)
        fprintf(g->names_out, "%" PRIu64 "\t%s\t%s\n", g->frames, kind, name);
}

/* Ethernet (+802.1Q) header; returns its length. */
static size_t tw_put_eth(uint8_t *b, const uint8_t *dst, const uint8_t *src, uint16_t vlan,
                         uint16_t etype)
{
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    if (vlan) {
        tw_put_be16(b + 12, 0x8100);
        tw_put_be16(b + 14, vlan);
        tw_put_be16(b + 16, etype);
        return 18;
    }
    tw_put_be16(b + 12, etype);
    return 14;
}

/* IP header for an l4_len-byte payload; returns its length and the pseudo-header sum. */
static size_t tw_put_ip(uint8_t *b, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                        size_t l4_len, uint8_t ttl, uint16_t ipid, uint64_t *pseudo)
{
    if (v6) {
        b[0] = 0x60;
        b[1] = 0;
        b[2] = 0;
        b[3] = 0;
        tw_put_be16(b + 4, (uint16_t)l4_len);
        b[6] = proto;
        b[7] = ttl;
        memcpy(b + 8, src, 16);
        memcpy(b + 24, dst, 16);
        *pseudo = tw_csum_add(0, b + 8, 32) + l4_len + proto;
        return 40;
    }
    b[0] = 0x45;
    b[1] = 0;
    tw_put_be16(b + 2, (uint16_t)(20 + l4_len));
    tw_put_be16(b + 4, ipid);
    tw_put_be16(b + 6, proto == 17 ? 0 : 0x4000);
    b[8] = ttl;
    b[9] = proto;
    b[10] = 0;
    b[11] = 0;
    memcpy(b + 12, src, 4);
    memcpy(b + 16, dst, 4);
    tw_put_be16(b + 10, tw_csum_fold(tw_csum_add(0, b, 20)));
    *pseudo = tw_csum_add(0, b + 12, 8) + l4_len + proto;
    return 20;
}

/*
 * One TCP segment of flow f. payload_sum is the precomputed tw_csum_add() of the payload, or
 * UINT64_MAX to compute it here. Advances the sender's sequence number.
 */
static void tw_emit_tcp(struct tw_gen *g, struct tw_flow *f, bool c2s, uint8_t flags,
                        const uint8_t *payload, size_t plen, uint64_t payload_sum)
{
    const struct tw_host *src = c2s ? &f->cli : &f->srv;
    const struct tw_host *dst = c2s ? &f->srv : &f->cli;
    uint32_t *seq = c2s ? &f->cseq : &f->sseq;
    uint32_t ack = c2s ? f->sseq : f->cseq;
    uint8_t *b = g->pkt;
    size_t thl = (flags & TW_TCP_SYN) ? 40 : 32;
    uint64_t sum;
    size_t off = tw_put_eth(b, dst->mac, src->mac, f->vlan, f->v6 ? 0x86dd : 0x0800);
    off += tw_put_ip(b + off, f->v6, src->ip, dst->ip, 6, thl + plen, c2s ? f->cttl : f->sttl,
                     c2s ? f->cipid++ : f->sipid++, &sum);

    uint8_t *t = b + off;
    uint32_t tsval = (uint32_t)(g->ts_us / 1000U) + f->ts_off + (c2s ? 0 : 77777U);
    uint32_t tsecr = (uint32_t)(g->ts_us / 1000U) + f->ts_off + (c2s ? 77777U : 0) - 1;
    tw_put_be16(t, c2s ? f->cport : f->sport);
    tw_put_be16(t + 2, c2s ? f->sport : f->cport);
    tw_put_be32(t + 4, *seq);
    tw_put_be32(t + 8, (flags & TW_TCP_ACK) ? ack : 0);
    t[12] = (uint8_t)((thl / 4) << 4);
    t[13] = flags;
    tw_put_be16(t + 14, (flags & TW_TCP_SYN) ? 64240 : 501);
    t[16] = 0;
    t[17] = 0;
    t[18] = 0;
    t[19] = 0;
    if (flags & TW_TCP_SYN) {
        static const uint8_t opt_head[] = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a};
        memcpy(t + 20, opt_head, 8);
        if (f->v6)
            tw_put_be16(t + 22, TW_MSS6);
        tw_put_be32(t + 28, tsval);
        tw_put_be32(t + 32, (flags & TW_TCP_ACK) ? tsecr : 0);
        t[36] = 0x01;
        t[37] = 0x03;
        t[38] = 0x03;
        t[39] = 0x07;
    } else {
        t[20] = 0x01;
        t[21] = 0x01;
        t[22] = 0x08;
        t[23] = 0x0a;
        tw_put_be32(t + 24, tsval);
        tw_put_be32(t + 28, tsecr);
    }
    if (plen)
        memcpy(t + thl, payload, plen);
    sum = tw_csum_add(sum, t, thl);
    sum += payload_sum != UINT64_MAX ? payload_sum : tw_csum_add(0, payload, plen);
    tw_put_be16(t + 16, tw_csum_fold(sum));
    *seq += (uint32_t)plen + ((flags & (TW_TCP_SYN | TW_TCP_FIN)) ? 1 : 0);
    tw_write_frame(g, off + thl + plen);
}

static void tw_emit_udp(struct tw_gen *g, bool v6, uint16_t vlan, const struct tw_host *src,
                        const struct tw_host *dst, uint16_t sport, uint16_t dport,
                        const uint8_t *payload, size_t plen)
{
    uint8_t *b = g->pkt;
    uint64_t sum;
    size_t off = tw_put_eth(b, dst->mac, src->mac, vlan, v6 ? 0x86dd : 0x0800);
    off += tw_put_ip(b + off, v6, src->ip, dst->ip, 17, 8 + plen, 64, (uint16_t)tw_rng_next(&g->r),
                     &sum);
    uint8_t *u = b + off;
    tw_put_be16(u, sport);
    tw_put_be16(u + 2, dport);
    tw_put_be16(u + 4, (uint16_t)(8 + plen));
    u[6] = 0;
    u[7] = 0;
    memcpy(u + 8, payload, plen);
    uint16_t c = tw_csum_fold(tw_csum_add(sum, u, 8 + plen));
    tw_put_be16(u + 6, c ? c : 0xffff);
    tw_write_frame(g, off + 8 + plen);
}

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
static size_t tw_build_client_hello(struct tw_rng *r, uint8_t *b, const char *sni, bool pq)
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
        (uint16_t)(0x0a0a + 0x1010 * ((tw_rng_below(r, 15) + 1 + (grease >> 12)) % 16));
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
static size_t tw_build_server_flight(struct tw_rng *r, uint8_t *b, size_t seg, bool pq)
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
static size_t tw_build_client_finish(struct tw_rng *r, uint8_t *b)
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

static void tw_payload_pool_init(struct tw_gen *g)
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

/* Query: header, question, optional EDNS0 OPT. Returns the length. */
static size_t tw_build_dns_query(uint8_t *b, uint16_t id, const char *name, uint16_t qtype,
                                 bool edns)
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
static size_t tw_build_dns_response(struct tw_rng *r, uint8_t *b, uint16_t id, const char *name,
                                    uint16_t qtype, bool edns)
{
    size_t p = tw_build_dns_query(b, id, name, qtype, false);
    uint16_t an = 0;
    uint16_t owner = 12;
    bool nx = tw_rng_below(r, 100) < 3;

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
            unsigned n = 1 + tw_rng_below(r, 4);
            size_t alen = qtype == 1 ? 4 : 16;
            for (unsigned i = 0; i < n; i++) {
                p +=
                    tw_put_rr_head(b + p, owner, qtype, 60 + tw_rng_below(r, 3600), (uint16_t)alen);
                tw_rng_fill(r, b + p, alen);
                if (qtype == 1)
                    b[p] = (uint8_t)(198 + (b[p] & 1)); /* keep it off multicast/reserved */
                else
                    tw_put_be16(b + p, 0x2001);
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

static uint16_t tw_pick_qtype(struct tw_rng *r)
{
    uint32_t x = tw_rng_below(r, 100);
    return x < 60 ? 1 : x < 90 ? 28 : 65;
}

/* ------------------------------------------------------------------------------------------ */
/* Traffic mix */

static void tw_flow_start(struct tw_gen *g, struct tw_flow *f, int kind)
{
    memset(f, 0, sizeof(*f));
    f->active = true;
    f->kind = kind;
    f->state = TW_S_SYN;
    f->v6 = tw_rng_below(&g->r, 100) < 15;
    f->vlan = tw_rng_below(&g->r, 100) == 0 ? 100 : 0;
    tw_host_client(&f->cli, f->v6, 0x10000 + tw_rng_below(&g->r, 4096));
    f->cport = (uint16_t)(32768 + tw_rng_below(&g->r, 28000));
    f->cipid = (uint16_t)tw_rng_next(&g->r);
    f->sipid = (uint16_t)tw_rng_next(&g->r);
    f->cttl = 64;
    f->sttl = (uint8_t)(50 + tw_rng_below(&g->r, 10));
    f->cseq = (uint32_t)tw_rng_next(&g->r);
    f->sseq = (uint32_t)tw_rng_next(&g->r);
    f->ts_off = (uint32_t)tw_rng_next(&g->r);
    f->hello_seed = tw_rng_next(&g->r);
    snprintf(f->name, sizeof(f->name), "%s", tw_pick_name(&g->r, g->nm));
    if (kind == TW_K_DNSTCP) {
        f->sport = 53;
        f->srv =
            f->v6 ? g->resolver6[tw_rng_below(&g->r, 2)] : g->resolver4[tw_rng_below(&g->r, 2)];
        f->qtype = tw_pick_qtype(&g->r);
        f->dns_id = (uint16_t)tw_rng_next(&g->r);
    } else {
        f->sport = tw_rng_below(&g->r, 100) < 5 ? 8443 : 443;
        tw_host_server(g, &f->srv, f->v6, f->name);
        f->pq = tw_rng_below(&g->r, 100) < 25;
        f->data_left =
            kind == TW_K_BULK ? 100 + tw_rng_below(&g->r, 1900) : 1 + tw_rng_below(&g->r, 6);
        if (f->pq)
            g->n_pq++;
    }
    g->n_flows++;
    g->n_v6 += f->v6;
    g->n_vlan += f->vlan != 0;
}

/* Emits the next packet of f. */
static void tw_flow_step(struct tw_gen *g, struct tw_flow *f)
{
    uint8_t buf[TW_CH_MAX];
    size_t mss = f->v6 ? TW_MSS6 : TW_MSS4;

    switch (f->state) {
    case TW_S_SYN:
        tw_emit_tcp(g, f, true, TW_TCP_SYN, NULL, 0, 0);
        f->state = TW_S_SYNACK;
        break;
    case TW_S_SYNACK:
        tw_emit_tcp(g, f, false, TW_TCP_SYN | TW_TCP_ACK, NULL, 0, 0);
        f->state = TW_S_ACK;
        break;
    case TW_S_ACK:
        tw_emit_tcp(g, f, true, TW_TCP_ACK, NULL, 0, 0);
        f->state = f->kind == TW_K_DNSTCP ? TW_S_DNSQ : TW_S_CH;
        break;
    case TW_S_CH: {
        /* Rebuilt from a per-flow seed so both halves of a split hello agree. */
        struct tw_rng hr;
        tw_rng_seed(&hr, f->hello_seed);
        size_t n = tw_build_client_hello(&hr, buf, f->name, f->pq);
        size_t part = n - f->ch_sent > mss ? mss : n - f->ch_sent;
        tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf + f->ch_sent, part, UINT64_MAX);
        f->ch_sent += part;
        if (f->ch_sent == n) {
            tw_note_name(g, "sni", f->name);
            g->n_sni++;
            f->state = TW_S_SFLIGHT;
        }
        break;
    }
    case TW_S_SFLIGHT: {
        size_t n = tw_build_server_flight(&g->r, buf, mss, f->pq);
        tw_emit_tcp(g, f, false, TW_TCP_PSH | TW_TCP_ACK, buf, n, UINT64_MAX);
        f->state = TW_S_CFIN;
        break;
    }
    case TW_S_CFIN: {
        size_t n = tw_build_client_finish(&g->r, buf);
        tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf, n, UINT64_MAX);
        f->state = TW_S_DATA;
        break;
    }
    case TW_S_DATA: {
        const struct tw_payload *pl =
            &(f->v6 ? g->data6 : g->data4)[tw_rng_below(&g->r, TW_PAYLOAD_POOL)];
        tw_emit_tcp(g, f, false, TW_TCP_ACK | (f->data_left == 1 ? TW_TCP_PSH : 0), pl->b, mss,
                    pl->sum);
        f->data_left--;
        f->unacked++;
        if (f->unacked >= 2 || f->data_left == 0)
            f->state = TW_S_DACK;
        break;
    }
    case TW_S_DACK:
        tw_emit_tcp(g, f, true, TW_TCP_ACK, NULL, 0, 0);
        f->unacked = 0;
        f->state = f->data_left ? TW_S_DATA : TW_S_FIN_C;
        break;
    case TW_S_DNSQ: {
        size_t n = tw_build_dns_query(buf + 2, f->dns_id, f->name, f->qtype, false);
        tw_put_be16(buf, (uint16_t)n);
        tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf, n + 2, UINT64_MAX);
        tw_note_name(g, "dns", f->name);
        g->n_dns++;
        f->state = TW_S_DNSR;
        break;
    }
    case TW_S_DNSR: {
        size_t n = tw_build_dns_response(&g->r, buf + 2, f->dns_id, f->name, f->qtype, false);
        tw_put_be16(buf, (uint16_t)n);
        tw_emit_tcp(g, f, false, TW_TCP_PSH | TW_TCP_ACK, buf, n + 2, UINT64_MAX);
        f->state = TW_S_FIN_C;
        break;
    }
    case TW_S_FIN_C:
        tw_emit_tcp(g, f, true, TW_TCP_FIN | TW_TCP_ACK, NULL, 0, 0);
        f->state = TW_S_FIN_S;
        break;
    case TW_S_FIN_S:
        tw_emit_tcp(g, f, false, TW_TCP_FIN | TW_TCP_ACK, NULL, 0, 0);
        f->state = TW_S_LASTACK;
        break;
    default:
        tw_emit_tcp(g, f, true, TW_TCP_ACK, NULL, 0, 0);
        f->active = false;
        break;
    }
}

static void tw_step_slots(struct tw_gen *g, struct tw_flow *slots, unsigned n, int kind)
{
    struct tw_flow *f = &slots[tw_rng_below(&g->r, n)];
    if (!f->active)
        tw_flow_start(g, f, kind);
    tw_flow_step(g, f);
}

static void tw_step_dns_udp(struct tw_gen *g)
{
    uint8_t buf[1024];

    if (g->pend_n == TW_DNS_PENDING || (g->pend_n > 0 && tw_rng_below(&g->r, 2) == 0)) {
        struct tw_dns_pending *q = &g->pend[g->pend_head];
        size_t n = tw_build_dns_response(&g->r, buf, q->id, q->name, q->qtype, q->edns);
        tw_emit_udp(g, q->v6, q->vlan, &q->srv, &q->cli, 53, q->cport, buf, n);
        g->pend_head = (g->pend_head + 1) % TW_DNS_PENDING;
        g->pend_n--;
        return;
    }
    struct tw_dns_pending *q = &g->pend[(g->pend_head + g->pend_n) % TW_DNS_PENDING];
    unsigned client = tw_rng_below(&g->r, 300);
    q->v6 = client % 7 == 0; /* ~15% of DNS clients speak IPv6 */
    q->vlan = client % 97 == 5 ? 100 : 0;
    tw_host_client(&q->cli, q->v6, 0x0100 + client);
    q->srv = q->v6 ? g->resolver6[client & 1] : g->resolver4[client & 1];
    q->cport = (uint16_t)(1024 + tw_rng_below(&g->r, 64000));
    q->id = (uint16_t)tw_rng_next(&g->r);
    q->qtype = tw_pick_qtype(&g->r);
    q->edns = tw_rng_below(&g->r, 2) == 0;
    snprintf(q->name, sizeof(q->name), "%s", tw_pick_name(&g->r, g->nm));
    size_t n = tw_build_dns_query(buf, q->id, q->name, q->qtype, q->edns);
    tw_emit_udp(g, q->v6, q->vlan, &q->cli, &q->srv, q->cport, 53, buf, n);
    tw_note_name(g, "dns", q->name);
    g->n_dns++;
    g->pend_n++;
}

static void tw_step_icmp(struct tw_gen *g)
{
    uint8_t *b = g->pkt;
    uint64_t unused;
    const struct tw_host *src, *dst;

    if (!g->icmp_reply_due) {
        tw_host_client(&g->icmp_cli, false, 0x20000 + tw_rng_below(&g->r, 256));
        tw_host_server(g, &g->icmp_srv, false, g->nm->benign[tw_rng_below(&g->r, 100)]);
        g->icmp_id = (uint16_t)tw_rng_next(&g->r);
        g->icmp_seq++;
        src = &g->icmp_cli;
        dst = &g->icmp_srv;
    } else {
        src = &g->icmp_srv;
        dst = &g->icmp_cli;
    }
    size_t off = tw_put_eth(b, dst->mac, src->mac, 0, 0x0800);
    off += tw_put_ip(b + off, false, src->ip, dst->ip, 1, 64, 64, (uint16_t)tw_rng_next(&g->r),
                     &unused);
    uint8_t *m = b + off;
    m[0] = g->icmp_reply_due ? 0 : 8;
    m[1] = 0;
    m[2] = 0;
    m[3] = 0;
    tw_put_be16(m + 4, g->icmp_id);
    tw_put_be16(m + 6, g->icmp_seq);
    for (int i = 0; i < 56; i++)
        m[8 + i] = (uint8_t)(0x10 + i);
    tw_put_be16(m + 2, tw_csum_fold(tw_csum_add(0, m, 64)));
    g->icmp_reply_due = !g->icmp_reply_due;
    tw_write_frame(g, off + 64);
}

static void tw_step_arp(struct tw_gen *g)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t *b = g->pkt;
    const struct tw_host *snd, *tgt;

    if (!g->arp_reply_due) {
        tw_host_client(&g->arp_asker, false, 0x10000 + tw_rng_below(&g->r, 4096));
        g->arp_target = tw_rng_below(&g->r, 2) ? g->gw : g->resolver4[0];
        snd = &g->arp_asker;
        tgt = &g->arp_target;
    } else {
        snd = &g->arp_target;
        tgt = &g->arp_asker;
    }
    memset(b, 0, 60);
    size_t off = tw_put_eth(b, g->arp_reply_due ? tgt->mac : bcast, snd->mac, 0, 0x0806);
    uint8_t *a = b + off;
    tw_put_be16(a, 1);
    tw_put_be16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    tw_put_be16(a + 6, g->arp_reply_due ? 2 : 1);
    memcpy(a + 8, snd->mac, 6);
    memcpy(a + 14, snd->ip, 4);
    if (g->arp_reply_due)
        memcpy(a + 18, tgt->mac, 6);
    memcpy(a + 24, tgt->ip, 4);
    g->arp_reply_due = !g->arp_reply_due;
    tw_write_frame(g, 60); /* padded to the Ethernet minimum */
}

static int tw_generate(struct tw_gen *g)
{
    static const struct {
        uint32_t hi; /* cumulative percent */
        int what;
    } mix[] = {{70, 0}, {82, 1}, {92, 2}, {95, 3}, {98, 4}, {100, 5}};
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } fh = {0xa1b2c3d4U, 2, 4, 0, 0, 65535, 1};

    if (fwrite(&fh, sizeof(fh), 1, g->out) != 1)
        return -1;
    while (g->frames < g->target && !g->write_err) {
        uint32_t x = tw_rng_below(&g->r, 100);
        int what = 0;
        for (size_t i = 0; i < TW_ARRAY_LEN(mix); i++) {
            if (x < mix[i].hi) {
                what = mix[i].what;
                break;
            }
        }
        switch (what) {
        case 0:
            tw_step_slots(g, g->bulk, TW_BULK_SLOTS, TW_K_BULK);
            break;
        case 1:
            tw_step_slots(g, g->shortf, TW_SHORT_SLOTS, TW_K_SHORT);
            break;
        case 2:
            tw_step_dns_udp(g);
            break;
        case 3:
            tw_step_slots(g, g->dnstcp, TW_DNSTCP_SLOTS, TW_K_DNSTCP);
            break;
        case 4:
            tw_step_icmp(g);
            break;
        default:
            tw_step_arp(g);
            break;
        }
    }
    return g->write_err ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Rules */

static int tw_write_rules(FILE *out, unsigned n)
{
    /* Suffixes of names the capture carries (popular benign names and tunnel services). */
    char match[6][96];
    unsigned n_match = 0;
    for (unsigned i = 0; i < 4; i++) {
        char nm[64];
        tw_benign_name(i, nm, sizeof(nm));
        snprintf(match[n_match++], sizeof(match[0]), "%s", strchr(nm, '.'));
    }
    snprintf(match[n_match++], sizeof(match[0]), ".trycloudflare.com");
    snprintf(match[n_match++], sizeof(match[0]), ".localto.net");

    for (unsigned i = 0; i < n; i++) {
        uint64_t st = 0x5167a000ULL + i;
        uint64_t a = tw_splitmix64(&st), b = tw_splitmix64(&st);
        bool conn = i % 2 == 0;
        char own[48];
        const char *suffix = own;
        bool hit = false;

        snprintf(own, sizeof(own), ".t%05u.tunnel-bench.net", i);
        for (unsigned j = 0; j < n_match && n >= 2 * n_match; j++) {
            if (i == (j + 1) * (n / (n_match + 1))) {
                suffix = match[j];
                hit = true;
            }
        }
        if (fprintf(
                out,
                "%stitle: Bench rule %u%s\n"
                "id: %08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-8%03" PRIx32 "-%012" PRIx64 "\n"
                "status: experimental\n"
                "description: Generated rule for the tunwatch benchmark\n"
                "author: tunwatch bench\n"
                "date: 2025-01-01\n"
                "tags:\n"
                "    - attack.command-and-control\n"
                "    - attack.t1572\n"
                "logsource:\n"
                "    category: %s\n"
                "detection:\n"
                "    selection:\n"
                "        %s|endswith: '%s'\n"
                "    condition: selection\n"
                "falsepositives:\n"
                "    - None, generated\n"
                "level: %s\n",
                i ? "---\n" : "", i, hit ? " (matches the bench capture)" : "", (uint32_t)(a >> 32),
                (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff, (uint32_t)(b >> 48) & 0xfff,
                (uint64_t)(b & 0xffffffffffffULL), conn ? "network_connection" : "dns_query",
                conn ? "DestinationHostname" : "QueryName", suffix, hit ? "high" : "medium") < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void tw_usage(FILE *f)
{
    fprintf(f, "usage: twgen [-n PACKETS] -o FILE.pcap [-s SEED] [-N NAMES.tsv]\n"
               "       twgen --rules N -o RULES.yml\n");
}

static bool tw_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end != '\0' || s[0] == '-')
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t packets = TW_GEN_DEFAULT_PACKETS, seed = TW_GEN_DEFAULT_SEED, rules = 0;
    const char *out_path = NULL, *names_path = NULL;
    bool rules_mode = false;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "n:o:s:N:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!tw_parse_u64(optarg, &packets) || packets == 0) {
                fprintf(stderr, "twgen: bad packet count '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!tw_parse_u64(optarg, &seed)) {
                fprintf(stderr, "twgen: bad seed '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            if (!tw_parse_u64(optarg, &rules) || rules == 0 || rules > 10000000) {
                fprintf(stderr, "twgen: bad rule count '%s' (1..10000000)\n", optarg);
                return 2;
            }
            rules_mode = true;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'N':
            names_path = optarg;
            break;
        case 'h':
            tw_usage(stdout);
            return 0;
        default:
            tw_usage(stderr);
            return 2;
        }
    }
    if (!out_path || optind != argc) {
        tw_usage(stderr);
        return 2;
    }

    FILE *out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "twgen: %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    if (rules_mode) {
        if (tw_write_rules(out, (unsigned)rules) != 0) {
            fprintf(stderr, "twgen: %s: write error: %s\n", out_path, strerror(errno));
            goto out_close;
        }
        rc = 0;
        goto out_close;
    }

    struct tw_gen *g = calloc(1, sizeof(*g));
    struct tw_names *nm = calloc(1, sizeof(*nm));
    static char obuf[1 << 22];
    struct timespec t0, t1;

    if (!g || !nm) {
        fprintf(stderr, "twgen: out of memory\n");
        goto out_free;
    }
    setvbuf(out, obuf, _IOFBF, sizeof(obuf));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tw_names_init(nm);
    g->nm = nm;
    g->out = out;
    g->target = packets;
    tw_rng_seed(&g->r, seed);
    tw_payload_pool_init(g);
    tw_host_client(&g->gw, false, 1);
    memcpy(g->gw.mac, (const uint8_t[]){0x00, 0x1b, 0x21, 0x0a, 0x00, 0x01}, 6);
    for (int i = 0; i < 2; i++) {
        tw_host_client(&g->resolver4[i], false, 53 + (unsigned)i);
        tw_host_client(&g->resolver6[i], true, 53 + (unsigned)i);
    }
    if (names_path) {
        g->names_out = fopen(names_path, "w");
        if (!g->names_out) {
            fprintf(stderr, "twgen: %s: %s\n", names_path, strerror(errno));
            goto out_free;
        }
    }
    if (tw_generate(g) != 0 || fflush(out) != 0) {
        fprintf(stderr, "twgen: %s: write error: %s\n", out_path, strerror(errno));
        goto out_names;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr,
                "twgen: %" PRIu64 " packets, %" PRIu64 " bytes on the wire (avg %.0f), %.1f s of "
                "traffic; %" PRIu64 " TCP flows (%" PRIu64 " IPv6, %" PRIu64 " VLAN, %" PRIu64
                " post-quantum hellos), %" PRIu64 " SNI, %" PRIu64 " DNS queries, %" PRIu64
                " tunnel names; %.2f s, %.2f Mpkt/s\n",
                g->frames, g->bytes, (double)g->bytes / (double)g->frames, (double)g->ts_us / 1e6,
                g->n_flows, g->n_v6, g->n_vlan, g->n_pq, g->n_sni, g->n_dns, g->n_tunnel, secs,
                (double)g->frames / secs / 1e6);
    }
    rc = 0;
out_names:
    if (g->names_out && fclose(g->names_out) != 0) {
        fprintf(stderr, "twgen: %s: %s\n", names_path, strerror(errno));
        rc = 1;
    }
out_free:
    free(nm);
    free(g);
out_close:
    if (fclose(out) != 0) {
        fprintf(stderr, "twgen: %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    return rc;
}
