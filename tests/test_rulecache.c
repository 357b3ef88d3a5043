/* SPDX-License-Identifier: MIT */
/*
 * The rule cache: a compiled set's flat form refused when damaged (never followed out of
 * bounds), and the cache directory (tw_rulecache_rules()): written, used, keyed on the rule
 * files' contents and the settings, a damaged or foreign file not used, sets with file errors
 * not kept, the directory pruned, a cache file cut short under a set in use read as zeros.
 * (Every rule test also runs on sets restored from the flat form: tests/test_rules_util.h.)
 */
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

#include "tunwatch/match/rulecache.h"
#include "tunwatch/match/rules.h"

/* Rules with every kind of test the flat form keeps: exact, suffix, prefix, contains, glob,
 * regular expressions (with options), cidr (v4, v6), numbers, fieldref, null, exists,
 * keywords, not, 1 of / all of, tags, references, a description; a skipped rule too. */
#define DOC(id, cat, det)                                                                       \
    "title: rule " id "\nid: " id "\ndescription: the rule " id "\nlevel: high\n"               \
    "tags:\n  - attack.t1572\n  - tunnel\nreferences:\n  - https://example.org/" id "\n"        \
    "logsource:\n  category: " cat "\ndetection:\n" det
static const char rich_yaml[] =
    DOC("r-exact", "network_connection", "  sel:\n    DestinationHostname: 'a.example.com'\n"
                                         "  condition: sel\n")
    "---\n" DOC("r-suffix", "network_connection",
                "  sel:\n    DestinationHostname|endswith:\n      - '.ngrok.io'\n      - "
                "'.localto.net'\n  condition: sel\n")
    "---\n" DOC("r-prefix", "dns_query", "  sel:\n    QueryName|startswith: 'tun'\n"
                                         "  condition: sel\n")
    "---\n" DOC("r-contains", "dns_query", "  sel:\n    QueryName|contains: 'tunnel'\n"
                                           "  condition: sel\n")
    "---\n" DOC("r-glob", "network_connection", "  sel:\n    DestinationHostname: '*.dev?.tun*.io'\n"
                                                "  condition: sel\n")
    "---\n" DOC("r-re", "network_connection",
                "  sel:\n    DestinationHostname|re|i: '^x[0-9]+\\.TRYCLOUDFLARE\\.com$'\n"
                "  condition: sel\n")
    "---\n" DOC("r-cidr", "network_connection",
                "  sel:\n    DestinationIp|cidr:\n      - '10.0.0.0/8'\n      - 'fd00::/8'\n"
                "  filter:\n    DestinationPort|gt: 8000\n  condition: sel and not filter\n")
    "---\n" DOC("r-fieldref", "network_connection",
                "  sel:\n    DestinationIp|fieldref: SourceIp\n  condition: sel\n")
    "---\n" DOC("r-null", "network_connection",
                "  sel:\n    DestinationHostname: null\n    DestinationPort: 4444\n"
                "  condition: sel\n")
    "---\n" DOC("r-exists", "network_connection",
                "  sel:\n    DestinationHostname|exists: true\n    DestinationPort: 5555\n"
                "  condition: sel\n")
    "---\n" DOC("r-keyword", "dns_query", "  keywords:\n    - 'evil-kw'\n  condition: keywords\n")
    "---\n" DOC("r-oneof", "network_connection",
                "  sel_a:\n    DestinationHostname|endswith: '.serveo.net'\n  sel_b:\n"
                "    DestinationHostname|endswith: '.pinggy.io'\n  sel_c:\n    Initiated: 'true'\n"
                "  condition: 1 of sel_a* or (sel_b and sel_c)\n")
    "---\n" DOC("r-allof", "network_connection",
                "  sel_a:\n    DestinationHostname|contains: 'all'\n  sel_b:\n"
                "    DestinationHostname|endswith: '.of.test'\n  condition: all of sel_*\n")
    "---\n" DOC("r-3of2", "network_connection",
                "  sel_a:\n    DestinationHostname: 'n.test'\n  sel_b:\n    DestinationPort: 443\n"
                "  condition: 3 of sel_*\n")
    "---\n" DOC("r-skipped", "network_connection", "  sel:\n    CommandLine: 'x'\n"
                                                   "  condition: sel\n");

