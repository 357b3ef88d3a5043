/* SPDX-License-Identifier: MIT */
/*
 * DNS answer cache: (client address, resolved address) -> the names the client asked for and
 * the CNAME chain that led to the address, so a later connection from that client to that
 * address can be named when the flow itself carries no name (raw TCP/UDP tunnels), and a
 * connection that names itself (TLS SNI, HTTP Host) is told the name it resolved by that name:
 * many names share one address (CDNs, hosting, a tunnel provider's edge), and the client's
 * connections to it each ask for their own. Up to TW_ANSCACHE_NAMES_MAX names are kept per
 * (client, address), each an entry with its own TTL; a further name drops the one put longest
 * ago for that key (counted).
 *
 * One cache per process, shared by every worker: a client's DNS response and its later
 * connection usually hash to different workers. It is split into shards, each a fixed-size
 * ring of entries in put order with an open-addressing index and a byte arena for the names,
 * guarded by its own lock (a spin lock: see below); the shard is chosen by a seeded hash of
 * the key. Everything is allocated by tw_anscache_new().
 *
 * Why a lock is acceptable here: the cache is written only when a DNS response with addresses
 * is seen and read only when a new flow has no name of its own. Established flows, which are
 * almost every packet, never touch it. Each call holds one shard's lock for a hash probe (the
 * entries of one (client, address) share a probe run: at most TW_ANSCACHE_NAMES_MAX of them
 * are read, and names compared only for those) and a copy of at most TW_ANSCACHE_TEXT_MAX
 * bytes (strings are prepared before locking), and with 64 shards two workers rarely want the
 * same lock at once.
 *
 * Memory: about 144 bytes per entry (a 64-byte entry, 64 bytes of name arena on average, two
 * 8-byte index slots), so the 262144 entries of TW_ANSCACHE_CONFIG_DEFAULT take about 36 MiB
 * and tunwatch's default of 65536 about 9 MiB. Memory is mapped as it is first used, in huge
 * pages where the kernel allows (see tw_table_alloc). One answer's text (name and chain) is at
 * most 256 bytes, which holds any name of 253 characters; longer presentation forms (heavily
 * escaped names) are refused, counted.
 */
#ifndef TUNWATCH_ANSCACHE_H
#define TUNWATCH_ANSCACHE_H

#include "tunwatch/base/common.h"

/* Bytes of text one entry holds: the queried name followed by its chain joined with ' '.
 * Output buffers of this size always receive a whole name and a whole chain. */
#define TW_ANSCACHE_TEXT_MAX 256

/* Names kept per (client, resolved address). */
#define TW_ANSCACHE_NAMES_MAX 32

/* tw_anscache_lookup() flags */
#define TW_ANSF_CHAIN_TRUNCATED                                                                    \
    0x01 /* names were left off the chain: at put because the text                                 \
            slot was full, or at lookup because chaincap was small */
#define TW_ANSF_WANTED 0x02     /* the entry is the wanted name's (its name or a CNAME target) */
#define TW_ANSF_MORE_NAMES 0x04 /* the client resolved other names to this address too */

struct tw_anscache_config {
    uint32_t capacity;    /* entries across all shards; 0 selects 262144 */
    uint32_t ttl_floor;   /* seconds; answer TTLs are clamped to [ttl_floor, ttl_ceiling] */
    uint32_t ttl_ceiling; /* seconds; must be >= ttl_floor */
    unsigned shards;      /* 0 selects 64; reduced to capacity when larger */
};

#define TW_ANSCACHE_CONFIG_DEFAULT                                                                 \
    {                                                                                              \
        262144, 60, 86400, 64                                                                      \
    }

