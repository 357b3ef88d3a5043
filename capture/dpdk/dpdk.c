/* SPDX-License-Identifier: MIT */
/*
 * DPDK capture backend: one RX queue of one ethdev port per capture, polled by dispatch.
 *
 * A port is configured and started by the first open of one of its queues, with every RX queue
 * its sources name (NQUEUES in "dpdk:PORT/QUEUE/NQUEUES", 1 for "dpdk:PORT") set up, and is
 * stopped and closed by the close of its last open queue. Ports are kept in a static table
 * indexed by port id. That table is not locked: open and close are called from one thread (the
 * sensor opens every source on its main thread before the workers start, and closes them after
 * the workers have been joined). dispatch and stats touch only their own capture and queue, so
 * each queue may be read by its own thread.
 *
 * Frames are delivered zero-copy from the mbuf when they fit in one segment; a chained mbuf
 * (scattered RX of a large frame) is copied into a per-capture bounce buffer of snaplen bytes
 * first. Every mbuf of a burst goes back to the pool once the callbacks of the burst are done.
 *
 * Time stamps: DPDK mbufs carry no wall-clock receive time on most PMDs (the RX timestamp
 * offload, where it exists, counts in NIC clock ticks), so every frame of a burst is stamped
 * with CLOCK_REALTIME read when the burst was taken: resolution is the burst, not the frame.
 */
#include "tunwatch/capture/dpdk.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define DP_BURST 32
#define DP_SNAPLEN_DEFAULT 262144
#define DP_MBUFS_DEFAULT 8191
#define DP_MBUFS_MIN 2047
#define DP_MBUFS_MAX ((1u << 24) - 1)
#define DP_MBUF_CACHE 256
#define DP_RX_DESC 1024
#define DP_TX_DESC 64
#define DP_LINKTYPE_ETHERNET 1
/* Symmetric Toeplitz key: 0x6d5a repeated hashes (a, b) and (b, a) alike. This many bytes
 * where the port does not say which size it needs. */
#define DP_RSS_KEY_LEN 40

const char tw_dpdk_usage[] =
    "      --dpdk 'EAL ARGS'    DPDK EAL arguments (whitespace-separated), for sources\n"
    "                           -i dpdk:PORT (a DPDK port id) or dpdk:PORT/QUEUE/NQUEUES\n"
    "                           (RX queue QUEUE of NQUEUES, flows spread by symmetric RSS)\n";

struct tw_capture {
    uint16_t port;
    uint16_t queue;
    uint16_t nqueues;
    uint32_t snaplen;
    uint8_t *bounce;     /* snaplen bytes: chained mbufs are copied here */
    uint64_t frames;     /* delivered since open */
    uint64_t truncated;  /* frames longer than snaplen, delivered cut */
    uint64_t unreadable; /* chained mbufs whose segments did not add up (not delivered) */
};

/* A port this process configured. Unlocked: see the top of the file. */
struct dp_port {
    unsigned nqueues;    /* RX queues it was configured with; 0: not configured */
    unsigned n_open;     /* queues with an open capture */
    uint64_t queue_open; /* bit q: queue q has an open capture */
    bool closed;         /* stopped and closed: cannot be opened again */
    struct rte_mempool *pools[TW_DPDK_MAX_QUEUES]; /* one per RX queue */
};

static struct dp_port dp_ports[RTE_MAX_ETHPORTS];
static bool dp_eal_ready;

static void dp_eal_cleanup(void)
{
    rte_eal_cleanup();
}

