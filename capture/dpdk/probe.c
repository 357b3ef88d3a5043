/* SPDX-License-Identifier: MIT */
/*
 * probe: opens DPDK sources through the tunwatch backend (one, or several separated by commas,
 * such as the queues of one port: "0/0/2,0/1/2"), reads them in turn until none gave a frame
 * for IDLE_MS (default 1000) or MAX_S seconds (default 30) passed, and prints per source the
 * frame count, bytes, frames cut to the snap length, longest frame, an FNV-1a digest of every
 * delivered byte (to compare with the file's) and the source's counters. A development aid, not
 * part of the build:
 *
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude \
 *      $(pkg-config --cflags libdpdk | sed 's/-I/-isystem /g') -o build/dpdk-probe \
 *      capture/dpdk/probe.c capture/dpdk/dpdk.c capture/dpdk/args.c $(pkg-config --libs libdpdk)
 *   build/dpdk-probe '--no-pci --no-huge -m 256 --no-shconf --vdev=net_pcap0,rx_pcap=F' 0
 *
 * Usage: probe 'EAL ARGS' [SOURCE[,SOURCE...] [SNAPLEN [IDLE_MS [MAX_S]]]]
 */
#include "tunwatch/capture/dpdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define MAX_SOURCES 64

int main(int argc, char **argv)
{
    struct tw_capture_opts opts = {0};
    struct tw_capture_stats st;
    struct tw_capture *c[MAX_SOURCES];
    struct tally t[MAX_SOURCES];
    char *names[MAX_SOURCES];
    const struct timespec nap = {.tv_sec = 0, .tv_nsec = 1000000};
    char *list = argc > 2 ? argv[2] : (char[]){"0"};
    double idle = argc > 4 ? atof(argv[4]) / 1000 : 1.0;
    double max_s = argc > 5 ? atof(argv[5]) : 30.0;
    double start, last;
    char err[512];
    int rc = 0, n_src = 0, opened = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s 'EAL ARGS' [SOURCE[,SOURCE...] [SNAPLEN [IDLE_MS [MAX_S]]]]\n",
                argv[0]);
        return 2;
    }
    if (argc > 3)
        opts.snaplen = atoi(argv[3]);
    for (char *p = list; n_src < MAX_SOURCES;) {
        names[n_src++] = p;
        p = strchr(p, ',');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    if (tw_dpdk_eal_init_str(argv[1], err, sizeof(err)) != 0) {
        fprintf(stderr, "probe: %s\n", err);
        return 1;
    }
    for (; opened < n_src; opened++) {
        t[opened] = (struct tally){.digest = 0xcbf29ce484222325ULL};
        if (tw_capture_dpdk.open(names[opened], &opts, &c[opened], err, sizeof(err)) != 0) {
            fprintf(stderr, "probe: %s\n", err);
            rc = 1;
            goto out_close;
        }
    }
    start = last = now_s();
    while (now_s() - last < idle && now_s() - start < max_s) {
        bool any = false;
        for (int i = 0; i < n_src; i++) {
            int n = tw_capture_dpdk.dispatch(c[i], 256, count, &t[i], err, sizeof(err));
            if (n < 0) {
                fprintf(stderr, "probe: %s: %s\n", names[i], err);
                rc = 1;
                goto out_close;
            }
            any |= n > 0;
        }
        if (any)
            last = now_s();
        else
            nanosleep(&nap, NULL);
    }
    for (int i = 0; i < n_src; i++) {
        tw_capture_dpdk.stats(c[i], &st);
        printf("%s frames %llu bytes %llu cut %llu longest %u digest %016llx received %llu "
               "dropped %llu ifdropped %llu\n",
               names[i], (unsigned long long)t[i].frames, (unsigned long long)t[i].bytes,
               (unsigned long long)t[i].cut, t[i].longest, (unsigned long long)t[i].digest,
               (unsigned long long)st.received, (unsigned long long)st.dropped,
               (unsigned long long)st.ifdropped);
    }
out_close:
    while (opened > 0)
        tw_capture_dpdk.close(c[--opened]);
    return rc;
}
