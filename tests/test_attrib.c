/* SPDX-License-Identifier: MIT */
/*
 * The attribution stage with real sockets: a live local connection is attributed to this
 * process, a flow between two foreign addresses is passed through without a lookup, a closed
 * one ends unattributed after the retries, a socket that appears late is found by a retry
 * while later events flow past it, a full queue refuses without blocking, and drain/free lose
 * nothing, also with several submitting threads.
 *
 * Skipped with a message where NETLINK_SOCK_DIAG is not usable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/host/attrib.h"

/* ---- what the sink saw -------------------------------------------------------------------- */

#define MAX_GOT 8192

struct got {
    uint64_t flow_id;
    enum tw_proc_status status;
    bool local_is_source;
    int32_t pid;
    uint32_t uid;
    char image[PATH_MAX];
    char user[64];
    char comm[64];
    char reason[32];
    char norm[32];
    int64_t at_ns; /* when the sink had it */
};

struct sink {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool gate_closed; /* the sink waits while this is set */
    bool in_sink;
    size_t n;
    struct got *got; /* MAX_GOT */
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sink_fn(void *ctx, const struct tw_event *ev)
{
    struct sink *s = ctx;

    pthread_mutex_lock(&s->lock);
    s->in_sink = true;
    pthread_cond_broadcast(&s->cond);
    while (s->gate_closed)
        pthread_cond_wait(&s->cond, &s->lock);
    if (s->n < MAX_GOT) {
        struct got *g = &s->got[s->n];
        memset(g, 0, sizeof(*g));
        g->flow_id = ev->flow_id;
        g->status = ev->proc.status;
        g->local_is_source = ev->proc.local_is_source;
        g->pid = ev->proc.pid;
        g->uid = ev->proc.uid;
        if (ev->proc.image != NULL)
            snprintf(g->image, sizeof(g->image), "%s", ev->proc.image);
        if (ev->proc.user != NULL)
            snprintf(g->user, sizeof(g->user), "%s", ev->proc.user);
        if (ev->proc.comm != NULL)
            snprintf(g->comm, sizeof(g->comm), "%s", ev->proc.comm);
        if (ev->proc.reason != NULL)
            snprintf(g->reason, sizeof(g->reason), "%s", ev->proc.reason);
        snprintf(g->norm, sizeof(g->norm), "%s", ev->norm);
        g->at_ns = mono_ns();
    }
    s->n++;
    pthread_mutex_unlock(&s->lock);
}

static struct sink *sink_new(void)
{
    struct sink *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    s->got = calloc(MAX_GOT, sizeof(*s->got));
    assert_non_null(s->got);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    return s;
}

static void sink_free(struct sink *s)
{
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->got);
    free(s);
}

static const struct got *got_flow(struct sink *s, uint64_t flow_id)
{
    for (size_t i = 0; i < s->n && i < MAX_GOT; i++)
        if (s->got[i].flow_id == flow_id)
            return &s->got[i];
    fail_msg("flow %llu never reached the sink", (unsigned long long)flow_id);
    return NULL;
}

static struct tw_attrib *attrib_new(struct sink *s, size_t queue_bytes, const uint32_t *tries,
                                    unsigned n_tries)
{
    struct tw_attrib_config cfg = {.sink = sink_fn, .ctx = s, .queue_bytes = queue_bytes};
    struct tw_attrib *a;

    for (unsigned i = 0; i < n_tries; i++)
        cfg.try_ms[i] = tries[i];
    cfg.n_tries = n_tries;
    a = tw_attrib_new(&cfg);
    assert_non_null(a);
    return a;
}

/* ---- sockets and events ------------------------------------------------------------------- */

struct ep {
    uint8_t version;
    uint8_t addr[16];
    uint16_t port;
};

static struct ep ep_v4(const char *ip, uint16_t port)
{
    struct ep e = {.version = 4, .port = port};

    assert_int_equal(inet_pton(AF_INET, ip, e.addr), 1);
    return e;
}

