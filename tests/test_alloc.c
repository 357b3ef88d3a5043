/* SPDX-License-Identifier: MIT */
/* The load-time allocators: growing arrays and tables, the arena (marks, release, large blocks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/mman.h>

#include "test_util.h"

#include "tunwatch/base/alloc.h"


static void test_grow(void **state)
{
    int *v = NULL;
    size_t cap = 0;

    (void)state;
    assert_int_equal(tw_grow((void **)&v, &cap, 1, sizeof(*v), 4), 0);
    assert_int_equal(cap, 4);
    assert_int_equal(tw_grow((void **)&v, &cap, 9, sizeof(*v), 4), 0);
    assert_int_equal(cap, 16);
    assert_int_equal(tw_grow((void **)&v, &cap, 100, 0, 4), TW_EINVAL);
    assert_int_equal(tw_grow((void **)&v, &cap, SIZE_MAX, sizeof(*v), 4), TW_ENOMEM);
    assert_int_equal(cap, 16); /* unchanged on failure */
    free(v);
}

/* A table that grows keeps its elements, is zeroed past them, and doubles from `first`. */
static void test_table_grow(void **state)
{
    uint64_t *v = NULL;
    size_t cap = 0;

    (void)state;
    assert_int_equal(tw_table_grow((void **)&v, &cap, 1, sizeof(*v), 64), 0);
    assert_int_equal(cap, 64);
    for (size_t i = 0; i < 1000000; i++) {
        assert_int_equal(tw_table_grow((void **)&v, &cap, i + 1, sizeof(*v), 64), 0);
        assert_int_equal(v[i], 0);
        v[i] = i * 7919;
    }
    assert_int_equal(cap, 1048576);
    for (size_t i = 0; i < 1000000; i++)
        if (v[i] != i * 7919)
            fail_msg("element %zu lost", i);
    assert_int_equal(tw_table_grow((void **)&v, &cap, 10, 0, 64), 0); /* nothing to do */
    assert_int_equal(tw_table_grow((void **)&v, &cap, cap + 1, 0, 64), TW_EINVAL);
    assert_int_equal(tw_table_grow((void **)&v, &cap, SIZE_MAX / 2, sizeof(*v), 64), TW_ENOMEM);
    assert_int_equal(cap, 1048576);
    tw_table_free(v, cap * sizeof(*v));
}

/* Whether [p, p + n) is mapped: msync fails with ENOMEM on an unmapped page. */
static bool mapped(const void *p, size_t n)
{
    return msync((void *)p, n, MS_ASYNC) == 0;
}

/* A 24-byte element (its size does not divide a huge page). */
struct elem24 {
    uint64_t key;
    uint64_t seq;
    uint64_t check;
};

/*
 * A table of elements whose size does not divide a huge page, grown one element at a time
 * through small pages, a whole huge page (from a quarter of one up) and several: every
 * element kept, zero past them, the capacity filling whole huge pages once past the quarter,
 * the table huge-page aligned and mapped to its end; the mapping it moved from is gone.
 */
static void test_table_grow_moves(void **state)
{
    const size_t huge = (size_t)2 << 20;
    struct elem24 *v = NULL;
    size_t cap = 0, moves = 0;

    (void)state;
    for (size_t i = 0; i < 400000; i++) {
        struct elem24 *before = v;
        size_t before_cap = cap;
        assert_int_equal(tw_table_grow((void **)&v, &cap, i + 1, sizeof(*v), 16), 0);
        if (v != before || cap != before_cap) {
            size_t bytes = cap * sizeof(*v);
            moves++;
            if (bytes >= huge / 4) {
                size_t whole = (bytes + huge - 1) / huge * huge;
                assert_true(whole - bytes < sizeof(*v)); /* fills whole huge pages */
                assert_int_equal((uintptr_t)v % huge, 0);
                assert_true(mapped(v, whole));
            }
            if (before != NULL && before != v && before_cap * sizeof(*v) >= huge)
                assert_false(mapped(before, 4096)); /* moved, not copied and kept */
            for (size_t k = i; k < cap; k++)
                if (v[k].key != 0 || v[k].seq != 0 || v[k].check != 0)
                    fail_msg("element %zu not zero after growing to %zu", k, cap);
        }
        v[i] = (struct elem24){i * 7919 + 1, i, ~i};
    }
    assert_true(moves > 5);
    for (size_t i = 0; i < 400000; i++)
        if (v[i].key != i * 7919 + 1 || v[i].seq != i || v[i].check != ~i)
            fail_msg("element %zu lost", i);
    tw_table_free(v, cap * sizeof(*v));
}

