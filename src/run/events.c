/* SPDX-License-Identifier: MIT */
/*
 * Where an event goes once an engine emits it: held while the first rules load, then straight
 * to matching and output, or through the process attribution thread.
 */
#include "sensor_impl.h"

#include <string.h>

/*
 * An event leaves the engine: straight to matching and output, or, with process attribution,
 * to the attribution thread, which matches and writes it once the process is known. When its
 * queue is full the event is written here and now, marked unattributed: never lost.
 */
void deliver(struct sensor *s, struct tw_output *out, const struct tw_event *ev)
{
    if (s->attrib != NULL) {
        if (tw_attrib_submit(s->attrib, ev) == 0)
            return;
        struct tw_event e2 = *ev;
        e2.proc = (struct tw_proc){.status = TW_PROC_UNATTRIBUTED,
                                   .reason = TW_ATTRIB_REASON_QUEUE_FULL};
        atomic_fetch_add_explicit(&s->attr_queue_full, 1, memory_order_relaxed);
        tw_output_event(out, &e2);
        return;
    }
    tw_output_event(out, ev);
}

void deliver_main(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;
    deliver(s, &s->out, ev);
}

/* The attribution thread's sink: match, write, publish the counters for the stats. */
void attributed(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;
    struct tw_output *o = &s->attr_out;

    tw_output_event(o, ev);
    pthread_mutex_lock(&s->attr_lock);
    s->attr_snap.alerts = o->alerts;
    s->attr_snap.excluded = o->excluded;
    s->attr_snap.suppressed = o->suppressed;
    s->attr_snap.events_written = o->events_written;
    s->attr_snap.lines_dropped = o->lines_dropped;
    memcpy(s->attr_snap.events_seen, o->events_seen, sizeof(o->events_seen));
    pthread_mutex_unlock(&s->attr_lock);
}

void on_event(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;

    if (s->first_load) {
        if (!loader_done(&s->loader) && tw_evqueue_push(&s->pending, ev) == 0)
            return;
        rules_take(s); /* loaded, or the queue is full: wait for the loader */
    }
    deliver(s, &s->out, ev);
}
