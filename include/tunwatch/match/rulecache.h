/* SPDX-License-Identifier: MIT */
/*
 * The rule cache: a compiled rule set kept in a directory and read back instead of parsing
 * and compiling the same rules again (100,000 rules: some 0.15 s of YAML and compiling
 * become a few ms of copying), at start and on every reload.
 *
 * A cached set is found by the names of everything its compiled form depends on: this build of
 * tunwatch (its ELF build ID), the process-fields and explain settings, and the rule paths with
 * the files they stand for. It keeps each file's stat and a hash of its contents: a file whose
 * stat is unchanged (and was not within a clock tick of the set being written) is the same
 * file; one whose stat changed is hashed and must have the same contents. It holds the set
 * (tw_ruleset_save()) and the lines the load wrote about it (skipped rules), which are written
 * again when it is used, and a hash of all, checked on reading. A set whose load could not
 * read a file or parse it, or during whose load a file changed, is not kept (the next start
 * tries again).
 * Cache files are written to a temporary name and renamed, and only files this user owns
 * that no one else may write are read. A missing, stale or damaged file is compiled as if
 * there were no cache (a damaged one is said on errlog) and written anew; the directory
 * keeps the CACHE_KEEP most recently written sets.
 */
#ifndef TUNWATCH_RULECACHE_H
#define TUNWATCH_RULECACHE_H

#include <stdio.h>

#include "tunwatch/match/matchers.h"

/* Counters of what tw_rulecache_rules() did (for tests and the bench's report). */
struct tw_rulecache_result {
    bool used;    /* the set came from the cache */
    bool written; /* the set was compiled and written to the cache */
};

/*
 * The rule set of cfg's rule paths, loaded and compiled (tw_ruleset_load() for each path,
 * then tw_ruleset_compile(), problems on errlog), through the cache in cfg->rule_cache.
 * *out is the set (NULL on TW_ENOMEM); 0 or TW_ENOMEM; res may be NULL.
 */
int tw_rulecache_rules(const struct tw_matchers_config *cfg, FILE *errlog,
                       struct tw_ruleset **out, struct tw_rulecache_result *res);

/* Whether dir can hold a rule cache: an existing directory this process may write, or one it
 * creates (mode 0700; its parent must exist). 0, or -1 with the reason in why. */
int tw_rulecache_check_dir(const char *dir, char *why, size_t whylen);

#endif /* TUNWATCH_RULECACHE_H */
