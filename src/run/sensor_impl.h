/* SPDX-License-Identifier: MIT */
/*
 * The sensor's private parts, shared by the files of one run (run.c, events.c, loader.c,
 * workers.c, stats.c, summary.c, files.c, privileges.c): the sensor, its packet workers and
 * rules loader, the totals it reports, and what each file offers the others. The public API
 * is tunwatch/run/sensor.h.
 */
#ifndef TUNWATCH_SENSOR_IMPL_H
#define TUNWATCH_SENSOR_IMPL_H

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "tunwatch/capture/capfile.h"
#include "tunwatch/host/attrib.h"
#include "tunwatch/match/evqueue.h"
#include "tunwatch/output/output.h"
#include "tunwatch/proto/dns.h"
#include "tunwatch/run/ring.h"
#include "tunwatch/run/sensor.h"

#define BURST 256 /* frames asked of a source per dispatch */
/* Bursts taken from one live source before looking at the others and at signals. */
#define LIVE_BURSTS 16
#define POLL_MS 100
#define POLL_MS_POLLED 1 /* with a source that has no descriptor (DPDK): poll it often */

/* Seconds on the monotonic clock. */
static inline double now_mono(void)
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
    int rc;                        /* 0, or TW_ENOMEM */
    atomic_bool done;              /* set by the loader when rc is final */
    bool quiet;                    /* -q: skipped rules as one line per reason */
    bool running;                  /* started and not yet joined */
};

/* The service manager's notification socket (systemd Type=notify). */
struct notify {
    int fd; /* -1: not run by a manager that listens */
    struct sockaddr_un addr;
    socklen_t addr_len;
    double watchdog_s; /* send WATCHDOG=1 this often (0: no watchdog) */
    double last_watchdog, last_status;
    bool warned;
};

/* A capture source: its backend, handle, name and link type. */
struct source {
    const struct tw_capture_ops *ops;
    struct tw_capture *cap;
    const char *name;
    int linktype;
};

/* The capture files of a replay (-r, expanded) and their time-ordered merge. */
struct inputs {
    char **paths;   /* every file found, in argument order (directories in name order) */
    bool *named;    /* ... named by the user (a file or a pattern), not found in a directory */
    size_t n, cap;
    const char **names; /* the files the merge took; index = tw_frame.source */
    size_t n_names;
    unsigned errors;  /* user-named paths that cannot be read: the run fails */
    unsigned skipped; /* files in directories that are not captures (warned) */
    unsigned read_errors; /* files cut short or broken while read (their packets before count) */
    struct tw_merge *merge;
};

/* Where one thread's events go: the match stage, then the output (its own line buffer and
 * counters; the FILE and the suppression table are shared). */
struct sink {
    struct tw_match match;
    struct tw_output out;
    /* The capture source whose frames this sink's engine is being fed (set by the loop that
     * dispatches them, per burst, or per frame for workers behind a ring): stamped on every
     * event that has none, so each event names its own interface or file. */
    const char *source;
    bool source_is_file;
    struct report *report; /* --report: alerts summed here too; NULL: none */
};

/* Totals a run reports, gathered from the one engine or from every worker. */
struct totals {
    struct tw_engine_stats es;
    struct tw_flow_table_stats fs;
    uint32_t stream_high_water;
    uint64_t alerts, events_written, lines_dropped, excluded, suppressed;
    uint64_t alerts_written;            /* alert lines that reached the output */
    uint64_t lines_unwritten[TW_LINE__COUNT]; /* lines lost to a write error, by kind */
    uint64_t events_seen[TW_CAT__COUNT];
};

/* Frames of a replay kept for one engine call (read in bursts). */
struct file_burst {
    struct tw_frame f[TW_ENGINE_BURST];
    int linktype[TW_ENGINE_BURST];
    uint64_t seq[TW_ENGINE_BURST];  /* each frame's number in the input */
    uint8_t share[TW_ENGINE_BURST]; /* enum tw_share */
    unsigned n;
};

