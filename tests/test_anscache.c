/* SPDX-License-Identifier: MIT */
/* DNS answer cache: TTL clamping, expiry, key scoping, replacement, eviction, bounds, threads. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/host/anscache.h"

static void v4(uint8_t a[16], uint32_t x)
{
    memset(a, 0, 16);
    for (int i = 0; i < 4; i++)
        a[i] = (uint8_t)(x >> (24 - 8 * i));
}

static void v6(uint8_t a[16], uint32_t x)
{
    memset(a, 0, 16);
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    for (int i = 0; i < 4; i++)
        a[12 + i] = (uint8_t)(x >> (24 - 8 * i));
}

static struct tw_anscache *mkcache(uint32_t capacity, uint32_t floor, uint32_t ceiling,
                                   unsigned shards)
{
    struct tw_anscache_config cfg = {capacity, floor, ceiling, shards};
    struct tw_anscache *c = tw_anscache_new(&cfg);

    assert_non_null(c);
    return c;
}

/* Looks up a v4 key; returns the name or "" on a miss (static buffer). */
static const char *get4(struct tw_anscache *c, uint32_t client, uint32_t resolved, int64_t now)
{
    static char name[TW_ANSCACHE_TEXT_MAX];
    uint8_t a[16], b[16];

    v4(a, client);
    v4(b, resolved);
    if (!tw_anscache_get(c, 4, a, b, now, name, sizeof(name), NULL, 0))
        return "";
    return name;
}

static int put4(struct tw_anscache *c, uint32_t client, uint32_t resolved, const char *qname,
                uint32_t ttl, int64_t now)
{
    uint8_t a[16], b[16];

    v4(a, client);
    v4(b, resolved);
    return tw_anscache_put(c, 4, a, b, qname, NULL, 0, ttl, now);
}

static void test_ttl_clamp_and_expiry(void **state)
{
    (void)state;
    static const struct {
        int line;
        uint32_t ttl;
        int64_t last_live; /* put at 1000; live through this time, gone one second later */
    } cases[] = {
        {__LINE__, 0, 1000 + 60},             /* below the floor */
        {__LINE__, 59, 1000 + 60},            /* below the floor */
        {__LINE__, 60, 1000 + 60},            /* at the floor */
        {__LINE__, 300, 1000 + 300},          /* inside */
        {__LINE__, 86400, 1000 + 86400},      /* at the ceiling */
        {__LINE__, 86401, 1000 + 86400},      /* above the ceiling */
        {__LINE__, UINT32_MAX, 1000 + 86400}, /* far above */
    };
    struct tw_anscache *c = mkcache(1024, 60, 86400, 4);
    struct tw_anscache_stats st;

    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        uint32_t resolved = 0x5db8d822 + (uint32_t)i;

        print_message("case line %d\n", cases[i].line);
        assert_int_equal(put4(c, 0x0a000001, resolved, "a.example.com", cases[i].ttl, 1000), 0);
        assert_string_equal(get4(c, 0x0a000001, resolved, 1000), "a.example.com");
        assert_string_equal(get4(c, 0x0a000001, resolved, cases[i].last_live), "a.example.com");
        assert_string_equal(get4(c, 0x0a000001, resolved, cases[i].last_live + 1), "");
        /* Reclaimed by the expired lookup: gone even for an earlier clock. */
        assert_string_equal(get4(c, 0x0a000001, resolved, 1000), "");
    }
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.puts, TW_ARRAY_SIZE(cases));
    assert_int_equal(st.hits, 2 * TW_ARRAY_SIZE(cases));
    assert_int_equal(st.misses, 2 * TW_ARRAY_SIZE(cases));
    assert_int_equal(st.expired, TW_ARRAY_SIZE(cases));
    assert_int_equal(st.entries, 0);
    tw_anscache_free(c);
}

static void test_default_config(void **state)
{
    (void)state;
    struct tw_anscache *c = tw_anscache_new(NULL);
    struct tw_anscache_config bad = {16, 100, 50, 1};
    struct tw_anscache_stats st;

    assert_non_null(c);
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.capacity, 262144);
    assert_int_equal(st.entries, 0);
    /* Default floor 60 and ceiling 86400. */
    assert_int_equal(put4(c, 1, 2, "x.example", 1, 0), 0);
    assert_string_equal(get4(c, 1, 2, 60), "x.example");
    assert_string_equal(get4(c, 1, 2, 61), "");
    assert_int_equal(put4(c, 1, 3, "y.example", 1000000, 0), 0);
    assert_string_equal(get4(c, 1, 3, 86400), "y.example");
    assert_string_equal(get4(c, 1, 3, 86401), "");
    tw_anscache_free(c);
    assert_null(tw_anscache_new(&bad));
}

static void test_client_scoping(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(256, 60, 86400, 8);

    assert_int_equal(put4(c, 0x0a000001, 0x01020304, "a.example", 300, 0), 0);
    assert_string_equal(get4(c, 0x0a000001, 0x01020304, 1), "a.example");
    /* Client B resolved nothing: it must not see client A's name. */
    assert_string_equal(get4(c, 0x0a000002, 0x01020304, 1), "");
    /* Client B resolves another name to the same address: each keeps its own. */
    assert_int_equal(put4(c, 0x0a000002, 0x01020304, "b.example", 300, 0), 0);
    assert_string_equal(get4(c, 0x0a000001, 0x01020304, 1), "a.example");
    assert_string_equal(get4(c, 0x0a000002, 0x01020304, 1), "b.example");
    /* Another address of client A: not known. */
    assert_string_equal(get4(c, 0x0a000001, 0x01020305, 1), "");
    tw_anscache_free(c);
}

static void test_v4_v6_keys(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(256, 60, 86400, 8);
    uint8_t a4[16], b4[16], a6[16], b6[16], noisy[16], mixed_client[16];
    char name[TW_ANSCACHE_TEXT_MAX];

    v4(a4, 0xc0a80001);
    v4(b4, 0x68102a01);
    v6(a6, 1);
    v6(b6, 2);
    assert_int_equal(tw_anscache_put(c, 4, a4, b4, "v4.example", NULL, 0, 300, 0), 0);
    assert_int_equal(tw_anscache_put(c, 6, a6, b6, "v6.example", NULL, 0, 300, 0), 0);

    assert_true(tw_anscache_get(c, 4, a4, b4, 1, name, sizeof(name), NULL, 0));
    assert_string_equal(name, "v4.example");
    assert_true(tw_anscache_get(c, 6, a6, b6, 1, name, sizeof(name), NULL, 0));
    assert_string_equal(name, "v6.example");

    /* Version 4 reads only 4 bytes: whatever follows does not matter. */
    memcpy(noisy, b4, 16);
    memset(noisy + 4, 0xaa, 12);
    assert_true(tw_anscache_get(c, 4, a4, noisy, 1, name, sizeof(name), NULL, 0));
    assert_string_equal(name, "v4.example");
    /* The same 16 bytes under the other version are another key. */
    assert_false(tw_anscache_get(c, 6, a4, b4, 1, name, sizeof(name), NULL, 0));
    assert_false(tw_anscache_get(c, 4, a6, b6, 1, name, sizeof(name), NULL, 0));
    /* A v6 address differing in its last byte only. */
    memcpy(mixed_client, a6, 16);
    mixed_client[15] ^= 1;
    assert_false(tw_anscache_get(c, 6, mixed_client, b6, 1, name, sizeof(name), NULL, 0));
    /* Unknown version. */
    assert_int_equal(tw_anscache_put(c, 5, a4, b4, "x.example", NULL, 0, 300, 0), TW_EINVAL);
    assert_false(tw_anscache_get(c, 5, a4, b4, 1, name, sizeof(name), NULL, 0));
    tw_anscache_free(c);
}

