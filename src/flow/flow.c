/* SPDX-License-Identifier: MIT */
#include "tunwatch/flow/flow.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/flow/stream.h"

#define EXPIRE_PER_INSERT 2

struct tw_flow_table {
    struct tw_flow *flows;
    uint32_t *buckets;
    uint32_t n_buckets;
    uint32_t mask;
    uint32_t capacity;
    uint32_t free_head; /* expired entries, chained through next */
    uint32_t used;      /* entries handed out at least once */
    uint32_t lru_head; /* least recently seen */
    uint32_t lru_tail; /* most recently seen */
    uint32_t idle_timeout;
    uint64_t next_id;
    uint64_t id_stride;
    tw_flow_release_fn release;
    void *release_ctx;
    struct tw_flow_table_stats st;
};

struct tw_flow_table *tw_flow_table_new(uint32_t capacity, uint32_t idle_timeout,
                                        tw_flow_release_fn release, void *ctx)
{
    struct tw_flow_table *t;
    uint32_t nb = 1;

    if (capacity == 0 || capacity > (UINT32_MAX >> 2))
        return NULL;
    while (nb < capacity * 2u)
        nb <<= 1;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->capacity = capacity;
    /* Zeroed, mapped as used (entries are handed out in order), in huge pages if allowed. */
    t->flows = tw_table_alloc((size_t)capacity * sizeof(*t->flows));
    t->n_buckets = nb;
    t->buckets = tw_table_alloc((size_t)nb * sizeof(*t->buckets));
    if (t->flows == NULL || t->buckets == NULL) {
        tw_flow_table_free(t);
        return NULL;
    }
    memset(t->buckets, 0xff, (size_t)nb * sizeof(*t->buckets));
    t->free_head = TW_FLOW_NONE;
    t->mask = nb - 1;
    t->capacity = capacity;
    t->lru_head = t->lru_tail = TW_FLOW_NONE;
    t->idle_timeout = idle_timeout;
    t->next_id = 1;
    t->id_stride = 1;
    t->release = release;
    t->release_ctx = ctx;
    t->st.capacity = capacity;
    return t;
}

void tw_flow_table_free(struct tw_flow_table *t)
{
    if (t == NULL)
        return;
    tw_table_free(t->flows, (size_t)t->capacity * sizeof(*t->flows));
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
    struct tw_flow *f = &t->flows[i];

    if (f->lru_prev != TW_FLOW_NONE)
        t->flows[f->lru_prev].lru_next = f->lru_next;
    else
        t->lru_head = f->lru_next;
    if (f->lru_next != TW_FLOW_NONE)
        t->flows[f->lru_next].lru_prev = f->lru_prev;
    else
        t->lru_tail = f->lru_prev;
}

static void lru_append(struct tw_flow_table *t, uint32_t i)
{
    struct tw_flow *f = &t->flows[i];

    f->lru_prev = t->lru_tail;
    f->lru_next = TW_FLOW_NONE;
    if (t->lru_tail != TW_FLOW_NONE)
        t->flows[t->lru_tail].lru_next = i;
    else
        t->lru_head = i;
    t->lru_tail = i;
}

static void bucket_unlink(struct tw_flow_table *t, uint32_t i)
{
    uint32_t *pp = &t->buckets[t->flows[i].hash & t->mask];

    while (*pp != TW_FLOW_NONE) {
        if (*pp == i) {
            *pp = t->flows[i].next;
            return;
        }
        pp = &t->flows[*pp].next;
    }
}

/* Takes entry i out of the table (bucket and LRU), releasing what it holds. */
static void remove_entry(struct tw_flow_table *t, uint32_t i)
{
    if (t->release != NULL)
        t->release(t->release_ctx, &t->flows[i]);
    bucket_unlink(t, i);
    lru_unlink(t, i);
    t->st.active--;
}

