/* SPDX-License-Identifier: MIT */
/*
 * IP reassembly tests: fragments in order, reversed, shuffled, duplicated and overlapping
 * under the "first" policy, every bound (memory, fragments per datagram, datagrams in flight,
 * timeout), every refusal (oversize, tiny, bad end, truncated), IPv6 atomic fragments and
 * IPv4 DF packets passed through, fragments inside a tunnel and a fragmented tunnel, and a
 * model test: many random fragmentations (with duplicates and same-byte overlaps, in random
 * order) of random IPv4 and IPv6 datagrams, each reassembled byte for byte exactly when its
 * last missing byte arrives.
 */
#include "tunwatch/decode/defrag.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "tunwatch/decode/csum.h"
#include "tunwatch/decode/decode.h"
#include "tunwatch/decode/prep.h"

/* A datagram: IPv4 or IPv6 header (hl bytes) then its payload (the L4 segment). */
struct dgram {
    uint8_t version, proto;
    uint32_t id;
    size_t hl, plen;
    uint8_t hdr[40];
    uint8_t *payload;
};

static uint32_t rnd_state = 0x7477;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

/* A UDP datagram (proto 17) from 10.0.0.1 to 10.0.0.2 (fd00::1 -> fd00::2) with plen bytes
 * of segment: a UDP header with a correct checksum, then random bytes. */
