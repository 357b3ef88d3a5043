/* SPDX-License-Identifier: MIT */
#include "tunwatch/run/sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tunwatch/host/attrib.h"
#include "tunwatch/inspect/answers.h"
#include "tunwatch/proto/dns.h"
#include "tunwatch/capture/dpdk.h"
#include "tunwatch/match/evqueue.h"
#include "tunwatch/run/ring.h"
#include "tunwatch/output/json.h"
#include "tunwatch/output/output.h"
#include "tunwatch/match/rules.h"
#include "tunwatch/match/suppress.h"

#define BURST 256
/* Bursts taken from one live source before looking at the others and at signals. */
#define LIVE_BURSTS 16
/* Events held while the rules load at start: about 100k events, then the packet path waits. */
#define PENDING_BYTES (32u << 20)
#define SUPPRESS_KEYS 65536 /* (rule, source, name) windows tracked at once */
#define POLL_MS 100
#define POLL_MS_POLLED 1 /* with a source that has no descriptor (DPDK): poll it often */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

void tw_sensor_request_stop(void)
{
    stop_requested = 1;
}

void tw_sensor_request_reload(void)
{
    reload_requested = 1;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Rules load and compile on their own thread, off the packet path: at start (events found
 * meanwhile wait in a bounded queue and are matched in order once the matcher is ready, so
 * the output is the same as with the rules loaded first) and on reload (the old rules keep
 * matching until the new set is complete, then it is swapped in between two bursts).
 */
struct rules_loader {
    pthread_t thread;
    struct tw_matchers_config cfg; /* what to load */
    struct tw_matchers *m;         /* the result */
    int rc;           /* 0, or TW_ENOMEM */
    atomic_bool done; /* set by the loader when rc is final */
    bool running;     /* started and not yet joined */
};

static void *load_rules(void *arg)
{
    struct rules_loader *l = arg;

    l->rc = tw_matchers_load(&l->cfg, stderr, &l->m);
    atomic_store_explicit(&l->done, true, memory_order_release);
    return NULL;
}

/* Starts loading a new bundle of rules, indicators and exclusions. 0 (a failed thread start
 * loads here and now). */
static int loader_start(struct rules_loader *l, const struct tw_sensor_config *cfg,
                        bool process_fields)
{
    l->cfg = cfg->match;
    l->cfg.process_fields = process_fields;
    l->m = NULL;
    atomic_init(&l->done, false);
    if (pthread_create(&l->thread, NULL, load_rules, l) != 0) {
        load_rules(l); /* no thread: load here */
        l->running = false;
        return 0;
    }
    l->running = true;
    return 0;
}

static bool loader_done(const struct rules_loader *l)
{
    return atomic_load_explicit(&l->done, memory_order_acquire);
}

static void loader_join(struct rules_loader *l)
{
    if (l->running) {
        pthread_join(l->thread, NULL);
        l->running = false;
    }
}

struct source {
    const struct tw_capture_ops *ops;
    struct tw_capture *cap;
    const char *name;
    int linktype;
};

/* Where one thread's events go: the match stage, then the output (its own line buffer and
 * counters; the FILE and the suppression table are shared). */
struct sink {
    struct tw_match match;
    struct tw_output out;
};

/* Totals a run reports, gathered from the one engine or from every worker. */
struct totals {
    struct tw_engine_stats es;
    struct tw_flow_table_stats fs;
    uint32_t stream_high_water;
    uint64_t alerts, events_written, lines_dropped, excluded, suppressed;
    uint64_t events_seen[TW_CAT__COUNT];
};

/*
 * A packet worker: its own engine (flow table, reassembly buffers, counters) fed through a
 * lock-free ring by the reading thread, which sends both directions of a flow to the same
 * worker (symmetric flow hash). Its output shares the sensor's FILE; stdio writes each line
 * under the stream lock, so lines never interleave. Counters are published as a snapshot
 * (under a mutex, twice a second) for the stats and the summary.
 */
struct worker {
    pthread_t thread;
    struct sensor *s;
    unsigned idx;
    struct tw_ring ring;
    struct tw_engine *eng;
    struct sink sink;
    _Atomic uint64_t epoch; /* bumped after every batch: reload waits on it */
    uint64_t ring_full;     /* reader: frames that waited (file) or were dropped (live) */
    pthread_mutex_t lock;
    struct totals snap;     /* published under lock */
    struct tw_capture_stats cap_snap[TW_MAX_SOURCES]; /* fanout mode, under lock */
    bool started;
    /* Fanout mode: the worker reads its own AF_PACKET sockets, one per interface. */
    struct source src[TW_MAX_SOURCES];
    size_t n_src;
    char names[TW_MAX_SOURCES][64];
    int linktype;
    atomic_bool failed;
    char errmsg[512];
};

struct sensor {
    const struct tw_sensor_config *cfg;
    struct tw_capture_opts cap; /* cfg->cap, immediate when processes are attributed */
    bool fanout;           /* live workers read their own AF_PACKET fanout sockets */
    atomic_bool stop_workers;
    tw_frame_fn frame_fn;  /* on_frame (one engine here) or spread_frame (workers) */
    struct worker *workers;
    unsigned n_workers;
    uint64_t worker_drops; /* live frames dropped because a worker's ring was full */
    /* Reader in front of workers: UDP DNS answers go into the cache here, in capture order. */
    struct tw_dns_msg feed_msg;
    struct tw_dns_answers *feed_answers;
    struct source src[TW_MAX_SOURCES];
    size_t n_src;
    bool live;
    int linktype; /* of the source being dispatched */
    struct tw_engine *eng;
    struct tw_anscache *anscache; /* host-wide, shared by every worker */
    struct tw_outfile file;   /* the output stream all outputs share */
    bool file_open;
    struct sink sink;
    struct tw_matchers *matchers; /* in use (NULL until the first load is complete) */
    struct rules_loader loader;
    bool loading;             /* loader holds a set not yet in use */
    bool first_load;          /* the loader's set is the first one: events are queued */
    bool failed;              /* the first load ran out of memory */
    struct tw_evqueue pending;
    /* Process attribution (endpoint): events go through its thread, which matches and writes
     * them with an output of its own. NULL when off. */
    struct tw_attrib *attrib;
    struct sink attr_sink;
    _Atomic uint64_t attr_queue_full; /* events written unattributed: its queue was full */
    struct tw_suppress *suppress;     /* alert suppression windows, shared; NULL: off */
    pthread_mutex_t attr_lock;        /* guards attr_snap */
    struct totals attr_snap;          /* attr_sink's counters (match and output only) */
    FILE *stats_fp;
    uint64_t reloads, reload_failures;
    double t0, last_flush, last_stats, last_progress;
    bool show_progress;
};

/* ---- rules ---- */

/* The match stage, then the output: the event line (--events), then its alert lines. */
static void sink_event(struct sink *k, const struct tw_event *ev)
{
    tw_output_event(&k->out, ev);
    tw_match_event(&k->match, ev, tw_output_alert, &k->out);
}

/*
 * An event leaves the engine: straight to matching and output, or, with process attribution,
 * to the attribution thread, which matches and writes it once the process is known. When its
 * queue is full the event is written here and now, marked unattributed: never lost.
 */
static void deliver(struct sensor *s, struct sink *k, const struct tw_event *ev)
{
    if (s->attrib != NULL) {
        if (tw_attrib_submit(s->attrib, ev) == 0)
            return;
        struct tw_event e2 = *ev;
        e2.proc = (struct tw_proc){.status = TW_PROC_UNATTRIBUTED,
                                   .reason = TW_ATTRIB_REASON_QUEUE_FULL};
        atomic_fetch_add_explicit(&s->attr_queue_full, 1, memory_order_relaxed);
        sink_event(k, &e2);
        return;
    }
    sink_event(k, ev);
}

static void deliver_main(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;
    deliver(s, &s->sink, ev);
}

/* The attribution thread's sink: match, write, publish the counters for the stats. */
static void attributed(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;
    struct tw_match *m = &s->attr_sink.match;
    struct tw_output *o = &s->attr_sink.out;

    sink_event(&s->attr_sink, ev);
    pthread_mutex_lock(&s->attr_lock);
    s->attr_snap.alerts = m->alerts;
    s->attr_snap.excluded = m->excluded;
    s->attr_snap.suppressed = m->suppressed;
    s->attr_snap.events_written = o->events_written;
    s->attr_snap.lines_dropped = o->lines_dropped;
    memcpy(s->attr_snap.events_seen, o->events_seen, sizeof(o->events_seen));
    pthread_mutex_unlock(&s->attr_lock);
}

/* Publishes bundle m to every output (NULL: no matching). */
static void publish(struct sensor *s, const struct tw_matchers *m)
{
    atomic_store_explicit(&s->sink.match.matchers, m, memory_order_release);
    atomic_store_explicit(&s->attr_sink.match.matchers, m, memory_order_release);
    for (unsigned i = 0; i < s->n_workers; i++)
        atomic_store_explicit(&s->workers[i].sink.match.matchers, m, memory_order_release);
}

/* Puts a completed load in place (or refuses it) and matches the events that waited. */
static void rules_take(struct sensor *s)
{
    struct tw_ruleset_stats st = {0};

    loader_join(&s->loader);
    s->loading = false;
    if (s->loader.m != NULL)
        tw_ruleset_get_stats(s->loader.m->rules, &st);
    if (s->first_load) {
        s->first_load = false;
        if (s->loader.rc != 0)
            s->failed = true;
        else
            s->matchers = s->loader.m;
        publish(s, s->matchers);
        tw_evqueue_drain(&s->pending, deliver_main, s);
        tw_evqueue_destroy(&s->pending);
        if (!s->failed && st.loaded == 0)
            fprintf(stderr, "tunwatch: warning: no rule loaded; only --events output is possible\n");
        return;
    }
    /* A reload that could not read every file keeps the bundle in use. */
    if (s->loader.rc != 0 || s->loader.m->errors > 0) {
        s->reload_failures++;
        fprintf(stderr,
                "tunwatch: rules reload failed (%s), keeping the rules in use\n",
                s->loader.rc != 0 ? "out of memory"
                                  : "a rule, indicator or exclusion file could not be read or parsed");
        tw_matchers_free(s->loader.m);
        return;
    }
    struct tw_matchers *old = s->matchers;
    s->matchers = s->loader.m;
    publish(s, s->matchers);
    if (s->n_workers > 0) {
        /* Workers match concurrently: free the old bundle only once each has finished the
         * batch it was in when the new one was published. */
        uint64_t seen[TW_MAX_WORKERS];
        for (unsigned i = 0; i < s->n_workers; i++)
            seen[i] = atomic_load_explicit(&s->workers[i].epoch, memory_order_acquire);
        for (unsigned i = 0; i < s->n_workers; i++)
            while (atomic_load_explicit(&s->workers[i].epoch, memory_order_acquire) == seen[i])
                sched_yield();
    }
    /* The attribution thread matches too: once what it held when the new bundle was
     * published has been written, it can only be using the new one. */
    if (s->attrib != NULL)
        tw_attrib_drain(s->attrib);
    /* Without workers matching runs on this thread only, between bursts. */
    tw_matchers_free(old);
    s->reloads++;
    fprintf(stderr, "tunwatch: rules reloaded: %zu loaded, %zu skipped, %zu files with errors\n",
            st.loaded, st.skipped, s->matchers->errors);
}

static void on_event(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;

    if (s->first_load) {
        if (!loader_done(&s->loader) && tw_evqueue_push(&s->pending, ev) == 0)
            return;
        rules_take(s); /* loaded, or the queue is full: wait for the loader */
    }
    deliver(s, &s->sink, ev);
}

static void on_frame(void *ctx, const struct tw_frame *f)
{
    struct sensor *s = ctx;
    tw_engine_frame(s->eng, s->linktype, f);
}

/* ---- workers ---- */

struct frame_rec {
    int64_t ts_sec;
    uint32_t ts_nsec;
    uint32_t caplen;
    uint32_t wirelen;
    int32_t linktype;
};

#define RING_BYTES (8u << 20)
#define WORKER_BATCH 256

static void engine_totals(const struct tw_engine *eng, const struct sink *k, struct totals *t)
{
    const struct tw_output *out = &k->out;

    tw_engine_get_stats(eng, &t->es, &t->fs, &t->stream_high_water);
    t->alerts = k->match.alerts;
    t->excluded = k->match.excluded;
    t->suppressed = k->match.suppressed;
    t->events_written = out->events_written;
    t->lines_dropped = out->lines_dropped;
    memcpy(t->events_seen, out->events_seen, sizeof(t->events_seen));
}

static void worker_publish(struct worker *w)
{
    struct totals t;

    engine_totals(w->eng, &w->sink, &t);
    pthread_mutex_lock(&w->lock);
    w->snap = t;
    pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    double last = now_mono();
    const struct timespec idle = {.tv_sec = 0, .tv_nsec = 50000};

    for (;;) {
        unsigned n = 0;
        const uint8_t *rec;
        size_t len;

        while (n < WORKER_BATCH && (rec = tw_ring_peek(&w->ring, &len)) != NULL) {
            struct frame_rec h;
            memcpy(&h, rec, sizeof(h));
            struct tw_frame f = {.ts_sec = h.ts_sec, .ts_nsec = h.ts_nsec, .caplen = h.caplen,
                                 .wirelen = h.wirelen, .data = rec + sizeof(h)};
            tw_engine_frame(w->eng, h.linktype, &f);
            tw_ring_release(&w->ring);
            n++;
        }
        atomic_fetch_add_explicit(&w->epoch, 1, memory_order_release);
        double t = now_mono();
        if (t - last >= 0.5) {
            worker_publish(w);
            last = t;
        }
        if (n == 0) {
            if (tw_ring_finished(&w->ring))
                break;
            nanosleep(&idle, NULL);
        }
    }
    tw_engine_flush(w->eng); /* flows still open at the end of the capture */
    worker_publish(w);
    return NULL;
}

static void worker_frame(void *ctx, const struct tw_frame *f)
{
    struct worker *w = ctx;
    tw_engine_frame(w->eng, w->linktype, f);
}

static void worker_publish_capture(struct worker *w)
{
    struct tw_capture_stats cs[TW_MAX_SOURCES];

    for (size_t i = 0; i < w->n_src; i++)
        w->src[i].ops->stats(w->src[i].cap, &cs[i]);
    pthread_mutex_lock(&w->lock);
    memcpy(w->cap_snap, cs, w->n_src * sizeof(cs[0]));
    pthread_mutex_unlock(&w->lock);
}

/* Fanout mode: the kernel hands this worker its share of the flows; no reader in between. */
static void *worker_capture_main(void *arg)
{
    struct worker *w = arg;
    struct pollfd pfd[TW_MAX_SOURCES];
    double last = now_mono();
    bool stopping = false;

    int idle_ms = POLL_MS;
    bool any = false;

    for (size_t i = 0; i < w->n_src; i++) {
        pfd[i].fd = w->src[i].ops->selectable_fd(w->src[i].cap);
        pfd[i].events = POLLIN;
        if (pfd[i].fd < 0)
            idle_ms = POLL_MS_POLLED; /* DPDK: nothing to wait on, poll the queue often */
    }
    for (;;) {
        stopping = atomic_load_explicit(&w->s->stop_workers, memory_order_acquire);
        if (!stopping)
            poll(pfd, w->n_src, any ? 0 : idle_ms);
        any = false;
        for (size_t i = 0; i < w->n_src; i++) {
            struct source *src = &w->src[i];
            w->linktype = src->linktype;
            for (int b = 0; b < LIVE_BURSTS; b++) {
                int n = src->ops->dispatch(src->cap, BURST, worker_frame, w, w->errmsg,
                                           sizeof(w->errmsg));
                if (n < 0) {
                    atomic_store_explicit(&w->failed, true, memory_order_release);
                    goto out;
                }
                if (n == 0)
                    break;
                any = true;
            }
        }
        atomic_fetch_add_explicit(&w->epoch, 1, memory_order_release);
        double t = now_mono();
        if (t - last >= 0.5) {
            worker_publish(w);
            worker_publish_capture(w);
            last = t;
        }
        if (stopping && !any) {
            tw_engine_flush(w->eng); /* flows still open when the capture stops */
            break; /* what the rings held when the stop came has been read */
        }
    }
out:
    worker_publish(w);
    worker_publish_capture(w);
    return NULL;
}

/* Capture counters of interface i, summed over the workers' sockets in fanout mode. */
static void source_stats(struct sensor *s, size_t i, struct tw_capture_stats *cs)
{
    if (!s->fanout) {
        s->src[i].ops->stats(s->src[i].cap, cs);
        return;
    }
    memset(cs, 0, sizeof(*cs));
    for (unsigned w = 0; w < s->n_workers; w++) {
        pthread_mutex_lock(&s->workers[w].lock);
        const struct tw_capture_stats *c = &s->workers[w].cap_snap[i];
        cs->frames += c->frames;
        cs->received += c->received;
        cs->dropped += c->dropped;
        cs->ifdropped += c->ifdropped;
        pthread_mutex_unlock(&s->workers[w].lock);
    }
}

/* Symmetric: both directions of a flow give the same value. */
static uint64_t flow_spread_hash(const struct tw_pkt *p)
{
    uint64_t a = 0, b = 0, w;

    for (int i = 0; i < 16; i += 8) {
        memcpy(&w, p->src + i, 8);
        a = (a ^ w) * 0x9e3779b97f4a7c15ULL;
        memcpy(&w, p->dst + i, 8);
        b = (b ^ w) * 0x9e3779b97f4a7c15ULL;
    }
    a ^= p->sport;
    b ^= p->dport;
    a *= 0xbf58476d1ce4e5b9ULL;
    b *= 0xbf58476d1ce4e5b9ULL;
    w = (a + b) ^ p->l4_proto;
    w ^= w >> 31;
    w *= 0x94d049bb133111ebULL;
    return w ^ (w >> 29);
}

/* One DNS message from the reader: its answers go into the cache when it is a response. */
static void store_message(struct sensor *s, const struct tw_pkt *p, const uint8_t *msg,
                          size_t len, int64_t ts)
{
    struct tw_dns_msg *m = &s->feed_msg;
    int off = tw_dns_parse(msg, len, m);
    unsigned stored = 0;

    /* The response goes to the client: its destination is the querier. */
    if (off >= 0 && m->qr)
        tw_answers_learn(s->anscache, m, msg, len, (size_t)off, s->feed_answers, p->ip_version,
                         p->dst, ts, NULL, NULL, &stored);
}

/*
 * Reader side, several workers: the answers of a DNS response are stored before the frame is
 * handed out, so they are in the cache before any worker sees the connection that follows
 * (the worker that gets the response only reports its CNAME targets). Over TCP the reader
 * keeps no stream state: it stores the responses a segment holds whole from its first byte
 * (the usual case); a response split across segments is stored by its worker alone.
 * Malformed messages are left for the worker, which counts them.
 */
static void store_answers(struct sensor *s, const struct tw_pkt *p, int64_t ts)
{
    const uint8_t *b = p->payload, *msg;
    size_t n = p->payload_len, len;
    int rc;

    if (p->l4_proto == 17) {
        store_message(s, p, b, n, ts);
        return;
    }
    while ((rc = tw_dns_tcp_frame(b, n, &msg, &len)) > 0) {
        store_message(s, p, msg, len, ts);
        b += rc;
        n -= (size_t)rc;
    }
}

/* Reader side: sends a frame to the worker that owns its flow. */
static void spread_frame(void *ctx, const struct tw_frame *f)
{
    struct sensor *s = ctx;
    struct tw_decode_stats scratch; /* the worker decodes again and counts */
    struct tw_pkt p;
    unsigned wi = 0;
    struct worker *w;
    uint8_t *dst;

    memset(&scratch, 0, sizeof(scratch));
    if (tw_decode(s->linktype, f->data, f->caplen, f->wirelen, &p, &scratch) == 0) {
        wi = (unsigned)(flow_spread_hash(&p) % s->n_workers);
        if (s->feed_answers != NULL && p.sport == 53 && p.payload_len > 0)
            store_answers(s, &p, f->ts_sec);
    }
    w = &s->workers[wi];
    while ((dst = tw_ring_reserve(&w->ring, sizeof(struct frame_rec) + f->caplen)) == NULL) {
        w->ring_full++;
        if (s->live) {
            /* Never block the capture: the drop is counted and reported. */
            s->worker_drops++;
            return;
        }
        sched_yield();
    }
    struct frame_rec h = {.ts_sec = f->ts_sec, .ts_nsec = f->ts_nsec, .caplen = f->caplen,
                          .wirelen = f->wirelen, .linktype = s->linktype};
    memcpy(dst, &h, sizeof(h));
    memcpy(dst + sizeof(h), f->data, f->caplen);
    tw_ring_commit(&w->ring);
}

static void workers_stop(struct sensor *s)
{
    atomic_store_explicit(&s->stop_workers, true, memory_order_release);
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        if (w->started) {
            if (!s->fanout)
                tw_ring_close(&w->ring);
            pthread_join(w->thread, NULL);
            w->started = false;
        }
    }
}