struct tw_anscache_stats {
    uint64_t puts;      /* answers stored: new keys and replacements */
    uint64_t hits;      /* lookups that found a live entry */
    uint64_t misses;    /* lookups that found nothing, or an expired entry */
    uint64_t expired;   /* entries reclaimed after their TTL ran out */
    uint64_t evicted;   /* live entries dropped because their shard was full */
    uint64_t refused;   /* puts refused because a name was too long */
    uint64_t replaced;  /* puts that replaced the entry of the same key */
    uint64_t truncated; /* puts stored with names left off the chain */
    uint64_t names_dropped; /* puts of a new name for a (client, address) that already held
                               TW_ANSCACHE_NAMES_MAX: the oldest of them was dropped */
    uint32_t entries;   /* entries held now (live or not yet reclaimed) */
    uint32_t capacity;
};

struct tw_anscache;

/*
 * Allocates a cache (cfg NULL: TW_ANSCACHE_CONFIG_DEFAULT). Returns NULL when ttl_floor >
 * ttl_ceiling, when one shard would exceed 2^30 entries, or on allocation failure.
 */
struct tw_anscache *tw_anscache_new(const struct tw_anscache_config *cfg);

/* Frees the cache; no other thread may be using it. NULL is ignored. */
void tw_anscache_free(struct tw_anscache *c);

struct tw_prefault;
/* Has pf map c's memory whole (see prefault.h); call after tw_anscache_stamp(), if at all.
 * 0 or TW_ENOMEM (pf has no room left). */
int tw_anscache_prefault(struct tw_anscache *c, struct tw_prefault *pf);

/*
 * Records that client (version 4 or 6, addr) resolved qname to address `resolved`, at time now
 * (seconds), valid for ttl seconds clamped to [ttl_floor, ttl_ceiling]: the entry is live while
 * now <= put time + ttl. For version 4 only the first 4 bytes of client and resolved are read.
 * chain[0..n_chain) are the CNAME targets after qname, in order, up to the name that owns the
 * address; they are stored as given (from tw_dns_cname_chain(), whose chain[0] is qname itself,
 * pass chain + 1 and n - 1). Names are in presentation form as the DNS parser writes them: a
 * space inside a name is escaped, so the chain joined with ' ' is unambiguous.
 *
 * An entry for the same key and name (compared ASCII case-insensitively, one trailing dot
 * ignored) is replaced (and becomes the newest); a new name for a key that holds
 * TW_ANSCACHE_NAMES_MAX live names drops the oldest of them (counted as names_dropped); a
 * key's entries whose TTL ran out are reclaimed (counted as expired). To make room, the answers
 * put longest ago in the shard are dropped until it has a free entry and arena space for the
 * text (first in, first out: longer names mean fewer entries), each counted as expired if its
 * TTL had run out, else as evicted. Expiry is checked on every lookup. Strings are copied; the
 * caller's may be reused at once.
 *
 * Returns 0 when stored, even if chain names were left off because the text slot was full
 * (whole names only; counted as truncated and flagged on the entry). Returns TW_ENOMEM,
 * counted as refused, when qname or a chain name is longer than TW_NAME_MAX - 1 bytes, or
 * qname alone is longer than TW_ANSCACHE_TEXT_MAX - 1 bytes (only heavily escaped names are).
 * Returns TW_EINVAL, uncounted, for another version, an empty or NULL qname, or a NULL chain
 * name.
 *
 * Thread-safe.
 */
int tw_anscache_put(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                    const uint8_t resolved[16], const char *qname, const char *const *chain,
                    size_t n_chain, uint32_t ttl, int64_t now);

/* tw_anscache_put() of the same name and chain for n addresses (resolved[i], TTL ttl[i]: one
 * answer's), the text prepared once. Returns how many were stored. */
size_t tw_anscache_put_n(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                         const uint8_t (*resolved)[16], const uint32_t *ttl, size_t n,
                         const char *qname, const char *const *chain, size_t n_chain,
                         int64_t now);

