/* SPDX-License-Identifier: MIT */
/*
 * DNS answer cache: sharded, fixed-size, expiry-ordered. See anscache.h for the contract and
 * for why per-shard mutexes are acceptable on the packet path.
 *
 * Each shard holds `cap` preallocated entries and an index: an open-addressing table (linear
 * probing, at most half full, backward-shift deletion) of 8-byte slots holding the key's hash
 * and the entry's index, so a probe reads one compact cache line and only the entry whose
 * hash matches. Free entries are chained through entry.next from free_head; entries never
 * used yet are handed out in order, so a cache that is not full does not touch, and the
 * kernel does not map, its tail
 * and a binary min-heap ordered by (expires, seq), so the entry that expires first is always
 * at the top: eviction and reclaiming expired entries cost O(log cap), never a scan.
 *
 * The heap holds small self-contained nodes (expiry, put number, entry index), not entry
 * indices: sifting reads only the heap array, never the 600-byte entries. A replaced or removed
 * entry leaves its node behind, stale (its put number no longer matches the entry's); stale
 * nodes are skipped when they reach the top, and the heap, twice the shard's capacity, is
 * rebuilt from the live entries when it fills, which drops them all (amortised O(1) a put).
 */
#include "tunwatch/anscache.h"

#include "tunwatch/alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ANS_NONE UINT32_MAX
#define ANS_MAX_SHARD_CAP (1u << 30)
#define ANS_RECLAIM_PER_PUT 4 /* expired heap tops reclaimed by one put of a new key */

struct ans_key {
    uint8_t client[16];
    uint8_t resolved[16];
    uint8_t version;
    uint8_t pad[7]; /* zero: the key is hashed and compared as 40 bytes */
};

_Static_assert(sizeof(struct ans_key) == 40, "answer cache key must be 40 bytes without padding");

struct ans_entry {
    struct ans_key key;
    uint32_t hash;      /* low half of the key hash: bucket index and quick compare */
    uint32_t next;      /* free list */
    uint32_t seq;       /* put number of the entry's current content; 0: not in the table */
    uint16_t name_len;  /* text[0..name_len) is the queried name */
    uint16_t chain_len; /* text[name_len..name_len + chain_len) is the joined chain */
    int64_t expires;    /* live while now <= expires */
    uint8_t flags;      /* TW_ANSF_* */
    char text[TW_ANSCACHE_TEXT_MAX];
};

/* A heap node: valid while entries[idx].seq == seq. */
struct ans_node {
    int64_t expires;
    uint32_t seq; /* put order within the shard (wraps): breaks ties on expires, older first */
    uint32_t idx;
};

/* An index slot: empty when idx is ANS_NONE. */
struct ans_slot {
    uint32_t hash;
    uint32_t idx;
};

struct ans_shard {
    _Alignas(TW_CACHE_LINE) pthread_mutex_t lock;
    struct ans_entry *entries;
    struct ans_slot *slots;
    struct ans_node *heap;
    uint32_t cap;
    uint32_t used;   /* entries in the table */
    uint32_t fresh;  /* entries [fresh, cap) were never used */
    uint32_t heap_n; /* nodes in the heap, valid or stale */
    uint32_t heap_cap;
    uint32_t mask; /* slots - 1 */
    uint32_t free_head;
    uint32_t seq;    /* last put number; 0 is never used */
    uint64_t puts, hits, misses, expired, evicted, refused, replaced, truncated;
};

struct tw_anscache {
    struct ans_entry *entries; /* every shard's, one mapping */
    size_t entries_size;
    struct ans_shard *shards;
    unsigned n_shards;
    uint32_t capacity;
    uint32_t ttl_floor;
    uint32_t ttl_ceiling;
    uint64_t seed;
};

/* Text of one put, prepared before the shard lock is taken. */
struct ans_text {
    uint16_t name_len;
    uint16_t chain_len;
    uint8_t flags;
    char text[TW_ANSCACHE_TEXT_MAX];
};

static uint64_t key_hash(const struct ans_key *k, uint64_t seed)
{
    const uint8_t *b = (const uint8_t *)k;
    uint64_t h = seed;

    for (size_t i = 0; i < sizeof(*k); i += 8) {
        uint64_t w;
        memcpy(&w, b + i, sizeof(w));
        h = tw_mix64(h ^ w);
    }
    return h;
}