int tw_dpdk_eal_init(int argc, char **argv, char *err, size_t errlen)
{
    cpu_set_t cpus;
    bool have_cpus;
    int rc;

    if (dp_eal_ready) {
        snprintf(err, errlen, "DPDK EAL is already initialised (once per process)");
        return TW_EINVAL;
    }
    if (argc < 1) {
        snprintf(err, errlen, "DPDK EAL: no program name");
        return TW_EINVAL;
    }
    have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0;
    rc = rte_eal_init(argc, argv);
    if (rc < 0) {
        snprintf(err, errlen, "DPDK EAL initialisation failed: %s (the EAL said why above)",
                 rte_strerror(rte_errno));
        return TW_EIO;
    }
    dp_eal_ready = true;
    atexit(dp_eal_cleanup);
    if (rc < argc - 1) {
        snprintf(err, errlen, "--dpdk: '%s' is not an EAL option", argv[rc + 1]);
        return TW_EINVAL;
    }
    /* Packet workers created later inherit this thread's CPU set: give back the whole set. */
    if (have_cpus)
        pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
    return 0;
}

/* Decimal digits at *s, at least one, value at most max; *s moves past them. */
static bool dp_parse_uint(const char **s, unsigned long max, unsigned long *out)
{
    const char *p = *s;
    unsigned long v = 0;

    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > max)
            return false;
    }
    *s = p;
    *out = v;
    return true;
}

/* "[dpdk:]PORT" (empty: port 0), queue 0 of 1, or "[dpdk:]PORT/QUEUE/NQUEUES". */
static bool dp_parse_source(const char *source, uint16_t *port, uint16_t *queue, uint16_t *nqueues)
{
    const char *s = source;
    unsigned long p = 0, q = 0, n = 1;

    if (tw_dpdk_is_source(s))
        s += strlen(TW_DPDK_PREFIX);
    if (*s != '\0') {
        if (!dp_parse_uint(&s, RTE_MAX_ETHPORTS - 1, &p))
            return false;
        if (*s == '/') {
            s++;
            if (!dp_parse_uint(&s, TW_DPDK_MAX_QUEUES - 1, &q) || *s != '/')
                return false;
            s++;
            if (!dp_parse_uint(&s, TW_DPDK_MAX_QUEUES, &n) || q >= n)
                return false;
        }
        if (*s != '\0')
            return false;
    }
    *port = (uint16_t)p;
    *queue = (uint16_t)q;
    *nqueues = (uint16_t)n;
    return true;
}

/* Mbufs in each of nqueues pools for opts->buffer_mib (0: the default), which sizes them all
 * together; every pool holds at least two rings' worth and the per-lcore cache. */
static unsigned dp_pool_size(int buffer_mib, unsigned nqueues, uint16_t nb_rxd)
{
    uint64_t n = DP_MBUFS_DEFAULT;

    if (buffer_mib > 0) {
        n = (uint64_t)buffer_mib * 1024 * 1024 /
            (sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE);
        n = TW_MAX(TW_MIN(n, DP_MBUFS_MAX), DP_MBUFS_MIN);
    }
    return (unsigned)TW_MAX(n / nqueues, 2u * nb_rxd + DP_MBUF_CACHE);
}

/* RSS over the IPv4/IPv6 addresses alone, under a symmetric key so that both directions of a
 * flow land on one queue. Not the ports: a NIC hashes a fragment by its addresses (only the first
 * fragment has ports), so with ports in the hash the fragments of a datagram and the rest of its
 * flow would reach different workers and the reassembled datagram would find no flow (Suricata's
 * DPDK default is the same, for the same reason). The cost is a coarser spread: one host pair is
 * one queue. With one queue the hash still lands in the mbuf. Only the hash types the port
 * supports are asked for; none (net_pcap): no RSS, every queue gets what the driver puts there.
 * key holds UINT8_MAX bytes. */
static void dp_rss_conf(const struct rte_eth_dev_info *info, struct rte_eth_conf *conf,
                        uint8_t *key)
{
    uint64_t hf = RTE_ETH_RSS_IP & info->flow_type_rss_offloads;
    unsigned len = info->hash_key_size > 0 ? info->hash_key_size : DP_RSS_KEY_LEN;

    if (hf == 0)
        return;
    for (unsigned i = 0; i < len; i++)
        key[i] = i % 2 == 0 ? 0x6d : 0x5a;
    conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf->rx_adv_conf.rss_conf.rss_hf = hf;
    conf->rx_adv_conf.rss_conf.rss_key = key;
    conf->rx_adv_conf.rss_conf.rss_key_len = (uint8_t)len;
}

