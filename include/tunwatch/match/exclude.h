/* SPDX-License-Identifier: MIT */
/*
 * Exclusions: allow-lists of known-good traffic (package mirrors, backup and log servers, admin
 * hosts, container networks) that drop an alert before it is written, globally or for one rule.
 *
 * File syntax. One exclusion a line; blank lines are ignored; '#' at the start of a line or
 * after a blank starts a comment running to the end of the line; a '\r' before the end of a
 * line is dropped. An exclusion is one or more blank-separated terms KEY=VALUE, each key at most
 * once, and it drops an alert when every term holds:
 *
 *   rule=ID       only alerts of that rule (its Sigma id, or an indicator's id; compared ASCII
 *                 case-insensitively). Without rule= the exclusion is global. A line holding
 *                 nothing but rule=ID drops every alert of that rule.
 *   domain=NAME   the name is NAME or a subdomain of it, whole labels only: corp.example covers
 *                 corp.example and a.b.corp.example, never evilcorp.example. Compared as Sigma
 *                 compares (ASCII case-insensitive, one trailing dot ignored). NAME has labels
 *                 of 1..63 letters, digits, '-' or '_', at most 253 bytes; "*.NAME" is refused
 *                 (write NAME: it already covers the subdomains).
 *   src=CIDR      the source (initiator) address is inside CIDR: IPv4 or IPv6, a bare address
 *   dst=CIDR      is /32 or /128, host bits must be zero (10.1.2.3/8 is an error, not a silent
 *                 /8); an IPv4 network never holds an IPv6 address or the reverse.
 *   image=GLOB    the local process's executable path (endpoint attribution) matches GLOB:
 *                 '*' any run of bytes ('/' included), '?' one byte, everything else literal
 *                 and case-sensitive (Linux paths are; an allow-list covers no more than
 *                 written). An event without a known process never satisfies image=.
 *
 * A value may be written in double quotes (image="/opt/My App/bin/agent-?") to hold blanks or '#';
 * there are no escapes, so a quoted value cannot hold '"'.
 *
 *   # package mirrors and log servers, for every rule
 *   domain=mirror.corp.example
 *   dst=10.20.0.0/16
 *   src=192.168.50.7
 *   dst=2001:db8:100::/48
 *   # one rule only
 *   rule=1537b3d4-1b53-4c3f-9f8e-0d8c3e8e1a2b domain=build.corp.example
 *   rule=c4568f5d-0000-4000-8000-000000000001 src=10.1.0.0/16 dst=203.0.113.0/24
 *   image=/usr/bin/apt*            # the package manager, wherever it connects
 *   image="/opt/Backup Agent/bin/agent" dst=10.9.0.0/16
 *
 * Which name domain= is tested on: the event's own name (ev->norm: QueryName or
 * DestinationHostname), and the name the alert matched when the caller passes a different one
 * (a CNAME target): domain= holds when either is covered. So an internal name that CNAMEs to a
 * public service can be allowed by its internal name.
 *
 * A bad line rejects the whole file. Every bad line is reported ("FILE:LINE: REASON", the first
 * 20 a file) and no exclusion of that file is used, while files loaded before (or after) stay
 * in force. Why not skip the bad line and keep the rest: an exclusion file is reviewed as a
 * whole, and a partly loaded one is a state nobody reviewed; a loud failure (the known false
 * positives come back, the load reports an error) gets the typo fixed, a quiet one hides it.
 * Failing this way only ever shows more alerts, never fewer: an exclusion that is not loaded
 * cannot drop anything.
 *
 * Cost of a check: the exclusions are indexed by (rule scope, domain) in one hash table; a
 * check probes it once for each label suffix of each name, for the global scope and the rule's
 * scope, then walks the exclusions without domain= of both scopes. So exclusions with domain=
 * (the usual kind, and any number of them) cost nothing unless they cover the name; those
 * without domain= (address or image only) are tested one by one, within the global scope and
 * the alert's rule only. Nothing is allocated by a check.
 *
 * Threads: loading must not overlap with anything else on the set; once loaded, any number of
 * threads may call tw_exclusions_match / tw_exclusions_find / tw_exclusions_hits /
 * tw_exclusions_get_stats at once (the hit counters are atomic).
 */
