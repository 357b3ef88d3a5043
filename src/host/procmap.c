/* SPDX-License-Identifier: MIT */
/*
 * Socket -> process attribution: local addresses (NETLINK_ROUTE), sockets (NETLINK_SOCK_DIAG),
 * owners (/proc/PID/fd). See procmap.h for the contract.
 *
 * Netlink replies land in one aligned buffer owned by the map; every kernel structure is
 * copied out with memcpy before it is read. Requests carry a sequence number and replies with
 * another one (left over from a request that timed out) are dropped.
 */
#include "tunwatch/host/procmap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PM_NL_BUF (64 * 1024)
#define PM_MAX_ADDRS 65536  /* local addresses kept; more are ignored */
#define PM_INODE_WAYS 8     /* the inode cache is 8-way set associative */
#define PM_USER_SLOTS 64    /* uid -> name, direct mapped */
#define PM_MAX_ANCESTORS 64 /* parent chain walked for an inherited socket */
#define PM_RECENT_IDS 64    /* task ids tried, newest first, before /proc is listed */
#define PM_DEFAULT_REFRESH 5
#define PM_DEFAULT_INODES 16384
#define PM_DEFAULT_PROCS 1024

/* TCP states as the kernel numbers them (include/net/tcp_states.h). */
enum {
    PM_TCP_ESTABLISHED = 1,
    PM_TCP_SYN_SENT,
    PM_TCP_SYN_RECV,
    PM_TCP_FIN_WAIT1,
    PM_TCP_FIN_WAIT2,
    PM_TCP_TIME_WAIT,
    PM_TCP_CLOSE,
    PM_TCP_CLOSE_WAIT,
    PM_TCP_LAST_ACK,
    PM_TCP_LISTEN,
    PM_TCP_CLOSING,
    PM_TCP_NEW_SYN_RECV,
};

struct pm_addr {
    uint8_t version;
    uint8_t a[16];
};

struct pm_inode_slot {
    uint32_t inode; /* 0: empty */
    int32_t pid;
    int32_t fd;     /* the descriptor it was seen as: a hit is confirmed with one readlink */
    uint64_t stamp; /* insertion order: the oldest of a full set is replaced */
};

struct pm_proc_slot {
    int32_t pid; /* 0: empty */
    uint32_t euid;
    uint64_t start; /* start time in clock ticks after boot (stat field 22) */
    char comm[TW_PROCMAP_COMM_MAX];
    char user[TW_PROCMAP_USER_MAX];
    char *image;
};

struct pm_user_slot {
    bool used;
    uint32_t uid;
    char name[TW_PROCMAP_USER_MAX];
};

/* What /proc/PID/stat says about a process. */
struct pm_pstat {
    int32_t ppid;
    uint64_t start;
    char comm[TW_PROCMAP_COMM_MAX];
};

struct tw_procmap {
    int diag_fd; /* NETLINK_SOCK_DIAG, or -1 (unavailable: diag_errno says why) */
    int diag_errno;
    int route_fd; /* NETLINK_ROUTE, or -1 */
    int proc_fd;  /* /proc */
    uint32_t seq;
    void *buf; /* PM_NL_BUF bytes, 8-byte aligned */

    struct pm_addr *addrs;
    size_t n_addrs;
    int64_t addr_loaded_ns; /* monotonic; 0: never */
    int64_t addr_refresh_ns;

    struct pm_inode_slot *inodes;
    uint32_t inode_mask; /* sets - 1 */
    uint64_t inode_stamp;

    struct pm_proc_slot *procs;
    uint32_t proc_mask;

    struct pm_user_slot users[PM_USER_SLOTS];

    int32_t *pids; /* scratch: pid list of one walk, and the pids the first pass skipped */
    int32_t *deferred;
    size_t pids_cap;

    struct tw_procmap_stats st;
};

static const char *const reason_names[TW_PM__COUNT] = {
    [TW_PM_FOUND] = "found",
    [TW_PM_NO_SOCKET] = "no_socket",
    [TW_PM_TIME_WAIT] = "time_wait",
    [TW_PM_CLOSED] = "closed",
    [TW_PM_NO_INODE] = "no_inode",
    [TW_PM_NO_PROCESS] = "no_process",
    [TW_PM_PERMISSION] = "permission",
    [TW_PM_SOCK_DIAG] = "sock_diag_error",
    [TW_PM_NO_SOCK_DIAG] = "sock_diag_unavailable",
    [TW_PM_UNSUPPORTED] = "unsupported",
};

const char *tw_procmap_reason_name(enum tw_procmap_reason r)
{
    return (unsigned)r < TW_PM__COUNT ? reason_names[r] : "?";
}

