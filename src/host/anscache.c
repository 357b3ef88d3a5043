/* SPDX-License-Identifier: MIT */
/*
 * DNS answer cache: sharded, fixed-size, first in first out. See anscache.h for the contract
 * and for why per-shard locks are acceptable on the packet path.
 *
 * Each name a client resolved to an address is an entry of its own (up to
 * TW_ANSCACHE_NAMES_MAX per (client, address)); the entries of one key share its hash, so they
 * sit in one probe run of the index and a lookup sees them all in one scan.
 *
 * Each shard holds `cap` preallocated entries used as a ring in put order, and a byte arena
 * (ANS_TEXT_AVG bytes an entry) where their names are laid out in the same order, each taking
 * only its length: a put of a new key (or a fresh answer for a known one) takes the ring's
 * head and the arena's next bytes, first dropping the answers put longest ago until both have
 * room. Entries are found through an index: an
 * open-addressing table (linear probing, at most half full, backward-shift deletion) of
 * 8-byte slots holding the key's hash and the entry's index + 1, so a probe reads one compact
 * cache line and only the entry whose hash matches. A put therefore touches two index slots
 * and the entry and text at the head, which advance sequentially: no heap, no free list,
 * no scan, and no memory touched for names longer than they are. Expiry is checked when an entry is read; an expired entry found by a lookup is
 * taken out (a hole the head will pass over).
 */
#include "tunwatch/host/anscache.h"

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/ascii.h"
#include "tunwatch/base/prefault.h"
#include "tunwatch/base/seed.h"

#define ANS_NONE UINT32_MAX
#define ANS_TEXT_AVG 64 /* arena bytes per entry: names average ~30 bytes */
#define ANS_MAX_SHARD_CAP (1u << 30)

struct ans_key {
    uint8_t client[16];
    uint8_t resolved[16];
    uint8_t version;
    uint8_t pad[7]; /* zero: the key is hashed and compared as 40 bytes */
};

_Static_assert(sizeof(struct ans_key) == 40, "answer cache key must be 40 bytes without padding");

/* The part of an entry that probing, expiry and eviction read: one cache line. Its text is
 * kept apart (in the shard's arena) and touched only by a put or a hit. */
struct ans_entry {
    struct ans_key key;
    uint32_t hash;      /* low half of the key hash: index slot and quick compare */
    uint32_t live;      /* 1: in the table; 0: never used, dropped or replaced (a hole) */
    uint32_t text_off;  /* where its text starts in the shard's arena */
    uint8_t name_len;   /* text[0..name_len) is the queried name */
    uint8_t flags;      /* TW_ANSF_* */
    uint16_t chain_len; /* text[name_len..name_len + chain_len) is the joined chain */
    int64_t expires;    /* live while now <= expires */
};

_Static_assert(sizeof(struct ans_entry) == 64, "an answer cache entry is one cache line");
_Static_assert(TW_ANSCACHE_TEXT_MAX <= 256, "name_len is 8 bits");

/* Which frames of the input an entry's answer came from (tw_anscache_stamp): the first that
 * put this name for this key (later ones refreshed it), and the last. */
struct ans_stamp {
    uint64_t first, last;
};

/* An index slot: ref is the entry's index + 1, 0 when the slot is empty, so the slots of a
 * fresh mapping start empty and are touched only when used. */
struct ans_slot {
    uint32_t hash;
    uint32_t ref;
};

struct ans_shard {
    _Alignas(TW_CACHE_LINE) atomic_bool lock; /* shard_lock() */
    struct ans_entry *entries;
    struct ans_stamp *learnt; /* tw_anscache_stamp(): per entry; NULL: off */
    char *arena;
    struct ans_slot *slots;
    uint32_t cap;
    uint32_t used;       /* entries in the table */
    uint32_t tail;       /* ring position of the oldest entry (or hole) */
    uint32_t count;      /* ring positions from tail in use, entries and holes */
    uint32_t arena_cap;
    uint32_t text_head;  /* arena offset for the next text; the oldest's is at its text_off */
    uint32_t mask;       /* slots - 1 */
    uint64_t puts, hits, misses, expired, evicted, refused, replaced, truncated, names_dropped;
};

