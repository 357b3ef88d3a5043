/* SPDX-License-Identifier: MIT */
/*
 * Flow table: symmetric keys, bucket collisions and overflow chains, LRU order, eviction, lazy
 * and on-lookup expiry, the short timeout class, port reuse, retired entries handed back
 * intact; and a model of the whole contract driven through random lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_parse.h"

#include "tunwatch/flow/flow.h"

/* An owner's entry: the table's part, then the owner's state (zeroed for a new flow). */
struct owned {
    struct tw_flow ft;
    uint64_t tag; /* set to the flow id by the tests once the flow is created */
    uint8_t cold[40];
};

static struct tw_flow_table *table; /* of the test running, for id() */

static uint64_t id(const void *f)
{
    return tw_flow_meta(table, f)->id;
}

static struct tw_pkt mkpkt(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    struct tw_pkt p;

    memset(&p, 0, sizeof(p));
    p.ip_version = 4;
    p.l4_proto = 6;
    for (int i = 0; i < 4; i++) {
        p.src[i] = (uint8_t)(src >> (24 - 8 * i));
        p.dst[i] = (uint8_t)(dst >> (24 - 8 * i));
    }
    p.sport = sport;
    p.dport = dport;
    return p;
}

static struct tw_flow_table *new_table2(uint32_t capacity, uint32_t timeout, uint32_t short_to)
{
    struct tw_flow_table *t = tw_flow_table_new(capacity, timeout, short_to, sizeof(struct owned));

    assert_non_null(t);
    table = t;
    return t;
}

static struct tw_flow_table *new_table(uint32_t capacity, uint32_t timeout)
{
    return new_table2(capacity, timeout, timeout);
}

/* tw_flow_get, checking the owner's part: zero for a new flow, its id otherwise. */
static struct owned *get(struct tw_flow_table *t, const struct tw_pkt *p, int64_t now,
                         struct tw_flow_lookup *res)
{
    struct owned *o = (struct owned *)tw_flow_get(t, p, now, 7, res);

    assert_non_null(o);
    if (res->created) {
        assert_int_equal(o->tag, 0);
        assert_true(all_zero(o->cold, sizeof(o->cold)));
        assert_int_equal(o->ft.pkts, 1);
        assert_int_equal(tw_flow_meta(t, &o->ft)->first_sec, now);
        assert_int_equal(tw_flow_meta(t, &o->ft)->first_nsec, 7);
        assert_int_equal(tw_flow_meta(t, &o->ft)->timeout, TW_FLOW_TIMEOUT_DEFAULT);
        o->tag = id(o);
        memset(o->cold, 0x5a, sizeof(o->cold));
    } else {
        assert_int_equal(o->tag, id(o));
    }
    assert_int_equal((uintptr_t)o % 64, 0); /* entries start on a cache line */
    for (unsigned i = 0; i < res->n_retired; i++)
        assert_int_equal(((struct owned *)res->retired[i])->tag, id(res->retired[i]));
    return o;
}

static uint16_t retired_port(const struct tw_flow_lookup *res, unsigned i)
{
    const struct tw_flow_key *k = &res->retired[i]->key;

    /* mkpkt(1, 2, port, 80): address 0.0.0.1 sorts first, so its port is key side 0. */
    return k->port[0];
}

/* A packet of a new flow (1, 2, sport, dport) at `now` that retires exactly one flow, the one
 * whose key side 0 port is `want`. */
static struct owned *get_retiring(struct tw_flow_table *t, uint16_t sport, uint16_t dport,
                                  int64_t now, uint16_t want, struct tw_flow_lookup *res)
{
    struct tw_pkt p = mkpkt(1, 2, sport, dport);
    struct owned *o = get(t, &p, now, res);

    assert_int_equal(res->n_retired, 1);
    assert_int_equal(retired_port(res, 0), want);
    return o;
}

