/* SPDX-License-Identifier: MIT */
/* Shared by the libpcap backends: a pcap packet header as a tw_frame. */
#ifndef TUNWATCH_CAPTURE_PCAP_FRAME_H
#define TUNWATCH_CAPTURE_PCAP_FRAME_H

#include <pcap/pcap.h>

#include "tunwatch/capture/capture.h"

/* nano: the handle delivers nanoseconds in ts.tv_usec (PCAP_TSTAMP_PRECISION_NANO). */
static inline struct tw_frame tw_pcap_frame(const struct pcap_pkthdr *h, const u_char *bytes,
                                            bool nano)
{
    struct tw_frame f = {
        .ts_sec = h->ts.tv_sec,
        .ts_nsec = (uint32_t)(nano ? h->ts.tv_usec : h->ts.tv_usec * 1000),
        .caplen = h->caplen,
        .wirelen = h->len < h->caplen ? h->caplen : h->len,
        .data = bytes,
    };
    return f;
}

#endif /* TUNWATCH_CAPTURE_PCAP_FRAME_H */
