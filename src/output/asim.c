/* SPDX-License-Identifier: MIT */
/*
 * Microsoft Sentinel ASIM NDJSON, one flat object a line: network_connection events and their
 * alerts in the NetworkSession schema (0.2.6), dns_query events and their alerts in the Dns
 * schema (0.1.7). What ASIM has no column for goes into AdditionalFields.
 *
 * NetworkDirection reads Sysmon's Initiated (true: the local side opened the connection): a
 * flow opened from inside the home networks (Initiated "true") is Outbound, whatever its
 * destination; otherwise Inbound (to the home networks) or External (between foreign
 * addresses). So the seed's hunting query works as
 *   imNetworkSession | where (DstHostname endswith ".localto.net" or DstHostname endswith
 *   ".localtonet.com") and NetworkDirection == "Outbound"
 * DstHostname holds the whole name (ASIM's definition excludes the domain; the query, like
 * Sysmon's DestinationHostname, expects the full name), DstFQDN the same and DstDomain what
 * follows its first label. These and DnsQuery hold the name in the form rules match (ASCII
 * lowercase, one trailing dot removed, as ASIM asks of DnsQuery), so that a query on them
 * selects what the rules did; the name as seen on the wire is AdditionalFields.name.
 */
#include "tunwatch/output/format.h"

#include <stdio.h>
#include <string.h>

#include "format_impl.h"
#include "tunwatch/proto/dns.h"

#define ASIM_NETSESSION_VERSION "0.2.6"
#define ASIM_DNS_VERSION "0.1.7"

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

/* The name in the form rules match. */
static void kname(struct tw_jb *jb, const char *key, const struct tw_event *ev)
{
    tw_jb_key(jb, key);
    tw_jb_str(jb, ev->norm, ev->norm_len);
}

static void khttp(struct tw_jb *jb, const char *key, const struct tw_event *ev, enum tw_field f)
{
    const char *v = fmt_http(ev, f);
    if (v != NULL)
        kstr(jb, key, v);
}

static const char *asim_direction(const struct tw_format_ctx *c, const struct tw_event *ev)
{
    if (ev->initiated)
        return "Outbound";
    switch (fmt_direction(c, ev)) {
    case FMT_DIR_INBOUND:
        return "Inbound";
    case FMT_DIR_EXTERNAL:
        return "External";
    case FMT_DIR_OUTBOUND: /* not reached: initiated is the source side of it */
    case FMT_DIR_INTERNAL:
    case FMT_DIR_UNKNOWN:
        break;
    }
    return "NA";
}

static const char *asim_app(const struct tw_event *ev)
{
    switch (ev->evidence) {
    case TW_EV_TLS_SNI:
        return "TLS";
    case TW_EV_QUIC_SNI:
        return "QUIC";
    case TW_EV_HTTP_HOST:
        return "HTTP";
    case TW_EV_DNS_RESPONSE:
        return "DNS";
    case TW_EV_DNS_QUERY:
    case TW_EV_DNS_ANSWER:
    case TW_EV__COUNT:
        break;
    }
    return ev->category == TW_CAT_DNS_QUERY ? "DNS" : NULL;
}

/* The Dns schema's response fields: code and name, the answers (DnsResponseName: their texts
 * separated by commas, as ASIM parsers of other sensors write it), the flags. */
static void dns_response_fields(struct tw_jb *jb, const struct tw_event *ev)
{
    const struct tw_dns_resp *d = &ev->dns;
    const char *flags[FMT_DNS_FLAGS];
    unsigned nf = fmt_dns_flags(ev, flags);
    char id[8];

    knum(jb, "DnsResponseCode", d->flags & 0xF);
    kstr(jb, "DnsResponseCodeName", tw_dns_rcode_name((uint8_t)(d->flags & 0xF)));
    tw_jb_key(jb, "DnsResponseName");
    tw_jb_raw(jb, "\"", 1);
    for (unsigned i = 0; i < d->n_answers; i++) {
        const char *a = fmt_dns_answer(ev, i);
        if (i > 0)
            tw_jb_raw(jb, ",", 1);
        tw_jb_str_body(jb, a, strlen(a));
    }
    tw_jb_raw(jb, "\"", 1);
    tw_jb_key(jb, "DnsFlags");
    tw_jb_raw(jb, "\"", 1);
    for (unsigned i = 0; i < nf; i++) {
        if (i > 0)
            tw_jb_raw(jb, " ", 1);
        tw_jb_raw(jb, flags[i], strlen(flags[i]));
    }
    tw_jb_raw(jb, "\"", 1);
    for (size_t i = 0; i < FMT_DNS_FLAGS; i++) {
        tw_jb_key(jb, fmt_dns_flag_bits[i].asim);
        tw_jb_bool(jb, (d->flags & fmt_dns_flag_bits[i].bit) != 0);
    }
    tw_jb_key(jb, "DnsFlagsZ");
    tw_jb_bool(jb, d->z != 0);
    snprintf(id, sizeof(id), "%04X", d->id);
    kstr(jb, "TransactionIdHex", id);
}

