/* SPDX-License-Identifier: MIT */
/*
 * The sink driver: file sinks write in the caller's thread; network sinks queue (bounded),
 * spool and send from a thread of their own with exponential backoff (sink.h).
 */
#include "tunwatch/output/sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sink_impl.h"
#include "tunwatch/base/common.h"

#define SPOOL_SEGMENT (1ull << 20)
#define IDLE_WAIT 0.1 /* seconds a sink thread waits for work between polls */
#define RBUF (TW_LINE_MAX + TW_REC_KEY_MAX + 2)

double tw_sink_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits on s->cond (lock held) until the monotonic time t at the latest. */
static void wait_until(struct tw_sink *s, double t)
{
    struct timespec ts;
    double now = tw_sink_now();

    if (t <= now)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double d = t - now;
    ts.tv_sec += (time_t)d;
    ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

/* Lock held: r could not go to the collector: spool it, or count it lost. */
static void spool_or_drop(struct tw_sink *s, const struct tw_rec *r)
{
    if (s->spool != NULL) {
        int rc = tw_spool_append(s->spool, r);
        if (rc == 0) {
            s->st.spooled++;
            return;
        }
        if (!s->spool_error_said) {
            fprintf(stderr, "tunwatch: %s: spool: %s (lines dropped, counted)\n", s->u.text,
                    rc == TW_ENOMEM ? "full (spool_max reached)" : strerror(errno));
            s->spool_error_said = true;
        }
    }
    s->st.dropped++;
    if (s->closing)
        s->st.left++;
}

void tw_sink_acked(struct tw_sink *s, uint64_t n)
{
    pthread_mutex_lock(&s->lock);
    s->st.sent += n;
    s->st.connected = true;
    pthread_mutex_unlock(&s->lock);
}

void tw_sink_nacked(struct tw_sink *s, const struct tw_rec *r, const char *why, bool purged)
{
    pthread_mutex_lock(&s->lock);
    if (!purged && s->st.failed == 0)
        fprintf(stderr, "tunwatch: %s: not delivered: %s\n", s->u.text, why);
    if (!purged)
        s->st.failed++;
    spool_or_drop(s, r);
    pthread_mutex_unlock(&s->lock);
}

static double next_backoff(const struct tw_sink *s, double b)
{
    return b <= 0 ? TW_SINK_BACKOFF_MIN : TW_MIN(b * 2, s->backoff_max);
}

static void *sink_main(void *arg)
{
    struct tw_sink *s = arg;
    char err[512], *buf = malloc(RBUF);
    struct tw_rec r = {0};
    bool have = false, from_spool = false, connected = false, ever = false, said = false;
    double backoff = 0, next_try = 0;

    if (buf == NULL) {
        fprintf(stderr, "tunwatch: %s: out of memory\n", s->u.text);
        return NULL;
    }
    for (;;) {
        double now = tw_sink_now();
        pthread_mutex_lock(&s->lock);
        bool stop = s->stop;
        double deadline = s->deadline;
        bool pending = have || tw_lineq_count(&s->q) > 0 ||
                       (s->spool != NULL && tw_spool_pending(s->spool) > 0);
        if (stop && (now >= deadline || (!pending && !connected))) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        if (!connected && now < next_try) {
            wait_until(s, stop ? TW_MIN(next_try, deadline) : next_try);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        pthread_mutex_unlock(&s->lock);

        if (!connected) {
            if (s->ops->connect(s, err, sizeof(err)) != 0) {
                if (!said)
                    fprintf(stderr, "tunwatch: %s: %s (retrying)\n", s->u.text, err);
                said = true;
                backoff = next_backoff(s, backoff);
                next_try = tw_sink_now() + backoff;
                continue;
            }
            connected = true;
            backoff = 0;
            pthread_mutex_lock(&s->lock);
            if (ever)
                s->st.reconnects++;
            s->st.connected = true;
            pthread_mutex_unlock(&s->lock);
            if (said)
                fprintf(stderr, "tunwatch: %s: connected\n", s->u.text);
            said = false;
            ever = true;
        }
        if (!have) {
            pthread_mutex_lock(&s->lock);
            if (tw_lineq_peek(&s->q, &r)) {
                /* Copied out: the queue's room is free for producers while this is sent. */
                memcpy(buf, r.key != NULL ? r.key : "", r.key_len);
                memcpy(buf + r.key_len, r.line, r.len);
                buf[r.key_len + r.len] = '\n';
                r.key = r.key_len > 0 ? buf : NULL;
                r.line = buf + r.key_len;
                tw_lineq_pop(&s->q);
                s->st.queued = tw_lineq_count(&s->q);
                have = true;
                from_spool = false;
            } else if (s->spool != NULL && tw_spool_peek(s->spool, &r, buf, RBUF) == 1) {
                have = true;
                from_spool = true;
            } else if (s->stop) {
                pthread_mutex_unlock(&s->lock);
                break; /* drained */
            } else if (s->ops->poll == NULL) {
                wait_until(s, tw_sink_now() + IDLE_WAIT);
            }
            pthread_mutex_unlock(&s->lock);
            if (!have) {
                if (s->ops->poll != NULL)
                    s->ops->poll(s, (int)(IDLE_WAIT * 1000));
                continue;
            }
        }
        enum tw_send_result rc = s->ops->send(s, &r, err, sizeof(err));
        pthread_mutex_lock(&s->lock);
        if (rc == TW_SEND_OK || rc == TW_SEND_REJECT) {
            if (from_spool)
                tw_spool_ack(s->spool);
            if (rc == TW_SEND_REJECT) {
                fprintf(stderr, "tunwatch: %s: line dropped: %s\n", s->u.text, err);
                s->st.dropped++;
            } else if (!s->ops->async) {
                s->st.sent++;
            }
            have = false;
        } else {
            if (s->st.failed == 0 || !said)
                fprintf(stderr, "tunwatch: %s: %s (retrying)\n", s->u.text, err);
            said = true;
            s->st.failed++;
            backoff = next_backoff(s, backoff);
            if (rc == TW_SEND_BROKEN) {
                connected = false;
                s->st.connected = false;
                next_try = tw_sink_now() + backoff;
            } else {
                wait_until(s, s->stop ? TW_MIN(tw_sink_now() + backoff, s->deadline)
                                      : tw_sink_now() + backoff);
            }
        }
        if (rc == TW_SEND_OK)
            backoff = 0;
        pthread_mutex_unlock(&s->lock);
        if (rc == TW_SEND_BROKEN)
            s->ops->disconnect(s);
        else if (s->ops->poll != NULL)
            s->ops->poll(s, 0);
    }
    if (connected && s->ops->drain != NULL) {
        double left = s->deadline - tw_sink_now();
        pthread_mutex_lock(&s->lock);
        s->closing = true; /* purged records count as left */
        pthread_mutex_unlock(&s->lock);
        s->ops->drain(s, left > 0 ? left : 0);
    }
    if (connected)
        s->ops->disconnect(s);
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    s->st.connected = false;
    if (have && !from_spool)
        spool_or_drop(s, &r);
    while (tw_lineq_peek(&s->q, &r)) {
        spool_or_drop(s, &r);
        tw_lineq_pop(&s->q);
    }
    s->st.queued = 0;
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return NULL;
}

/* A folder name for a sink below --spool-dir: its URL without the query, odd bytes as '_'. */
static char *spool_name(const char *base, const struct tw_sink_url *u)
{
    char name[200];
    size_t n = 0;
    const char *t = u->text;

    for (; *t != '\0' && *t != '?' && n + 1 < sizeof(name); t++) {
        char c = *t;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-';
        if (!ok && n > 0 && name[n - 1] == '_')
            continue;
        name[n++] = ok ? c : '_';
    }
    name[n] = '\0';
    size_t len = strlen(base) + 1 + n + 1;
    char *p = malloc(len);
    if (p != NULL)
        snprintf(p, len, "%s/%s", base, name);
    return p;
}

int tw_sink_open(struct tw_sink_url *u, const struct tw_sink_defaults *d, struct tw_sink **out,
                 char *err, size_t errlen)
{
    struct tw_sink *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (s == NULL) {
        tw_sink_url_free(u);
        snprintf(err, errlen, "out of memory");
        return TW_ENOMEM;
    }
    s->u = *u;
    memset(u, 0, sizeof(*u));
    s->events = s->u.events_all >= 0 ? s->u.events_all == 1
                                     : (s->u.kind == TW_SINK_FILE && d->events);
    s->format = s->u.format >= 0 ? (enum tw_format)s->u.format : d->format;
    if (s->u.kind == TW_SINK_FILE) {
        rc = tw_sink_file_open(s, d, err, errlen);
        if (rc != 0)
            goto out_free;
        *out = s;
        return 0;
    }
    switch (s->u.kind) {
    case TW_SINK_KAFKA:
        s->ops = &tw_sink_kafka_ops;
        break;
    case TW_SINK_REDIS:
        s->ops = &tw_sink_redis_ops;
        break;
    default:
        s->ops = &tw_sink_syslog_ops;
        break;
    }
    s->backoff_max = s->u.backoff_max > 0 ? s->u.backoff_max
                     : d->backoff_max > 0 ? d->backoff_max
                                          : TW_SINK_BACKOFF_MAX;
    rc = tw_lineq_init(&s->q, s->u.queue_bytes ? s->u.queue_bytes
                              : d->queue_bytes  ? d->queue_bytes
                                                : TW_SINK_QUEUE_BYTES,
                       s->u.queue_lines ? s->u.queue_lines
                       : d->queue_lines ? d->queue_lines
                                        : TW_SINK_QUEUE_LINES);
    if (rc != 0) {
        snprintf(err, errlen, "cannot allocate its queue");
        goto out_free;
    }
    if (s->u.spool_dir != NULL || d->spool_dir != NULL) {
        char *dir = s->u.spool_dir != NULL ? strdup(s->u.spool_dir)
                                           : spool_name(d->spool_dir, &s->u);
        uint64_t max = s->u.spool_max ? s->u.spool_max
                       : d->spool_max ? d->spool_max
                                      : TW_SINK_SPOOL_MAX;
        if (dir == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = TW_ENOMEM;
            goto out_queue;
        }
        if (s->u.spool_dir == NULL && mkdir(d->spool_dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "spool %s: %s", d->spool_dir, strerror(errno));
            free(dir);
            rc = TW_EIO;
            goto out_queue;
        }
        char serr[512];
        s->spool = tw_spool_open(dir, max, TW_MIN(SPOOL_SEGMENT, max / 4 + 1), serr,
                                 sizeof(serr));
        free(dir);
        if (s->spool == NULL) {
            snprintf(err, errlen, "spool: %s", serr);
            rc = TW_EIO;
            goto out_queue;
        }
        s->st.spool_pending = tw_spool_pending(s->spool);
    }
    rc = s->ops->init(s, err, errlen);
    if (rc != 0)
        goto out_spool;
    pthread_mutex_init(&s->lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    atomic_init(&s->stopping, false);
    if (pthread_create(&s->thread, NULL, sink_main, s) != 0) {
        snprintf(err, errlen, "cannot start its thread");
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        s->ops->destroy(s);
        rc = TW_ENOMEM;
        goto out_spool;
    }
    s->started = true;
    *out = s;
    return 0;
out_spool:
    tw_spool_close(s->spool);
out_queue:
    tw_lineq_destroy(&s->q);
out_free:
    tw_sink_url_free(&s->u);
    free(s);
    return rc;
}

void tw_sink_write(struct tw_sink *s, const char *line, size_t len, const struct tw_sink_meta *m)
{
    if (s->ops == NULL) {
        tw_sink_file_write(s, line, len, m->alert ? TW_LINE_ALERT : TW_LINE_EVENT);
        return;
    }
    enum tw_sink_keyby by;
    const char *key = !tw_sink_keyed(s, &by) ? NULL
                      : by == TW_KEY_COMMUNITY_ID ? m->community_id
                                                  : m->source;
    struct tw_rec r = {.line = line,
                       .len = len,
                       .key = key,
                       .key_len = key != NULL ? TW_MIN(strlen(key), TW_REC_KEY_MAX) : 0,
                       .alert = m->alert,
                       .severity = (uint8_t)(m->severity & 7)};
    pthread_mutex_lock(&s->lock);
    if (s->stop) {
        s->st.dropped++; /* written after close began: cannot happen in a run */
    } else if ((s->spool == NULL || tw_spool_pending(s->spool) == 0) &&
               tw_lineq_push(&s->q, &r)) {
        s->st.queued = tw_lineq_count(&s->q);
        pthread_cond_signal(&s->cond);
    } else {
        /* Full, or the spool holds older lines: behind them, to keep the order. */
        spool_or_drop(s, &r);
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

bool tw_sink_keyed(const struct tw_sink *s, enum tw_sink_keyby *by)
{
    *by = s->u.keyby;
    return s->ops != NULL; /* network sinks keep the key with each record; kafka sends it */
}

bool tw_sink_wants_events(const struct tw_sink *s)
{
    return s->events;
}

enum tw_format tw_sink_format(const struct tw_sink *s)
{
    return s->format;
}

const char *tw_sink_name(const struct tw_sink *s)
{
    return s->u.kind == TW_SINK_FILE && s->u.plain_path
               ? (s->u.path != NULL ? s->u.path : "stdout")
               : s->u.text;
}

int tw_sink_flush(struct tw_sink *s)
{
    return s->ops == NULL && s->file_open ? tw_outfile_flush(&s->file) : 0;
}

int tw_sink_error(const struct tw_sink *s)
{
    return s->ops == NULL ? atomic_load_explicit(&s->file.err, memory_order_relaxed) : 0;
}

int tw_sink_reopen(struct tw_sink *s)
{
    if (s->ops != NULL || s->u.path == NULL)
        return 0;
    return tw_outfile_reopen(&s->file, s->u.path);
}

void tw_sink_get_stats(struct tw_sink *s, struct tw_sink_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (s->ops == NULL)
        return;
    if (s->started)
        pthread_mutex_lock(&s->lock);
    *st = s->st;
    if (s->spool != NULL)
        st->spool_pending = tw_spool_pending(s->spool);
    if (s->started)
        pthread_mutex_unlock(&s->lock);
}

int tw_sink_close(struct tw_sink *s, double deadline)
{
    if (s->ops == NULL) {
        int rc = 0;
        if (s->file_open) {
            rc = tw_outfile_close(&s->file);
            s->file_open = false;
        }
        return rc;
    }
    if (!s->started)
        return 0;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    s->deadline = tw_sink_now() + deadline;
    atomic_store(&s->stopping, true);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->started = false;
    s->ops->destroy(s);
    if (s->spool != NULL) {
        s->st.spool_pending = tw_spool_pending(s->spool);
        if (tw_spool_close(s->spool) != 0)
            fprintf(stderr, "tunwatch: %s: closing the spool: %s\n", s->u.text,
                    strerror(errno));
        s->spool = NULL;
    }
    tw_lineq_destroy(&s->q);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    return 0;
}

void tw_sink_free(struct tw_sink *s)
{
    if (s == NULL)
        return;
    if (s->started || s->file_open)
        tw_sink_close(s, 0);
    tw_sink_url_free(&s->u);
    free(s);
}
