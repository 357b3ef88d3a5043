/* SPDX-License-Identifier: MIT */
/*
 * What a run counted: totals gathered from the engine or the workers and the attribution
 * thread, capture counters per source, and the JSON stats line of --stats-interval.
 */
#include "sensor_impl.h"

#include <errno.h>
#include <string.h>

#include "tunwatch/output/json.h"

void engine_totals(const struct tw_engine *eng, const struct sink *k, struct totals *t)
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

/* Capture counters of interface i, summed over the workers' sockets in fanout mode. */
void source_stats(struct sensor *s, size_t i, struct tw_capture_stats *cs)
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

/* Everything the run counted so far. */
static void gather_workers(struct sensor *s, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    if (!s->fanout)
        tw_engine_stats_add(&t->es, &s->reader_st); /* frames, bytes, decoding */
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        struct totals snap;
        pthread_mutex_lock(&w->lock);
        snap = w->snap;
        pthread_mutex_unlock(&w->lock);
        tw_engine_stats_add(&t->es, &snap.es);
        t->fs.created += snap.fs.created;
        t->fs.evicted += snap.fs.evicted;
        t->fs.evicted_holding += snap.fs.evicted_holding;
        t->fs.expired += snap.fs.expired;
        t->fs.chained += snap.fs.chained;
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

void gather(struct sensor *s, struct totals *t)
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

void offload_notice(struct sensor *s)
{
    struct totals t;

    if (s->offload_said || s->cfg->prep.checksums != TW_CSUM_AUTO)
        return;
    gather(s, &t);
    if (t.es.prep.checksum_offload_detected == 0)
        return;
    s->offload_said = true;
    fprintf(stderr,
            "tunwatch: checksum_validation: off (offload detected: %llu of the first %llu "
            "packets had wrong checksums, as in a capture made on the sending host)\n",
            (unsigned long long)(t.es.prep.checksum_partial + t.es.prep.ip4_bad_checksum +
                                 t.es.prep.tcp_bad_checksum + t.es.prep.udp_bad_checksum),
            (unsigned long long)t.es.prep.checksum_checked);
}

/* One stats line (JSON) for --stats-interval. */
void write_stats(struct sensor *s)
{
    static char line[8192];
    struct tw_jb jb;
    struct totals t;
    struct tw_counter an[128];
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
    tw_jb_key(&jb, "evicted_holding");
    tw_jb_u64(&jb, t.fs.evicted_holding);
    tw_jb_key(&jb, "expired");
    tw_jb_u64(&jb, t.fs.expired);
    tw_jb_key(&jb, "chained");
    tw_jb_u64(&jb, t.fs.chained);
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
    tw_jb_key(&jb, "checksum_validation");
    tw_jb_cstr(&jb, tw_prep_checksum_state(s->cfg->prep.checksums, &t.es.prep));
    tw_jb_key(&jb, "defrag");
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "fragments");
    tw_jb_u64(&jb, t.es.prep.defrag.fragments);
    tw_jb_key(&jb, "reassembled");
    tw_jb_u64(&jb, t.es.prep.defrag.reassembled);
    tw_jb_raw(&jb, "}", 1);
    sinks_stats_json(s, &jb);
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
