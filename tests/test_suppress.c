/* SPDX-License-Identifier: MIT */
/* Alert suppression: windows, key scoping, suppressed_before, eviction, accounting, threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/base/netaddr.h"
#include "tunwatch/match/suppress.h"

static void event_from(struct tw_event *ev, const char *src)
{
    struct tw_cidr a;

    memset(ev, 0, sizeof(*ev));
    assert_int_equal(tw_cidr_parse(src, &a), 0);
    ev->ip_version = a.version;
    memcpy(ev->src_addr, a.addr, 16);
    ev->dst_addr[0] = 8;
}

/* One alert: returns 1 when suppressed, 0 when let through (and *before set). */
static int check(struct tw_suppress *s, const char *rule, const char *src, const char *name,
                 int64_t now, uint64_t *before)
{
    struct tw_event ev;

    event_from(&ev, src);
    return tw_suppress_check(s, rule, &ev, name, now, before) ? 1 : 0;
}

static void assert_accounts(struct tw_suppress *s)
{
    struct tw_suppress_stats st;

    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.suppressed, st.reported + st.pending + st.lost);
    /* every pass fills a free entry, evicts one, or reopens a held key */
    assert_true(st.evicted <= st.passed - st.entries);
    /* One shard (capacity < 512): an entry is evicted only when every entry is in use. */
    if (st.capacity < 512 && st.evicted > 0)
        assert_int_equal(st.entries, st.capacity);
}

#define STEPS 8

/* A single key through time: which alerts pass, and what they report. */
static void test_window(void **state)
{
    (void)state;
    static const struct {
        int line;
        uint32_t window;
        struct {
            int64_t t;
            int suppressed;
            uint64_t before; /* when let through */
        } step[STEPS];
        size_t n;
    } cases[] = {
        /* exactly window_secs later lets through; one less does not */
        {__LINE__, 60, {{1000, 0, 0}, {1059, 1, 0}, {1060, 0, 1}}, 3},
        {__LINE__, 60, {{1000, 0, 0}, {1000, 1, 0}, {1001, 1, 0}, {1060, 0, 2}}, 4},
        /* suppressed alerts do not extend the window */
        {__LINE__, 10, {{0, 0, 0}, {5, 1, 0}, {9, 1, 0}, {10, 0, 2}, {19, 1, 0}, {20, 0, 1}}, 6},
        /* a window with nothing suppressed reports 0 */
        {__LINE__, 10, {{0, 0, 0}, {10, 0, 0}, {25, 0, 0}, {26, 1, 0}, {100, 0, 1}}, 5},
        /* slightly out of order: inside; a jump back by a window or more: a new window */
        {__LINE__, 10, {{100, 0, 0}, {95, 1, 0}, {91, 1, 0}, {90, 0, 2}, {81, 1, 0}}, 5},
        /* window 0: everything passes */
        {__LINE__, 0, {{5, 0, 0}, {5, 0, 0}, {6, 0, 0}}, 3},
        /* window 1 */
        {__LINE__, 1, {{5, 0, 0}, {5, 1, 0}, {5, 1, 0}, {6, 0, 2}, {6, 1, 0}, {8, 0, 1}}, 6},
        /* times near the ends of int64 */
        {__LINE__,
         3600,
         {{INT64_MIN, 0, 0}, {INT64_MAX, 0, 0}, {INT64_MAX - 3599, 1, 0}, {INT64_MIN, 0, 1}},
         4},
        /* a long window */
        {__LINE__,
         UINT32_MAX,
         {{0, 0, 0}, {(int64_t)UINT32_MAX - 1, 1, 0}, {(int64_t)UINT32_MAX, 0, 1}},
         3},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_suppress *s = tw_suppress_new(cases[i].window, 16);
        struct tw_suppress_stats st;
        uint64_t passed = 0, supp = 0;

        assert_non_null(s);
        for (size_t k = 0; k < cases[i].n; k++) {
            uint64_t before = 99;
            int got = check(s, "r1", "10.0.0.1", "a.tunnel.example", cases[i].step[k].t, &before);

            if (got != cases[i].step[k].suppressed || before != (got ? 0 : cases[i].step[k].before))
                fail_msg("case at line %d, step %zu: suppressed %d before %llu", cases[i].line, k,
                         got, (unsigned long long)before);
            if (got)
                supp++;
            else
                passed++;
        }
        tw_suppress_get_stats(s, &st);
        assert_int_equal(st.passed, passed);
        assert_int_equal(st.suppressed, supp);
        assert_int_equal(st.entries, 1);
        assert_int_equal(st.window_secs, cases[i].window);
        assert_accounts(s);
        tw_suppress_free(s);
    }
}

