/* SPDX-License-Identifier: MIT */
/*
 * Live capture backend on Linux AF_PACKET sockets with a memory-mapped ring, and optional
 * fanout so that N workers can split one interface between them.
 *
 * Two rings, as libpcap chooses them:
 *   - buffered (default): TPACKET_V3. Frames are packed into 1 MiB blocks of any frame size;
 *     the reader is woken when a block is full or its timer expires (timeout_ms, default
 *     100). The timer counts in jiffies: 1 ms is 4 ms with HZ=250.
 *   - immediate: TPACKET_V2. Fixed-size frame slots, each handed over and signalled as it is
 *     filled, so the reader wakes for every packet. A slot holds the MTU plus an Ethernet
 *     header and a tag, or 64 KiB + 18 bytes when the interface has segmentation or receive
 *     offloads on (TSO, UFO, GSO, LRO, GRO: a super-packet, such as a ClientHello sent as two
 *     TSO segments, is captured whole), at most snaplen. Process attribution needs this: a
 *     short-lived client's socket (dig over UDP) is gone within a millisecond of its query.
 *
 * The contract (sources, fanout, options, stats) is in include/tunwatch/capture/capture.h.
 *
 * dispatch never waits: the caller polls selectable_fd (POLLIN|POLLERR) and dispatches. A V3
 * block goes back to the kernel only once all of its frames were delivered, a V2 slot as soon
 * as its frame was; the position is kept between calls, so dispatch(max) may stop anywhere.
 * The frame callback must not keep pointers into the ring after it returns.
 *
 * Open order matters: the socket is created for no protocol and gets a drop-everything filter
 * before it is bound, so nothing lands in the ring before the real filter is attached and, with
 * a fanout group, before the socket has joined it (a socket outside its group would receive a
 * copy of every packet, duplicating what the other workers see).
 *
 * Ring headers (block descriptors, struct tpacket3_hdr and tpacket2_hdr) are written by the kernel
 * at aligned offsets and are read as structs; packet bytes are only passed on, never interpreted.
 */
#include "tunwatch/capture/capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define AF_SNAPLEN_DEFAULT 262144
/* A socket's ring when --buffer-size is not given: at 720,000 packets/s of the bench mix into
 * a veth (make bench-live), one worker lost 1.3-2.4% of them in two runs of three with 32 MiB
 * (bursts while it was off the CPU), none with 64 MiB (three runs) or more. */
#define AF_BUFFER_MIB_DEFAULT 64
#define AF_BUFFER_MIB_MAX 4095 /* block size * block count must fit an unsigned int */
#define AF_BLOCK_SIZE (1u << 20)
#define AF_FRAME_SIZE 2048u
#define AF_TIMEOUT_MS_DEFAULT 100
#define AF_L2_ROOM (14 + 4)                   /* Ethernet header and one tag */
#define AF_V2_MAX_PACKET (65535 + AF_L2_ROOM) /* an IP packet of 64 KiB */
/* Where the kernel puts the MAC header in a V2 slot (TPACKET_ALIGN(hdrlen + 16) - 14 for
 * Ethernet): the slot size leaves this much room before the packet. */
#define AF_V2_MAC_ROOM TPACKET_ALIGN(TPACKET2_HDRLEN + 16)
#define AF_VLAN_TAG_LEN 4
#define AF_MAC_ADDRS_LEN 12 /* destination and source MAC: the tag goes after them */
#define AF_LINKTYPE_ETHERNET 1
#define AF_NAME_MAX (IFNAMSIZ + 8) /* "IFACE@65535" */
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000 /* Linux 6.8; older uapi headers lack it */
#endif

