/* SPDX-License-Identifier: MIT */
/* A bounded byte builder for the tests that assemble wire messages; include after <cmocka.h>. */
#ifndef TUNWATCH_TEST_BYTES_H
#define TUNWATCH_TEST_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct bb {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static inline void put8(struct bb *b, unsigned v)
{
    assert_true(b->len < b->cap);
    b->p[b->len++] = (uint8_t)v;
}

static inline void put16(struct bb *b, unsigned v)
{
    put8(b, v >> 8 & 0xff);
    put8(b, v & 0xff);
}

static inline void putn(struct bb *b, const void *d, size_t n)
{
    assert_true(b->cap - b->len >= n);
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

#endif /* TUNWATCH_TEST_BYTES_H */
