/* SPDX-License-Identifier: MIT */
/*
 * AF_PACKET capture backend tests on the loopback interface, each case with the buffered
 * TPACKET_V3 ring and again with the immediate TPACKET_V2 one: UDP datagrams sent by the test
 * itself are captured through a port filter, decoded and checked (lengths, time stamps, only
 * the filtered port, each exactly once although "lo" shows every packet leaving and arriving);
 * snaplen truncation; a 60,000-byte datagram whole; non-blocking dispatch; dispatch(1) keeping
 * its place inside a block; a small ring wrapping around; a full ring dropping, with kernel
 * counters that reset on every read accumulated; a fanout group of two sockets splitting
 * flows, each flow's both directions on one socket, every frame seen once; error messages for
 * a bad filter, a missing interface and a bad source string. Skipped without permission to
 * capture (a failure in CI).
 */
#include "tunwatch/capture/capture.h"
#include "tunwatch/decode/decode.h"

#include <arpa/inet.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "lo_udp.h"

#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

#define NSENT 5         /* datagrams to the filtered port */
#define NOTHER 3        /* datagrams to another port, which the filter must drop */
#define BIG_PAYLOAD 200 /* payload for the snaplen test */
#define ETH_IP4_UDP 42  /* Ethernet + IPv4 + UDP header bytes on "lo" */
#define DEADLINE_MS 2000
#define MAXSEQ 4096 /* sequence numbers tracked per test */
#define NFLOWS 24   /* client sockets in the fanout test */
#define NMSG 4      /* requests (and replies) per client */
#define MAXFDS (NFLOWS + 4)

static const struct tw_capture_ops *const ops = &tw_capture_afpacket;

/* Every case runs twice: with the buffered TPACKET_V3 ring (a short block timer keeps the
 * run quick) and with the immediate TPACKET_V2 ring. */
static bool g_immediate;

/* Per-test resources, released by the teardown even when an assertion failed. */
struct fixture {
    int fds[MAXFDS];
    unsigned nfds;
    struct tw_capture *c[2];
};

struct seen {
    uint16_t port;
    unsigned nonce;
    unsigned frames;   /* frames delivered */
    unsigned ours;     /* frames carrying one of our payloads to port */
    unsigned last_seq; /* highest sequence number seen + 1 */
    unsigned out_of_order;
    unsigned wrong_port; /* frames not to or from port */
    unsigned bad_decode;
    unsigned bad_len; /* caplen > wirelen, or lengths not what was sent */
    unsigned bad_ts;
    size_t expect_caplen;  /* 0: caplen must equal wirelen */
    size_t expect_payload; /* payload bytes sent per datagram */
    struct timespec t0;    /* wall clock before the first datagram was sent */
    struct tw_decode_stats dst;
    unsigned char count[MAXSEQ]; /* times each sequence number arrived */
};

static int track(struct fixture *fx, int fd)
{
    assert_true(fd >= 0);
    assert_true(fx->nfds < MAXFDS);
    fx->fds[fx->nfds++] = fd;
    return fd;
}

static int bind_lo(struct fixture *fx, uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = track(fx, socket(AF_INET, SOCK_DGRAM, 0));

    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int fixture_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fx = *state;

    ops->close(fx->c[0]);
    ops->close(fx->c[1]);
    for (unsigned i = 0; i < fx->nfds; i++)
        close(fx->fds[i]);
    free(fx);
    return 0;
}

/* Copies a payload into a terminated string for sscanf. */
static void payload_text(const struct tw_pkt *pkt, char *text, size_t cap)
{
    size_t n = TW_MIN(pkt->payload_len, cap - 1);

    memcpy(text, pkt->payload, n);
    text[n] = '\0';
}

