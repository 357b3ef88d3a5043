/* SPDX-License-Identifier: MIT */
/*
 * NDJSON output: alert lines (the match stage decides which) and, with --events,
 * every event (the hunting log). It formats and writes; it does not match. Each line goes to
 * every sink of the run that takes it (sink.h): alerts to all, event lines to those that
 * asked for events. One JSON object
 * per line; see README,
 * "Output schema". Write errors (full disk, closed pipe) are sticky and
 * reported by tw_outfile_flush(). Several outputs (one per worker) share one
 * struct tw_outfile: each line is written whole under its lock, so lines
 * never interleave, and a reopen (log rotation) swaps the file between two
 * lines. The lock is taken once per output line, never per packet.
 */
#ifndef TUNWATCH_OUTPUT_H
#define TUNWATCH_OUTPUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tunwatch/event/event.h"
#include "tunwatch/match/match.h"
#include "tunwatch/output/sink.h"

#define TW_LINE_MAX (64 * 1024)

struct tw_outfile {
    pthread_mutex_t lock;
    FILE *fp;
    const char *path;             /* for messages */
    _Atomic int err;              /* errno of the first write error, 0 if none */
};

/* Wraps an open stream (stdout, or a file opened by the caller). 0 or TW_ENOMEM. */
int tw_outfile_init(struct tw_outfile *f, FILE *fp, const char *path);
/* Flushes; returns 0 or the errno of the first write error. */
int tw_outfile_flush(struct tw_outfile *f);
/* Log rotation: opens path for appending and swaps it in; on failure keeps the old
 * stream and returns the errno. */
int tw_outfile_reopen(struct tw_outfile *f, const char *path);
/* Flushes and closes (not stdout); returns 0 or the errno of the first error. */
int tw_outfile_close(struct tw_outfile *f);

/* The sinks every output writes to (-o, repeatable), opened once for the run. */
struct tw_sinkset {
    struct tw_sink *v[TW_MAX_SINKS];
    size_t n;
    bool events; /* some sink takes event lines */
};

/* One per thread that writes (each worker, the attribution thread). */
struct tw_output {
    struct tw_sinkset *sinks;
    bool events;                  /* format event lines (some sink takes them) */
    uint64_t events_written;
    uint64_t lines_dropped;       /* lines that did not fit TW_LINE_MAX (counted, never silent) */
    uint64_t events_seen[TW_CAT__COUNT];
    char line[TW_LINE_MAX];
};

/* Counts ev by category and, with o->events, writes it as an "event" line. */
void tw_output_event(struct tw_output *o, const struct tw_event *ev);

/* Writes a as an "alert" line; out is a struct tw_output (a tw_alert_fn for tw_match_event). */
void tw_output_alert(void *out, const struct tw_alert *a);


#endif /* TUNWATCH_OUTPUT_H */
