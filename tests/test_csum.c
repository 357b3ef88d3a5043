/* SPDX-License-Identifier: MIT */
/*
 * Checksum tests: RFC 1071's worked example and a textbook IPv4 header, tw_csum_partial
 * against a plain 16-bit reference sum at every length and alignment, TCP/UDP checksums
 * filled and verified, and the packet preparation's validation modes (on, off, auto with
 * offload detected, auto locked on), UDP's checksum 0 over IPv4 and IPv6.
 */
#include "tunwatch/decode/csum.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "tunwatch/decode/prep.h"

/* The folded sum as the two bytes it is in memory (network order). */
static void fold_bytes(uint64_t sum, uint8_t out[2])
{
    uint16_t v = tw_csum_fold(sum);
    memcpy(out, &v, 2);
}

/* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to dd f2. */
static void test_rfc1071(void **state)
{
    (void)state;
    const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint8_t out[2];

    fold_bytes(tw_csum_partial(b, sizeof(b), 0), out);
    assert_int_equal(out[0], 0xdd);
    assert_int_equal(out[1], 0xf2);
    /* in two pieces, the first of even length */
    fold_bytes(tw_csum_partial(b + 2, 6, tw_csum_partial(b, 2, 0)), out);
    assert_int_equal(out[0], 0xdd);
    assert_int_equal(out[1], 0xf2);
}

/* 192.168.0.1 -> 192.168.0.199, UDP, checksum b861 (the usual textbook header). */
static void test_ip4_header(void **state)
{
    (void)state;
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

    assert_true(tw_csum_ip4_ok(h, 20));
    h[10] = h[11] = 0;
    assert_false(tw_csum_ip4_ok(h, 20));
    tw_csum_ip4_fill(h, 20);
    assert_int_equal(h[10], 0xb8);
    assert_int_equal(h[11], 0x61);
    h[8] = 0x3f; /* TTL changed, checksum not */
    assert_false(tw_csum_ip4_ok(h, 20));
}

/* Plain RFC 1071 sum: 16-bit big-endian words, an odd last byte padded. */
static uint16_t ref_sum(const uint8_t *b, size_t n)
{
    uint32_t s = 0;

    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)b[i] << 8 | b[i + 1];
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static void test_against_reference(void **state)
{
    (void)state;
    uint8_t buf[600];
    unsigned seed = 12345;

    for (int round = 0; round < 40; round++) {
        for (size_t i = 0; i < sizeof(buf); i++) {
            seed = seed * 1103515245u + 12345u;
            /* some rounds all 0xff: carries on every add */
            buf[i] = round % 5 == 0 ? 0xff : (uint8_t)(seed >> 16);
        }
        for (size_t align = 0; align < 8; align++) {
            for (size_t n = 0; n + align <= 520; n++) {
                uint8_t *p = exact_copy(buf + align, n);
                uint8_t out[2];
                uint16_t r = ref_sum(p, n);
                fold_bytes(tw_csum_partial(p, n, 0), out);
                if (out[0] != (r >> 8) || out[1] != (r & 0xff))
                    fail_msg("length %zu round %d: %02x%02x, want %04x", n, round, out[0],
                             out[1], r);
                free(p);
            }
        }
    }
}

/* IPv4 headers of every length (5 to 15 words, options in the rest) and the pseudo-header
 * sums of both versions, against the reference: tw_csum_ip4_ok() and tw_csum_pseudo() sum
 * them apart from tw_csum_partial(). */