static void on_frame(void *ctx, const struct tw_frame *f)
{
    struct seen *s = ctx;
    struct tw_pkt pkt;
    unsigned nonce, seq;
    char text[64];
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    s->frames++;
    if (f->caplen > f->wirelen || f->data == NULL)
        s->bad_len++;
    /* Between the first send and now, with a second's slack for coarse clocks. */
    if (f->ts_nsec >= 1000000000u || f->ts_sec < (int64_t)s->t0.tv_sec - 1 ||
        f->ts_sec > (int64_t)now.tv_sec + 1)
        s->bad_ts++;
    if (tw_decode(TW_LINK_ETHERNET, f->data, f->caplen, f->wirelen, &pkt, &s->dst) != 0) {
        s->bad_decode++;
        return;
    }
    if (pkt.l4_proto != 17 || (pkt.dport != s->port && pkt.sport != s->port)) {
        s->wrong_port++;
        return;
    }
    if (pkt.dport != s->port || pkt.payload_len == 0)
        return;
    payload_text(&pkt, text, sizeof(text));
    if (sscanf(text, "twafp %u %u", &nonce, &seq) != 2 || nonce != s->nonce || seq >= MAXSEQ)
        return; /* someone else's datagram to our port */
    s->ours++;
    if (s->count[seq] < UCHAR_MAX)
        s->count[seq]++;
    if (seq + 1 < s->last_seq)
        s->out_of_order++;
    s->last_seq = TW_MAX(s->last_seq, seq + 1);
    if (pkt.payload_wire_len != s->expect_payload)
        s->bad_len++;
    if (s->expect_caplen == 0 ? f->caplen != f->wirelen : f->caplen != s->expect_caplen)
        s->bad_len++;
    if (f->wirelen != ETH_IP4_UDP + s->expect_payload)
        s->bad_len++;
}

/* Polls and dispatches (at most max frames a call) until `want` of our datagrams arrived or
 * the deadline passed, then for linger_ms more to catch frames delivered twice. */
