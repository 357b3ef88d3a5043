/* SPDX-License-Identifier: MIT */
/*
 * The fast YAML reader for rule files against libyaml (tests/fuzz/yaml_diff.h): written cases of
 * what it must take and what it must leave to libyaml, every rule file at hand (rules/, tests/,
 * SigmaHQ's), random mutations of real rules, and the loader's switch from one reader to the
 * other in the middle of a file.
 */
#include <dirent.h>
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
#include "fuzz/yaml_diff.h"

enum want { TAKE, LEAVE };

static void expect(int line, const char *yaml, enum want want)
{
    bool accepted;
    const char *why = yd_check(yaml, strlen(yaml), &accepted);

    if (why != NULL)
        fail_msg("line %d: %s", line, why);
    if (accepted != (want == TAKE))
        fail_msg("line %d: the fast reader %s it", line, accepted ? "took" : "left");
}

static void test_cases(void **state)
{
    static const struct {
        int line;
        const char *yaml;
        enum want want;
    } cases[] = {
        /* what rule files are made of */
        {__LINE__, "title: a\nid: b\n", TAKE},
        {__LINE__, "a:\n  b: c\n  d:\n    - e\n    - 'f'\n    - \"g\"\n", TAKE},
        {__LINE__, "a:\n- b\n- c\nd: e\n", TAKE},                  /* sequence at the key's indent */
        {__LINE__, "a:\n  - b: c\n    d: e\n  - f\n", TAKE},       /* maps in a sequence */
        {__LINE__, "- a\n-   b: c\n    d: e\n", TAKE},
        {__LINE__, "-\n  - a\n-\n", TAKE},                          /* nested and empty entries */
        {__LINE__, "a:\nb:\n  c:\n", TAKE},                         /* nulls */
        {__LINE__, "a: b # comment\n# line comment\n  # indented comment\nc: d#e\n", TAKE},
        {__LINE__, "a: # comment\n  b: c\n", TAKE},
        {__LINE__, "a: 'it''s'\nb: \"q\\\"\\\\\\/\\t\\n\\r\\0\\e\\a\\b\\v\\f\\ x\"\n", TAKE},
        {__LINE__, "'a b': c\n\"d\": e\n'': f\n", TAKE},           /* quoted keys, an empty one */
        {__LINE__, "a|contains|all: b\nc: http://x:8080/y?z=1#f\n", TAKE},
        {__LINE__, "a: -b\nc: ?d\ne: :f\ng: b-c\n", TAKE},
        {__LINE__, "a: [b\nc: x\n", LEAVE},
        {__LINE__, "a: 'x' # c\nb: \"y\"   \n", TAKE},
        {__LINE__, "a: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", TAKE}, /* UTF-8 */
        {__LINE__, "a: b\n---\nc: d\n", TAKE},
        {__LINE__, "---\na: b\n---\n", TAKE},                       /* an empty last document */
        {__LINE__, "--- # c\na: b\n---\n---\nc: d\n", TAKE},
        {__LINE__, "# only a comment\n", TAKE},
        {__LINE__, "", TAKE},
        {__LINE__, "a: b", TAKE},                                   /* no final newline */
        {__LINE__, "  a: b\n  c: d\n", TAKE},                       /* an indented root */
        {__LINE__, "a:\n    b: c\n    d: e\nf: g\n", TAKE},
        {__LINE__, "a: b  \n", TAKE},
        {__LINE__, "a: --- b\n", TAKE},
        {__LINE__, "--x: y\n", TAKE},
        {__LINE__, "a: b: c\n", LEAVE},                             /* YAML refuses it */
        /* left to libyaml: outside the subset */
        {__LINE__, "a: [b, c]\n", LEAVE},
        {__LINE__, "a: {b: c}\n", LEAVE},
        {__LINE__, "a: &x b\nc: *x\n", LEAVE},
        {__LINE__, "a: !!str b\n", LEAVE},
        {__LINE__, "a: |\n  b\n  c\n\n  d  \n\n\ne: f\n", TAKE},   /* block scalars */
        {__LINE__, "a: |-\n  b\n\n", TAKE},
        {__LINE__, "a: |+\n  b\n\n\n", TAKE},
        {__LINE__, "a: >\n  b\n  c\n\n  d\n\n\n  e\n", TAKE},
        {__LINE__, "a: >- # c\n  b\n  c\n", TAKE},
        {__LINE__, "a: >+\n  b\n\n", TAKE},
        {__LINE__, "a: |\n    b #c\n     d: e\n  # comment\nf: g\n", TAKE},
        {__LINE__, "- |\n  a\n- b: >\n    c\n  d: e\n", TAKE},
        {__LINE__, "a: |\n  b\n---\nc: d\n", TAKE},
        {__LINE__, "a: |\n  b", TAKE},
        {__LINE__, "a: |+\n  b\n\n  ", TAKE},
        {__LINE__, "a: >+\n  b\n  c", TAKE},
        {__LINE__, "a: |2\n   b\n", LEAVE},                          /* indentation indicator */
        {__LINE__, "a: |\n\n  b\n", LEAVE},                           /* a leading empty line */
        {__LINE__, "a: |\n  b\n     \n  c\n", LEAVE},                /* spaces past the indent */
        {__LINE__, "a: >\n  b\n    c\n", LEAVE},                     /* more indented, folded */
        {__LINE__, "a: |\nb: c\n", LEAVE},                            /* empty */
        {__LINE__, "a: |x\n  b\n", LEAVE},
        {__LINE__, "a: b\n  c\n", LEAVE},                           /* a multi-line plain scalar */
        {__LINE__, "a: 'b\n  c'\n", LEAVE},
        {__LINE__, "a: \"b\\x41\"\n", LEAVE},
        {__LINE__, "a: \"b\\u00e9\"\n", LEAVE},
        {__LINE__, "a: \"b\\\n  c\"\n", LEAVE},
        {__LINE__, "? a\n: b\n", LEAVE},
        {__LINE__, "%YAML 1.1\n---\na: b\n", LEAVE},
        {__LINE__, "a: b\n...\n", LEAVE},
        {__LINE__, "a:\tb\n", LEAVE},
        {__LINE__, "a: b\r\nc: d\r\n", LEAVE},
        {__LINE__, "\xef\xbb\xbf" "a: b\n", LEAVE},
        {__LINE__, "a: b\xc2\x85" "c\n", LEAVE},                     /* NEL is a line break */
        {__LINE__, "a: \xe2\x80\xa8\n", LEAVE},
        {__LINE__, "a: \xc3\n", LEAVE},                              /* bad UTF-8 */
        {__LINE__, "a: \xed\xa0\x80\n", LEAVE},                      /* a surrogate */
        {__LINE__, "a: \x01\n", LEAVE},
        {__LINE__, "a: \x7f\n", LEAVE},
        {__LINE__, "abcdefgh: ijklmnop\x01qrstuvwxyz\n", LEAVE},   /* in a word, mid-line */
        {__LINE__, "a: 0123456789abcdef\x7f\n", LEAVE},            /* in the last word */
        {__LINE__, "a: 0123456789abcde\x1f\n", LEAVE},
        {__LINE__, "a: 0123456789\xc3\xa9" "abcdef\n", TAKE},      /* UTF-8 mid-line */
        {__LINE__, "a: 0123456789\xc3" "abcdef\n", LEAVE},
        {__LINE__, "- - a\n", LEAVE},
        {__LINE__, "a\n", LEAVE},                                   /* a scalar document */
        {__LINE__, "a:\n  b\n", LEAVE},
        {__LINE__, "a: b\n- c\n", LEAVE},
        {__LINE__, "- a\nb: c\n", LEAVE},
        {__LINE__, "a:\n    b: c\n  d: e\n", LEAVE},                /* bad indentation */
        {__LINE__, "  a: b\nc: d\n", LEAVE},
        {__LINE__, "a : b\n", LEAVE},
        {__LINE__, "a: 'b' c\n", LEAVE},
        {__LINE__, "a: - b\n", LEAVE},
        {__LINE__, "a: @b\n", LEAVE},
        {__LINE__, "a: `b\n", LEAVE},
        {__LINE__, "a: ,b\n", LEAVE},
        {__LINE__, "a: b:\n", LEAVE},
        {__LINE__, "--- a\n", LEAVE},
    };
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++)
        expect(cases[i].line, cases[i].yaml, cases[i].want);
}