struct tw_anscache {
    struct ans_entry *entries; /* every shard's, one mapping */
    size_t entries_size;
    char *arena;               /* likewise */
    size_t text_size;
    struct ans_shard *shards;
    unsigned n_shards;
    uint32_t capacity;
    uint32_t ttl_floor;
    uint32_t ttl_ceiling;
    uint64_t seed;
    struct ans_stamp *learnt; /* every shard's stamps (tw_anscache_stamp), one mapping */
    size_t learnt_size;
};

/* Text of one put, prepared before the shard lock is taken. */
struct ans_text {
    uint16_t name_len;
    uint16_t chain_len;
    uint8_t flags;
    char text[TW_ANSCACHE_TEXT_MAX];
};

/*
 * The key of (client, resolved) into *k and its hash into *h: the key's five 8-byte words are
 * made in registers and stored whole (no narrow stores read back wide), and hashed in two
 * independent halves. The seed keeps senders of crafted answers from steering many keys into
 * one chain.
 */
static bool make_key(struct ans_key *k, uint64_t *h, uint64_t seed, uint8_t version,
                     const uint8_t client[16], const uint8_t resolved[16])
{
    uint64_t w[5];

    if ((version != 4 && version != 6) || client == NULL || resolved == NULL)
        return false;
    if (version == 4) {
        uint32_t a, b;
        memcpy(&a, client, 4);
        memcpy(&b, resolved, 4);
        w[0] = a;
        w[1] = 0;
        w[2] = b;
        w[3] = 0;
    } else {
        w[0] = tw_load64(client);
        w[1] = tw_load64(client + 8);
        w[2] = tw_load64(resolved);
        w[3] = tw_load64(resolved + 8);
    }
    w[4] = version; /* then the zero padding */
    _Static_assert(offsetof(struct ans_key, resolved) == 16 &&
                       offsetof(struct ans_key, version) == 32,
                   "the key's words: client, resolved, version and padding");
    memcpy(k, w, sizeof(*k));
    uint64_t x = tw_mix64(seed ^ w[0] ^ tw_rotl64(w[1], 29));
    uint64_t y =
        tw_mix64((seed + 0x9e3779b97f4a7c15ULL) ^ w[2] ^ tw_rotl64(w[3], 29) ^ (w[4] << 48));
    *h = tw_mix64(x ^ tw_rotl64(y, 31));
    return true;
}

static struct ans_shard *shard_of(const struct tw_anscache *c, uint64_t h)
{
    /* High half picks the shard, low half the bucket, so the two are independent. */
    return &c->shards[((h >> 32) * (uint64_t)c->n_shards) >> 32];
}

/* Returns 0, TW_ENOMEM (a name too long) or TW_EINVAL. */
static int prepare_text(struct ans_text *t, const char *qname, const char *const *chain,
                        size_t n_chain)
{
    size_t qlen, used;

    if (qname == NULL || (n_chain > 0 && chain == NULL))
        return TW_EINVAL;
    qlen = strnlen(qname, TW_NAME_MAX);
    if (qlen == 0)
        return TW_EINVAL;
    /* qname also has to leave room for the NUL in a TW_ANSCACHE_TEXT_MAX output buffer. */
    if (qlen > TW_NAME_MAX - 1 || qlen > TW_ANSCACHE_TEXT_MAX - 1)
        return TW_ENOMEM;
    for (size_t i = 0; i < n_chain; i++) {
        if (chain[i] == NULL)
            return TW_EINVAL;
        if (strnlen(chain[i], TW_NAME_MAX) > TW_NAME_MAX - 1)
            return TW_ENOMEM;
    }

    memcpy(t->text, qname, qlen);
    t->name_len = (uint16_t)qlen;
    t->flags = 0;
    used = qlen;
    for (size_t i = 0; i < n_chain; i++) {
        size_t len = strlen(chain[i]); /* < TW_NAME_MAX, checked above */
        size_t sep = used > qlen ? 1 : 0;

        if (used + sep + len > TW_ANSCACHE_TEXT_MAX) {
            t->flags |= TW_ANSF_CHAIN_TRUNCATED;
            break;
        }
        if (sep)
            t->text[used++] = ' ';
        memcpy(t->text + used, chain[i], len);
        used += len;
    }
    t->chain_len = (uint16_t)(used - qlen);
    return 0;
}

