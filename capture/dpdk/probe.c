/* SPDX-License-Identifier: MIT */
/*
 * probe: opens one DPDK port through the tunwatch backend, counts frames until none came for
 * IDLE_MS (default 1000) or MAX_S seconds (default 30) passed, and prints the frame count,
 * bytes, frames cut to the snap length, longest frame, an FNV-1a digest of every delivered byte
 * (to compare with the file's) and the port counters. A development aid, not part of the build:
 *
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude \
 *      $(pkg-config --cflags libdpdk | sed 's/-I/-isystem /g') -o build/dpdk-probe \
 *      capture/dpdk/probe.c capture/dpdk/dpdk.c capture/dpdk/args.c $(pkg-config --libs libdpdk)
 *   build/dpdk-probe '--no-pci --no-huge -m 256 --no-shconf --vdev=net_pcap0,rx_pcap=F' 0
 *
 * Usage: probe 'EAL ARGS' [PORT [SNAPLEN [IDLE_MS [MAX_S]]]]
 */
#include "tunwatch/dpdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct tally {
    uint64_t frames, bytes, cut;
    uint64_t digest; /* FNV-1a over every delivered byte, in order */
    uint32_t longest;
};

static void count(void *ctx, const struct tw_frame *f)
{
    struct tally *t = ctx;

    t->frames++;
    t->bytes += f->caplen;
    t->cut += f->caplen < f->wirelen;
    if (f->wirelen > t->longest)
        t->longest = f->wirelen;
    for (uint32_t i = 0; i < f->caplen; i++)
        t->digest = (t->digest ^ f->data[i]) * 0x100000001b3ULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct tw_capture_opts opts = {0};
    struct tw_capture_stats st;
    struct tw_capture *c;
    struct tally t = {.digest = 0xcbf29ce484222325ULL};
    const struct timespec nap = {.tv_sec = 0, .tv_nsec = 1000000};
    const char *port = argc > 2 ? argv[2] : "0";
    double idle = argc > 4 ? atof(argv[4]) / 1000 : 1.0;
    double max_s = argc > 5 ? atof(argv[5]) : 30.0;
    double start, last;
    char err[512];
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s 'EAL ARGS' [PORT [SNAPLEN [IDLE_MS [MAX_S]]]]\n", argv[0]);
        return 2;
    }
    if (argc > 3)
        opts.snaplen = atoi(argv[3]);
    if (tw_dpdk_eal_init_str(argv[1], err, sizeof(err)) != 0 ||
        tw_capture_dpdk.open(port, &opts, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "probe: %s\n", err);
        return 1;
    }
    start = last = now_s();
    while (now_s() - last < idle && now_s() - start < max_s) {
        int n = tw_capture_dpdk.dispatch(c, 256, count, &t, err, sizeof(err));
        if (n < 0) {
            fprintf(stderr, "probe: %s\n", err);
            rc = 1;
            break;
        }
        if (n > 0)
            last = now_s();
        else
            nanosleep(&nap, NULL);
    }
    tw_capture_dpdk.stats(c, &st);
    printf("frames %llu bytes %llu cut %llu longest %u digest %016llx received %llu "
           "dropped %llu ifdropped %llu\n",
           (unsigned long long)t.frames, (unsigned long long)t.bytes, (unsigned long long)t.cut,
           t.longest, (unsigned long long)t.digest, (unsigned long long)st.received,
           (unsigned long long)st.dropped, (unsigned long long)st.ifdropped);
    tw_capture_dpdk.close(c);
    return rc;
}
