/* SPDX-License-Identifier: MIT */
/*
 * What the formatters (native.c, ecs.c, asim.c, cef.c) share: the facts every format derives
 * from an event or a rule in the same way, so that the formats never disagree on them.
 */
#ifndef TUNWATCH_FORMAT_IMPL_H
#define TUNWATCH_FORMAT_IMPL_H

#include "tunwatch/flow/communityid.h"
#include "tunwatch/output/format.h"

/* Where the line's event came from: the event's own source, else the context's. */
struct fmt_source {
    const char *name; /* NULL: unknown */
    bool is_file;     /* a capture file (-r), else an interface */
};
struct fmt_source fmt_source(const struct tw_format_ctx *c, const struct tw_event *ev);

/* Network direction seen from the home networks. */
enum fmt_dir {
    FMT_DIR_UNKNOWN,  /* no home networks known */
    FMT_DIR_OUTBOUND, /* initiator inside, responder outside */
    FMT_DIR_INBOUND,  /* initiator outside, responder inside */
    FMT_DIR_INTERNAL, /* both inside */
    FMT_DIR_EXTERNAL, /* both outside */
};
enum fmt_dir fmt_direction(const struct tw_format_ctx *c, const struct tw_event *ev);

/* The application protocol the name came from: "dns", "tls", "quic", "http" (lowercase). */
const char *fmt_app_proto(const struct tw_event *ev);

/* Text forms of an event's addresses and its Community ID ("" when it cannot be computed). */
struct fmt_addrs {
    char src[TW_IPSTR_MAX];
    char dst[TW_IPSTR_MAX];
    char community_id[TW_COMMUNITY_ID_LEN];
};
void fmt_addrs(const struct tw_event *ev, struct fmt_addrs *out);

/* A rule's level as numbers and words ("" or unknown levels count as medium). */
struct fmt_level {
    unsigned cef;      /* 0..10 */
    unsigned risk;     /* 0..100: Elastic's detection risk scores (21, 47, 73, 99) */
    const char *asim;  /* Informational, Low, Medium, High */
};
struct fmt_level fmt_level(const char *level);

/*
 * MITRE ATT&CK from Sigma tags: "attack.t1572" / "attack.t1090.001" are techniques (returned
 * "T1572", "T1090.001" in buf, capacity >= 16), "attack.command-and-control" (or with '_') is
 * a tactic (name "Command and Control", id "TA0011"). Returns 1 technique, 2 tactic, 0 other.
 */
int fmt_attack_tag(const char *tag, char *buf, size_t cap, const char **tactic_name,
                   const char **tactic_id);

/* The domain of a host name: what follows its first label ("" when it has no dot). Points
 * into name. */
const char *fmt_domain(const char *name, size_t len, size_t *dlen);

/* The HTTP proxy field f (TW_F_CS_METHOD ...) of ev, or NULL. */
static inline const char *fmt_http(const struct tw_event *ev, enum tw_field f)
{
    if (ev->evidence != TW_EV_HTTP_HOST || f < TW_F_CS_METHOD || f > TW_F_CS_COOKIE)
        return NULL;
    return ev->http[f - TW_F_CS_METHOD];
}

/* The DNS query type's mnemonic ("A", "HTTPS") or "TYPEnnn", into buf (>= 16 bytes). */
const char *fmt_qtype(const struct tw_event *ev, char *buf, size_t cap);

/* A DNS response event (category dns, evidence dns_response). */
static inline bool fmt_dns_response(const struct tw_event *ev)
{
    return ev->evidence == TW_EV_DNS_RESPONSE;
}

/* Answer i (< ev->dns.n_answers) of a DNS response: its text (proto/dns.h has the forms). */
static inline const char *fmt_dns_answer(const struct tw_event *ev, unsigned i)
{
    return ev->dns.answers + ev->dns.offs[i];
}

/* The DNS header flags a response event carries, in header order: the bit, its name as ECS
 * and ASIM's DnsFlags write it ("AA" ...), and ASIM's boolean field for it. */
struct fmt_dns_flag {
    uint16_t bit;
    const char *name;
    const char *asim;
};
#define FMT_DNS_FLAGS 6
extern const struct fmt_dns_flag fmt_dns_flag_bits[FMT_DNS_FLAGS];

/* The names of the flags ev (a DNS response) has set, into names. Returns how many. */
unsigned fmt_dns_flags(const struct tw_event *ev, const char *names[FMT_DNS_FLAGS]);

/* The record type's mnemonic ("A", "HTTPS") or "TYPEnnn", into buf (>= 16 bytes). */
const char *fmt_rrtype(uint16_t type, char *buf, size_t cap);

/* The event's own fields, for the part of a line that holds what the schema has no field for
 * (ECS tunwatch.*, ASIM AdditionalFields), under tunwatch's names: evidence, name,
 * name_normalized, initiated, midstream, direction, stream_flags and dns_oddities (when
 * set), pcap_filename (replay), name_truncated (when cut). */
void fmt_own_fields(struct tw_jb *jb, const struct tw_event *ev, const struct fmt_source *src);

/* The event's stream_flags as a JSON array of their names. */
void fmt_stream_flags(struct tw_jb *jb, const struct tw_event *ev);

/* The TLS hello's oddities (ev->tls_flags) as a JSON array of their names. */
void fmt_tls_flags(struct tw_jb *jb, const struct tw_event *ev);
/* The DNS message's oddities (ev->dns_odd) as a JSON array of their names. */
void fmt_dns_oddities(struct tw_jb *jb, const struct tw_event *ev);
/* The same names as text, comma-separated (CEF): the length written into buf (at most cap - 1
 * bytes, NUL-terminated; a name that does not fit whole is left out). */
size_t fmt_stream_flags_text(const struct tw_event *ev, char *buf, size_t cap);
size_t fmt_tls_flags_text(const struct tw_event *ev, char *buf, size_t cap);
size_t fmt_dns_oddities_text(const struct tw_event *ev, char *buf, size_t cap);

/* Rule info strings that may be NULL, as "". */
static inline const char *fmt_s(const char *s)
{
    return s != NULL ? s : "";
}

#endif /* TUNWATCH_FORMAT_IMPL_H */