/* --- locking --- */

/*
 * A shard's lock is held for a probe and a few copies, never across a system call, and taken
 * by the workers' lookups and the DNS flows' puts: a test-and-test-and-set spin lock costs
 * one atomic exchange where a mutex costs two atomic operations; a holder that lost its CPU
 * is waited for with sched_yield().
 */
static void shard_lock(struct ans_shard *s)
{
    for (unsigned spin = 0; atomic_exchange_explicit(&s->lock, true, memory_order_acquire);) {
        while (atomic_load_explicit(&s->lock, memory_order_relaxed)) {
            if (++spin < 128)
                tw_cpu_relax();
            else
                sched_yield();
        }
    }
}

static void shard_unlock(struct ans_shard *s)
{
    atomic_store_explicit(&s->lock, false, memory_order_release);
}

/* --- table (shard lock held) --- */

/* The empty slot where a new entry of hash h goes (the table is at most half full). */
static struct ans_slot *free_slot(struct ans_shard *s, uint32_t h)
{
    for (uint32_t i = h & s->mask;; i = (i + 1) & s->mask)
        if (s->slots[i].ref == 0)
            return &s->slots[i];
}

/* Takes entry idx out of the table, leaving a hole in the ring. */
static void remove_entry(struct ans_shard *s, uint32_t idx)
{
    struct ans_entry *e = &s->entries[idx];
    uint32_t i = e->hash & s->mask;

    while (s->slots[i].ref != idx + 1)
        i = (i + 1) & s->mask;
    /* Backward-shift deletion: pull later slots of the run into the hole when their home
     * position allows, so every key stays reachable from its home without tombstones. */
    for (uint32_t j = (i + 1) & s->mask; s->slots[j].ref != 0; j = (j + 1) & s->mask) {
        uint32_t home = s->slots[j].hash & s->mask;
        /* Movable when home is not cyclically within (i, j]. */
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].ref = 0;
    e->live = 0;
    s->used--;
}

/*
 * Where `need` bytes of text can go, or ANS_NONE if the arena has no room without dropping
 * older entries. Texts are laid out in ring order from the oldest (at the tail entry's
 * text_off) to text_head, wrapping to offset 0 when the end has no room.
 */
static uint32_t arena_fit(const struct ans_shard *s, uint32_t need)
{
    uint32_t oldest;

    if (s->count == 0)
        return 0;
    oldest = s->entries[s->tail].text_off;
    if (s->text_head > oldest || (s->text_head == oldest && s->count == 0)) {
        if (s->arena_cap - s->text_head >= need)
            return s->text_head;
        return oldest >= need ? 0 : ANS_NONE; /* wrap: the end stays unused */
    }
    return oldest - s->text_head >= need ? s->text_head : ANS_NONE;
}

/* Age order of ring position idx: larger is put later. */
static uint32_t ring_age(const struct ans_shard *s, uint32_t idx)
{
    return idx >= s->tail ? idx - s->tail : idx + s->cap - s->tail;
}

/* Expired entries a stamped cache keeps per key after a put, at most (for lookups at earlier
 * frames and times): beyond that the oldest go, so that a name answered again and again after
 * its TTL keeps the key's probe run short. */