static uint16_t port_of(int fd, bool peer)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    if (peer)
        assert_int_equal(getpeername(fd, (struct sockaddr *)&sa, &len), 0);
    else
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* A socket bound to 127.0.0.1:port (0: any free port). */
static int lo_socket(int type, uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void mkev(struct tw_event *ev, uint8_t proto, struct ep src, struct ep dst, uint64_t flow_id)
{
    static const char name[] = "tunnel.example.test";

    memset(ev, 0, sizeof(*ev));
    ev->category = TW_CAT_NETWORK_CONNECTION;
    ev->evidence = TW_EV_TLS_SNI;
    ev->flow_id = flow_id;
    ev->raw = name;
    ev->raw_len = sizeof(name) - 1;
    ev->norm = name;
    ev->norm_len = sizeof(name) - 1;
    ev->l4_proto = proto;
    ev->ip_version = src.version;
    memcpy(ev->src_addr, src.addr, 16);
    memcpy(ev->dst_addr, dst.addr, 16);
    ev->sport = src.port;
    ev->dport = dst.port;
    ev->initiated = true;
}

/* A port on 127.0.0.1 that nothing holds (bound, then closed). */
static uint16_t free_port(int type)
{
    int fd = lo_socket(type, 0);
    uint16_t p = port_of(fd, false);

    close(fd);
    return p;
}

/* Two foreign addresses (not this host's). */
static struct ep foreign(int i)
{
    static const char *const ips[] = {"192.0.2.1",   "198.51.100.1",   "203.0.113.1",
                                      "192.0.2.254", "198.51.100.254", "203.0.113.254"};
    struct ifaddrs *ifs, *it;

    assert_int_equal(getifaddrs(&ifs), 0);
    for (size_t k = 0; k < TW_ARRAY_SIZE(ips); k++) {
        struct ep e = ep_v4(ips[k], (uint16_t)(40000 + i));
        bool mine = false;
        for (it = ifs; it != NULL; it = it->ifa_next)
            if (it->ifa_addr != NULL && it->ifa_addr->sa_family == AF_INET &&
                memcmp(&((struct sockaddr_in *)it->ifa_addr)->sin_addr, e.addr, 4) == 0)
                mine = true;
        if (!mine && i-- == 0) {
            freeifaddrs(ifs);
            return e;
        }
    }
    freeifaddrs(ifs);
    fail_msg("no foreign test address");
    return ep_v4("0.0.0.0", 0);
}

/* ---- expectations ------------------------------------------------------------------------- */

struct self {
    char image[PATH_MAX];
    char comm[64];
    char user[64];
};

static struct self self;

static int setup(void **state)
{
    struct passwd *pw = getpwuid(geteuid());
    FILE *f;

    (void)state;
    if (realpath("/proc/self/exe", self.image) == NULL)
        return -1;
    f = fopen("/proc/self/comm", "r");
    if (f == NULL || fgets(self.comm, sizeof(self.comm), f) == NULL)
        return -1;
    fclose(f);
    self.comm[strcspn(self.comm, "\n")] = '\0';
    if (pw != NULL)
        snprintf(self.user, sizeof(self.user), "%s", pw->pw_name);
    else
        snprintf(self.user, sizeof(self.user), "%u", (unsigned)geteuid());
    return 0;
}

/* Skips the test when sock_diag cannot answer for a listening socket of our own. */
static void need_sock_diag(void)
{
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tw_procmap *m = tw_procmap_new(NULL);
    int fd = lo_socket(SOCK_STREAM, 0);
    struct ep l = ep_v4("127.0.0.1", port_of(fd, false)), any = ep_v4("0.0.0.0", 0);
    char why[128];
    bool ok;

    assert_non_null(r);
    assert_non_null(m);
    assert_int_equal(listen(fd, 1), 0);
    tw_procmap_lookup(m, 6, 4, l.addr, l.port, any.addr, any.port, r);
    ok = r->reason != TW_PM_NO_SOCK_DIAG && r->reason != TW_PM_SOCK_DIAG;
    snprintf(why, sizeof(why), "NETLINK_SOCK_DIAG not usable here (%s)", r->reason_name);
    close(fd);
    tw_procmap_free(m);
    free(r);
    if (!ok)
        tw_skip_required("%s", why);
}

static void expect_self(const struct got *g, bool local_is_source)
{
    assert_int_equal(g->status, TW_PROC_FOUND);
    assert_int_equal(g->local_is_source, local_is_source);
    assert_int_equal(g->pid, getpid());
    assert_int_equal(g->uid, geteuid());
    assert_string_equal(g->image, self.image);
    assert_string_equal(g->user, self.user);
    assert_string_equal(g->comm, self.comm);
    assert_string_equal(g->reason, "");
    assert_string_equal(g->norm, "tunnel.example.test");
}

static void check_sums(const struct tw_attrib_stats *st)
{
    uint64_t by = 0;

    for (unsigned i = 0; i < TW_PM__COUNT; i++)
        by += st->by_reason[i];
    assert_int_equal(by, st->unattributed);
    assert_int_equal(st->attributed + st->unattributed + st->not_local + st->responses, st->done);
    assert_int_equal(st->done, st->submitted);
    assert_int_equal(st->queued_bytes, 0);
}

/* ---- cases -------------------------------------------------------------------------------- */

static void test_live_connections(void **state)
{
    struct sink *s = sink_new();
    struct tw_event ev;
    struct tw_attrib_stats st;

    (void)state;
    need_sock_diag();
    struct tw_attrib *a = attrib_new(s, 0, NULL, 0);

    /* TCP: the initiator's side is local. */
    int lfd = lo_socket(SOCK_STREAM, 0);
    assert_int_equal(listen(lfd, 4), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port_of(lfd, false)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(afd >= 0);
    mkev(&ev, 6, ep_v4("127.0.0.1", port_of(cfd, false)), ep_v4("127.0.0.1", port_of(cfd, true)),
         1);
    assert_int_equal(tw_attrib_submit(a, &ev), 0);

    /* UDP from a socket that is not connected. */
    int ufd = lo_socket(SOCK_DGRAM, 0), usrv = lo_socket(SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons(port_of(usrv, false)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(ufd, "q", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    mkev(&ev, 17, ep_v4("127.0.0.1", port_of(ufd, false)), ep_v4("127.0.0.1", port_of(usrv, false)),
         2);
    assert_int_equal(tw_attrib_submit(a, &ev), 0);

    /* Inbound from a foreign address to our listener (its accepted socket is gone): only the
     * destination is local, and the listener's owner is reported. */
    mkev(&ev, 6, foreign(0), ep_v4("127.0.0.1", port_of(lfd, false)), 3);
    assert_int_equal(tw_attrib_submit(a, &ev), 0);

    tw_attrib_drain(a);
    assert_int_equal(s->n, 3);
    expect_self(got_flow(s, 1), true);
    expect_self(got_flow(s, 2), true);
    expect_self(got_flow(s, 3), false);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.attributed, 3);
    assert_int_equal(st.retries, 0);
    check_sums(&st);

    tw_attrib_free(a);
    close(afd);
    close(cfd);
    close(lfd);
    close(ufd);
    close(usrv);
    sink_free(s);
}

static void test_not_local(void **state)
{
    struct sink *s = sink_new();
    struct tw_attrib *a = attrib_new(s, 0, NULL, 0);
    struct tw_attrib_stats st;
    struct tw_event ev;

    (void)state;
    mkev(&ev, 6, foreign(0), foreign(1), 7);
    ev.proc.status = TW_PROC_FOUND; /* whatever the caller left there is replaced */
    ev.proc.image = "/bin/stale";
    assert_int_equal(tw_attrib_submit(a, &ev), 0);
    tw_attrib_drain(a);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->got[0].flow_id, 7);
    assert_int_equal(s->got[0].status, TW_PROC_NONE);
    assert_string_equal(s->got[0].image, "");
    assert_string_equal(s->got[0].reason, "");
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.not_local, 1);
    assert_int_equal(st.procmap.lookups, 0); /* no lookup was made */
    check_sums(&st);
    tw_attrib_free(a);
    sink_free(s);
}

/* A TCP flow closed on both ends: unattributed, after every attempt of the schedule (its
 * socket could have been on its way: a SYN is seen before connect() returns). */
static void test_closed_unattributed_after_retries(void **state)
{
    static const uint32_t tries[] = {0, 2, 10, 50};
    struct sink *s = sink_new();
    struct tw_attrib_stats st;
    struct tw_event ev;

    (void)state;
    need_sock_diag();
    struct tw_attrib *a = attrib_new(s, 0, tries, TW_ARRAY_SIZE(tries));
    mkev(&ev, 6, ep_v4("127.0.0.1", free_port(SOCK_STREAM)),
         ep_v4("127.0.0.1", free_port(SOCK_STREAM)), 11);
    int64_t t0 = mono_ns();
    assert_int_equal(tw_attrib_submit(a, &ev), 0);
    tw_attrib_drain(a);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->got[0].status, TW_PROC_UNATTRIBUTED);
    assert_string_equal(s->got[0].reason, "no_socket");
    assert_int_equal(s->got[0].pid, 0);
    assert_true(s->got[0].at_ns - t0 >= 50 * 1000000LL);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.unattributed, 1);
    assert_int_equal(st.by_reason[TW_PM_NO_SOCKET], 1);
    assert_int_equal(st.retries, 3);
    /* both sides are local: each attempt asks for the initiator's socket, then the other */
    assert_int_equal(st.procmap.lookups, 8);
    check_sums(&st);
    tw_attrib_free(a);
    sink_free(s);
}

