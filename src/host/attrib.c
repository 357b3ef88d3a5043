/* SPDX-License-Identifier: MIT */
/*
 * The attribution stage. See attrib.h for the contract.
 *
 * One byte buffer used as a FIFO of records between two positions, head and tail (they only
 * grow; the offset in the buffer is the position modulo its size). Submitters append under the
 * mutex. The thread reads the records between head and a tail it sampled under the mutex
 * without holding it (nobody else writes there), works on every record whose next attempt is
 * due, and then, under the mutex, frees the finished records at the head. A record still
 * retrying keeps the space behind it allocated but not the work: the records after it are
 * attempted and sunk meanwhile.
 *
 *   record:  | len | kind | tries | done | t0_ns | due_ns | deep copy of the event ... |
 *   padding: | len | kind |  (to the end of the buffer: a record never wraps)
 */
#include "tunwatch/host/attrib.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AT_DEFAULT_QUEUE (1u << 20)
#define AT_MIN_QUEUE 1024
#define AT_MAX_TRY_MS 60000
#define AT_NO_DUE INT64_MAX

enum { REC_EVENT = 1, REC_PAD = 2 };

struct rec_hdr {
    uint32_t len; /* bytes, this header included; a multiple of 8 */
    uint32_t kind;
};

struct rec {
    struct rec_hdr h;
    uint32_t tries; /* attempts made */
    uint32_t done;  /* the sink has had it */
    int64_t t0_ns;  /* submission, CLOCK_MONOTONIC */
    int64_t due_ns; /* next attempt */
};

_Static_assert(sizeof(struct rec) % 8 == 0, "a record header keeps the event 8-byte aligned");

/* Counters only the thread writes; published into st under the mutex once per pass. */
struct at_thread_counts {
    uint64_t done, attributed, unattributed, not_local, responses, retries;
    uint64_t by_reason[TW_PM__COUNT];
};

struct tw_attrib {
    tw_attrib_sink sink;
    void *ctx;
    uint32_t try_ms[TW_ATTRIB_MAX_TRIES];
    unsigned n_tries;

    struct tw_procmap *pm;         /* the thread's only */
    struct tw_procmap_result *res; /* the thread's scratch */
    struct at_thread_counts tc;

    uint8_t *buf;
    size_t cap; /* a multiple of 8 */