#define ANS_STALE_MAX 8

/*
 * The live entries of key k (at most TW_ANSCACHE_NAMES_MAX: puts keep it so) into out[], in
 * no particular order; returns how many. Entries stamped (tw_anscache_stamp) with a frame at
 * or after `before` are not there yet for the caller: skipped. Entries of k whose TTL ran out
 * by `now` are taken out on the way (counted as expired), except in a stamped cache, where
 * several threads look up at different frames and times (an answer expired for one is still
 * live for another): a lookup leaves them all, a put (put true) the newest ANS_STALE_MAX and
 * takes out the older ones. Every entry of k is in the probe run from k's home slot: they
 * share its hash.
 */
static unsigned key_entries(struct ans_shard *s, const struct ans_key *k, uint32_t h, int64_t now,
                            uint64_t before, bool put, uint32_t out[TW_ANSCACHE_NAMES_MAX])
{
    unsigned keep = s->learnt == NULL ? 0 : put ? ANS_STALE_MAX : UINT_MAX;
    unsigned n, stale;
    uint32_t oldest;

restart:
    n = stale = 0;
    oldest = ANS_NONE;
    for (uint32_t i = h & s->mask; s->slots[i].ref != 0; i = (i + 1) & s->mask) {
        const struct ans_slot *sl = &s->slots[i];
        uint32_t idx = sl->ref - 1;
        const struct ans_entry *e = &s->entries[idx];

        if (sl->hash != h || memcmp(&e->key, k, sizeof(*k)) != 0)
            continue;
        if (s->learnt != NULL && s->learnt[idx].first >= before)
            continue;
        if (e->expires < now) {
            if (keep == 0) {
                s->expired++;
                remove_entry(s, idx); /* slots shift: scan the run again */
                goto restart;
            }
            if (stale++ == 0 || ring_age(s, idx) < ring_age(s, oldest))
                oldest = idx;
            continue;
        }
        if (n < TW_ANSCACHE_NAMES_MAX)
            out[n++] = idx;
    }
    if (stale > keep) {
        s->expired++;
        remove_entry(s, oldest);
        goto restart;
    }
    return n;
}

/* Whether names a[0..an) and b[0..bn) are the same name: ASCII case folded, one trailing dot
 * of either ignored. */
static bool same_name(const char *a, size_t an, const char *b, size_t bn)
{
    if (an > 1 && a[an - 1] == '.')
        an--;
    if (bn > 1 && b[bn - 1] == '.')
        bn--;
    return an == bn && tw_ascii_eq_nocase(a, b, an);
}

/* Whether want names entry e: its queried name, or (chain true) one of its CNAME targets. */
static bool entry_names(const struct ans_shard *s, const struct ans_entry *e, const char *want,
                        size_t want_len, bool chain)
{
    const char *text = s->arena + e->text_off;

    if (!chain)
        return same_name(text, e->name_len, want, want_len);
    for (size_t i = e->name_len; i < (size_t)e->name_len + e->chain_len;) {
        const char *t = text + i, *sp = memchr(t, ' ', (size_t)e->name_len + e->chain_len - i);
        size_t l = sp != NULL ? (size_t)(sp - t) : (size_t)e->name_len + e->chain_len - i;

        if (same_name(t, l, want, want_len))
            return true;
        i += l + 1;
    }
    return false;
}

/* Whether entry e holds what text t does, byte for byte (name, chain, flags). */
static bool same_text(const struct ans_shard *s, const struct ans_entry *e,
                      const struct ans_text *t)
{
    return e->name_len == t->name_len && e->chain_len == t->chain_len && e->flags == t->flags &&
           memcmp(s->arena + e->text_off, t->text, (size_t)t->name_len + t->chain_len) == 0;
}

/* Drops the ring's oldest position: the answer put longest ago (counted as expired if its
 * TTL had run out, else as evicted), or a hole. Its text space goes with it. */
