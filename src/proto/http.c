/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x request header: framing and request line from RFC 9112 sections
 * 2 to 5, the request-target forms from RFC 9112 section 3.2, Host from
 * RFC 9110 section 7.2, URI syntax from RFC 3986.
 */
#include "tunwatch/proto/http.h"

#include <string.h>

#include "tunwatch/base/ascii.h"
#include "tunwatch/base/netaddr.h"

#define SP ' '
#define HTAB '\t'

/* Methods tw_http_maybe_request knows: RFC 9110, RFC 5789, WebDAV (RFC 4918, 3253, 5323, 4791). */
static const char *const known_methods[] = {
    "GET",     "POST",     "HEAD",       "PUT",        "DELETE",   "OPTIONS", "PATCH",  "TRACE",
    "CONNECT", "PROPFIND", "MKCOL",      "COPY",       "MOVE",     "LOCK",    "UNLOCK", "PROPPATCH",
    "SEARCH",  "REPORT",   "MKCALENDAR", "MKACTIVITY", "CHECKOUT", "MERGE",   "ACL",
};

/* tchar (RFC 9110 section 5.6.2). */
static bool is_tchar(uint8_t c)
{
    return tw_ascii_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* CTL (RFC 5234): 0x00-0x1f and DEL. */
static bool is_ctl(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

static bool is_ows(uint8_t c)
{
    return c == SP || c == HTAB;
}

/* A reg-name or IPv4 byte (RFC 3986 unreserved, sub-delims, and '%' of pct-encoded). */
static bool is_host_char(uint8_t c)
{
    return tw_ascii_alnum(c) || (c != 0 && strchr("-._~%!$&'()*+,;=", c) != NULL);
}

static void slice_set(const uint8_t **p, size_t *len, const uint8_t *at, size_t n)
{
    *p = n ? at : NULL;
    *len = n;
}

/* Position of the first byte of s[0..n) that is in `set` (NUL-terminated), or n. */
static size_t span_until(const uint8_t *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != 0 && strchr(set, s[i]) != NULL)
            return i;
    return n;
}

static bool span_is(const uint8_t *p, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(p, word, n) == 0;
}

static bool span_ieq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && tw_ascii_eq_nocase(a, b, an);
}

static bool span_ieq_str(const uint8_t *p, size_t n, const char *word)
{
    return span_ieq(p, n, (const uint8_t *)word, strlen(word));
}

static bool method_known(const uint8_t *m, size_t n)
{
    for (size_t i = 0; i < TW_ARRAY_SIZE(known_methods); i++)
        if (span_is(m, n, known_methods[i]))
            return true;
    return false;
}

static bool host_chars_ok(const uint8_t *h, size_t n, bool literal)
{
    for (size_t i = 0; i < n; i++)
        if (!is_host_char(h[i]) && !(literal && h[i] == ':'))
            return false;
    return true;
}