static void drain(struct tw_capture *c, struct seen *s, unsigned want, unsigned max, int linger_ms)
{
    struct timespec start;
    struct pollfd pfd = {.fd = ops->selectable_fd(c), .events = POLLIN};
    char err[256] = "";

    assert_true(pfd.fd >= 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (s->ours < want && lo_ms_since(&start) < DEADLINE_MS) {
        int n;

        poll(&pfd, 1, 20);
        n = ops->dispatch(c, max, on_frame, s, err, sizeof(err));
        if (n < 0)
            fail_msg("dispatch: %d %s", n, err);
        assert_true((unsigned)n <= max);
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (lo_ms_since(&start) < linger_ms) {
        poll(&pfd, 1, 10);
        assert_true(ops->dispatch(c, max, on_frame, s, err, sizeof(err)) >= 0);
    }
}

static bool no_permission(int rc, const char *err)
{
    return rc < 0 && strstr(err, "CAP_NET_RAW") != NULL;
}

/* Opens source with opts into *out, or skips the test when the process may not capture. */
static struct tw_capture *open_or_skip(const char *source, const struct tw_capture_opts *opts,
                                       struct tw_capture **out)
{
    char err[512] = "x";
    int rc = ops->open(source, opts, out, err, sizeof(err));

    if (no_permission(rc, err))
        tw_skip_required("%s", err);
    if (rc < 0)
        fail_msg("open %s: %d %s", source, rc, err);
    assert_string_equal(err, "");
    assert_non_null(*out);
    assert_int_equal(ops->linktype(*out), TW_LINK_ETHERNET);
    return *out;
}

/* Sends n datagrams with sequence numbers first.. to port. */
static void send_seq(int tx, uint16_t port, struct seen *s, unsigned first, unsigned n)
{
    char buf[BIG_PAYLOAD * 8];

    assert_true(s->expect_payload <= sizeof(buf));
    for (unsigned i = first; i < first + n; i++)
        lo_send_to(tx, port, buf,
                   lo_make_payload(buf, sizeof(buf), "twafp", s->nonce, i, s->expect_payload));
}

static void assert_each_once(const struct seen *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (s->count[i] != 1)
            fail_msg("datagram %u arrived %u times", i, (unsigned)s->count[i]);
    assert_int_equal(s->ours, n);
}

static void test_filtered_udp(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {.nonce = (unsigned)getpid(), .expect_payload = 24};
    struct tw_capture_stats st, st2;
    char filter[64];
    struct tw_capture_opts opts = {.immediate = g_immediate, .timeout_ms = 5, .filter = filter};
    uint16_t other;
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    struct tw_capture *c;

    bind_lo(fx, &s.port);
    bind_lo(fx, &other);
    snprintf(filter, sizeof(filter), "udp port %u", (unsigned)s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);

    clock_gettime(CLOCK_REALTIME, &s.t0);
    send_seq(tx, s.port, &s, 0, NSENT);
    send_seq(tx, other, &s, NSENT, NOTHER);
    drain(c, &s, NSENT, 64, 50);

    assert_each_once(&s, NSENT); /* "lo" shows each packet twice; one copy is kept */
    assert_int_equal(s.frames, NSENT);
    assert_int_equal(s.out_of_order, 0);
    assert_int_equal(s.wrong_port, 0);
    assert_int_equal(s.bad_decode, 0);
    assert_int_equal(s.bad_len, 0);
    assert_int_equal(s.bad_ts, 0);

    ops->stats(c, &st);
    assert_int_equal(st.frames, s.frames);
    assert_true(st.received >= st.frames);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.ifdropped, 0);
    assert_int_equal(st.bytes_done, 0);
    assert_int_equal(st.bytes_total, 0);
    /* The kernel resets its counters on every read: totals must not go back. */
    ops->stats(c, &st2);
    assert_true(st2.received >= st.received);
    assert_int_equal(st2.frames, st.frames);
}

static void test_snaplen_truncates(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {
        .nonce = (unsigned)getpid(), .expect_payload = BIG_PAYLOAD, .expect_caplen = 64};
    char filter[64];
    struct tw_capture_opts opts = {
        .immediate = g_immediate, .timeout_ms = 5, .snaplen = 64, .filter = filter};
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    struct tw_capture *c;

    bind_lo(fx, &s.port);
    snprintf(filter, sizeof(filter), "udp dst port %u", (unsigned)s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);
    clock_gettime(CLOCK_REALTIME, &s.t0);
    send_seq(tx, s.port, &s, 0, 1);
    drain(c, &s, 1, 64, 0);

    assert_int_equal(s.ours, 1);
    assert_int_equal(s.bad_len, 0); /* caplen 64, wirelen 42 + 200, payload_wire_len 200 */
    assert_int_equal(s.bad_ts, 0);
    assert_true(s.dst.reason[TW_DR_PAYLOAD_TRUNCATED] >= 1);
}

/* Snaplen without a filter is applied too (by the kernel, through an accept-all filter). */
static void test_snaplen_without_filter(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {
        .nonce = (unsigned)getpid(), .expect_payload = BIG_PAYLOAD, .expect_caplen = 80};
    struct tw_capture_opts opts = {.immediate = g_immediate, .timeout_ms = 5, .snaplen = 80};
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    struct tw_capture *c;

    bind_lo(fx, &s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);
    clock_gettime(CLOCK_REALTIME, &s.t0);
    send_seq(tx, s.port, &s, 0, 1);
    drain(c, &s, 1, 64, 0);

    assert_int_equal(s.ours, 1);
    assert_int_equal(s.bad_len, 0);
}

/* A datagram of 60,000 bytes on "lo" (MTU 65536) arrives whole: a V2 slot holds a 64 KiB
 * packet, as it must for a GSO super-packet of an interface with offloads. */
static void test_large_frame_whole(void **state)
{
    enum { BIG = 60000 };
    struct fixture *fx = *state;
    struct seen s = {.nonce = (unsigned)getpid(), .expect_payload = BIG};
    char filter[64];
    struct tw_capture_opts opts = {.immediate = g_immediate, .timeout_ms = 5, .filter = filter};
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    char *buf = malloc(BIG);
    struct tw_capture *c;

    assert_non_null(buf);
    bind_lo(fx, &s.port);
    snprintf(filter, sizeof(filter), "udp dst port %u", (unsigned)s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);
    clock_gettime(CLOCK_REALTIME, &s.t0);
    lo_send_to(tx, s.port, buf, lo_make_payload(buf, BIG, "twafp", s.nonce, 0, BIG));
    free(buf);
    drain(c, &s, 1, 64, 20);

    assert_each_once(&s, 1);
    assert_int_equal(s.bad_len, 0); /* caplen == wirelen == 42 + 60000 */
    assert_int_equal(s.bad_decode, 0);
}

static void test_dispatch_does_not_block(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {.port = 9};
    struct tw_capture_opts opts = {
        .immediate = g_immediate, .filter = "udp port 9 and udp port 10", .timeout_ms = 1000};
    struct tw_capture *c = open_or_skip("lo", &opts, &fx->c[0]);
    struct timespec start;
    char err[256] = "";

    alarm(10); /* a blocking dispatch could wait forever: end the run instead of hanging */
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ops->dispatch(c, 64, on_frame, &s, err, sizeof(err)), 0);
    alarm(0);
    assert_true(lo_ms_since(&start) < 500); /* the 1 s timeout did not apply */
    assert_int_equal(s.frames, 0);
    assert_string_equal(err, "");
}

