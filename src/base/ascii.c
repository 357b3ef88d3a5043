/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/ascii.h"

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

bool tw_ascii_eq_nocase(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        uint64_t d = u ^ v;
        /* Equal but for case: the bytes that differ differ in bit 0x20 alone, and are letters
         * (in u, then in v too: a letter with bit 0x20 flipped is a letter). */
        if (d != 0 && (d & ~(letters(u) >> 2)) != 0)
            return false;
    }
    for (; i < n; i++)
        if (tw_ascii_lower(x[i]) != tw_ascii_lower(y[i]))
            return false;
    return true;
}

void tw_ascii_lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tw_ascii_lower((uint8_t)src[i]);
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
    if (n > 0 && src[n - 1] == '.')
        n--;
    if (n != norm_len)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((char)tw_ascii_lower((uint8_t)src[i]) != norm[i])
            return false;
    return true;
}
