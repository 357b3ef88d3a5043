/* SPDX-License-Identifier: MIT */
/*
 * Sigma rule set: loading (YAML via libyaml), compiling, matching events.
 *
 * Semantics are Sigma's: string comparisons are case-insensitive,
 * `|endswith: '.localto.net'` is a plain string suffix (it does not match
 * "localto.net"), `*` and `?` are wildcards with backslash escapes, lists are
 * OR, maps are AND. Hostname indicators of all rules feed one suffix trie, so
 * the cost of matching an event does not grow with the number of rules: the
 * full condition is evaluated only for candidate rules.
 */
#ifndef TUNWATCH_RULES_H
#define TUNWATCH_RULES_H

#include <stdio.h>

#include "tunwatch/event.h"

struct tw_ruleset;

/* What an alert reports about the rule that fired. Valid while the rule set lives. */
struct tw_rule_info {
    const char *id;
    const char *title;
    const char *level;       /* "high", ... or "" */
    const char *file;        /* path it was loaded from */
    const char *const *tags; /* n_tags strings, as written in the rule */
    size_t n_tags;
    enum tw_category category;
};

struct tw_ruleset_stats {
    size_t files;    /* rule files read */
    size_t loaded;   /* rules loaded */
    size_t skipped;  /* rules skipped (unsupported construct, unobservable field or logsource) */
    size_t errors;   /* files that could not be read or parsed */
    size_t indicators; /* hostname indicators in the prefilter */
};

struct tw_ruleset *tw_ruleset_new(void);
void tw_ruleset_free(struct tw_ruleset *rs);

/*
 * Loads a rule file, or every *.yml / *.yaml file under a directory
 * (recursively, in sorted order). One line per problem goes to errlog:
 *   "FILE:LINE:COL: yaml error: REASON"                       (whole file not loaded)
 *   "FILE: rule ID skipped: REASON"                            (that rule only)
 * A file may hold several YAML documents (one rule each).
 * Returns 0 if everything read parsed, TW_EINVAL if a file could not be
 * read or had a YAML syntax error (the others still load), TW_ENOMEM.
 */
int tw_ruleset_load(struct tw_ruleset *rs, const char *path, FILE *errlog);

/* Builds the matcher; call once after the last load and before matching. 0 or TW_ENOMEM. */
int tw_ruleset_compile(struct tw_ruleset *rs);

void tw_ruleset_get_stats(const struct tw_ruleset *rs, struct tw_ruleset_stats *st);

typedef void (*tw_match_fn)(const struct tw_rule_info *rule, const struct tw_event *ev, void *ctx);

/*
 * Calls fn once for every rule matching ev, in load order. Returns the number
 * of matches. Does not allocate; safe to call concurrently on a compiled set.
 */
size_t tw_ruleset_match(const struct tw_ruleset *rs, const struct tw_event *ev, tw_match_fn fn,
                        void *ctx);

#endif /* TUNWATCH_RULES_H */