/* dispatch(1) stops inside a block and resumes at the next frame: nothing lost or repeated. */
static void test_dispatch_one_at_a_time(void **state)
{
    enum { N = 40 };
    struct fixture *fx = *state;
    struct seen s = {.nonce = (unsigned)getpid(), .expect_payload = 30};
    char filter[64];
    struct tw_capture_opts opts = {.immediate = g_immediate, .timeout_ms = 50, .filter = filter};
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    struct tw_capture *c;

    bind_lo(fx, &s.port);
    snprintf(filter, sizeof(filter), "udp dst port %u", (unsigned)s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);
    clock_gettime(CLOCK_REALTIME, &s.t0);
    send_seq(tx, s.port, &s, 0, N); /* all in one block, handed over by the 50 ms timer */
    drain(c, &s, N, 1, 100);

    assert_each_once(&s, N);
    assert_int_equal(s.out_of_order, 0);
    assert_int_equal(s.bad_len, 0);
}

/* A two-block ring is handed back and forth many times. */
static void test_small_ring_wraps(void **state)
{
    enum { ROUNDS = 12, PER_ROUND = 5 };
    struct fixture *fx = *state;
    struct seen s = {.nonce = (unsigned)getpid(), .expect_payload = 100};
    char filter[64];
    struct tw_capture_opts opts = {
        .immediate = g_immediate, .timeout_ms = 5, .buffer_mib = 2, .filter = filter};
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    struct tw_capture_stats st;
    struct tw_capture *c;

    bind_lo(fx, &s.port);
    snprintf(filter, sizeof(filter), "udp dst port %u", (unsigned)s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);
    clock_gettime(CLOCK_REALTIME, &s.t0);
    for (unsigned r = 0; r < ROUNDS; r++) {
        send_seq(tx, s.port, &s, r * PER_ROUND, PER_ROUND);
        drain(c, &s, (r + 1) * PER_ROUND, 64, 0);
    }
    drain(c, &s, ROUNDS * PER_ROUND, 64, 50);

    assert_each_once(&s, ROUNDS * PER_ROUND);
    assert_int_equal(s.out_of_order, 0);
    assert_int_equal(s.bad_len, 0);
    ops->stats(c, &st);
    assert_int_equal(st.dropped, 0);
}

/* A one-block ring left unread fills up: the kernel drops the rest and counts the drops in
 * counters it resets on every read, which the backend must add up. */
static void test_full_ring_drops_and_stats_accumulate(void **state)
{
    enum { N = 3000 };
    struct fixture *fx = *state;
    struct seen s = {.nonce = (unsigned)getpid(), .expect_payload = 1000};
    char filter[64];
    struct tw_capture_opts opts = {
        .immediate = g_immediate, .timeout_ms = 5, .buffer_mib = 1, .filter = filter};
    int tx = track(fx, socket(AF_INET, SOCK_DGRAM, 0));
    struct tw_capture_stats st, st2, st3;
    struct tw_capture *c;

    bind_lo(fx, &s.port);
    snprintf(filter, sizeof(filter), "udp dst port %u", (unsigned)s.port);
    c = open_or_skip("lo", &opts, &fx->c[0]);
    clock_gettime(CLOCK_REALTIME, &s.t0);
    send_seq(tx, s.port, &s, 0, N);

    ops->stats(c, &st);
    ops->stats(c, &st2);
    print_message("received %llu dropped %llu of %u sent\n", (unsigned long long)st.received,
                  (unsigned long long)st.dropped, N);
    assert_int_equal(st.received, N);
    assert_true(st.dropped > 0 && st.dropped < N);
    assert_int_equal(st2.received, st.received); /* not reset to zero by the first read */
    assert_int_equal(st2.dropped, st.dropped);

    drain(c, &s, N - (unsigned)st.dropped, 64, 50);
    ops->stats(c, &st3);
    assert_int_equal(s.ours + st3.dropped, N);
    assert_int_equal(st3.frames, s.ours);
    assert_int_equal(s.out_of_order, 0);
    assert_int_equal(s.bad_len, 0);
    for (unsigned i = 0; i < N; i++)
        assert_true(s.count[i] <= 1);
}

