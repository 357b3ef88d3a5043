/* SPDX-License-Identifier: MIT */
/* Community ID v1 flow hash and the SHA-1 it needs (no crypto library is linked). */
#include "tunwatch/flow/communityid.h"

#include <string.h>

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMP6 58
#define PROTO_SCTP 132

static uint32_t rol32(uint32_t x, unsigned n)
{
    return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];

    for (int i = 0; i < 16; i++)
        w[i] = tw_load_be32(p + 4 * i);
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void tw_sha1(const void *data, size_t len, uint8_t digest[TW_SHA1_LEN])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const uint8_t *p = data;
    size_t left = len;

    for (; left >= 64; left -= 64, p += 64)
        sha1_block(h, p);

    /* The tail, 0x80, zeros and the 64-bit bit length: one block, or two if the tail
     * leaves fewer than 9 bytes for the marker and the length. */
    uint8_t tail[128] = {0};
    size_t tlen = left < 56 ? 64 : 128;
    if (left > 0)
        memcpy(tail, p, left);
    tail[left] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tlen == 128)
        sha1_block(h, tail + 64);

    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
}

/*
 * ICMP and ICMPv6 types that have a counterpart (request/reply), the table of the spec's
 * reference implementation (pycommunityid icmp.py/icmp6.py, which mirrors Zeek).
 * Returns true and the counterpart in *peer for a two-way type.
 */
static bool icmp_counterpart(uint8_t proto, uint16_t type, uint16_t *peer)
{
    /* Each pair is (a, b): a maps to b and b to a. */
    static const uint8_t v4[][2] = {
        {8, 0},   /* echo, echo reply */
        {13, 14}, /* timestamp, timestamp reply */
        {15, 16}, /* information request, reply */
        {10, 9},  /* router solicitation, router advertisement */
        {17, 18}, /* address mask request, reply */
    };
    static const uint8_t v6[][2] = {
        {128, 129}, /* echo request, echo reply */
        {130, 131}, /* multicast listener query, report */
        {133, 134}, /* router solicitation, router advertisement */
        {135, 136}, /* neighbor solicitation, neighbor advertisement */
        {139, 140}, /* node information query, reply */
        {144, 145}, /* home agent address discovery request, reply */
    };
    const uint8_t(*pairs)[2] = proto == PROTO_ICMP ? v4 : v6;
    size_t n = proto == PROTO_ICMP ? TW_ARRAY_SIZE(v4) : TW_ARRAY_SIZE(v6);

    for (size_t i = 0; i < n; i++) {
        if (pairs[i][0] == type || pairs[i][1] == type) {
            *peer = pairs[i][0] == type ? pairs[i][1] : pairs[i][0];
            return true;
        }
    }
    return false;
}

static void base64(const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = alphabet[v >> 18 & 0x3f];
        out[o++] = alphabet[v >> 12 & 0x3f];
        out[o++] = i + 1 < len ? alphabet[v >> 6 & 0x3f] : '=';
        out[o++] = i + 2 < len ? alphabet[v & 0x3f] : '=';
    }
    out[o] = '\0';
}

int tw_community_id(uint16_t seed, uint8_t ip_version, const uint8_t src[16], const uint8_t dst[16],
                    uint8_t proto, uint16_t sport, uint16_t dport, char *out, size_t cap)
{
    if (out == NULL)
        return TW_EINVAL;
    if (cap < TW_COMMUNITY_ID_LEN || (ip_version != 4 && ip_version != 6) || src == NULL ||
        dst == NULL) {
        if (cap > 0)
            out[0] = '\0';
        return TW_EINVAL;
    }

    size_t alen = ip_version == 4 ? 4 : 16;
    bool ports = proto == PROTO_TCP || proto == PROTO_UDP || proto == PROTO_SCTP ||
                 proto == PROTO_ICMP || proto == PROTO_ICMP6;
    bool one_way = false;

    if (proto == PROTO_ICMP || proto == PROTO_ICMP6) {
        uint16_t peer;
        if (icmp_counterpart(proto, sport, &peer))
            dport = peer;
        else
            one_way = true; /* type and code stay as they are, and so does the direction */
    }

    /* The lower (address, port) endpoint goes first; addresses compare as big-endian bytes. */
    int cmp = memcmp(src, dst, alen);
    bool keep = one_way || cmp < 0 || (cmp == 0 && ports && sport < dport);
    const uint8_t *a1 = keep ? src : dst, *a2 = keep ? dst : src;
    uint16_t p1 = keep ? sport : dport, p2 = keep ? dport : sport;

    uint8_t buf[2 + 16 + 16 + 4 + 4];
    size_t n = 0;
    buf[n++] = (uint8_t)(seed >> 8);
    buf[n++] = (uint8_t)seed;
    memcpy(buf + n, a1, alen);
    n += alen;
    memcpy(buf + n, a2, alen);
    n += alen;
    buf[n++] = proto;
    buf[n++] = 0;
    if (ports) {
        buf[n++] = (uint8_t)(p1 >> 8);
        buf[n++] = (uint8_t)p1;
        buf[n++] = (uint8_t)(p2 >> 8);
        buf[n++] = (uint8_t)p2;
    }

    uint8_t digest[TW_SHA1_LEN];
    tw_sha1(buf, n, digest);
    out[0] = '1';
    out[1] = ':';
    base64(digest, sizeof(digest), out + 2);
    return 0;
}
