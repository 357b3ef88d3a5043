/* SPDX-License-Identifier: MIT */
/*
 * ASCII case folding and the normal form names are matched in. One helper of each kind, used by
 * every stage: DNS names and SNI are compared byte-wise with only A-Z folded (RFC 4343: DNS
 * case-insensitivity is ASCII only), whatever the locale, and bytes >= 0x80 are left as they are.
 */
#ifndef TUNWATCH_ASCII_H
#define TUNWATCH_ASCII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every byte, with A-Z mapped to a-z: one load per byte on the matching paths. */
extern const uint8_t tw_ascii_lower_table[256];

/* c with A-Z mapped to a-z; every other byte unchanged. */
static inline uint8_t tw_ascii_lower(uint8_t c)
{
    return tw_ascii_lower_table[c];
}

static inline bool tw_ascii_alpha(uint8_t c)
{
    return (unsigned)(c | 0x20) - 'a' < 26u;
}

static inline bool tw_ascii_alnum(uint8_t c)
{
    return tw_ascii_alpha(c) || (unsigned)c - '0' < 10u;
}

/* dst[0..n) = src[0..n) lowercased (dst may equal src). */
void tw_ascii_lower_copy(char *dst, const char *src, size_t n);

/* Whether a[0..n) and b[0..n) are the same bytes with A-Z and a-z taken as one (every other
 * byte compared as it is): eight bytes a step. */
bool tw_ascii_eq_nocase(const void *a, const void *b, size_t n);

/*
 * The form rules match names in (Sigma: case-insensitive; DESIGN: one trailing dot removed):
 * src[0..n) ASCII-lowercased, one trailing dot dropped, NUL-terminated in dst, which must hold
 * n + 1 bytes. Returns the normalised length (n or n - 1).
 */
size_t tw_name_normalize(char *dst, const char *src, size_t n);

/* Whether src[0..n), normalised as tw_name_normalize() does, equals norm[0..norm_len). */
bool tw_name_equals_normalized(const char *src, size_t n, const char *norm, size_t norm_len);

#endif /* TUNWATCH_ASCII_H */