static void drop_oldest(struct ans_shard *s, int64_t now)
{
    uint32_t idx = s->tail;
    struct ans_entry *e = &s->entries[idx];

    if (e->live) {
        if (e->expires < now)
            s->expired++;
        else
            s->evicted++;
        remove_entry(s, idx);
    }
    s->tail = idx + 1 == s->cap ? 0 : idx + 1;
    if (--s->count == 0)
        s->text_head = 0;
}

/* --- public --- */

struct tw_anscache *tw_anscache_new(const struct tw_anscache_config *cfg)
{
    static const struct tw_anscache_config defaults = TW_ANSCACHE_CONFIG_DEFAULT;
    struct tw_anscache_config conf = cfg != NULL ? *cfg : defaults;
    struct tw_anscache *c;

    if (conf.capacity == 0)
        conf.capacity = defaults.capacity;
    if (conf.shards == 0)
        conf.shards = defaults.shards;
    if (conf.shards > conf.capacity)
        conf.shards = conf.capacity;
    if (conf.ttl_floor > conf.ttl_ceiling)
        return NULL;
    if (conf.capacity / conf.shards + 1 > ANS_MAX_SHARD_CAP)
        return NULL;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->capacity = conf.capacity;
    c->ttl_floor = conf.ttl_floor;
    c->ttl_ceiling = conf.ttl_ceiling;
    c->seed = tw_random_seed(c);
    c->shards = aligned_alloc(TW_CACHE_LINE, conf.shards * sizeof(*c->shards));
    if (c->shards == NULL)
        goto out_free_cache;
    memset(c->shards, 0, conf.shards * sizeof(*c->shards));
    /* Each shard's slots: a power of two at least twice its capacity (at most half full:
     * short probes). They follow the entries in one mapping, zero (empty) until used. */
    size_t n_slots = 0;
    for (unsigned i = 0; i < conf.shards; i++) {
        struct ans_shard *s = &c->shards[i];
        uint32_t nb = 1;

        s->cap = conf.capacity / conf.shards + (i < conf.capacity % conf.shards ? 1 : 0);
        while (nb < 2 * s->cap)
            nb <<= 1;
        s->mask = nb - 1;
        n_slots += nb;
    }
    c->entries_size = (size_t)conf.capacity * sizeof(struct ans_entry) +
                      n_slots * sizeof(struct ans_slot);
    c->entries = tw_table_alloc(c->entries_size);
    c->text_size = (size_t)conf.capacity * ANS_TEXT_AVG + (size_t)conf.shards * TW_ANSCACHE_TEXT_MAX;
    c->arena = tw_table_alloc(c->text_size);
    if (c->entries == NULL || c->arena == NULL)
        goto out_free_shards;
    struct ans_slot *slots = (struct ans_slot *)(c->entries + conf.capacity);
    size_t first = 0, text_first = 0;

    for (unsigned i = 0; i < conf.shards; i++) {
        struct ans_shard *s = &c->shards[i];

        s->entries = c->entries + first;
        s->slots = slots;
        slots += s->mask + 1;
        /* At least one longest text fits whatever the capacity. */
        s->arena_cap = s->cap * ANS_TEXT_AVG + TW_ANSCACHE_TEXT_MAX;
        s->arena = c->arena + text_first;
        text_first += s->arena_cap;
        first += s->cap;
        atomic_init(&s->lock, false);
    }
    c->n_shards = conf.shards;
    return c;

out_free_shards:
    tw_anscache_free(c);
    return NULL;
out_free_cache:
    free(c);
    return NULL;
}