/*
 * Stamps, for replays read by several threads at their own pace: one learns every answer
 * (tw_anscache_put_n_at() with the number of the frame it came from), the others look up at
 * their own frames (tw_anscache_lookup_name_at()). A lookup before frame `before` sees only
 * the entries put from frames before it, as a single thread reading the capture in order
 * would: an answer that came after the connection does not name it, however far ahead the
 * learning thread is. A refreshed answer (same key, name, CNAME chain and flags) keeps the
 * first frame that put it, and "newest" means the last put the lookup's frame has seen; an
 * answer for the name that says something else (another chain) is an entry of its own, so a
 * lookup at a frame between the two gets the first. Expired entries are then
 * not taken out by lookups, nor by puts up to 8 per key (an answer expired at one thread's
 * time is live at another's, earlier one); the ring drops them. What a single thread would
 * still have found but the learner's later puts have already dropped (to make room in a full
 * cache, as the oldest of more than TW_ANSCACHE_NAMES_MAX names, or as the 9th expired answer
 * of a key) is not found: exact while the cache is not full.
 * Call before any put; 0 or TW_ENOMEM (16 bytes an entry, mapped as used). Without it stamps
 * and bounds are ignored.
 */
int tw_anscache_stamp(struct tw_anscache *c);

/* tw_anscache_put_n() of the answer of frame seq (a stamped cache records it). */
size_t tw_anscache_put_n_at(struct tw_anscache *c, uint64_t seq, uint8_t version,
                            const uint8_t client[16], const uint8_t (*resolved)[16],
                            const uint32_t *ttl, size_t n, const char *qname,
                            const char *const *chain, size_t n_chain, int64_t now);

/* tw_anscache_lookup_name() made at frame `before`: in a stamped cache, only the entries put
 * from frames before it (UINT64_MAX: all). */
bool tw_anscache_lookup_name_at(struct tw_anscache *c, uint64_t before, uint8_t version,
                                const uint8_t client[16], const uint8_t resolved[16],
                                int64_t now, const char *want, size_t want_len, char *name,
                                size_t cap, char *chain, size_t chaincap, unsigned *flags);

/*
 * Looks up the answer that client (version, addr) received for address `resolved`: of the
 * names the client resolved to it, the one equal to want[0..want_len) (ASCII case-insensitive,
 * one trailing dot ignored), else the one whose CNAME chain holds it, else the newest (want
 * NULL: the newest); *flags then has TW_ANSF_WANTED when want was found, TW_ANSF_MORE_NAMES
 * when the key holds other live names. Otherwise as tw_anscache_lookup().
 */
bool tw_anscache_lookup_name(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                             const uint8_t resolved[16], int64_t now, const char *want,
                             size_t want_len, char *name, size_t cap, char *chain,
                             size_t chaincap, unsigned *flags);

/*
 * Looks up the newest answer that client (version, addr) received for address `resolved`. On
 * a live entry copies the queried name, NUL-terminated, into name[0..cap) and the chain joined with
 * ' ' into chain[0..chaincap) (chain may be NULL with chaincap 0), then returns true. A chain
 * that does not fit chaincap keeps its leading whole names. *flags (when flags is not NULL)
 * receives TW_ANSF_* for the returned entry.
 *
 * Returns false, counted as a miss, when there is no live entry (entries of the key whose TTL
 * ran out are then reclaimed and counted as expired), or when the name does not fit cap (a cap
 * of TW_ANSCACHE_TEXT_MAX always fits). name and chain are left unchanged on false.
 *
 * Thread-safe.
 */
bool tw_anscache_lookup(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                        const uint8_t resolved[16], int64_t now, char *name, size_t cap,
                        char *chain, size_t chaincap, unsigned *flags);

/* tw_anscache_lookup() without the flags. */
bool tw_anscache_get(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                     const uint8_t resolved[16], int64_t now, char *name, size_t cap, char *chain,
                     size_t chaincap);

/*
 * Sums every shard's counters, taking each shard's lock in turn: while other threads are
 * working the totals are per-shard consistent, not one instant's snapshot.
 */
void tw_anscache_get_stats(struct tw_anscache *c, struct tw_anscache_stats *st);

#endif /* TUNWATCH_ANSCACHE_H */
