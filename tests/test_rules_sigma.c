/* SPDX-License-Identifier: MIT */
/* SigmaHQ's rules (seed rules, the corpus, generated cases), the load reports, explain. */
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
/* The SigmaHQ corpus                                                       */

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
        "title: t\nid: r6\nlogsource:\n  category: proxy\ndetection:\n  sel:\n    sc-status: 404\n"
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
    assert_string_equal(rc[3].reason, "field 'sc-status' not observable");
    assert_int_equal(tw_ruleset_skip_reasons(l.rs, rc, 1), 4); /* count even when cut */
    assert_int_equal(tw_ruleset_skip_reasons(l.rs, NULL, 0), 4);
    assert_int_equal(tw_ruleset_skipped(l.rs, sk, 8), 5);
    assert_string_equal(sk[0].id, "r1");
    assert_string_equal(sk[0].file, l.path);
    assert_string_equal(sk[2].id, "r3");
    assert_string_equal(sk[4].reason, "field 'sc-status' not observable");
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

/* yaml written to a temporary file and loaded, process fields on, with or without the texts
 * that --explain prints (a sensor's set has none); errlog captured, not compiled. */
static void load_explained(struct loaded *l, const char *yaml, bool texts)
{
    FILE *log = open_memstream(&l->log, &l->log_len);

    temp_yaml(l, yaml);
    l->rs = tw_ruleset_new();
    tw_ruleset_set_process_fields(l->rs, true);
    tw_ruleset_set_explain(l->rs, texts);
    assert_int_equal(tw_ruleset_load(l->rs, l->path, log), 0);
    fclose(log);
    unlink(l->path);
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
        "---\ntitle: t\nid: r-resp\nlogsource:\n  category: dns\ndetection:\n"
        "  sel:\n    query|endswith: '.ngrok.io'\n  ex:\n    answers: '127.0.0.1'\n"
        "    Z: 0\n  condition: sel and not ex\n"
        "---\n" DOC_NC("r-other", "DestinationHostname|endswith: '.other.test'");
    struct loaded l = {0};
    char *out = NULL;
    size_t out_len = 0, n;
    FILE *f;

    (void)state;
    load_explained(&l, yaml, true);
    assert_int_equal(stats(&l).loaded, 7);
    f = open_memstream(&out, &out_len);
    n = tw_ruleset_explain(l.rs, "A.Ngrok.IO.", f);
    fclose(f);
    assert_int_equal(n, 3); /* r-init, r-dns and r-resp */
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
    /* A rule on DNS responses says which response fields decide it too. */
    assert_non_null(strstr(out, "match    r-resp  t\n"));
    assert_non_null(strstr(out, "    event  dns (a response) query=a.ngrok.io\n"
                                "    note   matched on DNS responses; also decided by answers Z "
                                "(absent here)\n    hit    query|endswith: '.ngrok.io'\n"));
    assert_null(strstr(out, "r-other"));
    assert_non_null(strstr(out, "3 rules match, 3 more have a hostname test that holds\n"));
    free(out);

    f = open_memstream(&out, &out_len);
    assert_int_equal(tw_ruleset_explain(l.rs, "nothing.test", f), 0);
    fclose(f);
    assert_string_equal(out, "name nothing.test\n0 rules match, 0 more have a hostname test "
                             "that holds\n");
    free(out);
    unload(&l);

    /* A set loaded without the texts (a sensor's) explains the same, naming the fields. */
    load_explained(&l, yaml, false);
    f = open_memstream(&out, &out_len);
    assert_int_equal(tw_ruleset_explain(l.rs, "A.Ngrok.IO.", f), 3);
    fclose(f);
    assert_non_null(strstr(out, "match    r-init  t\n"));
    assert_non_null(strstr(out, "Initiated=true\n    hit    DestinationHostname\n"));
    assert_non_null(strstr(out, "    why    excluded by DestinationHostname\n"));
    assert_null(strstr(out, "|endswith"));
    assert_non_null(strstr(out, "3 rules match, 3 more have a hostname test that holds\n"));
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
    {"field 'sc-status' not observable", 6},
    {"logsource service 'dns-client' not observed", 6},
    {"field 'CommandLine' not observable", 3},
    {"field 'ParentImage' not observable", 2},
    {"modifier 'expand' needs placeholder values, which are not configured", 2},
    {"field 'Computer' not observable", 1},
    {"field 'User' needs process attribution (--local-processes)", 1},
    {"field 'action' not observable", 1},
};

static const struct tw_reason_count corpus_reasons_proc[] = {
    {"field 'sc-status' not observable", 6},
    {"logsource service 'dns-client' not observed", 6},
    {"field 'CommandLine' not observable", 3},
    {"field 'ParentImage' not observable", 2},
    {"modifier 'expand' needs placeholder values, which are not configured", 2},
    {"field 'Computer' not observable", 1},
    {"field 'action' not observable", 1},
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
    roundtrip(&rs, proc, true);
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
    corpus_pin(false, 103, corpus_reasons_tap, TW_ARRAY_SIZE(corpus_reasons_tap));
    corpus_pin(true, 166, corpus_reasons_proc, TW_ARRAY_SIZE(corpus_reasons_proc));
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
    roundtrip(&rs, true, true);
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
        cmocka_unit_test(test_seed_rules),   cmocka_unit_test(test_rule_info),
        cmocka_unit_test(test_sigma_corpus), cmocka_unit_test(test_sigma_corpus_pinned),
        cmocka_unit_test(test_sigma_cases),  cmocka_unit_test(test_skip_reasons),
        cmocka_unit_test(test_errors_api),   cmocka_unit_test(test_explain),
    };
    return tw_run_rule_tests(tests, sigma_paths, NULL);
}
