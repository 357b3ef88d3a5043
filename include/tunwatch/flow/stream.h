/* SPDX-License-Identifier: MIT */
/*
 * Bounded reassembly of the first bytes of one TCP direction.
 *
 * A flow that needs more than one segment to yield its name (a ClientHello
 * over several segments, a DNS message split across segments) borrows one
 * buffer from a pool sized at start-up. The buffer holds the stream from
 * `base_seq` on; segments may arrive in any order and overlap. Where they overlap, the bytes
 * that arrived first stay (policy "first", as for IP fragments): a later segment with other
 * bytes there is counted in `conflicts`, for the caller to report. Bytes beyond
 * TW_STREAM_CAP, or more than TW_STREAM_MAX_GAPS holes, are refused and
 * counted: the pool never grows and nothing is allocated per packet.
 */
#ifndef TUNWATCH_STREAM_H
#define TUNWATCH_STREAM_H

#include "tunwatch/base/common.h"
#include "tunwatch/flow/holders.h"

/* Capacity of the general pool's buffers: a 16 KiB ClientHello in small records, plus an HTTP
 * CONNECT request. */
#define TW_STREAM_CAP (24u * 1024u)
#define TW_STREAM_MAX_GAPS 8
#define TW_STREAM_NONE UINT32_MAX

struct tw_stream {
    uint32_t base_seq; /* sequence number of data[0] */
    uint32_t contig;   /* bytes contiguous from data[0] */
    uint32_t n_gaps;   /* out-of-order islands beyond contig */
    uint32_t cap;      /* bytes data[] holds (set by the pool, or by whoever allocates it) */
    uint32_t conflicts; /* segments that overlapped held bytes with other bytes (since reset) */
    struct {
        uint32_t start, end; /* offsets from data[0], start > contig */
    } island[TW_STREAM_MAX_GAPS];
    uint8_t data[];
};

enum tw_stream_add_result {
    TW_STREAM_ADDED,    /* all of the segment's bytes are in the buffer (or already were) */
    TW_STREAM_OLD,      /* segment lies wholly before base_seq (retransmission) */
    TW_STREAM_CLIPPED,  /* bytes past the capacity were dropped */
    TW_STREAM_TOO_MANY_GAPS, /* segment refused: too many holes */
};

/* Empties the buffer to start at base_seq (cap is kept). */
void tw_stream_reset(struct tw_stream *s, uint32_t base_seq);

/* Copies src's bytes and state into dst (dst->cap >= every byte src holds); dst keeps its
 * capacity. For moving a stream into a larger buffer. */
void tw_stream_move(struct tw_stream *dst, const struct tw_stream *src);

/* Places a segment starting at sequence number seq (32-bit wrap-around aware). Bytes already
 * held are kept; a segment whose bytes differ from them there counts one in s->conflicts. */
enum tw_stream_add_result tw_stream_add(struct tw_stream *s, uint32_t seq, const uint8_t *p,
                                        size_t n);

/*
 * Moves the start of the buffer back to seq (before base_seq), keeping every byte held: for a
 * stream whose first captured bytes were not its earliest (segments out of order, start not
 * seen). 0 (nothing to do when seq is base_seq); TW_EINVAL when seq is after base_seq; TW_ENOMEM when the bytes held would not
 * fit from seq on, or the bytes from base_seq would need one hole more than allowed.
 */
int tw_stream_rebase(struct tw_stream *s, uint32_t seq);

/* Drops n (<= contig) bytes from the front: base_seq advances by n. */
void tw_stream_consume(struct tw_stream *s, size_t n);

struct tw_stream_pool {
    uint8_t *bufs;
    size_t stride;    /* bytes from one buffer to the next */
    uint32_t buf_cap; /* capacity of each buffer */
    uint32_t *free_list;
    uint32_t n_free;
    uint32_t cap;
    uint64_t exhausted; /* requests refused because every buffer was in use */
    uint32_t high_water;
    struct tw_holders holders; /* who holds each buffer in use, least recently used first */
};

/* n buffers of cap bytes each (memory is only touched when used). 0 or TW_ENOMEM. */
int tw_stream_pool_init(struct tw_stream_pool *pool, uint32_t n, uint32_t cap);
void tw_stream_pool_destroy(struct tw_stream_pool *pool);
struct tw_prefault;
/* Has pf map pool's buffers `ahead` buffers past those used so far (see prefault.h). 0 or
 * TW_ENOMEM (pf has no room left). */
int tw_stream_pool_prefault(struct tw_stream_pool *pool, struct tw_prefault *pf, uint32_t ahead);
/* Index of a free buffer, reset to base_seq and held by owner in its role from capture second
 * now (pool->holders), or TW_STREAM_NONE (counted) when exhausted. */
uint32_t tw_stream_get(struct tw_stream_pool *pool, uint32_t base_seq, void *owner, uint8_t role,
                       int64_t now);
/* Gives buffer idx back (nothing for TW_STREAM_NONE). */
void tw_stream_put(struct tw_stream_pool *pool, uint32_t idx);

/* Buffer idx (in use) took bytes at capture second now. */
static inline void tw_stream_touch(struct tw_stream_pool *pool, uint32_t idx, int64_t now)
{
    tw_holders_touch(&pool->holders, idx, now);
}

static inline struct tw_stream *tw_stream_at(struct tw_stream_pool *pool, uint32_t idx)
{
    return (struct tw_stream *)(void *)(pool->bufs + (size_t)idx * pool->stride);
}

#endif /* TUNWATCH_STREAM_H */