unsigned tw_http_hostport_parse(const uint8_t *a, size_t n, struct tw_http_hostport *out)
{
    const uint8_t *port = NULL;
    size_t port_len = 0, host_len;
    unsigned bad = 0;
    bool literal = false;

    memset(out, 0, sizeof(*out));
    slice_set(&out->raw, &out->raw_len, a, n);
    for (size_t i = n; i > 0; i--) {
        if (a[i - 1] == '@') {
            bad |= TW_HTTP_F_USERINFO;
            a += i;
            n -= i;
            break;
        }
    }
    if (n == 0)
        return bad ? bad | TW_HTTP_F_HOST_BAD : 0;
    host_len = n;
    if (a[0] == '[') {
        const uint8_t *rb = memchr(a, ']', n);
        if (rb == NULL)
            return bad | TW_HTTP_F_HOST_BAD;
        literal = true;
        a++;
        host_len = (size_t)(rb - a);
        size_t rest = n - host_len - 2;
        if (rest > 0 && rb[1] == ':') {
            port = rb + 2;
            port_len = rest - 1;
        } else if (rest > 0) {
            bad |= TW_HTTP_F_HOST_BAD;
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
    }
    if (host_len == 0 || !host_chars_ok(a, host_len, literal))
        bad |= TW_HTTP_F_HOST_BAD;
    slice_set(&out->host, &out->host_len, a, host_len);
    if (port_len > 0) {
        if (tw_port_parse(port, port_len, &out->port))
            out->has_port = true;
        else
            bad |= TW_HTTP_F_HOST_BAD;
    }
    return bad;
}

/* path [ "?" query ] [ "#" fragment ] from s[0..n), and the extension of the path's last segment.
 */
static void path_query(const uint8_t *s, size_t n, struct tw_http_req *out)
{
    size_t end = span_until(s, n, "#");

    if (end < n) {
        out->flags |= TW_HTTP_F_FRAGMENT;
        slice_set(&out->fragment, &out->fragment_len, s + end + 1, n - end - 1);
    }
    size_t q = span_until(s, end, "?");
    slice_set(&out->path, &out->path_len, s, q);
    if (q < end)
        slice_set(&out->query, &out->query_len, s + q + 1, end - q - 1);

    size_t seg = q;
    while (seg > 0 && s[seg - 1] != '/')
        seg--;
    size_t seg_end = seg + span_until(s + seg, q - seg, ";");
    for (size_t i = seg_end; i > seg; i--) {
        if (s[i - 1] == '.') {
            slice_set(&out->ext, &out->ext_len, s + i, seg_end - i);
            break;
        }
    }
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':' (RFC 3986 section 3.1). */
static size_t scheme_len(const uint8_t *t, size_t n)
{
    if (n == 0 || !tw_ascii_alpha(t[0]))
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (t[i] == ':')
            return i;
        if (!tw_ascii_alnum(t[i]) && t[i] != '+' && t[i] != '-' && t[i] != '.')
            return 0;
    }
    return 0;
}

/* The request target's form and the parts it has. */
static void target_parse(const uint8_t *t, size_t n, struct tw_http_req *out)
{
    bool connect = span_is(out->method, out->method_len, "CONNECT");

    if (n == 0)
        return;
    if (connect) {
        out->form = TW_HTTP_FORM_AUTHORITY;
        slice_set(&out->uri, &out->uri_len, t, n);
        unsigned bad = tw_http_hostport_parse(t, n, &out->authority);
        out->flags |= bad & TW_HTTP_F_USERINFO;
        if (bad || !out->authority.has_port)
            out->flags |= TW_HTTP_F_TARGET;
        return;
    }
    if (n == 1 && t[0] == '*') {
        out->form = TW_HTTP_FORM_ASTERISK;
        slice_set(&out->uri, &out->uri_len, t, n);
        if (!span_is(out->method, out->method_len, "OPTIONS"))
            out->flags |= TW_HTTP_F_TARGET;
        return;
    }
    size_t end = span_until(t, n, "#");
    if (t[0] == '/') {
        out->form = TW_HTTP_FORM_ORIGIN;
        slice_set(&out->uri, &out->uri_len, t, end);
        path_query(t, n, out);
        return;
    }
    size_t sl = scheme_len(t, n);
    if (sl == 0 || n - sl < 3 || memcmp(t + sl, "://", 3) != 0) {
        out->form = TW_HTTP_FORM_OTHER;
        out->flags |= TW_HTTP_F_TARGET;
        return;
    }
    out->form = TW_HTTP_FORM_ABSOLUTE;
    slice_set(&out->uri, &out->uri_len, t, end);
    slice_set(&out->scheme, &out->scheme_len, t, sl);
    const uint8_t *a = t + sl + 3;
    size_t rest = n - sl - 3;
    size_t alen = span_until(a, rest, "/?#");
    unsigned bad = tw_http_hostport_parse(a, alen, &out->authority);
    out->flags |= bad & TW_HTTP_F_USERINFO;
    if ((bad & TW_HTTP_F_HOST_BAD) || out->authority.host == NULL)
        out->flags |= TW_HTTP_F_TARGET;
    path_query(a + alen, rest - alen, out);
}

static void version_parse(const uint8_t *v, size_t n, struct tw_http_req *out)
{
    slice_set(&out->version, &out->version_len, v, n);
    if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
        v[7] >= '0' && v[7] <= '9') {
        out->ver_major = (uint8_t)(v[5] - '0');
        out->ver_minor = (uint8_t)(v[7] - '0');
        if (out->ver_major == 1)
            return;
    }
    out->flags |= TW_HTTP_F_VERSION;
}

/*
 * The request line's content (no CR LF), method and its SP checked:
 *   method SP [ *SP ] target [ *SP SP version ] [ *SP ]
 * The version is the last word if it starts with "HTTP/"; a line without one
 * is HTTP/0.9 and its target may hold spaces, as nginx reads it. Returns 0,
 * or TW_EMALFORMED for a line without a version whose method is not GET.
 */
