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

#include "tunwatch/match/trie.h"

static size_t match_str(const struct tw_trie *t, const char *name, uint32_t *out, size_t cap)
{
    size_t len = strlen(name);
    char *h = exact_copy(name, len);
    size_t n = tw_trie_match(t, h, len, out, cap);

    free(h);
    return n;
}

/* One key against one name. */
static const struct {
    int line;
    const char *key;
    bool suffix;
    const char *name;
    bool match;
} one_cases[] = {
    {__LINE__, ".localto.net", true, "localto.net", false},
    {__LINE__, ".localto.net", true, "a.localto.net", true},
    {__LINE__, ".localto.net", true, "A.LocalTo.Net", true},
    {__LINE__, ".localto.net", true, "xlocalto.net", false},
    {__LINE__, ".localto.net", true, "net", false},
    {__LINE__, ".localto.net", true, "a.localto.net.evil.com", false},
    {__LINE__, ".LOCALTO.NET", true, "a.localto.net", true},
    {__LINE__, "trycloudflare.com", true, "xtrycloudflare.com", true},
    {__LINE__, "trycloudflare.com", true, "trycloudflare.com", true},
    {__LINE__, "trycloudflare.com", true, "trycloudflare.co", false},
    {__LINE__, "ngrok.io", false, "ngrok.io", true},
    {__LINE__, "ngrok.io", false, "NGROK.IO", true},
    {__LINE__, "ngrok.io", false, "a.ngrok.io", false},
    {__LINE__, "ngrok.io", false, "grok.io", false},
    {__LINE__, "ngrok.io", false, "ngrok.i", false},
    {__LINE__, "", true, "anything.example", true},
    {__LINE__, "", true, "", true},
    {__LINE__, "", false, "", true},
    {__LINE__, "", false, "a", false},
    {__LINE__, "a", false, "", false},
    {__LINE__, ".a", true, "", false},
};

static void test_one_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(one_cases) / sizeof(one_cases[0]); i++) {
        struct tw_trie_key k = {one_cases[i].key, strlen(one_cases[i].key), one_cases[i].suffix,
                                42};
        struct tw_trie *t = tw_trie_build(&k, 1);
        uint32_t out[4] = {0};
        size_t n;

        assert_non_null(t);
        n = match_str(t, one_cases[i].name, out, 4);
        if (n != (one_cases[i].match ? 1u : 0u) || (n == 1 && out[0] != 42))
            fail_msg("line %d: key '%s' (%s) vs '%s': %zu matches", one_cases[i].line,
                     one_cases[i].key, one_cases[i].suffix ? "suffix" : "exact",
                     one_cases[i].name, n);
        tw_trie_free(t);
    }
}

/* Several keys in one trie: overlapping suffixes, exact and suffix at the same node. */
static void test_overlap(void **state)
{
    static const struct tw_trie_key keys[] = {
        {".ngrok.io", 9, true, 1},     {"ngrok.io", 8, true, 2},       {"ngrok.io", 8, false, 3},
        {"example.com", 11, false, 4}, {"example.com", 11, true, 5},   {"example.com", 11, true, 5},
        {"io", 2, true, 6},
    };
    static const struct {
        int line;
        const char *name;
        size_t n;
        uint32_t want[4]; /* in reporting order: shortest suffix first, exact last */
    } cases[] = {
        {__LINE__, "ngrok.io", 3, {6, 2, 3}},
        {__LINE__, "x.ngrok.io", 3, {6, 2, 1}},
        {__LINE__, "xngrok.io", 2, {6, 2}},
        {__LINE__, "example.com", 2, {5, 4}},
        {__LINE__, "a.example.com", 1, {5}},
        {__LINE__, "xample.com", 0, {0}},
        {__LINE__, "", 0, {0}},
    };
    struct tw_trie *t = tw_trie_build(keys, sizeof(keys) / sizeof(keys[0]));

    (void)state;
    assert_non_null(t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t out[8] = {0};
        size_t n = match_str(t, cases[i].name, out, 8);

        if (n != cases[i].n)
            fail_msg("line %d: '%s': %zu matches, want %zu", cases[i].line, cases[i].name, n,
                     cases[i].n);
        for (size_t j = 0; j < n; j++)
            if (out[j] != cases[i].want[j])
                fail_msg("line %d: '%s': match %zu is %u, want %u", cases[i].line,
                         cases[i].name, j, out[j], cases[i].want[j]);
    }
    /* More matches than room: the count is still exact, only cap are written. */
    {
        uint32_t out[2] = {0, 0};
        size_t n = match_str(t, "ngrok.io", out, 1);

        assert_int_equal(n, 3);
        assert_int_equal(out[0], 6);
        assert_int_equal(out[1], 0);
    }
    tw_trie_free(t);
}

