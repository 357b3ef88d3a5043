/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/alloc.h"

#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The capacity a growing array of cap elements (first when empty) doubles to for need of
 * them, or 0 when it would overflow. */
static size_t doubled(size_t cap, size_t need, size_t first)
{
    size_t ncap = cap ? cap : (first ? first : 1);

    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return 0;
        ncap *= 2;
    }
    return ncap;
}

/* Whether an array of cap elements of elem bytes must grow for need of them: 0 (it need not),
 * 1 with *ncap its new capacity (doubled, first when empty), or TW_EINVAL / TW_ENOMEM when the
 * new size would pass limit bytes. */
static int grow_to(size_t cap, size_t need, size_t elem, size_t first, size_t limit,
                   size_t *ncap)
{
    if (need <= cap)
        return 0;
    if (elem == 0)
        return TW_EINVAL;
    if ((*ncap = doubled(cap, need, first)) == 0 || *ncap > limit / elem)
        return TW_ENOMEM;
    return 1;
}

int tw_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t ncap;
    void *np;
    int rc = grow_to(*cap, need, elem, first, SIZE_MAX, &ncap);

    if (rc <= 0)
        return rc;
    np = realloc(*p, ncap * elem);
    if (!np)
        return TW_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* Whether `part` bytes of a table that may all be touched are worth a huge page of their own:
 * from a quarter of one up (in small pages they would cost a fault every 4 KiB; below, the
 * huge page would hold more memory than it saves faults). */
static bool huge_worth(size_t part)
{
    return part >= HUGE_PAGE / 4;
}

/* n rounded up to whole huge pages. */
static size_t huge_round(size_t n)
{
    return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

/* What tw_table_alloc(n) maps: n bytes in small pages below HUGE_PAGE (touched as used); from
 * there up, whole huge pages, the part past the last whole one rounded up to a huge page when
 * it is worth one (a random access pattern touches all of it), else in small pages. */
static size_t table_len(size_t n)
{
    if (n < HUGE_PAGE)
        return n;
    if (huge_worth(n & (HUGE_PAGE - 1)))
        return huge_round(n);
    return (n + 4095) & ~(size_t)4095;
}

size_t tw_table_dense(size_t n)
{
    return n < HUGE_PAGE && huge_worth(n) ? HUGE_PAGE : n;
}

/* An anonymous mapping of len bytes (a multiple of 4 KiB) that starts on a huge-page boundary:
 * a little more is mapped and both ends are trimmed. NULL on failure. */
static uint8_t *map_huge_aligned(size_t len, int prot, int flags)
{
    size_t all = len + HUGE_PAGE;
    uint8_t *p = mmap(NULL, all, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    uint8_t *start = (uint8_t *)huge_round((uintptr_t)p);
    size_t head = (size_t)(start - p);
    if (head > 0)
        munmap(p, head);
    if (all - head > len)
        munmap(start + len, all - head - len);
    return start;
}

void *tw_table_alloc(size_t n)
{
    if (n == 0 || n > SIZE_MAX - 2 * HUGE_PAGE)
        return NULL;
    if (n < HUGE_PAGE) {
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Huge pages need 2 MiB alignment. */
    n = table_len(n);
    uint8_t *start = map_huge_aligned(n, PROT_READ | PROT_WRITE, 0);
    /* Advice only: without THP this stays plain anonymous memory. */
    if (start != NULL)
        (void)madvise(start, n, MADV_HUGEPAGE);
    return start;
}

void tw_table_free(void *p, size_t n)
{
    if (p != NULL)
        munmap(p, table_len(n));
}

/*
 * The table at p (old bytes) moved to a mapping of new bytes, its pages taken along, not
 * copied: mremap(2) moves the page tables, so the bytes already written are neither copied
 * nor faulted in again. From 2 MiB up the new mapping starts on a huge-page boundary (a
 * reservation, then MREMAP_FIXED into it), so that huge pages stay huge. NULL when the kernel
 * refuses (the caller copies instead).
 */
static void *table_move(void *p, size_t old, size_t new)
{
    size_t olen = table_len(old), nlen = table_len(new);
    uint8_t *np;

    if (nlen < HUGE_PAGE) {
        np = mremap(p, olen, nlen, MREMAP_MAYMOVE);
        return np == MAP_FAILED ? NULL : np;
    }
    uint8_t *at = map_huge_aligned(nlen, PROT_NONE, MAP_NORESERVE); /* the place, reserved */
    if (at == NULL)
        return NULL;
    np = mremap(p, olen, nlen, MREMAP_MAYMOVE | MREMAP_FIXED, at);
    if (np == MAP_FAILED) {
        munmap(at, nlen);
        return NULL;
    }
    (void)madvise(np, nlen, MADV_HUGEPAGE);
    return np;
}

int tw_table_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t ncap;
    void *np;
    int rc = grow_to(*cap, need, elem, first, SIZE_MAX - 2 * HUGE_PAGE, &ncap);

    if (rc <= 0)
        return rc;
    /* Filled in order, every page of it gets touched: whole huge pages from a quarter of one
     * up (a part in small pages would cost a fault every 4 KiB, and would keep its huge page
     * range in small pages once moved). */
    size_t old = *cap * elem;
    if (huge_worth(ncap * elem))
        ncap = huge_round(ncap * elem) / elem;
    /* A table in whole huge pages, or one that stays in small pages, moves with its pages; a
     * table in small pages that grows into huge ones is copied (a few hundred KiB at most). */
    bool huge_old = table_len(old) % HUGE_PAGE == 0 && old >= HUGE_PAGE;
    if (*p != NULL && (huge_old || table_len(ncap * elem) < HUGE_PAGE) &&
        (np = table_move(*p, old, ncap * elem)) != NULL) {
        *p = np;
        *cap = ncap;
        return 0;
    }
    np = tw_table_alloc(ncap * elem);
    if (!np)
        return TW_ENOMEM;
    if (*p != NULL) {
        memcpy(np, *p, old);
        tw_table_free(*p, old);
    }
    *p = np;
    *cap = ncap;
    return 0;
}

/* Runs sorted by insertion before the merges. */
#define SORT_RUN 16

/* Merges the sorted runs a[lo..mid) and a[mid..hi) (elements of size bytes) into d[lo..hi),
 * stably. */
static void merge_runs(const uint8_t *a, uint8_t *d, size_t lo, size_t mid, size_t hi, size_t size,
                       int (*cmp)(const void *, const void *))
{
    size_t i = lo, j = mid, k = lo;

    while (i < mid && j < hi) {
        if (cmp(a + j * size, a + i * size) < 0)
            memcpy(d + k++ * size, a + j++ * size, size);
        else
            memcpy(d + k++ * size, a + i++ * size, size);
    }
    if (i < mid)
        memcpy(d + k * size, a + i * size, (mid - i) * size);
    else if (j < hi)
        memcpy(d + k * size, a + j * size, (hi - j) * size);
}

void tw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    size_t bytes = n * size;

    if (n < 2 || size == 0)
        return;
    /* Small arrays: qsort's own buffer is small too. */
    uint8_t *tmp = bytes >= ((size_t)64 << 10) && size <= 256 && bytes / size == n
                       ? tw_table_alloc(tw_table_dense(bytes))
                       : NULL;
    if (tmp == NULL) {
        qsort(base, n, size, cmp);
        return;
    }
    uint8_t *a = base, *d = tmp, e[256];

    for (size_t lo = 0; lo < n; lo += SORT_RUN) {
        size_t hi = TW_MIN(lo + SORT_RUN, n);
        for (size_t i = lo + 1; i < hi; i++) {
            size_t j = i;
            memcpy(e, a + i * size, size);
            while (j > lo && cmp(e, a + (j - 1) * size) < 0) {
                memcpy(a + j * size, a + (j - 1) * size, size);
                j--;
            }
            memcpy(a + j * size, e, size);
        }
    }
    for (size_t w = SORT_RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = TW_MIN(lo + w, n), hi = TW_MIN(lo + 2 * w, n);
            merge_runs(a, d, lo, mid, hi, size, cmp);
        }
        uint8_t *t = a;
        a = d;
        d = t;
    }
    if (a != base)
        memcpy(base, a, bytes);
    tw_table_free(tmp, tw_table_dense(bytes));
}

