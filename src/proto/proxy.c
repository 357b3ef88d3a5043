/* SPDX-License-Identifier: MIT */
/*
 * Proxy preambles: PROXY protocol v1 and v2 (haproxy's proxy-protocol.txt)
 * and the HTTP CONNECT request header (RFC 9110 section 9.3.6, request line
 * from RFC 9112 section 3).
 */
#include "tunwatch/proto/proxy.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>

#include "tunwatch/base/netaddr.h"

#define V1_PREFIX "PROXY "
#define V1_PREFIX_LEN 6
#define CONNECT_PREFIX "CONNECT "
#define CONNECT_PREFIX_LEN 8

/* v2 address block sizes (proxy-protocol.txt section 2.2). */
#define V2_ADDR_INET (4 + 4 + 2 + 2)
#define V2_ADDR_INET6 (16 + 16 + 2 + 2)
#define V2_UNIX_PATH 108
#define V2_ADDR_UNIX (2 * V2_UNIX_PATH)
#define V2_TLV_HDR 3

/* Longest textual address inet_pton reads (INET6_ADDRSTRLEN without the NUL). */
#define ADDR_TEXT_MAX 45

static const uint8_t v2_sig[TW_PROXY_V2_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* True if buf[0..len) and pat[0..n) agree over their common length. */
static bool agrees(const uint8_t *buf, size_t len, const void *pat, size_t n)
{
    return memcmp(buf, pat, TW_MIN(len, n)) == 0;
}

static bool span_is(const uint8_t *p, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(p, word, n) == 0;
}

/*
 * A decimal port of 1 to 5 digits, at most 65535. PROXY v1 forbids leading
 * zeros (they could be read as octal); HTTP's port = *DIGIT allows them.
 */
static bool port_parse(const uint8_t *p, size_t n, bool leading_zero_ok, uint16_t *port)
{
    if (n > 5 || (!leading_zero_ok && n > 1 && p[0] == '0'))
        return false;
    return tw_port_parse(p, n, port);
}

/* A v1 address in the textual form of `af` (inet_pton's rules: no leading zeros in IPv4). */
static bool addr_parse(const uint8_t *p, size_t n, int af, uint8_t out[16])
{
    char text[ADDR_TEXT_MAX + 1];

    if (n == 0 || n > ADDR_TEXT_MAX || memchr(p, '\0', n) != NULL)
        return false;
    memcpy(text, p, n);
    text[n] = '\0';
    return inet_pton(af, text, out) == 1;
}

/*
 * The v1 line after "PROXY ", without its CRLF (or bare LF):
 *   proto SP src SP dst SP sport SP dport     (proto TCP4 or TCP6)
 *   "UNKNOWN" [anything]                      (the rest is ignored, as the spec requires)
 */
static void v1_fields(const uint8_t *line, size_t n, struct tw_proxy_hdr *out)
{
    const uint8_t *f[6];
    size_t flen[6], nf = 0, start = 0;

    /* Up to 6 fields split at single spaces; the sixth, if any, is everything left. */
    for (size_t i = 0; i <= n && nf < 6; i++) {
        if (i == n || (line[i] == ' ' && nf < 5)) {
            f[nf] = line + start;
            flen[nf++] = i - start;
            start = i + 1;
        }
    }
    if (span_is(f[0], flen[0], "UNKNOWN")) {
        out->family = TW_PROXY_AF_UNSPEC;
        return;
    }
    int af;
    if (span_is(f[0], flen[0], "TCP4")) {
        out->family = TW_PROXY_AF_INET;
        af = AF_INET;
    } else if (span_is(f[0], flen[0], "TCP6")) {
        out->family = TW_PROXY_AF_INET6;
        af = AF_INET6;
    } else {
        out->flags |= TW_PROXY_F_PROTO;
        return;
    }
    out->transport = TW_PROXY_TP_STREAM;
    if (nf != 5) {
        out->flags |= TW_PROXY_F_FIELDS;
        return;
    }
    for (size_t i = 1; i < 5; i++)
        if (flen[i] == 0)
            out->flags |= TW_PROXY_F_FIELDS;
    if (!addr_parse(f[1], flen[1], af, out->src) || !addr_parse(f[2], flen[2], af, out->dst))
        out->flags |= TW_PROXY_F_ADDR;
    if (!port_parse(f[3], flen[3], false, &out->sport) ||
        !port_parse(f[4], flen[4], false, &out->dport))
        out->flags |= TW_PROXY_F_PORT;
    out->has_addr = (out->flags & (TW_PROXY_F_FIELDS | TW_PROXY_F_ADDR | TW_PROXY_F_PORT)) == 0;
    if (!out->has_addr) {
        memset(out->src, 0, sizeof(out->src));
        memset(out->dst, 0, sizeof(out->dst));
        out->sport = out->dport = 0;
    }
}

/* buf starts with "PROXY ". The line ends at the first LF, which must come within the bound. */
static int v1_parse(const uint8_t *buf, size_t len, struct tw_proxy_hdr *out)
{
    const uint8_t *lf = memchr(buf, '\n', TW_MIN(len, (size_t)TW_PROXY_V1_MAX));

    if (lf == NULL)
        return len >= TW_PROXY_V1_MAX ? TW_EMALFORMED : TW_EINCOMPLETE;
    size_t hlen = (size_t)(lf - buf) + 1;
    size_t end = hlen - 1; /* the LF: past the prefix, which ends in a space */
    if (buf[end - 1] == '\r')
        end--;
    else
        out->flags |= TW_PROXY_F_NO_CR;
    out->version = 1;
    out->command = TW_PROXY_CMD_PROXY;
    v1_fields(buf + V1_PREFIX_LEN, end - V1_PREFIX_LEN, out);
    return (int)hlen;
}

/* The family bytes the specification defines: UNSPEC, or {INET,INET6,UNIX} x {STREAM,DGRAM}. */
static bool v2_fam_ok(uint8_t fam)
{
    uint8_t af = fam >> 4, tp = fam & 0x0f;

    if (fam == 0)
        return true;
    return af >= TW_PROXY_AF_INET && af <= TW_PROXY_AF_UNIX && tp >= TW_PROXY_TP_STREAM &&
           tp <= TW_PROXY_TP_DGRAM;
}

/* A UNIX address field: the path up to its first NUL. */
static void unix_path(const uint8_t *field, const uint8_t **path, size_t *len)
{
    const uint8_t *nul = memchr(field, '\0', V2_UNIX_PATH);

    *len = nul ? (size_t)(nul - field) : V2_UNIX_PATH;
    *path = *len ? field : NULL;
}

/*
 * Addresses of a v2 PROXY command, then the TLVs. For LOCAL, and for an
 * UNSPEC or unknown family, the block is skipped unread, as the spec has
 * receivers do.
 */
static void v2_block(struct tw_cur *c, struct tw_proxy_hdr *out)
{
    size_t need;

    switch (out->family) {
    case TW_PROXY_AF_INET:
        need = V2_ADDR_INET;
        break;
    case TW_PROXY_AF_INET6:
        need = V2_ADDR_INET6;
        break;
    case TW_PROXY_AF_UNIX:
        need = V2_ADDR_UNIX;
        break;
    default:
        return;
    }
    if (tw_cur_left(c) < need) {
        out->flags |= TW_PROXY_F_ADDR;
        return;
    }
    if (out->family == TW_PROXY_AF_UNIX) {
        unix_path(tw_get_bytes(c, V2_UNIX_PATH), &out->src_path, &out->src_path_len);
        unix_path(tw_get_bytes(c, V2_UNIX_PATH), &out->dst_path, &out->dst_path_len);
    } else {
        size_t alen = out->family == TW_PROXY_AF_INET ? 4 : 16;
        memcpy(out->src, tw_get_bytes(c, alen), alen);
        memcpy(out->dst, tw_get_bytes(c, alen), alen);
        out->sport = tw_get_be16(c);
        out->dport = tw_get_be16(c);
    }
    out->has_addr = true;

    if (tw_cur_left(c) == 0)
        return;
    out->tlv = c->p;
    out->tlv_len = tw_cur_left(c);
    while (tw_cur_left(c) > 0) {
        tw_skip(c, 1);
        tw_skip(c, tw_get_be16(c));
        if (c->err) {
            out->flags |= TW_PROXY_F_TLV;
            return;
        }
        out->n_tlv++;
    }
}

/* buf agrees with the v2 signature over min(len, 12) bytes. */
static int v2_parse(const uint8_t *buf, size_t len, struct tw_proxy_hdr *out)
{
    struct tw_cur c;

    tw_cur_init(&c, buf, len);
    tw_skip(&c, TW_PROXY_V2_SIG_LEN);
    uint8_t ver_cmd = tw_get_u8(&c);
    uint8_t fam = tw_get_u8(&c);
    uint16_t blen = tw_get_be16(&c);
    if (c.err)
        return TW_EINCOMPLETE;
    size_t hlen = TW_PROXY_V2_HDR_LEN + (size_t)blen;
    if (ver_cmd >> 4 != 2 || hlen > TW_PROXY_V2_MAX)
        return TW_EMALFORMED;
    struct tw_cur block = tw_cur_sub(&c, blen);
    if (c.err)
        return TW_EINCOMPLETE;

    out->version = 2;
    out->command = ver_cmd & 0x0f;
    out->family = fam >> 4;
    out->transport = fam & 0x0f;
    if (out->command > TW_PROXY_CMD_PROXY)
        out->flags |= TW_PROXY_F_COMMAND;
    if (!v2_fam_ok(fam))
        out->flags |= TW_PROXY_F_FAMILY;
    if (out->command == TW_PROXY_CMD_PROXY)
        v2_block(&block, out);
    return (int)hlen;
}

int tw_proxy_parse(const uint8_t *buf, size_t len, struct tw_proxy_hdr *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return TW_EINCOMPLETE;
    if (agrees(buf, len, V1_PREFIX, V1_PREFIX_LEN))
        return len < V1_PREFIX_LEN ? TW_EINCOMPLETE : v1_parse(buf, len, out);
    if (agrees(buf, len, v2_sig, sizeof(v2_sig)))
        return v2_parse(buf, len, out);
    return TW_EMALFORMED;
}

/* Offset just past the first CRLFCRLF in buf[0..len), or 0 if there is none. */
static size_t header_end(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return i + 4;
    return 0;
}

/*
 * authority-form (RFC 9112 section 3.2.3): uri-host ":" port, an IPv6
 * literal in brackets. Without brackets the port follows the last ':'.
 */
static void authority_parse(const uint8_t *a, size_t n, struct tw_connect_req *out)
{
    const uint8_t *host = a, *port = NULL;
    size_t host_len = n, port_len = 0;

    if (n > 0 && a[0] == '[') {
        const uint8_t *rb = memchr(a, ']', n);
        if (rb == NULL) {
            out->flags |= TW_CONNECT_F_HOST | TW_CONNECT_F_PORT;
            return;
        }
        host = a + 1;
        host_len = (size_t)(rb - host);
        size_t rest = n - (size_t)(rb + 1 - a);
        if (rest > 0 && rb[1] == ':') {
            port = rb + 2;
            port_len = rest - 1;
        } else if (rest > 0) {
            out->flags |= TW_CONNECT_F_HOST;
        }
    } else {
        for (size_t i = n; i > 0; i--) {
            if (a[i - 1] == ':') {
                host_len = i - 1;
                port = a + i;
                port_len = n - i;
                break;
            }
        }
        if (memchr(host, ':', host_len) != NULL)
            out->flags |= TW_CONNECT_F_HOST;
    }
    if (host_len == 0)
        out->flags |= TW_CONNECT_F_HOST;
    else
        out->host = host, out->host_len = host_len;
    if (port != NULL && port_parse(port, port_len, true, &out->port))
        out->has_port = true;
    else
        out->flags |= TW_CONNECT_F_PORT;
}

static bool http_version_ok(const uint8_t *v, size_t n)
{
    return n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
           v[7] >= '0' && v[7] <= '9';
}

/* request-line = method SP request-target SP HTTP-version CRLF, within buf[0..hlen). */
static void request_line(const uint8_t *buf, size_t hlen, struct tw_connect_req *out)
{
    /* There is an LF (the header ends in CRLFCRLF), past the prefix, which ends in a space. */
    const uint8_t *lf = memchr(buf, '\n', hlen);
    size_t end = (size_t)(lf - buf);

    if (buf[end - 1] == '\r')
        end--;
    else
        out->flags |= TW_CONNECT_F_NO_CR;
    const uint8_t *line = buf + CONNECT_PREFIX_LEN;
    size_t n = end - CONNECT_PREFIX_LEN;

    const uint8_t *sp = memchr(line, ' ', n);
    size_t alen = sp ? (size_t)(sp - line) : n;
    if (alen > 0)
        out->authority = line, out->authority_len = alen;
    if (sp != NULL && n - alen - 1 > 0)
        out->version = sp + 1, out->version_len = n - alen - 1;
    if (alen == 0 || out->version == NULL || memchr(out->version, ' ', out->version_len) != NULL)
        out->flags |= TW_CONNECT_F_LINE;
    if (!http_version_ok(out->version, out->version_len))
        out->flags |= TW_CONNECT_F_VERSION;
    authority_parse(line, alen, out);
}

int tw_http_connect_parse(const uint8_t *buf, size_t len, struct tw_connect_req *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return TW_EINCOMPLETE;
    if (!agrees(buf, len, CONNECT_PREFIX, CONNECT_PREFIX_LEN))
        return TW_EMALFORMED;
    size_t hlen = header_end(buf, len);
    if (hlen == 0)
        return len > TW_HTTP_CONNECT_MAX ? TW_EMALFORMED : TW_EINCOMPLETE;
    if (hlen > INT_MAX)
        return TW_EMALFORMED;
    request_line(buf, hlen, out);
    return (int)hlen;
}

enum tw_preamble tw_preamble_classify(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return TW_PREAMBLE_MORE;
    if (agrees(buf, len, CONNECT_PREFIX, CONNECT_PREFIX_LEN))
        return len < CONNECT_PREFIX_LEN ? TW_PREAMBLE_MORE : TW_PREAMBLE_CONNECT;
    if (agrees(buf, len, V1_PREFIX, V1_PREFIX_LEN) || agrees(buf, len, v2_sig, sizeof(v2_sig)))
        return len < TW_PROXY_V2_SIG_LEN ? TW_PREAMBLE_MORE : TW_PREAMBLE_PROXY;
    return TW_PREAMBLE_NONE;
}