struct tw_capture {
    int fd;
    int version; /* TPACKET_V3 or TPACKET_V2 (immediate) */
    uint8_t *ring;
    size_t ring_len;
    unsigned block_nr;
    /* V3 reading position: the block being read and, once it is open, its next frame. */
    unsigned block;
    uint32_t frames_left;            /* frames of the open block not yet delivered */
    const struct tpacket3_hdr *next; /* NULL: the block is not open yet */
    /* V2: slots of slot_size bytes, slots_per_block to a block; the next slot to read. */
    uint32_t slot_size, slots_per_block, slot_nr, slot;
    uint32_t snaplen;
    bool skip_outgoing; /* loopback: every packet is seen leaving and arriving; keep one */
    uint8_t *bounce;    /* max(snaplen, 12) + 4 bytes, for frames with a re-inserted tag */
    uint64_t frames;
    /* PACKET_STATISTICS resets the kernel counters on every read: totals are kept here. */
    uint64_t received, dropped;
    uint64_t freezes; /* V3: times the ring was full (tp_freeze_q_cnt); no tw_capture_stats field */
    char name[AF_NAME_MAX];
};

static const struct tw_capture_opts af_default_opts;

static struct tpacket_block_desc *af_block(const struct tw_capture *c, unsigned i)
{
    return (struct tpacket_block_desc *)(void *)(c->ring + (size_t)i * AF_BLOCK_SIZE);
}

/* Splits "IFACE" or "IFACE@GROUP". Returns 0 with *group -1 when no group is given. */
static int af_parse_source(const char *source, char *ifname, int *group, char *err,
                           size_t errlen)
{
    const char *at = strchr(source, '@');
    size_t len = at != NULL ? (size_t)(at - source) : strlen(source);

    *group = -1;
    if (len == 0 || len >= IFNAMSIZ) {
        snprintf(err, errlen, "%s: not an interface name (IFACE or IFACE@GROUP)", source);
        return TW_EINVAL;
    }
    memcpy(ifname, source, len);
    ifname[len] = '\0';
    if (at != NULL) {
        const char *p = at + 1;
        long g = 0;

        if (*p == '\0')
            g = -1;
        for (; *p != '\0' && g <= 65535; p++) {
            if (*p < '0' || *p > '9') {
                g = -1;
                break;
            }
            g = g * 10 + (*p - '0');
        }
        if (g < 0 || g > 65535) {
            snprintf(err, errlen, "%s: fanout group must be a number from 0 to 65535", source);
            return TW_EINVAL;
        }
        *group = (int)g;
    }
    return 0;
}

static int af_errno_result(const struct tw_capture *c, const char *what, int e, char *err,
                           size_t errlen)
{
    if (e == EPERM || e == EACCES) {
        snprintf(err, errlen, "%s: permission denied (%s): capture needs root or CAP_NET_RAW",
                 c->name, what);
        return TW_EIO;
    }
    snprintf(err, errlen, "%s: %s: %s", c->name, what, strerror(e));
    return e == ENOMEM ? TW_ENOMEM : TW_EIO;
}

/* Compiles expr for Ethernet framing with snaplen as the accept length (the kernel cuts each
 * packet to the filter's result before it reaches the ring) and attaches it. */
static int af_set_filter(struct tw_capture *c, const char *expr, char *err, size_t errlen)
{
    struct bpf_program prog;
    struct sock_filter *insns;
    struct sock_fprog fprog;
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, (int)c->snaplen);
    int rc = 0;

    if (dead == NULL) {
        snprintf(err, errlen, "%s: out of memory", c->name);
        return TW_ENOMEM;
    }
    if (pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "%s: bad filter '%s': %s", c->name, expr, pcap_geterr(dead));
        rc = TW_EINVAL;
        goto out_close;
    }
    if (prog.bf_len > BPF_MAXINSNS) {
        snprintf(err, errlen, "%s: filter '%s' is too long for the kernel (%u instructions)",
                 c->name, expr, prog.bf_len);
        rc = TW_EINVAL;
        goto out_freecode;
    }
    insns = calloc(prog.bf_len, sizeof(*insns));
    if (insns == NULL) {
        snprintf(err, errlen, "%s: out of memory", c->name);
        rc = TW_ENOMEM;
        goto out_freecode;
    }
    for (unsigned i = 0; i < prog.bf_len; i++) {
        insns[i].code = prog.bf_insns[i].code;
        insns[i].jt = prog.bf_insns[i].jt;
        insns[i].jf = prog.bf_insns[i].jf;
        insns[i].k = prog.bf_insns[i].k;
    }
    fprog.len = (unsigned short)prog.bf_len;
    fprog.filter = insns;
    if (setsockopt(c->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0) {
        snprintf(err, errlen, "%s: cannot set filter '%s': %s", c->name, expr, strerror(errno));
        rc = TW_EIO;
    }
    free(insns);
out_freecode:
    pcap_freecode(&prog);
out_close:
    pcap_close(dead);
    return rc;
}

