/* SPDX-License-Identifier: MIT */
/*
 * Where an event goes once an engine emits it: held while the first rules load, then straight
 * to matching and output, or through the process attribution thread.
 */
#include "sensor_impl.h"

#include <string.h>

/* An alert line, and its count in the report. */
static void sink_alert(void *ctx, const struct tw_alert *a)
{
    struct sink *k = ctx;

    tw_output_alert(&k->out, a);
    report_alert(k->report, a);
}

/* The match stage, then the output: the event line (--events), then its alert lines. */
static void sink_event(struct sink *k, const struct tw_event *ev)
{
    tw_output_event(&k->out, ev);
    if (k->report != NULL)
        tw_match_event(&k->match, ev, sink_alert, k);
    else
        tw_match_event(&k->match, ev, tw_output_alert, &k->out);
}

void sink_output_init(struct sensor *s, struct sink *k)
{
    k->out.sinks = &s->sinks;
    k->out.events = s->sinks.events;
    k->out.fmt = &s->fmt;
    k->source_is_file = s->cfg->n_read_paths > 0;
    k->report = s->report; /* NULL until --report made it: run.c sets the main sink's then */
}

/* ev with its capture source: ev itself if it names one (or k knows none), else a copy in tmp
 * naming k's. */
static const struct tw_event *stamp(const struct sink *k, const struct tw_event *ev,
                                    struct tw_event *tmp)
{
    if (ev->source != NULL || k->source == NULL)
        return ev;
    *tmp = *ev;
    tmp->source = k->source;
    tmp->source_is_file = k->source_is_file;
    return tmp;
}

/*
 * An event leaves the engine: straight to matching and output, or, with process attribution,
 * to the attribution thread, which matches and writes it once the process is known. When its
 * queue is full the event is written here and now, marked unattributed: never lost.
 */
void deliver(struct sensor *s, struct sink *k, const struct tw_event *ev)
{
    struct tw_event stamped;

    ev = stamp(k, ev, &stamped);
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

void deliver_main(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;
    deliver(s, &s->sink, ev);
}

/* The attribution thread's sink: match, write, publish the counters for the stats. */
void attributed(void *ctx, const struct tw_event *ev)
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

void on_event(void *ctx, const struct tw_event *ev)
{
    struct sensor *s = ctx;
    struct tw_event stamped;

    ev = stamp(&s->sink, ev, &stamped); /* before it waits: the source may change meanwhile */
    if (s->first_load) {
        if (!loader_done(&s->loader) && tw_evqueue_push(&s->pending, ev) == 0)
            return;
        rules_take(s); /* loaded, or the queue is full: wait for the loader */
    }
    deliver(s, &s->sink, ev);
}
