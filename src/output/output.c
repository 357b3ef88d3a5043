/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/output.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tunwatch/flow/communityid.h"
#include "tunwatch/output/json.h"
#include "tunwatch/output/syslog.h"
#include "tunwatch/proto/tls.h"

/* What a line carries to the sinks besides its bytes. */
struct line_meta {
    struct tw_sink_meta m;
    char cid[TW_COMMUNITY_ID_LEN];
    char src[TW_FIELD_TMP];
};

/* Hands the line to every sink that takes it: alerts to all, event lines to those that asked
 * for events. Every sink takes the native format today (tw_sink_format_available); once other
 * formats exist, each sink's tw_sink_format() picks the line it is handed. */
static void write_line(struct tw_output *o, struct tw_jb *jb, const struct line_meta *lm)
{
    if (jb->overflow) {
        o->lines_dropped++;
        return;
    }
    tw_jb_raw(jb, "\n", 1);
    if (jb->overflow) {
        o->lines_dropped++;
        return;
    }
    for (size_t i = 0; i < o->sinks->n; i++) {
        struct tw_sink *k = o->sinks->v[i];
        if (lm->m.alert || tw_sink_wants_events(k))
            tw_sink_write(k, jb->buf, jb->len - 1, &lm->m);
    }
}

/* "process": who owns the local socket, or why that is not known. */
static void process_fields(struct tw_jb *jb, const struct tw_proc *p)
{
    tw_jb_key(jb, "process");
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "status");
    tw_jb_cstr(jb, tw_proc_status_name(p->status));
    tw_jb_key(jb, "local");
    tw_jb_cstr(jb, p->local_is_source ? "source" : "destination");
    if (p->status == TW_PROC_FOUND) {
        tw_jb_key(jb, "pid");
        tw_jb_u64(jb, (uint64_t)(uint32_t)p->pid);
        tw_jb_key(jb, "uid");
        tw_jb_u64(jb, p->uid);
        tw_jb_key(jb, "user");
        tw_jb_cstr(jb, p->user != NULL ? p->user : "");
        tw_jb_key(jb, "image");
        tw_jb_cstr(jb, p->image != NULL ? p->image : "");
        tw_jb_key(jb, "comm");
        tw_jb_cstr(jb, p->comm != NULL ? p->comm : "");
    } else {
        tw_jb_key(jb, "reason");
        tw_jb_cstr(jb, p->reason != NULL ? p->reason : "");
    }
    tw_jb_raw(jb, "}", 1);
}

/* The parts shared by alerts and events: time, flow, category, evidence, names, fields. */
static void hex16(struct tw_jb *jb, const char *key, uint16_t v)
{
    char buf[8];

    snprintf(buf, sizeof(buf), "0x%04x", (unsigned)v);
    tw_jb_key(jb, key);
    tw_jb_cstr(jb, buf);
}

/* The ClientHello's oddities, when it had any: their names, and with an unusual legacy or
 * record version the versions as sent and the one supported_versions offers. */
static void tls_oddities(struct tw_jb *jb, const struct tw_event *ev)
{
    const uint32_t versions = (1u << TW_TLS_F_LEGACY_VERSION_UNUSUAL) |
                              (1u << TW_TLS_F_RECORD_VERSION_UNUSUAL);
    bool first = true;

    if (ev->tls_flags == 0)
        return;
    tw_jb_key(jb, "flags");
    tw_jb_raw(jb, "[", 1);
    for (unsigned t = 0; t < TW_TLS_F__COUNT; t++) {
        if (!(ev->tls_flags & (1u << t)))
            continue;
        if (!first)
            tw_jb_raw(jb, ",", 1);
        first = false;
        tw_jb_cstr(jb, tw_tls_flag_name((enum tw_tls_flag)t));
    }
    tw_jb_raw(jb, "]", 1);
    if (ev->tls_flags & versions) {
        hex16(jb, "version", ev->tls_version);
        hex16(jb, "legacy_version", ev->tls_legacy_version);
        if (ev->tls_record_version != 0)
            hex16(jb, "record_version", ev->tls_record_version);
    }
}

