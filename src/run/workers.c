/* SPDX-License-Identifier: MIT */
/*
 * Packet workers: the reader spreads frames by flow over per-worker rings (storing the DNS
 * answers it sees on the way), or, in fanout mode, each worker reads its own capture sockets.
 * Starting, stopping and freeing them.
 */
#include "sensor_impl.h"

#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/inspect/answers.h"

/* A frame in a worker's ring: its header, the reader's decoding (payload as an offset into the
 * frame, or NO_PAYLOAD), then the frame's bytes, or (ext) a pointer to them in the capture
 * file's block, held until the worker is done with them. */
struct frame_rec {
    const uint8_t *ext;   /* the frame's bytes when not copied after the record, else NULL */
    struct tw_hold *hold; /* ext's storage: let go of once the frame is read */
    int64_t ts_sec;
    uint32_t ts_nsec;
    uint32_t caplen;
    uint32_t wirelen;
    uint32_t payload_off;
    uint32_t ip_off, l4_off; /* pkt.ip_hdr and pkt.l4 as offsets (checksums still pending) */
    uint32_t source;         /* tw_frame.source: the file of a merged replay */
    const char *source_name; /* the capture source it came from (its events name it) */
    struct tw_pkt pkt;
};

#define NO_PAYLOAD UINT32_MAX

#define RING_BYTES (8u << 20)
#define WORKER_BATCH 256

static void worker_publish(struct worker *w)
{
    struct totals t;
    struct tw_merge_stats ms = {0};

    engine_totals(w->eng, &w->sink, &t);
    if (w->rp.merge != NULL)
        tw_merge_get_stats(w->rp.merge, &ms);
    pthread_mutex_lock(&w->lock);
    w->snap = t;
    w->merge_snap = ms;
    pthread_mutex_unlock(&w->lock);
}

/* Between two batches: the epoch moves on (a reload waits on it) and, twice a second, the
 * counters are published. Returns whether they were. */
static bool worker_between(struct worker *w)
{
    atomic_fetch_add_explicit(&w->epoch, 1, memory_order_release);
    double t = now_mono();
    if (t - w->last_publish < 0.5)
        return false;
    worker_publish(w);
    w->last_publish = t;
    return true;
}

/* How long an idle worker sleeps before it looks again on its own (a notify wakes it
 * earlier) and publishes its counters. */
#define WORKER_IDLE_MS 20

/* Frames a worker got by pointer, read together (tw_engine_packets: prefetched flows). */
struct wburst {
    struct tw_frame f[TW_ENGINE_BURST];
    struct tw_pkt p[TW_ENGINE_BURST];
    const char *source; /* of them all */
    unsigned n;
};