/* Key scoping: a first alert, then a second one second later with another key. */
static void test_keys(void **state)
{
    (void)state;
    static const struct {
        int line;
        const char *rule1, *src1, *name1;
        const char *rule2, *src2, *name2;
        int suppressed; /* the second alert */
    } cases[] = {
        {__LINE__, "r1", "10.0.0.1", "a.example", "r1", "10.0.0.1", "a.example", 1},
        /* different rules, sources, names: independent */
        {__LINE__, "r1", "10.0.0.1", "a.example", "r2", "10.0.0.1", "a.example", 0},
        {__LINE__, "r1", "10.0.0.1", "a.example", "r1", "10.0.0.2", "a.example", 0},
        {__LINE__, "r1", "10.0.0.1", "a.example", "r1", "10.0.0.1", "b.example", 0},
        {__LINE__, "r1", "10.0.0.1", "a.example", "r1", "10.0.0.1", "x.a.example", 0},
        {__LINE__, "r1", "2001:db8::1", "a.example", "r1", "2001:db8::2", "a.example", 0},
        {__LINE__, "r1", "2001:db8::1", "a.example", "r1", "2001:db8::1", "a.example", 1},
        /* the same 4 leading bytes as IPv4 and IPv6 */
        {__LINE__, "r1", "10.0.0.1", "a.example", "r1", "a00:1::", "a.example", 0},
        /* names: ASCII case-insensitive, one trailing dot ignored */
        {__LINE__, "r1", "10.0.0.1", "a.Example", "r1", "10.0.0.1", "A.EXAMPLE", 1},
        {__LINE__, "r1", "10.0.0.1", "a.example.", "r1", "10.0.0.1", "a.example", 1},
        {__LINE__, "r1", "10.0.0.1", "a.example", "r1", "10.0.0.1", "a.example..", 0},
        {__LINE__, "r1", "10.0.0.1", "\xc3\x89.example", "r1", "10.0.0.1", "\xc3\xa9.example", 0},
        /* rule ids: ASCII case-insensitive */
        {__LINE__, "ABC-1", "10.0.0.1", "a.example", "abc-1", "10.0.0.1", "a.example", 1},
        /* the rule id and the name do not run into each other */
        {__LINE__, "ab", "10.0.0.1", "c.example", "a", "10.0.0.1", "bc.example", 0},
        {__LINE__, "r1", "10.0.0.1", "", "r1", "10.0.0.1", NULL, 1},
        {__LINE__, "", "10.0.0.1", "a.example", NULL, "10.0.0.1", "a.example", 1},
        {__LINE__, "r1", "10.0.0.1", "", "r1", "10.0.0.1", ".", 1},
        /* names of 8-byte multiples, that differ only in length */
        {__LINE__, "r1", "10.0.0.1", "abcdefgh", "r1", "10.0.0.1", "abcdefgh\x01", 0},
        {__LINE__, "r1", "10.0.0.1", "abcdefg", "r1", "10.0.0.1", "abcdefg\x01", 0},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_suppress *s = tw_suppress_new(60, 16);
        uint64_t before;
        int first = check(s, cases[i].rule1, cases[i].src1, cases[i].name1, 100, &before);
        int second = check(s, cases[i].rule2, cases[i].src2, cases[i].name2, 101, &before);
        struct tw_suppress_stats st;

        tw_suppress_get_stats(s, &st);
        if (first != 0 || second != cases[i].suppressed ||
            st.entries != (cases[i].suppressed ? 1u : 2u))
            fail_msg("case at line %d: first %d second %d entries %u", cases[i].line, first, second,
                     st.entries);
        tw_suppress_free(s);
    }
}

