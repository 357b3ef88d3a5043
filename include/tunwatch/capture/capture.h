/* SPDX-License-Identifier: MIT */
/*
 * Capture backends: one small ops struct per live source of frames (interfaces
 * through libpcap, AF_PACKET TPACKET_V3 fanout sockets, DPDK ports), implemented
 * under capture/ (capture files are read by capfile.h). The core never includes
 * pcap.h or DPDK headers; it sees only this interface.
 *
 * Frames are delivered by callback in bursts (dispatch), zero-copy: a frame's
 * data pointer is valid only during the callback.
 */
#ifndef TUNWATCH_CAPTURE_H
#define TUNWATCH_CAPTURE_H

#include "tunwatch/base/common.h"

struct tw_capture;

struct tw_hold;

struct tw_frame {
    int64_t ts_sec;
    uint32_t ts_nsec;
    uint32_t caplen;  /* bytes at data */
    uint32_t wirelen; /* bytes on the wire (>= caplen) */
    uint32_t source;  /* which of a run's sources (capture files) it came from (0: the only) */
    const uint8_t *data;
    /* NULL: data is valid during the callback (or until the next read) only. Else the
     * storage data lies in, which outlives the next read for as long as it is held: the
     * reading thread takes it (tw_hold_take()) before it hands the frame to another thread,
     * which puts it back (tw_hold_put()) when done with the bytes. */
    struct tw_hold *hold;
};

/* One more frame of h handed on (the thread that reads the capture only). */
void tw_hold_take(struct tw_hold *h);
/* n frames of h done with (any thread). */
void tw_hold_put(struct tw_hold *h, uint64_t n);

/* Frames done with, in order, let go of one put for each run of the same hold. */
struct tw_hold_batch {
    struct tw_hold *hold;
    uint64_t n;
};

static inline void tw_hold_batch_flush(struct tw_hold_batch *b)
{
    if (b->n > 0)
        tw_hold_put(b->hold, b->n);
    b->hold = NULL;
    b->n = 0;
}

static inline void tw_hold_batch_add(struct tw_hold_batch *b, struct tw_hold *h)
{
    if (h != b->hold) {
        tw_hold_batch_flush(b);
        b->hold = h;
    }
    b->n++;
}

typedef void (*tw_frame_fn)(void *ctx, const struct tw_frame *f);

struct tw_capture_stats {
    uint64_t frames;       /* frames delivered */
    uint64_t bytes_done;   /* file bytes consumed so far (files), for progress */
    uint64_t bytes_total;  /* file size (files), 0 if unknown */
    uint64_t received;     /* live: packets the kernel saw (pcap_stats ps_recv) */
    uint64_t dropped;      /* live: dropped for lack of buffer space (ps_drop) */
    uint64_t ifdropped;    /* live: dropped by the interface or driver (ps_ifdrop) */
    const char *reader;    /* how the backend reads, when it says ("TPACKET_V3 ring"), or NULL */
};

/* Options of a capture source; zero means the backend's default. Files ignore most. */
struct tw_capture_opts {
    int snaplen;         /* bytes kept per packet (default 262144) */
    int buffer_mib;      /* kernel buffer in MiB (default: libpcap's, 2 MiB) */
    int timeout_ms;      /* longest a live dispatch waits for packets (default 100) */
    bool immediate;      /* deliver each packet at once instead of filling the buffer first */
    bool no_promisc;     /* leave the interface out of promiscuous mode */
    const char *filter;  /* BPF expression, NULL for none */
};

struct tw_capture_ops {
    const char *name;
    /* Opens `source` (a file name, an interface name, "any"). On failure returns a TW_E*
     * code with a message naming the source in err. */
    int (*open)(const char *source, const struct tw_capture_opts *opts, struct tw_capture **out,
                char *err, size_t errlen);
    /* Link type (LINKTYPE_* value) of the frames. */
    int (*linktype)(const struct tw_capture *c);
    /* Delivers up to max frames to fn. Returns the number delivered (> 0), 0 when none
     * arrived within the timeout (live), TW_EOF at the end of a file, or TW_EIO with the
     * reason in err. */
    int (*dispatch)(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                    size_t errlen);
    /* A descriptor to poll(2) for readability before dispatch, or -1 (files). */
    int (*selectable_fd)(struct tw_capture *c);
    void (*stats)(struct tw_capture *c, struct tw_capture_stats *st);
    void (*close)(struct tw_capture *c);
};

/* Live capture from a network interface through libpcap. */
extern const struct tw_capture_ops tw_capture_pcap_live;

/* Live capture from a Linux network interface through an AF_PACKET socket with a memory-mapped
 * ring (Linux only): TPACKET_V3, or TPACKET_V2 with opts->immediate (a slot per packet, the
 * reader woken for every packet; a slot holds the MTU + 18 bytes, or 65553 when offloads may
 * build larger packets, at most snaplen). source is "IFACE", or "IFACE@GROUP" to join fanout group
 * GROUP (0..65535) in hash mode: every worker opens the same "IFACE@GROUP" and the kernel hands
 * each flow, both directions, to exactly one of them (IPv4 fragments are reassembled first so
 * they follow their flow). Group ids are shared by every process in the network namespace: use
 * one group per interface. Ethernet and loopback interfaces only (LINKTYPE_ETHERNET).
 * opts->buffer_mib is the ring size (default 32 MiB, in 1 MiB blocks, at most 4095); a V3 block
 * is handed over when full or after opts->timeout_ms (default 100). The
 * BPF filter sees frames without offloaded VLAN tags, which are re-inserted on delivery, so
 * "vlan" primitives do not match offloaded tags. stats: received counts packets that passed
 * the filter, dropped those lost because the ring was full; ifdropped is always 0. */
extern const struct tw_capture_ops tw_capture_afpacket;

#endif /* TUNWATCH_CAPTURE_H */
