/* SPDX-License-Identifier: MIT */
/*
 * twgen - deterministic generator of a mixed-traffic capture for benchmarking tunwatch.
 *
 *   twgen -n PACKETS -o FILE.pcap [-s SEED] [-N NAMES.tsv] [--field]
 *   twgen --rules N -o RULES.yml
 *
 * The capture is classic pcap (LINKTYPE_ETHERNET, microsecond timestamps) with, per packet:
 *    ~6% TLS bulk transfers on long-lived flows (handshake, TLS 1.3 ClientHello with SNI,
 *        server flight, 1448-byte data segments, delayed ACKs, FIN)
 *   ~70% short TLS flows (1 to 4 data segments each: ~10 packets a flow)
 *   ~18% DNS over UDP (A/AAAA/HTTPS queries, answers with compression pointers, CNAMEs)
 *    ~3% DNS over TCP
 *    ~3% ICMP echo and ARP noise
 * A million packets hold ~159,000 flows (tunwatch's count: a DNS query and its response are
 * one) and ~39,000 ClientHellos (5% of the packets with the second segments of split ones),
 * at least as many flows, hellos and DNS messages as a busy link's mix (153,000 flows, 4%
 * hellos, 8% DNS in a million packets), so at least as much work per packet; the packets are
 * smaller (~490 bytes on average), which makes the read floor faster and the ratio to it
 * harder, not easier.
 * 30% of TLS flows follow a DNS answer: their client is one that resolved their name a
 * moment before (an A answer over IPv4 or AAAA over IPv6 whose first address is the server's),
 * so a sensor names the flows it sees without their start from its DNS answer cache.
 * About 15% of IP packets are IPv6, 10% VLAN-tagged, 5% of TLS flows use port 8443, 40% of
 * TLS flows are already under way when the capture starts (no handshake, no ClientHello: the
 * sensor must take them up mid-stream), and 30% of the ClientHellos carry an X25519MLKEM768
 * (0x11ec) key share, which makes them ~1.9 KB and splits them over two segments. SNI and DNS
 * names come from a fixed pool of 5,000 benign names plus ~1% names under tunnel services
 * (ngrok, localto.net, trycloudflare.com, ...).
 * All IPv4, TCP, UDP and ICMP checksums are correct.
 *
 * --field adds what field traffic has and the benchmark mix leaves out (tests/t_recall.sh
 * checks tunwatch's recall on it; without it the output is unchanged):
 *   - hellos whose two GREASE values are drawn independently (equal 1 time in 16: an
 *     extension type repeated), 30% of split hellos with the second segment sent first;
 *   - names in mixed case (DNS 0x20 on 20% of UDP queries, 10% of flows), 3% of SNI with a
 *     trailing dot;
 *   - 3% of UDP responses with EDNS0 large (~1.9 KB) and sent in IP fragments (IPv4 and
 *     IPv6, a quarter of them last fragment first); 2% of UDP queries sent twice (a client's
 *     retransmission, same ID and port);
 *   - DNS over TCP: a quarter of connections with two pipelined queries (both in one
 *     segment, both responses in one segment), a quarter with the query split over two
 *     segments, ~7% begun before the capture (the response is their first segment);
 *   - 30% of VLAN traffic double-tagged (802.1ad + 802.1Q), 20% of IPv6 traffic with a
 *     destination options header, 20% of TCP clients on ports 1024-32767.
 *
 * -N writes one line per name the capture carries where a decoder should see it:
 * "FRAME<TAB>dns|sni<TAB>NAME" (frame numbers are 1-based; a split ClientHello is listed at
 * the frame of its last segment). tests/bench/check_gen.sh compares it with tshark.
 *
 * --rules writes N Sigma rules, one YAML document each, alternating network_connection
 * (DestinationHostname|endswith) and dns_query (QueryName|endswith) with unique suffixes
 * '.tNNNNN.tunnel-bench.net'. A few rules instead carry suffixes of names the capture
 * contains, so the benchmark also exercises the alert path.
 *
 * Everything derives from a splitmix64/xorshift PRNG with a fixed seed: the same arguments
 * give the same bytes on every machine.
 *
 * This file holds the options, the names, the traffic mix and the rules writer; frames are
 * assembled in twgen_wire.c and TLS and DNS payloads built in twgen_payload.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twgen.h"

#define TW_GEN_DEFAULT_PACKETS 2000000ULL
#define TW_GEN_DEFAULT_SEED 0x7475ULL

#define TW_POOL_NAMES 5000
#define TW_FOLLOW_PCT 30 /* TLS flows that follow one of the last TW_RESOLVED resolutions */
#define TW_TUNNEL_NAMES 64

/* ------------------------------------------------------------------------------------------ */
/* Names */

static const char *const tw_prefixes[] = {"www",   "api",  "cdn",    "static", "img",
                                          "login", "mail", "assets", "m",      "app"};