/* Waits until the stage has made at least n lookups (its counters are published after each
 * pass over the queue). */
static void wait_lookups(struct tw_attrib *a, uint64_t n)
{
    struct tw_attrib_stats st;

    for (int i = 0; i < 5000; i++) {
        tw_attrib_get_stats(a, &st);
        if (st.procmap.lookups >= n)
            return;
        poll(NULL, 0, 1);
    }
    fail_msg("the stage made %llu lookups in 5 s, not %llu",
             (unsigned long long)st.procmap.lookups, (unsigned long long)n);
}

/* The schedule of the late-socket cases: the second attempt comes 20 ms after the first. */
static const uint32_t late_tries[] = {0, 20, 300, 2000};

/*
 * An event from 127.0.0.1:PORT (a free port of type) to a foreign host as flow flow_id, and
 * one between two foreign hosts as flow behind (0: none) submitted after it; after the first
 * attempt, a socket of type is opened on PORT (listening for TCP), then a drains. Returns that
 * socket.
 */
static int late_socket(struct tw_attrib *a, int type, uint64_t flow_id, uint64_t behind)
{
    struct tw_event ev;
    uint16_t port = free_port(type);

    mkev(&ev, type == SOCK_STREAM ? 6 : 17, ep_v4("127.0.0.1", port), foreign(0), flow_id);
    assert_int_equal(tw_attrib_submit(a, &ev), 0);
    if (behind != 0) {
        mkev(&ev, 6, foreign(1), foreign(2), behind);
        assert_int_equal(tw_attrib_submit(a, &ev), 0);
    }
    wait_lookups(a, 1);
    int fd = lo_socket(type, port); /* before the second attempt was due */
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 1), 0);
    tw_attrib_drain(a);
    return fd;
}

