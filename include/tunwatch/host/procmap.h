/* SPDX-License-Identifier: MIT */
/*
 * Which local process owns the socket of a flow (endpoint sensors only).
 *
 * Three steps, each synchronous and meant for a thread off the packet path:
 *
 *   1. The host's own addresses (RTM_GETADDR dump over NETLINK_ROUTE), to tell which side of a
 *      flow is this host: tw_procmap_is_local().
 *   2. The socket: NETLINK_SOCK_DIAG (SOCK_DIAG_BY_FAMILY, struct inet_diag_req_v2) gives the
 *      socket's inode, owner uid and state for a (local, remote, protocol) tuple. First an exact
 *      lookup, which the kernel resolves as its own receive path would (so it also finds a
 *      listening TCP socket for the local port, UDP sockets that are not connected or are bound
 *      to the wildcard address, and IPv6 sockets that carry IPv4 traffic); when that finds
 *      nothing, a dump filtered by local port (both address families for IPv4 traffic), which
 *      also sees sockets bound to a device. /proc/net/tcp is never parsed.
 *   3. The process: every /proc/PID/fd/N that reads "socket:[INODE]", newest pids first
 *      (highest numbers: a short-lived client is usually among the newest processes), stopping
 *      at the first holder; processes owned by another uid than the socket's are left for a
 *      second pass (a process that dropped privileges after creating the socket). Every socket
 *      inode met on the way is remembered (with its fd number) in a bounded, evicting
 *      inode -> pid cache; a hit is confirmed with one readlink of that fd. Process details
 *      are cached per pid with the process's start time and command name, so a reused pid or
 *      an execve() is noticed.
 *
 * A TCP connection that is established but not yet accept()ed has no owner: the listening
 * socket of its local port is reported instead (sock.listener), as it is when the connection's
 * own socket is gone but a listener still holds the port (the kernel's exact lookup answers
 * with the listener then).
 *
 * When several processes hold the socket (it was inherited across fork()), the one reported is
 * the oldest ancestor in the holder's chain of parents that still holds it: a socket is created
 * before the fork that shares it, so that ancestor is the likeliest to have opened the
 * connection, which is what Sysmon's network events name. A holder that is not a parent of
 * the others (descriptor passing over a UNIX socket) is not looked for.
 *
 * A struct tw_procmap is used by one thread at a time.
 */
#ifndef TUNWATCH_PROCMAP_H
#define TUNWATCH_PROCMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "tunwatch/base/common.h"

struct tw_procmap_config {
    unsigned addr_refresh; /* seconds between refreshes of the local address set (0: 5) */
    unsigned inode_cache;  /* inode -> pid entries kept (0: 16384; rounded up to a power of 2) */
    unsigned proc_cache;   /* per-process details kept (0: 1024; rounded up to a power of 2) */
};

/* Why a lookup found no process. tw_procmap_reason_name() gives the snake_case string. */
enum tw_procmap_reason {
    TW_PM_FOUND,        /* "found": not a failure */
    TW_PM_NO_SOCKET,    /* "no_socket": no socket for the tuple (closed, or not yet open) */
    TW_PM_TIME_WAIT,    /* "time_wait": only a TIME_WAIT socket is left; it has no owner */
    TW_PM_CLOSED,       /* "closed": closed by its process, the kernel is finishing it
                           (FIN_WAIT, CLOSING, LAST_ACK): it has no owner any more */
    TW_PM_NO_INODE,     /* "no_inode": a socket not yet accepted or half open, no owner yet */
    TW_PM_NO_PROCESS,   /* "no_process": the socket exists but no process holds it */
    TW_PM_PERMISSION,   /* "permission": some processes' fds could not be read */
    TW_PM_SOCK_DIAG,    /* "sock_diag_error": the sock_diag query failed */
    TW_PM_NO_SOCK_DIAG, /* "sock_diag_unavailable": no NETLINK_SOCK_DIAG in this kernel */
    TW_PM_UNSUPPORTED,  /* "unsupported": not TCP/UDP over IPv4/IPv6 */
    TW_PM__COUNT
};

const char *tw_procmap_reason_name(enum tw_procmap_reason r);

/* True for failures of a lookup of protocol proto (6 or 17) that may turn into a success if it
 * is repeated a little later. A UDP socket is in the kernel's table before its first datagram
 * leaves or arrives, so none found for a UDP flow is final: asked again, the port may belong to
 * another socket by then. */
bool tw_procmap_reason_transient(uint8_t proto, enum tw_procmap_reason r);

#define TW_PROCMAP_IMAGE_MAX 4096
#define TW_PROCMAP_USER_MAX 64
#define TW_PROCMAP_COMM_MAX 64