static const char *const tw_domains[] = {
    "example-cdn.com",  "example.com",      "example.net",       "example.org",
    "shop-example.com", "news-example.net", "video-example.org", "cloud-example.io"};
static const char *const tw_tunnel_suffixes[] = {
    ".ngrok-free.app",    ".ngrok.io",      ".ngrok.app", ".ngrok-free.dev", ".localto.net",
    ".trycloudflare.com", ".devtunnels.ms", ".loca.lt",   ".localtonet.com",
};
static const char *const tw_words[] = {"alpha", "river", "stone", "quiet", "maple", "orbit",
                                       "delta", "lunar", "cedar", "prism", "ember", "nova"};

struct tw_names {
    char benign[TW_POOL_NAMES][64];
    char tunnel[TW_TUNNEL_NAMES][64];
};

/* Benign name i; independent of the seed so that generated rules can target it. */
static void tw_benign_name(unsigned i, char *buf, size_t size)
{
    uint64_t st = 0xb0b0ULL + i;
    uint64_t h = tw_splitmix64(&st);
    snprintf(buf, size, "%s.site%u.%s", tw_prefixes[h % TW_ARRAY_LEN(tw_prefixes)], i,
             tw_domains[(h >> 16) % TW_ARRAY_LEN(tw_domains)]);
}

static void tw_names_init(struct tw_names *nm)
{
    struct tw_rng r;
    static const char hex[] = "0123456789abcdef";

    for (unsigned i = 0; i < TW_POOL_NAMES; i++)
        tw_benign_name(i, nm->benign[i], sizeof(nm->benign[i]));
    tw_rng_seed(&r, 0x70bbe1ULL);
    for (unsigned i = 0; i < TW_TUNNEL_NAMES; i++) {
        const char *suf = tw_tunnel_suffixes[i % TW_ARRAY_LEN(tw_tunnel_suffixes)];
        char label[32];
        unsigned n = 4 + tw_rng_below(&r, 9);
        for (unsigned k = 0; k < n; k++)
            label[k] = hex[tw_rng_below(&r, 16)];
        label[n] = '\0';
        if (strcmp(suf, ".trycloudflare.com") == 0) {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "%s-%s-%s%s",
                     tw_words[tw_rng_below(&r, TW_ARRAY_LEN(tw_words))],
                     tw_words[tw_rng_below(&r, TW_ARRAY_LEN(tw_words))], label, suf);
        } else if (strcmp(suf, ".devtunnels.ms") == 0) {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "%s-8080.euw%s", label, suf);
        } else if (i % 7 == 0) {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "x%s", suf);
        } else {
            snprintf(nm->tunnel[i], sizeof(nm->tunnel[i]), "%s%s", label, suf);
        }
    }
}

/* Skewed towards low indices (roughly ln(N/k)/N), so some names are popular. */
static const char *tw_pick_name(struct tw_rng *r, const struct tw_names *nm)
{
    if (tw_rng_below(r, 100) == 0)
        return nm->tunnel[tw_rng_below(r, TW_TUNNEL_NAMES)];
    return nm->benign[tw_rng_below(r, 1 + tw_rng_below(r, TW_POOL_NAMES))];
}

static void tw_note_name(struct tw_gen *g, const char *kind, const char *name)
{
    if (strstr(name, "ngrok") || strstr(name, "localto") || strstr(name, "trycloudflare") ||
        strstr(name, "devtunnels") || strstr(name, "loca.lt"))
        g->n_tunnel++;
    if (g->names_out)
        fprintf(g->names_out, "%" PRIu64 "\t%s\t%s\n", g->frames, kind, name);
}

/* ------------------------------------------------------------------------------------------ */
/* Hosts */

static void tw_host_client(struct tw_host *h, bool v6, unsigned idx)
{
    memset(h, 0, sizeof(*h));
    h->mac[0] = 0x02;
    h->mac[1] = 0x00;
    tw_put_be32(h->mac + 2, 0x0a000000U | idx);
    if (v6) {
        static const uint8_t pfx[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00};
        memcpy(h->ip, pfx, 8);
        tw_put_be32(h->ip + 12, idx);
        h->ip[8] = 0x02;
    } else {
        tw_put_be32(h->ip, 0x0a000000U | (idx & 0xffffff)); /* 10.0.0.0/8 */
    }
}

