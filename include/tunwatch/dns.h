/* SPDX-License-Identifier: MIT */
/*
 * DNS message parsing (RFC 1035): header and question section.
 *
 *   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
 *  |                      ID                       |
 *  |QR|  Opcode   |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
 *  |                    QDCOUNT                    |
 *  |                    ANCOUNT                    |
 *  |                    NSCOUNT                    |
 *  |                    ARCOUNT                    |
 *
 * Names are validated and copied in one pass into caller storage, in
 * presentation form without the trailing dot ("www.example.com"; the root is
 * "."): labels <= 63 octets, names <= 255 octets on the wire, <= 127 labels,
 * compression pointers only to strictly earlier offsets, bounded hops.
 * Bytes outside printable ASCII (0x21..0x7e), and '.', '\\', are escaped as
 * "\DDD" (three decimal digits) and "\.", "\\"; a space is "\032".
 * Nothing returned points into the input buffer.
 */
#ifndef TUNWATCH_DNS_H
#define TUNWATCH_DNS_H

#include "tunwatch/common.h"

#define TW_DNS_HDR_LEN 12
#define TW_DNS_MAX_QUESTIONS 4 /* questions kept per message; more are counted, not kept */

struct tw_dns_question {
    char name[TW_NAME_MAX]; /* NUL-terminated presentation form */
    size_t name_len;        /* strlen(name) */
    uint16_t qtype;
    uint16_t qclass;
};

struct tw_dns_msg {
    uint16_t id;
    uint16_t flags;   /* raw flags word */
    bool qr;          /* response bit */
    uint8_t opcode;
    uint8_t rcode;
    uint16_t qdcount, ancount, nscount, arcount;
    unsigned n_questions; /* questions parsed and stored (<= TW_DNS_MAX_QUESTIONS) */
    struct tw_dns_question q[TW_DNS_MAX_QUESTIONS];
};

/*
 * Parses the header and the question section of one DNS message of exactly
 * `len` bytes (for TCP, without the 2-byte length prefix).
 * Returns the offset just past the question section (>= 12) on success;
 * TW_EMALFORMED if the header or a question is invalid or runs past `len`
 * (a UDP datagram or a length-delimited TCP message is complete by
 * construction, so truncation is malformed here). *out is reset on entry.
 */
int tw_dns_parse(const uint8_t *buf, size_t len, struct tw_dns_msg *out);

/*
 * Reads the (possibly compressed) name at msg[off] into out (capacity cap,
 * NUL-terminated, presentation form as above). *next is set to the offset
 * just past the name's in-place bytes. Returns the presentation length (>= 0)
 * or TW_EMALFORMED.
 */
int tw_dns_name_read(const uint8_t *msg, size_t msg_len, size_t off, char *out, size_t cap,
                     size_t *next);

/* Mnemonic of a query type ("A", "AAAA", "HTTPS", ...) or NULL when unknown. */
const char *tw_dns_qtype_name(uint16_t qtype);

#endif /* TUNWATCH_DNS_H */
