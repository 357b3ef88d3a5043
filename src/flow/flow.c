/* SPDX-License-Identifier: MIT */
#include "tunwatch/flow/flow.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"

#define EXPIRE_PER_INSERT 2
_Static_assert(EXPIRE_PER_INSERT <= TW_FLOW_RETIRE_MAX, "lazy expiry retires too many flows");

/*
 * Slots: capacity + TW_FLOW_RETIRE_MAX entries of entry_size bytes. At most `capacity` flows
 * are active; the flows one call retires stay untouched (for the caller to finish) until the
 * next call puts them on the free list, and the spare slots guarantee the new flow a slot
 * meanwhile.
 */
struct tw_flow_table {
    uint8_t *slots;
    size_t entry_size;
    uint32_t n_slots;
    uint32_t *buckets;
    uint32_t n_buckets;
    uint32_t mask;
    uint32_t capacity;
    uint32_t free_head; /* free entries, chained through next */
    uint32_t used;      /* entries handed out at least once */
    uint32_t lru_head;  /* least recently seen */
    uint32_t lru_tail;  /* most recently seen */
    uint32_t idle_timeout;
    uint8_t n_retired; /* retired by the last call, freed by the next */
    uint32_t retired[TW_FLOW_RETIRE_MAX];
    uint64_t next_id;
    uint64_t id_stride;
    struct tw_flow_table_stats st;
};

static inline struct tw_flow *entry(const struct tw_flow_table *t, uint32_t i)
{
    return (struct tw_flow *)(t->slots + (size_t)i * t->entry_size);
}

struct tw_flow_table *tw_flow_table_new(uint32_t capacity, uint32_t idle_timeout, size_t entry_size)
{
    struct tw_flow_table *t;
    uint32_t nb = 1;

    if (capacity == 0 || capacity > (UINT32_MAX >> 2) || entry_size < sizeof(struct tw_flow) ||
        entry_size > 4096)
        return NULL;
    while (nb < capacity * 2u)
        nb <<= 1;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->capacity = capacity;
    t->entry_size = (entry_size + 7) & ~(size_t)7;
    t->n_slots = capacity + TW_FLOW_RETIRE_MAX;
    /* Zeroed, mapped as used (entries are handed out in order), in huge pages if allowed. */
    t->slots = tw_table_alloc((size_t)t->n_slots * t->entry_size);
    t->n_buckets = nb;
    t->buckets = tw_table_alloc((size_t)nb * sizeof(*t->buckets));
    if (t->slots == NULL || t->buckets == NULL) {
        tw_flow_table_free(t);
        return NULL;
    }
    memset(t->buckets, 0xff, (size_t)nb * sizeof(*t->buckets));
    t->free_head = TW_FLOW_NONE;
    t->mask = nb - 1;
    t->lru_head = t->lru_tail = TW_FLOW_NONE;
    t->idle_timeout = idle_timeout;
    t->next_id = 1;
    t->id_stride = 1;
    t->st.capacity = capacity;
    return t;
}

void tw_flow_table_free(struct tw_flow_table *t)
{
    if (t == NULL)
        return;
    tw_table_free(t->slots, (size_t)t->n_slots * t->entry_size);
    tw_table_free(t->buckets, (size_t)t->n_buckets * sizeof(*t->buckets));
    free(t);
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Builds the canonical key of p; returns the side of p's source. */
static uint8_t make_key(const struct tw_pkt *p, struct tw_flow_key *k)
{
    size_t alen = p->ip_version == 4 ? 4 : 16;
    int c = memcmp(p->src, p->dst, alen);
    uint8_t side = (c > 0 || (c == 0 && p->sport > p->dport)) ? 1 : 0;

    memset(k, 0, sizeof(*k));
    memcpy(k->addr[side], p->src, alen);
    memcpy(k->addr[side ^ 1], p->dst, alen);
    k->port[side] = p->sport;
    k->port[side ^ 1] = p->dport;
    k->vlan = p->vlan_count > 0 ? p->vlan[0] : 0;
    k->proto = p->l4_proto;
    k->version = p->ip_version;
    return side;
}

static uint32_t key_hash(const struct tw_flow_key *k)
{
    const uint8_t *b = (const uint8_t *)k;
    uint64_t h = 0x9e3779b97f4a7c15ULL;

    /* The key is 40 bytes with no padding: five 64-bit words, one multiply each, then a
     * final avalanche so the low bits (the bucket index) depend on every input bit. */
    for (size_t i = 0; i < sizeof(*k); i += 8)
        h = (h ^ rd64(b + i)) * 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)tw_mix64(h);
}

_Static_assert(sizeof(struct tw_flow_key) == 40, "flow key must be 40 bytes without padding");

static void lru_unlink(struct tw_flow_table *t, uint32_t i)
{
    struct tw_flow *f = entry(t, i);

    if (f->lru_prev != TW_FLOW_NONE)
        entry(t, f->lru_prev)->lru_next = f->lru_next;
    else
        t->lru_head = f->lru_next;
    if (f->lru_next != TW_FLOW_NONE)
        entry(t, f->lru_next)->lru_prev = f->lru_prev;
    else
        t->lru_tail = f->lru_prev;
}