/* Servers live behind the gateway: 198.18.0.0/15 (RFC 2544) and 2001:db8:ff::/48. */
static void tw_host_server(struct tw_gen *g, struct tw_host *h, bool v6, const char *name)
{
    uint64_t st = 0;
    for (const char *s = name; *s; s++)
        st = st * 131 + (uint8_t)*s;
    uint64_t hv = tw_splitmix64(&st);
    memset(h, 0, sizeof(*h));
    memcpy(h->mac, g->gw.mac, 6);
    if (v6) {
        static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff};
        memcpy(h->ip, pfx, 6);
        memcpy(h->ip + 8, &hv, 8);
    } else {
        tw_put_be32(h->ip, 0xc6120000U | (uint32_t)(hv & 0x1ffff));
        if (h->ip[3] == 0 || h->ip[3] == 255)
            h->ip[3] = 7;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Traffic mix */

static uint16_t tw_pick_qtype(struct tw_rng *r)
{
    uint32_t x = tw_rng_below(r, 100);
    return x < 60 ? 1 : x < 90 ? 28 : 65;
}

/* A name in random letter case (DNS 0x20, clients that keep what the user typed). */
static void tw_mix_case(struct tw_rng *r, char *name)
{
    for (char *c = name; *c; c++)
        if (*c >= 'a' && *c <= 'z' && tw_rng_below(r, 2))
            *c = (char)(*c - 'a' + 'A');
}

/* The --field variations of a new flow; drawn after the others, so without --field the
 * random sequence, and the capture, are unchanged. */
static void tw_flow_field(struct tw_gen *g, struct tw_flow *f)
{
    struct tw_rng *r = &g->r;

    if (f->vlan && tw_rng_below(r, 100) < 30) {
        f->svlan = 200;
        g->n_qinq++;
    }
    if (f->v6 && tw_rng_below(r, 100) < 20) {
        f->v6ext = 60;
        g->n_v6ext++;
    }
    if (tw_rng_below(r, 100) < 20)
        f->cport = (uint16_t)(1024 + tw_rng_below(r, 32768 - 1024));
    if (tw_rng_below(r, 100) < 10) {
        tw_mix_case(r, f->name);
        g->n_mixed_case++;
    }
    if (f->kind == TW_K_DNSTCP) {
        uint32_t x = tw_rng_below(r, 4);
        f->dns_mode = x == 0 ? TW_DNS_PIPELINED : x == 1 ? TW_DNS_SPLIT : TW_DNS_ONE;
        snprintf(f->name2, sizeof(f->name2), "%s", tw_pick_name(r, g->nm));
        f->qtype2 = tw_pick_qtype(r);
        f->dns_id2 = (uint16_t)tw_rng_next(r);
        g->n_dns_pipelined += f->dns_mode == TW_DNS_PIPELINED;
        g->n_dns_split += f->dns_mode == TW_DNS_SPLIT;
        if (f->dns_mode == TW_DNS_ONE && tw_rng_below(r, 100) < 15) {
            /* begun before the capture: its first segment here is the response */
            f->state = TW_S_DNSR;
            g->n_dns_midstream++;
        }
        return;
    }
    f->grease_indep = true;
    if (tw_rng_below(r, 100) < 3 && strlen(f->name) + 1 < sizeof(f->name))
        strcat(f->name, ".");
    if (f->pq && tw_rng_below(r, 100) < 30) {
        f->reorder = true;
        g->n_reordered++;
    }
}

static void tw_flow_start(struct tw_gen *g, struct tw_flow *f, int kind)
{
    memset(f, 0, sizeof(*f));
    f->active = true;
    f->kind = kind;
    f->state = TW_S_SYN;
    f->v6 = tw_rng_below(&g->r, 100) < 18;
    f->vlan = tw_rng_below(&g->r, 100) < 11 ? 100 : 0;
    tw_host_client(&f->cli, f->v6, 0x10000 + tw_rng_below(&g->r, 4096));
    f->cport = (uint16_t)(32768 + tw_rng_below(&g->r, 28000));
    f->cipid = (uint16_t)tw_rng_next(&g->r);
    f->sipid = (uint16_t)tw_rng_next(&g->r);
    f->cttl = 64;
    f->sttl = (uint8_t)(50 + tw_rng_below(&g->r, 10));
    f->cseq = (uint32_t)tw_rng_next(&g->r);
    f->sseq = (uint32_t)tw_rng_next(&g->r);
    f->ts_off = (uint32_t)tw_rng_next(&g->r);
    f->hello_seed = tw_rng_next(&g->r);
    snprintf(f->name, sizeof(f->name), "%s", tw_pick_name(&g->r, g->nm));
    if (kind != TW_K_DNSTCP && g->resolved_n > 0 &&
        tw_rng_below(&g->follow_r, 100) < TW_FOLLOW_PCT) {
        /* A connection to what its client resolved a moment ago. */
        unsigned have = g->resolved_n < TW_RESOLVED ? g->resolved_n : TW_RESOLVED;
        const struct tw_resolved *rs =
            &g->resolved[(g->resolved_n - 1 - tw_rng_below(&g->follow_r, have)) % TW_RESOLVED];
        f->v6 = rs->link.v6;
        f->vlan = rs->link.vlan;
        f->cli = rs->cli;
        memcpy(f->name, rs->name, sizeof(f->name));
        g->n_followed++;
    }
    if (kind == TW_K_DNSTCP) {
        f->sport = 53;
        f->srv =
            f->v6 ? g->resolver6[tw_rng_below(&g->r, 2)] : g->resolver4[tw_rng_below(&g->r, 2)];
        f->qtype = tw_pick_qtype(&g->r);
        f->dns_id = (uint16_t)tw_rng_next(&g->r);
    } else {
        f->sport = tw_rng_below(&g->r, 100) < 5 ? 8443 : 443;
        tw_host_server(g, &f->srv, f->v6, f->name);
        f->pq = tw_rng_below(&g->r, 100) < 30;
        f->data_left =
            kind == TW_K_BULK ? 100 + tw_rng_below(&g->r, 1900) : 1 + tw_rng_below(&g->r, 4);
        if (tw_rng_below(&g->r, 100) < 40) {
            /* Begun before the capture: its first packets here are data. */
            f->state = TW_S_DATA;
            f->pq = false;
            g->n_midstream++;
        }
        if (f->pq)
            g->n_pq++;
    }
    if (g->field)
        tw_flow_field(g, f);
    g->n_flows++;
    g->n_v6 += f->v6;
    g->n_vlan += f->vlan != 0;
}

/* Emits the next packet of f. */
static void tw_flow_step(struct tw_gen *g, struct tw_flow *f)
{
    uint8_t buf[TW_CH_MAX];
    size_t mss = f->v6 ? TW_MSS6 : TW_MSS4;

    switch (f->state) {
    case TW_S_SYN:
        tw_emit_tcp(g, f, true, TW_TCP_SYN, NULL, 0, 0);
        f->state = TW_S_SYNACK;
        break;
    case TW_S_SYNACK:
        tw_emit_tcp(g, f, false, TW_TCP_SYN | TW_TCP_ACK, NULL, 0, 0);
        f->state = TW_S_ACK;
        break;
    case TW_S_ACK:
        tw_emit_tcp(g, f, true, TW_TCP_ACK, NULL, 0, 0);
        f->state = f->kind == TW_K_DNSTCP ? TW_S_DNSQ : TW_S_CH;
        break;
    case TW_S_CH: {
        /* Rebuilt from a per-flow seed so both halves of a split hello agree. */
        struct tw_rng hr;
        tw_rng_seed(&hr, f->hello_seed);
        size_t n = tw_build_client_hello(&hr, buf, f->name, f->pq, f->grease_indep);
        if (f->reorder && f->ch_sent == 0 && n > mss) {
            /* the second segment overtakes the first */
            uint32_t seq0 = f->cseq;
            f->cseq = seq0 + (uint32_t)mss;
            tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf + mss, n - mss, UINT64_MAX);
            f->cseq = seq0;
            tw_emit_tcp(g, f, true, TW_TCP_ACK, buf, mss, UINT64_MAX);
            f->cseq = seq0 + (uint32_t)n;
            f->ch_sent = n;
            tw_note_name(g, "sni", f->name);
            g->n_sni++;
            f->state = TW_S_SFLIGHT;
            break;
        }
        size_t part = n - f->ch_sent > mss ? mss : n - f->ch_sent;
        tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf + f->ch_sent, part, UINT64_MAX);
        f->ch_sent += part;
        if (f->ch_sent == n) {
            tw_note_name(g, "sni", f->name);
            g->n_sni++;
            f->state = TW_S_SFLIGHT;
        }
        break;
    }
    case TW_S_SFLIGHT: {
        size_t n = tw_build_server_flight(&g->r, buf, mss, f->pq);
        tw_emit_tcp(g, f, false, TW_TCP_PSH | TW_TCP_ACK, buf, n, UINT64_MAX);
        f->state = TW_S_CFIN;
        break;
    }
    case TW_S_CFIN: {
        size_t n = tw_build_client_finish(&g->r, buf);
        tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf, n, UINT64_MAX);
        f->state = TW_S_DATA;
        break;
    }
    case TW_S_DATA: {
        const struct tw_payload *pl =
            &(f->v6 ? g->data6 : g->data4)[tw_rng_below(&g->r, TW_PAYLOAD_POOL)];
        tw_emit_tcp(g, f, false, TW_TCP_ACK | (f->data_left == 1 ? TW_TCP_PSH : 0), pl->b, mss,
                    pl->sum);
        f->data_left--;
        f->unacked++;
        if (f->unacked >= 2 || f->data_left == 0)
            f->state = TW_S_DACK;
        break;
    }
    case TW_S_DACK:
        tw_emit_tcp(g, f, true, TW_TCP_ACK, NULL, 0, 0);
        f->unacked = 0;
        f->state = f->data_left ? TW_S_DATA : TW_S_FIN_C;
        break;
    case TW_S_DNSQ: {
        size_t n = tw_build_dns_query(buf + 2, f->dns_id, f->name, f->qtype, false);
        tw_put_be16(buf, (uint16_t)n);
        n += 2;
        if (f->dns_mode == TW_DNS_SPLIT && f->ch_sent == 0) {
            /* the length and part of the header, then the rest in the next segment */
            f->ch_sent = 7;
            tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf, f->ch_sent, UINT64_MAX);
            break;
        }
        if (f->dns_mode == TW_DNS_PIPELINED) {
            size_t n2 = tw_build_dns_query(buf + n + 2, f->dns_id2, f->name2, f->qtype2, false);
            tw_put_be16(buf + n, (uint16_t)n2);
            n += n2 + 2;
        }
        tw_emit_tcp(g, f, true, TW_TCP_PSH | TW_TCP_ACK, buf + f->ch_sent, n - f->ch_sent,
                    UINT64_MAX);
        tw_note_name(g, "dns", f->name);
        g->n_dns++;
        if (f->dns_mode == TW_DNS_PIPELINED) {
            tw_note_name(g, "dns", f->name2);
            g->n_dns++;
        }
        f->state = TW_S_DNSR;
        break;
    }
    case TW_S_DNSR: {
        size_t n =
            tw_build_dns_response(&g->r, buf + 2, f->dns_id, f->name, f->qtype, false, false, NULL,
                                  NULL);
        tw_put_be16(buf, (uint16_t)n);
        n += 2;
        if (f->dns_mode == TW_DNS_PIPELINED) {
            size_t n2 = tw_build_dns_response(&g->r, buf + n + 2, f->dns_id2, f->name2, f->qtype2,
                                              false, false, NULL, NULL);
            tw_put_be16(buf + n, (uint16_t)n2);
            n += n2 + 2;
        }
        tw_emit_tcp(g, f, false, TW_TCP_PSH | TW_TCP_ACK, buf, n, UINT64_MAX);
        f->state = TW_S_FIN_C;
        break;
    }
    case TW_S_FIN_C:
        tw_emit_tcp(g, f, true, TW_TCP_FIN | TW_TCP_ACK, NULL, 0, 0);
        f->state = TW_S_FIN_S;
        break;
    case TW_S_FIN_S:
        tw_emit_tcp(g, f, false, TW_TCP_FIN | TW_TCP_ACK, NULL, 0, 0);
        f->state = TW_S_LASTACK;
        break;
    default:
        tw_emit_tcp(g, f, true, TW_TCP_ACK, NULL, 0, 0);
        f->active = false;
        break;
    }
}

