/* SPDX-License-Identifier: MIT */
/*
 * IP reassembly. A datagram's payload (at most 64 KiB) is addressed through a map of 64
 * blocks of 1 KiB taken from a shared pool as fragments reach them; each block carries a
 * bitmap of the 8-byte units it holds (fragment offsets count in 8-byte units, and only the
 * last fragment may end inside one). Adding a fragment walks its units: a unit not held yet
 * is copied and marked, a unit already held is compared (policy "first": the old bytes
 * stay). A datagram is complete when it holds its first fragment's header, its last
 * fragment, and every unit up to the end.
 */
#include "tunwatch/decode/defrag.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ilist.h"
#include "tunwatch/base/seed.h"
#include "tunwatch/decode/csum.h"

#define BLK_SHIFT 10
#define BLK_BYTES (1u << BLK_SHIFT)
#define BLK_UNITS (BLK_BYTES / 8)
#define MAP_BLOCKS (65536u / BLK_BYTES)
#define NONE UINT32_MAX

/* Zero-padded to a multiple of 8 bytes: hashed and compared as words. */
struct dkey {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint16_t vlan[2];
    uint8_t version, proto, encap, pad[5];
};
_Static_assert(sizeof(struct dkey) % 8 == 0, "the key is hashed as 64-bit words");

struct tracker {
    struct dkey key;
    uint32_t hnext;      /* hash chain */
    struct tw_ilink age; /* age list, oldest first (age.next: free list when unused) */
    int64_t deadline;
    uint32_t nfrags;
    uint32_t units;   /* 8-byte units held */
    uint32_t total;   /* payload length, once the last fragment is seen */
    uint32_t max_end; /* highest end of any fragment so far */
    bool have_first, have_last;
    uint8_t nh;                     /* IPv6: Next Header of the first fragment */
    uint8_t vlans, vlan_count;
    uint16_t hdr_len, nh_off;
    uint32_t blk[MAP_BLOCKS];
    uint8_t hdr[TW_DEFRAG_HDR_MAX];
};

struct tw_defrag {
    struct tw_defrag_config cfg;
    struct tracker *t;
    uint32_t *bucket;
    uint32_t mask;
    uint32_t free_t;       /* free trackers used before, chained through age.next */
    uint32_t fresh_t;      /* trackers never used: fresh_t and after */
    struct tw_ilist ages;  /* trackers in use, oldest first */
    uint32_t in_flight;
    uint8_t *data;         /* nblk blocks of BLK_BYTES */
    uint64_t (*bits)[BLK_UNITS / 64];
    uint32_t *bfree;       /* stack of free block indices used before */
    uint32_t nbfree, nblk;
    uint32_t fresh_blk;    /* blocks never used: fresh_blk and after */
    uint64_t seed;
    uint8_t frame[TW_DEFRAG_FRAME_MAX];
};

static size_t block_cost(void)
{
    return BLK_BYTES + sizeof(((struct tw_defrag *)0)->bits[0]) + sizeof(uint32_t);
}

/* Hash buckets for max_datagrams: a power of two, at least twice as many. */
static uint32_t buckets(uint32_t max_datagrams)
{
    uint32_t nb = 1;
    while (nb < max_datagrams * 2u)
        nb <<= 1;
    return nb;
}

static size_t fixed_cost(const struct tw_defrag_config *cfg)
{
    return sizeof(struct tw_defrag) + (size_t)cfg->max_datagrams * sizeof(struct tracker) +
           (size_t)buckets(cfg->max_datagrams) * sizeof(uint32_t);
}

size_t tw_defrag_min_memory(const struct tw_defrag_config *cfg)
{
    return fixed_cost(cfg) + MAP_BLOCKS * block_cost();
}

struct tw_defrag *tw_defrag_new(const struct tw_defrag_config *cfg)
{
    if (cfg->max_frags == 0 || cfg->max_datagrams == 0 || cfg->max_datagrams > (1u << 24))
        return NULL;
    uint32_t nb = buckets(cfg->max_datagrams);
    size_t fixed = fixed_cost(cfg);
    if (cfg->memory < fixed + MAP_BLOCKS * block_cost())
        return NULL;
    size_t nblk = (cfg->memory - fixed) / block_cost();
    if (nblk > UINT32_MAX - 1)
        nblk = UINT32_MAX - 1;