bool tw_procmap_reason_transient(uint8_t proto, enum tw_procmap_reason r)
{
    /* A SYN can be seen before connect() returns, an accepted socket before accept(), and a
     * just-forked process before the walk reaches it. A UDP socket exists before its first
     * datagram: when it is not found, it has been closed (dig, once it has its answer), and a
     * later lookup could only find another socket that took the port since. */
    if (r == TW_PM_NO_SOCKET)
        return proto != IPPROTO_UDP;
    return r == TW_PM_NO_INODE || r == TW_PM_NO_PROCESS || r == TW_PM_SOCK_DIAG;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t pow2_at_least(uint32_t n, uint32_t min)
{
    uint32_t p = min;

    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

/* ---- netlink ---------------------------------------------------------------------------- */

static int nl_open(int proto)
{
    struct timeval tv = {.tv_sec = 1}; /* a kernel that does not answer must not hang us */
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, proto);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Called for every reply message of a request. */
typedef void (*nl_msg_cb)(void *ctx, const struct nlmsghdr *h, const void *payload, size_t len);

/*
 * Sends req (a complete netlink message; its sequence number and port id are set here) and
 * feeds every reply message to cb until NLMSG_DONE (dump) or the first reply (single request).
 * Returns 0, -errno from the kernel's NLMSG_ERROR, or -EIO / -EAGAIN (timeout).
 */
static int nl_transact(struct tw_procmap *m, int fd, void *req, size_t len, bool dump, nl_msg_cb cb,
                       void *ctx)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct nlmsghdr h;
    uint32_t seq = ++m->seq;

    memcpy(&h, req, sizeof(h));
    h.nlmsg_seq = seq;
    h.nlmsg_pid = 0;
    memcpy(req, &h, sizeof(h));
    if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return errno == EINTR ? -EAGAIN : -EIO;

    for (;;) {
        ssize_t n = recv(fd, m->buf, PM_NL_BUF, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EIO;
        }
        size_t left = (size_t)n;
        const uint8_t *p = m->buf;
        while (left >= sizeof(struct nlmsghdr)) {
            memcpy(&h, p, sizeof(h));
            if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > left)
                return -EIO;
            const void *payload = p + NLMSG_HDRLEN;
            size_t plen = h.nlmsg_len - NLMSG_HDRLEN;
            size_t step = TW_MIN((size_t)NLMSG_ALIGN(h.nlmsg_len), left);
            p += step;
            left -= step;
            if (h.nlmsg_seq != seq)
                continue; /* a late answer to an earlier request */
            if (h.nlmsg_type == NLMSG_DONE)
                return 0;
            if (h.nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr e;
                if (plen < sizeof(e))
                    return -EIO;
                memcpy(&e, payload, sizeof(e));
                if (e.error == 0 && dump)
                    continue;
                return e.error;
            }
            cb(ctx, &h, payload, plen);
            if (!dump)
                return 0;
        }
    }
}

/* ---- local addresses -------------------------------------------------------------------- */

struct addr_collect {
    struct pm_addr *v;
    size_t n, cap;
    bool oom;
};

static void addr_cb(void *ctx, const struct nlmsghdr *h, const void *payload, size_t len)
{
    struct addr_collect *c = ctx;
    struct ifaddrmsg ifa;
    const uint8_t *local = NULL, *address = NULL;
    size_t alen = 0;

    if (h->nlmsg_type != RTM_NEWADDR || len < NLMSG_ALIGN(sizeof(ifa)))
        return;
    memcpy(&ifa, payload, sizeof(ifa));
    if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6)
        return;
    alen = ifa.ifa_family == AF_INET ? 4 : 16;

    const uint8_t *p = (const uint8_t *)payload + NLMSG_ALIGN(sizeof(ifa));
    size_t left = len - NLMSG_ALIGN(sizeof(ifa));
    while (left >= sizeof(struct rtattr)) {
        struct rtattr a;
        memcpy(&a, p, sizeof(a));
        if (a.rta_len < sizeof(a) || a.rta_len > left)
            break;
        size_t dlen = a.rta_len - RTA_LENGTH(0);
        if (dlen == alen && a.rta_type == IFA_LOCAL)
            local = p + RTA_LENGTH(0);
        else if (dlen == alen && a.rta_type == IFA_ADDRESS)
            address = p + RTA_LENGTH(0);
        size_t step = TW_MIN((size_t)RTA_ALIGN(a.rta_len), left);
        p += step;
        left -= step;
    }
    /* On a point-to-point link IFA_ADDRESS is the peer's; IFA_LOCAL is ours when present. */
    const uint8_t *mine = local != NULL ? local : address;
    if (mine == NULL)
        return;
    if (c->n == c->cap) {
        size_t ncap = c->cap != 0 ? c->cap * 2 : 16;
        if (ncap > PM_MAX_ADDRS) {
            c->oom = true;
            return;
        }
        struct pm_addr *nv = realloc(c->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            c->oom = true;
            return;
        }
        c->v = nv;
        c->cap = ncap;
    }
    struct pm_addr *e = &c->v[c->n++];
    memset(e, 0, sizeof(*e));
    e->version = ifa.ifa_family == AF_INET ? 4 : 6;
    memcpy(e->a, mine, alen);
}