static void workers_free(struct sensor *s)
{
    workers_stop(s);
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        for (size_t k = 0; k < w->n_src; k++)
            if (w->src[k].cap != NULL)
                w->src[k].ops->close(w->src[k].cap);
        tw_engine_free(w->eng);
        tw_ring_destroy(&w->ring);
        pthread_mutex_destroy(&w->lock);
    }
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
}

static int workers_alloc(struct sensor *s, unsigned n)
{
    s->workers = calloc(n, sizeof(*s->workers));
    if (s->workers == NULL)
        return TW_ENOMEM;
    s->n_workers = n;
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &s->workers[i];
        w->s = s;
        w->idx = i;
        pthread_mutex_init(&w->lock, NULL);
        atomic_init(&w->epoch, 0);
        atomic_init(&w->failed, false);
    }
    return 0;
}

static void worker_event(void *ctx, const struct tw_event *ev)
{
    struct worker *w = ctx;
    deliver(w->s, &w->sink, ev);
}

static int workers_start(struct sensor *s, const struct tw_engine_config *base, unsigned n)
{
    if (s->workers == NULL && workers_alloc(s, n) != 0)
        return TW_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &s->workers[i];
        struct tw_engine_config c = *base;

        w->sink.out.file = &s->file;
        w->sink.out.events = s->sink.out.events;
        w->sink.match.suppress = s->suppress;
        atomic_init(&w->sink.match.matchers, s->matchers);
        /* The configured capacities are for the whole sensor. */
        c.flow_capacity = TW_MAX(base->flow_capacity / n, 1024u);
        c.stream_buffers = base->stream_buffers / n;
        c.flow_id_first = i + 1;
        c.flow_id_stride = n;
        c.sink = worker_event;
        c.sink_ctx = w;
        if ((!s->fanout && tw_ring_init(&w->ring, RING_BYTES) != 0) ||
            (w->eng = tw_engine_new(&c)) == NULL)
            return TW_ENOMEM;
        if (pthread_create(&w->thread, NULL, s->fanout ? worker_capture_main : worker_main,
                           w) != 0)
            return TW_ENOMEM;
        w->started = true;
    }
    return 0;
}

