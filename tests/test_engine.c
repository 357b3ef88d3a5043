/* SPDX-License-Identifier: MIT */
/*
 * The packet path end to end on frames built here: flow direction, TCP reassembly of the
 * ClientHello (in order, out of order, overlapping), CONNECT and PROXY preambles, STARTTLS-style
 * scanning, DNS over UDP and TCP (pipelined, split), port reuse, bounded buffers, and the
 * lenient ClientHello cases at the record and segment level (records skipped before the hello,
 * several names, a 100 KiB hello over many records and segments, names kept by their end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/decode/csum.h"
#include "tunwatch/inspect/engine.h"

#include "quic_seal.h"

/* ---- events seen by the sink ---- */

struct seen {
    enum tw_category cat;
    enum tw_evidence evidence;
    char raw[256];
    char norm[256];
    char src[TW_IPSTR_MAX], dst[TW_IPSTR_MAX];
    uint16_t sport, dport;
    bool initiated;
    uint64_t flow_id;
    uint16_t qtype;
    char answer[256]; /* "" when the event has no cached name */
    char chain[256];
    int64_t ts_sec;
    bool midstream;
    enum tw_direction direction;
    size_t raw_len;
    char raw_end[64]; /* the last bytes of raw (up to 63) */
    bool name_truncated;
    uint32_t tls_flags;
    uint16_t tls_version, tls_legacy_version, tls_record_version;
    bool has_ja4;
    uint8_t stream_flags;
};

static struct seen seen[64];
static size_t n_seen;

/* dns events (DNS responses), kept apart: the tests above count names. Each field as
 * tw_event_field_at() gives it, list values joined with '|'. */
struct resp {
    char name[256];
    char src[TW_IPSTR_MAX];
    char f[TW_F__COUNT][512];
};

static struct resp resp[16];
static size_t n_resp;

static void resp_record(const struct tw_event *ev)
{
    char tmp[TW_FIELD_TMP];
    const char *v;
    size_t len;

    assert_true(n_resp < TW_ARRAY_SIZE(resp));
    struct resp *r = &resp[n_resp++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%.*s", (int)ev->raw_len, ev->raw);
    tw_addr_format(ev->ip_version, ev->src_addr, r->src, sizeof(r->src));
    for (unsigned f = 0; f < TW_F__COUNT; f++)
        for (unsigned i = 0; tw_event_field_at(ev, (enum tw_field)f, i, tmp, sizeof(tmp), &v, &len);
             i++)
            snprintf(r->f[f] + strlen(r->f[f]), sizeof(r->f[f]) - strlen(r->f[f]), "%s%.*s",
                     i > 0 ? "|" : "", (int)len, v);
}

static void sink(void *ctx, const struct tw_event *ev)
{
    (void)ctx;
    if (ev->category == TW_CAT_DNS) {
        assert_int_equal(ev->evidence, TW_EV_DNS_RESPONSE);
        resp_record(ev);
        return;
    }
    assert_true(n_seen < TW_ARRAY_SIZE(seen));
    struct seen *s = &seen[n_seen++];
    s->cat = ev->category;
    s->evidence = ev->evidence;
    snprintf(s->raw, sizeof(s->raw), "%.*s", (int)ev->raw_len, ev->raw);
    snprintf(s->norm, sizeof(s->norm), "%.*s", (int)ev->norm_len, ev->norm);
    tw_addr_format(ev->ip_version, ev->src_addr, s->src, sizeof(s->src));
    tw_addr_format(ev->ip_version, ev->dst_addr, s->dst, sizeof(s->dst));
    s->sport = ev->sport;
    s->dport = ev->dport;
    s->initiated = ev->initiated;
    s->flow_id = ev->flow_id;
    s->qtype = ev->qtype;
    snprintf(s->answer, sizeof(s->answer), "%s", ev->answer_name ? ev->answer_name : "");
    snprintf(s->chain, sizeof(s->chain), "%s", ev->answer_chain ? ev->answer_chain : "");
    s->ts_sec = ev->ts_sec;
    s->midstream = ev->midstream;
    s->direction = ev->direction;
    s->raw_len = ev->raw_len;
    size_t tail = TW_MIN(ev->raw_len, sizeof(s->raw_end) - 1);
    snprintf(s->raw_end, sizeof(s->raw_end), "%.*s", (int)tail, ev->raw + ev->raw_len - tail);
    s->name_truncated = ev->name_truncated;
    s->tls_flags = ev->tls_flags;
    s->tls_version = ev->tls_version;
    s->tls_legacy_version = ev->tls_legacy_version;
    s->tls_record_version = ev->tls_record_version;
    s->has_ja4 = tw_event_ja4(ev) != NULL;
    s->stream_flags = ev->stream_flags;
}

static struct tw_anscache *cache; /* used by engines made while set */
static const atomic_bool *dns_events; /* likewise (tw_engine_config.dns_events) */

static uint32_t big_buffers; /* tls_big_buffers of the engines made while set */
static uint32_t mid_buffers = 4; /* midstream_buffers of the engines made while set */
static uint32_t quic_states = 4; /* quic_states of ... */
static uint32_t reclaim_idle;    /* reclaim_idle of ... (0: never) */

static struct tw_engine *engine(uint32_t flows, uint32_t streams)
{
    struct tw_engine_config cfg = {
        .flow_capacity = flows,
        .flow_timeout = 60,
        .stream_buffers = streams,
        .tls_big_buffers = big_buffers,
        .midstream_buffers = mid_buffers,
        .quic_states = quic_states,
        .reclaim_idle = reclaim_idle,
        .sink = sink,
        .anscache = cache,
        .dns_events = dns_events,
    };
    tw_homenet_default(&cfg.home);
    n_seen = 0;
    n_resp = 0;
    struct tw_engine *e = tw_engine_new(&cfg);
    assert_non_null(e);
    return e;
}

static void get_stats(struct tw_engine *e, struct tw_engine_stats *st)
{
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, st, &fst, &hw);
}

/* ---- frame building: Ethernet / IPv4 / TCP or UDP ---- */

#define CLI 0x0a000002u /* 10.0.0.2, inside the default home networks */
#define SRV 0xc0000201u /* 192.0.2.1 */
#define OUT 0xc6336405u /* 198.51.100.5, outside */

struct frame {
    uint8_t b[4096];
    size_t n;
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void ip_hdr(struct frame *f, uint32_t src, uint32_t dst, uint8_t proto, size_t l4len)
{
    memset(f->b, 0, 34);
    f->b[12] = 0x08; /* IPv4 */
    uint8_t *ip = f->b + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4len));
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, dst);
}

static void tcp_frame(struct frame *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                      uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len)
{
    assert_true(54 + len <= sizeof(f->b));
    ip_hdr(f, src, dst, 6, 20 + len);
    uint8_t *t = f->b + 34;
    memset(t, 0, 20);
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 0x50;
    t[13] = flags;
    put16(t + 14, 65535);
    if (len)
        memcpy(t + 20, data, len);
    f->n = 54 + len;
}

static void udp_frame(struct frame *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                      const void *data, size_t len)
{
    ip_hdr(f, src, dst, 17, 8 + len);
    uint8_t *u = f->b + 34;
    put16(u, sport);
    put16(u + 2, dport);
    put16(u + 4, (uint16_t)(8 + len));
    put16(u + 6, 0);
    memcpy(u + 8, data, len);
    f->n = 42 + len;
}

static int64_t clock_sec = 1700000000; /* one second per frame */

static void feed(struct tw_engine *e, const struct frame *fr)
{
    int64_t t = clock_sec;
    /* Exact-size copy so an over-read is caught by the sanitizer build. */
    uint8_t *copy = malloc(fr->n);
    assert_non_null(copy);
    memcpy(copy, fr->b, fr->n);
    clock_sec++;
    struct tw_frame f = {.ts_sec = t, .caplen = (uint32_t)fr->n, .wirelen = (uint32_t)fr->n,
                         .data = copy};
    tw_engine_frame(e, TW_LINK_ETHERNET, &f);
    free(copy);
}

#define SYN 0x02
#define ACK 0x10
#define PSH 0x08
#define FIN 0x01
#define RST 0x04

static void tcp_send(struct tw_engine *e, uint32_t src, uint16_t sport, uint32_t dst,
                     uint16_t dport, uint8_t flags, uint32_t seq, const void *data, size_t len)
{
    struct frame f;
    tcp_frame(&f, src, sport, dst, dport, flags, seq, 1, data, len);
    feed(e, &f);
}

static void handshake(struct tw_engine *e, uint32_t cli, uint16_t sport, uint32_t srv,
                      uint16_t dport, uint32_t isn)
{
    struct frame f;
    tcp_frame(&f, cli, sport, srv, dport, SYN, isn, 0, NULL, 0);
    feed(e, &f);
    tcp_frame(&f, srv, dport, cli, sport, SYN | ACK, 5000, isn + 1, NULL, 0);
    feed(e, &f);
    tcp_frame(&f, cli, sport, srv, dport, ACK, isn + 1, 5001, NULL, 0);
    feed(e, &f);
}

/* ---- a ClientHello with an SNI, padded to about `size` bytes, in `records` records ---- */

static size_t build_hello(uint8_t *out, size_t cap, const char *sni, size_t pad, int records)
{
    uint8_t body[8192];
    size_t n = 0, sl = strlen(sni);

    body[n++] = 3;
    body[n++] = 3;
    memset(body + n, 0x11, 32);
    n += 32;
    body[n++] = 0;                 /* session id */
    put16(body + n, 2);            /* cipher suites */
    put16(body + n + 2, 0x1301);
    n += 4;
    body[n++] = 1;                 /* compression */
    body[n++] = 0;
    size_t ext_len = (4 + 2 + 3 + sl) + (pad ? 4 + pad : 0);
    put16(body + n, (uint16_t)ext_len);
    n += 2;
    put16(body + n, 0);            /* server_name */
    put16(body + n + 2, (uint16_t)(2 + 3 + sl));
    put16(body + n + 4, (uint16_t)(3 + sl));
    body[n + 6] = 0;
    put16(body + n + 7, (uint16_t)sl);
    memcpy(body + n + 9, sni, sl);
    n += 9 + sl;
    if (pad) {
        put16(body + n, 21);       /* padding */
        put16(body + n + 2, (uint16_t)pad);
        memset(body + n + 4, 0, pad);
        n += 4 + pad;
    }
    uint8_t hs[8192];
    hs[0] = 1;
    hs[1] = (uint8_t)(n >> 16);
    put16(hs + 2, (uint16_t)n);
    memcpy(hs + 4, body, n);
    size_t hn = n + 4, o = 0, per = (hn + (size_t)records - 1) / (size_t)records;
    for (size_t off = 0; off < hn; off += per) {
        size_t k = TW_MIN(per, hn - off);
        assert_true(o + 5 + k <= cap);
        out[o] = 0x16;
        out[o + 1] = 3;
        out[o + 2] = 1;
        put16(out + o + 3, (uint16_t)k);
        memcpy(out + o + 5, hs + off, k);
        o += 5 + k;
    }
    return o;
}

static void expect_sni(size_t i, const char *raw, const char *src, bool initiated)
{
    assert_true(i < n_seen);
    assert_int_equal(seen[i].cat, TW_CAT_NETWORK_CONNECTION);
    assert_int_equal(seen[i].evidence, TW_EV_TLS_SNI);
    assert_string_equal(seen[i].raw, raw);
    assert_string_equal(seen[i].src, src);
    assert_int_equal(seen[i].initiated, initiated);
}

static void test_hello_one_segment(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    uint8_t h[512];
    size_t n = build_hello(h, sizeof(h), "A.LocalTo.Net.", 0, 1);

    handshake(e, CLI, 40000, SRV, 443, 100);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, h, n);
    /* The server's reply and a second hello on the same flow are not inspected. */
    tcp_send(e, SRV, 443, CLI, 40000, ACK | PSH, 5001, h, n);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101 + (uint32_t)n, h, n);
    assert_int_equal(n_seen, 1);
    expect_sni(0, "A.LocalTo.Net.", "10.0.0.2", true);
    assert_string_equal(seen[0].norm, "a.localto.net");
    assert_int_equal(seen[0].sport, 40000);
    assert_int_equal(seen[0].dport, 443);
    assert_string_equal(seen[0].dst, "192.0.2.1");
    /* From outside the home networks: Initiated is false. */
    handshake(e, OUT, 40001, SRV, 8443, 7);
    tcp_send(e, OUT, 40001, SRV, 8443, ACK | PSH, 8, h, n);
    assert_int_equal(n_seen, 2);
    expect_sni(1, "A.LocalTo.Net.", "198.51.100.5", false);
    assert_true(seen[1].flow_id != seen[0].flow_id);
    tw_engine_free(e);
}

