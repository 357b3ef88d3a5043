/* SPDX-License-Identifier: MIT */
/*
 * Sigma rule set: loading (YAML via libyaml), compiling, matching events.
 *
 * Semantics are Sigma's: string comparisons are case-insensitive (ASCII),
 * `|endswith: '.localto.net'` is a plain string suffix (it does not match
 * "localto.net"), equality is whole-string, `*` and `?` are wildcards with
 * backslash escapes (`\*`, `\?`, `\\`; any other backslash is literal),
 * lists are OR (AND with `|all`), maps are AND, numbers and booleans compare
 * as the strings they are written as, `null` matches an absent or empty field.
 * Supported modifiers: contains, startswith, endswith, all, cidr, exists.
 * Conditions: identifiers, and / or / not, parentheses, "N of pattern*",
 * "all of pattern*", "1 of them", "all of them" (them leaves out identifiers
 * starting with '_'), or a list of conditions (OR).
 *
 * Logsources: category network_connection; dns_query; dns (and service dns
 * without a category) with Zeek field names: query -> QueryName,
 * qtype_name -> QueryType, id.orig_h/id.orig_p/id.resp_h/id.resp_p -> Source/
 * Destination Ip/Port, proto -> Protocol. Any product.
 *
 * Hostname indicators (exact or suffix tests on DestinationHostname and
 * QueryName) of all rules feed one suffix trie. A rule whose condition can
 * only hold when one of its indicators holds is evaluated only when the trie
 * names it; all other rules of the event's category are evaluated for every
 * event. So for trie-gated rules the cost of matching an event does not grow
 * with the number of rules.
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
    unsigned line;           /* line in file where the rule (or indicator) starts; 0 unknown */
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
 * Whether events will carry the process fields (Image, ProcessId, User): set before loading.
 * Off (the default), rules that use them are skipped with a reason: on a tap they could never
 * match, and a silently dead rule is worse than a skipped one.
 */
void tw_ruleset_set_process_fields(struct tw_ruleset *rs, bool on);

/*
 * Loads a rule file, or every *.yml / *.yaml file under a directory
 * (recursively, in sorted order; names starting with '.' are left out).
 * A file may hold several YAML documents (one rule each). One line per
 * problem goes to errlog (stderr if NULL):
 *   "FILE:LINE:COL: yaml error: PROBLEM"   syntax error: no rule of FILE is loaded
 *   "FILE: cannot read: REASON"            file or directory could not be read
 *   "FILE: rule ID skipped: REASON"        that rule only; ID is "(document N)"
 *                                          when the rule has no id
 * Rules are skipped for a logsource category that is not observed, a field
 * the sensor does not have (Image, CommandLine, ...) or that the category
 * lacks, an unsupported modifier, keyword searches, aggregations and other
 * unsupported conditions.
 * Returns 0 if everything read parsed, TW_EINVAL if a file could not be
 * read or had a YAML syntax error (the others still load), TW_ENOMEM.
 * Loading drops the compiled matcher: call tw_ruleset_compile() again.
 * Rule info pointers handed out earlier stay valid.
 */
int tw_ruleset_load(struct tw_ruleset *rs, const char *path, FILE *errlog);

/* Builds the matcher (the suffix trie and per-category rule lists); call after
 * the last load and before matching. 0 or TW_ENOMEM. */
int tw_ruleset_compile(struct tw_ruleset *rs);

void tw_ruleset_get_stats(const struct tw_ruleset *rs, struct tw_ruleset_stats *st);

typedef void (*tw_match_fn)(const struct tw_rule_info *rule, const struct tw_event *ev, void *ctx);

/*
 * Calls fn (may be NULL) once for every rule matching ev, in load order.
 * Returns the number of matches; 0 if the set is not compiled.
 * Does not allocate and does not write to rs: safe to call concurrently on a
 * compiled set. Trie candidates are collected in a fixed buffer on the stack
 * (256 entries); an event hitting more than that falls back to evaluating
 * every trie-gated rule of its category, which is slower but still exact.
 */
size_t tw_ruleset_match(const struct tw_ruleset *rs, const struct tw_event *ev, tw_match_fn fn,
                        void *ctx);

#endif /* TUNWATCH_RULES_H */
