/* SPDX-License-Identifier: MIT */
#include "tunwatch/event/event.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tunwatch/proto/dns.h"
#include "tunwatch/proto/ja4.h"
#include "tunwatch/base/netaddr.h"

static const char *const field_names[TW_F__COUNT] = {
    [TW_F_QUERY_NAME] = "QueryName",
    [TW_F_QUERY_TYPE] = "QueryType",
    [TW_F_DESTINATION_HOSTNAME] = "DestinationHostname",
    [TW_F_DESTINATION_IP] = "DestinationIp",
    [TW_F_DESTINATION_PORT] = "DestinationPort",
    [TW_F_SOURCE_IP] = "SourceIp",
    [TW_F_SOURCE_PORT] = "SourcePort",
    [TW_F_PROTOCOL] = "Protocol",
    [TW_F_INITIATED] = "Initiated",
    [TW_F_IMAGE] = "Image",
    [TW_F_PROCESS_ID] = "ProcessId",
    [TW_F_USER] = "User",
    [TW_F_JA4] = "ja4",
    [TW_F_CS_METHOD] = "cs-method",
    [TW_F_C_URI] = "c-uri",
    [TW_F_C_URI_STEM] = "c-uri-stem",
    [TW_F_C_URI_QUERY] = "c-uri-query",
    [TW_F_C_URI_EXTENSION] = "c-uri-extension",
    [TW_F_C_USERAGENT] = "c-useragent",
    [TW_F_CS_REFERRER] = "cs-referrer",
    [TW_F_CS_VERSION] = "cs-version",
    [TW_F_CS_COOKIE] = "cs-cookie",
    [TW_F_ANSWERS] = "answers",
    [TW_F_TTLS] = "TTLs",
    [TW_F_RCODE] = "rcode",
    [TW_F_RCODE_NAME] = "rcode_name",
    [TW_F_Z] = "Z",
    [TW_F_AA] = "AA",
    [TW_F_TC] = "TC",
    [TW_F_RD] = "RD",
    [TW_F_RA] = "RA",
    [TW_F_REJECTED] = "rejected",
    [TW_F_QTYPE] = "qtype",
    [TW_F_TRANS_ID] = "trans_id",
    [TW_F_ECH_CONFIG] = "ech_config",
};

/* Bit c set: category c carries the field. */
#define CAT_Q (1u << TW_CAT_DNS_QUERY)
#define CAT_C (1u << TW_CAT_NETWORK_CONNECTION)
#define CAT_R (1u << TW_CAT_DNS)
static const unsigned field_categories[TW_F__COUNT] = {
    [TW_F_QUERY_NAME] = CAT_Q | CAT_R,
    [TW_F_QUERY_TYPE] = CAT_Q | CAT_R,
    [TW_F_DESTINATION_HOSTNAME] = CAT_C,
    [TW_F_DESTINATION_IP] = CAT_Q | CAT_C | CAT_R,
    [TW_F_DESTINATION_PORT] = CAT_Q | CAT_C | CAT_R,
    [TW_F_SOURCE_IP] = CAT_Q | CAT_C | CAT_R,
    [TW_F_SOURCE_PORT] = CAT_Q | CAT_C | CAT_R,
    [TW_F_PROTOCOL] = CAT_Q | CAT_C | CAT_R,
    [TW_F_INITIATED] = CAT_C,
    /* DNS responses are not attributed: their query's event names the process */
    [TW_F_IMAGE] = CAT_Q | CAT_C,
    [TW_F_PROCESS_ID] = CAT_Q | CAT_C,
    [TW_F_USER] = CAT_Q | CAT_C,
    [TW_F_JA4] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_CS_METHOD] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_C_URI] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_C_URI_STEM] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_C_URI_QUERY] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_C_URI_EXTENSION] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_C_USERAGENT] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_CS_REFERRER] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_CS_VERSION] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_CS_COOKIE] = 1u << TW_CAT_NETWORK_CONNECTION,
    [TW_F_ANSWERS] = CAT_R,
    [TW_F_TTLS] = CAT_R,
    [TW_F_RCODE] = CAT_R,
    [TW_F_RCODE_NAME] = CAT_R,
    [TW_F_Z] = CAT_R,
    [TW_F_AA] = CAT_R,
    [TW_F_TC] = CAT_R,
    [TW_F_RD] = CAT_R,
    [TW_F_RA] = CAT_R,
    [TW_F_REJECTED] = CAT_R,
    [TW_F_QTYPE] = CAT_R,
    [TW_F_TRANS_ID] = CAT_R,
    [TW_F_ECH_CONFIG] = CAT_R,
};

