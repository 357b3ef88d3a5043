/* SPDX-License-Identifier: MIT */
/* Growing arrays, tables and arenas, at load time (never on the packet path). */
#ifndef TUNWATCH_ALLOC_H
#define TUNWATCH_ALLOC_H

#include "tunwatch/base/common.h"

/*
 * Makes *p (an array of *cap elements of elem bytes) hold at least need elements, doubling
 * from `first`. Returns 0, TW_EINVAL for elem 0, or TW_ENOMEM (allocation failure or size
 * overflow) with *p and *cap unchanged.
 */
int tw_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/*
 * Zeroed memory for a large table sized at start-up (flow table, answer cache): an anonymous
 * mapping, asked to be backed by transparent huge pages where the kernel allows it. Pages are
 * mapped on first touch, as with calloc, but a 2 MiB page costs one fault where 4 KiB pages
 * cost 512, which is most of the price of filling such a table (and more under
 * virtualisation). From 2 MiB up, a last part of a quarter of a huge page or more is mapped as
 * a whole huge page too (n rounded up). Returns NULL on failure or n == 0. Free with
 * tw_table_free(p, n).
 */
void *tw_table_alloc(size_t n);
void tw_table_free(void *p, size_t n);
/* The size to ask tw_table_alloc() (and tw_table_free()) for, for a table of n bytes every
 * page of which gets touched (a ring used in turn, an array filled in order): from a quarter
 * of a huge page up, a whole huge page even below 2 MiB (one fault, not one every 4 KiB);
 * else n. */
size_t tw_table_dense(size_t n);

/*
 * tw_grow() for an array that is a table (NULL or from tw_table_alloc(), *cap elements of elem
 * bytes): a large array that grows one element at a time (a rule set's matchers) then lives in
 * huge pages: from a quarter of one up its capacity fills whole huge pages, and it moves to
 * its new place with its pages (mremap), not copied. The new table is zeroed past the old
 * elements. Free with tw_table_free(p, cap * elem). Same returns as tw_grow().
 */
int tw_table_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/*
 * qsort() for a large array sorted at load time (a trie's keys, an automaton's patterns,
 * threat-intel indicators): a stable merge sort whose buffer is a table, where glibc's qsort
 * takes a fresh malloc() buffer in small pages, faulted in 4 KiB at a time.
 */
void tw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/*
 * An arena: many small allocations made at load time (a rule set's rules and strings) and
 * freed together, with no per-allocation header or call. The first blocks are 64 and 256 KiB
 * (a few hundred rules); every later one is a 2 MiB huge-page table (tw_table_alloc()), so
 * filling 100 MB costs some fifty page faults instead of 25,000. A zeroed struct tw_arena is empty. Not
 * thread-safe; what it holds may be read by any number of threads once it is filled.
 */
/* Under AddressSanitizer every arena allocation is a block of its own from malloc, so that a
 * read past its end is reported as it would be without the arena. */
#if defined(__SANITIZE_ADDRESS__)
#define TW_ARENA_EXACT true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TW_ARENA_EXACT true
#endif
#endif
#ifndef TW_ARENA_EXACT
#define TW_ARENA_EXACT false
#endif

struct tw_arena_blk;
struct tw_arena {
    struct tw_arena_blk *blk; /* the newest block; NULL when empty */
    size_t used;              /* bytes used in it */
    size_t total;             /* bytes of all blocks, for statistics */
};

/* A point to take an arena back to: what was allocated after it goes, what was before stays. */
struct tw_arena_mark {
    struct tw_arena_blk *blk;
    size_t used;
};

/* n bytes aligned to align (a power of two, at most 16), not zeroed, valid until the arena
 * is freed or released to a mark taken before; NULL when memory ran out (or n is absurd). */
void *tw_arena_alloc(struct tw_arena *a, size_t n, size_t align);

/* A copy of s[0..len) and a NUL in a; NULL when memory ran out. */
char *tw_arena_strndup(struct tw_arena *a, const char *s, size_t len);

static inline struct tw_arena_mark tw_arena_mark(const struct tw_arena *a)
{
    return (struct tw_arena_mark){a->blk, a->used};
}

/* Frees what was allocated after mark m (taken from a, and not released past since). */
void tw_arena_release(struct tw_arena *a, struct tw_arena_mark m);

/* Frees everything a holds; a is empty again. */
void tw_arena_free(struct tw_arena *a);

#endif /* TUNWATCH_ALLOC_H */