/* Everything the run counted so far. */
static void gather_workers(struct sensor *s, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        struct totals snap;
        pthread_mutex_lock(&w->lock);
        snap = w->snap;
        pthread_mutex_unlock(&w->lock);
        tw_engine_stats_add(&t->es, &snap.es);
        t->fs.created += snap.fs.created;
        t->fs.evicted += snap.fs.evicted;
        t->fs.expired += snap.fs.expired;
        t->fs.active += snap.fs.active;
        t->fs.capacity += snap.fs.capacity;
        t->stream_high_water += snap.stream_high_water;
        t->alerts += snap.alerts;
        t->excluded += snap.excluded;
        t->suppressed += snap.suppressed;
        t->events_written += snap.events_written;
        t->lines_dropped += snap.lines_dropped;
        for (int c = 0; c < TW_CAT__COUNT; c++)
            t->events_seen[c] += snap.events_seen[c];
    }
}

static void gather(struct sensor *s, struct totals *t)
{
    if (s->n_workers == 0)
        engine_totals(s->eng, &s->sink, t);
    else
        gather_workers(s, t);
    if (s->attrib != NULL) {
        pthread_mutex_lock(&s->attr_lock);
        t->alerts += s->attr_snap.alerts;
        t->excluded += s->attr_snap.excluded;
        t->suppressed += s->attr_snap.suppressed;
        t->events_written += s->attr_snap.events_written;
        t->lines_dropped += s->attr_snap.lines_dropped;
        for (int c = 0; c < TW_CAT__COUNT; c++)
            t->events_seen[c] += s->attr_snap.events_seen[c];
        pthread_mutex_unlock(&s->attr_lock);
    }
}

