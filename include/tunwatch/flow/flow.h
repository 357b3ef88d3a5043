/* SPDX-License-Identifier: MIT */
/*
 * Fixed-capacity flow table keyed by the 5-tuple (plus the outer VLAN id).
 *
 * Keys are stored in canonical order (lower address/port first) so both directions find the
 * same entry; `side` tells which end sent a packet. Entries are preallocated at start-up.
 *
 * A lookup touches two cache lines: one bucket of seven (signature, index) pairs, and the
 * first line of the entry, which holds the key, the last time seen and the owner's first eight
 * bytes. The hash is seeded per run, so crafted 5-tuples cannot aim at one bucket; a bucket
 * that overflows chains its extra entries (counted). What the table needs less often (id,
 * times) lives in a separate array, struct tw_flow_meta, and the LRU links in one of their own
 * (8 bytes a flow: walking a list touches little memory).
 *
 * Three classes: the default; a short one the owner moves a flow to once it can only be a
 * one-shot (a DNS flow, a TCP flow after FIN or RST), so those do not crowd the table; and a
 * holding one (the default timeout) for flows that hold part of a name (half a ClientHello,
 * DNS message or request head), so a flood of new flows that carry nothing cannot push them
 * out between the halves. Idle flows are expired lazily, a few per insertion, each class in
 * least-recently-seen order; when the table is full the least recently seen flow of the short
 * class is evicted, else of the default class, and only when both are empty of the holding
 * class (counted apart); a flow found idle past its timeout is a new flow.
 *
 * The table only keeps flows: it never calls back into its owner, writes output or takes a
 * lock. Each entry is a struct tw_flow followed by the owner's per-flow state (entry_size
 * bytes in all, given at creation; the owner embeds struct tw_flow as its first member and
 * should put what it reads for every packet in its first 8 bytes). Flows the table lets go of
 * are handed back to the caller of tw_flow_get() as retired entries, state intact, so the
 * owner finishes them (returns buffers, reports what they never did) in packet order.
 */
#ifndef TUNWATCH_FLOW_H
#define TUNWATCH_FLOW_H

#include <string.h>

#include "tunwatch/decode/decode.h"

#define TW_FLOW_NONE UINT32_MAX
#define TW_SIDE_UNKNOWN 2
/* Most entries one tw_flow_get() call retires: two expired lazily, or one evicted, or one
 * found idle past the timeout (these exclude each other). */
#define TW_FLOW_RETIRE_MAX 2
/* Bytes of the owner's state on the entry's first cache line (read on every lookup). */
#define TW_FLOW_OWNER_HOT 8

struct tw_flow_key {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint16_t vlan;
    uint8_t proto;
    uint8_t version;
};

/* The table's part of an entry, on its first cache line (56 bytes); the owner's state follows. */
struct tw_flow {
    struct tw_flow_key key;
    int64_t last_sec;
    uint32_t pkts;
    uint32_t next; /* the table's own links (bucket overflow chain, free list) */
};

enum tw_flow_timeout {
    TW_FLOW_TIMEOUT_DEFAULT,
    TW_FLOW_TIMEOUT_SHORT,
    TW_FLOW_TIMEOUT_HOLDING, /* the default timeout; evicted last */
    TW_FLOW_TIMEOUT_DONE,    /* a flow whose exchange is over (a DNS query answered): its own
                                timeout (the short one unless set), evicted first */
};

/* What the table keeps of a flow off its first line. */
struct tw_flow_meta {
    uint64_t id; /* unique within the run (see tw_flow_table_set_ids) */
    int64_t first_sec;
    uint32_t first_nsec; /* with first_sec: time of the flow's first packet */
    uint8_t timeout;     /* enum tw_flow_timeout */
    uint64_t hash;
};

struct tw_flow_table_stats {
    uint64_t created;
    uint64_t evicted; /* let go while still active because the table was full */
    uint64_t evicted_holding; /* ... of them, flows that held part of a name */
    uint64_t expired; /* let go after their idle timeout */
    uint64_t chained; /* flows put in a bucket's overflow chain (the bucket was full) */
    uint32_t active;
    uint32_t capacity;
};

