/* SPDX-License-Identifier: MIT */
/*
 * The match stage: what the packet path calls for every event. It runs the Sigma rules and
 * the threat-intel indicators of the current bundle (and, for a connection named by DNS, every
 * CNAME target of that name), drops what an exclusion covers, holds back what the suppression
 * window says was reported already, and hands each alert that remains to a callback (the
 * output). It writes nothing itself.
 *
 * One struct tw_match per thread that matches (each worker, the attribution thread); the
 * bundle pointer is swapped atomically on reload, and the suppression table is shared.
 */
#ifndef TUNWATCH_MATCH_H
#define TUNWATCH_MATCH_H

#include <stdatomic.h>

#include "tunwatch/event/event.h"
#include "tunwatch/match/matchers.h"

struct tw_suppress;

/* One alert, as the output writes it. Valid during the callback only. */
struct tw_alert {
    const struct tw_rule_info *rule;
    const struct tw_event *ev;  /* the event as observed */
    const char *matched_name;   /* NULL: the rule fired on ev's own name; else on this other
                                   name the connection goes by ... */
    const char *via;            /* ... related to it this way ("cname") */
    uint64_t suppressed_before; /* alerts of the same key held back in the window before */
    /* The same for every alert on one event of one struct tw_match, another for the next (0:
     * none): what a formatter wrote of the event for one may be written again for the next
     * (struct tw_format_memo). */
    uint64_t ev_serial;
};

typedef void (*tw_alert_fn)(void *ctx, const struct tw_alert *a);

struct tw_match {
    /* The bundle. Atomic: with several workers a reload swaps it while they run (the old one
     * is freed only once every worker has passed a burst boundary). NULL: nothing matches. */
    const struct tw_matchers *_Atomic matchers;
    struct tw_suppress *suppress; /* shared by every thread; NULL: no suppression */
    uint64_t alerts;              /* handed to the callback */
    uint64_t excluded;            /* matches an exclusion dropped */
    uint64_t suppressed;          /* alerts held back by the suppression window */
    uint64_t serials;             /* events matched (struct tw_alert.ev_serial) */
};

/*
 * Matches ev against the bundle in m and calls fn(ctx, alert) for every rule or indicator that
 * fires and is neither excluded nor suppressed, each at most once per event (up to 64 distinct
 * rules an event; past that, later ones may repeat).
 *
 * A connection named by the answer cache, or by an SNI that is the very name its client
 * resolved, also goes by every CNAME target on the way to the address: each is matched too,
 * so a benign-looking name that aliases a tunnel host still alerts. A cached name that differs
 * from the SNI is only reported, never matched: many names share an address (CDNs, hosting),
 * and the SNI is what the client asked that server for.
 */
void tw_match_event(struct tw_match *m, const struct tw_event *ev, tw_alert_fn fn, void *ctx);

#endif /* TUNWATCH_MATCH_H */
