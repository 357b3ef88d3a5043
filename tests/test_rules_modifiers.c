/* SPDX-License-Identifier: MIT */
/* Rules on events with every field set: the modifiers, prefilter soundness, 100k rules. */
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

#include "test_rules_util.h"

#include "tunwatch/match/rules.h"

/* ------------------------------------------------------------------------ */
/* Modifiers, keywords, logsources: events with every field set            */

/* make_kv_sep() with the fields separated by ';'. */
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
            roundtrip(&l.rs, true, true);
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
/* The 100k-rule benchmark                                                  */

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modifiers),
        cmocka_unit_test(test_prefilter_sound),
        cmocka_unit_test(test_bench_100k),
    };
    return tw_run_rule_tests(tests, NULL, NULL);
}