/* Fanout: state shared by the two sockets' callbacks. */
struct fan {
    unsigned nonce;
    uint16_t server;
    uint16_t client[NFLOWS];
    unsigned frames[2];
    unsigned ours;
    unsigned bad;             /* undecodable, wrong ports, or ports not matching payload */
    unsigned char on[NFLOWS]; /* bit i: a frame of the flow arrived on socket i */
    unsigned char count[NFLOWS][NMSG][2]; /* [flow][message][0 request, 1 reply] */
    struct tw_decode_stats dst;
};

struct fan_ctx {
    struct fan *fan;
    unsigned sock;
};

static void on_fan_frame(void *ctx, const struct tw_frame *f)
{
    const struct fan_ctx *fc = ctx;
    struct fan *fan = fc->fan;
    struct tw_pkt pkt;
    unsigned nonce, flow, msg;
    char text[64], dir;
    bool reply;

    fan->frames[fc->sock]++;
    if (tw_decode(TW_LINK_ETHERNET, f->data, f->caplen, f->wirelen, &pkt, &fan->dst) != 0 ||
        pkt.l4_proto != 17 || (pkt.sport != fan->server && pkt.dport != fan->server)) {
        fan->bad++;
        return;
    }
    payload_text(&pkt, text, sizeof(text));
    if (sscanf(text, "twfan %u %u %u %c", &nonce, &flow, &msg, &dir) != 4 || nonce != fan->nonce)
        return; /* someone else's datagram */
    reply = dir == 'r';
    if (flow >= NFLOWS || msg >= NMSG ||
        (reply ? pkt.sport != fan->server || pkt.dport != fan->client[flow]
               : pkt.dport != fan->server || pkt.sport != fan->client[flow])) {
        fan->bad++;
        return;
    }
    fan->ours++;
    fan->on[flow] |= (unsigned char)(1u << fc->sock);
    if (fan->count[flow][msg][reply] < UCHAR_MAX)
        fan->count[flow][msg][reply]++;
}

