/* SPDX-License-Identifier: MIT */
/*
 * tunwatch - common definitions: error codes and the bounded read cursor
 * every wire parser uses.
 *
 * A cursor never reads past `end`. A read that does not fit sets the sticky
 * `err` flag and returns 0; callers check `err` once per layer instead of
 * after every read. Integers are assembled from bytes (no pointer casts onto
 * packet data), so unaligned input is fine.
 */
#ifndef TUNWATCH_COMMON_H
#define TUNWATCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes. Functions that act return 0 (or bytes consumed) or one of these. */
#define TW_OK 0
#define TW_EMALFORMED (-1)  /* input violates the format: count it, drop it */
#define TW_EINCOMPLETE (-2) /* input is a valid prefix: more bytes needed */
#define TW_ENOMEM (-3)      /* a bounded table or buffer is full */
#define TW_EIO (-4)         /* read/write error, errno holds the reason */
#define TW_EINVAL (-5)      /* bad argument or configuration */
#define TW_ENOTSUP (-6)     /* valid but not supported (yet) */
#define TW_ESKIP (-7)       /* valid, but nothing for us here (not IP, not TCP/UDP, ...) */
#define TW_EOF (-8)         /* end of input (a capture file read to its end) */

#define TW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TW_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TW_CACHE_LINE 64

/* For lists of X(ID, "name") entries (TW_TLS_FLAGS, TW_DNS_ODDITIES): the enum constant, and
 * its name as a designated initializer of a table indexed by it. */
#define TW_X_ENUM(id, name) id,
#define TW_X_NAME(id, name) [id] = name,

#if defined(__GNUC__)
#define TW_LIKELY(x) __builtin_expect(!!(x), 1)
#define TW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TW_LIKELY(x) (x)
#define TW_UNLIKELY(x) (x)
#endif

/* Longest DNS/SNI name kept, in presentation form, including the NUL.
 * 255 wire octets where every label byte may become a 4-char \DDD escape. */
#define TW_NAME_MAX 1100

struct tw_cur {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

static inline void tw_cur_init(struct tw_cur *c, const uint8_t *buf, size_t len)
{
    c->p = buf;
    c->end = buf + len;
    c->err = false;
}

static inline size_t tw_cur_left(const struct tw_cur *c)
{
    return (size_t)(c->end - c->p);
}

static inline bool tw_cur_need(struct tw_cur *c, size_t n)
{
    if (TW_UNLIKELY(c->err || tw_cur_left(c) < n)) {
        c->err = true;
        return false;
    }
    return true;
}

static inline uint8_t tw_get_u8(struct tw_cur *c)
{
    if (!tw_cur_need(c, 1))
        return 0;
    return *c->p++;
}

static inline uint16_t tw_get_be16(struct tw_cur *c)
{
    if (!tw_cur_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)((uint16_t)c->p[0] << 8 | c->p[1]);
    c->p += 2;
    return v;
}

static inline uint32_t tw_get_be24(struct tw_cur *c)
{
    if (!tw_cur_need(c, 3))
        return 0;
    uint32_t v = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
    c->p += 3;
    return v;
}

static inline uint32_t tw_get_be32(struct tw_cur *c)
{
    if (!tw_cur_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 |
                 c->p[3];
    c->p += 4;
    return v;
}

/* Little-endian 32-bit read (BSD loopback headers are host order of the capturer). */
static inline uint32_t tw_get_le32(struct tw_cur *c)
{
    if (!tw_cur_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[3] << 24 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[1] << 8 |
                 c->p[0];
    c->p += 4;
    return v;
}

static inline void tw_skip(struct tw_cur *c, size_t n)
{
    if (tw_cur_need(c, n))
        c->p += n;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and err) if they are not there. */
static inline const uint8_t *tw_get_bytes(struct tw_cur *c, size_t n)
{
    if (!tw_cur_need(c, n))
        return NULL;
    const uint8_t *r = c->p;
    c->p += n;
    return r;
}

/* Splits off the next n bytes as a sub-cursor and advances the parent past them.
 * If they are not there, the parent's err is set and the child is empty with err set. */
static inline struct tw_cur tw_cur_sub(struct tw_cur *c, size_t n)
{
    struct tw_cur s;
    if (!tw_cur_need(c, n)) {
        s.p = s.end = c->p;
        s.err = true;
        return s;
    }
    s.p = c->p;
    s.end = c->p + n;
    s.err = false;
    c->p += n;
    return s;
}

/* 64-bit finaliser (splitmix64): every input bit affects every output bit. For hash tables. */
static inline uint64_t tw_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint64_t tw_rotl64(uint64_t x, unsigned r)
{
    return (x << (r & 63)) | (x >> ((64 - r) & 63));
}

/* 8 bytes at p in this machine's byte order (for hashing), any alignment. */
static inline uint64_t tw_load64(const uint8_t *p)
{
    uint64_t v;

    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}

/*
 * n < 8 bytes at p gathered into one word, the rest zero, in loads of 4, 2 and 1 (a copy of a
 * variable length is a call): the word's bytes in memory, on a little-endian machine, are
 * p[0..n) then zeros. tw_store_short() puts such a word's n bytes back.
 */
static inline uint64_t tw_load_short(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t o = 0;

    if (n & 4) {
        uint32_t x;
        __builtin_memcpy(&x, p, 4);
        v = x;
        o = 4;
    }
    if (n & 2) {
        uint16_t x;
        __builtin_memcpy(&x, p + o, 2);
        v |= (uint64_t)x << (8 * o);
        o += 2;
    }
    if (n & 1)
        v |= (uint64_t)p[o] << (8 * o);
    return v;
}

static inline void tw_store_short(uint8_t *p, uint64_t v, size_t n)
{
    size_t o = 0;

    if (n & 4) {
        uint32_t x = (uint32_t)v;
        __builtin_memcpy(p, &x, 4);
        o = 4;
    }
    if (n & 2) {
        uint16_t x = (uint16_t)(v >> (8 * o));
        __builtin_memcpy(p + o, &x, 2);
        o += 2;
    }
    if (n & 1)
        p[o] = (uint8_t)(v >> (8 * o));
}

static inline uint16_t tw_load_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t tw_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Position of byte c in lab[0..n), sorted ascending and without repeats (the edge labels of a
 * trie or automaton node), or n when it is not there: a scan for short lists, a binary search
 * for long ones.
 */
static inline size_t tw_sorted_byte_find(const uint8_t *lab, size_t n, uint8_t c)
{
    size_t lo = 0, hi = n;

    if (n <= 8) {
        for (size_t i = 0; i < n; i++)
            if (lab[i] == c)
                return i;
        return n;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (lab[mid] < c)
            lo = mid + 1;
        else if (lab[mid] > c)
            hi = mid;
        else
            return mid;
    }
    return n;
}

/* A hint inside a spin-wait loop (x86 pause, Arm yield): eases the sibling hardware thread. */
static inline void tw_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* TUNWATCH_COMMON_H */
