/* SPDX-License-Identifier: MIT */
/*
 * DNS message parsing (RFC 1035): header, question section, and the A, AAAA
 * and CNAME records of the answer section.
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
 * "."): labels <= 63 octets, names <= 255 octets on the wire (counting length
 * octets and the final zero), <= 127 labels, label types 0x40 and 0x80
 * (RFC 6891 extended, RFC 2673 bit-string) rejected.
 *
 * Compression pointers (RFC 1035 4.1.4) are followed to any offset inside the
 * message, as glibc's ns_name_unpack() and dnsmasq follow them
 * (pcaps/dns_pointers.pcap): a pointer forward, at or past the start of the
 * label run that holds it (RFC 9267 asks encoders for backward pointers only),
 * or into the 12-byte header, is read and reported as an oddity
 * (TW_DNS_ODD_*), not refused: a sensor that refused what a resolver answers
 * would be a way around it. A loop is found as glibc finds it: a walk that has
 * looked at more octets (two per pointer, one plus the length per label) than
 * the message holds must have come back to a place it saw, and is malformed.
 * The 255-octet and 127-label limits end most loops sooner.
 *
 * Pointers let a small message make the parser walk the same labels again
 * and again (10,000 questions, each a pointer to a 127-label name, fit in
 * 64 KB). tw_dns_parse() therefore gives each message a budget of
 * TW_DNS_STEP_BUDGET(len) steps (one per label and per pointer, summed over
 * all questions) and rejects the message when it runs out, so the work stays
 * linear in the message length. No real message comes near it: a name costs
 * a few steps and takes at least 6 octets (pointer + type + class) in place,
 * and one name alone always fits (a chain of k pointers takes 2k octets).
 *
 * Bytes outside printable ASCII (0x21..0x7e), and '.', '\\', are escaped as
 * "\DDD" (three decimal digits) and "\.", "\\"; a space is "\032". Other
 * printable bytes (';', '(', ')', '"', '@', '$', ...) are copied as they are.
 * Letter case is preserved. Nothing returned points into the input buffer.
 */
#ifndef TUNWATCH_DNS_H
#define TUNWATCH_DNS_H

#include "tunwatch/base/common.h"

#define TW_DNS_HDR_LEN 12
#define TW_DNS_MAX_QUESTIONS 16 /* questions kept per message; more are validated, not kept */
#define TW_DNS_MAX_LABEL 63
#define TW_DNS_MAX_NAME_WIRE 255
#define TW_DNS_MAX_LABELS 127
#define TW_DNS_STEP_BUDGET(len) (2 * TW_DNS_MAX_LABELS + 2 + 2 * (size_t)(len))

struct tw_dns_question {
    char name[TW_NAME_MAX]; /* NUL-terminated presentation form */
    size_t name_len;        /* strlen(name) */
    uint16_t qtype;
    uint16_t qclass;
};

/*
 * Oddities of a message that was read all the same (named decoder events): `odd` of
 * struct tw_dns_msg (question names) and struct tw_dns_answers (answer section), 1u << each.
 */
#define TW_DNS_ODDITIES(X)                                                                         \
    X(TW_DNS_ODD_FORWARD_POINTER, "forward_pointer") /* a pointer at or past its own run */       \
    X(TW_DNS_ODD_HEADER_POINTER, "header_pointer")   /* a pointer into the header */

enum tw_dns_oddity { TW_DNS_ODDITIES(TW_X_ENUM) TW_DNS_ODD__COUNT };

/* "forward_pointer", ... (the name in events); "?" out of range. */
const char *tw_dns_oddity_name(enum tw_dns_oddity o);

/* "dns_forward_pointer", ... (the counter in the summary); "dns_?" out of range. */
const char *tw_dns_oddity_counter(enum tw_dns_oddity o);

/* How a name was read: where it began, the steps it took, the octets it had looked at by its
 * last pointer (0: none) and its oddities (tw_dns_parse() keeps it for each question: names of
 * the answer section that point to one are read from it, tw_dns_parse_answers_of()). */
struct tw_dns_walk {
    size_t at;
    size_t steps;
    size_t looked;
    unsigned odd;
};

