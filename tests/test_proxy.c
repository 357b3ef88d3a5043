/* SPDX-License-Identifier: MIT */
/*
 * Tests for the proxy preamble parsers (src/proto/proxy.c): PROXY protocol
 * v1 and v2, the HTTP CONNECT request header, and the classifier.
 *
 * Every case runs whole and at every prefix length, each input copied into
 * an exact-size heap buffer so AddressSanitizer sees a one-byte over-read.
 * The parsers are called again on the whole buffer as bytes arrive, so the
 * prefixes are what byte-by-byte arrival looks like: a valid header must be
 * TW_EINCOMPLETE at every length short of its end and give the same result
 * at every length from there on (bytes after the header do not matter); an
 * invalid one must never succeed. Each call starts from a dirty *out, and
 * the input is compared afterwards to show it was not written.
 */
#include "tunwatch/proto/proxy.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_parse.h"

#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"
#define IN(s) .in = (s), .in_len = sizeof(s) - 1
#define OK 1 /* expected rc: success, the header being the input without its trail */
#define BUF_MAX 10000

/* What follows a header in the cases with a trail: the start of a TLS ClientHello record. */
static const uint8_t trail_bytes[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};

static uint8_t built[BUF_MAX];

/* ------------------------------------------------------------------ PROXY */

struct proxy_want {
    uint8_t version, command, family, transport;
    bool has_addr;
    const char *src, *dst; /* inet_pton text, of the family */
    uint16_t sport, dport;
    const char *src_path, *dst_path; /* UNIX; NULL: empty */
    size_t tlv_len;
    unsigned n_tlv;
    unsigned flags;
};

struct proxy_case {
    int line;
    const char *in; /* v1: the input; v2: the block after the 16-byte fixed part */
    size_t in_len;
    bool v2;
    uint8_t ver_cmd, fam;
    const char *usrc, *udst; /* v2: UNIX paths, each NUL-padded to 108 bytes, ahead of `in` */
    size_t pad;              /* v2: zero bytes after `in` */
    long len_adj;            /* v2: added to the length field, which is otherwise the block's */
    size_t trail;            /* bytes of trail_bytes after the header */
    size_t hdr_len;          /* 0, or the header length the case is built to have */
    int rc;                  /* OK, TW_EINCOMPLETE or TW_EMALFORMED for the whole input */
    struct proxy_want w;
};

/* The expectation for a well-formed v1 TCP4 or TCP6 line. */
#define TCP4(s, d, sp, dp)                                                                         \
    {                                                                                              \
        1, 1, TW_PROXY_AF_INET, TW_PROXY_TP_STREAM, true, s, d, sp, dp                             \
    }
#define TCP6(s, d, sp, dp)                                                                         \
    {                                                                                              \
        1, 1, TW_PROXY_AF_INET6, TW_PROXY_TP_STREAM, true, s, d, sp, dp                            \
    }

