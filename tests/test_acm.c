/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/match/acm.h"

static size_t values_str(const struct tw_acm *a, const char *name, uint32_t *out, size_t cap)
{
    size_t len = strlen(name);
    char *h = exact_copy(name, len);
    size_t n = tw_acm_match_values(a, h, len, out, cap);

    free(h);
    return n;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return a < b ? -1 : a > b;
}

/* One pattern against one name. */
static const struct {
    int line;
    const char *pat;
    unsigned flags;
    const char *name;
    bool match;
} one_cases[] = {
    {__LINE__, "tunnel", 0, "tunnel", true},
    {__LINE__, "tunnel", 0, "my-tunnel.example.com", true},
    {__LINE__, "tunnel", 0, "a.b.tunnel", true},
    {__LINE__, "tunnel", 0, "tunne", false},
    {__LINE__, "tunnel", 0, "tunnxl.example.com", false},
    {__LINE__, "tunnel", 0, "", false},
    {__LINE__, "TUNNEL", 0, "my-tunnel.example.com", true},
    {__LINE__, "tunnel", 0, "MY-TUNNEL.EXAMPLE.COM", true},
    {__LINE__, "api-", TW_ACM_ANCHOR_START, "api-1.example.net", true},
    {__LINE__, "api-", TW_ACM_ANCHOR_START, "api-", true},
    {__LINE__, "api-", TW_ACM_ANCHOR_START, "xapi-1.example.net", false},
    {__LINE__, "api-", TW_ACM_ANCHOR_START, "www.api-1.example.net", false},
    {__LINE__, "api-", TW_ACM_ANCHOR_START, "api", false},
    {__LINE__, "API-", TW_ACM_ANCHOR_START, "api-2", true},
    {__LINE__, "a", TW_ACM_ANCHOR_START, "aaaa", true},
    {__LINE__, "a", TW_ACM_ANCHOR_START, "baaa", false},
    {__LINE__, "aab", 0, "aaab", true}, /* the failure link must keep "aa" */
    {__LINE__, "abab", 0, "abaabab", true},
    {__LINE__, "abab", TW_ACM_ANCHOR_START, "abaabab", false},
    {__LINE__, ".", 0, "localhost", false},
    {__LINE__, ".", 0, "localhost.", true},
};

static void test_one_pattern(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(one_cases); i++) {
        struct tw_acm *a = tw_acm_new();
        uint32_t out[4] = {0};
        size_t n;
        bool want = one_cases[i].match;

        assert_non_null(a);
        assert_int_equal(
            tw_acm_add(a, one_cases[i].pat, strlen(one_cases[i].pat), 42, one_cases[i].flags), 0);
        assert_int_equal(tw_acm_compile(a), 0);
        n = values_str(a, one_cases[i].name, out, 4);
        if (n != (want ? 1u : 0u) || (n == 1 && out[0] != 42))
            fail_msg("line %d: '%s' (%s) in '%s': %zu values", one_cases[i].line, one_cases[i].pat,
                     one_cases[i].flags ? "startswith" : "contains", one_cases[i].name, n);
        tw_acm_free(a);
    }
}