enum tw_field_kind tw_field_kind(enum tw_field f)
{
    switch (f) {
    case TW_F_DESTINATION_PORT:
    case TW_F_SOURCE_PORT:
    case TW_F_PROCESS_ID:
    case TW_F_TTLS:
    case TW_F_RCODE:
    case TW_F_Z:
    case TW_F_QTYPE:
    case TW_F_TRANS_ID:
        return TW_FK_NUMBER;
    case TW_F_AA:
    case TW_F_TC:
    case TW_F_RD:
    case TW_F_RA:
    case TW_F_REJECTED:
    case TW_F_ECH_CONFIG:
        return TW_FK_BOOL;
    default:
        return TW_FK_STRING;
    }
}

bool tw_field_is_list(enum tw_field f)
{
    return f == TW_F_ANSWERS || f == TW_F_TTLS;
}

bool tw_field_is_process(enum tw_field f)
{
    return f == TW_F_IMAGE || f == TW_F_PROCESS_ID || f == TW_F_USER;
}

const char *tw_field_name(enum tw_field f)
{
    return (unsigned)f < TW_F__COUNT ? field_names[f] : "?";
}

enum tw_field tw_field_lookup(const char *name)
{
    for (unsigned f = 0; f < TW_F__COUNT; f++)
        if (strcmp(field_names[f], name) == 0)
            return (enum tw_field)f;
    return TW_F__COUNT;
}

bool tw_field_in_category(enum tw_field f, enum tw_category c)
{
    return (unsigned)f < TW_F__COUNT && (unsigned)c < TW_CAT__COUNT &&
           (field_categories[f] & (1u << c)) != 0;
}

const char *tw_category_name(enum tw_category c)
{
    switch (c) {
    case TW_CAT_DNS_QUERY:
        return "dns_query";
    case TW_CAT_NETWORK_CONNECTION:
        return "network_connection";
    case TW_CAT_DNS:
        return "dns";
    default:
        return "?";
    }
}

const char *tw_evidence_name(enum tw_evidence e)
{
    switch (e) {
    case TW_EV_DNS_QUERY:
        return "dns_query";
    case TW_EV_TLS_SNI:
        return "tls_sni";
    case TW_EV_DNS_ANSWER:
        return "dns_answer";
    case TW_EV_QUIC_SNI:
        return "quic_sni";
    case TW_EV_HTTP_HOST:
        return "http_host";
    case TW_EV_DNS_RESPONSE:
        return "dns_response";
    default:
        return "?";
    }
}

const char *tw_direction_name(enum tw_direction d)
{
    switch (d) {
    case TW_DIR_START:
        return "start";
    case TW_DIR_CLIENT_BYTES:
        return "client_bytes";
    case TW_DIR_PORT:
        return "port";
    default:
        return "?";
    }
}

const char *tw_stream_flag_name(enum tw_stream_flag f)
{
    switch (f) {
    case TW_SF_OVERLAP_CONFLICT:
        return "overlap_conflict";
    case TW_SF_HELLO_LATER:
        return "hello_later";
    case TW_SF_MIDSTREAM_PICKUP:
        return "midstream_pickup";
    case TW_SF_HELLO_RETRY:
        return "hello_retry";
    default:
        return "?";
    }
}

const char *tw_proc_status_name(enum tw_proc_status s)
{
    switch (s) {
    case TW_PROC_NONE:
        return "none";
    case TW_PROC_FOUND:
        return "attributed";
    case TW_PROC_UNATTRIBUTED:
        return "unattributed";
    default:
        return "?";
    }
}

_Static_assert(TW_F_CS_COOKIE - TW_F_CS_METHOD + 1 ==
                   sizeof(((struct tw_event *)0)->http) / sizeof(const char *),
               "one tw_event.http entry per HTTP request field");