struct tw_dns_msg {
    unsigned odd;     /* 1u << enum tw_dns_oddity, seen in the question names */
    uint16_t id;
    uint16_t flags;   /* raw flags word */
    bool qr;          /* response bit */
    uint8_t opcode;
    uint8_t rcode;
    uint16_t qdcount, ancount, nscount, arcount;
    unsigned n_questions; /* questions parsed and stored (<= TW_DNS_MAX_QUESTIONS) */
    struct tw_dns_question q[TW_DNS_MAX_QUESTIONS];
    struct tw_dns_walk qwalk[TW_DNS_MAX_QUESTIONS]; /* of q[0..n_questions) */
};

/*
 * Parses the header and the question section of one DNS message of exactly
 * `len` bytes (for TCP, without the 2-byte length prefix).
 * Returns the offset just past the question section (>= 12) on success;
 * TW_EMALFORMED if the header or a question is invalid or runs past `len`
 * (a UDP datagram or a length-delimited TCP message is complete by
 * construction, so truncation is malformed here). *out is reset on entry:
 * header fields, odd and n_questions are zeroed and every q[] entry holds the empty
 * name "" (the full struct, about 18 KB, is not memset). All QDCOUNT questions
 * are validated; the first TW_DNS_MAX_QUESTIONS are stored. On error, *out
 * holds the header and the questions stored before the bad one. Sections
 * after the questions are not looked at.
 */
int tw_dns_parse(const uint8_t *buf, size_t len, struct tw_dns_msg *out);

/*
 * Reads the (possibly compressed) name at msg[off] into out (capacity cap,
 * NUL-terminated, presentation form as above). *next is set to the offset
 * just past the name's in-place bytes (after its first pointer, or its final
 * zero octet). Returns the presentation length (> 0) or TW_EMALFORMED;
 * TW_ENOMEM if the name is valid but does not fit in cap (cap >= TW_NAME_MAX
 * always fits); TW_EINVAL if out or next is NULL or cap is 0. out and *next
 * are only meaningful on success.
 */
int tw_dns_name_read(const uint8_t *msg, size_t msg_len, size_t off, char *out, size_t cap,
                     size_t *next);

/*
 * Answer section (RFC 1035 4.1.3): A, AAAA and CNAME records of class IN.
 *
 *  |                     NAME                      |  (possibly compressed)
 *  |                     TYPE                      |
 *  |                     CLASS                     |
 *  |                      TTL                      |  (32 bits)
 *  |                   RDLENGTH                    |
 *  |                     RDATA                     |  (RDLENGTH octets)
 */
#define TW_DNS_MAX_ANSWERS 32 /* answers kept per message; more are validated, not kept */

struct tw_dns_answer {
    char name[TW_NAME_MAX];   /* owner, NUL-terminated presentation form */
    size_t name_len;          /* strlen(name) */
    uint16_t type;            /* 1 (A), 28 (AAAA) or 5 (CNAME) */
    uint32_t ttl;             /* seconds; a TTL with the top bit set reads as 0 (RFC 2181 8) */
    uint8_t addr[16];         /* A: 4 bytes, AAAA: 16; the rest zero */
    char target[TW_NAME_MAX]; /* CNAME: NUL-terminated presentation form; "" otherwise */
    size_t target_len;        /* strlen(target) */
};

/*
 * Every record of the answer section, whatever its type, also as text (what rules match as
 * Zeek's `answers`), its type and TTL, in message order:
 *
 *   A, AAAA            the address ("192.0.2.1", "2001:db8::1")
 *   CNAME NS PTR DNAME the target name (presentation form, as above); MD MF MB MG MR too
 *   MX, SRV, SOA       the exchange, the target, the primary server name (as Zeek logs them)
 *   TXT, SPF           the character-strings joined without separator (as SPF and DKIM
 *                      read them); bytes outside 0x20..0x7e as "\xHH", '\' as "\\"
 *   SVCB, HTTPS        RFC 9460 presentation form: "priority target key=value ...", the keys
 *                      mandatory alpn no-default-alpn port ipv4hint ech (base64) ipv6hint
 *                      dohpath by name, others as keyNNNNN; value bytes outside 0x21..0x7e
 *                      (and '"', '\') as "\DDD", a ',' inside an alpn id as "\\,"
 *   anything else      RFC 3597 generic form "\# LEN HEX"
 *
 * A record whose RDATA does not hold what its type says (a name running past RDLENGTH, an A
 * record of 5 bytes, SvcParams out of order, ...) is shown in the generic form and flagged
 * TW_DNS_TEXT_BAD_RDATA; the section is not rejected for it (those types were never needed
 * to read the addresses). Records of other classes than IN keep the generic form except
 * TXT (CHAOS "version.bind" answers are text).
 */
