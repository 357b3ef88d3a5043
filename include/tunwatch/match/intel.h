/* SPDX-License-Identifier: MIT */
/*
 * Threat-intel indicators: hostnames and addresses from indicator files, matched against events
 * next to the Sigma rules. Each matching indicator is reported like a rule that fired, through
 * a struct tw_rule_info, so alerts from both look alike.
 *
 * Formats, told apart by content, not by the file name (feeds are saved under any name): a
 * "#fields" or "#separator" line, or a tab-separated line naming an Intel:: type, makes a Zeek
 * file; a line starting with ';', '$' or '@', or a record naming a class or type (IN, SOA, NS,
 * CNAME, A, AAAA, TXT, DNAME) after its owner, makes an RPZ zone; the first other line that is
 * not blank or a '#' comment makes a plain list.
 *
 *  Zeek intel      tab-separated; a "#fields" line names the columns, in any order: indicator
 *                  and indicator_type are required, meta.source and meta.desc are used when
 *                  present, any other column is ignored. "#separator \x09" is honoured, other
 *                  '#' lines are comments, "-" and "(empty)" are empty values. Types:
 *                    Intel::DOMAIN  a hostname: exact match, subdomains too when loaded with
 *                                   subdomains (a leading "*." or "." means subdomains only,
 *                                   as in plain lists)
 *                    Intel::ADDR    an IPv4 or IPv6 address
 *                    Intel::SUBNET  a CIDR (host bits must be zero)
 *                  every other type (Intel::URL, Intel::EMAIL, Intel::FILE_HASH, ...) is
 *                  counted as skipped under its name: tunwatch never observes them.
 *  plain list      one entry a line; '#' starts a comment; blank lines; '\r' before the end of
 *                  a line is dropped. An entry is
 *                    name           exact match (subdomains too when loaded with subdomains);
 *                                   one trailing dot is dropped
 *                    *.name, .name  every name strictly below name, not name itself (Sigma's
 *                                   endswith '.name'); ".name" is dnsmasq/unbound shorthand
 *                    ADDR, CIDR     an address or subnet indicator
 *                    ADDR name...   a hosts-file line: the names are indicators, the address
 *                                   (a sinkhole such as 0.0.0.0) is not; localhost and the
 *                                   other names of a stock hosts file are skipped
 *  RPZ zone        a DNS Response Policy Zone file as BIND and Unbound load it (read with ldns:
 *                  $ORIGIN, $TTL, parentheses, relative and absolute owners). The zone apex is
 *                  the owner of the SOA when the zone starts with one, else the first $ORIGIN.
 *                  Owner names below the apex are QNAME triggers: "bad.example" (exact) and
 *                  "*.bad.example" (strictly below). The action is kept as a tag
 *                  (intel.rpz_action:nxdomain for CNAME ., nodata for CNAME *., drop, tcp-only,
 *                  local-data for any other data). Triggers under rpz-ip, rpz-nsdname,
 *                  rpz-nsip and rpz-client-ip are counted as skipped: tunwatch observes neither
 *                  response addresses nor name servers, and client-ip is a policy on the querier.
 *                  "CNAME rpz-passthru." (or, as older BIND wrote it, a CNAME to the trigger
 *                  name itself) is an allow-list entry of its zone: it never fires, but it
 *                  decides for its zone like any trigger (below). The subdomains flag does not
 *                  apply: a zone spells out its wildcards. $INCLUDE is not followed (reported).
 *
 * Names are compared ASCII case-insensitively, whole labels only: "bad.example" never matches
 * "xbad.example". A name must have labels of 1..63 bytes, at most 253 bytes, letters, digits,
 * '-' and '_' (RPZ owners are taken as ldns presents them); "*." alone, which would match
 * every name, is refused.
 *
 * Which part of an event is matched:
 *  - names: ev->norm (QueryName of dns_query events, DestinationHostname of network_connection
 *    events; lowercased, one trailing dot removed);
 *  - addresses: the destination address (the server a connection went to; the server a DNS
 *    query was sent to), and the source address (the initiator: a listed address reaching in),
 *    with ev->ip_version; an indicator that covers both is reported once.
 * Order of the calls: the exact name first, then subdomain indicators from the nearest parent
 * outwards, then addresses (destination first, longest prefix first); load order within one
 * indicator. An RPZ zone contributes at most one decision per name, as a resolver applies it:
 * its most specific trigger (exact before the nearest wildcard); when that is a passthru the
 * zone reports nothing for the name. Other formats report every matching indicator.
 *
 * A set is filled by tw_intel_load(), made matchable by tw_intel_compile(), and then only read:
 * tw_intel_match() and tw_intel_explain() may run concurrently from any number of threads.
 * Matching costs one hash probe per label of the name and one per distinct prefix length of
 * the loaded address indicators, whatever the number of indicators. Memory: about 360 bytes
 * an indicator (200,000 indicators: 72 MiB), most of it the two per-category descriptions.
 */
#ifndef TUNWATCH_INTEL_H
#define TUNWATCH_INTEL_H