static void test_headers_against_reference(void **state)
{
    (void)state;
    unsigned seed = 777;
    uint8_t h[60], ph[40];

    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof(h); i++) {
            seed = seed * 1103515245u + 12345u;
            h[i] = round % 7 == 0 ? 0xff : (uint8_t)(seed >> 16);
        }
        size_t hl = 20 + 4 * (size_t)(round % 11);
        h[10] = h[11] = 0;
        uint16_t r = (uint16_t)~ref_sum(h, hl);
        if (round % 2 == 0) { /* a valid header */
            h[10] = (uint8_t)(r >> 8);
            h[11] = (uint8_t)r;
        } else { /* wrong by one */
            h[10] = (uint8_t)((r + 1) >> 8);
            h[11] = (uint8_t)(r + 1);
        }
        assert_int_equal(tw_csum_ip4_ok(h, hl), ref_sum(h, hl) == 0xffff);
        /* The pseudo-header: addresses, then the length and the protocol as each version lays
         * them out (the same sum). */
        uint8_t version = round % 3 == 0 ? 6 : 4;
        size_t alen = version == 4 ? 4 : 16, n = 0;
        uint32_t l4_len = (uint32_t)(seed >> 8) & (version == 4 ? 0xffffu : 0xffffffu);
        uint8_t proto = round % 2 ? 6 : 17;
        memcpy(ph, h + 20, alen);
        memcpy(ph + alen, h + 40, alen);
        n = 2 * alen;
        ph[n++] = (uint8_t)(l4_len >> 24);
        ph[n++] = (uint8_t)(l4_len >> 16);
        ph[n++] = (uint8_t)(l4_len >> 8);
        ph[n++] = (uint8_t)l4_len;
        ph[n++] = 0;
        ph[n++] = 0;
        ph[n++] = 0;
        ph[n++] = proto;
        uint8_t out[2];
        uint16_t want = ref_sum(ph, n);
        fold_bytes(tw_csum_pseudo(version, h + 20, h + 40, proto, l4_len), out);
        assert_int_equal(out[0] << 8 | out[1], want);
    }
}

/* A UDP datagram 10.0.0.1:1234 -> 10.0.0.2:53 with 4 payload bytes, checksum worked out by
 * hand: pseudo 0a00+0001+0a00+0002+0011+000c, header 04d2+0035+000c, payload 6162+6364. */
static void test_udp_known(void **state)
{
    (void)state;
    const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
    uint8_t seg[12] = {0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0, 0, 'a', 'b', 'c', 'd'};
    uint32_t s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0011 + 0x000c + 0x04d2 + 0x0035 +
                 0x000c + 0x6162 + 0x6364;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    uint16_t want = (uint16_t)~s;

    tw_csum_l4_fill(4, src, dst, 17, seg, sizeof(seg), seg + 6);
    assert_int_equal(seg[6], want >> 8);
    assert_int_equal(seg[7], want & 0xff);
    uint64_t sum = tw_csum_partial(seg, sizeof(seg), tw_csum_pseudo(4, src, dst, 17, 12));
    assert_int_equal(tw_csum_fold(sum), 0xffff);
    seg[9] ^= 1;
    sum = tw_csum_partial(seg, sizeof(seg), tw_csum_pseudo(4, src, dst, 17, 12));
    assert_int_not_equal(tw_csum_fold(sum), 0xffff);
}

/* ---- validation in the packet preparation ---- */

struct frame {
    uint8_t b[200];
    size_t n;
};

/* Raw IPv4 (or IPv6) frame with a TCP or UDP segment of plen payload bytes; checksums
 * correct. */
static void build(struct frame *f, uint8_t version, uint8_t proto, size_t plen)
{
    uint8_t *ip = f->b, *l4;
    size_t l4len = (proto == 6 ? 20 : 8) + plen, hl = version == 4 ? 20 : 40;

    memset(f->b, 0, sizeof(f->b));
    if (version == 4) {
        ip[0] = 0x45;
        ip[2] = (uint8_t)((hl + l4len) >> 8);
        ip[3] = (uint8_t)(hl + l4len);
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
        tw_csum_ip4_fill(ip, 20);
    } else {
        ip[0] = 0x60;
        ip[4] = (uint8_t)(l4len >> 8);
        ip[5] = (uint8_t)l4len;
        ip[6] = proto;
        ip[7] = 64;
        ip[8] = 0xfd;
        ip[23] = 1;
        ip[24] = 0xfd;
        ip[39] = 2;
    }
    l4 = ip + hl;
    l4[0] = 0x9c;
    l4[1] = 0x40;
    l4[3] = proto == 6 ? 0x50 : 0x35; /* 80 or 53 */
    if (proto == 6) {
        l4[12] = 0x50;
        l4[13] = 0x18;
        l4[15] = 0xff;
    } else {
        l4[4] = (uint8_t)(l4len >> 8);
        l4[5] = (uint8_t)l4len;
    }
    for (size_t i = 0; i < plen; i++)
        l4[l4len - plen + i] = (uint8_t)('a' + i % 26);
    tw_csum_l4_fill(version, ip + (version == 4 ? 12 : 8), ip + (version == 4 ? 16 : 24), proto,
                    l4, (uint32_t)l4len, l4 + (proto == 6 ? 16 : 6));
    f->n = hl + l4len;
}

