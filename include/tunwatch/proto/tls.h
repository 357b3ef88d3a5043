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
#define TW_TLS_EXT_VERSIONS 0x002b /* supported_versions (RFC 8446 4.2.1) */
#define TW_TLS_EXT_ECH 0xfe0d      /* encrypted_client_hello (RFC 9849) */
#define TW_TLS_EXT_ESNI 0xffce     /* draft ESNI */
#define TW_TLS_HELLO_MAX 16384     /* largest ClientHello handshake body we assemble */

struct tw_tls_hello {
    uint16_t legacy_version; /* client_version field */
    uint16_t record_version; /* version of the first record */
    const uint8_t *sni;      /* first host_name, slice into the handshake bytes; NULL if none */
    size_t sni_len;
    bool has_sni;
    bool has_ech; /* encrypted_client_hello extension present (may be GREASE) */
    bool has_esni;
    unsigned n_records; /* TLS records the handshake message spanned */
    size_t hello_len;   /* handshake body length */
    /*
     * What a client fingerprint (JA4) reads, as slices into the same bytes as `sni`. Lists of
     * 16-bit values are raw big-endian pairs with an even length. A slice of an extension whose
     * contents do not fill it exactly (see below) stays NULL and sets `ext_list_bad`.
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
 * exactly `len` bytes. Returns 0 or TW_EMALFORMED. `out->sni` points into
 * `body` and stays valid as long as `body` does. *out is reset on entry.
 * Malformed: any length running past its parent or not ending exactly on
 * its parent's end, legacy_version major != 3, session_id > 32 bytes, odd or
 * empty cipher_suites, no compression method, a duplicate extension type
 * (RFC 8446 4.2), an empty server_name list or an empty host_name (RFC 6066).
 * The first host_name entry is the SNI; entries of other name types and any
 * later host_name are skipped. SNI bytes are raw (may hold a trailing dot,
 * ":port", or any byte): escape them before output.
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
 * TLS handshake record carrying a ClientHello (0x16 0x03 0x00..0x04, record
 * length 1..2^14, then msg_type 1 when present)? Returns true also for a
 * too-short but consistent prefix (including len 0).
 */
bool tw_tls_maybe_client_hello(const uint8_t *buf, size_t len);

/*
 * Parses a client byte stream that starts on a TLS record boundary: walks
 * handshake records, joins the handshake fragments into `scratch` (capacity
 * `scratch_cap`, at least TW_TLS_HELLO_MAX + 4 recommended) and, once the
 * ClientHello handshake message is complete, parses it into *out, whose
 * pointers then refer into `scratch` (valid until scratch is reused).
 * Returns the number of stream bytes consumed through the record that
 * completed the message (> 0); TW_EINCOMPLETE when the bytes so far are a
 * valid prefix; TW_EMALFORMED when this is not a TLS ClientHello or is invalid;
 * TW_ENOMEM if the message would not fit in scratch (known from the
 * handshake header, before the message is complete).
 *
 * Meant to be called again on the whole, longer stream each time bytes
 * arrive: a call on an incomplete prefix only walks record headers (no copy);
 * the body is copied and parsed once, by the call that sees it complete.
 * Every proper prefix of a valid stream gives TW_EINCOMPLETE. Record and
 * handshake headers are checked as soon as their bytes are present (so a
 * non-TLS stream fails on its first byte); the body only once complete.
 * Records: type 22 only (any other record type before the message is
 * complete is malformed), version 0x0300..0x0304, length 1..2^14. The record
 * that completes the ClientHello must be present whole; bytes after the
 * ClientHello inside it are ignored, as is everything after that record.
 * An SSLv2-compatible ClientHello (first byte with the high bit set) is
 * TW_EMALFORMED: it has no extensions, so it can carry no SNI.
 */
int tw_tls_parse_stream(const uint8_t *stream, size_t len, uint8_t *scratch, size_t scratch_cap,
                        struct tw_tls_hello *out);

#endif /* TUNWATCH_TLS_H */