/* What one tw_flow_get() found. */
struct tw_flow_lookup {
    uint8_t side;      /* key side (0/1) of the packet's source */
    bool created;      /* the entry is new: struct tw_flow and meta set, owner's part zeroed */
    uint8_t n_retired; /* flows let go by this call, least recently seen first */
    /* Valid, state and meta intact, until the next tw_flow_get() or tw_flow_table_free(). */
    struct tw_flow *retired[TW_FLOW_RETIRE_MAX];
};

struct tw_flow_table;

/*
 * capacity >= 1 flows; idle timeouts in seconds for the default and the short class;
 * entry_size >= sizeof(struct tw_flow) + TW_FLOW_OWNER_HOT, the owner's struct that begins
 * with a struct tw_flow (rounded up to a power of two of at least 64 bytes, entries aligned to
 * a cache line). NULL on allocation failure or a bad size.
 */
struct tw_flow_table *tw_flow_table_new(uint32_t capacity, uint32_t idle_timeout,
                                        uint32_t short_timeout, size_t entry_size);
void tw_flow_table_free(struct tw_flow_table *t);

struct tw_prefault;
/* Has pf map t's memory ahead of use: its buckets whole, its entries `ahead` entries past
 * those used so far (see prefault.h). 0 or TW_ENOMEM (pf has no room left). */
int tw_flow_table_prefault(struct tw_flow_table *t, struct tw_prefault *pf, uint32_t ahead);

/*
 * Finds the flow of packet p, or creates it (default timeout class) at time sec.nsec. Never
 * returns NULL. A flow idle for longer than its timeout is retired and replaced by a new one
 * (new id). Creating a flow may retire idle flows (at most two) or, with the table full,
 * evict one; every retired flow is listed in *res and counted (expired or evicted).
 */
struct tw_flow *tw_flow_get(struct tw_flow_table *t, const struct tw_pkt *p, int64_t sec,
                            uint32_t nsec, struct tw_flow_lookup *res);

/*
 * The active flow of packet p (not idle past its timeout at time sec), or NULL: a lookup that
 * changes nothing, for a caller that decides from the flow whether the packet counts (see
 * tw_flow_touch()). *side as in struct tw_flow_lookup.
 */
struct tw_flow *tw_flow_find(struct tw_flow_table *t, const struct tw_pkt *p, int64_t sec,
                             uint8_t *side);

/* Counts a packet of f (found by tw_flow_find() at time sec) as tw_flow_get() would have. */
void tw_flow_touch(struct tw_flow_table *t, struct tw_flow *f, int64_t sec);

/*
 * Lookups in bursts (as DPDK's rte_hash bulk lookups): tw_flow_prepare() makes a packet's key
 * and hash and prefetches its bucket; tw_flow_prefetch(), once the bucket is in, prefetches
 * the entry its signature points to; tw_flow_get_pre() / tw_flow_find_pre() are then
 * tw_flow_get() / tw_flow_find() on the prepared key. A prepared key stays valid while the
 * table changes (the table is read again at the lookup); prefetches are only hints.
 */
struct tw_flow_pre {
    struct tw_flow_key key;
    uint64_t hash;
    uint8_t side;
};

void tw_flow_prepare(const struct tw_flow_table *t, const struct tw_pkt *p,
                     struct tw_flow_pre *pre);
void tw_flow_prefetch(const struct tw_flow_table *t, const struct tw_flow_pre *pre);
struct tw_flow *tw_flow_get_pre(struct tw_flow_table *t, const struct tw_flow_pre *pre,
                                int64_t sec, uint32_t nsec, struct tw_flow_lookup *res);
struct tw_flow *tw_flow_find_pre(struct tw_flow_table *t, const struct tw_flow_pre *pre,
                                 int64_t sec);

/* The meta of f (an active flow, or one retired by the last tw_flow_get()). */
const struct tw_flow_meta *tw_flow_meta(const struct tw_flow_table *t, const struct tw_flow *f);

/* The idle timeout of class c, in seconds (tw_flow_table_new() gives DONE the short one). */
void tw_flow_table_set_timeout(struct tw_flow_table *t, enum tw_flow_timeout c, uint32_t secs);