/* A fresh answer for a name the key holds replaces it (name, chain, expiry); another name is
 * kept beside it, and a lookup without a wanted name gets the newest. */
static void test_replacement(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(64, 60, 86400, 1);
    struct tw_anscache_stats st;
    uint8_t a[16], b[16];
    char name[TW_ANSCACHE_TEXT_MAX], chain[TW_ANSCACHE_TEXT_MAX];
    const char *chain1[] = {"one.cdn.example", "edge1.cdn.example"};
    const char *chain2[] = {"two.cdn.example"};
    unsigned flags = 99;

    v4(a, 0x0a000001);
    v4(b, 0x01020304);
    assert_int_equal(tw_anscache_put(c, 4, a, b, "old.example", chain1, 2, 3600, 0), 0);
    assert_true(
        tw_anscache_lookup(c, 4, a, b, 10, name, sizeof(name), chain, sizeof(chain), &flags));
    assert_string_equal(name, "old.example");
    assert_string_equal(chain, "one.cdn.example edge1.cdn.example");
    assert_int_equal(flags, 0);

    /* The same name again (another case, a trailing dot): replaced, chain and shorter TTL. */
    assert_int_equal(tw_anscache_put(c, 4, a, b, "OLD.example.", chain2, 1, 60, 100), 0);
    assert_true(tw_anscache_get(c, 4, a, b, 160, name, sizeof(name), chain, sizeof(chain)));
    assert_string_equal(name, "OLD.example.");
    assert_string_equal(chain, "two.cdn.example");
    assert_false(tw_anscache_get(c, 4, a, b, 161, name, sizeof(name), chain, sizeof(chain)));

    /* Two names for one address: the newest is the default, each is found by name. */
    assert_int_equal(tw_anscache_put(c, 4, a, b, "first.example", chain1, 2, 600, 200), 0);
    assert_int_equal(tw_anscache_put(c, 4, a, b, "bare.example", NULL, 0, 60, 201), 0);
    assert_true(
        tw_anscache_lookup(c, 4, a, b, 210, name, sizeof(name), chain, sizeof(chain), &flags));
    assert_string_equal(name, "bare.example");
    assert_string_equal(chain, "");
    assert_int_equal(flags, TW_ANSF_MORE_NAMES);
    assert_true(tw_anscache_lookup_name(c, 4, a, b, 210, "First.Example", 13, name, sizeof(name),
                                        chain, sizeof(chain), &flags));
    assert_string_equal(name, "first.example");
    assert_string_equal(chain, "one.cdn.example edge1.cdn.example");
    assert_int_equal(flags, TW_ANSF_WANTED | TW_ANSF_MORE_NAMES);
    /* By a CNAME target of its chain. */
    assert_true(tw_anscache_lookup_name(c, 4, a, b, 210, "edge1.cdn.example", 17, name,
                                        sizeof(name), NULL, 0, &flags));
    assert_string_equal(name, "first.example");
    assert_int_equal(flags, TW_ANSF_WANTED | TW_ANSF_MORE_NAMES);
    /* A name never resolved: the newest, not flagged. */
    assert_true(tw_anscache_lookup_name(c, 4, a, b, 210, "other.example", 13, name, sizeof(name),
                                        NULL, 0, &flags));
    assert_string_equal(name, "bare.example");
    assert_int_equal(flags, TW_ANSF_MORE_NAMES);
    /* "bare" expires first: then "first" is all there is. */
    assert_true(tw_anscache_lookup(c, 4, a, b, 262, name, sizeof(name), NULL, 0, &flags));
    assert_string_equal(name, "first.example");
    assert_int_equal(flags, 0);

    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.puts, 4);
    assert_int_equal(st.replaced, 1);
    assert_int_equal(st.expired, 2); /* "OLD" at 161, "bare" at 262 */
    assert_int_equal(st.entries, 1);
    tw_anscache_free(c);
}

/* Replacing a live entry keeps one entry and refreshes it in the eviction order. */
static void test_replacement_refreshes_order(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(4, 60, 86400, 1);
    struct tw_anscache_stats st;

    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(put4(c, 1, 100 + i, "n.example", 300, i), 0);
    /* Key 100 would be dropped first; a fresh answer for its name moves it to the back. */
    assert_int_equal(put4(c, 1, 100, "n.example", 300, 10), 0);
    assert_int_equal(put4(c, 1, 200, "newer.example", 300, 11), 0);
    assert_string_equal(get4(c, 1, 100, 12), "n.example");
    assert_string_equal(get4(c, 1, 101, 12), ""); /* the one put longest ago went */
    assert_string_equal(get4(c, 1, 200, 12), "newer.example");
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.replaced, 1);
    tw_anscache_free(c);
}

/*
 * The bound on names per (client, address): TW_ANSCACHE_NAMES_MAX are kept, a further name
 * drops the one put longest ago for that key (counted), and the other keys are not touched.
 * Regression for connections named after whichever name was resolved last to a shared address.
 */
static void test_names_per_address(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(1024, 60, 86400, 4);
    struct tw_anscache_stats st;
    uint8_t a[16], b[16];
    char name[TW_ANSCACHE_TEXT_MAX], want[64];
    unsigned flags;
    const unsigned extra = 5;

    v4(a, 0x0a140002);
    v4(b, 0x0a140001);
    assert_int_equal(put4(c, 0x0a140003, 0x0a140001, "other-client.example", 300, 0), 0);
    for (unsigned i = 0; i < TW_ANSCACHE_NAMES_MAX + extra; i++) {
        snprintf(want, sizeof(want), "n%u.shared.example", i);
        assert_int_equal(put4(c, 0x0a140002, 0x0a140001, want, 300, i), 0);
    }
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.entries, TW_ANSCACHE_NAMES_MAX + 1);
    assert_int_equal(st.names_dropped, extra);
    assert_int_equal(st.evicted, 0);
    for (unsigned i = 0; i < TW_ANSCACHE_NAMES_MAX + extra; i++) {
        snprintf(want, sizeof(want), "n%u.shared.example", i);
        assert_true(tw_anscache_lookup_name(c, 4, a, b, 100, want, strlen(want), name,
                                            sizeof(name), NULL, 0, &flags));
        if (i < extra) { /* dropped: the newest answers instead, unflagged */
            snprintf(want, sizeof(want), "n%u.shared.example", TW_ANSCACHE_NAMES_MAX + extra - 1);
            assert_string_equal(name, want);
            assert_int_equal(flags & TW_ANSF_WANTED, 0);
        } else {
            assert_string_equal(name, want);
            assert_int_equal(flags, TW_ANSF_WANTED | TW_ANSF_MORE_NAMES);
        }
    }
    assert_string_equal(get4(c, 0x0a140003, 0x0a140001, 100), "other-client.example");
    tw_anscache_free(c);
}