static void test_symmetric(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(16, 60);
    struct tw_pkt a = mkpkt(0x0a000001, 0x0a000002, 40000, 443);
    struct tw_pkt b = mkpkt(0x0a000002, 0x0a000001, 443, 40000);
    struct tw_pkt other = mkpkt(0x0a000001, 0x0a000002, 40001, 443);
    struct tw_pkt v6 = a;
    struct tw_flow_lookup ra, rb;
    struct owned *f1, *f2, *f3;

    f1 = get(t, &a, 1, &ra);
    assert_true(ra.created);
    f2 = get(t, &b, 1, &rb);
    assert_false(rb.created);
    assert_ptr_equal(f1, f2);
    assert_int_equal(ra.side ^ 1, rb.side);
    assert_int_equal(f1->ft.pkts, 2);
    f3 = get(t, &other, 1, &ra);
    assert_true(ra.created);
    assert_ptr_not_equal(f1, f3);
    assert_true(id(f3) != id(f1));
    /* Same bytes, other IP version: a different flow. */
    v6.ip_version = 6;
    f3 = get(t, &v6, 1, &ra);
    assert_true(ra.created);
    assert_ptr_not_equal(f1, f3);
    /* VLAN is part of the key. */
    a.vlan_count = 1;
    a.vlan[0] = 100;
    f3 = get(t, &a, 1, &ra);
    assert_true(ra.created);
    assert_ptr_not_equal(f1, f3);
    /* Protocol is part of the key. */
    b.l4_proto = 17;
    f3 = get(t, &b, 1, &rb);
    assert_true(rb.created);
    assert_ptr_not_equal(f1, f3);
    tw_flow_table_free(t);
}

/*
 * Bucket collisions: a table of 64 flows has 128 buckets, so 64 flows share buckets (the
 * chance that no two of 64 random hashes share one of 128 buckets is below 1e-6). Every flow
 * must still find its own entry, also after its chain neighbours were evicted, in both
 * directions.
 */
static void test_collisions(void **state)
{
    (void)state;
    enum { CAP = 64, ROUNDS = 8 };
    struct tw_flow_table *t = new_table(CAP, 1000);
    struct owned *seen[CAP];
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;

    for (unsigned r = 0; r < ROUNDS; r++) {
        /* A new set of CAP flows evicts the previous set, one by one. */
        for (unsigned i = 0; i < CAP; i++) {
            struct tw_pkt p = mkpkt(0x0a000000 + r, 0xc0a80001, (uint16_t)(1024 + i), 443);
            seen[i] = get(t, &p, 1, &res);
            assert_true(res.created);
            assert_int_equal(res.n_retired, r == 0 ? 0 : 1);
        }
        for (unsigned i = 0; i < CAP; i++) {
            struct tw_pkt back = mkpkt(0xc0a80001, 0x0a000000 + r, 443, (uint16_t)(1024 + i));
            assert_ptr_equal(get(t, &back, 1, &res), seen[i]);
            assert_false(res.created);
            assert_int_equal(seen[i]->ft.key.port[0] + seen[i]->ft.key.port[1], 1024 + i + 443);
        }
    }
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.created, CAP * ROUNDS);
    assert_int_equal(st.evicted, CAP * (ROUNDS - 1));
    assert_int_equal(st.active, CAP);
    tw_flow_table_free(t);
}

/* Eviction takes the least recently seen flow; the order is kept at one-second resolution
 * (timeouts are in seconds): touching a flow in the second it was last seen does not move it. */
static void test_lru_order(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(4, 100);
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;

    for (uint16_t i = 0; i < 4; i++) {
        struct tw_pkt p = mkpkt(1, 2, (uint16_t)(1000 + i), 80);
        get(t, &p, 10 + i, &res); /* 1000 @10, 1001 @11, 1002 @12, 1003 @13 */
    }
    /* 1000 seen again later: 1001 is now the least recently seen. */
    struct tw_pkt p0 = mkpkt(1, 2, 1000, 80);
    get(t, &p0, 14, &res);
    get_retiring(t, 2000, 80, 15, 1001, &res);
    assert_true(res.created);
    /* 1002 seen again in its own second (12 < 15, but the clock here says 12): not moved. */
    struct tw_pkt p2 = mkpkt(1, 2, 1002, 80);
    get(t, &p2, 12, &res);
    assert_false(res.created);
    get_retiring(t, 2001, 80, 16, 1002, &res);
    /* Order now: 1003, 1000, 2000, 2001. */
    uint16_t order[] = {1003, 1000, 2000, 2001};
    for (unsigned i = 0; i < 4; i++)
        get_retiring(t, (uint16_t)(3000 + i), 80, 17, order[i], &res);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 6);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.active, 4);
    assert_int_equal(st.created, 10);
    tw_flow_table_free(t);
}