/* The key is not mixed up with other fields of the event. */
static void test_other_fields_ignored(void **state)
{
    (void)state;
    struct tw_suppress *s = tw_suppress_new(60, 16);
    struct tw_event ev;

    event_from(&ev, "10.0.0.1");
    ev.dport = 443;
    ev.sport = 50000;
    ev.norm = "x.example";
    assert_false(tw_suppress_check(s, "r1", &ev, "a.example", 0, NULL));
    ev.dport = 80;
    ev.sport = 50001;
    ev.dst_addr[0] = 9;
    ev.src_addr[5] = 7; /* beyond an IPv4 address */
    ev.norm = "y.example";
    assert_true(tw_suppress_check(s, "r1", &ev, "a.example", 1, NULL));
    /* a NULL event, or an unknown version: keyed as no address */
    assert_false(tw_suppress_check(s, "r1", NULL, "a.example", 2, NULL));
    ev.ip_version = 0;
    assert_true(tw_suppress_check(s, "r1", &ev, "a.example", 3, NULL));
    /* a NULL table lets everything through */
    {
        uint64_t before = 7;

        assert_false(tw_suppress_check(NULL, "r1", &ev, "a.example", 3, &before));
        assert_int_equal(before, 0);
    }
    tw_suppress_free(s);
    tw_suppress_free(NULL);
}

static void test_new_bounds(void **state)
{
    (void)state;
    struct tw_suppress *s;
    struct tw_suppress_stats st;

    assert_null(tw_suppress_new(60, 0));
    assert_null(tw_suppress_new(60, (1u << 30) + 1));
    s = tw_suppress_new(60, 1);
    assert_non_null(s);
    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.capacity, 1);
    assert_int_equal(st.entries, 0);
    tw_suppress_free(s);
}

static void key_name(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "k%u.tunnel.example", i);
}

/* One shard (capacity < 512): exactly capacity keys held, the oldest window evicted. */
static void test_eviction_order(void **state)
{
    (void)state;
    struct tw_suppress *s = tw_suppress_new(10, 4);
    struct tw_suppress_stats st;
    uint64_t before;

    /* A B C D at 0..3, each suppressed once */
    assert_int_equal(check(s, "r", "10.0.0.1", "a", 0, &before), 0);
    assert_int_equal(check(s, "r", "10.0.0.1", "b", 1, &before), 0);
    assert_int_equal(check(s, "r", "10.0.0.1", "c", 2, &before), 0);
    assert_int_equal(check(s, "r", "10.0.0.1", "d", 3, &before), 0);
    for (const char *n = "abcd"; *n != '\0'; n++) {
        char name[2] = {*n, '\0'};

        assert_int_equal(check(s, "r", "10.0.0.1", name, 4, &before), 1);
    }
    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.pending, 4);
    /* A reopens at 10 (reports 1) and becomes the newest */
    assert_int_equal(check(s, "r", "10.0.0.1", "a", 10, &before), 0);
    assert_int_equal(before, 1);
    /* E evicts B (opened at 1, its window over at 11: not in window) */
    assert_int_equal(check(s, "r", "10.0.0.1", "e", 11, &before), 0);
    assert_int_equal(before, 0);
    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.evicted_in_window, 0);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.reported, 1);
    /* A still held, B gone: B passes with nothing reported, evicting C (opened 2, in window) */
    assert_int_equal(check(s, "r", "10.0.0.1", "a", 11, &before), 1);
    assert_int_equal(check(s, "r", "10.0.0.1", "b", 11, &before), 0);
    assert_int_equal(before, 0);
    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.evicted_in_window, 1);
    assert_int_equal(st.lost, 2);
    assert_int_equal(st.entries, 4);
    /* D, E, A, B held */
    assert_int_equal(check(s, "r", "10.0.0.1", "d", 12, &before), 1);
    assert_int_equal(check(s, "r", "10.0.0.1", "e", 12, &before), 1);
    assert_int_equal(check(s, "r", "10.0.0.1", "b", 12, &before), 1);
    assert_int_equal(check(s, "r", "10.0.0.1", "a", 12, &before), 1);
    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.passed, 7);
    assert_int_equal(st.suppressed, 9);
    assert_int_equal(st.evicted, 2);
    assert_accounts(s);
    tw_suppress_free(s);

    /* capacity 1: every new key evicts the last */
    s = tw_suppress_new(100, 1);
    for (unsigned i = 0; i < 10; i++) {
        char name[32];

        key_name(name, sizeof(name), i);
        assert_int_equal(check(s, "r", "10.0.0.1", name, i, &before), 0);
        assert_int_equal(check(s, "r", "10.0.0.1", name, i, &before), 1);
    }
    tw_suppress_get_stats(s, &st);
    assert_int_equal(st.evicted, 9);
    assert_int_equal(st.evicted_in_window, 9);
    assert_int_equal(st.lost, 9);
    assert_int_equal(st.pending, 1);
    assert_accounts(s);
    tw_suppress_free(s);
}

