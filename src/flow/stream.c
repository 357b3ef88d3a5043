/* SPDX-License-Identifier: MIT */
#include "tunwatch/flow/stream.h"

#include <stdlib.h>
#include <string.h>
#include "tunwatch/base/alloc.h"
#include "tunwatch/base/prefault.h"

void tw_stream_reset(struct tw_stream *s, uint32_t base_seq)
{
    s->base_seq = base_seq;
    s->contig = 0;
    s->n_gaps = 0;
    s->conflicts = 0;
}

void tw_stream_move(struct tw_stream *dst, const struct tw_stream *src)
{
    uint32_t total = src->contig;

    for (uint32_t i = 0; i < src->n_gaps; i++)
        if (src->island[i].end > total)
            total = src->island[i].end;
    dst->base_seq = src->base_seq;
    dst->contig = src->contig;
    dst->n_gaps = src->n_gaps;
    dst->conflicts = src->conflicts;
    memcpy(dst->island, src->island, sizeof(dst->island));
    memcpy(dst->data, src->data, total);
}

/* Absorbs islands that now touch the contiguous prefix. */
static void absorb_islands(struct tw_stream *s)
{
    uint32_t i = 0;

    while (i < s->n_gaps && s->island[i].start <= s->contig) {
        if (s->island[i].end > s->contig)
            s->contig = s->island[i].end;
        i++;
    }
    if (i > 0) {
        memmove(&s->island[0], &s->island[i], (s->n_gaps - i) * sizeof(s->island[0]));
        s->n_gaps -= i;
    }
}

/* Inserts [start, end) into the sorted, disjoint island list, merging neighbours. */
static bool insert_island(struct tw_stream *s, uint32_t start, uint32_t end)
{
    uint32_t i = 0, j;

    while (i < s->n_gaps && s->island[i].end < start)
        i++;
    /* Islands i..j-1 overlap or touch [start, end). */
    j = i;
    while (j < s->n_gaps && s->island[j].start <= end) {
        if (s->island[j].start < start)
            start = s->island[j].start;
        if (s->island[j].end > end)
            end = s->island[j].end;
        j++;
    }
    if (j == i) {
        if (s->n_gaps == TW_STREAM_MAX_GAPS)
            return false;
        memmove(&s->island[i + 1], &s->island[i], (s->n_gaps - i) * sizeof(s->island[0]));
        s->n_gaps++;
    } else if (j > i + 1) {
        memmove(&s->island[i + 1], &s->island[j], (s->n_gaps - j) * sizeof(s->island[0]));
        s->n_gaps -= j - i - 1;
    }
    s->island[i].start = start;
    s->island[i].end = end;
    return true;
}

/*
 * Writes the segment's bytes p[0..end-off) at [off, end) where the buffer holds none yet and
 * compares them with the bytes it holds (policy "first": what arrived first stays). Returns
 * whether some held byte differs. Bytes written where nothing is held yet are only kept once
 * the caller records the range.
 */
static bool place_first(struct tw_stream *s, uint32_t off, uint32_t end, const uint8_t *p)
{
    uint32_t pos = off;
    bool conflict = false;

    if (pos < s->contig) {
        uint32_t k = end < s->contig ? end : s->contig;
        conflict |= memcmp(s->data + pos, p, k - pos) != 0;
        pos = k;
    }
    for (uint32_t i = 0; i < s->n_gaps && pos < end; i++) {
        uint32_t a = s->island[i].start, b = s->island[i].end;
        if (b <= pos)
            continue;
        if (a >= end)
            break;
        if (a > pos) {
            memcpy(s->data + pos, p + (pos - off), a - pos);
            pos = a;
        }
        uint32_t k = end < b ? end : b;
        conflict |= memcmp(s->data + pos, p + (pos - off), k - pos) != 0;
        pos = k;
    }
    if (pos < end)
        memcpy(s->data + pos, p + (pos - off), end - pos);
    return conflict;
}

enum tw_stream_add_result tw_stream_add(struct tw_stream *s, uint32_t seq, const uint8_t *p,
                                        size_t n)
{
    int32_t rel = (int32_t)(seq - s->base_seq);
    enum tw_stream_add_result res = TW_STREAM_ADDED;
    uint32_t off, end;

    if (rel < 0) {
        /* Starts before the buffer: keep only the part past base_seq. */
        size_t skip = (size_t)(-(int64_t)rel);
        if (skip >= n)
            return TW_STREAM_OLD;
        p += skip;
        n -= skip;
        rel = 0;
    }
    off = (uint32_t)rel;
    if (off >= s->cap)
        return n > 0 ? TW_STREAM_CLIPPED : TW_STREAM_ADDED;
    if (n > s->cap - off) {
        n = s->cap - off;
        res = TW_STREAM_CLIPPED;
    }
    if (n == 0)
        return res;
    end = off + (uint32_t)n;
    /* Before the ranges change: which bytes are held is read from them. */
    if (place_first(s, off, end, p))
        s->conflicts++;
    if (off > s->contig) {
        if (!insert_island(s, off, end))
            return TW_STREAM_TOO_MANY_GAPS;
        return res;
    }
    if (end > s->contig) {
        s->contig = end;
        absorb_islands(s);
    }
    return res;
}

