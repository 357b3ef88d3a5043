/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the rule tests (test_rules*.c): loading YAML into a compiled rule set,
 * building events, collecting matches. Include after <cmocka.h> and "test_util.h" (they assert).
 */
#ifndef TUNWATCH_TESTS_TEST_RULES_UTIL_H
#define TUNWATCH_TESTS_TEST_RULES_UTIL_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunwatch/match/rules.h"

/* A rule set loaded from files, with what the loader wrote to its errlog. */
struct loaded {
    struct tw_ruleset *rs;
    int rc;
    char *log; /* everything written to errlog */
    size_t log_len;
    char path[64];
};

/* Writes text to path, replacing the file. */
static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/*
 * With rules_roundtrip set (each rule test's main() runs its cases a second time so), every
 * compiled set a test makes is written in the rule cache's form (tw_ruleset_save()) and the
 * test goes on with the set restored from it: every rule test checks the cache too.
 */
static bool rules_roundtrip;

static inline void roundtrip_release(void *buf)
{
    free(buf);
}

/* *rs (compiled, with these settings) replaced by its restored copy when rules_roundtrip is
 * set: the same counts, problems and skip reasons, then whatever the test checks. */
static inline void roundtrip(struct tw_ruleset **rs, bool process_fields, bool explain)
{
    struct tw_ruleset_stats a, b;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (!rules_roundtrip)
        return;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(tw_ruleset_save(*rs, f), 0);
    assert_int_equal(fclose(f), 0);
    struct tw_ruleset *r2 = tw_ruleset_new();
    assert_non_null(r2);
    tw_ruleset_set_process_fields(r2, process_fields);
    tw_ruleset_set_explain(r2, explain);
    /* malloc'd: aligned as the cache's mapping is */
    assert_int_equal(tw_ruleset_restore(r2, buf, len, roundtrip_release, buf), 0);
    tw_ruleset_get_stats(*rs, &a);
    tw_ruleset_get_stats(r2, &b);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(tw_ruleset_skipped(*rs, NULL, 0), tw_ruleset_skipped(r2, NULL, 0));
    assert_int_equal(tw_ruleset_errors(*rs, NULL, 0), tw_ruleset_errors(r2, NULL, 0));
    assert_int_equal(tw_ruleset_skip_reasons(*rs, NULL, 0), tw_ruleset_skip_reasons(r2, NULL, 0));
    tw_ruleset_free(*rs);
    *rs = r2;
}

/* The rule tests' main(): the cases as loaded, then again on sets restored from the cache's
 * form (rules_roundtrip). */
#define tw_run_rule_tests(group, setup, teardown)                                               \
    tw_exit_status(cmocka_run_group_tests_name("rules as loaded", group, setup, teardown) +    \
                   (rules_roundtrip = true,                                                     \
                    cmocka_run_group_tests_name("rules restored from the rule cache's form",   \
                                                group, setup, teardown)))

/* Loads one or more paths into a new compiled rule set; errlog is captured. */
static inline void load_paths(struct loaded *l, const char *const *paths, size_t n)
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
    roundtrip(&l->rs, false, true);
}

/* Writes yaml to a new temporary file, named in l->path (the caller removes it). */
static inline void temp_yaml(struct loaded *l, const char *yaml)
{
    int fd;

    snprintf(l->path, sizeof(l->path), "/tmp/tw_rules_XXXXXX");
    fd = mkstemp(l->path);
    assert_true(fd >= 0);
    close(fd);
    write_file(l->path, yaml);
}

/* Writes yaml to a temporary file and loads it; the file is removed again. */
static inline void load_yaml(struct loaded *l, const char *yaml)
{
    const char *p = l->path;

    temp_yaml(l, yaml);
    load_paths(l, &p, 1);
    unlink(l->path);
}

/* Frees the rule set and the captured errlog of a load_paths() or load_yaml(). */
static inline void unload(struct loaded *l)
{
    tw_ruleset_free(l->rs);
    free(l->log);
    l->rs = NULL;
    l->log = NULL;
}

/* The rule set's counts (files, loaded, skipped, errors, indicators). */
static inline struct tw_ruleset_stats stats(const struct loaded *l)
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

/* Fills ev from sp: source 192.168.1.10 (fd00::10 when dst_ip is IPv6), sport 50000. */
static inline void make_event(struct tw_event *ev, const struct ev_spec *sp)
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

/* tw_ruleset_match() callback appending the rule's id to the struct hits in ctx. */
static inline void on_match(const struct tw_rule_info *r, const struct tw_event *ev, void *ctx)
{
    struct hits *h = ctx;
    size_t used = strlen(h->ids);

    (void)ev;
    snprintf(h->ids + used, sizeof(h->ids) - used, "%s%s", used ? "," : "", r->id);
    h->n++;
}

/* Matches one event built from sp (its name in an exact-size heap copy); the ids go to h. */
static inline size_t match(const struct loaded *l, const struct ev_spec *sp, struct hits *h)
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

/*
 * An event from "key=value;..." (keys: cat n|d, name, qtype, proto, init, src, dst, sport,
 * dport, image, pid, user). Unset: name "x.test", tcp, initiated, 192.168.1.10:50000 ->
 * 203.0.113.7:443, no process.
 */
struct kvev {
    struct tw_event ev;
    char buf[512];
};

/* Builds k from spec, whose key=value fields are separated by any character of sep. */
static inline void make_kv_sep(struct kvev *k, const char *spec, const char *sep)
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

#endif /* TUNWATCH_TESTS_TEST_RULES_UTIL_H */