/* ja4_buf states: "" not computed yet, "-" computed and failed, else the value. */
const char *tw_event_ja4(const struct tw_event *ev)
{
    if (ev->ja4 != NULL || ev->ja4_hello == NULL || ev->ja4_buf == NULL)
        return ev->ja4;
    char *buf = ev->ja4_buf;
    if (buf[0] == '\0' && tw_ja4(ev->ja4_hello, ev->ja4_proto, buf) != 0) {
        buf[0] = '-';
        buf[1] = '\0';
    }
    return buf[0] != '-' ? buf : NULL;
}

static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

/* The optional strings of an event (NULL when unset), in the one order deep and packed copies
 * lay them out in. The first, ja4, is read through tw_event_ja4(): copies carry its value. */
static const size_t opt_field[] = {
    offsetof(struct tw_event, ja4),
    offsetof(struct tw_event, http[0]),
    offsetof(struct tw_event, http[1]),
    offsetof(struct tw_event, http[2]),
    offsetof(struct tw_event, http[3]),
    offsetof(struct tw_event, http[4]),
    offsetof(struct tw_event, http[5]),
    offsetof(struct tw_event, http[6]),
    offsetof(struct tw_event, http[7]),
    offsetof(struct tw_event, http[8]),
    offsetof(struct tw_event, http_host_raw),
    offsetof(struct tw_event, answer_name),
    offsetof(struct tw_event, answer_chain),
    offsetof(struct tw_event, proc.image),
    offsetof(struct tw_event, proc.user),
    offsetof(struct tw_event, proc.comm),
    offsetof(struct tw_event, proc.reason),
};
#define N_OPT TW_ARRAY_SIZE(opt_field)
_Static_assert(TW_ARRAY_SIZE(opt_field) == TW_ARRAY_SIZE(((struct tw_event *)0)->http) + 8,
               "every http field and every other optional string is in opt_field");

/* Optional string i of ev. */
static const char *opt_get(const struct tw_event *ev, size_t i)
{
    const char *v;

    if (i == 0)
        return tw_event_ja4(ev);
    memcpy(&v, (const char *)ev + opt_field[i], sizeof(v));
    return v;
}

static void opt_set(struct tw_event *ev, size_t i, const char *v)
{
    memcpy((char *)ev + opt_field[i], &v, sizeof(v));
}

size_t tw_event_copy_size(const struct tw_event *ev)
{
    size_t n = sizeof(*ev) + ev->raw_len + ev->norm_len + 1 +
               (size_t)ev->dns.n_answers * (sizeof(uint32_t) + 2 * sizeof(uint16_t)) +
               (ev->dns.answers != NULL ? ev->dns.answers_len : 0);

    for (size_t i = 0; i < N_OPT; i++)
        n += opt_len(opt_get(ev, i));
    return (n + 7) & ~(size_t)7;
}

/* Copies the NUL-terminated s (when not NULL) to *w and advances it; returns the copy. */
static const char *copy_opt(char **w, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *w;
    memcpy(d, s, n);
    *w += n;
    return d;
}

struct tw_event *tw_event_copy(void *dst, const struct tw_event *ev)
{
    struct tw_event *c = dst;
    char *w = (char *)dst + sizeof(*c);

    *c = *ev;
    if (ev->dns.n_answers > 0) {
        /* The arrays first, where their alignment holds (the struct is a multiple of 8). */
        size_t n = ev->dns.n_answers;
        memcpy(w, ev->dns.ttls, n * sizeof(uint32_t));
        c->dns.ttls = (const uint32_t *)(void *)w;
        w += n * sizeof(uint32_t);
        memcpy(w, ev->dns.offs, n * sizeof(uint16_t));
        c->dns.offs = (const uint16_t *)(void *)w;
        w += n * sizeof(uint16_t);
        memcpy(w, ev->dns.types, n * sizeof(uint16_t));
        c->dns.types = (const uint16_t *)(void *)w;
        w += n * sizeof(uint16_t);
    }
    if (ev->dns.answers != NULL) {
        memcpy(w, ev->dns.answers, ev->dns.answers_len);
        c->dns.answers = w;
        w += ev->dns.answers_len;
    }
    memcpy(w, ev->raw, ev->raw_len);
    c->raw = w;
    w += ev->raw_len;
    memcpy(w, ev->norm, ev->norm_len);
    c->norm = w;
    w += ev->norm_len;
    *w++ = '\0';
    for (size_t i = 0; i < N_OPT; i++)
        opt_set(c, i, copy_opt(&w, opt_get(ev, i)));
    c->ja4_hello = NULL; /* the hello's bytes do not outlive the emission */
    c->ja4_buf = NULL;
    return c;
}

