/* SPDX-License-Identifier: MIT */
/* SPSC ring: records of every size survive wrap-around in order, across two threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/run/ring.h"

#define RECORDS 200000u

static size_t rec_len(uint32_t i)
{
    return (i * 7919u) % 1500u; /* 0..1499 bytes, including empty records */
}

static void *producer(void *arg)
{
    struct tw_ring *r = arg;

    for (uint32_t i = 0; i < RECORDS; i++) {
        size_t n = rec_len(i);
        uint8_t *p;
        while ((p = tw_ring_reserve(r, n + 4)) == NULL)
            sched_yield();
        memcpy(p, &i, 4);
        memset(p + 4, (int)(i & 0xff), n);
        tw_ring_commit(r);
    }
    tw_ring_close(r);
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    struct tw_ring r;
    pthread_t th;
    uint32_t want = 0;

    assert_int_equal(tw_ring_init(&r, 1u << 14), 0);
    assert_int_equal(pthread_create(&th, NULL, producer, &r), 0);
    while (!tw_ring_finished(&r)) {
        size_t n;
        const uint8_t *p = tw_ring_peek(&r, &n);
        if (p == NULL) {
            sched_yield();
            continue;
        }
        uint32_t got;
        memcpy(&got, p, 4);
        assert_int_equal(got, want);
        assert_int_equal(n, rec_len(want) + 4);
        for (size_t k = 4; k < n; k++)
            if (p[k] != (uint8_t)(want & 0xff))
                fail_msg("record %u byte %zu", want, k);
        tw_ring_release(&r);
        want++;
    }
    pthread_join(th, NULL);
    assert_int_equal(want, RECORDS);
    tw_ring_destroy(&r);
}

static void test_limits(void **state)
{
    (void)state;
    struct tw_ring r;

    assert_int_equal(tw_ring_init(&r, 1000), TW_EINVAL); /* not a power of two */
    assert_int_equal(tw_ring_init(&r, 4096), 0);
    assert_null(tw_ring_reserve(&r, 4096)); /* can never fit */
    assert_non_null(tw_ring_reserve(&r, 1000));
    tw_ring_commit(&r);
    assert_non_null(tw_ring_reserve(&r, 1000));
    tw_ring_commit(&r);
    assert_null(tw_ring_reserve(&r, 2100)); /* full: the consumer has to catch up */
    size_t n;
    assert_non_null(tw_ring_peek(&r, &n));
    assert_int_equal(n, 1000);
    tw_ring_release(&r);
    assert_false(tw_ring_finished(&r));
    tw_ring_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_two_threads),
    };
    return tw_run_tests_name("ring", tests, NULL, NULL);
}
