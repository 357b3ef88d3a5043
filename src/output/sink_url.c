/* SPDX-License-Identifier: MIT */
/*
 * -o values: a path, "-", or a URL (README, "Sinks"):
 *
 *     file:///PATH
 *     syslog+udp://HOST[:PORT]   syslog+tcp://HOST[:PORT]   syslog+unix:///PATH
 *     kafka://HOST:PORT[,HOST:PORT...]/TOPIC
 *     redis://HOST[:PORT]/KEY
 *
 * each with ?name=value&... parameters (percent-encoded values are decoded). HOST may be an
 * IPv6 address in brackets.
 */
#include "tunwatch/output/sink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/common.h"
#include "tunwatch/output/syslog.h"

const char *tw_sink_kind_name(enum tw_sink_kind k)
{
    switch (k) {
    case TW_SINK_FILE:
        return "file";
    case TW_SINK_SYSLOG_UDP:
        return "syslog+udp";
    case TW_SINK_SYSLOG_TCP:
        return "syslog+tcp";
    case TW_SINK_SYSLOG_UNIX:
        return "syslog+unix";
    case TW_SINK_KAFKA:
        return "kafka";
    case TW_SINK_REDIS:
        return "redis";
    }
    return "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return TW_EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A copy of s[0..n) with %XX decoded; NULL (and *bad set) on a bad escape or a NUL. */
static char *decode(const char *s, size_t n, bool *bad)
{
    char *d = malloc(n + 1), *o = d;

    *bad = false;
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                *bad = true;
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return d;
}

static bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_secs(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

/* HOST[:PORT] or [V6][:PORT]: host and port copied (port NULL when absent). */
static int split_hostport(const char *s, size_t n, char **host, char **port, char *err,
                          size_t errlen)
{
    const char *h = s, *colon = NULL;
    size_t hn;

    *host = *port = NULL;
    if (n == 0)
        return fail(err, errlen, "no host");
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return fail(err, errlen, "'[' without ']'");
        h = s + 1;
        hn = (size_t)(close - h);
        if (close + 1 < s + n) {
            if (close[1] != ':')
                return fail(err, errlen, "junk after ']'");
            colon = close + 1;
        }
    } else {
        colon = memchr(s, ':', n);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)) != NULL)
            return fail(err, errlen, "an IPv6 host goes in brackets");
        hn = colon != NULL ? (size_t)(colon - s) : n;
    }
    if (hn == 0)
        return fail(err, errlen, "no host");
    for (size_t i = 0; i < hn; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':'))
            return fail(err, errlen, "bad character in host '%.*s'", (int)hn, h);
        if (c == ':' && s[0] != '[')
            return fail(err, errlen, "an IPv6 host goes in brackets");
    }
    if (colon != NULL) {
        const char *p = colon + 1;
        size_t pn = (size_t)(s + n - p);
        uint64_t v;
        char buf[8];
        if (pn == 0 || pn >= sizeof(buf))
            return fail(err, errlen, "bad port '%.*s'", (int)pn, p);
        memcpy(buf, p, pn);
        buf[pn] = '\0';
        if (!parse_uint(buf, 1, 65535, &v))
            return fail(err, errlen, "bad port '%s'", buf);
        if ((*port = strdup(buf)) == NULL)
            return TW_ENOMEM;
    }
    if ((*host = strndup(h, hn)) == NULL)
        return TW_ENOMEM;
    return 0;
}

static bool kind_is_network(enum tw_sink_kind k)
{
    return k != TW_SINK_FILE;
}

static bool kind_is_syslog(enum tw_sink_kind k)
{
    return k == TW_SINK_SYSLOG_UDP || k == TW_SINK_SYSLOG_TCP || k == TW_SINK_SYSLOG_UNIX;
}

static int set_format(struct tw_sink_url *u, const char *v, char *err, size_t errlen)
{
    enum tw_format f;

    if (tw_format_parse(v, &f) != 0)
        return fail(err, errlen, "format '%s' is not native, ecs, asim or cef", v);
    u->format = (int)f;
    return 0;
}

