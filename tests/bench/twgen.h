/* SPDX-License-Identifier: MIT */
/*
 * What twgen's files share: the sizes, the PRNG, byte and checksum helpers, the host, flow and
 * generator state, and the frame (twgen_wire.c) and payload (twgen_payload.c) builders the
 * traffic mix in twgen.c calls.
 */
#ifndef TWGEN_H
#define TWGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TW_GEN_START_SEC 1700000000U
#define TW_GEN_MEAN_GAP_US 6 /* ~166k packets/s: a busy 1-2 Gbit/s link */

#define TW_NAME_LEN 256

#define TW_MSS4 1448
#define TW_MSS6 1428
#define TW_PAYLOAD_POOL 64

#define TW_BULK_SLOTS 64
#define TW_SHORT_SLOTS 256
#define TW_DNSTCP_SLOTS 8
#define TW_DNS_PENDING 128
#define TW_PKT_MAX 2048
#define TW_CH_MAX 2300
#define TW_DNS_BIG_MAX 4096 /* a DNS response sent in IP fragments (--field) */

#define TW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define TW_TCP_FIN 0x01
#define TW_TCP_SYN 0x02
#define TW_TCP_PSH 0x08
#define TW_TCP_ACK 0x10

/* ------------------------------------------------------------------------------------------ */
/* PRNG */

static inline uint64_t tw_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* xorshift64* seeded through splitmix64 (never zero). */
struct tw_rng {
    uint64_t s;
};

static inline void tw_rng_seed(struct tw_rng *r, uint64_t seed)
{
    uint64_t st = seed;
    r->s = tw_splitmix64(&st);
    if (r->s == 0)
        r->s = 0x1234567ULL;
}

static inline uint64_t tw_rng_next(struct tw_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n); n > 0. The modulo bias is irrelevant here. */
static inline uint32_t tw_rng_below(struct tw_rng *r, uint32_t n)
{
    return (uint32_t)((tw_rng_next(r) >> 32) % n);
}

