/* SPDX-License-Identifier: MIT */
#include "tunwatch/alloc.h"

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