#define TW_DNS_ANSWER_TEXT_MAX 16384 /* text bytes kept per message, NULs included */

#define TW_DNS_TEXT_CUT 0x01       /* a record's text was cut at the end of the text space (and
                                      later records have none) */
#define TW_DNS_TEXT_BAD_RDATA 0x02 /* a record's RDATA did not parse as its type: generic form */
#define TW_DNS_TEXT_ECH 0x04       /* an SVCB/HTTPS record carries an ech SvcParam */
#define TW_DNS_TEXT_SKIPPED 0x08   /* records beyond TW_DNS_MAX_ANSWERS have no text */

/*
 * About 100 KB (two TW_NAME_MAX names per answer, and the text): callers keep one per worker
 * (or static), never on the stack of the packet path.
 */
struct tw_dns_answers {
    unsigned n;       /* answers stored in a[] (<= TW_DNS_MAX_ANSWERS) */
    unsigned skipped; /* valid records not stored: other types or classes, or beyond the max */
    unsigned odd;     /* 1u << enum tw_dns_oddity, seen in the section's names */
    struct tw_dns_answer a[TW_DNS_MAX_ANSWERS];
    /* Every record as text, see above: record i's text starts at text[text_off[i]] */
    unsigned n_text;  /* records with text (<= TW_DNS_MAX_ANSWERS) */
    unsigned text_flags; /* TW_DNS_TEXT_* */
    uint16_t text_type[TW_DNS_MAX_ANSWERS];
    uint32_t text_ttl[TW_DNS_MAX_ANSWERS]; /* as sent, top bit set read as 0 */
    uint16_t text_off[TW_DNS_MAX_ANSWERS];
    size_t text_len;  /* bytes of text used, each record's NUL included */
    char text[TW_DNS_ANSWER_TEXT_MAX];
    /* Set by the caller (kept across calls): records get no text (n_text, text_flags and
     * text_len stay 0), for a caller that only learns addresses and CNAME chains. */
    bool no_text;
    /* a[0..dirty) may hold records of the last call: the next one resets those, not all of
     * a[] (70 KB). Zero in a zeroed struct (tw_dns_answers_init). */
    unsigned dirty;
};

/* A struct tw_dns_answers ready for tw_dns_parse_answers(): zeroed, no_text false. */
void tw_dns_answers_init(struct tw_dns_answers *a);

/*
 * Renders the RDATA of one record (type, class, RDATA at msg[rd..rd + rdlen), msg being the
 * whole message for compression pointers) as text, as described above, into out[0..cap)
 * (cap >= 1; always NUL-terminated). Returns the length written, or TW_EMALFORMED when the
 * RDATA does not parse as its type (out then holds the generic form); TW_ENOMEM when the text
 * was cut to fit cap (whole escapes only). *ech is set when it is an SVCB/HTTPS record with
 * an ech SvcParam. Exposed for the tests; tw_dns_parse_answers() calls it for each record.
 */
int tw_dns_rdata_text(const uint8_t *msg, size_t len, size_t rd, uint16_t rdlen, uint16_t type,
                      uint16_t rclass, char *out, size_t cap, bool *ech);

/* Zeek's name of a header RCODE ("NOERROR", "NXDOMAIN", "NXRRSet", "unassigned-11", ...). */
const char *tw_dns_rcode_name(uint8_t rcode);