static int af_drop_all(struct tw_capture *c, char *err, size_t errlen)
{
    struct sock_filter ret0 = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog fprog = {.len = 1, .filter = &ret0};

    if (setsockopt(c->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0)
        return af_errno_result(c, "cannot attach filter", errno, err, errlen);
    return 0;
}

/* Returns the link type for the interface's hardware type, or a TW_E* code with a message. */
static int af_linktype(struct tw_capture *c, const char *ifname, char *err, size_t errlen)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(c->fd, SIOCGIFHWADDR, &ifr) != 0)
        return af_errno_result(c, "cannot read the hardware type", errno, err, errlen);
    switch (ifr.ifr_hwaddr.sa_family) {
    case ARPHRD_ETHER:
        return AF_LINKTYPE_ETHERNET;
    case ARPHRD_LOOPBACK: /* Linux loopback frames carry a zeroed Ethernet header */
        c->skip_outgoing = true;
        return AF_LINKTYPE_ETHERNET;
    default:
        snprintf(err, errlen,
                 "%s: hardware type %u is not supported by the afpacket backend (Ethernet and "
                 "loopback only; cooked SLL framing could be added): use the pcap backend",
                 c->name, (unsigned)ifr.ifr_hwaddr.sa_family);
        return TW_ENOTSUP;
    }
}

/* True if the interface may build packets larger than its MTU: segmentation or receive
 * offloads (TSO, UFO, GSO, LRO, GRO) are on, or cannot be read (as libpcap decides). */
static bool af_offloads(const struct tw_capture *c, struct ifreq *ifr)
{
    static const uint32_t cmds[] = {ETHTOOL_GTSO, ETHTOOL_GUFO, ETHTOOL_GGSO, ETHTOOL_GFLAGS,
                                    ETHTOOL_GGRO};

    for (size_t i = 0; i < TW_ARRAY_SIZE(cmds); i++) {
        struct ethtool_value ev = {.cmd = cmds[i]};

        ifr->ifr_data = (char *)&ev;
        if (ioctl(c->fd, SIOCETHTOOL, ifr) != 0) {
            if (errno == EOPNOTSUPP || errno == EINVAL)
                continue; /* the driver has no such offload */
            return true;
        }
        if (cmds[i] == ETHTOOL_GFLAGS ? (ev.data & ETH_FLAG_LRO) != 0 : ev.data != 0)
            return true;
    }
    return false;
}

/* The largest frame a V2 slot must hold: the MTU plus Ethernet and a tag, or a 64 KiB IP
 * packet when offloads may build one (or the MTU cannot be read). */
static uint32_t af_max_frame(const struct tw_capture *c, const char *ifname)
{
    struct ifreq ifr;
    uint32_t mtu_frame;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(c->fd, SIOCGIFMTU, &ifr) != 0 || ifr.ifr_mtu <= 0)
        return AF_V2_MAX_PACKET;
    mtu_frame = (uint32_t)ifr.ifr_mtu + AF_L2_ROOM;
    if (mtu_frame >= AF_V2_MAX_PACKET)
        return mtu_frame; /* loopback: 64 KiB already */
    return af_offloads(c, &ifr) ? AF_V2_MAX_PACKET : mtu_frame;
}