int tw_procmap_refresh_addrs(struct tw_procmap *m)
{
    struct {
        struct nlmsghdr h;
        struct ifaddrmsg ifa;
    } req;
    struct addr_collect c = {0};
    int rc;

    m->addr_loaded_ns = mono_ns(); /* a failing reload is not retried before the next period */
    if (m->route_fd < 0)
        m->route_fd = nl_open(NETLINK_ROUTE);
    if (m->route_fd < 0)
        goto out_err;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = RTM_GETADDR;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.ifa.ifa_family = AF_UNSPEC;
    rc = nl_transact(m, m->route_fd, &req, sizeof(req), true, addr_cb, &c);
    if (rc != 0 || c.oom)
        goto out_err;
    free(m->addrs);
    m->addrs = c.v;
    m->n_addrs = c.n;
    m->st.addr_refreshes++;
    return 0;

out_err:
    free(c.v);
    m->st.addr_errors++;
    return TW_EIO;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static bool is_v4mapped(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* Copies addr (version 4 or 6) to out as IPv4 when it is IPv4 or IPv4-mapped; returns the
 * version it was read as. */
static uint8_t canon_addr(uint8_t version, const uint8_t *addr, uint8_t out[16])
{
    memset(out, 0, 16);
    if (version == 6 && is_v4mapped(addr)) {
        memcpy(out, addr + 12, 4);
        return 4;
    }
    memcpy(out, addr, version == 4 ? 4 : 16);
    return version;
}

bool tw_procmap_is_local(struct tw_procmap *m, uint8_t version, const uint8_t *addr)
{
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    uint8_t a[16];

    if (version != 4 && version != 6)
        return false;
    version = canon_addr(version, addr, a);
    if (version == 4 && a[0] == 127)
        return true;
    if (version == 6 && memcmp(a, loop6, 16) == 0)
        return true;
    if (m->addr_loaded_ns == 0 || mono_ns() - m->addr_loaded_ns >= m->addr_refresh_ns)
        tw_procmap_refresh_addrs(m);
    for (size_t i = 0; i < m->n_addrs; i++)
        if (m->addrs[i].version == version && memcmp(m->addrs[i].a, a, version == 4 ? 4 : 16) == 0)
            return true;
    return false;
}

/* ---- sockets ---------------------------------------------------------------------------- */

/* The flow, in the form the sock_diag queries need. */
struct pm_flow {
    uint8_t proto;
    uint8_t version; /* 4 (also for IPv4-mapped input) or 6 */
    uint8_t local[16], remote[16];
    uint16_t lport, rport;
};

/* Best candidate of a port-filtered dump. */
struct dump_pick {
    const struct pm_flow *f;
    bool need_inode; /* only sockets with an owner */
    int best;        /* score of *out, -1: none */
    struct tw_procmap_sock *out;
};

/* Reads a diag message's address (family's length) into a canonical 16-byte IPv4/IPv6 form;
 * returns the version, or 0 for a wildcard address. */
static uint8_t diag_addr(uint8_t family, const uint32_t raw[4], uint8_t out[16])
{
    static const uint8_t zero[16];
    uint8_t b[16];

    memcpy(b, raw, 16);
    if (family == AF_INET) {
        memset(out, 0, 16);
        memcpy(out, b, 4);
        return memcmp(out, zero, 4) == 0 ? 0 : 4;
    }
    if (memcmp(b, zero, 16) == 0) {
        memset(out, 0, 16);
        return 0;
    }
    return canon_addr(6, b, out);
}

static void fill_sock(const struct inet_diag_msg *d, const struct pm_flow *f, bool from_dump,
                      struct tw_procmap_sock *out)
{
    out->inode = d->idiag_inode;
    out->uid = d->idiag_uid;
    out->state = d->idiag_state;
    out->family = d->idiag_family;
    out->listener = f->proto == IPPROTO_TCP && d->idiag_state == PM_TCP_LISTEN;
    out->from_dump = from_dump;
}

/*
 * Score of a dumped socket for the flow, or -1 when it cannot be the flow's: the local address
 * must be the flow's or a wildcard, the remote the flow's or unset (unconnected UDP, a listener).
 * Exact matches and sockets with an owner rank higher.
 */
static int dump_score(const struct inet_diag_msg *d, const struct pm_flow *f)
{
    uint8_t a[16];
    uint8_t v;
    int score = 0;
    size_t alen = f->version == 4 ? 4 : 16;

    if (ntohs(d->id.idiag_sport) != f->lport)
        return -1;
    v = diag_addr(d->idiag_family, d->id.idiag_src, a);
    if (v != 0) {
        if (v != f->version || memcmp(a, f->local, alen) != 0)
            return -1;
        score += 2;
    } else if (d->idiag_family == AF_INET && f->version == 6) {
        return -1; /* an IPv4 socket bound to 0.0.0.0 does not take IPv6 */
    }
    v = diag_addr(d->idiag_family, d->id.idiag_dst, a);
    if (v != 0 || d->id.idiag_dport != 0) {
        if (v != f->version || memcmp(a, f->remote, alen) != 0 ||
            ntohs(d->id.idiag_dport) != f->rport)
            return -1;
        score += 4;
    }
    if (d->idiag_inode != 0)
        score += 1;
    return score;
}

static void dump_cb(void *ctx, const struct nlmsghdr *h, const void *payload, size_t len)
{
    struct dump_pick *p = ctx;
    struct inet_diag_msg d;

    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || len < sizeof(d))
        return;
    memcpy(&d, payload, sizeof(d));
    if (p->need_inode && d.idiag_inode == 0)
        return;
    int s = dump_score(&d, p->f);
    if (s > p->best) {
        p->best = s;
        fill_sock(&d, p->f, true, p->out);
    }
}

/* Request buffer: header, inet_diag_req_v2 and an optional bytecode attribute. */
struct diag_req {
    uint8_t b[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_req_v2)) + NLA_HDRLEN +
              4 * sizeof(struct inet_diag_bc_op)];
    size_t len;
};

static void diag_req_init(struct diag_req *r, bool dump, uint8_t family, uint8_t proto,
                          const struct inet_diag_sockid *id)
{
    struct nlmsghdr h = {0};
    struct inet_diag_req_v2 q;

    memset(r, 0, sizeof(*r));
    memset(&q, 0, sizeof(q));
    q.sdiag_family = family;
    q.sdiag_protocol = proto;
    q.idiag_states = ~0u;
    q.id = *id;
    r->len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(q));
    h.nlmsg_len = (uint32_t)r->len;
    h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    h.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
    memcpy(r->b, &h, sizeof(h));
    memcpy(r->b + NLMSG_HDRLEN, &q, sizeof(q));
}

