/* SPDX-License-Identifier: MIT */
/* Checks shared by the parser fuzz targets: a broken contract aborts, for libFuzzer to report. */
#ifndef TUNWATCH_FUZZ_UTIL_H
#define TUNWATCH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Whether p[0..n) is all zero bytes (an output reset on entry and left unfilled). */
static inline bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* p[0..len) inside lo[0..n), and p NULL exactly when len is 0. */
static inline void check_slice(const uint8_t *p, size_t len, const uint8_t *lo, size_t n)
{
    if (p == NULL) {
        if (len != 0)
            abort();
        return;
    }
    if (len == 0 || p < lo || len > n || (size_t)(p - lo) > n - len)
        abort();
}

#endif /* TUNWATCH_FUZZ_UTIL_H */
