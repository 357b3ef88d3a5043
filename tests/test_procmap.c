/* SPDX-License-Identifier: MIT */
/*
 * Socket -> process attribution against the real kernel: TCP and UDP sockets on 127.0.0.1, ::1
 * and dual-stack IPv6 sockets carrying IPv4, seen from the client and from the server side;
 * sockets held by forked children, by a process that changed uid, closed, in TIME_WAIT, not yet
 * accepted; the local address set; the caches; and what a lookup costs.
 *
 * Skipped with a message where the kernel offers no NETLINK_SOCK_DIAG (or a container forbids
 * it), or without root (a failure in CI, see tests/test_util.h); cases on IPv6 addresses are
 * skipped where there is no IPv6. A reused pid cannot be forced, so that case is not tested.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/host/procmap.h"

/* ---- sockets ------------------------------------------------------------------------------ */

/* An address in the form the procmap API takes, from a sockaddr. */
struct ep {
    uint8_t version;
    uint8_t addr[16];
    uint16_t port;
};

static struct ep ep_of(const struct sockaddr_storage *ss)
{
    struct ep e;

    memset(&e, 0, sizeof(e));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        e.version = 4;
        memcpy(e.addr, &s4->sin_addr, 4);
        e.port = ntohs(s4->sin_port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        e.version = 6;
        memcpy(e.addr, &s6->sin6_addr, 16);
        e.port = ntohs(s6->sin6_port);
    }
    return e;
}

static struct ep local_ep(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    return ep_of(&ss);
}

static struct ep peer_ep(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    assert_int_equal(getpeername(fd, (struct sockaddr *)&ss, &len), 0);
    return ep_of(&ss);
}

/* As a sensor sees it on the wire: an IPv4-mapped IPv6 endpoint becomes IPv4. */
static struct ep wire(struct ep e)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (e.version == 6 && memcmp(e.addr, mapped, 12) == 0) {
        memmove(e.addr, e.addr + 12, 4);
        memset(e.addr + 4, 0, 12);
        e.version = 4;
    }
    return e;
}

static void sockaddr_for(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
        *len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
        *len = sizeof(*s4);
    }
}

/* A socket of type `type` bound to ip:0 (an IPv6 "::" socket is dual-stack); -1 if the address
 * family is not available here (no IPv6). */
static int bound_socket(int type, const char *ip)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, zero = 0;
    int fd;

    sockaddr_for(ip, 0, &ss, &len);
    fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void connect_to(int fd, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;

    sockaddr_for(ip, port, &ss, &len);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
}