/* Frees the pools of a port that was closed or never started. */
static void dp_port_free_pools(struct dp_port *dp)
{
    for (unsigned q = 0; q < TW_DPDK_MAX_QUEUES; q++) {
        rte_mempool_free(dp->pools[q]);
        dp->pools[q] = NULL;
    }
}

/* Configures port with nqueues RX queues (each with its own pool) and one TX queue, and starts
 * it. On failure the port is closed (if it had been configured) and marked so. */
static int dp_port_start(const char *source, uint16_t port, unsigned nqueues,
                         const struct tw_capture_opts *opts, char *err, size_t errlen)
{
    struct dp_port *dp = &dp_ports[port];
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    uint8_t key[UINT8_MAX];
    char pool_name[RTE_MEMPOOL_NAMESIZE];
    uint16_t nb_rxd = DP_RX_DESC, nb_txd = DP_TX_DESC;
    unsigned n_mbufs;
    int socket, rc;

    rc = rte_eth_dev_info_get(port, &info);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot query the port: %s", source, rte_strerror(-rc));
        return TW_EIO;
    }
    if (nqueues > info.max_rx_queues) {
        snprintf(err, errlen, "%s: port %u has at most %u RX queues, not %u", source, port,
                 info.max_rx_queues, nqueues);
        return TW_EINVAL;
    }
    memset(&conf, 0, sizeof(conf));
    dp_rss_conf(&info, &conf, key);
    /* Frames larger than an mbuf arrive chained rather than dropped, where the port can. */
    conf.rxmode.offloads = info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER;
    /* One TX queue too: some PMDs refuse to start without one. */
    rc = rte_eth_dev_configure(port, (uint16_t)nqueues, 1, &conf);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot configure the port with %u RX queues: %s", source,
                 nqueues, rte_strerror(-rc));
        return TW_EIO;
    }
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot size the rings: %s", source, rte_strerror(-rc));
        rc = TW_EIO;
        goto out_close;
    }
    socket = rte_eth_dev_socket_id(port);
    if (socket < 0)
        socket = (int)rte_socket_id();
    n_mbufs = dp_pool_size(opts->buffer_mib, nqueues, nb_rxd);
    for (unsigned q = 0; q < nqueues; q++) {
        snprintf(pool_name, sizeof(pool_name), "tw_rx_%u_%u", port, q);
        dp->pools[q] = rte_pktmbuf_pool_create(pool_name, n_mbufs, DP_MBUF_CACHE, 0,
                                               RTE_MBUF_DEFAULT_BUF_SIZE, socket);
        if (dp->pools[q] == NULL) {
            snprintf(err, errlen,
                     "%s: cannot create a pool of %u mbufs for RX queue %u: %s (give the EAL "
                     "more memory, -m MB, or a smaller --buffer-size)",
                     source, n_mbufs, q, rte_strerror(rte_errno));
            rc = TW_ENOMEM;
            goto out_close;
        }
        rc =
            rte_eth_rx_queue_setup(port, (uint16_t)q, nb_rxd, (unsigned)socket, NULL, dp->pools[q]);
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot set up RX queue %u: %s", source, q,
                     rte_strerror(-rc));
            rc = TW_EIO;
            goto out_close;
        }
    }
    rc = rte_eth_tx_queue_setup(port, 0, nb_txd, (unsigned)socket, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot set up the TX queue: %s", source, rte_strerror(-rc));
        rc = TW_EIO;
        goto out_close;
    }
    rc = rte_eth_dev_start(port);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot start the port: %s", source, rte_strerror(-rc));
        rc = TW_EIO;
        goto out_close;
    }
    /* PMDs without a promiscuous mode (net_pcap files, some virtual ports) capture as is. */
    if (!opts->no_promisc)
        rte_eth_promiscuous_enable(port);
    /* Counters from now on, not since the port was probed. */
    rte_eth_stats_reset(port);
    dp->nqueues = nqueues;
    return 0;