/* The socket as sock_diag reported it. */
struct tw_procmap_sock {
    uint32_t inode; /* 0: no owner (TIME_WAIT, not yet accepted, request socket) */
    uint32_t uid;   /* owner uid of the socket (0 when it has no inode) */
    uint8_t state;  /* TCP state as in <netinet/tcp.h> (UDP: 1 connected, 7 not) */
    uint8_t family; /* AF_INET or AF_INET6: the socket's own family */
    bool listener;  /* a listening socket for the local port, not the flow's own */
    bool from_dump; /* found by the port-filtered dump, not the exact lookup */
};

struct tw_procmap_result {
    enum tw_procmap_reason reason;
    const char *reason_name; /* tw_procmap_reason_name(reason), static */
    struct tw_procmap_sock sock;
    int32_t pid;
    uint32_t uid;                     /* the process's effective uid */
    char image[TW_PROCMAP_IMAGE_MAX]; /* /proc/PID/exe, " (deleted)" removed; "" unreadable */
    char user[TW_PROCMAP_USER_MAX];   /* user name of uid, or the uid in decimal */
    char comm[TW_PROCMAP_COMM_MAX];   /* /proc/PID/comm without the newline */
};

struct tw_procmap_stats {
    uint64_t lookups;          /* tw_procmap_lookup calls */
    uint64_t found;            /* ... that returned 0 */
    uint64_t sock_queries;     /* sock_diag requests sent (exact and dump) */
    uint64_t sock_dumps;       /* ... of which port-filtered dumps */
    uint64_t sock_diag_errors; /* requests that failed (not counting "no such socket") */
    uint64_t recent_hits;      /* found among the task ids given out last, before any walk */
    uint64_t proc_scans;       /* walks over /proc for an inode */
    uint64_t pids_scanned;     /* /proc/PID/fd directories read during those walks */
    uint64_t fds_scanned;      /* descriptors read (readlink) during those walks */
    uint64_t inode_cache_hits; /* inode -> pid answers confirmed without a walk */
    uint64_t inode_evictions;  /* cache entries overwritten while still valid-looking */
    uint64_t proc_cache_hits;  /* process details reused (same pid, start time, comm) */
    uint64_t addr_refreshes;   /* local address set reloads */
    uint64_t addr_errors;      /* reloads that failed (the old set is kept) */
};

struct tw_procmap;

/* A new map (cfg NULL: the defaults), or NULL when out of memory or /proc cannot be opened.
 * A kernel without NETLINK_SOCK_DIAG still gives a map: its lookups fail with
 * sock_diag_unavailable and tw_procmap_is_local() works. */
struct tw_procmap *tw_procmap_new(const struct tw_procmap_config *cfg);
void tw_procmap_free(struct tw_procmap *m);

/*
 * True if addr (version 4: the first 4 bytes; 6: 16 bytes, IPv4-mapped addresses are read as
 * IPv4) is one of this host's addresses, or in 127.0.0.0/8 or ::1. The set is reloaded when
 * older than cfg->addr_refresh seconds; a reload that fails keeps the previous set.
 */
bool tw_procmap_is_local(struct tw_procmap *m, uint8_t version, const uint8_t *addr);

/* Reloads the local address set now. 0, or TW_EIO (the previous set is kept). */
int tw_procmap_refresh_addrs(struct tw_procmap *m);

/*
 * The socket for a flow seen from this host: proto 6 (TCP) or 17 (UDP), version 4 or 6 (as in
 * tw_procmap_is_local), local and remote address and port (host order). Returns 0 with *out
 * filled (which may be a TIME_WAIT socket or one without an inode: see out->inode), TW_ESKIP
 * when there is no such socket, TW_ENOTSUP when sock_diag is not available, TW_EINVAL for a bad
 * protocol or version, TW_EIO when the query failed.
 */
int tw_procmap_sock_lookup(struct tw_procmap *m, uint8_t proto, uint8_t version,
                           const uint8_t local[16], uint16_t lport, const uint8_t remote[16],
                           uint16_t rport, struct tw_procmap_sock *out);

/*
 * The process owning the socket of a flow (arguments as for tw_procmap_sock_lookup). Returns 0
 * with out->pid, uid, image, user and comm set (copies in *out, valid as long as *out), or a
 * negative TW_E* with out->reason telling why: TW_ESKIP for no_socket, time_wait, closed, no_inode
 * and no_process, TW_EIO for permission and sock_diag_error, TW_ENOTSUP for sock_diag_unavailable,
 * TW_EINVAL for unsupported. out->sock is filled whenever a socket was found.
 */
int tw_procmap_lookup(struct tw_procmap *m, uint8_t proto, uint8_t version, const uint8_t local[16],
                      uint16_t lport, const uint8_t remote[16], uint16_t rport,
                      struct tw_procmap_result *out);

/* Forgets every cached inode and process (the next lookup walks /proc cold). */
void tw_procmap_flush_cache(struct tw_procmap *m);

void tw_procmap_get_stats(const struct tw_procmap *m, struct tw_procmap_stats *out);

#endif /* TUNWATCH_PROCMAP_H */