static void check_pressure(unsigned shards, uint32_t newest_kept)
{
    struct tw_anscache *c = mkcache(64, 60, 86400, shards);
    struct tw_anscache_stats st;
    char qname[64];

    print_message("shards %u\n", shards);
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(qname, sizeof(qname), "h%u.example", i);
        assert_int_equal(put4(c, 0x0a000001, 0x50000000 + i, qname, 3600, 1000 + i), 0);
        tw_anscache_get_stats(c, &st);
        assert_true(st.entries <= 64);
    }
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.capacity, 64);
    assert_int_equal(st.puts, 1000);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.evicted, 1000 - st.entries);
    assert_true(st.evicted >= 1000 - 64);
    /* Every shard keeps its newest entries, so the last puts overall are all there. */
    for (uint32_t i = 1000 - newest_kept; i < 1000; i++) {
        snprintf(qname, sizeof(qname), "h%u.example", i);
        assert_string_equal(get4(c, 0x0a000001, 0x50000000 + i, 1000 + i), qname);
    }
    /* The very oldest are gone. */
    assert_string_equal(get4(c, 0x0a000001, 0x50000000, 1000), "");
    tw_anscache_free(c);
}

static void test_eviction_under_pressure(void **state)
{
    (void)state;
    check_pressure(1, 64);
    /* 16 per shard: the last 16 puts cannot have pushed each other out, wherever they hash. */
    check_pressure(4, 16);
    /* More shards than entries: one entry each, the last put always survives. */
    check_pressure(64, 1);
}

/* When full, the answer put longest ago goes: counted as expired if its TTL had run out, else
 * as evicted. An expired entry is never returned; the lookup that finds it takes it out. */
static void test_eviction_order(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(3, 0, 86400, 1);
    struct tw_anscache_stats st;

    assert_int_equal(put4(c, 1, 1, "long.example", 1000, 0), 0);
    assert_int_equal(put4(c, 1, 2, "short.example", 10, 1), 0);
    assert_int_equal(put4(c, 1, 3, "mid.example", 500, 2), 0);
    assert_int_equal(put4(c, 1, 4, "new.example", 500, 3), 0); /* full: "long" goes */
    assert_string_equal(get4(c, 1, 1, 4), "");
    assert_string_equal(get4(c, 1, 2, 4), "short.example");
    assert_string_equal(get4(c, 1, 3, 4), "mid.example");
    assert_string_equal(get4(c, 1, 4, 4), "new.example");
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.expired, 0);
    /* At 600 the oldest, "short", had expired: dropped as expired, not evicted. */
    assert_int_equal(put4(c, 1, 5, "later.example", 500, 600), 0);
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 3);
    /* "mid" expired at 502: not returned, and taken out by that lookup. */
    assert_string_equal(get4(c, 1, 3, 600), "");
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.entries, 2);
    assert_string_equal(get4(c, 1, 5, 600), "later.example");
    tw_anscache_free(c);

    /* Equal expiry times: the older put goes first. */
    c = mkcache(2, 60, 86400, 1);
    assert_int_equal(put4(c, 1, 1, "first.example", 300, 0), 0);
    assert_int_equal(put4(c, 1, 2, "second.example", 300, 0), 0);
    assert_int_equal(put4(c, 1, 3, "third.example", 300, 0), 0);
    assert_string_equal(get4(c, 1, 1, 0), "");
    assert_string_equal(get4(c, 1, 2, 0), "second.example");
    assert_string_equal(get4(c, 1, 3, 0), "third.example");
    tw_anscache_free(c);
}

static void test_refused_names(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(64, 60, 86400, 2);
    struct tw_anscache_stats st;
    uint8_t a[16], b[16];
    char *huge = malloc(TW_NAME_MAX + 1);
    char *big = malloc(TW_ANSCACHE_TEXT_MAX + 1);
    char name[TW_ANSCACHE_TEXT_MAX], chain[TW_ANSCACHE_TEXT_MAX];
    const char *chain_huge[1];
    const char *chain_null[] = {"ok.example", NULL};

    assert_non_null(huge);
    assert_non_null(big);
    v4(a, 0x0a000001);
    v4(b, 0x01020304);

    /* TW_NAME_MAX - 1 characters and more: refused, counted, nothing stored. */
    memset(huge, 'a', TW_NAME_MAX);
    huge[TW_NAME_MAX] = '\0';
    assert_int_equal(tw_anscache_put(c, 4, a, b, huge, NULL, 0, 300, 0), TW_ENOMEM);
    huge[TW_NAME_MAX - 1] = '\0'; /* TW_NAME_MAX - 1 long: within the name bound ... */
    /* ... but no name that long fits the text slot either. */
    assert_int_equal(tw_anscache_put(c, 4, a, b, huge, NULL, 0, 300, 0), TW_ENOMEM);
    /* A chain name over the bound refuses the whole answer. */
    huge[TW_NAME_MAX - 1] = 'a';
    chain_huge[0] = huge;
    assert_int_equal(tw_anscache_put(c, 4, a, b, "ok.example", chain_huge, 1, 300, 0), TW_ENOMEM);
    assert_false(tw_anscache_get(c, 4, a, b, 0, name, sizeof(name), NULL, 0));

    /* The slot's limit: TW_ANSCACHE_TEXT_MAX - 1 characters fit, one more does not. */
    memset(big, 'b', TW_ANSCACHE_TEXT_MAX);
    big[TW_ANSCACHE_TEXT_MAX] = '\0';
    assert_int_equal(tw_anscache_put(c, 4, a, b, big, NULL, 0, 300, 0), TW_ENOMEM);
    big[TW_ANSCACHE_TEXT_MAX - 1] = '\0';
    assert_int_equal(tw_anscache_put(c, 4, a, b, big, chain_null, 1, 300, 0), 0);
    assert_true(tw_anscache_get(c, 4, a, b, 0, name, sizeof(name), chain, sizeof(chain)));
    assert_string_equal(name, big);
    /* The name took the whole slot: the chain was left off. */
    assert_string_equal(chain, "");
    /* A name buffer too small is a miss, not a cut name. */
    assert_false(tw_anscache_get(c, 4, a, b, 0, name, TW_ANSCACHE_TEXT_MAX - 1, NULL, 0));

    /* Caller errors: not counted as refusals. */
    assert_int_equal(tw_anscache_put(c, 4, a, b, "", NULL, 0, 300, 0), TW_EINVAL);
    assert_int_equal(tw_anscache_put(c, 4, a, b, NULL, NULL, 0, 300, 0), TW_EINVAL);
    assert_int_equal(tw_anscache_put(c, 4, a, b, "x.example", chain_null, 2, 300, 0), TW_EINVAL);
    assert_int_equal(tw_anscache_put(c, 4, a, b, "x.example", NULL, 1, 300, 0), TW_EINVAL);

    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.refused, 4);
    assert_int_equal(st.puts, 1);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.entries, 1);
    free(huge);
    free(big);
    tw_anscache_free(c);
}

