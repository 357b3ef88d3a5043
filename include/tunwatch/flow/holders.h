/* SPDX-License-Identifier: MIT */
/*
 * Who holds each slot of a bounded pool (reassembly buffers, QUIC states), in the order they
 * last used it.
 *
 * A flow that stalls holding part of a name (a segment the capture lost, a client that went
 * quiet, a flood of half hellos sent to fill the pool) would keep its slot until the flow
 * times out, and a pool full of such slots refuses every new flow that needs one. With the
 * order kept here, a pool that is empty may take back the slot used least recently, once it
 * has been idle long enough (tw_holders_stale()): a flow still receiving its segments keeps
 * its slot, a stalled one gives it up to the next flow. Times are capture seconds; the order
 * is kept to the second, as the flow table's timeout lists are.
 */
#ifndef TUNWATCH_HOLDERS_H
#define TUNWATCH_HOLDERS_H

#include "tunwatch/base/common.h"
#include "tunwatch/base/ilist.h"

#define TW_HOLDERS_NONE TW_ILIST_NONE

struct tw_holder {
    void *owner;          /* the pool user's, opaque here */
    int64_t last;         /* capture second of the slot's last use */
    struct tw_ilink link; /* prev: used less recently */
    uint8_t role;         /* the owner's: which of its slots this is */
};

struct tw_holders {
    struct tw_holder *h;   /* one per slot, written when the slot is taken */
    struct tw_ilist order; /* the slots held, least recently used first */
    uint32_t n;            /* slots */
};

/* Room for n slots, none held. 0 or TW_ENOMEM. */
int tw_holders_init(struct tw_holders *hs, uint32_t n);
void tw_holders_destroy(struct tw_holders *hs);

/* Slot idx (< n, not held) is now held by owner, in its role, used at capture second now. */
void tw_holders_take(struct tw_holders *hs, uint32_t idx, void *owner, uint8_t role, int64_t now);

/* Slot idx (held) is no longer held. */
void tw_holders_release(struct tw_holders *hs, uint32_t idx);

/* The slot used least recently, when it has been idle at least idle seconds (> 0) at capture
 * second now; TW_HOLDERS_NONE otherwise, or when no slot is held. */
uint32_t tw_holders_stale(const struct tw_holders *hs, int64_t now, uint32_t idle);

static inline const struct tw_holder *tw_holders_at(const struct tw_holders *hs, uint32_t idx)
{
    return &hs->h[idx];
}

/* tw_holders_touch()'s move: slot idx becomes the most recently used, at second now. */
void tw_holders_move_last(struct tw_holders *hs, uint32_t idx, int64_t now);

/* Slot idx (held) was used at capture second now: it becomes the most recently used. Inline:
 * called for every segment a buffer takes, and a move at most once a second. */
static inline void tw_holders_touch(struct tw_holders *hs, uint32_t idx, int64_t now)
{
    if (now > hs->h[idx].last)
        tw_holders_move_last(hs, idx, now);
}

#endif /* TUNWATCH_HOLDERS_H */
