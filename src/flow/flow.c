/* SPDX-License-Identifier: MIT */
#include "tunwatch/flow/flow.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/ilist.h"
#include "tunwatch/base/prefault.h"
#include "tunwatch/base/seed.h"

#define EXPIRE_PER_INSERT 2
#define BUCKET_WAYS 7
#define N_CLASSES 4

_Static_assert(EXPIRE_PER_INSERT <= TW_FLOW_RETIRE_MAX, "lazy expiry retires too many flows");
_Static_assert(sizeof(struct tw_flow_key) == 40, "flow key must be 40 bytes without padding");
_Static_assert(sizeof(struct tw_flow) + TW_FLOW_OWNER_HOT <= TW_CACHE_LINE,
               "the table's part and the owner's hot bytes share the entry's first line");

/*
 * One cache line: up to seven flows by signature (the hash's high half) and entry index + 1,
 * so that zeroed memory is an empty bucket (the array is not touched before it is used).
 */
struct bucket {
    uint32_t sig[BUCKET_WAYS];
    uint32_t ref[BUCKET_WAYS]; /* entry index + 1; 0: a free way */
    uint32_t ovf;              /* overflow chain through tw_flow.next (index + 1; 0: none) */
    uint32_t pad;
};
_Static_assert(sizeof(struct bucket) == TW_CACHE_LINE, "a bucket is one cache line");

_Static_assert(TW_FLOW_NONE == TW_ILIST_NONE, "the timeout lists end where the flow table's do");

/*
 * Slots: capacity + TW_FLOW_RETIRE_MAX entries of entry_size bytes. At most `capacity` flows
 * are active; the flows one call retires stay untouched (for the caller to finish) until the
 * next call puts them on the free list, and the spare slots guarantee the new flow a slot
 * meanwhile.
 */
struct tw_flow_table {
    uint8_t *slots;
    struct tw_flow_meta *meta;
    struct tw_ilink *links; /* each flow's place in the list of its timeout class */
    struct bucket *buckets;
    size_t entry_size; /* a power of two */
    unsigned entry_shift;
    uint32_t n_slots;
    uint32_t n_buckets;
    uint32_t mask;
    uint32_t capacity;
    uint32_t free_head; /* free entries, chained through tw_flow.next */
    uint32_t used;      /* entries handed out at least once */
    struct tw_ilist lru[N_CLASSES]; /* per timeout class, least recently seen first */
    int64_t timeout[N_CLASSES];
    uint8_t n_retired; /* retired by the last call, freed by the next */
    uint32_t retired[TW_FLOW_RETIRE_MAX];
    uint64_t seed;
    uint64_t next_id;
    uint64_t id_stride;
    struct tw_flow_table_stats st;
};

static inline struct tw_flow *entry(const struct tw_flow_table *t, uint32_t i)
{
    return (struct tw_flow *)(t->slots + ((size_t)i << t->entry_shift));
}

static inline uint32_t index_of(const struct tw_flow_table *t, const struct tw_flow *f)
{
    return (uint32_t)(((const uint8_t *)f - t->slots) >> t->entry_shift);
}

struct tw_flow_table *tw_flow_table_new(uint32_t capacity, uint32_t idle_timeout,
                                        uint32_t short_timeout, size_t entry_size)
{
    struct tw_flow_table *t;
    uint32_t nb = 1;
    size_t es = TW_CACHE_LINE;
    unsigned shift = 6;

    if (capacity == 0 || capacity > (UINT32_MAX >> 2) ||
        entry_size < sizeof(struct tw_flow) + TW_FLOW_OWNER_HOT || entry_size > 4096)
        return NULL;
    while (es < entry_size) {
        es <<= 1;
        shift++;
    }
    /* Two flows a bucket on average when full: a bucket overflows (8 or more) about once in a
     * thousand. */
    while (nb < (capacity + 1) / 2)
        nb <<= 1;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->capacity = capacity;
    t->entry_size = es;
    t->entry_shift = shift;
    t->n_slots = capacity + TW_FLOW_RETIRE_MAX;
    /* Zeroed, mapped as used (entries are handed out in order), in huge pages if allowed. */
    t->slots = tw_table_alloc((size_t)t->n_slots << shift);
    t->meta = tw_table_alloc((size_t)t->n_slots * sizeof(*t->meta));
    t->links = tw_table_alloc((size_t)t->n_slots * sizeof(*t->links));
    t->n_buckets = nb;
    t->buckets = tw_table_alloc((size_t)nb * sizeof(*t->buckets));
    if (t->slots == NULL || t->meta == NULL || t->links == NULL || t->buckets == NULL) {
        tw_flow_table_free(t);
        return NULL;
    }
    t->free_head = TW_FLOW_NONE;
    t->mask = nb - 1;
    for (int c = 0; c < N_CLASSES; c++)
        tw_ilist_init(&t->lru[c]);
    t->timeout[TW_FLOW_TIMEOUT_DEFAULT] = idle_timeout;
    t->timeout[TW_FLOW_TIMEOUT_SHORT] = short_timeout;
    t->timeout[TW_FLOW_TIMEOUT_HOLDING] = idle_timeout;
    t->timeout[TW_FLOW_TIMEOUT_DONE] = short_timeout;
    t->seed = tw_random_seed(t);
    t->next_id = 1;
    t->id_stride = 1;
    t->st.capacity = capacity;
    return t;
}