/*
 * Appends the filter "local port == port" as inet_diag bytecode: S_GE port, S_LE port (the
 * S_EQ opcode is newer). Each op jumps by `yes` when true and by `no` when false; landing
 * exactly on the end accepts, landing 4 bytes past it rejects.
 */
static void diag_req_sport(struct diag_req *r, uint16_t port)
{
    const struct inet_diag_bc_op ops[4] = {
        {INET_DIAG_BC_S_GE, 8, 20},
        {0, 0, port},
        {INET_DIAG_BC_S_LE, 8, 12},
        {0, 0, port},
    };
    struct nlattr a = {.nla_len = NLA_HDRLEN + sizeof(ops), .nla_type = INET_DIAG_REQ_BYTECODE};
    struct nlmsghdr h;

    memcpy(r->b + r->len, &a, sizeof(a));
    memcpy(r->b + r->len + NLA_HDRLEN, ops, sizeof(ops));
    r->len += NLA_HDRLEN + sizeof(ops);
    memcpy(&h, r->b, sizeof(h));
    h.nlmsg_len = (uint32_t)r->len;
    memcpy(r->b, &h, sizeof(h));
}

static int diag_errno_rc(struct tw_procmap *m, int err)
{
    if (err == -ENOENT)
        return TW_ESKIP;
    m->st.sock_diag_errors++;
    return TW_EIO;
}

/* Port-filtered dump over one address family. 0 (p->best says whether a socket matched) or a
 * negative TW_E*. */
static int sock_dump(struct tw_procmap *m, const struct pm_flow *f, uint8_t family,
                     struct dump_pick *p)
{
    struct inet_diag_sockid id;
    struct diag_req r;
    int rc;

    memset(&id, 0, sizeof(id));
    id.idiag_cookie[0] = id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    diag_req_init(&r, true, family, f->proto, &id);
    diag_req_sport(&r, f->lport);
    m->st.sock_queries++;
    m->st.sock_dumps++;
    rc = nl_transact(m, m->diag_fd, r.b, r.len, true, dump_cb, p);
    return rc == 0 ? 0 : diag_errno_rc(m, rc);
}

/* Dumps both families for IPv4 flows (an IPv6 socket can carry IPv4), IPv6 only otherwise. */
static int sock_dump_all(struct tw_procmap *m, const struct pm_flow *f, bool need_inode,
                         struct tw_procmap_sock *out)
{
    struct dump_pick p = {.f = f, .need_inode = need_inode, .best = -1, .out = out};
    int rc = 0;

    if (f->version == 4)
        rc = sock_dump(m, f, AF_INET, &p);
    if (rc == 0)
        rc = sock_dump(m, f, AF_INET6, &p);
    if (rc != 0)
        return rc;
    return p.best >= 0 ? 0 : TW_ESKIP;
}

struct exact_pick {
    const struct pm_flow *f;
    bool got;
    struct tw_procmap_sock *out;
};

static void exact_cb(void *ctx, const struct nlmsghdr *h, const void *payload, size_t len)
{
    struct exact_pick *p = ctx;
    struct inet_diag_msg d;

    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || len < sizeof(d))
        return;
    memcpy(&d, payload, sizeof(d));
    /* The kernel answers with the socket its receive path would pick; it must own our port. */
    if (ntohs(d.id.idiag_sport) != p->f->lport)
        return;
    p->got = true;
    fill_sock(&d, p->f, false, p->out);
}

/*
 * The exact query. The kernel resolves TCP with (src, sport) as the local end, and UDP, for
 * historical reasons, with (src, sport) as the remote end: both as their receive paths do.
 */
static int sock_exact(struct tw_procmap *m, const struct pm_flow *f, struct tw_procmap_sock *out)
{
    struct inet_diag_sockid id;
    struct diag_req r;
    struct exact_pick p = {.f = f, .out = out};
    const uint8_t *src = f->local, *dst = f->remote;
    uint16_t sport = f->lport, dport = f->rport;
    int rc;

    if (f->proto == IPPROTO_UDP) {
        src = f->remote;
        dst = f->local;
        sport = f->rport;
        dport = f->lport;
    }
    memset(&id, 0, sizeof(id));
    memcpy(id.idiag_src, src, f->version == 4 ? 4 : 16);
    memcpy(id.idiag_dst, dst, f->version == 4 ? 4 : 16);
    id.idiag_sport = htons(sport);
    id.idiag_dport = htons(dport);
    id.idiag_cookie[0] = id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    diag_req_init(&r, false, f->version == 4 ? AF_INET : AF_INET6, f->proto, &id);
    m->st.sock_queries++;
    rc = nl_transact(m, m->diag_fd, r.b, r.len, false, exact_cb, &p);
    if (rc != 0)
        return diag_errno_rc(m, rc);
    return p.got ? 0 : TW_ESKIP;
}

static int make_flow(uint8_t proto, uint8_t version, const uint8_t local[16], uint16_t lport,
                     const uint8_t remote[16], uint16_t rport, struct pm_flow *f)
{
    uint8_t lv, rv;

    if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || (version != 4 && version != 6))
        return TW_EINVAL;
    f->proto = proto;
    lv = canon_addr(version, local, f->local);
    rv = canon_addr(version, remote, f->remote);
    if (lv != rv) {
        /* one side mapped, the other not: keep both as IPv6 */
        memcpy(f->local, local, 16);
        memcpy(f->remote, remote, 16);
        lv = 6;
    }
    f->version = lv;
    f->lport = lport;
    f->rport = rport;
    return 0;
}