/* The L4 checksum field replaced by what offload leaves: the pseudo-header sum. */
static void make_partial(struct frame *f, uint8_t version, uint8_t proto)
{
    size_t hl = version == 4 ? 20 : 40;
    uint8_t *l4 = f->b + hl;
    uint16_t v = tw_csum_fold(tw_csum_pseudo(version, f->b + (version == 4 ? 12 : 8),
                                             f->b + (version == 4 ? 16 : 24), proto,
                                             (uint32_t)(f->n - hl)));
    memcpy(l4 + (proto == 6 ? 16 : 6), &v, 2);
}

static int run(struct tw_prep *pp, const struct frame *f, struct tw_prep_stats *st)
{
    struct tw_decode_stats ds = {0};
    struct tw_pkt p;
    uint8_t *copy = exact_copy(f->b, f->n);
    struct tw_prep_frame pf = {TW_LINK_RAW, copy, f->n};
    int rc = tw_prep_decode(pp, &pf, 1000, &p, &ds, st);
    free(copy);
    return rc;
}

static struct tw_prep *prep_new(enum tw_csum_mode mode)
{
    struct tw_prep_config c = {.defrag = TW_DEFRAG_CONFIG_DEFAULT, .checksums = mode};
    struct tw_prep *pp = tw_prep_new(&c);
    assert_non_null(pp);
    return pp;
}

static void test_modes(void **state)
{
    (void)state;
    struct frame good, bad, ipbad, udp0, udp6_0;
    struct tw_prep_stats st;

    build(&good, 4, 6, 30);
    bad = good;
    bad.b[20 + 16] ^= 0x01;
    ipbad = good;
    ipbad.b[8] = 63; /* TTL changed, header checksum not updated */
    build(&udp0, 4, 17, 12);
    udp0.b[26] = udp0.b[27] = 0; /* no checksum: allowed over IPv4 */
    build(&udp6_0, 6, 17, 12);
    udp6_0.b[46] = udp6_0.b[47] = 0; /* not allowed over IPv6 */

    for (int m = 0; m < 3; m++) {
        enum tw_csum_mode mode = (enum tw_csum_mode[]){TW_CSUM_ON, TW_CSUM_AUTO, TW_CSUM_OFF}[m];
        struct tw_prep *pp = prep_new(mode);
        memset(&st, 0, sizeof(st));
        int want_bad = mode == TW_CSUM_OFF ? 0 : TW_PREP_BAD_CHECKSUM;
        assert_int_equal(run(pp, &good, &st), 0);
        assert_int_equal(run(pp, &bad, &st), want_bad);
        assert_int_equal(run(pp, &ipbad, &st), want_bad);
        assert_int_equal(run(pp, &udp0, &st), 0);
        assert_int_equal(run(pp, &udp6_0, &st), want_bad);
        assert_int_equal(st.tcp_bad_checksum, mode == TW_CSUM_OFF ? 0 : 1);
        assert_int_equal(st.ip4_bad_checksum, mode == TW_CSUM_OFF ? 0 : 1);
        assert_int_equal(st.udp_bad_checksum, mode == TW_CSUM_OFF ? 0 : 1);
        assert_string_equal(tw_prep_checksum_state(mode, &st),
                            mode == TW_CSUM_ON ? "on" : mode == TW_CSUM_OFF ? "off" : "auto");
        tw_prep_free(pp);
    }
}

/* auto: offload partial sums are inspected while the evidence is open; once most segments
 * are wrong, validation stops (a plain bad checksum is then inspected too). */
static void test_auto_offload(void **state)
{
    (void)state;
    struct frame part, bad;
    struct tw_prep_stats st = {0};
    struct tw_prep *pp = prep_new(TW_CSUM_AUTO);

    build(&part, 4, 6, 40);
    make_partial(&part, 4, 6);
    build(&bad, 6, 17, 10);
    bad.b[40 + 6] ^= 0x40;
    assert_int_equal(run(pp, &bad, &st), TW_PREP_BAD_CHECKSUM); /* not the offload form */
    for (int i = 0; i < TW_PREP_AUTO_MIN - 2; i++)
        assert_int_equal(run(pp, &part, &st), 0);
    assert_int_equal(st.checksum_offload_detected, 0);
    assert_int_equal(run(pp, &part, &st), 0);
    assert_int_equal(st.checksum_offload_detected, 1);
    assert_string_equal(tw_prep_checksum_state(TW_CSUM_AUTO, &st), "off (offload detected)");
    assert_int_equal(run(pp, &bad, &st), 0);
    assert_int_equal(st.udp_bad_checksum, 1);
    tw_prep_free(pp);

    /* on: the offload form is a bad checksum like any other */
    pp = prep_new(TW_CSUM_ON);
    memset(&st, 0, sizeof(st));
    for (int i = 0; i < 100; i++)
        assert_int_equal(run(pp, &part, &st), TW_PREP_BAD_CHECKSUM);
    assert_int_equal(st.tcp_bad_checksum, 100);
    assert_int_equal(st.checksum_offload_detected, 0);
    tw_prep_free(pp);
}