static void tw_step_slots(struct tw_gen *g, struct tw_flow *slots, unsigned n, int kind)
{
    struct tw_flow *f = &slots[tw_rng_below(&g->r, n)];
    if (!f->active)
        tw_flow_start(g, f, kind);
    tw_flow_step(g, f);
}

static void tw_step_dns_udp(struct tw_gen *g)
{
    uint8_t buf[TW_DNS_BIG_MAX];

    if (g->pend_n == TW_DNS_PENDING || (g->pend_n > 0 && tw_rng_below(&g->r, 2) == 0)) {
        struct tw_dns_pending *q = &g->pend[g->pend_head];
        /* An A answer over IPv4 or AAAA over IPv6 gives the name's server address first: a TLS
         * flow may follow, from this client to that address. */
        struct tw_host to;
        bool follow = q->qtype == (q->link.v6 ? 28 : 1), has_addr = false;
        if (follow)
            tw_host_server(g, &to, q->link.v6, q->name);
        size_t n = tw_build_dns_response(&g->r, buf, q->id, q->name, q->qtype, q->edns, q->big,
                                         follow ? to.ip : NULL, &has_addr);
        if (has_addr) {
            struct tw_resolved *rs = &g->resolved[g->resolved_n++ % TW_RESOLVED];
            rs->link = q->link;
            rs->cli = q->cli;
            memcpy(rs->name, q->name, sizeof(rs->name));
        }
        if (n + 8 + (q->link.v6 ? 48 : 20) > 1500) {
            tw_emit_udp_frags(g, &q->link, &q->srv, &q->cli, 53, q->cport, buf, n, 1500,
                              tw_rng_below(&g->r, 4) == 0);
            g->n_fragmented++;
        } else {
            tw_emit_udp(g, &q->link, &q->srv, &q->cli, 53, q->cport, buf, n);
        }
        g->pend_head = (g->pend_head + 1) % TW_DNS_PENDING;
        g->pend_n--;
        return;
    }
    struct tw_dns_pending *q = &g->pend[(g->pend_head + g->pend_n) % TW_DNS_PENDING];
    unsigned client = tw_rng_below(&g->r, 300);
    memset(&q->link, 0, sizeof(q->link));
    q->link.v6 = client % 7 == 0;              /* ~15% of DNS clients speak IPv6 */
    q->link.vlan = client % 10 == 5 ? 100 : 0; /* ~10% of DNS clients sit on a VLAN */
    tw_host_client(&q->cli, q->link.v6, 0x0100 + client);
    q->srv = q->link.v6 ? g->resolver6[client & 1] : g->resolver4[client & 1];
    q->cport = (uint16_t)(1024 + tw_rng_below(&g->r, 64000));
    q->id = (uint16_t)tw_rng_next(&g->r);
    q->qtype = tw_pick_qtype(&g->r);
    q->edns = tw_rng_below(&g->r, 2) == 0;
    snprintf(q->name, sizeof(q->name), "%s", tw_pick_name(&g->r, g->nm));
    q->big = false;
    bool resend = false;
    if (g->field) {
        /* per client, as the unchanged fields above */
        q->link.svlan = q->link.vlan && client % 3 == 0 ? 200 : 0;
        q->link.v6ext = q->link.v6 && client % 5 == 0 ? 60 : 0;
        if (tw_rng_below(&g->r, 100) < 20) {
            tw_mix_case(&g->r, q->name);
            g->n_mixed_case++;
        }
        q->big = q->edns && q->qtype != 65 && tw_rng_below(&g->r, 100) < 6;
        resend = tw_rng_below(&g->r, 100) < 2;
    }
    size_t n = tw_build_dns_query(buf, q->id, q->name, q->qtype, q->edns);
    tw_emit_udp(g, &q->link, &q->cli, &q->srv, q->cport, 53, buf, n);
    tw_note_name(g, "dns", q->name);
    g->n_dns++;
    if (resend) {
        tw_emit_udp(g, &q->link, &q->cli, &q->srv, q->cport, 53, buf, n);
        tw_note_name(g, "dns", q->name);
        g->n_dns++;
        g->n_dns_resent++;
    }
    g->pend_n++;
}