/* False, with the reason in err, when a parameter does not apply to this kind of sink. */
static bool applies(enum tw_sink_kind k, bool cond, const char *name, const char *what, char *err,
                    size_t errlen)
{
    if (!cond)
        fail(err, errlen, "parameter '%s' does not apply to %s (%s only)", name,
             tw_sink_kind_name(k), what);
    return cond;
}

/* One name=value parameter (both decoded). */
static int param(struct tw_sink_url *u, char *name, char *value, char *err, size_t errlen)
{
    uint64_t v;
    enum tw_sink_kind k = u->kind;


    if (strcmp(name, "events") == 0) {
        if (strcmp(value, "alerts") == 0)
            u->events_all = 0;
        else if (strcmp(value, "all") == 0)
            u->events_all = 1;
        else {
            fail(err, errlen, "events '%s' is not alerts or all", value);
            goto bad;
        }
    } else if (strcmp(name, "format") == 0) {
        if (set_format(u, value, err, errlen) != 0)
            goto bad;
    } else if (strcmp(name, "append") == 0) {
        if (!applies(k, k == TW_SINK_FILE, name, "file", err, errlen))
            goto bad;
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
            u->append = true;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
                 strcmp(value, "no") == 0)
            u->append = false;
        else {
            fail(err, errlen, "append '%s' is not 1 or 0", value);
            goto bad;
        }
    } else if (strcmp(name, "queue") == 0) {
        if (!applies(k, kind_is_network(k), name, "network sinks", err, errlen))
            goto bad;
        if (!parse_uint(value, 1, 4095, &v)) {
            fail(err, errlen, "queue '%s' is not a size in MiB (1-4095)", value);
            goto bad;
        }
        u->queue_bytes = v << 20;
    } else if (strcmp(name, "queue_lines") == 0) {
        if (!applies(k, kind_is_network(k), name, "network sinks", err, errlen))
            goto bad;
        if (!parse_uint(value, 1, 1u << 24, &v)) {
            fail(err, errlen, "queue_lines '%s' is not a number (1-16777216)", value);
            goto bad;
        }
        u->queue_lines = (uint32_t)v;
    } else if (strcmp(name, "spool") == 0) {
        if (!applies(k, kind_is_network(k), name, "network sinks", err, errlen))
            goto bad;
        if (value[0] == '\0') {
            fail(err, errlen, "spool needs a directory");
            goto bad;
        }
        free(u->spool_dir);
        u->spool_dir = value;
        value = NULL;
    } else if (strcmp(name, "spool_max") == 0) {
        if (!applies(k, kind_is_network(k), name, "network sinks", err, errlen))
            goto bad;
        if (!parse_uint(value, 1, 1u << 20, &v)) {
            fail(err, errlen, "spool_max '%s' is not a size in MiB", value);
            goto bad;
        }
        u->spool_max = v << 20;
    } else if (strcmp(name, "backoff_max") == 0) {
        if (!applies(k, kind_is_network(k), name, "network sinks", err, errlen))
            goto bad;
        if (!parse_secs(value, TW_SINK_BACKOFF_MIN, 3600, &u->backoff_max)) {
            fail(err, errlen, "backoff_max '%s' is not seconds (0.1-3600)", value);
            goto bad;
        }
    } else if (strcmp(name, "facility") == 0) {
        if (!applies(k, kind_is_syslog(k), name, "syslog", err, errlen))
            goto bad;
        if ((u->facility = tw_syslog_facility(value)) < 0) {
            fail(err, errlen, "unknown facility '%s'", value);
            goto bad;
        }
    } else if (strcmp(name, "severity") == 0) {
        if (!applies(k, kind_is_syslog(k), name, "syslog", err, errlen))
            goto bad;
        if ((u->severity = tw_syslog_severity(value)) < 0) {
            fail(err, errlen, "unknown severity '%s'", value);
            goto bad;
        }
    } else if (strcmp(name, "app") == 0) {
        if (!applies(k, kind_is_syslog(k), name, "syslog", err, errlen))
            goto bad;
        if (value[0] == '\0' || strlen(value) > 48) {
            fail(err, errlen, "app must be 1-48 characters");
            goto bad;
        }
        for (const char *p = value; *p; p++)
            if (*p <= ' ' || *p > '~' || *p == '[' || *p == ']' || *p == ':') {
                fail(err, errlen, "app '%s': printable ASCII without spaces, ':' or brackets",
                     value);
                goto bad;
            }
        free(u->app);
        u->app = value;
        value = NULL;
    } else if (strcmp(name, "proto") == 0) {
        if (!applies(k, k == TW_SINK_SYSLOG_UNIX, name, "syslog+unix", err, errlen))
            goto bad;
        if (strcmp(value, "5424") == 0)
            u->proto = TW_SYSLOG_5424;
        else if (strcmp(value, "3164") == 0)
            u->proto = TW_SYSLOG_3164_LOCAL;
        else {
            fail(err, errlen, "proto '%s' is not 5424 or 3164", value);
            goto bad;
        }
    } else if (strcmp(name, "mode") == 0) {
        if (!applies(k, k == TW_SINK_REDIS, name, "redis", err, errlen))
            goto bad;
        if (strcmp(value, "list") == 0)
            u->mode = TW_REDIS_LIST;
        else if (strcmp(value, "stream") == 0)
            u->mode = TW_REDIS_STREAM;
        else if (strcmp(value, "publish") == 0)
            u->mode = TW_REDIS_PUBLISH;
        else {
            fail(err, errlen, "mode '%s' is not list, stream or publish", value);
            goto bad;
        }
    } else if (strcmp(name, "password") == 0) {
        if (!applies(k, k == TW_SINK_REDIS, name, "redis", err, errlen))
            goto bad;
        free(u->password);
        u->password = value;
        value = NULL;
    } else if (strcmp(name, "db") == 0) {
        if (!applies(k, k == TW_SINK_REDIS, name, "redis", err, errlen))
            goto bad;
        if (!parse_uint(value, 0, 65535, &v)) {
            fail(err, errlen, "db '%s' is not a number", value);
            goto bad;
        }
        u->db = (int)v;
    } else if (strcmp(name, "maxlen") == 0) {
        if (!applies(k, k == TW_SINK_REDIS, name, "redis", err, errlen))
            goto bad;
        if (!parse_uint(value, 1, UINT64_MAX >> 1, &u->maxlen)) {
            fail(err, errlen, "maxlen '%s' is not a number", value);
            goto bad;
        }
    } else if (strcmp(name, "key") == 0) {
        if (!applies(k, k == TW_SINK_KAFKA, name, "kafka", err, errlen))
            goto bad;
        if (strcmp(value, "source") == 0)
            u->keyby = TW_KEY_SOURCE;
        else if (strcmp(value, "community_id") == 0)
            u->keyby = TW_KEY_COMMUNITY_ID;
        else {
            fail(err, errlen, "key '%s' is not source or community_id", value);
            goto bad;
        }
    } else if (k == TW_SINK_KAFKA) {
        /* Anything else is a librdkafka property; librdkafka judges it at open. */
        if (u->n_props == TW_SINK_MAX_PROPS) {
            fail(err, errlen, "more than %d librdkafka properties", TW_SINK_MAX_PROPS);
            goto bad;
        }
        u->props[u->n_props].name = name;
        u->props[u->n_props].value = value;
        u->n_props++;
        return 0;
    } else {
        fail(err, errlen, "unknown parameter '%s'", name);
        goto bad;
    }
    free(name);
    free(value);
    return 0;
