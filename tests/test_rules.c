/* SPDX-License-Identifier: MIT */
/* The rule loader and the detection semantics: skipped rules, YAML errors, directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "test_rules_util.h"

#include "tunwatch/match/rules.h"

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
        roundtrip(&rs, on, true);
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
/* DNS responses                                                            */

/* A dns event (a response) as the engine makes it: answers' texts, one TTL each. */
struct resp_ev {
    struct tw_event ev;
    char text[512];
    uint16_t offs[8], types[8];
    uint32_t ttls[8];
};

/* answers: texts separated by '|' ("" for none); flags: the header flags word. */
static void make_resp(struct resp_ev *r, const char *name, uint16_t qtype, const char *answers,
                      uint16_t flags, uint8_t z, bool rejected, uint16_t dport)
{
    struct ev_spec sp = {'d', name, true, dport, NULL};
    size_t w = 0;

    memset(r, 0, sizeof(*r));
    make_event(&r->ev, &sp);
    r->ev.category = TW_CAT_DNS;
    r->ev.evidence = TW_EV_DNS_RESPONSE;
    r->ev.qtype = qtype;
    r->ev.dns.flags = flags;
    r->ev.dns.z = z;
    r->ev.dns.rejected = rejected;
    for (const char *a = answers; *a != '\0' && r->ev.dns.n_answers < 8;) {
        size_t l = strcspn(a, "|");
        unsigned i = r->ev.dns.n_answers++;
        assert_true(w + l + 1 <= sizeof(r->text));
        r->offs[i] = (uint16_t)w;
        r->ttls[i] = 300 + i;
        r->types[i] = qtype;
        memcpy(r->text + w, a, l);
        r->text[w + l] = '\0';
        w += l + 1;
        a += l + (a[l] == '|');
    }
    r->ev.dns.answers = r->text;
    r->ev.dns.answers_len = w;
    r->ev.dns.offs = r->offs;
    r->ev.dns.ttls = r->ttls;
    r->ev.dns.types = r->types;
}

static const struct {
    int line;
    const char *logsource; /* the logsource map's lines */
    const char *detection;
    char cat;              /* the rule's category: 'q' dns_query, 'r' dns (responses) */
    const char *answers;
    uint16_t flags;
    uint8_t z;
    bool rejected;
    bool match;            /* on the response */
} resp_cases[] = {
    /* Only the query: a rule on queries, never matched on responses (once per query). */
    {__LINE__, "  category: dns", "  sel:\n    query|endswith: '.localto.net'\n  condition: sel\n",
     'q', "10.0.0.1", 0x8180, 0, false, false},
    /* answers is a list: any value matches */
    {__LINE__, "  category: dns", "  sel:\n    answers: '10.0.0.2'\n  condition: sel\n", 'r',
     "cdn.example|10.0.0.1|10.0.0.2", 0x8180, 0, false, true},
    {__LINE__, "  category: dns", "  sel:\n    answers: '10.0.0.3'\n  condition: sel\n", 'r',
     "cdn.example|10.0.0.1|10.0.0.2", 0x8180, 0, false, false},
    {__LINE__, "  category: dns", "  sel:\n    answer|contains: 'iex'\n    record_type: TXT\n"
     "  condition: sel\n", 'r', "v=spf1 -all|powershell IEX(x)", 0x8180, 0, false, true},
    {__LINE__, "  category: dns", "  sel:\n    answer|contains: 'iex'\n    record_type: A\n"
     "  condition: sel\n", 'r', "powershell IEX(x)", 0x8180, 0, false, false},
    /* not (any answer is 127.0.0.1) */
    {__LINE__, "  service: dns", "  sel:\n    query|endswith: 'localto.net'\n  ex:\n"
     "    answers: ['127.0.0.1', '0.0.0.0']\n  condition: sel and not ex\n", 'r',
     "1.2.3.4|127.0.0.1", 0x8180, 0, false, false},
    {__LINE__, "  service: dns", "  sel:\n    query|endswith: 'localto.net'\n  ex:\n"
     "    answers: ['127.0.0.1', '0.0.0.0']\n  condition: sel and not ex\n", 'r',
     "1.2.3.4", 0x8180, 0, false, true},
    /* an empty list is null; exists needs a value */
    {__LINE__, "  service: dns", "  sel:\n    answers: null\n  condition: sel\n", 'r', "",
     0x8183, 0, false, true},
    {__LINE__, "  service: dns", "  sel:\n    answers|exists: true\n  condition: sel\n", 'r', "",
     0x8183, 0, false, false},
    /* header fields */
    {__LINE__, "  service: dns", "  sel:\n    rcode_name: NXDOMAIN\n    rcode: 3\n  condition: sel\n",
     'r', "", 0x8183, 0, false, true},
    {__LINE__, "  service: dns", "  sel:\n    rcode_name: NXDOMAIN\n  condition: sel\n", 'r', "",
     0x8180, 0, false, false},
    {__LINE__, "  service: dns", "  z:\n    Z: 0\n  condition: not z\n", 'r', "1.2.3.4", 0x81c0,
     4, false, true},
    {__LINE__, "  service: dns", "  z:\n    Z: 0\n  condition: not z\n", 'r', "1.2.3.4", 0x8180, 0,
     false, false},
    {__LINE__, "  service: dns", "  sel:\n    AA: 'true'\n    RA: 'false'\n  condition: sel\n",
     'r', "1.2.3.4", 0x8500, 0, false, true},
    {__LINE__, "  service: dns", "  sel:\n    TC: 'true'\n  condition: sel\n", 'r', "1.2.3.4",
     0x8180, 0, false, false},
    {__LINE__, "  service: dns", "  sel:\n    rejected: 'true'\n  condition: sel\n", 'r', "",
     0x8185, 0, true, true},
    {__LINE__, "  service: dns", "  sel:\n    TTLs|lt: 301\n  condition: sel\n", 'r',
     "1.2.3.4|5.6.7.8", 0x8180, 0, false, true},
    /* keyword search reads every answer */
    {__LINE__, "  service: dns", "  kw:\n    - 'evil-payload'\n  condition: kw\n", 'q',
     "x|evil-payload", 0x8180, 0, false, false},
};

