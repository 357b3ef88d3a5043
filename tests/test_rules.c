/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include <arpa/inet.h>

#include "tunwatch/match/rules.h"

/* SigmaHQ's rules in $TW_SHARED/sigma (tests/test_util.h); set by sigma_paths() before the
 * tests run. */
static char sigma_dir[4096], sigma_source[4096], seed_win[4096], seed_lnx[4096];
#define SEED_WIN_SUB                                                                            \
    "sigma/rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml"
#define SEED_LNX_SUB                                                                            \
    "sigma/rules/linux/network_connection/net_connection_lnx_domain_localtonet_tunnel.yml"
#define ID_WIN "3ab65069-d82a-4d44-a759-466661a082d1"
#define ID_LNX "c4568f5d-131f-4e78-83d4-45b2da0ec4f1"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

struct loaded {
    struct tw_ruleset *rs;
    int rc;
    char *log; /* everything written to errlog */
    size_t log_len;
    char path[64];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Loads one or more paths into a new compiled rule set; errlog is captured. */
static void load_paths(struct loaded *l, const char *const *paths, size_t n)
{
    FILE *log = open_memstream(&l->log, &l->log_len);

    assert_non_null(log);
    l->rs = tw_ruleset_new();
    assert_non_null(l->rs);
    l->rc = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = tw_ruleset_load(l->rs, paths[i], log);
        if (rc)
            l->rc = rc;
    }
    assert_int_equal(tw_ruleset_compile(l->rs), 0);
    fclose(log);
}

/* Writes yaml to a temporary file and loads it; the file is removed again. */
static void load_yaml(struct loaded *l, const char *yaml)
{
    const char *p = l->path;
    int fd;

    snprintf(l->path, sizeof(l->path), "/tmp/tw_rules_XXXXXX");
    fd = mkstemp(l->path);
    assert_true(fd >= 0);
    close(fd);
    write_file(l->path, yaml);
    load_paths(l, &p, 1);
    unlink(l->path);
}

static void unload(struct loaded *l)
{
    tw_ruleset_free(l->rs);
    free(l->log);
    l->rs = NULL;
    l->log = NULL;
}

static struct tw_ruleset_stats stats(const struct loaded *l)
{
    struct tw_ruleset_stats st;

    tw_ruleset_get_stats(l->rs, &st);
    return st;
}

/* Events as the extractors produce them: norm is lowercased, trailing dot removed. */
struct ev_spec {
    char cat; /* 'n' network_connection, 'd' dns_query */
    const char *name;
    bool initiated;
    uint16_t dport;
    const char *dst_ip;
};

static void make_event(struct tw_event *ev, const struct ev_spec *sp)
{
    memset(ev, 0, sizeof(*ev));
    ev->category = sp->cat == 'd' ? TW_CAT_DNS_QUERY : TW_CAT_NETWORK_CONNECTION;
    ev->evidence = sp->cat == 'd' ? TW_EV_DNS_QUERY : TW_EV_TLS_SNI;
    ev->raw = sp->name;
    ev->raw_len = strlen(sp->name);
    ev->norm = sp->name;
    ev->norm_len = strlen(sp->name);
    ev->qtype = 1;
    ev->l4_proto = sp->cat == 'd' ? 17 : 6;
    ev->initiated = sp->initiated;
    ev->sport = 50000;
    ev->dport = sp->dport ? sp->dport : (sp->cat == 'd' ? 53 : 443);
    ev->ip_version = strchr(sp->dst_ip ? sp->dst_ip : "", ':') != NULL ? 6 : 4;
    assert_int_equal(inet_pton(ev->ip_version == 4 ? AF_INET : AF_INET6,
                               ev->ip_version == 4 ? "192.168.1.10" : "fd00::10", ev->src_addr),
                     1);
    assert_int_equal(inet_pton(ev->ip_version == 4 ? AF_INET : AF_INET6,
                               sp->dst_ip ? sp->dst_ip : "203.0.113.7", ev->dst_addr),
                     1);
}

/* Collects the ids of matching rules as "id1,id2". */
struct hits {
    char ids[4096];
    size_t n;
};

static void on_match(const struct tw_rule_info *r, const struct tw_event *ev, void *ctx)
{
    struct hits *h = ctx;
    size_t used = strlen(h->ids);

    (void)ev;
    snprintf(h->ids + used, sizeof(h->ids) - used, "%s%s", used ? "," : "", r->id);
    h->n++;
}

static size_t match(const struct loaded *l, const struct ev_spec *sp, struct hits *h)
{
    struct tw_event ev;
    char *norm = strdup(sp->name); /* exact-size heap copy for ASan */
    struct ev_spec copy = *sp;
    size_t n;

    assert_non_null(norm);
    copy.name = norm;
    make_event(&ev, &copy);
    memset(h, 0, sizeof(*h));
    n = tw_ruleset_match(l->rs, &ev, on_match, h);
    assert_int_equal(n, h->n);
    free(norm);
    return n;
}

/* A rule on the process fields (as SigmaHQ's ngrok and cloudflared rules write them) loads
 * only when attribution is on, and then matches only events whose process is known. */
static void test_process_fields(void **state)
{
    (void)state;
    static const char yaml[] =
        "title: t\nid: proc-1\nlogsource:\n  category: network_connection\n"
        "detection:\n  sel:\n    DestinationHostname|endswith: '.localto.net'\n"
        "  img:\n    Image|endswith: '/curl'\n    User: 'root'\n"
        "  condition: sel and img\n";
    char path[] = "/tmp/tw_rules_proc_XXXXXX";
    int fd = mkstemp(path);
    struct tw_event ev;
    struct hits h;
    struct ev_spec sp = {'n', "a.localto.net", true, 0, NULL};

    assert_true(fd >= 0);
    close(fd);
    write_file(path, yaml);
    for (int on = 0; on <= 1; on++) {
        FILE *log = tmpfile();
        struct tw_ruleset *rs = tw_ruleset_new();
        struct tw_ruleset_stats st;

        assert_non_null(rs);
        assert_non_null(log);
        tw_ruleset_set_process_fields(rs, on);
        assert_int_equal(tw_ruleset_load(rs, path, log), 0);
        assert_int_equal(tw_ruleset_compile(rs), 0);
        tw_ruleset_get_stats(rs, &st);
        assert_int_equal(st.loaded, (size_t)on);
        assert_int_equal(st.skipped, (size_t)!on);
        make_event(&ev, &sp);
        memset(&h, 0, sizeof(h));
        assert_int_equal(tw_ruleset_match(rs, &ev, on_match, &h), 0); /* process unknown */
        ev.proc = (struct tw_proc){.status = TW_PROC_FOUND, .pid = 4242, .uid = 0,
                                   .image = "/usr/bin/curl", .user = "root", .comm = "curl"};
        assert_int_equal(tw_ruleset_match(rs, &ev, on_match, &h), (size_t)on);
        ev.proc.image = "/usr/bin/wget";
        assert_int_equal(tw_ruleset_match(rs, &ev, on_match, &h), 0);
        ev.proc.status = TW_PROC_UNATTRIBUTED; /* fields not filled: never matched */
        ev.proc.image = "/usr/bin/curl";
        memset(&h, 0, sizeof(h));
        assert_int_equal(tw_ruleset_match(rs, &ev, on_match, &h), 0);
        tw_ruleset_free(rs);
        fclose(log);
    }
    unlink(path);
}

/* ------------------------------------------------------------------------ */
/* Seed rules                                                               */

static void test_seed_rules(void **state)
{
    const char *const paths[] = {seed_win, seed_lnx};
    static const struct {
        int line;
        struct ev_spec ev;
        const char *want;
    } cases[] = {
        {__LINE__, {'n', "a.localto.net", true, 0, NULL}, ID_WIN "," ID_LNX},
        {__LINE__, {'n', "a.localto.net", false, 0, NULL}, ""},
        {__LINE__, {'n', "localto.net", true, 0, NULL}, ""},
        {__LINE__, {'n', "xlocalto.net", true, 0, NULL}, ""},
        {__LINE__, {'n', "abc.def.localtonet.com", true, 0, NULL}, ID_WIN "," ID_LNX},
        {__LINE__, {'n', "localtonet.com", true, 0, NULL}, ""},
        {__LINE__, {'n', "a.localto.net.example.com", true, 0, NULL}, ""},
        {__LINE__, {'d', "a.localto.net", true, 0, NULL}, ""}, /* other category */
    };
    struct loaded l = {0};
    struct tw_ruleset_stats st;

    (void)state;
    if (access(seed_win, R_OK) != 0 || access(seed_lnx, R_OK) != 0)
        tw_skip_required("seed rules not present under %s (TW_SHARED)", sigma_dir);
    load_paths(&l, paths, 2);
    st = stats(&l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.indicators, 4);
    assert_int_equal(l.log_len, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hits h;

        match(&l, &cases[i].ev, &h);
        if (strcmp(h.ids, cases[i].want) != 0)
            fail_msg("line %d: '%s': matched '%s', want '%s'", cases[i].line, cases[i].ev.name,
                     h.ids, cases[i].want);
    }
    unload(&l);
}

/* What the alert reports about a rule. */
static void on_info(const struct tw_rule_info *r, const struct tw_event *ev, void *ctx)
{
    (void)ev;
    *(const struct tw_rule_info **)ctx = r;
}

static void test_rule_info(void **state)
{
    struct loaded l = {0};
    const struct tw_rule_info *r = NULL;
    struct tw_event ev;
    struct ev_spec sp = {'n', "x.localto.net", true, 0, NULL};

    (void)state;
    if (access(seed_win, R_OK) != 0)
        tw_skip_required("%s not present (TW_SHARED)", seed_win);
    load_paths(&l, (const char *const[]){seed_win}, 1);
    make_event(&ev, &sp);
    assert_int_equal(tw_ruleset_match(l.rs, &ev, on_info, &r), 1);
    assert_non_null(r);
    assert_string_equal(r->id, ID_WIN);
    assert_string_equal(r->title, "Communication To LocaltoNet Tunneling Service Initiated");
    assert_string_equal(r->level, "high");
    assert_string_equal(r->file, seed_win);
    assert_int_equal(r->n_tags, 4);
    assert_string_equal(r->tags[0], "attack.command-and-control");
    assert_string_equal(r->tags[3], "attack.t1102");
    assert_int_equal(r->category, TW_CAT_NETWORK_CONNECTION);
    unload(&l);
}

/* ------------------------------------------------------------------------ */
/* Detection semantics, one rule per case                                   */

