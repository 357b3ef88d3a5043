/* SPDX-License-Identifier: MIT */
/* The format table, the sensor identity, and the facts every formatter derives alike. */
#include "tunwatch/output/format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "format_impl.h"
#include "tunwatch/proto/dns.h"
#include "tunwatch/proto/tls.h"

static const char *const format_names[TW_FORMAT__COUNT] = {
    [TW_FORMAT_NATIVE] = "native",
    [TW_FORMAT_ECS] = "ecs",
    [TW_FORMAT_ASIM] = "asim",
    [TW_FORMAT_CEF] = "cef",
};

int tw_format_parse(const char *s, enum tw_format *out)
{
    for (unsigned f = 0; f < TW_FORMAT__COUNT; f++)
        if (strcmp(s, format_names[f]) == 0) {
            *out = (enum tw_format)f;
            return 0;
        }
    return TW_EINVAL;
}

const char *tw_format_name(enum tw_format f)
{
    return f < TW_FORMAT__COUNT ? format_names[f] : "?";
}

const struct tw_formatter *tw_formatter(enum tw_format f)
{
    static const struct tw_formatter *const table[TW_FORMAT__COUNT] = {
        [TW_FORMAT_NATIVE] = &tw_format_native,
        [TW_FORMAT_ECS] = &tw_format_ecs,
        [TW_FORMAT_ASIM] = &tw_format_asim,
        [TW_FORMAT_CEF] = &tw_format_cef,
    };
    return table[f < TW_FORMAT__COUNT ? f : TW_FORMAT_NATIVE];
}

void tw_format_alert(enum tw_format f, struct tw_jb *jb, const struct tw_format_ctx *c,
                     const struct tw_alert *a, struct tw_format_memo *memo)
{
    jb->len = 0;
    jb->overflow = false;
    tw_formatter(f)->line(jb, c, a->ev, a, memo);
}

void tw_format_event(enum tw_format f, struct tw_jb *jb, const struct tw_format_ctx *c,
                     const struct tw_event *ev)
{
    jb->len = 0;
    jb->overflow = false;
    tw_formatter(f)->line(jb, c, ev, NULL, NULL);
}