static const struct proxy_case proxy_cases[] = {
    /* v1 */
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"), .trail = 10, .rc = OK,
     .w = TCP4("192.0.2.1", "198.51.100.7", 56324, 443)},
    {__LINE__, IN("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), .rc = OK,
     .w = TCP4("0.0.0.0", "255.255.255.255", 0, 65535)},
    {__LINE__, IN("PROXY TCP6 2001:db8::1 2001:db8:0:1::2 40000 8443\r\n"), .trail = 6, .rc = OK,
     .w = TCP6("2001:db8::1", "2001:db8:0:1::2", 40000, 8443)},
    {__LINE__, IN("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"), .rc = OK,
     .w = TCP6("::ffff:192.0.2.1", "::1", 1, 2)},
    {__LINE__, IN("PROXY UNKNOWN\r\n"), .trail = 10, .rc = OK, .w = {.version = 1, .command = 1}},
    {__LINE__, IN("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:fff0 65535 65535\r\n"), .rc = OK,
     .w = {.version = 1, .command = 1}},
    /* the longest line the specification allows (107 bytes), a valid TCP6 one */
    {__LINE__,
     IN("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:1 65535 65535\r\n"),
     .hdr_len = 107, .trail = 3, .rc = OK,
     .w = TCP6("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
               "ffff:ffff:ffff:ffff:ffff:ffff:ffff:1", 65535, 65535)},
    /* one byte longer: the LF is the 108th byte */
    {__LINE__,
     IN("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:12 65535 65535\r\n"),
     .hdr_len = 108, .rc = TW_EMALFORMED},
    /* no LF yet, short of the bound: more may come */
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN("PROX"), .rc = TW_EINCOMPLETE},
    /* oddities the engine has always let through: consumed, and flagged */
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\n"), .trail = 4, .rc = OK,
     .w = {1, 1, TW_PROXY_AF_INET, 1, true, "192.0.2.1", "198.51.100.7", 56324, 443,
           .flags = TW_PROXY_F_NO_CR}},
    {__LINE__, IN("PROXY \r\n"), .rc = OK, .w = {1, 1, .flags = TW_PROXY_F_PROTO}},
    {__LINE__, IN("PROXY \n"), .rc = OK, .w = {1, 1, .flags = TW_PROXY_F_PROTO | TW_PROXY_F_NO_CR}},
    {__LINE__, IN("PROXY garbage\r\n"), .rc = OK, .w = {1, 1, .flags = TW_PROXY_F_PROTO}},
    {__LINE__, IN("PROXY tcp4 192.0.2.1 198.51.100.7 1 2\r\n"), .rc = OK,
     .w = {1, 1, .flags = TW_PROXY_F_PROTO}},
    {__LINE__, IN("PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n"), .rc = OK,
     .w = {1, 1, .flags = TW_PROXY_F_PROTO}},
    {__LINE__, IN("PROXY UNKNOWNX\r\n"), .rc = OK, .w = {1, 1, .flags = TW_PROXY_F_PROTO}},
    {__LINE__, IN("PROXY TCP4\r\n"), .rc = OK, .w = {1, 1, 1, 1, .flags = TW_PROXY_F_FIELDS}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_FIELDS}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 3\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_FIELDS}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_FIELDS}},
    {__LINE__, IN("PROXY TCP4  192.0.2.1 198.51.100.7 1 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_FIELDS}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1  198.51.100.7 1\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_FIELDS | TW_PROXY_F_ADDR | TW_PROXY_F_PORT}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 2001:db8::1 1 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__, IN("PROXY TCP6 192.0.2.1 2001:db8::1 1 2\r\n"), .rc = OK,
     .w = {1, 1, 2, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__, IN("PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__, IN("PROXY TCP4 192.0.2.256 198.51.100.7 1 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1\0 198.51.100.7 1 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 65536 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_PORT}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 0443 2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_PORT}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 1 +2\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_PORT}},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\r\r\n"), .rc = OK,
     .w = {1, 1, 1, 1, .flags = TW_PROXY_F_PORT}},
    /* not PROXY at all */
    {__LINE__, IN("PROXy TCP4"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET / HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("\x16\x03\x01\x02\x00\x01"), .rc = TW_EMALFORMED},

    /* v2, PROXY command */
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .trail = 10, .hdr_len = 28, .rc = OK,
     .w = {2, 1, 1, 1, true, "192.0.2.1", "198.51.100.7", 56324, 443}},
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\x00\x35\x00\x35"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x12, .rc = OK,
     .w = {2, 1, 1, TW_PROXY_TP_DGRAM, true, "192.0.2.1", "198.51.100.7", 53, 53}},
    {__LINE__,
     IN("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
        "\x20\x01\x0d\xb8\0\0\0\x01\0\0\0\0\0\0\0\x02"
        "\x9c\x40\x20\xfb"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x21, .trail = 10, .hdr_len = 52, .rc = OK,
     .w = {2, 1, 2, 1, true, "2001:db8::1", "2001:db8:0:1::2", 40000, 8443}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x31, .usrc = "/run/client.sock",
     .udst = "/run/haproxy/backend.sock", .trail = 10, .hdr_len = 232, .rc = OK,
     .w = {2, 1, 3, 1, true, .src_path = "/run/client.sock",
           .dst_path = "/run/haproxy/backend.sock"}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x32, .usrc = "", .udst = "", .rc = OK,
     .w = {2, 1, 3, 2, true}},
    /* TLVs: ALPN, AUTHORITY, NOOP with no value, a type we do not know */
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"
        "\x01\x00\x02h2"
        "\x02\x00\x0b"
        "example.net"
        "\x04\x00\x00"
        "\xe0\x00\x01\x7f"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .trail = 10, .rc = OK,
     .w = {2, 1, 1, 1, true, "192.0.2.1", "198.51.100.7", 56324, 443, .tlv_len = 26, .n_tlv = 4}},
    /* TLVs that do not end on the header's end: consumed, flagged */
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"
        "\x02\x00\x0b"
        "example"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .rc = OK,
     .w = {2, 1, 1, 1, true, "192.0.2.1", "198.51.100.7", 56324, 443, .tlv_len = 10,
           .flags = TW_PROXY_F_TLV}},
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"
        "\x04\x00\x00"
        "\x04\x00"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .rc = OK,
     .w = {2, 1, 1, 1, true, "192.0.2.1", "198.51.100.7", 56324, 443, .tlv_len = 5, .n_tlv = 1,
           .flags = TW_PROXY_F_TLV}},
    /* an address block shorter than its family needs */
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .rc = OK,
     .w = {2, 1, 1, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x21, .rc = OK,
     .w = {2, 1, 2, 1, .flags = TW_PROXY_F_ADDR}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x31, .pad = 215, .rc = OK,
     .w = {2, 1, 3, 1, .flags = TW_PROXY_F_ADDR}},
    /* families and commands the specification does not define: consumed, flagged */
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x13, .rc = OK,
     .w = {2, 1, 1, 3, true, "192.0.2.1", "198.51.100.7", 56324, 443, .flags = TW_PROXY_F_FAMILY}},
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"),
     .v2 = true, .ver_cmd = 0x21, .fam = 0x10, .rc = OK,
     .w = {2, 1, 1, 0, true, "192.0.2.1", "198.51.100.7", 56324, 443, .flags = TW_PROXY_F_FAMILY}},
    {__LINE__, IN("\xc0\x00\x02\x01"), .v2 = true, .ver_cmd = 0x21, .fam = 0x41, .rc = OK,
     .w = {2, 1, 4, 1, .flags = TW_PROXY_F_FAMILY}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x00, .rc = OK, .w = {2, 1}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x01, .rc = OK,
     .w = {2, 1, 0, 1, .flags = TW_PROXY_F_FAMILY}},
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"),
     .v2 = true, .ver_cmd = 0x22, .fam = 0x11, .rc = OK,
     .w = {2, 2, 1, 1, .flags = TW_PROXY_F_COMMAND}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x2f, .fam = 0x00, .rc = OK,
     .w = {2, 15, .flags = TW_PROXY_F_COMMAND}},

    /* v2, LOCAL command (health checks): the block is not read */
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x20, .fam = 0x00, .trail = 10, .hdr_len = 16,
     .rc = OK, .w = {2, 0}},
    {__LINE__,
     IN("\xc0\x00\x02\x01"
        "\xc6\x33\x64\x07"
        "\xdc\x04\x01\xbb"
        "\x04\x00"),
     .v2 = true, .ver_cmd = 0x20, .fam = 0x11, .rc = OK, .w = {2, 0, 1, 1}},

    /* v2 refused */
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x11, .fam = 0x11, .rc = TW_EMALFORMED},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x31, .fam = 0x11, .rc = TW_EMALFORMED},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x01, .fam = 0x00, .rc = TW_EMALFORMED},
    /* the longest header taken, and one byte more, announced */
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x20, .pad = TW_PROXY_V2_MAX - 16, .trail = 10,
     .hdr_len = TW_PROXY_V2_MAX, .rc = OK, .w = {2, 0}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .pad = TW_PROXY_V2_MAX - 16,
     .rc = OK,
     .w = {2, 1, 1, 1, true, "0.0.0.0", "0.0.0.0", .tlv_len = TW_PROXY_V2_MAX - 28,
           .n_tlv = (TW_PROXY_V2_MAX - 28) / 3, .flags = TW_PROXY_F_TLV}},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x20, .len_adj = TW_PROXY_V2_MAX - 15,
     .rc = TW_EMALFORMED},
    {__LINE__, IN(""), .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .len_adj = 0xffff,
     .rc = TW_EMALFORMED},
    /* the block announced is not all there yet */
    {__LINE__, IN("\xc0\x00\x02\x01"), .v2 = true, .ver_cmd = 0x21, .fam = 0x11, .len_adj = 8,
     .rc = TW_EINCOMPLETE},
    /* a signature that goes wrong at its last byte */
    {__LINE__, IN("\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x00"), .rc = TW_EMALFORMED},
    {__LINE__, IN("\r\n\r\n\0\r\nQU"), .rc = TW_EINCOMPLETE},
};