static void test_empty_trie(void **state)
{
    struct tw_trie *t = tw_trie_build(NULL, 0);
    uint32_t out[1];

    (void)state;
    assert_non_null(t);
    assert_int_equal(match_str(t, "a.localto.net", out, 1), 0);
    assert_int_equal(match_str(t, "", out, 1), 0);
    tw_trie_free(t);
}

/* Names at the DNS limit (255 octets on the wire, 253 in presentation form) and past it. */
static void test_long_names(void **state)
{
    char name[300];
    struct tw_trie_key keys[3];
    struct tw_trie *t;
    uint32_t out[4];

    (void)state;
    memset(name, 'a', 255);
    name[255] = '\0';
    for (size_t i = 63; i < 255; i += 64)
        name[i] = '.';
    keys[0] = (struct tw_trie_key){name, 255, false, 1};      /* whole name, exact */
    keys[1] = (struct tw_trie_key){name + 64, 191, true, 2};  /* a suffix of it */
    keys[2] = (struct tw_trie_key){"b", 1, false, 3};
    t = tw_trie_build(keys, 3);
    assert_non_null(t);
    assert_int_equal(match_str(t, name, out, 4), 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 1);
    assert_int_equal(match_str(t, name + 1, out, 4), 1); /* 254 chars: suffix only */
    assert_int_equal(out[0], 2);
    assert_int_equal(match_str(t, name + 65, out, 4), 0); /* shorter than the suffix key */
    tw_trie_free(t);

    /* A key longer than the name never matches. */
    memset(name, 'a', 299);
    name[299] = '\0';
    keys[0] = (struct tw_trie_key){name, 299, true, 9};
    t = tw_trie_build(keys, 1);
    assert_non_null(t);
    assert_int_equal(match_str(t, name + 44, out, 4), 0);
    assert_int_equal(match_str(t, name, out, 4), 1);
    tw_trie_free(t);
}

static struct tw_trie *build_generated(size_t n, char **storage)
{
    struct tw_trie_key *keys = calloc(n, sizeof(*keys));
    char *buf = malloc(n * 32);
    struct tw_trie *t;

    assert_non_null(keys);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        char *s = buf + i * 32;
        int len = snprintf(s, 32, ".x%06zu.example-tunnel.net", i);

        keys[i] = (struct tw_trie_key){s, (size_t)len, true, (uint32_t)i};
    }
    t = tw_trie_build(keys, n);
    free(keys);
    *storage = buf;
    return t;
}

static double bench(const struct tw_trie *t, size_t n_keys)
{
    enum { ROUNDS = 200000 };
    char names[4][64];
    uint32_t out[8];
    size_t hits = 0;
    double t0, t1;

    snprintf(names[0], sizeof(names[0]), "host.x%06zu.example-tunnel.net", n_keys / 2);
    snprintf(names[1], sizeof(names[1]), "www.example.com");
    snprintf(names[2], sizeof(names[2]), "host.x%06zux.example-tunnel.net", n_keys / 3);
    snprintf(names[3], sizeof(names[3]), "a.b.x%06zu.example-tunnel.net", n_keys - 1);
    t0 = now_ns();
    for (size_t i = 0; i < ROUNDS; i++) {
        const char *nm = names[i & 3];
        hits += tw_trie_match(t, nm, strlen(nm), out, 8);
    }
    t1 = now_ns();
    assert_int_equal(hits, ROUNDS / 2);
    return (t1 - t0) / ROUNDS;
}

/* A reference match: every key of keys[0..n) that holds on name, in the trie's reporting order
 * (suffix keys shortest first, by value among equal lengths, then exact keys by value),
 * duplicate (key, kind, value) triples once. */
