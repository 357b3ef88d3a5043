/* SPDX-License-Identifier: MIT */
/*
 * twgen's frames: Ethernet, IPv4/IPv6, TCP and UDP headers with correct checksums, and the
 * pcap record each frame is written as.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "twgen.h"

void tw_write_frame(struct tw_gen *g, size_t len)
{
    uint32_t gap = tw_rng_below(&g->r, 2 * TW_GEN_MEAN_GAP_US + 1);
    uint32_t hdr[4];

    g->ts_us += gap;
    if (g->pcapng) {
        /* Enhanced Packet Block: interface 0, microseconds since 1970 (the default
         * if_tsresol), the data padded to 4 bytes, no options. */
        static const uint8_t zero[4];
        uint64_t units = (uint64_t)TW_GEN_START_SEC * 1000000U + g->ts_us;
        size_t pad = (4 - len % 4) % 4;
        uint32_t total = 32 + (uint32_t)(len + pad);
        uint32_t epb[7] = {6, total, 0, (uint32_t)(units >> 32), (uint32_t)units,
                           (uint32_t)len, (uint32_t)len};
        if (fwrite(epb, sizeof(epb), 1, g->out) != 1 || fwrite(g->pkt, len, 1, g->out) != 1 ||
            (pad > 0 && fwrite(zero, pad, 1, g->out) != 1) || fwrite(&total, 4, 1, g->out) != 1)
            g->write_err = true;
    } else {
        hdr[0] = (uint32_t)(TW_GEN_START_SEC + g->ts_us / 1000000U);
        hdr[1] = (uint32_t)(g->ts_us % 1000000U);
        hdr[2] = (uint32_t)len;
        hdr[3] = (uint32_t)len;
        if (fwrite(hdr, sizeof(hdr), 1, g->out) != 1 || fwrite(g->pkt, len, 1, g->out) != 1)
            g->write_err = true;
    }
    g->frames++;
    g->bytes += len;
}

/* Ethernet (+802.1ad service tag, +802.1Q tag) header; returns its length. */
size_t tw_put_eth(uint8_t *b, const uint8_t *dst, const uint8_t *src, uint16_t svlan, uint16_t vlan,
                  uint16_t etype)
{
    size_t off = 12;
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    if (svlan) {
        tw_put_be16(b + off, 0x88a8);
        tw_put_be16(b + off + 2, svlan);
        off += 4;
    }
    if (vlan) {
        tw_put_be16(b + off, 0x8100);
        tw_put_be16(b + off + 2, vlan);
        off += 4;
    }
    tw_put_be16(b + off, etype);
    return off + 2;
}

/* IP header for an l4_len-byte payload; returns its length and the pseudo-header sum. */
size_t tw_put_ip(uint8_t *b, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                 size_t l4_len, uint8_t ttl, uint16_t ipid, uint64_t *pseudo)
{
    return tw_put_ip_ext(b, v6, src, dst, proto, l4_len, ttl, ipid, 0, pseudo);
}

size_t tw_put_ip_ext(uint8_t *b, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     size_t l4_len, uint8_t ttl, uint16_t ipid, uint8_t ext, uint64_t *pseudo)
{
    if (v6) {
        size_t el = ext ? 8 : 0;
        b[0] = 0x60;
        b[1] = 0;
        b[2] = 0;
        b[3] = 0;
        tw_put_be16(b + 4, (uint16_t)(el + l4_len));
        b[6] = ext ? ext : proto;
        b[7] = ttl;
        memcpy(b + 8, src, 16);
        memcpy(b + 24, dst, 16);
        *pseudo = tw_csum_add(0, b + 8, 32) + l4_len + proto;
        if (ext) {
            /* hop-by-hop (0) or destination options (60): one PadN option of 4 bytes */
            static const uint8_t padn[6] = {0x01, 0x04, 0, 0, 0, 0};
            b[40] = proto;
            b[41] = 0;
            memcpy(b + 42, padn, sizeof(padn));
        }
        return 40 + el;
    }
    b[0] = 0x45;
    b[1] = 0;
    tw_put_be16(b + 2, (uint16_t)(20 + l4_len));
    tw_put_be16(b + 4, ipid);
    tw_put_be16(b + 6, proto == 17 ? 0 : 0x4000);
    b[8] = ttl;
    b[9] = proto;
    b[10] = 0;
    b[11] = 0;
    memcpy(b + 12, src, 4);
    memcpy(b + 16, dst, 4);
    tw_put_be16(b + 10, tw_csum_fold(tw_csum_add(0, b, 20)));
    *pseudo = tw_csum_add(0, b + 12, 8) + l4_len + proto;
    return 20;
}

