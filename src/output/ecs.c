/* SPDX-License-Identifier: MIT */
/*
 * Elastic Common Schema 8 NDJSON: nested objects with ECS names and allowed values; what ECS
 * has no field for goes under tunwatch.* (never a top-level object of our own that ECS
 * reserves, such as event). One non-standard ECS field: tls.client.ja4 (ECS defines
 * tls.client.ja3 only; the JA4 string sits beside it). README "Output formats" maps every
 * field.
 */
#include "tunwatch/output/format.h"

#include <stdio.h>
#include <string.h>

#include "format_impl.h"
#include "tunwatch/proto/dns.h"

#define ECS_VERSION "8.11.0"

static void obj(struct tw_jb *jb, const char *key)
{
    tw_jb_key(jb, key);
    tw_jb_raw(jb, "{", 1);
}

static void end(struct tw_jb *jb)
{
    tw_jb_raw(jb, "}", 1);
}

static void kstr(struct tw_jb *jb, const char *key, const char *s)
{
    tw_jb_key(jb, key);
    tw_jb_cstr(jb, s);
}

static void knum(struct tw_jb *jb, const char *key, uint64_t v)
{
    tw_jb_key(jb, key);
    tw_jb_u64(jb, v);
}

/* A field of the HTTP request under key, if the request had it. */
static void khttp(struct tw_jb *jb, const char *key, const struct tw_event *ev, enum tw_field f)
{
    const char *v = fmt_http(ev, f);
    if (v != NULL)
        kstr(jb, key, v);
}

static const char *ecs_direction(enum fmt_dir d)
{
    switch (d) {
    case FMT_DIR_OUTBOUND:
        return "outbound";
    case FMT_DIR_INBOUND:
        return "inbound";
    case FMT_DIR_INTERNAL:
        return "internal";
    case FMT_DIR_EXTERNAL:
        return "external";
    case FMT_DIR_UNKNOWN:
        break;
    }
    return "unknown";
}

/* event.*: kind alert/event, category network, type by what was seen. */
static void event_obj(struct tw_jb *jb, const struct tw_event *ev, const struct tw_alert *a)
{
    obj(jb, "event");
    kstr(jb, "kind", a != NULL ? "alert" : "event");
    tw_jb_key(jb, "category");
    tw_jb_lit(jb, "[\"network\"]");
    tw_jb_key(jb, "type");
    if (ev->category == TW_CAT_DNS_QUERY || ev->category == TW_CAT_DNS)
        tw_jb_lit(jb, "[\"protocol\",\"info\"]");
    else if (fmt_app_proto(ev) != NULL)
        tw_jb_lit(jb, "[\"connection\",\"protocol\"]");
    else
        tw_jb_lit(jb, "[\"connection\"]");
    kstr(jb, "module", "tunwatch");
    kstr(jb, "dataset", a != NULL ? "tunwatch.alert" : "tunwatch.event");
    kstr(jb, "action", tw_category_name(ev->category));
    if (a != NULL) {
        struct fmt_level lv = fmt_level(a->rule->level);
        knum(jb, "severity", lv.risk);
        knum(jb, "risk_score", lv.risk);
    }
    end(jb);
}

/* dns.* of a query: its question. */
static void dns_query_obj(struct tw_jb *jb, const struct tw_event *ev)
{
    char qt[16];

    obj(jb, "dns");
    kstr(jb, "type", "query");
    obj(jb, "question");
    tw_jb_key(jb, "name");
    tw_jb_str(jb, ev->raw, ev->raw_len);
    kstr(jb, "type", fmt_qtype(ev, qt, sizeof(qt)));
    end(jb);
    end(jb);
}

/* dns.* of a response: id, question, response_code, header_flags, answers (data, type, ttl)
 * and resolved_ip (the addresses among them). */