static int request_line(const uint8_t *line, size_t n, size_t method_len, struct tw_http_req *out)
{
    slice_set(&out->method, &out->method_len, line, method_len);
    if (!method_known(line, method_len))
        out->flags |= TW_HTTP_F_METHOD;

    const uint8_t *r = line + method_len + 1;
    size_t rn = n - method_len - 1;
    size_t lead = 0;
    while (lead < rn && r[lead] == SP)
        lead++;
    while (rn > lead && r[rn - 1] == SP)
        rn--;
    if (lead > 0 || rn < n - method_len - 1)
        out->flags |= TW_HTTP_F_LINE;
    r += lead;
    rn -= lead;

    size_t last = rn;
    while (last > 0 && r[last - 1] != SP)
        last--;
    size_t tn = rn;
    if (last > 0 && rn - last >= 5 && memcmp(r + last, "HTTP/", 5) == 0) {
        version_parse(r + last, rn - last, out);
        tn = last - 1;
        while (tn > 0 && r[tn - 1] == SP)
            tn--;
        if (tn < last - 1)
            out->flags |= TW_HTTP_F_LINE;
    } else {
        if (!span_is(line, method_len, "GET"))
            return TW_EMALFORMED;
        out->flags |= TW_HTTP_F_HTTP09;
        out->ver_minor = 9;
    }
    if (tn == 0 || memchr(r, SP, tn) != NULL)
        out->flags |= TW_HTTP_F_LINE;
    slice_set(&out->target, &out->target_len, r, tn);
    target_parse(r, tn, out);
    return 0;
}

/*
 * Empty lines, then the request line up to its LF, checked byte by byte so
 * that what is not a request fails on the first byte that shows it. On
 * success the cursor is past the LF and *line_n the content's length.
 */
static int request_line_frame(struct tw_cur *c, const uint8_t **line, size_t *line_n,
                              size_t *method_len, struct tw_http_req *out)
{
    for (;;) {
        size_t left = tw_cur_left(c);
        if (left == 0)
            return TW_EINCOMPLETE;
        if (c->p[0] == '\n') {
            out->flags |= TW_HTTP_F_LEADING_EOL | TW_HTTP_F_NO_CR;
        } else if (c->p[0] == '\r') {
            if (left < 2)
                return TW_EINCOMPLETE;
            if (c->p[1] != '\n')
                return TW_EMALFORMED;
            tw_skip(c, 1);
            out->flags |= TW_HTTP_F_LEADING_EOL;
        } else {
            break;
        }
        tw_skip(c, 1);
    }

    const uint8_t *p = c->p;
    size_t left = tw_cur_left(c), mlen = 0;
    for (size_t i = 0; i < left; i++) {
        uint8_t b = p[i];
        bool in_method = mlen == 0;

        if (in_method && b == SP) {
            if (i == 0)
                return TW_EMALFORMED;
            mlen = i;
        } else if (in_method && !is_tchar(b)) {
            return TW_EMALFORMED;
        } else if (b == '\n' || b == '\r') {
            size_t eol = b == '\r' ? 2 : 1;
            if (b == '\r' && i + 1 == left)
                return TW_EINCOMPLETE;
            if (b == '\r' && p[i + 1] != '\n')
                return TW_EMALFORMED;
            if (b == '\n')
                out->flags |= TW_HTTP_F_NO_CR;
            *line = tw_get_bytes(c, i + eol);
            *line_n = i;
            *method_len = mlen;
            return 0;
        } else if (is_ctl(b)) {
            return TW_EMALFORMED;
        }
    }
    return TW_EINCOMPLETE;
}

/* The next line's content (without its CR LF or LF); TW_EINCOMPLETE, cursor unmoved, if no LF. */
static int line_next(struct tw_cur *c, const uint8_t **line, size_t *n, unsigned *flags)
{
    const uint8_t *lf = memchr(c->p, '\n', tw_cur_left(c));

    if (lf == NULL)
        return TW_EINCOMPLETE;
    size_t k = (size_t)(lf - c->p);
    *line = tw_get_bytes(c, k + 1);
    if (k > 0 && (*line)[k - 1] == '\r') {
        *n = k - 1;
    } else {
        *n = k;
        *flags |= TW_HTTP_F_NO_CR;
    }
    return 0;
}

/* Which fields have been seen, for reporting the first of each. */
struct seen {
    bool user_agent, referer, cookie;
};