/* One answer's addresses stored together: each as its own put, with its own TTL; a refused
 * text is refused (and counted) for every address. */
static void test_put_n(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(64, 1, 86400, 4);
    struct tw_anscache_stats st;
    uint8_t client[16], addr[3][16], other[16];
    const uint32_t ttl[3] = {300, 10, 300};
    const char *chain[] = {"edge.example.net"};
    char name[TW_ANSCACHE_TEXT_MAX], out[TW_ANSCACHE_TEXT_MAX];
    char *huge = malloc(TW_NAME_MAX + 1);

    assert_non_null(huge);
    v4(client, 0x0a000001);
    for (int i = 0; i < 3; i++)
        v4(addr[i], 0xc0000201u + (uint32_t)i);
    assert_int_equal(tw_anscache_put_n(c, 4, client, (const uint8_t(*)[16])addr, ttl, 3,
                                       "www.example.com", chain, 1, 100),
                     3);
    for (int i = 0; i < 3; i++) {
        assert_true(tw_anscache_get(c, 4, client, addr[i], 100, name, sizeof(name), out,
                                    sizeof(out)));
        assert_string_equal(name, "www.example.com");
        assert_string_equal(out, "edge.example.net");
    }
    /* Each its own TTL: the second ran out, the others did not. */
    assert_string_equal(get4(c, 0x0a000001, 0xc0000202u, 111), "");
    assert_string_equal(get4(c, 0x0a000001, 0xc0000201u, 111), "www.example.com");
    assert_string_equal(get4(c, 0x0a000001, 0xc0000203u, 111), "www.example.com");
    /* Nothing for another client. */
    v4(other, 0x0a000002);
    assert_false(tw_anscache_get(c, 4, other, addr[0], 100, name, sizeof(name), NULL, 0));

    /* A name too long for the text: refused for each address, nothing stored. */
    memset(huge, 'h', TW_NAME_MAX);
    huge[TW_NAME_MAX] = '\0';
    v4(addr[0], 0xc6336401u);
    v4(addr[1], 0xc6336402u);
    assert_int_equal(tw_anscache_put_n(c, 4, client, (const uint8_t(*)[16])addr, ttl, 2, huge,
                                       NULL, 0, 100),
                     0);
    /* No address, or a caller error: nothing stored, nothing counted. */
    assert_int_equal(tw_anscache_put_n(c, 4, client, (const uint8_t(*)[16])addr, ttl, 0,
                                       "x.example", NULL, 0, 100),
                     0);
    assert_int_equal(tw_anscache_put_n(c, 4, client, (const uint8_t(*)[16])addr, ttl, 2, "",
                                       NULL, 0, 100),
                     0);
    assert_int_equal(tw_anscache_put_n(c, 5, client, (const uint8_t(*)[16])addr, ttl, 2,
                                       "x.example", NULL, 0, 100),
                     0);
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.puts, 3);
    assert_int_equal(st.refused, 2);
    free(huge);
    tw_anscache_free(c);
}

static void test_chain_truncation(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(64, 60, 86400, 2);
    struct tw_anscache_stats st;
    uint8_t a[16], b[16];
    char label[101];
    char names[8][104];
    const char *chain[8];
    char name[TW_ANSCACHE_TEXT_MAX], out[TW_ANSCACHE_TEXT_MAX], small[64];
    unsigned flags;

    v6(a, 1);
    v6(b, 2);
    memset(label, 'c', 100);
    label[100] = '\0';
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "%d.%s", i, label); /* 102 characters */
        chain[i] = names[i];
    }
    /* "q.example" (9) + 2 x (1 + 102) = 215 fits the 256-byte slot, a third name would make
     * 318. */
    assert_int_equal(tw_anscache_put(c, 6, a, b, "q.example", chain, 8, 300, 0), 0);
    assert_true(tw_anscache_lookup(c, 6, a, b, 0, name, sizeof(name), out, sizeof(out), &flags));
    assert_string_equal(name, "q.example");
    assert_int_equal(flags, TW_ANSF_CHAIN_TRUNCATED);
    assert_int_equal(strlen(out), 2 * 102 + 1);
    assert_memory_equal(out, names[0], 102);
    assert_int_equal(out[102], ' ');
    assert_string_equal(out + 103, names[1]);

    /* Fitting is not truncation. */
    assert_int_equal(tw_anscache_put(c, 6, a, b, "q.example", chain, 2, 300, 0), 0);
    assert_true(tw_anscache_lookup(c, 6, a, b, 0, name, sizeof(name), out, sizeof(out), &flags));
    assert_int_equal(flags, 0);
    assert_int_equal(strlen(out), 2 * 102 + 1);

    /* A small chain buffer gets whole leading names only, and the flag. */
    {
        const char *short_chain[] = {"a.cdn.example", "bb.cdn.example", "ccc.cdn.example"};

        assert_int_equal(tw_anscache_put(c, 6, a, b, "q.example", short_chain, 3, 300, 0), 0);
        assert_true(tw_anscache_lookup(c, 6, a, b, 0, name, sizeof(name), small, 40, &flags));
        assert_string_equal(small, "a.cdn.example bb.cdn.example");
        assert_int_equal(flags, TW_ANSF_CHAIN_TRUNCATED);
        /* Exactly the joined length plus the NUL: whole. */
        assert_true(tw_anscache_lookup(c, 6, a, b, 0, name, sizeof(name), small,
                                       strlen("a.cdn.example bb.cdn.example ccc.cdn.example") + 1,
                                       &flags));
        assert_string_equal(small, "a.cdn.example bb.cdn.example ccc.cdn.example");
        assert_int_equal(flags, 0);
        /* Room for less than the first name: empty, flagged. */
        assert_true(tw_anscache_lookup(c, 6, a, b, 0, name, sizeof(name), small, 5, &flags));
        assert_string_equal(small, "");
        assert_int_equal(flags, TW_ANSF_CHAIN_TRUNCATED);
    }

    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.replaced, 2);
    tw_anscache_free(c);
}

