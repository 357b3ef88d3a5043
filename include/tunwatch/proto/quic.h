/* SPDX-License-Identifier: MIT */
/*
 * QUIC Initial packets (RFC 9000, RFC 9001, RFC 9369 version 2, drafts 22 to 34, Facebook mvfst
 * 0xfaceb001/0xfaceb002/0xfaceb00e, Google T050/T051): the TLS ClientHello a client sends in the
 * CRYPTO frames of its Initial packets, and so its SNI.
 *
 * Long header (RFC 9000 section 17.2), as sent by the client:
 *
 *    0 1 2 3 4 5 6 7
 *   +-+-+-+-+-+-+-+-+
 *   |1|1| T | R | P |   form 1, fixed bit 1, type T (v1 Initial 0b00, v2 Initial 0b01);
 *   +-+-+-+-+-+-+-+-+   R reserved (0) and P packet number length - 1, both under header
 *   |   Version (32)  |                                          protection
 *   +-+-+-+-+-+-+-+-+
 *   | DCID Len (8)  |   0..20
 *   +-+-+-+-+-+-+-+-+
 *   |  Destination Connection ID (0..160)  ...
 *   +-+-+-+-+-+-+-+-+
 *   | SCID Len (8)  |   0..20
 *   +-+-+-+-+-+-+-+-+
 *   |  Source Connection ID (0..160)  ...
 *   +-+-+-+-+-+-+-+-+
 *   |  Token Length (i)  |  Token (..)  ...            Initial only
 *   +-+-+-+-+-+-+-+-+
 *   |  Length (i)   |   bytes of packet number and protected payload (tag included)
 *   +-+-+-+-+-+-+-+-+
 *   |  Packet Number (8..32)  |  Protected Payload (..) ... | AEAD tag (128) |
 *   +-+-+-+-+-+-+-+-+
 *
 *   (i): a variable-length integer, its first two bits giving its length (1, 2, 4, 8 bytes).
 *   A Retry has no Token Length, Length or packet number: a token to the end of the datagram,
 *   then a 16-byte integrity tag. Other long types (0-RTT, Handshake) have no token.
 *
 * Initial keys (RFC 9001 5.2): initial_secret = HKDF-Extract(salt, DCID of the client's first
 * Initial, or of its first Initial after a Retry); client_initial_secret =
 * HKDF-Expand-Label(initial_secret, "client in", "", 32); key, iv and hp from it with
 * "quic key", "quic iv", "quic hp" ("quicv2 ..." for version 2). Header protection is
 * AES-128-ECB of 16 bytes sampled 4 bytes after the packet number's start; the payload is
 * AES-128-GCM, nonce iv XOR packet number, associated data the unprotected header.
 *
 * Salts (the labels are those of version 1 except for version 2):
 *   version 1, drafts 33-34                     38762cf7f55934b34d179ae6a4c80cadccbb7f0a
 *   version 2 (RFC 9369 3.3.1)                  0dede3def700a6db819381be6e269dcbf9bd2ed9
 *   drafts 29-32                                afbfec289993d24c9e9786f19c6111e04390a899
 *   drafts 23-28, mvfst 0xfaceb002, 0xfaceb00e  c3eef712c72ebb5a11a7d2432bb46365bef9f502
 *   draft 22, mvfst 0xfaceb001                  7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a
 *   Google T050                                 7ff579e5acd072915580304c43a2367c60488310
 *   Google T051                                 7a4edef4e7ccee5fa4506c19124fc8ccda6e033d
 * (draft-ietf-quic-tls-22..34 section 5.2; mvfst's versions follow the drafts they were cut
 * from; T050 and T051 are Google QUIC with TLS 1.3: the IETF long header and Initial protection
 * with salts of their own, but Google QUIC frames inside, CRYPTO being type 0x08.)
 *
 * Other versions (RFC 9000 15: a client may send any, e.g. the reserved 0x?a?a?a?a ones that
 * force Version Negotiation) have no salt known here, yet their clients still protect their
 * Initials somehow: such a version is parsed with the version 1 layout and its Initial is tried
 * with the version 1 salt, then the draft-29 one; the first whose AEAD tag verifies is kept for
 * the flow (counted unknown_version_read, flag TW_QUIC_F_UNKNOWN_VERSION). Authentication makes
 * the trial safe: a wrong salt never yields a packet. When neither verifies, the version and
 * DCID are remembered so that later packets of that DCID are not tried again (counted
 * unknown_version). Google QUIC 'Q' versions (0x51......) carry no TLS and are not tried.
 *
 * Use: one struct tw_quic_ctx per worker (libcrypto contexts and the decryption scratch,
 * made once), one struct tw_quic_flow per UDP flow whose first datagram may be a client
 * Initial (caller storage, sizeof(struct tw_quic_flow) bytes, set up with
 * tw_quic_flow_init), and tw_quic_feed() for each datagram of the flow, client to server,
 * until it returns TW_QUIC_HELLO, TW_QUIC_DONE or TW_QUIC_FAIL. Nothing is allocated per
 * packet.
 */
