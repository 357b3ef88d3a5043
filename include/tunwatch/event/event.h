/* SPDX-License-Identifier: MIT */
/*
 * The event model: one struct per observation, with fields named as in
 * Sigma's taxonomy. Both the rule engine and the output read events only
 * through this header.
 *
 *  dns_query:          QueryName QueryType SourceIp SourcePort DestinationIp
 *                      DestinationPort Protocol
 *  network_connection: DestinationHostname DestinationIp DestinationPort
 *                      SourceIp SourcePort Protocol Initiated
 *  dns:                a DNS response, as Zeek's dns.log reads it: QueryName QueryType
 *                      (the question it answers), the addresses and ports of the query
 *                      (source = the client), Protocol, and answers TTLs rcode rcode_name
 *                      Z AA TC RD RA rejected qtype trans_id ech_config
 *  all, when the process that owns the local socket is known (endpoint,
 *  live capture): Image ProcessId User
 *
 * Source is always the side that initiated the flow (TCP SYN, first UDP
 * packet). Initiated is "true" when that side's address is inside the home
 * networks, else "false" (see README, "Initiated").
 */
#ifndef TUNWATCH_EVENT_H
#define TUNWATCH_EVENT_H

#include "tunwatch/base/common.h"

struct tw_tls_hello;

enum tw_category {
    TW_CAT_DNS_QUERY,
    TW_CAT_NETWORK_CONNECTION,
    TW_CAT_DNS, /* a DNS response (rules of logsource dns that read response fields) */
    TW_CAT__COUNT
};

/* Which observation produced the name. */
enum tw_evidence {
    TW_EV_DNS_QUERY, /* question of a DNS request */
    TW_EV_TLS_SNI,   /* server_name of a TLS ClientHello */
    TW_EV_DNS_ANSWER, /* no name in the flow: the name the same client resolved to its address */
    TW_EV_QUIC_SNI,   /* server_name of a ClientHello in QUIC Initial packets */
    TW_EV_HTTP_HOST,  /* host of an HTTP request (Host header, absolute URI, CONNECT target) */
    TW_EV_DNS_RESPONSE, /* a DNS response: its question and what the server answered */
    TW_EV__COUNT
};

enum tw_field {
    TW_F_QUERY_NAME,
    TW_F_QUERY_TYPE,
    TW_F_DESTINATION_HOSTNAME,
    TW_F_DESTINATION_IP,
    TW_F_DESTINATION_PORT,
    TW_F_SOURCE_IP,
    TW_F_SOURCE_PORT,
    TW_F_PROTOCOL,
    TW_F_INITIATED,
    TW_F_IMAGE,      /* process fields: present only when ev->proc.status is TW_PROC_FOUND */
    TW_F_PROCESS_ID,
    TW_F_USER,
    TW_F_JA4, /* network_connection from a TLS (or QUIC) ClientHello: its JA4 fingerprint */
    /* network_connection from an HTTP request: Sigma's proxy fields */
    TW_F_CS_METHOD,
    TW_F_C_URI,
    TW_F_C_URI_STEM,
    TW_F_C_URI_QUERY,
    TW_F_C_URI_EXTENSION,
    TW_F_C_USERAGENT,
    TW_F_CS_REFERRER,
    TW_F_CS_VERSION,
    TW_F_CS_COOKIE,
    /* dns (responses): Zeek dns.log names */
    TW_F_ANSWERS,     /* list: every answer record's text (see proto/dns.h) */
    TW_F_TTLS,        /* list: their TTLs in seconds */
    TW_F_RCODE,       /* header RCODE, a number */
    TW_F_RCODE_NAME,  /* its name as Zeek writes it (NOERROR, NXDOMAIN, ...) */
    TW_F_Z,           /* Zeek's Z: header bits 4-6 (Z, AD, CD), 0..7 */
    TW_F_AA,          /* header flags, "true" or "false" */
    TW_F_TC,
    TW_F_RD,
    TW_F_RA,
    TW_F_REJECTED,    /* Zeek's rejected: no records at all, or an error without a question */
    TW_F_QTYPE,       /* the question's type as a number */
    TW_F_TRANS_ID,    /* the message ID */
    TW_F_ECH_CONFIG,  /* an SVCB/HTTPS answer carries an ech SvcParam: "true" or "false" */
    TW_F__COUNT
};

/* How a field's values are written and compared. */
enum tw_field_kind {
    TW_FK_STRING,
    TW_FK_NUMBER, /* decimal; numeric modifiers apply, keyword searches skip it */
    TW_FK_BOOL,   /* "true" or "false" (written as JSON booleans) */
};

#define TW_IPSTR_MAX 46
#define TW_FIELD_TMP 64 /* scratch tw_event_field() needs */

