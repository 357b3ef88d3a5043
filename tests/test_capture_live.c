/* SPDX-License-Identifier: MIT */
/*
 * Live capture backend tests on the loopback interface: UDP datagrams sent by the test itself
 * are captured through a port filter, decoded and checked (lengths, time stamps, only the
 * filtered port, stats); snaplen truncation; non-blocking dispatch; "any"; error messages for a
 * bad filter and a missing interface. Skipped without permission to capture (a failure in CI).
 */
#include "tunwatch/capture/capture.h"
#include "tunwatch/decode/decode.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

#define NSENT 5         /* datagrams to the filtered port */
#define NOTHER 3        /* datagrams to another port, which the filter must drop */
#define BIG_PAYLOAD 200 /* payload for the snaplen test */
#define ETH_IP4_UDP 42  /* Ethernet + IPv4 + UDP header bytes on "lo" */
#define DEADLINE_MS 2000

static const struct tw_capture_ops *const ops = &tw_capture_pcap_live;

/* Two UDP sockets bound to kernel-chosen loopback ports: "port" is filtered on, "other" is not.
 * Bound ports cannot collide with a parallel run of this test. */
struct udp_pair {
    int tx;
    int rx_port, rx_other;
    uint16_t port, other;
};

/* Per-test resources, released by the teardown even when an assertion failed. */
struct fixture {
    struct udp_pair u;
    struct tw_capture *c;
};

struct seen {
    int linktype;
    uint16_t port;
    unsigned nonce;
    unsigned frames;     /* frames delivered */
    unsigned ours;       /* frames carrying one of our payloads to port */
    unsigned mask;       /* which sequence numbers arrived */
    unsigned wrong_port; /* frames not to or from port */
    unsigned bad_decode;
    unsigned bad_len; /* caplen > wirelen, or lengths not what was sent */
    unsigned bad_ts;
    size_t expect_caplen;  /* 0: caplen must equal wirelen */
    size_t expect_payload; /* payload bytes sent per datagram */
    struct timespec t0;    /* wall clock before the first datagram was sent */
    struct tw_decode_stats dst;
};

static int bind_lo(uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void udp_open(struct udp_pair *u)
{
    u->tx = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(u->tx >= 0);
    u->rx_port = bind_lo(&u->port);
    u->rx_other = bind_lo(&u->other);
}

static int fixture_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    fx->u.tx = fx->u.rx_port = fx->u.rx_other = -1;
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fx = *state;

    ops->close(fx->c);
    if (fx->u.tx >= 0)
        close(fx->u.tx);
    if (fx->u.rx_port >= 0)
        close(fx->u.rx_port);
    if (fx->u.rx_other >= 0)
        close(fx->u.rx_other);
    free(fx);
    return 0;
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
    if (tw_decode(s->linktype, f->data, f->caplen, f->wirelen, &pkt, &s->dst) != 0) {
        s->bad_decode++;
        return;
    }
    if (pkt.l4_proto != 17 || (pkt.dport != s->port && pkt.sport != s->port)) {
        s->wrong_port++;
        return;
    }
    if (pkt.dport != s->port)
        return;
    if (pkt.payload_len == 0)
        return;
    memcpy(text, pkt.payload, TW_MIN(pkt.payload_len, sizeof(text) - 1));
    text[TW_MIN(pkt.payload_len, sizeof(text) - 1)] = '\0';
    if (sscanf(text, "twlive %u %u", &nonce, &seq) != 2 || nonce != s->nonce || seq >= 32)
        return; /* someone else's datagram to our port */
    s->ours++;
    s->mask |= 1u << seq;
    if (pkt.payload_wire_len != s->expect_payload)
        s->bad_len++;
    if (s->expect_caplen == 0 ? f->caplen != f->wirelen : f->caplen != s->expect_caplen)
        s->bad_len++;
    if (f->wirelen != ETH_IP4_UDP + s->expect_payload && s->linktype == TW_LINK_ETHERNET)
        s->bad_len++;
}