static void tw_step_icmp(struct tw_gen *g)
{
    uint8_t *b = g->pkt;
    uint64_t unused;
    const struct tw_host *src, *dst;

    if (!g->icmp_reply_due) {
        tw_host_client(&g->icmp_cli, false, 0x20000 + tw_rng_below(&g->r, 256));
        tw_host_server(g, &g->icmp_srv, false, g->nm->benign[tw_rng_below(&g->r, 100)]);
        g->icmp_id = (uint16_t)tw_rng_next(&g->r);
        g->icmp_seq++;
        src = &g->icmp_cli;
        dst = &g->icmp_srv;
    } else {
        src = &g->icmp_srv;
        dst = &g->icmp_cli;
    }
    size_t off = tw_put_eth(b, dst->mac, src->mac, 0, 0, 0x0800);
    off += tw_put_ip(b + off, false, src->ip, dst->ip, 1, 64, 64, (uint16_t)tw_rng_next(&g->r),
                     &unused);
    uint8_t *m = b + off;
    m[0] = g->icmp_reply_due ? 0 : 8;
    m[1] = 0;
    m[2] = 0;
    m[3] = 0;
    tw_put_be16(m + 4, g->icmp_id);
    tw_put_be16(m + 6, g->icmp_seq);
    for (int i = 0; i < 56; i++)
        m[8 + i] = (uint8_t)(0x10 + i);
    tw_put_be16(m + 2, tw_csum_fold(tw_csum_add(0, m, 64)));
    g->icmp_reply_due = !g->icmp_reply_due;
    tw_write_frame(g, off + 64);
}