static void test_fanout_splits_flows(void **state)
{
    struct fixture *fx = *state;
    struct fan *fan = calloc(1, sizeof(*fan));
    struct fan_ctx ctx[2] = {{fan, 0}, {fan, 1}};
    char filter[64], source[32], buf[64], err[256] = "";
    struct tw_capture_opts opts = {.immediate = g_immediate, .timeout_ms = 5, .filter = filter};
    int server, clients[NFLOWS];
    struct pollfd pfd[2];
    struct timespec start;
    unsigned want = NFLOWS * NMSG * 2, flows_on[2] = {0, 0};
    int phase;

    assert_non_null(fan);
    fan->nonce = (unsigned)getpid();
    server = bind_lo(fx, &fan->server);
    for (unsigned i = 0; i < NFLOWS; i++)
        clients[i] = bind_lo(fx, &fan->client[i]);
    snprintf(filter, sizeof(filter), "udp port %u", (unsigned)fan->server);
    /* A group of this process's own, so that a parallel run does not join it. */
    snprintf(source, sizeof(source), "lo@%u", 1000 + (unsigned)getpid() % 60000);
    open_or_skip(source, &opts, &fx->c[0]);
    open_or_skip(source, &opts, &fx->c[1]);

    for (unsigned m = 0; m < NMSG; m++) {
        for (unsigned i = 0; i < NFLOWS; i++) {
            int n = snprintf(buf, sizeof(buf), "twfan %u %u %u q", fan->nonce, i, m);

            lo_send_to(clients[i], fan->server, buf, (size_t)n);
        }
        for (unsigned i = 0; i < NFLOWS; i++) { /* echo each request back as a reply */
            struct sockaddr_in from;
            socklen_t flen = sizeof(from);
            ssize_t n = recvfrom(server, buf, sizeof(buf) - 1, MSG_DONTWAIT,
                                 (struct sockaddr *)&from, &flen);

            assert_true(n > 0);
            buf[n - 1] = 'r';
            assert_int_equal(sendto(server, buf, (size_t)n, 0, (struct sockaddr *)&from, flen), n);
        }
    }

    for (unsigned k = 0; k < 2; k++)
        pfd[k] = (struct pollfd){.fd = ops->selectable_fd(fx->c[k]), .events = POLLIN};
    /* Until everything arrived, then 100 ms more for any frame delivered twice. */
    for (phase = 0; phase < 2; phase++) {
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (phase == 0 ? fan->ours < want && lo_ms_since(&start) < DEADLINE_MS
                          : lo_ms_since(&start) < 100) {
            poll(pfd, 2, 10);
            for (unsigned k = 0; k < 2; k++)
                if (ops->dispatch(fx->c[k], 64, on_fan_frame, &ctx[k], err, sizeof(err)) < 0)
                    fail_msg("dispatch: %s", err);
        }
    }

    assert_int_equal(fan->bad, 0);
    for (unsigned i = 0; i < NFLOWS; i++) {
        for (unsigned m = 0; m < NMSG; m++)
            for (unsigned d = 0; d < 2; d++)
                if (fan->count[i][m][d] != 1)
                    fail_msg("flow %u message %u %s arrived %u times", i, m,
                             d ? "reply" : "request", (unsigned)fan->count[i][m][d]);
        if (fan->on[i] != 1 && fan->on[i] != 2)
            fail_msg("flow %u split across both sockets", i);
        flows_on[fan->on[i] - 1]++;
    }
    assert_int_equal(fan->ours, NFLOWS * NMSG * 2);
    print_message("flows per socket: %u %u (frames %u %u)\n", flows_on[0], flows_on[1],
                  fan->frames[0], fan->frames[1]);
    /* Both sockets take part (all 24 flows on one: probability 2^-23). */
    assert_true(flows_on[0] > 0 && flows_on[1] > 0);
    free(fan);
}

static void test_bad_filter(void **state)
{
    static const char expr[] = "udp port and (";
    struct tw_capture_opts opts = {.filter = expr};
    struct tw_capture *c = NULL;
    char err[512] = "";
    int rc = ops->open("lo", &opts, &c, err, sizeof(err));

    (void)state;
    if (no_permission(rc, err))
        tw_skip_required("%s", err);
    assert_int_equal(rc, TW_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "lo: bad filter 'udp port and ('"));
}

static void test_no_such_interface(void **state)
{
    static const char *const sources[] = {"twnosuch0", "twnosuch0@7"};

    (void)state;
    for (unsigned i = 0; i < TW_ARRAY_SIZE(sources); i++) {
        struct tw_capture *c = NULL;
        char err[512] = "";
        int rc = ops->open(sources[i], NULL, &c, err, sizeof(err));

        assert_int_equal(rc, TW_EINVAL); /* found out before any privilege is needed */
        assert_null(c);
        assert_string_equal(err, "twnosuch0: no such interface");
    }
}

static void test_bad_source(void **state)
{
    static const struct {
        int line;
        const char *source;
        const char *msg;
    } cases[] = {
        {__LINE__, "lo@65536", "lo@65536: fanout group must be a number from 0 to 65535"},
        {__LINE__, "lo@99999999999999999999", "lo@99999999999999999999: fanout group must be"},
        {__LINE__, "lo@", "lo@: fanout group must be a number"},
        {__LINE__, "lo@-1", "lo@-1: fanout group must be a number"},
        {__LINE__, "lo@1x", "lo@1x: fanout group must be a number"},
        {__LINE__, "lo@1@2", "lo@1@2: fanout group must be a number"},
        {__LINE__, "@1", "@1: not an interface name (IFACE or IFACE@GROUP)"},
        {__LINE__, "", ": not an interface name"},
        {__LINE__, "twnamelongerthan16", "twnamelongerthan16: not an interface name"},
    };

    (void)state;
    for (unsigned i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_capture *c = NULL;
        char err[512] = "";
        int rc = ops->open(cases[i].source, NULL, &c, err, sizeof(err));

        if (rc != TW_EINVAL || c != NULL || strstr(err, cases[i].msg) != err)
            fail_msg("line %d: '%s': rc %d, err '%s'", cases[i].line, cases[i].source, rc, err);
    }
}

