/* SPDX-License-Identifier: MIT */
/* Exclusions: file syntax and its errors, matching semantics, hit counters under threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/match/exclude.h"
#include "tunwatch/base/netaddr.h"

#define EXAMPLE "tests/exclude/example.excl"
#define SECOND "tests/exclude/second.excl"
#define BAD "tests/exclude/bad.excl"
#define EMPTY "tests/exclude/empty.excl"

#define R_1537 "1537b3d4-1b53-4c3f-9f8e-0d8c3e8e1a2b"
#define R_C456 "c4568f5d-0000-4000-8000-000000000001"
#define R_AAAA "aaaa0000-0000-4000-8000-00000000000a"
#define R_OTHER "deadbeef-0000-4000-8000-000000000000"

/* Writes content (len bytes) to a fresh temporary file; returns its path (static buffer). */
static const char *write_tmp(const char *content, size_t len)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/tw_excl_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads path into ex; the error log goes to *log (caller frees). */
static int load_logged(struct tw_exclusions *ex, const char *path, char **log)
{
    size_t loglen = 0;
    FILE *f = open_memstream(log, &loglen);
    int rc;

    assert_non_null(f);
    rc = tw_exclusions_load(ex, path, f);
    fclose(f);
    return rc;
}

static struct tw_exclusions *load_example(void)
{
    struct tw_exclusions *ex = tw_exclusions_new();
    char *log = NULL;

    assert_non_null(ex);
    assert_int_equal(load_logged(ex, EXAMPLE, &log), 0);
    assert_string_equal(log, "");
    free(log);
    return ex;
}

static void test_syntax_ok(void **state)
{
    (void)state;
    static const struct {
        int line;
        const char *content;
        size_t entries, scoped, rules;
    } cases[] = {
        {__LINE__, "", 0, 0, 0},
        {__LINE__, "# only a comment\n\n   \t\n", 0, 0, 0},
        {__LINE__, "domain=a.example", 1, 0, 0}, /* no final newline */
        {__LINE__, "domain=a.example\n", 1, 0, 0},
        {__LINE__, "domain=a.example.\n", 1, 0, 0},
        {__LINE__, "domain=A-B_c.Example\n", 1, 0, 0},
        {__LINE__, "src=10.0.0.1\n", 1, 0, 0},
        {__LINE__, "src=10.0.0.0/8\n", 1, 0, 0},
        {__LINE__, "dst=2001:db8::/32\n", 1, 0, 0},
        {__LINE__, "dst=::1\n", 1, 0, 0},
        {__LINE__, "image=/usr/bin/apt*\n", 1, 0, 0},
        {__LINE__, "image=/a#b\n", 1, 0, 0}, /* '#' not after a blank is part of the value */
        {__LINE__, "image=\"/opt/My App/x\"\n", 1, 0, 0},
        {__LINE__, "image=\"/opt/x # y\"  # comment\n", 1, 0, 0},
        {__LINE__, "rule=r1\n", 1, 1, 1}, /* a whole rule */
        {__LINE__, "rule=r1 domain=a.example\nrule=R1 src=10.0.0.0/8\nrule=r2 dst=::/0\n", 3, 3, 2},
        {__LINE__, "rule=r1 domain=a.example src=10.0.0.0/8 dst=10.1.0.0/16 image=/x\n", 1, 1, 1},
        {__LINE__, "  domain=a.example   src=10.0.0.0/8  # trailing comment\n", 1, 0, 0},
        {__LINE__, "domain=a.example\r\nsrc=1.2.3.4\r\n", 2, 0, 0},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_exclusions *ex = tw_exclusions_new();
        struct tw_exclusions_stats st;
        const char *path = write_tmp(cases[i].content, strlen(cases[i].content));
        char *log = NULL;
        int rc = load_logged(ex, path, &log);

        unlink(path);
        tw_exclusions_get_stats(ex, &st);
        if (rc != 0 || st.entries != cases[i].entries || st.scoped != cases[i].scoped ||
            st.rules != cases[i].rules)
            fail_msg("case at line %d: rc %d entries %zu scoped %zu rules %zu log '%s'",
                     cases[i].line, rc, st.entries, st.scoped, st.rules, log);
        free(log);
        tw_exclusions_free(ex);
    }
}

