/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/seed.h"

#include <sys/random.h>
#include <time.h>

#include "tunwatch/base/common.h"

uint64_t tw_random_seed(const void *salt)
{
    uint64_t s = 0;
    struct timespec ts;

    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
        return s;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return tw_mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)salt);
}