/* Several patterns in one automaton. */
static void test_many_patterns(void **state)
{
    static const struct {
        const char *pat;
        unsigned flags;
        uint32_t value;
    } pats[] = {
        {"he", 0, 1},
        {"she", 0, 2},
        {"his", 0, 3},
        {"hers", 0, 4},
        {"ngrok.io", 0, 5},
        {"rok.io", 0, 6}, /* a suffix of another pattern */
        {"ngrok", TW_ACM_ANCHOR_START, 7},
        {"ngrok", 0, 8},
        {"tunnel", 0, 9},
        {"tunnel", 0, 9}, /* duplicate: reported once */
        {"tunnel", 0, 10},
        {"TUNNEL", 0, 11}, /* same bytes, other values */
        {"x", 0, 12},
        {"rok.io", TW_ACM_ANCHOR_START, 13},
        {"ok", 0, 6}, /* another pattern, a value shared with "rok.io" */
    };
    static const struct {
        int line;
        const char *name;
        size_t n;
        uint32_t want[8]; /* sorted */
    } cases[] = {
        {__LINE__, "ushers", 4, {1, 2, 4}},
        {__LINE__, "ushers", 3, {1, 2, 4}},
        {__LINE__, "his", 1, {3}},
        {__LINE__, "ngrok.io", 4, {5, 6, 7, 8}},
        {__LINE__, "a.ngrok.io", 3, {5, 6, 8}},
        {__LINE__, "rok.io", 2, {6, 13}},
        {__LINE__, "xrok.io", 2, {6, 12}},
        {__LINE__, "ok", 1, {6}},
        {__LINE__, "my-tunnel-tunnel", 3, {9, 10, 11}},
        {__LINE__, "NGROK.IO", 4, {5, 6, 7, 8}},
        {__LINE__, "www.invalid.net", 0, {0}},
        {__LINE__, "", 0, {0}},
    };
    struct tw_acm *a = tw_acm_new();

    (void)state;
    assert_non_null(a);
    for (size_t i = 0; i < TW_ARRAY_SIZE(pats); i++)
        assert_int_equal(
            tw_acm_add(a, pats[i].pat, strlen(pats[i].pat), pats[i].value, pats[i].flags), 0);
    assert_int_equal(tw_acm_patterns(a), TW_ARRAY_SIZE(pats));
    assert_int_equal(tw_acm_compile(a), 0);
    assert_int_equal(tw_acm_patterns(a), TW_ARRAY_SIZE(pats) - 1); /* the duplicate */
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        uint32_t out[8] = {0};
        size_t n = values_str(a, cases[i].name, out, 8), want_n = 0;

        while (want_n < 8 && cases[i].want[want_n] != 0)
            want_n++;
        qsort(out, TW_MIN(n, 8), sizeof(out[0]), cmp_u32);
        if (n != want_n)
            fail_msg("line %d: '%s': %zu values, want %zu", cases[i].line, cases[i].name, n,
                     want_n);
        for (size_t j = 0; j < n; j++)
            if (out[j] != cases[i].want[j])
                fail_msg("line %d: '%s': value %zu is %u, want %u", cases[i].line, cases[i].name, j,
                         out[j], cases[i].want[j]);
    }
    tw_acm_free(a);
}

struct collect {
    size_t n;
    uint32_t v[512];
};

static void collect_fn(void *ctx, uint32_t value)
{
    struct collect *c = ctx;

    if (c->n < TW_ARRAY_SIZE(c->v))
        c->v[c->n] = value;
    c->n++;
}

/* Order of report, the callback form, and a set larger than the array. */
static void test_order_and_bounds(void **state)
{
    static const char *const pats[] = {"b", "ab", "abc", "c", "zz"};
    struct tw_acm *a = tw_acm_new();
    struct collect c = {0};
    uint32_t out[8] = {0};

    (void)state;
    assert_non_null(a);
    for (size_t i = 0; i < TW_ARRAY_SIZE(pats); i++)
        assert_int_equal(tw_acm_add(a, pats[i], strlen(pats[i]), (uint32_t)i + 1, 0), 0);
    assert_int_equal(tw_acm_compile(a), 0);
    /* "abcabc": b(1) ab(2) at offset 1, then abc(3) c(4) at offset 2: longest first. */
    assert_int_equal(values_str(a, "abcabc", out, 8), 4);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 3);
    assert_int_equal(out[3], 4);
    assert_int_equal(tw_acm_match(a, "abcabc", 6, collect_fn, &c), 4);
    assert_int_equal(c.n, 4);
    assert_memory_equal(c.v, out, 4 * sizeof(uint32_t));
    /* Too small an array: cap values written, cap + 1 returned. */
    memset(out, 0, sizeof(out));
    assert_int_equal(values_str(a, "abcabc", out, 2), 3);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 0);
    assert_int_equal(values_str(a, "abcabc", NULL, 0), 1);
    assert_int_equal(values_str(a, "xyz", NULL, 0), 0);
    assert_int_equal(tw_acm_match(a, "abc", 3, NULL, NULL), 0);
    tw_acm_free(a);
}

