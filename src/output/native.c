/* SPDX-License-Identifier: MIT */
/* The native format: tunwatch's own NDJSON (README, "Output schema"). */
#include "tunwatch/output/format.h"

#include <stdio.h>
#include <string.h>

#include "format_impl.h"
#include "tunwatch/proto/tls.h"

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
        tw_jb_cstr(jb, fmt_s(p->user));
        tw_jb_key(jb, "image");
        tw_jb_cstr(jb, fmt_s(p->image));
        tw_jb_key(jb, "comm");
        tw_jb_cstr(jb, fmt_s(p->comm));
    } else {
        tw_jb_key(jb, "reason");
        tw_jb_cstr(jb, fmt_s(p->reason));
    }
    tw_jb_raw(jb, "}", 1);
}

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

    if (ev->tls_flags == 0)
        return;
    tw_jb_key(jb, "flags");
    fmt_tls_flags(jb, ev);
    if (ev->tls_flags & versions) {
        hex16(jb, "version", ev->tls_version);
        hex16(jb, "legacy_version", ev->tls_legacy_version);
        if (ev->tls_record_version != 0)
            hex16(jb, "record_version", ev->tls_record_version);
    }
}

/* One value of field f: numbers as numbers, booleans as booleans, the rest as strings. */
static void field_value(struct tw_jb *jb, enum tw_field f, const char *val, size_t len)
{
    switch (tw_field_kind(f)) {
    case TW_FK_NUMBER:
        tw_jb_raw(jb, val, len);
        break;
    case TW_FK_BOOL:
        tw_jb_bool(jb, len == 4 && memcmp(val, "true", 4) == 0);
        break;
    default:
        tw_jb_str(jb, val, len);
    }
}

/* A list field (answers, TTLs) as a JSON array of its values. */
static void list_field(struct tw_jb *jb, const struct tw_event *ev, enum tw_field f, char *tmp,
                       size_t cap)
{
    const char *val;
    size_t len;

    tw_jb_raw(jb, "[", 1);
    for (unsigned i = 0; tw_event_field_at(ev, f, i, tmp, cap, &val, &len); i++) {
        if (i > 0)
            tw_jb_raw(jb, ",", 1);
        field_value(jb, f, val, len);
    }
    tw_jb_raw(jb, "]", 1);
}

/* The parts shared by alerts and events: time, flow, category, evidence, names, fields. */
static void common_fields(struct tw_jb *jb, const struct tw_event *ev)
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
    char cid[TW_COMMUNITY_ID_LEN];
    if (tw_community_id(0, ev->ip_version, ev->src_addr, ev->dst_addr, ev->l4_proto, ev->sport,
                        ev->dport, cid, sizeof(cid)) == 0) {
        tw_jb_key(jb, "community_id");
        tw_jb_cstr(jb, cid);
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
        if (f == TW_F_QUERY_NAME || f == TW_F_DESTINATION_HOSTNAME)
            tw_jb_str(jb, ev->raw, ev->raw_len); /* as seen; rules match name_normalized */
        else if (tw_field_is_list((enum tw_field)f))
            list_field(jb, ev, (enum tw_field)f, tmp, sizeof(tmp));
        else
            field_value(jb, (enum tw_field)f, val, len);
    }
    tw_jb_raw(jb, "}", 1);
    tw_jb_key(jb, "midstream");
    tw_jb_bool(jb, ev->midstream);
    tw_jb_key(jb, "direction");
    tw_jb_cstr(jb, tw_direction_name(ev->direction));
    if (ev->stream_flags != 0) {
        tw_jb_key(jb, "stream_flags");
        fmt_stream_flags(jb, ev);
    }
    if (ev->dns_odd != 0) {
        tw_jb_key(jb, "dns_oddities");
        fmt_dns_oddities(jb, ev);
    }
    if (ev->proc.status != TW_PROC_NONE)
        process_fields(jb, &ev->proc);
    if (ev->answer_name != NULL) {
        tw_jb_key(jb, "dns_answer");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "name");
        tw_jb_cstr(jb, ev->answer_name);
        tw_jb_key(jb, "cname_chain");
        tw_jb_cstr(jb, fmt_s(ev->answer_chain));
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

