/* SPDX-License-Identifier: MIT */
/*
 * Process attribution as an asynchronous stage: packet threads hand events over with
 * tw_attrib_submit(), which copies and never blocks; one thread of its own decides which side
 * of each event is this host, asks tw_procmap for the process behind the local socket, fills
 * ev->proc and passes the event to the sink.
 *
 * Lookups are retried on a schedule counted from submission (a SYN can be seen before
 * connect() returns, an accepted socket before accept(), a just-forked client before the /proc
 * walk reaches it). Events behind a retrying one are not held up: the output order may differ
 * from the submission order, by at most the retry schedule plus the time of the lookups.
 *
 * Memory is one buffer of cfg->queue_bytes taken at creation; an event occupies it (its deep
 * copy and a small header) from submission until its sink call has returned, retries included.
 */
#ifndef TUNWATCH_ATTRIB_H
#define TUNWATCH_ATTRIB_H

#include <stdint.h>

#include "tunwatch/event/event.h"
#include "tunwatch/host/procmap.h"

#define TW_ATTRIB_MAX_TRIES 8

/* The reason a caller gives an event it emits itself after tw_attrib_submit() refused it. */
#define TW_ATTRIB_REASON_QUEUE_FULL "queue_full"

/*
 * Called on the attribution thread, one event at a time, for every event submitted. ev and the
 * strings it points to are valid only during the call. ev->proc is filled: TW_PROC_FOUND with
 * pid, uid, image, user and comm; TW_PROC_UNATTRIBUTED with reason (tw_procmap_reason_name());
 * TW_PROC_NONE when neither side is this host (no lookup was made).
 */
typedef void (*tw_attrib_sink)(void *ctx, const struct tw_event *ev);

struct tw_attrib_config {
    tw_attrib_sink sink;
    void *ctx;
    size_t queue_bytes; /* 0: 1 MiB; at least one event must fit */
    /* Attempt i is made try_ms[i] milliseconds after submission (ascending); n_tries 0 means
     * {0, 2, 10, 50}. Only transient failures (tw_procmap_reason_transient: no UDP socket found is
     * final) are retried. */
    uint32_t try_ms[TW_ATTRIB_MAX_TRIES];
    unsigned n_tries;
    struct tw_procmap_config procmap;
};

struct tw_attrib_stats {
    uint64_t submitted;    /* accepted by tw_attrib_submit */
    uint64_t queue_full;   /* refused by tw_attrib_submit (TW_ENOMEM) */
    uint64_t done;         /* handed to the sink: attributed + unattributed + not_local +
                              responses */
    uint64_t attributed;   /* TW_PROC_FOUND */
    uint64_t unattributed; /* TW_PROC_UNATTRIBUTED, also counted by reason below */
    uint64_t by_reason[TW_PM__COUNT];
    uint64_t not_local;              /* TW_PROC_NONE: neither side is this host */
    uint64_t responses;              /* TW_PROC_NONE: DNS responses (category dns), not looked
                                        up: their query's event names the process */
    uint64_t retries;                /* lookups repeated after a transient failure */
    uint64_t queued_bytes;           /* buffer in use now */
    struct tw_procmap_stats procmap; /* as of the attribution thread's last pass */
};

struct tw_attrib;

/*
 * Starts the attribution thread. NULL on a bad configuration (no sink, a schedule that is not
 * ascending or too long, a queue too small; errno EINVAL), when out of memory, or when the
 * process map or the thread cannot be created (errno set).
 */
struct tw_attrib *tw_attrib_new(const struct tw_attrib_config *cfg);

/*
 * Queues a deep copy of ev (any ev->proc it carries is replaced). Safe from several threads at
 * once; takes a mutex for the copy, never waits for the attribution thread. 0, or TW_ENOMEM
 * (counted as queue_full) when the buffer has no room: the caller then emits the event itself,
 * unattributed with reason TW_ATTRIB_REASON_QUEUE_FULL.
 */
int tw_attrib_submit(struct tw_attrib *a, const struct tw_event *ev);

/* Returns once every event submitted before the call has been through the sink. Not from the
 * sink itself. */
void tw_attrib_drain(struct tw_attrib *a);

/* Drains, stops and joins the thread, frees everything. NULL is ignored. */
void tw_attrib_free(struct tw_attrib *a);

void tw_attrib_get_stats(struct tw_attrib *a, struct tw_attrib_stats *out);

#endif /* TUNWATCH_ATTRIB_H */