static void wburst_flush(struct worker *w, struct wburst *b, struct tw_hold_batch *rel)
{
    if (b->n == 0)
        return;
    w->sink.source = b->source;
    tw_engine_packets(w->eng, b->f, b->p, b->n);
    for (unsigned i = 0; i < b->n; i++)
        tw_hold_batch_add(rel, b->f[i].hold);
    b->n = 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->last_publish = now_mono();
    struct tw_hold_batch rel = {0};
    struct wburst *b = w->burst;

    for (;;) {
        unsigned n = 0;
        const uint8_t *rec;
        size_t len;

        while (n < WORKER_BATCH && (rec = tw_ring_peek(&w->ring, &len)) != NULL) {
            struct frame_rec h;
            memcpy(&h, rec, sizeof(h));
            struct tw_frame f = {.ts_sec = h.ts_sec, .ts_nsec = h.ts_nsec, .caplen = h.caplen,
                                 .wirelen = h.wirelen, .source = h.source,
                                 .data = h.ext != NULL ? h.ext : rec + sizeof(h),
                                 .hold = h.hold};
            h.pkt.payload = h.payload_off != NO_PAYLOAD ? f.data + h.payload_off : NULL;
            if (h.pkt.csum_pending) {
                h.pkt.ip_hdr = f.data + h.ip_off;
                h.pkt.l4 = f.data + h.l4_off;
            }
            n++;
            if (h.ext != NULL) {
                /* Its bytes are in the capture's block, not in the ring: into the burst. */
                if (b->n == TW_ENGINE_BURST || (b->n > 0 && b->source != h.source_name))
                    wburst_flush(w, b, &rel);
                b->f[b->n] = f;
                b->p[b->n++] = h.pkt;
                b->source = h.source_name;
                tw_ring_release(&w->ring);
                continue;
            }
            wburst_flush(w, b, &rel); /* in order */
            w->sink.source = h.source_name;
            tw_engine_packet(w->eng, &f, &h.pkt);
            tw_ring_release(&w->ring);
        }
        wburst_flush(w, b, &rel);
        tw_hold_batch_flush(&rel); /* the reader may wait for a block */
        if (n > 0)
            tw_ring_notify_space(&w->ring); /* the reader may wait for room */
        worker_between(w);
        if (n == 0) {
            if (tw_ring_finished(&w->ring))
                break;
            tw_ring_wait_data(&w->ring, WORKER_IDLE_MS);
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
    w->last_publish = now_mono();
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
            w->sink.source = w->s->cfg->interfaces[i]; /* as given, not the socket's name */
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
        if (worker_between(w))
            worker_publish_capture(w);
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

/*
 * Replay, workers reading the files themselves (sensor.replay_fanout): this worker, not worker
 * 0, is about to look up the DNS answer cache at frame seq: worker 0, which learns every
 * answer (it reads every DNS flow), must have read every frame before it. Worker 0 publishes
 * its progress after every burst; the wait spins (the other core is busy with those frames),
 * then yields, then sleeps in short steps.
 */
static void replay_answer_wait(void *ctx, uint64_t seq)
{
    struct worker *w = ctx;
    _Atomic uint64_t *progress = &w->s->workers[0].progress;

    if (w->seen0 >= seq)
        return;
    /* Worker 0 may be held back for this one (replay_leash): it must see how far this one
     * has taken frames, the one it waits on among them. */
    if (w->s->replay_leash)
        atomic_store_explicit(&w->read_pos, w->rp.bytes, memory_order_release);
    for (unsigned spin = 0;; spin++) {
        w->seen0 = atomic_load_explicit(progress, memory_order_acquire);
        if (w->seen0 >= seq)
            return;
        /* Worker 0 is behind: meanwhile this one reads ahead the blocks no worker has read
         * yet, whoever's turn they are (worker 0's, mostly). */
        if (spin >= 64 && tw_merge_read_ahead(w->rp.merge))
            spin = 0;
        else if (spin < 256)
            tw_cpu_relax();
        else if (spin < 512)
            sched_yield();
        else
            nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
    }
}

/*
 * How far worker 0 may read ahead of the slowest other replay worker, in captured bytes. Each
 * worker reads every frame of the files; those bytes come from memory once for the first
 * reader and from the shared cache for the next, if it comes soon enough. Worker 0 (the DNS
 * flows) has less to do and ran ahead unbounded (it finished 20-50 ms before worker 1 on a
 * 1M-packet replay of 200 ms), so worker 1 fetched every line from memory again. Held within
 * 1 MiB: --workers 2 1.035-1.07x on the 1M bench capture (8-10 paired rounds); held by frames,
 * 2,048-4,096 (1-2 MiB) gave 1.04-1.05x, 8,192 1.03x, 16,384 and more nothing.
 */
#define REPLAY_LEASH (1u << 20)

/*
 * Worker 0 of a replay (as many workers as CPUs at most) waits before a round while it has
 * read more than REPLAY_LEASH bytes past the slowest other worker, in a mapped file (a file
 * read into blocks is read into the blocks the workers share, a few ahead of the slowest at
 * most: held closer, 0.96x). It never waits on a worker that waits for it: one that waits for
 * worker 0's progress says how far it has read first (replay_answer_wait), and worker 0 is
 * past that point only once it has read (and said) every frame before it.
 */
static void replay_leash(struct worker *w)
{
    struct sensor *s = w->s;

    for (unsigned spin = 0; !atomic_load_explicit(&s->stop_workers, memory_order_acquire); spin++) {
        uint64_t slow = UINT64_MAX;
        for (unsigned i = 1; i < s->n_workers; i++)
            slow =
                TW_MIN(slow, atomic_load_explicit(&s->workers[i].read_pos, memory_order_acquire));
        if (slow == UINT64_MAX || w->rp.bytes <= slow + REPLAY_LEASH)
            return;
        if (spin < 256)
            tw_cpu_relax();
        else
            sched_yield();
    }
}

/* A replay worker that reads every file itself and keeps its share of the flows. */
static void *worker_replay_main(void *arg)
{
    struct worker *w = arg;
    struct sensor *s = w->s;
    w->last_publish = now_mono();
    bool more = true;

    while (more) {
        if (w->idx == 0 && s->replay_leash && tw_merge_mapped(w->rp.merge))
            replay_leash(w);
        more = !atomic_load_explicit(&s->stop_workers, memory_order_acquire) &&
               replay_round(&w->rp);
        /* Every frame taken so far is read: answers learnt from them are in the cache. */
        if (!more) {
            atomic_store_explicit(&w->progress, UINT64_MAX, memory_order_release);
            atomic_store_explicit(&w->read_pos, UINT64_MAX, memory_order_release);
        }
        worker_between(w);
    }
    /* The blocks it shares with the other workers: they need not wait for it any more (it
     * may have stopped before the end). */
    tw_merge_leave(w->rp.merge);
    tw_engine_flush(w->eng); /* flows still open at the end of the capture */
    worker_publish(w);
    atomic_store_explicit(&w->finished, true, memory_order_release);
    pthread_mutex_lock(&s->done_lock);
    s->n_done++;
    pthread_cond_signal(&s->done_cond);
    pthread_mutex_unlock(&s->done_lock);
    return NULL;
}

/* One DNS message from the reader: its answers go into the cache when it is a response. */
static void store_message(struct sensor *s, const struct tw_pkt *p, const uint8_t *msg,
                          size_t len, int64_t ts, bool count)
{
    struct tw_dns_msg *m = &s->feed_msg;
    int off = tw_dns_parse(msg, len, m);
    unsigned stored = 0;

    /* The response goes to the client: its destination is the querier. */
    if (off >= 0 && m->qr)
        tw_answers_learn(s->anscache, m, msg, len, (size_t)off, s->feed_answers, p->ip_version,
                         p->dst, ts, 0, NULL, NULL, &stored);
    /* UDP answers are stored here only (the workers skip them): counted here. TCP responses
     * are stored again by the worker that reassembles the stream, which counts them. */
    if (count)
        s->reader_st.dns_answers_learnt += stored;
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
        store_message(s, p, b, n, ts, true);
        return;
    }
    while ((rc = tw_dns_tcp_frame(b, n, &msg, &len)) > 0) {
        store_message(s, p, msg, len, ts, false);
        b += rc;
        n -= (size_t)rc;
    }
}

/*
 * Reader side: decodes a frame (once: the worker takes the decoding with it) and sends both to
 * the worker that owns its flow. A frame that is not TCP or UDP over IP is counted here and
 * goes no further. Fragments are reassembled here, before the flow hash (a non-first fragment
 * has no ports, and the datagram must reach the worker that holds its flow): a fragment kept
 * goes no further; a completed datagram goes on in place of the fragment that completed it,
 * its bytes (a frame of link type TW_LINK_REASSEMBLED) copied into the ring; a frame read
 * in place from a capture file goes by pointer. Checksums are validated here while auto
 * decides (tw_prep_verify_early), and live for a DNS response before its answers are stored;
 * else by the engine that reads the packet.
 */
void spread_frame(void *ctx, const struct tw_frame *f)
{
    struct sensor *s = ctx;
    struct tw_prep_frame pf = {s->linktype, f->data, f->caplen};
    struct frame_rec h = {.ts_sec = f->ts_sec, .ts_nsec = f->ts_nsec, .wirelen = f->wirelen,
                          .source = f->source, .source_name = s->sink.source};
    struct tw_pkt *p = &h.pkt;
    struct worker *w;
    uint8_t *dst;

    s->reader_st.packets++;
    s->reader_st.bytes += f->wirelen;
    if (tw_prep_decode_deferred(s->prep, &pf, f->ts_sec, p, &s->reader_st.decode,
                                &s->reader_st.prep) != 0 ||
        tw_prep_verify_early(tw_prep_csum(s->prep), p, &s->reader_st.prep) != 0)
        return;
    if (s->workers[0].in_reader) {
        /* Replay: the reader's own engine reads DNS (UDP and TCP port 53), at once, so that
         * the answers are in the cache before any frame after the response is handed out;
         * nothing is parsed twice. Every other flow goes to a worker thread. */
        unsigned wi = tw_flow_worker(p, s->n_workers, 0);
        if (wi == 0) {
            struct tw_frame rf = {.ts_sec = f->ts_sec, .ts_nsec = f->ts_nsec,
                                  .caplen = (uint32_t)pf.caplen, .wirelen = f->wirelen,
                                  .source = f->source, .data = pf.data};
            w = &s->workers[0];
            w->sink.source = s->sink.source;
            tw_engine_packet(w->eng, &rf, p);
            return;
        }
        w = &s->workers[wi];
    } else {
        w = &s->workers[tw_flow_spread_hash(p) % s->n_workers];
        if (s->feed_answers != NULL && p->sport == 53 && p->payload_len > 0) {
            /* Only what the client accepts may feed the cache: validated here, not again. */
            if (tw_prep_verify(tw_prep_csum(s->prep), p, &s->reader_st.prep) != 0)
                return;
            p->csum_pending = 0;
            store_answers(s, p, f->ts_sec);
        }
    }
    /* A frame read in place from a capture file goes by pointer; a reassembled one (in the
     * reader's reassembly buffer) or one of a source that reuses its buffer is copied. */
    bool by_ref = f->hold != NULL && pf.data == f->data;
    h.caplen = (uint32_t)pf.caplen;
    h.payload_off = p->payload != NULL ? (uint32_t)(p->payload - pf.data) : NO_PAYLOAD;
    if (p->csum_pending) {
        h.ip_off = (uint32_t)(p->ip_hdr - pf.data);
        h.l4_off = (uint32_t)(p->l4 - pf.data);
    }
    /* The worker points them into its copy. */
    p->payload = p->ip_hdr = p->l4 = NULL;
    size_t need = sizeof(struct frame_rec) + (by_ref ? 0 : pf.caplen);
    while ((dst = tw_ring_reserve(&w->ring, need)) == NULL) {
        w->ring_full++;
        if (s->live) {
            /* Never block the capture: the drop is counted and reported. */
            s->worker_drops++;
            return;
        }
        /* A file waits for the worker: it must have all of what it was given first. */
        tw_ring_notify(&w->ring);
        tw_ring_wait_space(&w->ring, need, 10);
    }
    if (by_ref) {
        h.ext = pf.data;
        h.hold = f->hold;
        tw_hold_take(f->hold);
    }
    memcpy(dst, &h, sizeof(h));
    if (!by_ref)
        memcpy(dst + sizeof(h), pf.data, pf.caplen);
    tw_ring_commit(&w->ring);
}

/* The capture reader waits for a block its frames are in: the workers may sleep on records
 * committed since the last notify. */
void workers_stall(void *ctx)
{
    struct sensor *s = ctx;

    for (unsigned i = 0; i < s->n_workers; i++)
        if (!s->workers[i].in_reader)
            tw_ring_notify(&s->workers[i].ring);
}

/* A replay wakes a worker that sleeps for lack of frames once every this many bursts, not
 * every burst: a worker faster than the reader would otherwise sleep and wake (two system
 * calls) every 256 frames. A full ring, a block the reader waits for and the end of the
 * capture wake it at once; live, every burst does (latency). */
#define REPLAY_NOTIFY_BURSTS 8

void workers_notify(struct sensor *s)
{
    bool wake = s->live || ++s->notify_round % REPLAY_NOTIFY_BURSTS == 0;

    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        if (!w->in_reader) {
            if (wake)
                tw_ring_notify(&w->ring);
            continue;
        }
        /* The reader's engine between two bursts: as a worker between two batches. */
        worker_between(w);
    }
}

void workers_stop(struct sensor *s)
{
    atomic_store_explicit(&s->stop_workers, true, memory_order_release);
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        if (w->started) {
            if (!s->fanout && !s->replay_fanout)
                tw_ring_close(&w->ring);
            pthread_join(w->thread, NULL);
            w->started = false;
        }
        if (w->in_reader && w->eng != NULL) {
            tw_engine_flush(w->eng); /* flows still open at the end of the capture */
            worker_publish(w);
            w->in_reader = false;
        }
    }
}