/*
 * Parses the answer section of msg (len bytes) starting at offset `off` (the
 * value tw_dns_parse() returned), ANCOUNT records. Returns 0 or TW_EMALFORMED:
 * a record or its RDATA running past len, an A record whose RDLENGTH is not 4,
 * AAAA not 16, a CNAME whose target does not end exactly at RDLENGTH, an
 * invalid owner or target name (same rules as questions; a name in RDATA
 * may not run past RDLENGTH in place, but its pointers reach the whole
 * message), `off` outside
 * [12, len], or the message's step budget (TW_DNS_STEP_BUDGET(len), a fresh
 * one for this section) running out. Truncation is malformed, as for
 * tw_dns_parse(). Only class IN records of type A, AAAA and CNAME are stored;
 * the RDATA of other types and classes is not validated (and counted in
 * `skipped`). All ANCOUNT records are validated; the first
 * TW_DNS_MAX_ANSWERS kept ones are stored, later ones are counted in
 * `skipped`. Every record, of any type, also gets its text (see above; the
 * first TW_DNS_MAX_ANSWERS records). The authority and additional sections
 * are not looked at.
 *
 * *out is reset on entry (n, skipped, odd, n_text, text_flags, text_len, and every
 * a[] entry emptied; the struct is not memset; no_text is the caller's). On
 * error, *out holds the answers and texts of the records before the bad one.
 * Nothing stored points into msg.
 */
int tw_dns_parse_answers(const uint8_t *msg, size_t len, size_t off, uint16_t ancount,
                         struct tw_dns_answers *out);

/*
 * tw_dns_parse_answers() of the message m describes (what tw_dns_parse() made of msg, len;
 * its ancount), with the same results, faster: a name that is a pointer to one already read
 * (a question's, or a kept record's owner or CNAME target: most records are owned by the
 * question's name or by the last target) is copied from it, its steps, loop check and
 * oddities counted as the walk would count them.
 */
int tw_dns_parse_answers_of(const uint8_t *msg, size_t len, size_t off,
                            const struct tw_dns_msg *m, struct tw_dns_answers *out);

/*
 * Follows the CNAME chain from qname through the records of ans: chain[0] is
 * qname, each next name the target of the first CNAME owned by the previous
 * one; the walk stops at a name with no CNAME or at a target already in the
 * chain (a loop). Stores at most max names in chain[] and returns how many it
 * stored. chain[0] is qname itself; the others point into ans and stay valid
 * as long as *ans is not changed.
 *
 * For each A and AAAA record of ans, in order, whose owner is any name of the
 * whole chain (also the part beyond max), calls fn(ctx, addr, version, ttl)
 * with version 4 (addr: 4 bytes) or 6 (16 bytes); fn may be NULL. Names are
 * compared ASCII case-insensitively in presentation form. Returns 0 if ans or
 * qname is NULL, or chain is NULL with max > 0.
 */
size_t tw_dns_cname_chain(const struct tw_dns_answers *ans, const char *qname, const char **chain,
                          size_t max,
                          void (*fn)(void *ctx, const uint8_t *addr, uint8_t version, uint32_t ttl),
                          void *ctx);

/*
 * DNS over TCP (RFC 1035 4.2.2, RFC 7766 8): each message is preceded by its length, two
 * octets in network order.
 *
 *  |               LENGTH (n)                      |
 *  |            message (n octets) ...             |
 *
 * Reads the frame at the start of buf[0..len). When len >= 2, *msg_len is the announced
 * message length (also when the message is not all there: the caller decides whether it could
 * ever be). Returns the bytes the whole frame takes (2 + *msg_len) with *msg pointing at the
 * message inside buf, or TW_EINCOMPLETE when buf holds less than the whole frame. A zero
 * length is a frame of an empty message (2 bytes), which tw_dns_parse() then rejects: servers
 * read past it, and so does the sensor.
 */
int tw_dns_tcp_frame(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len);

/* Mnemonic of a query type ("A", "AAAA", "HTTPS", ...) or NULL when unknown. */
const char *tw_dns_qtype_name(uint16_t qtype);

#endif /* TUNWATCH_DNS_H */