/* Capacity pressure on a sharded table: counts add up, exactly capacity held once it is full. */
static void test_capacity_pressure(void **state)
{
    (void)state;
    static const struct {
        int line;
        uint32_t capacity;
        unsigned keys;
        bool none_evicted; /* few enough keys that no shard fills */
    } cases[] = {
        {__LINE__, 500, 500, true}, /* one shard: exactly capacity */
        {__LINE__, 500, 501, false},
        {__LINE__, 65536, 20000, true}, /* 64 shards of 1024, about 312 keys each */
        {__LINE__, 65536, 200000, false},
        {__LINE__, 1000, 5000, false},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_suppress *s = tw_suppress_new(3600, cases[i].capacity);
        struct tw_suppress_stats st;
        uint64_t before;

        assert_non_null(s);
        for (unsigned k = 0; k < cases[i].keys; k++) {
            char name[32];

            key_name(name, sizeof(name), k);
            if (check(s, "r", "10.0.0.1", name, k / 100, &before) != 0)
                fail_msg("case at line %d: key %u suppressed", cases[i].line, k);
        }
        tw_suppress_get_stats(s, &st);
        /* Without evictions every key has its entry; with them every shard is full (the
         * sharded cases give each shard about 3 to 5 times its share). */
        if (st.passed != cases[i].keys || st.evicted != st.passed - st.entries ||
            (st.evicted == 0) != cases[i].none_evicted ||
            st.entries != (cases[i].none_evicted ? cases[i].keys : cases[i].capacity) ||
            st.evicted_in_window != st.evicted)
            fail_msg("case at line %d: passed %llu entries %u evicted %llu", cases[i].line,
                     (unsigned long long)st.passed, st.entries, (unsigned long long)st.evicted);
        /* the newest keys are held: the last 10% of a shard's share at least */
        for (unsigned k = cases[i].keys - cases[i].keys / 50; k < cases[i].keys; k++) {
            char name[32];

            key_name(name, sizeof(name), k);
            if (check(s, "r", "10.0.0.1", name, k / 100, &before) != 1)
                fail_msg("case at line %d: recent key %u not held", cases[i].line, k);
        }
        assert_accounts(s);
        tw_suppress_free(s);
    }
}

#define THREADS 4
#define ROUNDS 50000
#define SHARED_KEYS 64
#define OWN_KEYS 32

struct worker {
    struct tw_suppress *shared;  /* all threads: shared and own keys, one window for all */
    struct tw_suppress *beacons; /* own keys only, windows of 10 */
    unsigned id;
    uint64_t passed, suppressed, before_sum;
    uint64_t b_passed, b_suppressed, b_before_sum;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char src[32], name[48];
    struct tw_event ev;

    for (unsigned r = 0; r < ROUNDS; r++) {
        uint64_t before = 0;
        unsigned k = (r * 2654435761u + w->id) % (SHARED_KEYS + OWN_KEYS);
        int64_t now = r / 100; /* 500 s in all */

        if (k < SHARED_KEYS) {
            snprintf(src, sizeof(src), "10.1.0.%u", k % 4);
            snprintf(name, sizeof(name), "s%u.tunnel.example", k);
        } else {
            snprintf(src, sizeof(src), "10.2.%u.%u", w->id, k % 4);
            snprintf(name, sizeof(name), "O%u.Tunnel.example", k);
        }
        event_from(&ev, src);
        if (tw_suppress_check(w->shared, k % 2 ? "rule-a" : "rule-b", &ev, name, now, &before))
            w->suppressed++;
        else
            w->passed++;
        w->before_sum += before;
        if (k >= SHARED_KEYS) {
            if (tw_suppress_check(w->beacons, "rule-a", &ev, name, now, &before))
                w->b_suppressed++;
            else
                w->b_passed++;
            w->b_before_sum += before;
        }
    }
    return NULL;
}