static uint32_t take_entry(struct tw_flow_table *t, int64_t now)
{
    uint32_t i;

    /* Lazily expire a few idle flows so a quiet table does not keep stale state. */
    for (int n = 0; n < EXPIRE_PER_INSERT && t->lru_head != TW_FLOW_NONE; n++) {
        i = t->lru_head;
        if (now - t->flows[i].last_sec <= (int64_t)t->idle_timeout)
            break;
        remove_entry(t, i);
        t->st.expired++;
        t->flows[i].next = t->free_head;
        t->free_head = i;
    }
    if (t->free_head != TW_FLOW_NONE) {
        i = t->free_head;
        t->free_head = t->flows[i].next;
        return i;
    }
    /* Entries never used yet: handed out in order, so untouched memory stays unmapped. */
    if (t->used < t->capacity)
        return t->used++;
    /* Full: recycle the least recently seen flow. */
    i = t->lru_head;
    t->st.evicted++;
    remove_entry(t, i);
    return i;
}

struct tw_flow *tw_flow_get(struct tw_flow_table *t, const struct tw_pkt *p, int64_t now,
                            uint8_t *side, bool *created)
{
    struct tw_flow_key k;
    uint32_t h, i;
    struct tw_flow *f;

    *side = make_key(p, &k);
    h = key_hash(&k);
    for (i = t->buckets[h & t->mask]; i != TW_FLOW_NONE; i = t->flows[i].next) {
        f = &t->flows[i];
        if (f->hash == h && memcmp(&f->key, &k, sizeof(k)) == 0) {
            if (now - f->last_sec > (int64_t)t->idle_timeout) {
                /* Idle past the timeout: whatever comes now is a new flow on the same
                 * 5-tuple, as if the entry had been expired in time. */
                t->st.expired++;
                tw_flow_restart(t, f, now); /* counted as created */
                if (t->lru_tail != i) {
                    lru_unlink(t, i);
                    lru_append(t, i);
                }
                *created = true;
                return f;
            }
            f->pkts++;
            /* The LRU order only needs one-second resolution (timeouts are in seconds), so a
             * flow is moved at most once a second: most packets touch no other entry. */
            if (f->last_sec != now) {
                f->last_sec = now;
                if (t->lru_tail != i) {
                    lru_unlink(t, i);
                    lru_append(t, i);
                }
            }
            *created = false;
            return f;
        }
    }
    i = take_entry(t, now);
    f = &t->flows[i];
    memset(f, 0, sizeof(*f));
    f->key = k;
    f->hash = h;
    f->id = t->next_id;
    t->next_id += t->id_stride;
    f->first_sec = f->last_sec = now;
    f->pkts = 1;
    f->stream = f->sstream = TW_STREAM_NONE;
    f->initiator = f->client = TW_SIDE_UNKNOWN;
    f->next = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = i;
    lru_append(t, i);
    t->st.active++;
    t->st.created++;
    *created = true;
    return f;
}

void tw_flow_restart(struct tw_flow_table *t, struct tw_flow *f, int64_t now)
{
    if (t->release != NULL)
        t->release(t->release_ctx, f);
    f->id = t->next_id;
    t->next_id += t->id_stride;
    f->first_sec = f->last_sec = now;
    f->pkts = 1;
    f->first_nsec = 0;
    f->client_next = f->server_next = 0;
    f->stream = f->sstream = TW_STREAM_NONE;
    f->initiator = f->client = TW_SIDE_UNKNOWN;
    f->state = TW_FLOW_NEW;
    f->flags = f->xflags = 0;
    f->isn = 0;
    f->scan_left = 0;
    t->st.created++;
}

void tw_flow_table_set_ids(struct tw_flow_table *t, uint64_t first, uint64_t stride)
{
    t->next_id = first;
    t->id_stride = stride ? stride : 1;
}

void tw_flow_table_foreach(struct tw_flow_table *t, void (*fn)(void *ctx, struct tw_flow *f),
                           void *ctx)
{
    for (uint32_t i = t->lru_head; i != TW_FLOW_NONE; i = t->flows[i].lru_next)
        fn(ctx, &t->flows[i]);
}

void tw_flow_table_get_stats(const struct tw_flow_table *t, struct tw_flow_table_stats *st)
{
    *st = t->st;
}