#include <stdio.h>

#include "tunwatch/event/event.h"
#include "tunwatch/match/rules.h"

struct tw_intel;

struct tw_intel_stats {
    size_t files;      /* files loaded (including ones with malformed lines) */
    size_t errors;     /* files that could not be read or were rejected */
    size_t bad_lines;  /* malformed lines reported and skipped in loaded files */
    size_t names;      /* name indicators (exact, or exact and subdomains) */
    size_t wildcards;  /* name indicators matching subdomains only */
    size_t addrs;      /* address indicators */
    size_t subnets;    /* subnet indicators */
    size_t allow;      /* RPZ passthru entries */
    size_t duplicates; /* an indicator repeated in its file, counted once (by compile) */
    size_t skipped;    /* entries skipped, by reason: tw_intel_skip_reason() */
    size_t memory;     /* bytes held by the set */
};

/* An empty set, or NULL if memory ran out. */
struct tw_intel *tw_intel_new(void);

/* NULL is ignored. Every tw_rule_info handed out by the set becomes invalid. */
void tw_intel_free(struct tw_intel *in);

/*
 * Loads one indicator file (format detected as above). With subdomains, names without a
 * wildcard also match every name below them (for --intel-subdomains); RPZ zones ignore it.
 * One line per problem goes to errlog (stderr if NULL):
 *   "FILE: cannot read: REASON"             nothing loaded
 *   "FILE:LINE: REASON"                     a malformed line, skipped (the first 20 a file)
 *   "FILE: rejected: REASON"                nothing of FILE is loaded
 *   "FILE: N entries skipped: REASON"       once per reason, after the file
 * A file is rejected when it holds a NUL byte, when a Zeek file has data before its #fields
 * line, a #fields line not separated by tabs or without the indicator or indicator_type
 * column, or when its malformed lines outnumber the usable ones (most likely not an indicator
 * file at all). An empty file loads nothing and is not an error.
 * Returns 0 when the file loaded (malformed lines are counted in bad_lines), TW_EIO when it
 * could not be read (errno says why), TW_EMALFORMED when it was rejected, TW_ENOMEM, or
 * TW_EINVAL for a NULL set or path. Loading drops the compiled matcher: compile again.
 */
int tw_intel_load(struct tw_intel *in, const char *path, bool subdomains, FILE *errlog);

/* Builds the lookup tables and drops repeated indicators; call after the last load and
 * before matching. 0 or TW_ENOMEM (the set then matches nothing until compiled). */
int tw_intel_compile(struct tw_intel *in);

/*
 * Calls fn (may be NULL) once for every indicator matching ev, in the order described above,
 * with a description that stays valid while the set lives and is the same pointer for the
 * same indicator every time (callers may deduplicate on it):
 *   id        "intel-" and 16 hex digits, a hash of the path as given, the indicator's type
 *             and its normalised text: stable across reloads of the same file
 *   title     "Threat intel: INDICATOR (SOURCE)", then " - DESC" when the file gives one;
 *             SOURCE is meta.source, the RPZ zone name, or the file's base name
 *   level     "high" (none of the formats carries a severity)
 *   file      the path as given to tw_intel_load; line: the indicator's line
 *   tags      "intel", "intel.source:SOURCE", "intel.type:domain|addr|subnet", and for RPZ
 *             triggers "intel.rpz_action:ACTION"
 *   category  TW_CAT__COUNT: an indicator applies to every category (an alert's is its event's)
 * Returns the number of calls; 0 when the set is not compiled. Does not allocate or write to
 * the set.
 */
size_t tw_intel_match(const struct tw_intel *in, const struct tw_event *ev, tw_match_fn fn,
                      void *ctx);

/* Whether an indicator of in may fire on an event of category c: never on a DNS response,
 * which repeats the question its query event was matched on. */
bool tw_intel_reads(const struct tw_intel *in, enum tw_category c);

/*
 * Prints to out one line for every indicator that matches the hostname or address `name`
 * (any case, one trailing dot allowed), and why:
 *   "FILE:LINE: TYPE INDICATOR: HOW (ID)"
 * HOW is "exact", "subdomain of NAME", "address" or "in subnet"; RPZ entries that do not fire
 * say so ("allow-list entry (rpz-passthru): the zone reports nothing for this name", "not
 * applied: FILE:LINE decides for its zone"). Returns the number of indicators that would fire,
 * which for a name is what tw_intel_match() returns for an event with that name (addresses:
 * as a destination). 0 when not compiled.
 */
size_t tw_intel_explain(const struct tw_intel *in, const char *name, FILE *out);

void tw_intel_get_stats(const struct tw_intel *in, struct tw_intel_stats *st);

/*
 * The i-th reason entries were skipped for ("Intel::URL: not observed", "rpz-ip trigger: ...")
 * and how many; false when i is past the last. Valid while the set lives.
 */
bool tw_intel_skip_reason(const struct tw_intel *in, size_t i, const char **reason, size_t *count);

#endif /* TUNWATCH_INTEL_H */