/* The seed keeps senders of crafted answers from steering many keys into one chain. */
static uint64_t make_seed(const void *salt)
{
    uint64_t s = 0;
    struct timespec ts;

    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
        return s;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return tw_mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)salt);
}

static bool make_key(struct ans_key *k, uint8_t version, const uint8_t client[16],
                     const uint8_t resolved[16])
{
    size_t alen;

    if (version == 4)
        alen = 4;
    else if (version == 6)
        alen = 16;
    else
        return false;
    if (client == NULL || resolved == NULL)
        return false;
    memset(k, 0, sizeof(*k));
    memcpy(k->client, client, alen);
    memcpy(k->resolved, resolved, alen);
    k->version = version;
    return true;
}

static struct ans_shard *shard_of(const struct tw_anscache *c, uint64_t h)
{
    /* High half picks the shard, low half the bucket, so the two are independent. */
    return &c->shards[((h >> 32) * (uint64_t)c->n_shards) >> 32];
}

/* Length of s if it is shorter than max, else max; reads at most max bytes. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n] != '\0')
        n++;
    return n;
}

/* Returns 0, TW_ENOMEM (a name too long) or TW_EINVAL. */
static int prepare_text(struct ans_text *t, const char *qname, const char *const *chain,
                        size_t n_chain)
{
    size_t qlen, used;

    if (qname == NULL || (n_chain > 0 && chain == NULL))
        return TW_EINVAL;
    qlen = bounded_len(qname, TW_NAME_MAX);
    if (qlen == 0)
        return TW_EINVAL;
    /* qname also has to leave room for the NUL in a TW_ANSCACHE_TEXT_MAX output buffer. */
    if (qlen > TW_NAME_MAX - 1 || qlen > TW_ANSCACHE_TEXT_MAX - 1)
        return TW_ENOMEM;
    for (size_t i = 0; i < n_chain; i++) {
        if (chain[i] == NULL)
            return TW_EINVAL;
        if (bounded_len(chain[i], TW_NAME_MAX) > TW_NAME_MAX - 1)
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

/* --- expiry heap (shard lock held) --- */

static bool node_before(const struct ans_node *a, const struct ans_node *b)
{
    if (a->expires != b->expires)
        return a->expires < b->expires;
    return (int32_t)(a->seq - b->seq) < 0;
}

static void heap_up(struct ans_shard *s, uint32_t pos)
{
    struct ans_node n = s->heap[pos];

    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!node_before(&n, &s->heap[parent]))
            break;
        s->heap[pos] = s->heap[parent];
        pos = parent;
    }
    s->heap[pos] = n;
}

static void heap_down(struct ans_shard *s, uint32_t pos)
{
    struct ans_node n = s->heap[pos];

    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= s->heap_n)
            break;
        if (child + 1 < s->heap_n && node_before(&s->heap[child + 1], &s->heap[child]))
            child++;
        if (!node_before(&s->heap[child], &n))
            break;
        s->heap[pos] = s->heap[child];
        pos = child;
    }
    s->heap[pos] = n;
}

static bool node_valid(const struct ans_shard *s, const struct ans_node *n)
{
    return s->entries[n->idx].seq == n->seq;
}

static void heap_pop(struct ans_shard *s)
{
    s->heap[0] = s->heap[--s->heap_n];
    if (s->heap_n > 0)
        heap_down(s, 0);
}

/* Drops stale nodes from the top: afterwards the top, if any, is a live entry's. */
static void heap_clean_top(struct ans_shard *s)
{
    while (s->heap_n > 0 && !node_valid(s, &s->heap[0]))
        heap_pop(s);
}

/* Rebuilds the heap from the entries in the table: every stale node goes. */
static void heap_rebuild(struct ans_shard *s)
{
    s->heap_n = 0;
    for (uint32_t i = 0; i < s->fresh; i++) {
        const struct ans_entry *e = &s->entries[i];
        if (e->seq != 0)
            s->heap[s->heap_n++] = (struct ans_node){e->expires, e->seq, i};
    }
    for (uint32_t i = s->heap_n / 2; i-- > 0;)
        heap_down(s, i);
}