/*
 * Packed copies. A tw_event is some 380 bytes, most of them room for what one kind of event
 * never sets (HTTP fields, process, DNS answers); a packed copy holds a header of the scalar
 * fields, the addresses at their family's length, the DNS answer arrays and text when there
 * are any, the name (and the normalised name only when it differs), then the optional strings
 * that are set. A dns_query event packs into about 130 bytes.
 */
enum {
    PK_NORM_SAME = 1u << 0, /* norm is raw's bytes: stored once */
    PK_INITIATED = 1u << 1,
    PK_ECH = 1u << 2,
    PK_TRUNCATED = 1u << 3,
    PK_MIDSTREAM = 1u << 4,
    PK_LOCAL_IS_SOURCE = 1u << 5,
    PK_DNS_REJECTED = 1u << 6,
    PK_DNS_ECH = 1u << 7,
    PK_DNS_ANSWERS = 1u << 8, /* dns.answers is set (its length may be 0) */
    PK_SOURCE_IS_FILE = 1u << 9,
};

struct packed_event {
    int64_t ts_sec;
    uint64_t flow_id;
    const char *source; /* outlives the run: kept as the pointer */
    uint32_t size;      /* the packed bytes, this header included: a multiple of 8 */
    uint32_t strs;      /* bit i: optional string i (opt_field) follows */
    uint32_t ts_nsec;
    uint32_t tls_flags;
    int32_t pid;
    uint32_t uid;
    uint32_t answers_len;
    uint16_t bits; /* PK_* */
    uint16_t raw_len, norm_len;
    uint16_t qtype, tls_version, tls_legacy_version, tls_record_version;
    uint16_t sport, dport;
    uint16_t dns_id, dns_flags, n_answers;
    uint8_t category, evidence, l4_proto, ja4_proto, ip_version, direction, stream_flags;
    uint8_t proc_status, dns_z, dns_odd;
};

/* A field added to struct tw_event has to be packed (and unpacked) too. */
_Static_assert(sizeof(struct tw_event) == 384, "struct tw_event changed: update the packing");
_Static_assert(TW_NAME_MAX <= UINT16_MAX, "names are packed with 16-bit lengths");
_Static_assert(N_OPT <= 32, "optional strings fit strs");

static size_t addr_bytes(uint8_t version)
{
    return version == 4 ? 4 : 16;
}

static bool norm_same(const struct tw_event *ev)
{
    return ev->norm_len == ev->raw_len &&
           (ev->raw_len == 0 || memcmp(ev->norm, ev->raw, ev->raw_len) == 0);
}

/* Bytes of ev packed, with the lengths of its optional strings (NUL included, 0 if unset). */
static size_t pack_size(const struct tw_event *ev, const char *s[N_OPT],
                        size_t len[N_OPT])
{
    size_t n = sizeof(struct packed_event) + 2 * addr_bytes(ev->ip_version) + ev->raw_len +
               (norm_same(ev) ? 0 : ev->norm_len) + 1 +
               (size_t)ev->dns.n_answers * (sizeof(uint32_t) + 2 * sizeof(uint16_t)) +
               (ev->dns.answers != NULL ? ev->dns.answers_len : 0);

    for (size_t i = 0; i < N_OPT; i++) {
        s[i] = opt_get(ev, i);
        len[i] = opt_len(s[i]);
        n += len[i];
    }
    return (n + 7) & ~(size_t)7;
}

size_t tw_event_pack_size(const struct tw_event *ev)
{
    const char *s[N_OPT];
    size_t len[N_OPT];

    return pack_size(ev, s, len);
}

static uint8_t *put(uint8_t *w, const void *src, size_t n)
{
    if (n > 0)
        memcpy(w, src, n);
    return w + n;
}