void workers_free(struct sensor *s)
{
    workers_stop(s);
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        for (size_t k = 0; k < w->n_src; k++)
            if (w->src[k].cap != NULL)
                w->src[k].ops->close(w->src[k].cap);
        tw_engine_free(w->eng);
        tw_merge_free(w->rp.merge);
        free(w->burst);
        tw_ring_destroy(&w->ring);
        pthread_mutex_destroy(&w->lock);
    }
    if (s->workers != NULL) {
        pthread_cond_destroy(&s->boot_cond);
        pthread_mutex_destroy(&s->boot_lock);
    }
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
}

/*
 * A worker thread: makes its engine (every worker its own at once: the memory each touches
 * first is set up in parallel), tells workers_go, and reads frames once every worker has
 * an engine, or ends at once when one could not make its own.
 */
static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    struct sensor *s = w->s;

    w->eng = tw_engine_new(&w->ecfg);
    if (w->eng != NULL)
        w->rp.eng = w->eng;
    pthread_mutex_lock(&s->boot_lock);
    w->boot = w->eng != NULL ? 1 : -1;
    s->n_booted++;
    pthread_cond_broadcast(&s->boot_cond);
    while (s->boot_go == 0)
        pthread_cond_wait(&s->boot_cond, &s->boot_lock);
    bool go = s->boot_go > 0;
    pthread_mutex_unlock(&s->boot_lock);
    return go ? w->main(w) : NULL;
}

