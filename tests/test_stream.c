/* SPDX-License-Identifier: MIT */
/* Bounded TCP stream reassembly: orders, overlaps, wrap-around, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/flow/stream.h"

struct seg {
    uint32_t off, len;
};

struct order_case {
    int line;
    uint32_t base;
    struct seg segs[8];
    size_t n;
    uint32_t want_contig;
    uint32_t want_gaps;
};

static uint8_t pattern(uint32_t i)
{
    return (uint8_t)(i * 7 + 3);
}

static const struct order_case order_cases[] = {
    {__LINE__, 1000, {{0, 100}, {100, 100}}, 2, 200, 0},
    {__LINE__, 1000, {{100, 100}, {0, 100}}, 2, 200, 0},
    {__LINE__, 1000, {{200, 50}, {100, 100}, {0, 100}}, 3, 250, 0},
    {__LINE__, 1000, {{50, 100}, {0, 60}}, 2, 150, 0},                /* overlap */
    {__LINE__, 1000, {{0, 10}, {0, 10}, {5, 20}}, 3, 25, 0},          /* retransmissions */
    {__LINE__, 1000, {{100, 10}, {300, 10}}, 2, 0, 2},                /* two holes */
    {__LINE__, 1000, {{100, 10}, {300, 10}, {110, 190}}, 3, 0, 1},    /* islands merge */
    {__LINE__, 0xfffffff0u, {{0, 8}, {16, 16}, {8, 8}}, 3, 32, 0},    /* sequence wrap */
    {__LINE__, 1000, {{TW_STREAM_CAP - 10, 10}, {0, 5}}, 2, 5, 1},    /* at the very end */
};

static void test_orders(void **state)
{
    (void)state;
    struct tw_stream *s = malloc(sizeof(*s) + TW_STREAM_CAP);
    uint8_t *src = malloc(TW_STREAM_CAP);

    assert_non_null(s);
    s->cap = TW_STREAM_CAP;
    assert_non_null(src);
    for (uint32_t i = 0; i < TW_STREAM_CAP; i++)
        src[i] = pattern(i);
    for (size_t c = 0; c < TW_ARRAY_SIZE(order_cases); c++) {
        const struct order_case *oc = &order_cases[c];
        tw_stream_reset(s, oc->base);
        for (size_t i = 0; i < oc->n; i++)
            tw_stream_add(s, oc->base + oc->segs[i].off, src + oc->segs[i].off, oc->segs[i].len);
        if (s->contig != oc->want_contig || s->n_gaps != oc->want_gaps)
            fail_msg("case at line %d: contig %u gaps %u, want %u %u", oc->line, s->contig,
                     s->n_gaps, oc->want_contig, oc->want_gaps);
        assert_memory_equal(s->data, src, s->contig);
    }
    free(src);
    free(s);
}

static void test_limits(void **state)
{
    (void)state;
    struct tw_stream *s = malloc(sizeof(*s) + TW_STREAM_CAP);
    uint8_t buf[128] = {0};

    assert_non_null(s);
    s->cap = TW_STREAM_CAP;
    tw_stream_reset(s, 5000);
    /* Entirely before the base: a retransmission of consumed bytes. */
    assert_int_equal(tw_stream_add(s, 4000, buf, 10), TW_STREAM_OLD);
    /* Past the end of the buffer. */
    assert_int_equal(tw_stream_add(s, 5000 + TW_STREAM_CAP, buf, 10), TW_STREAM_CLIPPED);
    assert_int_equal(tw_stream_add(s, 5000 + TW_STREAM_CAP - 4, buf, 10), TW_STREAM_CLIPPED);
    /* Holes are bounded. */
    tw_stream_reset(s, 0);
    for (uint32_t i = 0; i < TW_STREAM_MAX_GAPS; i++)
        assert_int_equal(tw_stream_add(s, 100 + i * 100, buf, 10), TW_STREAM_ADDED);
    assert_int_equal(tw_stream_add(s, 5000, buf, 10), TW_STREAM_TOO_MANY_GAPS);
    /* A segment filling the first hole still gets in and absorbs an island. */
    assert_int_equal(tw_stream_add(s, 0, buf, 100), TW_STREAM_ADDED);
    assert_int_equal(s->contig, 110);
    assert_int_equal(s->n_gaps, TW_STREAM_MAX_GAPS - 1);
    free(s);
}

static void test_consume(void **state)
{
    (void)state;
    struct tw_stream *s = malloc(sizeof(*s) + TW_STREAM_CAP);
    const uint8_t a[] = "abcdefghij", b[] = "uvwxyz";

    assert_non_null(s);
    s->cap = TW_STREAM_CAP;
    tw_stream_reset(s, 10);
    tw_stream_add(s, 10, a, 10);
    tw_stream_add(s, 30, b, 6);
    tw_stream_consume(s, 4);
    assert_int_equal(s->base_seq, 14);
    assert_int_equal(s->contig, 6);
    assert_memory_equal(s->data, "efghij", 6);
    assert_int_equal(s->n_gaps, 1);
    assert_int_equal(s->island[0].start, 16);
    tw_stream_add(s, 20, a, 10); /* fills the hole */
    assert_int_equal(s->contig, 22);
    assert_memory_equal(s->data + 16, "uvwxyz", 6);
    free(s);
}