static void dgram_init(struct dgram *d, uint8_t version, uint32_t id, size_t plen)
{
    memset(d, 0, sizeof(*d));
    d->version = version;
    d->proto = 17;
    d->id = id;
    d->plen = plen;
    d->hl = version == 4 ? 20 : 40;
    d->payload = malloc(plen);
    assert_non_null(d->payload);
    for (size_t i = 0; i < plen; i++)
        d->payload[i] = (uint8_t)rnd();
    uint8_t *h = d->hdr;
    if (version == 4) {
        h[0] = 0x45;
        h[2] = (uint8_t)((20 + plen) >> 8);
        h[3] = (uint8_t)(20 + plen);
        h[4] = (uint8_t)(id >> 8);
        h[5] = (uint8_t)id;
        h[8] = 64;
        h[9] = 17;
        memcpy(h + 12, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
    } else {
        h[0] = 0x60;
        h[6] = 17;
        h[7] = 64;
        h[8] = 0xfd;
        h[23] = 1;
        h[24] = 0xfd;
        h[39] = 2;
    }
    if (plen >= 8) {
        uint8_t *u = d->payload;
        u[0] = 0x30;
        u[1] = 0x39;
        u[2] = 0x00;
        u[3] = 0x35;
        u[4] = (uint8_t)(plen >> 8);
        u[5] = (uint8_t)plen;
        tw_csum_l4_fill(version, h + (version == 4 ? 12 : 8), h + (version == 4 ? 16 : 24), 17,
                        u, (uint32_t)plen, u + 6);
    }
}

/* A raw IP frame holding payload bytes [off, off+len) of d as a fragment, with bytes from
 * data (NULL: d's own). Returns its length in out (exact-size heap buffer). */
static uint8_t *frag_frame(const struct dgram *d, size_t off, size_t len, bool more,
                           const uint8_t *data, size_t *n)
{
    size_t hl = d->version == 4 ? 20 : 48;
    uint8_t *f = malloc(hl + len + 1);
    assert_non_null(f);
    memcpy(f, d->hdr, d->version == 4 ? 20 : 40);
    if (d->version == 4) {
        f[2] = (uint8_t)((20 + len) >> 8);
        f[3] = (uint8_t)(20 + len);
        uint16_t fo = (uint16_t)((more ? 0x2000 : 0) | (off / 8));
        f[6] = (uint8_t)(fo >> 8);
        f[7] = (uint8_t)fo;
        tw_csum_ip4_fill(f, 20);
    } else {
        f[4] = (uint8_t)((8 + len) >> 8);
        f[5] = (uint8_t)(8 + len);
        f[6] = 44;
        uint8_t *fh = f + 40;
        fh[0] = d->proto;
        fh[1] = 0;
        uint16_t fo = (uint16_t)(off | (more ? 1 : 0));
        fh[2] = (uint8_t)(fo >> 8);
        fh[3] = (uint8_t)fo;
        fh[4] = (uint8_t)(d->id >> 24);
        fh[5] = (uint8_t)(d->id >> 16);
        fh[6] = (uint8_t)(d->id >> 8);
        fh[7] = (uint8_t)d->id;
    }
    memcpy(f + hl, (data != NULL ? data : d->payload) + off, len);
    *n = hl + len;
    return f;
}

struct ctx {
    struct tw_defrag *d;
    struct tw_defrag_stats st;
    const uint8_t *frame;
    size_t len;
};

/* Decodes a fragment frame and adds it at time now: tw_defrag_add()'s return. */
static int add_frame(struct ctx *c, uint8_t *f, size_t n, int64_t now)
{
    struct tw_decode_stats ds = {0};
    struct tw_pkt p;
    struct tw_frag fr;
    int rc = tw_decode_frag(TW_LINK_RAW, f, n, &p, &ds, &fr);
    assert_int_equal(rc, TW_DECODE_FRAGMENT);
    return tw_defrag_add(c->d, &fr, now, &c->frame, &c->len, &c->st);
}

static int add(struct ctx *c, const struct dgram *d, size_t off, size_t len, bool more,
               const uint8_t *data, int64_t now)
{
    size_t n;
    uint8_t *f = frag_frame(d, off, len, more, data, &n);
    int rc = add_frame(c, f, n, now);
    free(f);
    return rc;
}

static void ctx_init(struct ctx *c, const struct tw_defrag_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->d = tw_defrag_new(cfg);
    assert_non_null(c->d);
}

static struct tw_defrag_config default_cfg(void)
{
    return (struct tw_defrag_config)TW_DEFRAG_CONFIG_DEFAULT;
}

/* The reassembled frame is d's datagram: header fields, payload bytes, and it decodes. */
static void check_frame(const struct ctx *c, const struct dgram *d, const uint8_t *want)
{
    const uint8_t *h = c->frame + TW_DEFRAG_PREAMBLE;
    assert_int_equal(c->len, TW_DEFRAG_PREAMBLE + d->hl + d->plen);
    if (d->version == 4) {
        assert_int_equal((size_t)(h[2] << 8 | h[3]), 20 + d->plen);
        assert_int_equal(h[6] & 0x3f, 0);
        assert_int_equal(h[7], 0);
        assert_true(tw_csum_ip4_ok(h, 20));
    } else {
        assert_int_equal((size_t)(h[4] << 8 | h[5]), d->plen);
        assert_int_equal(h[6], d->proto);
    }
    assert_memory_equal(h + d->hl, want != NULL ? want : d->payload, d->plen);
    struct tw_decode_stats ds = {0};
    struct tw_pkt p;
    uint8_t *copy = exact_copy(c->frame, c->len);
    assert_int_equal(tw_decode(TW_LINK_REASSEMBLED, copy, c->len, c->len, &p, &ds), 0);
    assert_int_equal(p.l4_proto, 17);
    assert_int_equal(p.payload_len, d->plen - 8);
    free(copy);
}

static void test_in_order_and_reversed(void **state)
{
    (void)state;
    for (int v = 4; v <= 6; v += 2) {
        for (int rev = 0; rev < 2; rev++) {
            struct ctx c;
            struct dgram d;
            struct tw_defrag_config cfg = default_cfg();
            ctx_init(&c, &cfg);
            dgram_init(&d, (uint8_t)v, 0x1234, 1000);
            /* 8 fragments of 128 bytes, the last one of 104 */
            for (int k = 0; k < 8; k++) {
                int i = rev ? 7 - k : k;
                size_t off = (size_t)i * 128, len = i == 7 ? 1000 - 896 : 128;
                int rc = add(&c, &d, off, len, i != 7, NULL, 10);
                assert_int_equal(rc, k == 7 ? 1 : 0);
            }
            check_frame(&c, &d, NULL);
            assert_int_equal(c.st.reassembled, 1);
            assert_int_equal(c.st.fragments, 8);
            assert_int_equal(tw_defrag_in_flight(c.d), 0);
            assert_int_equal(tw_defrag_bytes_held(c.d), 0);
            free(d.payload);
            tw_defrag_free(c.d);
        }
    }
}

/* Duplicates and same-byte overlaps are counted, never a conflict; the datagram completes. */
static void test_duplicates(void **state)
{
    (void)state;
    struct ctx c;
    struct dgram d;
    struct tw_defrag_config cfg = default_cfg();
    ctx_init(&c, &cfg);
    dgram_init(&d, 4, 7, 64);
    assert_int_equal(add(&c, &d, 0, 32, true, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 0, 32, true, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 16, 32, true, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 48, 16, false, NULL, 1), 1);
    check_frame(&c, &d, NULL);
    assert_int_equal(c.st.overlap, 2);
    assert_int_equal(c.st.overlap_conflict, 0);
    free(d.payload);
    tw_defrag_free(c.d);
}

/* Policy "first": the bytes that arrived first stay, whatever the offsets. */
static void test_overlap_first(void **state)
{
    (void)state;
    for (int later_low = 0; later_low < 2; later_low++) {
        struct ctx c;
        struct dgram d;
        struct tw_defrag_config cfg = default_cfg();
        ctx_init(&c, &cfg);
        dgram_init(&d, 4, 9, 64);
        uint8_t *other = malloc(64), *want = malloc(64);
        for (int i = 0; i < 64; i++)
            other[i] = (uint8_t)~d.payload[i];
        memcpy(want, d.payload, 64);
        if (!later_low) {
            /* [0,32) real, then [16,48) other: [16,32) stays real, [32,48) is other's */
            assert_int_equal(add(&c, &d, 0, 32, true, NULL, 1), 0);
            assert_int_equal(add(&c, &d, 16, 32, true, other, 1), 0);
            memcpy(want + 32, other + 32, 16);
            assert_int_equal(add(&c, &d, 48, 16, false, NULL, 1), 1);
        } else {
            /* [24,48) other first, then [0,40) real: [24,40) stays other's */
            assert_int_equal(add(&c, &d, 24, 24, true, other, 1), 0);
            assert_int_equal(add(&c, &d, 0, 40, true, NULL, 1), 0);
            memcpy(want + 24, other + 24, 24);
            assert_int_equal(add(&c, &d, 48, 16, false, NULL, 1), 1);
        }
        assert_int_equal(c.st.overlap_conflict, 1);
        assert_memory_equal(c.frame + TW_DEFRAG_PREAMBLE + 20, want, 64);
        free(other);
        free(want);
        free(d.payload);
        tw_defrag_free(c.d);
    }
}

static void test_timeout(void **state)
{
    (void)state;
    struct ctx c;
    struct dgram d;
    struct tw_defrag_config cfg = default_cfg();
    cfg.timeout = 5;
    ctx_init(&c, &cfg);
    dgram_init(&d, 4, 1, 64);
    assert_int_equal(add(&c, &d, 0, 32, true, NULL, 100), 0);
    tw_defrag_expire(c.d, 104, &c.st);
    assert_int_equal(tw_defrag_in_flight(c.d), 1);
    tw_defrag_expire(c.d, 105, &c.st);
    assert_int_equal(tw_defrag_in_flight(c.d), 0);
    assert_int_equal(c.st.timeout, 1);
    /* the rest alone no longer completes it */
    assert_int_equal(add(&c, &d, 32, 32, false, NULL, 105), 0);
    assert_int_equal(tw_defrag_in_flight(c.d), 1);
    /* timed out by the next fragment's clock too */
    assert_int_equal(add(&c, &d, 0, 32, true, NULL, 111), 0);
    assert_int_equal(c.st.timeout, 2);
    free(d.payload);
    tw_defrag_free(c.d);
}

static void test_max_frags(void **state)
{
    (void)state;
    struct ctx c;
    struct dgram d;
    struct tw_defrag_config cfg = default_cfg();
    cfg.max_frags = 4;
    ctx_init(&c, &cfg);
    dgram_init(&d, 6, 77, 80);
    for (int i = 0; i < 4; i++)
        assert_int_equal(add(&c, &d, (size_t)i * 16, 16, true, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 64, 16, false, NULL, 1), 0);
    assert_int_equal(c.st.too_many_frags, 1);
    assert_int_equal(tw_defrag_in_flight(c.d), 0);
    /* four fragments are fine */
    assert_int_equal(add(&c, &d, 0, 32, true, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 32, 48, false, NULL, 1), 1);
    check_frame(&c, &d, NULL);
    free(d.payload);
    tw_defrag_free(c.d);
}

static void test_max_datagrams(void **state)
{
    (void)state;
    struct ctx c;
    struct dgram d[4];
    struct tw_defrag_config cfg = default_cfg();
    cfg.max_datagrams = 3;
    ctx_init(&c, &cfg);
    for (int i = 0; i < 4; i++) {
        dgram_init(&d[i], 4, (uint32_t)(100 + i), 64);
        assert_int_equal(add(&c, &d[i], 0, 32, true, NULL, 1), 0);
    }
    assert_int_equal(c.st.evicted, 1);
    assert_int_equal(tw_defrag_in_flight(c.d), 3);
    /* the oldest (d[0]) is gone; d[3] completes */
    assert_int_equal(add(&c, &d[0], 32, 32, false, NULL, 1), 0);
    assert_int_equal(c.st.evicted, 2); /* d[0]'s new tracker pushed d[1] out */
    assert_int_equal(add(&c, &d[3], 32, 32, false, NULL, 1), 1);
    check_frame(&c, &d[3], NULL);
    for (int i = 0; i < 4; i++)
        free(d[i].payload);
    tw_defrag_free(c.d);
}

/* Memory: the smallest pool that holds one 64 KiB datagram; a second big datagram pushes the
 * first out, and the bytes held never exceed the pool. */
static void test_memory(void **state)
{
    (void)state;
    struct tw_defrag_config cfg = default_cfg();
    cfg.max_datagrams = 4;
    cfg.memory = 1;
    assert_null(tw_defrag_new(&cfg));
    struct tw_defrag *probe;
    for (cfg.memory = 64 * 1024; (probe = tw_defrag_new(&cfg)) == NULL; cfg.memory += 1024)
        ;
    tw_defrag_free(probe);
    struct ctx c;
    ctx_init(&c, &cfg); /* exactly 64 blocks */
    struct dgram a, b;
    dgram_init(&a, 4, 1, 60000);
    dgram_init(&b, 4, 2, 60000);
    assert_int_equal(add(&c, &a, 0, 40000, true, NULL, 1), 0);
    assert_true(tw_defrag_bytes_held(c.d) >= 40000);
    assert_int_equal(add(&c, &b, 0, 40000, true, NULL, 1), 0);
    assert_int_equal(c.st.evicted, 1);
    assert_true(tw_defrag_bytes_held(c.d) <= 64 * 1024);
    assert_int_equal(add(&c, &b, 40000, 20000, false, NULL, 1), 1);
    check_frame(&c, &b, NULL);
    assert_int_equal(tw_defrag_bytes_held(c.d), 0);
    free(a.payload);
    free(b.payload);
    tw_defrag_free(c.d);
}

static void test_refusals(void **state)
{
    (void)state;
    struct ctx c;
    struct dgram d, t;
    struct tw_defrag_config cfg = default_cfg();
    ctx_init(&c, &cfg);
    dgram_init(&d, 4, 5, 64);

    /* oversize: offset 65528 + 16 bytes + header */
    uint8_t *grown = realloc(d.payload, 65600);
    assert_non_null(grown);
    d.payload = grown;
    memset(d.payload + 64, 0, 65600 - 64);
    assert_int_equal(add(&c, &d, 65528, 16, false, NULL, 1), 0);
    assert_int_equal(c.st.oversize, 1);

    /* tiny: a first TCP fragment without the whole header; TCP at offset 8 (RFC 1858) */
    dgram_init(&t, 4, 6, 64);
    t.proto = 6;
    t.hdr[9] = 6;
    assert_int_equal(add(&c, &t, 0, 16, true, NULL, 1), 0);
    assert_int_equal(c.st.tiny, 1);
    assert_int_equal(add(&c, &t, 8, 16, true, NULL, 1), 0);
    assert_int_equal(c.st.tiny, 2);
    assert_int_equal(tw_defrag_in_flight(c.d), 0);

    /* bad end: two last fragments that disagree */
    assert_int_equal(add(&c, &d, 32, 32, false, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 32, 16, false, NULL, 1), 0);
    assert_int_equal(c.st.bad_end, 1);
    assert_int_equal(tw_defrag_in_flight(c.d), 0);
    /* a fragment past a known end */
    assert_int_equal(add(&c, &d, 32, 16, false, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 48, 16, true, NULL, 1), 0);
    assert_int_equal(c.st.bad_end, 2);

    /* no payload: a non-last fragment of 7 bytes trims to 0 */
    assert_int_equal(add(&c, &d, 16, 7, true, NULL, 1), 0);
    assert_int_equal(c.st.bad_length, 1);

    /* truncated by the capture */
    size_t n;
    uint8_t *f = frag_frame(&d, 0, 32, true, NULL, &n);
    assert_int_equal(add_frame(&c, f, n - 4, 1), 0);
    assert_int_equal(c.st.truncated, 1);
    free(f);
    free(d.payload);
    free(t.payload);
    tw_defrag_free(c.d);
}

/* A non-last fragment whose length is not a multiple of 8 is trimmed (as Linux does). */
static void test_trim(void **state)
{
    (void)state;
    struct ctx c;
    struct dgram d;
    struct tw_defrag_config cfg = default_cfg();
    ctx_init(&c, &cfg);
    dgram_init(&d, 4, 11, 40);
    assert_int_equal(add(&c, &d, 0, 21, true, NULL, 1), 0); /* keeps [0,16) */
    assert_int_equal(add(&c, &d, 24, 16, false, NULL, 1), 0);
    assert_int_equal(add(&c, &d, 16, 8, true, NULL, 1), 1);
    check_frame(&c, &d, NULL);
    free(d.payload);
    tw_defrag_free(c.d);
}

/* IPv6 atomic fragment (offset 0, M 0) and IPv4 DF with offset 0: whole packets. */
static void test_atomic(void **state)
{
    (void)state;
    struct dgram d;
    size_t n;
    struct tw_decode_stats ds = {0};
    struct tw_pkt p;
    struct tw_frag fr;

    dgram_init(&d, 6, 3, 24);
    uint8_t *f = frag_frame(&d, 0, 24, false, NULL, &n);
    assert_int_equal(tw_decode_frag(TW_LINK_RAW, f, n, &p, &ds, &fr), 0);
    assert_int_equal(p.l4_proto, 17);
    assert_int_equal(p.payload_len, 16);
    free(f);
    free(d.payload);

    dgram_init(&d, 4, 3, 24);
    f = frag_frame(&d, 0, 24, false, NULL, &n);
    f[6] = 0x40; /* DF */
    tw_csum_ip4_fill(f, 20);
    assert_int_equal(tw_decode_frag(TW_LINK_RAW, f, n, &p, &ds, &fr), 0);
    assert_int_equal(p.payload_len, 16);
    /* with MF it is a fragment */
    f[6] = 0x20;
    assert_int_equal(tw_decode_frag(TW_LINK_RAW, f, n, &p, &ds, &fr), TW_DECODE_FRAGMENT);
    assert_true(fr.more);
    assert_int_equal(fr.offset, 0);
    /* and tw_decode() skips it as before */
    assert_int_equal(tw_decode(TW_LINK_RAW, f, n, n, &p, &ds), TW_ESKIP);
    assert_int_equal(ds.reason[TW_DR_IP4_FRAGMENT], 1);
    free(f);
    free(d.payload);
}

/* Through the packet preparation: fragments inside IPv4-in-IPv4 behind a VLAN tag, and an
 * outer (tunnel) header fragmented around a whole inner packet. */
static void test_tunnels(void **state)
{
    (void)state;
    struct tw_prep_config pc = {.defrag = TW_DEFRAG_CONFIG_DEFAULT, .checksums = TW_CSUM_ON};
    struct tw_prep *pp = tw_prep_new(&pc);
    struct tw_prep_stats st = {0};
    struct tw_decode_stats ds = {0};
    struct tw_pkt p;
    struct dgram d;
    size_t n;

    assert_non_null(pp);
    dgram_init(&d, 4, 0x42, 48);
    /* Ethernet, 802.1Q 7, outer IPv4 (proto 4), inner fragment */
    for (int i = 0; i < 2; i++) {
        uint8_t *in = frag_frame(&d, i == 0 ? 24 : 0, 24, i != 0, NULL, &n);
        uint8_t *f = malloc(18 + 20 + n);
        memcpy(f, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x81\x00\x00\x07\x08\x00", 18);
        uint8_t *o = f + 18;
        memset(o, 0, 20);
        o[0] = 0x45;
        o[2] = (uint8_t)((20 + n) >> 8);
        o[3] = (uint8_t)(20 + n);
        o[8] = 64;
        o[9] = 4;
        memcpy(o + 12, (uint8_t[]){192, 0, 2, 1, 192, 0, 2, 2}, 8);
        tw_csum_ip4_fill(o, 20);
        memcpy(o + 20, in, n);
        struct tw_prep_frame pf = {TW_LINK_ETHERNET, f, 18 + 20 + n};
        int rc = tw_prep_decode(pp, &pf, 5, &p, &ds, &st);
        assert_int_equal(rc, i == 0 ? TW_EINCOMPLETE : 0);
        if (rc == 0) {
            assert_int_equal(pf.linktype, TW_LINK_REASSEMBLED);
            assert_int_equal(p.vlan_count, 1);
            assert_int_equal(p.vlan[0], 7);
            assert_int_equal(p.dport, 53);
            assert_int_equal(p.payload_len, 40);
            assert_memory_equal(p.payload, d.payload + 8, 40);
            assert_int_equal(p.src[0], 10);
        }
        free(in);
        free(f);
    }
    assert_int_equal(ds.tunnel, 1);

    /* the outer header fragmented: raw IPv4 (proto 4) cut in two around the inner packet */
    struct dgram outer;
    dgram_init(&outer, 4, 0x99, 20 + 48);
    outer.proto = 4;
    outer.hdr[9] = 4;
    memcpy(outer.payload, d.hdr, 20);
    outer.payload[2] = 0;
    outer.payload[3] = 68;
    tw_csum_ip4_fill(outer.payload, 20);
    memcpy(outer.payload + 20, d.payload, 48);
    for (int i = 0; i < 2; i++) {
        uint8_t *f = frag_frame(&outer, i == 0 ? 0 : 32, i == 0 ? 32 : 36, i == 0, NULL, &n);
        struct tw_prep_frame pf = {TW_LINK_RAW, f, n};
        int rc = tw_prep_decode(pp, &pf, 6, &p, &ds, &st);
        assert_int_equal(rc, i == 0 ? TW_EINCOMPLETE : 0);
        if (rc == 0) {
            assert_int_equal(p.dport, 53);
            assert_memory_equal(p.payload, d.payload + 8, 40);
        }
        free(f);
    }
    assert_int_equal(st.defrag.reassembled, 2);
    assert_int_equal(st.udp_bad_checksum, 0);
    free(outer.payload);
    free(d.payload);
    tw_prep_free(pp);
}

/* A fragment whose IPv4 header checksum is wrong never reaches the reassembler. */
static void test_fragment_header_checksum(void **state)
{
    (void)state;
    struct tw_prep_config pc = {.defrag = TW_DEFRAG_CONFIG_DEFAULT, .checksums = TW_CSUM_AUTO};
    struct tw_prep *pp = tw_prep_new(&pc);
    struct tw_prep_stats st = {0};
    struct tw_decode_stats ds = {0};
    struct tw_pkt p;
    struct dgram d;
    size_t n;

    dgram_init(&d, 4, 0x43, 48);
    uint8_t *f = frag_frame(&d, 0, 24, true, NULL, &n);
    f[8] ^= 1;
    struct tw_prep_frame pf = {TW_LINK_RAW, f, n};
    assert_int_equal(tw_prep_decode(pp, &pf, 1, &p, &ds, &st), TW_PREP_BAD_CHECKSUM);
    assert_int_equal(st.ip4_bad_checksum, 1);
    assert_int_equal(st.defrag.fragments, 0);
    free(f);
    free(d.payload);
    tw_prep_free(pp);
}

/*
 * Model test: random datagrams (IPv4 and IPv6, 16 bytes to 20000) cut at random multiples of
 * 8, with random duplicates and same-byte overlapping pieces, fed in random order, several
 * datagrams interleaved. The reassembler must complete each one exactly when the bytes fed
 * so far cover it (first and last fragment included), with its exact bytes.
 */
#define MODEL_ROUNDS 400
#define MODEL_PIECES 48

struct piece {
    int dg;
    size_t off, len;
    bool more;
};

static void test_model(void **state)
{
    (void)state;
    struct tw_defrag_config cfg = default_cfg();
    struct ctx c;
    ctx_init(&c, &cfg);

    for (int round = 0; round < MODEL_ROUNDS; round++) {
        enum { NDG = 3 };
        struct dgram d[NDG];
        struct piece pcs[NDG * MODEL_PIECES];
        size_t np = 0;
        bool done[NDG] = {false};
        size_t covered[NDG] = {0};
        uint8_t *cov[NDG];

        for (int k = 0; k < NDG; k++) {
            size_t plen = 16 + rnd() % (round % 10 == 0 ? 20000 : 3000);
            dgram_init(&d[k], (rnd() & 1) ? 4 : 6, (uint32_t)(round * NDG + k), plen);
            cov[k] = calloc(plen, 1);
            /* cut points: multiples of 8, the first piece at least 8 bytes (UDP header) */
            size_t off = 0;
            while (off < plen) {
                size_t len = 8 * (1 + rnd() % 24);
                if (off == 0 && len >= plen) /* a first piece that is all of it: no fragment */
                    len = (plen - 1) / 8 * 8;
                if (off + len >= plen)
                    len = plen - off;
                pcs[np++] = (struct piece){k, off, len, off + len < plen};
                off += len;
                if (np >= (size_t)(k + 1) * MODEL_PIECES - 8)
                    break;
            }
            if (off < plen) /* one last piece to the end */
                pcs[np++] = (struct piece){k, off, plen - off, false};
            /* duplicates and overlaps with the same bytes (never the last piece's end) */
            int extra = (int)(rnd() % 4);
            for (int e = 0; e < extra; e++) {
                size_t o = (rnd() % (plen / 8 + 1)) * 8;
                if (o >= plen)
                    continue;
                size_t l = 8 * (1 + rnd() % 8);
                bool more = true;
                if (o + l >= plen) {
                    l = plen - o;
                    more = false;
                }
                if (o == 0 && !more) /* that would be the whole datagram, not a fragment */
                    continue;
                pcs[np++] = (struct piece){k, o, l, more};
            }
        }
        for (size_t i = np; i > 1; i--) { /* shuffle */
            size_t j = rnd() % i;
            struct piece t = pcs[i - 1];
            pcs[i - 1] = pcs[j];
            pcs[j] = t;
        }
        for (size_t i = 0; i < np; i++) {
            struct piece *pc = &pcs[i];
            struct dgram *dd = &d[pc->dg];
            if (done[pc->dg])
                continue;
            for (size_t b = pc->off; b < pc->off + pc->len; b++)
                if (!cov[pc->dg][b]) {
                    cov[pc->dg][b] = 1;
                    covered[pc->dg]++;
                }
            bool have_first = cov[pc->dg][0];
            bool have_last = cov[pc->dg][dd->plen - 1];
            bool full = covered[pc->dg] == dd->plen && have_first && have_last;
            int rc = add(&c, dd, pc->off, pc->len, pc->more, NULL, round);
            if (rc != (full ? 1 : 0))
                fail_msg("round %d dg %d piece %zu+%zu: rc %d, covered %zu of %zu", round,
                         pc->dg, pc->off, pc->len, rc, covered[pc->dg], dd->plen);
            if (rc == 1) {
                check_frame(&c, dd, NULL);
                done[pc->dg] = true;
            }
        }
        for (int k = 0; k < NDG; k++) {
            assert_true(done[k]);
            free(d[k].payload);
            free(cov[k]);
        }
        assert_int_equal(tw_defrag_in_flight(c.d), 0);
        assert_int_equal(tw_defrag_bytes_held(c.d), 0);
    }
    assert_int_equal(c.st.overlap_conflict, 0);
    assert_int_equal(c.st.reassembled, MODEL_ROUNDS * 3);
    tw_defrag_free(c.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_reversed),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_overlap_first),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_max_frags),
        cmocka_unit_test(test_max_datagrams),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_tunnels),
        cmocka_unit_test(test_fragment_header_checksum),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
