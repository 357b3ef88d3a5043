/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for IP reassembly through the packet preparation (tw_prep_decode): a fresh
 * small reassembler per input (8 datagrams, 6 fragments each, the smallest memory that holds
 * one datagram, a 3-second timeout), fed a sequence of records. The first byte of a record
 * picks its kind:
 *   even: a raw frame: link type selector, 16-bit length, the bytes (Ethernet or raw IP);
 *   odd:  a synthesised fragment of one of four datagrams (IPv4 or IPv6, UDP or TCP, 0..2
 *         VLAN tags): datagram, offset and length in 8-byte units, flags (more, corrupt a
 *         byte, clock step), so that overlaps, conflicts, bounds and completions are reached.
 * Checks: the bounds hold after every record, an inspected packet's slices lie inside the
 * frame it came from, and every frame is copied to an exact-size buffer.
 */
#include "tunwatch/decode/prep.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/decode/csum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DG 8

/* Builds a fragment of datagram k into buf; returns its length. */
static size_t synth(uint8_t *buf, unsigned k, size_t off, size_t len, bool more, uint8_t tags)
{
    uint8_t version = (k & 1) ? 6 : 4, proto = (k & 2) ? 6 : 17;
    size_t n = 12;

    memset(buf, 0, 14 + 8 + 48 + 2048);
    buf[0] = 2;
    buf[6] = 2;
    buf[11] = 1;
    for (unsigned t = 0; t < tags % 3; t++) {
        buf[n] = t == 0 && tags % 3 == 2 ? 0x88 : 0x81;
        buf[n + 1] = t == 0 && tags % 3 == 2 ? 0xa8 : 0x00;
        buf[n + 3] = (uint8_t)(10 + t);
        n += 4;
    }
    buf[n] = version == 4 ? 0x08 : 0x86;
    buf[n + 1] = version == 4 ? 0x00 : 0xdd;
    n += 2;
    uint8_t *h = buf + n;
    if (version == 4) {
        h[0] = 0x45;
        h[2] = (uint8_t)((20 + len) >> 8);
        h[3] = (uint8_t)(20 + len);
        h[5] = (uint8_t)k;
        uint16_t fo = (uint16_t)((more ? 0x2000 : 0) | (off / 8));
        h[6] = (uint8_t)(fo >> 8);
        h[7] = (uint8_t)fo;
        h[8] = 64;
        h[9] = proto;
        h[12] = 10;
        h[15] = 1;
        h[16] = 10;
        h[19] = 2;
        tw_csum_ip4_fill(h, 20);
        n += 20;
    } else {
        h[0] = 0x60;
        h[4] = (uint8_t)((8 + len) >> 8);
        h[5] = (uint8_t)(8 + len);
        h[6] = 44;
        h[7] = 64;
        h[8] = 0xfd;
        h[23] = 1;
        h[24] = 0xfd;
        h[39] = 2;
        uint8_t *fh = h + 40;
        fh[0] = proto;
        uint16_t fo = (uint16_t)(off | (more ? 1 : 0));
        fh[2] = (uint8_t)(fo >> 8);
        fh[3] = (uint8_t)fo;
        fh[7] = (uint8_t)k;
        n += 48;
    }
    for (size_t i = 0; i < len; i++) /* the datagram's bytes: a function of k and offset */
        buf[n + i] = (uint8_t)((off + i) * 31 + k);
    if (off == 0 && len >= 8) { /* ports, and a UDP length that says the whole datagram */
        buf[n + 1] = 53;
        buf[n + 3] = 53;
        if (proto == 6)
            buf[n + 12] = 0x50;
    }
    return n + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tw_prep_config cfg = {.defrag = {.memory = 0, .max_frags = 6, .max_datagrams = MAX_DG,
                                            .timeout = 3},
                                 .checksums = (enum tw_csum_mode)(size % 3)};
    struct tw_prep *pp = NULL;

    for (cfg.defrag.memory = 64 * 1024; pp == NULL; cfg.defrag.memory += 4096)
        pp = tw_prep_new(&cfg);

    struct tw_prep_stats st;
    struct tw_decode_stats ds;
    memset(&st, 0, sizeof(st));
    memset(&ds, 0, sizeof(ds));
    static uint8_t sbuf[14 + 8 + 48 + 2048];
    int64_t now = 1000;
    size_t i = 0;

    while (i < size) {
        uint8_t kind = data[i++];
        const uint8_t *src;
        size_t len;
        int link;
        if (kind & 1) {
            if (size - i < 4)
                break;
            unsigned k = data[i] % 4;
            size_t off = (size_t)(data[i + 1] % 64) * 8, flen = (size_t)(data[i + 2] % 32 + 1) * 8;
            uint8_t fl = data[i + 3];
            i += 4;
            if (fl & 0x10)
                flen -= fl & 7; /* a last fragment of any length */
            len = synth(sbuf, k, off, flen, fl & 1, (uint8_t)(fl >> 5));
            if (fl & 2)
                sbuf[len - 1 - (fl >> 5)] ^= 0x55; /* conflicting bytes */
            if (fl & 4)
                now += fl >> 4;
            src = sbuf;
            link = 1;
        } else {
            if (size - i < 3)
                break;
            link = (data[i] & 1) ? 101 : 1;
            len = (size_t)data[i + 1] << 8 | data[i + 2];
            i += 3;
            if (len > size - i)
                len = size - i;
            src = data + i;
            i += len;
        }
        uint8_t *buf = malloc(len ? len : 1);
        if (buf == NULL)
            break;
        memcpy(buf, src, len);
        struct tw_prep_frame pf = {link, buf, len};
        struct tw_pkt p;
        int rc = tw_prep_decode(pp, &pf, now, &p, &ds, &st);
        if (rc == 0 && (p.payload < pf.data || p.payload + p.payload_len > pf.data + pf.caplen ||
                        p.l4 < pf.data || p.l4 + (p.l4_proto == 6 ? 20 : 8) > pf.data + pf.caplen))
            abort();
        if (st.defrag.reassembled > st.defrag.fragments)
            abort();
        free(buf);
    }
    tw_prep_free(pp);
    return 0;
}
