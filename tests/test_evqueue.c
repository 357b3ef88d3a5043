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
            refused_size = tw_event_pack_size(&ev);
            break;
        }
        used += tw_event_pack_size(&ev);
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
    assert_true(refused_size > 0);
    assert_true(q.cap - q.len < refused_size);
    drained = 0;
    tw_evqueue_drain(&q, check, NULL);
    assert_int_equal(drained, pushed);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.len, 0);
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

static void assert_opt_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* Every field of b as in a; b's strings and arrays are its own (not a's). */
static void assert_same_event(const struct tw_event *a, const struct tw_event *b)
{
    assert_int_equal(a->category, b->category);
    assert_int_equal(a->evidence, b->evidence);
    assert_int_equal(a->ts_sec, b->ts_sec);
    assert_int_equal(a->ts_nsec, b->ts_nsec);
    assert_int_equal(a->flow_id, b->flow_id);
    assert_int_equal(a->raw_len, b->raw_len);
    assert_memory_equal(a->raw, b->raw, a->raw_len);
    assert_int_equal(a->norm_len, b->norm_len);
    assert_memory_equal(a->norm, b->norm, a->norm_len);
    assert_int_equal(b->norm[b->norm_len], '\0');
    assert_int_equal(a->qtype, b->qtype);
    assert_int_equal(a->l4_proto, b->l4_proto);
    assert_int_equal(a->initiated, b->initiated);
    assert_int_equal(a->ech, b->ech);
    assert_opt_equal(tw_event_ja4(a), b->ja4);
    assert_null(b->ja4_hello);
    assert_int_equal(a->ja4_proto, b->ja4_proto);
    assert_int_equal(a->tls_flags, b->tls_flags);
    assert_int_equal(a->tls_version, b->tls_version);
    assert_int_equal(a->tls_legacy_version, b->tls_legacy_version);
    assert_int_equal(a->tls_record_version, b->tls_record_version);
    assert_int_equal(a->name_truncated, b->name_truncated);
    for (size_t i = 0; i < TW_ARRAY_SIZE(a->http); i++)
        assert_opt_equal(a->http[i], b->http[i]);
    assert_opt_equal(a->http_host_raw, b->http_host_raw);
    assert_int_equal(a->sport, b->sport);
    assert_int_equal(a->dport, b->dport);
    assert_opt_equal(a->answer_name, b->answer_name);
    assert_opt_equal(a->answer_chain, b->answer_chain);
    assert_int_equal(a->ip_version, b->ip_version);
    assert_memory_equal(a->src_addr, b->src_addr, a->ip_version == 4 ? 4 : 16);
    assert_memory_equal(a->dst_addr, b->dst_addr, a->ip_version == 4 ? 4 : 16);
    assert_int_equal(a->midstream, b->midstream);
    assert_int_equal(a->direction, b->direction);
    assert_int_equal(a->stream_flags, b->stream_flags);
    assert_int_equal(a->dns_odd, b->dns_odd);
    assert_int_equal(a->proc.status, b->proc.status);
    assert_int_equal(a->proc.local_is_source, b->proc.local_is_source);
    assert_int_equal(a->proc.pid, b->proc.pid);
    assert_int_equal(a->proc.uid, b->proc.uid);
    assert_opt_equal(a->proc.image, b->proc.image);
    assert_opt_equal(a->proc.user, b->proc.user);
    assert_opt_equal(a->proc.comm, b->proc.comm);
    assert_opt_equal(a->proc.reason, b->proc.reason);
    assert_int_equal(a->dns.id, b->dns.id);
    assert_int_equal(a->dns.flags, b->dns.flags);
    assert_int_equal(a->dns.z, b->dns.z);
    assert_int_equal(a->dns.rejected, b->dns.rejected);
    assert_int_equal(a->dns.ech, b->dns.ech);
    assert_int_equal(a->dns.n_answers, b->dns.n_answers);
    assert_int_equal(a->dns.answers == NULL, b->dns.answers == NULL);
    if (a->dns.answers != NULL) {
        assert_int_equal(a->dns.answers_len, b->dns.answers_len);
        assert_memory_equal(a->dns.answers, b->dns.answers, a->dns.answers_len);
    }
    for (unsigned i = 0; i < a->dns.n_answers; i++) {
        assert_int_equal(a->dns.ttls[i], b->dns.ttls[i]);
        assert_int_equal(a->dns.offs[i], b->dns.offs[i]);
        assert_int_equal(a->dns.types[i], b->dns.types[i]);
    }
    assert_ptr_equal(a->source, b->source);
    assert_int_equal(a->source_is_file, b->source_is_file);
}

