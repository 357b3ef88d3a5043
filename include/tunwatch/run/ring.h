/* SPDX-License-Identifier: MIT */
/*
 * Single-producer single-consumer ring of variable-length records, used to
 * hand packets from the reader to a worker without locks. Records are
 * contiguous (a record that would wrap is preceded by padding), 8-byte
 * aligned, and published with release/acquire ordering.
 */
#ifndef TUNWATCH_RING_H
#define TUNWATCH_RING_H

#include <stdatomic.h>

#include "tunwatch/base/common.h"

struct tw_ring {
    uint8_t *buf;
    size_t cap; /* power of two */
    _Alignas(TW_CACHE_LINE) _Atomic size_t head; /* written by the producer */
    size_t reserved;                              /* producer: head after the open record */
    _Alignas(TW_CACHE_LINE) _Atomic size_t tail; /* written by the consumer */
    size_t next;                                  /* consumer: tail after the current record */
    _Alignas(TW_CACHE_LINE) atomic_bool closed;  /* producer is done */
};

/* cap: bytes, a power of two >= 4096. 0, TW_EINVAL or TW_ENOMEM. */
int tw_ring_init(struct tw_ring *r, size_t cap);
void tw_ring_destroy(struct tw_ring *r);

/* Producer: room for an n-byte record, or NULL when the ring is full (or n can never fit). */
void *tw_ring_reserve(struct tw_ring *r, size_t n);
/* Producer: publishes the record reserved last. */
void tw_ring_commit(struct tw_ring *r);
/* Producer: no more records will come. */
void tw_ring_close(struct tw_ring *r);

/* Consumer: the oldest record and its length, or NULL when none is published. */
const void *tw_ring_peek(struct tw_ring *r, size_t *n);
/* Consumer: frees the record returned by the last peek. */
void tw_ring_release(struct tw_ring *r);
/* Consumer: true once the producer closed the ring and every record was consumed. */
bool tw_ring_finished(struct tw_ring *r);

#endif /* TUNWATCH_RING_H */
