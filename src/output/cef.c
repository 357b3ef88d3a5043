/* SPDX-License-Identifier: MIT */
/*
 * ArcSight Common Event Format (CEF) 0, one text line each, for syslog receivers:
 *
 *   CEF:0|tunwatch|tunwatch|VERSION|SIGNATURE ID|NAME|SEVERITY|key=value key=value ...
 *
 * Escaping, as the CEF specification has it: in the header a backslash and a pipe are
 * escaped (\\ and \|); in extension values a backslash, an equals sign and line breaks
 * (\\, \=, \n, \r); pipes in extension values are left as they are. Keys are the standard
 * ones (letters and digits only, written from literals here). CEF text is UTF-8 and has no
 * escape for other bytes: any other control byte and every byte of an invalid UTF-8 sequence
 * becomes U+FFFD, so a hostile name can neither break the line nor smuggle a field (the
 * JSON formats keep such bytes, escaped).
 *
 * Signature ID: the rule id for alerts, the category for events. Severity: the rule's Sigma
 * level (informational 1, low 3, medium 5, high 8, critical 10); events 1.
 */
#include "tunwatch/output/format.h"

#include <stdio.h>
#include <string.h>

#include "format_impl.h"
#include "tunwatch/proto/dns.h"

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Writes s escaped for a header field (ext false) or an extension value (ext true). */
static void cef_text(struct tw_jb *jb, const void *str, size_t n, bool ext)
{
    const uint8_t *s = str;
    size_t i = 0;

    while (i < n && !jb->overflow) {
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '\\' && s[run] != '|' &&
               s[run] != '=')
            run++;
        if (run > i) {
            tw_jb_raw(jb, (const char *)s + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s[i];
        size_t ulen;
        if (c == '\\')
            tw_jb_raw(jb, "\\\\", 2);
        else if (c == '|')
            tw_jb_raw(jb, ext ? "|" : "\\|", ext ? 1 : 2);
        else if (c == '=')
            tw_jb_raw(jb, ext ? "\\=" : "=", ext ? 2 : 1);
        else if (c == '\n' && ext)
            tw_jb_raw(jb, "\\n", 2);
        else if (c == '\r' && ext)
            tw_jb_raw(jb, "\\r", 2);
        else if (c >= 0x80 && (ulen = tw_utf8_seq_len(s + i, n - i)) > 0) {
            tw_jb_raw(jb, (const char *)s + i, ulen);
            i += ulen;
            continue;
        } else
            tw_jb_raw(jb, replacement, sizeof(replacement) - 1);
        i++;
    }
}

static void hdr(struct tw_jb *jb, const char *s)
{
    cef_text(jb, s, strlen(s), false);
    tw_jb_raw(jb, "|", 1);
}

/* The line being built and where its extension begins. */
struct cefw {
    struct tw_jb *jb;
    size_t ext_start;
};

/* " key=" (no space before the first extension). key: a literal of letters and digits. */
static void ext_key(struct cefw *w, const char *key)
{
    if (w->jb->len != w->ext_start)
        tw_jb_raw(w->jb, " ", 1);
    tw_jb_lit(w->jb, key);
    tw_jb_raw(w->jb, "=", 1);
}

static void ext(struct cefw *w, const char *key, const void *v, size_t n)
{
    ext_key(w, key);
    cef_text(w->jb, v, n, true);
}

static void exts(struct cefw *w, const char *key, const char *v)
{
    ext(w, key, v, strlen(v));
}

static void extn(struct cefw *w, const char *key, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    ext(w, key, tmp, (size_t)n);
}

static void exthttp(struct cefw *w, const char *key, const struct tw_event *ev, enum tw_field f)
{
    const char *v = fmt_http(ev, f);
    if (v != NULL)
        exts(w, key, v);
}

/* A custom string with its label: csN=value csNLabel=label. */
static void extcs(struct cefw *w, int n, const char *label, const void *v, size_t len)
{
    char key[16];
    snprintf(key, sizeof(key), "cs%d", n);
    ext(w, key, v, len);
    snprintf(key, sizeof(key), "cs%dLabel", n);
    exts(w, key, label);
}

static void cef_line(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_event *ev,
                     const struct tw_alert *a, struct tw_format_memo *memo)
{
    (void)memo; /* not kept: each line is written whole */
    const bool response = fmt_dns_response(ev);
    const bool dns = ev->category == TW_CAT_DNS_QUERY || response;
    const bool tls = ev->evidence == TW_EV_TLS_SNI || ev->evidence == TW_EV_QUIC_SNI;
    struct fmt_source src = fmt_source(c, ev);
    struct fmt_addrs ad;
    const char *app = fmt_app_proto(ev);
    char sev[8];

    fmt_addrs(ev, &ad);
    tw_jb_lit(jb, "CEF:0|");
    hdr(jb, "tunwatch");
    hdr(jb, "tunwatch");
    hdr(jb, c->sensor->version);
    if (a != NULL) {
        hdr(jb, a->rule->id);
        hdr(jb, a->rule->title);
        snprintf(sev, sizeof(sev), "%u", fmt_level(a->rule->level).cef);
    } else {
        hdr(jb, tw_category_name(ev->category));
        hdr(jb, response ? "DNS response" : dns ? "DNS query" : "Network connection");
        snprintf(sev, sizeof(sev), "1");
    }
    hdr(jb, sev);
    struct cefw wr = {jb, jb->len}, *w = &wr;

    extn(w, "rt", ev->ts_sec > 0 ? (uint64_t)ev->ts_sec * 1000u + ev->ts_nsec / 1000000u : 0);
    exts(w, "cat", tw_category_name(ev->category));
    exts(w, "deviceExternalId", c->sensor->name);
    exts(w, "dvchost", c->sensor->hostname);
    if (src.name != NULL && !src.is_file)
        exts(w, "deviceInboundInterface", src.name);
    exts(w, "src", ad.src);
    extn(w, "spt", ev->sport);
    exts(w, "dst", ad.dst);
    extn(w, "dpt", ev->dport);
    exts(w, "proto", ev->l4_proto == 6 ? "TCP" : ev->l4_proto == 17 ? "UDP" : "Other");
    if (app != NULL) {
        char up[8];
        size_t k;
        for (k = 0; app[k] != '\0' && k + 1 < sizeof(up); k++)
            up[k] = (char)(app[k] - 'a' + 'A');
        up[k] = '\0';
        exts(w, "app", up);
    }
    /* 1 outbound (opened from inside the home networks), 0 inbound. */
    enum fmt_dir d = fmt_direction(c, ev);
    if (ev->initiated)
        extn(w, "deviceDirection", 1);
    else if (d == FMT_DIR_INBOUND)
        extn(w, "deviceDirection", 0);
    if (!dns)
        ext(w, "dhost", ev->raw, ev->raw_len);
    if (ev->evidence == TW_EV_HTTP_HOST) {
        exthttp(w, "request", ev, TW_F_C_URI);
        exthttp(w, "requestMethod", ev, TW_F_CS_METHOD);
        exthttp(w, "requestClientApplication", ev, TW_F_C_USERAGENT);
        exthttp(w, "requestContext", ev, TW_F_CS_REFERRER);
    }
    if (ev->proc.status == TW_PROC_FOUND) {
        const bool s = ev->proc.local_is_source;
        exts(w, s ? "sproc" : "dproc", fmt_s(ev->proc.image));
        extn(w, s ? "spid" : "dpid", (uint32_t)ev->proc.pid);
        exts(w, s ? "suser" : "duser", fmt_s(ev->proc.user));
    }
    if (tls)
        extcs(w, 1, "tlsServerName", ev->raw, ev->raw_len);
    const char *ja4 = tw_event_ja4(ev);
    if (ja4 != NULL)
        extcs(w, 2, "ja4", ja4, strlen(ja4));
    if (ad.community_id[0] != '\0')
        extcs(w, 3, "communityId", ad.community_id, strlen(ad.community_id));
    if (a != NULL)
        extcs(w, 4, "ruleId", a->rule->id, strlen(a->rule->id));
    extcs(w, 5, "runId", c->sensor->run_id, strlen(c->sensor->run_id));
    if (dns) {
        extcs(w, 6, "dnsQuery", ev->raw, ev->raw_len);
        extn(w, "cn2", ev->qtype);
        exts(w, "cn2Label", "dnsQueryType");
    }
    if (response) {
        extn(w, "cn3", ev->dns.flags & 0xF);
        exts(w, "cn3Label", "dnsResponseCode");
    }
    extn(w, "cn1", ev->flow_id);
    exts(w, "cn1Label", "flowId");
    exts(w, "flexString1", tw_evidence_name(ev->evidence));
    exts(w, "flexString1Label", "evidence");
    if (src.name != NULL && src.is_file) {
        exts(w, "flexString2", src.name);
        exts(w, "flexString2Label", "pcapFilename");
    }
    /* The dictionary's custom slots are all taken: the stream's, the hello's and the DNS
     * message's oddities go in keys of tunwatch's own (Sentinel keeps such keys in
     * AdditionalExtensions). */
    char flags[1024];
    if (ev->stream_flags != 0)
        ext(w, "tunwatchStreamFlags", flags, fmt_stream_flags_text(ev, flags, sizeof(flags)));
    if (ev->tls_flags != 0)
        ext(w, "tunwatchTlsFlags", flags, fmt_tls_flags_text(ev, flags, sizeof(flags)));
    if (ev->dns_odd != 0)
        ext(w, "tunwatchDnsOddities", flags, fmt_dns_oddities_text(ev, flags, sizeof(flags)));
    if (a != NULL && a->suppressed_before > 0)
        extn(w, "cnt", a->suppressed_before + 1);
    if (a != NULL && a->matched_name != NULL) {
        char msg[64];
        snprintf(msg, sizeof(msg), "matched via %s: ", fmt_s(a->via));
        ext(w, "msg", msg, strlen(msg));
        cef_text(jb, a->matched_name, strlen(a->matched_name), true);
    } else if (response) {
        /* The response in words: its code, then its answers separated by commas. */
        exts(w, "msg", tw_dns_rcode_name((uint8_t)(ev->dns.flags & 0xF)));
        for (unsigned i = 0; i < ev->dns.n_answers; i++) {
            const char *t = fmt_dns_answer(ev, i);
            tw_jb_raw(jb, i == 0 ? " " : ",", 1);
            cef_text(jb, t, strlen(t), true);
        }
    }
}

const struct tw_formatter tw_format_cef = {.line = cef_line};
