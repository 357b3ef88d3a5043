/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/match/intel.h"

#define FEED "tests/intel/feed.intel"
#define LIST "tests/intel/domains.txt"
#define RPZ "tests/intel/policy.rpz"

/* Loads files into a compiled set; problems go to a discarded log unless log is given. */
static struct tw_intel *load_set(const char *const *paths, size_t n, bool subdomains, FILE *log)
{
    struct tw_intel *in = tw_intel_new();
    FILE *devnull = log != NULL ? log : fopen("/dev/null", "w");

    assert_non_null(in);
    assert_non_null(devnull);
    for (size_t i = 0; i < n; i++)
        tw_intel_load(in, paths[i], subdomains, devnull);
    assert_int_equal(tw_intel_compile(in), 0);
    if (log == NULL)
        fclose(devnull);
    return in;
}

static struct tw_intel *load_one(const char *path, bool subdomains)
{
    return load_set(&path, 1, subdomains, NULL);
}

/* An event whose name sits in an exact-size heap buffer, so ASan sees any over-read. */
struct test_event {
    struct tw_event ev;
    char *name;
};

static void event_init(struct test_event *te, enum tw_category cat, const char *name,
                       const char *dst, const char *src)
{
    memset(te, 0, sizeof(*te));
    te->ev.category = cat;
    te->ev.evidence = cat == TW_CAT_DNS_QUERY ? TW_EV_DNS_QUERY : TW_EV_TLS_SNI;
    if (name != NULL) {
        size_t len = strlen(name);

        te->name = malloc(len ? len : 1);
        assert_non_null(te->name);
        memcpy(te->name, name, len);
        te->ev.norm = te->name;
        te->ev.norm_len = len;
        te->ev.raw = te->name;
        te->ev.raw_len = len;
    }
    te->ev.ip_version = 4;
    if (dst != NULL && strchr(dst, ':') != NULL)
        te->ev.ip_version = 6;
    if (dst != NULL)
        assert_int_equal(
            inet_pton(te->ev.ip_version == 6 ? AF_INET6 : AF_INET, dst, te->ev.dst_addr), 1);
    if (src != NULL)
        assert_int_equal(
            inet_pton(te->ev.ip_version == 6 ? AF_INET6 : AF_INET, src, te->ev.src_addr), 1);
}

static void event_free(struct test_event *te)
{
    free(te->name);
}

struct hits {
    const struct tw_rule_info *ri[16];
    size_t n;
};

static void collect(const struct tw_rule_info *rule, const struct tw_event *ev, void *ctx)
{
    struct hits *h = ctx;

    (void)ev;
    assert_int_equal(rule->category, TW_CAT__COUNT); /* an indicator is of every category */
    if (h->n < TW_ARRAY_SIZE(h->ri))
        h->ri[h->n] = rule;
    h->n++;
}

static size_t match_name(const struct tw_intel *in, enum tw_category cat, const char *name,
                         struct hits *h)
{
    struct test_event te;
    size_t n;

    memset(h, 0, sizeof(*h));
    event_init(&te, cat, name, "192.0.2.200", "10.0.0.5");
    n = tw_intel_match(in, &te.ev, collect, h);
    event_free(&te);
    assert_int_equal(n, h->n);
    return n;
}

