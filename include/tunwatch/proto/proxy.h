/* SPDX-License-Identifier: MIT */
/*
 * Proxy preambles: what a client may send ahead of the bytes it tunnels. The
 * PROXY protocol header (haproxy's proxy-protocol.txt, versions 1 and 2) and
 * the HTTP CONNECT request header (RFC 9110 section 9.3.6).
 *
 * PROXY v1, one text line of at most TW_PROXY_V1_MAX bytes, CRLF included:
 *
 *   "PROXY" SP ("TCP4" | "TCP6") SP src-addr SP dst-addr SP src-port SP dst-port CRLF
 *   "PROXY" SP "UNKNOWN" [anything] CRLF
 *
 * PROXY v2, a binary header of 16 bytes plus `length`:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   +   signature: 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A (12 bytes)   +
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |version|command|family |transp.|      length (bytes after)     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  addresses, by family:  INET   src(4)   dst(4)   sport dport  |
 *   |                         INET6  src(16)  dst(16)  sport dport  |
 *   |                         UNIX   src(108) dst(108)              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  TLVs to the end of the header: type(1) length(2) value ...   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   version 2; command 0 LOCAL, 1 PROXY; family 0 UNSPEC, 1 INET, 2 INET6,
 *   3 UNIX; transport 0 UNSPEC, 1 STREAM, 2 DGRAM; ports and length big-endian.
 *
 * The parsers decide where a header ends, which is what a passive reader
 * needs to find the tunnelled bytes behind it. They refuse only what cannot
 * be framed; anything else the specifications forbid is reported in `flags`
 * and the header is still consumed, as the proxy that received it may well
 * have accepted it.
 */
#ifndef TUNWATCH_PROXY_H
#define TUNWATCH_PROXY_H

#include "tunwatch/base/common.h"

#define TW_PROXY_V1_MAX 107      /* longest v1 line, CRLF included (the specification's bound) */
#define TW_PROXY_V2_SIG_LEN 12   /* v2 signature */
#define TW_PROXY_V2_HDR_LEN 16   /* v2 fixed part: signature, ver/cmd, family, length */
#define TW_PROXY_V2_MAX 8192     /* longest v2 header taken, fixed part included */
#define TW_HTTP_CONNECT_MAX 8192 /* bytes without an end of header before a CONNECT is given up */

/* v2 command (v1 is always PROXY). */
#define TW_PROXY_CMD_LOCAL 0
#define TW_PROXY_CMD_PROXY 1

/* Address family: v2 high nibble of byte 13; v1 from the protocol word. */
#define TW_PROXY_AF_UNSPEC 0
#define TW_PROXY_AF_INET 1
#define TW_PROXY_AF_INET6 2
#define TW_PROXY_AF_UNIX 3

/* Transport: v2 low nibble of byte 13; v1 TCP4 and TCP6 are STREAM. */
#define TW_PROXY_TP_UNSPEC 0
#define TW_PROXY_TP_STREAM 1
#define TW_PROXY_TP_DGRAM 2

/* Oddities of a header that was nevertheless consumed (struct tw_proxy_hdr.flags). */
#define TW_PROXY_F_NO_CR (1u << 0)   /* v1: the line ends in a bare LF */
#define TW_PROXY_F_PROTO (1u << 1)   /* v1: protocol word not TCP4, TCP6 or UNKNOWN */
#define TW_PROXY_F_FIELDS (1u << 2)  /* v1: not four fields after TCP4/TCP6, one space apart */
#define TW_PROXY_F_ADDR (1u << 3)    /* v1: an address not of the family; v2: block too short */
#define TW_PROXY_F_PORT (1u << 4)    /* v1: a port not decimal 0..65535 without leading zero */
#define TW_PROXY_F_COMMAND (1u << 5) /* v2: command neither LOCAL nor PROXY */
#define TW_PROXY_F_FAMILY (1u << 6)  /* v2: family/transport byte not one the spec defines */
#define TW_PROXY_F_TLV (1u << 7)     /* v2: the TLVs do not end exactly at the header's end */

