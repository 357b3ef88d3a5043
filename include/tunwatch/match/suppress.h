/* SPDX-License-Identifier: MIT */
/*
 * Alert suppression: a beaconing client gives one alert per window, not one per beacon.
 *
 * An alert's key is (rule id, source address with its IP version, name). The first alert of a
 * key passes and opens a window of window_secs; the key's alerts inside the window are
 * suppressed and counted; the first alert at or after its end passes, opens the next window
 * and reports how many were suppressed in the one that closed, so the output can write
 * "suppressed_before": N on it. Windows are fixed from the alert that opened them: suppressed
 * alerts do not extend them, so a client beaconing forever still yields one alert a window.
 *
 *   t=0 pass (opens [0, w))   t=1..w-1 suppressed (n)   t=w pass, suppressed_before = n
 *
 * Time is the caller's (the capture time of the packets, in seconds), never the wall clock,
 * so a replay gives the same alerts whenever it is run. An alert "less than window_secs ago"
 * means |now - opened| < window_secs: workers hand alerts over slightly out of order, and a
 * time before the window's start by less than a window is taken as inside it; a jump back by
 * a window or more (a second capture) opens a new window.
 *
 * Names are compared ASCII case-insensitively with one trailing dot ignored, as rules compare
 * them; rule ids ASCII case-insensitively (as exclusions compare them).
 *
 * The table: fixed capacity, all allocated by tw_suppress_new(), no allocation afterwards. It
 * is split into shards of at least 256 entries (at most 64 shards), each behind its own mutex,
 * holding an open-addressing index and a list of its entries by the time their window
 * opened. A key that is not in its full shard takes the place of the shard's entry whose
 * window opened longest ago (counted as evicted; in_window when that window had not ended yet,
 * and the suppressed count it held, not yet reported, counted as lost). Keys spread over the
 * shards by hash, so with several shards an eviction may come before the whole table is full;
 * with one shard (capacity below 512) exactly capacity keys are held. A call hashes the key
 * before taking the lock and holds it for one index probe and a few stores.
 *
 * A key is stored as the source address itself and a 128-bit hash of the rule id and the name
 * (keys are of any length and entries of fixed size). Two keys are confused only when source
 * and version are equal and the hashes collide (2^-128 by chance). The hash is not
 * cryptographic and its seed is fixed (replays must agree), but a contrived collision could
 * only hide an alert of a source behind another alert of the same source that was let through
 * inside the window.
 *
 * Accounting: passed + suppressed = calls; suppressed = reported (the sum of every
 * suppressed_before handed out) + lost + pending (held by open or closed windows whose key
 * has not alerted again).
 */
#ifndef TUNWATCH_SUPPRESS_H
#define TUNWATCH_SUPPRESS_H

#include "tunwatch/event/event.h"

struct tw_suppress;

struct tw_suppress_stats {
    uint64_t passed;     /* alerts let through */
    uint64_t suppressed; /* alerts suppressed */
    uint64_t reported;   /* suppressed alerts handed out as suppressed_before */
    uint64_t pending;    /* suppressed alerts held by entries, not reported yet */
    uint64_t lost;       /* suppressed alerts whose entry was evicted before being reported */
    uint64_t evicted;    /* entries dropped to make room */
    uint64_t evicted_in_window; /* ... of them while their window was open (the key's next
                                   alert passes early) */
    uint32_t entries;           /* keys held now */
    uint32_t capacity;
    uint32_t window_secs;
};

/*
 * A table of capacity keys (>= 1) for windows of window_secs (0: every alert passes, and is
 * still counted). NULL on capacity 0, more than 2^30 keys, or allocation failure.
 */
struct tw_suppress *tw_suppress_new(uint32_t window_secs, uint32_t capacity);

/* NULL is ignored. No other thread may be using s. */
void tw_suppress_free(struct tw_suppress *s);

/*
 * Decides one alert of rule rule_id on event ev (ev->src_addr, ev->ip_version: 4 or 6; any
 * other version is keyed as "no address"), for name (the name the alert is about, normally
 * ev->norm; NULL is taken as "") at capture time now (seconds).
 * Returns true when the key's window is open: the alert is to be dropped and is counted.
 * Returns false when the alert is to be written: the key's window (re)opens at now; when
 * suppressed_before is not NULL it receives how many alerts of the key were suppressed in the
 * window that just ended (0 for a key not held, evicted meanwhile, or with none suppressed).
 * A NULL s lets everything through (*suppressed_before = 0). Thread-safe; does not allocate.
 */
bool tw_suppress_check(struct tw_suppress *s, const char *rule_id, const struct tw_event *ev,
                       const char *name, int64_t now, uint64_t *suppressed_before);

/* Counters summed over the shards (each shard read under its lock). */
void tw_suppress_get_stats(struct tw_suppress *s, struct tw_suppress_stats *st);

#endif /* TUNWATCH_SUPPRESS_H */