/* ---- files ---- */

static FILE *open_log(const char *path, bool truncate)
{
    return fopen(path, truncate ? "w" : "a");
}

static char obuf[1 << 20];

/* Reopens the output (log rotation): the new file is opened before the old one is closed,
 * so a failure keeps the old one and loses nothing. */
static void reopen_files(struct sensor *s)
{
    const struct tw_sensor_config *cfg = s->cfg;

    if (cfg->out_path != NULL && strcmp(cfg->out_path, "-") != 0) {
        int e = tw_outfile_reopen(&s->file, cfg->out_path);
        if (e != 0)
            fprintf(stderr, "tunwatch: reopening %s: %s (still writing to the old file)\n",
                    cfg->out_path, strerror(e));
    }
    if (cfg->stats_path != NULL && s->stats_fp != NULL) {
        FILE *fp = open_log(cfg->stats_path, false);
        if (fp == NULL) {
            fprintf(stderr, "tunwatch: reopening %s: %s\n", cfg->stats_path, strerror(errno));
        } else {
            fclose(s->stats_fp);
            s->stats_fp = fp;
        }
    }
}

static int write_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n;

    if (fd < 0)
        return -1;
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return close(fd);
}

/*
 * Process attribution reads other users' /proc/PID/fd and /proc/PID/exe: after the switch it
 * keeps CAP_SYS_PTRACE (ptrace read access to those files) and CAP_DAC_READ_SEARCH, and
 * nothing else: no way back to root, no packet or network administration rights.
 */
static int keep_attribution_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    uint64_t keep = (1ull << CAP_SYS_PTRACE) | (1ull << CAP_DAC_READ_SEARCH);

    memset(data, 0, sizeof(data));
    data[0].permitted = data[0].effective = (uint32_t)keep;
    data[1].permitted = data[1].effective = (uint32_t)(keep >> 32);
    return (int)syscall(SYS_capset, &hdr, data);
}

static int drop_privileges(const char *user, bool attribution)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL) {
        fprintf(stderr, "tunwatch: -u %s: no such user\n", user);
        return -1;
    }
    if (attribution && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) {
        fprintf(stderr, "tunwatch: -u %s: cannot keep capabilities: %s\n", user, strerror(errno));
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "tunwatch: -u %s: cannot switch user: %s\n", user, strerror(errno));
        return -1;
    }
    if (attribution) {
        prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
        if (keep_attribution_caps() != 0)
            fprintf(stderr, "tunwatch: -u %s: cannot keep CAP_SYS_PTRACE for process "
                            "attribution (%s): only %s's processes will be named\n",
                    user, strerror(errno), user);
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        fprintf(stderr, "tunwatch: -u %s: root privileges could be regained, refusing to run\n",
                user);
        return -1;
    }
    return 0;
}

/* ---- reporting ---- */

static void progress(struct sensor *s)
{
    struct tw_capture_stats cs;
    struct totals t;
    double el = now_mono() - s->t0, share = 0, eta = 0;

    s->src[0].ops->stats(s->src[0].cap, &cs);
    gather(s, &t);
    if (cs.bytes_total > 0) {
        share = (double)cs.bytes_done / (double)cs.bytes_total;
        if (share > 0)
            eta = el / share - el;
    }
    fprintf(stderr, "\r%5.1f%%  %8.0f pkt/s  %llu alerts  %4.0fs left ", share * 100,
            el > 0 ? (double)t.es.packets / el : 0.0, (unsigned long long)t.alerts, eta);
}

