/* SPDX-License-Identifier: MIT */
/*
 * TLS ClientHello parsing (RFC 8446 / RFC 5246) from the client's byte stream.
 *
 *  record:    type(1)=22 | version(2) | length(2) | fragment...
 *  handshake: msg_type(1)=1 | length(3) | body...   (may span several records)
 *  body:      legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
 *             compression_methods<1..2^8-1> extensions<0..2^16-1>
 *  server_name (0):  server_name_list<1..2^16-1> of { name_type(1)=0 host_name<1..2^16-1> }
 *  signature_algorithms (13):  supported_signature_algorithms<2..2^16-2>   (uint16 each)
 *  application_layer_protocol_negotiation (16):  protocol_name_list<2..2^16-1> of
 *                                                ProtocolName<1..2^8-1>
 *  supported_versions (43):  versions<2..254>   (uint16 each; ClientHello form)
 *
 * Every nested length is checked and each level must end exactly on its boundary.
 */
#ifndef TUNWATCH_TLS_H
#define TUNWATCH_TLS_H

#include "tunwatch/base/common.h"

#define TW_TLS_EXT_SERVER_NAME 0x0000
#define TW_TLS_EXT_SIG_ALGS 0x000d /* signature_algorithms (RFC 8446 4.2.3) */
#define TW_TLS_EXT_ALPN 0x0010     /* application_layer_protocol_negotiation (RFC 7301) */
#define TW_TLS_EXT_EARLY_DATA 0x002a /* early_data (RFC 8446 4.2.10) */
#define TW_TLS_EXT_VERSIONS 0x002b /* supported_versions (RFC 8446 4.2.1) */
#define TW_TLS_EXT_ECH 0xfe0d      /* encrypted_client_hello (RFC 9849) */
#define TW_TLS_EXT_ESNI 0xffce     /* draft ESNI */
/* Largest ClientHello body the vector bounds allow (legacy_version, random, session_id<0..32>,
 * cipher_suites<2..2^16-2>, compression_methods<1..2^8-1>, extensions<0..2^16-1>): 131396
 * bytes, OpenSSL's CLIENT_HELLO_MAX_LENGTH too. The handshake message may span many records. */
#define TW_TLS_HELLO_MAX 131396
#define TW_TLS_HELLO_LARGE 16384 /* a body over this many bytes is flagged hello_large */
#define TW_TLS_SNI_MAX 8         /* host_names kept from one hello (the rest: sni_too_many) */
#define TW_TLS_SKIP_MAX 32       /* records skipped before the hello is whole (OpenSSL ignores
                                    up to 32 empty records) */

/*
 * Oddities of a ClientHello, one bit each in struct tw_tls_hello.flags (named decoder events, as
 * Suricata's SSL_DECODER_EVENT_*). Each is something at least one real server accepts (or a
 * hello that broke after its names were read): tunwatch reads through it and says so.
 */
#define TW_TLS_FLAGS(X)                                                                            \
    X(TW_TLS_F_DUPLICATE_EXTENSION, "duplicate_extension") /* an extension type twice or more */  \
    X(TW_TLS_F_SNI_MULTIPLE, "sni_multiple")     /* more than one host_name in the hello */       \
    X(TW_TLS_F_SNI_EXTENSION_REPEATED, "sni_extension_repeated") /* server_name twice or more */ \
    X(TW_TLS_F_SNI_TOO_MANY, "sni_too_many")     /* over TW_TLS_SNI_MAX host_names: rest unread */ \
    X(TW_TLS_F_SNI_EMPTY, "sni_empty")           /* a zero-length host_name, skipped */           \
    X(TW_TLS_F_SNI_OTHER_TYPE, "sni_other_type") /* a server_name entry not of type host_name */  \
    X(TW_TLS_F_SNI_PORT, "sni_port")             /* a host_name ending in :port (matched without) */ \
    X(TW_TLS_F_LEGACY_VERSION_UNUSUAL, "legacy_version_unusual") /* not 0x0300..0x0303 */         \
    X(TW_TLS_F_RECORD_VERSION_UNUSUAL, "record_version_unusual") /* 0x03xx above 0x0304 */        \
    X(TW_TLS_F_RECORD_EMPTY, "record_empty")     /* empty handshake record(s), skipped */         \
    X(TW_TLS_F_RECORD_CCS, "record_change_cipher_spec") /* ChangeCipherSpec record(s), skipped */ \
    X(TW_TLS_F_RECORD_ALERT, "record_alert")     /* alert record(s), skipped */                   \
    X(TW_TLS_F_RECORD_HEARTBEAT, "record_heartbeat") /* heartbeat record(s), skipped */           \
    X(TW_TLS_F_RECORD_SPLIT, "record_split")     /* the hello spans more than one record */       \
    X(TW_TLS_F_HELLO_LARGE, "hello_large")       /* body over TW_TLS_HELLO_LARGE bytes */         \
    X(TW_TLS_F_EXTENSION_LIST_BAD, "extension_list_bad") /* see ext_list_bad */                   \
    X(TW_TLS_F_TRUNCATED, "truncated") /* malformed after these names were read */