static void test_errors(void **state)
{
    struct tw_acm *a = tw_acm_new();
    uint32_t out[2];

    (void)state;
    assert_non_null(a);
    assert_int_equal(tw_acm_add(a, "", 0, 1, 0), TW_EINVAL);
    assert_int_equal(tw_acm_add(a, "", 0, 1, TW_ACM_ANCHOR_START), TW_EINVAL);
    assert_int_equal(tw_acm_add(a, NULL, 3, 1, 0), TW_EINVAL);
    assert_int_equal(tw_acm_add(a, "abc", 3, 1, 0x2), TW_EINVAL);
    assert_int_equal(tw_acm_add(NULL, "abc", 3, 1, 0), TW_EINVAL);
    assert_int_equal(tw_acm_add(a, "abc", 3, 1, 0), 0);
    /* Not compiled yet: matches nothing. */
    assert_int_equal(values_str(a, "abc", out, 2), 0);
    assert_int_equal(tw_acm_compile(a), 0);
    assert_int_equal(tw_acm_compile(a), TW_EINVAL);
    assert_int_equal(tw_acm_add(a, "abd", 3, 2, 0), TW_EINVAL);
    assert_int_equal(values_str(a, "xabcx", out, 2), 1);
    assert_int_equal(values_str(a, "xabdx", out, 2), 0);
    tw_acm_free(a);
    tw_acm_free(NULL);
    assert_int_equal(tw_acm_compile(NULL), TW_EINVAL);
    assert_int_equal(tw_acm_match_values(NULL, "abc", 3, out, 2), 0);

    /* No pattern at all. */
    a = tw_acm_new();
    assert_non_null(a);
    assert_int_equal(tw_acm_compile(a), 0);
    assert_int_equal(values_str(a, "anything", out, 2), 0);
    assert_int_equal(tw_acm_states(a), 2);
    tw_acm_free(a);
}

/* Sigma wildcard values to their most selective literal (the longest; a trailing run after a
 * wildcard, the shared parent domain of host names, counting half). */
static void test_glob_literal(void **state)
{
    static const struct {
        int line;
        const char *glob;
        int rc;
        const char *lit;
        unsigned flags;
    } cases[] = {
        {__LINE__, "*tunnel*.example.com", 6, "tunnel", 0}, /* ties: the earliest */
        {__LINE__, "*tun01234*.example.com", 8, "tun01234", 0},
        {__LINE__, "*tun*.example.com", 12, ".example.com", 0},
        {__LINE__, "api-?.example.net", 12, ".example.net", 0},
        {__LINE__, "api-gateway-01?.example.net", 14, "api-gateway-01", TW_ACM_ANCHOR_START},
        {__LINE__, "abc*", 3, "abc", TW_ACM_ANCHOR_START},
        {__LINE__, "*abc", 3, "abc", 0},
        {__LINE__, "ab*cd", 2, "ab", TW_ACM_ANCHOR_START}, /* the earliest of equal runs */
        {__LINE__, "a\\*b*", 3, "a*b", TW_ACM_ANCHOR_START},
        {__LINE__, "*x\\?y", 3, "x?y", 0},
        {__LINE__, "*a\\\\b", 3, "a\\b", 0},
        {__LINE__, "*a\\b", 3, "a\\b", 0}, /* a lone backslash is itself */
        {__LINE__, "*a\\", 2, "a\\", 0},
        {__LINE__, "*", TW_ENOTSUP, "", 0},
        {__LINE__, "?*?", TW_ENOTSUP, "", 0},
        {__LINE__, "", TW_ENOTSUP, "", 0},
        {__LINE__, "*0123456789abcdefX*", TW_ENOMEM, "", 0}, /* longer than buf */
    };

    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        char buf[16];
        unsigned flags = 99;
        size_t len = strlen(cases[i].glob);
        char *g = exact_copy(cases[i].glob, len);
        int rc = tw_acm_glob_literal(g, len, buf, sizeof(buf), &flags);

        free(g);
        if (rc != cases[i].rc)
            fail_msg("line %d: '%s': %d, want %d", cases[i].line, cases[i].glob, rc, cases[i].rc);
        if (rc > 0 && (memcmp(buf, cases[i].lit, (size_t)rc) != 0 || flags != cases[i].flags))
            fail_msg("line %d: '%s': '%.*s' flags %u, want '%s' flags %u", cases[i].line,
                     cases[i].glob, rc, buf, flags, cases[i].lit, cases[i].flags);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Differential test against a naive matcher. */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t rng_below(struct rng *r, size_t n)
{
    return (size_t)(rng_next(r) % n);
}

struct npat {
    char s[12];
    size_t len;
    uint32_t value;
    bool anchored;
};

static bool lower_eq(const char *name, const char *pat, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != pat[i])
            return false;
    }
    return true;
}

