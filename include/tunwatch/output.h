/* SPDX-License-Identifier: MIT */
/*
 * NDJSON output: alerts (every rule an event matches) and, with --events,
 * every event (the hunting log). One JSON object per line; see README,
 * "Output schema". Write errors (full disk, closed pipe) are sticky and
 * reported by tw_output_flush(). Several outputs (one per worker) may share
 * one FILE: each line is one fwrite, which stdio performs under the stream's
 * lock, so lines never interleave.
 */
#ifndef TUNWATCH_OUTPUT_H
#define TUNWATCH_OUTPUT_H

#include <stdatomic.h>
#include <stdio.h>

#include "tunwatch/event.h"
#include "tunwatch/rules.h"

#define TW_LINE_MAX (64 * 1024)

struct tw_output {
    FILE *fp;
    const char *path;             /* for messages */
    /* The matcher. Atomic: with several workers a reload swaps it while they run (the old
     * set is freed only once every worker has passed a burst boundary). */
    const struct tw_ruleset *_Atomic rules;
    bool events;                  /* also write every event */
    int err;                      /* errno of the first write error, 0 if none */
    uint64_t alerts;
    uint64_t events_written;
    uint64_t lines_dropped;       /* lines that did not fit TW_LINE_MAX (counted, never silent) */
    uint64_t events_seen[TW_CAT__COUNT];
    char line[TW_LINE_MAX];
};

/* Sink for tw_engine: matches ev against the rules and writes what is due. */
void tw_output_event(void *out, const struct tw_event *ev);

/* Flushes; returns 0 or the errno of the first write error. */
int tw_output_flush(struct tw_output *o);

#endif /* TUNWATCH_OUTPUT_H */
