/* SPDX-License-Identifier: MIT */
/* Growing arrays at load time (never on the packet path). */
#ifndef TUNWATCH_ALLOC_H
#define TUNWATCH_ALLOC_H

#include "tunwatch/common.h"

/*
 * Makes *p (an array of *cap elements of elem bytes) hold at least need elements, doubling
 * from `first`. Returns 0, TW_EINVAL for elem 0, or TW_ENOMEM (allocation failure or size
 * overflow) with *p and *cap unchanged.
 */
int tw_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

#endif /* TUNWATCH_ALLOC_H */
