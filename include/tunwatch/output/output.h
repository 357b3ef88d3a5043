/* SPDX-License-Identifier: MIT */
/*
 * Line output: alert lines (the match stage decides which) and, with --events, every event
 * (the hunting log), each formatted (tunwatch/output/format.h: native NDJSON, ECS, ASIM, CEF)
 * once for every format some sink of the run asks for, and handed whole to every sink that
 * takes it (sink.h): alerts to all, event lines to those that asked for events. It does not
 * match. See README, "Output schema", "Output formats" and "Sinks".
 *
 * A file sink writes through a struct tw_outfile, shared by every output (one per worker):
 * each line is put whole under its lock, so lines never interleave, and a reopen (log
 * rotation) swaps the file between two lines. The lock is taken once per output line, never
 * per packet. Write errors (full disk, closed pipe) are sticky and reported by
 * tw_outfile_flush().
 */
#ifndef TUNWATCH_OUTPUT_H
#define TUNWATCH_OUTPUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tunwatch/event/event.h"
#include "tunwatch/match/match.h"
#include "tunwatch/output/format.h"
#include "tunwatch/output/sink.h"

#define TW_LINE_MAX (64 * 1024)

/*
 * Lines are kept in the file's own buffer (whole lines only) and written with write(2); a
 * write that stops short (full disk) is cut back to the last whole line with ftruncate(2) on a
 * regular file, so the file never ends in a partial line. Counters say which lines reached
 * the file and which did not, by kind.
 */
/* (enum tw_line_kind: sink.h) */

struct tw_outfile {
    pthread_mutex_t lock;
    FILE *fp;                     /* its descriptor is written directly (never through stdio) */
    const char *path;             /* for messages */
    _Atomic int err;              /* errno of the first write error, 0 if none */
    char *buf;                    /* whole lines not yet written */
    size_t len, cap;
    uint8_t *kinds;               /* kind of each line in buf, in order */
    size_t n_lines, max_lines;
    uint64_t written[TW_LINE__COUNT]; /* lines that reached the file (under lock) */
    uint64_t unwritten[TW_LINE__COUNT]; /* lines lost to a write error (under lock) */
};

/* Wraps an open stream (stdout, or a file opened by the caller). 0 or TW_ENOMEM. */
int tw_outfile_init(struct tw_outfile *f, FILE *fp, const char *path);
/* Flushes; returns 0 or the errno of the first write error. */
int tw_outfile_flush(struct tw_outfile *f);
/* Puts one line (n bytes, its '\n' included) in f's buffer, or counts it lost after an
 * error. Thread-safe. */
void tw_outfile_write(struct tw_outfile *f, const char *line, size_t n, enum tw_line_kind kind);
/* Lines written and lines lost, by kind (a consistent snapshot). */
void tw_outfile_counts(struct tw_outfile *f, uint64_t written[TW_LINE__COUNT],
                       uint64_t unwritten[TW_LINE__COUNT]);
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
    /* Bit f set: some sink takes lines in format f (alert lines; event lines). */
    unsigned alert_formats, event_formats;
    /* Some sink sends lines keyed by the source address; by the Community ID. */
    bool key_source, key_community_id;
};

/* One per thread that writes (each worker, the attribution thread). */
struct tw_output {
    struct tw_sinkset *sinks;
    const struct tw_format_ctx *fmt; /* sensor identity, home networks, default source */
    bool events;                  /* format event lines (some sink takes them) */
    uint64_t events_written;
    uint64_t lines_dropped;       /* lines that did not fit TW_LINE_MAX (counted, never silent) */
    uint64_t events_seen[TW_CAT__COUNT];
    char line[TW_LINE_MAX];
    struct tw_format_memo memo; /* the event part of the last alert line */
};

/* Counts ev by category and, with o->events, writes it as an event line. */
void tw_output_event(struct tw_output *o, const struct tw_event *ev);

/* Writes a as an alert line; out is a struct tw_output (a tw_alert_fn for tw_match_event). */
void tw_output_alert(void *out, const struct tw_alert *a);


#endif /* TUNWATCH_OUTPUT_H */
