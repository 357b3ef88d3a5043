/* SPDX-License-Identifier: MIT */
/*
 * Alert suppression: sharded fixed-size table of alert keys. See suppress.h for the contract.
 *
 * Each shard preallocates `cap` entries, taken in order until all are used and then reused by
 * eviction only, so there is no free list. Entries are found through an open-addressing index
 * (linear probing, at most half full, backward-shift deletion) of 8-byte slots holding a
 * 32-bit hash and the entry's index, and kept in a doubly linked list by the time their
 * window opened, newest first: reopening a window moves the entry to the front, eviction
 * takes the back. Entries only ever leave by eviction, which reuses the entry at once.
 */
#include "tunwatch/match/suppress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ascii.h"
#include "tunwatch/base/ilist.h"

#define SUP_NONE UINT32_MAX
#define SUP_MAX_CAP (1u << 30)
#define SUP_MIN_SHARD 256
#define SUP_MAX_SHARDS 64
#define SUP_SEED1 0x243f6a8885a308d3ULL /* fixed: replays must agree (see suppress.h) */
#define SUP_SEED2 0x13198a2e03707344ULL

struct sup_entry {
    uint64_t h1, h2;     /* hash of rule id and name */
    uint8_t src[16];     /* source address, zero beyond its version's length */
    int64_t opened;      /* capture time the current window opened */
    uint64_t suppressed; /* alerts suppressed since */
    struct tw_ilink link; /* list by opening time: prev is newer */
    uint32_t ihash;      /* index hash */
    uint8_t version;
};

_Static_assert(sizeof(struct sup_entry) == 64, "a suppression entry is one cache line");

struct sup_slot {
    uint32_t hash;
    uint32_t idx; /* SUP_NONE: empty */
};

struct sup_shard {
    _Alignas(TW_CACHE_LINE) pthread_mutex_t lock;
    struct sup_entry *entries;
    struct sup_slot *slots;
    uint32_t cap, used, mask;
    struct tw_ilist order; /* by opening time: head the newest, tail the oldest */
    uint64_t passed, suppressed, reported, pending, lost, evicted, evicted_in_window;
};

struct tw_suppress {
    struct sup_shard *shards;
    unsigned n_shards;
    uint32_t capacity;
    uint32_t window;
};

/* The key of one call, computed before locking. */
struct sup_key {
    uint64_t h1, h2;
    uint8_t src[16];
    uint8_t version;
    uint64_t kh; /* high half picks the shard, low half the index slot */
};

struct sup_hasher {
    uint64_t h1, h2, word, total;
    unsigned nb;
};

static void hash_word(struct sup_hasher *h)
{
    h->h1 = tw_mix64(h->h1 ^ h->word);
    h->h2 = tw_mix64(h->h2 ^ (h->word << 29 | h->word >> 35) ^ 0x9e3779b97f4a7c15ULL);
    h->word = 0;
    h->nb = 0;
}

static void hash_byte(struct sup_hasher *h, unsigned char c)
{
    h->word |= (uint64_t)c << (8 * h->nb);
    h->total++;
    if (++h->nb == 8)
        hash_word(h);
}

static void hash_lower(struct sup_hasher *h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        hash_byte(h, tw_ascii_lower(c));
    }
}

