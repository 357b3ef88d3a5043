/* SPDX-License-Identifier: MIT */
/*
 * A bounded FIFO of event copies. Events produced while the rule matcher is
 * still being built (rules load on another thread, off the packet path) wait
 * here and are matched, in order, once it is ready; the output is the same as
 * if the rules had been loaded first.
 */
#ifndef TUNWATCH_EVQUEUE_H
#define TUNWATCH_EVQUEUE_H

#include "tunwatch/event/event.h"

struct tw_evqueue {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t count;
};

/* cap bytes of storage. 0 or TW_ENOMEM. */
int tw_evqueue_init(struct tw_evqueue *q, size_t cap);
void tw_evqueue_destroy(struct tw_evqueue *q);

/* Copies ev (and the names it points to). TW_ENOMEM when the queue is full. */
int tw_evqueue_push(struct tw_evqueue *q, const struct tw_event *ev);

/* Calls fn for every queued event in order, then empties the queue. */
void tw_evqueue_drain(struct tw_evqueue *q, void (*fn)(void *ctx, const struct tw_event *ev),
                      void *ctx);

#endif /* TUNWATCH_EVQUEUE_H */