/* Events against it, as "key=value;..." (tests/test_rules_util.h). */
static const char *const events[] = {
    "name=a.example.com",
    "name=x.ngrok.io",
    "name=b.localto.net",
    "cat=d;name=tunnel.example.org",
    "cat=d;name=x.tunnel.example.org",
    "name=a.dev1.tunx.io",
    "name=x42.trycloudflare.com",
    "name=y.trycloudflare.com",
    "name=q;dst=10.1.2.3;dport=443",
    "name=q;dst=10.1.2.3;dport=8443",
    "name=q;src=fd00::10;dst=fd00::1;dport=80",
    "name=;dport=4444",
    "name=z;dport=5555",
    "cat=d;name=evil-kw.example",
    "name=a.serveo.net",
    "name=a.pinggy.io;init=true",
    "name=a.pinggy.io;init=false",
    "name=ball.of.test",
    "name=same;src=10.9.9.9;dst=10.9.9.9;dport=22",
    "name=n.test",
};

static void kv(struct kvev *k, const char *spec)
{
    make_kv_sep(k, spec, ";");
}

/* The ids set rs matches on every event, one line each. */
static char *verdicts(struct tw_ruleset *rs)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    for (size_t i = 0; i < TW_ARRAY_SIZE(events); i++) {
        struct kvev k;
        struct hits h = {0};
        kv(&k, events[i]);
        tw_ruleset_match(rs, &k.ev, on_match, &h);
        fprintf(f, "%s: %s\n", events[i], h.ids);
    }
    fclose(f);
    return out;
}

static char tmpdir[64];

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* rich_yaml loaded and compiled (process fields off, explain texts on). */
static struct tw_ruleset *rich_set(void)
{
    char path[128];
    char *log = NULL;
    size_t log_len = 0;
    FILE *logf = open_memstream(&log, &log_len);
    struct tw_ruleset *rs = tw_ruleset_new();

    assert_non_null(rs);
    assert_non_null(logf);
    path_in(path, sizeof(path), "rich.yml");
    write_file(path, rich_yaml);
    assert_int_equal(tw_ruleset_load(rs, path, logf), 0);
    fclose(logf);
    /* The one rule skipped is the one meant to be. */
    assert_non_null(strstr(log, "rule r-skipped skipped"));
    if (strstr(strstr(log, " skipped: ") + 1, " skipped: ") != NULL)
        fail_msg("another rule skipped: %s", log);
    free(log);
    assert_int_equal(tw_ruleset_compile(rs), 0);
    return rs;
}

static void test_rich_set_restored(void **state)
{
    struct tw_ruleset *rs = rich_set(), *copy = rs;
    struct tw_ruleset_stats st;

    (void)state;
    tw_ruleset_get_stats(rs, &st);
    assert_int_equal(st.loaded, 14); /* r-3of2: "3 of" two selections never holds */
    assert_int_equal(st.skipped, 1);
    char *want = verdicts(rs);
    /* Every kind of test matches somewhere: the events are not all misses. */
    assert_non_null(strstr(want, "x42.trycloudflare.com: r-re"));
    assert_non_null(strstr(want, "dport=443: r-cidr"));
    assert_non_null(strstr(want, "name=;dport=4444: r-null"));
    rules_roundtrip = true;
    roundtrip(&copy, false, true);
    rules_roundtrip = false;
    char *got = verdicts(copy);
    assert_string_equal(got, want);
    struct tw_rule_skip sk;
    assert_int_equal(tw_ruleset_skipped(copy, &sk, 1), 1);
    assert_string_equal(sk.id, "r-skipped");
    free(want);
    free(got);
    tw_ruleset_free(copy);
}

static void release_buf(void *p)
{
    free(p);
}

/* Restores rs's flat form changed by damage(buf, len, arg) (which may shorten len); a restore
 * that succeeds is matched against every event (ASan and UBSan watch). Returns 1 if it
 * restored. */
static int restore_damaged(const char *form, size_t len, size_t cut, size_t at, int how)
{
    char *buf = malloc(len ? len : 1);

    assert_non_null(buf);
    memcpy(buf, form, len);
    if (cut < len)
        len = cut;
    if (at < len)
        buf[at] = (char)(how == 0 ? 0 : how == 1 ? 0xff : buf[at] ^ 0x01);
    struct tw_ruleset *rs = tw_ruleset_new();
    assert_non_null(rs);
    if (tw_ruleset_restore(rs, buf, len, release_buf, buf) != 0) {
        tw_ruleset_free(rs);
        free(buf);
        return 0;
    }
    free(verdicts(rs));
    tw_ruleset_free(rs);
    return 1;
}