/* Names against each file: how many indicators fire and the line of the first. */
static const struct {
    int line;
    const char *file;
    bool subdomains;
    const char *name;
    size_t n;
    unsigned first_line;
} name_cases[] = {
    /* Zeek intel: exact by default */
    {__LINE__, FEED, false, "bad.example", 1, 8},
    {__LINE__, FEED, false, "BAD.Example", 1, 8},
    {__LINE__, FEED, false, "a.bad.example", 0, 0},
    {__LINE__, FEED, false, "xbad.example", 0, 0},
    {__LINE__, FEED, false, "bad.example.com", 0, 0},
    {__LINE__, FEED, false, "example", 0, 0},
    {__LINE__, FEED, false, "tracker.example", 1, 17}, /* written "Tracker.Example." */
    {__LINE__, FEED, false, "x.wild.example", 1, 20},
    {__LINE__, FEED, false, "a.b.wild.example", 1, 20},
    {__LINE__, FEED, false, "wild.example", 0, 0},
    {__LINE__, FEED, false, "xwild.example", 0, 0},
    {__LINE__, FEED, false, "bad..name", 0, 0},
    {__LINE__, FEED, false, "", 0, 0},
    /* ... and subdomains when the file is loaded so */
    {__LINE__, FEED, true, "bad.example", 1, 8},
    {__LINE__, FEED, true, "a.bad.example", 1, 8},
    {__LINE__, FEED, true, "a.b.c.bad.example", 1, 8},
    {__LINE__, FEED, true, "xbad.example", 0, 0},
    {__LINE__, FEED, true, "x.tracker.example", 1, 17},
    {__LINE__, FEED, true, "wild.example", 0, 0}, /* "*." stays strictly below */
    /* plain list */
    {__LINE__, LIST, false, "bad.example", 1, 2},
    {__LINE__, LIST, false, "a.bad.example", 0, 0},
    {__LINE__, LIST, false, "tunnel.example.net", 1, 3},
    {__LINE__, LIST, false, "x.wild2.example", 1, 4},
    {__LINE__, LIST, false, "wild2.example", 0, 0},
    {__LINE__, LIST, false, "a.dot.example", 1, 5},
    {__LINE__, LIST, false, "dot.example", 0, 0},
    {__LINE__, LIST, false, "hosts1.example", 1, 8},
    {__LINE__, LIST, false, "hosts2.example", 1, 8},
    {__LINE__, LIST, false, "localhost", 0, 0},
    {__LINE__, LIST, false, "ip6-loopback", 0, 0},
    {__LINE__, LIST, false, "0.0.0.0", 0, 0},
    {__LINE__, LIST, false, "bad_label_ok.example", 1, 17},
    {__LINE__, LIST, false, "xn--bcher-kva.example", 1, 18},
    {__LINE__, LIST, false, "url.example", 0, 0},
    {__LINE__, LIST, true, "deep.a.bad.example", 1, 2},
    {__LINE__, LIST, true, "a.hosts1.example", 1, 8},
    {__LINE__, LIST, true, "hosts1.example.evil", 0, 0},
    /* RPZ: most specific trigger of the zone decides; passthru allows */
    {__LINE__, RPZ, false, "bad.example", 1, 10},
    {__LINE__, RPZ, false, "a.bad.example", 1, 11},
    {__LINE__, RPZ, false, "xbad.example", 0, 0},
    {__LINE__, RPZ, false, "ok.bad.example", 0, 0},
    {__LINE__, RPZ, false, "x.ok.bad.example", 1, 11},
    {__LINE__, RPZ, false, "nodata.example", 1, 12},
    {__LINE__, RPZ, false, "absolute.example", 1, 13},
    {__LINE__, RPZ, false, "absolute.example.rpz.example.net", 0, 0},
    {__LINE__, RPZ, false, "dropped.example", 1, 15},
    {__LINE__, RPZ, false, "tcp.example", 1, 16},
    {__LINE__, RPZ, false, "garden.example", 1, 17}, /* A and AAAA: one indicator */
    {__LINE__, RPZ, false, "redirect.example", 1, 19},
    {__LINE__, RPZ, false, "mixed.case.example", 1, 20},
    {__LINE__, RPZ, false, "old-pass.example", 0, 0},
    {__LINE__, RPZ, false, "wide.example", 0, 0},
    {__LINE__, RPZ, false, "a.wide.example", 1, 22},
    {__LINE__, RPZ, false, "deep.sub.wide.example", 1, 23},
    {__LINE__, RPZ, false, "x.deep.sub.wide.example", 1, 22},
    {__LINE__, RPZ, false, "relative-under-sub.sub.example", 1, 37},
    {__LINE__, RPZ, false, "outside.example.org", 0, 0},
    {__LINE__, RPZ, false, "1.2.0.192.rpz-ip", 0, 0},
    {__LINE__, RPZ, true, "a.bad.example", 1, 11}, /* the flag does not apply to zones */
    {__LINE__, RPZ, true, "a.nodata.example", 0, 0},
    {__LINE__, "tests/intel/noorigin.zone", false, "relative.example", 1, 3},
    {__LINE__, "tests/intel/noorigin.zone", false, "absolute.example", 0, 0},
};

static void test_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(name_cases); i++) {
        struct tw_intel *in = load_one(name_cases[i].file, name_cases[i].subdomains);
        struct hits h;

        for (int cat = 0; cat < TW_CAT__COUNT; cat++) {
            size_t n = match_name(in, (enum tw_category)cat, name_cases[i].name, &h);
            /* A DNS response repeats its query's name: indicators fire on the query only. */
            size_t want = cat == TW_CAT_DNS ? 0 : name_cases[i].n;

            if (n != want || (n > 0 && h.ri[0]->line != name_cases[i].first_line)) {
                fail_msg("line %d: %s in %s (%s): %zu matches (first at line %u), want %zu (%u)",
                         name_cases[i].line, name_cases[i].name, name_cases[i].file,
                         tw_category_name((enum tw_category)cat), n, n > 0 ? h.ri[0]->line : 0,
                         want, name_cases[i].first_line);
            }
        }
        tw_intel_free(in);
    }
}