int tw_sensor_id_init(struct tw_sensor_id *id, const char *name, const char *version)
{
    uint8_t u[16];
    size_t got = 0;

    memset(id, 0, sizeof(*id));
    id->version = version != NULL ? version : "";
    if (gethostname(id->hostname, sizeof(id->hostname) - 1) != 0 || id->hostname[0] == '\0')
        snprintf(id->hostname, sizeof(id->hostname), "localhost");
    snprintf(id->name, sizeof(id->name), "%s",
             name != NULL && name[0] != '\0' ? name : id->hostname);
    /* Blocks only until the kernel's pool is first initialised, early in boot. */
    while (got < sizeof(u)) {
        ssize_t n = getrandom(u + got, sizeof(u) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TW_EIO;
        got += (size_t)n;
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* RFC 9562 version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(id->run_id, sizeof(id->run_id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    return 0;
}

struct fmt_source fmt_source(const struct tw_format_ctx *c, const struct tw_event *ev)
{
    if (ev->source != NULL)
        return (struct fmt_source){ev->source, ev->source_is_file};
    return (struct fmt_source){c->source, c->source_is_file};
}

enum fmt_dir fmt_direction(const struct tw_format_ctx *c, const struct tw_event *ev)
{
    if (c->home == NULL)
        return FMT_DIR_UNKNOWN;
    bool dst_home = tw_homenet_contains(c->home, ev->ip_version, ev->dst_addr);
    if (ev->initiated)
        return dst_home ? FMT_DIR_INTERNAL : FMT_DIR_OUTBOUND;
    return dst_home ? FMT_DIR_INBOUND : FMT_DIR_EXTERNAL;
}

const char *fmt_app_proto(const struct tw_event *ev)
{
    switch (ev->evidence) {
    case TW_EV_TLS_SNI:
        return "tls";
    case TW_EV_QUIC_SNI:
        return "quic";
    case TW_EV_HTTP_HOST:
        return "http";
    case TW_EV_DNS_RESPONSE:
        return "dns";
    case TW_EV_DNS_QUERY:
    case TW_EV_DNS_ANSWER:
    case TW_EV__COUNT:
        break;
    }
    /* A connection named by a DNS answer carries no protocol tunwatch read. */
    return ev->category == TW_CAT_DNS_QUERY ? "dns" : NULL;
}

void fmt_addrs(const struct tw_event *ev, struct fmt_addrs *out)
{
    tw_addr_format(ev->ip_version, ev->src_addr, out->src, sizeof(out->src));
    tw_addr_format(ev->ip_version, ev->dst_addr, out->dst, sizeof(out->dst));
    if (tw_community_id(0, ev->ip_version, ev->src_addr, ev->dst_addr, ev->l4_proto, ev->sport,
                        ev->dport, out->community_id, sizeof(out->community_id)) != 0)
        out->community_id[0] = '\0';
}

struct fmt_level fmt_level(const char *level)
{
    static const struct {
        const char *name;
        struct fmt_level v;
    } map[] = {
        {"informational", {1, 21, "Informational"}},
        {"low", {3, 21, "Low"}},
        {"medium", {5, 47, "Medium"}},
        {"high", {8, 73, "High"}},
        {"critical", {10, 99, "High"}},
    };

    for (size_t i = 0; level != NULL && i < TW_ARRAY_SIZE(map); i++)
        if (strcasecmp(level, map[i].name) == 0)
            return map[i].v;
    return map[2].v;
}

int fmt_attack_tag(const char *tag, char *buf, size_t cap, const char **tactic_name,
                   const char **tactic_id)
{
    /* MITRE ATT&CK Enterprise tactics, as Sigma writes them (also with '_' for '-'). */
    static const struct {
        const char *tag, *name, *id;
    } tactics[] = {
        {"reconnaissance", "Reconnaissance", "TA0043"},
        {"resource-development", "Resource Development", "TA0042"},
        {"initial-access", "Initial Access", "TA0001"},
        {"execution", "Execution", "TA0002"},
        {"persistence", "Persistence", "TA0003"},
        {"privilege-escalation", "Privilege Escalation", "TA0004"},
        {"defense-evasion", "Defense Evasion", "TA0005"},
        {"credential-access", "Credential Access", "TA0006"},
        {"discovery", "Discovery", "TA0007"},
        {"lateral-movement", "Lateral Movement", "TA0008"},
        {"collection", "Collection", "TA0009"},
        {"command-and-control", "Command and Control", "TA0011"},
        {"exfiltration", "Exfiltration", "TA0010"},
        {"impact", "Impact", "TA0040"},
    };
    const char *t;
    size_t n, i;

    if (tag == NULL || strncasecmp(tag, "attack.", 7) != 0)
        return 0;
    t = tag + 7;
    n = strlen(t);
    /* Technique: t + 4 digits, optionally . + 3 digits (sub-technique). */
    if ((t[0] == 't' || t[0] == 'T') && (n == 5 || n == 9)) {
        for (i = 1; i < 5; i++)
            if (t[i] < '0' || t[i] > '9')
                break;
        bool ok = i == 5;
        if (ok && n == 9) {
            ok = t[5] == '.';
            for (i = 6; ok && i < 9; i++)
                ok = t[i] >= '0' && t[i] <= '9';
        }
        if (ok && cap > n) {
            buf[0] = 'T';
            memcpy(buf + 1, t + 1, n - 1);
            buf[n] = '\0';
            return 1;
        }
        return 0;
    }
    for (i = 0; i < TW_ARRAY_SIZE(tactics); i++) {
        const char *a = tactics[i].tag;
        size_t k;
        if (strlen(a) != n)
            continue;
        for (k = 0; k < n; k++) {
            char c = t[k] == '_' ? '-' : t[k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != a[k])
                break;
        }
        if (k == n) {
            *tactic_name = tactics[i].name;
            *tactic_id = tactics[i].id;
            return 2;
        }
    }
    return 0;
}

const char *fmt_domain(const char *name, size_t len, size_t *dlen)
{
    const char *dot = memchr(name, '.', len);

    if (dot == NULL) {
        *dlen = 0;
        return "";
    }
    *dlen = len - (size_t)(dot + 1 - name);
    return dot + 1;
}

const char *fmt_rrtype(uint16_t type, char *buf, size_t cap)
{
    const char *mn = tw_dns_qtype_name(type);

    if (mn != NULL)
        return mn;
    snprintf(buf, cap, "TYPE%u", type);
    return buf;
}

const char *fmt_qtype(const struct tw_event *ev, char *buf, size_t cap)
{
    return fmt_rrtype(ev->qtype, buf, cap);
}

static void own_str(struct tw_jb *jb, const char *key, const char *v)
{
    tw_jb_key(jb, key);
    tw_jb_cstr(jb, v);
}

void fmt_own_fields(struct tw_jb *jb, const struct tw_event *ev, const struct fmt_source *src)
{
    own_str(jb, "evidence", tw_evidence_name(ev->evidence));
    tw_jb_key(jb, "name");
    tw_jb_str(jb, ev->raw, ev->raw_len);
    tw_jb_key(jb, "name_normalized");
    tw_jb_str(jb, ev->norm, ev->norm_len);
    own_str(jb, "initiated", ev->initiated ? "true" : "false");
    tw_jb_key(jb, "midstream");
    tw_jb_bool(jb, ev->midstream);
    own_str(jb, "direction", tw_direction_name(ev->direction));
    if (ev->stream_flags != 0) {
        tw_jb_key(jb, "stream_flags");
        fmt_stream_flags(jb, ev);
    }
    if (ev->dns_odd != 0) {
        tw_jb_key(jb, "dns_oddities");
        fmt_dns_oddities(jb, ev);
    }
    if (src->name != NULL && src->is_file)
        own_str(jb, "pcap_filename", src->name);
    if (ev->name_truncated) {
        tw_jb_key(jb, "name_truncated");
        tw_jb_bool(jb, true);
    }
}

const struct fmt_dns_flag fmt_dns_flag_bits[FMT_DNS_FLAGS] = {
    {0x0400, "AA", "DnsFlagsAuthoritative"},    {0x0200, "TC", "DnsFlagsTruncated"},
    {0x0100, "RD", "DnsFlagsRecursionDesired"}, {0x0080, "RA", "DnsFlagsRecursionAvailable"},
    {0x0020, "AD", "DnsFlagsAuthenticated"},    {0x0010, "CD", "DnsFlagsCheckingDisabled"},
};

unsigned fmt_dns_flags(const struct tw_event *ev, const char *names[FMT_DNS_FLAGS])
{
    unsigned n = 0;

    for (size_t i = 0; i < FMT_DNS_FLAGS; i++)
        if (ev->dns.flags & fmt_dns_flag_bits[i].bit)
            names[n++] = fmt_dns_flag_bits[i].name;
    return n;
}

/* A JSON list of the names of the bits set in bits[0..count), in bit order. */
static void flag_list(struct tw_jb *jb, uint32_t bits, unsigned count,
                      const char *(*name)(unsigned bit))
{
    bool first = true;

    tw_jb_raw(jb, "[", 1);
    for (unsigned t = 0; t < count; t++) {
        if (!(bits & (1u << t)))
            continue;
        if (!first)
            tw_jb_raw(jb, ",", 1);
        first = false;
        tw_jb_cstr(jb, name(t));
    }
    tw_jb_raw(jb, "]", 1);
}

static const char *stream_flag_name(unsigned bit)
{
    return tw_stream_flag_name((enum tw_stream_flag)bit);
}

static const char *tls_flag_name(unsigned bit)
{
    return tw_tls_flag_name((enum tw_tls_flag)bit);
}

static const char *dns_oddity_name(unsigned bit)
{
    return tw_dns_oddity_name((enum tw_dns_oddity)bit);
}

void fmt_stream_flags(struct tw_jb *jb, const struct tw_event *ev)
{
    flag_list(jb, ev->stream_flags, TW_SF__COUNT, stream_flag_name);
}

void fmt_tls_flags(struct tw_jb *jb, const struct tw_event *ev)
{
    flag_list(jb, ev->tls_flags, TW_TLS_F__COUNT, tls_flag_name);
}

void fmt_dns_oddities(struct tw_jb *jb, const struct tw_event *ev)
{
    flag_list(jb, ev->dns_odd, TW_DNS_ODD__COUNT, dns_oddity_name);
}

/* flag_list() as comma-separated text. */
static size_t flag_text(char *buf, size_t cap, uint32_t bits, unsigned count,
                        const char *(*name)(unsigned bit))
{
    size_t n = 0;

    buf[0] = '\0';
    for (unsigned t = 0; t < count; t++) {
        if (!(bits & (1u << t)))
            continue;
        int k = snprintf(buf + n, cap - n, "%s%s", n > 0 ? "," : "", name(t));
        if (k < 0 || (size_t)k >= cap - n) {
            buf[n] = '\0';
            break;
        }
        n += (size_t)k;
    }
    return n;
}

size_t fmt_stream_flags_text(const struct tw_event *ev, char *buf, size_t cap)
{
    return flag_text(buf, cap, ev->stream_flags, TW_SF__COUNT, stream_flag_name);
}

size_t fmt_tls_flags_text(const struct tw_event *ev, char *buf, size_t cap)
{
    return flag_text(buf, cap, ev->tls_flags, TW_TLS_F__COUNT, tls_flag_name);
}

size_t fmt_dns_oddities_text(const struct tw_event *ev, char *buf, size_t cap)
{
    return flag_text(buf, cap, ev->dns_odd, TW_DNS_ODD__COUNT, dns_oddity_name);
}