/* A post-quantum-sized hello in three segments and three records, fed in several orders. */
static void test_hello_reassembly_orders(void **state)
{
    (void)state;
    static const int orders[][3] = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}};
    uint8_t h[4096];
    size_t n = build_hello(h, sizeof(h), "x.ngrok-free.app", 2000, 3);
    size_t cut[4] = {0, 700, 1500, n};

    assert_true(n > 2048);
    for (size_t o = 0; o < TW_ARRAY_SIZE(orders); o++) {
        struct tw_engine *e = engine(64, 4);
        struct tw_engine_stats st;
        struct tw_flow_table_stats fst;
        uint32_t hw;
        handshake(e, CLI, 40000, SRV, 443, 0xfffffc00u); /* sequence numbers wrap inside */
        for (int k = 0; k < 3; k++) {
            int s = orders[o][k];
            tcp_send(e, CLI, 40000, SRV, 443, ACK, 0xfffffc01u + (uint32_t)cut[s], h + cut[s],
                     cut[s + 1] - cut[s]);
            /* a retransmission of the first segment, overlapping nothing new */
            if (k == 1)
                tcp_send(e, CLI, 40000, SRV, 443, ACK, 0xfffffc01u, h, cut[1]);
        }
        assert_int_equal(n_seen, 1);
        expect_sni(0, "x.ngrok-free.app", "10.0.0.2", true);
        tw_engine_get_stats(e, &st, &fst, &hw);
        assert_int_equal(st.tls_multi_segment, 1);
        assert_int_equal(hw, 1);
        tw_engine_free(e);
    }
}

/* Eviction: 262,144 new one-packet flows (a SYN flood, 0.16 s at 1.6 Mpps) between the two
 * halves of a hello, through a table of 1,024 flows, do not push out the flow that holds the
 * first half: its name is reported, and no flow holding part of a name was evicted. */
static void test_hello_survives_flood(void **state)
{
    (void)state;
    struct tw_engine *e = engine(1024, 4);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    uint8_t h[2048];
    size_t n = build_hello(h, sizeof(h), "x.trycloudflare.com", 1200, 1);
    struct frame f;

    handshake(e, CLI, 40000, SRV, 443, 100);
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 101, h, 700);
    int64_t t = clock_sec;
    for (uint32_t i = 0; i < 262144; i++) {
        tcp_frame(&f, 0x0b000000u + i, (uint16_t)(1024 + i % 60000), SRV, 443, SYN, i, 0, NULL,
                  0);
        struct tw_frame fr = {.ts_sec = t, .caplen = (uint32_t)f.n, .wirelen = (uint32_t)f.n,
                              .data = f.b};
        tw_engine_frame(e, TW_LINK_ETHERNET, &fr);
    }
    assert_int_equal(n_seen, 0);
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 801, h + 700, n - 700);
    assert_int_equal(n_seen, 1);
    expect_sni(0, "x.trycloudflare.com", "10.0.0.2", true);
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_true(fst.evicted >= 262144 - 1024);
    assert_int_equal(fst.evicted_holding, 0);
    tw_engine_free(e);
}

static void test_connect_and_proxy_preambles(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    uint8_t h[512], buf[1024];
    size_t n = build_hello(h, sizeof(h), "k3.devtunnels.ms", 0, 1);
    static const char req[] = "CONNECT k3.devtunnels.ms:443 HTTP/1.1\r\nHost: k3.devtunnels.ms:443"
                              "\r\nProxy-Connection: keep-alive\r\n\r\n";

    /* CONNECT, the proxy's 200, then the hello on the same connection */
    handshake(e, CLI, 40000, SRV, 3128, 100);
    tcp_send(e, CLI, 40000, SRV, 3128, ACK | PSH, 101, req, sizeof(req) - 1);
    tcp_send(e, SRV, 3128, CLI, 40000, ACK | PSH, 5001, "HTTP/1.1 200 OK\r\n\r\n", 19);
    tcp_send(e, CLI, 40000, SRV, 3128, ACK | PSH, 101 + sizeof(req) - 1, h, n);
    /* The CONNECT request names its target (evidence http_host), then the hello its SNI. */
    assert_int_equal(n_seen, 2);
    assert_int_equal(seen[0].evidence, TW_EV_HTTP_HOST);
    assert_string_equal(seen[0].raw, "k3.devtunnels.ms");
    expect_sni(1, "k3.devtunnels.ms", "10.0.0.2", true);

    /* PROXY v1 line and the hello in one segment */
    static const char pv1[] = "PROXY TCP4 203.0.113.9 192.0.2.1 52176 443\r\n";
    memcpy(buf, pv1, sizeof(pv1) - 1);
    memcpy(buf + sizeof(pv1) - 1, h, n);
    handshake(e, CLI, 40001, SRV, 443, 100);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 101, buf, sizeof(pv1) - 1 + n);
    assert_int_equal(n_seen, 3);

    /* PROXY v2 header (12-byte signature, v2 PROXY, TCP over IPv4, 12 address bytes) */
    static const uint8_t pv2[28] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                    0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c};
    memcpy(buf, pv2, sizeof(pv2));
    memcpy(buf + sizeof(pv2), h, n);
    handshake(e, CLI, 40002, SRV, 443, 100);
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 101, buf, sizeof(pv2) + n);
    assert_int_equal(n_seen, 4);
    expect_sni(3, "k3.devtunnels.ms", "10.0.0.2", true);
    tw_engine_free(e);
}

/* SMTP STARTTLS: the hello comes after other client segments; a flow that never sends one is
 * given up after a bounded number of segments. */
static void test_starttls_scan(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw, seq = 101;
    uint8_t h[512];
    size_t n = build_hello(h, sizeof(h), "mail.example.net", 0, 1);

    handshake(e, CLI, 40000, SRV, 25, 100);
    tcp_send(e, CLI, 40000, SRV, 25, ACK | PSH, seq, "EHLO me\r\n", 9);
    seq += 9;
    tcp_send(e, CLI, 40000, SRV, 25, ACK | PSH, seq, "STARTTLS\r\n", 10);
    seq += 10;
    tcp_send(e, CLI, 40000, SRV, 25, ACK | PSH, seq, h, n);
    assert_int_equal(n_seen, 1);
    expect_sni(0, "mail.example.net", "10.0.0.2", true);

    handshake(e, CLI, 40001, SRV, 80, 100);
    seq = 101;
    for (int i = 0; i < 20; i++, seq += 16)
        tcp_send(e, CLI, 40001, SRV, 80, ACK | PSH, seq, "XYZZY 1234 abc\r\n", 16);
    tcp_send(e, CLI, 40001, SRV, 80, ACK | PSH, seq, h, n); /* too late: not inspected */
    assert_int_equal(n_seen, 1);
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.tls_after_preamble, 1);
    assert_int_equal(st.flows_not_inspected, 1);
    tw_engine_free(e);
}

static size_t dns_query(uint8_t *out, uint16_t id, const char *name, uint16_t qtype, bool qr)
{
    size_t n = 12;
    memset(out, 0, 12);
    put16(out, id);
    out[2] = qr ? 0x81 : 0x01;
    put16(out + 4, 1);
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        out[n++] = (uint8_t)l;
        memcpy(out + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    out[n++] = 0;
    put16(out + n, qtype);
    put16(out + n + 2, 1);
    return n + 4;
}

static void test_dns_udp(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    struct frame f;
    uint8_t q[300];
    size_t n = dns_query(q, 7, "a1b2.LocalTo.net", 28, false);

    udp_frame(&f, CLI, 53000, SRV, 53, q, n);
    feed(e, &f);
    n = dns_query(q, 7, "a1b2.LocalTo.net", 28, true); /* the response: not a query */
    udp_frame(&f, SRV, 53, CLI, 53000, q, n);
    feed(e, &f);
    n = dns_query(q, 8, "bore.pub", 1, false);
    udp_frame(&f, CLI, 53000, SRV, 53, q, n); /* same socket, next query: same flow */
    feed(e, &f);
    udp_frame(&f, CLI, 53001, SRV, 5353, q, n); /* not port 53 */
    feed(e, &f);
    assert_int_equal(n_seen, 2);
    assert_int_equal(seen[0].cat, TW_CAT_DNS_QUERY);
    assert_string_equal(seen[0].raw, "a1b2.LocalTo.net");
    assert_string_equal(seen[0].norm, "a1b2.localto.net");
    assert_int_equal(seen[0].qtype, 28);
    assert_string_equal(seen[0].src, "10.0.0.2");
    assert_int_equal(seen[0].dport, 53);
    assert_string_equal(seen[1].raw, "bore.pub");
    assert_int_equal(seen[0].flow_id, seen[1].flow_id);
    tw_engine_free(e);
}

static void test_dns_tcp(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    uint8_t stream[1024];
    size_t n = 0, m;
    const char *names[] = {"one.ngrok.io", "two.loca.lt", "three.bore.pub", "four.lhr.life"};

    for (size_t i = 0; i < TW_ARRAY_SIZE(names); i++) {
        m = dns_query(stream + n + 2, (uint16_t)i, names[i], 1, false);
        put16(stream + n, (uint16_t)m);
        n += 2 + m;
    }
    /* Segments cut inside a length prefix, inside a message, and two messages in one. */
    size_t cuts[] = {0, 1, 20, 30 + 12 + 2 + 14 + 2, n};
    handshake(e, CLI, 40000, SRV, 53, 100);
    for (size_t i = 0; i + 1 < TW_ARRAY_SIZE(cuts); i++)
        tcp_send(e, CLI, 40000, SRV, 53, ACK | PSH, 101 + (uint32_t)cuts[i], stream + cuts[i],
                 cuts[i + 1] - cuts[i]);
    assert_int_equal(n_seen, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(seen[i].cat, TW_CAT_DNS_QUERY);
        assert_string_equal(seen[i].raw, names[i]);
    }
    tw_engine_free(e);
}

static void test_port_reuse_and_retransmitted_syn(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    uint8_t h[512];
    size_t n = build_hello(h, sizeof(h), "a.trycloudflare.com", 0, 1);

    handshake(e, CLI, 40000, SRV, 443, 100);
    tcp_send(e, CLI, 40000, SRV, 443, SYN, 100, NULL, 0); /* retransmitted SYN: same flow */
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, h, n);
    tcp_send(e, CLI, 40000, SRV, 443, FIN | ACK, 101 + (uint32_t)n, NULL, 0);
    /* Same 5-tuple, new ISN: a new connection with its own flow id. */
    handshake(e, CLI, 40000, SRV, 443, 900000);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 900001, h, n);
    assert_int_equal(n_seen, 2);
    assert_true(seen[1].flow_id != seen[0].flow_id);
    tw_engine_free(e);
}

/* Capture began mid-flow: the side that sends the hello is the client. */
static void test_midstream(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    uint8_t h[512];
    size_t n = build_hello(h, sizeof(h), "x.pinggy.link", 0, 1);

    tcp_send(e, SRV, 443, CLI, 40000, ACK, 777, "\x17\x03\x03\x00\x01\x00", 6);
    tcp_send(e, OUT, 40001, SRV, 443, ACK | PSH, 31337, h, n);
    assert_int_equal(n_seen, 1);
    expect_sni(0, "x.pinggy.link", "198.51.100.5", false);
    tw_engine_free(e);
}

/* A DNS response answering name with an A record (via a CNAME when cname is not NULL). */
static size_t dns_response(uint8_t *out, const char *name, const char *cname, uint32_t addr)
{
    size_t n = dns_query(out, 9, name, 1, true);
    uint16_t an = 0;

    if (cname != NULL) {
        /* owner: the question's name (pointer 0x0c); target written in full */
        const uint8_t hdr[] = {0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 1, 44};
        memcpy(out + n, hdr, sizeof(hdr));
        n += sizeof(hdr);
        size_t rdpos = n;
        n += 2;
        size_t start = n;
        const char *c = cname;
        while (*c) {
            const char *dot = strchr(c, '.');
            size_t l = dot ? (size_t)(dot - c) : strlen(c);
            out[n++] = (uint8_t)l;
            memcpy(out + n, c, l);
            n += l;
            c += l + (dot ? 1 : 0);
        }
        out[n++] = 0;
        put16(out + rdpos, (uint16_t)(n - start));
        /* the A record is owned by the CNAME target: pointer to it */
        out[n++] = (uint8_t)(0xc0 | (start >> 8));
        out[n++] = (uint8_t)start;
        an++;
    } else {
        out[n++] = 0xc0;
        out[n++] = 0x0c;
    }
    const uint8_t a[] = {0, 1, 0, 1, 0, 0, 1, 44, 0, 4};
    memcpy(out + n, a, sizeof(a));
    n += sizeof(a);
    put32(out + n, addr);
    n += 4;
    an++;
    put16(out + 6, an);
    return n;
}