/* Address indicators: destination, source, both, versions. */
static const struct {
    int line;
    const char *file;
    const char *dst, *src;
    size_t n;
    unsigned first_line;
} addr_cases[] = {
    {__LINE__, FEED, "198.51.100.7", "10.0.0.1", 1, 9},
    {__LINE__, FEED, "10.0.0.1", "198.51.100.7", 1, 9},
    {__LINE__, FEED, "198.51.100.7", "198.51.100.7", 1, 9},
    {__LINE__, FEED, "198.51.100.8", "10.0.0.1", 0, 0},
    {__LINE__, FEED, "203.0.113.1", "10.0.0.1", 1, 18},
    {__LINE__, FEED, "203.0.113.255", "203.0.113.4", 1, 18}, /* one subnet, both sides */
    {__LINE__, FEED, "203.0.112.255", "10.0.0.1", 0, 0},
    {__LINE__, FEED, "203.0.113.9", "198.51.100.7", 2, 18}, /* destination first */
    {__LINE__, FEED, "2001:db8:bad::1", "fd00::1", 1, 10},
    {__LINE__, FEED, "2001:db8:bad::2", "fd00::1", 0, 0},
    {__LINE__, FEED, "2001:db8:f00:ffff::1", "fd00::1", 1, 19},
    {__LINE__, FEED, "2001:db8:f01::1", "fd00::1", 0, 0},
    {__LINE__, FEED, "::ffff:198.51.100.7", "fd00::1", 0, 0},
    {__LINE__, FEED, "10.1.2.3", "10.0.0.1", 0, 0}, /* the rejected Intel::ADDR with /24 */
    {__LINE__, LIST, "192.0.2.55", "10.0.0.1", 1, 11},
    {__LINE__, LIST, "198.51.100.77", "10.0.0.1", 1, 12},
    {__LINE__, LIST, "0.0.0.0", "10.0.0.1", 0, 0}, /* a hosts file's sinkhole */
    {__LINE__, LIST, "127.0.0.1", "10.0.0.1", 0, 0},
    {__LINE__, LIST, "2001:db8:aa::1234", "fd00::1", 1, 13},
    {__LINE__, LIST, "2001:db8:ab::1", "fd00::1", 0, 0},
    {__LINE__, RPZ, "192.0.2.1", "192.0.2.100", 0, 0}, /* rpz-ip, rpz-client-ip skipped */
};

static void test_addresses(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(addr_cases); i++) {
        struct tw_intel *in = load_one(addr_cases[i].file, false);

        for (int cat = 0; cat < TW_CAT__COUNT; cat++) {
            struct test_event te;
            struct hits h = {.n = 0};
            size_t n;

            event_init(&te, (enum tw_category)cat, "unlisted.example", addr_cases[i].dst,
                       addr_cases[i].src);
            n = tw_intel_match(in, &te.ev, collect, &h);
            /* A DNS response's addresses are its query's: matched on the query only. */
            size_t want = cat == TW_CAT_DNS ? 0 : addr_cases[i].n;
            if (n != want || (n > 0 && h.ri[0]->line != addr_cases[i].first_line))
                fail_msg("line %d: %s <- %s (%s): %zu matches (first at line %u), want %zu (%u)",
                         addr_cases[i].line, addr_cases[i].dst, addr_cases[i].src,
                         tw_category_name((enum tw_category)cat), n, n > 0 ? h.ri[0]->line : 0,
                         want, addr_cases[i].first_line);
            event_free(&te);
        }
        tw_intel_free(in);
    }
}

/* Address matches need a version: an event without one matches only by name. */
static void test_no_address(void **state)
{
    struct tw_intel *in = load_one(FEED, false);
    struct test_event te;

    (void)state;
    event_init(&te, TW_CAT_NETWORK_CONNECTION, "bad.example", "198.51.100.7", NULL);
    assert_int_equal(tw_intel_match(in, &te.ev, NULL, NULL), 2);
    te.ev.ip_version = 0;
    assert_int_equal(tw_intel_match(in, &te.ev, NULL, NULL), 1);
    te.ev.norm = NULL;
    te.ev.norm_len = 0;
    assert_int_equal(tw_intel_match(in, &te.ev, NULL, NULL), 0);
    event_free(&te);
    tw_intel_free(in);
}