static int cmp_key(const void *a, const void *b)
{
    const struct elem24 *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* An element of 300 bytes: larger than tw_sort() merges itself (qsort sorts it). */
struct elem300 {
    uint32_t key;
    uint8_t pad[296];
};

static int cmp_key300(const void *a, const void *b)
{
    const struct elem300 *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* tw_sort() orders like qsort, stably (equal keys keep their order), whatever the size: empty,
 * one element, below a run, small arrays (qsort's), large ones (its own merge, buffer in a
 * table), and elements too large for it. */
static void test_sort(void **state)
{
    const size_t sizes[] = {0, 1, 2, 15, 16, 17, 1000, 2731, 100000, 300001};

    (void)state;
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        size_t n = sizes[t];
        struct elem24 *a = calloc(n ? n : 1, sizeof(*a));
        uint64_t x = 0x9e3779b97f4a7c15ull ^ n;
        assert_non_null(a);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a[i] = (struct elem24){x % (n / 4 + 2), i, 0}; /* many equal keys */
        }
        tw_sort(a, n, sizeof(*a), cmp_key);
        for (size_t i = 1; i < n; i++) {
            if (a[i - 1].key > a[i].key)
                fail_msg("n %zu: out of order at %zu", n, i);
            if (a[i - 1].key == a[i].key && a[i - 1].seq > a[i].seq)
                fail_msg("n %zu: equal keys swapped at %zu", n, i);
        }
        /* every element is there once */
        uint8_t *seen = calloc(n ? n : 1, 1);
        assert_non_null(seen);
        for (size_t i = 0; i < n; i++) {
            assert_true(a[i].seq < n);
            assert_int_equal(seen[a[i].seq]++, 0);
        }
        free(seen);
        free(a);
    }
    struct elem300 *b = calloc(500, sizeof(*b));
    assert_non_null(b);
    for (size_t i = 0; i < 500; i++)
        b[i].key = (uint32_t)((i * 7919) % 500);
    tw_sort(b, 500, sizeof(*b), cmp_key300);
    for (size_t i = 0; i < 500; i++)
        assert_int_equal(b[i].key, i);
    free(b);
}

/* A table is zeroed and writable to its last byte; from 2 MiB up it is aligned to a huge
 * page and a last part of a quarter of one or more is a whole huge page (its end rounded up),
 * a smaller one small pages; below, exactly what was asked for (in pages). tw_table_free()
 * unmaps all of it. */
static void test_table_alloc(void **state)
{
    const size_t huge = (size_t)2 << 20;
    const size_t sizes[] = {4096,         huge - 4096,         huge,
                            huge + 1,     huge + huge / 4 - 1, huge + huge / 4,
                            3 * huge - 12345};

    (void)state;
    assert_null(tw_table_alloc(0));
    assert_null(tw_table_alloc(SIZE_MAX - huge));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i], tail = n % huge;
        size_t len = n >= huge && tail >= huge / 4 ? n - tail + huge : (n + 4095) / 4096 * 4096;
        uint8_t *p = tw_table_alloc(n);
        assert_non_null(p);
        assert_int_equal(p[0], 0);
        assert_int_equal(p[n - 1], 0);
        p[0] = 1;
        p[n - 1] = 2;
        if (n >= huge)
            assert_int_equal((uintptr_t)p % huge, 0);
        assert_true(mapped(p, len));
        tw_table_free(p, n);
        assert_false(mapped(p, 4096));
        assert_false(mapped(p + len - 4096, 4096));
        assert_int_equal(errno, ENOMEM);
    }
    /* A table touched throughout: a huge page from a quarter of one up, below 2 MiB too. */
    assert_int_equal(tw_table_dense(4096), 4096);
    assert_int_equal(tw_table_dense(huge / 4 - 1), huge / 4 - 1);
    assert_int_equal(tw_table_dense(huge / 4), huge);
    assert_int_equal(tw_table_dense(huge - 1), huge);
    assert_int_equal(tw_table_dense(huge + 1), huge + 1);
}

/* Allocations are aligned, apart, and keep their bytes while later ones fill many blocks. */
static void test_arena_fill(void **state)
{
    enum { N = 200000 };
    struct tw_arena a = {0};
    char **p = calloc(N, sizeof(*p));

    (void)state;
    assert_non_null(p);
    for (size_t i = 0; i < N; i++) {
        size_t n = 1 + i % 97, align = (size_t)1 << (i % 5);

        p[i] = tw_arena_alloc(&a, n, align);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % align, 0);
        memset(p[i], (int)(i & 0xff), n);
    }
    assert_true(a.total >= (size_t)N * 49); /* more than one block, counted */
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < 1 + i % 97; k++)
            if ((unsigned char)p[i][k] != (i & 0xff))
                fail_msg("allocation %zu byte %zu overwritten", i, k);
    tw_arena_free(&a);
    assert_null(a.blk);
    assert_int_equal(a.total, 0);
    free(p);
}

/* A release takes back what came after the mark, across blocks and large allocations, and
 * leaves what came before; the arena is then used again. */
static void test_arena_mark_release(void **state)
{
    struct tw_arena a = {0};
    struct tw_arena_mark empty = tw_arena_mark(&a), m;
    char *keep, *s;
    size_t total;

    (void)state;
    keep = tw_arena_strndup(&a, "kept\0tail", 9);
    assert_non_null(keep);
    assert_memory_equal(keep, "kept\0tail", 10); /* NUL inside, NUL added */
    m = tw_arena_mark(&a);
    total = a.total;
    for (int i = 0; i < 100; i++)
        assert_non_null(tw_arena_alloc(&a, 100000, 8));
    assert_non_null(tw_arena_alloc(&a, (size_t)5 << 20, 16)); /* over a block's size */
    assert_true(a.total > total + ((size_t)5 << 20));
    tw_arena_release(&a, m);
    assert_int_equal(a.total, total);
    assert_memory_equal(keep, "kept\0tail", 10);
    s = tw_arena_strndup(&a, "next", 4);
    if (!TW_ARENA_EXACT)
        assert_ptr_equal(s, keep + 10); /* the space after the mark is used again */
    assert_string_equal(s, "next");
    assert_null(tw_arena_alloc(&a, SIZE_MAX - 8, 8));
    tw_arena_release(&a, empty);
    assert_null(a.blk);
    assert_int_equal(a.total, 0);
    tw_arena_free(&a); /* an empty arena too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_table_grow),
        cmocka_unit_test(test_table_grow_moves),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_table_alloc),
        cmocka_unit_test(test_arena_fill),
        cmocka_unit_test(test_arena_mark_release),
    };
    return tw_run_tests(tests, NULL, NULL);
}
