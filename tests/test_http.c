/* SPDX-License-Identifier: MIT */
/*
 * Tests for the HTTP/1.x request header parser (src/proto/http.c).
 *
 * Every case runs whole and at every prefix length, each input copied into
 * an exact-size heap buffer (AddressSanitizer sees a one-byte over-read) and
 * placed just before a PROT_NONE page (an over-read faults in a plain build
 * too). The parser is called again on the whole buffer as bytes arrive, so
 * the prefixes are what byte-by-byte arrival looks like: a valid header must
 * be TW_EINCOMPLETE at every length short of its end and give the same result
 * at every length from there on (bytes after the header do not matter); an
 * invalid one must never succeed. Each call starts from a dirty *out, and the
 * input is compared afterwards to show it was not written.
 */
#include "tunwatch/proto/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_parse.h"

#define IN(s) .in = (s), .in_len = sizeof(s) - 1
#define TRAIL(s) .trail = (s), .trail_len = sizeof(s) - 1
#define OK 1 /* expected rc: success, the header being the input without its trail */
#define BUF_MAX (TW_HTTP_HDR_MAX + 64)

/* What a client sends after a CONNECT header: the start of a TLS ClientHello record. */
#define TLS_START "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03"

#define F_(x) TW_HTTP_F_##x

static uint8_t built[BUF_MAX];

/* p[0..n) copied to end just before a PROT_NONE page; release with guarded_free. */
struct guarded {
    uint8_t *map, *data;
    size_t map_len;
};

static struct guarded guarded_copy(const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (n + page - 1) / page;
    struct guarded g;

    g.map_len = (data_pages + 1) * page;
    g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.map != MAP_FAILED);
    assert_int_equal(mprotect(g.map + data_pages * page, page, PROT_NONE), 0);
    g.data = g.map + data_pages * page - n;
    if (n)
        memcpy(g.data, p, n);
    return g;
}

static void guarded_free(struct guarded *g)
{
    munmap(g->map, g->map_len);
}

/* ------------------------------------------------------------------ cases */

struct hp_want {
    const char *raw, *host, *port; /* port: decimal text, NULL for none */
};

struct http_case {
    int line;
    const char *in; /* the header (or what is not one) */
    size_t in_len;
    const char *trail; /* bytes after the header */
    size_t trail_len;
    int rc; /* OK, TW_EINCOMPLETE or TW_EMALFORMED for the whole input */
    const char *method, *target, *version;
    uint8_t major, minor, form;
    const char *scheme;
    struct hp_want auth;
    const char *uri, *path, *query, *ext, *fragment;
    struct hp_want host;
    const char *ua, *referer;
    unsigned n_fields, n_host, flags;
};

#define ORIGIN .form = TW_HTTP_FORM_ORIGIN
#define H11 .version = "HTTP/1.1", .major = 1, .minor = 1
#define H10 .version = "HTTP/1.0", .major = 1, .minor = 0
#define GET_ROOT .method = "GET", .target = "/", ORIGIN, .uri = "/", .path = "/"