#ifndef TUNWATCH_EXCLUDE_H
#define TUNWATCH_EXCLUDE_H

#include <stdio.h>

#include "tunwatch/event/event.h"

struct tw_exclusions;

/* The exclusion that dropped an alert, or one line's counter. Strings valid while the set lives. */
struct tw_exclusion_hit {
    const char *file; /* path as given to tw_exclusions_load */
    unsigned line;    /* 1-based */
    uint64_t hits;    /* alerts this exclusion dropped so far */
};

struct tw_exclusions_stats {
    size_t files;      /* files loaded */
    size_t errors;     /* files that could not be read or were rejected */
    size_t entries;    /* exclusions in force */
    size_t scoped;     /* ... of them limited to one rule */
    size_t rules;      /* distinct rule ids named by rule= */
    uint64_t excluded; /* alerts dropped, all exclusions together */
};

/* An empty set (drops nothing), or NULL if memory ran out. */
struct tw_exclusions *tw_exclusions_new(void);

/* NULL is ignored. Every file pointer handed out by the set becomes invalid. */
void tw_exclusions_free(struct tw_exclusions *ex);

/*
 * Adds the exclusions of one file (syntax above). One line per problem goes to errlog (stderr
 * if NULL):
 *   "FILE: cannot read: REASON"         nothing of FILE is loaded
 *   "FILE:LINE: REASON"                 a bad line (the first 20 a file): unknown key, key
 *                                       given twice, empty value, a term without '=', bad
 *                                       CIDR or domain, unterminated quote, NUL byte, a line
 *                                       longer than 4096 bytes
 *   "FILE: rejected: N bad lines, no exclusion of this file is used"
 * An empty file (or only comments) adds nothing and is not an error.
 * Returns 0; TW_EIO when the file could not be read (errno says why); TW_EINVAL when it was
 * rejected or for a NULL set or path; TW_ENOMEM. On any error the set is as it was before.
 */
int tw_exclusions_load(struct tw_exclusions *ex, const char *path, FILE *errlog);

/*
 * True when an exclusion drops this alert of rule rule_id (NULL or "": only global exclusions
 * apply) on event ev; matched_name is the name the alert matched when it differs from ev->norm
 * (a CNAME target), else NULL. When several exclusions hold, the one loaded first (file load
 * order, then line) is taken: its hit counter is incremented (once per call that returns
 * true) and, when hit is not NULL, *hit is filled with its file, line and the count after this
 * hit. A NULL or empty set drops nothing. Safe to call concurrently; does not allocate.
 */
bool tw_exclusions_find(const struct tw_exclusions *ex, const char *rule_id,
                        const struct tw_event *ev, const char *matched_name,
                        struct tw_exclusion_hit *hit);

/* tw_exclusions_find, reporting only the line of the exclusion taken (when line_out is not
 * NULL; the file is ambiguous with several files: use tw_exclusions_find for it). */
bool tw_exclusions_match(const struct tw_exclusions *ex, const char *rule_id,
                         const struct tw_event *ev, const char *matched_name, unsigned *line_out);

/*
 * The hit counter of every exclusion, in load order (for "excluded N, by file:line"). Writes
 * up to cap entries to out (out may be NULL when cap is 0) and returns how many exclusions
 * there are. Counters read while matching goes on are each exact at some moment of the call.
 */
size_t tw_exclusions_hits(const struct tw_exclusions *ex, struct tw_exclusion_hit *out, size_t cap);

void tw_exclusions_get_stats(const struct tw_exclusions *ex, struct tw_exclusions_stats *st);

#endif /* TUNWATCH_EXCLUDE_H */
