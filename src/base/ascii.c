/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/ascii.h"

void tw_ascii_lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tw_ascii_lower((uint8_t)src[i]);
}

size_t tw_name_normalize(char *dst, const char *src, size_t n)
{
    tw_ascii_lower_copy(dst, src, n);
    if (n > 0 && dst[n - 1] == '.')
        n--;
    dst[n] = '\0';
    return n;
}

bool tw_name_equals_normalized(const char *src, size_t n, const char *norm, size_t norm_len)
{
    if (n > 0 && src[n - 1] == '.')
        n--;
    if (n != norm_len)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((char)tw_ascii_lower((uint8_t)src[i]) != norm[i])
            return false;
    return true;
}