static size_t build_proxy(const struct proxy_case *c, uint8_t *out, size_t cap)
{
    size_t n = 0;

    if (c->v2) {
        size_t block = (c->usrc ? 216 : 0) + c->in_len + c->pad;
        long field = (long)block + c->len_adj;
        assert_true(field >= 0 && field <= 0xffff && 16 + block + c->trail <= cap);
        memcpy(out, V2_SIG, 12);
        out[12] = c->ver_cmd;
        out[13] = c->fam;
        out[14] = (uint8_t)(field >> 8);
        out[15] = (uint8_t)field;
        n = 16;
        if (c->usrc) {
            assert_true(strlen(c->usrc) <= 108 && strlen(c->udst) <= 108);
            memset(out + n, 0, 216);
            memcpy(out + n, c->usrc, strlen(c->usrc));
            memcpy(out + n + 108, c->udst, strlen(c->udst));
            n += 216;
        }
        memcpy(out + n, c->in, c->in_len);
        n += c->in_len;
        memset(out + n, 0, c->pad);
        n += c->pad;
    } else {
        assert_true(c->in_len + c->trail <= cap);
        memcpy(out, c->in, c->in_len);
        n = c->in_len;
    }
    if (c->hdr_len)
        assert_int_equal(n, c->hdr_len);
    assert_true(c->trail <= sizeof(trail_bytes));
    memcpy(out + n, trail_bytes, c->trail);
    return n + c->trail;
}

