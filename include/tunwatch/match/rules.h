/* SPDX-License-Identifier: MIT */
/*
 * Sigma rule set: loading (YAML via libyaml), compiling, matching events.
 *
 * Semantics are Sigma's: string comparisons are case-insensitive (ASCII)
 * unless `|cased`, `|endswith: '.localto.net'` is a plain string suffix (it
 * does not match "localto.net"), equality is whole-string, `*` and `?` are
 * wildcards with backslash escapes (`\*`, `\?`, `\\`; any other backslash is
 * literal), lists are OR (AND with `|all`), maps are AND, a list of maps is an
 * OR, numbers and booleans compare as the strings they are written as, `null`
 * matches an absent or empty field, '' only an empty one.
 * Keywords (a selection that is a string or a list of strings, or a list item
 * that is a string, or a field-less "|mods" key) match when any string field
 * of the event contains them (case-insensitive, wildcards allowed).
 * Modifiers: contains, startswith, endswith, all, cased, exists, cidr (IPv4
 * and IPv6), re with i / m / s (PCRE2, an unanchored search, case-sensitive
 * unless i), gt / gte / lt / lte / neq (numbers: ports, ProcessId), fieldref
 * (with contains / startswith / endswith), and the value transforms windash
 * ('-' or '/' starting a word becomes each of - / and the en dash, em dash and
 * horizontal bar), wide / utf16le, utf16be, utf16 (byte order mark, then
 * little endian), base64 and base64offset, applied in the order written.
 * `expand` is skipped: its placeholders need values tunwatch is not given.
 * Conditions: identifiers, and / or / not (not binds tightest, then and, then
 * or), parentheses, "N of pattern*", "all of pattern*", "1 of them", "all of
 * them" (them leaves out identifiers starting with '_'), or a list of
 * conditions (OR).
 *
 * Logsources and their field names:
 *   network_connection, dns_query: Sigma's (Sysmon's) names, see event.h, and
 *     SourceIsIpv6 / DestinationIsIpv6 ("true"/"false") on network_connection;
 *   dns (and service dns without a category), onto dns_query: Zeek's query,
 *     qtype_name (and the generic record_type) -> QueryType, id.orig_h /
 *     id.orig_p / id.resp_h / id.resp_p -> Source/Destination Ip/Port, proto ->
 *     Protocol, and the Sigma names; `answers` / `answer` are not observed (the
 *     answer records are not part of a dns_query event);
 *   proxy, onto network_connection: cs-host -> DestinationHostname (the TLS SNI
 *     or the name the client resolved; the HTTP Host header is not extracted),
 *     dst_ip, c-ip / src_ip, dst_port, src_port; c-uri, cs-method, c-useragent,
 *     sc-status, r-dns and the other HTTP fields are not observed;
 *   firewall, onto network_connection: src_ip, dst_ip, src_port, dst_port;
 *     action, blocked and the like are not observed.
 * Any product.
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

#include "tunwatch/event/event.h"

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
    const char *description; /* the rule's description, or NULL */
    const char *const *references; /* n_references URLs (the rule's references), as written */
    size_t n_references;
    /* The rule's logsource category; TW_CAT__COUNT for a threat-intel indicator, which
     * applies to every category (its alert's category is its event's). */
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
 * Whether tw_ruleset_explain() will be asked about the set: set before loading. On (the
 * default), every field test keeps its text as written ("Field|mods: 'value'") for the
 * explanation; a sensor, which never explains, turns it off and saves that memory and time
 * (some 6 MB for 100,000 rules). Without the texts an explanation names the fields alone.
 */
void tw_ruleset_set_explain(struct tw_ruleset *rs, bool on);

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
 * the sensor does not have (CommandLine, c-uri, ...) or that the category
 * lacks, a process field (Image, ProcessId, User) while process fields are
 * off (that reason is given only when nothing else keeps the rule out),
 * an unsupported modifier (expand, timestamp parts), aggregations, near and
 * other unsupported conditions.
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

/*
 * A compiled rule set in a flat form (for the rule cache, see rulecache.h) and back. Save: 0,
 * TW_EINVAL when rs is not compiled, TW_EIO when out failed. Restore into rs fresh from
 * tw_ruleset_new() with the same process-fields and explain settings as the saved one: the
 * same rules, graph, problems, statistics and matcher, none of them recompiled (regular
 * expressions excepted). buf (8-byte aligned) stays the set's: its strings and prefilter
 * arrays are read where they are, and release(ctx) is called when the set is freed. 0,
 * TW_EMALFORMED when buf[0..len) is not such a form (every index in it is checked: nothing it
 * holds can make matching read out of bounds or loop), or TW_ENOMEM; after a failure free rs,
 * then buf (release is not called).
 */