/* A client resolves a tunnel name, then opens raw TCP and UDP flows to the address with no
 * name on the wire: each flow gets one network_connection event named from the answer; a
 * TLS flow to it keeps its SNI and reports the cached name too; other clients get nothing. */
static void test_answer_correlation(void **state)
{
    (void)state;
    struct tw_anscache_config ac = TW_ANSCACHE_CONFIG_DEFAULT;
    struct frame f;
    uint8_t r[512], h[512];
    const uint32_t tun = 0xcb007107; /* 203.0.113.7 */
    size_t n;

    ac.capacity = 1024;
    cache = tw_anscache_new(&ac);
    assert_non_null(cache);
    struct tw_engine *e = engine(64, 4);

    n = dns_response(r, "a1.localto.net", NULL, tun);
    udp_frame(&f, SRV, 53, CLI, 53111, r, n);
    feed(e, &f);
    assert_int_equal(n_seen, 0);
    /* a CNAME: its target is reported as a name the client is about to use */
    n = dns_response(r, "cdn.example.org", "b2.trycloudflare.com", tun + 1);
    udp_frame(&f, SRV, 53, CLI, 53112, r, n);
    feed(e, &f);
    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].cat, TW_CAT_DNS_QUERY);
    assert_int_equal(seen[0].evidence, TW_EV_DNS_ANSWER);
    assert_string_equal(seen[0].raw, "b2.trycloudflare.com");
    assert_string_equal(seen[0].answer, "cdn.example.org");
    assert_string_equal(seen[0].src, "10.0.0.2"); /* the querier */
    assert_int_equal(seen[0].dport, 53);
    n_seen = 0;

    /* raw TCP: the client talks first, never TLS; the flow is named when it closes */
    handshake(e, CLI, 40000, tun, 9000, 100);
    tcp_send(e, CLI, 40000, tun, 9000, ACK | PSH, 101, "bore-ish", 8);
    tcp_send(e, CLI, 40000, tun, 9000, FIN | ACK, 109, NULL, 0);
    tcp_send(e, tun, 9000, CLI, 40000, FIN | ACK, 5001, NULL, 0);
    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].evidence, TW_EV_DNS_ANSWER);
    assert_int_equal(seen[0].cat, TW_CAT_NETWORK_CONNECTION);
    assert_string_equal(seen[0].raw, "a1.localto.net");
    assert_string_equal(seen[0].src, "10.0.0.2");
    assert_string_equal(seen[0].dst, "203.0.113.7");
    assert_int_equal(seen[0].dport, 9000);
    assert_true(seen[0].initiated);

    /* UDP to the CNAME's address: named with the queried name, chain reported */
    udp_frame(&f, CLI, 41000, tun + 1, 7000, "x", 1);
    feed(e, &f);
    feed(e, &f); /* one event per flow, not per packet */
    assert_int_equal(n_seen, 2);
    assert_int_equal(seen[1].evidence, TW_EV_DNS_ANSWER);
    assert_string_equal(seen[1].raw, "cdn.example.org");
    assert_string_equal(seen[1].chain, "b2.trycloudflare.com");

    /* TLS to the same address: the SNI wins, the cached name comes along */
    n = build_hello(h, sizeof(h), "other.example.net", 0, 1);
    handshake(e, CLI, 40001, tun, 443, 100);
    tcp_send(e, CLI, 40001, tun, 443, ACK | PSH, 101, h, n);
    tcp_send(e, CLI, 40001, tun, 443, FIN | ACK, 101 + (uint32_t)n, NULL, 0);
    assert_int_equal(n_seen, 3);
    expect_sni(2, "other.example.net", "10.0.0.2", true);
    assert_string_equal(seen[2].answer, "a1.localto.net");

    /* another client did not resolve it: nothing */
    handshake(e, OUT, 40002, tun, 9000, 100);
    tcp_send(e, OUT, 40002, tun, 9000, FIN | ACK, 101, NULL, 0);
    assert_int_equal(n_seen, 3);

    /* the server speaks first (an SSH-like banner) and the client never sends a hello */
    handshake(e, CLI, 40003, tun, 22, 100);
    tcp_send(e, tun, 22, CLI, 40003, ACK | PSH, 5001, "SSH-2.0-x\r\n", 11);
    tcp_send(e, CLI, 40003, tun, 22, RST, 101, NULL, 0);
    assert_int_equal(n_seen, 4);
    assert_string_equal(seen[3].raw, "a1.localto.net");
    assert_int_equal(seen[3].dport, 22);

    tw_engine_free(e);
    tw_anscache_free(cache);
    cache = NULL;
}

/* A DNS response over TCP, split across segments and pipelined after another: its answers
 * name later flows like UDP ones do. */
static void test_answers_over_tcp(void **state)
{
    (void)state;
    struct tw_anscache_config ac = TW_ANSCACHE_CONFIG_DEFAULT;
    uint8_t r1[512], r2[512], stream[1100];
    const uint32_t tun = 0xcb007109;
    size_t n1, n2, n = 0;

    ac.capacity = 64;
    cache = tw_anscache_new(&ac);
    assert_non_null(cache);
    struct tw_engine *e = engine(64, 4);
    n1 = dns_response(r1, "first.example.org", NULL, tun + 5);
    n2 = dns_response(r2, "q1w2.tcp.eu.ngrok.io", NULL, tun);
    put16(stream, (uint16_t)n1);
    memcpy(stream + 2, r1, n1);
    n = 2 + n1;
    put16(stream + n, (uint16_t)n2);
    memcpy(stream + n + 2, r2, n2);
    n += 2 + n2;

    handshake(e, CLI, 40100, SRV, 53, 100);
    /* the server's stream starts at 5001; the second segment arrives first */
    size_t cut = n1 + 2 + 7;
    tcp_send(e, SRV, 53, CLI, 40100, ACK | PSH, 5001 + (uint32_t)cut, stream + cut, n - cut);
    tcp_send(e, SRV, 53, CLI, 40100, ACK | PSH, 5001, stream, cut);
    handshake(e, CLI, 40101, tun, 5001, 100);
    tcp_send(e, CLI, 40101, tun, 5001, RST, 101, NULL, 0);
    assert_int_equal(n_seen, 1);
    assert_string_equal(seen[0].raw, "q1w2.tcp.eu.ngrok.io");
    assert_int_equal(seen[0].evidence, TW_EV_DNS_ANSWER);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.dns_tcp_responses, 2);
    assert_int_equal(n_resp, 2); /* each response over TCP is a dns event too */
    assert_string_equal(resp[0].f[TW_F_PROTOCOL], "tcp");
    tw_engine_free(e);
    tw_anscache_free(cache);
    cache = NULL;
}

/*
 * While nothing reads dns_response events (dns_events false), a response makes none and its
 * answers get no text, but the answers are still learnt (a later connection is named from
 * them) and the CNAME targets still reported; the flag is read per response.
 */
static void test_dns_response_unread(void **state)
{
    (void)state;
    struct tw_anscache_config ac = TW_ANSCACHE_CONFIG_DEFAULT;
    atomic_bool want;
    struct frame f;
    uint8_t q[512];
    size_t n;
    const uint32_t tun = 0xcb007107;

    ac.capacity = 64;
    cache = tw_anscache_new(&ac);
    assert_non_null(cache);
    atomic_init(&want, false);
    dns_events = &want;
    struct tw_engine *e = engine(64, 4);
    n = dns_response(q, "a1.localto.net", "edge.localto.net", tun);
    udp_frame(&f, SRV, 53, CLI, 53300, q, n);
    feed(e, &f);
    assert_int_equal(n_resp, 0);
    assert_int_equal(n_seen, 1); /* the CNAME target */
    /* learnt: a connection to the address is named after the question */
    handshake(e, CLI, 40200, tun, 443, 100);
    tcp_send(e, CLI, 40200, tun, 443, RST, 101, NULL, 0);
    assert_int_equal(n_seen, 2);
    assert_string_equal(seen[1].raw, "a1.localto.net");
    assert_int_equal(seen[1].evidence, TW_EV_DNS_ANSWER);

    atomic_store(&want, true); /* a reload brought a rule of category dns */
    n = dns_response(q, "b2.localto.net", NULL, tun + 1);
    udp_frame(&f, SRV, 53, CLI, 53301, q, n);
    feed(e, &f);
    assert_int_equal(n_resp, 1);
    assert_string_equal(resp[0].f[TW_F_ANSWERS], "203.0.113.8");

    struct tw_engine_stats st;
    get_stats(e, &st);
    assert_int_equal(st.dns_responses, 2);
    assert_int_equal(st.dns_response_unread, 1);
    assert_int_equal(st.dns_response_events, 1);
    tw_engine_free(e);
    dns_events = NULL;
    tw_anscache_free(cache);
    cache = NULL;
}

/*
 * Every DNS response is one dns event: its question, the client as source, the header's code
 * and flags, each answer's text and TTL, Zeek's Z taken from the query of the same ID seen on
 * the flow (else from the response), Zeek's rejected. Queries stay one dns_query event each.
 */
static void test_dns_response_events(void **state)
{
    (void)state;
    struct frame f;
    uint8_t q[512];
    size_t n;
    struct tw_engine *e = engine(64, 4);

    /* A query with the reserved Z bit set, and its answer (RA, no Z): Z is the query's (4). */
    n = dns_query(q, 9, "a1.localto.net", 1, false);
    q[3] = 0x40;
    udp_frame(&f, CLI, 53300, SRV, 53, q, n);
    feed(e, &f);
    n = dns_response(q, "a1.localto.net", "edge.localto.net", 0xcb007107);
    q[3] = 0x80;
    udp_frame(&f, SRV, 53, CLI, 53300, q, n);
    feed(e, &f);
    assert_int_equal(n_seen, 2); /* the query and the CNAME target */
    assert_int_equal(n_resp, 1);
    assert_string_equal(resp[0].name, "a1.localto.net");
    assert_string_equal(resp[0].src, "10.0.0.2"); /* the client, as on the query */
    assert_string_equal(resp[0].f[TW_F_QUERY_NAME], "a1.localto.net");
    assert_string_equal(resp[0].f[TW_F_QUERY_TYPE], "A");
    assert_string_equal(resp[0].f[TW_F_QTYPE], "1");
    assert_string_equal(resp[0].f[TW_F_TRANS_ID], "9");
    assert_string_equal(resp[0].f[TW_F_ANSWERS], "edge.localto.net|203.0.113.7");
    assert_string_equal(resp[0].f[TW_F_TTLS], "300|300");
    assert_string_equal(resp[0].f[TW_F_RCODE], "0");
    assert_string_equal(resp[0].f[TW_F_RCODE_NAME], "NOERROR");
    assert_string_equal(resp[0].f[TW_F_Z], "4");
    assert_string_equal(resp[0].f[TW_F_AA], "false");
    assert_string_equal(resp[0].f[TW_F_TC], "false");
    assert_string_equal(resp[0].f[TW_F_RD], "true");
    assert_string_equal(resp[0].f[TW_F_RA], "true");
    assert_string_equal(resp[0].f[TW_F_REJECTED], "false");
    assert_string_equal(resp[0].f[TW_F_ECH_CONFIG], "false");
    assert_string_equal(resp[0].f[TW_F_DESTINATION_HOSTNAME], ""); /* not a connection */

    /* A response whose query was not seen: the response's own bits 4-6 (AD: 2). NXDOMAIN
     * with no record at all: rejected, as Zeek has it. */
    n = dns_query(q, 10, "gone.example", 28, true);
    q[2] |= 0x04; /* AA */
    q[3] = 0x20 | 3;
    udp_frame(&f, SRV, 53, CLI, 53301, q, n);
    feed(e, &f);
    assert_int_equal(n_resp, 2);
    assert_string_equal(resp[1].f[TW_F_Z], "2");
    assert_string_equal(resp[1].f[TW_F_RCODE], "3");
    assert_string_equal(resp[1].f[TW_F_RCODE_NAME], "NXDOMAIN");
    assert_string_equal(resp[1].f[TW_F_AA], "true");
    assert_string_equal(resp[1].f[TW_F_REJECTED], "true");
    assert_string_equal(resp[1].f[TW_F_ANSWERS], ""); /* no answers: no values */
    assert_string_equal(resp[1].f[TW_F_QUERY_TYPE], "AAAA");

    /* A query with another ID on the first flow does not lend its Z to this response. */
    n = dns_query(q, 11, "b.example", 1, false);
    q[3] = 0x40;
    udp_frame(&f, CLI, 53300, SRV, 53, q, n);
    feed(e, &f);
    n = dns_response(q, "c.example", NULL, 0x01020304);
    udp_frame(&f, SRV, 53, CLI, 53300, q, n);
    feed(e, &f);
    assert_int_equal(n_resp, 3);
    assert_string_equal(resp[2].f[TW_F_Z], "0");
    assert_string_equal(resp[2].f[TW_F_ANSWERS], "1.2.3.4");

    struct tw_engine_stats st;
    get_stats(e, &st);
    assert_int_equal(st.dns_response_events, 3);
    assert_int_equal(st.dns_responses, 3);
    tw_engine_free(e);
}

