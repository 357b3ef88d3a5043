/* SPDX-License-Identifier: MIT */
#include "tunwatch/decode/csum.h"

#include <string.h>

#if defined(__GNUC__)
/* Four 32-bit lanes (SSE2, NEON, or plain code where there are none). */
typedef uint32_t v4u32 __attribute__((vector_size(16)));

/* 32-byte rounds at most before the lanes are emptied: each round adds at most 2 * 0xffff to
 * each lane of both accumulators, so 16384 rounds stay below 2^32 even added together. */
#define VEC_ROUNDS 16384

/* Sums len / 32 rounds of 32 bytes as 16-bit words in the machine's order (each 32-bit lane
 * split in its two halves), adds the total to sum with end-around carry. Returns the new
 * sum; *pp and *lenp move past what was summed. */
static uint64_t sum_vec(const uint8_t **pp, size_t *lenp, uint64_t sum)
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    const v4u32 lo = {0xffff, 0xffff, 0xffff, 0xffff};

    while (len >= 32) {
        size_t n = TW_MIN(len / 32, (size_t)VEC_ROUNDS);
        v4u32 a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
        len -= n * 32;
        while (n-- > 0) {
            v4u32 x, y;
            memcpy(&x, p, 16);
            memcpy(&y, p + 16, 16);
            a += (x & lo) + (x >> 16);
            b += (y & lo) + (y >> 16);
            p += 32;
        }
        a += b;
        uint64_t t = (uint64_t)a[0] + a[1] + a[2] + a[3];
        sum += t;
        sum += sum < t;
    }
    *pp = p;
    *lenp = len;
    return sum;
}
#endif

uint64_t tw_csum_partial(const void *buf, size_t len, uint64_t sum)
{
    const uint8_t *p = buf;
    uint64_t w;

#if defined(__GNUC__)
    if (len >= 64)
        sum = sum_vec(&p, &len, sum);
#endif
    /* 32 bytes a round: four independent 64-bit adds, each carry added back. */
    while (len >= 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        memcpy(&c, p + 16, 8);
        memcpy(&d, p + 24, 8);
        sum += a;
        sum += sum < a;
        sum += b;
        sum += sum < b;
        sum += c;
        sum += sum < c;
        sum += d;
        sum += sum < d;
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        memcpy(&w, p, 8);
        sum += w;
        sum += sum < w;
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        /* The tail, zero-padded to eight bytes: it keeps the byte positions (an odd last
         * byte is the high half of a 16-bit word in network order). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        w = tw_load_short(p, len);
#else
        w = 0;
        memcpy(&w, p, len);
#endif
        sum += w;
        sum += sum < w;
    }
    return sum;
}

uint16_t tw_csum_fold(uint64_t sum)
{
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)sum;
}

/* The sum of n 32-bit words at p (n <= 2^31): no carry leaves the 64-bit sum. */
static inline uint64_t sum_words32(const uint8_t *p, size_t n)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * i, 4);
        sum += w;
    }
    return sum;
}

bool tw_csum_ip4_ok(const uint8_t *h, size_t hl)
{
    /* An IPv4 header is 5 to 15 words of 32 bits: summed as such, without the loop and tail
     * handling of tw_csum_partial() (every packet checked passes here). */
    uint64_t sum = sum_words32(h, hl / 4);

    if (hl % 4 != 0)
        sum = tw_csum_partial(h + hl / 4 * 4, hl % 4, sum);
    return tw_csum_fold(sum) == 0xffff;
}

uint64_t tw_csum_pseudo(uint8_t version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                        uint32_t l4_len)
{
    size_t words = version == 4 ? 1 : 4;
    uint8_t tail[8] = {(uint8_t)(l4_len >> 24), (uint8_t)(l4_len >> 16), (uint8_t)(l4_len >> 8),
                       (uint8_t)l4_len, 0, 0, 0, proto};
    /* IPv4: zero, protocol, 16-bit length; IPv6: 32-bit length, three zeros, next header.
     * Both sum the same as the 8 bytes above (the length's upper half is zero for IPv4). */
    return sum_words32(src, words) + sum_words32(dst, words) + sum_words32(tail, 2);
}

/* Both bytes of a folded sum in network order, inverted, at out. */
static void store_inverted(uint16_t folded, uint8_t *out)
{
    uint16_t v = (uint16_t)~folded;
    memcpy(out, &v, 2);
}

void tw_csum_l4_fill(uint8_t version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     uint8_t *l4, uint32_t l4_len, uint8_t *out)
{
    out[0] = out[1] = 0;
    uint64_t sum = tw_csum_partial(l4, l4_len, tw_csum_pseudo(version, src, dst, proto, l4_len));
    uint16_t f = tw_csum_fold(sum);
    store_inverted(f, out);
    if (proto == 17 && out[0] == 0 && out[1] == 0) /* UDP sends 0 as all ones (RFC 768) */
        out[0] = out[1] = 0xff;
}

void tw_csum_ip4_fill(uint8_t *h, size_t hl)
{
    h[10] = h[11] = 0;
    store_inverted(tw_csum_fold(tw_csum_partial(h, hl, 0)), h + 10);
}