size_t tw_event_pack(void *dst, const struct tw_event *ev)
{
    const char *s[N_OPT];
    size_t len[N_OPT];
    size_t size = pack_size(ev, s, len), n = ev->dns.n_answers;
    bool same = norm_same(ev);
    struct packed_event h = {
        .ts_sec = ev->ts_sec,
        .flow_id = ev->flow_id,
        .source = ev->source,
        .size = (uint32_t)size,
        .ts_nsec = ev->ts_nsec,
        .tls_flags = ev->tls_flags,
        .pid = ev->proc.pid,
        .uid = ev->proc.uid,
        .answers_len = ev->dns.answers != NULL ? (uint32_t)ev->dns.answers_len : 0,
        .bits = (uint16_t)((same ? PK_NORM_SAME : 0) | (ev->initiated ? PK_INITIATED : 0) |
                           (ev->ech ? PK_ECH : 0) | (ev->name_truncated ? PK_TRUNCATED : 0) |
                           (ev->midstream ? PK_MIDSTREAM : 0) |
                           (ev->proc.local_is_source ? PK_LOCAL_IS_SOURCE : 0) |
                           (ev->dns.rejected ? PK_DNS_REJECTED : 0) |
                           (ev->dns.ech ? PK_DNS_ECH : 0) |
                           (ev->dns.answers != NULL ? PK_DNS_ANSWERS : 0) |
                           (ev->source_is_file ? PK_SOURCE_IS_FILE : 0)),
        .raw_len = (uint16_t)ev->raw_len,
        .norm_len = (uint16_t)ev->norm_len,
        .qtype = ev->qtype,
        .tls_version = ev->tls_version,
        .tls_legacy_version = ev->tls_legacy_version,
        .tls_record_version = ev->tls_record_version,
        .sport = ev->sport,
        .dport = ev->dport,
        .dns_id = ev->dns.id,
        .dns_flags = ev->dns.flags,
        .n_answers = ev->dns.n_answers,
        .category = (uint8_t)ev->category,
        .evidence = (uint8_t)ev->evidence,
        .l4_proto = ev->l4_proto,
        .ja4_proto = (uint8_t)ev->ja4_proto,
        .ip_version = ev->ip_version,
        .direction = (uint8_t)ev->direction,
        .stream_flags = ev->stream_flags,
        .proc_status = (uint8_t)ev->proc.status,
        .dns_z = ev->dns.z,
        .dns_odd = ev->dns_odd,
    };
    uint8_t *w = (uint8_t *)dst + sizeof(h);

    for (size_t i = 0; i < N_OPT; i++)
        h.strs |= s[i] != NULL ? 1u << i : 0;
    memcpy(dst, &h, sizeof(h));
    /* The arrays first, where their alignment holds (the header is a multiple of 8). */
    if (n > 0) {
        w = put(w, ev->dns.ttls, n * sizeof(uint32_t));
        w = put(w, ev->dns.offs, n * sizeof(uint16_t));
        w = put(w, ev->dns.types, n * sizeof(uint16_t));
    }
    w = put(w, ev->src_addr, addr_bytes(ev->ip_version));
    w = put(w, ev->dst_addr, addr_bytes(ev->ip_version));
    w = put(w, h.answers_len > 0 ? ev->dns.answers : NULL, h.answers_len);
    w = put(w, ev->raw, ev->raw_len);
    if (!same)
        w = put(w, ev->norm, ev->norm_len);
    *w++ = '\0';
    for (size_t i = 0; i < N_OPT; i++)
        w = put(w, s[i], len[i]);
    memset(w, 0, size - (size_t)(w - (uint8_t *)dst)); /* the padding: no stale bytes */
    return size;
}