int workers_go(struct sensor *s, int rc)
{
    unsigned n_started = 0;

    if (s->workers == NULL) /* workers_alloc() failed: no thread to tell, no lock made */
        return TW_ENOMEM;
    for (unsigned i = 0; i < s->n_workers; i++)
        n_started += s->workers[i].started;
    pthread_mutex_lock(&s->boot_lock);
    while (s->n_booted < n_started)
        pthread_cond_wait(&s->boot_cond, &s->boot_lock);
    for (unsigned i = 0; i < s->n_workers; i++)
        if (s->workers[i].started && s->workers[i].boot < 0)
            rc = TW_ENOMEM;
    s->boot_go = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&s->boot_cond);
    pthread_mutex_unlock(&s->boot_lock);
    return rc;
}

/* A replay worker's own merge of the run's files (a copy of the run's merge, which has not
 * started: every worker sees the same frames in the same order). */
static int replay_open(struct worker *w)
{
    struct sensor *s = w->s;

    if ((w->rp.merge = tw_merge_copy(s->in.merge)) == NULL)
        return TW_ENOMEM;
    w->rp.names = s->in.names;
    w->rp.sink = &w->sink;
    w->rp.say = w->idx == 0; /* every worker meets the same errors: one says them */
    if (w->idx == 0)
        w->rp.progress = &w->progress; /* after every burst: the others wait less */
    else if (s->replay_leash)
        w->rp.read_pos = &w->read_pos; /* after every burst: worker 0's leash */
    tw_merge_set_stall(w->rp.merge, replay_stall, &w->rp);
    return 0;
}