/* Regression, a TCP DNS response lost mid-stream: the capture began between a query over TCP
 * and its response, so the first segment is the server's (port 53). It is read as a response
 * (source = its receiver, the client), and the client's next query on the connection, at the
 * sequence number the response acknowledges, is read too. */
static void test_dns_tcp_midstream_response(void **state)
{
    (void)state;
    struct frame f;
    uint8_t r[514], q[514];
    struct tw_engine *e = engine(64, 4);
    size_t n = dns_response(r + 2, "lone.localto.net", NULL, 0xcb007109);
    size_t m = dns_query(q + 2, 12, "next.loca.lt", 1, false);

    put16(r, (uint16_t)n);
    put16(q, (uint16_t)m);
    tcp_frame(&f, SRV, 53, CLI, 40400, ACK | PSH, 7000, 3000, r, n + 2);
    feed(e, &f);
    assert_int_equal(n_resp, 1);
    assert_string_equal(resp[0].name, "lone.localto.net");
    assert_string_equal(resp[0].src, "10.0.0.2");
    assert_string_equal(resp[0].f[TW_F_ANSWERS], "203.0.113.9");
    tcp_frame(&f, CLI, 40400, SRV, 53, ACK | PSH, 3000, 7000 + (uint32_t)n + 2, q, m + 2);
    feed(e, &f);
    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].cat, TW_CAT_DNS_QUERY);
    assert_string_equal(seen[0].raw, "next.loca.lt");
    assert_string_equal(seen[0].src, "10.0.0.2");
    assert_int_equal(seen[0].sport, 40400);
    assert_true(seen[0].midstream);
    tw_engine_free(e);
}

/* Flows that never close before the capture ends, that are evicted, or whose start was not
 * seen still get their lookup; the event carries the connection's first-packet time. */
static void test_answer_at_end_eviction_midstream(void **state)
{
    (void)state;
    struct tw_anscache_config ac = TW_ANSCACHE_CONFIG_DEFAULT;
    struct frame f;
    uint8_t r[512];
    const uint32_t tun = 0xcb007120;
    size_t n;

    ac.capacity = 64;
    cache = tw_anscache_new(&ac);
    assert_non_null(cache);
    struct tw_engine *e = engine(3, 4);
    n = dns_response(r, "open.localto.net", NULL, tun);
    udp_frame(&f, SRV, 53, CLI, 53111, r, n);
    feed(e, &f);

    /* still open at the end of the capture */
    int64_t t_open = clock_sec;
    handshake(e, CLI, 40200, tun, 6000, 100);
    tcp_send(e, CLI, 40200, tun, 6000, ACK | PSH, 101, "raw", 3);
    assert_int_equal(n_seen, 0);
    tw_engine_flush(e);
    assert_int_equal(n_seen, 1);
    assert_string_equal(seen[0].raw, "open.localto.net");
    assert_int_equal(seen[0].ts_sec, t_open);
    assert_false(seen[0].midstream);
    assert_int_equal(seen[0].direction, TW_DIR_START);
    tw_engine_flush(e); /* once per flow */
    assert_int_equal(n_seen, 1);

    /* evicted by newer flows from a table of three (the DNS flow and the flushed one go
     * first) */
    handshake(e, CLI, 40201, tun, 6001, 100);
    handshake(e, CLI, 40202, SRV, 6002, 100);
    handshake(e, CLI, 40203, SRV, 6003, 100);
    handshake(e, CLI, 40204, SRV, 6003, 100);
    assert_int_equal(n_seen, 2);
    assert_int_equal(seen[1].dport, 6001);

    /* mid-stream, raw bytes only, no handshake: the client is guessed from the ports */
    tcp_send(e, tun, 6004, CLI, 45000, ACK | PSH, 9000, "data", 4);
    tcp_send(e, tun, 6004, CLI, 45000, FIN | ACK, 9004, NULL, 0);
    assert_int_equal(n_seen, 3);
    assert_string_equal(seen[2].src, "10.0.0.2");
    assert_int_equal(seen[2].sport, 45000);
    assert_int_equal(seen[2].dport, 6004);
    assert_true(seen[2].midstream);
    assert_int_equal(seen[2].direction, TW_DIR_PORT);

    /* mid-stream with ports that do not tell (both high, both below 32768): no guess */
    tcp_send(e, tun, 6005, CLI, 6006, ACK | PSH, 9000, "data", 4);
    tcp_send(e, tun, 6005, CLI, 6006, FIN | ACK, 9004, NULL, 0);
    assert_int_equal(n_seen, 3);
    tw_engine_free(e);
    tw_anscache_free(cache);
    cache = NULL;
}

/* Bounded resources: one reassembly buffer, two flows needing one; a flow table of two. */
static void test_limits_counted(void **state)
{
    (void)state;
    struct tw_engine *e = engine(2, 1);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    uint8_t h[2048];
    size_t n = build_hello(h, sizeof(h), "b.localto.net", 1000, 1);

    handshake(e, CLI, 40000, SRV, 443, 100);
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 101, h, 500);
    handshake(e, CLI, 40001, SRV, 443, 100);
    tcp_send(e, CLI, 40001, SRV, 443, ACK, 101, h, 500); /* no buffer left */
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 601, h + 500, n - 500);
    assert_int_equal(n_seen, 1);
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.stream_no_buffer, 1);
    handshake(e, CLI, 40002, SRV, 443, 100); /* third flow in a table of two */
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(fst.evicted, 1);
    assert_int_equal(fst.active, 2);
    tw_engine_free(e);
}

/* ---- mid-stream pickup and overlapping bytes ---- */

#define SF(x) (1u << TW_SF_##x)

/* The first bytes a client sends, of each kind the pickup reads, and the name they carry. */
struct first_bytes {
    uint8_t b[512];
    size_t n;
    uint16_t dport;
    const char *name;
    enum tw_evidence evidence;
};

static void first_bytes_of(int kind, struct first_bytes *fb)
{
    static const char req[] = "GET /x HTTP/1.1\r\nHost: mid.example\r\nAccept: */*\r\n\r\n";

    switch (kind) {
    case 0:
        fb->n = build_hello(fb->b, sizeof(fb->b), "mid.trycloudflare.com", 0, 1);
        fb->dport = 443;
        fb->name = "mid.trycloudflare.com";
        fb->evidence = TW_EV_TLS_SNI;
        break;
    case 1: {
        size_t m = dns_query(fb->b + 2, 7, "mid.ngrok.io", 1, false);
        put16(fb->b, (uint16_t)m);
        fb->n = m + 2;
        fb->dport = 53;
        fb->name = "mid.ngrok.io";
        fb->evidence = TW_EV_DNS_QUERY;
        break;
    }
    default:
        memcpy(fb->b, req, sizeof(req) - 1);
        fb->n = sizeof(req) - 1;
        fb->dport = 8080;
        fb->name = "mid.example";
        fb->evidence = TW_EV_HTTP_HOST;
    }
}

/*
 * Capture begun mid-flow (no handshake): a ClientHello, a DNS-over-TCP query and an HTTP
 * request cut at every position into two segments, and into three (1 byte, then the cut),
 * fed in order, reversed, and after a server segment: each names its flow once, from the
 * client. Before the pickup, a first segment under 6 bytes (hello), under 16 (request) or
 * arriving after a later one lost the name.
 */
static void test_midstream_pickup_splits(void **state)
{
    (void)state;
    struct first_bytes fb;
    unsigned flows = 0, picked = 0;

    for (int kind = 0; kind < 3; kind++) {
        first_bytes_of(kind, &fb);
        for (size_t k = 1; k < fb.n; k++) {
            for (int order = 0; order < 4; order++) {
                struct tw_engine *e = engine(64, 4);
                uint32_t seq = 0xfffffff0u; /* the sequence numbers wrap inside the stream */
                uint16_t sport = (uint16_t)(40000 + k);
                /* cuts: [0,k) [k,n), or [0,1) [1,k) [k,n) for order 3 */
                size_t cut[4] = {0, k, fb.n, 0}, nseg = 2;
                if (order == 3 && k > 1) {
                    cut[1] = 1, cut[2] = k, cut[3] = fb.n;
                    nseg = 3;
                }
                if (order == 2) /* the server's bytes come first */
                    tcp_send(e, SRV, fb.dport, CLI, sport, ACK | PSH, 9000, "\x17\x03\x03\x00\x02zz",
                             7);
                for (size_t i = 0; i < nseg; i++) {
                    size_t j = order == 1 || order == 3 ? nseg - 1 - i : i;
                    tcp_send(e, CLI, sport, SRV, fb.dport, ACK | PSH, seq + (uint32_t)cut[j],
                             fb.b + cut[j], cut[j + 1] - cut[j]);
                }
                if (n_seen != 1 || strcmp(seen[0].raw, fb.name) != 0)
                    fail_msg("kind %d cut %zu order %d: %zu events, first '%s'", kind, k, order,
                             n_seen, n_seen ? seen[0].raw : "");
                assert_int_equal(seen[0].evidence, fb.evidence);
                assert_string_equal(seen[0].src, "10.0.0.2");
                assert_int_equal(seen[0].sport, sport);
                assert_true(seen[0].midstream);
                assert_int_equal(seen[0].direction, TW_DIR_CLIENT_BYTES);
                struct tw_engine_stats st;
                get_stats(e, &st);
                assert_int_equal(st.midstream_pickup, (seen[0].stream_flags & SF(MIDSTREAM_PICKUP)) != 0);
                picked += (unsigned)st.midstream_pickup;
                assert_int_equal(st.midstream_no_buffer + st.midstream_too_long +
                                     st.midstream_gave_up + st.overlap_conflict,
                                 0);
                flows++;
                tw_engine_free(e);
            }
        }
    }
    /* The first segment read alone names the flow only when in order and long enough. */
    assert_true(picked > flows / 2);
}

/* The same without mid-stream buffers: a first segment of 1 byte loses the name, as before. */
static void test_midstream_pickup_off(void **state)
{
    (void)state;
    struct first_bytes fb;

    mid_buffers = 0;
    first_bytes_of(0, &fb);
    struct tw_engine *e = engine(64, 4);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 100, fb.b, 1);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    assert_int_equal(n_seen, 0);
    tw_engine_free(e);
    mid_buffers = 4;
}

/* Every refusal of the pickup is counted: no buffer free, bytes past the 8 KiB bound,
 * patience run out. */
static void test_midstream_pickup_limits(void **state)
{
    (void)state;
    struct first_bytes fb;
    struct tw_engine_stats st;
    static uint8_t junk[1000];

    memset(junk, 0x17, sizeof(junk));
    first_bytes_of(0, &fb);
    mid_buffers = 1;
    struct tw_engine *e = engine(64, 4);
    /* Flow A holds the only buffer; flow B's first byte finds none: its hello is lost. */
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 100, fb.b, 1);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 100, fb.b, 1);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    get_stats(e, &st);
    assert_int_equal(st.midstream_no_buffer, 2);
    assert_int_equal(n_seen, 0);
    /* A's hello completes and gives the buffer back: flow C is read. */
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 100, fb.b, 1);
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    assert_int_equal(n_seen, 2);
    assert_int_equal(seen[0].sport, 40000);
    assert_int_equal(seen[1].sport, 40002);
    tw_engine_free(e);
    mid_buffers = 4;

    /* Past the bound: 9 segments of 1000 bytes that begin nothing; then a whole hello in one
     * segment is still read. */
    e = engine(64, 4);
    for (uint32_t i = 0; i < 9; i++)
        tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 100 + i * 1000, junk, sizeof(junk));
    get_stats(e, &st);
    assert_int_equal(st.midstream_too_long, 1);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 9100, fb.b, fb.n);
    assert_int_equal(n_seen, 1);
    /* Past the bound backwards: a segment 9000 bytes before the first one held. */
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 20000, junk, 10);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 11000, fb.b, 1);
    get_stats(e, &st);
    assert_int_equal(st.midstream_too_long, 2);
    /* Patience: a flow whose sides send 17 segments that begin nothing is given up. */
    for (uint32_t i = 0; i < 17; i++)
        tcp_send(e, i % 2 ? SRV : CLI, i % 2 ? 443 : 40005, i % 2 ? CLI : SRV,
                 i % 2 ? 40005 : 443, ACK | PSH, 500 + i * 10, junk, 10);
    get_stats(e, &st);
    assert_int_equal(st.midstream_gave_up, 1);
    assert_int_equal(st.flows_not_inspected, 1);
    tw_engine_free(e);
}