static void test_rule_info(void **state)
{
    struct tw_intel *a = load_one(FEED, false), *b = load_one(FEED, true);
    struct tw_intel *c = load_one("tests/../tests/intel/feed.intel", false);
    struct tw_intel *r = load_one(RPZ, false);
    struct hits h, h2;
    const struct tw_rule_info *ri;

    (void)state;
    assert_int_equal(match_name(a, TW_CAT_DNS_QUERY, "bad.example", &h), 1);
    ri = h.ri[0];
    assert_string_equal(ri->title, "Threat intel: bad.example (abuse-feed) - C2 of a loader");
    assert_string_equal(ri->level, "high");
    assert_string_equal(ri->file, FEED);
    assert_int_equal(ri->line, 8);
    assert_int_equal(ri->category, TW_CAT__COUNT);
    assert_int_equal(strlen(ri->id), 6 + 16);
    assert_memory_equal(ri->id, "intel-", 6);
    assert_int_equal(strspn(ri->id + 6, "0123456789abcdef"), 16);
    assert_int_equal(ri->n_tags, 3);
    assert_string_equal(ri->tags[0], "intel");
    assert_string_equal(ri->tags[1], "intel.source:abuse-feed");
    assert_string_equal(ri->tags[2], "intel.type:domain");

    /* the same pointer every time, whatever the event's category (one per indicator) */
    assert_int_equal(match_name(a, TW_CAT_DNS_QUERY, "bad.example", &h2), 1);
    assert_ptr_equal(h2.ri[0], ri);
    assert_int_equal(match_name(a, TW_CAT_NETWORK_CONNECTION, "bad.example", &h2), 1);
    assert_ptr_equal(h2.ri[0], ri);

    /* ids: stable across loads of the same path, different for another path */
    assert_int_equal(match_name(b, TW_CAT_DNS_QUERY, "bad.example", &h2), 1);
    assert_string_equal(h2.ri[0]->id, ri->id);
    assert_int_equal(match_name(c, TW_CAT_DNS_QUERY, "bad.example", &h2), 1);
    assert_string_not_equal(h2.ri[0]->id, ri->id);

    /* a missing meta.source falls back to the file name */
    assert_int_equal(match_name(a, TW_CAT_DNS_QUERY, "x.wild.example", &h2), 1);
    assert_string_equal(h2.ri[0]->title, "Threat intel: *.wild.example (feed.intel)");
    assert_string_equal(h2.ri[0]->tags[1], "intel.source:feed.intel");
    assert_int_equal(match_name(a, TW_CAT_DNS_QUERY, "tracker.example", &h2), 1);
    assert_string_equal(h2.ri[0]->title, "Threat intel: tracker.example (second-feed)");

    /* RPZ: the zone is the source, the action a tag */
    assert_int_equal(match_name(r, TW_CAT_DNS_QUERY, "a.bad.example", &h2), 1);
    assert_string_equal(h2.ri[0]->title, "Threat intel: *.bad.example (rpz.example.net)");
    assert_int_equal(h2.ri[0]->n_tags, 4);
    assert_string_equal(h2.ri[0]->tags[3], "intel.rpz_action:nxdomain");
    assert_int_equal(match_name(r, TW_CAT_DNS_QUERY, "nodata.example", &h2), 1);
    assert_string_equal(h2.ri[0]->tags[3], "intel.rpz_action:nodata");
    assert_int_equal(match_name(r, TW_CAT_DNS_QUERY, "dropped.example", &h2), 1);
    assert_string_equal(h2.ri[0]->tags[3], "intel.rpz_action:drop");
    assert_int_equal(match_name(r, TW_CAT_DNS_QUERY, "garden.example", &h2), 1);
    assert_string_equal(h2.ri[0]->tags[3], "intel.rpz_action:local-data");

    tw_intel_free(a);
    tw_intel_free(b);
    tw_intel_free(c);
    tw_intel_free(r);
}

/* Several files in one set: every file's indicator fires; order: exact, then parents from
 * the nearest, load order within one indicator. */
static void test_several_files(void **state)
{
    static const char *const paths[] = {FEED, LIST, RPZ};
    struct tw_intel *in = load_set(paths, 3, true, NULL);
    struct hits h;

    (void)state;
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 3);
    assert_string_equal(h.ri[0]->file, FEED);
    assert_string_equal(h.ri[1]->file, LIST);
    assert_string_equal(h.ri[2]->file, RPZ);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "ok.bad.example", &h), 2);
    assert_string_equal(h.ri[0]->file, FEED); /* subdomains of bad.example */
    assert_string_equal(h.ri[1]->file, LIST);
    tw_intel_free(in);

    /* nearest parent first */
    char dir[] = "/tmp/tw_intel_XXXXXX", path[64];
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/order.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("*.example\n*.c.example\nb.c.example\n*.b.c.example\n", f);
    fclose(f);
    in = load_one(path, false);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "a.b.c.example", &h), 3);
    assert_int_equal(h.ri[0]->line, 4);
    assert_int_equal(h.ri[1]->line, 2);
    assert_int_equal(h.ri[2]->line, 1);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "b.c.example", &h), 3);
    assert_int_equal(h.ri[0]->line, 3);
    tw_intel_free(in);
    unlink(path);
    rmdir(dir);
}