#define ARENA_FIRST ((size_t)64 << 10)


struct tw_arena_blk {
    struct tw_arena_blk *prev;
    size_t size; /* of the mapping, this header included */
    _Alignas(16) unsigned char data[];
};

/* A new block for at least n bytes after the header, the newest of a. */
static bool arena_grow(struct tw_arena *a, size_t n)
{
    size_t size = HUGE_PAGE;
    struct tw_arena_blk *b;

    if (a->blk == NULL)
        size = ARENA_FIRST;
    else if (a->blk->size < 4 * ARENA_FIRST)
        size = 4 * ARENA_FIRST;

    if (n > SIZE_MAX / 2 - sizeof(*b) - HUGE_PAGE)
        return false;
    if (n + sizeof(*b) > size) /* a block of its own, in whole huge pages */
        size = (n + sizeof(*b) + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    if (TW_ARENA_EXACT)
        size = sizeof(*b) + n;
    b = TW_ARENA_EXACT ? malloc(size) : tw_table_alloc(size);
    if (b == NULL)
        return false;
    b->prev = a->blk;
    b->size = size;
    a->blk = b;
    a->used = 0;
    a->total += size;
    return true;
}

void *tw_arena_alloc(struct tw_arena *a, size_t n, size_t align)
{
    size_t at;

    if (a->blk != NULL && !TW_ARENA_EXACT) {
        at = (a->used + align - 1) & ~(align - 1);
        if (at <= a->blk->size - sizeof(*a->blk) && n <= a->blk->size - sizeof(*a->blk) - at) {
            a->used = at + n;
            return a->blk->data + at;
        }
    }
    if (!arena_grow(a, n))
        return NULL;
    a->used = n;
    return a->blk->data;
}

char *tw_arena_strndup(struct tw_arena *a, const char *s, size_t len)
{
    char *d = len < SIZE_MAX ? tw_arena_alloc(a, len + 1, 1) : NULL;

    if (d == NULL)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void tw_arena_release(struct tw_arena *a, struct tw_arena_mark m)
{
    while (a->blk != m.blk) {
        struct tw_arena_blk *prev = a->blk->prev;

        a->total -= a->blk->size;
        if (TW_ARENA_EXACT)
            free(a->blk);
        else
            tw_table_free(a->blk, a->blk->size);
        a->blk = prev;
    }
    a->used = m.used;
}

void tw_arena_free(struct tw_arena *a)
{
    tw_arena_release(a, (struct tw_arena_mark){NULL, 0});
    a->total = 0;
}
