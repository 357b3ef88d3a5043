/* SPDX-License-Identifier: MIT */
/*
 * DNS answer cache: sharded, fixed-size, expiry-ordered. See anscache.h for the contract and
 * for why per-shard mutexes are acceptable on the packet path.
 *
 * Each shard holds `cap` preallocated entries, a bucket array (chains through entry.next; free
 * entries are chained the same way from free_head) and a binary min-heap of entry indices
 * ordered by (expires, seq), so the entry that expires first is always heap[0]: eviction and
 * reclaiming expired entries cost O(log cap), never a scan.
 */
#include "tunwatch/anscache.h"

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
    uint32_t next;      /* bucket chain or free list */
    uint32_t heap_pos;  /* index of this entry in the shard's heap */
    uint16_t name_len;  /* text[0..name_len) is the queried name */
    uint16_t chain_len; /* text[name_len..name_len + chain_len) is the joined chain */
    int64_t expires;    /* live while now <= expires */
    uint64_t seq;       /* put order within the shard: breaks ties on expires, older first */
    uint8_t flags;      /* TW_ANSF_* */
    char text[TW_ANSCACHE_TEXT_MAX];
};

struct ans_shard {
    _Alignas(TW_CACHE_LINE) pthread_mutex_t lock;
    struct ans_entry *entries;
    uint32_t *buckets;
    uint32_t *heap;
    uint32_t cap;
    uint32_t used; /* entries in the table, also the heap's size */
    uint32_t mask; /* buckets - 1 */
    uint32_t free_head;
    uint64_t seq;
    uint64_t puts, hits, misses, expired, evicted, refused, replaced, truncated;
};

struct tw_anscache {
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

static bool heap_before(const struct ans_shard *s, uint32_t a, uint32_t b)
{
    const struct ans_entry *ea = &s->entries[a], *eb = &s->entries[b];

    if (ea->expires != eb->expires)
        return ea->expires < eb->expires;
    return ea->seq < eb->seq;
}

static void heap_set(struct ans_shard *s, uint32_t pos, uint32_t idx)
{
    s->heap[pos] = idx;
    s->entries[idx].heap_pos = pos;
}

static void heap_up(struct ans_shard *s, uint32_t pos)
{
    uint32_t idx = s->heap[pos];

    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!heap_before(s, idx, s->heap[parent]))
            break;
        heap_set(s, pos, s->heap[parent]);
        pos = parent;
    }
    heap_set(s, pos, idx);
}

static void heap_down(struct ans_shard *s, uint32_t pos)
{
    uint32_t idx = s->heap[pos];

    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= s->used)
            break;
        if (child + 1 < s->used && heap_before(s, s->heap[child + 1], s->heap[child]))
            child++;
        if (!heap_before(s, s->heap[child], idx))
            break;
        heap_set(s, pos, s->heap[child]);
        pos = child;
    }
    heap_set(s, pos, idx);
}

/* --- table (shard lock held) --- */

/* Returns the link (bucket head or an entry's next) that holds the key's entry, or the chain's
 * terminating link (*link == ANS_NONE) when the key is absent. */
static uint32_t *find_link(struct ans_shard *s, const struct ans_key *k, uint32_t h)
{
    uint32_t *link = &s->buckets[h & s->mask];

    while (*link != ANS_NONE) {
        struct ans_entry *e = &s->entries[*link];
        if (e->hash == h && memcmp(&e->key, k, sizeof(*k)) == 0)
            break;
        link = &e->next;
    }
    return link;
}

static void remove_entry(struct ans_shard *s, uint32_t idx)
{
    struct ans_entry *e = &s->entries[idx];
    uint32_t *link = &s->buckets[e->hash & s->mask];
    uint32_t pos = e->heap_pos;

    while (*link != idx)
        link = &s->entries[*link].next;
    *link = e->next;

    s->used--;
    if (pos != s->used) {
        heap_set(s, pos, s->heap[s->used]);
        heap_up(s, pos); /* whichever applies; the other is then a no-op */
        heap_down(s, pos);
    }

    e->next = s->free_head;
    s->free_head = idx;
}

/* Drops heap[0]: counted as expired if it had expired at now, else as evicted. */
static void drop_first(struct ans_shard *s, int64_t now)
{
    uint32_t idx = s->heap[0];

    if (s->entries[idx].expires < now)
        s->expired++;
    else
        s->evicted++;
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

    for (unsigned i = 0; i < conf.shards; i++) {
        struct ans_shard *s = &c->shards[i];
        uint32_t nb = 1;

        s->cap = conf.capacity / conf.shards + (i < conf.capacity % conf.shards ? 1 : 0);
        while (nb < s->cap)
            nb <<= 1;
        s->mask = nb - 1;
        s->entries = calloc(s->cap, sizeof(*s->entries));
        s->buckets = malloc((size_t)nb * sizeof(*s->buckets));
        s->heap = malloc((size_t)s->cap * sizeof(*s->heap));
        if (s->entries == NULL || s->buckets == NULL || s->heap == NULL ||
            pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->entries);
            free(s->buckets);
            free(s->heap);
            goto out_free_shards;
        }
        c->n_shards = i + 1;
        memset(s->buckets, 0xff, (size_t)nb * sizeof(*s->buckets));
        for (uint32_t j = 0; j < s->cap; j++)
            s->entries[j].next = j + 1 < s->cap ? j + 1 : ANS_NONE;
        s->free_head = 0;
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
        free(s->entries);
        free(s->buckets);
        free(s->heap);
    }
    free(c->shards);
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
    uint32_t *link, idx, h;
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
    link = find_link(s, &k, h);
    if (*link != ANS_NONE) {
        idx = *link;
        s->replaced++;
    } else {
        /* Reclaim a few expired entries, then make room; both only touch heap[0]. */
        for (int n = 0; n < ANS_RECLAIM_PER_PUT && s->used > 0; n++) {
            if (s->entries[s->heap[0]].expires >= now)
                break;
            drop_first(s, now);
        }
        if (s->used == s->cap)
            drop_first(s, now);
        idx = s->free_head;
        e = &s->entries[idx];
        s->free_head = e->next;
        e->key = k;
        e->hash = h;
        e->next = s->buckets[h & s->mask];
        s->buckets[h & s->mask] = idx;
        e->heap_pos = s->used++;
        s->heap[e->heap_pos] = idx;
    }
    e = &s->entries[idx];
    e->expires = now + (int64_t)ttl;
    e->seq = ++s->seq;
    e->flags = t.flags;
    e->name_len = t.name_len;
    e->chain_len = t.chain_len;
    memcpy(e->text, t.text, (size_t)t.name_len + t.chain_len);
    /* A replacement may move either way; a new entry sits at the heap's end. */
    heap_up(s, e->heap_pos);
    heap_down(s, e->heap_pos);
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
    uint32_t *link;
    uint64_t h64;
    bool hit = false;

    if (!make_key(&k, version, client, resolved))
        return false;
    h64 = key_hash(&k, c->seed);
    s = shard_of(c, h64);

    pthread_mutex_lock(&s->lock);
    link = find_link(s, &k, (uint32_t)h64);
    if (*link == ANS_NONE)
        goto out_unlock;
    e = &s->entries[*link];
    if (e->expires < now) {
        s->expired++;
        remove_entry(s, *link);
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