static void test_damaged_form_refused(void **state)
{
    struct tw_ruleset *rs = rich_set();
    char *form = NULL;
    size_t len = 0, restored = 0, tries = 0;
    FILE *f = open_memstream(&form, &len);

    (void)state;
    assert_non_null(f);
    assert_int_equal(tw_ruleset_save(rs, f), 0);
    fclose(f);
    tw_ruleset_free(rs);
    /* Whole: restores. Every shorter length: refused. */
    assert_int_equal(restore_damaged(form, len, len, len, 0), 1);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(restore_damaged(form, len, cut, len, 0), 0);
    /* Every byte zeroed, set to 0xff, its low bit flipped: refused, or restored into a set that
     * matches without reading out of bounds. */
    for (size_t at = 0; at < len; at++)
        for (int how = 0; how < 3; how++, tries++)
            restored += (size_t)restore_damaged(form, len, len, at, how);
    printf("flat form of %zu bytes: %zu of %zu damaged copies still restored\n", len, restored,
           tries);
    assert_true(restored < tries);
    free(form);
}

/* --- the cache directory ---------------------------------------------------------------- */

struct run {
    struct tw_ruleset *rs;
    struct tw_rulecache_result res;
    char *log;
    size_t log_len;
};

static void cached(struct run *r, const char *rules, const char *cache, bool proc)
{
    struct tw_matchers_config cfg = {0};
    FILE *log = open_memstream(&r->log, &r->log_len);

    assert_non_null(log);
    cfg.rule_paths[0] = rules;
    cfg.n_rule_paths = 1;
    cfg.process_fields = proc;
    cfg.lean = true;
    cfg.rule_cache = cache;
    assert_int_equal(tw_rulecache_rules(&cfg, log, &r->rs, &r->res), 0);
    fclose(log);
    assert_non_null(r->rs);
}

static void done(struct run *r)
{
    tw_ruleset_free(r->rs);
    free(r->log);
    memset(r, 0, sizeof(*r));
}

/* How many rules-*.twc files dir holds; the name of the last one seen in name. */
static int cache_files(const char *dir, char *name, size_t cap)
{
    char cmd[256], line[256];
    int n = 0;

    snprintf(cmd, sizeof(cmd), "ls %s | grep '^rules-.*\\.twc$'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        if (name != NULL)
            snprintf(name, cap, "%s/%s", dir, line);
        n++;
    }
    pclose(p);
    return n;
}

