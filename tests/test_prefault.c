/* SPDX-License-Identifier: MIT */
/* The prefaulter: regions mapped whole or a distance past their use, contents kept while the
 * owner writes, a stop that does not wait for the rest. Residency is read with mincore(2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/prefault.h"

#define MIB ((size_t)1 << 20)

/* Pages of [p + from, p + to) resident. */
static size_t resident(const uint8_t *p, size_t from, size_t to)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (to - from) / page, in = 0;
    unsigned char *vec = malloc(n ? n : 1);

    assert_non_null(vec);
    assert_int_equal(mincore((void *)(p + from), to - from, vec), 0);
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    return in * page;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits (up to 20 s: the thread runs at the lowest priority) until [p, p + len) is resident. */
static void wait_resident(const uint8_t *p, size_t len)
{
    double t0 = now();

    while (resident(p, 0, len) < len) {
        if (now() - t0 > 20)
            fail_msg("%zu of %zu bytes mapped after 20 s", resident(p, 0, len), len);
        usleep(1000);
    }
}

/* A table of len bytes, none of it mapped yet, and a prefaulter mapping it whole, started. */
static struct tw_prefault *whole_started(size_t len, uint8_t **t)
{
    struct tw_prefault *pf = tw_prefault_new();

    *t = tw_table_alloc(len);
    assert_non_null(*t);
    assert_non_null(pf);
    assert_int_equal(resident(*t, 0, len), 0);
    assert_int_equal(tw_prefault_add(pf, *t, len, NULL, 0, 0), 0);
    assert_int_equal(tw_prefault_start(pf), 0);
    return pf;
}

/* A region without a count is mapped whole, zeroed. */
static void test_whole(void **state)
{
    (void)state;
    const size_t len = 8 * MIB;
    uint8_t *t;
    struct tw_prefault *pf = whole_started(len, &t);

    wait_resident(t, len);
    tw_prefault_free(pf);
    for (size_t i = 0; i < len; i++)
        if (t[i] != 0)
            fail_msg("byte %zu is %u", i, t[i]);
    tw_table_free(t, len);
}

/* A counted region is mapped `ahead` past its use, in whole 2 MiB steps, and what its owner
 * wrote meanwhile stays. */
static void test_ahead(void **state)
{
    (void)state;
    const size_t len = 32 * MIB, elem = 4096;
    uint8_t *t = tw_table_alloc(len);
    struct tw_prefault *pf = tw_prefault_new();
    uint32_t used = 0;

    assert_non_null(t);
    assert_non_null(pf);
    assert_int_equal(tw_prefault_add(pf, t, len, &used, elem, 2 * MIB), 0);
    assert_int_equal(tw_prefault_start(pf), 0);
    wait_resident(t, 2 * MIB);
    usleep(50000);
    assert_int_equal(resident(t, 2 * MIB, len), 0);

    /* The owner writes its first MiB and counts 1024 elements (4 MiB) in use. */
    for (size_t i = 0; i < MIB; i++)
        t[i] = (uint8_t)(i * 7 + 1);
    tw_prefault_count_set(&used, 1024);
    wait_resident(t, 6 * MIB);
    usleep(50000);
    assert_int_equal(resident(t, 6 * MIB, len), 0);
    for (size_t i = 0; i < MIB; i++)
        if (t[i] != (uint8_t)(i * 7 + 1))
            fail_msg("byte %zu changed", i);
    for (size_t i = MIB; i < 6 * MIB; i++)
        if (t[i] != 0)
            fail_msg("byte %zu is %u", i, t[i]);

    /* Past the end: the whole region, no further. */
    tw_prefault_count_set(&used, (uint32_t)(len / elem) + 100);
    wait_resident(t, len);
    tw_prefault_free(pf);
    tw_table_free(t, len);
}

/* Stopping waits for the call under way (one huge page), not for the rest of the regions. */
static void test_stop(void **state)
{
    (void)state;
    const size_t len = 1024 * MIB;
    uint8_t *t;
    struct tw_prefault *pf = whole_started(len, &t);

    usleep(20000);
    double t0 = now();
    tw_prefault_free(pf);
    assert_true(now() - t0 < 1.0);
    assert_true(resident(t, 0, len) < len);
    tw_table_free(t, len);
}

/* No region: no thread. Regions up to TW_PREFAULT_REGIONS; an empty one is not one. */
static void test_regions(void **state)
{
    (void)state;
    static uint8_t mem[4096];
    struct tw_prefault *pf = tw_prefault_new();

    assert_non_null(pf);
    assert_int_equal(tw_prefault_start(pf), 0);
    tw_prefault_free(pf);
    tw_prefault_free(NULL);

    pf = tw_prefault_new();
    assert_non_null(pf);
    assert_int_equal(tw_prefault_add(pf, NULL, 4096, NULL, 0, 0), 0);
    assert_int_equal(tw_prefault_add(pf, mem, 0, NULL, 0, 0), 0);
    for (int i = 0; i < TW_PREFAULT_REGIONS; i++)
        assert_int_equal(tw_prefault_add(pf, mem, sizeof(mem), NULL, 0, 0), 0);
    assert_int_equal(tw_prefault_add(pf, mem, sizeof(mem), NULL, 0, 0), TW_ENOMEM);
    tw_prefault_free(pf); /* never started */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_ahead),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
