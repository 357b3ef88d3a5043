/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka tests; include after <cmocka.h>. */
#ifndef TUNWATCH_TEST_UTIL_H
#define TUNWATCH_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic time in nanoseconds, for the timings some tests print. */
static inline double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Copies p[0..n) into an exact-size heap buffer, so that ASan sees a one-byte over-read. */
static inline void *exact_copy(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);

    assert_non_null(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

#endif /* TUNWATCH_TEST_UTIL_H */