int tw_ruleset_save(const struct tw_ruleset *rs, FILE *out);
int tw_ruleset_restore(struct tw_ruleset *rs, const void *buf, size_t len,
                       void (*release)(void *ctx), void *ctx);

/* Calls fn(ctx, file) for each file tw_ruleset_load(rs, path) would read, in the same order:
 * 0, TW_EINVAL when a path or directory cannot be read (the load reports it), else the worst
 * of what fn returned (TW_ENOMEM stops the walk, any other value does not). */
int tw_ruleset_files(const char *path, int (*fn)(void *ctx, const char *file), void *ctx);

/* Whether a rule of rs may fire on an event of category c (true before tw_ruleset_compile()). */
bool tw_ruleset_reads(const struct tw_ruleset *rs, enum tw_category c);

typedef void (*tw_match_fn)(const struct tw_rule_info *rule, const struct tw_event *ev, void *ctx);

/* A reason rules were skipped for, and how many were. */
struct tw_reason_count {
    const char *reason; /* e.g. "field 'CommandLine' not observable"; valid while the set lives */
    size_t count;
};

/*
 * Skipped rules grouped by reason (the reason as the skip line says it, without file or rule
 * id), the most frequent first, then alphabetically. Writes up to cap groups to out (out may be
 * NULL when cap is 0) and returns how many groups there are.
 */
size_t tw_ruleset_skip_reasons(const struct tw_ruleset *rs, struct tw_reason_count *out,
                               size_t cap);

/* One skipped rule. Strings valid while the set lives. */
struct tw_rule_skip {
    const char *file;
    const char *id;     /* the rule's id, or "(document N)" */
    const char *reason;
};

/* Skipped rules in load order: writes up to cap, returns how many there are. */
size_t tw_ruleset_skipped(const struct tw_ruleset *rs, struct tw_rule_skip *out, size_t cap);

/* A file that could not be read or parsed (st.errors counts them). */
struct tw_rule_error {
    const char *file;
    unsigned line, col; /* 1-based; 0 when the problem has no position (unreadable file) */
    const char *message; /* "yaml error: ...", "cannot read: ..." */
};

/* Errors in load order: writes up to cap, returns how many there are. */
size_t tw_ruleset_errors(const struct tw_ruleset *rs, struct tw_rule_error *out, size_t cap);

/*
 * For an analyst asking "what would fire on this name": evaluates every loaded rule against
 * the event of its category that carries only the name (lowercased, one trailing dot
 * removed): a dns_query event with QueryName, or a network_connection event with
 * DestinationHostname and Initiated "true"; every other field is absent. Prints each rule that
 * matches, or whose hostname tests (on QueryName / DestinationHostname, outside a `not`) hold:
 *
 *   name a1b2.ngrok-free.app
 *   match    <id>  <title>
 *       file   <file it was loaded from>
 *       event  network_connection DestinationHostname=a1b2.ngrok-free.app Initiated=true
 *       hit    DestinationHostname|endswith: '.ngrok-free.app'
 *   no match <id>  <title>
 *       file   ...
 *       event  dns_query QueryName=a1b2.ngrok-free.app
 *       hit    QueryName|contains: 'ngrok'
 *       why    needs Image|endswith: '\ngrok.exe' (Image is not in a name-only event)
 *       why    excluded by QueryName|endswith: '.ngrok-free.app'
 *   1 rules match, 1 more have a hostname test that holds
 *
 * "hit" lines are the hostname tests that hold, as written in the rule (field|modifiers:
 * 'value'). "why" lines (at most 8 a rule, "..." when cut) name the tests that would have to
 * change for the rule to match: "needs" a test that fails (with what the field holds, or that
 * it is absent), "excluded by" a test under a `not` that holds. Rules are in load order. The
 * set need not be compiled. Returns how many rules match.
 */
size_t tw_ruleset_explain(const struct tw_ruleset *rs, const char *name, FILE *out);

/*
 * Calls fn (may be NULL) once for every rule matching ev, in load order.
 * Returns the number of matches; 0 if the set is not compiled.
 * Does not allocate (a rule with a regular expression takes match data from a
 * pool of the set, claimed atomically; only with more than 64 concurrent
 * callers does a call make its own) and does not otherwise write to rs: safe to
 * call concurrently on a compiled set. Trie candidates are collected in a fixed buffer on the stack
 * (256 entries); an event hitting more than that falls back to evaluating
 * every trie-gated rule of its category, which is slower but still exact.
 */
size_t tw_ruleset_match(const struct tw_ruleset *rs, const struct tw_event *ev, tw_match_fn fn,
                        void *ctx);

#endif /* TUNWATCH_RULES_H */