/* --- threads --- */

#define STRESS_OPS 100000
#define STRESS_KEYS 6000    /* per writer; two writers overfill the 4096 entries */
#define STRESS_PREFILL 2048 /* per writer, before the threads start */

struct stress_arg {
    struct tw_anscache *c;
    pthread_barrier_t *start;
    atomic_uint_fast64_t *clock; /* writer puts so far: both writers together make one second
                                    per 2000, and readers read the same clock */
    unsigned id;
    uint64_t hits, misses, bad, put_errors;
};

static void stress_key(unsigned writer, uint32_t k, uint8_t client[16], uint8_t resolved[16],
                       uint8_t *version)
{
    /* Half the keys are v6. */
    *version = (k & 1) ? 6 : 4;
    if (*version == 4) {
        v4(client, 0x0a000000 + writer);
        v4(resolved, 0x40000000 + k);
    } else {
        v6(client, 0x100 + writer);
        v6(resolved, 0x40000000 + k);
    }
}

/* Deterministic xorshift so each thread's walk is reproducible. */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Name and chain (0 to 2 names) are derived from the key so readers can check what they get.
 * TTL 0..10 s, clamped to 1..10, against a clock of 100 s: entries expire during the run. */
static int stress_put(struct tw_anscache *c, unsigned writer, uint32_t k, int64_t now)
{
    char qname[64], c0[64], c1[64];
    const char *chain[2] = {c0, c1};
    uint8_t client[16], resolved[16], version;

    stress_key(writer, k, client, resolved, &version);
    snprintf(qname, sizeof(qname), "w%u-k%u.example", writer, k);
    snprintf(c0, sizeof(c0), "w%u-k%u.cdn.example", writer, k);
    snprintf(c1, sizeof(c1), "edge-w%u-k%u.cdn.example", writer, k);
    return tw_anscache_put(c, version, client, resolved, qname, chain, k % 3, k % 11, now);
}

static void *stress_writer(void *p)
{
    struct stress_arg *arg = p;
    uint32_t rnd = 0x9e3779b9u * (arg->id + 1);

    pthread_barrier_wait(arg->start);
    for (uint32_t i = 0; i < STRESS_OPS; i++) {
        uint32_t k = next_rand(&rnd) % STRESS_KEYS;
        int64_t now =
            (int64_t)(atomic_fetch_add_explicit(arg->clock, 1, memory_order_relaxed) / 2000);

        if (stress_put(arg->c, arg->id, k, now) != 0)
            arg->put_errors++;
    }
    return NULL;
}

static void *stress_reader(void *p)
{
    struct stress_arg *arg = p;
    uint32_t rnd = 0x85ebca6bu * (arg->id + 1);
    char name[TW_ANSCACHE_TEXT_MAX], chain[TW_ANSCACHE_TEXT_MAX];
    char want[TW_ANSCACHE_TEXT_MAX], want_chain[TW_ANSCACHE_TEXT_MAX];

    pthread_barrier_wait(arg->start);
    for (uint32_t i = 0; i < STRESS_OPS; i++) {
        uint32_t r = next_rand(&rnd);
        unsigned writer = r >> 31;
        uint32_t k = r % STRESS_KEYS;
        uint8_t client[16], resolved[16], version;
        int64_t now = (int64_t)(atomic_load_explicit(arg->clock, memory_order_relaxed) / 2000);

        stress_key(writer, k, client, resolved, &version);
        if (!tw_anscache_get(arg->c, version, client, resolved, now, name, sizeof(name), chain,
                             sizeof(chain))) {
            arg->misses++;
            continue;
        }
        arg->hits++;
        snprintf(want, sizeof(want), "w%u-k%u.example", writer, k);
        if (k % 3 == 0)
            want_chain[0] = '\0';
        else if (k % 3 == 1)
            snprintf(want_chain, sizeof(want_chain), "w%u-k%u.cdn.example", writer, k);
        else
            snprintf(want_chain, sizeof(want_chain), "w%u-k%u.cdn.example edge-w%u-k%u.cdn.example",
                     writer, k, writer, k);
        if (strcmp(name, want) != 0 || strcmp(chain, want_chain) != 0)
            arg->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(4096, 1, 10, 16);
    struct tw_anscache_stats st;
    pthread_barrier_t start;
    pthread_t th[4];
    struct stress_arg args[4];
    atomic_uint_fast64_t clock = 0;
    uint64_t hits = 0, misses = 0;
    char name[TW_ANSCACHE_TEXT_MAX], qname[64];

    /* Prefilled at time 0 so readers find entries however the threads get scheduled. */
    for (unsigned w = 0; w < 2; w++)
        for (uint32_t k = 0; k < STRESS_PREFILL; k++)
            assert_int_equal(stress_put(c, w, k, 0), 0);
    assert_int_equal(pthread_barrier_init(&start, NULL, 4), 0);
    for (unsigned i = 0; i < 4; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].c = c;
        args[i].start = &start;
        args[i].clock = &clock;
        args[i].id = i % 2;
        assert_int_equal(
            pthread_create(&th[i], NULL, i < 2 ? stress_writer : stress_reader, &args[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);

    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(args[i].bad, 0);
        assert_int_equal(args[i].put_errors, 0);
        hits += args[i].hits;
        misses += args[i].misses;
    }
    assert_int_equal(hits + misses, 2 * STRESS_OPS);
    assert_true(hits > 0);

    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.puts, 2 * STRESS_OPS + 2 * STRESS_PREFILL);
    assert_int_equal(st.hits, hits);
    assert_int_equal(st.misses, misses);
    assert_int_equal(st.refused, 0);
    assert_true(st.entries <= st.capacity);
    assert_true(st.evicted + st.expired > 0);
    /* Every new key became an entry that is still held or was dropped exactly once. */
    assert_int_equal(st.puts - st.replaced, st.entries + st.evicted + st.expired);

    /* The structure is intact: fresh keys are found right after being put ... */
    for (uint32_t i = 0; i < 8192; i++) {
        snprintf(qname, sizeof(qname), "after%u.example", i);
        assert_int_equal(put4(c, 0x0b000000 + i, 0x0c000000 + i, qname, 10, 1000), 0);
        assert_string_equal(get4(c, 0x0b000000 + i, 0x0c000000 + i, 1000), qname);
    }
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.entries, st.capacity); /* 8192 new keys fill every shard */
    assert_int_equal(st.puts - st.replaced, st.entries + st.evicted + st.expired);
    /* ... and after their TTL every one of them is gone. */
    for (uint32_t i = 0; i < 8192; i++)
        assert_false(tw_anscache_get(c, 4, (uint8_t[16]){11, 0, (uint8_t)(i >> 8), (uint8_t)i},
                                     (uint8_t[16]){12, 0, (uint8_t)(i >> 8), (uint8_t)i}, 1011,
                                     name, sizeof(name), NULL, 0));
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.puts - st.replaced, st.entries + st.evicted + st.expired);
    tw_anscache_free(c);
}