static void check_proxy_want(const struct proxy_case *c, const uint8_t *buf, size_t k, size_t hlen,
                             const struct tw_proxy_hdr *h)
{
    const struct proxy_want *w = &c->w;
    int af = w->family == TW_PROXY_AF_INET ? AF_INET : AF_INET6;
    uint8_t a[16];
    int l = c->line;

    EXPECT(l, k, h->version == w->version);
    EXPECT(l, k, h->command == w->command);
    EXPECT(l, k, h->family == w->family);
    EXPECT(l, k, h->transport == w->transport);
    EXPECT(l, k, h->has_addr == w->has_addr);
    EXPECT(l, k, h->flags == w->flags);
    memset(a, 0, sizeof(a));
    if (w->src)
        assert_int_equal(inet_pton(af, w->src, a), 1);
    EXPECT(l, k, memcmp(h->src, a, 16) == 0);
    memset(a, 0, sizeof(a));
    if (w->dst)
        assert_int_equal(inet_pton(af, w->dst, a), 1);
    EXPECT(l, k, memcmp(h->dst, a, 16) == 0);
    EXPECT(l, k, h->sport == w->sport && h->dport == w->dport);
    EXPECT(l, k, slice_is(h->src_path, h->src_path_len, buf, hlen, w->src_path));
    EXPECT(l, k, slice_is(h->dst_path, h->dst_path_len, buf, hlen, w->dst_path));
    EXPECT(l, k, h->tlv_len == w->tlv_len && h->n_tlv == w->n_tlv);
    if (w->tlv_len)
        EXPECT(l, k, h->tlv == buf + hlen - w->tlv_len);
    else
        EXPECT(l, k, h->tlv == NULL);
}

/*
 * One case under the prefix drill: built[0..n) holds a header of hlen bytes (then trailing
 * bytes); parse reads it into an output of out_size bytes, check verifies a success, and the
 * classifier must say `named` once named_at bytes are in (for a valid header).
 */
struct drill {
    int line;
    int want_rc; /* OK, TW_EINCOMPLETE or TW_EMALFORMED for the whole input */
    size_t n, hlen;
    int (*parse)(const uint8_t *buf, size_t len, void *out);
    size_t out_size;
    void (*check)(const void *c, const uint8_t *buf, size_t k, size_t hlen, const void *out);
    const void *c;
    size_t named_at;
    enum tw_preamble named;
};

/* The case whole and at every prefix, each in an exact-size copy, from a dirty output. */
static void drill(const struct drill *dr)
{
    _Alignas(16) uint8_t out[512];
    int l = dr->line;

    assert_true(dr->out_size <= sizeof(out));
    for (size_t k = 0; k <= dr->n; k++) {
        uint8_t *d = exact_copy(built, k);
        memset(out, 0xa5, dr->out_size);
        int rc = dr->parse(d, k, out);

        if (dr->want_rc == OK && k >= dr->hlen) {
            EXPECT(l, k, rc == (int)dr->hlen);
            dr->check(dr->c, d, k, dr->hlen, out);
        } else {
            if (dr->want_rc == OK || dr->want_rc == TW_EINCOMPLETE)
                EXPECT(l, k, rc == TW_EINCOMPLETE);
            else if (k == dr->n)
                EXPECT(l, k, rc == dr->want_rc);
            else
                EXPECT(l, k, rc == TW_EINCOMPLETE || rc == TW_EMALFORMED);
            EXPECT(l, k, all_zero(out, dr->out_size));
        }
        EXPECT(l, k, memcmp(d, built, k) == 0);
        if (dr->want_rc == OK) {
            enum tw_preamble p = tw_preamble_classify(d, k);
            EXPECT(l, k, p == (k < dr->named_at ? TW_PREAMBLE_MORE : dr->named));
        }
        free(d);
    }
}