out_close:
    rte_eth_dev_close(port);
    dp_port_free_pools(dp);
    dp->closed = true;
    return rc;
}

static int dp_open(const char *source, const struct tw_capture_opts *opts, struct tw_capture **out,
                   char *err, size_t errlen)
{
    static const struct tw_capture_opts defaults;
    struct tw_capture *c;
    struct dp_port *dp;
    uint16_t port, queue, nqueues;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (!dp_parse_source(source, &port, &queue, &nqueues)) {
        snprintf(err, errlen,
                 "%s: not a DPDK source (dpdk:PORT or dpdk:PORT/QUEUE/NQUEUES; PORT 0..%d, "
                 "0 <= QUEUE < NQUEUES <= %d)",
                 source, RTE_MAX_ETHPORTS - 1, TW_DPDK_MAX_QUEUES);
        return TW_EINVAL;
    }
    if (opts->filter != NULL) {
        snprintf(err, errlen, "%s: BPF filters are not supported on DPDK ports", source);
        return TW_ENOTSUP;
    }
    dp = &dp_ports[port];
    if (dp->closed) {
        snprintf(err, errlen, "%s: DPDK port %u was closed and cannot be opened again", source,
                 port);
        return TW_EINVAL;
    }
    if (dp->nqueues != 0 && dp->nqueues != nqueues) {
        snprintf(err, errlen, "%s: DPDK port %u is open with %u RX queues, not %u", source, port,
                 dp->nqueues, nqueues);
        return TW_EINVAL;
    }
    if (dp->queue_open & (UINT64_C(1) << queue)) {
        snprintf(err, errlen, "%s: RX queue %u of DPDK port %u is already open", source, queue,
                 port);
        return TW_EINVAL;
    }
    if (!dp_eal_ready) {
        static char prog[] = "tunwatch";
        static char *argv[] = {prog, NULL};
        char why[256];
        if (tw_dpdk_eal_init(1, argv, why, sizeof(why)) != 0) {
            snprintf(err, errlen,
                     "%s: %s, with the EAL's defaults: give EAL arguments with "
                     "--dpdk 'ARGS'",
                     source, why);
            return TW_EIO;
        }
    }
    if (!rte_eth_dev_is_valid_port(port)) {
        snprintf(err, errlen,
                 "%s: no DPDK port %u (%u available; bind a NIC to a DPDK driver "
                 "or add a --vdev)",
                 source, port, rte_eth_dev_count_avail());
        return TW_EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", source);
        return TW_ENOMEM;
    }
    c->port = port;
    c->queue = queue;
    c->nqueues = nqueues;
    c->snaplen = opts->snaplen > 0 ? (uint32_t)opts->snaplen : DP_SNAPLEN_DEFAULT;
    c->bounce = malloc(c->snaplen);
    if (c->bounce == NULL) {
        snprintf(err, errlen, "%s: out of memory", source);
        rc = TW_ENOMEM;
        goto out_free;
    }
    if (dp->nqueues == 0) {
        rc = dp_port_start(source, port, nqueues, opts, err, errlen);
        if (rc != 0)
            goto out_free;
    }
    dp->queue_open |= UINT64_C(1) << queue;
    dp->n_open++;
    *out = c;
    return 0;

out_free:
    free(c->bounce);
    free(c);
    return rc;
}

static int dp_linktype(const struct tw_capture *c)
{
    (void)c;
    return DP_LINKTYPE_ETHERNET;
}