/* Keys up to 1,000 bytes are taken, longer ones (libyaml refuses implicit keys over 1,024
 * characters) left; nesting up to YAML_DEPTH_MAX taken, deeper left. */
static void test_bounds(void **state)
{
    static char buf[1 << 16];
    (void)state;

    for (size_t klen = 995; klen <= 1030; klen++) {
        memset(buf, 'k', klen);
        memcpy(buf + klen, ": v\n", 5);
        expect(__LINE__, buf, klen <= 1000 ? TAKE : LEAVE);
    }
    for (int depth = YAML_DEPTH_MAX - 2; depth <= YAML_DEPTH_MAX + 2; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++) {
            memset(buf + n, ' ', (size_t)i);
            n += (size_t)i;
            n += (size_t)sprintf(buf + n, "k%d:\n", i);
        }
        buf[n] = '\0';
        /* depth maps and a null: depth - 1 nested maps under the root map */
        expect(__LINE__, buf, depth <= YAML_DEPTH_MAX ? TAKE : LEAVE);
    }
}

/* ------------------------------------------------------------------------ */
/* Rule files at hand                                                       */

struct tally {
    size_t files, taken;
};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    *len = fread(b, 1, (size_t)st.st_size, f);
    assert_int_equal(*len, (size_t)st.st_size);
    fclose(f);
    return b;
}