static void test_cache_dir(void **state)
{
    char rules[128], cache[128], file[192], other[192], name[512];
    struct run a = {0}, b = {0};
    struct stat sb;

    (void)state;
    path_in(rules, sizeof(rules), "set");
    path_in(cache, sizeof(cache), "cache");
    assert_int_equal(mkdir(rules, 0700), 0);
    snprintf(file, sizeof(file), "%s/a.yml", rules);
    write_file(file, rich_yaml);

    /* Missing directory: created. */
    char why[256];
    assert_int_equal(tw_rulecache_check_dir(cache, why, sizeof(why)), 0);
    assert_int_equal(stat(cache, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(tw_rulecache_check_dir(file, why, sizeof(why)), -1);
    assert_string_equal(why, "not a directory");

    /* Compiled and written, then used: the same messages, the same verdicts. */
    cached(&a, rules, cache, false);
    assert_true(a.res.written);
    assert_false(a.res.used);
    assert_non_null(strstr(a.log, "rule r-skipped skipped"));
    assert_int_equal(cache_files(cache, name, sizeof(name)), 1);
    assert_int_equal(stat(name, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    cached(&b, rules, cache, false);
    assert_true(b.res.used);
    assert_false(b.res.written);
    assert_int_equal(b.log_len, a.log_len);
    assert_memory_equal(b.log, a.log, a.log_len);
    char *va = verdicts(a.rs), *vb = verdicts(b.rs);
    assert_string_equal(vb, va);
    free(vb);
    done(&b);

    /* Another setting is another set. */
    cached(&b, rules, cache, true);
    assert_false(b.res.used);
    assert_true(b.res.written);
    done(&b);

    /* A rule file edited in place, the same size: not the cached set (the same names: its
     * cache file is written over). */
    char *edited = strdup(rich_yaml), *at = strstr(edited, "a.example.com");
    assert_non_null(at);
    at[0] = 'b';
    write_file(file, edited);
    cached(&b, rules, cache, false);
    assert_false(b.res.used);
    assert_true(b.res.written);
    vb = verdicts(b.rs);
    assert_null(strstr(vb, "name=a.example.com: r-exact"));
    free(vb);
    done(&b);
    write_file(file, rich_yaml);

    /* A file added to the directory: not the cached set. */
    snprintf(other, sizeof(other), "%s/b.yml", rules);
    write_file(other, DOC("r-more", "network_connection",
                          "  sel:\n    DestinationHostname: 'more.test'\n  condition: sel\n"));
    cached(&b, rules, cache, false);
    assert_false(b.res.used);
    assert_true(b.res.written);
    done(&b);
    assert_int_equal(unlink(other), 0);

    /* The first contents again: compiled (the cache holds the edited set), then used. */
    cached(&b, rules, cache, false);
    assert_false(b.res.used);
    assert_true(b.res.written);
    done(&b);
    cached(&b, rules, cache, false);
    assert_true(b.res.used);
    done(&b);

    /* The file rewritten with the same contents (new times): by contents, still the set. */
    write_file(file, rich_yaml);
    cached(&b, rules, cache, false);
    assert_true(b.res.used);
    done(&b);

    /* Damaged (name: the first set's file): said, compiled again, written again. */
    assert_int_equal(stat(name, &sb), 0);
    FILE *f = fopen(name, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, sb.st_size / 2, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, sb.st_size / 2, SEEK_SET), 0);
    fputc(c ^ 0x20, f);
    fclose(f);
    cached(&b, rules, cache, false);
    assert_false(b.res.used);
    assert_true(b.res.written);
    assert_non_null(strstr(b.log, "not usable, the rules are compiled again"));
    vb = verdicts(b.rs);
    assert_string_equal(vb, va);
    free(vb);
    done(&b);
    cached(&b, rules, cache, false);
    assert_true(b.res.used);
    done(&b);

    /* Writable by others: not trusted (compiled, and replaced by one that is not). */
    assert_int_equal(chmod(name, 0666), 0);
    cached(&b, rules, cache, false);
    assert_false(b.res.used);
    assert_true(b.res.written);
    assert_int_equal(stat(name, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    done(&b);

    /* A file that does not parse: its set is not kept. */
    write_file(other, "title: [unclosed\n");
    cached(&b, rules, cache, false);
    assert_false(b.res.used);
    assert_false(b.res.written);
    assert_non_null(strstr(b.log, "b.yml"));
    done(&b);
    assert_int_equal(unlink(other), 0);

    /* The cache file cut short under the set in use: its pages read as zeros, no SIGBUS. */
    cached(&b, rules, cache, false);
    assert_true(b.res.used);
    assert_int_equal(truncate(name, 0), 0);
    free(verdicts(b.rs));
    struct tw_rule_skip sk;
    assert_int_equal(tw_ruleset_skipped(b.rs, &sk, 1), 1);
    done(&b);

    /* Pruned: the newest CACHE_KEEP (8) sets stay (each of another list of files). */
    for (int i = 0; i < 12; i++) {
        char body[256], name_i[256];
        snprintf(body, sizeof(body), "title: t\nid: p-%d\nlogsource:\n  category: dns_query\n"
                                     "detection:\n  sel:\n    QueryName: 'p%d.test'\n"
                                     "  condition: sel\n", i, i);
        snprintf(name_i, sizeof(name_i), "%s/p%02d.yml", rules, i);
        write_file(name_i, body);
        cached(&b, rules, cache, false);
        assert_true(b.res.written);
        done(&b);
        assert_int_equal(unlink(name_i), 0);
    }
    assert_int_equal(cache_files(cache, NULL, 0), 8);
    free(va);
    done(&a);
    free(edited);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tw_rulecache_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rich_set_restored),
        cmocka_unit_test(test_damaged_form_refused),
        cmocka_unit_test(test_cache_dir),
    };
    return tw_run_tests(tests, setup, teardown);
}