static void make_key(struct sup_key *k, const char *rule_id, const struct tw_event *ev,
                     const char *name)
{
    struct sup_hasher h = {SUP_SEED1, SUP_SEED2, 0, 0, 0};
    size_t nlen = name != NULL ? strlen(name) : 0;
    uint64_t a, b;

    if (rule_id != NULL)
        hash_lower(&h, rule_id, strlen(rule_id));
    hash_byte(&h, 0); /* separator: neither a rule id nor a name holds a NUL */
    if (nlen > 0 && name[nlen - 1] == '.')
        nlen--;
    hash_lower(&h, name, nlen);
    if (h.nb > 0)
        hash_word(&h);
    h.word = h.total;
    hash_word(&h);
    k->h1 = h.h1;
    k->h2 = h.h2;

    memset(k->src, 0, sizeof(k->src));
    k->version = 0;
    if (ev != NULL && (ev->ip_version == 4 || ev->ip_version == 6)) {
        k->version = ev->ip_version;
        memcpy(k->src, ev->src_addr, ev->ip_version == 4 ? 4 : 16);
    }
    memcpy(&a, k->src, 8);
    memcpy(&b, k->src + 8, 8);
    k->kh = tw_mix64(k->h1 ^ tw_mix64(a ^ tw_mix64(b ^ k->version)));
}

struct tw_suppress *tw_suppress_new(uint32_t window_secs, uint32_t capacity)
{
    struct tw_suppress *s;
    unsigned n;

    if (capacity == 0 || capacity > SUP_MAX_CAP)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    n = capacity / SUP_MIN_SHARD;
    n = n < 1 ? 1 : n > SUP_MAX_SHARDS ? SUP_MAX_SHARDS : n;
    s->capacity = capacity;
    s->window = window_secs;
    s->shards = aligned_alloc(TW_CACHE_LINE, n * sizeof(*s->shards));
    if (s->shards == NULL)
        goto out_free;
    memset(s->shards, 0, n * sizeof(*s->shards));
    for (unsigned i = 0; i < n; i++) {
        struct sup_shard *sh = &s->shards[i];
        uint32_t cap = capacity / n + (i < capacity % n ? 1 : 0);
        size_t nslots = 4;

        while (nslots < 2 * (size_t)cap)
            nslots *= 2;
        sh->cap = cap;
        sh->mask = (uint32_t)(nslots - 1);
        tw_ilist_init(&sh->order);
        sh->entries = calloc(cap, sizeof(*sh->entries));
        sh->slots = malloc(nslots * sizeof(*sh->slots));
        if (sh->entries == NULL || sh->slots == NULL || pthread_mutex_init(&sh->lock, NULL) != 0) {
            free(sh->entries);
            free(sh->slots);
            s->n_shards = i;
            goto out_free;
        }
        for (size_t j = 0; j < nslots; j++)
            sh->slots[j].idx = SUP_NONE;
    }
    s->n_shards = n;
    return s;

out_free:
    tw_suppress_free(s);
    return NULL;
}

void tw_suppress_free(struct tw_suppress *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->n_shards; i++) {
        pthread_mutex_destroy(&s->shards[i].lock);
        free(s->shards[i].entries);
        free(s->shards[i].slots);
    }
    free(s->shards);
    free(s);
}

/* |now - opened| < window, without overflow. */
static bool in_window(int64_t opened, int64_t now, uint32_t window)
{
    uint64_t d =
        now >= opened ? (uint64_t)now - (uint64_t)opened : (uint64_t)opened - (uint64_t)now;
    return d < window;
}

static bool same_key(const struct sup_entry *e, const struct sup_key *k)
{
    return e->h1 == k->h1 && e->h2 == k->h2 && e->version == k->version &&
           memcmp(e->src, k->src, sizeof(e->src)) == 0;
}

/* Slot of the key, or of the empty slot where it would go. */
static uint32_t find_slot(const struct sup_shard *sh, const struct sup_key *k)
{
    uint32_t ih = (uint32_t)k->kh, j = ih & sh->mask;

    while (sh->slots[j].idx != SUP_NONE &&
           !(sh->slots[j].hash == ih && same_key(&sh->entries[sh->slots[j].idx], k)))
        j = (j + 1) & sh->mask;
    return j;
}