/* Polls and dispatches until `want` of our datagrams arrived or the deadline passed. */
static void drain(struct tw_capture *c, struct seen *s, unsigned want)
{
    struct timespec start;
    struct pollfd pfd = {.fd = ops->selectable_fd(c), .events = POLLIN};
    char err[256] = "";

    assert_true(pfd.fd >= 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (s->ours < want && lo_ms_since(&start) < DEADLINE_MS) {
        int n;

        poll(&pfd, 1, 50);
        n = ops->dispatch(c, 64, on_frame, s, err, sizeof(err));
        assert_true(n >= 0);
    }
}

/* Opens "lo" with opts into fx->c, or skips the test when the process may not capture. */
static struct tw_capture *open_lo_or_skip(struct fixture *fx, const struct tw_capture_opts *opts)
{
    char err[512] = "";
    int rc = ops->open("lo", opts, &fx->c, err, sizeof(err));

    if (rc < 0 && strstr(err, "CAP_NET_RAW") != NULL)
        tw_skip_required("%s", err);
    if (rc < 0)
        fail_msg("open lo: %d %s", rc, err);
    assert_non_null(fx->c);
    return fx->c;
}

static void test_filtered_udp(void **state)
{
    struct fixture *fx = *state;
    struct udp_pair *u = &fx->u;
    struct seen s = {.linktype = -1};
    struct tw_capture_stats st, st2;
    struct tw_capture *c;
    char filter[64], buf[128];
    struct tw_capture_opts opts = {.immediate = true, .filter = filter};

    udp_open(u);
    snprintf(filter, sizeof(filter), "udp port %u", (unsigned)u->port);
    c = open_lo_or_skip(fx, &opts);
    s.linktype = ops->linktype(c);
    assert_true(tw_decode_linktype_supported(s.linktype));
    s.port = u->port;
    s.nonce = (unsigned)getpid();
    s.expect_payload = lo_make_payload(buf, sizeof(buf), "twlive", s.nonce, 0, 0);

    clock_gettime(CLOCK_REALTIME, &s.t0);
    for (unsigned i = 0; i < NSENT + NOTHER; i++) {
        size_t len = lo_make_payload(buf, sizeof(buf), "twlive", s.nonce, i, s.expect_payload);

        lo_send_to(u->tx, i < NSENT ? u->port : u->other, buf, len);
    }
    drain(c, &s, NSENT);

    assert_int_equal(s.ours, NSENT);
    assert_int_equal(s.mask, (1u << NSENT) - 1);
    assert_int_equal(s.wrong_port, 0);
    assert_int_equal(s.bad_decode, 0);
    assert_int_equal(s.bad_len, 0);
    assert_int_equal(s.bad_ts, 0);

    ops->stats(c, &st);
    assert_int_equal(st.frames, s.frames);
    assert_true(st.received >= st.frames);
    assert_int_equal(st.bytes_done, 0);
    assert_int_equal(st.bytes_total, 0);
    /* Counters are cumulative: a second read never goes back. */
    ops->stats(c, &st2);
    assert_true(st2.received >= st.received);
    assert_true(st2.dropped >= st.dropped);
    assert_int_equal(st2.frames, st.frames);
}

static void test_snaplen_truncates(void **state)
{
    struct fixture *fx = *state;
    struct udp_pair *u = &fx->u;
    struct seen s = {.linktype = -1};
    struct tw_capture *c;
    char filter[64], buf[BIG_PAYLOAD + 1];
    struct tw_capture_opts opts = {.immediate = true, .snaplen = 64, .filter = filter};

    udp_open(u);
    snprintf(filter, sizeof(filter), "udp dst port %u", (unsigned)u->port);
    c = open_lo_or_skip(fx, &opts);
    s.linktype = ops->linktype(c);
    s.port = u->port;
    s.nonce = (unsigned)getpid();
    s.expect_payload = BIG_PAYLOAD;
    s.expect_caplen = 64;
    clock_gettime(CLOCK_REALTIME, &s.t0);
    lo_send_to(u->tx, u->port, buf,
               lo_make_payload(buf, sizeof(buf), "twlive", s.nonce, 0, BIG_PAYLOAD));
    drain(c, &s, 1);

    assert_int_equal(s.ours, 1);
    assert_int_equal(s.bad_len, 0); /* caplen 64, wirelen 42 + 200, payload_wire_len 200 */
    assert_int_equal(s.bad_ts, 0);
    assert_true(s.dst.reason[TW_DR_PAYLOAD_TRUNCATED] >= 1);
}

static void test_dispatch_does_not_block(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {.linktype = -1};
    struct tw_capture_opts opts = {.filter = "udp port 9 and udp port 10", .timeout_ms = 1000};
    struct tw_capture *c = open_lo_or_skip(fx, &opts);
    struct timespec start;
    char err[256] = "";

    s.linktype = ops->linktype(c);
    alarm(10); /* a blocking dispatch could wait forever: end the run instead of hanging */
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ops->dispatch(c, 64, on_frame, &s, err, sizeof(err)), 0);
    alarm(0);
    assert_true(lo_ms_since(&start) < 500); /* the 1 s timeout did not apply */
    assert_int_equal(s.frames, 0);
}

static void test_any_device(void **state)
{
    struct fixture *fx = *state;
    struct tw_capture_opts opts = {.buffer_mib = 4}; /* promiscuous asked, silently not used */
    char err[512] = "x";
    int rc = ops->open("any", &opts, &fx->c, err, sizeof(err));
    int lt;

    if (rc < 0 && strstr(err, "CAP_NET_RAW") != NULL)
        tw_skip_required("%s", err);
    assert_int_equal(rc, 0);
    assert_string_equal(err, ""); /* no warning either */
    lt = ops->linktype(fx->c);
    assert_true(lt == TW_LINK_LINUX_SLL || lt == TW_LINK_LINUX_SLL2);
    assert_true(ops->selectable_fd(fx->c) >= 0);
}

static void test_bad_filter(void **state)
{
    static const char expr[] = "udp port and (";
    struct tw_capture_opts opts = {.filter = expr};
    struct tw_capture *c = NULL;
    char err[512] = "";
    int rc = ops->open("lo", &opts, &c, err, sizeof(err));

    (void)state;
    if (rc < 0 && strstr(err, "CAP_NET_RAW") != NULL)
        tw_skip_required("%s", err);
    assert_int_equal(rc, TW_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "lo: bad filter 'udp port and ('"));
}

static void test_no_such_interface(void **state)
{
    struct tw_capture *c = NULL;
    char err[512] = "";
    int rc = ops->open("twnosuch0", NULL, &c, err, sizeof(err));

    (void)state;
    assert_true(rc < 0);
    assert_null(c);
    assert_non_null(strstr(err, "twnosuch0"));
    if (strstr(err, "CAP_NET_RAW") == NULL) /* with permission, the real reason */
        assert_int_equal(rc, TW_EINVAL);
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
        cmocka_unit_test_setup_teardown(test_dispatch_does_not_block, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_any_device, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_bad_filter),
        cmocka_unit_test(test_no_such_interface),
        cmocka_unit_test(test_short_error_buffer),
    };

    return tw_run_tests(tests, NULL, NULL);
}