/* 4 threads on the same and on different keys: every count adds up. */
static void test_threads(void **state)
{
    (void)state;
    /* shared: the window spans the run and the table holds every key: each key passes once */
    struct tw_suppress *shared = tw_suppress_new(100000, 4096);
    struct tw_suppress *beacons = tw_suppress_new(10, 4096);
    struct worker w[THREADS];
    pthread_t th[THREADS];
    struct tw_suppress_stats st;
    uint64_t passed = 0, suppressed = 0, before = 0, b_passed = 0, b_supp = 0, b_before = 0;
    uint64_t want_b_passed = 0;

    for (unsigned t = 0; t < THREADS; t++) {
        w[t] = (struct worker){shared, beacons, t, 0, 0, 0, 0, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, hammer, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        passed += w[t].passed;
        suppressed += w[t].suppressed;
        before += w[t].before_sum;
        b_passed += w[t].b_passed;
        b_supp += w[t].b_suppressed;
        b_before += w[t].b_before_sum;
    }
    tw_suppress_get_stats(shared, &st);
    assert_int_equal(passed + suppressed, (uint64_t)THREADS * ROUNDS);
    assert_int_equal(st.passed, passed);
    assert_int_equal(st.suppressed, suppressed);
    assert_int_equal(st.passed, SHARED_KEYS + THREADS * OWN_KEYS);
    assert_int_equal(st.entries, SHARED_KEYS + THREADS * OWN_KEYS);
    assert_int_equal(before, 0);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.pending, st.suppressed);
    assert_accounts(shared);

    /* beacons: each thread's own keys see time in order, so the result is exact: per key,
     * one pass per 10 s window of the times it was seen at (computed single-threaded) */
    {
        struct tw_suppress *ref = tw_suppress_new(10, 4096);

        for (unsigned t = 0; t < THREADS; t++) {
            for (unsigned r = 0; r < ROUNDS; r++) {
                unsigned k = (r * 2654435761u + t) % (SHARED_KEYS + OWN_KEYS);
                char src[32], name[48];

                if (k < SHARED_KEYS)
                    continue;
                snprintf(src, sizeof(src), "10.2.%u.%u", t, k % 4);
                snprintf(name, sizeof(name), "o%u.tunnel.example", k);
                want_b_passed += (uint64_t)(check(ref, "rule-a", src, name, r / 100, NULL) == 0);
            }
        }
        tw_suppress_free(ref);
    }
    tw_suppress_get_stats(beacons, &st);
    assert_int_equal(st.passed, b_passed);
    assert_int_equal(st.suppressed, b_supp);
    assert_int_equal(b_passed, want_b_passed);
    assert_int_equal(st.reported, b_before);
    assert_int_equal(st.suppressed, st.reported + st.pending);
    assert_int_equal(st.evicted, 0);
    tw_suppress_free(shared);
    tw_suppress_free(beacons);
}

/* Threads under capacity pressure: nothing is lost from the accounting. */
static void *pressure(void *arg)
{
    struct worker *w = arg;
    char name[48];
    struct tw_event ev;

    event_from(&ev, "10.3.0.1");
    for (unsigned r = 0; r < ROUNDS; r++) {
        uint64_t before = 0;

        snprintf(name, sizeof(name), "p%u.tunnel.example", (r * 7919u + w->id * 13u) % 3000);
        if (tw_suppress_check(w->shared, "rule-p", &ev, name, r / 50, &before))
            w->suppressed++;
        else
            w->passed++;
        w->before_sum += before;
    }
    return NULL;
}

static void test_threads_pressure(void **state)
{
    (void)state;
    struct tw_suppress *s = tw_suppress_new(30, 1024); /* 4 shards of 256 */
    struct worker w[THREADS];
    pthread_t th[THREADS];
    struct tw_suppress_stats st;
    uint64_t passed = 0, suppressed = 0, before = 0;

    for (unsigned t = 0; t < THREADS; t++) {
        w[t] = (struct worker){s, NULL, t, 0, 0, 0, 0, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, pressure, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        passed += w[t].passed;
        suppressed += w[t].suppressed;
        before += w[t].before_sum;
    }
    tw_suppress_get_stats(s, &st);
    assert_int_equal(passed + suppressed, (uint64_t)THREADS * ROUNDS);
    assert_int_equal(st.passed, passed);
    assert_int_equal(st.suppressed, suppressed);
    assert_int_equal(st.reported, before);
    assert_int_equal(st.suppressed, st.reported + st.pending + st.lost);
    assert_int_equal(st.entries, 1024);
    assert_true(st.evicted > 0);
    assert_true(st.evicted <= st.passed - st.entries);
    tw_suppress_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_other_fields_ignored),
        cmocka_unit_test(test_new_bounds),
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_capacity_pressure),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_threads_pressure),
    };
    return tw_run_tests(tests, NULL, NULL);
}
