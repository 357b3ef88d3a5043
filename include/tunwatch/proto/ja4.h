/* SPDX-License-Identifier: MIT */
/*
 * JA4 TLS client fingerprints (FoxIO JA4 specification, technical_details/JA4.md, BSD-3-Clause),
 * computed from a parsed ClientHello:
 *
 *   ja4_a               _ ja4_b        _ ja4_c
 *   t 13 d 15 16 h2     _ 8daaf6152771 _ e5627efa2ab1
 *   | |  | |  |  |        |              sha256(sorted extensions without 0000 and 0010
 *   | |  | |  |  |        |                     "_" signature algorithms in order)[0..12]
 *   | |  | |  |  |        sha256(sorted cipher suites)[0..12]
 *   | |  | |  |  first and last character of the first ALPN protocol, "00" if none
 *   | |  | |  extensions, 2 digits, at most 99
 *   | |  | cipher suites, 2 digits, at most 99
 *   | |  'd' when the server_name extension is present, else 'i'
 *   | highest supported_versions entry, else legacy_version: 13 12 11 10 s3 s2 d1 d2 d3, or 00
 *   't' TLS over TCP, 'q' QUIC, 'd' DTLS
 *
 * GREASE values (RFC 8701: 0x?a?a with equal bytes) are left out of every count and list.
 * Lists are lower-case 4-digit hex joined by ','; a list left empty hashes to "000000000000".
 */
#ifndef TUNWATCH_JA4_H
#define TUNWATCH_JA4_H

#include "tunwatch/base/common.h"
#include "tunwatch/proto/tls.h"

#define TW_JA4_LEN 37 /* the 36 characters of a JA4 fingerprint and the NUL */

/*
 * Writes the JA4 fingerprint of `h` (filled by a successful tw_tls_client_hello_parse or
 * tw_tls_parse_stream, whose bytes must still be valid) into `out` as a NUL-terminated
 * string of 36 characters. `proto` is 't' (TCP), 'q' (QUIC) or 'd' (DTLS). Returns 0;
 * TW_EINVAL for another `proto` or a hello without cipher suites (not from a successful
 * parse); TW_ENOMEM when the hello has more cipher suites or extensions than a body of
 * TW_TLS_HELLO_MAX bytes can hold (only a larger body parsed directly can); TW_EIO when
 * libcrypto fails. On error `out` holds the empty string. Extension lists the parser marked
 * not well-formed (`ext_list_bad`) count as absent. No state is kept: safe from any thread.
 */
int tw_ja4(const struct tw_tls_hello *h, char proto, char out[TW_JA4_LEN]);

/*
 * The same fingerprint unhashed (the specification's JA4_r): ja4_a, then the sorted cipher
 * list, then the sorted extension list and, when there are signature algorithms, '_' and
 * their list, separated by '_'. Writes at most `cap` bytes including the NUL; returns the
 * length of the string, TW_ENOMEM when it does not fit (`out` then holds the empty string
 * when cap > 0), or the errors of tw_ja4.
 */
int tw_ja4_raw(const struct tw_tls_hello *h, char proto, char *out, size_t cap);

#endif /* TUNWATCH_JA4_H */
