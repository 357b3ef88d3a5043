/* SPDX-License-Identifier: MIT */
/*
 * systemd's service notification protocol (sd_notify(3), a stable interface): one datagram per
 * message to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace). READY=1 once the capture runs, RELOADING=1 and READY=1 around a rule reload,
 * STOPPING=1, STATUS= with a counter line, and WATCHDOG=1 every half $WATCHDOG_USEC when the
 * unit sets WatchdogSec (and $WATCHDOG_PID, if set, is this process). Without $NOTIFY_SOCKET
 * nothing is sent. Written here rather than linked from libsystemd: a dozen lines, no
 * dependency for builds that never run under systemd.
 */
#include "sensor_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void notify_init(struct notify *n)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *wd = getenv("WATCHDOG_USEC"), *wpid = getenv("WATCHDOG_PID");
    size_t len;

    memset(n, 0, sizeof(*n));
    n->fd = -1;
    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (len = strlen(path)) >= sizeof(n->addr.sun_path))
        return;
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, path, len);
    if (path[0] == '@')
        n->addr.sun_path[0] = '\0';
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        fprintf(stderr, "tunwatch: NOTIFY_SOCKET: %s\n", strerror(errno));
        return;
    }
    if (wd != NULL && (wpid == NULL || strtol(wpid, NULL, 10) == (long)getpid())) {
        char *end;
        unsigned long long us = strtoull(wd, &end, 10);
        if (*end == '\0' && us > 0)
            n->watchdog_s = (double)us / 1e6 / 2; /* twice per period, as sd_watchdog_enabled(3)
                                                    advises */
    }
}

void notify_send(struct notify *n, const char *msg)
{
    if (n->fd < 0)
        return;
    if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&n->addr,
               n->addr_len) < 0 &&
        !n->warned) {
        n->warned = true; /* once: the manager may be gone while we stop */
        fprintf(stderr, "tunwatch: notifying the service manager: %s\n", strerror(errno));
    }
}

void notify_tick(struct notify *n, double now)
{
    if (n->fd < 0 || n->watchdog_s <= 0 || now - n->last_watchdog < n->watchdog_s)
        return;
    n->last_watchdog = now;
    notify_send(n, "WATCHDOG=1");
}

void notify_close(struct notify *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}
