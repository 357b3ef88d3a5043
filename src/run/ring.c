/* SPDX-License-Identifier: MIT */
#include "tunwatch/run/ring.h"

#include <stdlib.h>
#include <string.h>

#define HDR 8u
#define PAD_FLAG 0x80000000u

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

int tw_ring_init(struct tw_ring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    if (cap < 4096 || (cap & (cap - 1)) != 0)
        return TW_EINVAL;
    r->buf = aligned_alloc(TW_CACHE_LINE, cap);
    if (r->buf == NULL)
        return TW_ENOMEM;
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->closed, false);
    return 0;
}

void tw_ring_destroy(struct tw_ring *r)
{
    free(r->buf);
    r->buf = NULL;
}

static void put_hdr(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint32_t get_hdr(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

void *tw_ring_reserve(struct tw_ring *r, size_t n)
{
    size_t need = HDR + round8(n);
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t off = head & (r->cap - 1), to_end = r->cap - off, free_bytes = r->cap - (head - tail);

    if (need > r->cap / 2 || n > UINT32_MAX / 2)
        return NULL;
    if (to_end < need) {
        /* Pad to the end so the record stays contiguous. */
        if (free_bytes < to_end + need)
            return NULL;
        put_hdr(r->buf + off, (uint32_t)(to_end - HDR) | PAD_FLAG);
        head += to_end;
        off = 0;
    } else if (free_bytes < need) {
        return NULL;
    }
    put_hdr(r->buf + off, (uint32_t)n);
    r->reserved = head + need;
    return r->buf + off + HDR;
}

void tw_ring_commit(struct tw_ring *r)
{
    atomic_store_explicit(&r->head, r->reserved, memory_order_release);
}

void tw_ring_close(struct tw_ring *r)
{
    atomic_store_explicit(&r->closed, true, memory_order_release);
}

const void *tw_ring_peek(struct tw_ring *r, size_t *n)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

    while (tail != head) {
        size_t off = tail & (r->cap - 1);
        uint32_t h = get_hdr(r->buf + off);
        if (h & PAD_FLAG) {
            tail += HDR + (h & ~PAD_FLAG);
            atomic_store_explicit(&r->tail, tail, memory_order_release);
            continue;
        }
        *n = h;
        r->next = tail + HDR + round8(h);
        return r->buf + off + HDR;
    }
    return NULL;
}

void tw_ring_release(struct tw_ring *r)
{
    atomic_store_explicit(&r->tail, r->next, memory_order_release);
}

bool tw_ring_finished(struct tw_ring *r)
{
    size_t n;

    if (!atomic_load_explicit(&r->closed, memory_order_acquire))
        return false;
    return tw_ring_peek(r, &n) == NULL;
}