/* How the source (initiator) of the event's flow was decided. */
enum tw_direction {
    TW_DIR_START,        /* the flow's start was seen: TCP SYN or SYN-ACK, first UDP packet */
    TW_DIR_CLIENT_BYTES, /* start not seen: the side that sent what only a client sends first
                            (ClientHello, DNS query, CONNECT, PROXY header) */
    TW_DIR_PORT,         /* start not seen: guessed from the ports (the well-known or lower
                            port is the server's) */
};

/* How a TCP flow's bytes were read, when it matters to whoever reads the name (event
 * stream_flags, 1u << each). */
enum tw_stream_flag {
    TW_SF_OVERLAP_CONFLICT, /* a segment of the flow overlapped bytes already held with other
                               bytes (the first ones were kept): a receiver may have read
                               other bytes than tunwatch did */
    TW_SF_HELLO_LATER,      /* this ClientHello came at the sequence numbers of one already
                               reported on the flow, with other bytes (insertion decoy or
                               the real hello after one) */
    TW_SF_MIDSTREAM_PICKUP, /* start not seen: the name was read from the flow's first bytes,
                               held until they told who the client is */
    TW_SF_HELLO_RETRY,      /* a second ClientHello (after a HelloRetryRequest) whose names
                               are not the first one's: both are reported */
    TW_SF__COUNT
};

/* Whether the process behind the local socket of the event is known. */
enum tw_proc_status {
    TW_PROC_NONE,         /* not looked up: attribution off, or neither side is this host */
    TW_PROC_FOUND,        /* pid, uid, image, user and comm are set */
    TW_PROC_UNATTRIBUTED, /* a local side, but no socket or process was found: see reason */
};

struct tw_proc {
    enum tw_proc_status status;
    bool local_is_source;  /* the local socket is the event's source side (else destination) */
    int32_t pid;
    uint32_t uid;
    const char *image;     /* executable path, "" when unreadable */
    const char *user;      /* user name, or the uid in decimal when it has none */
    const char *comm;      /* command name (kernel's task comm) */
    const char *reason;    /* TW_PROC_UNATTRIBUTED: short snake_case reason */
};

struct tw_event {
    enum tw_category category;
    enum tw_evidence evidence;
    int64_t ts_sec;        /* packet timestamp that completed the observation */
    uint32_t ts_nsec;
    uint64_t flow_id;      /* unique per flow within one run */
    const char *raw;       /* name as seen on the wire (DNS: presentation form); any bytes */
    size_t raw_len;
    const char *norm;      /* ASCII-lowercased, one trailing dot removed: what rules match */
    size_t norm_len;
    uint16_t qtype;        /* dns_query, and the question of a dns_response */
    uint8_t l4_proto;      /* 6 or 17 */
    bool initiated;        /* initiator inside the home networks */
    bool ech;              /* tls_sni: encrypted_client_hello extension present */
    /* tls_sni, quic_sni: the JA4 fingerprint of the ClientHello. Read it through
     * tw_event_ja4(), never directly: it is computed on first use, so a hello whose event no
     * rule, output or copy reads costs no fingerprint. `ja4` is the computed value (or
     * NULL); while the event is being emitted, `ja4_hello` is the parsed hello it comes
     * from (its bytes still valid), `ja4_proto` 't' or 'q', and `ja4_buf` TW_JA4_LEN bytes
     * the producer cleared, where the value is computed once. Copies carry the value. */
    const char *ja4;
    const struct tw_tls_hello *ja4_hello;
    char *ja4_buf;
    char ja4_proto;
    uint32_t tls_flags;    /* tls_sni, quic_sni: the hello's oddities, 1u << enum tw_tls_flag */
    uint16_t tls_version;  /* ... the version it offers (supported_versions, else legacy) */
    uint16_t tls_legacy_version, tls_record_version; /* ... as sent (record: 0 for QUIC) */
    bool name_truncated;   /* the name was longer than TW_NAME_MAX - 1 bytes: raw holds its
                              end (what suffix rules match) */
    /* http_host: the request's proxy fields, NUL-terminated, NULL when the request has none
     * (indexed by field - TW_F_CS_METHOD) */
    const char *http[9];
    const char *http_host_raw; /* http_host: the Host field as sent (port included), or NULL */
    uint16_t sport, dport; /* source = initiator */
    const char *answer_name;  /* network_connection: the name this client resolved to the
                                 destination (DNS answer cache), or NULL */
    const char *answer_chain; /* its CNAME targets, space separated ("" if none) */
    uint8_t ip_version;    /* 4 or 6: the addresses below (formatted only when a rule or the
                              output asks for SourceIp/DestinationIp: see tw_event_field) */
    uint8_t src_addr[16];  /* IPv4 in the first 4 bytes */
    uint8_t dst_addr[16];
    bool midstream;        /* the flow's start was not seen (capture began mid-flow) */
    enum tw_direction direction;
    uint8_t stream_flags;  /* TCP: 1u << enum tw_stream_flag */
    uint8_t dns_odd;       /* names read from a DNS message (query, its CNAME targets, the
                              response): the message's oddities, 1u << enum tw_dns_oddity */
    struct tw_proc proc;   /* zeroed (TW_PROC_NONE) unless attribution filled it */
    /* dns (evidence dns_response): what the response said */
    struct tw_dns_resp {
        uint16_t id;           /* message ID */
        uint16_t flags;        /* header flags word of the response */
        uint8_t z;             /* Zeek's Z: the query's bits 4-6 when that query was seen on the
                                  flow (as Zeek reports it), else the response's */
        bool rejected;
        bool ech;              /* an SVCB/HTTPS answer carries ech */
        uint16_t n_answers;
        const char *answers;   /* n_answers NUL-terminated texts, one after another */
        size_t answers_len;    /* bytes of answers, every NUL included */
        const uint16_t *offs;  /* n_answers: where each text starts in answers */
        const uint32_t *ttls;  /* n_answers */
        const uint16_t *types; /* n_answers: record types */
    } dns;
    /* The capture source (interface name, or capture file name) the event came from. With
     * several files merged (-r), the engine names the file of the flow's first packet
     * (tw_engine_config.source_names); otherwise the run stage sets it on every event it takes
     * from an engine that has none, from the source whose frames that engine is being fed.
     * NULL: the output's default source. The string outlives the run. */
    const char *source;
    bool source_is_file;   /* source is a capture file (-r), else an interface */
};