int tw_flow_table_prefault(struct tw_flow_table *t, struct tw_prefault *pf, uint32_t ahead)
{
    int rc;

    /* Buckets are written at random places: whole. The rest in the order entries are used. */
    if ((rc = tw_prefault_add(pf, t->buckets, (size_t)t->n_buckets * sizeof(*t->buckets), NULL,
                              0, 0)) != 0 ||
        (rc = tw_prefault_add(pf, t->slots, (size_t)t->n_slots << t->entry_shift, &t->used,
                              t->entry_size, (size_t)ahead << t->entry_shift)) != 0 ||
        (rc = tw_prefault_add(pf, t->meta, (size_t)t->n_slots * sizeof(*t->meta), &t->used,
                              sizeof(*t->meta), (size_t)ahead * sizeof(*t->meta))) != 0)
        return rc;
    return tw_prefault_add(pf, t->links, (size_t)t->n_slots * sizeof(*t->links), &t->used,
                           sizeof(*t->links), (size_t)ahead * sizeof(*t->links));
}

void tw_flow_table_free(struct tw_flow_table *t)
{
    if (t == NULL)
        return;
    tw_table_free(t->slots, (size_t)t->n_slots << t->entry_shift);
    tw_table_free(t->meta, (size_t)t->n_slots * sizeof(*t->meta));
    tw_table_free(t->links, (size_t)t->n_slots * sizeof(*t->links));
    tw_table_free(t->buckets, (size_t)t->n_buckets * sizeof(*t->buckets));
    free(t);
}

/* An address of p (16 bytes, IPv4 in the first 4) as its two words in memory order; *be the
 * first word's value in memcmp() order (big-endian), for the sides' order. An IPv4 address
 * is read as its 4 bytes, whatever follows them. */