/*
 * Overlapping bytes that differ: in the reassembly buffer the first ones stay (the segment
 * held first wins), the conflict is counted and the flow's event flagged; a second whole
 * ClientHello at the sequence number of the one reported (an insertion decoy that reached the
 * sensor, not the server, then the real hello) is reported too, flagged hello_later; a
 * retransmission of the same bytes is not.
 */
/* A side whose first bytes seen are a TLS application_data record is past its hello: it is not
 * held, so it takes no buffer from a flow whose split hello is still to come. A record header
 * no TLS stack would send (a length past 2^14 + 2048) is held as any other bytes. */
static void test_midstream_past_start(void **state)
{
    (void)state;
    struct first_bytes fb;
    struct tw_engine_stats st;
    static uint8_t app[300] = {0x17, 0x03, 0x03, 0x01, 0x27};

    first_bytes_of(0, &fb);
    mid_buffers = 1;
    struct tw_engine *e = engine(64, 4);
    tcp_send(e, SRV, 443, CLI, 40000, ACK | PSH, 5000, app, sizeof(app));
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 100, app, sizeof(app));
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 400, app + 5, sizeof(app) - 5);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 100, fb.b, 1);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].sport, 40001);
    get_stats(e, &st);
    assert_int_equal(st.midstream_past_start, 2);
    assert_int_equal(st.midstream_no_buffer, 0);
    /* 0x4900 bytes: no TLSCiphertext is that long; held, and the next flow finds no buffer. */
    static uint8_t odd[300] = {0x17, 0x03, 0x03, 0x49, 0x00};
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 100, odd, sizeof(odd));
    tcp_send(e, CLI, 40003, SRV, 443, ACK | PSH, 100, fb.b, 1);
    get_stats(e, &st);
    assert_int_equal(st.midstream_past_start, 2);
    assert_int_equal(st.midstream_no_buffer, 1);
    tw_engine_free(e);
    mid_buffers = 4;
}

/* A hello for sni whose padding extension is an early_data one (its type changed). */
static size_t build_hello_early(uint8_t *out, size_t cap, const char *sni)
{
    size_t n = build_hello(out, cap, sni, 4, 1);
    for (size_t i = 5; i + 4 <= n; i++)
        if (out[i] == 0 && out[i + 1] == 21 && out[i + 2] == 0 && out[i + 3] == 4) {
            out[i + 1] = 42;
            return n;
        }
    fail_msg("no padding extension");
    return 0;
}

/*
 * A second ClientHello after a HelloRetryRequest: OpenSSL takes its server_name for the
 * connection's and Go does not compare it with the first's, so its names are reported when
 * they differ (flagged hello_retry), whatever comes between the two hellos that a server
 * skips: ChangeCipherSpec, early data after a first hello that offered it, the first hello
 * sent again (whole, or one byte of it, more than HELLO_RECHECKS times), another hello at the
 * first's place (a decoy), a decoy record where the second one comes; the second hello in two
 * segments, and again (one event). Anything else ends the look.
 */
static void test_hello_retry(void **state)
{
    (void)state;
    static const uint8_t ccs[6] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
    uint8_t h1[512], h2[512], hd[512], he[512], seg[1024], early[3000];
    size_t n1 = build_hello(h1, sizeof(h1), "decoy.example.com", 0, 1);
    size_t n2 = build_hello(h2, sizeof(h2), "real.localto.net", 0, 1);
    size_t nd = build_hello(hd, sizeof(hd), "other.example.org", 0, 1);
    size_t ne = build_hello_early(he, sizeof(he), "decoy.example.com");
    struct tw_engine_stats st;
    uint16_t port = 43000;

    memset(early, 0x5a, sizeof(early));
    early[0] = 0x17;
    early[1] = 0x03;
    early[2] = 0x03;
    put16(early + 3, sizeof(early) - 5);
    memcpy(seg, ccs, sizeof(ccs));
    memcpy(seg + sizeof(ccs), h2, n2);
    struct tw_engine *e = engine(64, 4);
    for (int c = 0; c < 10; c++, port++) {
        uint32_t next = 101 + (uint32_t)n1;
        size_t before = n_seen;
        handshake(e, CLI, port, SRV, 443, 100);
        tcp_send(e, CLI, port, SRV, 443, ACK | PSH, 101, c == 3 ? he : h1, c == 3 ? ne : n1);
        if (c == 3)
            next = 101 + (uint32_t)ne;
        if (c == 2) {
            /* the same name again: read, not reported */
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, h1, n1);
            assert_int_equal(n_seen, before + 1);
            continue;
        }
        if (c == 3 || c == 4) /* early data, offered (3) or not (4) */
            for (size_t o = 0; o < sizeof(early); o += 1000, next += 1000)
                tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, early + o, 1000);
        if (c == 5) /* the first hello again, six times: past HELLO_RECHECKS */
            for (int k = 0; k < 6; k++)
                tcp_send(e, CLI, port, SRV, 443, ACK | PSH, 101, h1, n1);
        if (c == 6) /* one byte of it again */
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, 101, h1, 1);
        if (c == 7) /* a hello for another name at its place */
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, 101, hd, nd);
        if (c == 9) { /* a decoy at the place of what follows the first hello, then the real */
            static const uint8_t app[21] = {0x17, 0x03, 0x03, 0x00, 0x10};
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, app, sizeof(app));
        }
        if (c == 8) { /* a key exchange first: not TLS 1.3, no second hello to come */
            static const uint8_t cke[9] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x10, 0, 0, 0};
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, cke, sizeof(cke));
            next += sizeof(cke);
        }
        if (c == 1) { /* in two segments, the cut inside the hello */
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, seg, 40);
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next + 40, seg + 40,
                     sizeof(ccs) + n2 - 40);
        } else {
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, seg, sizeof(ccs) + n2);
        }
        if (c == 0) /* the second hello again: read, nothing more */
            tcp_send(e, CLI, port, SRV, 443, ACK | PSH, next, seg, sizeof(ccs) + n2);
        bool want = c != 4 && c != 8;
        size_t first = c == 7 ? 2 : 1; /* the decoy case reports the other hello too */
        if (n_seen != before + first + (want ? 1 : 0))
            fail_msg("case %d: %zu events, want %zu", c, n_seen - before,
                     first + (want ? 1 : 0));
        expect_sni(before, "decoy.example.com", "10.0.0.2", true);
        if (want) {
            expect_sni(n_seen - 1, "real.localto.net", "10.0.0.2", true);
            /* after the decoy every event of the flow says it saw other bytes */
            assert_int_equal(seen[n_seen - 1].stream_flags,
                             SF(HELLO_RETRY) | (c == 7 ? SF(OVERLAP_CONFLICT) : 0));
            assert_int_equal(seen[n_seen - 1].sport, port);
        }
    }
    get_stats(e, &st);
    assert_int_equal(st.tls_hello_retry, 8);
    assert_int_equal(st.tls_hello_retry_other, 7);
    assert_int_equal(st.tls_hello_retry_broken, 0);
    tw_engine_free(e);
}

static void test_overlap_conflict(void **state)
{
    (void)state;
    uint8_t real[512], decoy[512];
    size_t n = build_hello(real, sizeof(real), "evil.trycloudflare.com", 0, 1);
    size_t nd = build_hello(decoy, sizeof(decoy), "www.wikipedia.org.test", 0, 1);
    struct tw_engine_stats st;

    assert_int_equal(n, nd);
    struct tw_engine *e = engine(64, 4);
    /* Decoy then real hello, each in one segment. */
    handshake(e, CLI, 40000, SRV, 443, 100);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, decoy, nd);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, real, n);
    tcp_send(e, CLI, 40000, SRV, 443, ACK | PSH, 101, real, n); /* retransmission */
    assert_int_equal(n_seen, 2);
    assert_string_equal(seen[0].raw, "www.wikipedia.org.test");
    assert_int_equal(seen[0].stream_flags, 0);
    assert_string_equal(seen[1].raw, "evil.trycloudflare.com");
    assert_int_equal(seen[1].stream_flags, SF(HELLO_LATER) | SF(OVERLAP_CONFLICT));
    assert_int_equal(seen[1].flow_id, seen[0].flow_id);
    get_stats(e, &st);
    assert_int_equal(st.hello_later, 1);
    assert_int_equal(st.overlap_conflict, 1);
    assert_int_equal(st.tls_hellos, 2);
    /* The real hello in two segments after the decoy. */
    handshake(e, CLI, 40001, SRV, 443, 100);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 101, decoy, nd);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 101, real, 40);
    tcp_send(e, CLI, 40001, SRV, 443, ACK | PSH, 141, real + 40, n - 40);
    assert_int_equal(n_seen, 4);
    assert_string_equal(seen[3].raw, "evil.trycloudflare.com");
    assert_true(seen[3].stream_flags & SF(HELLO_LATER));
    /* In the reassembly buffer: the second half held, then other bytes over it, then the
     * first half: the bytes held first are read, the conflict flagged. */
    handshake(e, CLI, 40002, SRV, 443, 100);
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 141, real + 40, n - 40);
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 141, decoy + 40, nd - 40);
    tcp_send(e, CLI, 40002, SRV, 443, ACK | PSH, 101, real, 40);
    assert_int_equal(n_seen, 5);
    assert_string_equal(seen[4].raw, "evil.trycloudflare.com");
    assert_int_equal(seen[4].stream_flags, SF(OVERLAP_CONFLICT));
    get_stats(e, &st);
    assert_int_equal(st.overlap_conflict, 3);
    assert_int_equal(st.hello_later, 2);
    /* Mid-stream: the decoy's second half held first, then the real hello's. */
    tcp_send(e, CLI, 40003, SRV, 443, ACK | PSH, 141, decoy + 40, nd - 40);
    tcp_send(e, CLI, 40003, SRV, 443, ACK | PSH, 141, real + 40, n - 40);
    tcp_send(e, CLI, 40003, SRV, 443, ACK | PSH, 101, real, 1);
    tcp_send(e, CLI, 40003, SRV, 443, ACK | PSH, 102, real + 1, 39);
    assert_int_equal(n_seen, 6);
    assert_string_equal(seen[5].raw, "www.wikipedia.org.test");
    assert_int_equal(seen[5].stream_flags, SF(OVERLAP_CONFLICT) | SF(MIDSTREAM_PICKUP));
    tw_engine_free(e);
}


/* ---- lenient ClientHellos: records, names, size ---- */

/* A ClientHello handshake message (header included) with the given host_names (in one
 * server_name list, or one extension each), legacy_version, `suites` cipher suites and a
 * padding extension of `pad` bytes. */
struct big_hello {
    const char *names[4];
    bool ext_each;
    uint16_t legacy;
    unsigned suites;
    size_t pad;
    bool break_after_sni; /* the last extension's length runs past the block */
};

static size_t build_msg(const struct big_hello *bh, uint8_t *m, size_t cap)
{
    size_t n = 4;
    assert_true(cap > 4 + 2 + 32 + 1 + 2 + 2 * bh->suites + 2 + 2 + 2048 + bh->pad);
    put16(m + n, bh->legacy ? bh->legacy : 0x0303);
    n += 2;
    memset(m + n, 0x11, 32);
    n += 32;
    m[n++] = 0;
    put16(m + n, (uint16_t)(2 * bh->suites));
    n += 2;
    for (unsigned i = 0; i < bh->suites; i++, n += 2)
        put16(m + n, i == 0 ? 0x1301 : (uint16_t)(0x6000 + i));
    m[n++] = 1;
    m[n++] = 0;
    size_t exts = n;
    n += 2;
    for (int k = 0; k < 4 && bh->names[k] != NULL;) {
        size_t ext = n;
        put16(m + n, 0);
        n += 6;
        do {
            size_t l = strlen(bh->names[k]);
            m[n] = 0;
            put16(m + n + 1, (uint16_t)l);
            memcpy(m + n + 3, bh->names[k], l);
            n += 3 + l;
            k++;
        } while (!bh->ext_each && k < 4 && bh->names[k] != NULL);
        put16(m + ext + 2, (uint16_t)(n - ext - 4));
        put16(m + ext + 4, (uint16_t)(n - ext - 6));
    }
    put16(m + n, 43); /* supported_versions: TLS 1.3, 1.2 */
    put16(m + n + 2, 5);
    m[n + 4] = 4;
    put16(m + n + 5, 0x0304);
    put16(m + n + 7, 0x0303);
    n += 9;
    if (bh->pad) {
        put16(m + n, 21);
        put16(m + n + 2, (uint16_t)bh->pad);
        memset(m + n + 4, 0, bh->pad);
        n += 4 + bh->pad;
    }
    put16(m + exts, (uint16_t)(n - exts - 2));
    if (bh->break_after_sni)
        put16(m + n - bh->pad - 4 + 2, (uint16_t)(bh->pad + 1));
    m[0] = 1;
    m[1] = (uint8_t)((n - 4) >> 16);
    put16(m + 2, (uint16_t)(n - 4));
    return n;
}