/*
 * One TCP segment of flow f. payload_sum is the precomputed tw_csum_add() of the payload, or
 * UINT64_MAX to compute it here. Advances the sender's sequence number.
 */
void tw_emit_tcp(struct tw_gen *g, struct tw_flow *f, bool c2s, uint8_t flags,
                 const uint8_t *payload, size_t plen, uint64_t payload_sum)
{
    const struct tw_host *src = c2s ? &f->cli : &f->srv;
    const struct tw_host *dst = c2s ? &f->srv : &f->cli;
    uint32_t *seq = c2s ? &f->cseq : &f->sseq;
    uint32_t ack = c2s ? f->sseq : f->cseq;
    uint8_t *b = g->pkt;
    size_t thl = (flags & TW_TCP_SYN) ? 40 : 32;
    uint64_t sum;
    size_t off = tw_put_eth(b, dst->mac, src->mac, f->svlan, f->vlan, f->v6 ? 0x86dd : 0x0800);
    off += tw_put_ip_ext(b + off, f->v6, src->ip, dst->ip, 6, thl + plen, c2s ? f->cttl : f->sttl,
                         c2s ? f->cipid++ : f->sipid++, f->v6ext, &sum);

    uint8_t *t = b + off;
    uint32_t tsval = (uint32_t)(g->ts_us / 1000U) + f->ts_off + (c2s ? 0 : 77777U);
    uint32_t tsecr = (uint32_t)(g->ts_us / 1000U) + f->ts_off + (c2s ? 77777U : 0) - 1;
    tw_put_be16(t, c2s ? f->cport : f->sport);
    tw_put_be16(t + 2, c2s ? f->sport : f->cport);
    tw_put_be32(t + 4, *seq);
    tw_put_be32(t + 8, (flags & TW_TCP_ACK) ? ack : 0);
    t[12] = (uint8_t)((thl / 4) << 4);
    t[13] = flags;
    tw_put_be16(t + 14, (flags & TW_TCP_SYN) ? 64240 : 501);
    t[16] = 0;
    t[17] = 0;
    t[18] = 0;
    t[19] = 0;
    if (flags & TW_TCP_SYN) {
        static const uint8_t opt_head[] = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a};
        memcpy(t + 20, opt_head, 8);
        if (f->v6)
            tw_put_be16(t + 22, TW_MSS6);
        tw_put_be32(t + 28, tsval);
        tw_put_be32(t + 32, (flags & TW_TCP_ACK) ? tsecr : 0);
        t[36] = 0x01;
        t[37] = 0x03;
        t[38] = 0x03;
        t[39] = 0x07;
    } else {
        t[20] = 0x01;
        t[21] = 0x01;
        t[22] = 0x08;
        t[23] = 0x0a;
        tw_put_be32(t + 24, tsval);
        tw_put_be32(t + 28, tsecr);
    }
    if (plen)
        memcpy(t + thl, payload, plen);
    sum = tw_csum_add(sum, t, thl);
    sum += payload_sum != UINT64_MAX ? payload_sum : tw_csum_add(0, payload, plen);
    tw_put_be16(t + 16, tw_csum_fold(sum));
    *seq += (uint32_t)plen + ((flags & (TW_TCP_SYN | TW_TCP_FIN)) ? 1 : 0);
    tw_write_frame(g, off + thl + plen);
}

