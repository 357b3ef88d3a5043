/* SPDX-License-Identifier: MIT */
/*
 * Syslog sinks: RFC 5424 over UDP, over TCP with RFC 6587 octet counting, and to a local
 * datagram socket (/dev/log) in the local format by default (syslog.h).
 */
#include "tunwatch/output/syslog.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sink_impl.h"
#include "tunwatch/base/common.h"

#define CONNECT_TIMEOUT_MS 5000
#define FRAME_MAX (TW_LINE_MAX + 512)

static const char *const facilities[] = {
    "kern",  "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",  "cron",   "authpriv", "ftp",  "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};
static const char *const severities[] = {"emerg", "alert",  "crit", "err",
                                         "warning", "notice", "info", "debug"};

static int by_name(const char *name, const char *const *names, int n)
{
    char *end;
    long v;

    for (int i = 0; i < n; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    if (name[0] < '0' || name[0] > '9')
        return -1;
    v = strtol(name, &end, 10);
    return *end == '\0' && v >= 0 && v < n ? (int)v : -1;
}

int tw_syslog_facility(const char *name)
{
    return by_name(name, facilities, (int)TW_ARRAY_SIZE(facilities));
}

int tw_syslog_severity(const char *name)
{
    if (strcasecmp(name, "error") == 0)
        return 3;
    if (strcasecmp(name, "warn") == 0)
        return 4;
    return by_name(name, severities, (int)TW_ARRAY_SIZE(severities));
}

int tw_syslog_severity_for_level(const char *level)
{
    if (level == NULL)
        return 6;
    if (strcasecmp(level, "critical") == 0)
        return 2;
    if (strcasecmp(level, "high") == 0)
        return 3;
    if (strcasecmp(level, "medium") == 0)
        return 4;
    if (strcasecmp(level, "low") == 0)
        return 5;
    return 6;
}

/* Appends a header field: printable ASCII (33-126) only, at most max bytes, "-" if empty. */
static size_t field(char *o, const char *s, size_t max)
{
    size_t n = 0;

    for (; s != NULL && *s != '\0' && n < max; s++)
        if (*s > ' ' && *s <= '~')
            o[n++] = *s;
    if (n == 0)
        o[n++] = '-';
    return n;
}

size_t tw_syslog_frame(const struct tw_syslog_hdr *h, int severity, bool alert,
                       const struct timespec *ts, const char *msg, size_t len, char *out,
                       size_t cap)
{
    char hdr[512];
    size_t n = 0;
    struct tm tm;
    int pri = h->facility * 8 + (severity & 7);
    time_t t = ts->tv_sec;

    if (h->proto == TW_SYSLOG_3164_LOCAL) {
        static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        localtime_r(&t, &tm);
        n = (size_t)snprintf(hdr, sizeof(hdr), "<%d>%s %2d %02d:%02d:%02d ", pri,
                             mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec);
        n += field(hdr + n, h->app, 48);
        n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "[%ld]: ", h->pid);
    } else {
        gmtime_r(&t, &tm);
        n = (size_t)snprintf(hdr, sizeof(hdr), "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%06ldZ ",
                             pri, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                             tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000);
        n += field(hdr + n, h->hostname, 255);
        hdr[n++] = ' ';
        n += field(hdr + n, h->app, 48);
        n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, " %ld %s - ", h->pid,
                              alert ? "alert" : "event");
    }
    size_t total = n + len;
    char prefix[24];
    size_t pn = 0;
    if (h->octet_count)
        pn = (size_t)snprintf(prefix, sizeof(prefix), "%zu ", total);
    if (pn + total > cap)
        return 0;
    memcpy(out, prefix, pn);
    memcpy(out + pn, hdr, n);
    memcpy(out + pn + n, msg, len);
    return pn + total;
}

struct syslog_priv {
    int fd;
    struct tw_syslog_hdr hdr;
    char hostname[256];
    char frame[FRAME_MAX];
};

static int syslog_init(struct tw_sink *s, char *err, size_t errlen)
{
    struct syslog_priv *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return TW_ENOMEM;
    }
    p->fd = -1;
    if (gethostname(p->hostname, sizeof(p->hostname) - 1) != 0)
        strcpy(p->hostname, "-");
    p->hdr.facility = s->u.facility >= 0 ? s->u.facility : 3; /* daemon */
    p->hdr.hostname = p->hostname;
    p->hdr.app = s->u.app != NULL ? s->u.app : "tunwatch";
    p->hdr.pid = (long)getpid();
    p->hdr.proto = s->u.proto;
    p->hdr.octet_count = s->u.kind == TW_SINK_SYSLOG_TCP;
    s->priv = p;
    return 0;
}