size_t tw_event_unpack(const void *src, struct tw_event *ev)
{
    struct packed_event h;
    const uint8_t *r = (const uint8_t *)src + sizeof(h);
    size_t n;

    memcpy(&h, src, sizeof(h));
    n = h.n_answers;
    *ev = (struct tw_event){
        .category = (enum tw_category)h.category,
        .evidence = (enum tw_evidence)h.evidence,
        .ts_sec = h.ts_sec,
        .ts_nsec = h.ts_nsec,
        .flow_id = h.flow_id,
        .raw_len = h.raw_len,
        .norm_len = h.norm_len,
        .qtype = h.qtype,
        .l4_proto = h.l4_proto,
        .initiated = (h.bits & PK_INITIATED) != 0,
        .ech = (h.bits & PK_ECH) != 0,
        .ja4_proto = (char)h.ja4_proto,
        .tls_flags = h.tls_flags,
        .tls_version = h.tls_version,
        .tls_legacy_version = h.tls_legacy_version,
        .tls_record_version = h.tls_record_version,
        .name_truncated = (h.bits & PK_TRUNCATED) != 0,
        .sport = h.sport,
        .dport = h.dport,
        .ip_version = h.ip_version,
        .midstream = (h.bits & PK_MIDSTREAM) != 0,
        .direction = (enum tw_direction)h.direction,
        .stream_flags = h.stream_flags,
        .dns_odd = h.dns_odd,
        .proc = {.status = (enum tw_proc_status)h.proc_status,
                 .local_is_source = (h.bits & PK_LOCAL_IS_SOURCE) != 0,
                 .pid = h.pid,
                 .uid = h.uid},
        .dns = {.id = h.dns_id,
                .flags = h.dns_flags,
                .z = h.dns_z,
                .rejected = (h.bits & PK_DNS_REJECTED) != 0,
                .ech = (h.bits & PK_DNS_ECH) != 0,
                .n_answers = h.n_answers,
                .answers_len = h.answers_len},
        .source = h.source,
        .source_is_file = (h.bits & PK_SOURCE_IS_FILE) != 0,
    };
    if (n > 0) {
        ev->dns.ttls = (const uint32_t *)(const void *)r;
        r += n * sizeof(uint32_t);
        ev->dns.offs = (const uint16_t *)(const void *)r;
        r += n * sizeof(uint16_t);
        ev->dns.types = (const uint16_t *)(const void *)r;
        r += n * sizeof(uint16_t);
    }
    memcpy(ev->src_addr, r, addr_bytes(h.ip_version));
    r += addr_bytes(h.ip_version);
    memcpy(ev->dst_addr, r, addr_bytes(h.ip_version));
    r += addr_bytes(h.ip_version);
    if (h.bits & PK_DNS_ANSWERS) {
        ev->dns.answers = (const char *)r;
        r += h.answers_len;
    }
    ev->raw = (const char *)r;
    r += h.raw_len;
    if (h.bits & PK_NORM_SAME) {
        ev->norm = ev->raw;
    } else {
        ev->norm = (const char *)r;
        r += h.norm_len;
    }
    r++; /* the NUL after norm (or after raw, when norm is the same bytes) */
    for (size_t i = 0; i < N_OPT; i++) {
        if (h.strs & (1u << i)) {
            opt_set(ev, i, (const char *)r); /* ja4 too: ja4_hello is NULL, so it is read */
            r += strlen((const char *)r) + 1;
        }
    }
    return h.size;
}

static const char *proto_name(uint8_t p)
{
    return p == 6 ? "tcp" : p == 17 ? "udp" : "other";
}

static const char *bool_str(bool b)
{
    return b ? "true" : "false";
}

bool tw_event_field(const struct tw_event *ev, enum tw_field f, char *tmp, size_t tmpcap,
                    const char **val, size_t *len)
{
    return tw_event_field_at(ev, f, 0, tmp, tmpcap, val, len);
}