/* What each file loads, skips and reports. */
static const struct {
    int line;
    const char *file;
    int rc;
    size_t names, wildcards, addrs, subnets, allow, bad, skipped, dups;
} stat_cases[] = {
    {__LINE__, FEED, 0, 3, 1, 2, 2, 0, 5, 4, 1},
    {__LINE__, LIST, 0, 6, 2, 1, 2, 0, 4, 3, 0},
    {__LINE__, RPZ, 0, 11, 2, 0, 0, 2, 2, 5, 1},
    {__LINE__, "tests/intel/noorigin.zone", 0, 1, 0, 0, 0, 0, 1, 0, 0},
    {__LINE__, "tests/intel/empty.txt", 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {__LINE__, "tests/intel/comments-only.txt", 0, 0, 0, 0, 0, 0, 0, 0, 0},
};

static void test_stats(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(stat_cases); i++) {
        struct tw_intel *in = tw_intel_new();
        FILE *log = fopen("/dev/null", "w");
        struct tw_intel_stats st;
        int rc = tw_intel_load(in, stat_cases[i].file, false, log);

        fclose(log);
        assert_int_equal(tw_intel_compile(in), 0);
        tw_intel_get_stats(in, &st);
        if (rc != stat_cases[i].rc || st.names != stat_cases[i].names ||
            st.wildcards != stat_cases[i].wildcards || st.addrs != stat_cases[i].addrs ||
            st.subnets != stat_cases[i].subnets || st.allow != stat_cases[i].allow ||
            st.bad_lines != stat_cases[i].bad || st.skipped != stat_cases[i].skipped ||
            st.duplicates != stat_cases[i].dups || st.files != 1 || st.errors != 0)
            fail_msg("line %d: %s: rc %d names %zu wildcards %zu addrs %zu subnets %zu allow %zu "
                     "bad %zu skipped %zu dups %zu files %zu errors %zu",
                     stat_cases[i].line, stat_cases[i].file, rc, st.names, st.wildcards, st.addrs,
                     st.subnets, st.allow, st.bad_lines, st.skipped, st.duplicates, st.files,
                     st.errors);
        assert_true(st.memory > 0);
        tw_intel_free(in);
    }
}

static void test_skip_reasons(void **state)
{
    static const char *const paths[] = {FEED, RPZ, FEED};
    struct tw_intel *in = load_set(paths, 3, false, NULL);
    const char *reason;
    size_t count, total = 0, url = 0, rpz_ip = 0;
    struct tw_intel_stats st;

    (void)state;
    for (size_t i = 0; tw_intel_skip_reason(in, i, &reason, &count); i++) {
        total += count;
        if (strcmp(reason, "Intel::URL: not observed") == 0)
            url = count;
        if (strncmp(reason, "rpz-ip trigger", 14) == 0)
            rpz_ip = count;
    }
    tw_intel_get_stats(in, &st);
    assert_int_equal(url, 4);
    assert_int_equal(rpz_ip, 2);
    assert_int_equal(total, st.skipped);
    assert_int_equal(st.files, 3);
    assert_false(tw_intel_skip_reason(in, 1000, &reason, &count));
    tw_intel_free(in);
}