#ifndef TUNWATCH_QUIC_H
#define TUNWATCH_QUIC_H

#include "tunwatch/base/common.h"
#include "tunwatch/proto/tls.h"

#define TW_QUIC_CID_MAX 20        /* connection ID bytes (RFC 9000 17.2) */
#define TW_QUIC_DGRAM_MAX 65527   /* largest UDP payload: bound on every length field */
#define TW_QUIC_SCRATCH_MAX 65536 /* decryption scratch in the ctx: a whole datagram */
/* CRYPTO stream bytes kept per flow: a ClientHello with its 4-byte handshake header must fit */
#define TW_QUIC_CRYPTO_MAX 8192
#define TW_QUIC_RANGES_MAX 16 /* disjoint CRYPTO ranges held per flow (gaps + 1) */
#define TW_QUIC_KEY_SLOTS 2   /* Initial keys cached per flow (before and after a Retry) */
/* RFC 9000 14.1: a client pads each datagram holding an Initial to at least this */
#define TW_QUIC_MIN_DATAGRAM 1200
#define TW_QUIC_TAG_LEN 16
#define TW_QUIC_SAMPLE_LEN 16

#define TW_QUIC_V1 0x00000001u
#define TW_QUIC_V2 0x6b3343cfu
#define TW_QUIC_V2_DRAFT 0x709a50c4u /* draft-ietf-quic-v2-01..10 (ngtcp2 0.x "v2draft") */
#define TW_QUIC_DRAFT_FIRST 0xff000016u /* draft-22 */
#define TW_QUIC_DRAFT_LAST 0xff000022u  /* draft-34 */
#define TW_QUIC_MVFST_D22 0xfaceb001u   /* Facebook mvfst, draft-22 based */
#define TW_QUIC_MVFST_D27 0xfaceb002u   /* Facebook mvfst, draft-27 based */
#define TW_QUIC_MVFST_EXP 0xfaceb00eu   /* Facebook mvfst, experimental (draft-27 keys) */
#define TW_QUIC_T050 0x54303530u        /* Google QUIC "T050" (TLS) */
#define TW_QUIC_T051 0x54303531u        /* Google QUIC "T051" (TLS) */

/* Long header packet types, the same for every version (the wire bits differ in v2). */
enum tw_quic_pkt_type {
    TW_QUIC_PKT_INITIAL,
    TW_QUIC_PKT_0RTT,
    TW_QUIC_PKT_HANDSHAKE,
    TW_QUIC_PKT_RETRY,
};

/*
 * Why a packet or datagram was refused or skipped, or what oddity was seen. One counter each
 * in struct tw_quic_stats; keep tw_quic_reason_name() in sync. Benign ones
 * (tw_quic_reason_is_benign) are valid traffic that holds nothing for us.
 */