/*
 * The cache against a model of its contract, one shard, through thousands of random puts and
 * lookups over a small key pool, each key answered with a few names: the ring of puts (an
 * entry lives until MODEL_CAP later puts, a fresh answer for a name moves it to the newest
 * place, other names of the key stay), expiry (a key's expired entries go when it is looked
 * up or put), the newest live name by default and the wanted one when it is held. Every
 * removal shifts index slots; after each step every key of the pool must give exactly what
 * the model holds. Pins the open-addressing deletion with runs of equal hashes, and the ring.
 */
#define MODEL_KEYS 48
#define MODEL_NAMES 3
#define MODEL_CAP 24

struct model_ent {
    int key, name; /* key -1: a hole */
    int64_t expires;
    int seq;
};

struct model {
    struct model_ent ring[MODEL_CAP];
    int head, seq;
    unsigned n;
};

static void model_drop(struct model *m, int pos)
{
    m->ring[pos].key = -1;
    m->n--;
}

/* A key's expired entries go. */
static void model_expire(struct model *m, int k, int64_t now)
{
    for (int p = 0; p < MODEL_CAP; p++)
        if (m->ring[p].key == k && m->ring[p].expires < now)
            model_drop(m, p);
}

static void model_put(struct model *m, int k, int name, uint32_t ttl, int64_t now)
{
    model_expire(m, k, now);
    for (int p = 0; p < MODEL_CAP; p++)
        if (m->ring[p].key == k && m->ring[p].name == name)
            model_drop(m, p);
    if (m->ring[m->head].key >= 0)
        model_drop(m, m->head);
    m->ring[m->head] = (struct model_ent){k, name, now + ttl, ++m->seq};
    m->head = (m->head + 1) % MODEL_CAP;
    m->n++;
}

/* The name a lookup of key k (wanting name `want`, -1 for none) gives, or -1. */
static int model_get(struct model *m, int k, int want, int64_t now)
{
    int best = -1;

    model_expire(m, k, now);
    for (int p = 0; p < MODEL_CAP; p++) {
        if (m->ring[p].key != k)
            continue;
        if (m->ring[p].name == want)
            return want;
        if (best < 0 || m->ring[p].seq > m->ring[best].seq)
            best = p;
    }
    return best < 0 ? -1 : m->ring[best].name;
}

static void test_against_model(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(MODEL_CAP, 1, 40, 1);
    struct model m = {0};
    for (int i = 0; i < MODEL_CAP; i++)
        m.ring[i].key = -1;
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    int64_t now = 1000;
    char qname[32], got[TW_ANSCACHE_TEXT_MAX];
    uint8_t client[16], resolved[16];
    unsigned flags;

    v4(client, 0x0a000001);
    for (int step = 0; step < 20000; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int k = (int)(rng % MODEL_KEYS);
        int nm = (int)((rng >> 8) % MODEL_NAMES);
        if (rng >> 60 == 0)
            now += (int64_t)((rng >> 32) % 8);
        if ((rng >> 40) % 4 != 0) {
            uint32_t ttl = 1 + (uint32_t)((rng >> 20) % 40);
            snprintf(qname, sizeof(qname), "k%d.n%d.example", k, nm);
            assert_int_equal(put4(c, 0x0a000001, 0xcb000000u + (uint32_t)k, qname, ttl, now), 0);
            model_put(&m, k, nm, ttl, now);
        } else {
            /* A lookup wanting one name of the key. */
            int want = model_get(&m, k, nm, now);
            snprintf(qname, sizeof(qname), "k%d.n%d.example", k, nm);
            v4(resolved, 0xcb000000u + (uint32_t)k);
            bool hit = tw_anscache_lookup_name(c, 4, client, resolved, now, qname, strlen(qname),
                                               got, sizeof(got), NULL, 0, &flags);
            if (hit != (want >= 0))
                fail_msg("step %d key %d: model %d, cache %s", step, k, want, hit ? got : "-");
            if (hit) {
                snprintf(qname, sizeof(qname), "k%d.n%d.example", k, want);
                assert_string_equal(got, qname);
                assert_int_equal((flags & TW_ANSF_WANTED) != 0, want == nm);
            }
        }
        for (int i = 0; i < MODEL_KEYS; i++) {
            int want = model_get(&m, i, -1, now);
            const char *g = get4(c, 0x0a000001, 0xcb000000u + (uint32_t)i, now);
            if (want < 0) {
                if (g[0] != '\0')
                    fail_msg("step %d key %d: model absent, cache %s", step, i, g);
                continue;
            }
            snprintf(qname, sizeof(qname), "k%d.n%d.example", i, want);
            if (strcmp(g, qname) != 0)
                fail_msg("step %d key %d: model %s, cache %s", step, i, qname, g[0] ? g : "-");
        }
        struct tw_anscache_stats st;
        tw_anscache_get_stats(c, &st);
        assert_int_equal(st.entries, m.n);
        assert_int_equal(st.puts - st.replaced,
                         st.entries + st.evicted + st.expired + st.names_dropped);
    }
    tw_anscache_free(c);
}

/*
 * Names of every length from 1 to 250 bytes through a small shard: the text arena (64 bytes an
 * entry) fills before the ring, wraps, and drops the oldest answers to make room. Every name
 * returned must be exactly the one put for that key, and every put accounted for.
 */
static void test_text_arena(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(16, 60, 86400, 1);
    struct tw_anscache_stats st;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char want[64][256], qname[256];
    int64_t now = 100;

    memset(want, 0, sizeof(want));
    for (int step = 0; step < 5000; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int k = (int)(rng % 64);
        size_t len = 1 + (size_t)((rng >> 16) % 250);
        for (size_t i = 0; i < len; i++)
            qname[i] = (char)('a' + (char)((step + (int)i) % 26));
        qname[len] = '\0';
        assert_int_equal(put4(c, 0x0a000001, 0xcb000000u + (uint32_t)k, qname, 300, now), 0);
        memcpy(want[k], qname, len + 1);
        assert_string_equal(get4(c, 0x0a000001, 0xcb000000u + (uint32_t)k, now), qname);
        for (int i = 0; i < 64; i++) {
            const char *got = get4(c, 0x0a000001, 0xcb000000u + (uint32_t)i, now);
            if (got[0] != '\0')
                assert_string_equal(got, want[i]);
        }
        tw_anscache_get_stats(c, &st);
        assert_true(st.entries <= 16);
        assert_int_equal(st.puts - st.replaced, st.entries + st.evicted + st.expired);
    }
    tw_anscache_get_stats(c, &st);
    assert_true(st.evicted > 0);
    tw_anscache_free(c);
}