/* One stats line (JSON) for --stats-interval. */
static void write_stats(struct sensor *s)
{
    static char line[8192];
    struct tw_jb jb;
    struct totals t;
    struct tw_counter an[64];
    struct timespec now;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    gather(s, &t);
    tw_jb_init(&jb, line, sizeof(line) - 1);
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "type");
    tw_jb_lit(&jb, "\"stats\"");
    tw_jb_key(&jb, "timestamp");
    tw_jb_time(&jb, now.tv_sec, (uint32_t)now.tv_nsec);
    tw_jb_key(&jb, "uptime_s");
    tw_jb_u64(&jb, (uint64_t)(now_mono() - s->t0));
    tw_jb_key(&jb, "packets");
    tw_jb_u64(&jb, t.es.packets);
    tw_jb_key(&jb, "bytes");
    tw_jb_u64(&jb, t.es.bytes);
    tw_jb_key(&jb, "capture");
    tw_jb_raw(&jb, "[", 1);
    for (size_t i = 0; i < s->n_src; i++) {
        struct tw_capture_stats cs;
        source_stats(s, i, &cs);
        if (i > 0)
            tw_jb_raw(&jb, ",", 1);
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "source");
        tw_jb_cstr(&jb, s->src[i].name);
        tw_jb_key(&jb, "frames");
        tw_jb_u64(&jb, cs.frames);
        tw_jb_key(&jb, "received");
        tw_jb_u64(&jb, cs.received);
        tw_jb_key(&jb, "dropped");
        tw_jb_u64(&jb, cs.dropped);
        tw_jb_key(&jb, "ifdropped");
        tw_jb_u64(&jb, cs.ifdropped);
        tw_jb_raw(&jb, "}", 1);
    }
    tw_jb_raw(&jb, "]", 1);
    tw_jb_key(&jb, "workers");
    tw_jb_raw(&jb, "[", 1);
    for (unsigned i = 0; i < TW_MAX(s->n_workers, 1u); i++) {
        uint64_t pk = t.es.packets, fl = t.fs.active;
        if (s->n_workers > 0) {
            pthread_mutex_lock(&s->workers[i].lock);
            pk = s->workers[i].snap.es.packets;
            fl = s->workers[i].snap.fs.active;
            pthread_mutex_unlock(&s->workers[i].lock);
        }
        if (i > 0)
            tw_jb_raw(&jb, ",", 1);
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "worker");
        tw_jb_u64(&jb, i);
        tw_jb_key(&jb, "packets");
        tw_jb_u64(&jb, pk);
        tw_jb_key(&jb, "flows_active");
        tw_jb_u64(&jb, fl);
        tw_jb_raw(&jb, "}", 1);
    }
    tw_jb_raw(&jb, "]", 1);
    tw_jb_key(&jb, "worker_ring_drops");
    tw_jb_u64(&jb, s->worker_drops);
    tw_jb_key(&jb, "flows");
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "active");
    tw_jb_u64(&jb, t.fs.active);
    tw_jb_key(&jb, "capacity");
    tw_jb_u64(&jb, t.fs.capacity);
    tw_jb_key(&jb, "created");
    tw_jb_u64(&jb, t.fs.created);
    tw_jb_key(&jb, "evicted");
    tw_jb_u64(&jb, t.fs.evicted);
    tw_jb_key(&jb, "expired");
    tw_jb_u64(&jb, t.fs.expired);
    tw_jb_raw(&jb, "}", 1);
    tw_jb_key(&jb, "names");
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "dns_query");
    tw_jb_u64(&jb, t.events_seen[TW_CAT_DNS_QUERY]);
    tw_jb_key(&jb, "network_connection");
    tw_jb_u64(&jb, t.events_seen[TW_CAT_NETWORK_CONNECTION]);
    tw_jb_raw(&jb, "}", 1);
    tw_jb_key(&jb, "alerts");
    tw_jb_u64(&jb, t.alerts);
    tw_jb_key(&jb, "alerts_excluded");
    tw_jb_u64(&jb, t.excluded);
    tw_jb_key(&jb, "alerts_suppressed");
    tw_jb_u64(&jb, t.suppressed);
    if (s->attrib != NULL) {
        struct tw_attrib_stats ast;
        tw_attrib_get_stats(s->attrib, &ast);
        tw_jb_key(&jb, "processes");
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "attributed");
        tw_jb_u64(&jb, ast.attributed);
        tw_jb_key(&jb, "unattributed");
        tw_jb_u64(&jb, ast.unattributed);
        tw_jb_key(&jb, "not_local");
        tw_jb_u64(&jb, ast.not_local);
        tw_jb_key(&jb, "queue_full");
        tw_jb_u64(&jb, atomic_load(&s->attr_queue_full));
        tw_jb_key(&jb, "retries");
        tw_jb_u64(&jb, ast.retries);
        tw_jb_key(&jb, "proc_scans");
        tw_jb_u64(&jb, ast.procmap.proc_scans);
        tw_jb_key(&jb, "unattributed_by_reason");
        tw_jb_raw(&jb, "{", 1);
        for (unsigned r = 1; r < TW_PM__COUNT; r++) {
            tw_jb_key(&jb, tw_procmap_reason_name((enum tw_procmap_reason)r));
            tw_jb_u64(&jb, ast.by_reason[r]);
        }
        tw_jb_raw(&jb, "}}", 2);
    }
    tw_jb_key(&jb, "rule_reloads");
    tw_jb_u64(&jb, s->reloads);
    tw_jb_key(&jb, "rule_reload_failures");
    tw_jb_u64(&jb, s->reload_failures);
    tw_jb_key(&jb, "anomalies");
    tw_jb_raw(&jb, "{", 1);
    n = tw_engine_anomalies(&t.es, an, TW_ARRAY_SIZE(an));
    for (size_t i = 0; i < n && i < TW_ARRAY_SIZE(an); i++) {
        tw_jb_key(&jb, an[i].name);
        tw_jb_u64(&jb, an[i].value);
    }
    tw_jb_key(&jb, "output_lines_dropped");
    tw_jb_u64(&jb, t.lines_dropped);
    tw_jb_raw(&jb, "}}\n", 3);
    if (jb.overflow)
        return;
    FILE *fp = s->stats_fp != NULL ? s->stats_fp : stderr;
    if (fwrite(line, 1, jb.len, fp) != jb.len || fflush(fp) != 0)
        fprintf(stderr, "tunwatch: writing stats: %s\n", strerror(errno));
}