int tw_anscache_stamp(struct tw_anscache *c)
{
    if (c->learnt != NULL)
        return 0;
    /* Mapped as used, like the entries: a stamp is written with its entry, and every entry
     * is used in turn (1 MiB in small pages for the default capacity: 256 faults). */
    c->learnt_size = tw_table_dense((size_t)c->capacity * sizeof(*c->learnt));
    if ((c->learnt = tw_table_alloc(c->learnt_size)) == NULL)
        return TW_ENOMEM;
    for (unsigned i = 0; i < c->n_shards; i++)
        c->shards[i].learnt = c->learnt + (c->shards[i].entries - c->entries);
    return 0;
}

int tw_anscache_prefault(struct tw_anscache *c, struct tw_prefault *pf)
{
    int rc;

    /* The shards' rings fill side by side and their index slots at random: all of it. */
    if ((rc = tw_prefault_add(pf, c->entries, c->entries_size, NULL, 0, 0)) != 0 ||
        (rc = tw_prefault_add(pf, c->arena, c->text_size, NULL, 0, 0)) != 0)
        return rc;
    return tw_prefault_add(pf, c->learnt, c->learnt_size, NULL, 0, 0);
}

void tw_anscache_free(struct tw_anscache *c)
{
    if (c == NULL)
        return;
    if (c->learnt != NULL)
        tw_table_free(c->learnt, c->learnt_size);
    free(c->shards);
    tw_table_free(c->entries, c->entries_size);
    tw_table_free(c->arena, c->text_size);
    free(c);
}

/* A put of key k, the text prepared (prepare_text() returned rc): 0, or rc (TW_ENOMEM counted
 * as refused in k's shard). */
static int put_key(struct tw_anscache *c, const struct ans_key *k, uint64_t h64,
                   const struct ans_text *t, int rc, uint32_t ttl, int64_t now, uint64_t seq)
{
    uint32_t h = (uint32_t)h64, idx, need, off = 0;
    struct ans_shard *s = shard_of(c, h64);
    struct ans_entry *e;
    struct ans_slot *sl;

    if (rc != 0) {
        shard_lock(s);
        s->refused++;
        shard_unlock(s);
        return rc;
    }
    ttl = TW_MIN(TW_MAX(ttl, c->ttl_floor), c->ttl_ceiling);

    shard_lock(s);
    uint32_t mine[TW_ANSCACHE_NAMES_MAX], oldest = ANS_NONE;
    uint64_t first = seq;
    unsigned n_mine = key_entries(s, k, h, now, UINT64_MAX, true, mine);
    bool replaced = false;
    for (unsigned i = 0; i < n_mine && !replaced; i++) {
        const struct ans_entry *me = &s->entries[mine[i]];
        /* Stamped, an answer for the name that says something else (another CNAME chain) is
         * an entry of its own: a lookup at a frame between the two keeps the one it had. */
        if (entry_names(s, me, t->text, t->name_len, false) &&
            (s->learnt == NULL || same_text(s, me, t))) {
            /* A fresh answer for a name it holds: the old one leaves a hole, the new goes to
             * the head. It is the same answer, refreshed, for a lookup at an earlier frame
             * (stamped: it keeps the earlier frame). */
            s->replaced++;
            if (s->learnt != NULL)
                first = s->learnt[mine[i]].first;
            remove_entry(s, mine[i]);
            replaced = true;
        } else if (oldest == ANS_NONE || ring_age(s, mine[i]) < ring_age(s, oldest)) {
            oldest = mine[i];
        }
    }
    if (!replaced && n_mine == TW_ANSCACHE_NAMES_MAX) {
        /* The bound on names per (client, address): the one put longest ago makes room. */
        s->names_dropped++;
        remove_entry(s, oldest);
    }
    need = (uint32_t)t->name_len + t->chain_len;
    while (s->count == s->cap || (off = arena_fit(s, need)) == ANS_NONE)
        drop_oldest(s, now);
    sl = free_slot(s, h); /* removals may have shifted the slots */
    idx = s->tail + s->count;
    if (idx >= s->cap)
        idx -= s->cap;
    s->count++;
    s->text_head = off + need;
    e = &s->entries[idx];
    e->key = *k;
    e->hash = h;
    e->live = 1;
    e->text_off = off;
    sl->hash = h;
    sl->ref = idx + 1;
    s->used++;
    e->expires = now + (int64_t)ttl;
    e->flags = t->flags;
    e->name_len = (uint8_t)t->name_len;
    e->chain_len = t->chain_len;
    if (s->learnt != NULL)
        s->learnt[idx] = (struct ans_stamp){first, seq};
    memcpy(s->arena + off, t->text, need);
    s->puts++;
    if (t->flags & TW_ANSF_CHAIN_TRUNCATED)
        s->truncated++;
    if (s->count == s->cap) {
        /* Full: the next puts here drop the oldest entries. Their lines were last written a
         * whole ring ago: start loading the next victim's index slot (its entry was loaded
         * by the previous put) and the entry after it, so neither is a miss then. */
        const struct ans_entry *v = &s->entries[s->tail];
        if (v->live)
            __builtin_prefetch(&s->slots[v->hash & s->mask]);
        __builtin_prefetch(&s->entries[s->tail + 1 == s->cap ? 0 : s->tail + 1]);
    }
    shard_unlock(s);
    return 0;
}