static void check_tree(const char *dir, struct tally *t)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            check_tree(path, t);
            continue;
        }
        size_t n = strlen(de->d_name);
        if (!(n > 4 && strcmp(de->d_name + n - 4, ".yml") == 0) &&
            !(n > 5 && strcmp(de->d_name + n - 5, ".yaml") == 0))
            continue;
        size_t len;
        char *b = read_all(path, &len);
        bool accepted;
        const char *why = yd_check(b, len, &accepted);
        if (why != NULL)
            fail_msg("%s: %s", path, why);
        t->files++;
        t->taken += accepted;
        free(b);
    }
    closedir(d);
}

static void test_files(void **state)
{
    struct tally own = {0}, sigma = {0};
    char dir[4096];
    (void)state;

    check_tree("rules", &own);
    check_tree("tests", &own);
    printf("rules/ and tests/: %zu YAML files, %zu read by the fast reader\n", own.files,
           own.taken);
    assert_true(own.files >= 22);
    assert_int_equal(own.taken, own.files); /* our own rules stay in the subset */

    tw_shared_path(dir, sizeof(dir), "sigma");
    if (access(dir, R_OK) != 0)
        tw_skip_required("SigmaHQ rules not present under %s (TW_SHARED)", dir);
    check_tree(dir, &sigma);
    printf("%s: %zu YAML files, %zu read by the fast reader, %zu left to libyaml\n", dir,
           sigma.files, sigma.taken, sigma.files - sigma.taken);
    assert_true(sigma.files >= 187);
    assert_true(sigma.taken * 10 >= sigma.files * 8); /* most of SigmaHQ is in the subset */
}

/* ------------------------------------------------------------------------ */
/* Mutations                                                                */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Random edits of real rules with the bytes YAML cares about; the contract holds for every
 * one, and both outcomes happen often. */
