/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/evqueue.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"

/* Records are deep copies (tw_event_copy) laid end to end; the buffer never moves, so their
 * pointers stay valid until the queue is drained. It is a table (huge pages where the kernel
 * allows them): while 100,000 rules load, some 20 MB of events wait, which in 4 KiB pages
 * took 5,000 page faults on the packet thread. */

int tw_evqueue_init(struct tw_evqueue *q, size_t cap)
{
    memset(q, 0, sizeof(*q));
    q->buf = tw_table_alloc(cap);
    if (q->buf == NULL)
        return TW_ENOMEM;
    q->cap = cap;
    return 0;
}

void tw_evqueue_destroy(struct tw_evqueue *q)
{
    tw_table_free(q->buf, q->cap);
    memset(q, 0, sizeof(*q));
}

int tw_evqueue_push(struct tw_evqueue *q, const struct tw_event *ev)
{
    size_t need = tw_event_copy_size(ev);

    if (q->cap - q->len < need)
        return TW_ENOMEM;
    tw_event_copy(q->buf + q->len, ev);
    __atomic_store_n(&q->len, q->len + need, __ATOMIC_RELAXED);
    q->count++;
    return 0;
}

size_t tw_evqueue_bytes(const struct tw_evqueue *q)
{
    return __atomic_load_n(&q->len, __ATOMIC_RELAXED);
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
    __atomic_store_n(&q->len, 0, __ATOMIC_RELAXED);
    q->count = 0;
}
