/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/ascii.h"
#include "tunwatch/base/common.h"

#include <string.h>

#define ROW(b)                                                                                     \
    (b) + 0, (b) + 1, (b) + 2, (b) + 3, (b) + 4, (b) + 5, (b) + 6, (b) + 7, (b) + 8, (b) + 9,      \
        (b) + 10, (b) + 11, (b) + 12, (b) + 13, (b) + 14, (b) + 15

/* 0x40 '@' stays; 0x41-0x5a 'A'-'Z' become 0x61-0x7a; 0x5b-0x5f stay. */
/* clang-format off */
const uint8_t tw_ascii_lower_table[256] = {
    ROW(0x00), ROW(0x10), ROW(0x20), ROW(0x30),
    0x40, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    ROW(0x60), ROW(0x70), ROW(0x80), ROW(0x90), ROW(0xa0), ROW(0xb0), ROW(0xc0), ROW(0xd0),
    ROW(0xe0), ROW(0xf0),
};
/* clang-format on */
#undef ROW

#define ONES 0x0101010101010101ULL

/* 0x80 in each byte of x (8 bytes) that is an ASCII letter of either case. */
static inline uint64_t letters(uint64_t x)
{
    uint64_t low = x | 0x20 * ONES;                          /* A-Z to a-z, a-z stays */
    uint64_t ge_a = (low | 0x80 * ONES) - 0x61 * ONES;       /* 0x80 where low & 0x7f >= 'a' */
    uint64_t le_z = (0x7a * ONES | 0x80 * ONES) - (low & 0x7f * ONES); /* ... <= 'z' */
    return ge_a & le_z & ~x & 0x80 * ONES;                   /* and below 0x80 */
}

/* x with its bytes A-Z made a-z (0x80 where a byte is in 'A'..'Z', moved to 0x20). */
static inline uint64_t lower8(uint64_t x)
{
    uint64_t ge_a = (x | 0x80 * ONES) - 0x41 * ONES;         /* 0x80 where x & 0x7f >= 'A' */
    uint64_t le_z = (0x5a * ONES | 0x80 * ONES) - (x & 0x7f * ONES); /* ... <= 'Z' */
    return x | (ge_a & le_z & ~x & 0x80 * ONES) >> 2;
}

/* Equal but for case: the bytes that differ differ in bit 0x20 alone, and are letters (in u,
 * then in v too: a letter with bit 0x20 flipped is a letter). */
static inline bool words_eq_nocase(uint64_t u, uint64_t v)
{
    uint64_t d = u ^ v;
    return d == 0 || (d & ~(letters(u) >> 2)) == 0;
}

/*
 * Each of the three below goes eight bytes a step, and takes the last bytes as one word too:
 * the last eight (again, where they overlap the word before: the tests give the same answer
 * twice and the copy writes the same bytes), or, under eight in all, the bytes read in
 * pieces. Names are short: a byte-by-byte tail would take most of their time.
 */
bool tw_ascii_eq_nocase(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;

    if (n < 8)
        return words_eq_nocase(tw_load_short(x, n), tw_load_short(y, n));
    for (size_t i = 0; i + 8 < n; i += 8)
        if (!words_eq_nocase(tw_load64(x + i), tw_load64(y + i)))
            return false;
    return words_eq_nocase(tw_load64(x + n - 8), tw_load64(y + n - 8));
}

void tw_ascii_lower_copy(char *dst, const char *src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;

    if (n < 8) {
        tw_store_short(d, lower8(tw_load_short(s, n)), n);
        return;
    }
    for (size_t i = 0; i + 8 < n; i += 8) {
        uint64_t v = lower8(tw_load64(s + i));
        memcpy(d + i, &v, 8);
    }
    /* In place (dst == src) the overlap reads bytes already lowered: the same again. */
    uint64_t v = lower8(tw_load64(s + n - 8));
    memcpy(d + n - 8, &v, 8);
}

size_t tw_name_normalize(char *dst, const char *src, size_t n)
{
    tw_ascii_lower_copy(dst, src, n);
    if (n > 0 && dst[n - 1] == '.')
        n--;
    dst[n] = '\0';
    return n;
}

bool tw_name_equals_normalized(const char *src, size_t n, const char *norm, size_t norm_len)
{
    const uint8_t *s = (const uint8_t *)src, *m = (const uint8_t *)norm;

    if (n > 0 && src[n - 1] == '.')
        n--;
    if (n != norm_len)
        return false;
    if (n < 8)
        return lower8(tw_load_short(s, n)) == tw_load_short(m, n);
    for (size_t i = 0; i + 8 < n; i += 8)
        if (lower8(tw_load64(s + i)) != tw_load64(m + i))
            return false;
    return lower8(tw_load64(s + n - 8)) == tw_load64(m + n - 8);
}