static void test_syntax_errors(void **state)
{
    (void)state;
    static const struct {
        int line;
        const char *content;
        size_t len;         /* 0: strlen */
        const char *expect; /* in the log, after the path when it starts with ':' */
    } cases[] = {
        {__LINE__, "domian=a.example\n", 0, ":1: unknown key 'domian'"},
        {__LINE__, "Domain=a.example\n", 0, ":1: unknown key 'Domain'"},
        {__LINE__, "domain=a.example domain=b.example\n", 0, ":1: key 'domain' given twice"},
        {__LINE__, "rule=x rule=y\n", 0, ":1: key 'rule' given twice"},
        {__LINE__, "domain=\n", 0, ":1: empty value for 'domain'"},
        {__LINE__, "src=\"\"\n", 0, ":1: empty value for 'src'"},
        {__LINE__, "rule= domain=a.example\n", 0, ":1: empty value for 'rule'"},
        {__LINE__, "a.example\n", 0, ":1: 'a.example' is not KEY=VALUE"},
        {__LINE__, "domain = a.example\n", 0, ":1: 'domain' is not KEY=VALUE"},
        {__LINE__, "=a.example\n", 0, ":1: a term starts with '=': no key"},
        {__LINE__, "dst=10.0.0.0/33\n", 0, ":1: bad CIDR '10.0.0.0/33' for 'dst'"},
        {__LINE__, "dst=10.1.2.3/8\n", 0, ":1: bad CIDR '10.1.2.3/8' for 'dst'"},
        {__LINE__, "src=10.0.0\n", 0, ":1: bad CIDR '10.0.0' for 'src'"},
        {__LINE__, "src=2001:db8::/129\n", 0, ":1: bad CIDR '2001:db8::/129' for 'src'"},
        {__LINE__, "src=2001:db8::1/32\n", 0, ":1: bad CIDR '2001:db8::1/32' for 'src'"},
        {__LINE__, "src=10.0.0.0/\n", 0, ":1: bad CIDR '10.0.0.0/' for 'src'"},
        {__LINE__, "src=host.example\n", 0, ":1: bad CIDR 'host.example' for 'src'"},
        {__LINE__, "domain=*.a.example\n", 0, ":1: bad domain '*.a.example': write the name"},
        {__LINE__, "domain=a..example\n", 0, ":1: bad domain 'a..example': empty label"},
        {__LINE__, "domain=.a.example\n", 0, ":1: bad domain '.a.example': empty label"},
        {__LINE__, "domain=.\n", 0, ":1: bad domain '.': empty label"},
        {__LINE__, "domain=a.example..\n", 0, ":1: bad domain 'a.example.': empty label"},
        {__LINE__, "domain=a/b.example\n", 0, ":1: bad domain 'a/b.example': only letters"},
        {__LINE__, "domain=a.example#x\n", 0, ":1: bad domain 'a.example#x': only letters"},
        {__LINE__,
         "domain=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\n", 0,
         "': a label longer than 63 bytes"},
        {__LINE__, "image=\"/opt/x\n", 0, ":1: unterminated quote"},
        {__LINE__, "image=\"/opt/x\"y\n", 0, ":1: text right after a closing quote"},
        {__LINE__, "domain=a.example\0\n", 18, ":1: NUL byte in the line"},
        /* the line number of a bad line among good ones, CRLF and comments counted */
        {__LINE__, "# c\r\ndomain=a.example\r\n\r\nsrc=1.2.3.4 dst=5.6.7\r\n", 0,
         ":4: bad CIDR '5.6.7' for 'dst'"},
        /* every bad line is reported */
        {__LINE__, "x=1\ndomain=ok.example\ny=2\n", 0, ":3: unknown key 'y'"},
        {__LINE__, "x=1\ndomain=ok.example\ny=2\n", 0, ": rejected: 2 bad lines"},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_exclusions *ex = tw_exclusions_new();
        struct tw_exclusions_stats st;
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].content);
        const char *path = write_tmp(cases[i].content, len);
        char want[256];
        char *log = NULL;
        int rc = load_logged(ex, path, &log);

        unlink(path);
        snprintf(want, sizeof(want), "%s%s", cases[i].expect[0] == ':' ? path : "",
                 cases[i].expect);
        tw_exclusions_get_stats(ex, &st);
        if (rc != TW_EINVAL || strstr(log, want) == NULL || st.entries != 0 || st.errors != 1 ||
            st.files != 0 || strstr(log, "no exclusion of this file is used") == NULL)
            fail_msg("case at line %d: rc %d entries %zu errors %zu, want '%s' in log:\n%s",
                     cases[i].line, rc, st.entries, st.errors, want, log);
        free(log);
        tw_exclusions_free(ex);
    }
}

