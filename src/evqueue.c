/* SPDX-License-Identifier: MIT */
#include "tunwatch/evqueue.h"

#include <stdlib.h>
#include <string.h>

/* Record layout: struct tw_event, raw bytes, norm bytes + NUL, padded to 8. */
static size_t rec_size(const struct tw_event *ev)
{
    size_t n = sizeof(*ev) + ev->raw_len + ev->norm_len + 1;
    return (n + 7) & ~(size_t)7;
}

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
    size_t need = rec_size(ev);
    uint8_t *p;

    if (q->cap - q->len < need)
        return TW_ENOMEM;
    p = q->buf + q->len;
    memcpy(p, ev, sizeof(*ev));
    memcpy(p + sizeof(*ev), ev->raw, ev->raw_len);
    memcpy(p + sizeof(*ev) + ev->raw_len, ev->norm, ev->norm_len);
    p[sizeof(*ev) + ev->raw_len + ev->norm_len] = '\0';
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
        memcpy(&ev, q->buf + off, sizeof(ev));
        ev.raw = (const char *)q->buf + off + sizeof(ev);
        ev.norm = ev.raw + ev.raw_len;
        fn(ctx, &ev);
        off += rec_size(&ev);
    }
    q->len = 0;
    q->count = 0;
}
