/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for the DPDK backend in builds without DPDK (make without DPDK=1): DPDK sources
 * and EAL arguments are refused with a message saying how to get them.
 */
#include "tunwatch/capture/dpdk.h"

#include <stdio.h>

#define NO_DPDK "this tunwatch was built without DPDK (rebuild with make DPDK=1)"

const char tw_dpdk_usage[] = "";

int tw_dpdk_eal_init(int argc, char **argv, char *err, size_t errlen)
{
    (void)argc;
    (void)argv;
    snprintf(err, errlen, "--dpdk: %s", NO_DPDK);
    return TW_ENOTSUP;
}

static int nd_open(const char *source, const struct tw_capture_opts *opts, struct tw_capture **out,
                   char *err, size_t errlen)
{
    (void)opts;
    *out = NULL;
    snprintf(err, errlen, "%s: %s", source, NO_DPDK);
    return TW_ENOTSUP;
}

/* Never reached: nd_open gives out no capture. */
static int nd_linktype(const struct tw_capture *c)
{
    (void)c;
    return 0;
}

static int nd_dispatch(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    (void)c;
    (void)max;
    (void)fn;
    (void)ctx;
    snprintf(err, errlen, "%s", NO_DPDK);
    return TW_EIO;
}

static int nd_selectable_fd(struct tw_capture *c)
{
    (void)c;
    return -1;
}

static void nd_stats(struct tw_capture *c, struct tw_capture_stats *st)
{
    (void)c;
    *st = (struct tw_capture_stats){0};
}

static void nd_close(struct tw_capture *c)
{
    (void)c;
}

const struct tw_capture_ops tw_capture_dpdk = {
    .name = "dpdk",
    .open = nd_open,
    .linktype = nd_linktype,
    .dispatch = nd_dispatch,
    .selectable_fd = nd_selectable_fd,
    .stats = nd_stats,
    .close = nd_close,
};