static void test_buffer_too_large(void **state)
{
    struct tw_capture_opts opts = {.buffer_mib = 4096};
    struct tw_capture *c = NULL;
    char err[512] = "";

    (void)state;
    assert_int_equal(ops->open("lo", &opts, &c, err, sizeof(err)), TW_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "lo: buffer of 4096 MiB is too large"));
}

/* Sends one UDP datagram from 127.0.0.1:sport to 127.0.0.1:dport as two IPv4 fragments
 * (loopback's MTU is too large for the kernel to fragment anything itself). */
static void send_fragmented(struct fixture *fx, uint16_t sport, uint16_t dport, const char *payload,
                            size_t len, uint16_t ip_id)
{
    enum { FIRST = 1496 }; /* UDP header + payload bytes in the first fragment, 8-aligned */
    uint8_t udp[8 + 4000], pkt[20 + FIRST];
    size_t total = 8 + len, off;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int raw = track(fx, socket(AF_INET, SOCK_RAW, IPPROTO_RAW));

    assert_true(len <= sizeof(udp) - 8 && total > FIRST);
    udp[0] = (uint8_t)(sport >> 8), udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)(total >> 8), udp[5] = (uint8_t)total;
    udp[6] = udp[7] = 0; /* no checksum */
    memcpy(udp + 8, payload, len);
    for (off = 0; off < total; off += FIRST) {
        size_t n = TW_MIN((size_t)FIRST, total - off);
        uint16_t frag = (uint16_t)(off / 8) | (off + n < total ? IP_MF : 0);

        memset(pkt, 0, 20);
        pkt[0] = 0x45;
        pkt[2] = (uint8_t)((20 + n) >> 8), pkt[3] = (uint8_t)(20 + n);
        pkt[4] = (uint8_t)(ip_id >> 8), pkt[5] = (uint8_t)ip_id;
        pkt[6] = (uint8_t)(frag >> 8), pkt[7] = (uint8_t)frag;
        pkt[8] = 64;
        pkt[9] = IPPROTO_UDP;
        memcpy(pkt + 12, &to.sin_addr, 4);
        memcpy(pkt + 16, &to.sin_addr, 4);
        memcpy(pkt + 20, udp + off, n);
        assert_int_equal(sendto(raw, pkt, 20 + n, 0, (struct sockaddr *)&to, sizeof(to)),
                         (ssize_t)(20 + n));
    }
}

/* On loopback, a group can reassemble only if it ignores the outgoing copy of each fragment. */
static bool fanout_ignores_outgoing(struct fixture *fx)
{
    struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                              .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex("lo")};
    int fd = track(fx, socket(AF_PACKET, SOCK_RAW, 0));
    int arg =
        (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID | PACKET_FANOUT_FLAG_IGNORE_OUTGOING)
        << 16;

    assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
    return setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) == 0;
}

/* In a fanout group, IPv4 fragments are reassembled before the flow hash (so they follow their
 * flow); the filter then matches the whole datagram and one frame carries it. */
