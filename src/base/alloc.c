/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/alloc.h"

#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>

int tw_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t ncap;
    void *np;

    if (need <= *cap)
        return 0;
    if (elem == 0)
        return TW_EINVAL;
    ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return TW_ENOMEM;
        ncap *= 2;
    }
    if (elem != 0 && ncap > SIZE_MAX / elem)
        return TW_ENOMEM;
    np = realloc(*p, ncap * elem);
    if (!np)
        return TW_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

#define HUGE_PAGE (2u << 20)

void *tw_table_alloc(size_t n)
{
    uint8_t *p, *start;
    size_t len, head;

    if (n == 0 || n > SIZE_MAX - HUGE_PAGE)
        return NULL;
    if (n < HUGE_PAGE) {
        p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Huge pages need 2 MiB alignment: map a little more and trim both ends. */
    len = n + HUGE_PAGE;
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    start = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    head = (size_t)(start - p);
    if (head > 0)
        munmap(p, head);
    n = (n + 4095) & ~(size_t)4095;
    if (len - head > n)
        munmap(start + n, len - head - n);
    /* Advice only: without THP this stays plain anonymous memory. */
    (void)madvise(start, n, MADV_HUGEPAGE);
    return start;
}

void tw_table_free(void *p, size_t n)
{
    if (p != NULL)
        munmap(p, n < HUGE_PAGE ? n : (n + 4095) & ~(size_t)4095);
}