static void lru_append(struct tw_flow_table *t, uint32_t i)
{
    struct tw_flow *f = entry(t, i);

    f->lru_prev = t->lru_tail;
    f->lru_next = TW_FLOW_NONE;
    if (t->lru_tail != TW_FLOW_NONE)
        entry(t, t->lru_tail)->lru_next = i;
    else
        t->lru_head = i;
    t->lru_tail = i;
}

static void bucket_unlink(struct tw_flow_table *t, uint32_t i)
{
    uint32_t *pp = &t->buckets[entry(t, i)->hash & t->mask];

    while (*pp != TW_FLOW_NONE) {
        if (*pp == i) {
            *pp = entry(t, i)->next;
            return;
        }
        pp = &entry(t, *pp)->next;
    }
}

/* Takes entry i out of the table (bucket and LRU) and hands it to the caller as retired. */
static void retire(struct tw_flow_table *t, uint32_t i, struct tw_flow_lookup *res)
{
    bucket_unlink(t, i);
    lru_unlink(t, i);
    t->st.active--;
    t->retired[t->n_retired++] = i;
    res->retired[res->n_retired++] = entry(t, i);
}

/* The flows the previous call retired have been finished by now: their slots are free. */
static void free_retired(struct tw_flow_table *t)
{
    for (unsigned k = 0; k < t->n_retired; k++) {
        entry(t, t->retired[k])->next = t->free_head;
        t->free_head = t->retired[k];
    }
    t->n_retired = 0;
}

/* A slot for a new flow: expires (expire) or evicts what it must, listing it in res. */
static uint32_t take_entry(struct tw_flow_table *t, int64_t now, bool expire,
                           struct tw_flow_lookup *res)
{
    uint32_t i;

    /* Lazily expire a few idle flows so a quiet table does not keep stale state. */
    for (int n = 0; expire && n < EXPIRE_PER_INSERT && t->lru_head != TW_FLOW_NONE; n++) {
        i = t->lru_head;
        if (now - entry(t, i)->last_sec <= (int64_t)t->idle_timeout)
            break;
        retire(t, i, res);
        t->st.expired++;
    }
    /* Full: let the least recently seen flow go. */
    if (t->st.active == t->capacity) {
        retire(t, t->lru_head, res);
        t->st.evicted++;
    }
    if (t->free_head != TW_FLOW_NONE) {
        i = t->free_head;
        t->free_head = entry(t, i)->next;
        return i;
    }
    /* Entries never used yet: handed out in order, so untouched memory stays unmapped. The
     * spare slots make sure one is left (see struct tw_flow_table). */
    return t->used++;
}

/* Identity and times of a new flow; the owner's part is zeroed. */
static void init_flow(struct tw_flow_table *t, struct tw_flow *f, int64_t sec, uint32_t nsec)
{
    memset((uint8_t *)f + sizeof(*f), 0, t->entry_size - sizeof(*f));
    f->id = t->next_id;
    t->next_id += t->id_stride;
    f->first_sec = f->last_sec = sec;
    f->first_nsec = nsec;
    f->pkts = 1;
    t->st.created++;
}

struct tw_flow *tw_flow_get(struct tw_flow_table *t, const struct tw_pkt *p, int64_t sec,
                            uint32_t nsec, struct tw_flow_lookup *res)
{
    struct tw_flow_key k;
    uint32_t h, i;
    struct tw_flow *f;
    bool expire = true;

    free_retired(t);
    res->n_retired = 0;
    res->side = make_key(p, &k);
    h = key_hash(&k);
    for (i = t->buckets[h & t->mask]; i != TW_FLOW_NONE; i = f->next) {
        f = entry(t, i);
        if (f->hash != h || memcmp(&f->key, &k, sizeof(k)) != 0)
            continue;
        if (sec - f->last_sec > (int64_t)t->idle_timeout) {
            /* Idle past the timeout: whatever comes now is a new flow on the same 5-tuple,
             * as if the entry had been expired in time (and nothing else is expired now). */
            retire(t, i, res);
            t->st.expired++;
            expire = false;
            break;
        }
        f->pkts++;
        /* The LRU order only needs one-second resolution (timeouts are in seconds), so a
         * flow is moved at most once a second: most packets touch no other entry. */
        if (f->last_sec != sec) {
            f->last_sec = sec;
            if (t->lru_tail != i) {
                lru_unlink(t, i);
                lru_append(t, i);
            }
        }
        res->created = false;
        return f;
    }
    i = take_entry(t, sec, expire, res);
    f = entry(t, i);
    f->key = k;
    f->hash = h;
    init_flow(t, f, sec, nsec);
    f->next = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = i;
    lru_append(t, i);
    t->st.active++;
    res->created = true;
    return f;
}

void tw_flow_restart(struct tw_flow_table *t, struct tw_flow *f, int64_t sec, uint32_t nsec)
{
    init_flow(t, f, sec, nsec);
}

void tw_flow_table_set_ids(struct tw_flow_table *t, uint64_t first, uint64_t stride)
{
    t->next_id = first;
    t->id_stride = stride ? stride : 1;
}

void tw_flow_table_foreach(struct tw_flow_table *t, void (*fn)(void *ctx, struct tw_flow *f),
                           void *ctx)
{
    for (uint32_t i = t->lru_head; i != TW_FLOW_NONE; i = entry(t, i)->lru_next)
        fn(ctx, entry(t, i));
}

void tw_flow_table_get_stats(const struct tw_flow_table *t, struct tw_flow_table_stats *st)
{
    *st = t->st;
}