enum tw_quic_reason {
    TW_QR_NOT_LONG_HEADER,     /* first byte's form bit clear: short header, or not QUIC (benign) */
    TW_QR_NO_FIXED_BIT,        /* long header with the fixed bit clear */
    TW_QR_VERSION_NEGOTIATION, /* version 0 (benign) */
    TW_QR_UNKNOWN_VERSION,     /* a version whose Initial we cannot read: Google QUIC 'Q', or
                                * one not listed that no trial salt authenticates (benign) */
    TW_QR_BAD_CID_LEN,         /* connection ID length over 20 */
    TW_QR_HEADER_TRUNCATED,    /* the datagram ends inside a long header */
    TW_QR_SHORT_PACKET,        /* Length runs past the end of the datagram */
    TW_QR_BAD_LENGTH,          /* a length field over TW_QUIC_DGRAM_MAX */
    TW_QR_HP_SAMPLE_SHORT,     /* fewer than 4 + 16 bytes after the packet number's start */
    TW_QR_PACKET_TOO_BIG,      /* protected payload larger than the scratch */
    TW_QR_KEY_DERIVE_FAILED,   /* libcrypto refused a derivation */
    TW_QR_DECRYPT_FAILED,      /* AEAD tag mismatch under every key tried */
    TW_QR_RESERVED_BITS,       /* reserved header bits not 0 after protection removed */
    TW_QR_EMPTY_PAYLOAD,       /* an Initial without frames */
    TW_QR_BAD_FRAME,           /* a frame type an Initial may not carry (RFC 9000 12.4) */
    TW_QR_FRAME_TRUNCATED,     /* a frame runs past the payload */
    TW_QR_BAD_ACK,             /* ACK ranges below packet number 0 */
    TW_QR_CONNECTION_CLOSE,    /* CONNECTION_CLOSE from the client (benign) */
    TW_QR_CRYPTO_OUT_OF_BOUNDS, /* CRYPTO bytes past TW_QUIC_CRYPTO_MAX, not kept */
    TW_QR_CRYPTO_GAP_LIMIT,     /* a CRYPTO frame would need more than TW_QUIC_RANGES_MAX ranges */
    TW_QR_CRYPTO_CONFLICT,      /* CRYPTO bytes differing from those already held (first kept) */
    TW_QR_CRYPTO_DUP,           /* CRYPTO bytes already held, sent again (benign) */
    TW_QR_NOT_CLIENT_HELLO,     /* the CRYPTO stream does not start with a ClientHello */
    TW_QR_CRYPTO_BUFFER_FULL,   /* the ClientHello is longer than TW_QUIC_CRYPTO_MAX allows */
    TW_QR_HELLO_MALFORMED,      /* tw_tls_client_hello_parse refused the ClientHello */
    TW_QR_OTHER_LONG_TYPE,      /* 0-RTT or Handshake packet, skipped by its Length (benign) */
    TW_QR_RETRY,                /* a Retry (benign; the client's next Initial re-derives) */
    TW_QR_RETRY_SHORT,          /* a Retry too short for its integrity tag */
    TW_QR_SERVER_PACKET,        /* DCID is the client's SCID: the server's packet (benign) */
    TW_QR_TRAILING_BYTES,       /* bytes after the last long packet that are no short header */
    TW_QR_SHORT_DATAGRAM,       /* a client Initial in a datagram under 1200 bytes (taken; counted
                                 * once a flow) */
    TW_QR_VERSION_CHANGED,      /* an Initial of another version: the CRYPTO stream restarts */
    TW_QR_REKEY,                /* keys derived for a new DCID (after a Retry, or a new flow) */
    TW_QR_UNKNOWN_VERSION_READ, /* keys for a version not listed found by trial (benign) */
    TW_QR__COUNT
};

/* Counters, one set per worker; the caller owns and zeroes it. */
struct tw_quic_stats {
    uint64_t datagrams; /* tw_quic_feed calls that read a datagram */
    uint64_t initials;  /* Initial packets decrypted */
    uint64_t coalesced; /* long packets after the first in a datagram */
    uint64_t hellos;    /* ClientHellos returned */
    uint64_t reason[TW_QR__COUNT];
};

