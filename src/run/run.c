/* SPDX-License-Identifier: MIT */
/*
 * One sensor run: set-up (sources, output, privileges, process attribution, rules, engine or
 * workers), the loops that read the sources (file, live, fanout) with the work done between
 * bursts (signals, reloads, flushing, stats), and the tear-down.
 */
#include "tunwatch/run/sensor.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor_impl.h"
#include "tunwatch/base/prefault.h"
#include "tunwatch/capture/dpdk.h"
#include "tunwatch/match/suppress.h"

/* Events held while the rules load at start: about 100k events, then the packet path waits. */
#define PENDING_BYTES (32u << 20)
#define SUPPRESS_KEYS 65536 /* (rule, source, name) windows tracked at once */

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

static void on_frame(void *ctx, const struct tw_frame *f)
{
    struct sensor *s = ctx;
    tw_engine_frame(s->eng, s->linktype, f);
}

/* An address a host talks from: not IPv4 or IPv6 link-local (an interface that is up gets
 * an fe80:: address of its own, a mirror port too). */
static bool routable_address(const struct sockaddr *sa)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        const uint8_t *a = (const uint8_t *)&in->sin_addr;

        return !(a[0] == 169 && a[1] == 254);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;

        return !IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr);
    }
    return false;
}

/* True if interface iface ("any": some interface) has an address that is not link-local. */
static bool iface_has_address(const char *iface)
{
    struct ifaddrs *all, *ifa;
    bool any = strcmp(iface, "any") == 0, found = false;

    if (getifaddrs(&all) != 0)
        return true; /* cannot tell: as if it had one */
    for (ifa = all; ifa != NULL && !found; ifa = ifa->ifa_next)
        found = routable_address(ifa->ifa_addr) && (any || strcmp(ifa->ifa_name, iface) == 0);
    freeifaddrs(all);
    return found;
}

/*
 * The capture options for interface iface. With process attribution, an interface of this
 * host's own (one with an address that is not link-local) is read in immediate mode: dig over
 * UDP closes its socket about a millisecond after its query, and a buffered ring hands frames
 * over up to a block timer later (4 ms at least with HZ=250). A mirror port, which has at most
 * a link-local address, keeps the buffered ring: it holds many more frames through a burst.
 */
static struct tw_capture_opts source_opts(const struct sensor *s, const char *iface)
{
    struct tw_capture_opts o = s->cap;

    if (s->attribution && !o.immediate)
        o.immediate = iface_has_address(iface);
    return o;
}

/*
 * Fanout mode: every worker opens its own share of every interface. AF_PACKET: one socket per
 * interface in that interface's fanout group; the kernel's symmetric flow hash gives each
 * flow, both directions, to one worker (group ids are per network namespace: derived from the
 * pid). DPDK: one RX queue per worker ("dpdk:PORT/QUEUE/NQUEUES"), spread by symmetric RSS.
 */