/* A UDP flow whose socket is gone: unattributed at the first attempt, no retry. A UDP socket
 * is in the table before its first datagram, so none found means closed; a socket bound to
 * the port after that attempt is another program's and is not taken for the flow's. */
static void test_udp_no_socket_final(void **state)
{
    struct sink *s = sink_new();
    struct tw_attrib_stats st;

    (void)state;
    need_sock_diag();
    struct tw_attrib *a = attrib_new(s, 0, late_tries, TW_ARRAY_SIZE(late_tries));
    int fd = late_socket(a, SOCK_DGRAM, 13, 0);

    assert_int_equal(s->n, 1);
    assert_int_equal(s->got[0].status, TW_PROC_UNATTRIBUTED);
    assert_string_equal(s->got[0].reason, "no_socket");
    assert_int_equal(s->got[0].pid, 0);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.procmap.lookups, 1);
    assert_int_equal(st.by_reason[TW_PM_NO_SOCKET], 1);
    check_sums(&st);
    tw_attrib_free(a);
    close(fd);
    sink_free(s);
}

/* A DNS response (category dns) is not looked up: its query's event names the process. */
static void test_dns_response_not_looked_up(void **state)
{
    static const uint32_t tries[] = {0, 2, 10, 50};
    struct sink *s = sink_new();
    struct tw_attrib_stats st;
    struct tw_event ev;

    (void)state;
    need_sock_diag();
    struct tw_attrib *a = attrib_new(s, 0, tries, TW_ARRAY_SIZE(tries));
    mkev(&ev, 17, ep_v4("127.0.0.1", free_port(SOCK_DGRAM)),
         ep_v4("127.0.0.1", free_port(SOCK_DGRAM)), 12);
    ev.category = TW_CAT_DNS;
    ev.evidence = TW_EV_DNS_RESPONSE;
    assert_int_equal(tw_attrib_submit(a, &ev), 0);
    tw_attrib_drain(a);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->got[0].status, TW_PROC_NONE);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.responses, 1);
    assert_int_equal(st.not_local, 0);
    assert_int_equal(st.procmap.lookups, 0);
    check_sums(&st);
    tw_attrib_free(a);
    sink_free(s);
}