/* tw_flow_find changes nothing (absent, idle or active); tw_flow_touch then counts the
 * packet and moves the flow in the LRU order exactly as tw_flow_get would have. */
static void test_find_touch(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(4, 100);
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;
    uint8_t side;

    struct tw_pkt absent = mkpkt(1, 2, 999, 80);
    assert_null(tw_flow_find(t, &absent, 10, &side));
    for (uint16_t i = 0; i < 4; i++) {
        struct tw_pkt p = mkpkt(1, 2, (uint16_t)(1000 + i), 80);
        get(t, &p, 10 + i, &res); /* 1000 @10, 1001 @11, 1002 @12, 1003 @13 */
    }
    assert_null(tw_flow_find(t, &absent, 14, &side));
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.created, 4);
    /* Found from either side; the side is the packet's source key side. */
    struct tw_pkt p0 = mkpkt(1, 2, 1000, 80), r0 = mkpkt(2, 1, 80, 1000);
    struct owned *f0 = (struct owned *)tw_flow_find(t, &p0, 14, &side);
    assert_non_null(f0);
    assert_int_equal(f0->tag, id(f0));
    assert_int_equal(side, 0);
    assert_ptr_equal(tw_flow_find(t, &r0, 14, &side), f0);
    assert_int_equal(side, 1);
    /* Not touched: 1000 is still the least recently seen, with one packet. */
    assert_int_equal(f0->ft.pkts, 1);
    tw_flow_touch(t, &f0->ft, 14);
    assert_int_equal(f0->ft.pkts, 2);
    /* Touched at 14: 1001 goes first now, as after a tw_flow_get at 14. */
    get_retiring(t, 2000, 80, 15, 1001, &res);
    /* Idle past the timeout: not found, and still there for tw_flow_get to retire. */
    struct tw_pkt p3 = mkpkt(1, 2, 1003, 80);
    assert_null(tw_flow_find(t, &p3, 114, &side));
    get(t, &p3, 114, &res);
    assert_true(res.created);
    assert_int_equal(res.n_retired, 1);
    assert_int_equal(retired_port(&res, 0), 1003);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.created, 6);
    tw_flow_table_free(t);
}

/* A retired flow is handed back with its state intact, and its slot is not reused before the
 * next call: the owner finishes it first. */
static void test_retired_intact_until_next_call(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(1, 100);
    struct tw_flow_lookup res;
    struct tw_pkt a = mkpkt(1, 2, 1, 80), b = mkpkt(1, 2, 2, 80), c = mkpkt(1, 2, 3, 80);
    struct owned *fa = get(t, &a, 1, &res);
    uint64_t ida = id(fa);
    struct owned *fb = get(t, &b, 1, &res);

    assert_int_equal(res.n_retired, 1);
    assert_ptr_equal(res.retired[0], &fa->ft);
    assert_ptr_not_equal(fb, fa);
    assert_int_equal(id(res.retired[0]), ida);
    assert_int_equal(((struct owned *)res.retired[0])->tag, ida);
    assert_int_equal(res.retired[0]->key.port[0], 1);
    /* Capacity 1: c evicts b; b comes back with its state, fa's slot may be used now. */
    struct owned *fc = get(t, &c, 2, &res);
    assert_int_equal(res.n_retired, 1);
    assert_ptr_equal(res.retired[0], &fb->ft);
    assert_ptr_not_equal(fc, fb);
    tw_flow_table_free(t);
}

/* New flows expire idle ones lazily, at most two a call, least recently seen first, instead of
 * evicting active ones. */
static void test_lazy_expiry(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(8, 10);
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;

    for (uint16_t i = 0; i < 5; i++) {
        struct tw_pkt p = mkpkt(1, 2, (uint16_t)(100 + i), 80);
        get(t, &p, 100 + i, &res); /* idle past 10 s from 111 + i on */
    }
    /* At 112: 100 and 101 are idle (12 and 11 s), 102 is exactly at the timeout. */
    struct tw_pkt n1 = mkpkt(1, 2, 200, 80);
    get(t, &n1, 112, &res);
    assert_int_equal(res.n_retired, 2);
    assert_int_equal(retired_port(&res, 0), 100);
    assert_int_equal(retired_port(&res, 1), 101);
    struct tw_pkt n2 = mkpkt(1, 2, 201, 80);
    get(t, &n2, 112, &res);
    assert_int_equal(res.n_retired, 0);
    /* Much later every old flow is idle: two a call. */
    struct tw_pkt n3 = mkpkt(1, 2, 202, 80);
    get(t, &n3, 500, &res);
    assert_int_equal(res.n_retired, 2);
    assert_int_equal(retired_port(&res, 0), 102);
    assert_int_equal(retired_port(&res, 1), 103);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.expired, 4);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.active, 4); /* 104, 200, 201, 202 */
    assert_int_equal(st.created, 8);
    tw_flow_table_free(t);
}