static int parse_proxy(const uint8_t *buf, size_t len, void *out)
{
    return tw_proxy_parse(buf, len, out);
}

static void check_proxy(const void *c, const uint8_t *buf, size_t k, size_t hlen, const void *out)
{
    check_proxy_want(c, buf, k, hlen, out);
}

/* Every case whole and at every prefix, each in an exact-size copy. */
static void test_proxy_cases(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(proxy_cases); ci++) {
        const struct proxy_case *c = &proxy_cases[ci];
        size_t n = build_proxy(c, built, sizeof(built));

        drill(&(struct drill){.line = c->line,
                              .want_rc = c->rc,
                              .n = n,
                              .hlen = n - c->trail,
                              .parse = parse_proxy,
                              .out_size = sizeof(struct tw_proxy_hdr),
                              .check = check_proxy,
                              .c = c,
                              .named_at = TW_PROXY_V2_SIG_LEN,
                              .named = TW_PREAMBLE_PROXY});
    }
}

/* The v1 bound without any LF: 106 bytes may still become a line, 107 cannot. */
static void test_proxy_v1_bound(void **state)
{
    (void)state;
    static const char head[] = "PROXY UNKNOWN ";
    uint8_t line[TW_PROXY_V1_MAX + 1];
    struct tw_proxy_hdr h;

    memcpy(line, head, sizeof(head) - 1);
    memset(line + sizeof(head) - 1, 'x', sizeof(line) - (sizeof(head) - 1));
    for (size_t k = sizeof(head) - 1; k <= sizeof(line); k++) {
        uint8_t *d = exact_copy(line, k);
        int rc = tw_proxy_parse(d, k, &h);
        EXPECT(__LINE__, k, rc == (k < TW_PROXY_V1_MAX ? TW_EINCOMPLETE : TW_EMALFORMED));
        free(d);
    }
    /* an UNKNOWN line padded to exactly 107 bytes is taken, its padding ignored */
    line[TW_PROXY_V1_MAX - 2] = '\r';
    line[TW_PROXY_V1_MAX - 1] = '\n';
    uint8_t *d = exact_copy(line, TW_PROXY_V1_MAX);
    assert_int_equal(tw_proxy_parse(d, TW_PROXY_V1_MAX, &h), TW_PROXY_V1_MAX);
    assert_int_equal(h.family, TW_PROXY_AF_UNSPEC);
    assert_int_equal(h.flags, 0);
    free(d);
    /* an LF at the 108th byte is one too far */
    line[TW_PROXY_V1_MAX - 1] = 'x';
    line[TW_PROXY_V1_MAX] = '\n';
    d = exact_copy(line, sizeof(line));
    assert_int_equal(tw_proxy_parse(d, sizeof(line), &h), TW_EMALFORMED);
    free(d);
}

/* ---------------------------------------------------------------- CONNECT */

struct connect_case {
    int line;
    const char *in;
    size_t in_len;
    size_t trail; /* bytes of trail_bytes after the header */
    int rc;       /* OK, TW_EINCOMPLETE or TW_EMALFORMED for the whole input */
    const char *authority, *host;
    long port; /* -1: none */
    const char *version;
    unsigned flags;
};

