/* SPDX-License-Identifier: MIT */
/*
 * Community ID v1 against the spec's published values, and SHA-1 against FIPS 180 vectors.
 *
 * Community ID sources (github.com/corelight/community-id-spec, baseline/):
 *   README.md             tables "Default settings" and "A custom seed=1 value" (made by
 *                         make-tables.py; ICMP rows give the packet's type and code)
 *   baseline_deflt.json   seed 0, flows of pcaps/combined.pcap.gz
 *   baseline_seed1.json   seed 1, same flows
 * The JSON files list ICMP rows with the type already paired to its counterpart; the rows below
 * give the type and code as they are on the wire (an echo reply is type 0 code 0).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/flow/communityid.h"

enum dir {
    BIDIR,    /* the reversed tuple must give the same id */
    ONE_WAY,  /* the reversed tuple must give a different id */
    AS_GIVEN, /* only this direction (ICMP replies carry another type) */
};

struct cid_case {
    int line;
    uint16_t seed;
    uint8_t proto;
    const char *saddr, *daddr;
    uint16_t sport, dport;
    enum dir dir;
    const char *id;
};

#define V6A "fe80:0001:0203:0405:0607:0809:0A0B:0C0D"
#define V6B "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"
#define NS_A "fe80::200:86ff:fe05:80da"
#define NS_B "fe80::260:97ff:fe07:69ea"
#define SMTP_A "2001:470:e5bf:dead:4957:2174:e82c:4887"
#define SMTP_B "2607:f8b0:400c:c03::1a"
#define ND_H "3ffe:507:0:1:200:86ff:fe05:80da"

