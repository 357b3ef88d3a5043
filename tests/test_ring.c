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

/* Both sides either yield when the ring is full or empty, or sleep in the ring's waits
 * (the producer notifies every `batch` records, the consumer after every `batch` releases). */
struct side {
    struct tw_ring *r;
    bool wait;
    unsigned batch;
};

static void *producer(void *arg)
{
    const struct side *sd = arg;
    struct tw_ring *r = sd->r;

    for (uint32_t i = 0; i < RECORDS; i++) {
        size_t n = rec_len(i);
        uint8_t *p;
        while ((p = tw_ring_reserve(r, n + 4)) == NULL) {
            if (!sd->wait) {
                sched_yield();
                continue;
            }
            tw_ring_notify(r);
            tw_ring_wait_space(r, n + 4, 1000);
        }
        memcpy(p, &i, 4);
        memset(p + 4, (int)(i & 0xff), n);
        tw_ring_commit(r);
        if (sd->wait && (i + 1) % sd->batch == 0)
            tw_ring_notify(r);
    }
    tw_ring_close(r);
    return NULL;
}

static void run_two_threads(bool wait, unsigned batch)
{
    struct tw_ring r;
    pthread_t th;
    uint32_t want = 0;
    struct side sd = {&r, wait, batch};

    assert_int_equal(tw_ring_init(&r, 1u << 14), 0);
    assert_int_equal(pthread_create(&th, NULL, producer, &sd), 0);
    while (!tw_ring_finished(&r)) {
        size_t n;
        const uint8_t *p = tw_ring_peek(&r, &n);
        if (p == NULL) {
            if (wait) {
                tw_ring_notify_space(&r);
                tw_ring_wait_data(&r, 1000);
            } else {
                sched_yield();
            }
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
        if (wait && want % batch == 0)
            tw_ring_notify_space(&r);
    }
    pthread_join(th, NULL);
    assert_int_equal(want, RECORDS);
    tw_ring_destroy(&r);
}

static void test_two_threads(void **state)
{
    (void)state;
    run_two_threads(false, 1);
}

/* The same with sleeping sides: every record arrives, in order, and the run ends (a lost
 * wake-up would cost a 1 s timeout each, 200,000 records would not end in time for the test
 * runner). */
static void test_two_threads_waiting(void **state)
{
    (void)state;
    run_two_threads(true, 1);
    run_two_threads(true, 64);
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
        cmocka_unit_test(test_two_threads_waiting),
    };
    return tw_run_tests_name("ring", tests, NULL, NULL);
}