static void summary(struct sensor *s, double secs)
{
    struct totals t;
    struct tw_ruleset_stats rs = {0};
    struct tw_counter an[64];
    const struct tw_engine_stats *st = &t.es;
    const struct tw_flow_table_stats *fs = &t.fs;
    const struct tw_decode_stats *d = &t.es.decode;
    unsigned printed = 0;
    size_t n;

    gather(s, &t);
    if (s->matchers != NULL)
        tw_ruleset_get_stats(s->matchers->rules, &rs);
    fprintf(stderr,
            "tunwatch: %llu packets, %llu bytes in %.3f s (%.0f packets/s, %.3f Gbit/s)\n",
            (unsigned long long)st->packets, (unsigned long long)st->bytes, secs,
            secs > 0 ? (double)st->packets / secs : 0.0,
            secs > 0 ? (double)st->bytes * 8 / secs / 1e9 : 0.0);
    for (size_t i = 0; s->live && i < s->n_src; i++) {
        struct tw_capture_stats cs;
        source_stats(s, i, &cs);
        fprintf(stderr, "  capture %s: %llu frames, kernel received %llu, dropped %llu, "
                        "interface dropped %llu\n",
                s->src[i].name, (unsigned long long)cs.frames, (unsigned long long)cs.received,
                (unsigned long long)cs.dropped, (unsigned long long)cs.ifdropped);
    }
    fprintf(stderr,
            "  rules: %zu loaded, %zu skipped, %zu files with errors; %llu reloads, %llu failed\n"
            "  decode: eth %llu vlan %llu sll %llu raw %llu null/loop %llu tunnel %llu "
            "ipv4 %llu ipv6 %llu tcp %llu (pure ack %llu) udp %llu\n",
            rs.loaded, rs.skipped, rs.errors, (unsigned long long)s->reloads,
            (unsigned long long)s->reload_failures, (unsigned long long)d->eth,
            (unsigned long long)d->vlan, (unsigned long long)d->sll, (unsigned long long)d->raw,
            (unsigned long long)d->null_loop, (unsigned long long)d->tunnel,
            (unsigned long long)d->ipv4, (unsigned long long)d->ipv6, (unsigned long long)d->tcp,
            (unsigned long long)st->tcp_pure_ack, (unsigned long long)d->udp);
    fprintf(stderr,
            "  names: %llu dns_query %llu network_connection (dns requests %llu, responses %llu; "
            "tls hellos %llu, with sni %llu, without %llu, ech %llu, reassembled %llu, "
            "after a preamble %llu; http connect %llu, proxy protocol %llu)\n"
            "  alerts: %llu (excluded %llu, suppressed %llu)  events written: %llu\n"
            "  flows: %llu created, %u active of %u, %llu evicted, %llu expired, %llu mid-stream, "
            "%llu port reuse; reassembly buffers high water %u\n",
            (unsigned long long)t.events_seen[TW_CAT_DNS_QUERY],
            (unsigned long long)t.events_seen[TW_CAT_NETWORK_CONNECTION],
            (unsigned long long)st->dns_queries, (unsigned long long)st->dns_responses,
            (unsigned long long)st->tls_hellos, (unsigned long long)st->tls_sni,
            (unsigned long long)st->tls_no_sni, (unsigned long long)st->tls_ech,
            (unsigned long long)st->tls_multi_segment, (unsigned long long)st->tls_after_preamble,
            (unsigned long long)st->http_connect, (unsigned long long)st->proxy_protocol,
            (unsigned long long)t.alerts, (unsigned long long)t.excluded,
            (unsigned long long)t.suppressed,
            (unsigned long long)t.events_written,
            (unsigned long long)fs->created, fs->active, fs->capacity,
            (unsigned long long)fs->evicted, (unsigned long long)fs->expired,
            (unsigned long long)st->midstream, (unsigned long long)st->tcp_port_reuse, t.stream_high_water);
    if (s->anscache != NULL) {
        struct tw_anscache_stats as;
        tw_anscache_get_stats(s->anscache, &as);
        fprintf(stderr,
                "  dns answer cache: %u of %u entries, %llu learnt, %llu hits, %llu misses, "
                "%llu expired, %llu evicted; %llu flows named from it\n",
                as.entries, as.capacity, (unsigned long long)st->dns_answers_learnt,
                (unsigned long long)as.hits, (unsigned long long)as.misses,
                (unsigned long long)as.expired, (unsigned long long)as.evicted,
                (unsigned long long)st->answer_named_flows);
    }
    if (s->attrib != NULL) {
        struct tw_attrib_stats ast;
        tw_attrib_get_stats(s->attrib, &ast);
        fprintf(stderr,
                "  processes: %llu events attributed, %llu unattributed, %llu not local, "
                "%llu written unattributed (queue full)",
                (unsigned long long)ast.attributed, (unsigned long long)ast.unattributed,
                (unsigned long long)ast.not_local,
                (unsigned long long)atomic_load(&s->attr_queue_full));
        const char *sep = ";";
        for (unsigned r = 1; r < TW_PM__COUNT; r++) {
            if (ast.by_reason[r] == 0)
                continue;
            fprintf(stderr, "%s %s %llu", sep, tw_procmap_reason_name((enum tw_procmap_reason)r),
                    (unsigned long long)ast.by_reason[r]);
            sep = ",";
        }
        fprintf(stderr, "\n");
    }
    /* Frames that are simply not for us (ARP, ICMP, ...) apart from real anomalies. The
     * decode reasons come first in tw_engine_anomalies(), in enum order. */
    n = tw_engine_anomalies(st, an, TW_ARRAY_SIZE(an));
    fprintf(stderr, "  not inspected:");
    for (unsigned r = 0; r < TW_DR__COUNT && r < n; r++) {
        if (an[r].value == 0 || !tw_decode_reason_is_benign((enum tw_decode_reason)r))
            continue;
        fprintf(stderr, " %s %llu", an[r].name, (unsigned long long)an[r].value);
        printed++;
    }
    if (printed == 0)
        fprintf(stderr, " none");
    printed = 0;
    fprintf(stderr, "\n  skipped/anomalies:");
    for (size_t i = 0; i < n && i < TW_ARRAY_SIZE(an); i++) {
        if (an[i].value == 0 ||
            (i < TW_DR__COUNT && tw_decode_reason_is_benign((enum tw_decode_reason)i)))
            continue;
        fprintf(stderr, " %s %llu", an[i].name, (unsigned long long)an[i].value);
        printed++;
    }
    if (t.lines_dropped != 0) {
        fprintf(stderr, " output_lines_dropped %llu", (unsigned long long)t.lines_dropped);
        printed++;
    }
    if (printed == 0)
        fprintf(stderr, " none");
    fprintf(stderr, "\n");
}

/* ---- the run ---- */

/*
 * Fanout mode: every worker opens its own share of every interface. AF_PACKET: one socket per
 * interface in that interface's fanout group; the kernel's symmetric flow hash gives each
 * flow, both directions, to one worker (group ids are per network namespace: derived from the
 * pid). DPDK: one RX queue per worker ("dpdk:PORT/QUEUE/NQUEUES"), spread by symmetric RSS.
 */
static int open_fanout(struct sensor *s)
{
    const struct tw_sensor_config *cfg = s->cfg;
    char err[512];

    if (workers_alloc(s, cfg->workers) != 0) {
        fprintf(stderr, "tunwatch: out of memory\n");
        return -1;
    }
    for (unsigned wi = 0; wi < s->n_workers; wi++) {
        struct worker *w = &s->workers[wi];
        for (size_t i = 0; i < cfg->n_interfaces; i++) {
            unsigned group = ((unsigned)getpid() * TW_MAX_SOURCES + (unsigned)i) & 0xffffu;
            struct source *src = &w->src[i];
            if (tw_dpdk_is_source(cfg->interfaces[i])) {
                if (tw_dpdk_queue_source(cfg->interfaces[i], wi, s->n_workers, w->names[i],
                                         sizeof(w->names[i])) != 0) {
                    fprintf(stderr, "tunwatch: %s: cannot be split into %u queues\n",
                            cfg->interfaces[i], s->n_workers);
                    return -1;
                }
                src->ops = &tw_capture_dpdk;
            } else {
                snprintf(w->names[i], sizeof(w->names[i]), "%s@%u", cfg->interfaces[i], group);
                src->ops = &tw_capture_afpacket;
            }
            src->name = w->names[i];
            if (src->ops->open(src->name, &s->cap, &src->cap, err, sizeof(err)) != 0) {
                fprintf(stderr, "tunwatch: %s\n", err);
                return -1;
            }
            w->n_src = i + 1;
            src->linktype = src->ops->linktype(src->cap);
        }
    }
    return 0;
}