/* --- stamps --- */

/* A put at frame seq of qname, CNAME chain `target` ("" for none). */
static size_t put4_chain_at(struct tw_anscache *c, uint64_t seq, uint32_t client,
                            uint32_t resolved, const char *qname, const char *target,
                            uint32_t ttl, int64_t now)
{
    uint8_t a[16], b[1][16];
    const char *chain[1] = {target};

    v4(a, client);
    v4(b[0], resolved);
    return tw_anscache_put_n_at(c, seq, 4, a, (const uint8_t(*)[16])b, &ttl, 1, qname, chain,
                                target[0] != '\0' ? 1 : 0, now);
}

static size_t put4_at(struct tw_anscache *c, uint64_t seq, uint32_t client, uint32_t resolved,
                      const char *qname, uint32_t ttl, int64_t now)
{
    return put4_chain_at(c, seq, client, resolved, qname, "", ttl, now);
}

/* A lookup at frame `before` for name `want` (NULL: any) into name and chain (NULL: not
 * asked for), both TW_ANSCACHE_TEXT_MAX bytes. */
static bool lookup4_at(struct tw_anscache *c, uint64_t before, uint32_t client, uint32_t resolved,
                       int64_t now, const char *want, char *name, char *chain)
{
    uint8_t a[16], b[16];

    v4(a, client);
    v4(b, resolved);
    return tw_anscache_lookup_name_at(c, before, 4, a, b, now, want,
                                      want != NULL ? strlen(want) : 0, name,
                                      TW_ANSCACHE_TEXT_MAX, chain,
                                      chain != NULL ? TW_ANSCACHE_TEXT_MAX : 0, NULL);
}

/* The newest name a lookup at frame `before` finds (want NULL), or "". */
static const char *get4_at(struct tw_anscache *c, uint64_t before, uint32_t client,
                           uint32_t resolved, int64_t now)
{
    static char name[TW_ANSCACHE_TEXT_MAX];

    return lookup4_at(c, before, client, resolved, now, NULL, name, NULL) ? name : "";
}

static void test_stamped_lookups(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(1024, 60, 86400, 4);
    struct tw_anscache *plain = mkcache(1024, 60, 86400, 4);
    struct tw_anscache_stats st;

    assert_int_equal(tw_anscache_stamp(c), 0);
    assert_int_equal(tw_anscache_stamp(c), 0); /* once is enough */
    assert_int_equal(put4_at(c, 10, 1, 0x0b000001, "a.example", 300, 1000), 1);
    /* Not there yet for a lookup at frame 10 or before; there from frame 11. */
    assert_string_equal(get4_at(c, 5, 1, 0x0b000001, 1000), "");
    assert_string_equal(get4_at(c, 10, 1, 0x0b000001, 1000), "");
    assert_string_equal(get4_at(c, 11, 1, 0x0b000001, 1000), "a.example");
    assert_string_equal(get4(c, 1, 0x0b000001, 1000), "a.example"); /* unbounded: all */
    /* A second name for the address at frame 20: the newest from frame 21 only. */
    assert_int_equal(put4_at(c, 20, 1, 0x0b000001, "b.example", 300, 1001), 1);
    assert_string_equal(get4_at(c, 15, 1, 0x0b000001, 1001), "a.example");
    assert_string_equal(get4_at(c, 21, 1, 0x0b000001, 1001), "b.example");
    /* a.example answered again at frame 30: for a lookup at 25 it is the answer of frame 10
     * (older than b's), for one at 31 the newest; before 10 still nothing. */
    assert_int_equal(put4_at(c, 30, 1, 0x0b000001, "a.example", 300, 1002), 1);
    assert_string_equal(get4_at(c, 25, 1, 0x0b000001, 1002), "b.example");
    assert_string_equal(get4_at(c, 31, 1, 0x0b000001, 1002), "a.example");
    assert_string_equal(get4_at(c, 10, 1, 0x0b000001, 1002), "");
    /* A stamped cache leaves expired entries in, for lookups and puts alike: another thread
     * may look up at an earlier frame and time, for which the answer is still live. */
    assert_int_equal(put4_at(c, 40, 2, 0x0b000002, "c.example", 60, 1000), 1);
    assert_string_equal(get4_at(c, 41, 2, 0x0b000002, 1061), "");
    assert_string_equal(get4_at(c, 41, 2, 0x0b000002, 1060), "c.example");
    assert_int_equal(put4_at(c, 50, 2, 0x0b000002, "d.example", 60, 1100), 1);
    assert_int_equal(put4_at(c, 60, 2, 0x0b000002, "c.example", 60, 1100), 1);
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.expired, 0);
    assert_string_equal(get4_at(c, 45, 2, 0x0b000002, 1030), "c.example");
    assert_string_equal(get4_at(c, 55, 2, 0x0b000002, 1100), "d.example");
    assert_string_equal(get4_at(c, 61, 2, 0x0b000002, 1100), "c.example");
    /* A name answered 20 times, each after the last expired: 8 expired answers are kept
     * (the key's probe run stays short), the 11 older ones go. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(put4_at(c, 100 + (uint64_t)i, 3, 0x0b000003, "r.example", 60,
                                 2000 + 100 * (int64_t)i),
                         1);
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.expired, 11);
    assert_string_equal(get4_at(c, 119, 3, 0x0b000003, 2000 + 100 * 18 + 30), "r.example");
    assert_string_equal(get4_at(c, 112, 3, 0x0b000003, 2000 + 100 * 11 + 30), "r.example");
    assert_string_equal(get4_at(c, 102, 3, 0x0b000003, 2000 + 100 * 1 + 30), "");
    /* Unstamped, bounds and stamps are ignored. */
    assert_int_equal(put4_at(plain, 10, 1, 0x0b000001, "a.example", 300, 1000), 1);
    assert_string_equal(get4_at(plain, 5, 1, 0x0b000001, 1000), "a.example");
    tw_anscache_free(c);
    tw_anscache_free(plain);
}

/* Put of qname (CNAME chain `target`, "" for none) for (client, resolved) at frame seq; the
 * chain a lookup of qname at frame `before` gets ("-" when none is found). */
static void put_chain_at(struct tw_anscache *c, uint64_t seq, const char *qname,
                         const char *target)
{
    assert_int_equal(put4_chain_at(c, seq, 7, 0x0b000007, qname, target, 300, 1000), 1);
}

static const char *chain_at(struct tw_anscache *c, uint64_t before, const char *want)
{
    static char name[TW_ANSCACHE_TEXT_MAX], chain[TW_ANSCACHE_TEXT_MAX];

    return lookup4_at(c, before, 7, 0x0b000007, 1000, want, name, chain) ? chain : "-";
}