static void test_long_line(void **state)
{
    (void)state;
    size_t n = 5000;
    char *content = malloc(n + 2);
    struct tw_exclusions *ex = tw_exclusions_new();
    char *log = NULL;
    const char *path;

    assert_non_null(content);
    memcpy(content, "image=/", 7);
    memset(content + 7, 'a', n - 7);
    content[n] = '\n';
    path = write_tmp(content, n + 1);
    assert_int_equal(load_logged(ex, path, &log), TW_EINVAL);
    unlink(path);
    assert_non_null(strstr(log, ":1: line longer than 4096 bytes"));
    free(log);
    free(content);
    tw_exclusions_free(ex);
}

/* Many bad lines: the first 20 are shown, then a count of the rest. */
static void test_many_bad_lines(void **state)
{
    (void)state;
    char content[2048] = "";
    struct tw_exclusions *ex = tw_exclusions_new();
    char *log = NULL;
    const char *path;
    size_t shown = 0;

    for (int i = 0; i < 30; i++)
        strcat(content, "bogus\n");
    path = write_tmp(content, strlen(content));
    assert_int_equal(load_logged(ex, path, &log), TW_EINVAL);
    unlink(path);
    for (const char *p = log; (p = strstr(p, "is not KEY=VALUE")) != NULL; p++)
        shown++;
    assert_int_equal(shown, 20);
    assert_non_null(strstr(log, "10 more bad lines not shown"));
    assert_non_null(strstr(log, "rejected: 30 bad lines"));
    free(log);
    tw_exclusions_free(ex);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct tw_exclusions *ex = tw_exclusions_new();
    struct tw_exclusions_stats st;
    char *log = NULL;

    assert_int_equal(load_logged(ex, "tests/exclude/no-such-file.excl", &log), TW_EIO);
    assert_non_null(strstr(log, "tests/exclude/no-such-file.excl: cannot read: No such file"));
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.files, 0);
    free(log);
    assert_int_equal(tw_exclusions_load(NULL, EXAMPLE, NULL), TW_EINVAL);
    assert_int_equal(tw_exclusions_load(ex, NULL, NULL), TW_EINVAL);
    tw_exclusions_free(ex);
    tw_exclusions_free(NULL);
}

struct evspec {
    const char *norm;
    const char *src, *dst; /* addresses, same version */
    const char *image;     /* NULL: no process known */
};

static void make_event(struct tw_event *ev, const struct evspec *s)
{
    struct tw_cidr a;

    memset(ev, 0, sizeof(*ev));
    ev->category = TW_CAT_NETWORK_CONNECTION;
    ev->norm = s->norm;
    ev->norm_len = s->norm != NULL ? strlen(s->norm) : 0;
    ev->raw = ev->norm;
    ev->raw_len = ev->norm_len;
    assert_int_equal(tw_cidr_parse(s->src, &a), 0);
    ev->ip_version = a.version;
    memcpy(ev->src_addr, a.addr, 16);
    assert_int_equal(tw_cidr_parse(s->dst, &a), 0);
    assert_int_equal(a.version, ev->ip_version);
    memcpy(ev->dst_addr, a.addr, 16);
    if (s->image != NULL) {
        ev->proc.status = TW_PROC_FOUND;
        ev->proc.image = s->image;
        ev->proc.user = "root";
        ev->proc.comm = "x";
        ev->proc.pid = 42;
    }
}