/* A flow found idle past the timeout (nothing was inserted meanwhile to expire it lazily) is a
 * new flow: the old one retired with its state, new id, counted as expired and created; at
 * exactly the timeout it is the same flow; and nothing else is expired by that lookup. */
static void test_idle_flow_found_is_new(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(4, 10);
    struct tw_pkt p = mkpkt(1, 2, 5, 6), q = mkpkt(1, 2, 7, 8);
    struct tw_flow_table_stats st;
    struct tw_flow_lookup res;
    struct owned *fq = get(t, &q, 99, &res);
    struct owned *f = get(t, &p, 100, &res);
    uint64_t old_id = id(f);

    assert_ptr_equal(get(t, &p, 110, &res), f); /* exactly the timeout */
    assert_false(res.created);
    assert_int_equal(id(f), old_id);
    struct owned *g = get(t, &p, 121, &res); /* 11 s idle */
    assert_true(res.created);
    assert_true(id(g) != old_id);
    assert_int_equal(res.n_retired, 1); /* only p's old flow; q (idle too) stays */
    assert_ptr_equal(res.retired[0], &f->ft);
    assert_int_equal(id(res.retired[0]), old_id);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.created, 3);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.active, 2);
    /* q is still there: found idle, it becomes new in its turn. */
    assert_non_null(fq);
    get(t, &q, 121, &res);
    assert_true(res.created);
    assert_int_equal(res.n_retired, 1);
    tw_flow_table_free(t);
}

/* Port reuse: the owner restarts the flow in place: new id, owner's part zeroed, counted as
 * created, still found by its key, nothing retired. */
static void test_restart(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(2, 10);
    struct tw_pkt p = mkpkt(1, 2, 5, 6);
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;
    struct owned *f = get(t, &p, 1, &res);
    uint64_t old_id = id(f);

    f->ft.pkts = 9;
    tw_flow_restart(t, &f->ft, 2, 99);
    assert_int_equal(f->tag, 0);
    assert_true(id(f) > old_id);
    assert_int_equal(f->ft.pkts, 1);
    assert_int_equal(tw_flow_meta(t, &f->ft)->first_sec, 2);
    assert_int_equal(tw_flow_meta(t, &f->ft)->first_nsec, 99);
    f->tag = id(f);
    assert_ptr_equal(get(t, &p, 3, &res), f);
    assert_false(res.created);
    assert_int_equal(res.n_retired, 0);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.active, 1);
    tw_flow_table_free(t);
}

/* Ids step by the stride from the first, so tables of several workers never collide. */
static void test_ids(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(4, 10);
    struct tw_flow_lookup res;

    tw_flow_table_set_ids(t, 3, 4);
    for (uint16_t i = 0; i < 3; i++) {
        struct tw_pkt p = mkpkt(1, 2, i, 80);
        assert_int_equal(id(get(t, &p, 1, &res)), 3 + 4 * i);
    }
    tw_flow_table_free(t);
}

/*
 * The whole contract against a plain model (one array per timeout class, least recently seen
 * first): 200,000 random lookups of 300 keys in both directions on a table of 64 (32 buckets
 * of 7, so buckets overflow into their chains all the time), a 10 s default and a 4 s short
 * timeout, the clock moving 0-3 s now and then, flows moved to the short class now and then
 * (as the engine does for DNS and closed flows) and restarted now and then. created, the
 * retired flows (which, and in what order), ids and every counter must agree at every step.
 */
struct model_flow {
    uint16_t key;
    uint64_t id;
    int64_t last;
};

struct model {
    struct model_flow f[3][64]; /* [class][least recently seen first] */
    unsigned n[3];
    uint64_t next_id, created, evicted, evicted_holding, expired;
};