int tw_anscache_put(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                    const uint8_t resolved[16], const char *qname, const char *const *chain,
                    size_t n_chain, uint32_t ttl, int64_t now)
{
    struct ans_key k;
    struct ans_text t;
    uint64_t h;

    if (!make_key(&k, &h, c->seed, version, client, resolved))
        return TW_EINVAL;
    int rc = prepare_text(&t, qname, chain, n_chain);
    if (rc == TW_EINVAL)
        return rc;
    return put_key(c, &k, h, &t, rc, ttl, now, 0);
}

size_t tw_anscache_put_n_at(struct tw_anscache *c, uint64_t seq, uint8_t version,
                            const uint8_t client[16], const uint8_t (*resolved)[16],
                            const uint32_t *ttl, size_t n, const char *qname,
                            const char *const *chain, size_t n_chain, int64_t now)
{
    struct ans_key k;
    struct ans_text t;
    size_t stored = 0;
    uint64_t h;

    if (n == 0 || !make_key(&k, &h, c->seed, version, client, resolved[0]))
        return 0;
    int rc = prepare_text(&t, qname, chain, n_chain);
    if (rc == TW_EINVAL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            (void)make_key(&k, &h, c->seed, version, client, resolved[i]);
        if (put_key(c, &k, h, &t, rc, ttl[i], now, seq) == 0)
            stored++;
    }
    return stored;
}

size_t tw_anscache_put_n(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                         const uint8_t (*resolved)[16], const uint32_t *ttl, size_t n,
                         const char *qname, const char *const *chain, size_t n_chain,
                         int64_t now)
{
    return tw_anscache_put_n_at(c, 0, version, client, resolved, ttl, n, qname, chain, n_chain,
                                now);
}

/* Whether entry a was put after entry b, as a lookup before frame `before` knows them:
 * stamped, by the last put it has seen of each; else by ring position. */
static bool newer(const struct ans_shard *s, uint32_t a, uint32_t b, uint64_t before)
{
    if (s->learnt == NULL)
        return ring_age(s, a) > ring_age(s, b);
    const struct ans_stamp *x = &s->learnt[a], *y = &s->learnt[b];
    uint64_t xa = x->last < before ? x->last : x->first, yb = y->last < before ? y->last : y->first;
    return xa != yb ? xa > yb : ring_age(s, a) > ring_age(s, b);
}