int workers_alloc(struct sensor *s, unsigned n)
{
    /* A worker is cache-line aligned (its ring's indices are), more than calloc promises. */
    const size_t align = _Alignof(struct worker);
    size_t size = ((size_t)n * sizeof(*s->workers) + align - 1) & ~(align - 1);

    s->workers = aligned_alloc(align, size);
    if (s->workers == NULL)
        return TW_ENOMEM;
    memset(s->workers, 0, size);
    s->n_workers = n;
    pthread_mutex_init(&s->boot_lock, NULL);
    pthread_cond_init(&s->boot_cond, NULL);
    s->n_booted = 0;
    s->boot_go = 0;
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &s->workers[i];
        w->s = s;
        w->idx = i;
        pthread_mutex_init(&w->lock, NULL);
        atomic_init(&w->epoch, 0);
        atomic_init(&w->progress, 0);
        atomic_init(&w->read_pos, 0);
        atomic_init(&w->finished, false);
        atomic_init(&w->failed, false);
    }
    return 0;
}

static void worker_event(void *ctx, const struct tw_event *ev)
{
    struct worker *w = ctx;
    deliver(w->s, &w->sink, ev);
}

/* Worker i's share of a pool of `total` buffers over n workers; with dns0, worker 0 (the DNS
 * flows, and share0 in 256 of the others) gets an eighth and its part of the other seven,
 * and the others split the rest. */