struct tw_proxy_hdr {
    uint8_t version;   /* 1 or 2 */
    uint8_t command;   /* TW_PROXY_CMD_*, or the raw v2 nibble when TW_PROXY_F_COMMAND */
    uint8_t family;    /* TW_PROXY_AF_*, or the raw v2 nibble */
    uint8_t transport; /* TW_PROXY_TP_*, or the raw v2 nibble */
    bool has_addr;     /* the addresses below are those of `family` (never for LOCAL) */
    uint8_t src[16];   /* INET: the first 4 bytes (as struct tw_pkt stores them) */
    uint8_t dst[16];
    uint16_t sport, dport;
    /* Slices into buf below are NULL exactly when their length is 0. */
    const uint8_t *src_path; /* UNIX: up to the first NUL of the 108-byte field */
    size_t src_path_len;
    const uint8_t *dst_path;
    size_t dst_path_len;
    const uint8_t *tlv; /* v2 PROXY with a known family: the bytes after the addresses */
    size_t tlv_len;
    unsigned n_tlv; /* whole TLVs in them */
    unsigned flags; /* TW_PROXY_F_* */
};

/*
 * Parses a PROXY protocol header, v1 or v2, at the start of `buf` (`len`
 * bytes). Returns the header's length in bytes (> 0: the tunnelled bytes
 * start there); TW_EINCOMPLETE while `buf` is a prefix of a header that may
 * still be valid; TW_EMALFORMED when it starts neither with "PROXY " nor the
 * v2 signature, when a v1 line has no LF within TW_PROXY_V1_MAX bytes, or
 * when a v2 header has a version other than 2 or a length over
 * TW_PROXY_V2_MAX. The v2 fixed part is judged once its 16 bytes are in.
 * *out is reset on entry and filled on success only; its slices point into
 * `buf` and stay valid as long as `buf` does. `buf` is never written.
 */
int tw_proxy_parse(const uint8_t *buf, size_t len, struct tw_proxy_hdr *out);

/* Oddities of a CONNECT request that was nevertheless consumed (struct tw_connect_req.flags). */
#define TW_CONNECT_F_LINE (1u << 0)    /* request line not "CONNECT" SP target SP version */
#define TW_CONNECT_F_NO_CR (1u << 1)   /* the request line ends in a bare LF */
#define TW_CONNECT_F_HOST (1u << 2)    /* empty host, unclosed '[', or ':' in an unbracketed host */
#define TW_CONNECT_F_PORT (1u << 3)    /* no port, or not 1 to 5 digits of at most 65535 */
#define TW_CONNECT_F_VERSION (1u << 4) /* version not "HTTP/" DIGIT "." DIGIT */

struct tw_connect_req {
    /* Slices into buf, NULL exactly when their length is 0. */
    const uint8_t *authority; /* request target as sent ("host:port") */
    size_t authority_len;
    const uint8_t *host; /* authority before the port, IPv6 brackets removed */
    size_t host_len;
    uint16_t port;
    bool has_port;
    const uint8_t *version; /* "HTTP/1.1" as sent */
    size_t version_len;
    unsigned flags; /* TW_CONNECT_F_* */
};

/*
 * Parses an HTTP CONNECT request header (request line and header fields) at
 * the start of `buf`, through the empty line that ends it. Returns the
 * header's length in bytes, CRLFCRLF included; TW_EINCOMPLETE while `buf`
 * holds no CRLFCRLF and at most TW_HTTP_CONNECT_MAX bytes; TW_EMALFORMED
 * when it does not start with "CONNECT " or holds more bytes than that and
 * no CRLFCRLF. The bound is on bytes waited for: a header that is longer but
 * complete in `buf` is taken. *out is reset on entry and filled on success
 * only; its slices point into `buf` and stay valid as long as `buf` does.
 * `buf` is never written.
 */
int tw_http_connect_parse(const uint8_t *buf, size_t len, struct tw_connect_req *out);

enum tw_preamble {
    TW_PREAMBLE_NONE,    /* neither a CONNECT request nor a PROXY header */
    TW_PREAMBLE_MORE,    /* a prefix of one of them: more bytes are needed to tell */
    TW_PREAMBLE_CONNECT, /* "CONNECT " */
    TW_PREAMBLE_PROXY,   /* "PROXY " or the v2 signature */
};

/*
 * What the first `len` bytes of a client stream begin with: a cheap test on
 * the leading bytes only, not a parse. A PROXY header is named only once
 * TW_PROXY_V2_SIG_LEN bytes are in, whichever version; until then a prefix of
 * "PROXY " or of the signature is TW_PREAMBLE_MORE, as is len 0.
 */
enum tw_preamble tw_preamble_classify(const uint8_t *buf, size_t len);

#endif /* TUNWATCH_PROXY_H */
