/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/evqueue.h"

#include <stdlib.h>
#include <string.h>

/* Records are deep copies (tw_event_copy) laid end to end; the buffer never moves, so their
 * pointers stay valid until the queue is drained. */

int tw_evqueue_init(struct tw_evqueue *q, size_t cap)
{
    memset(q, 0, sizeof(*q));
    q->buf = malloc(cap);
    if (q->buf == NULL)
        return TW_ENOMEM;
    q->cap = cap;
    return 0;
}

void tw_evqueue_destroy(struct tw_evqueue *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

int tw_evqueue_push(struct tw_evqueue *q, const struct tw_event *ev)
{
    size_t need = tw_event_copy_size(ev);

    if (q->cap - q->len < need)
        return TW_ENOMEM;
    tw_event_copy(q->buf + q->len, ev);
    q->len += need;
    q->count++;
    return 0;
}

void tw_evqueue_drain(struct tw_evqueue *q, void (*fn)(void *ctx, const struct tw_event *ev),
                      void *ctx)
{
    size_t off = 0;

    while (off < q->len) {
        const struct tw_event *ev = (const struct tw_event *)(void *)(q->buf + off);
        size_t n = tw_event_copy_size(ev);
        fn(ctx, ev);
        off += n;
    }
    q->len = 0;
    q->count = 0;
}
