/* SPDX-License-Identifier: MIT */
#include "tunwatch/run/ring.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tunwatch/base/alloc.h"

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
    /* Huge pages where the kernel gives them: the producer's first pass over the ring takes a
     * handful of faults instead of one per 4 KiB page (2,048 for 8 MiB). */
    r->buf = tw_table_alloc(cap);
    if (r->buf == NULL)
        return TW_ENOMEM;
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->closed, false);
    atomic_init(&r->data_seq, 0);
    atomic_init(&r->space_seq, 0);
    atomic_init(&r->consumer_waits, false);
    atomic_init(&r->producer_waits, false);
    return 0;
}

void tw_ring_destroy(struct tw_ring *r)
{
    tw_table_free(r->buf, r->cap);
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

/* Bytes the producer must find free for an n-byte record at head (padding included). */
static size_t room_needed(const struct tw_ring *r, size_t head, size_t n)
{
    size_t need = HDR + round8(n), to_end = r->cap - (head & (r->cap - 1));
    return to_end < need ? to_end + need : need;
}

void *tw_ring_reserve(struct tw_ring *r, size_t n)
{
    size_t need = HDR + round8(n);
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

    if (need > r->cap / 2 || n > UINT32_MAX / 2)
        return NULL;
    if (r->cap - (head - r->tail_seen) < room_needed(r, head, n))
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t off = head & (r->cap - 1), to_end = r->cap - off,
           free_bytes = r->cap - (head - r->tail_seen);

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

/* A futex wait on *word while it holds val, at most timeout_ms; spurious returns are fine. */
static void futex_wait(_Atomic uint32_t *word, uint32_t val, int timeout_ms)
{
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    atomic_fetch_add_explicit(word, 1, memory_order_release);
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * The waiter sets its flag, then looks at the ring; the waker publishes, then looks at the
 * flag; all four steps are sequentially consistent (the waker's "publish" is a read-modify-
 * write of its own index, a full barrier), so one of the two sees the other's write and a
 * wake-up is never lost. The sequence word read before the flag makes a wake that comes
 * between the look and the sleep end the sleep at once.
 */
void tw_ring_notify(struct tw_ring *r)
{
    atomic_fetch_add_explicit(&r->head, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&r->consumer_waits, memory_order_seq_cst))
        futex_wake(&r->data_seq);
}

void tw_ring_notify_space(struct tw_ring *r)
{
    atomic_fetch_add_explicit(&r->tail, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&r->producer_waits, memory_order_seq_cst))
        futex_wake(&r->space_seq);
}

void tw_ring_close(struct tw_ring *r)
{
    atomic_store_explicit(&r->closed, true, memory_order_seq_cst);
    tw_ring_notify(r);
}

void tw_ring_wait_data(struct tw_ring *r, int timeout_ms)
{
    uint32_t seq = atomic_load_explicit(&r->data_seq, memory_order_acquire);

    atomic_store_explicit(&r->consumer_waits, true, memory_order_seq_cst);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (atomic_load_explicit(&r->head, memory_order_seq_cst) == tail &&
        !atomic_load_explicit(&r->closed, memory_order_seq_cst))
        futex_wait(&r->data_seq, seq, timeout_ms);
    atomic_store_explicit(&r->consumer_waits, false, memory_order_relaxed);
}

void tw_ring_wait_space(struct tw_ring *r, size_t n, int timeout_ms)
{
    uint32_t seq = atomic_load_explicit(&r->space_seq, memory_order_acquire);

    atomic_store_explicit(&r->producer_waits, true, memory_order_seq_cst);
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (r->cap - (head - atomic_load_explicit(&r->tail, memory_order_seq_cst)) <
        room_needed(r, head, n))
        futex_wait(&r->space_seq, seq, timeout_ms);
    atomic_store_explicit(&r->producer_waits, false, memory_order_relaxed);
}

const void *tw_ring_peek(struct tw_ring *r, size_t *n)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

    if (tail == r->head_seen)
        r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t head = r->head_seen;
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