    struct tw_defrag *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->cfg = *cfg;
    d->nblk = (uint32_t)nblk;
    d->mask = nb - 1;
    d->t = calloc(cfg->max_datagrams, sizeof(*d->t));
    d->bucket = malloc((size_t)nb * sizeof(*d->bucket));
    d->data = malloc(nblk * BLK_BYTES);
    d->bits = calloc(nblk, sizeof(*d->bits));
    d->bfree = malloc(nblk * sizeof(*d->bfree));
    if (d->t == NULL || d->bucket == NULL || d->data == NULL || d->bits == NULL ||
        d->bfree == NULL) {
        tw_defrag_free(d);
        return NULL;
    }
    for (uint32_t i = 0; i < nb; i++)
        d->bucket[i] = NONE;
    /* Trackers and blocks are taken in order the first time, from the free lists after: no
     * list is built here, and memory never used is never touched (a capture without
     * fragments costs the buckets alone). */
    d->free_t = NONE;
    tw_ilist_init(&d->ages);
    d->seed = tw_random_seed(d);
    return d;
}

void tw_defrag_free(struct tw_defrag *d)
{
    if (d == NULL)
        return;
    free(d->t);
    free(d->bucket);
    free(d->data);
    free(d->bits);
    free(d->bfree);
    free(d);
}

uint32_t tw_defrag_in_flight(const struct tw_defrag *d)
{
    return d->in_flight;
}

size_t tw_defrag_bytes_held(const struct tw_defrag *d)
{
    return (size_t)(d->fresh_blk - d->nbfree) * BLK_BYTES;
}