static inline void tw_rng_fill(struct tw_rng *r, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = tw_rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = tw_rng_next(r);
        memcpy(p, &v, n);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Byte helpers and the Internet checksum */

static inline void tw_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void tw_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One's-complement sum of big-endian 16-bit words; an odd tail is padded with zero.
 * Only call with an even-length prefix when more data follows. */
static inline uint64_t tw_csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

static inline uint16_t tw_csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ------------------------------------------------------------------------------------------ */
/* Hosts, flows, generator state */

struct tw_names;

struct tw_host {
    uint8_t mac[6];
    uint8_t ip[16]; /* IPv4 in the first 4 bytes */
};

/* How a packet travels: IP version, 802.1ad and 802.1Q tags (0: none), and an IPv6
 * extension header before the transport (0: none, 0 hop-by-hop is not used, 60 destination
 * options). */
struct tw_link {
    bool v6;
    uint16_t svlan, vlan;
    uint8_t v6ext;
};

struct tw_flow {
    bool active;
    int kind;  /* TW_K_* */
    int state; /* TW_S_* */
    bool v6;
    uint16_t vlan;  /* 0: untagged */
    uint16_t svlan; /* 802.1ad outer tag (QinQ), 0: none */
    uint8_t v6ext;  /* IPv6 extension header on every packet (struct tw_link) */
    struct tw_host cli, srv;
    uint16_t cport, sport;
    uint16_t cipid, sipid;
    uint8_t cttl, sttl;
    uint32_t cseq, sseq; /* next sequence number each side sends */
    uint32_t ts_off;     /* TCP timestamp offset */
    uint32_t data_left;  /* server data segments still to send */
    uint32_t unacked;
    bool pq; /* post-quantum key share: ClientHello in two segments */
    uint64_t hello_seed;
    size_t ch_sent;
    char name[TW_NAME_LEN];
    uint16_t qtype, dns_id;
    /* --field */
    bool grease_indep; /* the hello's two GREASE values drawn independently */
    bool reorder;      /* a split hello's second segment sent first */
    int dns_mode;      /* DNS over TCP: TW_DNS_* */
    char name2[TW_NAME_LEN];
    uint16_t qtype2, dns_id2;
};

enum { TW_DNS_ONE, TW_DNS_PIPELINED, TW_DNS_SPLIT };

enum { TW_K_BULK, TW_K_SHORT, TW_K_DNSTCP };

enum {
    TW_S_SYN,
    TW_S_SYNACK,
    TW_S_ACK,
    TW_S_CH,
    TW_S_SFLIGHT,
    TW_S_CFIN,
    TW_S_DATA,
    TW_S_DACK,
    TW_S_DNSQ,
    TW_S_DNSR,
    TW_S_FIN_C,
    TW_S_FIN_S,
    TW_S_LASTACK,
};

struct tw_dns_pending {
    struct tw_link link;
    struct tw_host cli, srv;
    uint16_t cport;
    uint16_t id, qtype;
    bool edns;
    bool big; /* --field: a large answer, sent in IP fragments */
    char name[TW_NAME_LEN];
};

/* A name a client resolved to one of its server's addresses (an A answer over IPv4, AAAA over
 * IPv6): a TLS flow may follow it, from that client to that address (the sensor then finds
 * the name in its DNS answer cache). */
struct tw_resolved {
    struct tw_link link;
    struct tw_host cli;
    char name[TW_NAME_LEN];
};

#define TW_RESOLVED 64 /* the most recent resolutions a flow may follow */

struct tw_payload {
    uint8_t b[TW_MSS4];
    uint64_t sum;
};

struct tw_gen {
    FILE *out;
    FILE *names_out;
    struct tw_rng r;
    struct tw_rng follow_r; /* the choice of flows that follow a resolution, apart from r: the
                               capture still changes after the first one (its packets differ),
                               but less (seed 2 keeps its DNS response to port 4754) */
    struct tw_names *nm;
    uint64_t ts_us;
    uint64_t frames;
    uint64_t bytes;
    uint64_t target;
    uint8_t pkt[TW_PKT_MAX];
    struct tw_payload data4[TW_PAYLOAD_POOL], data6[TW_PAYLOAD_POOL];
    struct tw_flow bulk[TW_BULK_SLOTS], shortf[TW_SHORT_SLOTS], dnstcp[TW_DNSTCP_SLOTS];
    struct tw_dns_pending pend[TW_DNS_PENDING];
    unsigned pend_head, pend_n;
    struct tw_resolved resolved[TW_RESOLVED];
    unsigned resolved_n; /* resolutions recorded so far (the ring holds the last TW_RESOLVED) */
    struct tw_host gw, resolver4[2], resolver6[2];
    bool icmp_reply_due;
    struct tw_host icmp_cli, icmp_srv;
    uint16_t icmp_id, icmp_seq;
    bool arp_reply_due;
    struct tw_host arp_asker, arp_target;
    uint64_t n_flows, n_v6, n_vlan, n_midstream, n_pq, n_dns, n_sni, n_tunnel, n_followed;
    bool field; /* --field: the variations of field traffic (see twgen.c) */
    bool pcapng; /* --pcapng: pcapng (one interface, Enhanced Packet Blocks), not classic pcap */
    uint64_t n_reordered, n_fragmented, n_mixed_case, n_qinq, n_v6ext, n_dns_resent,
        n_dns_pipelined, n_dns_split, n_dns_midstream;
    bool write_err;
};

/* ------------------------------------------------------------------------------------------ */
/* Frames (twgen_wire.c) */

/* Appends g->pkt[0..len) to the capture with the next timestamp; sets g->write_err on failure. */
void tw_write_frame(struct tw_gen *g, size_t len);

/* Ethernet (+802.1ad, +802.1Q) header; returns its length. */
size_t tw_put_eth(uint8_t *b, const uint8_t *dst, const uint8_t *src, uint16_t svlan, uint16_t vlan,
                  uint16_t etype);

/* IP header for an l4_len-byte payload; returns its length and the pseudo-header sum. */
size_t tw_put_ip(uint8_t *b, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                 size_t l4_len, uint8_t ttl, uint16_t ipid, uint64_t *pseudo);

/* The same with an IPv6 extension header of 8 bytes of type ext (0: none; IPv4 ignores it). */
size_t tw_put_ip_ext(uint8_t *b, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     size_t l4_len, uint8_t ttl, uint16_t ipid, uint8_t ext, uint64_t *pseudo);

/* One TCP segment of f (payload_sum: tw_csum_add() of the payload or UINT64_MAX), written. */
void tw_emit_tcp(struct tw_gen *g, struct tw_flow *f, bool c2s, uint8_t flags,
                 const uint8_t *payload, size_t plen, uint64_t payload_sum);

/* One UDP datagram from src to dst, written. */
void tw_emit_udp(struct tw_gen *g, const struct tw_link *l, const struct tw_host *src,
                 const struct tw_host *dst, uint16_t sport, uint16_t dport, const uint8_t *payload,
                 size_t plen);

/* The same in IP fragments of at most mtu bytes (plen <= TW_DNS_BIG_MAX), the last first when
 * reverse. */
void tw_emit_udp_frags(struct tw_gen *g, const struct tw_link *l, const struct tw_host *src,
                       const struct tw_host *dst, uint16_t sport, uint16_t dport,
                       const uint8_t *payload, size_t plen, size_t mtu, bool reverse);

/* ------------------------------------------------------------------------------------------ */
/* Payloads (twgen_payload.c) */

/* A TLS 1.3 ClientHello record for sni into b (TW_CH_MAX bytes); returns its length. With
 * grease_indep the two GREASE values are drawn independently (equal one time in 16, which
 * repeats an extension type, as some Chrome-like clients do). */
size_t tw_build_client_hello(struct tw_rng *r, uint8_t *b, const char *sni, bool pq,
                             bool grease_indep);

/* The server's first flight, filling a seg-byte segment of b; returns its length. */
size_t tw_build_server_flight(struct tw_rng *r, uint8_t *b, size_t seg, bool pq);

/* The client's ChangeCipherSpec, Finished and request records into b; returns their length. */
size_t tw_build_client_finish(struct tw_rng *r, uint8_t *b);

/* Fills g->data4 and g->data6 with full-size TLS application-data segments and their sums. */
void tw_payload_pool_init(struct tw_gen *g);

/* A DNS query for name (with an EDNS0 OPT when edns) into b; returns its length. */
size_t tw_build_dns_query(uint8_t *b, uint16_t id, const char *name, uint16_t qtype, bool edns);

/* A DNS response to that query into b; returns its length. With big (A/AAAA only) it holds
 * ~100 records (over 1,500 bytes; b holds TW_DNS_BIG_MAX). addr (4 bytes for A, 16 for AAAA;
 * NULL: none) is the first address record's when the response has address records, the rest
 * are random; *has_addr (may be NULL) tells whether addr went in. */
size_t tw_build_dns_response(struct tw_rng *r, uint8_t *b, uint16_t id, const char *name,
                             uint16_t qtype, bool edns, bool big, const uint8_t *addr,
                             bool *has_addr);

#endif