/* Problems on the error log, with their file and line. */
static const struct {
    int line;
    const char *file;
    int rc;
    const char *expect;
} error_cases[] = {
    {__LINE__, FEED, 0,
     FEED ":21: Intel::ADDR with a prefix length (use Intel::SUBNET): '10.1.2.0/24'\n"},
    {__LINE__, FEED, 0, FEED ":22: empty label: 'bad..name'\n"},
    {__LINE__, FEED, 0, FEED ":23: host bits set in subnet '192.0.2.1/24'\n"},
    {__LINE__, FEED, 0, FEED ":24: 2 fields where #fields names 4\n"},
    {__LINE__, FEED, 0, FEED ":25: unknown indicator_type 'Intel::BOGUS'\n"},
    {__LINE__, FEED, 0, FEED ": 2 entries skipped: Intel::URL: not observed\n"},
    {__LINE__, FEED, 0, FEED ": 1 entry skipped: Intel::EMAIL: not observed\n"},
    {__LINE__, LIST, 0,
     LIST ":14: not a hostname (a URL or an address?): 'http://url.example/path'\n"},
    {__LINE__, LIST, 0, LIST ":15: one name or address a line"},
    {__LINE__, LIST, 0, LIST ":16: '*' only as the whole first label: '*.'\n"},
    {__LINE__, LIST, 0, LIST ":19: non-ASCII name (write it in its xn-- form)"},
    {__LINE__, LIST, 0, LIST ": 3 entries skipped: local name of a hosts file\n"},
    {__LINE__, RPZ, 0,
     RPZ ":33: owner outside.example.org. is outside the zone rpz.example.net.\n"},
    {__LINE__, RPZ, 0, RPZ ":34: Syntax error, could not parse the RR's rdata\n"},
    {__LINE__, RPZ, 0,
     RPZ ": 2 entries skipped: rpz-ip trigger: response addresses are not observed\n"},
    {__LINE__, RPZ, 0,
     RPZ ": 1 entry skipped: rpz-client-ip trigger: a policy on the querier, not an indicator\n"},
    {__LINE__, "tests/intel/noorigin.zone", 0,
     "tests/intel/noorigin.zone:4: absolute owner absolute.example.rpz.other. in a zone without "
     "$ORIGIN or SOA\n"},
    {__LINE__, "tests/intel/missing.txt", TW_EIO,
     "tests/intel/missing.txt: cannot read: No such file or directory\n"},
    {__LINE__, "tests/intel", TW_EIO, "tests/intel: cannot read: Is a directory\n"},
    {__LINE__, "tests/intel/nofields.intel", TW_EMALFORMED,
     "tests/intel/nofields.intel: rejected: line 1: #fields names no indicator_type column\n"},
    {__LINE__, "tests/intel/noheader.intel", TW_EMALFORMED,
     "tests/intel/noheader.intel: rejected: line 1: data before the #fields line\n"},
    {__LINE__, "tests/intel/notintel.csv", TW_EMALFORMED,
     "tests/intel/notintel.csv: rejected: 4 of 4 entries malformed\n"},
    {__LINE__, "tests/intel/empty.txt", 0, ""},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(error_cases); i++) {
        struct tw_intel *in = tw_intel_new();
        char *out = NULL;
        size_t outlen = 0;
        FILE *log = open_memstream(&out, &outlen);
        struct tw_intel_stats st;
        int rc;

        assert_non_null(log);
        rc = tw_intel_load(in, error_cases[i].file, false, log);
        fclose(log);
        tw_intel_get_stats(in, &st);
        if (rc != error_cases[i].rc || strstr(out, error_cases[i].expect) == NULL ||
            (error_cases[i].expect[0] == '\0' && outlen != 0))
            fail_msg("line %d: %s: rc %d (want %d), log:\n%s\nwant:\n%s", error_cases[i].line,
                     error_cases[i].file, rc, error_cases[i].rc, out, error_cases[i].expect);
        /* a file that did not load leaves nothing behind */
        if (rc != 0) {
            assert_int_equal(st.errors, 1);
            assert_int_equal(st.files, 0);
            assert_int_equal(st.names + st.wildcards + st.addrs + st.subnets, 0);
        }
        free(out);
        tw_intel_free(in);
    }
}

/* A rejected file does not disturb what was loaded before it; a NUL byte rejects. */
static void test_reject_keeps_others(void **state)
{
    char dir[] = "/tmp/tw_intel_XXXXXX", path[64];
    struct tw_intel *in = tw_intel_new();
    FILE *log = fopen("/dev/null", "w"), *f;
    struct tw_intel_stats st;
    struct hits h;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bin.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fwrite("good.example\n\0bad\n", 1, 18, f);
    fclose(f);
    assert_int_equal(tw_intel_load(in, LIST, false, log), 0);
    assert_int_equal(tw_intel_load(in, path, false, log), TW_EMALFORMED);
    assert_int_equal(tw_intel_load(in, "tests/intel/notintel.csv", false, log), TW_EMALFORMED);
    assert_int_equal(tw_intel_load(in, FEED, false, log), 0);
    fclose(log);
    assert_int_equal(tw_intel_compile(in), 0);
    tw_intel_get_stats(in, &st);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.names, 6 + 3);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "good.example", &h), 0);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 2);
    assert_string_equal(h.ri[1]->file, FEED);
    tw_intel_free(in);
    unlink(path);
    rmdir(dir);
}

/* An uncompiled set matches nothing; loading again drops the compiled tables. */
static void test_uncompiled(void **state)
{
    struct tw_intel *in = tw_intel_new();
    FILE *log = fopen("/dev/null", "w");
    struct hits h;

    (void)state;
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 0);
    assert_int_equal(tw_intel_load(in, LIST, false, log), 0);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 0);
    assert_int_equal(tw_intel_compile(in), 0);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 1);
    assert_int_equal(tw_intel_load(in, FEED, false, log), 0);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 0);
    assert_int_equal(tw_intel_explain(in, "bad.example", log), 0);
    assert_int_equal(tw_intel_compile(in), 0);
    assert_int_equal(match_name(in, TW_CAT_DNS_QUERY, "bad.example", &h), 2);
    assert_int_equal(tw_intel_load(NULL, LIST, false, log), TW_EINVAL);
    assert_int_equal(tw_intel_load(in, NULL, false, log), TW_EINVAL);
    fclose(log);
    tw_intel_free(in);
    tw_intel_free(NULL);
}