static inline void addr_words(const uint8_t *a, uint8_t version, uint64_t w[2], uint64_t *be0,
                              uint64_t *be1)
{
    if (version == 4) {
        uint32_t x;
        memcpy(&x, a, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        w[0] = x; /* the 4 bytes first, then zeros */
#else
        w[0] = (uint64_t)x << 32;
#endif
        w[1] = 0;
        *be0 = (uint64_t)tw_load_be32(a) << 32;
        *be1 = 0;
        return;
    }
    w[0] = tw_load64(a);
    w[1] = tw_load64(a + 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    *be0 = __builtin_bswap64(w[0]);
    *be1 = __builtin_bswap64(w[1]);
#else
    *be0 = w[0];
    *be1 = w[1];
#endif
}

/*
 * The canonical key of p (the lower address, then the lower port, on side 0) into pre, with
 * its hash, and the side of p's source. The key's five words are made in registers, hashed
 * there and stored whole: a key written field by field and read back as words would wait
 * for each narrow store to be forwarded. The words are the key's bytes in memory order (the
 * layout of struct tw_flow_key), so the hash is that of the stored key.
 */
static inline void make_pre(const struct tw_flow_table *t, const struct tw_pkt *p,
                            struct tw_flow_pre *pre)
{
    uint64_t s[2], d[2], sb0, sb1, db0, db1, w[5];

    addr_words(p->src, p->ip_version, s, &sb0, &sb1);
    addr_words(p->dst, p->ip_version, d, &db0, &db1);
    bool swap = sb0 != db0 ? sb0 > db0 : sb1 != db1 ? sb1 > db1 : p->sport > p->dport;
    uint64_t lo_port = swap ? p->dport : p->sport, hi_port = swap ? p->sport : p->dport;
    uint64_t vlan = p->vlan_count > 0 ? p->vlan[0] : 0;

    w[0] = swap ? d[0] : s[0];
    w[1] = swap ? d[1] : s[1];
    w[2] = swap ? s[0] : d[0];
    w[3] = swap ? s[1] : d[1];
    _Static_assert(offsetof(struct tw_flow_key, port) == 32 &&
                       offsetof(struct tw_flow_key, vlan) == 36 &&
                       offsetof(struct tw_flow_key, proto) == 38 &&
                       offsetof(struct tw_flow_key, version) == 39,
                   "the key's last word: ports, VLAN, protocol, version");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w[4] = lo_port | hi_port << 16 | vlan << 32 | (uint64_t)p->l4_proto << 48 |
           (uint64_t)p->ip_version << 56;
#else
    w[4] = lo_port << 48 | hi_port << 32 | vlan << 16 | (uint64_t)p->l4_proto << 8 |
           p->ip_version;
#endif
    uint64_t h = t->seed;
    /* Five 64-bit words, one multiply each, then a final avalanche so both halves (bucket
     * index, signature) depend on every input bit. */
    for (size_t i = 0; i < 5; i++)
        h = (h ^ w[i]) * 0xbf58476d1ce4e5b9ULL;
    memcpy(&pre->key, w, sizeof(pre->key));
    pre->hash = tw_mix64(h);
    pre->side = swap ? 1 : 0;
}

static void lru_unlink(struct tw_flow_table *t, uint32_t i)
{
    tw_ilist_unlink(&t->lru[t->meta[i].timeout], t->links, sizeof(*t->links), i);
}

static void lru_append(struct tw_flow_table *t, uint32_t i)
{
    tw_ilist_push_tail(&t->lru[t->meta[i].timeout], t->links, sizeof(*t->links), i);
}

static void bucket_add(struct tw_flow_table *t, uint32_t i, uint64_t h)
{
    struct bucket *b = &t->buckets[h & t->mask];

    for (int w = 0; w < BUCKET_WAYS; w++) {
        if (b->ref[w] == 0) {
            b->sig[w] = (uint32_t)(h >> 32);
            b->ref[w] = i + 1;
            return;
        }
    }
    entry(t, i)->next = b->ovf;
    b->ovf = i + 1;
    t->st.chained++;
}

static void bucket_remove(struct tw_flow_table *t, uint32_t i)
{
    struct bucket *b = &t->buckets[t->meta[i].hash & t->mask];
    uint32_t *pp;

    for (int w = 0; w < BUCKET_WAYS; w++) {
        if (b->ref[w] == i + 1) {
            b->ref[w] = 0;
            return;
        }
    }
    for (pp = &b->ovf; *pp != 0; pp = &entry(t, *pp - 1)->next) {
        if (*pp == i + 1) {
            *pp = entry(t, i)->next;
            return;
        }
    }
}

/* Takes entry i out of the table (bucket and LRU) and hands it to the caller as retired. */
static void retire(struct tw_flow_table *t, uint32_t i, struct tw_flow_lookup *res)
{
    bucket_remove(t, i);
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

static bool idle(const struct tw_flow_table *t, uint32_t i, int64_t now)
{
    return now - entry(t, i)->last_sec > t->timeout[t->meta[i].timeout];
}

void tw_flow_table_set_timeout(struct tw_flow_table *t, enum tw_flow_timeout c, uint32_t secs)
{
    if ((unsigned)c < N_CLASSES)
        t->timeout[c] = secs;
}

/* The least recently seen flow of the first class (done, holding, short, default) whose head
 * is idle, or TW_FLOW_NONE. */
static uint32_t idle_head(const struct tw_flow_table *t, int64_t now)
{
    for (int c = N_CLASSES - 1; c >= 0; c--) {
        uint32_t i = t->lru[c].head;
        if (i != TW_FLOW_NONE && idle(t, i, now))
            return i;
    }
    return TW_FLOW_NONE;
}

/* A slot for a new flow: expires (expire) or evicts what it must, listing it in res. */
static uint32_t take_entry(struct tw_flow_table *t, int64_t now, bool expire,
                           struct tw_flow_lookup *res)
{
    uint32_t i;

    /* Lazily expire a few idle flows so a quiet table does not keep stale state. */
    for (int n = 0; expire && n < EXPIRE_PER_INSERT; n++) {
        i = idle_head(t, now);
        if (i == TW_FLOW_NONE)
            break;
        retire(t, i, res);
        t->st.expired++;
    }
    /* Full: let the least recently seen finished exchange go, else one-shot flow, else the
     * least recently seen of the default class, and a flow holding part of a name only when
     * nothing else is left. */
    if (t->st.active == t->capacity) {
        i = t->lru[TW_FLOW_TIMEOUT_DONE].head;
        if (i == TW_FLOW_NONE)
            i = t->lru[TW_FLOW_TIMEOUT_SHORT].head;
        if (i == TW_FLOW_NONE)
            i = t->lru[TW_FLOW_TIMEOUT_DEFAULT].head;
        if (i == TW_FLOW_NONE) {
            i = t->lru[TW_FLOW_TIMEOUT_HOLDING].head;
            t->st.evicted_holding++;
        }
        retire(t, i, res);
        t->st.evicted++;
    }
    if (t->free_head != TW_FLOW_NONE) {
        i = t->free_head;
        t->free_head = entry(t, i)->next;
        return i;
    }
    /* Entries never used yet: handed out in order, so untouched memory stays unmapped. The
     * spare slots make sure one is left (see struct tw_flow_table). A prefaulter may be
     * reading how many (tw_flow_table_prefault). */
    i = t->used;
    tw_prefault_count_set(&t->used, i + 1);
    return i;
}

/* Identity and times of a new flow in slot i; the owner's part is zeroed. */
static void init_flow(struct tw_flow_table *t, uint32_t i, int64_t sec, uint32_t nsec)
{
    struct tw_flow *f = entry(t, i);
    struct tw_flow_meta *m = &t->meta[i];

    memset((uint8_t *)f + sizeof(*f), 0, t->entry_size - sizeof(*f));
    f->last_sec = sec;
    f->pkts = 1;
    m->id = t->next_id;
    t->next_id += t->id_stride;
    m->first_sec = sec;
    m->first_nsec = nsec;
    t->st.created++;
}

/* Index of the entry holding key k (hash h), or TW_FLOW_NONE. */
static inline uint32_t lookup(const struct tw_flow_table *t, const struct tw_flow_key *k,
                              uint64_t h)
{
    uint32_t sig = (uint32_t)(h >> 32);
    const struct bucket *b = &t->buckets[h & t->mask];

    for (int w = 0; w < BUCKET_WAYS; w++)
        if (b->sig[w] == sig && b->ref[w] != 0 &&
            memcmp(&entry(t, b->ref[w] - 1)->key, k, sizeof(*k)) == 0)
            return b->ref[w] - 1;
    for (uint32_t j = b->ovf; j != 0; j = entry(t, j - 1)->next)
        if (memcmp(&entry(t, j - 1)->key, k, sizeof(*k)) == 0)
            return j - 1;
    return TW_FLOW_NONE;
}

/* A packet of active flow i at time sec: counted, and the flow moved in its LRU list. */
static inline void touch(struct tw_flow_table *t, uint32_t i, int64_t sec)
{
    struct tw_flow *f = entry(t, i);

    f->pkts++;
    /* The LRU order only needs one-second resolution (timeouts are in seconds), so a flow is
     * moved at most once a second: most packets touch no other line. */
    if (f->last_sec != sec) {
        f->last_sec = sec;
        if (t->lru[t->meta[i].timeout].tail != i) {
            lru_unlink(t, i);
            lru_append(t, i);
        }
    }
}

void tw_flow_prepare(const struct tw_flow_table *t, const struct tw_pkt *p,
                     struct tw_flow_pre *pre)
{
    make_pre(t, p, pre);
    __builtin_prefetch(&t->buckets[pre->hash & t->mask]);
}

void tw_flow_prefetch(const struct tw_flow_table *t, const struct tw_flow_pre *pre)
{
    const struct bucket *b = &t->buckets[pre->hash & t->mask];
    uint32_t sig = (uint32_t)(pre->hash >> 32);

    for (int w = 0; w < BUCKET_WAYS; w++)
        if (b->sig[w] == sig && b->ref[w] != 0) {
            __builtin_prefetch(entry(t, b->ref[w] - 1));
            return;
        }
}

struct tw_flow *tw_flow_get_pre(struct tw_flow_table *t, const struct tw_flow_pre *pre,
                                int64_t sec, uint32_t nsec, struct tw_flow_lookup *res)
{
    uint64_t h = pre->hash;
    uint32_t i;
    struct tw_flow *f;
    bool expire = true;

    free_retired(t);
    res->n_retired = 0;
    res->side = pre->side;
    i = lookup(t, &pre->key, h);
    if (i != TW_FLOW_NONE) {
        if (!idle(t, i, sec)) {
            touch(t, i, sec);
            res->created = false;
            return entry(t, i);
        }
        /* Idle past the timeout: whatever comes now is a new flow on the same 5-tuple, as if
         * the entry had been expired in time (and nothing else is expired now). */
        retire(t, i, res);
        t->st.expired++;
        expire = false;
    }
    i = take_entry(t, sec, expire, res);
    f = entry(t, i);
    f->key = pre->key;
    init_flow(t, i, sec, nsec);
    t->meta[i].hash = h;
    t->meta[i].timeout = TW_FLOW_TIMEOUT_DEFAULT;
    bucket_add(t, i, h);
    lru_append(t, i);
    t->st.active++;
    res->created = true;
    return f;
}

struct tw_flow *tw_flow_get(struct tw_flow_table *t, const struct tw_pkt *p, int64_t sec,
                            uint32_t nsec, struct tw_flow_lookup *res)
{
    struct tw_flow_pre pre;

    make_pre(t, p, &pre);
    return tw_flow_get_pre(t, &pre, sec, nsec, res);
}

struct tw_flow *tw_flow_find_pre(struct tw_flow_table *t, const struct tw_flow_pre *pre,
                                 int64_t sec)
{
    uint32_t i = lookup(t, &pre->key, pre->hash);

    return i != TW_FLOW_NONE && !idle(t, i, sec) ? entry(t, i) : NULL;
}

struct tw_flow *tw_flow_find(struct tw_flow_table *t, const struct tw_pkt *p, int64_t sec,
                             uint8_t *side)
{
    struct tw_flow_pre pre;

    make_pre(t, p, &pre);
    *side = pre.side;
    return tw_flow_find_pre(t, &pre, sec);
}

void tw_flow_touch(struct tw_flow_table *t, struct tw_flow *f, int64_t sec)
{
    touch(t, index_of(t, f), sec);
}

const struct tw_flow_meta *tw_flow_meta(const struct tw_flow_table *t, const struct tw_flow *f)
{
    return &t->meta[index_of(t, f)];
}

void tw_flow_set_timeout(struct tw_flow_table *t, struct tw_flow *f, enum tw_flow_timeout to)
{
    uint32_t i = index_of(t, f);

    if (t->meta[i].timeout == to)
        return;
    lru_unlink(t, i);
    t->meta[i].timeout = (uint8_t)to;
    lru_append(t, i);
}

void tw_flow_restart(struct tw_flow_table *t, struct tw_flow *f, int64_t sec, uint32_t nsec)
{
    uint32_t i = index_of(t, f);

    init_flow(t, i, sec, nsec);
    tw_flow_set_timeout(t, f, TW_FLOW_TIMEOUT_DEFAULT);
}

void tw_flow_table_set_ids(struct tw_flow_table *t, uint64_t first, uint64_t stride)
{
    t->next_id = first;
    t->id_stride = stride ? stride : 1;
}

void tw_flow_table_foreach(struct tw_flow_table *t, void (*fn)(void *ctx, struct tw_flow *f),
                           void *ctx)
{
    for (int c = 0; c < N_CLASSES; c++)
        for (uint32_t i = t->lru[c].head; i != TW_FLOW_NONE; i = t->links[i].next)
            fn(ctx, entry(t, i));
}

void tw_flow_table_get_stats(const struct tw_flow_table *t, struct tw_flow_table_stats *st)
{
    *st = t->st;
}