static int open_sources(struct sensor *s)
{
    const struct tw_sensor_config *cfg = s->cfg;
    char err[512];

    if (cfg->read_file != NULL) {
        s->src[0] = (struct source){.ops = &tw_capture_pcap_file, .name = cfg->read_file};
        s->n_src = 1;
    } else {
        for (size_t i = 0; i < cfg->n_interfaces; i++) {
            const char *name = cfg->interfaces[i];
            s->src[i] = (struct source){
                .ops = tw_dpdk_is_source(name) ? &tw_capture_dpdk : &tw_capture_pcap_live,
                .name = name};
        }
        s->n_src = cfg->n_interfaces;
        s->live = true;
        s->fanout = cfg->workers > 1;
        for (size_t i = 0; i < cfg->n_interfaces; i++)
            if (strcmp(cfg->interfaces[i], "any") == 0)
                s->fanout = false; /* AF_PACKET fanout needs one interface per group */
    }
    if (s->fanout)
        return open_fanout(s);
    for (size_t i = 0; i < s->n_src; i++) {
        struct source *src = &s->src[i];
        if (src->ops->open(src->name, &s->cap, &src->cap, err, sizeof(err)) != 0) {
            fprintf(stderr, "tunwatch: %s\n", err);
            return -1;
        }
        src->linktype = src->ops->linktype(src->cap);
        if (!tw_decode_linktype_supported(src->linktype)) {
            fprintf(stderr, "tunwatch: %s: link type %d is not supported\n", src->name,
                    src->linktype);
            return -1;
        }
    }
    return 0;
}

/* Work that happens between bursts: signals, a finished rule load, flushing, stats. */
static void between_bursts(struct sensor *s)
{
    double t;

    if (reload_requested && !s->first_load && !s->loading) {
        reload_requested = 0;
        reopen_files(s);
        if (loader_start(&s->loader, s->cfg, s->attrib != NULL) == 0)
            s->loading = true;
        else
            fprintf(stderr, "tunwatch: rules reload: out of memory\n");
    }
    if (s->loading && loader_done(&s->loader))
        rules_take(s);
    t = now_mono();
    if (s->live && t - s->last_flush >= 1.0) {
        /* Alerts reach the file within a second on a live sensor. */
        tw_outfile_flush(&s->file);
        s->last_flush = t;
    }
    if (s->cfg->stats_interval > 0 && t - s->last_stats >= s->cfg->stats_interval) {
        write_stats(s);
        s->last_stats = t;
    }
    if (s->show_progress && t - s->last_progress >= 0.5) {
        progress(s);
        s->last_progress = t;
    }
}

static bool output_failed(const struct sensor *s)
{
    return atomic_load_explicit(&s->file.err, memory_order_relaxed) != 0;
}

static int run_file(struct sensor *s)
{
    char err[512];
    struct source *src = &s->src[0];

    s->linktype = src->linktype;
    while (!stop_requested) {
        int n = src->ops->dispatch(src->cap, BURST, s->frame_fn, s, err, sizeof(err));
        if (n == TW_EOF)
            return 0;
        if (n < 0) {
            fprintf(stderr, "tunwatch: %s: %s\n", src->name, err);
            return 1;
        }
        if (output_failed(s) || s->failed)
            return 0;
        between_bursts(s);
    }
    return 0;
}

static int run_live(struct sensor *s)
{
    struct pollfd pfd[TW_MAX_SOURCES];
    char err[512];

    int idle_ms = POLL_MS;
    bool busy = false;

    for (size_t i = 0; i < s->n_src; i++) {
        pfd[i].fd = s->src[i].ops->selectable_fd(s->src[i].cap);
        pfd[i].events = POLLIN;
        if (pfd[i].fd < 0)
            idle_ms = POLL_MS_POLLED;
    }
    while (!stop_requested) {
        /* EINTR (a signal) and timeouts both lead to a round over every source: a
         * TPACKET_V3 block may hold packets without the descriptor being readable. */
        if (poll(pfd, s->n_src, busy ? 0 : idle_ms) < 0 && errno != EINTR) {
            fprintf(stderr, "tunwatch: poll: %s\n", strerror(errno));
            return 1;
        }
        busy = false;
        for (size_t i = 0; i < s->n_src && !stop_requested; i++) {
            struct source *src = &s->src[i];
            s->linktype = src->linktype;
            for (int b = 0; b < LIVE_BURSTS; b++) {
                int n = src->ops->dispatch(src->cap, BURST, s->frame_fn, s, err, sizeof(err));
                if (n < 0) {
                    fprintf(stderr, "tunwatch: %s: %s\n", src->name, err);
                    return 1;
                }
                if (n == 0)
                    break;
                busy = true;
            }
        }
        if (output_failed(s) || s->failed)
            return 0;
        between_bursts(s);
    }
    return 0;
}

/* Fanout mode: the workers capture; this thread watches signals, reloads, stats. */
static int run_fanout(struct sensor *s)
{
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = POLL_MS * 1000000L};

    while (!stop_requested) {
        nanosleep(&tick, NULL);
        for (unsigned i = 0; i < s->n_workers; i++)
            if (atomic_load_explicit(&s->workers[i].failed, memory_order_acquire)) {
                fprintf(stderr, "tunwatch: worker %u: %s\n", i, s->workers[i].errmsg);
                return 1;
            }
        if (output_failed(s))
            return 0;
        between_bursts(s);
    }
    return 0;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: poll returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a closed output is reported as EPIPE */
}

/* Process attribution: asked for, or (auto) live capture from this host's own interfaces,
 * where the traffic is this host's. Files and DPDK ports are someone else's traffic. */
static bool want_attribution(const struct tw_sensor_config *cfg)
{
    if (cfg->local_processes >= 0)
        return cfg->local_processes > 0;
    if (cfg->read_file != NULL || cfg->n_interfaces == 0)
        return false;
    for (size_t i = 0; i < cfg->n_interfaces; i++)
        if (tw_dpdk_is_source(cfg->interfaces[i]))
            return false;
    return true;
}