/* Overlaps keep the bytes that came first (policy "first") and count other bytes there. */
static void test_overlap_first(void **state)
{
    (void)state;
    struct tw_stream *s = malloc(sizeof(*s) + TW_STREAM_CAP);

    assert_non_null(s);
    s->cap = TW_STREAM_CAP;
    tw_stream_reset(s, 100);
    assert_int_equal(tw_stream_add(s, 100, (const uint8_t *)"abcdefghij", 10), TW_STREAM_ADDED);
    /* the same bytes again: a retransmission, no conflict */
    tw_stream_add(s, 103, (const uint8_t *)"defg", 4);
    assert_int_equal(s->conflicts, 0);
    /* other bytes over 105..109, new ones after */
    tw_stream_add(s, 105, (const uint8_t *)"XXXXXklmno", 10);
    assert_int_equal(s->conflicts, 1);
    assert_int_equal(s->contig, 15);
    assert_memory_equal(s->data, "abcdefghijklmno", 15);
    /* an island, then a segment over its bytes with others and over the hole before it */
    tw_stream_add(s, 130, (const uint8_t *)"uvwxyz", 6);
    tw_stream_add(s, 125, (const uint8_t *)"0123456789", 10);
    assert_int_equal(s->conflicts, 2);
    assert_int_equal(s->n_gaps, 1);
    assert_memory_equal(s->data + 25, "01234uvwxyz", 11);
    /* filling the hole with bytes that match what is held on both sides */
    tw_stream_add(s, 114, (const uint8_t *)"opqrstuvwxy01", 13);
    assert_int_equal(s->conflicts, 2);
    assert_int_equal(s->contig, 36);
    assert_int_equal(s->n_gaps, 0);
    assert_memory_equal(s->data + 10, "klmnopqrstuvwxy01234uvwxyz", 26);
    /* reset clears the count */
    tw_stream_reset(s, 0);
    assert_int_equal(s->conflicts, 0);
    free(s);
}

/* A segment before the first one held: the buffer's start moves back. */
static void test_rebase(void **state)
{
    (void)state;
    struct tw_stream *s = malloc(sizeof(*s) + 64);
    uint8_t big[64] = {0};

    assert_non_null(s);
    s->cap = 64;
    tw_stream_reset(s, 1010);
    tw_stream_add(s, 1010, (const uint8_t *)"klmno", 5);
    tw_stream_add(s, 1020, (const uint8_t *)"uvw", 3);
    assert_int_equal(tw_stream_rebase(s, 1005), 0);
    assert_int_equal(s->base_seq, 1005);
    assert_int_equal(s->contig, 0);
    assert_int_equal(s->n_gaps, 2);
    assert_int_equal(tw_stream_add(s, 1005, (const uint8_t *)"fghij", 5), TW_STREAM_ADDED);
    assert_int_equal(s->contig, 10);
    assert_memory_equal(s->data, "fghijklmno", 10);
    assert_int_equal(tw_stream_rebase(s, 1005), 0);   /* the same start: nothing to do */
    assert_int_equal(tw_stream_rebase(s, 1006), TW_EINVAL);
    /* the bytes held (up to 1023) would end past the capacity from before 1023 - 64 */
    assert_int_equal(tw_stream_rebase(s, 1023 - 65), TW_ENOMEM);
    assert_int_equal(s->base_seq, 1005);
    assert_int_equal(tw_stream_rebase(s, 1023 - 64), 0);
    assert_int_equal(tw_stream_add(s, 1023 - 64, big, 46), TW_STREAM_ADDED);
    assert_int_equal(s->contig, 56);
    assert_memory_equal(s->data + 46, "fghijklmno", 10);
    /* across the sequence wrap */
    tw_stream_reset(s, 3);
    tw_stream_add(s, 3, (const uint8_t *)"def", 3);
    assert_int_equal(tw_stream_rebase(s, 0xfffffffeu), 0);
    tw_stream_add(s, 0xfffffffeu, (const uint8_t *)"zabc", 4);
    tw_stream_add(s, 2, (const uint8_t *)"X", 1);
    assert_int_equal(s->contig, 8);
    assert_memory_equal(s->data, "zabcXdef", 8);
    /* with every hole in use, the held prefix cannot become one more island */
    tw_stream_reset(s, 0);
    tw_stream_add(s, 0, big, 1);
    for (uint32_t i = 0; i < TW_STREAM_MAX_GAPS; i++)
        tw_stream_add(s, 3 + i * 2, big, 1);
    assert_int_equal(s->n_gaps, TW_STREAM_MAX_GAPS);
    assert_int_equal(tw_stream_rebase(s, 0xffffffffu), TW_ENOMEM);
    free(s);
}