void tw_emit_udp(struct tw_gen *g, const struct tw_link *l, const struct tw_host *src,
                 const struct tw_host *dst, uint16_t sport, uint16_t dport, const uint8_t *payload,
                 size_t plen)
{
    uint8_t *b = g->pkt;
    uint64_t sum;
    size_t off = tw_put_eth(b, dst->mac, src->mac, l->svlan, l->vlan, l->v6 ? 0x86dd : 0x0800);
    off += tw_put_ip_ext(b + off, l->v6, src->ip, dst->ip, 17, 8 + plen, 64,
                         (uint16_t)tw_rng_next(&g->r), l->v6ext, &sum);
    uint8_t *u = b + off;
    tw_put_be16(u, sport);
    tw_put_be16(u + 2, dport);
    tw_put_be16(u + 4, (uint16_t)(8 + plen));
    u[6] = 0;
    u[7] = 0;
    memcpy(u + 8, payload, plen);
    uint16_t c = tw_csum_fold(tw_csum_add(sum, u, 8 + plen));
    tw_put_be16(u + 6, c ? c : 0xffff);
    tw_write_frame(g, off + 8 + plen);
}

/*
 * One UDP datagram from src to dst in IP fragments of at most mtu bytes of IP packet each
 * (IPv4 flags and offset, or an IPv6 fragment header), the last fragment first when reverse.
 */
void tw_emit_udp_frags(struct tw_gen *g, const struct tw_link *l, const struct tw_host *src,
                       const struct tw_host *dst, uint16_t sport, uint16_t dport,
                       const uint8_t *payload, size_t plen, size_t mtu, bool reverse)
{
    uint8_t dgram[8 + TW_DNS_BIG_MAX];
    size_t ulen = 8 + plen;
    uint64_t sum;
    uint32_t id = (uint32_t)tw_rng_next(&g->r);
    size_t chunk = ((mtu - (l->v6 ? 48 : 20)) / 8) * 8;
    size_t nfrag = (ulen + chunk - 1) / chunk;

    if (plen > TW_DNS_BIG_MAX)
        return;
    tw_put_be16(dgram, sport);
    tw_put_be16(dgram + 2, dport);
    tw_put_be16(dgram + 4, (uint16_t)ulen);
    dgram[6] = 0;
    dgram[7] = 0;
    memcpy(dgram + 8, payload, plen);
    if (l->v6)
        sum = tw_csum_add(0, src->ip, 16) + tw_csum_add(0, dst->ip, 16) + ulen + 17;
    else
        sum = tw_csum_add(0, src->ip, 4) + tw_csum_add(0, dst->ip, 4) + ulen + 17;
    uint16_t c = tw_csum_fold(tw_csum_add(sum, dgram, ulen));
    tw_put_be16(dgram + 6, c ? c : 0xffff);

    for (size_t k = 0; k < nfrag; k++) {
        size_t i = reverse ? nfrag - 1 - k : k;
        size_t foff = i * chunk;
        size_t flen = ulen - foff < chunk ? ulen - foff : chunk;
        bool more = i + 1 < nfrag;
        uint8_t *b = g->pkt;
        uint64_t unused;
        size_t off = tw_put_eth(b, dst->mac, src->mac, l->svlan, l->vlan, l->v6 ? 0x86dd : 0x0800);
        if (l->v6) {
            off += tw_put_ip(b + off, true, src->ip, dst->ip, 44, 8 + flen, 64, 0, &unused);
            b[off] = 17;
            b[off + 1] = 0;
            tw_put_be16(b + off + 2, (uint16_t)(foff | (more ? 1 : 0)));
            tw_put_be32(b + off + 4, id);
            off += 8;
        } else {
            uint8_t *ip = b + off;
            off += tw_put_ip(ip, false, src->ip, dst->ip, 17, flen, 64, (uint16_t)id, &unused);
            tw_put_be16(ip + 6, (uint16_t)((foff / 8) | (more ? 0x2000 : 0)));
            ip[10] = 0;
            ip[11] = 0;
            tw_put_be16(ip + 10, tw_csum_fold(tw_csum_add(0, ip, 20)));
        }
        memcpy(b + off, dgram + foff, flen);
        tw_write_frame(g, off + flen);
    }
}