static int af_setup_ring(struct tw_capture *c, const struct tw_capture_opts *opts,
                         const char *ifname, char *err, size_t errlen)
{
    unsigned mib = opts->buffer_mib > 0 ? (unsigned)opts->buffer_mib : AF_BUFFER_MIB_DEFAULT;
    unsigned tov = opts->timeout_ms > 0 ? (unsigned)opts->timeout_ms : AF_TIMEOUT_MS_DEFAULT;
    struct tpacket_req3 req; /* a tpacket_req (V2) is its first four fields */
    size_t req_len = sizeof(req);
    void *ring;

    c->version = opts->immediate ? TPACKET_V2 : TPACKET_V3;
    if (setsockopt(c->fd, SOL_PACKET, PACKET_VERSION, &c->version, sizeof(c->version)) != 0)
        return af_errno_result(
            c, c->version == TPACKET_V2 ? "cannot select TPACKET_V2" : "cannot select TPACKET_V3",
            errno, err, errlen);

    c->block_nr = TW_MAX(1u, (unsigned)((uint64_t)mib * (1u << 20) / AF_BLOCK_SIZE));
    memset(&req, 0, sizeof(req));
    req.tp_block_size = AF_BLOCK_SIZE;
    req.tp_block_nr = c->block_nr;
    if (c->version == TPACKET_V2) {
        uint32_t room = TW_MIN(c->snaplen, af_max_frame(c, ifname));

        c->slot_size = TPACKET_ALIGN(AF_V2_MAC_ROOM + room);
        c->slots_per_block = AF_BLOCK_SIZE / c->slot_size;
        c->slot_nr = c->block_nr * c->slots_per_block;
        req.tp_frame_size = c->slot_size;
        req.tp_frame_nr = c->slot_nr;
        req_len = sizeof(struct tpacket_req);
    } else {
        req.tp_frame_size = AF_FRAME_SIZE;
        req.tp_frame_nr = c->block_nr * (AF_BLOCK_SIZE / AF_FRAME_SIZE);
        req.tp_retire_blk_tov = tov;
        req.tp_feature_req_word = TP_FT_REQ_FILL_RXHASH;
    }
    if (setsockopt(c->fd, SOL_PACKET, PACKET_RX_RING, &req, (socklen_t)req_len) != 0) {
        int e = errno;

        if (e == ENOMEM) {
            snprintf(err, errlen, "%s: cannot allocate a ring of %u MiB: use a smaller buffer",
                     c->name, mib);
            return TW_ENOMEM;
        }
        return af_errno_result(c, "cannot set up the receive ring", e, err, errlen);
    }
    c->ring_len = (size_t)c->block_nr * AF_BLOCK_SIZE;
    ring = mmap(NULL, c->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    if (ring == MAP_FAILED) {
        c->ring_len = 0;
        return af_errno_result(c, "cannot map the receive ring", errno, err, errlen);
    }
    c->ring = ring;
    return 0;
}

/* Joins fanout group `group` in hash mode. Returns 0 or an errno value. */
static int af_join_fanout(const struct tw_capture *c, int group)
{
    uint32_t arg =
        (uint32_t)group | (uint32_t)(PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16;

    /* On loopback the group must not see the outgoing copy at all: leaving and arriving
     * fragments of one datagram would meet in one reassembly queue, and only the copy that
     * dispatch skips would come out whole. Kernels before 6.8 refuse the flag (EINVAL). */
    if (c->skip_outgoing) {
        uint32_t lo_arg = arg | (uint32_t)PACKET_FANOUT_FLAG_IGNORE_OUTGOING << 16;

        if (setsockopt(c->fd, SOL_PACKET, PACKET_FANOUT, &lo_arg, sizeof(lo_arg)) == 0)
            return 0;
        if (errno != EINVAL)
            return errno;
    }
    return setsockopt(c->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) == 0 ? 0 : errno;
}

static void af_close(struct tw_capture *c)
{
    if (c == NULL)
        return;
    if (c->ring != NULL)
        munmap(c->ring, c->ring_len);
    if (c->fd >= 0)
        close(c->fd);
    free(c->bounce);
    free(c);
}

static int af_open(const char *source, const struct tw_capture_opts *opts,
                   struct tw_capture **out, char *err, size_t errlen)
{
    char ifname[IFNAMSIZ];
    struct sockaddr_ll sll;
    struct tw_capture *c;
    unsigned ifindex;
    int group, rc;

    if (errlen > 0)
        err[0] = '\0';
    if (opts == NULL)
        opts = &af_default_opts;
    rc = af_parse_source(source, ifname, &group, err, errlen);
    if (rc < 0)
        return rc;
    if (opts->buffer_mib > AF_BUFFER_MIB_MAX) {
        snprintf(err, errlen, "%s: buffer of %d MiB is too large (at most %d)", source,
                 opts->buffer_mib, AF_BUFFER_MIB_MAX);
        return TW_EINVAL;
    }
    ifindex = if_nametoindex(ifname);
    if (ifindex == 0) {
        snprintf(err, errlen, "%s: no such interface", ifname);
        return TW_EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", source);
        return TW_ENOMEM;
    }
    snprintf(c->name, sizeof(c->name), "%s", source);
    /* The ring holds at most a block per packet; a larger snaplen could never be filled. */
    c->snaplen = opts->snaplen > 0 ? (uint32_t)opts->snaplen : AF_SNAPLEN_DEFAULT;
    c->snaplen = TW_MIN(c->snaplen, AF_BLOCK_SIZE);
    c->bounce = malloc(TW_MAX(c->snaplen, AF_MAC_ADDRS_LEN) + AF_VLAN_TAG_LEN);
    if (c->bounce == NULL) {
        free(c);
        snprintf(err, errlen, "%s: out of memory", source);
        return TW_ENOMEM;
    }

    /* Protocol 0: the socket receives nothing until bind() names ETH_P_ALL below. */
    c->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        rc = af_errno_result(c, "cannot open an AF_PACKET socket", errno, err, errlen);
        goto out_close;
    }
    rc = af_linktype(c, ifname, err, errlen);
    if (rc < 0)
        goto out_close;
    rc = af_drop_all(c, err, errlen);
    if (rc < 0)
        goto out_close;
    rc = af_setup_ring(c, opts, ifname, err, errlen);
    if (rc < 0)
        goto out_close;
    if (c->skip_outgoing) {
        int one = 1;

        /* Outside a fanout group this drops the outgoing copy in the kernel (Linux >= 4.20);
         * dispatch skips it anyway. */
        (void)setsockopt(c->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    }

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(c->fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
        int e = errno;

        if (e == ENODEV) { /* removed since if_nametoindex() */
            snprintf(err, errlen, "%s: no such interface", ifname);
            rc = TW_EINVAL;
        } else {
            rc = af_errno_result(c, "cannot bind to the interface", e, err, errlen);
        }
        goto out_close;
    }
    if (!opts->no_promisc) {
        struct packet_mreq mr;

        memset(&mr, 0, sizeof(mr));
        mr.mr_ifindex = (int)ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(c->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
            rc = af_errno_result(c, "cannot enable promiscuous mode", errno, err, errlen);
            goto out_close;
        }
    }
    if (group >= 0) {
        int e = af_join_fanout(c, group);

        if (e != 0) {
            if (e == EINVAL || e == EALREADY) {
                snprintf(err, errlen,
                         "%s: cannot join fanout group %d: %s (is the group in use on another "
                         "interface or in another mode?)",
                         source, group, strerror(e));
                rc = TW_EIO;
            } else {
                rc = af_errno_result(c, "cannot join the fanout group", e, err, errlen);
            }
            goto out_close;
        }
    }
    /* Replaces the drop-everything filter: capture starts here. */
    if (opts->filter != NULL || opts->snaplen > 0) {
        rc = af_set_filter(c, opts->filter != NULL ? opts->filter : "", err, errlen);
    } else {
        int unused = 0; /* the kernel wants an int-sized option value even here */

        if (setsockopt(c->fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) != 0)
            rc = af_errno_result(c, "cannot detach the start-up filter", errno, err, errlen);
    }
    if (rc < 0)
        goto out_close;
    *out = c;
    return 0;

out_close:
    af_close(c);
    return rc;
}

static int af_get_linktype(const struct tw_capture *c)
{
    (void)c;
    return AF_LINKTYPE_ETHERNET;
}

static void af_release_block(struct tw_capture *c)
{
    __atomic_store_n(&af_block(c, c->block)->hdr.bh1.block_status, TP_STATUS_KERNEL,
                     __ATOMIC_RELEASE);
    c->block = c->block + 1 < c->block_nr ? c->block + 1 : 0;
    c->next = NULL;
    c->frames_left = 0;
}

/* Opens the current block if the kernel has handed it over. */
static bool af_open_block(struct tw_capture *c)
{
    struct tpacket_block_desc *b = af_block(c, c->block);

    if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
        return false;
    c->frames_left = b->hdr.bh1.num_pkts;
    c->next = (const struct tpacket3_hdr *)(const void *)((const uint8_t *)b +
                                                          b->hdr.bh1.offset_to_first_pkt);
    return true;
}

/* True if the frame header and its packet bytes lie inside the current block. */
static bool af_frame_in_block(const struct tw_capture *c, const struct tpacket3_hdr *h)
{
    size_t off = (size_t)((const uint8_t *)h - (const uint8_t *)af_block(c, c->block));

    return off <= AF_BLOCK_SIZE - sizeof(*h) && h->tp_mac <= AF_BLOCK_SIZE - off &&
           h->tp_snaplen <= AF_BLOCK_SIZE - off - h->tp_mac;
}

/* Nothing to read: reports a pending socket error (the interface went away) as TW_EIO.
 * ENETDOWN (interface down) is cleared and not fatal: capture resumes when it comes up. */
static int af_check_error(struct tw_capture *c, char *err, size_t errlen)
{
    int e = 0;
    socklen_t len = sizeof(e);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0 || e == 0 || e == ENETDOWN)
        return 0;
    if (e == ENODEV || e == ENXIO)
        snprintf(err, errlen, "%s: the interface went away", c->name);
    else
        snprintf(err, errlen, "%s: %s", c->name, strerror(e));
    return TW_EIO;
}

/* What both ring versions say about a frame. */
struct af_meta {
    uint32_t status, len, snaplen, sec, nsec;
    uint16_t vlan_tci, vlan_tpid;
    const uint8_t *data;
};

static void af_deliver(struct tw_capture *c, const struct af_meta *h, tw_frame_fn fn, void *ctx)
{
    const uint8_t *data = h->data;
    struct tw_frame f = {
        .ts_sec = h->sec,
        .ts_nsec = h->nsec,
        .caplen = TW_MIN(h->snaplen, c->snaplen),
        .wirelen = h->len,
        .data = data,
    };

    if ((h->status & TP_STATUS_VLAN_VALID) && h->snaplen >= AF_MAC_ADDRS_LEN) {
        /* The NIC stripped an 802.1Q/802.1ad tag: put it back after the MAC addresses. */
        uint16_t tpid = (h->status & TP_STATUS_VLAN_TPID_VALID) ? h->vlan_tpid : ETH_P_8021Q;
        uint16_t tci = h->vlan_tci;
        uint8_t *b = c->bounce;
        uint32_t cap = TW_MIN(h->snaplen + AF_VLAN_TAG_LEN, c->snaplen);

        memcpy(b, data, AF_MAC_ADDRS_LEN);
        b[12] = (uint8_t)(tpid >> 8);
        b[13] = (uint8_t)tpid;
        b[14] = (uint8_t)(tci >> 8);
        b[15] = (uint8_t)tci;
        if (cap > AF_MAC_ADDRS_LEN + AF_VLAN_TAG_LEN)
            memcpy(b + AF_MAC_ADDRS_LEN + AF_VLAN_TAG_LEN, data + AF_MAC_ADDRS_LEN,
                   cap - AF_MAC_ADDRS_LEN - AF_VLAN_TAG_LEN);
        f.data = b;
        f.caplen = cap;
        f.wirelen = h->len + AF_VLAN_TAG_LEN;
    }
    if (f.wirelen < f.caplen)
        f.wirelen = f.caplen;
    c->frames++;
    fn(ctx, &f);
}

/* The loopback's outgoing copy of a packet, which dispatch skips. */
static bool af_skip(const struct tw_capture *c, const void *sll_at)
{
    const struct sockaddr_ll *sll = sll_at;

    return c->skip_outgoing && sll->sll_pkttype == PACKET_OUTGOING;
}

static int af_dispatch_v3(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                          size_t errlen)
{
    unsigned done = 0;

    while (done < max) {
        const struct tpacket3_hdr *h;

        if (c->next == NULL && !af_open_block(c))
            break;
        if (c->frames_left == 0) {
            af_release_block(c);
            continue;
        }
        h = c->next;
        if (!af_frame_in_block(c, h)) {
            af_release_block(c);
            snprintf(err, errlen, "%s: inconsistent frame in the receive ring", c->name);
            return TW_EIO;
        }
        c->frames_left--;
        c->next = (const struct tpacket3_hdr *)(const void *)((const uint8_t *)h +
                                                              h->tp_next_offset);
        if (!af_skip(c, (const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)))) {
            struct af_meta m = {
                .status = h->tp_status,
                .len = h->tp_len,
                .snaplen = h->tp_snaplen,
                .sec = h->tp_sec,
                .nsec = h->tp_nsec,
                .vlan_tci = (uint16_t)h->hv1.tp_vlan_tci,
                .vlan_tpid = h->hv1.tp_vlan_tpid,
                .data = (const uint8_t *)h + h->tp_mac,
            };

            af_deliver(c, &m, fn, ctx);
            done++;
        }
        if (c->frames_left == 0)
            af_release_block(c);
    }
    return (int)TW_MIN(done, (unsigned)INT_MAX);
}

