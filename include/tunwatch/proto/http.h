/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x request header: what a client's request says (RFC 9112 sections
 * 2 to 5, RFC 9110 for methods, Host and the URI forms), read the way a
 * passive sensor reports it and the way SigmaHQ's `proxy` rules name it
 * (cs-method, c-uri, c-uri-stem, c-uri-query, c-uri-extension, cs-host,
 * c-useragent, cs-referrer).
 *
 *   request-header = *( [ CR ] LF )                   ; empty lines first: skipped
 *                    request-line *( field-line eol ) eol
 *   request-line   = method SP request-target SP HTTP-version eol
 *                  / "GET" SP request-target eol      ; HTTP/0.9 style: the request ends here;
 *                                                     ;   a last word not "HTTP/..." is part
 *                                                     ;   of the target (as nginx reads it)
 *   method         = token                            ; tchar = "!" / "#" / "$" / "%" / "&" / "'"
 *                                                     ;   / "*" / "+" / "-" / "." / "^" / "_"
 *                                                     ;   / "`" / "|" / "~" / DIGIT / ALPHA
 *   request-target = origin-form                      ; "/" path [ "?" query ]
 *                  / absolute-form                    ; scheme "://" authority path [ "?" query ]
 *                  / authority-form                   ; uri-host ":" port (CONNECT)
 *                  / asterisk-form                    ; "*" (OPTIONS)
 *   HTTP-version   = %s"HTTP/" DIGIT "." DIGIT
 *   field-line     = field-name ":" OWS field-value OWS
 *                  / RWS obs-text-continuation        ; obs-fold of the line before
 *   eol            = CRLF / LF                        ; a bare LF is taken, as servers do
 *
 *   +--------------------------------------------------+
 *   | GET /dl/a.php;x?id=1#top HTTP/1.1 CRLF           |  request line
 *   |     \________/ \__/ \_/                          |    path, query, fragment
 *   |          \_ extension "php" (last segment, up to ';')
 *   | Host: www.example.com:8080 CRLF                  |  field lines
 *   | User-Agent: curl/8.5.0 CRLF                      |
 *   | CRLF                                             |  empty line: the header ends here
 *   +--------------------------------------------------+
 *   | body, or the next request (not read)             |
 *
 * The parser refuses only what cannot be framed as a request; anything else
 * the specifications forbid but a server may well have accepted is reported
 * in `flags` (TW_HTTP_F_*) and the header is still read.
 */
#ifndef TUNWATCH_HTTP_H
#define TUNWATCH_HTTP_H

#include "tunwatch/base/common.h"

/*
 * Longest request header taken, request line and empty line included. 16 KiB
 * holds what common servers accept for a single line (Apache's
 * LimitRequestLine and LimitRequestFieldSize, 8190 bytes, and nginx's 8 KiB
 * large_client_header_buffers) and is Node.js's limit for the whole header:
 * a longer header is refused by most servers, so waiting longer costs memory
 * and buys nothing. The bound is on where the header ends, not on how bytes
 * arrive: the same input gives the same answer whole or segment by segment.
 */
#define TW_HTTP_HDR_MAX 16384

/* The form of the request target (RFC 9112 section 3.2). */
enum tw_http_form {
    TW_HTTP_FORM_NONE,      /* no target (TW_HTTP_F_LINE) */
    TW_HTTP_FORM_ORIGIN,    /* "/" path [ "?" query ] */
    TW_HTTP_FORM_ABSOLUTE,  /* scheme "://" authority path [ "?" query ], as proxies receive */
    TW_HTTP_FORM_AUTHORITY, /* host ":" port: any target of CONNECT */
    TW_HTTP_FORM_ASTERISK,  /* "*" */
    TW_HTTP_FORM_OTHER,     /* none of these (TW_HTTP_F_TARGET) */
};

/* Oddities of a request header that was nevertheless read (struct tw_http_req.flags). */
#define TW_HTTP_F_NO_CR (1u << 0)          /* a line ends in a bare LF */
#define TW_HTTP_F_LEADING_EOL (1u << 1)    /* empty lines before the request line */
#define TW_HTTP_F_METHOD (1u << 2)         /* a method tw_http_maybe_request does not know */
#define TW_HTTP_F_LINE (1u << 3)           /* spaces other than single SPs, or no target */
#define TW_HTTP_F_HTTP09 (1u << 4)         /* no version: an HTTP/0.9-style GET, no fields */
#define TW_HTTP_F_VERSION (1u << 5)        /* "HTTP/" not followed by "1." DIGIT */
#define TW_HTTP_F_TARGET (1u << 6)         /* target not of the form its method calls for */
#define TW_HTTP_F_FRAGMENT (1u << 7)       /* the target carries a "#" fragment */
#define TW_HTTP_F_USERINFO (1u << 8)       /* the target's authority carries "userinfo@" */
#define TW_HTTP_F_NO_HOST (1u << 9)        /* HTTP/1.1 (or 1.x above) without a Host field */
#define TW_HTTP_F_HOST_DUP (1u << 10)      /* more than one Host field */
#define TW_HTTP_F_HOST_BAD (1u << 11)      /* first Host value not uri-host [ ":" port ] */
#define TW_HTTP_F_HOST_MISMATCH (1u << 12) /* the target's host is not the Host field's */
#define TW_HTTP_F_OBS_FOLD (1u << 13)      /* a field line continued on a line opening with SP */
#define TW_HTTP_F_FIELD (1u << 14)         /* a field line with no ':' or a name not a token */
#define TW_HTTP_F_CTL (1u << 15)           /* a control byte (not HTAB) in a field line */
#define TW_HTTP_F_ALL 0xffffu