/* default, short, holding (the default timeout) */
static const int64_t model_timeout[3] = {10, 4, 10};

static void model_remove(struct model *m, unsigned c, unsigned i)
{
    memmove(&m->f[c][i], &m->f[c][i + 1], (m->n[c] - i - 1) * sizeof(m->f[c][0]));
    m->n[c]--;
}

static bool model_find(const struct model *m, uint16_t key, unsigned *c, unsigned *i)
{
    for (*c = 0; *c < 3; (*c)++)
        for (*i = 0; *i < m->n[*c]; (*i)++)
            if (m->f[*c][*i].key == key)
                return true;
    return false;
}

static bool model_idle(const struct model *m, unsigned c, int64_t now)
{
    return m->n[c] > 0 && now - m->f[c][0].last > model_timeout[c];
}

static void test_model(void **state)
{
    (void)state;
    enum { CAP = 64, KEYS = 300, STEPS = 200000 };
    struct tw_flow_table *t =
        new_table2(CAP, (uint32_t)model_timeout[0], (uint32_t)model_timeout[1]);
    static struct model m;
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;
    int64_t now = 1000;
    uint64_t rng = 0x243f6a8885a308d3ULL;
    unsigned moved = 0, held = 0;

    memset(&m, 0, sizeof(m));
    m.next_id = 1;
    for (unsigned step = 0; step < STEPS; step++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint16_t key = (uint16_t)(rng % KEYS);
        bool reverse = (rng >> 20) & 1;
        if (((rng >> 24) & 31) == 0)
            now += (int64_t)((rng >> 30) & 3);
        struct tw_pkt p = reverse ? mkpkt(0x0a000002, 0x0a000001, 443, (uint16_t)(2000 + key))
                                  : mkpkt(0x0a000001, 0x0a000002, (uint16_t)(2000 + key), 443);
        uint64_t expect_retired[2];
        unsigned n_expect = 0, c, i;
        bool expect_created = true;

        /* The model. */
        if (model_find(&m, key, &c, &i) && now - m.f[c][i].last <= model_timeout[c]) {
            expect_created = false;
            if (m.f[c][i].last != now) {
                struct model_flow mf = m.f[c][i];
                mf.last = now;
                model_remove(&m, c, i);
                m.f[c][m.n[c]++] = mf;
            }
        } else {
            if (model_find(&m, key, &c, &i)) { /* found idle: only it is retired */
                expect_retired[n_expect++] = m.f[c][i].id;
                model_remove(&m, c, i);
                m.expired++;
            } else {
                for (int k = 0; k < 2; k++) {
                    /* expired: holding, short, then default */
                    unsigned ic = model_idle(&m, 2, now)   ? 2
                                  : model_idle(&m, 1, now) ? 1
                                  : model_idle(&m, 0, now) ? 0
                                                           : 3;
                    if (ic == 3)
                        break;
                    expect_retired[n_expect++] = m.f[ic][0].id;
                    model_remove(&m, ic, 0);
                    m.expired++;
                }
                if (m.n[0] + m.n[1] + m.n[2] == CAP) {
                    /* evicted: short, then default, then (counted apart) holding */
                    unsigned ec = m.n[1] > 0 ? 1 : m.n[0] > 0 ? 0 : 2;
                    expect_retired[n_expect++] = m.f[ec][0].id;
                    model_remove(&m, ec, 0);
                    m.evicted++;
                    m.evicted_holding += ec == 2;
                }
            }
            m.f[0][m.n[0]++] = (struct model_flow){key, m.next_id++, now};
            m.created++;
        }

        /* The table. */
        struct owned *o = get(t, &p, now, &res);
        assert_int_equal(res.created, expect_created);
        assert_int_equal(res.n_retired, n_expect);
        for (unsigned k = 0; k < n_expect; k++)
            assert_int_equal(id(res.retired[k]), expect_retired[k]);
        assert_true(model_find(&m, key, &c, &i));
        assert_int_equal(id(o), m.f[c][i].id);
        assert_int_equal(o->ft.last_sec, now);
        assert_int_equal(tw_flow_meta(t, &o->ft)->timeout, c);
        assert_int_equal(o->ft.key.port[0] + o->ft.key.port[1], 2000 + key + 443);

        /* Now and then the owner makes it a one-shot flow (DNS, a FIN seen), or one that holds
         * part of a name (and back). */
        unsigned to = c;
        if (c == 0 && ((rng >> 34) & 7) == 0)
            to = 1;
        else if (c == 0 && ((rng >> 34) & 7) == 1)
            to = 2;
        else if (c == 2 && ((rng >> 34) & 3) == 0)
            to = 0;
        if (to != c) {
            tw_flow_set_timeout(t, &o->ft, (enum tw_flow_timeout)to);
            struct model_flow mf = m.f[c][i];
            model_remove(&m, c, i);
            m.f[to][m.n[to]++] = mf;
            c = to, i = m.n[to] - 1;
            to == 1 ? moved++ : held++;
        }
        /* Now and then the owner restarts the flow (a reused 5-tuple): a new identity, in the
         * default class. */
        if (((rng >> 40) & 63) == 0) {
            tw_flow_restart(t, &o->ft, now, 0);
            o->tag = id(o);
            struct model_flow mf = m.f[c][i];
            mf.id = m.next_id++;
            if (c != 0) {
                model_remove(&m, c, i);
                m.f[0][m.n[0]++] = mf;
            } else {
                m.f[0][i] = mf;
            }
            m.created++;
            assert_int_equal(id(o), mf.id);
        }
        tw_flow_table_get_stats(t, &st);
        assert_int_equal(st.active, m.n[0] + m.n[1] + m.n[2]);
        assert_int_equal(st.evicted_holding, m.evicted_holding);
        assert_int_equal(st.created, m.created);
        assert_int_equal(st.evicted, m.evicted);
        assert_int_equal(st.expired, m.expired);
    }
    /* The run exercised every path, bucket overflow chains included. */
    assert_true(m.evicted > 1000);
    assert_true(m.expired > 1000);
    assert_true(moved > 1000);
    assert_true(held > 1000);
    assert_true(m.evicted_holding > 0);
    assert_true(st.chained > 0);
    tw_flow_table_free(t);
}