/* A TCP socket that appears after the event (a listener here) is found by a later attempt,
 * and events submitted behind the retrying one reach the sink before it. */
static void test_retry_finds_late_socket(void **state)
{
    struct sink *s = sink_new();
    struct tw_attrib_stats st;

    (void)state;
    need_sock_diag();
    struct tw_attrib *a = attrib_new(s, 0, late_tries, TW_ARRAY_SIZE(late_tries));
    int fd = late_socket(a, SOCK_STREAM, 21, 22);

    assert_int_equal(s->n, 2);
    assert_int_equal(s->got[0].flow_id, 22); /* not held up behind flow 21 */
    assert_int_equal(s->got[0].status, TW_PROC_NONE);
    expect_self(got_flow(s, 21), true);
    tw_attrib_get_stats(a, &st);
    assert_true(st.retries >= 1 && st.retries <= 3);
    assert_int_equal(st.attributed, 1);
    assert_int_equal(st.not_local, 1);
    check_sums(&st);
    tw_attrib_free(a);
    close(fd);
    sink_free(s);
}

/* A full queue refuses at once and counts it; nothing accepted is lost. */
static void test_queue_full(void **state)
{
    struct sink *s = sink_new();
    struct tw_attrib_stats st;
    struct tw_event ev;
    unsigned accepted = 0, refused = 0;

    (void)state;
    struct tw_attrib *a = attrib_new(s, 1024, NULL, 0);
    mkev(&ev, 6, foreign(0), foreign(1), 0);

    /* Hold the sink so the stage cannot free anything. */
    pthread_mutex_lock(&s->lock);
    s->gate_closed = true;
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(tw_attrib_submit(a, &ev), 0);
    accepted++;
    pthread_mutex_lock(&s->lock);
    while (!s->in_sink)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);

    for (int i = 1; i < 100; i++) {
        ev.flow_id = (uint64_t)i;
        int64_t t0 = mono_ns();
        int rc = tw_attrib_submit(a, &ev);
        assert_true(mono_ns() - t0 < 100 * 1000000LL); /* never waits for the stage */
        if (rc == 0)
            accepted++;
        else {
            assert_int_equal(rc, TW_ENOMEM);
            refused++;
        }
    }
    assert_true(accepted >= 2);
    assert_true(refused >= 90);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.queue_full, refused);
    /* Every accepted event is still queued, each taking the same room; the queue refused only
     * once the next one no longer fitted in its 1024 bytes. */
    assert_true(st.queued_bytes > 0);
    assert_int_equal(st.queued_bytes % accepted, 0);
    assert_true(1024 - st.queued_bytes < st.queued_bytes / accepted);

    pthread_mutex_lock(&s->lock);
    s->gate_closed = false;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    tw_attrib_drain(a);
    assert_int_equal(s->n, accepted);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.submitted, accepted);
    check_sums(&st);

    /* Room again once drained. */
    assert_int_equal(tw_attrib_submit(a, &ev), 0);
    tw_attrib_free(a);
    assert_int_equal(s->n, accepted + 1);
    sink_free(s);
}

struct producer {
    struct tw_attrib *a;
    int id;
    unsigned n, accepted, refused;
    uint16_t closed_port;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct tw_event ev;

    for (unsigned i = 0; i < p->n; i++) {
        uint64_t flow = (uint64_t)p->id << 32 | i;
        if (i % 50 == 0) /* local and closed: retried */
            mkev(&ev, 17, ep_v4("127.0.0.1", p->closed_port), foreign(0), flow);
        else
            mkev(&ev, 6, foreign(p->id % 3), foreign(3 + p->id % 3), flow);
        if (tw_attrib_submit(p->a, &ev) == 0)
            p->accepted++;
        else
            p->refused++;
    }
    return NULL;
}

/* Several producers at once, then free with events still queued and retrying: every accepted
 * event reaches the sink exactly once. */
