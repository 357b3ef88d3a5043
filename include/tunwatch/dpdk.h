/* SPDX-License-Identifier: MIT */
/*
 * DPDK capture: one port of a DPDK poll-mode driver as a capture source, built with
 * `make DPDK=1` (libdpdk through pkg-config). A default build links a stand-in whose open and
 * EAL initialisation fail with TW_ENOTSUP, so the rest of the program needs no #ifdef.
 *
 * Use:  tunwatch --dpdk 'EAL ARGS' -i dpdk:PORT [-i dpdk:PORT ...]
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

#include "tunwatch/capture.h"

/* Interface names with this prefix are DPDK ports: "dpdk:0". */
#define TW_DPDK_PREFIX "dpdk:"
/* At most this many EAL arguments, and bytes in their string, in tw_dpdk_eal_init_str. */
#define TW_DPDK_MAX_ARGS 64
#define TW_DPDK_MAX_ARGS_LEN 4096

/*
 * Capture from a DPDK port. source is "PORT" or "dpdk:PORT", a port id (empty: 0) in the
 * order the EAL probed the devices (PCI devices, then --vdev ones). One RX queue, with RSS on
 * IP/TCP/UDP under a symmetric Toeplitz key where the port supports it; promiscuous unless
 * opts->no_promisc (ports that cannot are used as they are). opts->buffer_mib sizes the mbuf
 * pool (about 450 mbufs a MiB; default 8191 mbufs); opts->snaplen bounds the bytes delivered
 * per frame (default 262144); filter, immediate and timeout_ms are not used (a BPF filter is
 * refused with TW_ENOTSUP). Frames are Ethernet (LINKTYPE_ETHERNET).
 *
 * dispatch never waits (selectable_fd is -1: poll the port by calling dispatch). Most PMDs
 * give no wall-clock receive time, so every frame of a burst of up to 32 carries the
 * CLOCK_REALTIME of the moment the burst was taken from the port. stats: received is the
 * port's ipackets, dropped its imissed + rx_nombuf (ring full, pool empty) plus chained
 * mbufs that could not be read, ifdropped its ierrors; counters start at open. A port is
 * closed (released) by close and cannot be opened again in the process.
 */
extern const struct tw_capture_ops tw_capture_dpdk;

/* Lines for --help describing --dpdk, or "" in a build without DPDK. */
extern const char tw_dpdk_usage[];

/* True if name designates a DPDK port (starts with TW_DPDK_PREFIX). */
bool tw_dpdk_is_source(const char *name);

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