int tw_procmap_sock_lookup(struct tw_procmap *m, uint8_t proto, uint8_t version,
                           const uint8_t local[16], uint16_t lport, const uint8_t remote[16],
                           uint16_t rport, struct tw_procmap_sock *out)
{
    struct pm_flow f;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = make_flow(proto, version, local, lport, remote, rport, &f);
    if (rc != 0)
        return rc;
    if (m->diag_fd < 0)
        return TW_ENOTSUP;
    rc = sock_exact(m, &f, out);
    if (rc == TW_ESKIP)
        rc = sock_dump_all(m, &f, false, out);
    if (rc == 0 && out->inode == 0 && proto == IPPROTO_TCP && out->state != PM_TCP_TIME_WAIT &&
        out->state != PM_TCP_FIN_WAIT1 && out->state != PM_TCP_FIN_WAIT2 &&
        out->state != PM_TCP_CLOSING && out->state != PM_TCP_LAST_ACK) {
        /* Not accept()ed yet: the listening socket of the port tells the server process. */
        struct tw_procmap_sock l;
        if (sock_dump_all(m, &f, true, &l) == 0 && l.listener)
            *out = l;
    }
    return rc;
}

/* ---- processes -------------------------------------------------------------------------- */

/* Reads a small file under /proc into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t cap)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, cap - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* /proc/PID/stat: "pid (comm) state ppid ... starttime(22) ...". comm may hold ')' and spaces,
 * so fields are counted from the last ')'. */
static int read_pstat(struct tw_procmap *m, int32_t pid, struct pm_pstat *ps)
{
    char path[32], buf[1024];
    char *open_p, *close_p, *p;

    snprintf(path, sizeof(path), "%d/stat", (int)pid);
    if (read_small(m->proc_fd, path, buf, sizeof(buf)) < 0)
        return TW_EIO;
    open_p = strchr(buf, '(');
    close_p = strrchr(buf, ')');
    if (open_p == NULL || close_p == NULL || close_p < open_p)
        return TW_EMALFORMED;
    snprintf(ps->comm, sizeof(ps->comm), "%.*s", (int)(close_p - open_p - 1), open_p + 1);
    p = close_p + 1;
    for (int field = 3; field <= 22; field++) {
        char *end;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return TW_EMALFORMED;
        if (field == 4)
            ps->ppid = (int32_t)strtol(p, &end, 10);
        else if (field == 22)
            ps->start = strtoull(p, &end, 10);
        else
            end = strchr(p, ' ');
        if (end == NULL || end == p)
            return TW_EMALFORMED;
        p = end;
    }
    return 0;
}

/* Effective uid from /proc/PID/status ("Uid: real effective saved fs"); stat owner otherwise. */
static uint32_t read_euid(struct tw_procmap *m, int32_t pid)
{
    char path[32], buf[4096];
    struct stat sb;

    snprintf(path, sizeof(path), "%d/status", (int)pid);
    if (read_small(m->proc_fd, path, buf, sizeof(buf)) > 0) {
        const char *u = strstr(buf, "\nUid:");
        unsigned long real, eff;
        if (u != NULL && sscanf(u + 5, "%lu %lu", &real, &eff) == 2)
            return (uint32_t)eff;
    }
    snprintf(path, sizeof(path), "%d", (int)pid);
    if (fstatat(m->proc_fd, path, &sb, 0) == 0)
        return (uint32_t)sb.st_uid;
    return UINT32_MAX;
}

static void user_name(struct tw_procmap *m, uint32_t uid, char *out, size_t cap)
{
    struct pm_user_slot *s = &m->users[uid % PM_USER_SLOTS];
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (!s->used || s->uid != uid) {
        s->used = true;
        s->uid = uid;
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
            strlen(res->pw_name) < sizeof(s->name))
            snprintf(s->name, sizeof(s->name), "%s", res->pw_name);
        else
            snprintf(s->name, sizeof(s->name), "%u", (unsigned)uid);
    }
    snprintf(out, cap, "%s", s->name);
}

/*
 * Executable path of pid into out, without the " (deleted)" mark; "" when it may not be read
 * (permission). Returns false when the process is exiting or gone (its exe link is no more):
 * its details are then not to be trusted, nor cached.
 */
static bool read_image(struct tw_procmap *m, int32_t pid, char *out, size_t cap)
{
    static const char deleted[] = " (deleted)";
    char path[32];
    ssize_t n;

    snprintf(path, sizeof(path), "%d/exe", (int)pid);
    n = readlinkat(m->proc_fd, path, out, cap - 1);
    if (n < 0) {
        out[0] = '\0';
        return errno != ENOENT && errno != ESRCH;
    }
    out[n] = '\0';
    if ((size_t)n >= sizeof(deleted) - 1 && strcmp(out + n - (sizeof(deleted) - 1), deleted) == 0)
        out[n - (sizeof(deleted) - 1)] = '\0';
    return true;
}

/* Fills the result's process fields for pid from the cache or /proc. 0 or TW_EIO (gone). */
static int proc_details(struct tw_procmap *m, int32_t pid, const struct pm_pstat *ps,
                        struct tw_procmap_result *out)
{
    struct pm_proc_slot *s = &m->procs[(uint32_t)pid & m->proc_mask];