bool tw_event_field_at(const struct tw_event *ev, enum tw_field f, unsigned i, char *tmp,
                       size_t tmpcap, const char **val, size_t *len)
{
    const struct tw_dns_resp *d = &ev->dns;
    int n;

    if (!tw_field_in_category(f, ev->category))
        return false;
    if (i > 0 && (!tw_field_is_list(f) || i >= d->n_answers))
        return false;
    if (tw_field_is_process(f) && ev->proc.status != TW_PROC_FOUND)
        return false;
    switch (f) {
    case TW_F_QUERY_NAME:
    case TW_F_DESTINATION_HOSTNAME:
        *val = ev->norm;
        *len = ev->norm_len;
        return true;
    case TW_F_QUERY_TYPE: {
        /* Mnemonic where one exists, else the RFC 3597 generic form. */
        const char *mn = tw_dns_qtype_name(ev->qtype);
        n = mn != NULL ? snprintf(tmp, tmpcap, "%s", mn) : snprintf(tmp, tmpcap, "TYPE%u", ev->qtype);
        break;
    }
    case TW_F_DESTINATION_IP:
    case TW_F_SOURCE_IP:
        /* Formatted here, not per event: most events never have their addresses read. */
        if (tmpcap < TW_IPSTR_MAX)
            return false;
        tw_addr_format(ev->ip_version, f == TW_F_SOURCE_IP ? ev->src_addr : ev->dst_addr, tmp,
                       tmpcap);
        *val = tmp;
        *len = strlen(tmp);
        return true;
    case TW_F_DESTINATION_PORT:
        n = snprintf(tmp, tmpcap, "%u", ev->dport);
        break;
    case TW_F_SOURCE_PORT:
        n = snprintf(tmp, tmpcap, "%u", ev->sport);
        break;
    case TW_F_PROTOCOL:
        *val = proto_name(ev->l4_proto);
        *len = strlen(*val);
        return true;
    case TW_F_INITIATED:
        *val = ev->initiated ? "true" : "false";
        *len = strlen(*val);
        return true;
    case TW_F_IMAGE:
        *val = ev->proc.image != NULL ? ev->proc.image : "";
        *len = strlen(*val);
        return true;
    case TW_F_PROCESS_ID:
        n = snprintf(tmp, tmpcap, "%d", (int)ev->proc.pid);
        break;
    case TW_F_USER:
        *val = ev->proc.user != NULL ? ev->proc.user : "";
        *len = strlen(*val);
        return true;
    case TW_F_JA4:
        *val = tw_event_ja4(ev);
        if (*val == NULL)
            return false;
        *len = strlen(*val);
        return true;
    case TW_F_CS_METHOD:
    case TW_F_C_URI:
    case TW_F_C_URI_STEM:
    case TW_F_C_URI_QUERY:
    case TW_F_C_URI_EXTENSION:
    case TW_F_C_USERAGENT:
    case TW_F_CS_REFERRER:
    case TW_F_CS_VERSION:
    case TW_F_CS_COOKIE:
        if (ev->http[f - TW_F_CS_METHOD] == NULL)
            return false;
        *val = ev->http[f - TW_F_CS_METHOD];
        *len = strlen(*val);
        return true;
    case TW_F_ANSWERS:
        if (d->n_answers == 0 || d->answers == NULL || d->offs[i] >= d->answers_len)
            return false;
        *val = d->answers + d->offs[i];
        *len = strlen(*val);
        return true;
    case TW_F_TTLS:
        if (d->n_answers == 0)
            return false;
        n = snprintf(tmp, tmpcap, "%u", d->ttls[i]);
        break;
    case TW_F_RCODE:
        n = snprintf(tmp, tmpcap, "%u", d->flags & 0xFu);
        break;
    case TW_F_RCODE_NAME:
        *val = tw_dns_rcode_name((uint8_t)(d->flags & 0xF));
        *len = strlen(*val);
        return true;
    case TW_F_Z:
        n = snprintf(tmp, tmpcap, "%u", d->z);
        break;
    case TW_F_AA:
    case TW_F_TC:
    case TW_F_RD:
    case TW_F_RA:
        /* 0x0400 AA, 0x0200 TC, 0x0100 RD, 0x0080 RA */
        *val = bool_str(d->flags & (0x0400u >> (f - TW_F_AA)));
        *len = strlen(*val);
        return true;
    case TW_F_REJECTED:
        *val = bool_str(d->rejected);
        *len = strlen(*val);
        return true;
    case TW_F_QTYPE:
        n = snprintf(tmp, tmpcap, "%u", ev->qtype);
        break;
    case TW_F_TRANS_ID:
        n = snprintf(tmp, tmpcap, "%u", d->id);
        break;
    case TW_F_ECH_CONFIG:
        *val = bool_str(d->ech);
        *len = strlen(*val);
        return true;
    default:
        return false;
    }
    if (n < 0 || (size_t)n >= tmpcap)
        return false;
    *val = tmp;
    *len = (size_t)n;
    return true;
}
