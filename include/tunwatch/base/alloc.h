/* SPDX-License-Identifier: MIT */
/* Growing arrays at load time (never on the packet path). */
#ifndef TUNWATCH_ALLOC_H
#define TUNWATCH_ALLOC_H

#include "tunwatch/base/common.h"

/*
 * Makes *p (an array of *cap elements of elem bytes) hold at least need elements, doubling
 * from `first`. Returns 0, TW_EINVAL for elem 0, or TW_ENOMEM (allocation failure or size
 * overflow) with *p and *cap unchanged.
 */
int tw_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/*
 * Zeroed memory for a large table sized at start-up (flow table, answer cache): an anonymous
 * mapping, asked to be backed by transparent huge pages where the kernel allows it. Pages are
 * mapped on first touch, as with calloc, but a 2 MiB page costs one fault where 4 KiB pages
 * cost 512, which is most of the price of filling such a table (and more under
 * virtualisation). Returns NULL on failure or n == 0. Free with tw_table_free(p, n).
 */
void *tw_table_alloc(size_t n);
void tw_table_free(void *p, size_t n);

#endif /* TUNWATCH_ALLOC_H */