static const struct connect_case connect_cases[] = {
    {__LINE__,
     IN("CONNECT k3.devtunnels.ms:443 HTTP/1.1\r\nHost: k3.devtunnels.ms:443\r\n"
        "Proxy-Connection: keep-alive\r\nUser-Agent: curl/7.88.1\r\n\r\n"),
     10, OK, "k3.devtunnels.ms:443", "k3.devtunnels.ms", 443, "HTTP/1.1"},
    {__LINE__, IN("CONNECT 10.0.0.1:8443 HTTP/1.0\r\n\r\n"), 10, OK, "10.0.0.1:8443", "10.0.0.1",
     8443, "HTTP/1.0"},
    {__LINE__, IN("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n"), 4, OK,
     "[2001:db8::1]:443", "2001:db8::1", 443, "HTTP/1.1"},
    {__LINE__,
     IN("CONNECT x.trycloudflare.com:443 HTTP/1.1\r\nHost: x.trycloudflare.com:443\r\n"
        "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"),
     0, OK, "x.trycloudflare.com:443", "x.trycloudflare.com", 443, "HTTP/1.1"},
    {__LINE__, IN("CONNECT a:0 HTTP/1.1\r\n\r\n"), 0, OK, "a:0", "a", 0, "HTTP/1.1"},
    {__LINE__, IN("CONNECT a:65535 HTTP/1.1\r\n\r\n"), 0, OK, "a:65535", "a", 65535, "HTTP/1.1"},
    {__LINE__, IN("CONNECT a:00443 HTTP/1.1\r\n\r\n"), 0, OK, "a:00443", "a", 443, "HTTP/1.1"},
    /* no end of header yet */
    {__LINE__, IN("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n"), 0, TW_EINCOMPLETE},
    {__LINE__, IN("CONNECT a:1 HTTP/1.1\r\n\r"), 0, TW_EINCOMPLETE},
    {__LINE__, IN("CONNECT a:1 HTTP/1.1\n\n"), 0, TW_EINCOMPLETE},
    {__LINE__, IN("CONNECT"), 0, TW_EINCOMPLETE},
    /* oddities, consumed and flagged */
    {__LINE__, IN("CONNECT a:1 HTTP/1.1\nHost: a\r\n\r\n"), 3, OK, "a:1", "a", 1, "HTTP/1.1",
     TW_CONNECT_F_NO_CR},
    {__LINE__, IN("CONNECT example.com HTTP/1.1\r\n\r\n"), 0, OK, "example.com", "example.com", -1,
     "HTTP/1.1", TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT example.com: HTTP/1.1\r\n\r\n"), 0, OK, "example.com:", "example.com",
     -1, "HTTP/1.1", TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT a:65536 HTTP/1.1\r\n\r\n"), 0, OK, "a:65536", "a", -1, "HTTP/1.1",
     TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT a:0x1bb HTTP/1.1\r\n\r\n"), 0, OK, "a:0x1bb", "a", -1, "HTTP/1.1",
     TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT :443 HTTP/1.1\r\n\r\n"), 0, OK, ":443", NULL, 443, "HTTP/1.1",
     TW_CONNECT_F_HOST},
    {__LINE__, IN("CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n"), 0, OK, "2001:db8::1:443",
     "2001:db8::1", 443, "HTTP/1.1", TW_CONNECT_F_HOST},
    {__LINE__, IN("CONNECT [2001:db8::1:443 HTTP/1.1\r\n\r\n"), 0, OK, "[2001:db8::1:443", NULL, -1,
     "HTTP/1.1", TW_CONNECT_F_HOST | TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT [::1]x443 HTTP/1.1\r\n\r\n"), 0, OK, "[::1]x443", "::1", -1, "HTTP/1.1",
     TW_CONNECT_F_HOST | TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT [::1] HTTP/1.1\r\n\r\n"), 0, OK, "[::1]", "::1", -1, "HTTP/1.1",
     TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT []:443 HTTP/1.1\r\n\r\n"), 0, OK, "[]:443", NULL, 443, "HTTP/1.1",
     TW_CONNECT_F_HOST},
    {__LINE__, IN("CONNECT a:1 HTTP/2\r\n\r\n"), 0, OK, "a:1", "a", 1, "HTTP/2",
     TW_CONNECT_F_VERSION},
    {__LINE__, IN("CONNECT a:1 http/1.1\r\n\r\n"), 0, OK, "a:1", "a", 1, "http/1.1",
     TW_CONNECT_F_VERSION},
    {__LINE__, IN("CONNECT a:1 HTTP/1.1 x\r\n\r\n"), 0, OK, "a:1", "a", 1, "HTTP/1.1 x",
     TW_CONNECT_F_LINE | TW_CONNECT_F_VERSION},
    {__LINE__, IN("CONNECT a:1\r\n\r\n"), 0, OK, "a:1", "a", 1, NULL,
     TW_CONNECT_F_LINE | TW_CONNECT_F_VERSION},
    {__LINE__, IN("CONNECT a:1 \r\n\r\n"), 0, OK, "a:1", "a", 1, NULL,
     TW_CONNECT_F_LINE | TW_CONNECT_F_VERSION},
    {__LINE__, IN("CONNECT  HTTP/1.1\r\n\r\n"), 0, OK, NULL, NULL, -1, "HTTP/1.1",
     TW_CONNECT_F_LINE | TW_CONNECT_F_HOST | TW_CONNECT_F_PORT},
    {__LINE__, IN("CONNECT \r\n\r\n"), 0, OK, NULL, NULL, -1, NULL,
     TW_CONNECT_F_LINE | TW_CONNECT_F_HOST | TW_CONNECT_F_PORT | TW_CONNECT_F_VERSION},
    {__LINE__, IN("CONNECT \n\r\n\r\n"), 0, OK, NULL, NULL, -1, NULL,
     TW_CONNECT_F_LINE | TW_CONNECT_F_HOST | TW_CONNECT_F_PORT | TW_CONNECT_F_VERSION |
         TW_CONNECT_F_NO_CR},
    /* not CONNECT */
    {__LINE__, IN("connect a:1 HTTP/1.1\r\n\r\n"), 0, TW_EMALFORMED},
    {__LINE__, IN("CONNECTX a:1 HTTP/1.1\r\n\r\n"), 0, TW_EMALFORMED},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0, TW_EMALFORMED},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\r\n"), 0, TW_EMALFORMED},
};