static int open_fanout(struct sensor *s)
{
    const struct tw_sensor_config *cfg = s->cfg;
    struct tw_capture_opts opts[TW_MAX_SOURCES];
    char err[512];

    if (workers_alloc(s, cfg->workers) != 0) {
        fprintf(stderr, "tunwatch: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_interfaces; i++)
        opts[i] = source_opts(s, cfg->interfaces[i]); /* the same for every worker */
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
            if (src->ops->open(src->name, &opts[i], &src->cap, err, sizeof(err)) != 0) {
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

    if (cfg->n_read_paths > 0) {
        return inputs_open(&s->in, cfg);
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
        struct tw_capture_opts opts = source_opts(s, src->name);
        /* An Ethernet or loopback interface is read from its own TPACKET_V3 ring, as the
         * fanout workers read theirs (libpcap's reader polls again inside every dispatch: a
         * third of the CPU for the same frames); any other (tun, "any") through libpcap. */
        if (src->ops == &tw_capture_pcap_live && strcmp(src->name, "any") != 0) {
            src->ops = &tw_capture_afpacket;
            if (src->ops->open(src->name, &opts, &src->cap, err, sizeof(err)) != 0)
                src->ops = &tw_capture_pcap_live; /* its own reason, below, if it fails too */
        }
        if (src->cap == NULL &&
            src->ops->open(src->name, &opts, &src->cap, err, sizeof(err)) != 0) {
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

/* STATUS= for the service manager (systemctl status): a short counter line. */
static void notify_status(struct sensor *s)
{
    struct totals t;
    char msg[192];
    uint64_t dropped = s->worker_drops;

    gather(s, &t);
    for (size_t i = 0; s->live && i < s->n_src; i++) {
        struct tw_capture_stats cs;
        source_stats(s, i, &cs);
        dropped += cs.dropped + cs.ifdropped;
    }
    snprintf(msg, sizeof(msg), "STATUS=%llu packets, %llu names, %llu alerts, %llu dropped",
             (unsigned long long)t.es.packets,
             (unsigned long long)(t.events_seen[TW_CAT_DNS_QUERY] +
                                  t.events_seen[TW_CAT_NETWORK_CONNECTION]),
             (unsigned long long)t.alerts, (unsigned long long)dropped);
    notify_send(&s->notify, msg);
}

/* Work that happens between bursts: signals, a finished rule load, flushing, stats. */
static void between_bursts(struct sensor *s)
{
    double t;

    if (s->frame_fn == spread_frame)
        workers_notify(s); /* a burst was handed out: wake workers that wait for it */
    if (reload_requested && !s->first_load && !s->loading) {
        reload_requested = 0;
        notify_send(&s->notify, "RELOADING=1");
        reopen_files(s);
        if (loader_start(&s->loader, s->cfg, s->attrib != NULL) == 0)
            s->loading = true;
        else
            fprintf(stderr, "tunwatch: rules reload: out of memory\n");
        if (!s->loading)
            notify_send(&s->notify, "READY=1");
    }
    if (s->loading && loader_done(&s->loader)) {
        bool reload = !s->first_load;
        rules_take(s);
        if (reload)
            notify_send(&s->notify, "READY=1"); /* reloaded, or kept the rules in use */
    }
    t = now_mono();
    notify_tick(&s->notify, t);
    if (s->notify.fd >= 0 && t - s->notify.last_status >= 5.0) {
        notify_status(s);
        s->notify.last_status = t;
    }
    if ((s->live || s->stream_input) && t - s->last_flush >= 1.0) {
        /* Alerts reach the file within a second on a live sensor (and from a stream). */
        sinks_flush(s);
        s->last_flush = t;
    }
    if (s->cfg->stats_interval > 0 && t - s->last_stats >= s->cfg->stats_interval) {
        write_stats(s);
        s->last_stats = t;
    }
    if (!s->offload_said && t - s->last_offload_check >= 0.5) {
        offload_notice(s);
        s->last_offload_check = t;
    }
    if (s->show_progress && t - s->last_progress >= 0.5) {
        progress(s);
        s->last_progress = t;
    }
}

static bool output_failed(const struct sensor *s)
{
    return sinks_failed(s);
}

/* Says how far r's engine has read (every frame taken: none is held), when someone waits for
 * it (worker 0 of a replay: the others' answer lookups). */
static void replay_progress(const struct replay *r)
{
    if (r->progress != NULL)
        atomic_store_explicit(r->progress, r->seq, memory_order_release);
    if (r->read_pos != NULL)
        atomic_store_explicit(r->read_pos, r->bytes, memory_order_release);
}

/* Reads the frames kept (only an engine keeps any), then lets go of their blocks. */
static void burst_flush(struct replay *r)
{
    struct tw_hold_batch done = {0};
    struct file_burst *b = &r->b;

    if (b->n == 0)
        return;
    tw_engine_frames_at(r->eng, b->linktype, b->f, b->seq, b->share, b->n);
    for (unsigned i = 0; i < b->n; i++)
        tw_hold_batch_add(&done, b->f[i].hold);
    tw_hold_batch_flush(&done);
    b->n = 0;
}

/* Every frame taken so far is read: said to whoever waits for it. */
static void round_end(struct replay *r)
{
    burst_flush(r);
    replay_progress(r);
}

void replay_stall(void *ctx)
{
    round_end(ctx);
}

/*
 * Every file merged in time order, one stream. An engine reads the frames a file keeps in
 * place (held until read) in bursts, the others one by one, in order. A file that breaks while
 * read (cut short, a bad block) is named and dropped; the others go on. Every frame taken is
 * read when this returns.
 */
bool replay_round(struct replay *r)
{
    char err[512];
    struct tw_frame f;
    size_t file;
    int linktype;

    for (unsigned k = 0; k < BURST; k++) {
        if (r->streams && !tw_merge_ready(r->merge)) {
            /* A stream has not brought its next packet yet: what was taken is read now, not
             * when more comes (that may be long), and the caller waits on the stream. */
            r->wait_fd = tw_merge_wait_fd(r->merge);
            round_end(r);
            return true;
        }
        int n = tw_merge_next(r->merge, &f, &linktype, &file, err, sizeof(err));
        if (n == TW_EOF) {
            round_end(r);
            return false;
        }
        if (n < 0) {
            if (r->say)
                fprintf(stderr, "tunwatch: %s\n", err);
            r->read_errors++;
            continue;
        }
        f.source = (uint32_t)file;
        r->sink->source = r->names[file]; /* events name the file they came from */
        uint64_t seq = r->seq++;
        r->bytes += f.caplen;
        if (r->eng != NULL) {
            uint8_t share = (uint8_t)tw_engine_share_of(r->eng, linktype, &f);
            /* Plainly another worker's frame: nothing to read here (while checksum auto
             * decides, every worker validates every frame). */
            if (share == TW_SHARE_OTHER && !tw_engine_deciding(r->eng))
                continue;
            if (f.hold == NULL) {
                burst_flush(r); /* in order; its bytes last until the next read */
                tw_engine_frames_at(r->eng, &linktype, &f, &seq, &share, 1);
                continue;
            }
            tw_hold_take(f.hold);
            struct file_burst *b = &r->b;
            b->f[b->n] = f;
            b->linktype[b->n] = linktype;
            b->seq[b->n] = seq;
            b->share[b->n++] = share;
            if (b->n == TW_ENGINE_BURST)
                round_end(r);
        } else {
            *r->linktype = linktype;
            r->frame_fn(r->ctx, &f);
        }
    }
    round_end(r);
    return true;
}

void replay_merge_stats(struct sensor *s, struct tw_merge_stats *ms)
{
    if (!s->replay_fanout) {
        tw_merge_get_stats(s->in.merge, ms);
        return;
    }
    pthread_mutex_lock(&s->workers[0].lock);
    *ms = s->workers[0].merge_snap;
    pthread_mutex_unlock(&s->workers[0].lock);
}

/*
 * A stream read has nothing more yet (tcpdump -w - | tunwatch -r -): what was read so far goes
 * out now (workers woken, outputs flushed), then the wait for the stream, a signal, or the
 * next round of between_bursts() (stats, reloads), whichever comes first.
 */
static void stream_wait(struct sensor *s, int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    if (s->frame_fn == spread_frame)
        workers_stall(s);
    sinks_flush(s);
    s->last_flush = now_mono();
    (void)poll(&p, 1, POLL_MS); /* EINTR: the caller looks at what the signal asked */
}

/* Replay on this thread: one engine, or a reader in front of workers (spread_frame). The run
 * ends with status 1 when a file broke while read. */
static int run_files(struct sensor *s)
{
    struct replay r = {.merge = s->in.merge, .names = s->in.names, .eng = s->eng,
                       .frame_fn = s->frame_fn, .ctx = s, .linktype = &s->linktype,
                       .sink = &s->sink, .say = true, .wait_fd = -1,
                       .streams = s->stream_input};

    while (!stop_requested && replay_round(&r)) {
        if (output_failed(s) || s->failed)
            break;
        between_bursts(s);
        if (r.wait_fd >= 0) {
            stream_wait(s, r.wait_fd);
            r.wait_fd = -1;
        }
    }
    s->in.read_errors += (unsigned)r.read_errors;
    return r.read_errors > 0;
}

/* Replay by workers that read the files themselves: this thread watches signals, reloads and
 * stats until they are done. */
static int run_replay_fanout(struct sensor *s)
{
    pthread_mutex_lock(&s->done_lock);
    while (s->n_done < s->n_workers) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->done_cond, &s->done_lock, &until);
        if (s->n_done == s->n_workers)
            break;
        pthread_mutex_unlock(&s->done_lock);
        if (stop_requested || output_failed(s))
            atomic_store_explicit(&s->stop_workers, true, memory_order_release);
        between_bursts(s);
        pthread_mutex_lock(&s->done_lock);
    }
    pthread_mutex_unlock(&s->done_lock);
    s->in.read_errors += (unsigned)s->workers[0].rp.read_errors;
    return s->workers[0].rp.read_errors > 0;
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
            s->sink.source = src->name; /* events name the interface they came from */
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

/* A capture reader waiting for a stream gives up once a stop was asked for. */
static bool stop_asked(void)
{
    return stop_requested != 0;
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
    tw_capfile_set_stop(stop_asked);
}

unsigned cpus_to_run_on(void)
{
    cpu_set_t set;

    return sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 0;
}

/* More workers than CPUs this process may run on: they take turns on the CPUs and wait for
 * each other (a replay with 3 workers on 2 CPUs took 0.83-1.01x the time of one). Said, not
 * refused: the affinity may widen later, and the user may want it. */
static void warn_cpus(unsigned workers)
{
    unsigned cpus = cpus_to_run_on();

    if (cpus > 0 && workers > cpus)
        fprintf(stderr,
                "tunwatch: warning: --workers %u but %u CPU%s to run on: the workers take "
                "turns on %s (no faster than --workers %u)\n",
                workers, cpus, cpus == 1 ? "" : "s", cpus == 1 ? "it" : "them", cpus);
}

/* Process attribution: asked for, or (auto) live capture from this host's own interfaces,
 * where the traffic is this host's. Files and DPDK ports are someone else's traffic. */
static bool want_attribution(const struct tw_sensor_config *cfg)
{
    if (cfg->local_processes >= 0)
        return cfg->local_processes > 0;
    if (cfg->n_read_paths > 0 || cfg->n_interfaces == 0)
        return false;
    for (size_t i = 0; i < cfg->n_interfaces; i++)
        if (tw_dpdk_is_source(cfg->interfaces[i]))
            return false;
    return true;
}

/*
 * A replay with a CPU to spare has its tables mapped ahead of the packet threads on it
 * (prefault.h): the engines' flow tables and buffers, the answer cache. With a packet thread
 * on every CPU the pages cost the same wherever they are faulted in, and the thread would
 * only take turns with them. Live, a sensor runs for long; what it touches first is a small
 * part of its time. Without the thread a replay runs as well, its packet threads faulting the
 * pages in: nothing to say.
 */
static void prefault_start(struct sensor *s)
{
    int rc = 0;

    if (s->live || TW_MAX(s->n_workers, 1u) >= cpus_to_run_on() ||
        (s->prefault = tw_prefault_new()) == NULL)
        return;
    if (s->eng != NULL)
        rc = tw_engine_prefault(s->eng, s->prefault);
    for (unsigned i = 0; rc == 0 && i < s->n_workers; i++)
        if (s->workers[i].eng != NULL)
            rc = tw_engine_prefault(s->workers[i].eng, s->prefault);
    if (rc == 0 && s->anscache != NULL)
        (void)tw_anscache_prefault(s->anscache, s->prefault);
    if (tw_prefault_start(s->prefault) != 0) {
        tw_prefault_free(s->prefault);
        s->prefault = NULL;
    }
}

int tw_sensor_run(const struct tw_sensor_config *cfg)
{
    static struct sensor sensor; /* holds the 64 KiB output line buffer */
    struct sensor *s = &sensor;
    struct tw_engine_config ecfg = cfg->eng;
    int status = 1;

    ecfg.prep = &cfg->prep;
    ecfg.checksums = cfg->prep.checksums;
    bool pid_written = false, attribution;

    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->cap = cfg->cap;
    notify_init(&s->notify);
    attribution = want_attribution(cfg);
    s->attribution = attribution;
    install_signals();
    if (open_sources(s) != 0) {
        if (stop_requested)
            status = 0; /* stopped while a stream had not brought its first packet yet */
        goto out_sources;
    }

    /* Who writes the lines, for every format; the default source names events that come
     * from no particular source (none does today: every event is stamped with its own). */
    if (tw_sensor_id_init(&s->id, cfg->sensor_name, cfg->version) != 0) {
        fprintf(stderr, "tunwatch: no random bytes for the run id: %s\n", strerror(errno));
        goto out_sources;
    }
    s->fmt = (struct tw_format_ctx){.sensor = &s->id, .home = &cfg->eng.home};
    if (cfg->n_read_paths == 1) {
        s->fmt.source = cfg->read_paths[0]; /* else each event names its own file */
        s->fmt.source_is_file = true;
    } else if (cfg->n_interfaces == 1) {
        s->fmt.source = cfg->interfaces[0];
    }
    if (sinks_open(s) != 0)
        goto out_output;
    sink_output_init(s, &s->sink);
    if (cfg->suppress_secs > 0) {
        s->suppress = tw_suppress_new(cfg->suppress_secs, SUPPRESS_KEYS);
        if (s->suppress == NULL) {
            fprintf(stderr, "tunwatch: out of memory\n");
            goto out_output;
        }
        s->sink.match.suppress = s->suppress;
    }
    if (cfg->report_path != NULL) {
        s->report = report_new();
        if (s->report == NULL) {
            fprintf(stderr, "tunwatch: out of memory\n");
            goto out_output;
        }
        s->sink.report = s->report;
        if (strcmp(cfg->report_path, "-") != 0 &&
            (s->report_fp = open_log(cfg->report_path, !cfg->append)) == NULL) {
            fprintf(stderr, "tunwatch: %s: %s\n", cfg->report_path, strerror(errno));
            goto out_output;
        }
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
        /* The files opened here go to the new user too, so that a SIGHUP reopen (log
         * rotation by copy and truncate, or no rotation at all) can still open them. */
        if (pw != NULL) {
            struct {
                FILE *fp;
                const char *path;
            } own[] = {
                {s->stats_fp, cfg->stats_path},
                {s->report_fp, cfg->report_path},
            };
            for (size_t i = 0; i < TW_ARRAY_SIZE(own); i++)
                if (own[i].fp != NULL && fchown(fileno(own[i].fp), pw->pw_uid, pw->pw_gid) != 0)
                    fprintf(stderr, "tunwatch: %s: %s\n", own[i].path, strerror(errno));
            /* The rule cache is written by the loader, which runs as the new user. */
            if (cfg->match.rule_cache != NULL &&
                chown(cfg->match.rule_cache, pw->pw_uid, pw->pw_gid) != 0)
                fprintf(stderr, "tunwatch: %s: %s (--rule-cache)\n", cfg->match.rule_cache,
                        strerror(errno));
            for (size_t i = 0; i < s->sinks.n; i++) {
                int e = tw_sink_chown(s->sinks.v[i], pw->pw_uid, pw->pw_gid);
                if (e != 0)
                    fprintf(stderr, "tunwatch: %s: %s\n", tw_sink_name(s->sinks.v[i]),
                            strerror(e));
            }
        }
        if (drop_privileges(cfg->user, attribution) != 0)
            goto out_output;
    }

    if (attribution) {
        /* Started after the switch to -u USER, so that its thread has the capabilities
         * drop_privileges() kept (capabilities are per thread). */
        struct tw_attrib_config ac = {.sink = attributed, .ctx = s, .queue_bytes = 4u << 20};
        sink_output_init(s, &s->attr_sink);
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
    atomic_init(&s->dns_events, true);
    ecfg.dns_events = &s->dns_events;
    ecfg.source_names = s->in.names;
    ecfg.n_sources = s->in.n_names;
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
        if (cfg->workers > 1 && !s->fanout && s->live) {
            /* Live, a reader in front of workers stores UDP answers before it hands the
             * frames out (in a replay its own engine reads every DNS flow instead). */
            s->feed_answers = malloc(sizeof(*s->feed_answers));
            if (s->feed_answers == NULL) {
                fprintf(stderr, "tunwatch: out of memory\n");
                loader_join(&s->loader);
                tw_matchers_free(s->loader.m);
                tw_evqueue_destroy(&s->pending);
                goto out_output;
            }
            tw_dns_answers_init(s->feed_answers);
            ecfg.udp_answers_stored = true;
        }
    }
    if (cfg->workers > 1) {
        warn_cpus(cfg->workers);
        /* A replay of regular files: every worker reads them itself (no reader in front,
         * no frame crosses threads); a pipe or standard input: a reader in front. */
        s->replay_fanout = !s->live && inputs_regular(&s->in);
        s->frame_fn = s->replay_fanout ? NULL : spread_frame;
        if (s->replay_fanout) {
            pthread_mutex_init(&s->done_lock, NULL);
            pthread_cond_init(&s->done_cond, NULL);
        }
        if (!s->fanout && !s->replay_fanout && (s->prep = tw_prep_new(&cfg->prep)) == NULL) {
            fprintf(stderr, "tunwatch: cannot allocate IP reassembly (--defrag-memory %zu MiB, "
                            "--defrag-max-datagrams %u)\n",
                    cfg->prep.defrag.memory >> 20, cfg->prep.defrag.max_datagrams);
            rules_take(s); /* the loader ends before its rules are freed */
            goto out_workers;
        }
        /* The worker threads make their engines while the rules load; they read no frame
         * before both are done, and start with the matcher in place (no queue of early
         * events). */
        int rc = workers_start(s, &ecfg, cfg->workers);
        rules_take(s);
        if (s->failed) {
            (void)workers_go(s, TW_ENOMEM); /* they end */
            fprintf(stderr, "tunwatch: out of memory loading rules\n");
            goto out_workers;
        }
        if (workers_go(s, rc) != 0) {
            fprintf(stderr, "tunwatch: cannot start %u workers (%u flows, %u reassembly "
                            "buffers in all)\n",
                    cfg->workers, ecfg.flow_capacity, ecfg.stream_buffers);
            goto out_workers;
        }
        if (s->in.merge != NULL && !s->replay_fanout)
            tw_merge_set_stall(s->in.merge, workers_stall, s);
    } else {
        s->frame_fn = on_frame;
        ecfg.sink = on_event;
        ecfg.sink_ctx = s;
        s->eng = tw_engine_new(&ecfg);
        if (s->eng == NULL) {
            fprintf(stderr, "tunwatch: cannot allocate %u flows, %u reassembly buffers and IP "
                            "reassembly (%zu MiB, %u datagrams)\n",
                    ecfg.flow_capacity, ecfg.stream_buffers, cfg->prep.defrag.memory >> 20,
                    cfg->prep.defrag.max_datagrams);
            loader_join(&s->loader);
            tw_matchers_free(s->loader.m);
            tw_evqueue_destroy(&s->pending);
            goto out_output;
        }
    }
    prefault_start(s);
    s->stream_input = s->in.merge != NULL && tw_merge_has_stream(s->in.merge);
    s->show_progress = !cfg->quiet && !s->live && isatty(STDERR_FILENO);
    s->t0 = s->last_flush = s->last_stats = s->last_progress = now_mono();

    notify_status(s);
    notify_send(&s->notify, "READY=1");
    status = s->fanout          ? run_fanout(s)
             : s->live          ? run_live(s)
             : s->replay_fanout ? run_replay_fanout(s)
                                : run_files(s);
    notify_send(&s->notify, "STOPPING=1");
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
    if (sinks_flush_report(s) != 0)
        status = 2;
    double secs = now_mono() - s->t0; /* the capture's time, not the drain's */
    sinks_drain(s); /* network sinks: deliver within --drain-timeout, before the counts */
    if (s->worker_drops != 0)
        fprintf(stderr, "tunwatch: %llu frames dropped because a worker fell behind\n",
                (unsigned long long)s->worker_drops);
    offload_notice(s);
    if (cfg->stats_interval > 0)
        write_stats(s);
    if (s->report != NULL &&
        report_write(s->report, s->report_fp != NULL ? s->report_fp : stderr,
                     cfg->report_format) != 0) {
        fprintf(stderr, "tunwatch: writing the report to %s: %s\n", cfg->report_path,
                strerror(errno));
        status = 2;
    }
    summary(s, secs);
    if (stop_requested)
        fprintf(stderr, "tunwatch: stopped by signal, output flushed\n");
out_workers:
    tw_prefault_free(s->prefault); /* before the tables it maps go */
    workers_free(s);
    if (s->replay_fanout) {
        pthread_cond_destroy(&s->done_cond);
        pthread_mutex_destroy(&s->done_lock);
    }
    tw_prep_free(s->prep);
    tw_engine_free(s->eng);
    if (s->attrib != NULL) {
        tw_attrib_free(s->attrib); /* drains: it matches with s->matchers, writes the sinks */
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
    status = sinks_close(s, status);
    if (s->stats_fp != NULL)
        fclose(s->stats_fp);
    if (s->report_fp != NULL)
        fclose(s->report_fp);
    report_free(s->report);
    if (pid_written)
        unlink(cfg->pid_path); /* may fail once privileges are gone: harmless */
out_sources:
    workers_free(s); /* fanout sockets of workers that never started */
    for (size_t i = 0; i < s->n_src; i++)
        if (s->src[i].cap != NULL)
            s->src[i].ops->close(s->src[i].cap);
    inputs_close(&s->in);
    notify_close(&s->notify);
    return status;
}