static void common_fields(struct tw_jb *jb, const struct tw_event *ev, struct line_meta *lm)
{
    char tmp[TW_FIELD_TMP];
    const char *val;
    size_t len;

    tw_jb_key(jb, "timestamp");
    tw_jb_time(jb, ev->ts_sec, ev->ts_nsec);
    tw_jb_key(jb, "flow_id");
    tw_jb_u64(jb, ev->flow_id);
    /* Community ID v1 (seed 0), as Zeek and Suricata compute it: pivots between their logs.
     * Computed here, for written lines only, not for every event. */
    if (tw_community_id(0, ev->ip_version, ev->src_addr, ev->dst_addr, ev->l4_proto, ev->sport,
                        ev->dport, lm->cid, sizeof(lm->cid)) == 0) {
        tw_jb_key(jb, "community_id");
        tw_jb_cstr(jb, lm->cid);
        lm->m.community_id = lm->cid;
    }
    tw_jb_key(jb, "category");
    tw_jb_cstr(jb, tw_category_name(ev->category));
    tw_jb_key(jb, "evidence");
    tw_jb_cstr(jb, tw_evidence_name(ev->evidence));
    tw_jb_key(jb, "name");
    tw_jb_str(jb, ev->raw, ev->raw_len);
    tw_jb_key(jb, "name_normalized");
    tw_jb_str(jb, ev->norm, ev->norm_len);
    if (ev->name_truncated) {
        tw_jb_key(jb, "name_truncated");
        tw_jb_bool(jb, true);
    }
    tw_jb_key(jb, "event");
    tw_jb_raw(jb, "{", 1);
    for (unsigned f = 0; f < TW_F__COUNT; f++) {
        if (f == TW_F_JA4) /* written with the TLS details below */
            continue;
        if (!tw_event_field(ev, (enum tw_field)f, tmp, sizeof(tmp), &val, &len))
            continue;
        tw_jb_key(jb, tw_field_name((enum tw_field)f));
        if (f == TW_F_SOURCE_IP && len < sizeof(lm->src)) {
            memcpy(lm->src, val, len);
            lm->src[len] = '\0';
            lm->m.source = lm->src;
        }
        if (f == TW_F_QUERY_NAME || f == TW_F_DESTINATION_HOSTNAME)
            tw_jb_str(jb, ev->raw, ev->raw_len); /* as seen; rules match name_normalized */
        else if (f == TW_F_DESTINATION_PORT || f == TW_F_SOURCE_PORT || f == TW_F_PROCESS_ID)
            tw_jb_raw(jb, val, len);
        else
            tw_jb_str(jb, val, len);
    }
    tw_jb_raw(jb, "}", 1);
    tw_jb_key(jb, "midstream");
    tw_jb_bool(jb, ev->midstream);
    tw_jb_key(jb, "direction");
    tw_jb_cstr(jb, tw_direction_name(ev->direction));
    if (ev->proc.status != TW_PROC_NONE)
        process_fields(jb, &ev->proc);
    if (ev->answer_name != NULL) {
        tw_jb_key(jb, "dns_answer");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "name");
        tw_jb_cstr(jb, ev->answer_name);
        tw_jb_key(jb, "cname_chain");
        tw_jb_cstr(jb, ev->answer_chain != NULL ? ev->answer_chain : "");
        tw_jb_raw(jb, "}", 1);
    }
    if (ev->http_host_raw != NULL) {
        tw_jb_key(jb, "http");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "host");
        tw_jb_cstr(jb, ev->http_host_raw);
        tw_jb_raw(jb, "}", 1);
    }
    if (ev->evidence == TW_EV_TLS_SNI || ev->evidence == TW_EV_QUIC_SNI) {
        tw_jb_key(jb, "tls");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "ech");
        tw_jb_bool(jb, ev->ech);
        const char *ja4 = tw_event_ja4(ev);
        if (ja4 != NULL) {
            tw_jb_key(jb, "ja4");
            tw_jb_cstr(jb, ja4);
        }
        tls_oddities(jb, ev);
        tw_jb_raw(jb, "}", 1);
    }
}