static uint32_t pool_share(uint32_t total, unsigned i, unsigned n, bool dns0, unsigned share0)
{
    if (!dns0)
        return total / n;
    uint32_t first = total / 8;
    first += (uint32_t)((uint64_t)(total - first) * share0 / 256);
    return i == 0 ? first : (total - first) / (n - 1);
}

/* Frames read at the start of the first file to weigh its traffic (replay_share0()), and
 * their captured bytes at most: it runs before the workers start, and reading 65,536 frames
 * (32 MB of the bench's mix) took 6.5-7.4 ms of a two-worker replay of 200 ms. */
#define SPLIT_SAMPLE 8192
#define SPLIT_SAMPLE_BYTES (4u << 20)

/*
 * What reading a frame of this kind costs a worker, roughly, in tens of cycles (one worker on
 * the bench's mix: a DNS message about 1,100 cycles for a query and 1,900 for a response, a
 * TCP segment with a payload 480 on average, whether its flow was already named or not, one
 * that opens or closes 260, a bare acknowledgement 30).
 */
static unsigned frame_cost(const struct tw_pkt *p, bool dns)
{
    if (p->l4_proto != 6 && p->l4_proto != 17)
        return 2;
    if (dns)
        return p->payload_len > 0 ? 150 : 26;
    if (p->l4_proto == 17)
        return 15;
    if (p->payload_len > 0)
        return 48;
    return (p->tcp_flags & 0x07) != 0 ? 26 : 3;
}

/*
 * Replay workers reading every file: how much of the traffic other than DNS worker 0 takes
 * on top of the DNS flows (tw_flow_worker()'s share0), from the cost of the first
 * SPLIT_SAMPLE frames of the first file (SPLIT_SAMPLE_BYTES at most) by kind. A capture with
 * little DNS would otherwise leave worker 0 idle and the others with all of it (two workers
 * on the bench capture without its DNS: no faster than one). 0 when the sample cannot be
 * read (the run then says why when it reads the file itself).
 */
static unsigned replay_share0(const struct sensor *s, unsigned n)
{
    struct tw_capfile *c;
    struct tw_decode_stats st = {0};
    uint64_t dns = 0, other = 0, bytes = 0;
    char err[256];

    if (s->in.n_names == 0 || tw_capfile_open(s->in.names[0], &c, err, sizeof(err)) != 0)
        return 0;
    for (unsigned i = 0; i < SPLIT_SAMPLE && bytes < SPLIT_SAMPLE_BYTES; i++) {
        struct tw_frame f;
        struct tw_pkt p;
        int linktype;

        if (tw_capfile_next(c, &f, &linktype, err, sizeof(err)) != 1)
            break;
        bytes += f.caplen;
        if (tw_decode(linktype, f.data, f.caplen, f.wirelen, &p, &st) != TW_OK) {
            other += 2;
            continue;
        }
        bool is_dns = p.sport == 53 || p.dport == 53;
        *(is_dns ? &dns : &other) += frame_cost(&p, is_dns);
    }
    tw_capfile_close(c);
    return tw_flow_split_share0(dns, other, n);
}