/* Removes entry idx from the index (backward-shift deletion: no tombstones). */
static void index_remove(struct sup_shard *sh, uint32_t idx)
{
    uint32_t i = sh->entries[idx].ihash & sh->mask, k;

    while (sh->slots[i].idx != idx)
        i = (i + 1) & sh->mask;
    sh->slots[i].idx = SUP_NONE;
    for (k = (i + 1) & sh->mask; sh->slots[k].idx != SUP_NONE; k = (k + 1) & sh->mask) {
        uint32_t home = sh->slots[k].hash & sh->mask;

        if (((k - home) & sh->mask) < ((k - i) & sh->mask))
            continue; /* its home lies after the hole: it stays */
        sh->slots[i] = sh->slots[k];
        sh->slots[k].idx = SUP_NONE;
        i = k;
    }
}

static void list_unlink(struct sup_shard *sh, uint32_t idx)
{
    tw_ilist_unlink(&sh->order, &sh->entries[0].link, sizeof(sh->entries[0]), idx);
}

static void list_push_newest(struct sup_shard *sh, uint32_t idx)
{
    tw_ilist_push_head(&sh->order, &sh->entries[0].link, sizeof(sh->entries[0]), idx);
}

bool tw_suppress_check(struct tw_suppress *s, const char *rule_id, const struct tw_event *ev,
                       const char *name, int64_t now, uint64_t *suppressed_before)
{
    struct sup_key k;
    struct sup_shard *sh;
    struct sup_entry *e;
    uint64_t before = 0;
    uint32_t j, idx;

    if (suppressed_before != NULL)
        *suppressed_before = 0;
    if (s == NULL)
        return false;
    make_key(&k, rule_id, ev, name);
    sh = &s->shards[((k.kh >> 32) * (uint64_t)s->n_shards) >> 32];

    pthread_mutex_lock(&sh->lock);
    j = find_slot(sh, &k);
    idx = sh->slots[j].idx;
    if (idx != SUP_NONE) {
        e = &sh->entries[idx];
        if (in_window(e->opened, now, s->window)) {
            e->suppressed++;
            sh->suppressed++;
            sh->pending++;
            pthread_mutex_unlock(&sh->lock);
            return true;
        }
        before = e->suppressed;
        sh->pending -= before;
        sh->reported += before;
        list_unlink(sh, idx);
    } else {
        if (sh->used < sh->cap) {
            idx = sh->used++;
        } else {
            idx = sh->order.tail;
            e = &sh->entries[idx];
            sh->evicted++;
            if (in_window(e->opened, now, s->window))
                sh->evicted_in_window++;
            sh->lost += e->suppressed;
            sh->pending -= e->suppressed;
            index_remove(sh, idx);
            list_unlink(sh, idx);
            j = find_slot(sh, &k); /* the removal may have moved slots */
        }
        e = &sh->entries[idx];
        e->h1 = k.h1;
        e->h2 = k.h2;
        memcpy(e->src, k.src, sizeof(e->src));
        e->version = k.version;
        e->ihash = (uint32_t)k.kh;
        sh->slots[j].hash = e->ihash;
        sh->slots[j].idx = idx;
    }
    e = &sh->entries[idx];
    e->opened = now;
    e->suppressed = 0;
    list_push_newest(sh, idx);
    sh->passed++;
    pthread_mutex_unlock(&sh->lock);
    if (suppressed_before != NULL)
        *suppressed_before = before;
    return false;
}

void tw_suppress_get_stats(struct tw_suppress *s, struct tw_suppress_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (s == NULL)
        return;
    st->capacity = s->capacity;
    st->window_secs = s->window;
    for (unsigned i = 0; i < s->n_shards; i++) {
        struct sup_shard *sh = &s->shards[i];

        pthread_mutex_lock(&sh->lock);
        st->passed += sh->passed;
        st->suppressed += sh->suppressed;
        st->reported += sh->reported;
        st->pending += sh->pending;
        st->lost += sh->lost;
        st->evicted += sh->evicted;
        st->evicted_in_window += sh->evicted_in_window;
        st->entries += sh->used;
        pthread_mutex_unlock(&sh->lock);
    }
}
