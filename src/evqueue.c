/* SPDX-License-Identifier: MIT */
#include "tunwatch/evqueue.h"

#include <stdlib.h>
#include <string.h>

/* Record layout: struct tw_event, raw bytes, norm bytes + NUL, then (when present) the
 * answer name + NUL and its chain + NUL; padded to 8. */
static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

static size_t rec_size(const struct tw_event *ev)
{
    size_t n = sizeof(*ev) + ev->raw_len + ev->norm_len + 1 + opt_len(ev->answer_name) +
               opt_len(ev->answer_chain);
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
    uint8_t *w = p + sizeof(*ev);
    memcpy(w, ev->raw, ev->raw_len);
    w += ev->raw_len;
    memcpy(w, ev->norm, ev->norm_len);
    w += ev->norm_len;
    *w++ = '\0';
    if (ev->answer_name != NULL) {
        size_t n = strlen(ev->answer_name) + 1;
        memcpy(w, ev->answer_name, n);
        w += n;
    }
    if (ev->answer_chain != NULL)
        memcpy(w, ev->answer_chain, strlen(ev->answer_chain) + 1);
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
        /* The stored pointers are stale: point them at the copies in the record. */
        const char *w = (const char *)q->buf + off + sizeof(ev);
        ev.raw = w;
        w += ev.raw_len;
        ev.norm = w;
        w += ev.norm_len + 1;
        if (ev.answer_name != NULL) {
            ev.answer_name = w;
            w += strlen(w) + 1;
        }
        if (ev.answer_chain != NULL) {
            ev.answer_chain = w;
            w += strlen(w) + 1;
        }
        fn(ctx, &ev);
        off += rec_size(&ev); /* now measured on the copies */
    }
    q->len = 0;
    q->count = 0;
}