/* One thread's reading of a replay's files (replay_round()). */
struct replay {
    struct tw_merge *merge;
    const char *const *names; /* of the merge's files, by index */
    struct tw_engine *eng;    /* reads the frames in bursts; NULL: each frame goes to */
    tw_frame_fn frame_fn;     /* ... this, with *linktype set first */
    void *ctx;
    int *linktype;
    struct sink *sink;        /* its source is set to each frame's file */
    bool say;                 /* says read errors on stderr (one thread of several) */
    /* When not NULL: after every burst, the frames taken so far (all of them read). */
    _Atomic uint64_t *progress;
    uint64_t seq; /* frames taken so far */
    /* When not NULL: after every burst, the bytes of the frames taken so far. */
    _Atomic uint64_t *read_pos;
    uint64_t bytes;           /* captured bytes of the frames taken so far */
    uint64_t read_errors;     /* files that broke while read */
    bool streams;             /* a file is a stream: a round ends where it has nothing yet */
    int wait_fd;              /* set by a round that ended so: the stream's descriptor */
    struct file_burst b;
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
    /* Its thread makes its engine from this (all workers at once), says so (boot: 1 made,
     * -1 failed) and waits for the others before it reads a frame (workers_go). */
    struct tw_engine_config ecfg;
    void *(*main)(void *);
    int boot;
    struct sink sink;
    _Atomic uint64_t epoch; /* bumped after every batch: reload waits on it */
    uint64_t ring_full;     /* reader: frames that waited (file) or were dropped (live) */
    pthread_mutex_t lock;
    struct totals snap;                               /* published under lock */
    struct tw_capture_stats cap_snap[TW_MAX_SOURCES]; /* fanout mode, under lock */
    bool started;
    /* Replay: worker 0 has no thread; the reader runs its engine itself, on every DNS flow
     * (and only those), so that N workers are N threads and no DNS message is parsed twice. */
    bool in_reader;
    double last_publish; /* when its counters were last published (worker_between) */
    struct wburst *burst; /* replay thread: frames got by pointer, read together */
    /* Replay of regular files, several workers (sensor.replay_fanout): each reads every file
     * itself and keeps its share of the flows (tw_engine_config.share_n); worker 0 reads the
     * DNS flows, and publishes how far it has read for the others' answer lookups. */
    struct replay rp;
    _Alignas(64) _Atomic uint64_t progress; /* worker 0: frames read (UINT64_MAX: all) */
    uint64_t seen0;                         /* last progress of worker 0 this one saw */
    /* The others: how far into the files (struct replay.bytes) they have taken frames
     * (UINT64_MAX: done), for worker 0's leash (replay_leash()). */
    _Alignas(64) _Atomic uint64_t read_pos;
    struct tw_merge_stats merge_snap; /* its merge's counters, published under lock */
    atomic_bool finished; /* its thread ended: its epoch moves no more (a reload's wait) */
    /* Fanout mode: the worker reads its own AF_PACKET sockets, one per interface. */
    struct source src[TW_MAX_SOURCES];
    size_t n_src;
    char names[TW_MAX_SOURCES][64];
    int linktype;
    atomic_bool failed;
    char errmsg[512];
};

/* Everything one run holds (one instance, in tw_sensor_run). */
struct sensor {
    const struct tw_sensor_config *cfg;
    struct tw_capture_opts cap; /* cfg->cap */
    bool attribution;           /* processes are attributed: see source_opts() in run.c */
    bool fanout;                /* live workers read their own AF_PACKET fanout sockets */
    bool replay_fanout;         /* replay workers read the files themselves (struct worker) */
    bool replay_leash;          /* ... worker 0 held close to the others (replay_leash()) */
    pthread_mutex_t boot_lock;  /* workers_go: engines made by the worker threads */
    pthread_cond_t boot_cond;
    unsigned n_booted;
    int boot_go; /* 0: wait, 1: read, -1: stop (one worker failed) */
    pthread_mutex_t done_lock;  /* replay_fanout: workers done, told to the run's thread */
    pthread_cond_t done_cond;
    unsigned n_done;
    atomic_bool stop_workers;
    tw_frame_fn frame_fn; /* on_frame (one engine here) or spread_frame (workers) */
    struct worker *workers;
    unsigned n_workers;
    uint64_t worker_drops; /* live frames dropped because a worker's ring was full */
    /* Reader in front of workers: it decodes each frame once (for the flow hash) and hands the
     * decoding on, so frames, bytes and decoding are counted here, not by the workers. */
    struct tw_engine_stats reader_st;
    /* Reader in front of workers: UDP DNS answers go into the cache here, in capture order. */
    struct tw_dns_msg feed_msg;
    struct tw_dns_answers *feed_answers;
    unsigned notify_round; /* bursts handed to workers (replay wakes them every few) */
    /* Reader in front of workers: IP reassembly and checksums happen here, before the flow
     * hash (a non-first fragment has no ports); counted in reader_st.prep. */
    struct tw_prep *prep;
    bool offload_said; /* "checksum validation off" was said on stderr */
    double last_offload_check;
    struct source src[TW_MAX_SOURCES];
    size_t n_src;
    struct inputs in; /* replay: the files (n_src is 0) */
    bool live;
    bool stream_input; /* replay: one of the files is a stream (read as it arrives) */
    int linktype; /* of the source being dispatched */
    struct tw_engine *eng;
    struct tw_anscache *anscache; /* host-wide, shared by every worker */
    struct tw_prefault *prefault; /* a replay's tables mapped ahead (prefault.h), or NULL */
    struct tw_sinkset sinks;      /* the -o outputs every output writes to */
    struct tw_sensor_id id;       /* who writes the lines: sensor name, host, run id */
    struct tw_format_ctx fmt;     /* what every output's formatter reads (shared, read-only) */
    struct sink sink;
    struct tw_matchers *matchers; /* in use (NULL until the first load is complete) */
    struct rules_loader loader;
    bool loading;    /* loader holds a set not yet in use */
    bool first_load; /* the loader's set is the first one: events are queued */
    /* The engines make dns_response events (tw_engine_config.dns_events): while the first
     * rules load, and then while a rule of category dns or an output of every event reads
     * them (loader.c). */
    atomic_bool dns_events;
    bool failed;     /* the first load ran out of memory */
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
    struct notify notify;
    struct report *report; /* --report, NULL: none */
    FILE *report_fp;       /* its file, opened at start (stderr: NULL) */
    uint64_t reloads, reload_failures;
    double t0, last_flush, last_stats, last_progress;
    bool show_progress;
};