static void check_connect_want(const struct connect_case *c, const uint8_t *buf, size_t k,
                               size_t hlen, const struct tw_connect_req *r)
{
    int l = c->line;

    EXPECT(l, k, r->flags == c->flags);
    EXPECT(l, k, slice_is(r->authority, r->authority_len, buf, hlen, c->authority));
    EXPECT(l, k, slice_is(r->host, r->host_len, buf, hlen, c->host));
    EXPECT(l, k, slice_is(r->version, r->version_len, buf, hlen, c->version));
    if (c->port < 0)
        EXPECT(l, k, !r->has_port && r->port == 0);
    else
        EXPECT(l, k, r->has_port && r->port == c->port);
}

static int parse_connect(const uint8_t *buf, size_t len, void *out)
{
    return tw_http_connect_parse(buf, len, out);
}

static void check_connect(const void *c, const uint8_t *buf, size_t k, size_t hlen, const void *out)
{
    check_connect_want(c, buf, k, hlen, out);
}

static void test_connect_cases(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(connect_cases); ci++) {
        const struct connect_case *c = &connect_cases[ci];

        assert_true(c->trail <= sizeof(trail_bytes));
        memcpy(built, c->in, c->in_len);
        memcpy(built + c->in_len, trail_bytes, c->trail);
        drill(&(struct drill){.line = c->line,
                              .want_rc = c->rc,
                              .n = c->in_len + c->trail,
                              .hlen = c->in_len,
                              .parse = parse_connect,
                              .out_size = sizeof(struct tw_connect_req),
                              .check = check_connect,
                              .c = c,
                              .named_at = 8, /* "CONNECT " */
                              .named = TW_PREAMBLE_CONNECT});
    }
}

/* A header of `total` bytes: request line, one long header field, the empty line. */
static size_t long_connect(uint8_t *out, size_t total)
{
    static const char line[] = "CONNECT a.example:443 HTTP/1.1\r\nX-Pad: ";
    size_t head = sizeof(line) - 1;

    assert_true(total >= head + 4 && total <= BUF_MAX);
    memcpy(out, line, head);
    memset(out + head, 'p', total - head - 4);
    memcpy(out + total - 4, "\r\n\r\n", 4);
    return total;
}

/*
 * The bound is on bytes waited for: TW_HTTP_CONNECT_MAX bytes without CRLFCRLF
 * may still become a header, one more may not. Arriving byte by byte, the
 * longest header taken is TW_HTTP_CONNECT_MAX + 1 bytes (its last byte
 * completes it); a longer header is taken only if it arrives whole.
 */