    pthread_mutex_t lock;
    pthread_cond_t work;    /* a submission or stop: the thread looks again */
    pthread_cond_t drained; /* records freed: drain() looks again */
    uint64_t head, tail;    /* byte positions */
    uint64_t n_submitted, n_freed;
    bool stop;
    struct tw_attrib_stats st;
    pthread_t thread;
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct rec_hdr *hdr_at(const struct tw_attrib *a, uint64_t pos)
{
    return (struct rec_hdr *)(a->buf + pos % a->cap);
}

int tw_attrib_submit(struct tw_attrib *a, const struct tw_event *ev)
{
    size_t need = sizeof(struct rec) + tw_event_copy_size(ev);
    struct rec *r;
    size_t at, to_end, pad;

    pthread_mutex_lock(&a->lock);
    at = (size_t)(a->tail % a->cap);
    to_end = a->cap - at;
    pad = need > to_end ? to_end : 0;
    if (need > a->cap || (size_t)(a->tail - a->head) + pad + need > a->cap) {
        a->st.queue_full++;
        pthread_mutex_unlock(&a->lock);
        return TW_ENOMEM;
    }
    if (pad != 0) {
        struct rec_hdr *p = hdr_at(a, a->tail);
        p->len = (uint32_t)pad;
        p->kind = REC_PAD;
        a->tail += pad;
    }
    r = (struct rec *)hdr_at(a, a->tail);
    r->h.len = (uint32_t)need;
    r->h.kind = REC_EVENT;
    r->tries = 0;
    r->done = 0;
    r->t0_ns = mono_ns();
    r->due_ns = r->t0_ns + (int64_t)a->try_ms[0] * 1000000;
    tw_event_copy(r + 1, ev);
    a->tail += need;
    a->n_submitted++;
    a->st.submitted++;
    a->st.queued_bytes = a->tail - a->head;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    return 0;
}

static int lookup_side(struct tw_attrib *a, const struct tw_event *ev, bool src_is_local)
{
    if (src_is_local)
        return tw_procmap_lookup(a->pm, ev->l4_proto, ev->ip_version, ev->src_addr, ev->sport,
                                 ev->dst_addr, ev->dport, a->res);
    return tw_procmap_lookup(a->pm, ev->l4_proto, ev->ip_version, ev->dst_addr, ev->dport,
                             ev->src_addr, ev->sport, a->res);
}

/* One attempt for r. Sinks the event and sets r->done, or schedules the next attempt. */
static void attempt(struct tw_attrib *a, struct rec *r)
{
    struct tw_event *ev = (struct tw_event *)(r + 1);
    struct tw_proc *p = &ev->proc;
    bool src_local, dst_local, local_is_source;
    int rc;

    memset(p, 0, sizeof(*p));
    src_local = tw_procmap_is_local(a->pm, ev->ip_version, ev->src_addr);
    dst_local = tw_procmap_is_local(a->pm, ev->ip_version, ev->dst_addr);
    if (ev->category == TW_CAT_DNS) {
        /* A DNS response: its query's event names the process. Looked up, the client has
         * mostly closed the socket on reading the response, and the failed lookup (a dump)
         * delays the lookups and retries of the events behind it. */
        p->status = TW_PROC_NONE;
        a->tc.responses++;
        goto out_sink;
    }
    if (!src_local && !dst_local) {
        p->status = TW_PROC_NONE;
        a->tc.not_local++;
        goto out_sink;
    }

    /* Both sides local (loopback): the initiator's socket first, the responder's if the
     * initiator's is gone. */
    local_is_source = src_local;
    rc = lookup_side(a, ev, local_is_source);
    if (rc != 0 && src_local && dst_local && a->res->reason == TW_PM_NO_SOCKET) {
        local_is_source = false;
        rc = lookup_side(a, ev, false);
    }
    r->tries++;
    if (rc != 0 && tw_procmap_reason_transient(ev->l4_proto, a->res->reason) &&
        r->tries < a->n_tries) {
        r->due_ns = r->t0_ns + (int64_t)a->try_ms[r->tries] * 1000000;
        a->tc.retries++;
        return;
    }

    p->local_is_source = local_is_source;
    if (rc == 0) {
        p->status = TW_PROC_FOUND;
        p->pid = a->res->pid;
        p->uid = a->res->uid;
        p->image = a->res->image;
        p->user = a->res->user;
        p->comm = a->res->comm;
        a->tc.attributed++;
    } else {
        p->status = TW_PROC_UNATTRIBUTED;
        p->reason = a->res->reason_name;
        a->tc.unattributed++;
        a->tc.by_reason[a->res->reason]++;
    }

out_sink:
    a->sink(a->ctx, ev);
    /* The strings point into a->res: do not leave them behind in the queue. */
    memset(p, 0, sizeof(*p));
    a->tc.done++;
    r->done = 1;
}

/* Under the lock: frees the finished records at the head and publishes the counters. */
static void release(struct tw_attrib *a)
{
    while (a->head != a->tail) {
        struct rec_hdr *h = hdr_at(a, a->head);
        if (h->kind == REC_EVENT) {
            if (!((struct rec *)h)->done)
                break;
            a->n_freed++;
        }
        a->head += h->len;
    }
    a->st.done = a->tc.done;
    a->st.attributed = a->tc.attributed;
    a->st.unattributed = a->tc.unattributed;
    a->st.not_local = a->tc.not_local;
    a->st.responses = a->tc.responses;
    a->st.retries = a->tc.retries;
    memcpy(a->st.by_reason, a->tc.by_reason, sizeof(a->st.by_reason));
    a->st.queued_bytes = a->tail - a->head;
    tw_procmap_get_stats(a->pm, &a->st.procmap);
    pthread_cond_broadcast(&a->drained);
}

static void *attrib_thread(void *arg)
{
    struct tw_attrib *a = arg;

    pthread_mutex_lock(&a->lock);
    for (;;) {
        uint64_t pos = a->head, end = a->tail;
        int64_t next_due = AT_NO_DUE;

        pthread_mutex_unlock(&a->lock);
        int64_t now = mono_ns();
        while (pos != end) {
            struct rec_hdr *h = hdr_at(a, pos);
            if (h->kind == REC_EVENT) {
                struct rec *r = (struct rec *)h;
                if (!r->done && r->due_ns <= now) {
                    attempt(a, r);
                    now = mono_ns();
                }
                if (!r->done && r->due_ns < next_due)
                    next_due = r->due_ns;
            }
            pos += h->len;
        }
        pthread_mutex_lock(&a->lock);
        release(a);
        if (a->tail != end)
            continue; /* submitted meanwhile */
        if (a->stop && a->head == a->tail)
            break;
        if (next_due == AT_NO_DUE) {
            pthread_cond_wait(&a->work, &a->lock);
        } else if (next_due > mono_ns()) {
            struct timespec ts = {.tv_sec = next_due / 1000000000,
                                  .tv_nsec = next_due % 1000000000};
            pthread_cond_timedwait(&a->work, &a->lock, &ts);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

void tw_attrib_drain(struct tw_attrib *a)
{
    pthread_mutex_lock(&a->lock);
    uint64_t target = a->n_submitted;
    while (a->n_freed < target)
        pthread_cond_wait(&a->drained, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

void tw_attrib_get_stats(struct tw_attrib *a, struct tw_attrib_stats *out)
{
    pthread_mutex_lock(&a->lock);
    *out = a->st;
    pthread_mutex_unlock(&a->lock);
}

static bool config_ok(const struct tw_attrib_config *cfg)
{
    if (cfg == NULL || cfg->sink == NULL || cfg->n_tries > TW_ATTRIB_MAX_TRIES)
        return false;
    if (cfg->queue_bytes != 0 && cfg->queue_bytes < AT_MIN_QUEUE)
        return false;
    for (unsigned i = 0; i < cfg->n_tries; i++)
        if (cfg->try_ms[i] > AT_MAX_TRY_MS || (i > 0 && cfg->try_ms[i] < cfg->try_ms[i - 1]))
            return false;
    return true;
}

struct tw_attrib *tw_attrib_new(const struct tw_attrib_config *cfg)
{
    static const uint32_t default_tries[] = {0, 2, 10, 50};
    pthread_condattr_t ca;
    struct tw_attrib *a;
    int err;

    if (!config_ok(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->sink = cfg->sink;
    a->ctx = cfg->ctx;
    if (cfg->n_tries == 0) {
        memcpy(a->try_ms, default_tries, sizeof(default_tries));
        a->n_tries = TW_ARRAY_SIZE(default_tries);
    } else {
        memcpy(a->try_ms, cfg->try_ms, sizeof(a->try_ms));
        a->n_tries = cfg->n_tries;
    }
    a->cap = (cfg->queue_bytes != 0 ? cfg->queue_bytes : AT_DEFAULT_QUEUE) & ~(size_t)7;
    a->buf =
        aligned_alloc(TW_CACHE_LINE, (a->cap + TW_CACHE_LINE - 1) & ~(size_t)(TW_CACHE_LINE - 1));
    a->res = calloc(1, sizeof(*a->res));
    if (a->buf == NULL || a->res == NULL) {
        err = ENOMEM;
        goto out_free;
    }
    a->pm = tw_procmap_new(&cfg->procmap);
    if (a->pm == NULL) {
        err = errno;
        goto out_free;
    }

    err = pthread_mutex_init(&a->lock, NULL);
    if (err != 0)
        goto out_free;
    err = pthread_condattr_init(&ca);
    if (err != 0)
        goto out_mutex;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    err = pthread_cond_init(&a->work, &ca);
    pthread_condattr_destroy(&ca);
    if (err != 0)
        goto out_mutex;
    err = pthread_cond_init(&a->drained, NULL);
    if (err != 0)
        goto out_work;
    err = pthread_create(&a->thread, NULL, attrib_thread, a);
    if (err != 0)
        goto out_drained;
    return a;

out_drained:
    pthread_cond_destroy(&a->drained);
out_work:
    pthread_cond_destroy(&a->work);
out_mutex:
    pthread_mutex_destroy(&a->lock);
out_free:
    tw_procmap_free(a->pm);
    free(a->res);
    free(a->buf);
    free(a);
    errno = err;
    return NULL;
}

void tw_attrib_free(struct tw_attrib *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->drained);
    pthread_cond_destroy(&a->work);
    pthread_mutex_destroy(&a->lock);
    tw_procmap_free(a->pm);
    free(a->res);
    free(a->buf);
    free(a);
}
