/* SPDX-License-Identifier: MIT */
/* Flow table: symmetric keys, fixed capacity with counted eviction and expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunwatch/flow/flow.h"
#include "tunwatch/flow/stream.h"

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

static unsigned released;
static void on_release(void *ctx, struct tw_flow *f)
{
    (void)ctx;
    (void)f;
    released++;
}

static void test_symmetric(void **state)
{
    (void)state;
    struct tw_flow_table *t = tw_flow_table_new(16, 60, on_release, NULL);
    struct tw_pkt a = mkpkt(0x0a000001, 0x0a000002, 40000, 443);
    struct tw_pkt b = mkpkt(0x0a000002, 0x0a000001, 443, 40000);
    struct tw_pkt other = mkpkt(0x0a000001, 0x0a000002, 40001, 443);
    struct tw_pkt v6 = a;
    uint8_t sa, sb;
    bool created;
    struct tw_flow *f1, *f2, *f3;

    assert_non_null(t);
    f1 = tw_flow_get(t, &a, 1, &sa, &created);
    assert_true(created);
    f2 = tw_flow_get(t, &b, 1, &sb, &created);
    assert_false(created);
    assert_ptr_equal(f1, f2);
    assert_int_equal(sa ^ 1, sb);
    assert_int_equal(f1->pkts, 2);
    f3 = tw_flow_get(t, &other, 1, &sa, &created);
    assert_true(created);
    assert_ptr_not_equal(f1, f3);
    assert_true(f3->id != f1->id);
    /* Same bytes, other IP version: a different flow. */
    v6.ip_version = 6;
    f3 = tw_flow_get(t, &v6, 1, &sa, &created);
    assert_true(created);
    /* VLAN is part of the key. */
    a.vlan_count = 1;
    a.vlan[0] = 100;
    f3 = tw_flow_get(t, &a, 1, &sa, &created);
    assert_true(created);
    tw_flow_table_free(t);
}

static void test_eviction_and_expiry(void **state)
{
    (void)state;
    struct tw_flow_table *t;
    struct tw_flow_table_stats st;
    uint8_t side;
    bool created;

    released = 0;
    t = tw_flow_table_new(4, 10, on_release, NULL);
    assert_non_null(t);
    for (uint16_t i = 0; i < 4; i++) {
        struct tw_pkt p = mkpkt(1, 2, (uint16_t)(1000 + i), 80);
        tw_flow_get(t, &p, 100, &side, &created);
        assert_true(created);
    }
    /* Touch the oldest so the second becomes least recently seen. */
    struct tw_pkt p0 = mkpkt(1, 2, 1000, 80);
    tw_flow_get(t, &p0, 101, &side, &created);
    assert_false(created);
    struct tw_pkt p5 = mkpkt(1, 2, 2000, 80);
    tw_flow_get(t, &p5, 102, &side, &created);
    assert_true(created);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.active, 4);
    assert_int_equal(released, 1);
    /* 1001 was evicted, 1000 survived. */
    tw_flow_get(t, &p0, 103, &side, &created);
    assert_false(created);
    struct tw_pkt p1 = mkpkt(1, 2, 1001, 80);
    tw_flow_get(t, &p1, 103, &side, &created);
    assert_true(created);
    /* Much later: new flows expire idle ones instead of evicting. */
    struct tw_pkt p6 = mkpkt(1, 2, 3000, 80);
    tw_flow_get(t, &p6, 1000, &side, &created);
    assert_true(created);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.evicted, 2);
    assert_true(st.expired >= 1);
    assert_true(st.active <= 4);
    assert_int_equal(st.created, 7);
    tw_flow_table_free(t);
}

static void test_restart(void **state)
{
    (void)state;
    struct tw_flow_table *t = tw_flow_table_new(2, 10, NULL, NULL);
    struct tw_pkt p = mkpkt(1, 2, 5, 6);
    uint8_t side;
    bool created;
    struct tw_flow *f = tw_flow_get(t, &p, 1, &side, &created);
    uint64_t id = f->id;

    f->state = TW_FLOW_DONE;
    tw_flow_restart(t, f, 2);
    assert_int_equal(f->state, TW_FLOW_NEW);
    assert_true(f->id > id);
    assert_int_equal(f->stream, TW_STREAM_NONE);
    assert_ptr_equal(tw_flow_get(t, &p, 3, &side, &created), f);
    assert_false(created);
    tw_flow_table_free(t);
}

/* A flow found idle past the timeout (nothing was inserted meanwhile to expire it lazily) is
 * a new flow: released once, new id, counted as expired and created; within the timeout it is
 * the same flow. */
static void test_idle_flow_found_is_new(void **state)
{
    (void)state;
    struct tw_flow_table *t = tw_flow_table_new(4, 10, on_release, NULL);
    struct tw_pkt p = mkpkt(1, 2, 5, 6);
    struct tw_flow_table_stats st;
    uint8_t side;
    bool created;
    struct tw_flow *f = tw_flow_get(t, &p, 100, &side, &created);
    uint64_t id = f->id;

    released = 0;
    f->state = TW_FLOW_DONE;
    assert_ptr_equal(tw_flow_get(t, &p, 110, &side, &created), f); /* exactly the timeout */
    assert_false(created);
    assert_int_equal(f->id, id);
    assert_ptr_equal(tw_flow_get(t, &p, 121, &side, &created), f); /* 11 s idle */
    assert_true(created);
    assert_true(f->id != id);
    assert_int_equal(f->state, TW_FLOW_NEW);
    assert_int_equal(released, 1);
    tw_flow_table_get_stats(t, &st);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.active, 1);
    tw_flow_table_free(t);
}

static void test_bad_capacity(void **state)
{
    (void)state;
    assert_null(tw_flow_table_new(0, 10, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symmetric),
        cmocka_unit_test(test_eviction_and_expiry),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_idle_flow_found_is_new),
        cmocka_unit_test(test_bad_capacity),
    };
    return cmocka_run_group_tests_name("flow", tests, NULL, NULL);
}