/* msg in records of at most rec bytes (version ver), after `pre` raw bytes. */
static size_t records(const uint8_t *msg, size_t n, size_t rec, uint16_t ver, const void *pre,
                      size_t pre_len, uint8_t *out, size_t cap)
{
    size_t o = pre_len;
    assert_true(pre_len <= cap);
    if (pre_len > 0)
        memcpy(out, pre, pre_len);
    for (size_t off = 0; off < n; off += rec) {
        size_t k = TW_MIN(rec, n - off);
        assert_true(o + 5 + k <= cap);
        out[o] = 0x16;
        put16(out + o + 1, ver);
        put16(out + o + 3, (uint16_t)k);
        memcpy(out + o + 5, msg + off, k);
        o += 5 + k;
    }
    return o;
}

/* The stream s in segments of seg bytes, in order, or the first segment last. */
static void send_stream(struct tw_engine *e, uint16_t sport, uint32_t isn, const uint8_t *s,
                        size_t n, size_t seg, bool first_last)
{
    handshake(e, CLI, sport, SRV, 443, isn);
    for (size_t off = first_last ? seg : 0; off < n; off += seg)
        tcp_send(e, CLI, sport, SRV, 443, ACK, isn + 1 + (uint32_t)off, s + off,
                 TW_MIN(seg, n - off));
    if (first_last)
        tcp_send(e, CLI, sport, SRV, 443, ACK, isn + 1, s, TW_MIN(seg, n));
}

#define TF(x) (1u << TW_TLS_F_##x)

static uint8_t msg_big[140000], stream_big[160000];

/* Records servers skip before the hello (OpenSSL: an empty handshake record; GnuTLS: a
 * ChangeCipherSpec), an alert, an unusual record and legacy version, the hello over records of
 * 50 bytes: read, flagged, counted. */
static void test_hello_records_skipped(void **state)
{
    static const uint8_t pre[] = {0x16, 0x03, 0x01, 0x00, 0x00,       /* empty handshake */
                                  0x14, 0x03, 0x03, 0x00, 0x01, 0x01, /* ChangeCipherSpec */
                                  0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x5a};
    static const struct big_hello bh = {{"skip.localto.net"}, .legacy = 0x7f7f, .suites = 4};
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    (void)state;

    for (int first_last = 0; first_last < 2; first_last++) {
        struct tw_engine *e = engine(64, 4);
        size_t m = build_msg(&bh, msg_big, sizeof(msg_big));
        size_t n = records(msg_big, m, 50, 0x03ff, pre, sizeof(pre), stream_big,
                           sizeof(stream_big));
        send_stream(e, 40000, 1000, stream_big, n, 61, first_last);
        assert_int_equal(n_seen, 1);
        expect_sni(0, "skip.localto.net", "10.0.0.2", true);
        assert_int_equal(seen[0].tls_flags, TF(RECORD_EMPTY) | TF(RECORD_CCS) |
                                                TF(RECORD_ALERT) | TF(RECORD_SPLIT) |
                                                TF(RECORD_VERSION_UNUSUAL) |
                                                TF(LEGACY_VERSION_UNUSUAL));
        assert_int_equal(seen[0].tls_version, 0x0304);
        assert_int_equal(seen[0].tls_legacy_version, 0x7f7f);
        assert_int_equal(seen[0].tls_record_version, 0x03ff);
        assert_true(seen[0].has_ja4);
        tw_engine_get_stats(e, &st, &fst, &hw);
        assert_int_equal(st.tls_hellos, 1);
        assert_int_equal(st.tls_malformed, 0);
        assert_int_equal(st.tls_flag[TW_TLS_F_RECORD_EMPTY], 1);
        assert_int_equal(st.tls_flag[TW_TLS_F_RECORD_CCS], 1);
        assert_int_equal(st.tls_flag[TW_TLS_F_RECORD_ALERT], 1);
        assert_int_equal(st.tls_flag[TW_TLS_F_LEGACY_VERSION_UNUSUAL], 1);
        assert_int_equal(st.tls_flag[TW_TLS_F_DUPLICATE_EXTENSION], 0);
        /* the counters are listed by name with the other anomalies */
        struct tw_counter c[256];
        size_t nc = tw_engine_anomalies(&st, c, TW_ARRAY_SIZE(c));
        bool found = false;
        for (size_t i = 0; i < nc && i < TW_ARRAY_SIZE(c); i++)
            if (strcmp(c[i].name, "tls_record_change_cipher_spec") == 0 && c[i].value == 1)
                found = true;
        assert_true(found);
        tw_engine_free(e);
    }
}

/*
 * A 100 KiB ClientHello in 16 KiB records over 1400-byte segments (in order, and first segment
 * last): it outgrows a 24 KiB buffer, moves into a large one and is read whole. Without large
 * buffers, or when the only one is taken, it is counted, not silently lost.
 */
static void test_hello_100k(void **state)
{
    static const struct big_hello bh = {{"large.localto.net"}, .suites = 20000, .pad = 65000};
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    (void)state;

    size_t m = build_msg(&bh, msg_big, sizeof(msg_big));
    assert_true(m > 100 * 1024);
    size_t n = records(msg_big, m, 16384, 0x0301, NULL, 0, stream_big, sizeof(stream_big));
    for (int first_last = 0; first_last < 2; first_last++) {
        big_buffers = 1;
        struct tw_engine *e = engine(64, 4);
        send_stream(e, 40000, 1000, stream_big, n, 1400, first_last);
        tw_engine_get_stats(e, &st, &fst, &hw);
        if (n_seen != 1)
            fail_msg("first_last %d: big %lu refused %lu too_large %lu clipped %lu malformed %lu "
                     "no_buffer %lu gaps %lu",
                     first_last, (unsigned long)st.tls_big_buffers,
                     (unsigned long)st.tls_big_refused, (unsigned long)st.tls_too_large,
                     (unsigned long)st.stream_clipped, (unsigned long)st.tls_malformed,
                     (unsigned long)st.stream_no_buffer, (unsigned long)st.stream_gaps);
        expect_sni(0, "large.localto.net", "10.0.0.2", true);
        assert_int_equal(seen[0].tls_flags, TF(HELLO_LARGE) | TF(RECORD_SPLIT));
        tw_engine_get_stats(e, &st, &fst, &hw);
        assert_int_equal(st.tls_big_buffers, 1);
        assert_int_equal(st.tls_too_large + st.tls_big_refused + st.stream_clipped, 0);
        /* the large buffer went back: a second flow gets it */
        send_stream(e, 40001, 5000, stream_big, n, 1400, first_last);
        assert_int_equal(n_seen, 2);
        /* two at once with one large buffer: the second is refused and counted */
        size_t half = 30000;
        handshake(e, CLI, 40002, SRV, 443, 7000);
        handshake(e, CLI, 40003, SRV, 443, 9000);
        for (size_t off = 0; off < half; off += 1400) {
            tcp_send(e, CLI, 40002, SRV, 443, ACK, 7001 + (uint32_t)off, stream_big + off, 1400);
            tcp_send(e, CLI, 40003, SRV, 443, ACK, 9001 + (uint32_t)off, stream_big + off, 1400);
        }
        tw_engine_get_stats(e, &st, &fst, &hw);
        assert_int_equal(st.tls_big_buffers, 3);
        assert_int_equal(st.tls_big_refused, 1);
        assert_int_equal(st.tls_too_large, 1);
        tw_engine_free(e);
        big_buffers = 0;

        /* no large buffers: too large, counted */
        e = engine(64, 4);
        send_stream(e, 40000, 1000, stream_big, n, 1400, first_last);
        assert_int_equal(n_seen, 0);
        tw_engine_get_stats(e, &st, &fst, &hw);
        assert_int_equal(st.tls_too_large, 1);
        tw_engine_free(e);
    }
}

/* Several host_names, in one list and in repeated server_name extensions: one event each,
 * same flow, in order; a name equal to an earlier one is reported once. */
static void test_hello_several_names(void **state)
{
    static const struct big_hello one_list = {
        {"decoy.example.com", "hidden.localto.net", "decoy.example.com"}, .suites = 2};
    static const struct big_hello ext_each = {
        {"decoy.example.com", "second.ngrok.io"}, .ext_each = true, .suites = 2};
    (void)state;
    struct tw_engine *e = engine(64, 4);

    size_t m = build_msg(&one_list, msg_big, sizeof(msg_big));
    size_t n = records(msg_big, m, 16384, 0x0301, NULL, 0, stream_big, sizeof(stream_big));
    send_stream(e, 40000, 1000, stream_big, n, 1400, false);
    m = build_msg(&ext_each, msg_big, sizeof(msg_big));
    n = records(msg_big, m, 16384, 0x0301, NULL, 0, stream_big, sizeof(stream_big));
    send_stream(e, 40001, 1000, stream_big, n, 1400, false);
    assert_int_equal(n_seen, 4);
    expect_sni(0, "decoy.example.com", "10.0.0.2", true);
    expect_sni(1, "hidden.localto.net", "10.0.0.2", true);
    assert_int_equal(seen[0].flow_id, seen[1].flow_id);
    assert_int_equal(seen[1].tls_flags, TF(SNI_MULTIPLE));
    expect_sni(2, "decoy.example.com", "10.0.0.2", true);
    expect_sni(3, "second.ngrok.io", "10.0.0.2", true);
    assert_int_equal(seen[2].flow_id, seen[3].flow_id);
    assert_true(seen[1].flow_id != seen[2].flow_id);
    assert_int_equal(seen[3].tls_flags,
                     TF(SNI_MULTIPLE) | TF(SNI_EXTENSION_REPEATED) | TF(DUPLICATE_EXTENSION));
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.tls_hellos, 2);
    assert_int_equal(st.tls_names, 4);
    tw_engine_free(e);
}

/* A hello that breaks after its server_name: counted malformed, its name reported (truncated,
 * no fingerprint). */
static void test_hello_broken_after_name(void **state)
{
    static const struct big_hello bh = {{"broken.localto.net"}, .suites = 2, .pad = 10,
                                        .break_after_sni = true};
    (void)state;
    struct tw_engine *e = engine(64, 4);
    size_t m = build_msg(&bh, msg_big, sizeof(msg_big));
    size_t n = records(msg_big, m, 16384, 0x0301, NULL, 0, stream_big, sizeof(stream_big));
    send_stream(e, 40000, 1000, stream_big, n, 1400, false);
    assert_int_equal(n_seen, 1);
    expect_sni(0, "broken.localto.net", "10.0.0.2", true);
    assert_int_equal(seen[0].tls_flags, TF(TRUNCATED));
    assert_false(seen[0].has_ja4);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.tls_malformed, 1);
    assert_int_equal(st.tls_flag[TW_TLS_F_TRUNCATED], 1);
    tw_engine_free(e);
}

/* Names longer than an event holds keep their end (what endswith and the suffix trie match):
 * an SNI and an HTTP Host of 1500 bytes. */
static void test_long_names_keep_end(void **state)
{
    static char name[1501];
    static uint8_t req[2048];
    (void)state;
    for (size_t i = 0; i < 1500; i++)
        name[i] = (char)('a' + i % 26);
    for (size_t i = 63; i < 1500; i += 64)
        name[i] = '.';
    memcpy(name + 1500 - 17, ".tail.localto.net", 17);
    name[1500] = '\0';
    struct big_hello bh = {{name}, .suites = 2};
    struct tw_engine *e = engine(64, 4);
    size_t m = build_msg(&bh, msg_big, sizeof(msg_big));
    size_t n = records(msg_big, m, 16384, 0x0301, NULL, 0, stream_big, sizeof(stream_big));
    send_stream(e, 40000, 1000, stream_big, n, 1400, false);
    int rl = snprintf((char *)req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s:8080\r\n\r\n", name);
    handshake(e, CLI, 40001, SRV, 8080, 1000);
    tcp_send(e, CLI, 40001, SRV, 8080, ACK | PSH, 1001, req, (size_t)rl);
    assert_int_equal(n_seen, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(seen[i].evidence, i == 0 ? TW_EV_TLS_SNI : TW_EV_HTTP_HOST);
        assert_int_equal(seen[i].raw_len, TW_NAME_MAX - 1);
        assert_true(seen[i].name_truncated);
        size_t k = strlen(seen[i].raw_end);
        assert_memory_equal(seen[i].raw_end, name + 1500 - k, k);
        /* raw starts where the kept end starts */
        assert_memory_equal(seen[i].raw, name + 1500 - (TW_NAME_MAX - 1), 200);
    }
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.name_truncated, 2);
    tw_engine_free(e);
}