bad:
    free(name);
    free(value);
    return TW_EINVAL;
}

static int parse_query(struct tw_sink_url *u, const char *q, char *err, size_t errlen)
{
    char seen[64][48];
    size_t n_seen = 0;

    if (*q == '\0')
        return fail(err, errlen, "empty parameter");
    for (;;) {
        const char *amp = strchr(q, '&');
        size_t n = amp != NULL ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        bool bad;
        char *name, *value;

        if (n == 0)
            return fail(err, errlen, "empty parameter");
        if (eq == NULL || eq == q)
            return fail(err, errlen, "parameter '%.*s' is not name=value", (int)n, q);
        name = decode(q, (size_t)(eq - q), &bad);
        if (name == NULL)
            return bad ? fail(err, errlen, "bad %%-escape in '%.*s'", (int)n, q) : TW_ENOMEM;
        value = decode(eq + 1, n - (size_t)(eq + 1 - q), &bad);
        if (value == NULL) {
            free(name);
            return bad ? fail(err, errlen, "bad %%-escape in '%.*s'", (int)n, q) : TW_ENOMEM;
        }
        for (size_t i = 0; i < n_seen; i++)
            if (strcmp(seen[i], name) == 0) {
                fail(err, errlen, "parameter '%s' given twice", name);
                free(name);
                free(value);
                return TW_EINVAL;
            }
        if (n_seen < TW_ARRAY_SIZE(seen) && strlen(name) < sizeof(seen[0]))
            memcpy(seen[n_seen++], name, strlen(name) + 1);
        int rc = param(u, name, value, err, errlen);
        if (rc != 0)
            return rc;
        q += n;
        if (*q == '\0')
            return 0;
        q++; /* the '&': another parameter follows */
    }
}