static size_t model_match(const struct tw_trie_key *keys, size_t n, const char *name,
                          uint32_t *out)
{
    size_t len = strlen(name), cnt = 0;

    for (int pass = 0; pass < 2; pass++) {
        size_t first = cnt;
        for (size_t i = 0; i < n; i++) {
            const struct tw_trie_key *k = &keys[i];
            bool hit = pass == 0 ? k->suffix && k->len <= len : !k->suffix && k->len == len;
            for (size_t j = 0; hit && j < k->len; j++)
                hit = (k->s[k->len - 1 - j] | 0x20) == (name[len - 1 - j] | 0x20);
            if (!hit)
                continue;
            /* insert by (length, value) for suffixes, value for exact keys; drop duplicates */
            size_t at = first;
            while (at < cnt && (pass == 0 ? (keys[out[at]].len < k->len ||
                                             (keys[out[at]].len == k->len &&
                                              keys[out[at]].value < k->value))
                                          : keys[out[at]].value < k->value))
                at++;
            if (at < cnt && keys[out[at]].len == k->len && keys[out[at]].value == k->value)
                continue;
            memmove(out + at + 1, out + at, (cnt - at) * sizeof(*out));
            out[at] = (uint32_t)i;
            cnt++;
        }
    }
    for (size_t i = 0; i < cnt; i++)
        out[i] = keys[out[i]].value;
    return cnt;
}

/* Keys a model test builds at most. */
#define MODEL_KEYS 120

/* What the trie t of keys[0..n) reports for name is what the reference does, in order. */
static void check_model(const struct tw_trie *t, const struct tw_trie_key *keys, size_t n,
                        const char *name, int round)
{
    uint32_t got[MODEL_KEYS + 1], want[MODEL_KEYS + 1];
    size_t ng = match_str(t, name, got, MODEL_KEYS + 1);
    size_t nw = model_match(keys, n, name, want);

    if (ng != nw)
        fail_msg("round %d name '%s': %zu matches, want %zu", round, name, ng, nw);
    for (size_t j = 0; j < nw; j++)
        if (got[j] != want[j])
            fail_msg("round %d name '%s': match %zu is %u, want %u", round, name, j, got[j],
                     want[j]);
}

/* Random keys over a small alphabet (shared suffixes, duplicates, both kinds, mixed case, empty
 * keys) against random names: the trie reports exactly what the reference does, in order. */
static void test_model(void **state)
{
    static const char alpha[] = "ab.Ab";
    enum { ROUNDS = 300, MAXK = MODEL_KEYS, NAMES = 200 };
    char store[MAXK][8], name[12];
    struct tw_trie_key keys[MAXK];
    unsigned seed = 12345;

    (void)state;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = (size_t)(rand_r(&seed) % MAXK);
        for (size_t i = 0; i < n; i++) {
            size_t len = (size_t)(rand_r(&seed) % 7);
            if (i > 0 && rand_r(&seed) % 8 == 0) { /* a duplicate or near-duplicate */
                keys[i] = keys[rand_r(&seed) % i];
                if (rand_r(&seed) % 2)
                    keys[i].suffix = !keys[i].suffix;
                continue;
            }
            for (size_t j = 0; j < len; j++)
                store[i][j] = alpha[rand_r(&seed) % 5];
            keys[i] = (struct tw_trie_key){store[i], len, rand_r(&seed) % 2 == 0,
                                           (uint32_t)(rand_r(&seed) % 40)};
        }
        struct tw_trie *t = tw_trie_build(keys, n);
        assert_non_null(t);
        for (int q = 0; q < NAMES; q++) {
            size_t len = (size_t)(rand_r(&seed) % 10);
            for (size_t j = 0; j < len; j++)
                name[j] = alpha[rand_r(&seed) % 5];
            name[len] = '\0';
            check_model(t, keys, n, name, r);
        }
        tw_trie_free(t);
    }
}

/* The same against keys long enough for the paths to be compressed: keys made of a few
 * tokens (long shared runs without a branch), names made from them by cutting them inside a
 * run, changing one byte in it, or putting a prefix before them. */