static const struct {
    int line;
    const char *name;
    size_t n;
    const char *expect[3];
} explain_cases[] = {
    {__LINE__,
     "Bad.Example.",
     3,
     {FEED ":8: domain bad.example: exact (intel-", LIST ":2: domain bad.example: exact",
      RPZ ":10: domain rpz nxdomain bad.example: exact"}},
    {__LINE__,
     "a.bad.example",
     1,
     {RPZ ":11: domain rpz nxdomain *.bad.example: subdomain of bad.example (intel-", NULL}},
    {__LINE__,
     "ok.bad.example",
     0,
     {RPZ ":14: domain rpz passthru ok.bad.example: exact, allow-list entry (rpz-passthru): "
          "the zone reports nothing for this name",
      RPZ ":11: domain rpz nxdomain *.bad.example: subdomain of bad.example, not applied: " RPZ
          ":14 decides for its zone"}},
    {__LINE__, "x.wild.example", 1, {FEED ":20: domain *.wild.example: subdomain of wild.example"}},
    {__LINE__,
     "198.51.100.7",
     2,
     {FEED ":9: addr 198.51.100.7: address", LIST ":12: subnet 198.51.100.0/24: in subnet"}},
    {__LINE__, "2001:DB8:BAD::1", 1, {FEED ":10: addr 2001:db8:bad::1: address"}},
    {__LINE__, "xbad.example", 0, {NULL}},
    {__LINE__, "", 0, {NULL}},
};

static void test_explain(void **state)
{
    static const char *const paths[] = {FEED, LIST, RPZ};
    struct tw_intel *in = load_set(paths, 3, false, NULL);

    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(explain_cases); i++) {
        char *out = NULL;
        size_t outlen = 0, n;
        FILE *f = open_memstream(&out, &outlen);

        assert_non_null(f);
        n = tw_intel_explain(in, explain_cases[i].name, f);
        fclose(f);
        if (n != explain_cases[i].n)
            fail_msg("line %d: %s: %zu, want %zu:\n%s", explain_cases[i].line,
                     explain_cases[i].name, n, explain_cases[i].n, out);
        for (size_t k = 0; k < 3 && explain_cases[i].expect[k] != NULL; k++)
            if (strstr(out, explain_cases[i].expect[k]) == NULL)
                fail_msg("line %d: %s: no '%s' in:\n%s", explain_cases[i].line,
                         explain_cases[i].name, explain_cases[i].expect[k], out);
        if (explain_cases[i].expect[0] == NULL && explain_cases[i].n == 0)
            assert_int_equal(outlen, 0);
        free(out);
    }
    tw_intel_free(in);
}

/* ---- scale and threads ------------------------------------------------------------------ */

#define HUGE_N 200000

/* HUGE_N indicators: names, wildcards, addresses and subnets; returns the file's path. */
static void write_huge(const char *path, size_t n)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs("#fields\tindicator\tindicator_type\tmeta.source\n", f);
    for (size_t i = 0; i < n; i++) {
        switch (i % 10) {
        case 0:
            fprintf(f, "*.w%zu.example\tIntel::DOMAIN\tgen\n", i);
            break;
        case 1:
            fprintf(f, "10.%zu.%zu.%zu\tIntel::ADDR\tgen\n", i >> 16 & 255, i >> 8 & 255, i & 255);
            break;
        case 2:
            fprintf(f, "2001:db8:%zx:%zx::/64\tIntel::SUBNET\tgen\n", i >> 16, i & 0xffff);
            break;
        default:
            fprintf(f, "h%zu.n%zu.example\tIntel::DOMAIN\tgen\n", i, i % 977);
            break;
        }
    }
    fclose(f);
}

struct probe {
    char name[64];
    uint8_t dst[16];
    size_t expect;
};

/* Names and addresses to look up: a hit of each kind and misses, spread over the set. */
static struct probe *make_probes(size_t n_ind, size_t n)
{
    struct probe *p = calloc(n, sizeof(*p));

    assert_non_null(p);
    for (size_t k = 0; k < n; k++) {
        size_t i = (k * 7919) % n_ind;

        p[k].dst[0] = 192;
        p[k].dst[1] = 0;
        p[k].dst[2] = 2;
        p[k].dst[3] = 1;
        switch (k % 5) {
        case 0: /* exact */
            i = i - i % 10 + 5;
            if (i >= n_ind)
                i = 5;
            snprintf(p[k].name, sizeof(p[k].name), "h%zu.n%zu.example", i, i % 977);
            p[k].expect = 1;
            break;
        case 1: /* below a wildcard */
            i -= i % 10;
            snprintf(p[k].name, sizeof(p[k].name), "a.b.w%zu.example", i);
            p[k].expect = 1;
            break;
        case 2: /* a name sharing only a suffix string, and an address hit */
            i = i - i % 10 + 1;
            if (i >= n_ind)
                i = 1;
            snprintf(p[k].name, sizeof(p[k].name), "xh%zu.n%zu.example", i, i % 977);
            p[k].dst[0] = 10;
            p[k].dst[1] = (uint8_t)(i >> 16);
            p[k].dst[2] = (uint8_t)(i >> 8);
            p[k].dst[3] = (uint8_t)i;
            p[k].expect = 1;
            break;
        default: /* misses */
            snprintf(p[k].name, sizeof(p[k].name), "miss%zu.w%zu.example.org", k, i);
            p[k].expect = 0;
            break;
        }
    }
    return p;
}