static void dns_answer_obj(struct tw_jb *jb, const struct tw_event *ev)
{
    const struct tw_dns_resp *d = &ev->dns;
    const char *flags[FMT_DNS_FLAGS];
    unsigned nf = fmt_dns_flags(ev, flags);
    char qt[16], id[8];
    unsigned nip = 0;

    obj(jb, "dns");
    kstr(jb, "type", "answer");
    snprintf(id, sizeof(id), "%u", d->id);
    kstr(jb, "id", id);
    obj(jb, "question");
    tw_jb_key(jb, "name");
    tw_jb_str(jb, ev->raw, ev->raw_len);
    kstr(jb, "type", fmt_qtype(ev, qt, sizeof(qt)));
    end(jb);
    kstr(jb, "response_code", tw_dns_rcode_name((uint8_t)(d->flags & 0xF)));
    tw_jb_key(jb, "header_flags");
    tw_jb_raw(jb, "[", 1);
    for (unsigned i = 0; i < nf; i++) {
        if (i > 0)
            tw_jb_raw(jb, ",", 1);
        tw_jb_cstr(jb, flags[i]);
    }
    tw_jb_raw(jb, "]", 1);
    if (d->n_answers > 0) {
        tw_jb_key(jb, "answers");
        tw_jb_raw(jb, "[", 1);
        for (unsigned i = 0; i < d->n_answers; i++) {
            if (i > 0)
                tw_jb_raw(jb, ",", 1);
            tw_jb_raw(jb, "{", 1);
            kstr(jb, "data", fmt_dns_answer(ev, i));
            kstr(jb, "type", fmt_rrtype(d->types[i], qt, sizeof(qt)));
            knum(jb, "ttl", d->ttls[i]);
            tw_jb_raw(jb, "}", 1);
        }
        tw_jb_raw(jb, "]", 1);
    }
    for (unsigned i = 0; i < d->n_answers; i++) {
        if (d->types[i] != 1 && d->types[i] != 28) /* A, AAAA */
            continue;
        if (nip++ == 0) {
            tw_jb_key(jb, "resolved_ip");
            tw_jb_raw(jb, "[", 1);
        } else {
            tw_jb_raw(jb, ",", 1);
        }
        tw_jb_cstr(jb, fmt_dns_answer(ev, i));
    }
    if (nip > 0)
        tw_jb_raw(jb, "]", 1);
    end(jb);
}

/* rule.* and threat.* (MITRE ATT&CK from the rule's tags); ev the event it fired on. */
static void rule_obj(struct tw_jb *jb, const struct tw_rule_info *r, const struct tw_event *ev)
{
    char tech[16];
    const char *tname, *tid;
    int kind;
    bool any;

    obj(jb, "rule");
    kstr(jb, "id", r->id);
    kstr(jb, "name", r->title);
    if (r->description != NULL)
        kstr(jb, "description", r->description);
    if (r->n_references > 0)
        kstr(jb, "reference", r->references[0]);
    /* An indicator's category is that of the event it fired on. */
    kstr(jb, "category",
         tw_category_name(r->category < TW_CAT__COUNT ? r->category : ev->category));
    kstr(jb, "ruleset", strncmp(r->id, "intel-", 6) == 0 ? "intel" : "sigma");
    end(jb);

    /* threat.technique.id and threat.tactic.{name,id}: only when the tags name some. */
    bool has_tech = false, has_tactic = false;
    for (size_t i = 0; i < r->n_tags; i++) {
        kind = fmt_attack_tag(r->tags[i], tech, sizeof(tech), &tname, &tid);
        has_tech |= kind == 1;
        has_tactic |= kind == 2;
    }
    if (!has_tech && !has_tactic)
        return;
    obj(jb, "threat");
    kstr(jb, "framework", "MITRE ATT&CK");
    if (has_tech) {
        obj(jb, "technique");
        tw_jb_key(jb, "id");
        tw_jb_raw(jb, "[", 1);
        any = false;
        for (size_t i = 0; i < r->n_tags; i++)
            if (fmt_attack_tag(r->tags[i], tech, sizeof(tech), &tname, &tid) == 1) {
                if (any)
                    tw_jb_raw(jb, ",", 1);
                tw_jb_cstr(jb, tech);
                any = true;
            }
        tw_jb_raw(jb, "]", 1);
        end(jb);
    }
    if (has_tactic) {
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0) {
                obj(jb, "tactic");
                tw_jb_key(jb, "name");
            } else {
                tw_jb_key(jb, "id");
            }
            tw_jb_raw(jb, "[", 1);
            any = false;
            for (size_t i = 0; i < r->n_tags; i++)
                if (fmt_attack_tag(r->tags[i], tech, sizeof(tech), &tname, &tid) == 2) {
                    if (any)
                        tw_jb_raw(jb, ",", 1);
                    tw_jb_cstr(jb, pass == 0 ? tname : tid);
                    any = true;
                }
            tw_jb_raw(jb, "]", 1);
        }
        end(jb);
    }
    end(jb);
}