/* A long header, as parsed (protected bits not removed). Slices point into the packet. */
struct tw_quic_hdr {
    uint8_t first; /* first byte as sent */
    uint8_t type;  /* enum tw_quic_pkt_type */
    uint32_t version;
    uint8_t dcid_len, scid_len;
    const uint8_t *dcid, *scid; /* NULL exactly when their length is 0 */
    const uint8_t *token;       /* Initial or Retry token; NULL exactly when token_len is 0 */
    size_t token_len;
    size_t pn_offset;  /* Initial, 0-RTT, Handshake: offset of the packet number */
    size_t length;     /* Initial, 0-RTT, Handshake: the Length field */
    size_t packet_len; /* whole packet: pn_offset + length; Retry: to the datagram's end */
};

/* Initial keys of one direction, derived from one DCID. */
struct tw_quic_keys {
    uint32_t version;
    uint8_t cid_len;
    uint8_t cid[TW_QUIC_CID_MAX];
    uint8_t key[16];
    uint8_t iv[12];
    uint8_t hp[16];
};

/* Oddities of a flow (struct tw_quic_flow.flags, struct tw_quic_hello.flags). */
#define TW_QUIC_F_RETRY (1u << 0)           /* a Retry was seen */
#define TW_QUIC_F_DCID_CHANGED (1u << 1)    /* an Initial with another DCID was taken */
#define TW_QUIC_F_REKEYED (1u << 2)         /* keys from a second DCID decrypted an Initial */
#define TW_QUIC_F_VERSION_CHANGED (1u << 3) /* Initials of two versions; stream restarted */
#define TW_QUIC_F_COALESCED (1u << 4)       /* a datagram held more than one long packet */
#define TW_QUIC_F_SHORT_DATAGRAM (1u << 5)  /* an Initial datagram under 1200 bytes */
#define TW_QUIC_F_CRYPTO_CONFLICT (1u << 6) /* CRYPTO bytes resent with other content */
#define TW_QUIC_F_CRYPTO_DROPPED (1u << 7)  /* CRYPTO bytes not kept (bound or gap limit) */
#define TW_QUIC_F_REORDERED (1u << 8)       /* CRYPTO data arrived ahead of a gap */
#define TW_QUIC_F_UNKNOWN_VERSION (1u << 9) /* an Initial of a version not listed, read by trial   \
                                             */

enum tw_quic_phase {
    TW_QUIC_COLLECTING,
    TW_QUIC_GOT_HELLO,
    TW_QUIC_FAILED,
    TW_QUIC_SECOND, /* collecting a second ClientHello (tw_quic_expect_second) */
};

/*
 * Per-flow state, caller storage (8492 bytes on x86-64, nearly all the CRYPTO buffer).
 * Treat as opaque except for the documented read-only fields.
 */
struct tw_quic_flow {
    uint8_t phase;           /* enum tw_quic_phase (read-only) */
    uint8_t fail_reason;     /* enum tw_quic_reason, when phase is TW_QUIC_FAILED */
    uint8_t n_keys, cur_key; /* key slots filled; the one that last decrypted */
    uint8_t n_ranges;        /* used entries of range[] */
    uint8_t scid_len;        /* the client's SCID, from its first Initial */
    uint8_t scid[TW_QUIC_CID_MAX];
    uint8_t dcid_len; /* DCID of the first Initial taken */
    uint8_t dcid[TW_QUIC_CID_MAX];
    uint32_t version;    /* of the Initials taken, 0 before the first (read-only) */
    unsigned flags;      /* TW_QUIC_F_* (read-only) */
    uint32_t n_initial;  /* Initial packets taken (read-only) */
    uint32_t hello_base; /* offset of the ClientHello being collected (0, or past the first) */
    uint32_t hello_need; /* hello_base + 4 + its length once known, else 0 */
    struct tw_quic_keys keys[TW_QUIC_KEY_SLOTS];
    uint32_t miss_version; /* a version not listed whose trial failed for miss_cid, else 0 */
    uint8_t miss_cid_len;
    uint8_t miss_cid[TW_QUIC_CID_MAX];
    struct {
        uint16_t lo, hi; /* [lo, hi) of the CRYPTO stream held, sorted, disjoint, apart */
    } range[TW_QUIC_RANGES_MAX];
    uint8_t crypto[TW_QUIC_CRYPTO_MAX]; /* the CRYPTO stream from offset 0 */
};