static void test_concurrent_then_free(void **state)
{
    enum { N_THREADS = 4, PER_THREAD = 1500 };
    static const uint32_t tries[] = {0, 5, 20};
    struct sink *s = sink_new();
    struct producer p[N_THREADS];
    pthread_t t[N_THREADS];
    unsigned accepted = 0, refused = 0;
    uint16_t closed = free_port(SOCK_DGRAM);

    (void)state;
    struct tw_attrib *a = attrib_new(s, 64 * 1024, tries, TW_ARRAY_SIZE(tries));
    for (int i = 0; i < N_THREADS; i++) {
        p[i] = (struct producer){.a = a, .id = i, .n = PER_THREAD, .closed_port = closed};
        assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        accepted += p[i].accepted;
        refused += p[i].refused;
    }
    assert_int_equal(accepted + refused, N_THREADS * PER_THREAD);
    assert_true(accepted > 0);

    struct tw_attrib_stats st;
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.submitted, accepted);
    assert_int_equal(st.queue_full, refused);
    tw_attrib_free(a); /* with work pending */

    assert_int_equal(s->n, accepted);
    /* each flow once */
    for (size_t i = 0; i < s->n && i < MAX_GOT; i++)
        for (size_t j = i + 1; j < s->n && j < MAX_GOT && j < i + 64; j++)
            assert_true(s->got[i].flow_id != s->got[j].flow_id);
    sink_free(s);
}

static void test_drain_counts(void **state)
{
    struct sink *s = sink_new();
    struct tw_attrib_stats st;
    struct tw_event ev;

    (void)state;
    struct tw_attrib *a = attrib_new(s, 0, (const uint32_t[]){0, 1}, 2);
    uint16_t closed = free_port(SOCK_DGRAM);
    for (uint64_t i = 0; i < 300; i++) {
        if (i % 3 == 0)
            mkev(&ev, 17, ep_v4("127.0.0.1", closed), foreign(0), i);
        else
            mkev(&ev, 6, foreign(1), foreign(2), i);
        assert_int_equal(tw_attrib_submit(a, &ev), 0);
    }
    tw_attrib_drain(a);
    assert_int_equal(s->n, 300);
    tw_attrib_get_stats(a, &st);
    assert_int_equal(st.submitted, 300);
    assert_int_equal(st.not_local, 200);
    assert_int_equal(st.unattributed, 100);
    check_sums(&st);
    tw_attrib_drain(a); /* nothing pending: returns at once */
    tw_attrib_free(a);
    sink_free(s);
}

static void test_bad_config(void **state)
{
    static const struct {
        int line;
        bool sink;
        size_t queue;
        uint32_t tries[3];
        unsigned n_tries;
    } cases[] = {
        {__LINE__, false, 0, {0}, 0},        /* no sink */
        {__LINE__, true, 100, {0}, 0},       /* queue too small for an event */
        {__LINE__, true, 0, {0, 10, 5}, 3},  /* not ascending */
        {__LINE__, true, 0, {0, 1, 2}, 99},  /* too many */
        {__LINE__, true, 0, {0, 100000}, 2}, /* too long */
    };
    struct sink *s = sink_new();

    (void)state;
    assert_null(tw_attrib_new(NULL));
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tw_attrib_config cfg = {.sink = cases[i].sink ? sink_fn : NULL,
                                       .ctx = s,
                                       .queue_bytes = cases[i].queue,
                                       .n_tries = cases[i].n_tries};
        memcpy(cfg.try_ms, cases[i].tries, sizeof(cases[i].tries));
        errno = 0;
        if (tw_attrib_new(&cfg) != NULL)
            fail_msg("line %d: accepted", cases[i].line);
        assert_int_equal(errno, EINVAL);
    }
    tw_attrib_free(NULL);
    sink_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_not_local),
        cmocka_unit_test(test_live_connections),
        cmocka_unit_test(test_closed_unattributed_after_retries),
        cmocka_unit_test(test_dns_response_not_looked_up),
        cmocka_unit_test(test_retry_finds_late_socket),
        cmocka_unit_test(test_udp_no_socket_final),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_drain_counts),
        cmocka_unit_test(test_concurrent_then_free),
    };

    return tw_run_tests(tests, setup, NULL);
}