int tw_stream_rebase(struct tw_stream *s, uint32_t seq)
{
    uint32_t total = s->contig, delta = s->base_seq - seq;

    for (uint32_t i = 0; i < s->n_gaps; i++)
        if (s->island[i].end > total)
            total = s->island[i].end;
    if ((int32_t)delta <= 0)
        return (int32_t)delta == 0 ? 0 : TW_EINVAL;
    if (total == 0) {
        s->base_seq = seq;
        return 0;
    }
    if (delta > s->cap || total > s->cap - delta ||
        (s->contig > 0 && s->n_gaps == TW_STREAM_MAX_GAPS))
        return TW_ENOMEM;
    memmove(s->data + delta, s->data, total);
    for (uint32_t i = 0; i < s->n_gaps; i++) {
        s->island[i].start += delta;
        s->island[i].end += delta;
    }
    if (s->contig > 0) {
        memmove(&s->island[1], &s->island[0], s->n_gaps * sizeof(s->island[0]));
        s->island[0].start = delta;
        s->island[0].end = delta + s->contig;
        s->n_gaps++;
    }
    s->contig = 0;
    s->base_seq = seq;
    return 0;
}

void tw_stream_consume(struct tw_stream *s, size_t n)
{
    uint32_t total = s->contig;

    if (n > s->contig)
        n = s->contig;
    for (uint32_t i = 0; i < s->n_gaps; i++)
        if (s->island[i].end > total)
            total = s->island[i].end;
    memmove(s->data, s->data + n, total - n);
    s->base_seq += (uint32_t)n;
    s->contig -= (uint32_t)n;
    for (uint32_t i = 0; i < s->n_gaps; i++) {
        s->island[i].start -= (uint32_t)n;
        s->island[i].end -= (uint32_t)n;
    }
}

/* An empty pool: no buffers, none held. */
static void pool_clear(struct tw_stream_pool *pool)
{
    memset(pool, 0, sizeof(*pool));
    tw_ilist_init(&pool->holders.order);
}

int tw_stream_pool_init(struct tw_stream_pool *pool, uint32_t n, uint32_t cap)
{
    pool_clear(pool);
    if (n == 0)
        return 0;
    /* Each buffer starts on a cache line. */
    pool->stride = (sizeof(struct tw_stream) + (size_t)cap + 63) & ~(size_t)63;
    pool->buf_cap = cap;
    /* A table: untouched buffers cost no resident memory until a flow needs one, and a large
     * pool is mapped in huge pages (one fault, not 512, when a buffer is first used). */
    void *mem = tw_table_alloc((size_t)n * pool->stride);
    if (mem == NULL)
        return TW_ENOMEM;
    pool->bufs = mem;
    pool->free_list = malloc((size_t)n * sizeof(uint32_t));
    if (pool->free_list == NULL || tw_holders_init(&pool->holders, n) != 0) {
        free(pool->free_list);
        tw_table_free(mem, (size_t)n * pool->stride);
        pool_clear(pool);
        return TW_ENOMEM;
    }
    /* Hand out low indexes first so the touched memory stays small. */
    for (uint32_t i = 0; i < n; i++)
        pool->free_list[i] = n - 1 - i;
    pool->n_free = n;
    pool->cap = n;
    return 0;
}

int tw_stream_pool_prefault(struct tw_stream_pool *pool, struct tw_prefault *pf, uint32_t ahead)
{
    /* Low indexes first: the buffers used so far are [0, high_water). */
    return tw_prefault_add(pf, pool->bufs, (size_t)pool->cap * pool->stride, &pool->high_water,
                           pool->stride, (size_t)ahead * pool->stride);
}

void tw_stream_pool_destroy(struct tw_stream_pool *pool)
{
    if (pool->bufs != NULL)
        tw_table_free(pool->bufs, (size_t)pool->cap * pool->stride);
    free(pool->free_list);
    tw_holders_destroy(&pool->holders);
    pool_clear(pool);
}

uint32_t tw_stream_get(struct tw_stream_pool *pool, uint32_t base_seq, void *owner, uint8_t role,
                       int64_t now)
{
    uint32_t idx;

    if (pool->n_free == 0) {
        pool->exhausted++;
        return TW_STREAM_NONE;
    }
    idx = pool->free_list[--pool->n_free];
    if (pool->cap - pool->n_free > pool->high_water)
        tw_prefault_count_set(&pool->high_water, pool->cap - pool->n_free);
    /* Set here, not at start-up: a buffer's memory is touched only when it is used. */
    tw_stream_at(pool, idx)->cap = pool->buf_cap;
    tw_stream_reset(tw_stream_at(pool, idx), base_seq);
    tw_holders_take(&pool->holders, idx, owner, role, now);
    return idx;
}

void tw_stream_put(struct tw_stream_pool *pool, uint32_t idx)
{
    if (idx == TW_STREAM_NONE || pool->n_free == pool->cap)
        return;
    tw_holders_release(&pool->holders, idx);
    pool->free_list[pool->n_free++] = idx;
}