/* What tw_quic_feed returns for the ClientHello. */
struct tw_quic_hello {
    struct tw_tls_hello tls; /* sni etc. point into the flow's crypto[] */
    uint32_t version;
    unsigned n_initial; /* Initial packets taken up to and including the completing one */
    unsigned flags;     /* TW_QUIC_F_* of the flow so far */
};

/* Per-worker context: libcrypto contexts and the decryption scratch. Opaque. */
struct tw_quic_ctx;

/* Makes a context (once per worker: allocates); NULL when libcrypto cannot provide
 * AES-128-GCM, AES-128-ECB or HKDF-SHA256. */
struct tw_quic_ctx *tw_quic_ctx_new(void);
void tw_quic_ctx_free(struct tw_quic_ctx *ctx);

/* True for a version whose salt this module knows (1, 2, drafts 22 to 34, mvfst, T050, T051). */
bool tw_quic_version_known(uint32_t version);

/* True for a version whose Initial packets this module parses: the known ones and, tried with
 * the version 1 and draft-29 salts, any other but 0 (Version Negotiation) and Google 'Q'. */
bool tw_quic_version_readable(uint32_t version);

/*
 * Parses the long header of the packet at the start of `buf` (`len` bytes: the rest of a
 * datagram). Returns the packet's length in bytes (> 0; a Retry takes all of `len`);
 * TW_EINCOMPLETE when `buf` is a prefix of a packet that may still be valid (Length beyond
 * `len` included, and a Retry shorter than its tag); TW_ESKIP for a short header (or no
 * QUIC), a Version Negotiation packet and a version not readable (tw_quic_version_readable):
 * only the first byte and the version are read then (a readable version that is not known is
 * parsed with the version 1 layout); TW_EMALFORMED for a clear fixed bit, a
 * connection ID over 20 bytes, a length field over TW_QUIC_DGRAM_MAX. `*why`, if not NULL, gets the
 * reason of any negative return. *out is reset on entry and filled on success; its slices point
 * into `buf` and stay valid as long as `buf` does. `buf` is never written. Checks framing only:
 * nothing is decrypted.
 */
int tw_quic_header_parse(const uint8_t *buf, size_t len, struct tw_quic_hdr *out,
                         enum tw_quic_reason *why);

/*
 * Derives the client's Initial keys of `version` from a DCID (at most TW_QUIC_CID_MAX bytes)
 * into *out. Returns 0, TW_EINVAL for a version not known (tw_quic_version_known) or too long
 * a DCID, TW_EMALFORMED when libcrypto fails.
 */
int tw_quic_keys_derive(struct tw_quic_ctx *ctx, uint32_t version, const uint8_t *dcid,
                        size_t dcid_len, struct tw_quic_keys *out);

/* An opened (decrypted) packet; payload points into the ctx's scratch. */
struct tw_quic_plain {
    uint8_t first;  /* first byte, header protection removed */
    uint8_t pn_len; /* 1..4 */
    uint64_t pn;    /* packet number as sent (truncated; Initials start at 0) */
    const uint8_t *payload;
    size_t payload_len;
};

/*
 * Removes header protection from and decrypts the packet `pkt` whose header `h` was parsed
 * by tw_quic_header_parse (an Initial, 0-RTT or Handshake packet) with keys `k`. Returns 0
 * with *out filled: out->payload points into the ctx's scratch, valid until the next call
 * with this ctx. Returns TW_EMALFORMED with *why set (TW_QR_HP_SAMPLE_SHORT,
 * TW_QR_PACKET_TOO_BIG, TW_QR_DECRYPT_FAILED, TW_QR_RESERVED_BITS). `pkt` is never written.
 */
int tw_quic_packet_open(struct tw_quic_ctx *ctx, const struct tw_quic_keys *k, const uint8_t *pkt,
                        const struct tw_quic_hdr *h, struct tw_quic_plain *out,
                        enum tw_quic_reason *why);