/* ---- events.c ---- */

/* Sets k's output to the run's format and formatter context. */
void sink_output_init(struct sensor *s, struct sink *k);
/* Sends an event on: to matching and output (out), or through process attribution. */
void deliver(struct sensor *s, struct sink *k, const struct tw_event *ev);
/* Event sink (ctx: the sensor): deliver() with the sensor's own output. */
void deliver_main(void *ctx, const struct tw_event *ev);
/* The attribution thread's sink (ctx: the sensor): matches, writes, publishes its counters. */
void attributed(void *ctx, const struct tw_event *ev);
/* The single engine's sink (ctx: the sensor): queued while the first rules load, then sent on. */
void on_event(void *ctx, const struct tw_event *ev);

/* ---- loader.c ---- */

/* Starts loading cfg's rules, indicators and exclusions on a thread of l's. Returns 0. */
int loader_start(struct rules_loader *l, const struct tw_sensor_config *cfg, bool process_fields);
/* True once the load started last is complete. */
bool loader_done(const struct rules_loader *l);
/* Waits for the loading thread, if one runs. */
void loader_join(struct rules_loader *l);
/* Waits for the load, puts it in use (a bad reload is refused), matches the queued events. */
void rules_take(struct sensor *s);

/* ---- run.c ---- */

/* One round of a replay on one thread: up to BURST frames of r's merge. Returns true while
 * frames remain, false at the end of every file. */
bool replay_round(struct replay *r);
/* The stall callback of a replay worker's files (tw_merge_set_stall): its file waits for
 * another worker to let go of a block they share; the frames taken so far are read now (and
 * let go of), and its progress said. */
void replay_stall(void *ctx);
/* The counters of the replay's merge (worker 0's when the workers read the files). */
void replay_merge_stats(struct sensor *s, struct tw_merge_stats *ms);

/* The CPUs this process may run on, or 0 when unknown (run.c). */
unsigned cpus_to_run_on(void);

/* ---- workers.c ---- */

/* Frame callback of the reader in front of workers (ctx: the sensor): to the flow's worker. */
void spread_frame(void *ctx, const struct tw_frame *f);
/* Allocates n workers, not started. 0 or TW_ENOMEM. */
int workers_alloc(struct sensor *s, unsigned n);
/* Starts n workers (allocated here if not yet), sharing base's capacities: their threads make
 * their engines and wait for workers_go() before they read a frame. 0 or TW_ENOMEM. */
int workers_start(struct sensor *s, const struct tw_engine_config *base, unsigned n);
/* Waits until every worker started has its engine, then lets them go (with the matchers
 * rules_take() published to them), or tells them to end when rc or a worker failed: 0 or
 * TW_ENOMEM. */