int workers_start(struct sensor *s, const struct tw_engine_config *base, unsigned n)
{
    int rc = 0;

    if (s->workers == NULL && workers_alloc(s, n) != 0)
        return TW_ENOMEM;
    /* Replay workers each at its own pace: worker 0 learns every answer, usually ahead of the
     * others' lookups; the cache keeps the frame each answer came from, and a lookup sees
     * those of the frames before its own (as one worker would). */
    if (s->replay_fanout && s->anscache != NULL && tw_anscache_stamp(s->anscache) != 0)
        return TW_ENOMEM;
    /* Each reads every frame: each block of a file is read once for them all. */
    if (s->replay_fanout && n > 1 && tw_merge_share(s->in.merge, n) != 0)
        return TW_ENOMEM;
    unsigned share0 = s->replay_fanout && n > 1 ? replay_share0(s, n) : 0;
    /* Not with more workers than CPUs: worker 0 would wait on one that waits for a CPU (three
     * workers on two CPUs: 0.96x with it). */
    unsigned cpus = cpus_to_run_on();
    s->replay_leash = s->replay_fanout && n > 1 && cpus > 0 && n <= cpus;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct worker *w = &s->workers[i];
        struct tw_engine_config c = *base;

        sink_output_init(s, &w->sink);
        w->sink.match.suppress = s->suppress;
        atomic_init(&w->sink.match.matchers, s->matchers); /* rules_take() publishes them */
        /* The configured capacities are for the whole sensor. A replay gives worker 0 the
         * DNS flows (tw_flow_worker), and share0 of the others: an even share of the flow
         * table (a flow per query), an eighth of the buffers (DNS over TCP only needs them)
         * and its part of the rest, the rest to the others; live, the kernel's hash spreads
         * everything evenly. */
        bool dns0 = !s->live && n > 1;
        c.flow_capacity = TW_MAX(base->flow_capacity / n, 1024u);
        c.stream_buffers = pool_share(base->stream_buffers, i, n, dns0, share0);
        c.quic_states = pool_share(base->quic_states, i, n, dns0, share0);
        c.midstream_buffers = pool_share(base->midstream_buffers, i, n, dns0, share0);
        c.tls_big_buffers =
            base->tls_big_buffers > 0
                ? TW_MAX(pool_share(base->tls_big_buffers, i, n, dns0, share0), 1u)
                : 0;
        if (s->replay_fanout) {
            /* Each reads every frame and keeps its share: the frames of other shares are
             * skipped before decoding, except while checksum auto decides (every worker
             * validates every frame, so all decide alike) and those whose flow only decoding
             * tells (each its own reassembly). */
            c.share_n = n;
            c.share_idx = i;
            c.share0 = share0;
            c.share_last_full = n == 2 && share0 == 0; /* worker 1: every flow but DNS */
            if (i > 0) {
                c.answer_wait = replay_answer_wait;
                c.answer_wait_ctx = w;
            }
        } else if (!s->fanout) {
            c.prep = NULL; /* the reader reassembles; its checksum state is everyone's */
            c.csum_shared = tw_prep_csum(s->prep);
        }
        c.flow_id_first = i + 1;
        c.flow_id_stride = n;
        c.sink = worker_event;
        c.sink_ctx = w;
        w->in_reader = i == 0 && !s->fanout && !s->replay_fanout && !s->live;
        if (w->in_reader) {
            /* Replay: the reader's engine reads every DNS flow and stores its answers (no
             * separate feed); the worker threads read the rest. */
            if ((w->eng = tw_engine_new(&c)) == NULL)
                rc = TW_ENOMEM;
            w->last_publish = now_mono();
            continue;
        }
        w->ecfg = c;
        w->main = s->replay_fanout ? worker_replay_main
                  : s->fanout      ? worker_capture_main
                                   : worker_main;
        if ((s->replay_fanout && replay_open(w) != 0) ||
            (!s->fanout && !s->replay_fanout &&
             (tw_ring_init(&w->ring, RING_BYTES) != 0 ||
              (w->burst = calloc(1, sizeof(*w->burst))) == NULL)) ||
            pthread_create(&w->thread, NULL, worker_thread, w) != 0) {
            rc = TW_ENOMEM;
            break;
        }
        char name[16];
        snprintf(name, sizeof(name), "tunwatch-w%u", i % 100); /* top -H, perf, gdb */
        (void)pthread_setname_np(w->thread, name);
        w->started = true;
    }
    return rc;
}