    /* An execve() keeps the pid and start time but changes comm (unless the program resets
     * it): comparing comm too catches most of them without reading exe each time. */
    if (s->pid == pid && s->start == ps->start && strcmp(s->comm, ps->comm) == 0 &&
        s->image != NULL) {
        m->st.proc_cache_hits++;
    } else {
        char *img;
        /* Exiting between the socket lookup and now: as good as gone (the lookup is tried
         * again, and reported unattributed if the socket is gone too). */
        if (!read_image(m, pid, out->image, sizeof(out->image)))
            return TW_EIO;
        img = strdup(out->image);
        if (img == NULL)
            return TW_ENOMEM;
        free(s->image);
        s->image = img;
        s->pid = pid;
        s->start = ps->start;
        snprintf(s->comm, sizeof(s->comm), "%s", ps->comm);
        s->euid = read_euid(m, pid);
        user_name(m, s->euid, s->user, sizeof(s->user));
    }
    out->pid = pid;
    out->uid = s->euid;
    snprintf(out->image, sizeof(out->image), "%s", s->image);
    snprintf(out->user, sizeof(out->user), "%s", s->user);
    snprintf(out->comm, sizeof(out->comm), "%s", s->comm);
    return 0;
}

static uint32_t inode_set(const struct tw_procmap *m, uint32_t inode)
{
    return (uint32_t)tw_mix64(inode) & m->inode_mask;
}

static void inode_put(struct tw_procmap *m, uint32_t inode, int32_t pid, int32_t fd)
{
    struct pm_inode_slot *set = &m->inodes[(size_t)inode_set(m, inode) * PM_INODE_WAYS];
    struct pm_inode_slot *victim = &set[0];

    for (unsigned i = 0; i < PM_INODE_WAYS; i++) {
        if (set[i].inode == inode) {
            set[i].pid = pid;
            set[i].fd = fd;
            return;
        }
        if (set[i].inode == 0) {
            victim = &set[i];
            break;
        }
        if (set[i].stamp < victim->stamp)
            victim = &set[i];
    }
    if (victim->inode != 0)
        m->st.inode_evictions++;
    victim->inode = inode;
    victim->pid = pid;
    victim->fd = fd;
    victim->stamp = ++m->inode_stamp;
}

static const struct pm_inode_slot *inode_get(const struct tw_procmap *m, uint32_t inode)
{
    const struct pm_inode_slot *set = &m->inodes[(size_t)inode_set(m, inode) * PM_INODE_WAYS];

    for (unsigned i = 0; i < PM_INODE_WAYS; i++)
        if (set[i].inode == inode)
            return &set[i];
    return NULL;
}

/* Parses "socket:[N]" into *inode. */
static bool socket_link(const char *lnk, size_t n, uint32_t *inode)
{
    uint64_t v = 0;
    size_t i;

    if (n < 10 || memcmp(lnk, "socket:[", 8) != 0 || lnk[n - 1] != ']')
        return false;
    for (i = 8; i < n - 1; i++) {
        if (lnk[i] < '0' || lnk[i] > '9' || v > UINT32_MAX)
            return false;
        v = v * 10 + (uint64_t)(lnk[i] - '0');
    }
    if (i == 8 || v == 0 || v > UINT32_MAX)
        return false;
    *inode = (uint32_t)v;
    return true;
}

/*
 * Reads every descriptor of pid, remembering each socket inode met. Returns 1 if want is
 * among them, 0 if not, -1 if the fd directory could not be read (errno: EACCES, ENOENT).
 */
static int scan_fds(struct tw_procmap *m, int32_t pid, uint32_t want)
{
    char path[32];
    struct dirent *de;
    DIR *d;
    int fd, found = 0;

    snprintf(path, sizeof(path), "%d/fd", (int)pid);
    fd = openat(m->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    m->st.pids_scanned++;
    while ((de = readdir(d)) != NULL) {
        char lnk[64];
        uint32_t inode;
        ssize_t n;

        if (de->d_name[0] == '.' || (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN))
            continue;
        n = readlinkat(dirfd(d), de->d_name, lnk, sizeof(lnk));
        m->st.fds_scanned++;
        if (n <= 0 || (size_t)n >= sizeof(lnk) || !socket_link(lnk, (size_t)n, &inode))
            continue;
        inode_put(m, inode, pid, (int32_t)strtol(de->d_name, NULL, 10));
        if (inode == want)
            found = 1;
    }
    closedir(d);
    return found;
}

/* True if descriptor fd of pid is socket inode `want` (one readlink). */
static bool fd_is(struct tw_procmap *m, int32_t pid, int32_t fd, uint32_t want)
{
    char path[48], lnk[64];
    uint32_t inode;
    ssize_t n;

    snprintf(path, sizeof(path), "%d/fd/%d", (int)pid, (int)fd);
    n = readlinkat(m->proc_fd, path, lnk, sizeof(lnk));
    return n > 0 && (size_t)n < sizeof(lnk) && socket_link(lnk, (size_t)n, &inode) && inode == want;
}

static int cmp_pid_desc(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x < y) - (x > y);
}

/* Lists the pids under /proc, highest first, into m->pids; returns how many or -1. */
static ssize_t list_pids(struct tw_procmap *m)
{
    int fd = openat(m->proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid;

        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid > INT32_MAX)
            continue;
        if (n == m->pids_cap) {
            size_t ncap = m->pids_cap != 0 ? m->pids_cap * 2 : 1024;
            int32_t *np = realloc(m->pids, ncap * sizeof(*np));
            if (np == NULL)
                break;
            m->pids = np;
            np = realloc(m->deferred, ncap * sizeof(*np));
            if (np == NULL)
                break;
            m->deferred = np;
            m->pids_cap = ncap;
        }
        m->pids[n++] = (int32_t)pid;
    }
    closedir(d);
    qsort(m->pids, n, sizeof(*m->pids), cmp_pid_desc);
    return (ssize_t)n;
}