int tw_sensor_run(const struct tw_sensor_config *cfg)
{
    static struct sensor sensor; /* holds the 64 KiB output line buffer */
    struct sensor *s = &sensor;
    struct tw_engine_config ecfg = cfg->eng;
    int status = 1;
    bool pid_written = false, attribution;

    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->cap = cfg->cap;
    attribution = want_attribution(cfg);
    /* A short-lived client is gone within milliseconds: frames must reach the attribution
     * as they arrive, not when a capture buffer fills or its timeout expires. */
    if (attribution)
        s->cap.immediate = true;
    install_signals();
    if (open_sources(s) != 0)
        goto out_sources;

    {
        FILE *fp = stdout;
        const char *path = "stdout";
        if (cfg->out_path != NULL && strcmp(cfg->out_path, "-") != 0) {
            /* A replay writes a fresh file; a live sensor appends to its log. */
            fp = open_log(cfg->out_path, !s->live);
            path = cfg->out_path;
            if (fp == NULL) {
                fprintf(stderr, "tunwatch: %s: %s\n", cfg->out_path, strerror(errno));
                goto out_sources;
            }
        }
        setvbuf(fp, obuf, _IOFBF, sizeof(obuf));
        if (tw_outfile_init(&s->file, fp, path) != 0) {
            fprintf(stderr, "tunwatch: out of memory\n");
            if (fp != stdout)
                fclose(fp);
            goto out_sources;
        }
        s->file_open = true;
        s->sink.out.file = &s->file;
    }
    s->sink.out.events = cfg->events;
    if (cfg->suppress_secs > 0) {
        s->suppress = tw_suppress_new(cfg->suppress_secs, SUPPRESS_KEYS);
        if (s->suppress == NULL) {
            fprintf(stderr, "tunwatch: out of memory\n");
            goto out_output;
        }
        s->sink.match.suppress = s->suppress;
    }
    if (cfg->stats_path != NULL) {
        s->stats_fp = open_log(cfg->stats_path, false);
        if (s->stats_fp == NULL) {
            fprintf(stderr, "tunwatch: %s: %s\n", cfg->stats_path, strerror(errno));
            goto out_output;
        }
    }
    if (cfg->pid_path != NULL) {
        if (write_pid_file(cfg->pid_path) != 0) {
            fprintf(stderr, "tunwatch: %s: %s\n", cfg->pid_path, strerror(errno));
            goto out_output;
        }
        pid_written = true;
    }
    /* Everything that needs privileges is open: give them up before reading a packet. The
     * pid file goes to the new user so that it can remove it at exit. */
    if (cfg->user != NULL) {
        struct passwd *pw = getpwnam(cfg->user);
        if (pw != NULL && pid_written && chown(cfg->pid_path, pw->pw_uid, pw->pw_gid) != 0)
            fprintf(stderr, "tunwatch: %s: %s\n", cfg->pid_path, strerror(errno));
        if (drop_privileges(cfg->user, attribution) != 0)
            goto out_output;
    }

    if (attribution) {
        /* Started after the switch to -u USER, so that its thread has the capabilities
         * drop_privileges() kept (capabilities are per thread). */
        struct tw_attrib_config ac = {.sink = attributed, .ctx = s, .queue_bytes = 4u << 20};
        s->attr_sink.out.file = &s->file;
        s->attr_sink.out.events = cfg->events;
        s->attr_sink.match.suppress = s->suppress;
        pthread_mutex_init(&s->attr_lock, NULL);
        s->attrib = tw_attrib_new(&ac);
        if (s->attrib == NULL) {
            fprintf(stderr, "tunwatch: cannot start process attribution: %s\n",
                    strerror(errno));
            pthread_mutex_destroy(&s->attr_lock);
            goto out_output;
        }
    }
    if (tw_evqueue_init(&s->pending, PENDING_BYTES) != 0 ||
        loader_start(&s->loader, cfg, s->attrib != NULL) != 0) {
        fprintf(stderr, "tunwatch: out of memory\n");
        goto out_output;
    }
    s->first_load = true;
    s->loading = true;
    if (cfg->dns_cache > 0) {
        struct tw_anscache_config ac = TW_ANSCACHE_CONFIG_DEFAULT;
        ac.capacity = cfg->dns_cache;
        s->anscache = tw_anscache_new(&ac);
        if (s->anscache == NULL) {
            fprintf(stderr, "tunwatch: cannot allocate a DNS answer cache of %u entries\n",
                    cfg->dns_cache);
            loader_join(&s->loader);
            tw_matchers_free(s->loader.m);
            tw_evqueue_destroy(&s->pending);
            goto out_output;
        }
        ecfg.anscache = s->anscache;
        if (cfg->workers > 1 && !s->fanout) {
            s->feed_answers = malloc(sizeof(*s->feed_answers));
            if (s->feed_answers == NULL) {
                fprintf(stderr, "tunwatch: out of memory\n");
                loader_join(&s->loader);
                tw_matchers_free(s->loader.m);
                tw_evqueue_destroy(&s->pending);
                goto out_output;
            }
            ecfg.udp_answers_stored = true;
        }
    }
    if (cfg->workers > 1) {
        /* Workers start with the matcher in place (no queue of early events). */
        rules_take(s);
        if (s->failed) {
            fprintf(stderr, "tunwatch: out of memory loading rules\n");
            goto out_output;
        }
        s->frame_fn = spread_frame;
        if (workers_start(s, &ecfg, cfg->workers) != 0) {
            fprintf(stderr, "tunwatch: cannot start %u workers (%u flows, %u reassembly "
                            "buffers in all)\n",
                    cfg->workers, ecfg.flow_capacity, ecfg.stream_buffers);
            goto out_workers;
        }
    } else {
        s->frame_fn = on_frame;
        ecfg.sink = on_event;
        ecfg.sink_ctx = s;
        s->eng = tw_engine_new(&ecfg);
        if (s->eng == NULL) {
            fprintf(stderr, "tunwatch: cannot allocate %u flows and %u reassembly buffers\n",
                    ecfg.flow_capacity, ecfg.stream_buffers);
            loader_join(&s->loader);
            tw_matchers_free(s->loader.m);
            tw_evqueue_destroy(&s->pending);
            goto out_output;
        }
    }
    s->show_progress = !cfg->quiet && !s->live && isatty(STDERR_FILENO);
    s->t0 = s->last_flush = s->last_stats = s->last_progress = now_mono();

    status = s->fanout ? run_fanout(s) : s->live ? run_live(s) : run_file(s);
    workers_stop(s); /* every queued frame is processed before the totals */
    if (s->eng != NULL)
        tw_engine_flush(s->eng); /* flows still open at the end of the capture */
    if (s->first_load)
        rules_take(s);
    if (s->attrib != NULL)
        tw_attrib_drain(s->attrib); /* every event written before the totals */
    if (s->loading) {
        loader_join(&s->loader);
        tw_matchers_free(s->loader.m);
    }
    if (s->failed) {
        fprintf(stderr, "tunwatch: out of memory loading rules\n");
        status = 1;
    }
    if (s->show_progress)
        fprintf(stderr, "\r%60s\r", "");
    if (tw_outfile_flush(&s->file) != 0) {
        fprintf(stderr, "tunwatch: writing %s: %s\n", s->file.path, strerror(s->file.err));
        status = 2;
    }
    if (s->worker_drops != 0)
        fprintf(stderr, "tunwatch: %llu frames dropped because a worker fell behind\n",
                (unsigned long long)s->worker_drops);
    if (cfg->stats_interval > 0)
        write_stats(s);
    summary(s, now_mono() - s->t0);
    if (stop_requested)
        fprintf(stderr, "tunwatch: stopped by signal, output flushed\n");
out_workers:
    workers_free(s);
    tw_engine_free(s->eng);
    if (s->attrib != NULL) {
        tw_attrib_free(s->attrib); /* drains: it matches with s->matchers, writes s->file */
        s->attrib = NULL;
        pthread_mutex_destroy(&s->attr_lock);
    }
    tw_matchers_free(s->matchers);
    tw_anscache_free(s->anscache);
    free(s->feed_answers);
out_output:
    if (s->attrib != NULL) {
        tw_attrib_free(s->attrib);
        pthread_mutex_destroy(&s->attr_lock);
    }
    tw_suppress_free(s->suppress); /* every output that used it is done */
    if (s->file_open) {
        int had = s->file.err;
        if (tw_outfile_close(&s->file) != 0 && had == 0 && status == 0) {
            fprintf(stderr, "tunwatch: closing %s: %s\n", s->file.path, strerror(s->file.err));
            status = 2;
        }
    }
    if (s->stats_fp != NULL)
        fclose(s->stats_fp);
    if (pid_written)
        unlink(cfg->pid_path); /* may fail once privileges are gone: harmless */
out_sources:
    workers_free(s); /* fanout sockets of workers that never started */
    for (size_t i = 0; i < s->n_src; i++)
        if (s->src[i].cap != NULL)
            s->src[i].ops->close(s->src[i].cap);
    return status;
}
