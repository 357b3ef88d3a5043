/* SPDX-License-Identifier: MIT */
/*
 * TLS ClientHello parsing (RFC 8446 / RFC 5246) from the client's byte stream.
 *
 *  record:    type(1)=22 | version(2) | length(2) | fragment...
 *  handshake: msg_type(1)=1 | length(3) | body...   (may span several records)
 *  body:      legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
 *             compression_methods<1..2^8-1> extensions<0..2^16-1>
 *  server_name (0):  server_name_list<1..2^16-1> of { name_type(1)=0 host_name<1..2^16-1> }
 *
 * Every nested length is checked and each level must end exactly on its boundary.
 */
#ifndef TUNWATCH_TLS_H
#define TUNWATCH_TLS_H

#include "tunwatch/common.h"

#define TW_TLS_EXT_SERVER_NAME 0x0000
#define TW_TLS_EXT_ECH 0xfe0d         /* encrypted_client_hello (RFC 9849) */
#define TW_TLS_EXT_ESNI 0xffce        /* draft ESNI */
#define TW_TLS_HELLO_MAX 16384        /* largest ClientHello handshake message we assemble */

struct tw_tls_hello {
    uint16_t legacy_version;   /* client_version field */
    uint16_t record_version;   /* version of the first record */
    const uint8_t *sni;        /* first host_name, slice into the handshake bytes; NULL if none */
    size_t sni_len;
    bool has_sni;
    bool has_ech;              /* encrypted_client_hello extension present (may be GREASE) */
    bool has_esni;
    unsigned n_records;        /* TLS records the handshake message spanned */
    size_t hello_len;          /* handshake body length */
};

/*
 * Parses a ClientHello handshake body (after the 4-byte handshake header),
 * exactly `len` bytes. Returns 0 or TW_EMALFORMED. `out->sni` points into `body`.
 */
int tw_tls_client_hello_parse(const uint8_t *body, size_t len, struct tw_tls_hello *out);

/*
 * Cheap content test on the first bytes of a client stream: could this be a
 * TLS handshake record carrying a ClientHello (0x16 0x03 0x00..0x04, then
 * msg_type 1 when present)? Returns true also for a too-short but consistent prefix.
 */
bool tw_tls_maybe_client_hello(const uint8_t *buf, size_t len);

/*
 * Parses a client byte stream that starts on a TLS record boundary: walks
 * handshake records, joins the handshake fragments into `scratch` (capacity
 * `scratch_cap`, at least TW_TLS_HELLO_MAX + 4 recommended) and, once the
 * ClientHello handshake message is complete, parses it into *out, whose
 * pointers then refer into `scratch`.
 * Returns the number of stream bytes consumed through the record that
 * completed the message (> 0); TW_EINCOMPLETE when the bytes so far are a
 * valid prefix; TW_EMALFORMED when this is not a TLS ClientHello or is invalid;
 * TW_ENOMEM if the message would not fit in scratch.
 */
int tw_tls_parse_stream(const uint8_t *stream, size_t len, uint8_t *scratch, size_t scratch_cap,
                        struct tw_tls_hello *out);

#endif /* TUNWATCH_TLS_H */
