/* SPDX-License-Identifier: MIT */
/*
 * Single-producer single-consumer ring of variable-length records, used to
 * hand packets from the reader to a worker without locks. Records are
 * contiguous (a record that would wrap is preceded by padding), 8-byte
 * aligned, and published with release/acquire ordering. Each side keeps its
 * own copy of the other's index and reads the shared one only when that copy
 * says the ring is full (producer) or empty (consumer), so the two cache lines
 * do not bounce on every record (as DPDK's rte_ring and FastForward do).
 *
 * Waiting never spins: a side that finds the ring empty (full) sleeps on a
 * futex until the other side's next tw_ring_notify() (tw_ring_notify_space()),
 * with a flag that keeps those calls free of system calls while nobody waits.
 * The other side calls them once per batch, not per record.
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
    size_t tail_seen;                             /* producer: tail when last read */
    _Alignas(TW_CACHE_LINE) _Atomic size_t tail; /* written by the consumer */
    size_t next;                                  /* consumer: tail after the current record */
    size_t head_seen;                             /* consumer: head when last read */
    _Alignas(TW_CACHE_LINE) atomic_bool closed;  /* producer is done */
    _Atomic uint32_t data_seq;                    /* futex words: bumped to wake a waiter */
    _Atomic uint32_t space_seq;
    atomic_bool consumer_waits, producer_waits;
};

/* cap: bytes, a power of two >= 4096. 0, TW_EINVAL or TW_ENOMEM. */
int tw_ring_init(struct tw_ring *r, size_t cap);
void tw_ring_destroy(struct tw_ring *r);

/* Producer: room for an n-byte record, or NULL when the ring is full (or n can never fit). */
void *tw_ring_reserve(struct tw_ring *r, size_t n);
/* Producer: publishes the record reserved last. */
void tw_ring_commit(struct tw_ring *r);
/* Producer: no more records will come (wakes a waiting consumer). */
void tw_ring_close(struct tw_ring *r);
/* Producer: wakes the consumer if it waits for data; call after a batch of commits. */
void tw_ring_notify(struct tw_ring *r);
/* Producer: sleeps until the consumer has freed room for an n-byte record (its next
 * tw_ring_notify_space()) or timeout_ms passed. */
void tw_ring_wait_space(struct tw_ring *r, size_t n, int timeout_ms);

/* Consumer: the oldest record and its length, or NULL when none is published. */
const void *tw_ring_peek(struct tw_ring *r, size_t *n);
/* Consumer: frees the record returned by the last peek. */
void tw_ring_release(struct tw_ring *r);
/* Consumer: true once the producer closed the ring and every record was consumed. */
bool tw_ring_finished(struct tw_ring *r);
/* Consumer: wakes the producer if it waits for room; call after a batch of releases. */
void tw_ring_notify_space(struct tw_ring *r);
/* Consumer: sleeps until a record is published, the ring is closed (the producer's next
 * tw_ring_notify() or tw_ring_close()) or timeout_ms passed. */
void tw_ring_wait_data(struct tw_ring *r, int timeout_ms);

#endif /* TUNWATCH_RING_H */
