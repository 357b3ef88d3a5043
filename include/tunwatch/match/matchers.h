/* SPDX-License-Identifier: MIT */
/*
 * Everything an event is matched against, loaded and swapped as one: the Sigma rules, the
 * threat-intel indicator files and the exclusions. A bundle is built off the packet path (on
 * the loader thread, at start and on every reload) and, once complete, published to the
 * outputs with one atomic pointer store; a reload that fails keeps the bundle in use.
 */
#ifndef TUNWATCH_MATCHERS_H
#define TUNWATCH_MATCHERS_H

#include <stdio.h>

#include "tunwatch/match/rules.h"

#define TW_MAX_RULE_PATHS 64
#define TW_MAX_INDICATOR_PATHS 64

struct tw_intel;
struct tw_exclusions;

struct tw_matchers_config {
    const char *rule_paths[TW_MAX_RULE_PATHS]; /* Sigma rule files or directories */
    size_t n_rule_paths;
    const char *intel_paths[TW_MAX_INDICATOR_PATHS]; /* threat-intel indicator files */
    bool intel_subdomains[TW_MAX_INDICATOR_PATHS];   /* ... whose names also cover subdomains */
    size_t n_intel_paths;
    const char *exclude_paths[TW_MAX_INDICATOR_PATHS]; /* exclusion files */
    size_t n_exclude_paths;
    bool process_fields; /* events carry Image/ProcessId/User: rules using them load */
    bool lean; /* a sensor's bundle: without what only --explain prints (tw_ruleset_set_explain) */
    const char *rule_cache; /* a directory for compiled rule sets (rulecache.h); NULL: none */
};

struct tw_matchers {
    struct tw_ruleset *rules;         /* never NULL in a loaded bundle */
    struct tw_intel *intel;           /* NULL without indicator files */
    struct tw_exclusions *exclusions; /* NULL without exclusion files */
    size_t errors; /* files (rules, indicators, exclusions) that could not be read or parsed */
};

/*
 * Loads every file cfg names into a new bundle (*out), reporting problems on errlog with the
 * file (and line) and counting the files that failed in (*out)->errors. Returns 0, or
 * TW_ENOMEM with *out NULL.
 */
int tw_matchers_load(const struct tw_matchers_config *cfg, FILE *errlog, struct tw_matchers **out);

/* NULL is ignored. */
void tw_matchers_free(struct tw_matchers *m);

/* Whether a rule or indicator of m may fire on an event of category c (false for NULL). */
bool tw_matchers_read(const struct tw_matchers *m, enum tw_category c);

#endif /* TUNWATCH_MATCHERS_H */