static double match_probes(const struct tw_intel *in, const struct probe *p, size_t n,
                           size_t rounds, size_t *wrong)
{
    struct tw_event ev;
    double t0 = now_ns();

    memset(&ev, 0, sizeof(ev));
    ev.category = TW_CAT_NETWORK_CONNECTION;
    ev.ip_version = 4;
    ev.src_addr[0] = 172;
    ev.src_addr[1] = 16;
    for (size_t r = 0; r < rounds; r++) {
        for (size_t k = 0; k < n; k++) {
            ev.norm = p[k].name;
            ev.norm_len = strlen(p[k].name);
            memcpy(ev.dst_addr, p[k].dst, 16);
            if (tw_intel_match(in, &ev, NULL, NULL) != p[k].expect)
                (*wrong)++;
        }
    }
    return (now_ns() - t0) / (double)(n * rounds);
}

static void test_huge(void **state)
{
    char dir[] = "/tmp/tw_intel_XXXXXX", big[64], small[64];
    struct tw_intel *in = tw_intel_new(), *sm = tw_intel_new();
    struct tw_intel_stats st;
    size_t wrong = 0, nprobe = 20000;
    struct probe *pb, *ps;
    double t0, t_load, t_compile, ns_big, ns_small;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(big, sizeof(big), "%s/big.intel", dir);
    snprintf(small, sizeof(small), "%s/small.intel", dir);
    write_huge(big, HUGE_N);
    write_huge(small, 200);

    t0 = now_ns();
    assert_int_equal(tw_intel_load(in, big, false, stderr), 0);
    t_load = now_ns() - t0;
    t0 = now_ns();
    assert_int_equal(tw_intel_compile(in), 0);
    t_compile = now_ns() - t0;
    tw_intel_get_stats(in, &st);
    assert_int_equal(st.names + st.wildcards + st.addrs + st.subnets, HUGE_N);
    assert_int_equal(st.wildcards, HUGE_N / 10);
    assert_int_equal(st.bad_lines, 0);
    assert_int_equal(tw_intel_load(sm, small, false, stderr), 0);
    assert_int_equal(tw_intel_compile(sm), 0);

    pb = make_probes(HUGE_N, nprobe);
    ps = make_probes(200, nprobe);
    ns_big = match_probes(in, pb, nprobe, 10, &wrong);
    assert_int_equal(wrong, 0);
    ns_small = match_probes(sm, ps, nprobe, 10, &wrong);
    assert_int_equal(wrong, 0);
    printf("intel: %d indicators: load %.0f ms, compile %.0f ms, %.1f MiB; match %.0f ns "
           "(200 indicators: %.0f ns)\n",
           HUGE_N, t_load / 1e6, t_compile / 1e6, (double)st.memory / (1 << 20), ns_big, ns_small);
    /* The cost of a match is a few hash probes whatever the set's size: allow for cache
     * misses in the big tables, not for anything that grows with the indicator count. */
    assert_true(ns_big < 20000);
    assert_true(ns_big < 20 * ns_small + 2000);
    free(pb);
    free(ps);
    tw_intel_free(in);
    tw_intel_free(sm);
    unlink(big);
    unlink(small);
    rmdir(dir);
}

struct worker {
    const struct tw_intel *in;
    const struct probe *p;
    size_t n;
    size_t wrong;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;

    match_probes(w->in, w->p, w->n, 5, &w->wrong);
    return NULL;
}

static void test_threads(void **state)
{
    char dir[] = "/tmp/tw_intel_XXXXXX", big[64];
    struct tw_intel *in = tw_intel_new();
    struct worker w[4];
    pthread_t th[4];
    struct probe *p;
    size_t n = 20000;
    FILE *log = fopen("/dev/null", "w");

    (void)state;
    assert_non_null(log);
    assert_non_null(mkdtemp(dir));
    snprintf(big, sizeof(big), "%s/big.intel", dir);
    write_huge(big, 50000);
    assert_int_equal(tw_intel_load(in, big, false, stderr), 0);
    assert_int_equal(tw_intel_load(in, RPZ, false, log), 0);
    fclose(log);
    assert_int_equal(tw_intel_compile(in), 0);
    p = make_probes(50000, n);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){in, p + i * (n / 8), n / 2, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].wrong, 0);
    }
    free(p);
    tw_intel_free(in);
    unlink(big);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_no_address),
        cmocka_unit_test(test_rule_info),
        cmocka_unit_test(test_several_files),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_skip_reasons),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_reject_keeps_others),
        cmocka_unit_test(test_uncompiled),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_threads),
    };

    return tw_run_tests(tests, NULL, NULL);
}