static void heap_push(struct ans_shard *s, uint32_t idx)
{
    const struct ans_entry *e = &s->entries[idx];

    if (s->heap_n == s->heap_cap)
        heap_rebuild(s); /* holds at most cap live nodes: room again */
    s->heap[s->heap_n] = (struct ans_node){e->expires, e->seq, idx};
    heap_up(s, s->heap_n++);
}

/* --- table (shard lock held) --- */

/* Returns the slot holding the key's entry, or the empty slot where it would go. */
static struct ans_slot *find_slot(struct ans_shard *s, const struct ans_key *k, uint32_t h)
{
    for (uint32_t i = h & s->mask;; i = (i + 1) & s->mask) {
        struct ans_slot *sl = &s->slots[i];
        if (sl->idx == ANS_NONE ||
            (sl->hash == h && memcmp(&s->entries[sl->idx].key, k, sizeof(*k)) == 0))
            return sl;
    }
}

/* Takes entry idx out of the table; its heap node goes stale. */
static void remove_entry(struct ans_shard *s, uint32_t idx)
{
    struct ans_entry *e = &s->entries[idx];
    uint32_t i = e->hash & s->mask;

    while (s->slots[i].idx != idx)
        i = (i + 1) & s->mask;
    /* Backward-shift deletion: pull later slots of the run into the hole when their home
     * position allows, so every key stays reachable from its home without tombstones. */
    for (uint32_t j = (i + 1) & s->mask; s->slots[j].idx != ANS_NONE; j = (j + 1) & s->mask) {
        uint32_t home = s->slots[j].hash & s->mask;
        /* Movable when home is not cyclically within (i, j]. */
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].idx = ANS_NONE;
    e->seq = 0;
    s->used--;
    e->next = s->free_head;
    s->free_head = idx;
}

/* Drops the entry that expires first: counted as expired if it had expired at now, else as
 * evicted. The shard holds at least one entry. */
static void drop_first(struct ans_shard *s, int64_t now)
{
    heap_clean_top(s);
    uint32_t idx = s->heap[0].idx;

    if (s->entries[idx].expires < now)
        s->expired++;
    else
        s->evicted++;
    heap_pop(s);
    remove_entry(s, idx);
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
    c->seed = make_seed(c);
    c->shards = aligned_alloc(TW_CACHE_LINE, conf.shards * sizeof(*c->shards));
    if (c->shards == NULL)
        goto out_free_cache;
    memset(c->shards, 0, conf.shards * sizeof(*c->shards));
    c->entries_size = (size_t)conf.capacity * sizeof(struct ans_entry);
    c->entries = tw_table_alloc(c->entries_size);
    if (c->entries == NULL)
        goto out_free_shards;
    size_t first = 0;

    for (unsigned i = 0; i < conf.shards; i++) {
        struct ans_shard *s = &c->shards[i];
        uint32_t nb = 1;

        s->cap = conf.capacity / conf.shards + (i < conf.capacity % conf.shards ? 1 : 0);
        while (nb < 2 * s->cap) /* at most half full: short probes */
            nb <<= 1;
        s->mask = nb - 1;
        s->heap_cap = 2 * s->cap;
        s->entries = c->entries + first;
        first += s->cap;
        s->slots = malloc((size_t)nb * sizeof(*s->slots));
        s->heap = malloc((size_t)s->heap_cap * sizeof(*s->heap));
        if (s->slots == NULL || s->heap == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->slots);
            free(s->heap);
            goto out_free_shards;
        }
        c->n_shards = i + 1;
        for (uint32_t j = 0; j < nb; j++)
            s->slots[j].idx = ANS_NONE;
        s->free_head = ANS_NONE;
    }
    return c;

out_free_shards:
    tw_anscache_free(c);
    return NULL;
out_free_cache:
    free(c);
    return NULL;
}

void tw_anscache_free(struct tw_anscache *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct ans_shard *s = &c->shards[i];
        pthread_mutex_destroy(&s->lock);
        free(s->slots);
        free(s->heap);
    }
    free(c->shards);
    tw_table_free(c->entries, c->entries_size);
    free(c);
}