static void tw_step_arp(struct tw_gen *g)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t *b = g->pkt;
    const struct tw_host *snd, *tgt;

    if (!g->arp_reply_due) {
        tw_host_client(&g->arp_asker, false, 0x10000 + tw_rng_below(&g->r, 4096));
        g->arp_target = tw_rng_below(&g->r, 2) ? g->gw : g->resolver4[0];
        snd = &g->arp_asker;
        tgt = &g->arp_target;
    } else {
        snd = &g->arp_target;
        tgt = &g->arp_asker;
    }
    memset(b, 0, 60);
    size_t off = tw_put_eth(b, g->arp_reply_due ? tgt->mac : bcast, snd->mac, 0, 0, 0x0806);
    uint8_t *a = b + off;
    tw_put_be16(a, 1);
    tw_put_be16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    tw_put_be16(a + 6, g->arp_reply_due ? 2 : 1);
    memcpy(a + 8, snd->mac, 6);
    memcpy(a + 14, snd->ip, 4);
    if (g->arp_reply_due)
        memcpy(a + 18, tgt->mac, 6);
    memcpy(a + 24, tgt->ip, 4);
    g->arp_reply_due = !g->arp_reply_due;
    tw_write_frame(g, 60); /* padded to the Ethernet minimum */
}

static int tw_generate(struct tw_gen *g)
{
    static const struct {
        uint32_t hi; /* cumulative percent */
        int what;
    } mix[] = {{6, 0}, {76, 1}, {94, 2}, {97, 3}, {99, 4}, {100, 5}};
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } fh = {0xa1b2c3d4U, 2, 4, 0, 0, 65535, 1};

    /* pcapng: a Section Header Block (this host's byte order, section length unknown) and
     * one Interface Description Block (Ethernet, snap length 65535, no options). */
    static const struct {
        uint32_t shb_type, shb_len, bom;
        uint16_t major, minor;
        uint32_t section_len[2], shb_len2;
        uint32_t idb_type, idb_len;
        uint16_t linktype, reserved;
        uint32_t snaplen, idb_len2;
    } ng_head = {0x0A0D0D0Au, 28, 0x1A2B3C4Du, 1, 0, {0xffffffffu, 0xffffffffu}, 28,
                 1, 20, 1, 0, 65535, 20};
    _Static_assert(sizeof(ng_head) == 48, "pcapng head without padding");

    if (g->pcapng ? fwrite(&ng_head, sizeof(ng_head), 1, g->out) != 1
                  : fwrite(&fh, sizeof(fh), 1, g->out) != 1)
        return -1;
    while (g->frames < g->target && !g->write_err) {
        uint32_t x = tw_rng_below(&g->r, 100);
        int what = 0;
        for (size_t i = 0; i < TW_ARRAY_LEN(mix); i++) {
            if (x < mix[i].hi) {
                what = mix[i].what;
                break;
            }
        }
        switch (what) {
        case 0:
            tw_step_slots(g, g->bulk, TW_BULK_SLOTS, TW_K_BULK);
            break;
        case 1:
            tw_step_slots(g, g->shortf, TW_SHORT_SLOTS, TW_K_SHORT);
            break;
        case 2:
            tw_step_dns_udp(g);
            break;
        case 3:
            tw_step_slots(g, g->dnstcp, TW_DNSTCP_SLOTS, TW_K_DNSTCP);
            break;
        case 4:
            tw_step_icmp(g);
            break;
        default:
            tw_step_arp(g);
            break;
        }
    }
    return g->write_err ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Rules */