static const struct {
    int line;
    const char *cat;
    const char *detection; /* indented under "detection:" */
    struct ev_spec ev;
    bool match;
} sem_cases[] = {
    /* modifiers */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|contains: 'ngrok'\n  condition: sel\n",
     {'n', "a.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|contains: 'ngrok'\n  condition: sel\n",
     {'n', "a.ngr0k.io", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|startswith: 'api.'\n  condition: sel\n",
     {'n', "api.example.com", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|startswith: 'api.'\n  condition: sel\n",
     {'n', "x.api.example.com", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '.localto.net'\n  condition: sel\n",
     {'n', "localto.net", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '.localto.net'\n  condition: sel\n",
     {'n', "a.localto.net", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '.localto.net'\n  condition: sel\n",
     {'n', "A.LocalTo.Net", true, 0, NULL}, true}, /* even if a producer forgot to lowercase */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '.localto.net'\n  condition: sel\n",
     {'n', "xlocalto.net", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: 'trycloudflare.com'\n  condition: sel\n",
     {'n', "xtrycloudflare.com", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '.LOCALTO.NET'\n  condition: sel\n",
     {'n', "a.localto.net", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|contains|all:\n      - 'ngrok'\n      - '.io'\n  condition: sel\n",
     {'n', "a.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|contains|all:\n      - 'ngrok'\n      - '.io'\n  condition: sel\n",
     {'n', "a.ngrok.app", true, 0, NULL}, false},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|contains:\n      - 'ngrok'\n      - '.io'\n  condition: sel\n",
     {'n', "a.ngrok.app", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'ngrok.io'\n  condition: sel\n",
     {'n', "ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'NGROK.io'\n  condition: sel\n",
     {'n', "ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'ngrok.io'\n  condition: sel\n",
     {'n', "a.ngrok.io", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: ''\n  condition: sel\n",
     {'n', "", true, 0, NULL}, true},
    /* wildcards and escapes */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: '*.ngrok.io'\n  condition: sel\n",
     {'n', "a.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: '*.ngrok.io'\n  condition: sel\n",
     {'n', "ngrok.io", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a?.ngrok.io'\n  condition: sel\n",
     {'n', "ab.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a?.ngrok.io'\n  condition: sel\n",
     {'n', "a.ngrok.io", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a*b.com'\n  condition: sel\n",
     {'n', "axxb.com", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a*b.com'\n  condition: sel\n",
     {'n', "ab.com", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a*b.com'\n  condition: sel\n",
     {'n', "axxc.com", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'api.*'\n  condition: sel\n",
     {'n', "api.x", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: '*ngrok*'\n  condition: sel\n",
     {'n', "xngroky", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: '*'\n  condition: sel\n",
     {'n', "anything", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\*b.com'\n  condition: sel\n",
     {'n', "a*b.com", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\*b.com'\n  condition: sel\n",
     {'n', "axb.com", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\?b'\n  condition: sel\n",
     {'n', "a?b", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\?b'\n  condition: sel\n",
     {'n', "axb", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\\\*'\n  condition: sel\n",
     {'n', "a\\xyz", true, 0, NULL}, true}, /* \\* : backslash, then wildcard */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\\\*'\n  condition: sel\n",
     {'n', "axyz", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\b'\n  condition: sel\n",
     {'n', "a\\b", true, 0, NULL}, true}, /* lone backslash is literal */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\\\b'\n  condition: sel\n",
     {'n', "a\\b", true, 0, NULL}, true}, /* \\ is one backslash */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\\\\\*'\n  condition: sel\n",
     {'n', "a\\*", true, 0, NULL}, true}, /* \\\* : backslash, literal star */
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'a\\\\\\*'\n  condition: sel\n",
     {'n', "a\\x", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '.ngrok*.io'\n  condition: sel\n",
     {'n', "x.ngrok-free.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '\\*.io'\n  condition: sel\n",
     {'n', "x*.io", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|endswith: '\\*.io'\n  condition: sel\n",
     {'n', "xy.io", true, 0, NULL}, false},
    /* numbers, booleans, null, exists, cidr */
    {__LINE__, "network_connection", "  sel:\n    DestinationPort: 443\n  condition: sel\n",
     {'n', "a", true, 443, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationPort: 443\n  condition: sel\n",
     {'n', "a", true, 8443, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationPort:\n      - 80\n      - 8080\n  condition: sel\n",
     {'n', "a", true, 8080, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    Initiated: true\n  condition: sel\n",
     {'n', "a", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    Initiated: true\n  condition: sel\n",
     {'n', "a", false, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    Initiated: 'false'\n  condition: sel\n",
     {'n', "a", false, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    Protocol: TCP\n  condition: sel\n",
     {'n', "a", false, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: null\n  condition: sel\n",
     {'n', "", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: null\n  condition: sel\n",
     {'n', "a.com", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'null'\n  condition: sel\n",
     {'n', "null", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|exists: true\n  condition: sel\n",
     {'n', "", true, 0, NULL}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|exists: true\n  condition: sel\n",
     {'n', "a", true, 0, NULL}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationIp|cidr: '10.0.0.0/8'\n  condition: sel\n",
     {'n', "a", true, 0, "10.1.2.3"}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationIp|cidr: '10.0.0.0/8'\n  condition: sel\n",
     {'n', "a", true, 0, "11.1.2.3"}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationIp|cidr:\n      - '192.168.0.0/16'\n      - 'fd00::/8'\n  condition: sel\n",
     {'n', "a", true, 0, "fd12::1"}, true},
    {__LINE__, "network_connection", "  sel:\n    DestinationIp|cidr: '172.16.0.0/12'\n  condition: sel\n",
     {'n', "a", true, 0, "172.32.0.1"}, false},
    {__LINE__, "network_connection", "  sel:\n    DestinationIp|cidr: '172.16.0.0/12'\n  condition: sel\n",
     {'n', "a", true, 0, "172.31.255.1"}, true},
    /* categories */
    {__LINE__, "dns_query", "  sel:\n    QueryName|endswith: '.ngrok.io'\n  condition: sel\n",
     {'d', "a.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "dns_query", "  sel:\n    QueryName|endswith: '.ngrok.io'\n  condition: sel\n",
     {'n', "a.ngrok.io", true, 0, NULL}, false},
    {__LINE__, "dns", "  sel:\n    query|endswith: '.ngrok.io'\n  condition: sel\n",
     {'d', "a.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "dns", "  sel:\n    query: 'x.com'\n    qtype_name: A\n  condition: sel\n",
     {'d', "x.com", true, 0, NULL}, true},
    /* lists of maps */
    {__LINE__, "network_connection",
     "  sel:\n    - DestinationHostname: 'a.com'\n    - DestinationPort: 8080\n  condition: sel\n",
     {'n', "a.com", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  sel:\n    - DestinationHostname: 'a.com'\n    - DestinationPort: 8080\n  condition: sel\n",
     {'n', "b.com", true, 8080, NULL}, true},
    {__LINE__, "network_connection",
     "  sel:\n    - DestinationHostname: 'a.com'\n    - DestinationPort: 8080\n  condition: sel\n",
     {'n', "b.com", true, 0, NULL}, false},
    /* conditions */
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|endswith: '.ngrok.io'\n  filter:\n    DestinationHostname: 'ok.ngrok.io'\n"
     "  condition: sel and not filter\n",
     {'n', "bad.ngrok.io", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|endswith: '.ngrok.io'\n  filter:\n    DestinationHostname: 'ok.ngrok.io'\n"
     "  condition: sel and not filter\n",
     {'n', "ok.ngrok.io", true, 0, NULL}, false},
    {__LINE__, "network_connection",
     "  filter:\n    DestinationHostname|endswith: '.corp.example'\n  condition: not filter\n",
     {'n', "evil.com", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  filter:\n    DestinationHostname|endswith: '.corp.example'\n  condition: not filter\n",
     {'n', "a.corp.example", true, 0, NULL}, false},
    {__LINE__, "network_connection",
     "  selection_a:\n    DestinationHostname|endswith: '.a.com'\n  selection_b:\n    DestinationPort: 4444\n"
     "  condition: 1 of selection_*\n",
     {'n', "x.b.com", true, 4444, NULL}, true},
    {__LINE__, "network_connection",
     "  selection_a:\n    DestinationHostname|endswith: '.a.com'\n  selection_b:\n    DestinationPort: 4444\n"
     "  condition: 1 of selection_*\n",
     {'n', "x.a.com", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  selection_a:\n    DestinationHostname|endswith: '.a.com'\n  selection_b:\n    DestinationPort: 4444\n"
     "  condition: all of selection_*\n",
     {'n', "x.a.com", true, 0, NULL}, false},
    {__LINE__, "network_connection",
     "  selection_a:\n    DestinationHostname|endswith: '.a.com'\n  selection_b:\n    DestinationPort: 4444\n"
     "  condition: all of selection_*\n",
     {'n', "x.a.com", true, 4444, NULL}, true},
    {__LINE__, "network_connection",
     "  sel1:\n    DestinationHostname|endswith: '.io'\n  sel2:\n    DestinationPort: 443\n  _never:\n    DestinationPort: 1\n"
     "  condition: all of them\n",
     {'n', "a.io", true, 443, NULL}, true},
    {__LINE__, "network_connection",
     "  sel1:\n    DestinationHostname|endswith: '.io'\n  sel2:\n    DestinationPort: 443\n  _never:\n    DestinationPort: 1\n"
     "  condition: all of them\n",
     {'n', "a.io", true, 80, NULL}, false},
    {__LINE__, "network_connection",
     "  sel1:\n    DestinationHostname|endswith: '.io'\n  _any:\n    DestinationPort: 1\n  condition: 1 of them\n",
     {'n', "a.com", true, 1, NULL}, false},
    {__LINE__, "network_connection",
     "  sel1:\n    DestinationHostname|endswith: '.io'\n  sel2:\n    DestinationPort: 1\n  condition: 1 of them\n",
     {'n', "a.com", true, 1, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  condition: a or b\n",
     {'n', "z.com", true, 22, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  condition: a or b\n",
     {'n', "z.com", true, 23, NULL}, false},
    /* precedence: a or b and c == a or (b and c) */
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  c:\n    Initiated: 'true'\n"
     "  condition: a or b and c\n",
     {'n', "a.com", false, 23, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  c:\n    Initiated: 'true'\n"
     "  condition: a or b and c\n",
     {'n', "z.com", false, 22, NULL}, false},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  c:\n    Initiated: 'true'\n"
     "  condition: (a or b) and c\n",
     {'n', "a.com", false, 23, NULL}, false},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  c:\n    Initiated: 'true'\n"
     "  condition: (a or b) and c\n",
     {'n', "z.com", true, 22, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  condition: not a and not b\n",
     {'n', "z.com", true, 23, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  condition: not (a or b)\n",
     {'n', "a.com", true, 23, NULL}, false},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  condition: not not a\n",
     {'n', "a.com", true, 23, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  condition:\n    - a\n    - b\n",
     {'n', "z.com", true, 22, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'a.com'\n  b:\n    DestinationPort: 22\n  condition: ((a) AND (NOT b))\n",
     {'n', "a.com", true, 23, NULL}, true},
    /* Gating must stay sound: a hostname indicator under "not" or beside an OR branch. */
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname|endswith: '.a.com'\n  b:\n    DestinationHostname|endswith: '.b.com'\n"
     "  condition: not (a and not b)\n",
     {'n', "zzz", true, 0, NULL}, true},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname|endswith: '.a.com'\n  b:\n    DestinationHostname|endswith: '.b.com'\n"
     "  condition: not (not a or not b)\n",
     {'n', "x.a.com", true, 0, NULL}, false},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|endswith: '.a.com'\n    DestinationPort: 22\n  condition: not sel\n",
     {'n', "x.a.com", true, 23, NULL}, true},
};

static void test_semantics(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sem_cases) / sizeof(sem_cases[0]); i++) {
        char yaml[2048];
        struct loaded l = {0};
        struct tw_ruleset_stats st;
        struct hits h;

        snprintf(yaml, sizeof(yaml),
                 "title: case %d\nid: case-%d\nlogsource:\n  category: %s\ndetection:\n%s",
                 sem_cases[i].line, sem_cases[i].line, sem_cases[i].cat, sem_cases[i].detection);
        load_yaml(&l, yaml);
        st = stats(&l);
        if (l.rc != 0 || st.loaded != 1)
            fail_msg("line %d: rule not loaded (rc %d): %s", sem_cases[i].line, l.rc,
                     l.log ? l.log : "");
        if ((match(&l, &sem_cases[i].ev, &h) == 1) != sem_cases[i].match)
            fail_msg("line %d: '%s': got %s, want %s", sem_cases[i].line, sem_cases[i].ev.name,
                     h.n ? "match" : "no match", sem_cases[i].match ? "match" : "no match");
        unload(&l);
    }
}

/* ------------------------------------------------------------------------ */
/* Skipped rules                                                            */

static const struct {
    int line;
    const char *cat;
    const char *detection;
    const char *reason; /* expected after "rule case-N skipped: " */
} skip_cases[] = {
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|minute: 5\n  condition: sel\n",
     "unsupported modifier 'minute'"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|expand: '%dc%'\n  condition: sel\n",
     "modifier 'expand' needs placeholder values, which are not configured"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|re: '(x'\n  condition: sel\n",
     "invalid regular expression: missing closing parenthesis"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|base64: 'a*'\n  condition: sel\n",
     "base64 of a value with wildcards"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|contains|cidr: '10.0.0.0/8'\n  condition: sel\n",
     "conflicting modifiers in 'DestinationHostname|contains|cidr'"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|re|base64: 'x'\n  condition: sel\n",
     "conflicting modifiers in 'DestinationHostname|re|base64'"},
    {__LINE__, "network_connection", "  sel:\n    DestinationPort|gt: 'many'\n  condition: sel\n",
     "'DestinationPort|gt' needs a number"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|fieldref: CommandLine\n  condition: sel\n",
     "field 'CommandLine' not observable"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname|windash: '-a -b -c -d'\n  condition: sel\n",
     "windash expands to too many values"},
    {__LINE__, "network_connection",
     "  sel:\n    Image|endswith: '\\\\chrome.exe'\n    CommandLine: x\n  condition: sel\n",
     "field 'CommandLine' not observable"},
    {__LINE__, "proxy", "  sel:\n    cs-host: 'x'\n    c-uri|contains: '/x'\n  condition: sel\n",
     "field 'c-uri' not observable"},
    {__LINE__, "firewall", "  sel:\n    dst_port: 21\n    action: forward\n  condition: sel\n",
     "field 'action' not observable"},
    {__LINE__, "dns", "  sel:\n    query: x\n    answers|endswith: '.x'\n  condition: sel\n",
     "field 'answers' not observable"},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|endswith: '.x'\n  filter:\n    Image|endswith: '\\\\chrome.exe'\n"
     "  condition: sel and not filter\n",
     "field 'Image' needs process attribution (--local-processes)"},
    {__LINE__, "network_connection", "  sel:\n    CommandLine|contains: 'ngrok'\n  condition: sel\n",
     "field 'CommandLine' not observable"},
    {__LINE__, "network_connection", "  sel:\n    QueryName: 'x'\n  condition: sel\n",
     "field 'QueryName' not in category network_connection"},
    {__LINE__, "dns", "  sel:\n    qtype: 16\n  condition: sel\n",
     "field 'qtype' not observable"},
    {__LINE__, "process_creation", "  sel:\n    Image: 'x'\n  condition: sel\n",
     "logsource category 'process_creation' not observed"},
    {__LINE__, "network_connection", "  keywords:\n    - null\n  condition: keywords\n",
     "keyword search for null"},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname: 'x'\n  condition: sel | count() by SourceIp > 10\n",
     "unsupported condition: aggregation ('| ...')"},
    {__LINE__, "network_connection",
     "  a:\n    DestinationHostname: 'x'\n  b:\n    DestinationPort: 1\n  condition: a near b\n",
     "unsupported condition: 'near'"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'x'\n  condition: sel and other\n",
     "condition references unknown identifier 'other'"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'x'\n  condition: 1 of filter_*\n",
     "'filter_*' in condition matches no search identifier"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'x'\n  condition: (sel\n",
     "condition ends unexpectedly"},
    {__LINE__, "network_connection", "  sel:\n    DestinationHostname: 'x'\n", "detection has no condition"},
    {__LINE__, "network_connection", "  sel:\n    DestinationIp|cidr: '10.0.0.0/33'\n  condition: sel\n",
     "invalid cidr value '10.0.0.0/33'"},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|contains|endswith: 'x'\n  condition: sel\n",
     "conflicting modifiers in 'DestinationHostname|contains|endswith'"},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname: 'x'\n  condition: "
     "((((((((((((((((((((((((((((((((((((((((((((((((((((sel))))))))))))))))))))))))))))))))))))))))))))))))))))\n",
     "condition nested too deeply"},
};

static void test_skips(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(skip_cases) / sizeof(skip_cases[0]); i++) {
        char yaml[2048], want[512];
        struct loaded l = {0};
        struct tw_ruleset_stats st;

        snprintf(yaml, sizeof(yaml),
                 "title: case\nid: case-%d\nlogsource:\n  category: %s\ndetection:\n%s",
                 skip_cases[i].line, skip_cases[i].cat, skip_cases[i].detection);
        load_yaml(&l, yaml);
        st = stats(&l);
        snprintf(want, sizeof(want), "%s: rule case-%d skipped: %s\n", l.path, skip_cases[i].line,
                 skip_cases[i].reason);
        if (l.rc != 0 || st.loaded != 0 || st.skipped != 1 || strcmp(l.log, want) != 0)
            fail_msg("line %d: rc %d loaded %zu skipped %zu log '%s', want '%s'",
                     skip_cases[i].line, l.rc, st.loaded, st.skipped, l.log, want);
        unload(&l);
    }
}

static void test_missing_id(void **state)
{
    struct loaded l = {0};
    char want[256];

    (void)state;
    load_yaml(&l, "title: no id\nlogsource:\n  category: dns_query\ndetection:\n"
                  "  sel:\n    QueryName: x\n  condition: sel\n");
    snprintf(want, sizeof(want), "%s: rule (document 1) skipped: missing id\n", l.path);
    assert_string_equal(l.log, want);
    assert_int_equal(stats(&l).skipped, 1);
    assert_int_equal(stats(&l).loaded, 0);
    unload(&l);
}

/* Several documents; the bad one is skipped alone. */
static void test_multi_document(void **state)
{
    static const char yaml[] =
        "title: one\nid: r1\nlogsource:\n  category: network_connection\ndetection:\n"
        "  sel:\n    DestinationHostname|endswith: '.one.test'\n  condition: sel\n"
        "---\n"
        "title: two\nid: r2\nlogsource:\n  category: network_connection\ndetection:\n"
        "  sel:\n    DestinationHostname|expand: '%x%'\n  condition: sel\n"
        "---\n"
        "title: three\nid: r3\nlogsource:\n  category: network_connection\ndetection:\n"
        "  sel:\n    DestinationHostname|endswith: 'one.test'\n  condition: sel\n"
        "---\n";
    struct loaded l = {0};
    struct hits h;
    char want[256];

    (void)state;
    load_yaml(&l, yaml);
    assert_int_equal(l.rc, 0);
    assert_int_equal(stats(&l).loaded, 2);
    assert_int_equal(stats(&l).skipped, 1);
    snprintf(want, sizeof(want), "%s: rule r2 skipped: modifier 'expand' needs placeholder values, which are not configured\n", l.path);
    assert_string_equal(l.log, want);
    assert_int_equal(match(&l, &(struct ev_spec){'n', "a.one.test", true, 0, NULL}, &h), 2);
    assert_string_equal(h.ids, "r1,r3");
    assert_int_equal(match(&l, &(struct ev_spec){'n', "one.test", true, 0, NULL}, &h), 1);
    assert_string_equal(h.ids, "r3");
    unload(&l);
}

static void test_yaml_error(void **state)
{
    static const char yaml[] =
        "title: one\nid: r1\nlogsource:\n  category: network_connection\ndetection:\n"
        "  sel:\n    DestinationHostname|endswith: '.one.test'\n  condition: sel\n"
        "---\n"
        "title: broken\nid: [r2\n"
        "logsource: {category: network_connection\n";
    struct loaded l = {0};
    char prefix[128];

    (void)state;
    load_yaml(&l, yaml);
    assert_int_equal(l.rc, TW_EINVAL);
    assert_int_equal(stats(&l).errors, 1);
    assert_int_equal(stats(&l).loaded, 0); /* a broken file loads nothing */
    snprintf(prefix, sizeof(prefix), "%s:12:10: yaml error: ", l.path); /* where libyaml notices */
    if (strncmp(l.log, prefix, strlen(prefix)) != 0 || !strstr(l.log, ": yaml error: ") ||
        strchr(l.log, '\n') != l.log + l.log_len - 1)
        fail_msg("log '%s', want one line starting with '%s'", l.log, prefix);
    unload(&l);
}

#define DOC(id, sel)                                                                          \
    "title: t\nid: " id "\nlogsource:\n  category: dns_query\ndetection:\n  sel:\n    " sel     \
    "\n  condition: sel\n"

/*
 * The loader parses each file once: the rules of earlier documents are
 * already compiled when a later one turns out broken. They must all go again,
 * their "skipped" lines must not appear, and the one line is the error.
 */
static const struct {
    int line;
    const char *yaml;
    const char *want; /* after "PATH:" */
} yaml_error_cases[] = {
    {__LINE__,
     DOC("r1", "QueryName|endswith: '.a.test'") "---\n" DOC("r2", "QueryName|expand: x")
     "---\n" DOC("r3", "QueryName|endswith: '.b.test'") "---\ntitle: broken\nid: [r4\n",
     "30:1: yaml error: did not find expected ',' or ']'\n"},
    {__LINE__,
     DOC("r1", "QueryName|endswith: '.a.test'") "---\n" DOC("r2", "QueryName|expand: x")
     "---\ntitle: broken\nid: r3\n  bad: x\n",
     "21:6: yaml error: mapping values are not allowed in this context\n"},
    {__LINE__,
     DOC("r1", "QueryName|endswith: '.a.test'") "---\n" DOC("r2", "QueryName|expand: x")
     "---\na: \xff\n",
     "19:4: yaml error: invalid leading UTF-8 octet\n"},
    /* The syntax error wins over an earlier undefined alias, as before. */
    {__LINE__,
     DOC("r1", "QueryName|endswith: '.a.test'") "---\n" DOC("r2", "QueryName: *nope")
     "---\nx: [\n",
     "20:1: yaml error: did not find expected node content\n"},
};

static void test_yaml_error_drops_file(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(yaml_error_cases); i++) {
        struct loaded l = {0};
        char want[256];

        load_yaml(&l, yaml_error_cases[i].yaml);
        snprintf(want, sizeof(want), "%s:%s", l.path, yaml_error_cases[i].want);
        if (strcmp(l.log, want) != 0)
            fail_msg("case at line %d: log '%s', want '%s'", yaml_error_cases[i].line, l.log,
                     want);
        assert_int_equal(l.rc, TW_EINVAL);
        assert_int_equal(stats(&l).files, 1);
        assert_int_equal(stats(&l).errors, 1);
        assert_int_equal(stats(&l).loaded, 0);
        assert_int_equal(stats(&l).skipped, 0);
        unload(&l);
    }
}

/* A broken file loaded after a good one takes out only its own rules. */
static void test_yaml_error_keeps_earlier_files(void **state)
{
    char good[] = "/tmp/tw_rules_good_XXXXXX", bad[] = "/tmp/tw_rules_bad_XXXXXX";
    const char *paths[] = {good, bad};
    struct loaded l = {0};
    struct hits h;
    int fd;

    (void)state;
    assert_true((fd = mkstemp(good)) >= 0);
    close(fd);
    assert_true((fd = mkstemp(bad)) >= 0);
    close(fd);
    write_file(good, DOC("g1", "QueryName|endswith: '.a.test'") "---\n"
                     DOC("g2", "QueryName|contains: 'tunnel'"));
    write_file(bad, DOC("b1", "QueryName|endswith: '.a.test'") "---\n"
                    DOC("b2", "QueryName: ['x', 'y']") "---\nid: [\n");
    load_paths(&l, paths, 2);
    assert_int_equal(l.rc, TW_EINVAL);
    assert_int_equal(stats(&l).files, 2);
    assert_int_equal(stats(&l).errors, 1);
    assert_int_equal(stats(&l).loaded, 2);
    assert_int_equal(match(&l, &(struct ev_spec){'d', "x.tunnel.a.test", true, 0, NULL}, &h), 2);
    assert_string_equal(h.ids, "g1,g2");
    assert_int_equal(match(&l, &(struct ev_spec){'d', "x", true, 0, NULL}, &h), 0);
    unload(&l);
    unlink(good);
    unlink(bad);
}

/* Undefined and duplicate anchors are found while composing: the rules of the
 * documents before stay loaded, as yaml_parser_load() left them. */
static void test_yaml_composer_error(void **state)
{
    static const struct {
        int line;
        const char *yaml;
        const char *err; /* after "PATH:" */
    } cases[] = {
        {__LINE__,
         DOC("r1", "QueryName|endswith: '.a.test'") "---\n" DOC("r2", "QueryName|expand: x")
         "---\n" DOC("r3", "QueryName|endswith: *nope") "---\n" DOC("r4", "QueryName: x"),
         "25:25: yaml error: found undefined alias"},
        {__LINE__,
         DOC("r1", "QueryName|endswith: '.a.test'") "---\n" DOC("r2", "QueryName|expand: x")
         "---\n" DOC("r3", "QueryName: &a x\n  sel2: &a y"),
         "26:9: yaml error: second occurrence"},
    };

    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct loaded l = {0};
        char want[512];

        load_yaml(&l, cases[i].yaml);
        snprintf(want, sizeof(want), "%s: rule r2 skipped: modifier 'expand' needs placeholder values, which are not configured\n%s:%s\n",
                 l.path, l.path, cases[i].err);
        if (strcmp(l.log, want) != 0)
            fail_msg("case at line %d: log '%s', want '%s'", cases[i].line, l.log, want);
        assert_int_equal(l.rc, TW_EINVAL);
        assert_int_equal(stats(&l).errors, 1);
        assert_int_equal(stats(&l).loaded, 1);
        assert_int_equal(stats(&l).skipped, 1);
        unload(&l);
    }
}

/* Anchors and aliases resolve to the anchored node. */
static void test_yaml_alias(void **state)
{
    struct loaded l = {0};
    struct hits h;

    (void)state;
    load_yaml(&l, DOC("r1", "QueryName|endswith: &s '.a.test'\n  sel2:\n    QueryName: *s"));
    assert_string_equal(l.log, "");
    assert_int_equal(stats(&l).loaded, 1);
    assert_int_equal(match(&l, &(struct ev_spec){'d', "x.a.test", true, 0, NULL}, &h), 1);
    assert_int_equal(match(&l, &(struct ev_spec){'d', ".a.test", true, 0, NULL}, &h), 1);
    unload(&l);
}

/* Nesting: 64 levels load, 65 are refused with one line and no rule of the file. */
static void test_yaml_deep_nesting(void **state)
{
    char yaml[1024], want[256];
    int n = snprintf(yaml, sizeof(yaml), "%s", DOC("r1", "QueryName: x") "---\n" DOC("r2", "QueryName: y")
                                                   "falsepositives: ");

    (void)state;
    for (int levels = 63; levels <= 64; levels++) {
        struct loaded l = {0};
        int m = n;

        for (int i = 0; i < levels; i++)
            yaml[m++] = '[';
        for (int i = 0; i < levels; i++)
            yaml[m++] = ']';
        yaml[m++] = '\n';
        yaml[m] = '\0';
        load_yaml(&l, yaml);
        if (levels == 63) { /* plus the document's map: 64 */
            assert_string_equal(l.log, "");
            assert_int_equal(stats(&l).loaded, 2);
        } else {
            snprintf(want, sizeof(want), "%s:18:80: yaml error: nesting deeper than 64\n",
                     l.path);
            assert_string_equal(l.log, want);
            assert_int_equal(l.rc, TW_EINVAL);
            assert_int_equal(stats(&l).loaded, 0);
            assert_int_equal(stats(&l).errors, 1);
        }
        unload(&l);
    }
}

/* A directory: recursive, sorted, *.yml and *.yaml only; a broken file does not stop the rest. */
static void test_directory(void **state)
{
    char dir[] = "/tmp/tw_rules_dir_XXXXXX";
    char path[256];
    static const char *const files[] = {"b.yml", "a.yml", "sub/c.yaml", "notes.txt", "z.yml"};
    struct loaded l = {0};
    struct hits h;
    const char *p = dir;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    for (size_t i = 0; i < 4; i++) {
        char yaml[512];

        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        snprintf(yaml, sizeof(yaml),
                 "title: t\nid: %s\nlogsource:\n  category: dns_query\ndetection:\n"
                 "  sel:\n    QueryName|endswith: 'tunnel.test'\n  condition: sel\n",
                 files[i]);
        write_file(path, yaml);
    }
    snprintf(path, sizeof(path), "%s/z.yml", dir);
    write_file(path, "title: [\n");
    load_paths(&l, &p, 1);
    assert_int_equal(l.rc, TW_EINVAL);
    assert_int_equal(stats(&l).files, 4);
    assert_int_equal(stats(&l).errors, 1);
    assert_int_equal(stats(&l).loaded, 3);
    assert_int_equal(match(&l, &(struct ev_spec){'d', "x.tunnel.test", true, 0, NULL}, &h), 3);
    assert_string_equal(h.ids, "a.yml,b.yml,sub/c.yaml");
    unload(&l);
    for (size_t i = 0; i < TW_ARRAY_SIZE(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_missing_path(void **state)
{
    struct loaded l = {0};
    const char *p = "/nonexistent/tw/rules";

    (void)state;
    load_paths(&l, &p, 1);
    assert_int_equal(l.rc, TW_EINVAL);
    assert_int_equal(stats(&l).errors, 1);
    assert_non_null(strstr(l.log, "/nonexistent/tw/rules: "));
    unload(&l);
}

/* ------------------------------------------------------------------------ */
/* The SigmaHQ corpus and the 100k-rule benchmark                            */

static void test_sigma_corpus(void **state)
{
    struct loaded l = {0};
    const char *p = sigma_dir;
    struct tw_ruleset_stats st;
    struct hits h;

    (void)state;
    if (access(sigma_dir, R_OK) != 0)
        tw_skip_required("%s not present (TW_SHARED)", sigma_dir);
    load_paths(&l, &p, 1);
    st = stats(&l);
    printf("sigma corpus: %zu files, %zu rules loaded, %zu skipped, %zu file errors, "
           "%zu indicators (rc %d)\n",
           st.files, st.loaded, st.skipped, st.errors, st.indicators, l.rc);
    assert_true(st.loaded >= 2);
    assert_int_equal(l.rc, 0); /* the corpus is valid YAML */
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.loaded + st.skipped, st.files); /* one rule per file there */
    /* One log line per skipped rule or file error. */
    {
        size_t lines = 0;
        for (size_t i = 0; i < l.log_len; i++)
            lines += l.log[i] == '\n';
        assert_int_equal(lines, st.skipped + st.errors);
    }
    match(&l, &(struct ev_spec){'n', "abc.localto.net", true, 0, NULL}, &h);
    assert_non_null(strstr(h.ids, ID_WIN));
    assert_non_null(strstr(h.ids, ID_LNX));
    printf("sigma corpus: abc.localto.net matches %s\n", h.ids);
    match(&l, &(struct ev_spec){'d', "abc.trycloudflare.com", true, 0, NULL}, &h);
    printf("sigma corpus: dns abc.trycloudflare.com matches %zu rules\n", h.n);
    if (getenv("TW_SHOW_SKIPS")) /* the reasons, for a human reading them */
        fwrite(l.log, 1, l.log_len, stdout);
    unload(&l);
}

/* ------------------------------------------------------------------------ */
/* Modifiers, keywords, logsources: events with every field set            */

/*
 * An event from "key=value;..." (keys: cat n|d, name, qtype, proto, init, src, dst, sport,
 * dport, image, pid, user). Unset: name "x.test", tcp, initiated, 192.168.1.10:50000 ->
 * 203.0.113.7:443, no process.
 */
struct kvev {
    struct tw_event ev;
    char buf[512];
};

static void make_kv_sep(struct kvev *k, const char *spec, const char *sep)
{
    char *save = NULL, *tok;
    const char *src = "192.168.1.10", *dst = "203.0.113.7";
    int af;

    memset(k, 0, sizeof(*k));
    if (snprintf(k->buf, sizeof(k->buf), "%s", spec) >= (int)sizeof(k->buf))
        fail_msg("event spec too long: %s", spec);
    k->ev.category = TW_CAT_NETWORK_CONNECTION;
    k->ev.evidence = TW_EV_TLS_SNI;
    k->ev.norm = "x.test";
    k->ev.l4_proto = 6;
    k->ev.initiated = true;
    k->ev.sport = 50000;
    k->ev.dport = 443;
    k->ev.qtype = 1;
    for (tok = strtok_r(k->buf, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
        char *v = strchr(tok, '=');

        assert_non_null(v);
        *v++ = '\0';
        if (!strcmp(tok, "cat"))
            k->ev.category = *v == 'd' ? TW_CAT_DNS_QUERY : TW_CAT_NETWORK_CONNECTION;
        else if (!strcmp(tok, "name"))
            k->ev.norm = v;
        else if (!strcmp(tok, "qtype"))
            k->ev.qtype = (uint16_t)atoi(v);
        else if (!strcmp(tok, "proto"))
            k->ev.l4_proto = (uint8_t)atoi(v);
        else if (!strcmp(tok, "init"))
            k->ev.initiated = *v == 't';
        else if (!strcmp(tok, "src"))
            src = v;
        else if (!strcmp(tok, "dst"))
            dst = v;
        else if (!strcmp(tok, "sport"))
            k->ev.sport = (uint16_t)atoi(v);
        else if (!strcmp(tok, "dport"))
            k->ev.dport = (uint16_t)atoi(v);
        else if (!strcmp(tok, "image"))
            k->ev.proc.image = v, k->ev.proc.status = TW_PROC_FOUND;
        else if (!strcmp(tok, "pid"))
            k->ev.proc.pid = atoi(v), k->ev.proc.status = TW_PROC_FOUND;
        else if (!strcmp(tok, "user"))
            k->ev.proc.user = v, k->ev.proc.status = TW_PROC_FOUND;
        else
            fail_msg("unknown key %s", tok);
    }
    k->ev.raw = k->ev.norm;
    k->ev.norm_len = k->ev.raw_len = strlen(k->ev.norm);
    k->ev.ip_version = strchr(dst, ':') ? 6 : 4;
    af = k->ev.ip_version == 6 ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(af, src, k->ev.src_addr), 1);
    assert_int_equal(inet_pton(af, dst, k->ev.dst_addr), 1);
}

static void make_kv(struct kvev *k, const char *spec)
{
    make_kv_sep(k, spec, ";");
}

#define NC "network_connection"
#define DQ "dns_query"
#define SEL(x) "  sel:\n    " x "\n  condition: sel\n"

static const struct {
    int line;
    const char *cat;
    const char *detection;
    const char *ev;
    bool match;
} mod_cases[] = {
    /* re: PCRE2, an unanchored search, case-sensitive unless |i */
    {__LINE__, NC, SEL("DestinationHostname|re: 'ngrok\\.(io|app)$'"), "name=a.ngrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|re: 'ngrok\\.(io|app)$'"), "name=a.ngrok.io.x", false},
    {__LINE__, NC, SEL("DestinationHostname|re: 'grok'"), "name=a.ngrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|re: '^grok'"), "name=a.ngrok.io", false},
    {__LINE__, NC, SEL("DestinationHostname|re: 'NGROK'"), "name=a.ngrok.io", false},
    {__LINE__, NC, SEL("DestinationHostname|re|i: 'NGROK'"), "name=a.ngrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|re|ignorecase: 'NGROK'"), "name=a.ngrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|re: '(?i)NGROK'"), "name=a.ngrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|re: '^[a-f0-9]{4,8}\\.(?:[a-z0-9\\-]+\\.){2}[a-z0-9\\-]+$'"),
     "name=abcd12.foo.bar.com", true},
    {__LINE__, NC, SEL("DestinationHostname|re: '.{150}'"), "name=short.test", false},
    {__LINE__, NC, SEL("DestinationHostname|re|s: 'a.b'"), "name=a\nb", true},
    {__LINE__, NC, SEL("DestinationHostname|re: 'a.b'"), "name=a\nb", false},
    {__LINE__, NC, SEL("DestinationHostname|re|m: '^b'"), "name=a\nb", true},
    {__LINE__, NC, SEL("DestinationHostname|re: '^b'"), "name=a\nb", false},
    {__LINE__, NC, SEL("DestinationHostname|re|contains: 'gro'"), "name=a.ngrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|re: '\\xff'"), "name=\xff", false}, /* invalid UTF-8 */
    /* cased */
    {__LINE__, NC, SEL("DestinationHostname|cased: 'A.test'"), "name=a.test", false},
    {__LINE__, NC, SEL("DestinationHostname|cased: 'A.test'"), "name=A.test", true},
    {__LINE__, NC, SEL("DestinationHostname|endswith|cased: '.Test'"), "name=x.Test", true},
    {__LINE__, NC, SEL("DestinationHostname|endswith|cased: '.Test'"), "name=x.test", false},
    {__LINE__, NC, SEL("DestinationHostname|contains|cased: 'Gro'"), "name=nGrok.io", true},
    {__LINE__, NC, SEL("DestinationHostname|contains|cased: 'Gro'"), "name=ngrok.io", false},
    {__LINE__, NC, SEL("DestinationHostname|cased: 'a?C*'"), "name=abCd", true},
    {__LINE__, NC, SEL("DestinationHostname|cased: 'a?C*'"), "name=abcd", false},
    {__LINE__, NC, SEL("DestinationHostname: 'A?C*'"), "name=abcd", true},
    /* numbers */
    {__LINE__, NC, SEL("DestinationPort|gt: 1024"), "dport=1025", true},
    {__LINE__, NC, SEL("DestinationPort|gt: 1024"), "dport=1024", false},
    {__LINE__, NC, SEL("DestinationPort|gte: 1024"), "dport=1024", true},
    {__LINE__, NC, SEL("DestinationPort|lt: 1024"), "dport=1023", true},
    {__LINE__, NC, SEL("DestinationPort|lt: 1024"), "dport=1024", false},
    {__LINE__, NC, SEL("DestinationPort|lte: 1024"), "dport=1024", true},
    {__LINE__, NC, SEL("DestinationPort|neq: 443"), "dport=443", false},
    {__LINE__, NC, SEL("DestinationPort|neq: 443"), "dport=80", true},
    {__LINE__, NC, SEL("SourcePort|gte: 49152.5"), "sport=50000", true},
    {__LINE__, NC, SEL("DestinationHostname|gt: 1"), "name=abc", false},
    {__LINE__, NC, SEL("DestinationHostname|gt: 1"), "name=2", true},
    {__LINE__, NC, SEL("ProcessId|lt: 100"), "pid=42", true},
    {__LINE__, NC, SEL("ProcessId|lt: 100"), "name=a", false}, /* no process */
    {__LINE__, NC, SEL("DestinationPort|gt:\n      - 60000\n      - 400"), "dport=443", true},
    {__LINE__, NC, SEL("DestinationPort|gt|all:\n      - 60000\n      - 400"), "dport=443", false},
    /* cidr, IPv4 and IPv6 */
    {__LINE__, NC, SEL("DestinationIp|cidr: '203.0.113.0/24'"), "dst=203.0.113.9", true},
    {__LINE__, NC, SEL("DestinationIp|cidr: '203.0.113.0/25'"), "dst=203.0.113.200", false},
    {__LINE__, NC, SEL("DestinationIp|cidr: '0.0.0.0/0'"), "dst=8.8.8.8", true},
    {__LINE__, NC, SEL("DestinationIp|cidr: '0.0.0.0/0'"), "src=::1;dst=2001:db8::1", false},
    {__LINE__, NC, SEL("DestinationIp|cidr: '2001:db8::/32'"), "src=::1;dst=2001:db8:ffff::1", true},
    {__LINE__, NC, SEL("DestinationIp|cidr: '2001:db8::/33'"), "src=::1;dst=2001:db8:ffff::1", false},
    {__LINE__, NC, SEL("DestinationIp|cidr: '2001:db8::1'"), "src=::1;dst=2001:db8::1", true},
    {__LINE__, NC, SEL("DestinationIp|cidr: '2001:db8::/32'"), "dst=32.1.13.184", false},
    {__LINE__, NC, SEL("SourceIp|cidr:\n      - '10.0.0.0/8'\n      - '192.168.0.0/16'"), "src=192.168.3.4", true},
    /* exists, null, '' */
    {__LINE__, NC, SEL("Image|exists: true"), "image=/usr/bin/curl", true},
    {__LINE__, NC, SEL("Image|exists: true"), "name=a", false},
    {__LINE__, NC, SEL("Image|exists: false"), "name=a", true},
    {__LINE__, NC, SEL("User: null"), "name=a", true},
    {__LINE__, NC, SEL("User: null"), "user=alice", false},
    {__LINE__, NC, SEL("User: ''"), "user=", true},
    {__LINE__, NC, SEL("User: ''"), "name=a", false},
    /* escapes: \* \? \\ literal, any other backslash literal */
    {__LINE__, NC, SEL("DestinationHostname: 'a\\*b'"), "name=a*b", true},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\*b'"), "name=axb", false},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\?b'"), "name=axb", false},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\?b'"), "name=a?b", true},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\\\*'"), "name=a\\xyz", true},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\\\*'"), "name=axyz", false},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\b'"), "name=a\\b", true},
    {__LINE__, NC, SEL("DestinationHostname: 'a\\'"), "name=a\\", true},
    {__LINE__, NC, SEL("DestinationHostname|endswith: '\\*.test'"), "name=x*.test", true},
    {__LINE__, NC, SEL("DestinationHostname|endswith: '\\*.test'"), "name=xy.test", false},
    /* windash: '-' or '/' starting a word, all five variants */
    {__LINE__, NC, SEL("DestinationHostname|windash|contains: ' -x'"), "name=a /x", true},
    {__LINE__, NC, SEL("DestinationHostname|windash|contains: ' -x'"), "name=a -x", true},
    {__LINE__, NC, SEL("DestinationHostname|windash|contains: ' -x'"), "name=a \xe2\x80\x93x", true},
    {__LINE__, NC, SEL("DestinationHostname|windash|contains: ' -x'"), "name=a \xe2\x80\x94x", true},
    {__LINE__, NC, SEL("DestinationHostname|windash|contains: ' -x'"), "name=a \xe2\x80\x95x", true},
    {__LINE__, NC, SEL("DestinationHostname|windash|contains: ' -x'"), "name=a +x", false},
    {__LINE__, NC, SEL("DestinationHostname|windash: 'a-b'"), "name=a/b", false}, /* mid-word */
    {__LINE__, NC, SEL("DestinationHostname|windash: '/a /b'"), "name=-a \xe2\x80\x94" "b", true},
    {__LINE__, NC, SEL("DestinationHostname|windash: '-*'"), "name=/", false}, /* no word after */
    /* base64, base64offset, utf16 family */
    {__LINE__, NC, SEL("DestinationHostname|base64: 'abc'"), "name=YWJj", true},
    {__LINE__, NC, SEL("DestinationHostname|base64: 'ab'"), "name=YWI=", true},
    {__LINE__, NC, SEL("DestinationHostname|base64|contains: 'abc'"), "name=xxYWJjxx", true},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'abc'"), "name=..YWJj..", true},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'abc'"), "name=..FiY..", true},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'abc'"), "name=..hYm..", true},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'abc'"), "name=..abc..", false},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'http'"), "name=aHR0cA", true},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'http'"), "name=odHRw", true},
    {__LINE__, NC, SEL("DestinationHostname|base64offset|contains: 'http'"), "name=AdHRwO", false},
    {__LINE__, NC, SEL("DestinationHostname|utf16le|base64: 'a'"), "name=YQA=", true},
    {__LINE__, NC, SEL("DestinationHostname|wide|base64: 'a'"), "name=YQA=", true},
    {__LINE__, NC, SEL("DestinationHostname|utf16be|base64: 'a'"), "name=AGE=", true},
    {__LINE__, NC, SEL("DestinationHostname|utf16|base64: 'a'"), "name=//5hAA==", true},
    {__LINE__, NC, SEL("DestinationHostname|utf16le|base64: \"\\u00e9\""), "name=6QA=", true},
    {__LINE__, NC, SEL("DestinationHostname|utf16le|base64: \"\\U0001F600\""), "name=Pdg.3g==", false},
    {__LINE__, NC, SEL("DestinationHostname|utf16le|base64: \"\\U0001F600\""), "name=PdgA3g==", true},
    {__LINE__, NC, SEL("DestinationHostname|wide|base64offset|contains: 'cmd'"), "name=xYwBtAGQAx", true},
    {__LINE__, NC, SEL("DestinationHostname|wide: 'ab'"), "name=ab", false},
    {__LINE__, NC, SEL("DestinationHostname|wide|contains: 'ab'"), "name=a.b", false},
    /* fieldref */
    {__LINE__, NC, SEL("SourceIp|fieldref: DestinationIp"), "src=10.0.0.1;dst=10.0.0.1", true},
    {__LINE__, NC, SEL("SourceIp|fieldref: DestinationIp"), "src=10.0.0.1;dst=10.0.0.2", false},
    {__LINE__, NC, SEL("DestinationHostname|fieldref|startswith: Protocol"), "name=TCP.test", true},
    {__LINE__, NC, SEL("DestinationHostname|fieldref|endswith: Protocol"), "name=x.udp;proto=17", true},
    {__LINE__, NC, SEL("DestinationHostname|fieldref|contains: Protocol"), "name=a.tcp.b", true},
    {__LINE__, NC, SEL("DestinationHostname|fieldref|contains|cased: Protocol"), "name=a.TCP.b", false},
    {__LINE__, NC, SEL("DestinationHostname|fieldref: Image"), "name=a", false},
    /* keywords: any string field contains the value */
    {__LINE__, NC, "  keywords:\n    - 'ngrok'\n    - 'zzz'\n  condition: keywords\n", "name=a.NGROK.io", true},
    {__LINE__, NC, "  keywords:\n    - 'ngrok'\n  condition: keywords\n", "name=a.b", false},
    {__LINE__, NC, "  keywords: 'ngrok'\n  condition: keywords\n", "name=x.ngrok.y", true},
    {__LINE__, NC, "  keywords:\n    - '203.0.113.*'\n  condition: keywords\n", "name=a", true},
    {__LINE__, NC, "  keywords:\n    - 'tcp'\n  condition: keywords\n", "name=a", true},
    {__LINE__, NC, "  keywords:\n    - '443'\n  condition: keywords\n", "name=a", false}, /* ports */
    {__LINE__, DQ, "  keywords:\n    - 'txt'\n  condition: keywords\n", "cat=d;qtype=16", true},
    {__LINE__, NC, "  keywords:\n    - 'curl'\n  condition: keywords\n", "image=/usr/bin/curl", true},
    {__LINE__, NC, "  sel:\n    '|all':\n      - 'a.'\n      - '.z'\n  condition: sel\n", "name=a.z", true},
    {__LINE__, NC, "  sel:\n    '|all':\n      - 'a.'\n      - '.z'\n  condition: sel\n", "name=a.y", false},
    {__LINE__, NC,
     "  sel:\n    - DestinationPort: 1\n    - 'ngrok'\n  condition: sel\n", "name=ngrok.io", true},
    {__LINE__, NC,
     "  sel:\n    - DestinationPort: 1\n    - 'ngrok'\n  condition: sel\n", "name=a;dport=1", true},
    {__LINE__, NC,
     "  sel:\n    - DestinationPort: 1\n    - 'ngrok'\n  condition: sel\n", "name=a", false},
    /* lists, maps, lists of maps */
    {__LINE__, NC, "  sel:\n    - DestinationPort: 1\n      Initiated: 'true'\n    - DestinationPort: 2\n"
     "  condition: sel\n", "dport=1;init=f", false},
    {__LINE__, NC, "  sel:\n    - DestinationPort: 1\n      Initiated: 'true'\n    - DestinationPort: 2\n"
     "  condition: sel\n", "dport=2;init=f", true},
    {__LINE__, NC, SEL("DestinationHostname|contains|all:\n      - 'a'\n      - 'b'"), "name=b.a", true},
    {__LINE__, NC, SEL("DestinationHostname|contains|all:\n      - 'a'\n      - 'b'"), "name=a.c", false},
    {__LINE__, NC, SEL("DestinationHostname|contains|all: 'a'"), "name=xa", true},
    /* conditions */
    {__LINE__, NC, "  sel_a:\n    DestinationPort: 1\n  sel_b:\n    Initiated: 'true'\n  _aux:\n"
     "    DestinationPort: 9\n  condition: all of them\n", "dport=1", true},
    {__LINE__, NC, "  sel_a:\n    DestinationPort: 1\n  sel_b:\n    Initiated: 'true'\n  _aux:\n"
     "    DestinationPort: 9\n  condition: 1 of them\n", "dport=9;init=f", false},
    {__LINE__, NC, "  sel_a:\n    DestinationPort: 1\n  sel_b:\n    Initiated: 'true'\n  sel_c:\n"
     "    Protocol: udp\n  condition: 2 of sel_*\n", "dport=1;init=f", false},
    {__LINE__, NC, "  sel_a:\n    DestinationPort: 1\n  sel_b:\n    Initiated: 'true'\n  sel_c:\n"
     "    Protocol: udp\n  condition: 2 of sel_*\n", "dport=1;init=t", true},
    {__LINE__, NC, "  a:\n    DestinationPort: 1\n  b:\n    DestinationPort: 2\n  c:\n"
     "    Initiated: 'true'\n  condition: a or b and c\n", "dport=1;init=f", true},
    {__LINE__, NC, "  a:\n    DestinationPort: 1\n  b:\n    DestinationPort: 2\n  c:\n"
     "    Initiated: 'true'\n  condition: a or b and c\n", "dport=2;init=f", false},
    {__LINE__, NC, "  a:\n    DestinationPort: 1\n  b:\n    DestinationPort: 2\n"
     "  condition: not a and b\n", "dport=2", true},
    {__LINE__, NC, "  a:\n    DestinationPort: 1\n  b:\n    DestinationPort: 2\n"
     "  condition: not a or b\n", "dport=1", false},
    {__LINE__, NC, "  a:\n    DestinationPort: 1\n  b:\n    DestinationPort: 2\n"
     "  condition: not 1 of a*\n", "dport=2", true},
    /* Sysmon's IsIpv6 fields, derived from the address family */
    {__LINE__, NC, SEL("SourceIsIpv6: 'false'"), "name=a", true},
    {__LINE__, NC, SEL("SourceIsIpv6: 'true'"), "src=::1;dst=::2", true},
    {__LINE__, NC, SEL("DestinationIsIpv6: 'true'"), "name=a", false},
    /* proxy and firewall logsources onto network_connection */
    {__LINE__, "proxy", SEL("cs-host|endswith: '.ngrok.io'"), "name=a.ngrok.io", true},
    {__LINE__, "proxy", SEL("cs-host|endswith: '.ngrok.io'"), "cat=d;name=a.ngrok.io", false},
    {__LINE__, "proxy", SEL("dst_ip|cidr: '203.0.113.0/24'"), "name=a", true},
    {__LINE__, "proxy", SEL("c-ip: '192.168.1.10'"), "name=a", true},
    {__LINE__, "firewall", SEL("dst_port: 21"), "dport=21", true},
    {__LINE__, "firewall", SEL("src_ip: '10.1.1.1'\n    dst_ip: '10.2.2.2'"), "src=10.1.1.1;dst=10.2.2.2", true},
    {__LINE__, "firewall", SEL("src_port|gte: 50000"), "sport=49999", false},
    {__LINE__, "dns", SEL("record_type: 'TXT'"), "cat=d;qtype=16", true},
    {__LINE__, "dns", SEL("qtype_name: 'TXT'\n    query|endswith: '.a'"), "cat=d;qtype=16;name=x.a", true},
};

static void test_modifiers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(mod_cases) / sizeof(mod_cases[0]); i++) {
        char yaml[2048];
        struct loaded l = {0};
        struct kvev k;
        size_t n;

        snprintf(yaml, sizeof(yaml),
                 "title: case %d\nid: case-%d\nlogsource:\n  category: %s\ndetection:\n%s",
                 mod_cases[i].line, mod_cases[i].line, mod_cases[i].cat, mod_cases[i].detection);
        l.rs = NULL;
        {
            const char *p = l.path;
            int fd;
            FILE *log = open_memstream(&l.log, &l.log_len);

            snprintf(l.path, sizeof(l.path), "/tmp/tw_rules_XXXXXX");
            fd = mkstemp(l.path);
            assert_true(fd >= 0);
            close(fd);
            write_file(l.path, yaml);
            l.rs = tw_ruleset_new();
            tw_ruleset_set_process_fields(l.rs, true);
            l.rc = tw_ruleset_load(l.rs, p, log);
            assert_int_equal(tw_ruleset_compile(l.rs), 0);
            fclose(log);
            unlink(l.path);
        }
        if (l.rc != 0 || stats(&l).loaded != 1)
            fail_msg("line %d: rule not loaded (rc %d): %s", mod_cases[i].line, l.rc,
                     l.log ? l.log : "");
        make_kv(&k, mod_cases[i].ev);
        n = tw_ruleset_match(l.rs, &k.ev, NULL, NULL);
        if ((n == 1) != mod_cases[i].match)
            fail_msg("line %d: '%s': got %s, want %s", mod_cases[i].line, mod_cases[i].ev,
                     n ? "match" : "no match", mod_cases[i].match ? "match" : "no match");
        unload(&l);
    }
}

/* ------------------------------------------------------------------------ */
/* Load reports and explanations                                            */

#define DOC_NC(id, sel)                                                                       \
    "title: t\nid: " id "\nlogsource:\n  category: network_connection\ndetection:\n  sel:\n    "  \
    sel "\n  condition: sel\n"

static void test_skip_reasons(void **state)
{
    static const char yaml[] =
        DOC_NC("r1", "CommandLine: x") "---\n" DOC_NC("r2", "CommandLine|contains: y") "---\n"
        DOC_NC("r3", "Image|endswith: '\\\\x.exe'") "---\n"
        DOC_NC("r4", "Image|endswith: '\\\\x.exe'\n    ParentImage: z") "---\n"
        DOC_NC("r5", "DestinationHostname|endswith: '.ok.test'") "---\n"
        "title: t\nid: r6\nlogsource:\n  category: proxy\ndetection:\n  sel:\n    c-uri: x\n"
        "  condition: sel\n";
    struct loaded l = {0};
    struct tw_reason_count rc[8];
    struct tw_rule_skip sk[8];
    size_t n;

    (void)state;
    load_yaml(&l, yaml);
    assert_int_equal(stats(&l).loaded, 1);
    assert_int_equal(stats(&l).skipped, 5);
    n = tw_ruleset_skip_reasons(l.rs, rc, 8);
    assert_int_equal(n, 4);
    assert_string_equal(rc[0].reason, "field 'CommandLine' not observable");
    assert_int_equal(rc[0].count, 2);
    /* r4 has a process field and one that is never observed: the latter is its reason */
    assert_string_equal(rc[1].reason, "field 'Image' needs process attribution (--local-processes)");
    assert_int_equal(rc[1].count, 1);
    assert_string_equal(rc[2].reason, "field 'ParentImage' not observable");
    assert_int_equal(rc[2].count, 1);
    assert_string_equal(rc[3].reason, "field 'c-uri' not observable");
    assert_int_equal(tw_ruleset_skip_reasons(l.rs, rc, 1), 4); /* count even when cut */
    assert_int_equal(tw_ruleset_skip_reasons(l.rs, NULL, 0), 4);
    assert_int_equal(tw_ruleset_skipped(l.rs, sk, 8), 5);
    assert_string_equal(sk[0].id, "r1");
    assert_string_equal(sk[0].file, l.path);
    assert_string_equal(sk[2].id, "r3");
    assert_string_equal(sk[4].reason, "field 'c-uri' not observable");
    assert_int_equal(tw_ruleset_errors(l.rs, NULL, 0), 0);
    unload(&l);
}

static void test_errors_api(void **state)
{
    struct loaded l = {0};
    struct tw_rule_error er[4];
    struct tw_rule_skip sk[4];
    const char *paths[2] = {"/nonexistent/tw.yml", NULL};

    (void)state;
    load_yaml(&l, DOC_NC("r1", "CommandLine: x") "---\nkey: [unclosed\n");
    assert_int_equal(stats(&l).errors, 1);
    assert_int_equal(tw_ruleset_errors(l.rs, er, 4), 1);
    assert_string_equal(er[0].file, l.path);
    assert_true(er[0].line > 0);
    assert_non_null(strstr(er[0].message, "yaml error: "));
    /* the file's skipped rule went with it */
    assert_int_equal(tw_ruleset_skipped(l.rs, sk, 4), 0);
    assert_int_equal(tw_ruleset_skip_reasons(l.rs, NULL, 0), 0);
    unload(&l);

    load_paths(&l, paths, 1);
    assert_int_equal(tw_ruleset_errors(l.rs, er, 4), 1);
    assert_string_equal(er[0].file, "/nonexistent/tw.yml");
    assert_int_equal(er[0].line, 0);
    assert_string_equal(er[0].message, "cannot read: No such file or directory");
    unload(&l);
}

static void test_explain(void **state)
{
    static const char yaml[] =
        DOC_NC("r-init", "DestinationHostname|endswith: '.ngrok.io'\n    Initiated: 'true'")
        "---\n" DOC_NC("r-img", "DestinationHostname|endswith: '.ngrok.io'\n"
                               "    Image|endswith: '\\\\ngrok.exe'")
        "---\n" DOC_NC("r-port", "DestinationHostname|endswith: '.ngrok.io'\n    DestinationPort: 4443")
        "---\ntitle: t\nid: r-filter\nlogsource:\n  category: network_connection\ndetection:\n"
        "  sel:\n    DestinationHostname|contains: 'ngrok'\n  filter:\n"
        "    DestinationHostname|endswith: '.ngrok.io'\n  condition: sel and not filter\n"
        "---\ntitle: t\nid: r-dns\nlogsource:\n  category: dns\ndetection:\n"
        "  sel:\n    query|endswith: '.ngrok.io'\n  condition: sel\n"
        "---\n" DOC_NC("r-other", "DestinationHostname|endswith: '.other.test'");
    struct loaded l = {0};
    char *out = NULL;
    size_t out_len = 0, n;
    FILE *f;

    (void)state;
    {
        const char *p = l.path;
        int fd;
        FILE *log = open_memstream(&l.log, &l.log_len);

        snprintf(l.path, sizeof(l.path), "/tmp/tw_rules_XXXXXX");
        fd = mkstemp(l.path);
        close(fd);
        write_file(l.path, yaml);
        l.rs = tw_ruleset_new();
        tw_ruleset_set_process_fields(l.rs, true);
        assert_int_equal(tw_ruleset_load(l.rs, p, log), 0);
        fclose(log);
        unlink(l.path);
    }
    assert_int_equal(stats(&l).loaded, 6);
    f = open_memstream(&out, &out_len);
    n = tw_ruleset_explain(l.rs, "A.Ngrok.IO.", f);
    fclose(f);
    assert_int_equal(n, 2); /* r-init and r-dns */
    printf("%s", out);
    assert_non_null(strstr(out, "name a.ngrok.io\n"));
    assert_non_null(strstr(out, "match    r-init  t\n"));
    assert_non_null(strstr(out, "    event  network_connection DestinationHostname=a.ngrok.io "
                                "Initiated=true\n    hit    DestinationHostname|endswith: "
                                "'.ngrok.io'\n"));
    assert_non_null(strstr(out, "no match r-img  t\n"));
    assert_non_null(strstr(out, "    why    needs Image|endswith: '\\\\ngrok.exe' (Image is not in "
                                "a name-only event)\n"));
    assert_non_null(strstr(out, "    why    needs DestinationPort: '4443' (DestinationPort is "
                                "not in a name-only event)\n"));
    assert_non_null(strstr(out, "no match r-filter  t\n"));
    assert_non_null(strstr(out, "    why    excluded by DestinationHostname|endswith: '.ngrok.io'\n"));
    assert_non_null(strstr(out, "match    r-dns  t\n"));
    assert_non_null(strstr(out, "    event  dns_query QueryName=a.ngrok.io\n"
                                "    hit    query|endswith: '.ngrok.io'\n"));
    assert_null(strstr(out, "r-other"));
    assert_non_null(strstr(out, "2 rules match, 3 more have a hostname test that holds\n"));
    free(out);

    f = open_memstream(&out, &out_len);
    assert_int_equal(tw_ruleset_explain(l.rs, "nothing.test", f), 0);
    fclose(f);
    assert_string_equal(out, "name nothing.test\n0 rules match, 0 more have a hostname test "
                             "that holds\n");
    free(out);
    unload(&l);
}

/*
 * SigmaHQ's network rules ($TW_SHARED/sigma, 187 files at the commit SOURCE.md names), pinned:
 * how many load, every reason the others are skipped for, no file error; with process
 * attribution on, the rules that need only Image / ProcessId / User load too.
 */
static const struct tw_reason_count corpus_reasons_tap[] = {
    {"field 'Image' needs process attribution (--local-processes)", 62},
    {"field 'c-useragent' not observable", 24},
    {"field 'cs-method' not observable", 17},
    {"field 'c-uri' not observable", 16},
    {"logsource service 'dns-client' not observed", 6},
    {"field 'CommandLine' not observable", 3},
    {"field 'c-uri-extension' not observable", 3},
    {"field 'ParentImage' not observable", 2},
    {"modifier 'expand' needs placeholder values, which are not configured", 2},
    {"field 'Computer' not observable", 1},
    {"field 'User' needs process attribution (--local-processes)", 1},
    {"field 'Z' not observable", 1},
    {"field 'action' not observable", 1},
    {"field 'answer' not observable", 1},
    {"field 'answers' not observable", 1},
    {"field 'cs-uri' not observable", 1},
};

static const struct tw_reason_count corpus_reasons_proc[] = {
    {"field 'c-useragent' not observable", 24},
    {"field 'cs-method' not observable", 17},
    {"field 'c-uri' not observable", 16},
    {"logsource service 'dns-client' not observed", 6},
    {"field 'CommandLine' not observable", 3},
    {"field 'c-uri-extension' not observable", 3},
    {"field 'ParentImage' not observable", 2},
    {"modifier 'expand' needs placeholder values, which are not configured", 2},
    {"field 'Computer' not observable", 1},
    {"field 'Z' not observable", 1},
    {"field 'action' not observable", 1},
    {"field 'answer' not observable", 1},
    {"field 'answers' not observable", 1},
    {"field 'cs-uri' not observable", 1},
};

static void corpus_pin(bool proc, size_t want_loaded, const struct tw_reason_count *want,
                       size_t n_want)
{
    struct tw_ruleset *rs = tw_ruleset_new();
    struct tw_reason_count got[64];
    struct tw_ruleset_stats st;
    FILE *devnull = fopen("/dev/null", "w");
    size_t n, sum = 0;

    assert_non_null(rs);
    assert_non_null(devnull);
    tw_ruleset_set_process_fields(rs, proc);
    assert_int_equal(tw_ruleset_load(rs, sigma_dir, devnull), 0);
    fclose(devnull);
    assert_int_equal(tw_ruleset_compile(rs), 0);
    tw_ruleset_get_stats(rs, &st);
    printf("sigma corpus, process fields %s: %zu loaded, %zu skipped, %zu errors, %zu "
           "indicators\n", proc ? "on" : "off", st.loaded, st.skipped, st.errors,
           st.indicators);
    n = tw_ruleset_skip_reasons(rs, got, 64);
    for (size_t i = 0; i < n && i < 64; i++) {
        printf("  %3zu  %s\n", got[i].count, got[i].reason);
        sum += got[i].count;
    }
    assert_int_equal(st.errors, 0);
    assert_int_equal(tw_ruleset_errors(rs, NULL, 0), 0);
    assert_int_equal(st.loaded, want_loaded);
    assert_int_equal(st.loaded + st.skipped, 187);
    assert_int_equal(sum, st.skipped);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n_want; i++) {
        assert_string_equal(got[i].reason, want[i].reason);
        assert_int_equal(got[i].count, want[i].count);
    }
    tw_ruleset_free(rs);
}

static void test_sigma_corpus_pinned(void **state)
{
    (void)state;
    if (access(sigma_source, R_OK) != 0)
        tw_skip_required("%s not present (TW_SHARED)", sigma_source);
    corpus_pin(false, 45, corpus_reasons_tap, TW_ARRAY_SIZE(corpus_reasons_tap));
    corpus_pin(true, 108, corpus_reasons_proc, TW_ARRAY_SIZE(corpus_reasons_proc));
}

/*
 * Events built from SigmaHQ's rules by tests/sigma_events.py, with the verdicts its own
 * evaluator gives (TW_SIGMA_CASES names the file; tests/t_sigma.sh makes it). Each line:
 * rule id, 1 (must match) or 0 (must not), then the event's fields. The corpus is loaded
 * with process fields on, so rules with Image filters are checked too.
 */
struct case_hit {
    const char *id;
    bool seen;
};

static void on_case_match(const struct tw_rule_info *r, const struct tw_event *ev, void *ctx)
{
    struct case_hit *h = ctx;

    (void)ev;
    if (strcmp(r->id, h->id) == 0)
        h->seen = true;
}

static void test_sigma_cases(void **state)
{
    const char *path = getenv("TW_SIGMA_CASES");
    struct tw_ruleset *rs;
    FILE *f, *devnull;
    char line[2048];
    size_t n = 0, bad = 0, pos = 0;

    (void)state;
    if (path == NULL)
        tw_skip_optional("TW_SIGMA_CASES not set (tests/t_sigma.sh runs this case)");
    if (access(sigma_source, R_OK) != 0)
        tw_skip_required("%s not present (TW_SHARED)", sigma_source);
    rs = tw_ruleset_new();
    devnull = fopen("/dev/null", "w");
    assert_non_null(rs);
    assert_non_null(devnull);
    tw_ruleset_set_process_fields(rs, true);
    assert_int_equal(tw_ruleset_load(rs, sigma_dir, devnull), 0);
    fclose(devnull);
    assert_int_equal(tw_ruleset_compile(rs), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        char *id = line, *exp, *rest;
        struct case_hit h = {0};
        struct kvev k;

        line[strcspn(line, "\n")] = '\0';
        exp = strchr(id, '\t');
        assert_non_null(exp);
        *exp++ = '\0';
        rest = strchr(exp, '\t');
        assert_non_null(rest);
        *rest++ = '\0';
        make_kv_sep(&k, rest, "\t");
        h.id = id;
        tw_ruleset_match(rs, &k.ev, on_case_match, &h);
        n++;
        pos += *exp == '1';
        if (h.seen != (*exp == '1') && bad++ < 20)
            printf("sigma case: rule %s %s on %s\n", id,
                   h.seen ? "matched, must not" : "did not match, must", rest);
    }
    fclose(f);
    tw_ruleset_free(rs);
    printf("sigma cases: %zu events (%zu must match), %zu wrong verdicts\n", n, pos, bad);
    assert_true(n > 0);
    assert_int_equal(bad, 0);
}

static void gen_rules(const char *path, size_t n)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "---\ntitle: gen %zu\nid: gen-%zu\nlogsource: {category: network_connection}\n"
                "detection:\n  sel: {DestinationHostname|endswith: '.x%06zu.example-tunnel.net'}\n"
                "  condition: sel\n",
                i, i, i);
    assert_int_equal(fclose(f), 0);
}

static double bench_match(const struct loaded *l, size_t n, size_t *hits_out)
{
    enum { ROUNDS = 200000 };
    char names[4][64];
    struct tw_event ev[4];
    size_t hits = 0;
    double t0;

    snprintf(names[0], sizeof(names[0]), "host.x%06zu.example-tunnel.net", n / 2);
    snprintf(names[1], sizeof(names[1]), "www.example.com");
    snprintf(names[2], sizeof(names[2]), "host.x%06zux.example-tunnel.net", n / 3);
    snprintf(names[3], sizeof(names[3]), "a.b.x%06zu.example-tunnel.net", n - 1);
    for (int i = 0; i < 4; i++)
        make_event(&ev[i], &(struct ev_spec){'n', names[i], true, 0, NULL});
    t0 = now_ns();
    for (size_t i = 0; i < ROUNDS; i++)
        hits += tw_ruleset_match(l->rs, &ev[i & 3], NULL, NULL);
    *hits_out = hits;
    return (now_ns() - t0) / ROUNDS;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void test_bench_100k(void **state)
{
    enum { BIG = 100000, SMALL = 10 };
    char path[] = "/tmp/tw_rules_bench_XXXXXX";
    struct loaded small = {0}, big = {0};
    const char *p = path;
    size_t hits;
    double ns_small, ns_big, t0, load_ms;
    long rss0, rss1;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gen_rules(path, SMALL);
    load_paths(&small, &p, 1);
    assert_int_equal(stats(&small).loaded, SMALL);

    gen_rules(path, BIG);
    rss0 = rss_kb();
    t0 = now_ns();
    load_paths(&big, &p, 1);
    load_ms = (now_ns() - t0) / 1e6;
    rss1 = rss_kb();
    unlink(path);
    assert_int_equal(big.rc, 0);
    assert_int_equal(stats(&big).loaded, BIG);
    assert_int_equal(stats(&big).indicators, BIG);

    ns_small = bench_match(&small, SMALL, &hits);
    assert_int_equal(hits, 200000 / 2);
    ns_big = bench_match(&big, BIG, &hits);
    assert_int_equal(hits, 200000 / 2);
    printf("rules: %d rules: %.1f ns/match; %d rules: %.1f ns/match; "
           "loading+compiling %d rules: %.0f ms, RSS +%ld kB\n",
           SMALL, ns_small, BIG, ns_big, BIG, load_ms, rss1 - rss0);
    unload(&small);
    unload(&big);
}

/* ------------------------------------------------------------------------ */
/* Prefilter soundness: every random condition is loaded twice, once as is    */
/* (gated by the trie where possible) and once OR-ed with a selection that    */
/* never matches and has no hostname (so it is always evaluated); both must   */
/* agree on every event.                                                      */

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static void gen_cond(char *buf, size_t cap, int depth)
{
    static const char *const leaves[] = {"a", "b", "c", "d", "e", "f", "g", "h", "1 of s*",
                                         "all of s*", "1 of them", "all of them"};
    char l[512], r[512];
    unsigned op = depth > 0 ? rnd(5) : 4;
    int n;

    switch (op) {
    case 0:
    case 1:
        gen_cond(l, sizeof(l), depth - 1);
        gen_cond(r, sizeof(r), depth - 1);
        n = snprintf(buf, cap, "(%s %s %s)", l, op ? "or" : "and", r);
        break;
    case 2:
        gen_cond(l, sizeof(l), depth - 1);
        n = snprintf(buf, cap, "not %s", l);
        break;
    case 3:
        gen_cond(l, sizeof(l), depth - 1);
        gen_cond(r, sizeof(r), depth - 1);
        n = snprintf(buf, cap, "%s and not %s", l, r);
        break;
    default:
        n = snprintf(buf, cap, "%s", leaves[rnd(TW_ARRAY_SIZE(leaves))]);
        break;
    }
    assert_true(n > 0 && (size_t)n < cap);
}

static void test_prefilter_sound(void **state)
{
    enum { RULES = 300 };
    static const char sels[] =
        "  a:\n    DestinationHostname|endswith: '.a.test'\n"
        "  b:\n    DestinationHostname: 'x.b.test'\n"
        "  c:\n    DestinationPort: 22\n"
        "  d:\n    DestinationHostname|endswith:\n      - 'b.test'\n      - '.c.test'\n"
        "  s1:\n    DestinationHostname|endswith: '.a.test'\n    Initiated: 'true'\n"
        "  s2:\n    DestinationHostname: 'x.b.test'\n"
        "  e:\n    DestinationHostname|contains: 'api'\n"
        "  f:\n    DestinationHostname|startswith: 'K.'\n"
        "  g:\n    DestinationHostname: 'x*.b.te?t'\n"
        "  h:\n    DestinationHostname|contains|all:\n      - 'q'\n      - 'test'\n"
        "  _never:\n    DestinationPort: 0\n";
    static const char *const names[] = {"q.a.test", "x.b.test",      "y.b.test",  "zb.test",
                                        "other",    "",              "a.test",    "x.b.test.evil",
                                        "k.c.test", "api.a.test",    "xapi",      "xx.b.tent",
                                        "k.q.test", "x1.b.test.api", "k.",        "apk.test"};
    size_t cap = RULES * 2048, used = 0;
    char *yaml = malloc(cap);
    struct loaded l = {0};
    size_t gated_hits = 0;

    (void)state;
    assert_non_null(yaml);
    for (int i = 0; i < RULES; i++) {
        char cond[1024];

        gen_cond(cond, sizeof(cond), 3);
        for (int v = 0; v < 2; v++)
            used += (size_t)snprintf(yaml + used, cap - used,
                                     "---\ntitle: t\nid: %c%d\nlogsource:\n  category: "
                                     "network_connection\ndetection:\n%s  condition: %s%s%s\n",
                                     v ? 'u' : 'g', i, sels, v ? "(" : "", cond,
                                     v ? ") or _never" : "");
        assert_true(used < cap);
    }
    load_yaml(&l, yaml);
    free(yaml);
    assert_int_equal(stats(&l).loaded, 2 * RULES);
    assert_true(stats(&l).indicators > 0);
    for (size_t n = 0; n < TW_ARRAY_SIZE(names); n++) {
        for (int e = 0; e < 4; e++) {
            struct ev_spec sp = {'n', names[n], e & 1, (e & 2) ? 22 : 443, NULL};
            struct hits h;
            bool hit[2][RULES];
            char *save = NULL;

            memset(hit, 0, sizeof(hit));
            match(&l, &sp, &h);
            for (char *tok = strtok_r(h.ids, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                hit[tok[0] == 'u'][atoi(tok + 1)] = true;
            for (int i = 0; i < RULES; i++) {
                if (hit[0][i] != hit[1][i])
                    fail_msg("rule %d, '%s' init %d port %u: gated %d, ungated %d", i, sp.name,
                             sp.initiated, sp.dport, hit[0][i], hit[1][i]);
                gated_hits += hit[0][i];
            }
        }
    }
    assert_true(gated_hits > 0);
    unload(&l);
}

static int sigma_paths(void **state)
{
    (void)state;
    tw_shared_path(sigma_dir, sizeof(sigma_dir), "sigma");
    tw_shared_path(sigma_source, sizeof(sigma_source), "sigma/SOURCE.md");
    tw_shared_path(seed_win, sizeof(seed_win), SEED_WIN_SUB);
    tw_shared_path(seed_lnx, sizeof(seed_lnx), SEED_LNX_SUB);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_rules),     cmocka_unit_test(test_rule_info),
        cmocka_unit_test(test_process_fields),
        cmocka_unit_test(test_semantics),      cmocka_unit_test(test_skips),
        cmocka_unit_test(test_missing_id),     cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_yaml_error),     cmocka_unit_test(test_yaml_error_drops_file),
        cmocka_unit_test(test_yaml_error_keeps_earlier_files),
        cmocka_unit_test(test_yaml_composer_error), cmocka_unit_test(test_yaml_alias),
        cmocka_unit_test(test_yaml_deep_nesting), cmocka_unit_test(test_directory),
        cmocka_unit_test(test_missing_path),   cmocka_unit_test(test_sigma_corpus),
        cmocka_unit_test(test_sigma_corpus_pinned), cmocka_unit_test(test_sigma_cases),
        cmocka_unit_test(test_modifiers),      cmocka_unit_test(test_skip_reasons),
        cmocka_unit_test(test_errors_api),     cmocka_unit_test(test_explain),
        cmocka_unit_test(test_prefilter_sound), cmocka_unit_test(test_bench_100k),
    };
    return tw_run_tests(tests, sigma_paths, NULL);
}