/* A flood of new flows that carry nothing does not push out a flow holding part of a name:
 * 262,144 of them through a table of 1,024, the holding flow stays; a table full of holding
 * flows lets the oldest go, counted apart. */
static void test_holding_survives_flood(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(1024, 300);
    struct tw_flow_lookup res;
    struct tw_flow_table_stats st;
    struct tw_pkt hp = mkpkt(0x0a000001, 0x0a000002, 40000, 443);
    struct owned *h = get(t, &hp, 1000, &res);
    uint64_t hid = id(h);

    tw_flow_set_timeout(t, &h->ft, TW_FLOW_TIMEOUT_HOLDING);
    for (uint32_t i = 0; i < 262144; i++) {
        struct tw_pkt p = mkpkt(0x0b000000 + i, 0x0a000002, (uint16_t)(1024 + i % 60000), 443);
        get(t, &p, 1000 + i / 2000, &res);
        for (unsigned k = 0; k < res.n_retired; k++)
            assert_true(id(res.retired[k]) != hid);
    }
    struct owned *again = get(t, &hp, 1131, &res);
    assert_false(res.created);
    assert_int_equal(id(again), hid);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 262144 - 1023);
    assert_int_equal(st.evicted_holding, 0);
    tw_flow_table_free(t);

    t = new_table(4, 300);
    struct owned *f[4];
    for (uint32_t i = 0; i < 4; i++) {
        struct tw_pkt p = mkpkt(0x0a000001, 0x0a000002, (uint16_t)(50000 + i), 443);
        f[i] = get(t, &p, 1000, &res);
        tw_flow_set_timeout(t, &f[i]->ft, TW_FLOW_TIMEOUT_HOLDING);
    }
    uint64_t oldest = id(f[0]);
    struct tw_pkt p = mkpkt(0x0a000001, 0x0a000002, 60000, 443);
    get(t, &p, 1001, &res);
    assert_int_equal(res.n_retired, 1);
    assert_int_equal(id(res.retired[0]), oldest);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.evicted_holding, 1);
    tw_flow_table_free(t);
}

static void visit(void *ctx, struct tw_flow *f)
{
    uint16_t *ports = ctx;

    ports[ports[0]++ + 1] = f->key.port[0];
}

/*
 * The short class: one-shot flows expire after the short timeout, before older flows of the
 * default class; a full table evicts them first; a restart puts a flow back in the default
 * class.
 */