static uint32_t key_hash(const struct tw_defrag *d, const struct dkey *k)
{
    uint64_t h = d->seed, w;
    const uint8_t *p = (const uint8_t *)k;

    for (size_t i = 0; i < sizeof(*k); i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    h *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* Unlinks tracker i from its hash chain and the age list, gives back its blocks. */
static void drop_tracker(struct tw_defrag *d, uint32_t i)
{
    struct tracker *t = &d->t[i];
    uint32_t *pp = &d->bucket[key_hash(d, &t->key) & d->mask];

    while (*pp != i)
        pp = &d->t[*pp].hnext;
    *pp = t->hnext;
    tw_ilist_unlink(&d->ages, &d->t[0].age, sizeof(d->t[0]), i);
    for (unsigned b = 0; b < MAP_BLOCKS; b++) {
        if (t->blk[b] != NONE) {
            memset(d->bits[t->blk[b]], 0, sizeof(d->bits[0]));
            d->bfree[d->nbfree++] = t->blk[b];
        }
    }
    t->age.next = d->free_t;
    d->free_t = i;
    d->in_flight--;
}

void tw_defrag_expire(struct tw_defrag *d, int64_t now, struct tw_defrag_stats *st)
{
    while (d->ages.head != NONE && d->t[d->ages.head].deadline <= now) {
        drop_tracker(d, d->ages.head);
        st->timeout++;
    }
}

static uint32_t lookup(struct tw_defrag *d, const struct dkey *k, uint32_t h)
{
    for (uint32_t i = d->bucket[h & d->mask]; i != NONE; i = d->t[i].hnext)
        if (memcmp(&d->t[i].key, k, sizeof(*k)) == 0)
            return i;
    return NONE;
}

/* A new tracker for k (the oldest datagram is dropped when none is free). */
static uint32_t create(struct tw_defrag *d, const struct dkey *k, uint32_t h, int64_t now,
                       struct tw_defrag_stats *st)
{
    uint32_t i;

    if (d->free_t == NONE && d->fresh_t < d->cfg.max_datagrams) {
        i = d->fresh_t++;
    } else {
        if (d->free_t == NONE) {
            drop_tracker(d, d->ages.head);
            st->evicted++;
        }
        i = d->free_t;
        d->free_t = d->t[i].age.next;
    }
    struct tracker *t = &d->t[i];
    memset(t, 0, offsetof(struct tracker, blk));
    for (unsigned b = 0; b < MAP_BLOCKS; b++)
        t->blk[b] = NONE;
    t->key = *k;
    t->deadline = now + d->cfg.timeout;
    t->hnext = d->bucket[h & d->mask];
    d->bucket[h & d->mask] = i;
    tw_ilist_push_tail(&d->ages, &d->t[0].age, sizeof(d->t[0]), i);
    d->in_flight++;
    return i;
}

/* Makes sure tracker i has every block [b0, b1]: drops older datagrams for room. False
 * when even that is not enough. */
static bool take_blocks(struct tw_defrag *d, uint32_t i, unsigned b0, unsigned b1,
                        struct tw_defrag_stats *st)
{
    struct tracker *t = &d->t[i];
    uint32_t need = 0;

    for (unsigned b = b0; b <= b1; b++)
        need += t->blk[b] == NONE;
    while (d->nbfree + (d->nblk - d->fresh_blk) < need) {
        uint32_t victim = d->ages.head == i ? d->t[i].age.next : d->ages.head;
        if (victim == NONE)
            return false;
        drop_tracker(d, victim);
        st->evicted++;
    }
    for (unsigned b = b0; b <= b1; b++)
        if (t->blk[b] == NONE)
            t->blk[b] = d->nbfree > 0 ? d->bfree[--d->nbfree] : d->fresh_blk++;
    return true;
}

/* Writes the reassembled frame of tracker i into d->frame and frees the tracker. */
static size_t assemble(struct tw_defrag *d, uint32_t i)
{
    struct tracker *t = &d->t[i];
    uint8_t *o = d->frame;

    o[0] = t->vlan_count;
    o[1] = t->key.encap;
    o[2] = t->vlans;
    o[3] = 0;
    o[4] = (uint8_t)(t->key.vlan[0] >> 8);
    o[5] = (uint8_t)t->key.vlan[0];
    o[6] = (uint8_t)(t->key.vlan[1] >> 8);
    o[7] = (uint8_t)t->key.vlan[1];
    uint8_t *h = o + TW_DEFRAG_PREAMBLE;
    memcpy(h, t->hdr, t->hdr_len);
    uint8_t *p = h + t->hdr_len;
    for (uint32_t off = 0; off < t->total; off += BLK_BYTES) {
        uint32_t n = TW_MIN(BLK_BYTES, t->total - off);
        memcpy(p + off, d->data + (size_t)t->blk[off >> BLK_SHIFT] * BLK_BYTES, n);
    }
    if (t->key.version == 4) {
        uint32_t tot = t->hdr_len + t->total;
        h[2] = (uint8_t)(tot >> 8);
        h[3] = (uint8_t)tot;
        h[6] &= 0x40; /* DF stays; MF and the offset go */
        h[7] = 0;
        tw_csum_ip4_fill(h, t->hdr_len);
    } else {
        uint32_t plen = t->hdr_len - 40 + t->total;
        h[4] = (uint8_t)(plen >> 8);
        h[5] = (uint8_t)plen;
        h[t->nh_off] = t->nh;
    }
    size_t len = TW_DEFRAG_PREAMBLE + t->hdr_len + t->total;
    drop_tracker(d, i);
    return len;
}

int tw_defrag_add(struct tw_defrag *d, const struct tw_frag *f, int64_t now,
                  const uint8_t **frame, size_t *len, struct tw_defrag_stats *st)
{
    struct dkey k;
    size_t alen = f->version == 4 ? 4 : 16;

    tw_defrag_expire(d, now, st);
    st->fragments++;
    if (f->version == 4)
        st->ip4_fragments++;
    else
        st->ip6_fragments++;
    if (f->cap_len < f->data_len) {
        st->truncated++;
        return 0;
    }
    size_t flen = f->more ? f->data_len & ~(size_t)7 : f->data_len;
    size_t off = f->offset;
    size_t end = off + flen;
    /* The datagram's length field: IPv4 total length, IPv6 payload length. */
    size_t whole = f->version == 4 ? f->hdr_len + end : f->hdr_len - 40 + end;

    memset(&k, 0, sizeof(k));
    memcpy(k.src, f->hdr + (f->version == 4 ? 12 : 8), alen);
    memcpy(k.dst, f->hdr + (f->version == 4 ? 16 : 24), alen);
    k.id = f->id;
    k.vlan[0] = f->vlan_count > 0 ? f->vlan[0] : 0;
    k.vlan[1] = f->vlan_count > 1 ? f->vlan[1] : 0;
    k.version = f->version;
    k.proto = f->version == 4 ? f->proto : 0; /* IPv6: (source, destination, id) */
    k.encap = f->encap;
    uint32_t h = key_hash(d, &k);
    uint32_t i = lookup(d, &k, h);

    if (whole > 65535) {
        st->oversize++;
        if (i != NONE)
            drop_tracker(d, i);
        return 0;
    }
    if (flen == 0) {
        st->bad_length++;
        return 0;
    }
    if ((off == 0 && ((f->proto == 6 && flen < 20) || (f->proto == 17 && flen < 8))) ||
        (f->version == 4 && f->proto == 6 && off == 8)) {
        st->tiny++;
        return 0;
    }
    if (off == 0 && f->hdr_len > TW_DEFRAG_HDR_MAX) {
        st->header_too_long++;
        return 0;
    }
    if (i == NONE)
        i = create(d, &k, h, now, st);
    struct tracker *t = &d->t[i];
    if (t->nfrags >= d->cfg.max_frags) {
        st->too_many_frags++;
        drop_tracker(d, i);
        return 0;
    }
    if ((!f->more && ((t->have_last && end != t->total) || end < t->max_end)) ||
        (f->more && t->have_last && end > t->total)) {
        st->bad_end++;
        drop_tracker(d, i);
        return 0;
    }
    if (!take_blocks(d, i, (unsigned)(off >> BLK_SHIFT), (unsigned)((end - 1) >> BLK_SHIFT), st)) {
        st->no_memory++;
        drop_tracker(d, i);
        return 0;
    }
    t = &d->t[i];

    bool same = false, conflict = false;
    for (size_t pos = off; pos < end; pos += 8) {
        size_t n = TW_MIN((size_t)8, end - pos);
        uint32_t b = t->blk[pos >> BLK_SHIFT];
        unsigned u = (unsigned)((pos & (BLK_BYTES - 1)) >> 3);
        uint64_t *word = &d->bits[b][u >> 6], bit = (uint64_t)1 << (u & 63);
        uint8_t *dst = d->data + (size_t)b * BLK_BYTES + (pos & (BLK_BYTES - 1));
        const uint8_t *src = f->data + (pos - off);
        if (*word & bit) {
            if (memcmp(dst, src, n) != 0)
                conflict = true;
            else
                same = true;
        } else {
            memcpy(dst, src, n);
            *word |= bit;
            t->units++;
        }
    }
    if (conflict)
        st->overlap_conflict++;
    else if (same)
        st->overlap++;
    t->nfrags++;
    if (end > t->max_end)
        t->max_end = (uint32_t)end;
    if (!f->more) {
        t->have_last = true;
        t->total = (uint32_t)end;
    }
    if (off == 0 && !t->have_first) {
        t->have_first = true;
        memcpy(t->hdr, f->hdr, f->hdr_len);
        t->hdr_len = (uint16_t)f->hdr_len;
        t->nh_off = (uint16_t)f->nh_off;
        t->nh = f->proto;
        t->vlans = f->vlans;
        t->vlan_count = f->vlan_count;
    }
    if (!t->have_first || !t->have_last || t->units != (t->total + 7) / 8)
        return 0;
    st->reassembled++;
    *len = assemble(d, i);
    *frame = d->frame;
    return 1;
}

size_t tw_defrag_counters(const struct tw_defrag_stats *st, const char **names, uint64_t *values,
                          size_t cap)
{
    const struct {
        const char *name;
        uint64_t v;
    } c[] = {
        {"defrag_overlap", st->overlap},
        {"defrag_overlap_conflict", st->overlap_conflict},
        {"defrag_timeout", st->timeout},
        {"defrag_evicted", st->evicted},
        {"defrag_no_memory", st->no_memory},
        {"defrag_too_many_frags", st->too_many_frags},
        {"defrag_oversize", st->oversize},
        {"defrag_tiny", st->tiny},
        {"defrag_bad_end", st->bad_end},
        {"defrag_truncated", st->truncated},
        {"defrag_header_too_long", st->header_too_long},
        {"defrag_bad_length", st->bad_length},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(c) && i < cap; i++) {
        names[i] = c[i].name;
        values[i] = c[i].v;
    }
    return TW_ARRAY_SIZE(c);
}