static void field_line(const uint8_t *line, size_t n, struct seen *seen, struct tw_http_req *out)
{
    out->n_fields++;
    const uint8_t *colon = memchr(line, ':', n);
    if (colon == NULL || colon == line) {
        out->flags |= TW_HTTP_F_FIELD;
        return;
    }
    size_t name_len = (size_t)(colon - line);
    for (size_t i = 0; i < name_len; i++) {
        if (!is_tchar(line[i])) {
            out->flags |= TW_HTTP_F_FIELD;
            return;
        }
    }
    const uint8_t *v = colon + 1;
    size_t vn = n - name_len - 1;
    while (vn > 0 && is_ows(v[0]))
        v++, vn--;
    while (vn > 0 && is_ows(v[vn - 1]))
        vn--;

    if (span_ieq_str(line, name_len, "host")) {
        if (out->n_host++ == 0 && tw_http_hostport_parse(v, vn, &out->host) != 0)
            out->flags |= TW_HTTP_F_HOST_BAD;
    } else if (span_ieq_str(line, name_len, "user-agent")) {
        if (!seen->user_agent)
            slice_set(&out->user_agent, &out->user_agent_len, v, vn);
        seen->user_agent = true;
    } else if (span_ieq_str(line, name_len, "referer")) {
        if (!seen->referer)
            slice_set(&out->referer, &out->referer_len, v, vn);
        seen->referer = true;
    } else if (span_ieq_str(line, name_len, "cookie")) {
        if (!seen->cookie)
            slice_set(&out->cookie, &out->cookie_len, v, vn);
        seen->cookie = true;
    }
}

/* Flags that need the whole header: Host missing, repeated, or not the target's host. */
static void host_checks(struct tw_http_req *out)
{
    if (out->n_host > 1)
        out->flags |= TW_HTTP_F_HOST_DUP;
    if (out->n_host == 0 && out->ver_major == 1 && out->ver_minor >= 1)
        out->flags |= TW_HTTP_F_NO_HOST;
    if (out->authority.host != NULL && out->host.host != NULL &&
        !span_ieq(out->authority.host, out->authority.host_len, out->host.host, out->host.host_len))
        out->flags |= TW_HTTP_F_HOST_MISMATCH;
}

static int request_parse(const uint8_t *buf, size_t len, struct tw_http_req *out)
{
    struct tw_cur c;
    const uint8_t *line;
    size_t n, method_len;
    struct seen seen = {false, false, false};

    tw_cur_init(&c, buf, len);
    int rc = request_line_frame(&c, &line, &n, &method_len, out);
    if (rc < 0)
        return rc;
    rc = request_line(line, n, method_len, out);
    if (rc < 0)
        return rc;
    if (out->flags & TW_HTTP_F_HTTP09)
        return (int)(c.p - buf);

    for (;;) {
        if (line_next(&c, &line, &n, &out->flags) < 0)
            return TW_EINCOMPLETE;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            if (is_ctl(line[i]) && line[i] != HTAB)
                out->flags |= TW_HTTP_F_CTL;
        if (is_ows(line[0]))
            out->flags |= TW_HTTP_F_OBS_FOLD;
        else
            field_line(line, n, &seen, out);
    }
    host_checks(out);
    return (int)(c.p - buf);
}

int tw_http_request_parse(const uint8_t *buf, size_t len, struct tw_http_req *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return TW_EINCOMPLETE;
    /* The header must end within the bound: only that much is looked at. */
    int rc = request_parse(buf, TW_MIN(len, (size_t)TW_HTTP_HDR_MAX), out);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        if (rc == TW_EINCOMPLETE && len >= TW_HTTP_HDR_MAX)
            rc = TW_EMALFORMED;
    }
    return rc;
}

bool tw_http_maybe_request(const uint8_t *buf, size_t len)
{
    size_t i = 0;

    while (i < len && (buf[i] == '\r' || buf[i] == '\n')) {
        if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
            return false;
        i += buf[i] == '\r' ? 2 : 1;
        if (i >= TW_HTTP_HDR_MAX)
            return false;
    }
    if (i >= len)
        return true;
    for (size_t m = 0; m < TW_ARRAY_SIZE(known_methods); m++) {
        if (buf[i] != (uint8_t)known_methods[m][0])
            continue; /* most bytes that reach here are not HTTP at all: no call for them */
        size_t ml = strlen(known_methods[m]);
        size_t k = TW_MIN(len - i, ml + 1);
        if (memcmp(buf + i, known_methods[m], TW_MIN(k, ml)) == 0 && (k <= ml || buf[i + ml] == SP))
            return true;
    }
    return false;
}