/* ---- HTTP ---- */

/*
 * Plain HTTP on a port that is not 80: the first request names the flow from its Host field
 * (port removed) with the proxy fields; a second request on the same connection (keep-alive)
 * is reported too; a retransmission of the first is not reported again; a body segment in
 * between is skipped.
 */
static void test_http_requests(void **state)
{
    (void)state;
    static const char r1[] = "GET /dl/run.PHP?id=1 HTTP/1.1\r\nHost: Tun.Example:8081\r\n"
                             "User-Agent: curl/8.0\r\n\r\n";
    static const char body[] = "xxxxxxxxxxxxxxxx";
    static const char r2[] = "POST /up HTTP/1.1\r\nHost: other.example\r\nCookie: a=b\r\n"
                             "Content-Length: 16\r\n\r\n";
    struct tw_engine *e = engine(64, 4);
    uint32_t seq = 1000;

    handshake(e, CLI, 40000, SRV, 8081, seq - 1);
    tcp_send(e, CLI, 40000, SRV, 8081, PSH | ACK, seq, r1, strlen(r1));
    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].evidence, TW_EV_HTTP_HOST);
    assert_string_equal(seen[0].raw, "Tun.Example");
    assert_string_equal(seen[0].norm, "tun.example");
    assert_string_equal(seen[0].src, "10.0.0.2");
    /* The same segment again (a retransmission): nothing new. */
    tcp_send(e, CLI, 40000, SRV, 8081, PSH | ACK, seq, r1, strlen(r1));
    assert_int_equal(n_seen, 1);
    seq += (uint32_t)strlen(r1);
    tcp_send(e, CLI, 40000, SRV, 8081, PSH | ACK, seq, r2, strlen(r2));
    seq += (uint32_t)strlen(r2);
    tcp_send(e, CLI, 40000, SRV, 8081, PSH | ACK, seq, body, strlen(body));
    assert_int_equal(n_seen, 2);
    assert_string_equal(seen[1].raw, "other.example");
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.http_requests, 2);
    tw_engine_free(e);
}

/* ---- QUIC ---- */

/* A client packet of type `type` (an Initial, or a Handshake one: only its header is read)
 * from port sport to dport, carrying one CRYPTO frame, bytes [off, off + len) of the stream
 * msg, packet number pn, padded to 1,200 bytes. */
static void quic_crypto_at(struct tw_engine *e, struct tw_quic_ctx *qc, uint8_t type,
                           const uint8_t *msg, size_t off, size_t len, uint16_t sport,
                           uint16_t dport, uint32_t pn)
{
    static const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, scid[4] = {9, 9, 9, 9};
    uint8_t fr[1400], pkt[1500];
    struct frame f;
    size_t n = 0;

    fr[n++] = 0x06; /* CRYPTO */
    n += seal_varint(fr + n, off);
    n += seal_varint(fr + n, len);
    if (len > sizeof(fr) - n) {
        fail();
        return;
    }
    memcpy(fr + n, msg + off, len);
    n += len;
    struct seal sl = {.version = 1,
                      .type = type,
                      .dcid = dcid,
                      .dcid_len = sizeof(dcid),
                      .scid = scid,
                      .scid_len = sizeof(scid),
                      .pn = pn,
                      .pn_len = 2};
    size_t pl = seal_padded(qc, &sl, fr, n, 1200, pkt, sizeof(pkt));
    assert_true(pl >= 1200);
    udp_frame(&f, CLI, sport, SRV, dport, pkt, pl);
    feed(e, &f);
}

/*
 * A QUIC client on UDP 7844 (cloudflared's port: QUIC is recognised by content, not port)
 * whose ClientHello spans two Initial packets, sent second half first, with a server datagram
 * in between: one network_connection event, evidence quic_sni, from the client. Junk that
 * starts like a long header, and QUIC with no state left, give no event and no crash.
 */
static void test_quic_initials(void **state)
{
    (void)state;
    struct tw_engine *e = engine(64, 4);
    struct tw_quic_ctx *qc = tw_quic_ctx_new();
    uint8_t rec[2048], hs[2048];
    struct frame f;
    size_t rn, hn = 0;

    assert_non_null(qc);
    /* The handshake message: build_hello's records without their 5-byte headers. */
    rn = build_hello(rec, sizeof(rec), "quic.cftunnel.com", 600, 1);
    memcpy(hs, rec + 5, rn - 5);
    hn = rn - 5;
    size_t half = hn / 2;
    for (int part = 1; part >= 0; part--) {
        quic_crypto_at(e, qc, TW_QUIC_PKT_INITIAL, hs, part ? half : 0, part ? hn - half : half,
                       50000, 7844, (uint32_t)part);
        if (part == 1) {
            uint8_t junk[64];
            memset(junk, 0x5a, sizeof(junk));
            udp_frame(&f, SRV, 7844, CLI, 50000, junk, sizeof(junk)); /* the server's */
            feed(e, &f);
            assert_int_equal(n_seen, 0);
        }
    }
    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].cat, TW_CAT_NETWORK_CONNECTION);
    assert_int_equal(seen[0].evidence, TW_EV_QUIC_SNI);
    assert_string_equal(seen[0].raw, "quic.cftunnel.com");
    assert_string_equal(seen[0].src, "10.0.0.2");
    assert_int_equal(seen[0].dport, 7844);
    /* Junk with a long-header first byte: no event, not counted as QUIC. */
    uint8_t junk[1200];
    memset(junk, 0xc3, sizeof(junk));
    udp_frame(&f, CLI, 50001, SRV, 443, junk, sizeof(junk));
    feed(e, &f);
    assert_int_equal(n_seen, 1);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.quic_hellos, 1);
    assert_int_equal(st.quic_sni, 1);
    assert_int_equal(st.quic.initials, 2);
    tw_engine_free(e);
    tw_quic_ctx_free(qc);
}

/* Half `part` (0: the first) of a ClientHello handshake message hs[0..hn) in a client
 * Initial. */
static void quic_part(struct tw_engine *e, struct tw_quic_ctx *qc, const uint8_t *hs, size_t hn,
                      uint16_t sport, int part)
{
    size_t half = hn / 2;

    quic_crypto_at(e, qc, TW_QUIC_PKT_INITIAL, hs, part ? half : 0, part ? hn - half : half,
                   sport, 443, (uint32_t)part);
}

/* A ClientHello handshake message hs[0..hn) in two client Initials, second half first. */
static void quic_send(struct tw_engine *e, struct tw_quic_ctx *qc, const uint8_t *hs, size_t hn,
                      uint16_t sport)
{
    quic_part(e, qc, hs, hn, sport, 1);
    quic_part(e, qc, hs, hn, sport, 0);
}

/* The counter `off` bytes into st. */
static uint64_t stat_at(const struct tw_engine_stats *st, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)st + off, sizeof(v));
    return v;
}

/* e made one event, from port sport, took one slot back (counter at offset `reclaimed`) and
 * refused none (counter at `refused`); e is freed. */
static void expect_reclaimed(struct tw_engine *e, uint16_t sport, size_t reclaimed,
                             size_t refused)
{
    struct tw_engine_stats st;

    assert_int_equal(n_seen, 1);
    assert_int_equal(seen[0].sport, sport);
    get_stats(e, &st);
    assert_int_equal(stat_at(&st, reclaimed), 1);
    assert_int_equal(stat_at(&st, refused), 0);
    tw_engine_free(e);
}

/*
 * Pools full of stalled holders: a flow that needs a buffer (general, large, mid-stream) or a
 * QUIC state when none is free takes back the one used least recently, once it has been idle
 * reclaim_idle seconds (each frame here is a second); the flow that loses it gives up what it
 * held. Not idle long enough: the new flow is refused, as without reclaiming.
 */
static void test_buffers_reclaimed(void **state)
{
    (void)state;
    struct tw_engine_stats st;
    uint8_t h[2048];
    size_t n = build_hello(h, sizeof(h), "b.localto.net", 1000, 1);

    reclaim_idle = 20;
    /* General pool of two: A and B hold half a hello; C, 8 s after A, is refused. */
    struct tw_engine *e = engine(64, 2);
    handshake(e, CLI, 40000, SRV, 443, 100);
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 101, h, 500);
    handshake(e, CLI, 40001, SRV, 443, 100);
    tcp_send(e, CLI, 40001, SRV, 443, ACK, 101, h, 500);
    handshake(e, CLI, 40002, SRV, 443, 100);
    tcp_send(e, CLI, 40002, SRV, 443, ACK, 101, h, 500);
    get_stats(e, &st);
    assert_int_equal(st.stream_no_buffer, 1);
    assert_int_equal(st.stream_reclaimed, 0);
    /* A takes more bytes: B is now the one used least recently. 30 s later D needs one: B's
     * is taken back, D is read, B's rest finds it done with, A's completes. */
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 601, h + 500, 300);
    clock_sec += 30;
    handshake(e, CLI, 40003, SRV, 443, 100);
    tcp_send(e, CLI, 40003, SRV, 443, ACK, 101, h, 500);
    tcp_send(e, CLI, 40003, SRV, 443, ACK, 601, h + 500, n - 500);
    tcp_send(e, CLI, 40001, SRV, 443, ACK, 601, h + 500, n - 500);
    tcp_send(e, CLI, 40000, SRV, 443, ACK, 901, h + 800, n - 800);
    assert_int_equal(n_seen, 2);
    assert_int_equal(seen[0].sport, 40003);
    assert_int_equal(seen[1].sport, 40000);
    get_stats(e, &st);
    assert_int_equal(st.stream_reclaimed, 1);
    assert_int_equal(st.stream_no_buffer, 1);
    tw_engine_free(e);

    /* General pool of one, held by a DNS flow's server stream (its second segment came
     * first); 30 s later a split hello takes it back: the response is no longer read. */
    uint8_t r1[512], rs[600];
    size_t n1 = dns_response(r1, "first.example.org", NULL, 0xcb007109);
    put16(rs, (uint16_t)n1);
    memcpy(rs + 2, r1, n1);
    e = engine(64, 1);
    handshake(e, CLI, 40100, SRV, 53, 100);
    tcp_send(e, SRV, 53, CLI, 40100, ACK | PSH, 5001 + 20, rs + 20, n1 + 2 - 20);
    clock_sec += 30;
    handshake(e, CLI, 40004, SRV, 443, 100);
    tcp_send(e, CLI, 40004, SRV, 443, ACK, 101, h, 500);
    tcp_send(e, CLI, 40004, SRV, 443, ACK, 601, h + 500, n - 500);
    tcp_send(e, SRV, 53, CLI, 40100, ACK | PSH, 5001, rs, 20);
    get_stats(e, &st);
    assert_int_equal(st.dns_tcp_responses, 0);
    expect_reclaimed(e, 40004, offsetof(struct tw_engine_stats, stream_reclaimed),
                     offsetof(struct tw_engine_stats, stream_no_buffer));

    /* Mid-stream pool of one: M1's first byte held, M2 comes 30 s later and is read; M1's
     * side is no longer held, so its rest alone begins nothing. */
    struct first_bytes fb;
    first_bytes_of(0, &fb);
    mid_buffers = 1;
    e = engine(64, 4);
    tcp_send(e, CLI, 41000, SRV, 443, ACK | PSH, 100, fb.b, 1);
    clock_sec += 30;
    tcp_send(e, CLI, 41001, SRV, 443, ACK | PSH, 100, fb.b, 1);
    tcp_send(e, CLI, 41001, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    tcp_send(e, CLI, 41000, SRV, 443, ACK | PSH, 101, fb.b + 1, fb.n - 1);
    expect_reclaimed(e, 41001, offsetof(struct tw_engine_stats, midstream_reclaimed),
                     offsetof(struct tw_engine_stats, midstream_no_buffer));
    mid_buffers = 4;

    /* One QUIC state: Q1's second half holds it, Q2 comes 30 s later and is read. */
    struct tw_quic_ctx *qc = tw_quic_ctx_new();
    uint8_t rec[2048], hs[2048];
    size_t rn = build_hello(rec, sizeof(rec), "quic.cftunnel.com", 600, 1);
    assert_non_null(qc);
    memcpy(hs, rec + 5, rn - 5);
    quic_states = 1;
    e = engine(64, 4);
    quic_part(e, qc, hs, rn - 5, 50000, 1);
    clock_sec += 30;
    quic_send(e, qc, hs, rn - 5, 50001);
    quic_part(e, qc, hs, rn - 5, 50000, 0);
    expect_reclaimed(e, 50001, offsetof(struct tw_engine_stats, quic_reclaimed),
                     offsetof(struct tw_engine_stats, quic_no_state));
    tw_quic_ctx_free(qc);
    quic_states = 4;

    /* One large buffer: L1 stalls 30,000 bytes into a 100 KiB hello; L2's whole hello comes
     * 30 s later and takes it. */
    static const struct big_hello bh = {{"large.localto.net"}, .suites = 20000, .pad = 65000};
    size_t m = build_msg(&bh, msg_big, sizeof(msg_big));
    size_t sn = records(msg_big, m, 16384, 0x0301, NULL, 0, stream_big, sizeof(stream_big));
    big_buffers = 1;
    e = engine(64, 4);
    handshake(e, CLI, 42000, SRV, 443, 7000);
    for (size_t off = 0; off < 30000; off += 1400)
        tcp_send(e, CLI, 42000, SRV, 443, ACK, 7001 + (uint32_t)off, stream_big + off, 1400);
    clock_sec += 30;
    send_stream(e, 42001, 1000, stream_big, sn, 1400, false);
    expect_reclaimed(e, 42001, offsetof(struct tw_engine_stats, tls_big_reclaimed),
                     offsetof(struct tw_engine_stats, tls_big_refused));
    big_buffers = 0;
    reclaim_idle = 0;
}