/* A client socket of the listener's family for connecting to ip. */
static int client_socket(int type, const char *ip)
{
    return socket(strchr(ip, ':') != NULL ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
}

struct tcp_conn {
    int lfd, cfd, afd; /* listener, client, accepted */
};

/* Listener on listen_ip, a client connected to it through connect_ip, the accepted socket
 * (afd -1 when accept is false). Returns false when the addresses are not available. */
static bool tcp_conn_open(struct tcp_conn *c, const char *listen_ip, const char *connect_ip,
                          bool accept_it)
{
    c->lfd = bound_socket(SOCK_STREAM, listen_ip);
    c->cfd = c->afd = -1;
    if (c->lfd < 0)
        return false;
    assert_int_equal(listen(c->lfd, 16), 0);
    c->cfd = client_socket(SOCK_STREAM, connect_ip);
    assert_true(c->cfd >= 0);
    connect_to(c->cfd, connect_ip, local_ep(c->lfd).port);
    if (accept_it) {
        c->afd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(c->afd >= 0);
    }
    return true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void tcp_conn_close(struct tcp_conn *c)
{
    close_fd(&c->cfd);
    close_fd(&c->afd);
    close_fd(&c->lfd);
}

static uint32_t inode_of(int fd)
{
    struct stat sb;

    assert_int_equal(fstat(fd, &sb), 0);
    return (uint32_t)sb.st_ino;
}

/* ---- expectations ------------------------------------------------------------------------- */

struct self {
    char image[PATH_MAX];
    char comm[64];
    char user[64];
};

static struct self self;

static void self_init(void)
{
    struct passwd *pw = getpwuid(geteuid());
    FILE *f;

    assert_non_null(realpath("/proc/self/exe", self.image));
    f = fopen("/proc/self/comm", "r");
    assert_non_null(f);
    assert_non_null(fgets(self.comm, sizeof(self.comm), f));
    fclose(f);
    self.comm[strcspn(self.comm, "\n")] = '\0';
    if (pw != NULL)
        snprintf(self.user, sizeof(self.user), "%s", pw->pw_name);
    else
        snprintf(self.user, sizeof(self.user), "%u", (unsigned)geteuid());
}

static int lookup(struct tw_procmap *m, uint8_t proto, struct ep local, struct ep remote,
                  struct tw_procmap_result *r)
{
    assert_int_equal(local.version, remote.version);
    return tw_procmap_lookup(m, proto, local.version, local.addr, local.port, remote.addr,
                             remote.port, r);
}

/* Looks up the socket fd from its own side and expects this process and fd's inode. */
static void expect_self(struct tw_procmap *m, uint8_t proto, int fd, struct ep local,
                        struct ep remote, int line)
{
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    int rc;

    assert_non_null(r);
    rc = lookup(m, proto, local, remote, r);
    if (rc != 0)
        print_message("line %d: %s\n", line, r->reason_name);
    assert_int_equal(rc, 0);
    assert_int_equal(r->reason, TW_PM_FOUND);
    assert_int_equal(r->sock.inode, inode_of(fd));
    assert_false(r->sock.listener);
    assert_false(r->sock.from_dump); /* the exact query found it */
    assert_int_equal(r->pid, getpid());
    assert_int_equal(r->uid, geteuid());
    assert_int_equal(r->sock.uid, geteuid());
    assert_string_equal(r->image, self.image);
    assert_string_equal(r->comm, self.comm);
    assert_string_equal(r->user, self.user);
    free(r);
}

/* ---- fixture ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct tw_procmap_config cfg = {0};

    self_init();
    *state = tw_procmap_new(&cfg);
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    tw_procmap_free(*state);
    return 0;
}

/* Skips the test when sock_diag cannot answer for a listening socket of our own. */
static void need_sock_diag(struct tw_procmap *m)
{
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct ep any = {.version = 4};
    int fd = bound_socket(SOCK_STREAM, "127.0.0.1");
    char why[128];
    bool ok;

    assert_non_null(r);
    assert_true(fd >= 0);
    assert_int_equal(listen(fd, 1), 0);
    lookup(m, 6, local_ep(fd), any, r);
    ok = r->reason != TW_PM_NO_SOCK_DIAG && r->reason != TW_PM_SOCK_DIAG;
    snprintf(why, sizeof(why), "NETLINK_SOCK_DIAG not usable here (%s)", r->reason_name);
    close(fd);
    free(r);
    if (!ok)
        tw_skip_required("%s", why);
}

/* ---- TCP ---------------------------------------------------------------------------------- */

static void test_tcp_both_sides(void **state)
{
    static const struct {
        int line;
        const char *listen_ip;
        const char *connect_ip;
    } cases[] = {
        {__LINE__, "127.0.0.1", "127.0.0.1"},
        {__LINE__, "0.0.0.0", "127.0.0.1"}, /* wildcard listener */
        {__LINE__, "::1", "::1"},
        {__LINE__, "::", "127.0.0.1"}, /* IPv4 client, dual-stack IPv6 listener */
        {__LINE__, "::", "::1"},
    };
    struct tw_procmap *m = *state;
    unsigned missing = 0;

    need_sock_diag(m);
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct tcp_conn c;
        if (!tcp_conn_open(&c, cases[i].listen_ip, cases[i].connect_ip, true)) {
            if (strchr(cases[i].listen_ip, ':') == NULL)
                fail_msg("line %d: cannot listen on %s", cases[i].line, cases[i].listen_ip);
            print_message("line %d: %s not available\n", cases[i].line, cases[i].listen_ip);
            missing++;
            continue;
        }
        struct ep cl = wire(local_ep(c.cfd)), sv = wire(peer_ep(c.cfd));
        expect_self(m, 6, c.cfd, cl, sv, cases[i].line); /* the client's socket */
        expect_self(m, 6, c.afd, sv, cl, cases[i].line); /* the accepted one, not the listener */
        /* The same flow given as IPv4-mapped IPv6 addresses. */
        struct ep mcl = local_ep(c.cfd), msv = peer_ep(c.cfd);
        if (cl.version == 4 && mcl.version == 6)
            expect_self(m, 6, c.cfd, mcl, msv, cases[i].line);
        tcp_conn_close(&c);
    }
    if (missing)
        tw_skip_unsupported("%u of %zu cases: no IPv6 here", missing, TW_ARRAY_SIZE(cases));
}

/* A connection not yet accepted has no owner; the port's listener names the server. */
static void test_tcp_not_accepted_reports_listener(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tcp_conn c;

    assert_non_null(r);
    need_sock_diag(m);
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", false));
    struct ep cl = local_ep(c.cfd), sv = peer_ep(c.cfd);
    assert_int_equal(lookup(m, 6, sv, cl, r), 0);
    assert_true(r->sock.listener);
    assert_int_equal(r->sock.inode, inode_of(c.lfd));
    assert_int_equal(r->pid, getpid());
    tcp_conn_close(&c);
    free(r);
}

/* Polls until the socket at local/remote is in TCP state `state` (or 2 s pass). */
static bool wait_state(struct tw_procmap *m, struct ep local, struct ep remote, uint8_t st)
{
    for (int i = 0; i < 200; i++) {
        struct tw_procmap_sock s;
        if (tw_procmap_sock_lookup(m, 6, local.version, local.addr, local.port, remote.addr,
                                   remote.port, &s) == 0 &&
            s.state == st)
            return true;
        poll(NULL, 0, 10);
    }
    return false;
}

static void test_tcp_closed(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    struct tcp_conn c;

    assert_non_null(r);
    need_sock_diag(m);

    /* Reset: nothing is left of the client's socket. */
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", true));
    struct ep cl = local_ep(c.cfd), sv = peer_ep(c.cfd);
    assert_int_equal(setsockopt(c.cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close_fd(&c.cfd);
    assert_int_equal(lookup(m, 6, cl, sv, r), TW_ESKIP);
    assert_int_equal(r->reason, TW_PM_NO_SOCKET);
    assert_string_equal(r->reason_name, "no_socket");
    tcp_conn_close(&c);

    /* The client closes first: its socket ends in TIME_WAIT, which has no owner; the server's
     * side is gone and the port's listener answers for it. */
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", true));
    cl = local_ep(c.cfd);
    sv = peer_ep(c.cfd);
    close_fd(&c.cfd);
    close_fd(&c.afd);
    assert_true(wait_state(m, cl, sv, 6 /* TIME_WAIT */));
    assert_int_equal(lookup(m, 6, cl, sv, r), TW_ESKIP);
    assert_int_equal(r->reason, TW_PM_TIME_WAIT);
    assert_string_equal(r->reason_name, "time_wait");
    assert_int_equal(r->sock.inode, 0);
    assert_int_equal(lookup(m, 6, sv, cl, r), 0);
    assert_true(r->sock.listener);
    assert_int_equal(r->pid, getpid());
    tcp_conn_close(&c);
    free(r);
}

/* ---- UDP ---------------------------------------------------------------------------------- */

static void test_udp(void **state)
{
    static const struct {
        int line;
        const char *server_ip; /* the server socket's bind address */
        const char *to_ip;     /* where the client sends */
        bool connected;        /* client connect()ed, else sendto() from an unbound socket */
    } cases[] = {
        {__LINE__, "127.0.0.1", "127.0.0.1", true},
        {__LINE__, "127.0.0.1", "127.0.0.1", false},
        {__LINE__, "0.0.0.0", "127.0.0.1", false},
        {__LINE__, "::1", "::1", true},
        {__LINE__, "::1", "::1", false},
        {__LINE__, "::", "127.0.0.1", true}, /* IPv4 datagrams to a dual-stack socket */
        {__LINE__, "::", "127.0.0.1", false},
    };
    struct tw_procmap *m = *state;
    unsigned missing = 0;

    need_sock_diag(m);
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        struct sockaddr_storage to, from;
        socklen_t tolen, fromlen = sizeof(from);
        char buf[8];
        int sfd = bound_socket(SOCK_DGRAM, cases[i].server_ip);
        if (sfd < 0) {
            if (strchr(cases[i].server_ip, ':') == NULL)
                fail_msg("line %d: cannot bind %s", cases[i].line, cases[i].server_ip);
            print_message("line %d: %s not available\n", cases[i].line, cases[i].server_ip);
            missing++;
            continue;
        }
        int cfd = client_socket(SOCK_DGRAM, cases[i].to_ip);
        assert_true(cfd >= 0);
        sockaddr_for(cases[i].to_ip, local_ep(sfd).port, &to, &tolen);
        if (cases[i].connected)
            assert_int_equal(connect(cfd, (struct sockaddr *)&to, tolen), 0);
        assert_int_equal(sendto(cfd, "x", 1, 0, (struct sockaddr *)&to, tolen), 1);
        assert_int_equal(recvfrom(sfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen), 1);

        /* What the wire shows: client address (as the server saw it) and port, server
         * address (where the datagram went) and port. */
        struct ep cl = wire(ep_of(&from)), sv = wire(ep_of(&to));
        expect_self(m, 17, cfd, cl, sv, cases[i].line);
        expect_self(m, 17, sfd, sv, cl, cases[i].line);
        close(cfd);

        struct tw_procmap_result *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        assert_int_equal(lookup(m, 17, cl, sv, r), TW_ESKIP);
        assert_string_equal(r->reason_name, "no_socket");
        free(r);
        close(sfd);
    }
    if (missing)
        tw_skip_unsupported("%u of %zu cases: no IPv6 here", missing, TW_ARRAY_SIZE(cases));
}

/* Sockets bound to a device are invisible to the exact query (it names no interface); the
 * port-filtered dump finds them. */
static void test_bound_to_device(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct sockaddr_in to;
    struct tcp_conn c;
    char buf[4];

    assert_non_null(r);
    need_sock_diag(m);
    int ufd = bound_socket(SOCK_DGRAM, "127.0.0.1");
    assert_true(ufd >= 0);
    if (setsockopt(ufd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) {
        int e = errno;

        close(ufd);
        free(r);
        tw_skip_required("SO_BINDTODEVICE: %s", strerror(e));
    }
    int cfd = bound_socket(SOCK_DGRAM, "127.0.0.1");
    assert_true(cfd >= 0);
    to = (struct sockaddr_in){.sin_family = AF_INET,
                              .sin_port = htons(local_ep(ufd).port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(cfd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    assert_int_equal(recv(ufd, buf, sizeof(buf), 0), 1);
    assert_int_equal(lookup(m, 17, local_ep(ufd), local_ep(cfd), r), 0);
    assert_true(r->sock.from_dump);
    assert_int_equal(r->sock.inode, inode_of(ufd));
    assert_int_equal(r->pid, getpid());
    close(cfd);
    close(ufd);

    /* TCP: the accepted socket inherits the listener's device. */
    c.lfd = bound_socket(SOCK_STREAM, "127.0.0.1");
    assert_true(c.lfd >= 0);
    assert_int_equal(setsockopt(c.lfd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3), 0);
    assert_int_equal(listen(c.lfd, 4), 0);
    c.cfd = client_socket(SOCK_STREAM, "127.0.0.1");
    connect_to(c.cfd, "127.0.0.1", local_ep(c.lfd).port);
    c.afd = accept4(c.lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c.afd >= 0);
    assert_int_equal(lookup(m, 6, local_ep(c.afd), peer_ep(c.afd), r), 0);
    assert_true(r->sock.from_dump);
    assert_false(r->sock.listener);
    assert_int_equal(r->sock.inode, inode_of(c.afd));
    assert_int_equal(r->pid, getpid());
    tcp_conn_close(&c);
    free(r);
}

/* ---- processes ---------------------------------------------------------------------------- */

struct child {
    pid_t pid;
    int ctl; /* our end of a pipe: closing it ends the child */
    int msg; /* the child's reports */
};

/* Forks a child that runs fn(arg, report_fd) and then waits until ctl is closed. */
static struct child spawn(void (*fn)(void *arg, int report), void *arg)
{
    int ctl[2], msg[2];
    struct child c;

    assert_int_equal(pipe2(ctl, O_CLOEXEC), 0);
    assert_int_equal(pipe2(msg, O_CLOEXEC), 0);
    c.pid = fork();
    assert_true(c.pid >= 0);
    if (c.pid == 0) {
        char b;
        close(ctl[1]);
        close(msg[0]);
        if (fn != NULL)
            fn(arg, msg[1]);
        close(msg[1]);
        while (read(ctl[0], &b, 1) > 0)
            ;
        _exit(0);
    }
    close(ctl[0]);
    close(msg[1]);
    c.ctl = ctl[1];
    c.msg = msg[0];
    return c;
}

static void reap(struct child *c)
{
    int st;

    close(c->ctl);
    close(c->msg);
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        got += (size_t)n;
    }
}

/* In the child: connect to the port in *arg as uid `uid` (when not -1) and report both ends. */
struct connect_arg {
    uint16_t port;
    long uid;
};

static void child_connect(void *argp, int report)
{
    const struct connect_arg *a = argp;
    struct ep ends[2];
    int fd;

    if (a->uid >= 0 && setresuid((uid_t)a->uid, (uid_t)a->uid, (uid_t)a->uid) != 0)
        _exit(2);
    fd = socket(AF_INET, SOCK_STREAM, 0); /* kept open (no CLOEXEC needed: no exec) */
    if (fd < 0)
        _exit(3);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(a->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        _exit(4);
    ends[0] = local_ep(fd);
    ends[1] = peer_ep(fd);
    if (write(report, ends, sizeof(ends)) != (ssize_t)sizeof(ends))
        _exit(5);
}

static void test_fork(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tcp_conn c;
    struct child ch;

    assert_non_null(r);
    need_sock_diag(m);

    /* Inherited, both hold it: the parent (the oldest holder in the parent chain) is reported,
     * as the likelier maker of the connection. */
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", true));
    struct ep cl = local_ep(c.cfd), sv = peer_ep(c.cfd);
    ch = spawn(NULL, NULL);
    tw_procmap_flush_cache(m); /* a cold walk meets the child (newest pid) first */
    assert_int_equal(lookup(m, 6, cl, sv, r), 0);
    assert_int_equal(r->pid, getpid());

    /* Inherited, then the parent closes its copy: the child is reported. */
    close_fd(&c.cfd);
    assert_int_equal(lookup(m, 6, cl, sv, r), 0);
    assert_int_equal(r->pid, ch.pid);
    assert_string_equal(r->comm, self.comm);
    assert_string_equal(r->image, self.image);
    reap(&ch);
    tcp_conn_close(&c);

    /* A socket the child made after the fork: the child, whatever the parent holds. */
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", false));
    struct connect_arg a = {.port = local_ep(c.lfd).port, .uid = -1};
    struct ep ends[2];
    ch = spawn(child_connect, &a);
    read_full(ch.msg, ends, sizeof(ends));
    assert_int_equal(lookup(m, 6, ends[0], ends[1], r), 0);
    assert_int_equal(r->pid, ch.pid);
    assert_false(r->sock.listener);
    reap(&ch);
    tcp_conn_close(&c);
    free(r);
}

/* A child that became "nobody" before making its socket: its uid and user are reported. Its
 * /proc entries belong to root (changing uid makes it non-dumpable), so it is found by the
 * walk's second pass over processes of other owners than the socket's. */
static void test_other_uid(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r;
    struct passwd *pw;
    struct tcp_conn c;
    struct child ch;
    char user[64];

    need_sock_diag(m);
    if (geteuid() != 0)
        tw_skip_required("needs root to change uid");
    r = calloc(1, sizeof(*r));
    assert_non_null(r);
    pw = getpwuid(65534);
    if (pw != NULL)
        snprintf(user, sizeof(user), "%s", pw->pw_name);
    else
        snprintf(user, sizeof(user), "65534");
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", false));
    struct connect_arg a = {.port = local_ep(c.lfd).port, .uid = 65534};
    struct ep ends[2];
    ch = spawn(child_connect, &a);
    read_full(ch.msg, ends, sizeof(ends));
    tw_procmap_flush_cache(m);
    assert_int_equal(lookup(m, 6, ends[0], ends[1], r), 0);
    assert_int_equal(r->pid, ch.pid);
    assert_int_equal(r->uid, 65534);
    assert_int_equal(r->sock.uid, 65534);
    assert_string_equal(r->user, user);
    reap(&ch);
    tcp_conn_close(&c);
    free(r);
}

/* As "nobody", root's sockets are visible to sock_diag but root's fds are not readable. */
struct perm_arg {
    struct ep local, remote;
    int fds[3]; /* the parent's copies of the sockets, closed in the child */
};

static void child_lookup_unprivileged(void *argp, int report)
{
    const struct perm_arg *a = argp;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tw_procmap *pm;
    int32_t reason = -1;

    for (size_t i = 0; i < TW_ARRAY_SIZE(a->fds); i++)
        close(a->fds[i]);
    if (r == NULL || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
        _exit(2);
    pm = tw_procmap_new(NULL);
    if (pm == NULL)
        _exit(3);
    tw_procmap_lookup(pm, 6, 4, a->local.addr, a->local.port, a->remote.addr, a->remote.port, r);
    reason = (int32_t)r->reason;
    tw_procmap_free(pm);
    free(r);
    if (write(report, &reason, sizeof(reason)) != (ssize_t)sizeof(reason))
        _exit(4);
}

static void test_permission(void **state)
{
    struct tw_procmap *m = *state;
    struct tcp_conn c;
    struct child ch;
    int32_t reason;

    need_sock_diag(m);
    if (geteuid() != 0)
        tw_skip_required("needs root to change uid");
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", true));
    struct perm_arg a = {
        .local = local_ep(c.cfd), .remote = peer_ep(c.cfd), .fds = {c.lfd, c.cfd, c.afd}};
    ch = spawn(child_lookup_unprivileged, &a);
    read_full(ch.msg, &reason, sizeof(reason));
    reap(&ch);
    assert_string_equal(tw_procmap_reason_name((enum tw_procmap_reason)reason), "permission");
    tcp_conn_close(&c);
}

/* ---- caches, arguments -------------------------------------------------------------------- */

static void test_caches(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tw_procmap_stats s0, s1, s2;
    struct tcp_conn c;

    assert_non_null(r);
    need_sock_diag(m);
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", true));
    struct ep cl = local_ep(c.cfd), sv = peer_ep(c.cfd);

    tw_procmap_flush_cache(m);
    tw_procmap_get_stats(m, &s0);
    assert_int_equal(lookup(m, 6, cl, sv, r), 0);
    tw_procmap_get_stats(m, &s1);
    /* Among the newest task ids (this test was started a moment ago) or by a walk. */
    assert_int_equal(s1.proc_scans + s1.recent_hits, s0.proc_scans + s0.recent_hits + 1);
    assert_true(s1.pids_scanned > s0.pids_scanned);
    assert_int_equal(s1.inode_cache_hits, s0.inode_cache_hits);

    /* The accepted socket was met during that walk (same process): no second walk. */
    assert_int_equal(lookup(m, 6, sv, cl, r), 0);
    assert_int_equal(lookup(m, 6, cl, sv, r), 0);
    tw_procmap_get_stats(m, &s2);
    assert_int_equal(s2.proc_scans, s1.proc_scans);
    assert_int_equal(s2.recent_hits, s1.recent_hits);
    assert_int_equal(s2.inode_cache_hits, s1.inode_cache_hits + 2);
    assert_int_equal(s2.proc_cache_hits, s1.proc_cache_hits + 2);
    assert_int_equal(s2.lookups, s0.lookups + 3);
    assert_int_equal(s2.found, s0.found + 3);
    assert_string_equal(r->image, self.image);
    tcp_conn_close(&c);
    free(r);
}

/* The task id the kernel gave out last (/proc/loadavg's last field). */
static long last_task_id(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    long id = 0;

    assert_non_null(f);
    assert_int_equal(fscanf(f, "%*s %*s %*s %*s %ld", &id), 1);
    fclose(f);
    return id;
}

struct thread_sock {
    int fd;        /* the thread's connected UDP socket */
    pid_t tid;
    int ready_w;   /* the thread writes a byte here once the socket is made */
    int go_r;      /* and waits for a byte here before it ends */
    uint16_t port; /* the server's */
};

static void *thread_sock_main(void *argp)
{
    struct thread_sock *t = argp;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(t->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char b;

    t->tid = (pid_t)syscall(SYS_gettid);
    t->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (t->fd >= 0 && connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        (void)send(t->fd, "x", 1, 0);
    if (write(t->ready_w, "r", 1) != 1)
        return NULL;
    while (read(t->go_r, &b, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/*
 * A short-lived client is the newest task: a socket made by a thread started a moment ago is
 * found among the last task ids, without a walk over /proc, and named by its process (the
 * thread's id is not a pid /proc lists). When more than PM_RECENT_IDS (64) tasks were started
 * in between by someone else, the walk finds it: the process is the same.
 */
static void test_recent_thread(void **state)
{
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tw_procmap_stats s0, s1;
    struct thread_sock t = {.fd = -1};
    int sfd = bound_socket(SOCK_DGRAM, "127.0.0.1");
    int ready[2], go[2];
    pthread_t th;
    char b;

    assert_non_null(r);
    need_sock_diag(m);
    assert_true(sfd >= 0);
    t.port = local_ep(sfd).port;
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    t.ready_w = ready[1];
    t.go_r = go[0];
    assert_int_equal(pthread_create(&th, NULL, thread_sock_main, &t), 0);
    assert_int_equal(read(ready[0], &b, 1), 1);
    assert_true(t.fd >= 0);

    tw_procmap_flush_cache(m);
    tw_procmap_get_stats(m, &s0);
    struct ep cl = local_ep(t.fd), sv = peer_ep(t.fd);
    assert_int_equal(lookup(m, 17, cl, sv, r), 0);
    long last = last_task_id();
    tw_procmap_get_stats(m, &s1);

    assert_int_equal(r->pid, getpid()); /* the process, not the thread */
    assert_int_equal(r->sock.inode, inode_of(t.fd));
    assert_string_equal(r->image, self.image);
    print_message("thread %d, last task id %ld: %s\n", (int)t.tid, last,
                  s1.recent_hits > s0.recent_hits ? "found among the newest" : "found by a walk");
    if (last - t.tid < 64) /* the probe at the lookup covered it */
        assert_int_equal(s1.recent_hits, s0.recent_hits + 1);
    assert_int_equal(s1.recent_hits + s1.proc_scans, s0.recent_hits + s0.proc_scans + 1);

    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    close(t.fd);
    close(sfd);
    for (int i = 0; i < 2; i++) {
        close(ready[i]);
        close(go[i]);
    }
    free(r);
}

static void test_unsupported(void **state)
{
    static const struct {
        int line;
        uint8_t proto, version;
    } cases[] = {
        {__LINE__, 1, 4},
        {__LINE__, 132, 6},
        {__LINE__, 6, 5},
        {__LINE__, 17, 0},
    };
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    uint8_t a[16] = {127, 0, 0, 1};

    assert_non_null(r);
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        assert_int_equal(tw_procmap_lookup(m, cases[i].proto, cases[i].version, a, 1, a, 2, r),
                         TW_EINVAL);
        assert_string_equal(r->reason_name, "unsupported");
    }
    free(r);
}

/* ---- local addresses ---------------------------------------------------------------------- */

/* True if getifaddrs lists ip (the independent view of the same set). */
static bool ifaddrs_has(int family, const void *addr)
{
    struct ifaddrs *ifs, *i;
    bool found = false;

    assert_int_equal(getifaddrs(&ifs), 0);
    for (i = ifs; i != NULL && !found; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family)
            continue;
        if (family == AF_INET)
            found = memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr, 4) == 0;
        else
            found = memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, addr, 16) == 0;
    }
    freeifaddrs(ifs);
    return found;
}

static void test_is_local(void **state)
{
    static const struct {
        int line;
        const char *ip;
        bool local; /* when getifaddrs does not list it */
    } cases[] = {
        {__LINE__, "127.0.0.1", true},    {__LINE__, "127.1.2.3", true},
        {__LINE__, "::1", true},          {__LINE__, "::ffff:127.0.0.1", true},
        {__LINE__, "192.0.2.1", false},   {__LINE__, "198.51.100.1", false},
        {__LINE__, "2001:db8::1", false}, {__LINE__, "::ffff:198.51.100.1", false},
    };
    struct tw_procmap *m = *state;
    struct ifaddrs *ifs, *i;
    unsigned checked = 0;

    for (size_t k = 0; k < TW_ARRAY_SIZE(cases); k++) {
        uint8_t a[16] = {0};
        bool v6 = strchr(cases[k].ip, ':') != NULL;
        assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, cases[k].ip, a), 1);
        bool expect = cases[k].local || ifaddrs_has(v6 ? AF_INET6 : AF_INET, a);
        if (tw_procmap_is_local(m, v6 ? 6 : 4, a) != expect)
            print_message("line %d: %s\n", cases[k].line, cases[k].ip);
        assert_int_equal(tw_procmap_is_local(m, v6 ? 6 : 4, a), expect);
    }

    /* Every address of every interface, and its IPv4-mapped form. */
    assert_int_equal(getifaddrs(&ifs), 0);
    for (i = ifs; i != NULL; i = i->ifa_next) {
        uint8_t a[16] = {0};
        if (i->ifa_addr == NULL)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            memcpy(a, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
            assert_true(tw_procmap_is_local(m, 4, a));
            uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(mapped + 12, a, 4);
            assert_true(tw_procmap_is_local(m, 6, mapped));
            checked++;
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            memcpy(a, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
            assert_true(tw_procmap_is_local(m, 6, a));
            checked++;
        }
    }
    freeifaddrs(ifs);
    assert_true(checked > 0);
    assert_int_equal(tw_procmap_refresh_addrs(m), 0);
    assert_false(tw_procmap_is_local(m, 7, (const uint8_t[16]){127, 0, 0, 1}));
}

/* ---- cost --------------------------------------------------------------------------------- */

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Prints what one exact sock_diag query and one lookup with a cold /proc walk cost here.
 * Asserts only that they answered. */
static void test_cost(void **state)
{
    enum { N_EXACT = 2000, N_COLD = 50, N_WARM = 2000 };
    struct tw_procmap *m = *state;
    struct tw_procmap_result *r = calloc(1, sizeof(*r));
    struct tw_procmap_stats s0, s1;
    struct tcp_conn c;
    double t0, t_exact, t_cold, t_warm;

    assert_non_null(r);
    need_sock_diag(m);
    assert_true(tcp_conn_open(&c, "127.0.0.1", "127.0.0.1", true));
    struct ep cl = local_ep(c.cfd), sv = peer_ep(c.cfd);

    t0 = now_us();
    for (int i = 0; i < N_EXACT; i++) {
        struct tw_procmap_sock s;
        assert_int_equal(tw_procmap_sock_lookup(m, 6, 4, cl.addr, cl.port, sv.addr, sv.port, &s),
                         0);
    }
    t_exact = (now_us() - t0) / N_EXACT;

    tw_procmap_get_stats(m, &s0);
    t0 = now_us();
    for (int i = 0; i < N_COLD; i++) {
        tw_procmap_flush_cache(m);
        assert_int_equal(lookup(m, 6, cl, sv, r), 0);
    }
    t_cold = (now_us() - t0) / N_COLD;
    tw_procmap_get_stats(m, &s1);

    t0 = now_us();
    for (int i = 0; i < N_WARM; i++)
        assert_int_equal(lookup(m, 6, cl, sv, r), 0);
    t_warm = (now_us() - t0) / N_WARM;

    print_message("cost: exact sock_diag query %.1f us; lookup with a cold cache %.1f us "
                  "(%llu of %d found among the newest task ids, the others by a walk; %.0f "
                  "pids, %.0f fds read per lookup); cached lookup %.1f us\n",
                  t_exact, t_cold, (unsigned long long)(s1.recent_hits - s0.recent_hits),
                  N_COLD, (double)(s1.pids_scanned - s0.pids_scanned) / N_COLD,
                  (double)(s1.fds_scanned - s0.fds_scanned) / N_COLD, t_warm);
    tcp_conn_close(&c);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_local),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_tcp_both_sides),
        cmocka_unit_test(test_tcp_not_accepted_reports_listener),
        cmocka_unit_test(test_tcp_closed),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_bound_to_device),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_other_uid),
        cmocka_unit_test(test_permission),
        cmocka_unit_test(test_caches),
        cmocka_unit_test(test_recent_thread),
        cmocka_unit_test(test_cost),
    };

    signal(SIGPIPE, SIG_IGN);
    return tw_run_tests(tests, setup, teardown);
}
