/* SPDX-License-Identifier: MIT */
/*
 * DPDK capture: one port of a DPDK poll-mode driver as a capture source, built with
 * `make DPDK=1` (libdpdk through pkg-config). A default build links a stand-in whose open and
 * EAL initialisation fail with TW_ENOTSUP, so the rest of the program needs no #ifdef.
 *
 * Use:  tunwatch --dpdk 'EAL ARGS' -i dpdk:PORT [-i dpdk:PORT ...]
 *       (a source per RX queue: dpdk:PORT/QUEUE/NQUEUES, one reader thread each)
 *
 * The DPDK environment (EAL) is initialised once per process, before the first port opens,
 * from the whitespace-separated arguments of --dpdk (tw_dpdk_eal_init_str). A port opened
 * with the EAL not yet initialised initialises it with DPDK's defaults (hugepages, every
 * PCI device bound to a DPDK driver). Example without hugepages or NICs, replaying a file:
 *
 *     tunwatch --dpdk '--no-pci --no-huge -m 256 --no-shconf --vdev=net_pcap0,rx_pcap=F' \
 *              -i dpdk:0
 *
 * This header declares no DPDK type: the core never includes DPDK headers.
 */
#ifndef TUNWATCH_DPDK_H
#define TUNWATCH_DPDK_H

#include "tunwatch/capture/capture.h"

/* Interface names with this prefix are DPDK ports: "dpdk:0". */
#define TW_DPDK_PREFIX "dpdk:"
/* At most this many EAL arguments, and bytes in their string, in tw_dpdk_eal_init_str. */
#define TW_DPDK_MAX_ARGS 64
#define TW_DPDK_MAX_ARGS_LEN 4096

/* At most this many RX queues a port, in "dpdk:PORT/QUEUE/NQUEUES". */
#define TW_DPDK_MAX_QUEUES 64

/*
 * Capture from one RX queue of a DPDK port. source is "PORT" or "dpdk:PORT" (queue 0 of 1), or
 * "dpdk:PORT/QUEUE/NQUEUES" (0 <= QUEUE < NQUEUES <= TW_DPDK_MAX_QUEUES); PORT is a port id
 * (empty: 0) in the order the EAL probed the devices (PCI devices, then --vdev ones).
 *
 * The first open of a port configures it with NQUEUES RX queues, each with its own mbuf pool,
 * RSS on IPv4/IPv6 with TCP/UDP ports (addresses alone otherwise) under a symmetric Toeplitz
 * key (0x6d5a repeated) so that both directions of a flow reach the same queue, limited to the
 * hash types the port supports (a port without RSS, such as net_pcap, puts frames on the queues
 * its own way); it sets up every queue and starts the port, promiscuous unless
 * opts->no_promisc (ports that cannot are used as they are). Later opens of the port must give
 * the same NQUEUES and a queue not yet open (else TW_EINVAL); they attach to the running port.
 * Open every queue of the port: frames RSS puts on a queue nobody reads are lost (imissed).
 * opts->buffer_mib sizes the port's pools together (about 450 mbufs a MiB; default 8191 mbufs;
 * each queue's pool holds at least two rings' worth); opts->snaplen bounds the bytes delivered
 * per frame (default 262144); filter, immediate and timeout_ms are not used (a BPF filter is
 * refused with TW_ENOTSUP). Frames are Ethernet (LINKTYPE_ETHERNET).
 *
 * Threads: open and close are not thread-safe: call them from one thread, open before the
 * readers start and close after they stopped (the last close stops and closes the port, and a
 * closed port cannot be opened again in the process). dispatch and stats may run on a
 * different thread per queue: each queue must have exactly one reader.
 *
 * dispatch reads only this capture's queue and never waits (selectable_fd is -1: poll the
 * queue by calling dispatch). Most PMDs give no wall-clock receive time, so every frame of a
 * burst of up to 32 carries the CLOCK_REALTIME of the moment the burst was taken from the
 * queue. stats: received is the queue's packet counter (the port's ipackets with one queue;
 * with several, q_ipackets[QUEUE], or the frames the queue delivered where the PMD keeps no
 * per-queue counter or QUEUE >= RTE_ETHDEV_QUEUE_STAT_CNTRS); dropped counts chained mbufs that
 * could not be read, plus, on queue 0 only, the port's imissed + rx_nombuf (ring full, pool
 * empty); ifdropped is the port's ierrors on queue 0, 0 on the others. The port-wide counters
 * are reported by one queue so that the sum over a port's queues counts them once. Counters
 * start when the port starts.
 */
extern const struct tw_capture_ops tw_capture_dpdk;

/* Lines for --help describing --dpdk, or "" in a build without DPDK. */
extern const char tw_dpdk_usage[];

/* True if name designates a DPDK port or queue (starts with TW_DPDK_PREFIX). */
bool tw_dpdk_is_source(const char *name);

/*
 * Writes to out the source for RX queue queue of nqueues of the port source names: "dpdk:0"
 * becomes "dpdk:0/QUEUE/NQUEUES" (every reader of a port opens its own queue). Returns 0, or
 * TW_EINVAL if source is not a DPDK source, already names a queue, or queue >= nqueues or
 * nqueues > TW_DPDK_MAX_QUEUES, or TW_ENOMEM if out (outlen bytes) is too small. The port id
 * itself is checked by open.
 */
int tw_dpdk_queue_source(const char *source, unsigned queue, unsigned nqueues, char *out,
                         size_t outlen);

/*
 * Splits s in place at spaces, tabs and newlines into at most max words stored in argv (no
 * quoting, no escapes; empty words are not produced). Returns the number of words, or
 * TW_ENOMEM if there are more than max (argv then holds the first max).
 */
int tw_dpdk_split_args(char *s, char **argv, int max);

/*
 * Initialises the DPDK EAL with argv[0..argc-1] (argv[0] is the program name, the rest EAL
 * options only). Once per process: a second call returns TW_EINVAL. The calling thread keeps
 * the CPU affinity it had (the EAL would pin it to its main lcore, and threads it creates
 * later, such as packet workers, would inherit that). The EAL is cleaned up at exit.
 * argv must stay valid for the life of the process. Returns 0, TW_EINVAL (bad arguments,
 * already initialised), TW_EIO (the EAL failed) or TW_ENOTSUP (built without DPDK), with a
 * message in err.
 */
int tw_dpdk_eal_init(int argc, char **argv, char *err, size_t errlen);

/*
 * tw_dpdk_eal_init with the whitespace-separated arguments in args (the value of --dpdk),
 * after a program name. args is copied; at most TW_DPDK_MAX_ARGS words and
 * TW_DPDK_MAX_ARGS_LEN - 1 bytes. Same returns.
 */
int tw_dpdk_eal_init_str(const char *args, char *err, size_t errlen);

#endif /* TUNWATCH_DPDK_H */
