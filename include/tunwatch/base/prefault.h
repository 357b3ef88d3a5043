/* SPDX-License-Identifier: MIT */
/*
 * A thread that maps the pages of large tables before the packet path first writes them.
 *
 * A replay fills its tables (flow table, answer cache, stream buffers) as fast as it reads:
 * some 60 MB in the first second of the bench capture, every page of it zeroed by the kernel
 * on first touch, inside the packet thread's time. Under a hypervisor that takes back the
 * memory a guest frees (free page reporting), each of those pages also costs the host a
 * fault: 5-16% of a replay, varying with how much the host has taken back. The prefaulter
 * maps the pages on another CPU ahead of the packet thread (MADV_POPULATE_WRITE, Linux 5.14:
 * zeroed as a first touch would, what is already there left as it is), so the packet thread
 * finds them mapped.
 *
 * It runs at the lowest priority there is (SCHED_IDLE): only on a CPU that would otherwise
 * be idle, never taking one from a packet thread. A table filled in order (flow slots, stream
 * buffers) is kept mapped a bounded distance past what is in use, so the resident size
 * follows use as before; a table used at random places (the flow table's buckets, the answer
 * cache) is mapped whole: its first few thousand writes would touch every huge page of it
 * anyway. Without MADV_POPULATE_WRITE the thread ends at once and pages fault in as before.
 */
#ifndef TUNWATCH_PREFAULT_H
#define TUNWATCH_PREFAULT_H

#include "tunwatch/base/common.h"

#define TW_PREFAULT_REGIONS 64

struct tw_prefault;

/* A prefaulter with no regions and no thread yet; NULL on allocation failure. */
struct tw_prefault *tw_prefault_new(void);

/*
 * Region [p, p + len) (a table of tw_table_alloc()) is kept mapped `ahead` bytes past the
 * bytes in use, *count elements of elem bytes from p (count is read while its owner writes it,
 * both with relaxed atomics: tw_prefault_count_set()), or whole when count is NULL. Only
 * before tw_prefault_start(). 0, or TW_ENOMEM past TW_PREFAULT_REGIONS (p NULL or len 0:
 * nothing added, 0).
 */
int tw_prefault_add(struct tw_prefault *pf, void *p, size_t len, const uint32_t *count,
                    size_t elem, size_t ahead);

/* Starts the thread: 0 or an errno value (nothing to do: 0, no thread). */
int tw_prefault_start(struct tw_prefault *pf);

/* Stops the thread and waits for it (before a region is unmapped), then frees pf. NULL: no-op. */
void tw_prefault_free(struct tw_prefault *pf);

/* Sets a count that a prefaulter may be reading. */
static inline void tw_prefault_count_set(uint32_t *count, uint32_t v)
{
    __atomic_store_n(count, v, __ATOMIC_RELAXED);
}

#endif