/*
 * A host and port: the Host field's, or the authority of an absolute-form or
 * authority-form target. Slices NULL exactly when their length is 0.
 */
struct tw_http_hostport {
    const uint8_t *raw; /* as sent (a field value with its OWS trimmed) */
    size_t raw_len;
    const uint8_t *host; /* without userinfo, port and IPv6 brackets; not decoded */
    size_t host_len;
    uint16_t port;
    bool has_port; /* a port of 1 to 5 digits (leading zeros aside) of at most 65535 */
};

struct tw_http_req {
    /* Slices into buf, NULL exactly when their length is 0. */
    const uint8_t *method; /* cs-method: a token, as sent (case kept) */
    size_t method_len;
    const uint8_t *target; /* the request target as sent */
    size_t target_len;
    const uint8_t *version; /* "HTTP/1.1" as sent; NULL for an HTTP/0.9-style line */
    size_t version_len;
    uint8_t ver_major, ver_minor; /* from a version "HTTP/" DIGIT "." DIGIT; 0.9 without one */
    uint8_t form;                 /* enum tw_http_form */
    const uint8_t *scheme;        /* absolute-form: before "://" */
    size_t scheme_len;
    struct tw_http_hostport authority; /* absolute-form and authority-form targets */
    const uint8_t *uri;                /* c-uri: the target without its fragment */
    size_t uri_len;
    const uint8_t *path; /* c-uri-stem: origin- and absolute-form, before '?' and '#' */
    size_t path_len;
    const uint8_t *query; /* c-uri-query: after the first '?', before '#' */
    size_t query_len;
    const uint8_t *ext; /* c-uri-extension: last path segment up to ';', after its last '.' */
    size_t ext_len;
    const uint8_t *fragment; /* after '#' (TW_HTTP_F_FRAGMENT) */
    size_t fragment_len;
    struct tw_http_hostport host; /* cs-host: the first Host field */
    const uint8_t *user_agent;    /* c-useragent: the first User-Agent field's value */
    size_t user_agent_len;
    const uint8_t *referer; /* cs-referrer: the first Referer field's value */
    size_t referer_len;
    const uint8_t *cookie; /* cs-cookie: the first Cookie field's value */
    size_t cookie_len;
    unsigned n_fields; /* field lines, continuation lines not counted */
    unsigned n_host;   /* Host fields */
    unsigned flags;    /* TW_HTTP_F_* */
};

/*
 * Parses an HTTP/1.x request header at the start of `buf` (`len` bytes), the
 * first bytes of a client stream. Returns the header's length in bytes (> 0:
 * request line, field lines and the empty line; for an HTTP/0.9-style line,
 * the line alone), at most TW_HTTP_HDR_MAX; TW_EINCOMPLETE while `buf` is a
 * prefix of such a header (always when len is 0); TW_EMALFORMED when it
 * cannot be one:
 *   - the first bytes (after empty lines) are not a token followed by SP;
 *   - the request line holds a control byte, HTAB included (a CR only just
 *     before its LF), which every common server refuses;
 *   - the line has no version and its method is not GET (HTTP/0.9 had only
 *     GET, and servers take no other method without a version);
 *   - no header ends within the first TW_HTTP_HDR_MAX bytes.
 * Each is decided as soon as its bytes are in, so bytes that are not HTTP
 * fail on their first bytes. Header field names are matched
 * case-insensitively; values are trimmed of OWS; of repeated User-Agent and
 * Referer fields the first is reported. An obs-fold continuation is flagged
 * and not joined: a value reported is its first line's.
 *
 * *out is reset on entry and filled on success only; its slices point into
 * `buf` and stay valid as long as `buf` does. `buf` is never written.
 */
int tw_http_request_parse(const uint8_t *buf, size_t len, struct tw_http_req *out);

/*
 * Whether the first `len` bytes of a client stream may begin an HTTP request
 * header: after any empty lines, a prefix of, or the whole of, a registered
 * method followed by SP (RFC 9110 methods, PATCH, WebDAV's, SEARCH, REPORT,
 * MKCALENDAR, ...). True for len 0. A cheap test of the leading bytes, not a
 * parse: a request with a method outside that list parses, with
 * TW_HTTP_F_METHOD, but is not recognised here.
 */
bool tw_http_maybe_request(const uint8_t *buf, size_t len);

/*
 * Splits `a` (`n` bytes: uri-host [ ":" port ], with an optional "userinfo@"
 * ahead of it) into *out (reset first), whose slices point into `a`. Returns
 * 0, or TW_HTTP_F_USERINFO when userinfo was present, or'ed with
 * TW_HTTP_F_HOST_BAD when the host (reg-name, IPv4 or a bracketed IPv6
 * literal) or the port is not of that shape: what can be read is read. An
 * empty `a` is well-formed (an empty Host, sent with a target that has no
 * authority); an empty port after ':' is allowed (RFC 3986) and gives none.
 */
unsigned tw_http_hostport_parse(const uint8_t *a, size_t n, struct tw_http_hostport *out);

#endif /* TUNWATCH_HTTP_H */