/* Resets a flow to its start (no Initial seen). */
void tw_quic_flow_init(struct tw_quic_flow *f);

/* The verdict on one datagram. */
enum tw_quic_verdict {
    TW_QUIC_SKIP,  /* no Initial of a known version: not QUIC, a short header, Version
                    * Negotiation, an unknown version (or one whose trial failed), only other
                    * long types or server packets */
    TW_QUIC_MORE,  /* an Initial was taken; the ClientHello is not complete yet */
    TW_QUIC_HELLO, /* this datagram completed the ClientHello: *out is filled (also for a
                    * hello that broke after its names were read: counted hello_malformed,
                    * out->tls holds only the names, flag TW_TLS_F_TRUNCATED) */
    TW_QUIC_DONE,  /* the ClientHello was returned before; the datagram was not read */
    TW_QUIC_DROP,  /* a long header cut short, or an Initial of a known version refused
                    * (truncated, decryption failed, ...), none taken: the flow may still
                    * complete */
    TW_QUIC_FAIL,  /* the flow cannot give a ClientHello (a frame an Initial may not carry,
                    * not a ClientHello, too long, malformed); later calls say so again */
};

/*
 * Reads one UDP datagram (`dgram`, `len` captured bytes) of a flow, client to server: walks
 * every long-header packet in it by its Length (coalesced packets), stopping at a short
 * header; decrypts each client Initial, with the keys of a DCID cached in `f` (derived once
 * per DCID; an Initial whose DCID is new is tried with the keys that worked last, then with
 * keys from its own DCID, as after a Retry; a version not known is tried as described at the
 * top); takes PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE frames (in Google QUIC's encoding
 * for T050 and T051; any other frame fails the flow) and puts CRYPTO data, in any order
 * and across packets, in f->crypto. Once the stream from offset 0 holds a whole handshake
 * message, it must be a ClientHello (type 1) of at most TW_QUIC_CRYPTO_MAX - 4 bytes; its body
 * is parsed by tw_tls_client_hello_parse.
 *
 * Returns the verdict (enum tw_quic_verdict; the best of the datagram's packets: HELLO, FAIL,
 * MORE, DROP, then SKIP). On TW_QUIC_HELLO *out is filled, its slices pointing into
 * f->crypto: valid until `f` is initialised again or freed. *out is reset on entry. Every
 * refusal and oddity is counted in `st` (not NULL) by reason. `dgram` is never written;
 * nothing is allocated. Packets from the server (DCID equal to the client's SCID) are skipped,
 * so datagrams of both directions may be fed.
 */
enum tw_quic_verdict tw_quic_feed(struct tw_quic_ctx *ctx, struct tw_quic_flow *f,
                                  const uint8_t *dgram, size_t len, struct tw_quic_stats *st,
                                  struct tw_quic_hello *out);

/*
 * After tw_quic_feed() returned TW_QUIC_HELLO: the flow goes on collecting a second
 * ClientHello, the one a client sends after a HelloRetryRequest, from the end of the first
 * in the CRYPTO stream (the Initial keys stay the same). tw_quic_feed() returns TW_QUIC_HELLO
 * for it (its slices point past the first hello's bytes, which stay valid), TW_QUIC_MORE while
 * it comes, and TW_QUIC_DONE for a datagram with a Handshake or 1-RTT packet of the client:
 * the handshake went on without one.
 */
void tw_quic_expect_second(struct tw_quic_flow *f);

/* Stable snake_case name of a reason ("decrypt_failed", ...); "unknown" out of range. */
const char *tw_quic_reason_name(enum tw_quic_reason r);
/* The same prefixed "quic_", as a stable counter name ("quic_decrypt_failed"). */
const char *tw_quic_reason_counter(enum tw_quic_reason r);

/* True for reasons that are valid traffic with nothing for us rather than anomalies. */
bool tw_quic_reason_is_benign(enum tw_quic_reason r);

/* Name of a verdict ("hello", ...). */
const char *tw_quic_verdict_name(enum tw_quic_verdict v);

#endif /* TUNWATCH_QUIC_H */