enum tw_tls_flag { TW_TLS_FLAGS(TW_X_ENUM) TW_TLS_F__COUNT };

/* "duplicate_extension", ...: the flag's name in the output. */
const char *tw_tls_flag_name(enum tw_tls_flag f);
/* "tls_duplicate_extension", ...: the flag's counter in the stats and summary. */
const char *tw_tls_flag_counter(enum tw_tls_flag f);

/*
 * The length of host_name name[0..n) without a port after it: n less ":PORT" when the name
 * ends in ':' and 1 to 5 digits of a port (tw_port_parse(): up to 65535) after at least one
 * other byte, and the host has no colon outside brackets ("[::1]:443"), else n.
 * RFC 6066 names a host only, but clients have sent "host:port" (quic-go's interop clients
 * did); servers take the bytes as they come. Events report the name as sent and rules match
 * it without the port, as an HTTP Host.
 */
size_t tw_tls_sni_host_len(const uint8_t *name, size_t n);

struct tw_tls_hello {
    uint16_t legacy_version; /* client_version field (any value is read) */
    uint16_t record_version; /* version of the first handshake record */
    uint16_t version;        /* the version the client offers: the highest non-GREASE entry of
                                supported_versions, else legacy_version */
    uint32_t flags;          /* 1u << enum tw_tls_flag */
    const uint8_t *sni;      /* first host_name, slice into the handshake bytes; NULL if none */
    size_t sni_len;
    bool has_sni;
    /* Every distinct host_name, in order (sni is snis[0]): several in one server_name list and
     * several server_name extensions are all read, as GnuTLS reads them. */
    unsigned n_sni;
    const uint8_t *snis[TW_TLS_SNI_MAX];
    size_t sni_lens[TW_TLS_SNI_MAX];
    bool has_ech; /* encrypted_client_hello extension present (may be GREASE) */
    bool has_esni;
    unsigned n_records; /* TLS records the handshake message spanned (skipped ones not counted) */
    size_t hello_len;   /* handshake body length */
    /*
     * What a client fingerprint (JA4) reads, as slices into the same bytes as `sni`. Lists of
     * 16-bit values are raw big-endian pairs with an even length. A slice of an extension whose
     * contents do not fill it exactly (see below) stays NULL and sets `ext_list_bad`. When an
     * extension type is repeated, its first copy is the one read.
     */
    const uint8_t *ciphers; /* cipher_suites contents, in order (GREASE included) */
    size_t ciphers_len;
    const uint8_t *exts; /* extensions block after its length: (type, length, data) entries,
                            in order, each checked; NULL when the hello has no extensions */
    size_t exts_len;
    const uint8_t *sig_algs; /* signature_algorithms list, in order; NULL if absent */
    size_t sig_algs_len;
    const uint8_t *versions; /* supported_versions list, in order; NULL if absent */
    size_t versions_len;
    const uint8_t *alpn; /* first ProtocolName of the ALPN list; NULL if absent or the list is
                            empty; may have alpn_len 0 (RFC 7301 forbids it, clients send it) */
    size_t alpn_len;
    bool ext_list_bad; /* extension 13, 16 or 43 present but its list not well-formed */
};

