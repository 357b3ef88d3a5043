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
        cs->reader = c->reader; /* the same for every worker's socket */
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
    uint64_t written[TW_LINE__COUNT];

    if (s->n_workers == 0)
        engine_totals(s->eng, &s->sink, t);
    else
        gather_workers(s, t);
    /* What reached the output, counted where lines are written (a full disk loses some). */
    if (sinks_line_counts(s, written, t->lines_unwritten)) {
        t->events_written = written[TW_LINE_EVENT];
        t->alerts_written = written[TW_LINE_ALERT];
    }
    if (s->attrib != NULL) {
        pthread_mutex_lock(&s->attr_lock);
        t->alerts += s->attr_snap.alerts;
        t->excluded += s->attr_snap.excluded;
        t->suppressed += s->attr_snap.suppressed;
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

/* "key":v, only when v is not zero: a stats line carries what happened, not every counter. */
static void nz(struct tw_jb *jb, const char *key, uint64_t v)
{
    if (v == 0)
        return;
    tw_jb_key(jb, key);
    tw_jb_u64(jb, v);
}

/* Opens "key":{ ; close_obj() removes it again when nothing was written inside. */
static size_t open_obj(struct tw_jb *jb, const char *key)
{
    size_t at = jb->len;
    tw_jb_key(jb, key);
    tw_jb_raw(jb, "{", 1);
    return at;
}

static void close_obj(struct tw_jb *jb, size_t at)
{
    if (!jb->overflow && jb->len > 0 && jb->buf[jb->len - 1] == '{')
        jb->len = at; /* empty: drop the key too */
    else
        tw_jb_raw(jb, "}", 1);
}

/*
 * One stats line (JSON) for --stats-interval, schema in README ("Stats lines"): type,
 * timestamp and uptime_s always; every other counter only when it is not zero, objects only
 * when something inside them is.
 */
void write_stats(struct sensor *s)
{
    static char line[16384];
    struct tw_jb jb;
    struct totals t;
    struct tw_counter an[128];
    struct timespec now;
    size_t n, at;

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
    nz(&jb, "packets", t.es.packets);
    nz(&jb, "bytes", t.es.bytes);
    if (s->n_src > 0) {
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
            if (cs.reader != NULL) {
                tw_jb_key(&jb, "reader");
                tw_jb_cstr(&jb, cs.reader);
            }
            nz(&jb, "frames", cs.frames);
            nz(&jb, "received", cs.received);
            nz(&jb, "dropped", cs.dropped);
            nz(&jb, "ifdropped", cs.ifdropped);
            tw_jb_raw(&jb, "}", 1);
        }
        tw_jb_raw(&jb, "]", 1);
    }
    if (s->in.merge != NULL) {
        struct tw_merge_stats ms;
        replay_merge_stats(s, &ms);
        at = open_obj(&jb, "files");
        nz(&jb, "added", ms.files);
        nz(&jb, "open", ms.files_open);
        nz(&jb, "done", ms.files_done);
        nz(&jb, "failed", ms.files_failed);
        nz(&jb, "skipped", s->in.skipped);
        close_obj(&jb, at);
    }
    if (s->n_workers > 1) {
        tw_jb_key(&jb, "workers");
        tw_jb_raw(&jb, "[", 1);
        for (unsigned i = 0; i < s->n_workers; i++) {
            uint64_t pk, fl;
            pthread_mutex_lock(&s->workers[i].lock);
            pk = s->workers[i].snap.es.packets;
            fl = s->workers[i].snap.fs.active;
            pthread_mutex_unlock(&s->workers[i].lock);
            if (i > 0)
                tw_jb_raw(&jb, ",", 1);
            tw_jb_raw(&jb, "{", 1);
            tw_jb_key(&jb, "worker");
            tw_jb_u64(&jb, i);
            nz(&jb, "packets", pk);
            nz(&jb, "flows_active", fl);
            tw_jb_raw(&jb, "}", 1);
        }
        tw_jb_raw(&jb, "]", 1);
    }
    nz(&jb, "worker_ring_drops", s->worker_drops);
    at = open_obj(&jb, "flows");
    nz(&jb, "active", t.fs.active);
    if (t.fs.active > 0)
        nz(&jb, "capacity", t.fs.capacity);
    nz(&jb, "created", t.fs.created);
    nz(&jb, "evicted", t.fs.evicted);
    nz(&jb, "evicted_holding", t.fs.evicted_holding);
    nz(&jb, "expired", t.fs.expired);
    nz(&jb, "chained", t.fs.chained);
    nz(&jb, "midstream", t.es.midstream);
    nz(&jb, "midstream_pickup", t.es.midstream_pickup);
    close_obj(&jb, at);
    at = open_obj(&jb, "names");
    nz(&jb, "dns_query", t.events_seen[TW_CAT_DNS_QUERY]);
    nz(&jb, "network_connection", t.events_seen[TW_CAT_NETWORK_CONNECTION]);
    close_obj(&jb, at);
    nz(&jb, "alerts", t.alerts);
    nz(&jb, "alerts_excluded", t.excluded);
    nz(&jb, "alerts_suppressed", t.suppressed);
    at = open_obj(&jb, "output");
    nz(&jb, "alerts_written", t.alerts_written);
    nz(&jb, "events_written", t.events_written);
    nz(&jb, "alerts_not_written", t.lines_unwritten[TW_LINE_ALERT]);
    nz(&jb, "events_not_written", t.lines_unwritten[TW_LINE_EVENT]);
    nz(&jb, "lines_dropped", t.lines_dropped);
    close_obj(&jb, at);
    if (s->anscache != NULL) {
        struct tw_anscache_stats as;
        tw_anscache_get_stats(s->anscache, &as);
        at = open_obj(&jb, "dns_answer_cache");
        nz(&jb, "entries", as.entries);
        nz(&jb, "learnt", t.es.dns_answers_learnt);
        nz(&jb, "hits", as.hits);
        nz(&jb, "misses", as.misses);
        nz(&jb, "expired", as.expired);
        nz(&jb, "evicted", as.evicted);
        nz(&jb, "flows_named", t.es.answer_named_flows);
        close_obj(&jb, at);
    }
    if (s->attrib != NULL) {
        struct tw_attrib_stats ast;
        tw_attrib_get_stats(s->attrib, &ast);
        at = open_obj(&jb, "processes");
        nz(&jb, "attributed", ast.attributed);
        nz(&jb, "unattributed", ast.unattributed);
        nz(&jb, "not_local", ast.not_local);
        nz(&jb, "queue_full", atomic_load(&s->attr_queue_full));
        nz(&jb, "retries", ast.retries);
        nz(&jb, "proc_newest", ast.procmap.recent_hits);
        nz(&jb, "proc_scans", ast.procmap.proc_scans);
        size_t at2 = open_obj(&jb, "unattributed_by_reason");
        for (unsigned r = 1; r < TW_PM__COUNT; r++)
            nz(&jb, tw_procmap_reason_name((enum tw_procmap_reason)r), ast.by_reason[r]);
        close_obj(&jb, at2);
        close_obj(&jb, at);
    }
    tw_jb_key(&jb, "checksum_validation");
    tw_jb_cstr(&jb, tw_prep_checksum_state(s->cfg->prep.checksums, &t.es.prep));
    at = open_obj(&jb, "defrag");
    nz(&jb, "fragments", t.es.prep.defrag.fragments);
    nz(&jb, "reassembled", t.es.prep.defrag.reassembled);
    close_obj(&jb, at);
    sinks_stats_json(s, &jb);
    if (s->matchers != NULL) { /* the rules in force: none until the first load is done */
        struct tw_ruleset_stats rs = {0};
        tw_ruleset_get_stats(s->matchers->rules, &rs);
        nz(&jb, "rules_loaded", rs.loaded);
    }
    nz(&jb, "rule_reloads", s->reloads);
    nz(&jb, "rule_reload_failures", s->reload_failures);
    at = open_obj(&jb, "anomalies");
    n = tw_engine_anomalies(&t.es, an, TW_ARRAY_SIZE(an));
    for (size_t i = 0; i < n && i < TW_ARRAY_SIZE(an); i++)
        nz(&jb, an[i].name, an[i].value);
    nz(&jb, "output_lines_dropped", t.lines_dropped);
    close_obj(&jb, at);
    tw_jb_raw(&jb, "}\n", 2);
    if (jb.overflow)
        return;
    FILE *fp = s->stats_fp != NULL ? s->stats_fp : stderr;
    if (fwrite(line, 1, jb.len, fp) != jb.len || fflush(fp) != 0)
        fprintf(stderr, "tunwatch: writing stats: %s\n", strerror(errno));
}