/* Delivers one mbuf, whole or cut to snaplen. */
static void dp_deliver(struct tw_capture *c, const struct rte_mbuf *m, struct tw_frame *f,
                       tw_frame_fn fn, void *ctx)
{
    uint32_t len = m->nb_segs == 1 ? m->data_len : m->pkt_len;

    if (len > c->snaplen) {
        len = c->snaplen;
        c->truncated++;
    }
    if (m->nb_segs == 1) {
        f->data = rte_pktmbuf_mtod(m, const uint8_t *);
    } else {
        f->data = rte_pktmbuf_read(m, 0, len, c->bounce);
        if (f->data == NULL) {
            c->unreadable++;
            return;
        }
    }
    f->caplen = len;
    f->wirelen = TW_MAX(m->pkt_len, len);
    c->frames++;
    fn(ctx, f);
}

static int dp_dispatch(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    struct rte_mbuf *pkts[DP_BURST];
    struct tw_frame f = {0};
    struct timespec ts;
    uint64_t before = c->frames;
    unsigned done = 0;

    (void)err;
    (void)errlen;
    if (max > INT_MAX)
        max = INT_MAX;
    while (done < max) {
        uint16_t want = (uint16_t)TW_MIN(max - done, (unsigned)DP_BURST);
        uint16_t n = rte_eth_rx_burst(c->port, c->queue, pkts, want);
        if (n == 0)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        f.ts_sec = ts.tv_sec;
        f.ts_nsec = (uint32_t)ts.tv_nsec;
        for (uint16_t i = 0; i < n; i++)
            dp_deliver(c, pkts[i], &f, fn, ctx);
        rte_pktmbuf_free_bulk(pkts, n);
        done += n;
        if (n < want)
            break; /* the ring is empty: let the caller look at its other work */
    }
    return (int)(c->frames - before);
}

static int dp_selectable_fd(struct tw_capture *c)
{
    (void)c;
    return -1;
}

/*
 * Packets the port put on this capture's queue: the port's ipackets with one queue, else the
 * queue's counter where the PMD keeps one (queues below RTE_ETHDEV_QUEUE_STAT_CNTRS, and not
 * every PMD fills them), else the frames this queue handed over.
 */
static uint64_t dp_queue_received(const struct tw_capture *c, const struct rte_eth_stats *es)
{
    uint64_t per_queue = 0;

    if (c->nqueues == 1)
        return es->ipackets;
    if (c->queue < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
        for (unsigned q = 0; q < TW_MIN(c->nqueues, (unsigned)RTE_ETHDEV_QUEUE_STAT_CNTRS); q++)
            per_queue += es->q_ipackets[q];
        if (per_queue > 0 || es->ipackets == 0)
            return es->q_ipackets[c->queue];
    }
    return c->frames + c->unreadable;
}

static void dp_stats(struct tw_capture *c, struct tw_capture_stats *st)
{
    struct rte_eth_stats es;

    memset(st, 0, sizeof(*st));
    st->frames = c->frames;
    st->dropped = c->unreadable;
    if (rte_eth_stats_get(c->port, &es) == 0) {
        st->received = dp_queue_received(c, &es);
        /* Port-wide counters, on queue 0 only: summed over the queues they count once. */
        if (c->queue == 0) {
            st->dropped += es.imissed + es.rx_nombuf;
            st->ifdropped = es.ierrors;
        }
    }
}

static void dp_close(struct tw_capture *c)
{
    struct dp_port *dp;

    if (c == NULL)
        return;
    dp = &dp_ports[c->port];
    dp->queue_open &= ~(UINT64_C(1) << c->queue);
    if (--dp->n_open == 0) {
        rte_eth_dev_stop(c->port);
        rte_eth_dev_close(c->port);
        dp_port_free_pools(dp);
        dp->nqueues = 0;
        dp->closed = true;
    }
    free(c->bounce);
    free(c);
}

const struct tw_capture_ops tw_capture_dpdk = {
    .name = "dpdk",
    .open = dp_open,
    .linktype = dp_linktype,
    .dispatch = dp_dispatch,
    .selectable_fd = dp_selectable_fd,
    .stats = dp_stats,
    .close = dp_close,
};