static const struct cid_case cases[] = {
    /* baseline/README.md, default settings (seed 0) */
    {__LINE__, 0, 6, "1.2.3.4", "5.6.7.8", 1122, 3344, BIDIR, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {__LINE__, 0, 17, "1.2.3.4", "5.6.7.8", 1122, 3344, BIDIR, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
    {__LINE__, 0, 132, "1.2.3.4", "5.6.7.8", 1122, 3344, BIDIR, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
    {__LINE__, 0, 1, "1.2.3.4", "5.6.7.8", 8, 0, AS_GIVEN, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
    {__LINE__, 0, 1, "5.6.7.8", "1.2.3.4", 0, 0, AS_GIVEN, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
    {__LINE__, 0, 1, "1.2.3.4", "5.6.7.8", 11, 0, ONE_WAY, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
    {__LINE__, 0, 58, V6A, V6B, 128, 0, AS_GIVEN, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
    {__LINE__, 0, 58, V6B, V6A, 129, 0, AS_GIVEN, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
    {__LINE__, 0, 58, V6A, V6B, 146, 0, ONE_WAY, "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},
    {__LINE__, 0, 46, "1.2.3.4", "5.6.7.8", 0, 0, BIDIR, "1:ikv3kmf89luf73WPz1jOs49S768="},
    {__LINE__, 0, 46, V6A, V6B, 0, 0, BIDIR, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
    /* baseline/README.md, seed 1 */
    {__LINE__, 1, 6, "1.2.3.4", "5.6.7.8", 1122, 3344, BIDIR, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {__LINE__, 1, 17, "1.2.3.4", "5.6.7.8", 1122, 3344, BIDIR, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {__LINE__, 1, 132, "1.2.3.4", "5.6.7.8", 1122, 3344, BIDIR, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {__LINE__, 1, 1, "1.2.3.4", "5.6.7.8", 8, 0, AS_GIVEN, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {__LINE__, 1, 1, "5.6.7.8", "1.2.3.4", 0, 0, AS_GIVEN, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {__LINE__, 1, 1, "1.2.3.4", "5.6.7.8", 11, 0, ONE_WAY, "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
    {__LINE__, 1, 58, V6A, V6B, 128, 0, AS_GIVEN, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {__LINE__, 1, 58, V6B, V6A, 129, 0, AS_GIVEN, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {__LINE__, 1, 58, V6A, V6B, 146, 0, ONE_WAY, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
    {__LINE__, 1, 46, "1.2.3.4", "5.6.7.8", 0, 0, BIDIR, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
    {__LINE__, 1, 46, V6A, V6B, 0, 0, BIDIR, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
    /* baseline/baseline_deflt.json (seed 0) */
    {__LINE__, 0, 6, "128.232.110.120", "66.35.250.204", 34855, 80, BIDIR,
     "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {__LINE__, 0, 17, "192.168.1.52", "8.8.8.8", 54585, 53, BIDIR,
     "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {__LINE__, 0, 6, SMTP_A, SMTP_B, 63943, 25, BIDIR, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {__LINE__, 0, 132, "192.168.170.8", "192.168.170.56", 7, 7, BIDIR,
     "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {__LINE__, 0, 46, "10.1.12.1", "10.1.12.2", 0, 0, BIDIR, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    {__LINE__, 0, 1, "192.168.0.89", "192.168.0.1", 8, 0, AS_GIVEN,
     "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {__LINE__, 0, 1, "192.168.0.1", "192.168.0.89", 0, 0, AS_GIVEN,
     "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {__LINE__, 0, 1, "10.0.0.1", "10.0.0.2", 11, 0, ONE_WAY, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
    {__LINE__, 0, 58, NS_A, NS_B, 135, 0, AS_GIVEN, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {__LINE__, 0, 58, NS_B, NS_A, 136, 0, AS_GIVEN, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {__LINE__, 0, 58, NS_B, NS_A, 135, 0, AS_GIVEN, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {__LINE__, 0, 58, NS_A, NS_B, 136, 0, AS_GIVEN, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {__LINE__, 0, 58, "3ffe:501:1800:2345::2", ND_H, 3, 0, ONE_WAY,
     "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
    {__LINE__, 0, 58, "3ffe:501:410:0:2c0:dfff:fe47:33e", ND_H, 1, 4, ONE_WAY,
     "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
    {__LINE__, 0, 58, ND_H, "3ffe:501:0:1001::2", 128, 0, AS_GIVEN,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {__LINE__, 0, 58, "3ffe:501:0:1001::2", ND_H, 129, 0, AS_GIVEN,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {__LINE__, 0, 58, NS_A, "ff02::2", 133, 0, AS_GIVEN, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
    {__LINE__, 0, 58, NS_B, "ff02::1", 134, 0, AS_GIVEN, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
    /* baseline/baseline_seed1.json (seed 1) */
    {__LINE__, 1, 6, "128.232.110.120", "66.35.250.204", 34855, 80, BIDIR,
     "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {__LINE__, 1, 17, "192.168.1.52", "8.8.8.8", 54585, 53, BIDIR,
     "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {__LINE__, 1, 6, SMTP_A, SMTP_B, 63943, 25, BIDIR, "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {__LINE__, 1, 132, "192.168.170.8", "192.168.170.56", 7, 7, BIDIR,
     "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {__LINE__, 1, 46, "10.1.12.1", "10.1.12.2", 0, 0, BIDIR, "1:rYir8gphR31noO9iDRQmF/BteEI="},
    {__LINE__, 1, 1, "192.168.0.89", "192.168.0.1", 8, 0, AS_GIVEN,
     "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {__LINE__, 1, 1, "10.0.0.1", "10.0.0.2", 11, 0, ONE_WAY, "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
    {__LINE__, 1, 58, NS_A, NS_B, 135, 0, AS_GIVEN, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {__LINE__, 1, 58, NS_B, NS_A, 135, 0, AS_GIVEN, "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {__LINE__, 1, 58, "3ffe:501:1800:2345::2", ND_H, 3, 0, ONE_WAY,
     "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
    {__LINE__, 1, 58, "3ffe:501:410:0:2c0:dfff:fe47:33e", ND_H, 1, 4, ONE_WAY,
     "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
    {__LINE__, 1, 58, ND_H, "3ffe:501:0:1001::2", 128, 0, AS_GIVEN,
     "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {__LINE__, 1, 58, NS_A, "ff02::2", 133, 0, AS_GIVEN, "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
    {__LINE__, 1, 58, NS_B, "ff02::1", 134, 0, AS_GIVEN, "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
};

static uint8_t parse_addr(const char *s, uint8_t a[16])
{
    memset(a, 0, 16);
    if (inet_pton(AF_INET, s, a) == 1)
        return 4;
    assert_int_equal(inet_pton(AF_INET6, s, a), 1);
    return 6;
}

/* Runs one tuple into an exact-size heap buffer so ASan sees any write past the id. */
static void cid(uint16_t seed, uint8_t proto, const char *saddr, const char *daddr, uint16_t sport,
                uint16_t dport, char out[TW_COMMUNITY_ID_LEN], int line)
{
    uint8_t s[16], d[16];
    uint8_t v = parse_addr(saddr, s);
    assert_int_equal(parse_addr(daddr, d), v);

    char *buf = malloc(TW_COMMUNITY_ID_LEN);
    assert_non_null(buf);
    int rc = tw_community_id(seed, v, s, d, proto, sport, dport, buf, TW_COMMUNITY_ID_LEN);
    if (rc != 0)
        fail_msg("case at line %d: rc %d", line, rc);
    if (strlen(buf) != TW_COMMUNITY_ID_LEN - 1)
        fail_msg("case at line %d: length %zu", line, strlen(buf));
    memcpy(out, buf, TW_COMMUNITY_ID_LEN);
    free(buf);
}

static void test_spec_vectors(void **state)
{
    (void)state;
    char got[TW_COMMUNITY_ID_LEN], back[TW_COMMUNITY_ID_LEN];

    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        const struct cid_case *c = &cases[i];
        cid(c->seed, c->proto, c->saddr, c->daddr, c->sport, c->dport, got, c->line);
        if (strcmp(got, c->id) != 0)
            fail_msg("case at line %d: got %s, want %s", c->line, got, c->id);
        if (c->dir == AS_GIVEN)
            continue;
        cid(c->seed, c->proto, c->daddr, c->saddr, c->dport, c->sport, back, c->line);
        if (c->dir == BIDIR && strcmp(back, c->id) != 0)
            fail_msg("case at line %d reversed: got %s, want %s", c->line, back, c->id);
        if (c->dir == ONE_WAY && strcmp(back, c->id) == 0)
            fail_msg("case at line %d reversed: one-way ICMP gave the same id", c->line);
    }
}

/* The spec's ordering example: 10.0.0.1:1234 <-> 127.0.0.1:80 is one flow. */
static void test_order_by_address_first(void **state)
{
    (void)state;
    char a[TW_COMMUNITY_ID_LEN], b[TW_COMMUNITY_ID_LEN];

    cid(0, 6, "10.0.0.1", "127.0.0.1", 1234, 80, a, __LINE__);
    cid(0, 6, "127.0.0.1", "10.0.0.1", 80, 1234, b, __LINE__);
    assert_string_equal(a, b);
    /* Not merely port-symmetric: swapping the ports alone is another flow. */
    cid(0, 6, "10.0.0.1", "127.0.0.1", 80, 1234, b, __LINE__);
    assert_string_not_equal(a, b);
}

/* Equal addresses: the ports decide, so both directions still meet. */
static void test_same_address_ports_decide(void **state)
{
    (void)state;
    char a[TW_COMMUNITY_ID_LEN], b[TW_COMMUNITY_ID_LEN];

    cid(0, 17, "::1", "::1", 5353, 53, a, __LINE__);
    cid(0, 17, "::1", "::1", 53, 5353, b, __LINE__);
    assert_string_equal(a, b);
    cid(0, 6, "127.0.0.1", "127.0.0.1", 40000, 8080, a, __LINE__);
    cid(0, 6, "127.0.0.1", "127.0.0.1", 8080, 40000, b, __LINE__);
    assert_string_equal(a, b);
}

/* Port-less protocols ignore whatever is passed as ports. */
static void test_portless_ignores_ports(void **state)
{
    (void)state;
    char a[TW_COMMUNITY_ID_LEN];

    cid(0, 46, "1.2.3.4", "5.6.7.8", 1, 2, a, __LINE__);
    assert_string_equal(a, "1:ikv3kmf89luf73WPz1jOs49S768=");
}

/* IPv4 uses only the first 4 bytes: stray bytes after them must not change the id. */
static void test_v4_uses_four_bytes(void **state)
{
    (void)state;
    uint8_t s[16], d[16];
    char out[TW_COMMUNITY_ID_LEN];

    memset(s, 0xaa, sizeof(s));
    memset(d, 0x55, sizeof(d));
    memcpy(s, (const uint8_t[]){128, 232, 110, 120}, 4);
    memcpy(d, (const uint8_t[]){66, 35, 250, 204}, 4);
    assert_int_equal(tw_community_id(0, 4, s, d, 6, 34855, 80, out, sizeof(out)), 0);
    assert_string_equal(out, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    uint8_t a[16] = {1, 2, 3, 4}, b[16] = {5, 6, 7, 8};
    char out[64];

    memset(out, 'x', sizeof(out));
    assert_int_equal(tw_community_id(0, 4, a, b, 6, 1, 2, out, TW_COMMUNITY_ID_LEN - 1), TW_EINVAL);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[TW_COMMUNITY_ID_LEN - 2], 'x');
    memset(out, 'x', sizeof(out));
    assert_int_equal(tw_community_id(0, 5, a, b, 6, 1, 2, out, sizeof(out)), TW_EINVAL);
    assert_int_equal(out[0], '\0');
    assert_int_equal(tw_community_id(0, 0, a, b, 6, 1, 2, out, sizeof(out)), TW_EINVAL);
    assert_int_equal(tw_community_id(0, 4, a, b, 6, 1, 2, NULL, 0), TW_EINVAL);
    assert_int_equal(tw_community_id(0, 4, a, b, 6, 1, 2, out, 0), TW_EINVAL);
    assert_int_equal(out[0], '\0');
}

struct sha1_case {
    int line;
    const char *msg;
    size_t repeat; /* msg is repeated this many times */
    const char *hex;
};

/* FIPS 180 examples ("abc", the 448-bit and 896-bit messages, a million 'a'), the empty
 * message, and lengths around the 55/56/64-byte padding boundaries (from Python's hashlib). */
static const struct sha1_case sha1_cases[] = {
    {__LINE__, "abc", 1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {__LINE__, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    {__LINE__,
     "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlm"
     "nopqrsmnopqrstnopqrstu",
     1, "a49b2446a02c645bf419f995b67091253a04a259"},
    {__LINE__, "a", 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
    {__LINE__, "", 1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {__LINE__, "a", 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
    {__LINE__, "a", 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
    {__LINE__, "a", 63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
    {__LINE__, "a", 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
    {__LINE__, "a", 65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
    {__LINE__, "a", 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
    {__LINE__, "a", 120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
};

static void test_sha1(void **state)
{
    (void)state;

    for (size_t i = 0; i < TW_ARRAY_SIZE(sha1_cases); i++) {
        const struct sha1_case *c = &sha1_cases[i];
        size_t mlen = strlen(c->msg), len = mlen * c->repeat;
        uint8_t *buf = malloc(len ? len : 1);
        assert_non_null(buf);
        for (size_t r = 0; r < c->repeat; r++)
            memcpy(buf + r * mlen, c->msg, mlen);

        uint8_t d[TW_SHA1_LEN];
        char hex[2 * TW_SHA1_LEN + 1];
        tw_sha1(buf, len, d);
        free(buf);
        for (size_t j = 0; j < TW_SHA1_LEN; j++)
            snprintf(hex + 2 * j, 3, "%02x", d[j]);
        if (strcmp(hex, c->hex) != 0)
            fail_msg("case at line %d: got %s, want %s", c->line, hex, c->hex);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vectors),
        cmocka_unit_test(test_order_by_address_first),
        cmocka_unit_test(test_same_address_ports_decide),
        cmocka_unit_test(test_portless_ignores_ports),
        cmocka_unit_test(test_v4_uses_four_bytes),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_sha1),
    };
    return tw_run_tests(tests, NULL, NULL);
}