static void ecs_line(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_event *ev,
                     const struct tw_alert *a, struct tw_format_memo *memo)
{
    (void)memo; /* not kept: each line is written whole */
    struct fmt_addrs ad;
    struct fmt_source src = fmt_source(c, ev);
    const char *app = fmt_app_proto(ev);
    const bool conn = ev->category == TW_CAT_NETWORK_CONNECTION;
    const bool tls = ev->evidence == TW_EV_TLS_SNI || ev->evidence == TW_EV_QUIC_SNI;
    const bool proc = ev->proc.status == TW_PROC_FOUND;

    fmt_addrs(ev, &ad);
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "@timestamp");
    tw_jb_time(jb, ev->ts_sec, ev->ts_nsec);
    obj(jb, "ecs");
    kstr(jb, "version", ECS_VERSION);
    end(jb);
    event_obj(jb, ev, a);
    if (a != NULL)
        rule_obj(jb, a->rule, a->ev);

    obj(jb, "source");
    kstr(jb, "ip", ad.src);
    knum(jb, "port", ev->sport);
    end(jb);
    obj(jb, "destination");
    kstr(jb, "ip", ad.dst);
    knum(jb, "port", ev->dport);
    if (conn) {
        tw_jb_key(jb, "domain");
        tw_jb_str(jb, ev->raw, ev->raw_len);
    }
    end(jb);

    obj(jb, "network");
    kstr(jb, "transport", ev->l4_proto == 6 ? "tcp" : ev->l4_proto == 17 ? "udp" : "other");
    kstr(jb, "type", ev->ip_version == 6 ? "ipv6" : "ipv4");
    if (app != NULL)
        kstr(jb, "protocol", app);
    kstr(jb, "direction", ecs_direction(fmt_direction(c, ev)));
    if (ad.community_id[0] != '\0')
        kstr(jb, "community_id", ad.community_id);
    end(jb);

    if (ev->category == TW_CAT_DNS_QUERY)
        dns_query_obj(jb, ev);
    else if (fmt_dns_response(ev))
        dns_answer_obj(jb, ev);
    if (tls) {
        obj(jb, "tls");
        obj(jb, "client");
        tw_jb_key(jb, "server_name");
        tw_jb_str(jb, ev->raw, ev->raw_len);
        const char *ja4 = tw_event_ja4(ev);
        if (ja4 != NULL)
            kstr(jb, "ja4", ja4);
        end(jb);
        end(jb);
    }
    if (ev->evidence == TW_EV_HTTP_HOST) {
        const char *ver = fmt_http(ev, TW_F_CS_VERSION);
        obj(jb, "http");
        obj(jb, "request");
        khttp(jb, "method", ev, TW_F_CS_METHOD);
        khttp(jb, "referrer", ev, TW_F_CS_REFERRER);
        end(jb);
        if (ver != NULL) {
            if (strncmp(ver, "HTTP/", 5) == 0)
                ver += 5;
            kstr(jb, "version", ver);
        }
        end(jb);
        obj(jb, "url");
        tw_jb_key(jb, "domain");
        tw_jb_str(jb, ev->raw, ev->raw_len);
        khttp(jb, "original", ev, TW_F_C_URI);
        khttp(jb, "path", ev, TW_F_C_URI_STEM);
        khttp(jb, "query", ev, TW_F_C_URI_QUERY);
        khttp(jb, "extension", ev, TW_F_C_URI_EXTENSION);
        end(jb);
        if (fmt_http(ev, TW_F_C_USERAGENT) != NULL) {
            obj(jb, "user_agent");
            khttp(jb, "original", ev, TW_F_C_USERAGENT);
            end(jb);
        }
    }
    if (proc) {
        obj(jb, "process");
        knum(jb, "pid", (uint32_t)ev->proc.pid);
        kstr(jb, "executable", fmt_s(ev->proc.image));
        kstr(jb, "name", fmt_s(ev->proc.comm));
        end(jb);
        obj(jb, "user");
        kstr(jb, "name", fmt_s(ev->proc.user));
        tw_jb_key(jb, "id");
        tw_jb_raw(jb, "\"", 1);
        tw_jb_u64(jb, ev->proc.uid);
        tw_jb_raw(jb, "\"", 1);
        end(jb);
    }

    obj(jb, "observer");
    kstr(jb, "hostname", c->sensor->hostname);
    kstr(jb, "name", c->sensor->name);
    kstr(jb, "type", "sensor");
    kstr(jb, "vendor", "tunwatch");
    kstr(jb, "product", "tunwatch");
    kstr(jb, "version", c->sensor->version);
    if (src.name != NULL && !src.is_file) {
        obj(jb, "ingress");
        obj(jb, "interface");
        kstr(jb, "name", src.name);
        end(jb);
        end(jb);
    }
    end(jb);

    obj(jb, "related");
    tw_jb_key(jb, "hosts");
    tw_jb_raw(jb, "[", 1);
    tw_jb_str(jb, ev->raw, ev->raw_len);
    if (ev->answer_name != NULL &&
        (strlen(ev->answer_name) != ev->raw_len || memcmp(ev->answer_name, ev->raw, ev->raw_len))) {
        tw_jb_raw(jb, ",", 1);
        tw_jb_cstr(jb, ev->answer_name);
    }
    if (a != NULL && a->matched_name != NULL) {
        tw_jb_raw(jb, ",", 1);
        tw_jb_cstr(jb, a->matched_name);
    }
    tw_jb_raw(jb, "]", 1);
    tw_jb_key(jb, "ip");
    tw_jb_raw(jb, "[", 1);
    tw_jb_cstr(jb, ad.src);
    if (strcmp(ad.src, ad.dst) != 0) {
        tw_jb_raw(jb, ",", 1);
        tw_jb_cstr(jb, ad.dst);
    }
    tw_jb_raw(jb, "]", 1);
    if (proc) {
        tw_jb_key(jb, "user");
        tw_jb_raw(jb, "[", 1);
        tw_jb_cstr(jb, fmt_s(ev->proc.user));
        tw_jb_raw(jb, "]", 1);
    }
    end(jb);

    /* What ECS has no field for. */
    obj(jb, "tunwatch");
    kstr(jb, "run_id", c->sensor->run_id);
    knum(jb, "flow_id", ev->flow_id);
    kstr(jb, "category", tw_category_name(ev->category));
    fmt_own_fields(jb, ev, &src);
    if (tls) {
        tw_jb_key(jb, "tls_ech");
        tw_jb_bool(jb, ev->ech);
        if (ev->tls_flags != 0) {
            tw_jb_key(jb, "tls_flags");
            fmt_tls_flags(jb, ev);
        }
    }
    if (fmt_dns_response(ev)) {
        knum(jb, "dns_z", ev->dns.z);
        tw_jb_key(jb, "dns_rejected");
        tw_jb_bool(jb, ev->dns.rejected);
        tw_jb_key(jb, "dns_ech");
        tw_jb_bool(jb, ev->dns.ech);
    }
    if (ev->http_host_raw != NULL)
        kstr(jb, "http_host", ev->http_host_raw);
    if (fmt_http(ev, TW_F_CS_COOKIE) != NULL)
        khttp(jb, "http_cookie", ev, TW_F_CS_COOKIE);
    if (ev->answer_name != NULL) {
        obj(jb, "dns_answer");
        kstr(jb, "name", ev->answer_name);
        kstr(jb, "cname_chain", fmt_s(ev->answer_chain));
        end(jb);
    }
    if (ev->proc.status != TW_PROC_NONE) {
        obj(jb, "process");
        kstr(jb, "status", tw_proc_status_name(ev->proc.status));
        kstr(jb, "local", ev->proc.local_is_source ? "source" : "destination");
        if (!proc)
            kstr(jb, "reason", fmt_s(ev->proc.reason));
        end(jb);
    }
    if (a != NULL) {
        const struct tw_rule_info *r = a->rule;
        obj(jb, "rule");
        kstr(jb, "level", r->level);
        tw_jb_key(jb, "tags");
        tw_jb_raw(jb, "[", 1);
        for (size_t i = 0; i < r->n_tags; i++) {
            if (i > 0)
                tw_jb_raw(jb, ",", 1);
            tw_jb_cstr(jb, r->tags[i]);
        }
        tw_jb_raw(jb, "]", 1);
        kstr(jb, "file", r->file);
        if (r->line > 0)
            knum(jb, "line", r->line);
        end(jb);
        if (a->suppressed_before > 0)
            knum(jb, "suppressed_before", a->suppressed_before);
        if (a->matched_name != NULL) {
            obj(jb, "matched");
            kstr(jb, "name", a->matched_name);
            kstr(jb, "via", a->via);
            end(jb);
        }
    }
    end(jb);
    tw_jb_raw(jb, "}", 1);
}

const struct tw_formatter tw_format_ecs = {.line = ecs_line};