/* The JA4 fingerprint of ev's ClientHello, computed on the first call, or NULL (no hello, or
 * one without cipher suites). */
const char *tw_event_ja4(const struct tw_event *ev);

/* Sigma field name of f ("QueryName", ...). */
const char *tw_field_name(enum tw_field f);

/* Field id for a Sigma field name (case-sensitive, as Sigma field names are),
 * or TW_F__COUNT if tunwatch has no such field. */
enum tw_field tw_field_lookup(const char *name);

/* True if events of category c carry field f. */
bool tw_field_in_category(enum tw_field f, enum tw_category c);

/* Sigma logsource category name ("dns_query", "network_connection"). */
const char *tw_category_name(enum tw_category c);
const char *tw_evidence_name(enum tw_evidence e);
const char *tw_direction_name(enum tw_direction d);
const char *tw_stream_flag_name(enum tw_stream_flag f);
const char *tw_proc_status_name(enum tw_proc_status s);

/*
 * Deep copies, for events that outlive the packet (queued until the rules are loaded, or
 * until the process behind the socket is known). tw_event_copy_size() is the bytes a copy
 * takes, a multiple of 8; tw_event_copy() writes one into dst (8-byte aligned, that many
 * bytes) and returns it: its strings point inside dst, so it stays valid as long as dst.
 */
size_t tw_event_copy_size(const struct tw_event *ev);
struct tw_event *tw_event_copy(void *dst, const struct tw_event *ev);

/*
 * Packed copies, for events held in bulk (the held-event queue while the first rules load):
 * the fields the event sets without the room of those it leaves unset, about a third of a
 * deep copy. tw_event_pack_size() is the bytes a packed copy takes, a multiple of 8;
 * tw_event_pack() writes one into dst (8-byte aligned, that many bytes) and returns its size.
 * tw_event_unpack() fills *ev from a packed copy, its strings and arrays pointing into it (so
 * *ev is valid as long as src is), and returns the packed size, to step to the next one.
 */
size_t tw_event_pack_size(const struct tw_event *ev);
size_t tw_event_pack(void *dst, const struct tw_event *ev);
size_t tw_event_unpack(const void *src, struct tw_event *ev);

/* True for the fields only process attribution fills (Image, ProcessId, User). */
bool tw_field_is_process(enum tw_field f);

enum tw_field_kind tw_field_kind(enum tw_field f);

/* True for the fields that hold a list (answers, TTLs): a rule value matches when any of the
 * values does, as Sigma matches list-valued fields. */
bool tw_field_is_list(enum tw_field f);

/*
 * Value i of field f (0 for fields that hold one value), as tw_event_field(). Returns false
 * when the event has no such field or fewer values.
 */
bool tw_event_field_at(const struct tw_event *ev, enum tw_field f, unsigned i, char *tmp,
                       size_t tmpcap, const char **val, size_t *len);

/*
 * The value of field f of ev as a string, for matching (the first value of a list field). Numbers and addresses are rendered
 * into tmp (capacity >= TW_FIELD_TMP). Returns false if the event has no such field.
 * *val stays valid while both ev and tmp do.
 */
bool tw_event_field(const struct tw_event *ev, enum tw_field f, char *tmp, size_t tmpcap,
                    const char **val, size_t *len);

#endif /* TUNWATCH_EVENT_H */