/* common_fields() of the event of alert a; what they were for the alert before on the same
 * event (memo) is written again as it was. */
static void alert_common_fields(struct tw_jb *jb, const struct tw_alert *a,
                                struct tw_format_memo *memo)
{
    if (memo == NULL || a->ev_serial == 0) {
        common_fields(jb, a->ev);
        return;
    }
    if (memo->serial == a->ev_serial && memo->format == TW_FORMAT_NATIVE) {
        tw_jb_raw(jb, memo->buf, memo->len);
        return;
    }
    size_t start = jb->len;
    common_fields(jb, a->ev);
    memo->serial = 0;
    if (!jb->overflow && jb->len - start <= sizeof(memo->buf)) {
        memcpy(memo->buf, jb->buf + start, jb->len - start);
        memo->len = jb->len - start;
        memo->format = TW_FORMAT_NATIVE;
        memo->serial = a->ev_serial;
    }
}

/* Who wrote the line, last on every line: "sensor":{"name","run_id"} and the capture source,
 * "interface" or "pcap_filename". */
static void sensor_fields(struct tw_jb *jb, const struct tw_format_ctx *c,
                          const struct tw_event *ev)
{
    struct fmt_source src = fmt_source(c, ev);

    tw_jb_key(jb, "sensor");
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "name");
    tw_jb_cstr(jb, c->sensor->name);
    tw_jb_key(jb, "run_id");
    tw_jb_cstr(jb, c->sensor->run_id);
    tw_jb_raw(jb, "}", 1);
    if (src.name != NULL) {
        tw_jb_key(jb, src.is_file ? "pcap_filename" : "interface");
        tw_jb_cstr(jb, src.name);
    }
}

static void native_alert(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_alert *a,
                         struct tw_format_memo *memo)
{
    const struct tw_rule_info *rule = a->rule;

    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "type");
    tw_jb_lit(jb, "\"alert\"");
    tw_jb_key(jb, "rule");
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "id");
    tw_jb_cstr(jb, rule->id);
    tw_jb_key(jb, "title");
    tw_jb_cstr(jb, rule->title);
    tw_jb_key(jb, "level");
    tw_jb_cstr(jb, rule->level);
    tw_jb_key(jb, "tags");
    tw_jb_raw(jb, "[", 1);
    for (size_t i = 0; i < rule->n_tags; i++) {
        if (i > 0)
            tw_jb_raw(jb, ",", 1);
        tw_jb_cstr(jb, rule->tags[i]);
    }
    tw_jb_raw(jb, "]", 1);
    tw_jb_key(jb, "file");
    tw_jb_cstr(jb, rule->file);
    if (rule->line > 0) {
        tw_jb_key(jb, "line");
        tw_jb_u64(jb, rule->line);
    }
    tw_jb_raw(jb, "}", 1);
    alert_common_fields(jb, a, memo);
    if (a->suppressed_before > 0) {
        tw_jb_key(jb, "suppressed_before");
        tw_jb_u64(jb, a->suppressed_before);
    }
    if (a->matched_name != NULL) {
        /* The rule matched another name this connection goes by, not the event's own. */
        tw_jb_key(jb, "matched");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "name");
        tw_jb_cstr(jb, a->matched_name);
        tw_jb_key(jb, "via");
        tw_jb_cstr(jb, a->via);
        tw_jb_raw(jb, "}", 1);
    }
    sensor_fields(jb, c, a->ev);
    tw_jb_raw(jb, "}", 1);
}

static void native_event(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_event *ev)
{
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "type");
    tw_jb_lit(jb, "\"event\"");
    common_fields(jb, ev);
    sensor_fields(jb, c, ev);
    tw_jb_raw(jb, "}", 1);
}

static void native_line(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_event *ev,
                        const struct tw_alert *a, struct tw_format_memo *memo)
{
    if (a != NULL)
        native_alert(jb, c, a, memo);
    else
        native_event(jb, c, ev);
}

const struct tw_formatter tw_format_native = {.line = native_line};