/* The task id the kernel gave out last (the last field of /proc/loadavg), or 0. */
static int32_t last_task_id(struct tw_procmap *m)
{
    char buf[128];
    const char *sp;
    long id;

    if (read_small(m->proc_fd, "loadavg", buf, sizeof(buf)) <= 0 ||
        (sp = strrchr(buf, ' ')) == NULL)
        return 0;
    id = strtol(sp + 1, NULL, 10);
    return id > 0 && id <= INT32_MAX ? (int32_t)id : 0;
}

/* The thread group (process) of task id `id`, from /proc/ID/status; 0 if it is gone. */
static int32_t read_tgid(struct tw_procmap *m, int32_t id)
{
    char path[32], buf[4096];
    const char *t;
    long tgid;

    snprintf(path, sizeof(path), "%d/status", (int)id);
    if (read_small(m->proc_fd, path, buf, sizeof(buf)) <= 0 ||
        (t = strstr(buf, "\nTgid:")) == NULL)
        return 0;
    tgid = strtol(t + 6, NULL, 10);
    return tgid > 0 && tgid <= INT32_MAX ? (int32_t)tgid : 0;
}

/*
 * The newest tasks first: a short-lived client (dig over UDP) is the process started last and
 * closes its socket about a millisecond after its query, sooner than /proc can be listed and
 * sorted. Tries the processes of the PM_RECENT_IDS task ids given out last (threads among
 * them: each process is read once, by its own id, so that the cache names processes) and
 * returns the holder's process id, or 0.
 */
static int32_t find_recent(struct tw_procmap *m, uint32_t inode, uint32_t uid)
{
    int32_t top = last_task_id(m), seen[PM_RECENT_IDS];
    unsigned n_seen = 0;

    for (int32_t id = top, k = 0; id > 0 && k < PM_RECENT_IDS; id--, k++) {
        char path[16];
        struct stat sb;
        int32_t tgid;
        bool again = false;

        snprintf(path, sizeof(path), "%d", (int)id);
        if (fstatat(m->proc_fd, path, &sb, 0) != 0 || (uint32_t)sb.st_uid != uid)
            continue;
        tgid = read_tgid(m, id);
        for (unsigned i = 0; i < n_seen && !again; i++)
            again = seen[i] == tgid;
        if (tgid == 0 || again)
            continue;
        seen[n_seen++] = tgid;
        if (scan_fds(m, tgid, inode) == 1)
            return tgid;
    }
    return 0;
}

/*
 * The pid of a process holding socket inode `inode` (owner uid `uid`), or 0 with *denied set
 * when some fd directories could not be read.
 */
static int32_t find_holder(struct tw_procmap *m, uint32_t inode, uint32_t uid, bool *denied)
{
    const struct pm_inode_slot *hit = inode_get(m, inode);
    size_t n_deferred = 0;
    int32_t pid;
    ssize_t n;

    *denied = false;
    if (hit != NULL) {
        pid = hit->pid;
        if (fd_is(m, pid, hit->fd, inode) || scan_fds(m, pid, inode) == 1) {
            m->st.inode_cache_hits++;
            return pid;
        }
    }
    pid = find_recent(m, inode, uid);
    if (pid != 0) {
        m->st.recent_hits++;
        return pid;
    }
    m->st.proc_scans++;
    n = list_pids(m);
    for (ssize_t i = 0; i < n; i++) {
        char path[16];
        struct stat sb;
        int r;

        snprintf(path, sizeof(path), "%d", (int)m->pids[i]);
        if (fstatat(m->proc_fd, path, &sb, 0) != 0)
            continue;
        if ((uint32_t)sb.st_uid != uid) {
            m->deferred[n_deferred++] = m->pids[i];
            continue;
        }
        r = scan_fds(m, m->pids[i], inode);
        if (r == 1)
            return m->pids[i];
        if (r < 0 && errno == EACCES)
            *denied = true;
    }
    /* Owned by another uid: privileges dropped after the socket was made, a non-dumpable
     * process (its /proc entries belong to root), a socket handed over. */
    for (size_t i = 0; i < n_deferred; i++) {
        int r = scan_fds(m, m->deferred[i], inode);
        if (r == 1)
            return m->deferred[i];
        if (r < 0 && errno == EACCES)
            *denied = true;
    }
    return 0;
}

/* True if pid has inode among its descriptors. */
static bool holds(struct tw_procmap *m, int32_t pid, uint32_t inode)
{
    return scan_fds(m, pid, inode) == 1;
}

static int finish(struct tw_procmap_result *out, enum tw_procmap_reason r)
{
    static const int codes[TW_PM__COUNT] = {
        [TW_PM_FOUND] = 0,
        [TW_PM_NO_SOCKET] = TW_ESKIP,
        [TW_PM_TIME_WAIT] = TW_ESKIP,
        [TW_PM_CLOSED] = TW_ESKIP,
        [TW_PM_NO_INODE] = TW_ESKIP,
        [TW_PM_NO_PROCESS] = TW_ESKIP,
        [TW_PM_PERMISSION] = TW_EIO,
        [TW_PM_SOCK_DIAG] = TW_EIO,
        [TW_PM_NO_SOCK_DIAG] = TW_ENOTSUP,
        [TW_PM_UNSUPPORTED] = TW_EINVAL,
    };

    out->reason = r;
    out->reason_name = tw_procmap_reason_name(r);
    return codes[r];
}