/* The text for messages: values of parameters whose name holds "password" shown as ***. */
static char *hide_secrets(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1), *o = out;
    const char *q = strchr(text, '?');

    if (out == NULL)
        return NULL;
    if (q == NULL || strstr(text, "://") == NULL) {
        memcpy(out, text, n + 1);
        return out;
    }
    memcpy(o, text, (size_t)(q - text) + 1);
    o += q - text + 1;
    q++;
    while (*q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        bool secret = false;
        for (const char *p = q; eq != NULL && p + 8 <= eq; p++)
            if (strncasecmp(p, "password", 8) == 0)
                secret = true;
        if (secret && (size_t)(eq + 1 - q) + 3 <= len) {
            memcpy(o, q, (size_t)(eq + 1 - q));
            o += eq + 1 - q;
            memcpy(o, "***", 3);
            o += 3;
        } else {
            memcpy(o, q, len);
            o += len;
        }
        q += len;
        if (*q == '&')
            *o++ = *q++;
    }
    *o = '\0';
    return out;
}

static bool topic_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '.' || *t == '_' || *t == '-'))
            return false;
    return true;
}

int tw_sink_url_parse(const char *text, struct tw_sink_url *u, char *err, size_t errlen)
{
    static const struct {
        const char *scheme;
        enum tw_sink_kind kind;
    } schemes[] = {
        {"file", TW_SINK_FILE},        {"syslog+udp", TW_SINK_SYSLOG_UDP},
        {"syslog+tcp", TW_SINK_SYSLOG_TCP}, {"syslog+unix", TW_SINK_SYSLOG_UNIX},
        {"kafka", TW_SINK_KAFKA},      {"redis", TW_SINK_REDIS},
    };
    const char *sep, *rest, *q, *slash;
    size_t rest_len;
    bool bad;
    int rc;

    memset(u, 0, sizeof(*u));
    u->events_all = -1;
    u->facility = u->severity = u->db = u->format = -1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if ((u->text = hide_secrets(text)) == NULL)
        return TW_ENOMEM;
    if (text[0] == '\0')
        return fail(err, errlen, "empty output");
    sep = strstr(text, "://");
    if (strcmp(text, "-") == 0 || sep == NULL) {
        u->kind = TW_SINK_FILE;
        u->plain_path = true;
        if (strcmp(text, "-") != 0 && (u->path = strdup(text)) == NULL)
            return TW_ENOMEM;
        return 0;
    }
    size_t i;
    for (i = 0; i < TW_ARRAY_SIZE(schemes); i++)
        if ((size_t)(sep - text) == strlen(schemes[i].scheme) &&
            strncasecmp(text, schemes[i].scheme, (size_t)(sep - text)) == 0)
            break;
    if (i == TW_ARRAY_SIZE(schemes))
        return fail(err, errlen, "unknown scheme '%.*s' (file, syslog+udp, syslog+tcp, "
                                 "syslog+unix, kafka, redis)",
                    (int)(sep - text), text);
    u->kind = schemes[i].kind;
    if (u->kind == TW_SINK_SYSLOG_UNIX)
        u->proto = TW_SYSLOG_3164_LOCAL;
    rest = sep + 3;
    q = strchr(rest, '?');
    rest_len = q != NULL ? (size_t)(q - rest) : strlen(rest);

    switch (u->kind) {
    case TW_SINK_FILE:
    case TW_SINK_SYSLOG_UNIX:
        if (rest_len == 0 || rest[0] != '/')
            return fail(err, errlen, "needs an absolute path (%s:///PATH)",
                        tw_sink_kind_name(u->kind));
        if ((u->path = decode(rest, rest_len, &bad)) == NULL)
            return bad ? fail(err, errlen, "bad %%-escape in the path") : TW_ENOMEM;
        if (u->kind == TW_SINK_SYSLOG_UNIX && strlen(u->path) >= 108)
            return fail(err, errlen, "socket path longer than 107 bytes");
        break;
    case TW_SINK_SYSLOG_UDP:
    case TW_SINK_SYSLOG_TCP:
        if (rest_len > 0 && rest[rest_len - 1] == '/')
            rest_len--;
        if (memchr(rest, '/', rest_len) != NULL)
            return fail(err, errlen, "no path expected after HOST:PORT");
        if ((rc = split_hostport(rest, rest_len, &u->host, &u->port, err, errlen)) != 0)
            return rc;
        if (u->port == NULL && (u->port = strdup("514")) == NULL)
            return TW_ENOMEM;
        break;
    case TW_SINK_REDIS:
        slash = memchr(rest, '/', rest_len);
        if (slash == NULL || slash + 1 == rest + rest_len)
            return fail(err, errlen, "needs a key (redis://HOST:PORT/KEY)");
        if ((rc = split_hostport(rest, (size_t)(slash - rest), &u->host, &u->port, err,
                                 errlen)) != 0)
            return rc;
        if (u->port == NULL && (u->port = strdup("6379")) == NULL)
            return TW_ENOMEM;
        if ((u->topic = decode(slash + 1, (size_t)(rest + rest_len - slash - 1), &bad)) == NULL)
            return bad ? fail(err, errlen, "bad %%-escape in the key") : TW_ENOMEM;
        break;
    case TW_SINK_KAFKA:
        slash = memchr(rest, '/', rest_len);
        if (slash == NULL || slash + 1 == rest + rest_len)
            return fail(err, errlen, "needs a topic (kafka://HOST:PORT[,HOST:PORT...]/TOPIC)");
        for (const char *b = rest; b < slash;) {
            const char *comma = memchr(b, ',', (size_t)(slash - b));
            const char *e = comma != NULL ? comma : slash;
            char *h, *p;
            if ((rc = split_hostport(b, (size_t)(e - b), &h, &p, err, errlen)) != 0)
                return rc;
            bool has_port = p != NULL;
            free(h);
            free(p);
            if (!has_port)
                return fail(err, errlen, "broker '%.*s' needs a port", (int)(e - b), b);
            b = comma != NULL ? comma + 1 : slash;
            if (comma != NULL && b == slash)
                return fail(err, errlen, "empty broker after ','");
        }
        if ((u->brokers = strndup(rest, (size_t)(slash - rest))) == NULL)
            return TW_ENOMEM;
        if ((u->topic = strndup(slash + 1, (size_t)(rest + rest_len - slash - 1))) == NULL)
            return TW_ENOMEM;
        if (!topic_ok(u->topic))
            return fail(err, errlen, "bad topic '%s' (1-249 of [A-Za-z0-9._-])", u->topic);
        break;
    }
    if (q != NULL && (rc = parse_query(u, q + 1, err, errlen)) != 0)
        return rc;
    return 0;
}

void tw_sink_url_free(struct tw_sink_url *u)
{
    free(u->text);
    free(u->path);
    free(u->host);
    free(u->port);
    free(u->brokers);
    free(u->topic);
    free(u->spool_dir);
    free(u->app);
    free(u->password);
    for (size_t i = 0; i < u->n_props; i++) {
        free(u->props[i].name);
        free(u->props[i].value);
    }
    memset(u, 0, sizeof(*u));
}