/*
 * Parses a ClientHello handshake body (after the 4-byte handshake header),
 * exactly `len` bytes. Returns 0 or TW_EMALFORMED. `out->sni` and `out->snis`
 * point into `body` and stay valid as long as `body` does. *out is reset on
 * entry.
 *
 * As lenient as the servers (README, "Lenient TLS"): any legacy_version is
 * read (flagged unless 0x0300..0x0303); repeated extension types are read
 * (flagged; the first copy of extensions 13, 16 and 43 counts); every
 * host_name of every server_name extension is kept, up to TW_TLS_SNI_MAX
 * distinct names; an empty host_name or an entry of another name type is
 * skipped (flagged).
 *
 * Malformed: any length running past its parent or not ending exactly on
 * its parent's end, session_id > 32 bytes, odd or empty cipher_suites, no
 * compression method, an empty server_name list. On TW_EMALFORMED every
 * field is reset except the host_names read before the break (n_sni, snis,
 * sni, has_sni) and `flags`, which then holds TW_TLS_F_TRUNCATED when there
 * is a name: a sensor still reports them. SNI bytes are raw (may hold a
 * trailing dot, ":port", or any byte): escape them before output.
 *
 * The lists of extensions 13, 16 and 43 are checked only for framing (each
 * length prefix matches what follows, exactly; 16-bit lists have an even
 * length; minimum sizes are not enforced) and never make the hello
 * malformed: a sensor keeps the SNI of a hello with a broken ALPN. Such a
 * list is reported through `ext_list_bad` and its slice stays NULL.
 */
int tw_tls_client_hello_parse(const uint8_t *body, size_t len, struct tw_tls_hello *out);

/*
 * Cheap content test on the first bytes of a client stream: could this be a
 * TLS stream bringing a ClientHello (a record header of type handshake,
 * ChangeCipherSpec, alert or heartbeat, version 0x03xx, length up to 2^14,
 * then msg_type 1 when a non-empty handshake record's first byte is
 * present)? Returns true also for a too-short but consistent prefix
 * (including len 0).
 */
bool tw_tls_maybe_client_hello(const uint8_t *buf, size_t len);

/* Whether parsed hello h carries an extension of this type. */
bool tw_tls_hello_has_extension(const struct tw_tls_hello *h, uint16_t type);

/* Whether buf[0..len) begins with the header of a TLS application_data record (any 3.x
 * version, a length a TLSCiphertext may have): what a client or server sends only once its
 * handshake is under way, so its ClientHello, if any, came before. */
bool tw_tls_application_data(const uint8_t *buf, size_t len);

/*
 * Parses a client byte stream that starts on a TLS record boundary: walks
 * records, joins the handshake fragments into `scratch` (capacity
 * `scratch_cap`; TW_TLS_HELLO_MAX + 4 holds any ClientHello) and, once the
 * ClientHello handshake message is complete, parses it into *out, whose
 * pointers then refer into `scratch` (valid until scratch is reused).
 * Returns the number of stream bytes consumed through the record that
 * completed the message (> 0); TW_EINCOMPLETE when the bytes so far are a
 * valid prefix; TW_EMALFORMED when this is not a TLS ClientHello or is invalid
 * (*out may then hold the names read before the break: see
 * tw_tls_client_hello_parse); TW_ENOMEM if the message would not fit in
 * scratch (known from the handshake header, before the message is complete).
 *
 * Meant to be called again on the whole, longer stream each time bytes
 * arrive: a call on an incomplete prefix only walks record headers (no copy);
 * the body is copied and parsed once, by the call that sees it complete.
 * Every proper prefix of a valid stream gives TW_EINCOMPLETE. Record and
 * handshake headers are checked as soon as their bytes are present (so a
 * non-TLS stream fails on its first byte); the body only once complete.
 *
 * Records: version 0x03xx (above 0x0304 flagged: servers check only the
 * major version), length up to 2^14. Handshake records carry the message;
 * empty handshake records and ChangeCipherSpec, alert and heartbeat records
 * met before the message is complete are skipped whole (flagged), at most
 * TW_TLS_SKIP_MAX of them; any other record type is malformed. The record
 * that completes the ClientHello must be present whole; bytes after the
 * ClientHello inside it are ignored, as is everything after that record.
 * An SSLv2-compatible ClientHello (first byte with the high bit set) is
 * TW_EMALFORMED: it has no extensions, so it can carry no SNI.
 */
int tw_tls_parse_stream(const uint8_t *stream, size_t len, uint8_t *scratch, size_t scratch_cap,
                        struct tw_tls_hello *out);

#endif /* TUNWATCH_TLS_H */
