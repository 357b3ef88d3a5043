/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/evqueue.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"

/* Records are packed copies (tw_event_pack) laid end to end, about a third of a deep copy's
 * bytes. The buffer is a table (huge pages where the kernel allows them): while 100,000 rules
 * load, some 15 MB of events wait, which in 4 KiB pages took thousands of page faults on the
 * packet thread. */

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
    size_t need = tw_event_pack_size(ev);

    if (q->cap - q->len < need)
        return TW_ENOMEM;
    tw_event_pack(q->buf + q->len, ev);
    q->len += need;
    q->count++;
    return 0;
}

void tw_evqueue_drain(struct tw_evqueue *q, void (*fn)(void *ctx, const struct tw_event *ev),
                      void *ctx)
{
    size_t off = 0;

    while (off < q->len) {
        struct tw_event ev;

        off += tw_event_unpack(q->buf + off, &ev);
        fn(ctx, &ev);
    }
    q->len = 0;
    q->count = 0;
}