static void test_pool(void **state)
{
    (void)state;
    struct tw_stream_pool pool;
    uint32_t a, b, c;

    assert_int_equal(tw_stream_pool_init(&pool, 2, TW_STREAM_CAP), 0);
    a = tw_stream_get(&pool, 1, &a, 1, 100);
    b = tw_stream_get(&pool, 2, &b, 2, 101);
    c = tw_stream_get(&pool, 3, &c, 3, 102);
    assert_int_not_equal(a, TW_STREAM_NONE);
    assert_int_not_equal(b, TW_STREAM_NONE);
    assert_int_not_equal(a, b);
    assert_int_equal(c, TW_STREAM_NONE);
    assert_int_equal(pool.exhausted, 1);
    assert_int_equal(pool.high_water, 2);
    /* Who holds each buffer, the least recently used first. */
    assert_int_equal(pool.holders.order.head, a);
    assert_ptr_equal(tw_holders_at(&pool.holders, a)->owner, &a);
    assert_int_equal(tw_holders_at(&pool.holders, b)->role, 2);
    tw_stream_touch(&pool, a, 105);
    assert_int_equal(pool.holders.order.head, b);
    assert_int_equal(tw_holders_stale(&pool.holders, 110, 10), TW_HOLDERS_NONE);
    assert_int_equal(tw_holders_stale(&pool.holders, 111, 10), b);
    tw_stream_put(&pool, a);
    c = tw_stream_get(&pool, 4, &c, 3, 106);
    assert_int_equal(c, a);
    assert_int_equal(tw_stream_at(&pool, c)->base_seq, 4);
    assert_int_equal(pool.holders.order.head, b);
    assert_int_equal(pool.holders.order.tail, c);
    tw_stream_pool_destroy(&pool);
    /* An empty pool holds nothing to take back. */
    assert_int_equal(tw_stream_pool_init(&pool, 0, TW_STREAM_CAP), 0);
    assert_int_equal(tw_stream_get(&pool, 1, NULL, 0, 1), TW_STREAM_NONE);
    assert_int_equal(tw_holders_stale(&pool.holders, 1000, 1), TW_HOLDERS_NONE);
    tw_stream_pool_destroy(&pool);
}

/* The order of a holders list, least recently used first, against the model in `want`. */
static void check_order(const struct tw_holders *hs, const uint32_t *want, unsigned n)
{
    uint32_t i = hs->order.head, prev = TW_HOLDERS_NONE;

    for (unsigned k = 0; k < n; k++) {
        assert_int_equal(i, want[k]);
        assert_int_equal(hs->h[i].link.prev, prev);
        if (k > 0)
            assert_true(hs->h[i].last >= hs->h[prev].last);
        prev = i;
        i = hs->h[i].link.next;
    }
    assert_int_equal(i, TW_HOLDERS_NONE);
    assert_int_equal(hs->order.tail, n > 0 ? want[n - 1] : TW_HOLDERS_NONE);
}

/* A random walk of takes, touches and releases against a model list, times mostly rising
 * (some going back, as in captures merged out of order). */
static void test_holders_model(void **state)
{
    (void)state;
    enum { N = 16 };
    struct tw_holders hs;
    uint32_t model[N];
    unsigned n = 0;
    bool held[N] = {false};
    int64_t now = 1000;
    uint32_t r = 12345;

    assert_int_equal(tw_holders_init(&hs, N), 0);
    for (int step = 0; step < 20000; step++) {
        r = r * 1103515245u + 12345u;
        uint32_t idx = (r >> 8) % N, op = (r >> 20) % 4;
        now += (r >> 24) % 3 == 0 ? 1 : 0;
        int64_t t = (r >> 28) == 0 ? now - 2 : now; /* a time that goes back */
        if (!held[idx]) {
            tw_holders_take(&hs, idx, &held[idx], (uint8_t)idx, t);
            model[n++] = idx;
            held[idx] = true;
        } else if (op == 0) {
            unsigned k = 0;
            while (model[k] != idx)
                k++;
            memmove(&model[k], &model[k + 1], (n - k - 1) * sizeof(model[0]));
            n--;
            tw_holders_release(&hs, idx);
            held[idx] = false;
        } else {
            int64_t before = hs.h[idx].last;
            tw_holders_touch(&hs, idx, t);
            if (t > before) {
                unsigned k = 0;
                while (model[k] != idx)
                    k++;
                memmove(&model[k], &model[k + 1], (n - k - 1) * sizeof(model[0]));
                model[n - 1] = idx;
            }
        }
        check_order(&hs, model, n);
        if (n > 0) {
            int64_t idle = now - hs.h[model[0]].last;
            assert_int_equal(tw_holders_stale(&hs, now, (uint32_t)idle + 1), TW_HOLDERS_NONE);
            if (idle > 0)
                assert_int_equal(tw_holders_stale(&hs, now, (uint32_t)idle), model[0]);
            assert_ptr_equal(tw_holders_at(&hs, model[0])->owner, &held[model[0]]);
        }
        assert_int_equal(tw_holders_stale(&hs, now + 100000, 0), TW_HOLDERS_NONE);
    }
    tw_holders_destroy(&hs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_holders_model),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_overlap_first),
        cmocka_unit_test(test_rebase),
        cmocka_unit_test(test_pool),
    };
    return tw_run_tests_name("stream", tests, NULL, NULL);
}