/* Moves f to timeout class `to` (as the most recently seen of it). */
void tw_flow_set_timeout(struct tw_flow_table *t, struct tw_flow *f, enum tw_flow_timeout to);

/* Flow ids start at `first` and step by `stride`, so several tables (one per worker) hand out
 * ids that never collide: worker w of n uses first = w + 1, stride = n. Default 1, 1. */
void tw_flow_table_set_ids(struct tw_flow_table *t, uint64_t first, uint64_t stride);

/*
 * Gives f a fresh identity in place (new id, times sec.nsec, one packet, default timeout
 * class, owner's part zeroed), as on TCP port reuse; counted as created. The owner finishes
 * the old flow before calling.
 */
void tw_flow_restart(struct tw_flow_table *t, struct tw_flow *f, int64_t sec, uint32_t nsec);

/* Calls fn for every flow in the table: the default class, then the short one, each least
 * recently seen first. fn must not add or remove flows. */
void tw_flow_table_foreach(struct tw_flow_table *t, void (*fn)(void *ctx, struct tw_flow *f),
                           void *ctx);

void tw_flow_table_get_stats(const struct tw_flow_table *t, struct tw_flow_table_stats *st);

/*
 * Spreading flows over several workers. tw_flow_spread_hash() is symmetric: both directions of
 * a flow give the same value. tw_flow_worker() is the replay's split over n workers (n >= 2):
 * every DNS flow (port 53 on either side, UDP or TCP) to worker 0, so that the DNS answer cache
 * learns in capture order on one thread; of the other flows, share0 in 256 (by hash) to worker
 * 0 as well, so that it has as much to do as each of the others when the DNS flows are not
 * enough (tw_flow_split_share0()), the rest by hash over workers 1..n-1.
 */
static inline uint64_t tw_flow_spread_hash(const struct tw_pkt *p)
{
    uint64_t a = 0, b = 0, w;

    for (int i = 0; i < 16; i += 8) {
        memcpy(&w, p->src + i, 8);
        a = (a ^ w) * 0x9e3779b97f4a7c15ULL;
        memcpy(&w, p->dst + i, 8);
        b = (b ^ w) * 0x9e3779b97f4a7c15ULL;
    }
    a ^= p->sport;
    b ^= p->dport;
    a *= 0xbf58476d1ce4e5b9ULL;
    b *= 0xbf58476d1ce4e5b9ULL;
    w = (a + b) ^ p->l4_proto;
    w ^= w >> 31;
    w *= 0x94d049bb133111ebULL;
    return w ^ (w >> 29);
}

static inline unsigned tw_flow_worker(const struct tw_pkt *p, unsigned n, unsigned share0)
{
    if (n < 2 || p->sport == 53 || p->dport == 53)
        return 0;
    if (n == 2 && share0 == 0)
        return 1; /* no hash: every other flow is worker 1's (a replay's usual split) */
    uint64_t h = tw_flow_spread_hash(p);
    if ((h & 0xff) < share0)
        return 0;
    return n == 2 ? 1 : 1 + (unsigned)((h >> 8) % (n - 1));
}

/*
 * The share0 of tw_flow_worker() that gives n workers (n >= 2) about as much to do each, for
 * traffic in which the DNS flows cost dns and the other flows other (in any one unit): worker
 * 0 has dns + x * other, each of the others (1 - x) * other / (n - 1); they are equal at
 * x = (1 - (n - 1) * dns / other) / n, which is 0 (the DNS flows alone) once the DNS flows
 * cost as much as another worker's share, and at most 1 / n (no DNS). Worker 0 gets 7/8 of
 * that: the others' answer cache lookups wait for it, so it does best a little ahead (two
 * workers on a capture without DNS: 1.27x one worker at 7/8, 1.17x at the balance, 1.07x
 * below half of it). In 256ths, rounded.
 */
static inline unsigned tw_flow_split_share0(uint64_t dns, uint64_t other, unsigned n)
{
    if (n < 2 || other == 0 || (double)(n - 1) * (double)dns >= (double)other)
        return 0;
    double x = (1.0 - (double)(n - 1) * (double)dns / (double)other) / (double)n * 7.0 / 8.0;
    return (unsigned)(x * 256.0 + 0.5);
}

#endif /* TUNWATCH_FLOW_H */
