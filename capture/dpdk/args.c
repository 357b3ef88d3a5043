/* SPDX-License-Identifier: MIT */
/*
 * DPDK source names and EAL arguments: the part of the DPDK backend that needs no DPDK, built
 * in every configuration.
 */
#include "tunwatch/capture/dpdk.h"

#include <stdio.h>
#include <string.h>

bool tw_dpdk_is_source(const char *name)
{
    return strncmp(name, TW_DPDK_PREFIX, strlen(TW_DPDK_PREFIX)) == 0;
}

int tw_dpdk_queue_source(const char *source, unsigned queue, unsigned nqueues, char *out,
                         size_t outlen)
{
    int n;

    if (!tw_dpdk_is_source(source) || strchr(source, '/') != NULL || queue >= nqueues ||
        nqueues > TW_DPDK_MAX_QUEUES)
        return TW_EINVAL;
    /* "dpdk:" alone is port 0. */
    n = snprintf(out, outlen, "%s%s/%u/%u", source,
                 source[strlen(TW_DPDK_PREFIX)] == '\0' ? "0" : "", queue, nqueues);
    if (n < 0 || (size_t)n >= outlen)
        return TW_ENOMEM;
    return 0;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

int tw_dpdk_split_args(char *s, char **argv, int max)
{
    int n = 0;

    for (;;) {
        while (is_blank(*s))
            s++;
        if (*s == '\0')
            return n;
        if (n == max)
            return TW_ENOMEM;
        argv[n++] = s;
        while (*s != '\0' && !is_blank(*s))
            s++;
        if (*s == '\0')
            return n;
        *s++ = '\0';
    }
}

int tw_dpdk_eal_init_str(const char *args, char *err, size_t errlen)
{
    /* The EAL may keep pointers into its arguments: they live as long as the process. */
    static char buf[TW_DPDK_MAX_ARGS_LEN];
    static char prog[] = "tunwatch";
    static char *argv[TW_DPDK_MAX_ARGS + 2];
    size_t len = strlen(args);
    int n;

    if (len >= sizeof(buf)) {
        snprintf(err, errlen, "--dpdk: EAL arguments longer than %d bytes",
                 TW_DPDK_MAX_ARGS_LEN - 1);
        return TW_EINVAL;
    }
    memcpy(buf, args, len + 1);
    argv[0] = prog;
    n = tw_dpdk_split_args(buf, argv + 1, TW_DPDK_MAX_ARGS);
    if (n < 0) {
        snprintf(err, errlen, "--dpdk: more than %d EAL arguments", TW_DPDK_MAX_ARGS);
        return TW_EINVAL;
    }
    argv[n + 1] = NULL;
    return tw_dpdk_eal_init(n + 1, argv, err, errlen);
}