static struct tpacket2_hdr *af_slot(const struct tw_capture *c, uint32_t i)
{
    return (struct tpacket2_hdr *)(void *)(c->ring +
                                           (size_t)(i / c->slots_per_block) * AF_BLOCK_SIZE +
                                           (size_t)(i % c->slots_per_block) * c->slot_size);
}

/* V2: one slot per frame, each handed back to the kernel as soon as its frame was delivered. */
static int af_dispatch_v2(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                          size_t errlen)
{
    unsigned done = 0;

    while (done < max) {
        struct tpacket2_hdr *h = af_slot(c, c->slot);
        uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        bool whole;

        if (!(status & TP_STATUS_USER))
            break;
        whole = h->tp_mac <= c->slot_size && h->tp_snaplen <= c->slot_size - h->tp_mac;
        if (whole && !af_skip(c, (const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)))) {
            struct af_meta m = {
                .status = status,
                .len = h->tp_len,
                .snaplen = h->tp_snaplen,
                .sec = h->tp_sec,
                .nsec = h->tp_nsec,
                .vlan_tci = h->tp_vlan_tci,
                .vlan_tpid = h->tp_vlan_tpid,
                .data = (const uint8_t *)h + h->tp_mac,
            };

            af_deliver(c, &m, fn, ctx);
            done++;
        }
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        c->slot = c->slot + 1 < c->slot_nr ? c->slot + 1 : 0;
        if (!whole) {
            snprintf(err, errlen, "%s: inconsistent frame in the receive ring", c->name);
            return TW_EIO;
        }
    }
    return (int)TW_MIN(done, (unsigned)INT_MAX);
}