int tw_procmap_lookup(struct tw_procmap *m, uint8_t proto, uint8_t version, const uint8_t local[16],
                      uint16_t lport, const uint8_t remote[16], uint16_t rport,
                      struct tw_procmap_result *out)
{
    struct pm_pstat ps;
    bool denied;
    int32_t pid;
    int rc;

    out->pid = 0;
    out->uid = 0;
    out->image[0] = out->user[0] = out->comm[0] = '\0';
    m->st.lookups++;
    rc = tw_procmap_sock_lookup(m, proto, version, local, lport, remote, rport, &out->sock);
    if (rc == TW_EINVAL)
        return finish(out, TW_PM_UNSUPPORTED);
    if (rc == TW_ENOTSUP)
        return finish(out, TW_PM_NO_SOCK_DIAG);
    if (rc == TW_ESKIP)
        return finish(out, TW_PM_NO_SOCKET);
    if (rc != 0)
        return finish(out, TW_PM_SOCK_DIAG);
    if (out->sock.inode == 0) {
        switch (out->sock.state) {
        case PM_TCP_TIME_WAIT:
            return finish(out, TW_PM_TIME_WAIT);
        case PM_TCP_FIN_WAIT1:
        case PM_TCP_FIN_WAIT2:
        case PM_TCP_CLOSING:
        case PM_TCP_LAST_ACK:
            return finish(out, TW_PM_CLOSED);
        default:
            return finish(out, TW_PM_NO_INODE);
        }
    }

    pid = find_holder(m, out->sock.inode, out->sock.uid, &denied);
    if (pid == 0)
        return finish(out, denied ? TW_PM_PERMISSION : TW_PM_NO_PROCESS);
    if (read_pstat(m, pid, &ps) != 0)
        return finish(out, TW_PM_NO_PROCESS);
    /* Inherited across fork(): report the oldest holder in the chain of parents, but never
     * init (it holds the listeners it passes to socket-activated services). */
    for (int depth = 0; depth < PM_MAX_ANCESTORS && ps.ppid > 1; depth++) {
        struct pm_pstat pps;
        if (!holds(m, ps.ppid, out->sock.inode) || read_pstat(m, ps.ppid, &pps) != 0)
            break;
        pid = ps.ppid;
        ps = pps;
    }
    if (proc_details(m, pid, &ps, out) != 0)
        return finish(out, TW_PM_NO_PROCESS);
    m->st.found++;
    return finish(out, TW_PM_FOUND);
}

void tw_procmap_flush_cache(struct tw_procmap *m)
{
    memset(m->inodes, 0, ((size_t)m->inode_mask + 1) * PM_INODE_WAYS * sizeof(*m->inodes));
    for (uint32_t i = 0; i <= m->proc_mask; i++) {
        free(m->procs[i].image);
        memset(&m->procs[i], 0, sizeof(m->procs[i]));
    }
    memset(m->users, 0, sizeof(m->users));
}

void tw_procmap_get_stats(const struct tw_procmap *m, struct tw_procmap_stats *out)
{
    *out = m->st;
}

struct tw_procmap *tw_procmap_new(const struct tw_procmap_config *cfg)
{
    struct tw_procmap_config c = {0};
    struct tw_procmap *m;
    uint32_t sets, procs;
    int err;

    if (cfg != NULL)
        c = *cfg;
    if (c.addr_refresh == 0)
        c.addr_refresh = PM_DEFAULT_REFRESH;
    sets =
        pow2_at_least((c.inode_cache != 0 ? c.inode_cache : PM_DEFAULT_INODES) / PM_INODE_WAYS, 1);
    procs = pow2_at_least(c.proc_cache != 0 ? c.proc_cache : PM_DEFAULT_PROCS, 16);

    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->diag_fd = m->route_fd = m->proc_fd = -1;
    m->addr_refresh_ns = (int64_t)c.addr_refresh * 1000000000;
    m->inode_mask = sets - 1;
    m->proc_mask = procs - 1;
    m->buf = aligned_alloc(8, PM_NL_BUF);
    m->inodes = calloc((size_t)sets * PM_INODE_WAYS, sizeof(*m->inodes));
    m->procs = calloc(procs, sizeof(*m->procs));
    if (m->buf == NULL || m->inodes == NULL || m->procs == NULL) {
        err = ENOMEM;
        goto out_free;
    }
    m->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->proc_fd < 0) {
        err = errno;
        goto out_free;
    }
    m->diag_fd = nl_open(NETLINK_SOCK_DIAG);
    if (m->diag_fd < 0) {
        /* Kept usable for the local address set; lookups report sock_diag_unavailable. */
        m->diag_errno = errno;
    }
    m->route_fd = nl_open(NETLINK_ROUTE);
    return m;

out_free:
    tw_procmap_free(m);
    errno = err;
    return NULL;
}

void tw_procmap_free(struct tw_procmap *m)
{
    if (m == NULL)
        return;
    if (m->diag_fd >= 0)
        close(m->diag_fd);
    if (m->route_fd >= 0)
        close(m->route_fd);
    if (m->proc_fd >= 0)
        close(m->proc_fd);
    if (m->procs != NULL)
        for (uint32_t i = 0; i <= m->proc_mask; i++)
            free(m->procs[i].image);
    free(m->procs);
    free(m->inodes);
    free(m->pids);
    free(m->deferred);
    free(m->addrs);
    free(m->buf);
    free(m);
}