static int tw_write_rules(FILE *out, unsigned n)
{
    /* Suffixes of names the capture carries (popular benign names and tunnel services). */
    char match[6][96];
    unsigned n_match = 0;
    for (unsigned i = 0; i < 4; i++) {
        char nm[64];
        tw_benign_name(i, nm, sizeof(nm));
        snprintf(match[n_match++], sizeof(match[0]), "%s", strchr(nm, '.'));
    }
    snprintf(match[n_match++], sizeof(match[0]), ".trycloudflare.com");
    snprintf(match[n_match++], sizeof(match[0]), ".localto.net");

    for (unsigned i = 0; i < n; i++) {
        uint64_t st = 0x5167a000ULL + i;
        uint64_t a = tw_splitmix64(&st), b = tw_splitmix64(&st);
        bool conn = i % 2 == 0;
        char own[48];
        const char *suffix = own;
        bool hit = false;

        snprintf(own, sizeof(own), ".t%05u.tunnel-bench.net", i);
        for (unsigned j = 0; j < n_match && n >= 2 * n_match; j++) {
            if (i == (j + 1) * (n / (n_match + 1))) {
                suffix = match[j];
                hit = true;
            }
        }
        if (fprintf(
                out,
                "%stitle: Bench rule %u%s\n"
                "id: %08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-8%03" PRIx32 "-%012" PRIx64 "\n"
                "status: experimental\n"
                "description: Generated rule for the tunwatch benchmark\n"
                "author: tunwatch bench\n"
                "date: 2025-01-01\n"
                "tags:\n"
                "    - attack.command-and-control\n"
                "    - attack.t1572\n"
                "logsource:\n"
                "    category: %s\n"
                "detection:\n"
                "    selection:\n"
                "        %s|endswith: '%s'\n"
                "    condition: selection\n"
                "falsepositives:\n"
                "    - None, generated\n"
                "level: %s\n",
                i ? "---\n" : "", i, hit ? " (matches the bench capture)" : "", (uint32_t)(a >> 32),
                (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff, (uint32_t)(b >> 48) & 0xfff,
                (uint64_t)(b & 0xffffffffffffULL), conn ? "network_connection" : "dns_query",
                conn ? "DestinationHostname" : "QueryName", suffix, hit ? "high" : "medium") < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void tw_usage(FILE *f)
{
    fprintf(f, "usage: twgen [-n PACKETS] -o FILE.pcap [-s SEED] [-N NAMES.tsv] [--field] "
               "[--pcapng]\n"
               "       twgen --rules N -o RULES.yml\n");
}

static bool tw_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end != '\0' || s[0] == '-')
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"field", no_argument, NULL, 'F'},
        {"pcapng", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t packets = TW_GEN_DEFAULT_PACKETS, seed = TW_GEN_DEFAULT_SEED, rules = 0;
    const char *out_path = NULL, *names_path = NULL;
    bool rules_mode = false, field = false, pcapng = false;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "n:o:s:N:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!tw_parse_u64(optarg, &packets) || packets == 0) {
                fprintf(stderr, "twgen: bad packet count '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!tw_parse_u64(optarg, &seed)) {
                fprintf(stderr, "twgen: bad seed '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            if (!tw_parse_u64(optarg, &rules) || rules == 0 || rules > 10000000) {
                fprintf(stderr, "twgen: bad rule count '%s' (1..10000000)\n", optarg);
                return 2;
            }
            rules_mode = true;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'F':
            field = true;
            break;
        case 'P':
            pcapng = true;
            break;
        case 'N':
            names_path = optarg;
            break;
        case 'h':
            tw_usage(stdout);
            return 0;
        default:
            tw_usage(stderr);
            return 2;
        }
    }
    if (!out_path || optind != argc) {
        tw_usage(stderr);
        return 2;
    }

    FILE *out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "twgen: %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    if (rules_mode) {
        if (tw_write_rules(out, (unsigned)rules) != 0) {
            fprintf(stderr, "twgen: %s: write error: %s\n", out_path, strerror(errno));
            goto out_close;
        }
        rc = 0;
        goto out_close;
    }

    struct tw_gen *g = calloc(1, sizeof(*g));
    struct tw_names *nm = calloc(1, sizeof(*nm));
    static char obuf[1 << 22];
    struct timespec t0, t1;

    if (!g || !nm) {
        fprintf(stderr, "twgen: out of memory\n");
        goto out_free;
    }
    setvbuf(out, obuf, _IOFBF, sizeof(obuf));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tw_names_init(nm);
    g->nm = nm;
    g->out = out;
    g->target = packets;
    g->field = field;
    g->pcapng = pcapng;
    tw_rng_seed(&g->r, seed);
    tw_rng_seed(&g->follow_r, seed ^ 0xf0110eULL);
    tw_payload_pool_init(g);
    tw_host_client(&g->gw, false, 1);
    memcpy(g->gw.mac, (const uint8_t[]){0x00, 0x1b, 0x21, 0x0a, 0x00, 0x01}, 6);
    for (int i = 0; i < 2; i++) {
        tw_host_client(&g->resolver4[i], false, 53 + (unsigned)i);
        tw_host_client(&g->resolver6[i], true, 53 + (unsigned)i);
    }
    if (names_path) {
        g->names_out = fopen(names_path, "w");
        if (!g->names_out) {
            fprintf(stderr, "twgen: %s: %s\n", names_path, strerror(errno));
            goto out_free;
        }
    }
    if (tw_generate(g) != 0 || fflush(out) != 0) {
        fprintf(stderr, "twgen: %s: write error: %s\n", out_path, strerror(errno));
        goto out_names;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr,
                "twgen: %" PRIu64 " packets, %" PRIu64 " bytes on the wire (avg %.0f), %.1f s of "
                "traffic; %" PRIu64 " TCP flows (%" PRIu64 " IPv6, %" PRIu64 " VLAN, %" PRIu64
                " mid-stream, %" PRIu64 " post-quantum hellos), %" PRIu64 " SNI, %" PRIu64
                " DNS queries, %" PRIu64 " tunnel names, %" PRIu64 " flows to an address their "
                "client resolved; %.2f s, %.2f Mpkt/s\n",
                g->frames, g->bytes, (double)g->bytes / (double)g->frames, (double)g->ts_us / 1e6,
                g->n_flows, g->n_v6, g->n_vlan, g->n_midstream, g->n_pq, g->n_sni, g->n_dns,
                g->n_tunnel, g->n_followed, secs,
                (double)g->frames / secs / 1e6);
        if (g->field)
            fprintf(stderr,
                    "twgen: --field: %" PRIu64 " QinQ flows, %" PRIu64 " IPv6 flows with "
                    "destination options, %" PRIu64 " mixed-case names, %" PRIu64
                    " reordered hellos, %" PRIu64 " fragmented DNS responses, %" PRIu64
                    " resent queries, %" PRIu64 " TCP DNS pipelined, %" PRIu64 " split, %" PRIu64
                    " mid-stream (response only)\n",
                    g->n_qinq, g->n_v6ext, g->n_mixed_case, g->n_reordered, g->n_fragmented,
                    g->n_dns_resent, g->n_dns_pipelined, g->n_dns_split, g->n_dns_midstream);
    }
    rc = 0;
out_names:
    if (g->names_out && fclose(g->names_out) != 0) {
        fprintf(stderr, "twgen: %s: %s\n", names_path, strerror(errno));
        rc = 1;
    }
out_free:
    free(nm);
    free(g);
out_close:
    if (fclose(out) != 0) {
        fprintf(stderr, "twgen: %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    return rc;
}