static int af_dispatch(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    int n = c->version == TPACKET_V2 ? af_dispatch_v2(c, max, fn, ctx, err, errlen)
                                     : af_dispatch_v3(c, max, fn, ctx, err, errlen);

    return n == 0 ? af_check_error(c, err, errlen) : n;
}

static int af_selectable_fd(struct tw_capture *c)
{
    return c->fd;
}

static void af_stats(struct tw_capture *c, struct tw_capture_stats *st)
{
    struct tpacket_stats_v3 ks = {0}; /* V2 fills only the first two fields */
    socklen_t len = sizeof(ks);

    if (getsockopt(c->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0) {
        /* tp_packets already includes tp_drops, like libpcap's ps_recv. */
        c->received += ks.tp_packets;
        c->dropped += ks.tp_drops;
        c->freezes += ks.tp_freeze_q_cnt;
    }
    memset(st, 0, sizeof(*st));
    st->reader = c->version == TPACKET_V2 ? "TPACKET_V2 ring, a wake-up per packet"
                                          : "TPACKET_V3 ring";
    st->frames = c->frames;
    st->received = c->received;
    st->dropped = c->dropped;
}

const struct tw_capture_ops tw_capture_afpacket = {
    .name = "afpacket",
    .open = af_open,
    .linktype = af_get_linktype,
    .dispatch = af_dispatch,
    .selectable_fd = af_selectable_fd,
    .stats = af_stats,
    .close = af_close,
};