/*
 * QUIC: a second ClientHello after a HelloRetryRequest follows the first in the Initial
 * CRYPTO stream; its names are reported when they are not the first's. A Handshake packet or
 * a short header from the client first ends the wait for one.
 */
static void test_quic_hello_retry(void **state)
{
    (void)state;
    struct tw_quic_ctx *qc = tw_quic_ctx_new();
    uint8_t rec[2048], stream[4096], same[4096];
    struct tw_engine_stats st;
    size_t n1, n2;

    assert_non_null(qc);
    /* the two handshake messages back to back, as the CRYPTO stream carries them */
    n1 = build_hello(rec, sizeof(rec), "decoy.example.com", 300, 1) - 5;
    memcpy(stream, rec + 5, n1);
    n2 = build_hello(rec, sizeof(rec), "quic-retry.localto.net", 300, 1) - 5;
    memcpy(stream + n1, rec + 5, n2);
    memcpy(same, stream, n1);
    memcpy(same + n1, stream, n1);
    struct tw_engine *e = engine(64, 4);
    for (int c = 0; c < 4; c++) {
        uint16_t sport = (uint16_t)(51000 + c);
        size_t before = n_seen;
        quic_crypto_at(e, qc, TW_QUIC_PKT_INITIAL, stream, 0, n1, sport, 443, 0);
        if (c == 1) { /* the handshake goes on: a Handshake packet */
            quic_crypto_at(e, qc, TW_QUIC_PKT_HANDSHAKE, stream, 0, 40, sport, 443, 1);
        } else if (c == 2) { /* a short header */
            uint8_t one[64] = {0x43};
            struct frame f;
            udp_frame(&f, CLI, sport, SRV, 443, one, sizeof(one));
            feed(e, &f);
        }
        if (c == 3) /* a second hello with the first's names: read, no event */
            quic_crypto_at(e, qc, TW_QUIC_PKT_INITIAL, same, n1, n1, sport, 443, 2);
        else /* the second in two Initials, second half first */
            for (int h = 1; h >= 0; h--)
                quic_crypto_at(e, qc, TW_QUIC_PKT_INITIAL, stream, n1 + (h ? n2 / 2 : 0),
                               h ? n2 - n2 / 2 : n2 / 2, sport, 443, 3 + (uint32_t)(1 - h));
        assert_string_equal(seen[before].raw, "decoy.example.com");
        if (c == 0) {
            assert_int_equal(n_seen, before + 2);
            assert_string_equal(seen[before + 1].raw, "quic-retry.localto.net");
            assert_int_equal(seen[before + 1].evidence, TW_EV_QUIC_SNI);
            assert_int_equal(seen[before + 1].stream_flags, SF(HELLO_RETRY));
        } else {
            assert_int_equal(n_seen, before + 1);
        }
    }
    get_stats(e, &st);
    assert_int_equal(st.quic_hellos, 4);
    assert_int_equal(st.tls_hello_retry, 2); /* cases 0 and 3 */
    assert_int_equal(st.tls_hello_retry_other, 1);
    assert_int_equal(st.quic_gave_up, 0);
    tw_engine_free(e);
    tw_quic_ctx_free(qc);
}

/* QUIC carries the same ClientHello: the same leniency, flags and truncated names. */
static void test_quic_lenient_hello(void **state)
{
    static const struct big_hello two = {
        {"decoy.example.com", "hidden.cftunnel.com"}, .ext_each = true, .legacy = 0x7f7f,
        .suites = 2};
    static const struct big_hello broken = {{"broken.cftunnel.com"}, .suites = 2, .pad = 10,
                                            .break_after_sni = true};
    (void)state;
    struct tw_engine *e = engine(64, 4);
    struct tw_quic_ctx *qc = tw_quic_ctx_new();
    assert_non_null(qc);

    size_t m = build_msg(&two, msg_big, sizeof(msg_big));
    quic_send(e, qc, msg_big, m, 50000);
    assert_int_equal(n_seen, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(seen[i].evidence, TW_EV_QUIC_SNI);
        assert_int_equal(seen[i].tls_flags, TF(SNI_MULTIPLE) | TF(SNI_EXTENSION_REPEATED) |
                                                TF(DUPLICATE_EXTENSION) |
                                                TF(LEGACY_VERSION_UNUSUAL));
        assert_int_equal(seen[i].tls_version, 0x0304);
        assert_int_equal(seen[i].tls_record_version, 0);
        assert_true(seen[i].has_ja4);
    }
    assert_string_equal(seen[0].raw, "decoy.example.com");
    assert_string_equal(seen[1].raw, "hidden.cftunnel.com");

    m = build_msg(&broken, msg_big, sizeof(msg_big));
    quic_send(e, qc, msg_big, m, 50001);
    assert_int_equal(n_seen, 3);
    assert_string_equal(seen[2].raw, "broken.cftunnel.com");
    assert_int_equal(seen[2].tls_flags, TF(TRUNCATED));
    assert_false(seen[2].has_ja4);
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.quic.reason[TW_QR_HELLO_MALFORMED], 1);
    assert_int_equal(st.tls_flag[TW_TLS_F_TRUNCATED], 1);
    tw_engine_free(e);
    tw_quic_ctx_free(qc);
}

/* ---- checksums: validated only for what is read ---- */

/* The frame's IPv4 header and TCP/UDP checksums made right, or (bad) the L4 one wrong. */
static void set_csums(struct frame *f, bool bad)
{
    uint8_t *ip = f->b + 14, *l4 = f->b + 34;
    uint8_t proto = ip[9];

    tw_csum_ip4_fill(ip, 20);
    tw_csum_l4_fill(4, ip + 12, ip + 16, proto, l4, (uint32_t)(f->n - 34),
                    l4 + (proto == 6 ? 16 : 6));
    if (bad)
        l4[proto == 6 ? 16 : 6] ^= 0x5a;
}

static void tcp_send_csum(struct tw_engine *e, uint32_t src, uint16_t sport, uint32_t dst,
                          uint16_t dport, uint8_t flags, uint32_t seq, const void *data,
                          size_t len, bool bad)
{
    struct frame f;
    tcp_frame(&f, src, sport, dst, dport, flags, seq, 1, data, len);
    set_csums(&f, bad);
    feed(e, &f);
}

/*
 * Checksums on: a segment the engine reads is validated first (a bad one is dropped before it
 * makes or changes a flow); a data segment of a flow that is done is bypassed: counted, not
 * validated. A FIN or RST is always validated: it changes the flow.
 */
static void test_checksum_bypass(void **state)
{
    (void)state;
    struct tw_prep_config pc = {.defrag = TW_DEFRAG_CONFIG_DEFAULT, .checksums = TW_CSUM_ON};
    struct tw_engine_config cfg = {.flow_capacity = 64, .flow_timeout = 60, .stream_buffers = 4,
                                   .sink = sink, .prep = &pc};
    struct tw_engine_stats st;
    struct tw_flow_table_stats fst;
    uint32_t hw;
    uint8_t h[512], junk[300];
    size_t n = build_hello(h, sizeof(h), "real.localto.net", 0, 1);
    size_t d = build_hello(h + n, sizeof(h) - n, "decoy.example.com", 0, 1);

    memset(junk, 0x17, sizeof(junk));
    tw_homenet_default(&cfg.home);
    n_seen = n_resp = 0;
    struct tw_engine *e = tw_engine_new(&cfg);
    assert_non_null(e);
    /* A bad-checksum decoy hello on a flow never seen: no flow, no name. */
    tcp_send_csum(e, CLI, 41000, SRV, 443, ACK | PSH, 7, h + n, d, true);
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(fst.created, 0);
    assert_int_equal(st.prep.tcp_bad_checksum, 1);
    /* The handshake, a decoy with a bad checksum at the hello's place, then the hello. */
    tcp_send_csum(e, CLI, 41001, SRV, 443, SYN, 100, NULL, 0, false);
    tcp_send_csum(e, CLI, 41001, SRV, 443, ACK | PSH, 101, h + n, d, true);
    tcp_send_csum(e, CLI, 41001, SRV, 443, ACK | PSH, 101, h, n, false);
    assert_int_equal(n_seen, 1);
    expect_sni(0, "real.localto.net", "10.0.0.2", true);
    /* The client's next segment is read (a second hello could begin it), validated; then the
     * flow is done: data after it, good or bad, is bypassed, and validated no more. */
    tw_engine_get_stats(e, &st, &fst, &hw);
    uint64_t checked = st.prep.checksum_checked + 1;
    tcp_send_csum(e, CLI, 41001, SRV, 443, ACK | PSH, 101 + (uint32_t)n, junk, sizeof(junk), false);
    tcp_send_csum(e, CLI, 41001, SRV, 443, ACK | PSH, 401 + (uint32_t)n, junk, sizeof(junk), true);
    tcp_send_csum(e, SRV, 443, CLI, 41001, ACK | PSH, 1, junk, sizeof(junk), true);
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.bypassed, 2);
    assert_int_equal(st.prep.checksum_checked, checked);
    assert_int_equal(st.prep.tcp_bad_checksum, 2);
    /* A RST with a bad checksum is validated (and dropped), a good one is read. */
    tcp_send_csum(e, SRV, 443, CLI, 41001, RST, 1, NULL, 0, true);
    tw_engine_get_stats(e, &st, &fst, &hw);
    assert_int_equal(st.prep.tcp_bad_checksum, 3);
    assert_int_equal(st.prep.checksum_checked, checked + 1);
    assert_int_equal(st.bypassed, 2);
    assert_int_equal(fst.created, 1);
    assert_int_equal(n_seen, 1);
    tw_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_one_segment),
        cmocka_unit_test(test_checksum_bypass),
        cmocka_unit_test(test_hello_reassembly_orders),
        cmocka_unit_test(test_hello_survives_flood),
        cmocka_unit_test(test_connect_and_proxy_preambles),
        cmocka_unit_test(test_starttls_scan),
        cmocka_unit_test(test_dns_udp),
        cmocka_unit_test(test_dns_tcp),
        cmocka_unit_test(test_port_reuse_and_retransmitted_syn),
        cmocka_unit_test(test_midstream),
        cmocka_unit_test(test_limits_counted),
        cmocka_unit_test(test_midstream_pickup_splits),
        cmocka_unit_test(test_midstream_pickup_off),
        cmocka_unit_test(test_midstream_pickup_limits),
        cmocka_unit_test(test_midstream_past_start),
        cmocka_unit_test(test_hello_retry),
        cmocka_unit_test(test_quic_hello_retry),
        cmocka_unit_test(test_buffers_reclaimed),
        cmocka_unit_test(test_overlap_conflict),
        cmocka_unit_test(test_answer_correlation),
        cmocka_unit_test(test_dns_response_events),
        cmocka_unit_test(test_dns_response_unread),
        cmocka_unit_test(test_dns_tcp_midstream_response),
        cmocka_unit_test(test_answers_over_tcp),
        cmocka_unit_test(test_answer_at_end_eviction_midstream),
        cmocka_unit_test(test_quic_initials),
        cmocka_unit_test(test_http_requests),
        cmocka_unit_test(test_hello_records_skipped),
        cmocka_unit_test(test_hello_100k),
        cmocka_unit_test(test_hello_several_names),
        cmocka_unit_test(test_hello_broken_after_name),
        cmocka_unit_test(test_long_names_keep_end),
        cmocka_unit_test(test_quic_lenient_hello),
    };
    return tw_run_tests_name("engine", tests, NULL, NULL);
}