/* A name answered again with another CNAME chain: stamped, a lookup between the two answers
 * gets the first one's chain and one after them the second's (as one thread reading the frames
 * in order would); the same answer again is a refresh, one entry. Unstamped, the second
 * answer replaces the first. */
static void test_stamped_chains(void **state)
{
    (void)state;
    struct tw_anscache *c = mkcache(1024, 60, 86400, 4);
    struct tw_anscache *plain = mkcache(1024, 60, 86400, 4);
    struct tw_anscache_stats st;

    assert_int_equal(tw_anscache_stamp(c), 0);
    put_chain_at(c, 10, "img.example", "");
    put_chain_at(c, 20, "img.example", "edge1.example");
    assert_string_equal(chain_at(c, 5, "img.example"), "-");
    assert_string_equal(chain_at(c, 15, "img.example"), "");
    assert_string_equal(chain_at(c, 25, "img.example"), "edge1.example");
    put_chain_at(c, 30, "img.example", "edge1.example"); /* a refresh of the second */
    tw_anscache_get_stats(c, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.replaced, 1);
    assert_string_equal(chain_at(c, 25, "img.example"), "edge1.example");
    assert_string_equal(chain_at(c, 15, "img.example"), "");
    put_chain_at(c, 40, "img.example", "");
    assert_string_equal(chain_at(c, 35, "img.example"), "edge1.example");
    assert_string_equal(chain_at(c, 45, "img.example"), "");

    put_chain_at(plain, 0, "img.example", "");
    put_chain_at(plain, 0, "img.example", "edge1.example");
    tw_anscache_get_stats(plain, &st);
    assert_int_equal(st.entries, 1);
    assert_string_equal(chain_at(plain, UINT64_MAX, "img.example"), "edge1.example");
    tw_anscache_free(c);
    tw_anscache_free(plain);
}

/*
 * Two threads as a replay's workers: one puts the answers of a stream of frames as fast as it
 * can, the other looks up at other frames, each lookup once the putter has read every frame
 * before it (the putter is usually far ahead). Every lookup must give what one thread doing
 * both in frame order gives: new names, refreshed names and several names per address, in a
 * cache that neither fills nor sees an answer expire.
 */
#define PAIR_FRAMES 60000
#define PAIR_KEYS 700

struct pair {
    struct tw_anscache *c;
    _Atomic uint64_t putter; /* frames the putter has read */
    uint8_t want[PAIR_FRAMES]; /* lookup frames: 1 miss, 2 + name index: hit */
    unsigned mismatches, lookups;
};

/* Frame i: a put (two in three), else a lookup; key and name from i. */
static bool pair_is_put(uint64_t i)
{
    return i % 3 != 2;
}

static void pair_frame(struct tw_anscache *c, uint64_t i, bool stamped, uint8_t *res)
{
    char qname[48], got[TW_ANSCACHE_TEXT_MAX];
    uint8_t a[16], b[16];
    uint32_t k = (uint32_t)((i * 2654435761u) % PAIR_KEYS);
    int64_t now = 1000 + (int64_t)(i / 100);

    if (pair_is_put(i)) {
        snprintf(qname, sizeof(qname), "f%u.pair.example", (unsigned)(i % 20));
        assert_int_equal(put4_at(c, stamped ? i : 0, 3, 0x0d000000 + k, qname, 3600, now), 1);
        return;
    }
    v4(a, 3);
    v4(b, 0x0d000000 + k);
    if (!tw_anscache_lookup_name_at(c, stamped ? i : UINT64_MAX, 4, a, b, now, NULL, 0, got,
                                    sizeof(got), NULL, 0, NULL)) {
        *res = 1;
        return;
    }
    unsigned n = 0;
    assert_int_equal(sscanf(got, "f%u.pair.example", &n), 1);
    *res = (uint8_t)(2 + n);
}

static void *pair_putter(void *arg)
{
    struct pair *p = arg;

    for (uint64_t i = 0; i < PAIR_FRAMES; i++) {
        if (pair_is_put(i))
            pair_frame(p->c, i, true, NULL);
        if (i % 64 == 63)
            atomic_store(&p->putter, i + 1);
    }
    atomic_store(&p->putter, UINT64_MAX);
    return NULL;
}

static void *pair_looker(void *arg)
{
    struct pair *p = arg;

    for (uint64_t i = 0; i < PAIR_FRAMES; i++) {
        if (pair_is_put(i))
            continue;
        while (atomic_load(&p->putter) < i)
            sched_yield();
        uint8_t got = 0;
        pair_frame(p->c, i, true, &got);
        p->lookups++;
        if (got != p->want[i])
            p->mismatches++;
    }
    return NULL;
}

static void test_stamped_threads(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct tw_anscache *one = mkcache(65536, 60, 86400, 16);
    struct tw_anscache_stats st1, st2;
    pthread_t tp, tl;

    assert_non_null(p);
    for (uint64_t i = 0; i < PAIR_FRAMES; i++)
        pair_frame(one, i, false, &p->want[i]);
    tw_anscache_get_stats(one, &st1);
    assert_true(st1.hits > 0 && st1.misses > 0 && st1.replaced > 0);
    assert_int_equal(st1.evicted + st1.expired + st1.names_dropped, 0);
    p->c = mkcache(65536, 60, 86400, 16);
    atomic_init(&p->putter, 0);
    assert_int_equal(tw_anscache_stamp(p->c), 0);
    assert_int_equal(pthread_create(&tp, NULL, pair_putter, p), 0);
    assert_int_equal(pthread_create(&tl, NULL, pair_looker, p), 0);
    pthread_join(tp, NULL);
    pthread_join(tl, NULL);
    tw_anscache_get_stats(p->c, &st2);
    assert_int_equal(p->lookups, PAIR_FRAMES / 3);
    assert_int_equal(p->mismatches, 0);
    assert_int_equal(st2.hits, st1.hits);
    assert_int_equal(st2.misses, st1.misses);
    assert_int_equal(st2.puts, st1.puts);
    tw_anscache_free(one);
    tw_anscache_free(p->c);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttl_clamp_and_expiry),
        cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_client_scoping),
        cmocka_unit_test(test_v4_v6_keys),
        cmocka_unit_test(test_replacement),
        cmocka_unit_test(test_replacement_refreshes_order),
        cmocka_unit_test(test_names_per_address),
        cmocka_unit_test(test_eviction_under_pressure),
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_refused_names),
        cmocka_unit_test(test_put_n),
        cmocka_unit_test(test_chain_truncation),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_against_model),
        cmocka_unit_test(test_text_arena),
        cmocka_unit_test(test_stamped_lookups),
        cmocka_unit_test(test_stamped_chains),
        cmocka_unit_test(test_stamped_threads),
    };

    return tw_run_tests(tests, NULL, NULL);
}