static void test_short_class(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table2(4, 100, 5);
    struct tw_flow_lookup res;
    struct owned *f[4];

    for (uint16_t i = 0; i < 4; i++) {
        struct tw_pkt p = mkpkt(1, 2, (uint16_t)(10 + i), 53);
        f[i] = get(t, &p, 10 + i, &res);
    }
    /* 12 and 13 become one-shots; 10 and 11 stay (and are older). */
    tw_flow_set_timeout(t, &f[2]->ft, TW_FLOW_TIMEOUT_SHORT);
    tw_flow_set_timeout(t, &f[3]->ft, TW_FLOW_TIMEOUT_SHORT);
    assert_int_equal(tw_flow_meta(t, &f[3]->ft)->timeout, TW_FLOW_TIMEOUT_SHORT);
    /* Full: a new flow evicts the least recently seen one-shot (12), not the oldest flow. */
    get_retiring(t, 20, 53, 15, 12, &res);
    /* At 19, 13 (seen at 13) is 6 s idle: past the short timeout, it expires. */
    get_retiring(t, 21, 53, 19, 13, &res);
    /* Found 6 s idle in the short class: a new flow. */
    tw_flow_set_timeout(t, &f[0]->ft, TW_FLOW_TIMEOUT_SHORT);
    struct tw_pkt p10 = mkpkt(1, 2, 10, 53);
    struct owned *g = get(t, &p10, 16 + 5 + 1, &res);
    assert_true(res.created);
    assert_int_equal(res.n_retired, 1);
    assert_int_equal(retired_port(&res, 0), 10);
    /* A restart puts a one-shot back in the default class. */
    tw_flow_set_timeout(t, &g->ft, TW_FLOW_TIMEOUT_SHORT);
    tw_flow_restart(t, &g->ft, 22, 0);
    assert_int_equal(tw_flow_meta(t, &g->ft)->timeout, TW_FLOW_TIMEOUT_DEFAULT);
    struct tw_flow_table_stats st;
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.expired, 2);
    tw_flow_table_free(t);
}

/* A finished exchange (a DNS query answered): its own timeout, and the first to go when the
 * table is full, before one-shots. */
static void test_done_class(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table2(4, 100, 30);
    struct tw_flow_lookup res;
    struct owned *f[4];

    tw_flow_table_set_timeout(t, TW_FLOW_TIMEOUT_DONE, 2);
    for (uint16_t i = 0; i < 4; i++) {
        struct tw_pkt p = mkpkt(1, 2, (uint16_t)(10 + i), 53);
        f[i] = get(t, &p, 10, &res);
    }
    tw_flow_set_timeout(t, &f[0]->ft, TW_FLOW_TIMEOUT_SHORT);
    tw_flow_set_timeout(t, &f[1]->ft, TW_FLOW_TIMEOUT_DONE);
    tw_flow_set_timeout(t, &f[3]->ft, TW_FLOW_TIMEOUT_DONE);
    assert_int_equal(tw_flow_meta(t, &f[1]->ft)->timeout, TW_FLOW_TIMEOUT_DONE);
    /* Full at 11: the least recently seen finished flow (11) goes, not the one-shot (10). */
    get_retiring(t, 20, 53, 11, 11, &res);
    /* At 13, 13 (seen at 10) is 3 s idle: past the 2 s of its class, it expires; the one-shot
     * (10) and the default flow (12) stay. */
    get_retiring(t, 21, 53, 13, 13, &res);
    struct tw_flow_table_stats st;
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.expired, 1);
    tw_flow_table_free(t);
}

/* foreach visits every active flow, least recently seen first, and no retired one. */
static void test_foreach_order(void **state)
{
    (void)state;
    struct tw_flow_table *t = new_table(3, 100);
    struct tw_flow_lookup res;
    uint16_t ports[8] = {0};

    for (uint16_t i = 1; i <= 4; i++) {
        struct tw_pkt p = mkpkt(1, 2, i, 80);
        get(t, &p, i, &res); /* 4 evicts 1 */
    }
    struct tw_pkt p2 = mkpkt(1, 2, 2, 80);
    get(t, &p2, 5, &res);
    tw_flow_table_foreach(t, visit, ports);
    assert_int_equal(ports[0], 3);
    assert_int_equal(ports[1], 3);
    assert_int_equal(ports[2], 4);
    assert_int_equal(ports[3], 2);
    tw_flow_table_free(t);
}