int tw_anscache_put(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                    const uint8_t resolved[16], const char *qname, const char *const *chain,
                    size_t n_chain, uint32_t ttl, int64_t now)
{
    struct ans_key k;
    struct ans_text t;
    struct ans_shard *s;
    struct ans_entry *e;
    struct ans_slot *sl;
    uint32_t idx, h;
    uint64_t h64;
    int rc;

    if (!make_key(&k, version, client, resolved))
        return TW_EINVAL;
    rc = prepare_text(&t, qname, chain, n_chain);
    h64 = key_hash(&k, c->seed);
    h = (uint32_t)h64;
    s = shard_of(c, h64);
    if (rc == TW_EINVAL)
        return rc;
    if (rc != 0) {
        pthread_mutex_lock(&s->lock);
        s->refused++;
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    ttl = TW_MIN(TW_MAX(ttl, c->ttl_floor), c->ttl_ceiling);

    pthread_mutex_lock(&s->lock);
    sl = find_slot(s, &k, h);
    if (sl->idx != ANS_NONE) {
        idx = sl->idx;
        s->replaced++;
    } else {
        /* Reclaim a few expired entries, then make room; both only look at the top. */
        uint32_t before = s->used;
        for (int n = 0; n < ANS_RECLAIM_PER_PUT && s->used > 0; n++) {
            heap_clean_top(s);
            if (s->heap[0].expires >= now)
                break;
            drop_first(s, now);
        }
        if (s->used == s->cap)
            drop_first(s, now);
        if (s->used != before)
            sl = find_slot(s, &k, h); /* removals may have shifted the slots */
        if (s->free_head != ANS_NONE) {
            idx = s->free_head;
            s->free_head = s->entries[idx].next;
        } else {
            idx = s->fresh++;
        }
        e = &s->entries[idx];
        e->key = k;
        e->hash = h;
        sl->hash = h;
        sl->idx = idx;
        s->used++;
    }
    e = &s->entries[idx];
    e->expires = now + (int64_t)ttl;
    if (++s->seq == 0)
        s->seq = 1; /* 0 marks a free entry */
    e->seq = s->seq;
    e->flags = t.flags;
    e->name_len = t.name_len;
    e->chain_len = t.chain_len;
    memcpy(e->text, t.text, (size_t)t.name_len + t.chain_len);
    /* A replaced entry's old node goes stale; the new one takes its place in the order. */
    heap_push(s, idx);
    s->puts++;
    if (t.flags & TW_ANSF_CHAIN_TRUNCATED)
        s->truncated++;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

bool tw_anscache_lookup(struct tw_anscache *c, uint8_t version, const uint8_t client[16],
                        const uint8_t resolved[16], int64_t now, char *name, size_t cap,
                        char *chain, size_t chaincap, unsigned *flags)
{
    struct ans_key k;
    struct ans_shard *s;
    const struct ans_entry *e;
    struct ans_slot *sl;
    uint64_t h64;
    bool hit = false;

    if (!make_key(&k, version, client, resolved))
        return false;
    h64 = key_hash(&k, c->seed);
    s = shard_of(c, h64);

    pthread_mutex_lock(&s->lock);
    sl = find_slot(s, &k, (uint32_t)h64);
    if (sl->idx == ANS_NONE)
        goto out_unlock;
    e = &s->entries[sl->idx];
    if (e->expires < now) {
        s->expired++;
        remove_entry(s, sl->idx);
        goto out_unlock;
    }
    if (name == NULL || cap <= e->name_len)
        goto out_unlock;

    memcpy(name, e->text, e->name_len);
    name[e->name_len] = '\0';
    if (flags != NULL)
        *flags = e->flags;
    if (chain != NULL && chaincap > 0) {
        const char *src = e->text + e->name_len;
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
    pthread_mutex_unlock(&s->lock);
    return hit;
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

        pthread_mutex_lock(&s->lock);
        st->puts += s->puts;
        st->hits += s->hits;
        st->misses += s->misses;
        st->expired += s->expired;
        st->evicted += s->evicted;
        st->refused += s->refused;
        st->replaced += s->replaced;
        st->truncated += s->truncated;
        st->entries += s->used;
        pthread_mutex_unlock(&s->lock);
    }
}