/*
 * Rules of logsource dns that read a response field (answers, answer, rcode, Z, ...) are rules
 * on responses: matched on the dns event of each response, never on the query; rules that read
 * only the query stay on queries, so they fire once per query, not twice.
 */
static void test_dns_response_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(resp_cases); i++) {
        char yaml[2048];
        struct loaded l = {0};
        struct resp_ev r;
        struct hits h = {0};
        struct ev_spec q = {'d', "a1.localto.net", true, 0, NULL};

        snprintf(yaml, sizeof(yaml),
                 "title: case %d\nid: case-%d\nlogsource:\n%s\n  product: zeek\ndetection:\n%s",
                 resp_cases[i].line, resp_cases[i].line, resp_cases[i].logsource,
                 resp_cases[i].detection);
        load_yaml(&l, yaml);
        if (l.rc != 0 || stats(&l).loaded != 1)
            fail_msg("line %d: rule not loaded: %s", resp_cases[i].line, l.log ? l.log : "");
        make_resp(&r, "a1.localto.net", (uint16_t)(strstr(resp_cases[i].detection, "record_type") ? 16 : 1),
                  resp_cases[i].answers, resp_cases[i].flags, resp_cases[i].z,
                  resp_cases[i].rejected, 53);
        size_t n = tw_ruleset_match(l.rs, &r.ev, on_match, &h);
        if ((n == 1) != resp_cases[i].match)
            fail_msg("line %d: response: got %zu matches, want %s", resp_cases[i].line, n,
                     resp_cases[i].match ? "1" : "0");
        /* The query event: rules on responses never see it; rules on queries match it. */
        n = match(&l, &q, &h);
        if (resp_cases[i].cat == 'r' && n != 0)
            fail_msg("line %d: a rule on responses matched a query", resp_cases[i].line);
        if (resp_cases[i].cat == 'q' && strstr(resp_cases[i].detection, "query") && n != 1)
            fail_msg("line %d: a rule on queries did not match the query", resp_cases[i].line);
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
    {__LINE__, "proxy", "  sel:\n    cs-host: 'x'\n    sc-status: 404\n  condition: sel\n",
     "field 'sc-status' not observable"},
    {__LINE__, "firewall", "  sel:\n    dst_port: 21\n    action: forward\n  condition: sel\n",
     "field 'action' not observable"},
    {__LINE__, "dns", "  sel:\n    query: x\n    rtt|gt: 1\n  condition: sel\n",
     "field 'rtt' not observable"},
    {__LINE__, "network_connection", "  sel:\n    answers: x\n  condition: sel\n",
     "field 'answers' not in category network_connection"},
    /* a process field, then a response field: responses are not attributed */
    {__LINE__, "dns", "  sel:\n    Image|endswith: '\\\\dig.exe'\n    answers: x\n  condition: sel\n",
     "field 'Image' not in category dns (a rule on DNS responses)"},
    {__LINE__, "dns", "  sel:\n    answers: x\n    Image|endswith: '\\\\dig.exe'\n  condition: sel\n",
     "field 'Image' not in category dns"},
    {__LINE__, "network_connection",
     "  sel:\n    DestinationHostname|endswith: '.x'\n  filter:\n    Image|endswith: '\\\\chrome.exe'\n"
     "  condition: sel and not filter\n",
     "field 'Image' needs process attribution (--local-processes)"},
    {__LINE__, "network_connection", "  sel:\n    CommandLine|contains: 'ngrok'\n  condition: sel\n",
     "field 'CommandLine' not observable"},
    {__LINE__, "network_connection", "  sel:\n    QueryName: 'x'\n  condition: sel\n",
     "field 'QueryName' not in category network_connection"},
    {__LINE__, "dns", "  sel:\n    qclass: 1\n  condition: sel\n",
     "field 'qclass' not observable"},
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

/*
 * A file over several of the loader's 1 MiB pieces: documents that cross a piece's end, one
 * document larger than a piece, document numbers that go on from piece to piece (the rule
 * without an id is named by its number), and the same outcome when the last document makes
 * libyaml read the whole file again (a flow sequence).
 */
static void test_large_file_in_pieces(void **state)
{
    enum { N_RULES = 8000, BIG_VALUES = 40000 };
    (void)state;
    for (int flow = 0; flow <= 1; flow++) {
        char *yaml = NULL, want[256];
        size_t len = 0;
        FILE *f = open_memstream(&yaml, &len);
        struct loaded l = {0};
        struct hits h;
        char name[64];

        assert_non_null(f);
        for (int i = 0; i < N_RULES; i++) {
            fprintf(f, "%stitle: rule %d\n", i ? "---\n" : "", i);
            if (i != 4000)
                fprintf(f, "id: r%d\n", i);
            fprintf(f, "description: |\n    rule %d\n    of many\nlogsource:\n"
                       "    category: dns_query\ndetection:\n    sel:\n", i);
            if (i == 2500) {
                fprintf(f, "        QueryName|endswith:\n");
                for (int v = 0; v < BIG_VALUES; v++)
                    fprintf(f, "            - '.v%d.big.test'\n", v);
            } else {
                fprintf(f, "        QueryName|endswith: '.r%d.test'\n", i);
            }
            fprintf(f, "    condition: sel\n");
            if (flow && i == N_RULES - 1)
                fprintf(f, "tags: [a, b]\n");
        }
        assert_int_equal(fclose(f), 0);
        assert_true(len > 2 * (1u << 20)); /* and the big document alone is over 1 MiB */
        load_yaml(&l, yaml);
        assert_int_equal(l.rc, 0);
        assert_int_equal(stats(&l).loaded, N_RULES - 1);
        assert_int_equal(stats(&l).skipped, 1);
        snprintf(want, sizeof(want), "%s: rule (document 4001) skipped: missing id\n", l.path);
        assert_string_equal(l.log, want);
        snprintf(name, sizeof(name), "x.v%d.big.test", BIG_VALUES - 1);
        assert_int_equal(match(&l, &(struct ev_spec){'d', name, true, 0, NULL}, &h), 1);
        assert_string_equal(h.ids, "r2500");
        snprintf(name, sizeof(name), "x.r%d.test", N_RULES - 1);
        assert_int_equal(match(&l, &(struct ev_spec){'d', name, true, 0, NULL}, &h), 1);
        snprintf(want, sizeof(want), "r%d", N_RULES - 1);
        assert_string_equal(h.ids, want);
        unload(&l);
        free(yaml);
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_fields),
        cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_dns_response_fields),
        cmocka_unit_test(test_skips),
        cmocka_unit_test(test_missing_id),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_large_file_in_pieces),
        cmocka_unit_test(test_yaml_error),
        cmocka_unit_test(test_yaml_error_drops_file),
        cmocka_unit_test(test_yaml_error_keeps_earlier_files),
        cmocka_unit_test(test_yaml_composer_error),
        cmocka_unit_test(test_yaml_alias),
        cmocka_unit_test(test_yaml_deep_nesting),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_missing_path),
    };
    return tw_run_rule_tests(tests, NULL, NULL);
}