static void test_model_edges(void **state)
{
    static const char *const tok[] = {"tunnel", ".", "a", "example", "-x", "Net"};
    enum { ROUNDS = 200, MAXK = 60, NAMES = 300, KEYLEN = 40 };
    char store[MAXK][KEYLEN], name[KEYLEN + 8];
    struct tw_trie_key keys[MAXK];
    unsigned seed = 777;

    (void)state;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = 1 + (size_t)(rand_r(&seed) % MAXK);
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            for (unsigned k = rand_r(&seed) % 6; k > 0; k--) {
                const char *t = tok[rand_r(&seed) % 6];
                size_t tl = strlen(t);
                if (len + tl >= KEYLEN)
                    break;
                memcpy(store[i] + len, t, tl);
                len += tl;
            }
            keys[i] = (struct tw_trie_key){store[i], len, rand_r(&seed) % 2 == 0,
                                           (uint32_t)(rand_r(&seed) % 40)};
        }
        struct tw_trie *t = tw_trie_build(keys, n);
        assert_non_null(t);
        for (int q = 0; q < NAMES; q++) {
            const struct tw_trie_key *k = &keys[rand_r(&seed) % n];
            size_t len = k->len, pre = 0;
            switch (rand_r(&seed) % 4) {
            case 0: /* a prefix: the key as a suffix of it */
                pre = (size_t)(rand_r(&seed) % 4);
                memcpy(name, "zz.y", pre);
                break;
            case 1: /* cut: the name ends inside an edge */
                len = len > 0 ? (size_t)(rand_r(&seed) % len) : 0;
                break;
            default:
                break;
            }
            memcpy(name + pre, k->s + (k->len - len), len);
            len += pre;
            if (len > 0 && rand_r(&seed) % 3 == 0) /* one byte off */
                name[rand_r(&seed) % len] ^= 0x01;
            name[len] = '\0';
            check_model(t, keys, n, name, r);
        }
        tw_trie_free(t);
    }
}

/* Keys that share nothing past their first byte are one node each, their other bytes an
 * edge; an edge is at most 65,535 bytes long (a longer run is cut into several). */
static void test_compressed(void **state)
{
    static const struct tw_trie_key keys[] = {
        {"first.example.com", 17, true, 0},
        {"second.example.net", 18, true, 1},
        {"third.example.org", 17, false, 2},
    };
    enum { LONG = 150000 };
    char *big = malloc(LONG + 3);
    uint32_t out[4];

    (void)state;
    struct tw_trie *t = tw_trie_build(keys, 3);
    assert_non_null(t);
    assert_int_equal(tw_trie_nodes(t), 4); /* the root and one node a key */
    assert_int_equal(match_str(t, "a.first.example.com", out, 4), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(match_str(t, "rst.example.com", out, 4), 0);   /* ends in an edge */
    assert_int_equal(match_str(t, "first.exbmple.com", out, 4), 0); /* differs in one */
    assert_int_equal(match_str(t, "third.example.org", out, 4), 1);
    assert_int_equal(match_str(t, "x.third.example.org", out, 4), 0); /* exact */
    tw_trie_free(t);

    assert_non_null(big);
    memset(big, 'q', LONG);
    struct tw_trie_key lk = {big, LONG, false, 7};
    t = tw_trie_build(&lk, 1);
    assert_non_null(t);
    assert_int_equal(tw_trie_nodes(t), 1 + (LONG - 1 + 65535) / 65536);
    big[LONG] = '\0';
    assert_int_equal(match_str(t, big, out, 4), 1);
    assert_int_equal(out[0], 7);
    big[LONG / 2] = 'r';
    assert_int_equal(match_str(t, big, out, 4), 0);
    tw_trie_free(t);
    free(big);
}

static void test_100k(void **state)
{
    enum { N = 100000 };
    char *store_big, *store_small;
    struct tw_trie *big = build_generated(N, &store_big);
    struct tw_trie *small = build_generated(10, &store_small);
    uint32_t out[4];
    char name[64];
    double ns_small, ns_big;

    (void)state;
    assert_non_null(big);
    assert_non_null(small);
    for (size_t i = 0; i < N; i += 997) {
        snprintf(name, sizeof(name), "a.x%06zu.example-tunnel.net", i);
        assert_int_equal(match_str(big, name, out, 4), 1);
        assert_int_equal(out[0], i);
        snprintf(name, sizeof(name), "x%06zu.example-tunnel.net", i); /* no leading dot */
        assert_int_equal(match_str(big, name, out, 4), 0);
        snprintf(name, sizeof(name), "a.y%06zu.example-tunnel.net", i);
        assert_int_equal(match_str(big, name, out, 4), 0);
    }
    assert_true(tw_trie_memory(big) < 64u * 1024 * 1024);

    ns_small = bench(small, 10);
    ns_big = bench(big, N);
    printf("trie: 10 keys: %.1f ns/match; %d keys: %.1f ns/match, %zu nodes, %.1f MB\n", ns_small,
           N, ns_big, tw_trie_nodes(big), tw_trie_memory(big) / 1048576.0);
    tw_trie_free(big);
    tw_trie_free(small);
    free(store_big);
    free(store_small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_key),    cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_empty_trie), cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_model),      cmocka_unit_test(test_model_edges),
        cmocka_unit_test(test_compressed), cmocka_unit_test(test_100k),
    };
    return tw_run_tests(tests, NULL, NULL);
}