/*
 * auto decides on every packet it validated, whatever stats each was counted in: a replay
 * worker counts its own packets and the others' apart. The same packets counted in turn in
 * two stats (mine, theirs) tip to offload at the same packet as in one, and the engine that
 * counted the tipping packet in the other stats still reports offload.
 */
static void test_auto_split_stats(void **state)
{
    (void)state;
    struct frame part, good;

    build(&part, 4, 6, 40);
    make_partial(&part, 4, 6);
    build(&good, 4, 17, 20);
    for (int split = 0; split < 2; split++) {
        struct tw_prep_stats st[2] = {0};
        struct tw_prep *pp = prep_new(TW_CSUM_AUTO);
        int tipped = -1;
        for (int i = 0; i < 3 * TW_PREP_AUTO_MIN && tipped < 0; i++) {
            struct tw_prep_stats *s = &st[split ? i % 2 : 0];
            assert_int_equal(run(pp, i % 4 == 3 ? &good : &part, s), 0);
            if (tw_csum_offload(tw_prep_csum(pp)))
                tipped = i;
        }
        /* 32 checked, more than half wrong: at the 32nd packet (index 31) */
        assert_int_equal(tipped, TW_PREP_AUTO_MIN - 1);
        assert_int_equal(st[0].checksum_checked + st[1].checksum_checked, TW_PREP_AUTO_MIN);
        assert_int_equal(st[0].checksum_offload_detected + st[1].checksum_offload_detected, 1);
        tw_prep_free(pp);
    }
}

/* auto: after TW_PREP_AUTO_LOCK good segments validation locks on and an offload-form
 * checksum (a crafted decoy) is dropped. */
static void test_auto_lock(void **state)
{
    (void)state;
    struct frame good, part;
    struct tw_prep_stats st = {0};
    struct tw_prep *pp = prep_new(TW_CSUM_AUTO);

    build(&good, 4, 17, 20);
    build(&part, 4, 6, 40);
    make_partial(&part, 4, 6);
    assert_int_equal(run(pp, &part, &st), 0); /* open: taken for offload */
    for (int i = 0; i < TW_PREP_AUTO_LOCK; i++)
        assert_int_equal(run(pp, &good, &st), 0);
    assert_int_equal(run(pp, &part, &st), TW_PREP_BAD_CHECKSUM);
    assert_int_equal(st.checksum_partial, 1);
    assert_int_equal(st.tcp_bad_checksum, 1);
    assert_int_equal(st.checksum_offload_detected, 0);
    tw_prep_free(pp);
}

/* A segment cut by the snapshot length cannot be checked: inspected, counted unverified. */
static void test_snaplen(void **state)
{
    (void)state;
    struct frame f;
    struct tw_prep_stats st = {0};
    struct tw_prep *pp = prep_new(TW_CSUM_ON);

    build(&f, 4, 6, 60);
    f.b[20 + 16] ^= 0xff;
    f.n -= 10;
    assert_int_equal(run(pp, &f, &st), 0);
    assert_int_equal(st.checksum_unverified, 1);
    assert_int_equal(st.tcp_bad_checksum, 0);
    tw_prep_free(pp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1071),     cmocka_unit_test(test_ip4_header),
        cmocka_unit_test(test_against_reference), cmocka_unit_test(test_headers_against_reference),
        cmocka_unit_test(test_udp_known),
        cmocka_unit_test(test_modes),       cmocka_unit_test(test_auto_offload),
        cmocka_unit_test(test_auto_split_stats),
        cmocka_unit_test(test_auto_lock),   cmocka_unit_test(test_snaplen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