/* connect() with a timeout on a non-blocking socket, then blocking again. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len)
{
    int e = 0;
    socklen_t el = sizeof(e);
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};

    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -1;
    if (poll(&pfd, 1, CONNECT_TIMEOUT_MS) != 1) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
        errno = e != 0 ? e : errno;
        return -1;
    }
    return 0;
}

static int syslog_connect(struct tw_sink *s, char *err, size_t errlen)
{
    struct syslog_priv *p = s->priv;

    if (s->u.kind == TW_SINK_SYSLOG_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, s->u.path, strlen(s->u.path) + 1);
        p->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
            snprintf(err, errlen, "%s: %s", s->u.path, strerror(errno));
            goto fail;
        }
        return 0;
    }
    bool tcp = s->u.kind == TW_SINK_SYSLOG_TCP;
    struct addrinfo hints = {.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM}, *ai, *a;
    int g = getaddrinfo(s->u.host, s->u.port, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "%s: %s", s->u.host, gai_strerror(g));
        return TW_EIO;
    }
    for (a = ai; a != NULL; a = a->ai_next) {
        p->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | (tcp ? SOCK_NONBLOCK : 0),
                       a->ai_protocol);
        if (p->fd < 0)
            continue;
        if ((tcp ? connect_timeout(p->fd, a->ai_addr, a->ai_addrlen)
                 : connect(p->fd, a->ai_addr, a->ai_addrlen)) == 0)
            break;
        snprintf(err, errlen, "connecting to %s port %s: %s", s->u.host, s->u.port,
                 strerror(errno));
        close(p->fd);
        p->fd = -1;
    }
    freeaddrinfo(ai);
    if (p->fd < 0)
        return TW_EIO;
    if (tcp) {
        struct timeval tv = {.tv_sec = 10};
        /* Back to blocking, with a send timeout: a collector that stops reading for that
         * long is taken as broken (reconnect, resend). */
        int fl = fcntl(p->fd, F_GETFL);
        if (fl >= 0)
            fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
        setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return 0;
fail:
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    return TW_EIO;
}

/* TCP: the collector never writes; a readable socket means it closed (or reset) the
 * connection. Checked before each send, so a line is not written into a dead connection. */
static bool peer_closed(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&pfd, 1, 0) != 1)
        return false;
    if (pfd.revents & (POLLERR | POLLHUP))
        return true;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static enum tw_send_result syslog_send(struct tw_sink *s, const struct tw_rec *r, char *err,
                                       size_t errlen)
{
    struct syslog_priv *p = s->priv;
    struct timespec ts;
    int sev = s->u.severity >= 0 ? s->u.severity : r->severity;
    size_t n, off = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    n = tw_syslog_frame(&p->hdr, sev, r->alert, &ts, r->line, r->len, p->frame,
                        sizeof(p->frame));
    if (n == 0) {
        snprintf(err, errlen, "a line of %zu bytes does not fit a syslog message", r->len);
        return TW_SEND_REJECT;
    }
    if (s->u.kind == TW_SINK_SYSLOG_TCP) {
        if (peer_closed(p->fd)) {
            snprintf(err, errlen, "connection closed by %s", s->u.host);
            return TW_SEND_BROKEN;
        }
        while (off < n) {
            ssize_t w = send(p->fd, p->frame + off, n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(err, errlen, "sending: %s", w < 0 ? strerror(errno) : "closed");
                return TW_SEND_BROKEN;
            }
            off += (size_t)w;
        }
        return TW_SEND_OK;
    }
    for (;;) {
        ssize_t w = send(p->fd, p->frame, n, MSG_NOSIGNAL);
        if (w == (ssize_t)n)
            return TW_SEND_OK;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EMSGSIZE) {
            snprintf(err, errlen, "a message of %zu bytes is too large for a datagram", n);
            return TW_SEND_REJECT;
        }
        if (w < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
            snprintf(err, errlen, "sending: %s", strerror(errno));
            return TW_SEND_REFUSED;
        }
        snprintf(err, errlen, "sending: %s", w < 0 ? strerror(errno) : "short datagram");
        return TW_SEND_BROKEN;
    }
}

static void syslog_disconnect(struct tw_sink *s)
{
    struct syslog_priv *p = s->priv;

    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void syslog_destroy(struct tw_sink *s)
{
    if (s->priv != NULL)
        syslog_disconnect(s);
    free(s->priv);
    s->priv = NULL;
}

const struct tw_sink_ops tw_sink_syslog_ops = {
    .init = syslog_init,
    .connect = syslog_connect,
    .send = syslog_send,
    .disconnect = syslog_disconnect,
    .destroy = syslog_destroy,
};
