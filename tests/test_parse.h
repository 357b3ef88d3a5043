/* SPDX-License-Identifier: MIT */
/* Checks shared by the parser tests' table drills; include after <cmocka.h>. */
#ifndef TUNWATCH_TEST_PARSE_H
#define TUNWATCH_TEST_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Fails naming the table case's line and the input length being tried. */
static inline void expect(bool ok, int line, size_t k, const char *what)
{
    if (!ok)
        fail_msg("case line %d, length %zu: %s", line, k, what);
}
#define EXPECT(line, k, cond) expect((cond), (line), (k), #cond)

/* Whether a slice lies inside buf[0..n) and holds exactly `want` (NULL: the slice is empty). */
static inline bool slice_is(const uint8_t *p, size_t len, const uint8_t *buf, size_t n,
                            const char *want)
{
    if (want == NULL)
        return p == NULL && len == 0;
    return p != NULL && p >= buf && len <= n && (size_t)(p - buf) <= n - len &&
           len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Whether p[0..n) is all zero bytes (an output reset on entry, or left untouched). */
static inline bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

#endif /* TUNWATCH_TEST_PARSE_H */
