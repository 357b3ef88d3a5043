/* SPDX-License-Identifier: MIT */
/* Event queue: copies survive the originals, order is kept, the bound is enforced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/match/evqueue.h"

static unsigned drained;

static void check(void *ctx, const struct tw_event *ev)
{
    (void)ctx;
    char want[32];
    snprintf(want, sizeof(want), "N%u.Example", drained);
    assert_int_equal(ev->flow_id, drained);
    assert_int_equal(ev->raw_len, strlen(want));
    assert_memory_equal(ev->raw, want, ev->raw_len);
    assert_int_equal(ev->norm_len, 5);
    assert_memory_equal(ev->norm, "lower", 5);
    assert_int_equal(ev->norm[5], '\0');
    assert_int_equal(ev->ip_version, 4);
    assert_memory_equal(ev->src_addr, "\x0a\x00\x00\x01", 4);
    if (drained % 2 == 0) {
        assert_non_null(ev->answer_name);
        assert_string_equal(ev->answer_name, "tunnel.example-answer.net");
        assert_string_equal(ev->answer_chain, "a.cname.test b.cname.test");
    } else {
        assert_null(ev->answer_name);
        assert_null(ev->answer_chain);
    }
    drained++;
}

static void test_fifo(void **state)
{
    (void)state;
    struct tw_evqueue q;
    unsigned pushed = 0;
    size_t used = 0, refused_size = 0;

    assert_int_equal(tw_evqueue_init(&q, 4096), 0);
    for (;;) {
        char raw[32], norm[8] = "lower";
        struct tw_event ev = {.flow_id = pushed, .raw = raw, .norm = norm, .norm_len = 5};
        char answer[32] = "tunnel.example-answer.net", chain[32] = "a.cname.test b.cname.test";
        ev.raw_len = (size_t)snprintf(raw, sizeof(raw), "N%u.Example", pushed);
        if (pushed % 2 == 0) { /* every other event carries a cached name, copied as well */
            ev.answer_name = answer;
            ev.answer_chain = chain;
        }
        ev.ip_version = 4;
        memcpy(ev.src_addr, "\x0a\x00\x00\x01", 4);
        if (tw_evqueue_push(&q, &ev) != 0) {
            refused_size = tw_event_copy_size(&ev);
            break;
        }
        used += tw_event_copy_size(&ev);
        memset(raw, 'x', sizeof(raw)); /* the queue holds its own copies */
        memset(answer, 'x', sizeof(answer) - 1);
        memset(chain, 'x', sizeof(chain) - 1);
        pushed++;
    }
    assert_true(pushed > 0);
    assert_int_equal(q.count, pushed);
    /* Each copy takes exactly its size, and the push was refused only because that event's
     * copy did not fit in what was left (not sooner, and a refusal changes nothing). */
    assert_int_equal(q.len, used);
    assert_int_equal(tw_evqueue_bytes(&q), used);
    assert_true(refused_size > 0);
    assert_true(q.cap - q.len < refused_size);
    drained = 0;
    tw_evqueue_drain(&q, check, NULL);
    assert_int_equal(drained, pushed);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.len, 0);
    assert_int_equal(tw_evqueue_bytes(&q), 0);
    tw_evqueue_destroy(&q);
}

static void check_dns(void *ctx, const struct tw_event *ev)
{
    char tmp[TW_FIELD_TMP];
    const char *v;
    size_t len;
    static const char *const answers[] = {"edge.cdn.test", "192.0.2.7", "1 . alpn=h2 ech=AAA="};

    (void)ctx;
    assert_int_equal(ev->category, TW_CAT_DNS);
    assert_int_equal(ev->dns.n_answers, 3);
    assert_true(ev->dns.ech);
    assert_int_equal(ev->dns.z, 4);
    for (unsigned i = 0; i < 3; i++) {
        assert_true(tw_event_field_at(ev, TW_F_ANSWERS, i, tmp, sizeof(tmp), &v, &len));
        assert_string_equal(v, answers[i]);
        assert_true(tw_event_field_at(ev, TW_F_TTLS, i, tmp, sizeof(tmp), &v, &len));
        assert_int_equal(atoi(v), 60 + (int)i);
        assert_int_equal(ev->dns.types[i], i == 0 ? 5 : i == 1 ? 1 : 65);
    }
    assert_false(tw_event_field_at(ev, TW_F_ANSWERS, 3, tmp, sizeof(tmp), &v, &len));
    assert_true(tw_event_field(ev, TW_F_ECH_CONFIG, tmp, sizeof(tmp), &v, &len));
    assert_string_equal(v, "true");
    /* the arrays of the copy are aligned for their types */
    assert_int_equal((uintptr_t)ev->dns.ttls % sizeof(uint32_t), 0);
    assert_int_equal((uintptr_t)ev->dns.offs % sizeof(uint16_t), 0);
    drained++;
}

/* A DNS response's answers, TTLs and types are copied with it. */
static void test_dns_copy(void **state)
{
    (void)state;
    struct tw_evqueue q;
    char text[] = "edge.cdn.test\0" "192.0.2.7\0" "1 . alpn=h2 ech=AAA=";
    uint16_t offs[3] = {0, 14, 24}, types[3] = {5, 1, 65};
    uint32_t ttls[3] = {60, 61, 62};
    char raw[] = "q.test";
    struct tw_event ev = {.category = TW_CAT_DNS, .evidence = TW_EV_DNS_RESPONSE, .raw = raw,
                          .raw_len = 6, .norm = raw, .norm_len = 6, .ip_version = 4};

    ev.dns = (struct tw_dns_resp){.z = 4, .ech = true, .n_answers = 3, .answers = text,
                                  .answers_len = sizeof(text), .offs = offs, .ttls = ttls,
                                  .types = types};
    assert_int_equal(tw_evqueue_init(&q, 4096), 0);
    assert_int_equal(tw_evqueue_push(&q, &ev), 0);
    memset(text, 'x', sizeof(text));
    memset(ttls, 0, sizeof(ttls));
    memset(offs, 0, sizeof(offs));
    memset(types, 0, sizeof(types));
    drained = 0;
    tw_evqueue_drain(&q, check_dns, NULL);
    assert_int_equal(drained, 1);
    tw_evqueue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_dns_copy),
    };
    return tw_run_tests_name("evqueue", tests, NULL, NULL);
}