static void asim_line(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_event *ev,
                      const struct tw_alert *a, struct tw_format_memo *memo)
{
    (void)memo; /* not kept: each line is written whole */
    const bool response = fmt_dns_response(ev);
    const bool dns = ev->category == TW_CAT_DNS_QUERY || response;
    const bool proc = ev->proc.status == TW_PROC_FOUND;
    struct fmt_source src = fmt_source(c, ev);
    struct fmt_addrs ad;
    const char *app = asim_app(ev);
    char qt[16], sid[TW_RUN_ID_LEN + 24];

    fmt_addrs(ev, &ad);
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "TimeGenerated");
    tw_jb_time(jb, ev->ts_sec, ev->ts_nsec);
    tw_jb_key(jb, "EventStartTime");
    tw_jb_time(jb, ev->ts_sec, ev->ts_nsec);
    tw_jb_key(jb, "EventEndTime");
    tw_jb_time(jb, ev->ts_sec, ev->ts_nsec);
    knum(jb, "EventCount", 1);
    kstr(jb, "EventVendor", "tunwatch");
    kstr(jb, "EventProduct", "tunwatch");
    kstr(jb, "EventProductVersion", c->sensor->version);
    kstr(jb, "EventSchema", dns ? "Dns" : "NetworkSession");
    kstr(jb, "EventSchemaVersion", dns ? ASIM_DNS_VERSION : ASIM_NETSESSION_VERSION);
    if (dns) {
        kstr(jb, "EventType", "Query");
        /* A CNAME target is read from a response; a question from a request. */
        kstr(jb, "EventSubType",
             ev->evidence == TW_EV_DNS_ANSWER || response ? "response" : "request");
    } else {
        /* On an endpoint (the process is known) the session is the host's own. */
        kstr(jb, "EventType", proc ? "EndpointNetworkSession" : "NetworkSession");
    }
    if (response) {
        /* A response says whether the query succeeded (ASIM: a response code other than
         * NOERROR is a failure, its name the details). */
        const char *rc = tw_dns_rcode_name((uint8_t)(ev->dns.flags & 0xF));
        kstr(jb, "EventResult", (ev->dns.flags & 0xF) == 0 ? "Success" : "Failure");
        kstr(jb, "EventResultDetails", rc);
    } else {
        /* A passive sensor sees the request, not whether it succeeded. */
        kstr(jb, "EventResult", "NA");
    }
    kstr(jb, "EventSeverity", a != NULL ? fmt_level(a->rule->level).asim : "Informational");
    kstr(jb, "EventOriginalType", tw_category_name(ev->category));

    kstr(jb, "Dvc", c->sensor->name);
    kstr(jb, "DvcHostname", c->sensor->hostname);
    if (src.name != NULL && !src.is_file)
        kstr(jb, "DvcInterface", src.name);

    kstr(jb, "SrcIpAddr", ad.src);
    knum(jb, "SrcPortNumber", ev->sport);
    kstr(jb, "DstIpAddr", ad.dst);
    knum(jb, "DstPortNumber", ev->dport);
    kstr(jb, "NetworkProtocol", ev->l4_proto == 6 ? "TCP" : ev->l4_proto == 17 ? "UDP" : "Other");
    kstr(jb, "NetworkProtocolVersion", ev->ip_version == 6 ? "IPv6" : "IPv4");
    snprintf(sid, sizeof(sid), "%s:%llu", c->sensor->run_id, (unsigned long long)ev->flow_id);
    if (dns) {
        kstr(jb, "DnsSessionId", sid);
        kname(jb, "DnsQuery", ev);
        knum(jb, "DnsQueryType", ev->qtype);
        kstr(jb, "DnsQueryTypeName", fmt_qtype(ev, qt, sizeof(qt)));
        if (response)
            dns_response_fields(jb, ev);
    } else {
        size_t dlen;
        const char *dom = fmt_domain(ev->norm, ev->norm_len, &dlen);
        kstr(jb, "NetworkSessionId", sid);
        kstr(jb, "NetworkDirection", asim_direction(c, ev));
        if (app != NULL)
            kstr(jb, "NetworkApplicationProtocol", app);
        kname(jb, "DstHostname", ev);
        kname(jb, "DstFQDN", ev);
        if (dlen > 0) {
            tw_jb_key(jb, "DstDomain");
            tw_jb_str(jb, dom, dlen);
            kstr(jb, "DstDomainType", "FQDN");
        }
        if (ev->evidence == TW_EV_HTTP_HOST) {
            khttp(jb, "HttpRequestMethod", ev, TW_F_CS_METHOD);
            khttp(jb, "Url", ev, TW_F_C_URI);
            khttp(jb, "HttpUserAgent", ev, TW_F_C_USERAGENT);
            khttp(jb, "HttpReferrer", ev, TW_F_CS_REFERRER);
        }
    }
    if (proc) {
        /* The process owns the local socket: the source's, or (a local server) the
         * destination's. */
        const char *side = ev->proc.local_is_source ? "Src" : "Dst";
        char key[32];
        snprintf(key, sizeof(key), "%sProcessName", side);
        kstr(jb, key, fmt_s(ev->proc.image));
        snprintf(key, sizeof(key), "%sProcessId", side);
        tw_jb_key(jb, key);
        tw_jb_raw(jb, "\"", 1);
        tw_jb_u64(jb, (uint32_t)ev->proc.pid);
        tw_jb_raw(jb, "\"", 1);
        snprintf(key, sizeof(key), "%sUsername", side);
        kstr(jb, key, fmt_s(ev->proc.user));
        snprintf(key, sizeof(key), "%sUsernameType", side);
        kstr(jb, key, "Simple");
    }
    if (a != NULL) {
        const struct tw_rule_info *r = a->rule;
        struct fmt_level lv = fmt_level(r->level);
        kstr(jb, dns ? "RuleName" : "NetworkRuleName", r->title);
        kstr(jb, "Rule", r->title);
        kstr(jb, "ThreatId", r->id);
        kstr(jb, "ThreatName", r->title);
        knum(jb, "ThreatRiskLevel", lv.risk);
        kstr(jb, "ThreatOriginalRiskLevel", r->level);
        kstr(jb, "ThreatField", dns ? "DnsQuery" : "DstHostname");
        char tech[16];
        const char *tname = NULL, *tid;
        for (size_t i = 0; i < r->n_tags && tname == NULL; i++)
            if (fmt_attack_tag(r->tags[i], tech, sizeof(tech), &tname, &tid) != 2)
                tname = NULL;
        if (tname != NULL)
            kstr(jb, "ThreatCategory", tname);
    }

    tw_jb_key(jb, "AdditionalFields");
    tw_jb_raw(jb, "{", 1);
    kstr(jb, "sensor_run_id", c->sensor->run_id);
    knum(jb, "flow_id", ev->flow_id);
    if (ad.community_id[0] != '\0')
        kstr(jb, "community_id", ad.community_id);
    fmt_own_fields(jb, ev, &src);
    if (ev->evidence == TW_EV_TLS_SNI || ev->evidence == TW_EV_QUIC_SNI) {
        tw_jb_key(jb, "tls_ech");
        tw_jb_bool(jb, ev->ech);
        if (ev->tls_flags != 0) {
            tw_jb_key(jb, "tls_flags");
            fmt_tls_flags(jb, ev);
        }
        const char *ja4 = tw_event_ja4(ev);
        if (ja4 != NULL)
            kstr(jb, "ja4", ja4);
    }
    if (ev->http_host_raw != NULL)
        kstr(jb, "http_host", ev->http_host_raw);
    khttp(jb, "http_version", ev, TW_F_CS_VERSION);
    khttp(jb, "http_uri_path", ev, TW_F_C_URI_STEM);
    khttp(jb, "http_uri_query", ev, TW_F_C_URI_QUERY);
    khttp(jb, "http_uri_extension", ev, TW_F_C_URI_EXTENSION);
    khttp(jb, "http_cookie", ev, TW_F_CS_COOKIE);
    if (response) {
        tw_jb_key(jb, "dns_answers");
        tw_jb_raw(jb, "[", 1);
        for (unsigned i = 0; i < ev->dns.n_answers; i++) {
            if (i > 0)
                tw_jb_raw(jb, ",", 1);
            tw_jb_cstr(jb, fmt_dns_answer(ev, i));
        }
        tw_jb_raw(jb, "]", 1);
        tw_jb_key(jb, "dns_rejected");
        tw_jb_bool(jb, ev->dns.rejected);
        tw_jb_key(jb, "dns_ech");
        tw_jb_bool(jb, ev->dns.ech);
    }
    if (ev->answer_name != NULL) {
        kstr(jb, "dns_answer_name", ev->answer_name);
        kstr(jb, "dns_answer_cname_chain", fmt_s(ev->answer_chain));
    }
    if (ev->proc.status != TW_PROC_NONE) {
        kstr(jb, "process_status", tw_proc_status_name(ev->proc.status));
        if (proc)
            kstr(jb, "process_command", fmt_s(ev->proc.comm));
        else
            kstr(jb, "process_reason", fmt_s(ev->proc.reason));
    }
    if (a != NULL) {
        const struct tw_rule_info *r = a->rule;
        kstr(jb, "rule_file", r->file);
        if (r->line > 0)
            knum(jb, "rule_line", r->line);
        tw_jb_key(jb, "rule_tags");
        tw_jb_raw(jb, "[", 1);
        for (size_t i = 0; i < r->n_tags; i++) {
            if (i > 0)
                tw_jb_raw(jb, ",", 1);
            tw_jb_cstr(jb, r->tags[i]);
        }
        tw_jb_raw(jb, "]", 1);
        if (a->suppressed_before > 0)
            knum(jb, "suppressed_before", a->suppressed_before);
        if (a->matched_name != NULL) {
            kstr(jb, "matched_name", a->matched_name);
            kstr(jb, "matched_via", a->via);
        }
    }
    tw_jb_raw(jb, "}", 1);
    tw_jb_raw(jb, "}", 1);
}

const struct tw_formatter tw_format_asim = {.line = asim_line};