/* The sorted distinct values of the patterns found in name, the slow way. */
static size_t naive(const struct npat *p, size_t n, const char *name, size_t len, uint32_t *out)
{
    size_t k = 0, w = 0;

    for (size_t i = 0; i < n; i++) {
        bool hit = false;

        if (p[i].len > len)
            continue;
        if (p[i].anchored)
            hit = lower_eq(name, p[i].s, p[i].len);
        else
            for (size_t off = 0; !hit && off + p[i].len <= len; off++)
                hit = lower_eq(name + off, p[i].s, p[i].len);
        if (hit)
            out[k++] = p[i].value;
    }
    qsort(out, k, sizeof(*out), cmp_u32);
    for (size_t i = 0; i < k; i++)
        if (w == 0 || out[w - 1] != out[i])
            out[w++] = out[i];
    return w;
}

static void test_differential(void **state)
{
    enum { ROUNDS = 12, NAMES = 400, VCAP = 4096 };
    static const char alpha[] = "abc.-xyz"; /* small: many overlaps and failure links */
    struct rng r = {0x61636dULL};
    struct npat *p = calloc(3000, sizeof(*p));
    uint32_t *want = malloc(VCAP * sizeof(*want)), *got = malloc(VCAP * sizeof(*got));
    size_t checked = 0, hits = 0, big = 0;

    (void)state;
    assert_non_null(p);
    assert_non_null(want);
    assert_non_null(got);
    for (unsigned round = 0; round < ROUNDS; round++) {
        size_t n = 1 + rng_below(&r, round < 4 ? 50 : 3000);
        size_t alen = round % 3 == 0 ? 3 : sizeof(alpha) - 1;
        uint32_t vrange = round % 2 ? (uint32_t)n : 1 + (uint32_t)(n / 4);
        struct tw_acm *a = tw_acm_new();

        assert_non_null(a);
        for (size_t i = 0; i < n; i++) {
            p[i].len = 1 + rng_below(&r, round < 6 ? 4 : 10);
            for (size_t j = 0; j < p[i].len; j++)
                p[i].s[j] = alpha[rng_below(&r, alen)];
            p[i].value = (uint32_t)rng_below(&r, vrange) * 7919u; /* sparse values */
            p[i].anchored = rng_below(&r, 4) == 0;
            assert_int_equal(tw_acm_add(a, p[i].s, p[i].len, p[i].value,
                                        p[i].anchored ? TW_ACM_ANCHOR_START : 0),
                             0);
        }
        assert_int_equal(tw_acm_compile(a), 0);
        for (unsigned k = 0; k < NAMES; k++) {
            size_t len = rng_below(&r, 40);
            char name[40];
            char *h;
            size_t nw, ng;
            struct collect c = {0};

            for (size_t j = 0; j < len; j++) {
                char ch = alpha[rng_below(&r, alen)];

                name[j] = (rng_below(&r, 8) == 0 && ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
            }
            h = exact_copy(name, len);
            nw = naive(p, n, h, len, want);
            ng = tw_acm_match_values(a, h, len, got, VCAP);
            tw_acm_match(a, h, len, collect_fn, &c);
            free(h);
            qsort(got, TW_MIN(ng, VCAP), sizeof(*got), cmp_u32);
            if (ng != nw || memcmp(got, want, nw * sizeof(*got)) != 0)
                fail_msg("round %u name %u '%.*s': %zu values, naive %zu", round, k, (int)len, name,
                         ng, nw);
            /* The callback form: the same set, exactly once each up to TW_ACM_DEDUP. */
            if (nw <= TW_ACM_DEDUP) {
                assert_int_equal(c.n, nw);
                qsort(c.v, c.n, sizeof(c.v[0]), cmp_u32);
                assert_memory_equal(c.v, want, nw * sizeof(*want));
            } else {
                assert_true(c.n >= nw);
                big++;
            }
            /* The bounded form stops at cap + 1 whatever the set. */
            if (nw > 0)
                assert_int_equal(tw_acm_match_values(a, name, len, got, nw - 1), nw);
            checked++;
            hits += nw;
        }
        tw_acm_free(a);
    }
    printf("acm: differential: %zu names, %zu values found, %zu sets past the dedup bound\n",
           checked, hits, big);
    free(p);
    free(want);
    free(got);
}

/* ------------------------------------------------------------------------------------------ */
/* 50,000 hostname-like patterns: build time, memory, time per name; a sample checked. */

static const char *const words[] = {"tunnel", "relay", "proxy", "edge",  "gate",
                                    "bridge", "pipe",  "hop",   "route", "link"};

static size_t make_pattern(size_t i, char *buf, size_t size, unsigned *flags)
{
    int n;

    *flags = 0;
    switch (i % 4) {
    case 0:
        n = snprintf(buf, size, "%s-%05zu", words[i % 10], i);
        break;
    case 1:
        n = snprintf(buf, size, ".c%05zu.%s.", i, words[(i / 10) % 10]);
        break;
    case 2:
        n = snprintf(buf, size, "%s%05zu-", words[(i / 3) % 10], i);
        *flags = TW_ACM_ANCHOR_START;
        break;
    default:
        n = snprintf(buf, size, "svc%05zux", i);
        break;
    }
    return (size_t)n;
}

static void build_n(size_t n, struct tw_acm **out, double *ms)
{
    struct tw_acm *a = tw_acm_new();
    double t0 = now_ns();

    assert_non_null(a);
    for (size_t i = 0; i < n; i++) {
        char buf[48];
        unsigned flags;
        size_t len = make_pattern(i, buf, sizeof(buf), &flags);

        assert_int_equal(tw_acm_add(a, buf, len, (uint32_t)i, flags), 0);
    }
    assert_int_equal(tw_acm_compile(a), 0);
    *ms = (now_ns() - t0) / 1e6;
    *out = a;
}

static double time_names(const struct tw_acm *a, char names[][64], size_t n_names, size_t *hits)
{
    enum { ROUNDS = 200000 };
    uint32_t out[16];
    double t0 = now_ns();

    *hits = 0;
    for (size_t i = 0; i < ROUNDS; i++) {
        const char *nm = names[i % n_names];

        *hits += tw_acm_match_values(a, nm, strlen(nm), out, 16);
    }
    return (now_ns() - t0) / ROUNDS;
}

static void test_50k(void **state)
{
    enum { N = 50000, NAMES = 8 };
    struct tw_acm *big, *small;
    double ms_big, ms_small, ns_big, ns_small;
    size_t hits_big, hits_small;
    char names[NAMES][64];
    uint32_t out[16];

    (void)state;
    build_n(N, &big, &ms_big);
    build_n(100, &small, &ms_small);

    /* Half the names hold a pattern (of each kind), half hold none. */
    {
        static const size_t idx[4] = {48, 41, 22, 99}; /* one of each i % 4 */
        static const char *const miss[4] = {"www.example.com", "static.cdn-example.org",
                                            "login.site1234.example-cdn.com",
                                            "mail.site77.shop-example.com"};

        for (size_t k = 0; k < 4; k++) {
            char pat[48];
            unsigned flags;

            make_pattern(idx[k], pat, sizeof(pat), &flags);
            snprintf(names[2 * k], 64, "%s%s.example.com", flags ? "" : "a.", pat);
            snprintf(names[2 * k + 1], 64, "%s", miss[k]);
            assert_int_equal(values_str(big, names[2 * k], out, 16), 1);
            assert_int_equal(out[0], idx[k]);
            assert_int_equal(values_str(big, names[2 * k + 1], out, 16), 0);
            if (flags) { /* not at offset 0: no match */
                snprintf(names[2 * k], 64, "x.%s.example.com", pat);
                assert_int_equal(values_str(big, names[2 * k], out, 16), 0);
                snprintf(names[2 * k], 64, "%s.example.com", pat);
            }
        }
    }
    for (size_t i = 0; i < N; i += 613) {
        char pat[48], name[96];
        unsigned flags;

        make_pattern(i, pat, sizeof(pat), &flags);
        snprintf(name, sizeof(name), "%s%s.example.com", flags ? "" : "q-", pat);
        if (values_str(big, name, out, 16) != 1 || out[0] != i)
            fail_msg("pattern %zu '%s' not found alone in '%s'", i, pat, name);
    }

    ns_big = time_names(big, names, NAMES, &hits_big);
    ns_small = time_names(small, names, NAMES, &hits_small);
    assert_true(hits_big > 0);
    assert_true(tw_acm_memory(big) < 64u * 1024 * 1024);
    printf("acm: %d patterns: built in %.1f ms, %zu states, %.2f MiB (%.0f B/pattern), "
           "%.1f ns/name; 100 patterns: %.1f ns/name\n",
           N, ms_big, tw_acm_states(big), tw_acm_memory(big) / 1048576.0,
           (double)tw_acm_memory(big) / N, ns_big, ns_small);
    tw_acm_free(big);
    tw_acm_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_pattern),
        cmocka_unit_test(test_many_patterns),
        cmocka_unit_test(test_order_and_bounds),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_glob_literal),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_50k),
    };
    return tw_run_tests(tests, NULL, NULL);
}