/*
 * The replay's split: DNS flows to worker 0 whatever share0 is; the others, both directions
 * alike, share0 in 256 to worker 0 and the rest spread over workers 1..n-1; share0 0 leaves
 * worker 0 the DNS flows alone, 256 gives it everything. tw_flow_split_share0(): 7/8 of the
 * balance, 0 once the DNS flows cost as much as another worker's share.
 */
static double dist(double x)
{
    return x < 0 ? -x : x;
}

static void test_worker_split(void **state)
{
    (void)state;
    for (unsigned n = 2; n <= 4; n++) {
        for (unsigned share0 = 0; share0 <= 256; share0 += 32) {
            unsigned count[4] = {0}, total = 20000;
            for (unsigned i = 0; i < total; i++) {
                struct tw_pkt p = mkpkt(0x0a000001 + i * 7919, 0xc0000201 + (i % 97),
                                        (uint16_t)(1024 + i % 50000), 443);
                struct tw_pkt r = mkpkt(0xc0000201 + (i % 97), 0x0a000001 + i * 7919, 443,
                                        (uint16_t)(1024 + i % 50000));
                unsigned w = tw_flow_worker(&p, n, share0);
                assert_true(w < n);
                assert_int_equal(tw_flow_worker(&r, n, share0), w);
                count[w]++;
                struct tw_pkt d = mkpkt(0x0a000001 + i, 0x08080808, (uint16_t)(1024 + i), 53);
                d.l4_proto = (i & 1) ? 17 : 6;
                assert_int_equal(tw_flow_worker(&d, n, share0), 0);
            }
            double want0 = (double)share0 / 256.0;
            assert_true(dist((double)count[0] / total - want0) < 0.02);
            for (unsigned w = 1; w < n; w++)
                assert_true(dist((double)count[w] / total - (1.0 - want0) / (n - 1)) < 0.03);
        }
    }
    assert_int_equal(tw_flow_split_share0(0, 1000, 2), 112);   /* 1/2 * 7/8 of 256 */
    assert_int_equal(tw_flow_split_share0(0, 1000, 4), 56);    /* 1/4 * 7/8 */
    assert_int_equal(tw_flow_split_share0(1000, 1000, 2), 0);  /* DNS as much as one share */
    assert_int_equal(tw_flow_split_share0(1500, 1000, 2), 0);
    assert_int_equal(tw_flow_split_share0(500, 1000, 3), 0);
    assert_int_equal(tw_flow_split_share0(900, 1000, 2), 11);  /* (1 - 0.9) / 2 * 7/8 */
    assert_int_equal(tw_flow_split_share0(200, 1000, 2), 90);  /* (1 - 0.2) / 2 * 7/8 */
    assert_int_equal(tw_flow_split_share0(100, 1000, 3), 60);  /* (1 - 0.2) / 3 * 7/8 */
    assert_int_equal(tw_flow_split_share0(100, 0, 2), 0);
    assert_int_equal(tw_flow_split_share0(0, 1000, 1), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(tw_flow_table_new(0, 10, 10, sizeof(struct owned)));
    /* The owner must leave room for its hot bytes on the first line. */
    assert_null(tw_flow_table_new(4, 10, 10, sizeof(struct tw_flow) + TW_FLOW_OWNER_HOT - 1));
    assert_null(tw_flow_table_new(4, 10, 10, 4097));
    struct tw_flow_table *t =
        tw_flow_table_new(1, 10, 10, sizeof(struct tw_flow) + TW_FLOW_OWNER_HOT);
    assert_non_null(t);
    tw_flow_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symmetric),   cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_find_touch),   cmocka_unit_test(test_retired_intact_until_next_call),
        cmocka_unit_test(test_lazy_expiry), cmocka_unit_test(test_idle_flow_found_is_new),
        cmocka_unit_test(test_restart),     cmocka_unit_test(test_ids),
        cmocka_unit_test(test_model),       cmocka_unit_test(test_foreach_order),
        cmocka_unit_test(test_short_class), cmocka_unit_test(test_done_class),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_worker_split),
        cmocka_unit_test(test_holding_survives_flood),
    };
    return tw_run_tests_name("flow", tests, NULL, NULL);
}