bool tw_anscache_lookup_name_at(struct tw_anscache *c, uint64_t before, uint8_t version,
                                const uint8_t client[16], const uint8_t resolved[16],
                                int64_t now, const char *want, size_t want_len, char *name,
                                size_t cap, char *chain, size_t chaincap, unsigned *flags)
{
    struct ans_key k;
    struct ans_shard *s;
    const struct ans_entry *e;
    uint32_t mine[TW_ANSCACHE_NAMES_MAX], pick = ANS_NONE;
    unsigned n_mine, fl = 0;
    uint64_t h64;
    bool hit = false;

    if (!make_key(&k, &h64, c->seed, version, client, resolved))
        return false;
    s = shard_of(c, h64);

    shard_lock(s);
    n_mine = key_entries(s, &k, (uint32_t)h64, now, before, false, mine);
    if (n_mine == 0)
        goto out_unlock;
    /* The name the connection asked for, else a CNAME target equal to it, else any name: the
     * newest such answer (several answers for one name are entries of their own in a stamped
     * cache; in any cache several chains may hold the target). */
    for (int pass = 0; pass < 2 && pick == ANS_NONE && want != NULL && want_len > 0; pass++)
        for (unsigned i = 0; i < n_mine; i++)
            if (entry_names(s, &s->entries[mine[i]], want, want_len, pass == 1) &&
                (pick == ANS_NONE || newer(s, mine[i], pick, before)))
                pick = mine[i];
    if (pick != ANS_NONE) {
        fl |= TW_ANSF_WANTED;
    } else {
        for (unsigned i = 0; i < n_mine; i++)
            if (pick == ANS_NONE || newer(s, mine[i], pick, before))
                pick = mine[i];
    }
    if (n_mine > 1)
        fl |= TW_ANSF_MORE_NAMES;
    e = &s->entries[pick];
    if (name == NULL || cap <= e->name_len)
        goto out_unlock;

    const char *text = s->arena + e->text_off;
    memcpy(name, text, e->name_len);
    name[e->name_len] = '\0';
    if (flags != NULL)
        *flags = e->flags | fl;
    if (chain != NULL && chaincap > 0) {
        const char *src = text + e->name_len;
        size_t n = e->chain_len;

        if (n >= chaincap) {
            /* Keep the leading whole names: cut at the last separator that fits. */
            n = chaincap - 1;
            while (n > 0 && src[n] != ' ')
                n--;
            if (flags != NULL)
                *flags |= TW_ANSF_CHAIN_TRUNCATED;
        }
        memcpy(chain, src, n);
        chain[n] = '\0';
    }
    hit = true;

out_unlock:
    if (hit)
        s->hits++;
    else
        s->misses++;
    shard_unlock(s);
    return hit;
}

bool tw_anscache_lookup_name(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                             const uint8_t resolved[16], int64_t now, const char *want,
                             size_t want_len, char *name, size_t cap, char *chain,
                             size_t chaincap, unsigned *flags)
{
    return tw_anscache_lookup_name_at(c, UINT64_MAX, version, client, resolved, now, want,
                                      want_len, name, cap, chain, chaincap, flags);
}

bool tw_anscache_lookup(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                        const uint8_t resolved[16], int64_t now, char *name, size_t cap,
                        char *chain, size_t chaincap, unsigned *flags)
{
    return tw_anscache_lookup_name(c, version, client, resolved, now, NULL, 0, name, cap, chain,
                                   chaincap, flags);
}

bool tw_anscache_get(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                     const uint8_t resolved[16], int64_t now, char *name, size_t cap, char *chain,
                     size_t chaincap)
{
    return tw_anscache_lookup(c, version, client, resolved, now, name, cap, chain, chaincap, NULL);
}

void tw_anscache_get_stats(struct tw_anscache *c, struct tw_anscache_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->capacity = c->capacity;
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct ans_shard *s = &c->shards[i];

        shard_lock(s);
        st->puts += s->puts;
        st->hits += s->hits;
        st->misses += s->misses;
        st->expired += s->expired;
        st->evicted += s->evicted;
        st->refused += s->refused;
        st->replaced += s->replaced;
        st->truncated += s->truncated;
        st->names_dropped += s->names_dropped;
        st->entries += s->used;
        shard_unlock(s);
    }
}