static void test_mutations(void **state)
{
    static const char alphabet[] = " :-#'\"\n\t[]{}&*!|>?%@`,\\.xY0\xc3\xa9";
    static const char *const seeds[] = {"rules/tunnel_localtonet.yml", "rules/tunnel_ngrok.yml",
                                        "rules/tunnel_trycloudflare.yml"};
    size_t taken = 0, left = 0;
    (void)state;

    for (size_t s = 0; s < TW_ARRAY_SIZE(seeds); s++) {
        size_t len;
        char *seed = read_all(seeds[s], &len);
        char *m = malloc(len + 64);
        assert_non_null(m);
        for (int round = 0; round < 6000; round++) {
            size_t n = len;
            memcpy(m, seed, len);
            int edits = 1 + (int)rnd(3);
            for (int k = 0; k < edits; k++) {
                size_t at = rnd((uint32_t)n + 1);
                char ch = alphabet[rnd(sizeof(alphabet) - 1)];
                switch (rnd(3)) {
                case 0: /* replace */
                    if (at < n)
                        m[at] = ch;
                    break;
                case 1: /* insert */
                    if (n < len + 60) {
                        memmove(m + at + 1, m + at, n - at);
                        m[at] = ch;
                        n++;
                    }
                    break;
                default: /* delete */
                    if (at < n) {
                        memmove(m + at, m + at + 1, n - at - 1);
                        n--;
                    }
                    break;
                }
            }
            bool accepted;
            const char *why = yd_check(m, n, &accepted);
            if (why != NULL)
                fail_msg("%s, round %d: %s (TW_YAML_DIFF_SHOW=1 prints both)", seeds[s], round,
                         why);
            accepted ? taken++ : left++;
        }
        free(m);
        free(seed);
    }
    printf("mutations: %zu taken by the fast reader, %zu left to libyaml\n", taken, left);
    assert_true(taken > 2000 && left > 2000);
}

/* ------------------------------------------------------------------------ */
/* The loader                                                               */

#define RULE(id, name)                                                                          \
    "title: r " id "\nid: " id "\nlogsource:\n    category: dns_query\ndetection:\n"          \
    "    selection:\n        QueryName|endswith: '" name "'\n    condition: selection\n"

/* A file whose third document is outside the subset is read again by libyaml: every rule
 * once, every skipped-rule line once. The same with a syntax error: nothing loads. */
static void test_loader_switch(void **state)
{
    static const char fast_only[] = RULE("a1", ".a.example") "---\n" RULE("a2", ".b.example")
        "---\ntitle: skipped\nid: s1\nlogsource:\n    category: process_creation\n"
        "detection:\n    selection:\n        Image: x\n    condition: selection\n"
        "---\n" RULE("a3", ".c.example");
    static const char switched[] = RULE("a1", ".a.example") "---\n" RULE("a2", ".b.example")
        "---\ntitle: skipped\nid: s1\nlogsource:\n    category: process_creation\n"
        "detection:\n    selection:\n        Image: x\n    condition: selection\n"
        "---\n" RULE("a3", ".c.example") "tags: [attack.t1572]\n";
    static const char broken[] = RULE("a1", ".a.example") "---\n" RULE("a2", ".b.example")
        "---\na: [b\n";
    const struct {
        const char *yaml;
        size_t loaded, skipped;
        int rc;
    } cases[] = {{fast_only, 3, 1, 0}, {switched, 3, 1, 0}, {broken, 0, 0, TW_EINVAL}};
    (void)state;

    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct loaded l = {0};
        bool accepted;
        assert_null(yd_check(cases[i].yaml, strlen(cases[i].yaml), &accepted));
        assert_int_equal(accepted, i == 0);
        load_yaml(&l, cases[i].yaml);
        struct tw_ruleset_stats st = stats(&l);
        assert_int_equal(l.rc, cases[i].rc);
        assert_int_equal(st.loaded, cases[i].loaded);
        assert_int_equal(st.skipped, cases[i].skipped);
        /* one line for the skipped rule (or for the syntax error), never two */
        size_t lines = 0;
        for (size_t k = 0; k < l.log_len; k++)
            lines += l.log[k] == '\n';
        assert_int_equal(lines, 1);
        if (cases[i].rc == 0) {
            assert_non_null(strstr(l.log, "rule s1 skipped"));
            struct hits h = {0};
            assert_int_equal(match(&l, &(struct ev_spec){'d', "x.c.example", true, 0, NULL}, &h),
                             1);
            assert_string_equal(h.ids, "a3");
        } else {
            assert_non_null(strstr(l.log, "yaml error"));
        }
        unload(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),         cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_files),         cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_loader_switch),
    };
    return tw_run_rule_tests(tests, NULL, NULL);
}