void tw_output_alert(void *out, const struct tw_alert *a)
{
    struct tw_output *o = out;
    const struct tw_rule_info *rule = a->rule;
    struct line_meta lm = {.m = {.alert = true,
                                 .severity = tw_syslog_severity_for_level(rule->level)}};
    struct tw_jb jb;

    tw_jb_init(&jb, o->line, sizeof(o->line));
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "type");
    tw_jb_lit(&jb, "\"alert\"");
    tw_jb_key(&jb, "rule");
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "id");
    tw_jb_cstr(&jb, rule->id);
    tw_jb_key(&jb, "title");
    tw_jb_cstr(&jb, rule->title);
    tw_jb_key(&jb, "level");
    tw_jb_cstr(&jb, rule->level);
    tw_jb_key(&jb, "tags");
    tw_jb_raw(&jb, "[", 1);
    for (size_t i = 0; i < rule->n_tags; i++) {
        if (i > 0)
            tw_jb_raw(&jb, ",", 1);
        tw_jb_cstr(&jb, rule->tags[i]);
    }
    tw_jb_raw(&jb, "]", 1);
    tw_jb_key(&jb, "file");
    tw_jb_cstr(&jb, rule->file);
    if (rule->line > 0) {
        tw_jb_key(&jb, "line");
        tw_jb_u64(&jb, rule->line);
    }
    tw_jb_raw(&jb, "}", 1);
    common_fields(&jb, a->ev, &lm);
    if (a->suppressed_before > 0) {
        tw_jb_key(&jb, "suppressed_before");
        tw_jb_u64(&jb, a->suppressed_before);
    }
    if (a->matched_name != NULL) {
        /* The rule matched another name this connection goes by, not the event's own. */
        tw_jb_key(&jb, "matched");
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "name");
        tw_jb_cstr(&jb, a->matched_name);
        tw_jb_key(&jb, "via");
        tw_jb_cstr(&jb, a->via);
        tw_jb_raw(&jb, "}", 1);
    }
    tw_jb_raw(&jb, "}", 1);
    write_line(o, &jb, &lm);
}

void tw_output_event(struct tw_output *o, const struct tw_event *ev)
{
    struct line_meta lm = {.m = {.alert = false, .severity = 6 /* info */}};
    struct tw_jb jb;

    o->events_seen[ev->category]++;
    if (!o->events)
        return;
    tw_jb_init(&jb, o->line, sizeof(o->line));
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "type");
    tw_jb_lit(&jb, "\"event\"");
    common_fields(&jb, ev, &lm);
    tw_jb_raw(&jb, "}", 1);
    write_line(o, &jb, &lm);
    o->events_written++;
}

int tw_outfile_init(struct tw_outfile *f, FILE *fp, const char *path)
{
    f->fp = fp;
    f->path = path;
    atomic_init(&f->err, 0);
    return pthread_mutex_init(&f->lock, NULL) == 0 ? 0 : TW_ENOMEM;
}

static void flush_locked(struct tw_outfile *f)
{
    if (f->err == 0 && fflush(f->fp) != 0)
        f->err = errno != 0 ? errno : EIO;
}

int tw_outfile_flush(struct tw_outfile *f)
{
    pthread_mutex_lock(&f->lock);
    flush_locked(f);
    pthread_mutex_unlock(&f->lock);
    return f->err;
}

int tw_outfile_reopen(struct tw_outfile *f, const char *path)
{
    FILE *fp = fopen(path, "a");
    int e = errno;

    if (fp == NULL)
        return e != 0 ? e : EIO;
    pthread_mutex_lock(&f->lock);
    flush_locked(f);
    if (f->fp != stdout && fclose(f->fp) != 0 && f->err == 0)
        f->err = errno != 0 ? errno : EIO;
    f->fp = fp;
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

int tw_outfile_close(struct tw_outfile *f)
{
    pthread_mutex_lock(&f->lock);
    flush_locked(f);
    if (f->fp != NULL && f->fp != stdout && fclose(f->fp) != 0 && f->err == 0)
        f->err = errno != 0 ? errno : EIO;
    f->fp = NULL;
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_destroy(&f->lock);
    return f->err;
}
