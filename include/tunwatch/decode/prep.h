/* SPDX-License-Identifier: MIT */
/*
 * What the decode stage does to a frame before the flow table sees it: IP reassembly
 * (defrag.h) and checksum validation (csum.h). A packet the receiver would drop (bad IPv4
 * header checksum, bad TCP or UDP checksum) is counted and not inspected, so an insertion
 * decoy (a benign ClientHello with a bad checksum at the sequence number of the real one)
 * never reaches the parsers.
 *
 * Checksum modes: on (always validate), off, auto (the default): a capture made on the
 * sending host with checksum offload holds checksums the NIC had yet to fill in (Linux
 * leaves the pseudo-header sum in the field). In auto, a segment whose field holds exactly
 * that partial sum is inspected (counted checksum_partial) while the evidence is open; once
 * at least TW_PREP_AUTO_MIN packets were checked and more than half of them were wrong (an
 * IPv4 header checksum counts too: address-rewritten captures show that),
 * offload is assumed and validation stops for the rest of the run
 * (checksum_offload_detected); once TW_PREP_AUTO_LOCK segments were checked with under 1%
 * partial sums, validation locks on and partial sums count as bad too. Only the innermost
 * IP header and its TCP/UDP segment are checked; a segment cut by the snapshot length cannot
 * be (checksum_unverified). A UDP checksum of 0 over IPv4 means "none" (RFC 768).
 */
#ifndef TUNWATCH_PREP_H
#define TUNWATCH_PREP_H

#include "tunwatch/decode/decode.h"
#include "tunwatch/decode/defrag.h"

#define TW_PREP_AUTO_MIN 32
#define TW_PREP_AUTO_LOCK 1000

enum tw_csum_mode { TW_CSUM_AUTO, TW_CSUM_ON, TW_CSUM_OFF };

struct tw_prep_config {
    struct tw_defrag_config defrag;
    enum tw_csum_mode checksums;
};

/* Counters (uint64_t only: summed over workers). */
struct tw_prep_stats {
    struct tw_defrag_stats defrag;
    uint64_t ip4_bad_checksum, tcp_bad_checksum, udp_bad_checksum; /* dropped */
    uint64_t checksum_checked;    /* packets whose IPv4 header or TCP/UDP checksum was computed */
    uint64_t checksum_partial;    /* ... holding an offload partial sum, inspected (auto) */
    uint64_t checksum_unverified; /* cut by the snapshot length, or validation off */
    uint64_t checksum_offload_detected; /* 1 once auto assumed offload (summed: how many) */
};

/* Checksum validation state: the mode and, in auto, what the evidence decided so far. One per
 * thread that validates (the prep has its own; an engine fed decoded packets has another).
 * The evidence is kept here, not in the stats a packet is counted in: a replay worker counts
 * its own packets and the others' apart, and decides on them all, as one thread does. */
struct tw_csum_ctl {
    enum tw_csum_mode mode;
    uint8_t state;                   /* auto: open, locked on, offload assumed */
    uint64_t checked, wrong, partial; /* auto's evidence while open */
};

void tw_csum_ctl_init(struct tw_csum_ctl *c, enum tw_csum_mode mode);

/* Whether auto has assumed offload (validation stopped). */
bool tw_csum_offload(const struct tw_csum_ctl *c);

/* Whether auto is still gathering its evidence: then every packet that may be read (all but
 * pure ACKs) is validated at once, in capture order, by the one thread that reads the capture,
 * so that the decision falls at the same packet whatever reads the packets after it. Once
 * decided, validation waits until a packet is read (tw_prep_verify). */
bool tw_csum_deciding(const struct tw_csum_ctl *c);

/* tw_prep_verify() now if c is deciding and p may be read (not a pure ACK): 0 (p's checksums
 * no longer pending, or left pending), or TW_PREP_BAD_CHECKSUM. */
int tw_prep_verify_early(struct tw_csum_ctl *c, struct tw_pkt *p, struct tw_prep_stats *st);

/*
 * Validates a packet tw_prep_decode_deferred() left with csum_pending set: its innermost IPv4
 * header and its TCP or UDP checksum. 0 when the packet may be inspected (also when nothing
 * is pending), else TW_PREP_BAD_CHECKSUM; counted in st. p is not changed: the caller calls
 * it at most once per packet.
 */
int tw_prep_verify(struct tw_csum_ctl *c, const struct tw_pkt *p, struct tw_prep_stats *st);

struct tw_prep;

/* NULL on allocation failure or a defrag configuration tw_defrag_new() refuses. */
struct tw_prep *tw_prep_new(const struct tw_prep_config *cfg);
void tw_prep_free(struct tw_prep *pp);

/* A frame: in, the captured one; out (when tw_prep_decode() completed a datagram), the
 * reassembled one in pp's buffer, valid until the next call. */
struct tw_prep_frame {
    int linktype;
    const uint8_t *data;
    size_t caplen;
};

/* tw_prep_decode()'s return for a packet dropped for its checksum. */
#define TW_PREP_BAD_CHECKSUM (-17)

/*
 * Decodes fr at capture time now (seconds). Returns 0 with *out filled: a packet to inspect
 * (its slices point into fr->data, which may now be a reassembled frame); TW_EINCOMPLETE for
 * a fragment kept or refused (counted in st->defrag); TW_PREP_BAD_CHECKSUM (counted in st);
 * or tw_decode()'s TW_ESKIP / TW_EMALFORMED (counted in dst).
 */
int tw_prep_decode(struct tw_prep *pp, struct tw_prep_frame *fr, int64_t now, struct tw_pkt *out,
                   struct tw_decode_stats *dst, struct tw_prep_stats *st);

/*
 * tw_prep_decode() without the innermost packet's checksums: they are left for
 * tw_prep_verify() (out->csum_pending), so that a packet nothing will read (a data segment of
 * a flow whose name is known) costs no pass over its bytes. The IPv4 headers of fragments
 * are still checked here, before reassembly keeps them.
 */
int tw_prep_decode_deferred(struct tw_prep *pp, struct tw_prep_frame *fr, int64_t now,
                            struct tw_pkt *out, struct tw_decode_stats *dst,
                            struct tw_prep_stats *st);

/* pp's checksum state (for tw_prep_verify() on what tw_prep_decode_deferred() gave). */
struct tw_csum_ctl *tw_prep_csum(struct tw_prep *pp);

/* The validation state for reports: "on", "off", "auto", "off (offload detected)". */
const char *tw_prep_checksum_state(enum tw_csum_mode mode, const struct tw_prep_stats *st);

/* Named refusal and anomaly counters of st (defrag_*, ip4/tcp/udp_bad_checksum), at most
 * cap into names/values; returns how many there are in all. */
size_t tw_prep_counters(const struct tw_prep_stats *st, const char **names, uint64_t *values,
                        size_t cap);

#endif /* TUNWATCH_PREP_H */