/* Packs ev into a buffer of its own, unpacks it, and checks the result and the size. */
static void roundtrip(const struct tw_event *ev)
{
    size_t size = tw_event_pack_size(ev);
    uint64_t *buf = malloc(size);
    struct tw_event back;

    assert_non_null(buf);
    assert_int_equal(size % 8, 0);
    assert_int_equal(tw_event_pack(buf, ev), size);
    assert_int_equal(tw_event_unpack(buf, &back), size);
    assert_same_event(ev, &back);
    free(buf);
}

/* A packed copy carries every field of an event: one with all of them set, one with norm
 * different from raw (and NUL bytes in raw), one with no name and no address. */
static void test_pack_every_field(void **state)
{
    (void)state;
    static const char source[] = "eth7";
    char raw[] = "Ab\0c.Example.";
    char text[] = "edge.cdn.test\0" "2001:db8::7";
    uint16_t offs[2] = {0, 14}, types[2] = {5, 28};
    uint32_t ttls[2] = {300, 7};
    struct tw_event ev = {
        .category = TW_CAT_NETWORK_CONNECTION,
        .evidence = TW_EV_HTTP_HOST,
        .ts_sec = 1700000000,
        .ts_nsec = 123456789,
        .flow_id = 0x1122334455667788ull,
        .raw = raw,
        .raw_len = sizeof(raw) - 1,
        .norm = "ab\0c.example",
        .norm_len = 12,
        .qtype = 65,
        .l4_proto = 6,
        .initiated = true,
        .ech = true,
        .ja4 = "t13d1516h2_8daaf6152771_02713d6af862",
        .ja4_proto = 't',
        .tls_flags = 0x80000101u,
        .tls_version = 0x0304,
        .tls_legacy_version = 0x0303,
        .tls_record_version = 0x0301,
        .name_truncated = true,
        .http = {"GET", "/a?b=c", "/a", "b=c", "", "curl/8.1", "http://r.test/", "1.1",
                 "k=v"},
        .http_host_raw = "Ab.Example.:8080",
        .sport = 51234,
        .dport = 8080,
        .answer_name = "tunnel.example.net",
        .answer_chain = "a.cname.test b.cname.test",
        .ip_version = 6,
        .midstream = true,
        .direction = TW_DIR_CLIENT_BYTES,
        .stream_flags = 5,
        .dns_odd = 3,
        .proc = {.status = TW_PROC_FOUND, .local_is_source = true, .pid = 4242, .uid = 1000,
                 .image = "/usr/bin/curl", .user = "alice", .comm = "curl", .reason = "x"},
        .dns = {.id = 0xbeef, .flags = 0x8180, .z = 3, .rejected = true, .ech = true,
                .n_answers = 2, .answers = text, .answers_len = sizeof(text), .offs = offs,
                .ttls = ttls, .types = types},
        .source = source,
        .source_is_file = true,
    };
    for (unsigned i = 0; i < 16; i++) {
        ev.src_addr[i] = (uint8_t)(0x20 + i);
        ev.dst_addr[i] = (uint8_t)(0xe0 - i);
    }
    roundtrip(&ev);

    /* A DNS query as the engine makes them: norm is raw's bytes, stored once. */
    char q[] = "tunnel.example.net";
    struct tw_event dq = {.category = TW_CAT_DNS_QUERY, .evidence = TW_EV_DNS_QUERY,
                          .raw = q, .raw_len = sizeof(q) - 1, .norm = q,
                          .norm_len = sizeof(q) - 1, .qtype = 1, .l4_proto = 17, .sport = 5353,
                          .dport = 53, .ip_version = 4};
    memcpy(dq.src_addr, "\x0a\x00\x00\x01", 4);
    memcpy(dq.dst_addr, "\x0a\x00\x00\x35", 4);
    roundtrip(&dq);
    /* Held in bulk, that is the point: at most a third of a deep copy. */
    assert_true(tw_event_pack_size(&dq) * 3 <= tw_event_copy_size(&dq));

    struct tw_event empty = {.category = TW_CAT_DNS, .evidence = TW_EV_DNS_RESPONSE};
    roundtrip(&empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_dns_copy),
        cmocka_unit_test(test_pack_every_field),
    };
    return tw_run_tests_name("evqueue", tests, NULL, NULL);
}