static void test_connect_bound(void **state)
{
    (void)state;
    static const size_t totals[] = {TW_HTTP_CONNECT_MAX - 1, TW_HTTP_CONNECT_MAX,
                                    TW_HTTP_CONNECT_MAX + 1, TW_HTTP_CONNECT_MAX + 2, 9000};
    struct tw_connect_req r;

    for (size_t t = 0; t < TW_ARRAY_SIZE(totals); t++) {
        size_t n = long_connect(built, totals[t]);
        for (size_t k = n - 8; k <= n; k++) {
            uint8_t *d = exact_copy(built, k);
            int rc = tw_http_connect_parse(d, k, &r);
            int want = k == n ? (int)n : k > TW_HTTP_CONNECT_MAX ? TW_EMALFORMED : TW_EINCOMPLETE;
            EXPECT(__LINE__, k, rc == want);
            free(d);
        }
        /* the first length at which a byte-by-byte arrival is decided */
        int first = 0;
        size_t at = 0;
        for (size_t k = 0; k <= n && first == 0; k++) {
            int rc = tw_http_connect_parse(built, k, &r);
            if (rc != TW_EINCOMPLETE)
                first = rc, at = k;
        }
        if (n <= TW_HTTP_CONNECT_MAX + 1) {
            EXPECT(__LINE__, n, first == (int)n && at == n);
            EXPECT(__LINE__, n, slice_is(r.authority, r.authority_len, built, n, "a.example:443"));
        } else {
            EXPECT(__LINE__, n, first == TW_EMALFORMED && at == TW_HTTP_CONNECT_MAX + 1);
        }
    }
    /* no CRLFCRLF at all */
    memset(built + 8, 'x', TW_HTTP_CONNECT_MAX);
    uint8_t *d = exact_copy(built, TW_HTTP_CONNECT_MAX);
    assert_int_equal(tw_http_connect_parse(d, TW_HTTP_CONNECT_MAX, &r), TW_EINCOMPLETE);
    free(d);
    d = exact_copy(built, TW_HTTP_CONNECT_MAX + 1);
    assert_int_equal(tw_http_connect_parse(d, TW_HTTP_CONNECT_MAX + 1, &r), TW_EMALFORMED);
    free(d);
}

/* ------------------------------------------------------------- classifier */

static void test_classify(void **state)
{
    (void)state;
    static const struct {
        int line;
        const char *b;
        size_t len;
        enum tw_preamble want;
    } cases[] = {
        {__LINE__, "", 0, TW_PREAMBLE_MORE},
        {__LINE__, "C", 1, TW_PREAMBLE_MORE},
        {__LINE__, "CONNECT", 7, TW_PREAMBLE_MORE},
        {__LINE__, "CONNECT ", 8, TW_PREAMBLE_CONNECT},
        {__LINE__, "CONNECT a:1 HTTP/1.1\r\n\r\n", 24, TW_PREAMBLE_CONNECT},
        {__LINE__, "CONNECTX", 8, TW_PREAMBLE_NONE},
        {__LINE__, "CONNEC ", 7, TW_PREAMBLE_NONE},
        {__LINE__, "connect ", 8, TW_PREAMBLE_NONE},
        {__LINE__, "P", 1, TW_PREAMBLE_MORE},
        {__LINE__, "PROXY ", 6, TW_PREAMBLE_MORE},
        {__LINE__, "PROXY TCP4 ", 11, TW_PREAMBLE_MORE},
        {__LINE__, "PROXY TCP4 1", 12, TW_PREAMBLE_PROXY},
        {__LINE__, "PROXY X\r\n", 9, TW_PREAMBLE_MORE}, /* named PROXY only at 12 bytes */
        {__LINE__, "PROXYX", 6, TW_PREAMBLE_NONE},
        {__LINE__, "PRO\n", 4, TW_PREAMBLE_NONE},
        {__LINE__, "\r", 1, TW_PREAMBLE_MORE},
        {__LINE__, "\r\n\r\n\0\r\nQUIT", 11, TW_PREAMBLE_MORE},
        {__LINE__, "\r\n\r\n\0\r\nQUIT\n", 12, TW_PREAMBLE_PROXY},
        {__LINE__, "\r\n\r\n\0\r\nQUIT\r", 12, TW_PREAMBLE_NONE},
        {__LINE__, "\r\n\r\n\x01", 5, TW_PREAMBLE_NONE},
        {__LINE__, "\x16\x03\x01\x02\x00\x01", 6, TW_PREAMBLE_NONE},
        {__LINE__, "GET / HTTP/1.1\r\n", 16, TW_PREAMBLE_NONE},
        {__LINE__, "SSH-2.0-", 8, TW_PREAMBLE_NONE},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        uint8_t *d = exact_copy(cases[i].b, cases[i].len);
        EXPECT(cases[i].line, cases[i].len, tw_preamble_classify(d, cases[i].len) == cases[i].want);
        free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_cases),   cmocka_unit_test(test_proxy_v1_bound),
        cmocka_unit_test(test_connect_cases), cmocka_unit_test(test_connect_bound),
        cmocka_unit_test(test_classify),
    };
    return tw_run_tests(tests, NULL, NULL);
}