/* One case a line where it fits, so the table is kept as written. */
/* clang-format off */
static const struct {
    int line;
    const char *rule;
    struct evspec ev;
    const char *matched;
    unsigned want; /* line of example.excl expected to drop the alert; 0: kept */
} match_cases[] = {
    /* domain=: the name, subdomains, whole labels only, case and one trailing dot */
    {__LINE__, R_OTHER, {"mirror.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 2},
    {__LINE__, R_OTHER, {"a.b.mirror.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 2},
    {__LINE__, R_OTHER, {"MIRROR.Corp.Example.", "172.16.0.1", "8.8.8.8", NULL}, NULL, 2},
    {__LINE__, R_OTHER, {"evilmirror.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"mirror.corp.example.evil", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"mirror-corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"logs.example.org", "172.16.0.1", "8.8.8.8", NULL}, NULL, 11},
    {__LINE__, R_OTHER, {"x.LOGS.example.org.", "172.16.0.1", "8.8.8.8", NULL}, NULL, 11},
    {__LINE__, R_OTHER, {"xlogs.example.org", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {NULL, "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    /* the name the alert matched (a CNAME target) counts too, either way round */
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", NULL}, "mirror.corp.example",
     2},
    {__LINE__, R_OTHER, {"pkg.mirror.corp.example", "172.16.0.1", "8.8.8.8", NULL},
     "t.tunnel.example", 2},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", NULL}, "t.tunnel.example",
     0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", NULL}, "", 0},
    /* rule-scoped domain: that rule only (ids compared case-insensitively) */
    {__LINE__, R_1537, {"build.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 6},
    {__LINE__, "1537B3D4-1B53-4C3F-9F8E-0D8C3E8E1A2B",
     {"ci.build.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 6},
    {__LINE__, R_OTHER, {"build.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, NULL, {"build.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, "", {"build.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_1537 "x", {"build.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    /* a global line applies whatever the rule, and without one */
    {__LINE__, NULL, {"mirror.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 2},
    {__LINE__, R_1537, {"mirror.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 2},
    /* the first line loaded wins: line 2 (global) before line 14 (rule c456, corp.example) */
    {__LINE__, R_C456, {"mirror.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 2},
    {__LINE__, R_C456, {"www.corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 14},
    {__LINE__, R_C456, {"corp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 14},
    {__LINE__, R_C456, {"evilcorp.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_C456, {"www.corp.example", "192.168.50.7", "10.20.1.1", NULL}, NULL, 3},
    /* dst= IPv4 network, boundaries */
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "10.20.0.0", NULL}, NULL, 3},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "10.20.255.255", NULL}, NULL, 3},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "10.21.0.0", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "10.19.255.255", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "10.20.0.5", "8.8.8.8", NULL}, NULL, 0}, /* src */
    /* src= a host */
    {__LINE__, R_OTHER, {"t.tunnel.example", "192.168.50.7", "8.8.8.8", NULL}, NULL, 4},
    {__LINE__, R_OTHER, {"t.tunnel.example", "192.168.50.8", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "8.8.8.8", "192.168.50.7", NULL}, NULL, 0},
    /* IPv6 */
    {__LINE__, R_OTHER, {"t.tunnel.example", "fd00::1", "2001:db8:100::1", NULL}, NULL, 5},
    {__LINE__, R_OTHER, {"t.tunnel.example", "fd00::1", "2001:db8:100:ffff::9", NULL}, NULL, 5},
    {__LINE__, R_OTHER, {"t.tunnel.example", "fd00::1", "2001:db8:101::1", NULL}, NULL, 0},
    /* an IPv4 network never holds an IPv6 address with the same leading bytes */
    {__LINE__, R_OTHER, {"t.tunnel.example", "fd00::1", "a14:1::", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "c0a8:3207::", "2001:db8::1", NULL}, NULL, 0},
    /* several keys: all must hold */
    {__LINE__, R_C456, {"t.tunnel.example", "10.1.2.3", "203.0.113.9", NULL}, NULL, 7},
    {__LINE__, R_C456, {"t.tunnel.example", "10.2.2.3", "203.0.113.9", NULL}, NULL, 0},
    {__LINE__, R_C456, {"t.tunnel.example", "10.1.2.3", "203.0.114.9", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "10.1.2.3", "203.0.113.9", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"k8s.internal", "fd00:1:2::3", "2001:db8::1", NULL}, NULL, 15},
    {__LINE__, R_OTHER, {"api.k8s.internal", "fd00:1::3", "2001:db8::1", NULL}, NULL, 15},
    {__LINE__, R_OTHER, {"api.k8s.internal", "fd00:2::3", "2001:db8::1", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"api.k8s.internal", "10.0.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "fd00:1::3", "2001:db8::1", NULL}, NULL, 0},
    /* image= globs; no process known: never holds */
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/usr/bin/apt"}, NULL, 8},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/usr/bin/apt-get"}, NULL,
     8},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/usr/bin/ap"}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/usr/bin/APT"}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/tmp/usr/bin/apt"}, NULL,
     0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", ""}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/opt/tool/a/b/run"}, NULL,
     13},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/opt/pool/x/run"}, NULL,
     13},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/opt/tool//run"}, NULL, 13},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/opt/tool/run"}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/opt/stool/x/run"}, NULL,
     0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", "/opt/tool/x/runs"}, NULL,
     0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "198.51.100.4",
                         "/opt/Backup Agent/bin/agent"}, NULL, 9},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "198.51.101.4",
                         "/opt/Backup Agent/bin/agent"}, NULL, 0},
    {__LINE__, R_OTHER, {"t.tunnel.example", "172.16.0.1", "198.51.100.4",
                         "/opt/backup agent/bin/agent"}, NULL, 0},
    /* a rule-only line drops every alert of that rule */
    {__LINE__, R_AAAA, {"t.tunnel.example", "172.16.0.1", "8.8.8.8", NULL}, NULL, 12},
    {__LINE__, "AAAA0000-0000-4000-8000-00000000000a",
     {"x.example", "fd00::1", "2001:db8::1", NULL}, NULL, 12},
};
/* clang-format on */

static void test_match(void **state)
{
    (void)state;
    struct tw_exclusions *ex = load_example();

    for (size_t i = 0; i < TW_ARRAY_SIZE(match_cases); i++) {
        struct tw_event ev;
        struct tw_exclusion_hit hit = {NULL, 0, 0};
        unsigned line = 0;
        bool got, got2;

        make_event(&ev, &match_cases[i].ev);
        got = tw_exclusions_find(ex, match_cases[i].rule, &ev, match_cases[i].matched, &hit);
        got2 = tw_exclusions_match(ex, match_cases[i].rule, &ev, match_cases[i].matched, &line);
        if (got != (match_cases[i].want != 0) || got2 != got ||
            (got && (hit.line != match_cases[i].want || line != match_cases[i].want ||
                     strcmp(hit.file, EXAMPLE) != 0)))
            fail_msg("case at line %d: got %d line %u (%u), want line %u", match_cases[i].line, got,
                     hit.line, line, match_cases[i].want);
    }
    tw_exclusions_free(ex);
}

/* An empty or NULL set drops nothing; a NULL event is never dropped. */
static void test_empty_sets(void **state)
{
    (void)state;
    struct tw_exclusions *ex = tw_exclusions_new();
    struct evspec s = {"mirror.corp.example", "192.168.50.7", "10.20.0.1", "/usr/bin/apt"};
    struct tw_event ev;
    struct tw_exclusions_stats st;
    char *log = NULL;

    make_event(&ev, &s);
    assert_false(tw_exclusions_match(NULL, R_1537, &ev, NULL, NULL));
    assert_false(tw_exclusions_match(ex, R_1537, &ev, NULL, NULL));
    assert_int_equal(load_logged(ex, EMPTY, &log), 0);
    assert_string_equal(log, "");
    free(log);
    assert_false(tw_exclusions_match(ex, R_1537, &ev, NULL, NULL));
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.entries, 0);
    assert_int_equal(tw_exclusions_hits(ex, NULL, 0), 0);
    tw_exclusions_free(ex);

    ex = load_example();
    assert_false(tw_exclusions_match(ex, R_AAAA, NULL, NULL, NULL));
    tw_exclusions_free(ex);
}

/* A rejected file leaves the set as it was; a later good file adds to it; hits name the file. */
static void test_files(void **state)
{
    (void)state;
    struct tw_exclusions *ex = load_example();
    struct tw_exclusions_stats st;
    struct tw_exclusion_hit hit;
    struct tw_exclusion_hit all[32];
    struct evspec s1 = {"ok.example", "172.16.0.1", "10.0.0.1", NULL};
    struct evspec s2 = {"www.second.example", "172.16.0.1", "8.8.8.8", NULL};
    struct evspec s3 = {"t.tunnel.example", "10.99.1.1", "8.8.8.8", NULL};
    struct tw_event ev;
    char *log = NULL;
    size_t n;

    assert_int_equal(load_logged(ex, BAD, &log), TW_EINVAL);
    assert_non_null(strstr(log, BAD ":3: unknown key 'domian'"));
    assert_non_null(strstr(log, BAD ": rejected: 1 bad line, no exclusion of this file is used"));
    free(log);
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.entries, 13);
    assert_int_equal(st.scoped, 4);
    assert_int_equal(st.rules, 3);
    make_event(&ev, &s1); /* bad.excl lines 2 and 4 would drop it: they are not in force */
    assert_false(tw_exclusions_match(ex, R_OTHER, &ev, NULL, NULL));

    make_event(&ev, &match_cases[0].ev); /* a hit before the second load */
    assert_true(tw_exclusions_find(ex, match_cases[0].rule, &ev, NULL, &hit));
    assert_int_equal(hit.hits, 1);
    assert_int_equal(load_logged(ex, SECOND, &log), 0);
    assert_string_equal(log, "");
    free(log);
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.entries, 15);
    assert_int_equal(st.rules, 4);
    make_event(&ev, &s2);
    assert_true(tw_exclusions_find(ex, R_OTHER, &ev, NULL, &hit));
    assert_string_equal(hit.file, SECOND);
    assert_int_equal(hit.line, 1);
    assert_int_equal(hit.hits, 1);
    make_event(&ev, &s3);
    assert_false(tw_exclusions_find(ex, R_OTHER, &ev, NULL, &hit));
    assert_true(tw_exclusions_find(ex, "R-2", &ev, NULL, &hit));
    assert_string_equal(hit.file, SECOND);
    assert_int_equal(hit.line, 2);

    /* counters of the first file survived the second load */
    n = tw_exclusions_hits(ex, all, TW_ARRAY_SIZE(all));
    assert_int_equal(n, 15);
    assert_string_equal(all[0].file, EXAMPLE);
    assert_int_equal(all[0].line, 2);
    assert_int_equal(all[0].hits, 1);
    assert_string_equal(all[14].file, SECOND);
    assert_int_equal(all[14].line, 2);
    assert_int_equal(all[14].hits, 1);
    assert_int_equal(all[13].hits, 1);
    assert_int_equal(tw_exclusions_hits(ex, all, 3), 15);
    tw_exclusions_free(ex);
}

/* Loads content[0..len) as a file: its return. */
static int load_content(struct tw_exclusions *ex, const char *content, size_t len)
{
    char *log = NULL;
    const char *path = write_tmp(content, len);
    int rc = load_logged(ex, path, &log);

    unlink(path);
    free(log);
    return rc;
}

/* Whether name is excluded for rule `rule` (source 172.16.0.1, destination 8.8.8.8); *line the
 * line that excludes it. */
static bool name_excluded(const struct tw_exclusions *ex, const char *name, const char *rule,
                          unsigned *line)
{
    struct evspec s = {name, "172.16.0.1", "8.8.8.8", NULL};
    struct tw_event ev;

    make_event(&ev, &s);
    return tw_exclusions_match(ex, rule, &ev, NULL, line);
}

/* test_many's line i + 1 excludes its name (in another case, a subdomain, with a final dot)
 * for its rule. */
static void expect_many_line(const struct tw_exclusions *ex, size_t i)
{
    char name[64], rule[32];
    unsigned line = 0;

    snprintf(name, sizeof(name), "a.b.H%zu.example.", i);
    snprintf(rule, sizeof(rule), "r%zu", i / 10);
    assert_true(name_excluded(ex, name, rule, &line));
    assert_int_equal(line, i + 1);
}

/* Thousands of domain lines and a few hundred rules: each found through the index; then a
 * rejected file as large, and a good one after it. */
static void test_many(void **state)
{
    (void)state;
    size_t n = 5000, cap = n * 64 + 64, len = 0;
    char *content = malloc(cap);
    struct tw_exclusions *ex = tw_exclusions_new();
    struct tw_exclusions_stats st;

    assert_non_null(content);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(content + len, cap - len,
                                i % 10 == 0 ? "rule=r%zu domain=h%zu.example\n"
                                            : "domain=h%zu.example\n",
                                i % 10 == 0 ? i / 10 : i, i);
    assert_int_equal(load_content(ex, content, len), 0);
    free(content);
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.entries, n);
    assert_int_equal(st.rules, n / 10);
    for (size_t i = 0; i < n; i++) {
        char name[64], rule[32];

        expect_many_line(ex, i);
        snprintf(rule, sizeof(rule), "r%zu", i / 10 + (i % 10 == 0));
        if (i % 10 == 0) {
            snprintf(name, sizeof(name), "a.b.H%zu.example.", i);
            assert_false(name_excluded(ex, name, rule, NULL)); /* another rule */
        }
        snprintf(name, sizeof(name), "xh%zu.example", i);
        assert_false(name_excluded(ex, name, rule, NULL));
    }

    /* A second file as large, rejected by its last line: the strings it had added (past the
     * arena blocks the first file filled) go, the first file's stay; a third file loads. */
    size_t n2 = 4 * n, cap2 = n2 * 48 + 64; /* some 300 KiB of strings: new arena blocks */
    char *content2 = malloc(cap2);
    assert_non_null(content2);
    len = 0;
    for (size_t i = 0; i < n2; i++)
        len += (size_t)snprintf(content2 + len, cap2 - len, "rule=q%zu domain=z%zu.example\n", i, i);
    len += (size_t)snprintf(content2 + len, cap2 - len, "domian=oops.example\n");
    assert_int_equal(load_content(ex, content2, len), TW_EINVAL);
    free(content2);
    assert_int_equal(load_content(ex, "domain=third.example\n", strlen("domain=third.example\n")),
                     0);
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.entries, n + 1);
    assert_int_equal(st.rules, n / 10);
    for (size_t i = 0; i < n; i += 7) {
        char name[64], rule[32];

        expect_many_line(ex, i);
        snprintf(name, sizeof(name), "z%zu.example", i);
        snprintf(rule, sizeof(rule), "q%zu", i);
        assert_false(name_excluded(ex, name, rule, NULL));
    }
    assert_true(name_excluded(ex, "www.third.example", "any", NULL));
    tw_exclusions_free(ex);
}

#define THREADS 4
#define ROUNDS 20000

struct worker {
    const struct tw_exclusions *ex;
    unsigned seed;
    size_t dropped;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;

    for (size_t r = 0; r < ROUNDS; r++) {
        size_t i = (r * 7 + w->seed) % TW_ARRAY_SIZE(match_cases);
        struct tw_event ev;

        make_event(&ev, &match_cases[i].ev);
        if (tw_exclusions_match(w->ex, match_cases[i].rule, &ev, match_cases[i].matched, NULL))
            w->dropped++;
    }
    return NULL;
}

static void test_hits_threads(void **state)
{
    (void)state;
    struct tw_exclusions *ex = load_example();
    struct worker w[THREADS];
    pthread_t th[THREADS];
    uint64_t want[16] = {0};
    struct tw_exclusion_hit all[16];
    struct tw_exclusions_stats st;
    size_t dropped = 0, n;

    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){ex, (unsigned)t * 13, 0};
        assert_int_equal(pthread_create(&th[t], NULL, hammer, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        dropped += w[t].dropped;
        for (size_t r = 0; r < ROUNDS; r++) {
            size_t i = (r * 7 + w[t].seed) % TW_ARRAY_SIZE(match_cases);

            if (match_cases[i].want != 0)
                want[match_cases[i].want]++;
        }
    }
    n = tw_exclusions_hits(ex, all, TW_ARRAY_SIZE(all));
    assert_int_equal(n, 13);
    for (size_t i = 0; i < n; i++)
        if (all[i].hits != want[all[i].line])
            fail_msg("line %u: %llu hits, want %llu", all[i].line, (unsigned long long)all[i].hits,
                     (unsigned long long)want[all[i].line]);
    tw_exclusions_get_stats(ex, &st);
    assert_int_equal(st.excluded, dropped);
    assert_true(dropped > 0);
    tw_exclusions_free(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_ok),    cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_long_line),    cmocka_unit_test(test_many_bad_lines),
        cmocka_unit_test(test_missing_file), cmocka_unit_test(test_match),
        cmocka_unit_test(test_empty_sets),   cmocka_unit_test(test_files),
        cmocka_unit_test(test_many),         cmocka_unit_test(test_hits_threads),
    };
    return tw_run_tests(tests, NULL, NULL);
}