static void test_fanout_reassembles_fragments(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {.nonce = (unsigned)getpid(), .expect_payload = 3000};
    char filter[64], source[32], buf[3000], err[256] = "";
    struct tw_capture_opts opts = {.immediate = g_immediate, .timeout_ms = 5, .filter = filter};
    struct pollfd pfd[2];
    struct timespec start;
    uint16_t sport;
    int phase;

    bind_lo(fx, &s.port);
    bind_lo(fx, &sport);
    snprintf(filter, sizeof(filter), "udp port %u", (unsigned)s.port);
    snprintf(source, sizeof(source), "lo@%u", 1000 + (unsigned)getpid() % 60000);
    open_or_skip(source, &opts, &fx->c[0]);
    open_or_skip(source, &opts, &fx->c[1]);
    if (!fanout_ignores_outgoing(fx))
        tw_skip_unsupported("the kernel has no PACKET_FANOUT_FLAG_IGNORE_OUTGOING (6.8)");
    clock_gettime(CLOCK_REALTIME, &s.t0);
    send_fragmented(fx, sport, s.port, buf,
                    lo_make_payload(buf, sizeof(buf), "twafp", s.nonce, 0, s.expect_payload),
                    (uint16_t)getpid());

    for (unsigned k = 0; k < 2; k++)
        pfd[k] = (struct pollfd){.fd = ops->selectable_fd(fx->c[k]), .events = POLLIN};
    for (phase = 0; phase < 2; phase++) {
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (phase == 0 ? s.ours < 1 && lo_ms_since(&start) < DEADLINE_MS
                          : lo_ms_since(&start) < 100) {
            poll(pfd, 2, 10);
            for (unsigned k = 0; k < 2; k++)
                if (ops->dispatch(fx->c[k], 64, on_frame, &s, err, sizeof(err)) < 0)
                    fail_msg("dispatch: %s", err);
        }
    }
    assert_int_equal(s.dst.reason[TW_DR_IP4_FRAGMENT], 0);
    assert_int_equal(s.bad_decode, 0);
    assert_each_once(&s, 1);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.bad_len, 0); /* one frame of 42 + 3000 bytes */
}

/* Fanout group ids span 0..65535; members may differ in ring size; a group another socket
 * holds in another mode is refused with a message naming it. */
static void test_fanout_group_limits(void **state)
{
    struct fixture *fx = *state;
    struct tw_capture_opts two_mib = {.buffer_mib = 2};
    unsigned group = 1000 + (unsigned)getpid() % 60000;
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    char source[32], want[96], err[512] = "";
    struct tw_capture *c = NULL;
    int lb, arg, rc;

    open_or_skip("lo@65535", NULL, &fx->c[0]);
    open_or_skip("lo@0", NULL, &fx->c[1]);
    ops->close(fx->c[0]);
    ops->close(fx->c[1]);
    fx->c[0] = fx->c[1] = NULL;

    snprintf(source, sizeof(source), "lo@%u", group);
    open_or_skip(source, NULL, &fx->c[0]);
    open_or_skip(source, &two_mib, &fx->c[1]);
    ops->close(fx->c[0]);
    ops->close(fx->c[1]);
    fx->c[0] = fx->c[1] = NULL;

    /* A plain socket takes the group in load-balancing mode. */
    lb = track(fx, socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    sll.sll_ifindex = (int)if_nametoindex("lo");
    assert_int_equal(bind(lb, (struct sockaddr *)&sll, sizeof(sll)), 0);
    arg = (int)group | PACKET_FANOUT_LB << 16;
    assert_int_equal(setsockopt(lb, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)), 0);
    rc = ops->open(source, NULL, &c, err, sizeof(err));
    assert_int_equal(rc, TW_EIO);
    assert_null(c);
    snprintf(want, sizeof(want), "%s: cannot join fanout group %u: ", source, group);
    assert_non_null(strstr(err, want));
}

static void test_short_error_buffer(void **state)
{
    struct tw_capture *c = NULL;
    char err[8];
    int rc = ops->open("twnosuch0", NULL, &c, err, sizeof(err));

    (void)state;
    assert_true(rc < 0);
    assert_int_equal(strlen(err), sizeof(err) - 1); /* truncated, terminated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filtered_udp, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_snaplen_truncates, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_snaplen_without_filter, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_large_frame_whole, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_does_not_block, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_one_at_a_time, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_small_ring_wraps, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_drops_and_stats_accumulate, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_splits_flows, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_reassembles_fragments, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_group_limits, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_bad_filter),
        cmocka_unit_test(test_no_such_interface),
        cmocka_unit_test(test_bad_source),
        cmocka_unit_test(test_buffer_too_large),
        cmocka_unit_test(test_short_error_buffer),
    };

    int failed = cmocka_run_group_tests_name("afpacket, buffered (TPACKET_V3)", tests, NULL, NULL);

    g_immediate = true;
    failed += cmocka_run_group_tests_name("afpacket, immediate (TPACKET_V2)", tests, NULL, NULL);
    return tw_exit_status(failed);
}