static const struct http_case cases[] = {
    /* origin-form with path parameters, query and extension; a browser's fields */
    {__LINE__,
     IN("GET /dl/payload.php;jsessionid=1?id=42&x=%2F HTTP/1.1\r\n"
        "Host: www.example.com\r\n"
        "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n"
        "Accept: */*\r\n"
        "Referer: https://www.example.com/start\r\n"
        "Connection: keep-alive\r\n\r\n"),
     TRAIL("GET /next HTTP/1.1\r\n"), .rc = OK, .method = "GET",
     .target = "/dl/payload.php;jsessionid=1?id=42&x=%2F", H11, ORIGIN,
     .uri = "/dl/payload.php;jsessionid=1?id=42&x=%2F", .path = "/dl/payload.php;jsessionid=1",
     .query = "id=42&x=%2F", .ext = "php", .host = {"www.example.com", "www.example.com"},
     .ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", .referer = "https://www.example.com/start",
     .n_fields = 5, .n_host = 1},
    {__LINE__, IN("GET /index.html HTTP/1.1\r\nHost: a.example\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/index.html", H11, ORIGIN, .uri = "/index.html", .path = "/index.html",
     .ext = "html", .host = {"a.example", "a.example"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a.example", "a.example"}, .n_fields = 1, .n_host = 1},
    /* extensions: the last segment's, after its last dot, before ';' */
    {__LINE__, IN("GET /a.b/c?x.y HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/a.b/c?x.y", H10, ORIGIN, .uri = "/a.b/c?x.y", .path = "/a.b/c", .query = "x.y"},
    {__LINE__, IN("GET /d/archive.tar.gz HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/d/archive.tar.gz", H10, ORIGIN, .uri = "/d/archive.tar.gz",
     .path = "/d/archive.tar.gz", .ext = "gz"},
    {__LINE__, IN("GET /file. HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET", .target = "/file.",
     H10, ORIGIN, .uri = "/file.", .path = "/file."},
    {__LINE__, IN("GET /.htaccess HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/.htaccess", H10, ORIGIN, .uri = "/.htaccess", .path = "/.htaccess",
     .ext = "htaccess"},
    {__LINE__, IN("GET /a;b.c HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET", .target = "/a;b.c",
     H10, ORIGIN, .uri = "/a;b.c", .path = "/a;b.c"},
    {__LINE__, IN("GET /x.jsp;a.b HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/x.jsp;a.b", H10, ORIGIN, .uri = "/x.jsp;a.b", .path = "/x.jsp;a.b", .ext = "jsp"},
    {__LINE__, IN("GET /dir.d/?q HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/dir.d/?q", H10, ORIGIN, .uri = "/dir.d/?q", .path = "/dir.d/", .query = "q"},
    {__LINE__, IN("GET /? HTTP/1.0\r\n\r\n"), .rc = OK, .method = "GET", .target = "/?", H10,
     ORIGIN, .uri = "/?", .path = "/"},
    /* percent-encoding is kept as sent, never decoded */
    {__LINE__, IN("GET /a%20b/%2e%2e/c%2Ephp?q=%41 HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK,
     .method = "GET", .target = "/a%20b/%2e%2e/c%2Ephp?q=%41", H11, ORIGIN,
     .uri = "/a%20b/%2e%2e/c%2Ephp?q=%41", .path = "/a%20b/%2e%2e/c%2Ephp", .query = "q=%41",
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1},
    /* fragments: the client should not send them; uri, path and query stop before '#' */
    {__LINE__, IN("GET /page.html?x=1#sec HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/page.html?x=1#sec", H11, ORIGIN, .uri = "/page.html?x=1", .path = "/page.html",
     .query = "x=1", .ext = "html", .fragment = "sec", .host = {"a", "a"}, .n_fields = 1,
     .n_host = 1, .flags = F_(FRAGMENT)},
    {__LINE__, IN("GET /a.js#b?c.d HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/a.js#b?c.d", H11, ORIGIN, .uri = "/a.js", .path = "/a.js", .ext = "js",
     .fragment = "b?c.d", .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(FRAGMENT)},
    {__LINE__, IN("GET /# HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET", .target = "/#",
     H11, ORIGIN, .uri = "/", .path = "/", .host = {"a", "a"}, .n_fields = 1, .n_host = 1,
     .flags = F_(FRAGMENT)},

    /* POST: the body after the header is not read */
    {__LINE__,
     IN("POST /api/v1/upload HTTP/1.1\r\nHost: api.example.net\r\n"
        "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"),
     TRAIL("{\"a\":\"b\",\"c\"}"), .rc = OK, .method = "POST", .target = "/api/v1/upload", H11,
     ORIGIN, .uri = "/api/v1/upload", .path = "/api/v1/upload",
     .host = {"api.example.net", "api.example.net"}, .n_fields = 3, .n_host = 1},

    /* absolute-form, as a proxy receives it */
    {__LINE__,
     IN("GET http://k3.example.org:8080/path/file.exe?dl=1 HTTP/1.1\r\n"
        "Host: k3.example.org:8080\r\nProxy-Connection: keep-alive\r\n\r\n"),
     .rc = OK, .method = "GET", .target = "http://k3.example.org:8080/path/file.exe?dl=1", H11,
     .form = TW_HTTP_FORM_ABSOLUTE, .scheme = "http",
     .auth = {"k3.example.org:8080", "k3.example.org", "8080"},
     .uri = "http://k3.example.org:8080/path/file.exe?dl=1", .path = "/path/file.exe",
     .query = "dl=1", .ext = "exe", .host = {"k3.example.org:8080", "k3.example.org", "8080"},
     .n_fields = 2, .n_host = 1},
    {__LINE__, IN("GET http://example.com HTTP/1.1\r\nHost: EXAMPLE.com\r\n\r\n"), .rc = OK,
     .method = "GET", .target = "http://example.com", H11, .form = TW_HTTP_FORM_ABSOLUTE,
     .scheme = "http", .auth = {"example.com", "example.com"}, .uri = "http://example.com",
     .host = {"EXAMPLE.com", "EXAMPLE.com"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"), .rc = OK,
     .method = "GET", .target = "http://example.com?q=1", H11, .form = TW_HTTP_FORM_ABSOLUTE,
     .scheme = "http", .auth = {"example.com", "example.com"}, .uri = "http://example.com?q=1",
     .query = "q=1", .host = {"example.com", "example.com"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET http://user:pw@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"),
     .rc = OK, .method = "GET", .target = "http://user:pw@example.com/", H11,
     .form = TW_HTTP_FORM_ABSOLUTE, .scheme = "http",
     .auth = {"user:pw@example.com", "example.com"}, .uri = "http://user:pw@example.com/",
     .path = "/", .host = {"example.com", "example.com"}, .n_fields = 1, .n_host = 1,
     .flags = F_(USERINFO)},
    {__LINE__, IN("GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n"), .rc = OK,
     .method = "GET", .target = "http://a.example/x", H11, .form = TW_HTTP_FORM_ABSOLUTE,
     .scheme = "http", .auth = {"a.example", "a.example"}, .uri = "http://a.example/x",
     .path = "/x", .host = {"b.example", "b.example"}, .n_fields = 1, .n_host = 1,
     .flags = F_(HOST_MISMATCH)},
    {__LINE__,
     IN("POST https://[2001:db8::1]:8443/a.cgi HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n"),
     .rc = OK, .method = "POST", .target = "https://[2001:db8::1]:8443/a.cgi", H11,
     .form = TW_HTTP_FORM_ABSOLUTE, .scheme = "https",
     .auth = {"[2001:db8::1]:8443", "2001:db8::1", "8443"},
     .uri = "https://[2001:db8::1]:8443/a.cgi", .path = "/a.cgi", .ext = "cgi",
     .host = {"[2001:db8::1]:8443", "2001:db8::1", "8443"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "http:///x", H11, .form = TW_HTTP_FORM_ABSOLUTE, .scheme = "http",
     .uri = "http:///x", .path = "/x", .host = {"a", "a"}, .n_fields = 1, .n_host = 1,
     .flags = F_(TARGET)},
    {__LINE__, IN("GET urn:isbn:0451450523 HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "urn:isbn:0451450523", H11, .form = TW_HTTP_FORM_OTHER, .host = {"a", "a"},
     .n_fields = 1, .n_host = 1, .flags = F_(TARGET)},
    {__LINE__, IN("GET a.example:80/ HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "a.example:80/", H11, .form = TW_HTTP_FORM_OTHER, .host = {"a", "a"}, .n_fields = 1,
     .n_host = 1, .flags = F_(TARGET)},

    /* CONNECT: authority-form, the tunnelled bytes after the header */
    {__LINE__,
     IN("CONNECT tunnel.example.com:443 HTTP/1.1\r\nHost: tunnel.example.com:443\r\n"
        "User-Agent: curl/8.5.0\r\nProxy-Connection: Keep-Alive\r\n\r\n"),
     TRAIL(TLS_START), .rc = OK, .method = "CONNECT", .target = "tunnel.example.com:443", H11,
     .form = TW_HTTP_FORM_AUTHORITY,
     .auth = {"tunnel.example.com:443", "tunnel.example.com", "443"},
     .uri = "tunnel.example.com:443",
     .host = {"tunnel.example.com:443", "tunnel.example.com", "443"}, .ua = "curl/8.5.0",
     .n_fields = 3, .n_host = 1},
    {__LINE__, IN("CONNECT [2001:db8::2]:8443 HTTP/1.0\r\n\r\n"), TRAIL(TLS_START), .rc = OK,
     .method = "CONNECT", .target = "[2001:db8::2]:8443", H10, .form = TW_HTTP_FORM_AUTHORITY,
     .auth = {"[2001:db8::2]:8443", "2001:db8::2", "8443"}, .uri = "[2001:db8::2]:8443"},
    {__LINE__, IN("CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), .rc = OK,
     .method = "CONNECT", .target = "example.com", H11, .form = TW_HTTP_FORM_AUTHORITY,
     .auth = {"example.com", "example.com"}, .uri = "example.com",
     .host = {"example.com", "example.com"}, .n_fields = 1, .n_host = 1, .flags = F_(TARGET)},
    {__LINE__, IN("CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n"), .rc = OK,
     .method = "CONNECT", .target = "a.example:443", H11, .form = TW_HTTP_FORM_AUTHORITY,
     .auth = {"a.example:443", "a.example", "443"}, .uri = "a.example:443",
     .host = {"b.example:443", "b.example", "443"}, .n_fields = 1, .n_host = 1,
     .flags = F_(HOST_MISMATCH)},
    {__LINE__, IN("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "CONNECT",
     .target = "/x", H11, .form = TW_HTTP_FORM_AUTHORITY, .auth = {"/x", "/x"}, .uri = "/x",
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(TARGET) | F_(HOST_MISMATCH)},

    /* asterisk-form: OPTIONS only; the HTTP/2 preface parses as PRI * HTTP/2.0 */
    {__LINE__, IN("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n"), .rc = OK, .method = "OPTIONS",
     .target = "*", H11, .form = TW_HTTP_FORM_ASTERISK, .uri = "*",
     .host = {"example.com", "example.com"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET", .target = "*",
     H11, .form = TW_HTTP_FORM_ASTERISK, .uri = "*", .host = {"a", "a"}, .n_fields = 1, .n_host = 1,
     .flags = F_(TARGET)},
    {__LINE__, IN("PRI * HTTP/2.0\r\n\r\n"), TRAIL("SM\r\n\r\n"), .rc = OK, .method = "PRI",
     .target = "*", .version = "HTTP/2.0", .major = 2, .form = TW_HTTP_FORM_ASTERISK, .uri = "*",
     .flags = F_(METHOD) | F_(VERSION) | F_(TARGET)},

    /* versions: 1.0 needs no Host, 1.1 does; a line without one is HTTP/0.9 (GET only) */
    {__LINE__, IN("GET /old HTTP/1.0\r\nUser-Agent: Wget/1.12 (linux-gnu)\r\n\r\n"), .rc = OK,
     .method = "GET", .target = "/old", H10, ORIGIN, .uri = "/old", .path = "/old",
     .ua = "Wget/1.12 (linux-gnu)", .n_fields = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), .rc = OK, GET_ROOT, H11, .n_fields = 1,
     .flags = F_(NO_HOST)},
    {__LINE__, IN("GET / HTTP/1.1\r\n\r\n"), .rc = OK, GET_ROOT, H11, .flags = F_(NO_HOST)},
    {__LINE__, IN("GET / HTTP/1.2\r\n\r\n"), .rc = OK, GET_ROOT, .version = "HTTP/1.2", .major = 1,
     .minor = 2, .flags = F_(NO_HOST)},
    {__LINE__, IN("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), .rc = OK, GET_ROOT, .version = "HTTP/1.10",
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(VERSION)},
    {__LINE__, IN("GET / http/1.1\r\n"), TRAIL("Host: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/ http/1.1", .minor = 9, ORIGIN, .uri = "/ http/1.1", .path = "/ http/1.1",
     .ext = "1", .flags = F_(HTTP09) | F_(LINE)},
    {__LINE__, IN("GET /index.html\r\n"), TRAIL("Host: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/index.html", .minor = 9, ORIGIN, .uri = "/index.html", .path = "/index.html",
     .ext = "html", .flags = F_(HTTP09)},
    {__LINE__, IN("GET /\n"), .rc = OK, GET_ROOT, .minor = 9, .flags = F_(HTTP09) | F_(NO_CR)},
    {__LINE__, IN("GET \r\n"), .rc = OK, .method = "GET", .minor = 9,
     .flags = F_(HTTP09) | F_(LINE)},
    {__LINE__, IN("HEAD /\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("get /\r\n\r\n"), .rc = TW_EMALFORMED},

    /* Host: port, IPv6 literals, OWS, oddities */
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: example.com:8443\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"example.com:8443", "example.com", "8443"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: example.com:00080\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"example.com:00080", "example.com", "80"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"example.com:", "example.com"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: example.com:65536\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"example.com:65536", "example.com"}, .n_fields = 1, .n_host = 1,
     .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: example.com:8o\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"example.com:8o", "example.com"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: :80\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {":80", NULL, "80"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"[2001:db8::1]:8080", "2001:db8::1", "8080"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"[fe80::1%25eth0]", "fe80::1%25eth0"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: [2001:db8::1\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"[2001:db8::1"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"[::1]x", "::1"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"2001:db8::1", "2001:db8:", "1"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: \t a.example \t\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a.example", "a.example"}, .n_fields = 1, .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost:\r\n\r\n"), .rc = OK, GET_ROOT, H11, .n_fields = 1,
     .n_host = 1},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"u@a.example", "a.example"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a b.example\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a b.example", "a b.example"}, .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"xn--bcher-kva.example", "xn--bcher-kva.example"}, .n_fields = 1, .n_host = 1},
    {__LINE__,
     IN("GET / HTTP/1.1\r\nHost: b\xc3\xbc"
        "cher.example\r\n\r\n"),
     .rc = OK, GET_ROOT, H11,
     .host = {"b\xc3\xbc"
              "cher.example",
              "b\xc3\xbc"
              "cher.example"},
     .n_fields = 1, .n_host = 1, .flags = F_(HOST_BAD)},
    /* repeated Host: the first reported, the count kept */
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a.example\r\nX: 1\r\nhost: b.example:81\r\n\r\n"),
     .rc = OK, GET_ROOT, H11, .host = {"a.example", "a.example"}, .n_fields = 3, .n_host = 2,
     .flags = F_(HOST_DUP)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost:\r\nHost: b.example\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .n_fields = 2, .n_host = 2, .flags = F_(HOST_DUP)},

    /* header names in any case; the first User-Agent and Referer */
    {__LINE__,
     IN("GET /x HTTP/1.1\r\nhost: a.example\r\nuser-agent: python-requests/2.31.0\r\n"
        "REFERER: http://r.example/\r\nUSER-AGENT: second\r\nreferer: second\r\n\r\n"),
     .rc = OK, .method = "GET", .target = "/x", H11, ORIGIN, .uri = "/x", .path = "/x",
     .host = {"a.example", "a.example"}, .ua = "python-requests/2.31.0",
     .referer = "http://r.example/", .n_fields = 5, .n_host = 1},
    {__LINE__,
     IN("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent:\r\nUser-Agent: "
        "later\r\n\r\n"),
     .rc = OK, GET_ROOT, H11, .host = {"a", "a"}, .n_fields = 3, .n_host = 1},
    {__LINE__,
     IN("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent:  a  b \r\nReferrer: "
        "x\r\n\r\n"),
     .rc = OK, GET_ROOT, H11, .host = {"a", "a"}, .ua = "a  b", .n_fields = 3, .n_host = 1},

    /* obs-fold: flagged, not joined; a value is its first line's */
    {__LINE__,
     IN("GET / HTTP/1.1\r\nHost: a.example\r\nUser-Agent: Mozilla/5.0\r\n (folded)\r\n"
        "\tmore\r\nAccept: */*\r\n\r\n"),
     .rc = OK, GET_ROOT, H11, .host = {"a.example", "a.example"}, .ua = "Mozilla/5.0",
     .n_fields = 3, .n_host = 1, .flags = F_(OBS_FOLD)},
    {__LINE__, IN("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .flags = F_(OBS_FOLD) | F_(NO_HOST)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(OBS_FOLD)},

    /* bare LF line endings, and empty lines before the request line */
    {__LINE__, IN("GET / HTTP/1.1\nHost: a\nUser-Agent: x\n\n"), TRAIL("\n"), .rc = OK, GET_ROOT,
     H11, .host = {"a", "a"}, .ua = "x", .n_fields = 2, .n_host = 1, .flags = F_(NO_CR)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\n\r\n"), .rc = OK, GET_ROOT, H11, .host = {"a", "a"},
     .n_fields = 1, .n_host = 1, .flags = F_(NO_CR)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\r\n\n"), .rc = OK, GET_ROOT, H11, .host = {"a", "a"},
     .n_fields = 1, .n_host = 1, .flags = F_(NO_CR)},
    {__LINE__, IN("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(LEADING_EOL)},
    {__LINE__, IN("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(LEADING_EOL) | F_(NO_CR)},

    /* any token is a method; the ones not registered are flagged */
    {__LINE__, IN("FOO-BAR /x HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "FOO-BAR",
     .target = "/x", H11, ORIGIN, .uri = "/x", .path = "/x", .host = {"a", "a"}, .n_fields = 1,
     .n_host = 1, .flags = F_(METHOD)},
    {__LINE__, IN("get / HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "get", .target = "/",
     H11, ORIGIN, .uri = "/", .path = "/", .host = {"a", "a"}, .n_fields = 1, .n_host = 1,
     .flags = F_(METHOD)},
    {__LINE__, IN("PROPFIND /dav/ HTTP/1.1\r\nHost: a\r\nDepth: 1\r\n\r\n"), .rc = OK,
     .method = "PROPFIND", .target = "/dav/", H11, ORIGIN, .uri = "/dav/", .path = "/dav/",
     .host = {"a", "a"}, .n_fields = 2, .n_host = 1},

    /* request lines with odd spacing: read, flagged */
    {__LINE__, IN("GET  /  HTTP/1.1 \r\nHost: a\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(LINE)},
    {__LINE__, IN("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/a b", H11, ORIGIN, .uri = "/a b", .path = "/a b", .host = {"a", "a"},
     .n_fields = 1, .n_host = 1, .flags = F_(LINE)},
    {__LINE__, IN("GET / HTTP/1.1 x\r\n"), TRAIL("Host: a\r\n\r\n"), .rc = OK, .method = "GET",
     .target = "/ HTTP/1.1 x", .minor = 9, ORIGIN, .uri = "/ HTTP/1.1 x", .path = "/ HTTP/1.1 x",
     .ext = "1 x", .flags = F_(HTTP09) | F_(LINE)},
    {__LINE__, IN("GET / HTTP/\r\nHost: a\r\n\r\n"), .rc = OK, GET_ROOT, .version = "HTTP/",
     .host = {"a", "a"}, .n_fields = 1, .n_host = 1, .flags = F_(VERSION)},
    {__LINE__, IN("POST / FTP/1.1\r\nHost: a\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET  HTTP/1.1\r\n"), TRAIL("Host: a\r\n\r\n"), .rc = OK, .method = "GET",
     .minor = 9, .target = "HTTP/1.1", .form = TW_HTTP_FORM_OTHER,
     .flags = F_(LINE) | F_(HTTP09) | F_(TARGET)},

    /* field lines that are not fields, control bytes: read, flagged */
    {__LINE__, IN("GET / HTTP/1.1\r\nHost : evil\r\nnocolon\r\n: x\r\nHost: a\r\n\r\n"), .rc = OK,
     GET_ROOT, H11, .host = {"a", "a"}, .n_fields = 4, .n_host = 1, .flags = F_(FIELD)},
    {__LINE__,
     IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
        "b\r\nY: c\rd\r\nZ: \x7f\r\n\r\n"),
     .rc = OK, GET_ROOT, H11, .host = {"a", "a"}, .n_fields = 4, .n_host = 1, .flags = F_(CTL)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a", "a"}, .n_fields = 2, .n_host = 1, .flags = F_(CTL) | F_(FIELD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a.example\x01.evil\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a.example\x01.evil", "a.example\x01.evil"}, .n_fields = 1, .n_host = 1,
     .flags = F_(CTL) | F_(HOST_BAD)},
    {__LINE__, IN("GET / HTTP/1.1\r\nX-Tab:\tv\r\nHost: a\r\n\r\n"), .rc = OK, GET_ROOT, H11,
     .host = {"a", "a"}, .n_fields = 2, .n_host = 1},

    /* not yet whole */
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\r\n"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN("GET / HTTP/1.1\r\nHost: a\r\n\r"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN("GET / HTTP/1.1\r"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN("\r"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN("OPTIONS"), .rc = TW_EINCOMPLETE},
    {__LINE__, IN(""), .rc = TW_EINCOMPLETE},

    /* not HTTP */
    {__LINE__, IN("hello world\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("SSH-2.0-OpenSSH_9.6\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN(" GET / HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET\t/ HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET / HTTP/1.1\t\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET /\x00 HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET /\rX HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("GET\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("G(ET / HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("\r\r\nGET / HTTP/1.1\r\n\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN(TLS_START), .rc = TW_EMALFORMED},
    {__LINE__, IN("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c"), .rc = TW_EMALFORMED},
    {__LINE__, IN("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"), .rc = TW_EMALFORMED},
    {__LINE__, IN("\x00\x00\x00\x01"), .rc = TW_EMALFORMED},
};

static void check_hp(int l, size_t k, const struct tw_http_hostport *hp, const struct hp_want *w,
                     const uint8_t *buf, size_t hlen)
{
    EXPECT(l, k, slice_is(hp->raw, hp->raw_len, buf, hlen, w->raw));
    EXPECT(l, k, slice_is(hp->host, hp->host_len, buf, hlen, w->host));
    if (w->port == NULL)
        EXPECT(l, k, !hp->has_port && hp->port == 0);
    else
        EXPECT(l, k, hp->has_port && hp->port == atoi(w->port));
}

static void check_want(const struct http_case *c, const uint8_t *buf, size_t k, size_t hlen,
                       const struct tw_http_req *r)
{
    int l = c->line;

    EXPECT(l, k, r->flags == c->flags);
    EXPECT(l, k, slice_is(r->method, r->method_len, buf, hlen, c->method));
    EXPECT(l, k, slice_is(r->target, r->target_len, buf, hlen, c->target));
    EXPECT(l, k, slice_is(r->version, r->version_len, buf, hlen, c->version));
    EXPECT(l, k, r->ver_major == c->major && r->ver_minor == c->minor);
    EXPECT(l, k, r->form == c->form);
    EXPECT(l, k, slice_is(r->scheme, r->scheme_len, buf, hlen, c->scheme));
    check_hp(l, k, &r->authority, &c->auth, buf, hlen);
    EXPECT(l, k, slice_is(r->uri, r->uri_len, buf, hlen, c->uri));
    EXPECT(l, k, slice_is(r->path, r->path_len, buf, hlen, c->path));
    EXPECT(l, k, slice_is(r->query, r->query_len, buf, hlen, c->query));
    EXPECT(l, k, slice_is(r->ext, r->ext_len, buf, hlen, c->ext));
    EXPECT(l, k, slice_is(r->fragment, r->fragment_len, buf, hlen, c->fragment));
    check_hp(l, k, &r->host, &c->host, buf, hlen);
    EXPECT(l, k, slice_is(r->user_agent, r->user_agent_len, buf, hlen, c->ua));
    EXPECT(l, k, slice_is(r->referer, r->referer_len, buf, hlen, c->referer));
    EXPECT(l, k, r->n_fields == c->n_fields);
    EXPECT(l, k, r->n_host == c->n_host);
}

/* One call on data[0..k) from a dirty *out, judged against the case. */
static void judge(const struct http_case *c, const uint8_t *d, size_t k, size_t n, size_t hlen)
{
    struct tw_http_req r;
    int l = c->line;

    memset(&r, 0xa5, sizeof(r));
    int rc = tw_http_request_parse(d, k, &r);
    if (c->rc == OK && k >= hlen) {
        EXPECT(l, k, rc == (int)hlen);
        check_want(c, d, k, hlen, &r);
    } else {
        if (c->rc == OK || c->rc == TW_EINCOMPLETE)
            EXPECT(l, k, rc == TW_EINCOMPLETE);
        else if (k == n)
            EXPECT(l, k, rc == c->rc);
        else
            EXPECT(l, k, rc == TW_EINCOMPLETE || rc == TW_EMALFORMED);
        EXPECT(l, k, all_zero(&r, sizeof(r)));
    }
    EXPECT(l, k, memcmp(d, built, k) == 0);
    /* a request with a registered method is recognised from its first byte on */
    if (c->rc == OK && (c->flags & TW_HTTP_F_METHOD) == 0)
        EXPECT(l, k, tw_http_maybe_request(d, k));
    if (c->rc == OK && (c->flags & TW_HTTP_F_METHOD) != 0 && k == n)
        EXPECT(l, k, !tw_http_maybe_request(d, k));
}

/* Every case whole and at every prefix, in exact-size copies and before a guard page. */
static void test_cases(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(cases); ci++) {
        const struct http_case *c = &cases[ci];
        size_t tn = c->trail_len;
        size_t n = c->in_len + tn;

        assert_true(n <= sizeof(built));
        memcpy(built, c->in, c->in_len);
        if (tn)
            memcpy(built + c->in_len, c->trail, tn);
        for (size_t k = 0; k <= n; k++) {
            uint8_t *d = exact_copy(built, k);
            judge(c, d, k, n, c->in_len);
            free(d);
            struct guarded g = guarded_copy(built, k);
            judge(c, g.data, k, n, c->in_len);
            guarded_free(&g);
        }
    }
}

/* ------------------------------------------------------------------ bound */

/* A header of `total` bytes: request line, Host, one long field, the empty line. */
static size_t long_header(uint8_t *out, size_t total)
{
    static const char head[] = "GET /p HTTP/1.1\r\nHost: a.example\r\nX-Pad: ";
    size_t hn = sizeof(head) - 1;

    assert_true(total >= hn + 4 && total <= BUF_MAX);
    memcpy(out, head, hn);
    memset(out + hn, 'p', total - hn - 4);
    memcpy(out + total - 4, "\r\n\r\n", 4);
    return total;
}

/*
 * The header must end within TW_HTTP_HDR_MAX bytes, whole or byte by byte: a
 * header of exactly that length is taken (with bytes after it or without),
 * one of a byte more is refused once that many bytes are in and no end.
 */
static void test_bound(void **state)
{
    (void)state;
    static const size_t totals[] = {TW_HTTP_HDR_MAX - 1, TW_HTTP_HDR_MAX, TW_HTTP_HDR_MAX + 1,
                                    TW_HTTP_HDR_MAX + 2};
    struct tw_http_req r;

    for (size_t t = 0; t < TW_ARRAY_SIZE(totals); t++) {
        size_t n = long_header(built, totals[t]);
        memcpy(built + n, "GET /", 5);
        for (size_t k = n - 8; k <= n + 5; k++) {
            uint8_t *d = exact_copy(built, k);
            int want = n <= TW_HTTP_HDR_MAX
                           ? (k >= n ? (int)n : TW_EINCOMPLETE)
                           : (k >= TW_HTTP_HDR_MAX ? TW_EMALFORMED : TW_EINCOMPLETE);
            int rc = tw_http_request_parse(d, k, &r);
            EXPECT(__LINE__, k, rc == want);
            if (rc > 0) {
                EXPECT(__LINE__, k, slice_is(r.host.host, r.host.host_len, d, n, "a.example"));
                EXPECT(__LINE__, k, r.n_fields == 2 && r.flags == 0);
            }
            free(d);
        }
    }

    /* a request line as long as the bound allows: target of MAX - 19 bytes */
    static const char tail[] = " HTTP/1.0\r\n\r\n";
    size_t tl = sizeof(tail) - 1;
    built[0] = 'G', built[1] = 'E', built[2] = 'T', built[3] = ' ', built[4] = '/';
    memset(built + 5, 'u', TW_HTTP_HDR_MAX - 5 - tl);
    memcpy(built + TW_HTTP_HDR_MAX - tl, tail, tl);
    uint8_t *d = exact_copy(built, TW_HTTP_HDR_MAX);
    assert_int_equal(tw_http_request_parse(d, TW_HTTP_HDR_MAX, &r), TW_HTTP_HDR_MAX);
    assert_int_equal(r.path_len, TW_HTTP_HDR_MAX - 4 - tl);
    free(d);

    /* no end at all: one byte short of the bound may still become a header */
    memset(built + 5, 'u', TW_HTTP_HDR_MAX);
    for (size_t k = TW_HTTP_HDR_MAX - 2; k <= TW_HTTP_HDR_MAX + 1; k++) {
        d = exact_copy(built, k);
        EXPECT(__LINE__, k,
               tw_http_request_parse(d, k, &r) ==
                   (k < TW_HTTP_HDR_MAX ? TW_EINCOMPLETE : TW_EMALFORMED));
        free(d);
    }

    /* many short fields up to the bound: each counted, the last Host one of many */
    static const char line[] = "GET / HTTP/1.1\r\n";
    size_t n = sizeof(line) - 1, fields = 0;
    memcpy(built, line, n);
    while (n + 10 + 2 <= TW_HTTP_HDR_MAX) {
        memcpy(built + n, fields % 100 == 99 ? "Host:  h\r\n" : "X-Aa: 1\r\n",
               fields % 100 == 99 ? 10 : 9);
        n += fields % 100 == 99 ? 10 : 9;
        fields++;
    }
    memcpy(built + n, "\r\n", 2);
    n += 2;
    d = exact_copy(built, n);
    assert_int_equal(tw_http_request_parse(d, n, &r), (int)n);
    assert_int_equal(r.n_fields, fields);
    assert_int_equal(r.n_host, fields / 100);
    assert_int_equal(r.flags, TW_HTTP_F_HOST_DUP);
    free(d);
}

/* ---------------------------------------------------------------- methods */

/*
 * Each registered method in a whole request: recognised by
 * tw_http_maybe_request at every split of its first bytes, parsed without
 * TW_HTTP_F_METHOD, incomplete before its end.
 */
static void test_methods(void **state)
{
    (void)state;
    static const char *const methods[] = {
        "GET",        "POST",       "HEAD",     "PUT",       "DELETE", "OPTIONS",
        "PATCH",      "TRACE",      "CONNECT",  "PROPFIND",  "MKCOL",  "COPY",
        "MOVE",       "LOCK",       "UNLOCK",   "PROPPATCH", "SEARCH", "REPORT",
        "MKCALENDAR", "MKACTIVITY", "CHECKOUT", "MERGE",     "ACL",
    };
    struct tw_http_req r;
    char req[128];

    for (size_t m = 0; m < TW_ARRAY_SIZE(methods); m++) {
        int n = snprintf(req, sizeof(req), "%s a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n",
                         methods[m]);
        assert_true(n > 0 && (size_t)n < sizeof(req));
        if (strcmp(methods[m], "CONNECT") != 0)
            n = snprintf(req, sizeof(req), "%s /x HTTP/1.1\r\nHost: a.example\r\n\r\n", methods[m]);
        for (size_t k = 0; k <= (size_t)n; k++) {
            uint8_t *d = exact_copy(req, k);
            EXPECT(__LINE__, k, tw_http_maybe_request(d, k));
            int rc = tw_http_request_parse(d, k, &r);
            EXPECT(__LINE__, k, rc == (k == (size_t)n ? n : TW_EINCOMPLETE));
            if (rc > 0)
                EXPECT(__LINE__, k, r.flags == 0 && r.method_len == strlen(methods[m]));
            free(d);
        }
    }
}

static void test_maybe_request(void **state)
{
    (void)state;
    static const struct {
        int line;
        const char *b;
        size_t len;
        bool want;
    } tab[] = {
        {__LINE__, "", 0, true},          {__LINE__, "G", 1, true},
        {__LINE__, "GE", 2, true},        {__LINE__, "GET", 3, true},
        {__LINE__, "GET ", 4, true},      {__LINE__, "GET /x HTTP/1.1\r\n", 17, true},
        {__LINE__, "GETX", 4, false},     {__LINE__, "GE ", 3, false},
        {__LINE__, "get ", 4, false},     {__LINE__, "P", 1, true},
        {__LINE__, "PU", 2, true},        {__LINE__, "PUT", 3, true},
        {__LINE__, "PUX", 3, false},      {__LINE__, "PROPFIN", 7, true},
        {__LINE__, "PROPFIND ", 9, true}, {__LINE__, "PROPPATCH ", 10, true},
        {__LINE__, "PRI ", 4, false},     {__LINE__, "PROXY ", 6, false},
        {__LINE__, "OPTIONS", 7, true},   {__LINE__, "OPTIONSX", 8, false},
        {__LINE__, "OPTIONS *", 9, true}, {__LINE__, "CONNECT ", 8, true},
        {__LINE__, "\r", 1, true},        {__LINE__, "\r\n", 2, true},
        {__LINE__, "\n\r\nGE", 5, true},  {__LINE__, "\r\nGET ", 6, true},
        {__LINE__, "\r\r", 2, false},     {__LINE__, "\r\n\r\n\0\r\nQUIT\n", 12, false},
        {__LINE__, " GET ", 5, false},    {__LINE__, "\x16\x03\x01\x02\x00", 5, false},
        {__LINE__, "SSH-2.0-", 8, false}, {__LINE__, "\0", 1, false},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(tab); i++) {
        uint8_t *d = exact_copy(tab[i].b, tab[i].len);
        EXPECT(tab[i].line, tab[i].len, tw_http_maybe_request(d, tab[i].len) == tab[i].want);
        free(d);
    }
    /* empty lines up to the bound, then nothing the bound leaves room for */
    memset(built, '\n', TW_HTTP_HDR_MAX);
    assert_true(tw_http_maybe_request(built, TW_HTTP_HDR_MAX - 1));
    assert_false(tw_http_maybe_request(built, TW_HTTP_HDR_MAX));
}

/* ---------------------------------------------------------- host and port */

static void test_hostport(void **state)
{
    (void)state;
    static const struct {
        int line;
        const char *a;
        unsigned want;
        const char *host;
        long port; /* -1: none */
    } tab[] = {
        {__LINE__, "", 0, NULL, -1},
        {__LINE__, "a.example", 0, "a.example", -1},
        {__LINE__, "a.example:0", 0, "a.example", 0},
        {__LINE__, "a.example:65535", 0, "a.example", 65535},
        {__LINE__, "a.example:0000000443", 0, "a.example", 443},
        {__LINE__, "192.0.2.1:80", 0, "192.0.2.1", 80},
        {__LINE__, "[::1]:80", 0, "::1", 80},
        {__LINE__, "[::1]:", 0, "::1", -1},
        {__LINE__, "[]:80", TW_HTTP_F_HOST_BAD, NULL, 80},
        {__LINE__, "[::1", TW_HTTP_F_HOST_BAD, NULL, -1},
        {__LINE__, "[::1]80", TW_HTTP_F_HOST_BAD, "::1", -1},
        {__LINE__, "[a/b]", TW_HTTP_F_HOST_BAD, "a/b", -1},
        {__LINE__, "u:p@h:1", TW_HTTP_F_USERINFO, "h", 1},
        {__LINE__, "u@v@h", TW_HTTP_F_USERINFO, "h", -1},
        {__LINE__, "u@", TW_HTTP_F_USERINFO | TW_HTTP_F_HOST_BAD, NULL, -1},
        {__LINE__, "@h", TW_HTTP_F_USERINFO, "h", -1},
        {__LINE__, "h:-1", TW_HTTP_F_HOST_BAD, "h", -1},
        {__LINE__, "h:99999", TW_HTTP_F_HOST_BAD, "h", -1},
        {__LINE__, "h/x", TW_HTTP_F_HOST_BAD, "h/x", -1},
        {__LINE__, ":", TW_HTTP_F_HOST_BAD, NULL, -1},
    };
    struct tw_http_hostport hp;

    for (size_t i = 0; i < TW_ARRAY_SIZE(tab); i++) {
        size_t n = strlen(tab[i].a);
        uint8_t *d = exact_copy(tab[i].a, n);
        int l = tab[i].line;

        memset(&hp, 0xa5, sizeof(hp));
        EXPECT(l, n, tw_http_hostport_parse(d, n, &hp) == tab[i].want);
        EXPECT(l, n, slice_is(hp.raw, hp.raw_len, d, n, n ? tab[i].a : NULL));
        EXPECT(l, n, slice_is(hp.host, hp.host_len, d, n, tab[i].host));
        if (tab[i].port < 0)
            EXPECT(l, n, !hp.has_port && hp.port == 0);
        else
            EXPECT(l, n, hp.has_port && hp.port == tab[i].port);
        free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),    cmocka_unit_test(test_bound),
        cmocka_unit_test(test_methods),  cmocka_unit_test(test_maybe_request),
        cmocka_unit_test(test_hostport),
    };
    return tw_run_tests(tests, NULL, NULL);
}