int workers_go(struct sensor *s, int rc);
/* Stops the workers once each has processed every frame handed to it. */
/* Wakes the workers that wait for frames (after a burst was handed out). */
void workers_notify(struct sensor *s);
void workers_stall(void *ctx);
void workers_stop(struct sensor *s);
/* Stops and frees every worker with its engine, ring and capture sockets. */
void workers_free(struct sensor *s);

/* ---- stats.c ---- */

/* The counters of one engine and its output, into t. */
void engine_totals(const struct tw_engine *eng, const struct sink *k, struct totals *t);
/* Everything the run counted so far, into t. */
void gather(struct sensor *s, struct totals *t);
/* Capture counters of source i, summed over the workers' sockets in fanout mode. */
void source_stats(struct sensor *s, size_t i, struct tw_capture_stats *cs);
/* Writes one JSON stats line to the stats file (stderr without one). */
void write_stats(struct sensor *s);
/* Says once on stderr that checksum validation stopped (offload detected), when it has. */
void offload_notice(struct sensor *s);

/* ---- summary.c ---- */

/* Rewrites the progress line of a replay on stderr. */
void progress(struct sensor *s);
/* Writes the summary of a run that took secs seconds to stderr. */
void summary(struct sensor *s, double secs);

/* ---- report.c ---- */

struct report;
/* An empty table; NULL when out of memory. */
struct report *report_new(void);
/* Counts an alert (thread-safe). */
void report_alert(struct report *r, const struct tw_alert *a);
/* Writes the table, sorted. 0, or TW_EIO / TW_ENOMEM. */
int report_write(struct report *r, FILE *fp, enum tw_report_format fmt);
void report_free(struct report *r);

/* ---- inputs.c ---- */

/* Expands cfg's -r arguments into files and adds them to a merge; every problem is said on
 * stderr. 0, or -1 when a path the user named cannot be read (or nothing is left). */
int inputs_open(struct inputs *in, const struct tw_sensor_config *cfg);
/* Whether every file of the replay is a regular file (each can be read again from its
 * start by another thread: the replay workers' own merges), not standard input or a pipe. */
bool inputs_regular(const struct inputs *in);
void inputs_close(struct inputs *in);

/* ---- notify.c ---- */

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC; opens the socket. */
void notify_init(struct notify *n);
/* Sends one message ("READY=1", "STATUS=..."); nothing without a socket. */
void notify_send(struct notify *n, const char *msg);
/* WATCHDOG=1 when half the watchdog period has passed since the last one. */
void notify_tick(struct notify *n, double now);
void notify_close(struct notify *n);

/* ---- files.c ---- */

/* Opens a log file, truncated or appended to. NULL with errno on failure. */
FILE *open_log(const char *path, bool truncate);
/* Reopens the output and stats files (log rotation); a file that fails keeps the old one. */
void reopen_files(struct sensor *s);
/* Writes this process's pid to path. 0, or -1 with errno. */
int write_pid_file(const char *path);

/* ---- sinks.c ---- */

struct tw_jb;
/* Opens every -o sink (stdout without one). 0, or -1 said on stderr. */
int sinks_open(struct sensor *s);
/* Flushes the file sinks (a live sensor, once a second). */
void sinks_flush(struct sensor *s);
/* Lines written and not written, by kind, summed over the file outputs; false if none. */
bool sinks_line_counts(struct sensor *s, uint64_t written[TW_LINE__COUNT],
                       uint64_t unwritten[TW_LINE__COUNT]);
/* True once a file sink failed to write (the run stops). */
bool sinks_failed(const struct sensor *s);
/* Flushes the file sinks and says which failed: 0, or 2 (the exit status). */
int sinks_flush_report(struct sensor *s);
/* Log rotation: reopens the file sinks. */
void sinks_reopen(struct sensor *s);
/* Network sinks: drain within --drain-timeout, stop; says what was left. */
void sinks_drain(struct sensor *s);
/* Closes and frees every sink; returns status, or 2 if a file failed to close. */
int sinks_close(struct sensor *s, int status);
/* The network sinks' counters, as a "sinks" array (nothing without network sinks). */
void sinks_stats_json(struct sensor *s, struct tw_jb *jb);
/* The network sinks' counters, one summary line each. */
void sinks_summary(struct sensor *s);

/* ---- privileges.c ---- */

/* Switches to user, keeping attribution's capabilities if asked. 0, or -1 said on stderr. */
int drop_privileges(const char *user, bool attribution);

#endif /* TUNWATCH_SENSOR_IMPL_H */
