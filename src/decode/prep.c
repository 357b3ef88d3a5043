/* SPDX-License-Identifier: MIT */
#include "tunwatch/decode/prep.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/decode/csum.h"

enum auto_state { AUTO_OPEN, AUTO_LOCKED_ON, AUTO_OFFLOAD };

struct tw_prep {
    struct tw_prep_config cfg;
    struct tw_defrag *defrag;
    struct tw_csum_ctl csum;
};

void tw_csum_ctl_init(struct tw_csum_ctl *c, enum tw_csum_mode mode)
{
    *c = (struct tw_csum_ctl){.mode = mode, .state = AUTO_OPEN};
}

bool tw_csum_offload(const struct tw_csum_ctl *c)
{
    return c->mode == TW_CSUM_AUTO && c->state == AUTO_OFFLOAD;
}

bool tw_csum_deciding(const struct tw_csum_ctl *c)
{
    return c->mode == TW_CSUM_AUTO && c->state == AUTO_OPEN;
}

int tw_prep_verify_early(struct tw_csum_ctl *c, struct tw_pkt *p, struct tw_prep_stats *st)
{
    bool pure_ack = p->l4_proto == 6 && p->payload_len == 0 && (p->tcp_flags & 0x07) == 0;

    if (!p->csum_pending || pure_ack || !tw_csum_deciding(c))
        return 0;
    if (tw_prep_verify(c, p, st) != 0)
        return TW_PREP_BAD_CHECKSUM;
    p->csum_pending = 0;
    return 0;
}

struct tw_csum_ctl *tw_prep_csum(struct tw_prep *pp)
{
    return &pp->csum;
}

/* Whether checksums are validated now (not off, and auto has not assumed offload). */
static bool validating(const struct tw_csum_ctl *c)
{
    return c->mode != TW_CSUM_OFF && c->state != AUTO_OFFLOAD;
}

struct tw_prep *tw_prep_new(const struct tw_prep_config *cfg)
{
    struct tw_prep *pp = calloc(1, sizeof(*pp));

    if (pp == NULL)
        return NULL;
    pp->cfg = *cfg;
    tw_csum_ctl_init(&pp->csum, cfg->checksums);
    pp->defrag = tw_defrag_new(&cfg->defrag);
    if (pp->defrag == NULL) {
        free(pp);
        return NULL;
    }
    return pp;
}

void tw_prep_free(struct tw_prep *pp)
{
    if (pp == NULL)
        return;
    tw_defrag_free(pp->defrag);
    free(pp);
}

const char *tw_prep_checksum_state(enum tw_csum_mode mode, const struct tw_prep_stats *st)
{
    switch (mode) {
    case TW_CSUM_ON:
        return "on";
    case TW_CSUM_OFF:
        return "off";
    default:
        return st->checksum_offload_detected ? "off (offload detected)" : "auto";
    }
}

/* Whether the checksum field at field holds the pseudo-header sum a NIC with checksum
 * offload completes (what Linux leaves in it: the folded sum, not inverted). */
static bool offload_partial(uint64_t pseudo, const uint8_t *field)
{
    uint16_t v, f = tw_csum_fold(pseudo);
    memcpy(&v, field, 2);
    return v == f;
}

/* 0 when the segment may be inspected, else TW_PREP_BAD_CHECKSUM (counted). */
static int check_l4(struct tw_csum_ctl *c, const struct tw_pkt *p, struct tw_prep_stats *st)
{
    const uint8_t *l4 = p->l4;
    size_t field = p->l4_proto == 6 ? 16 : 6;

    if (l4 == NULL || p->payload_len != p->payload_wire_len ||
        (size_t)(p->payload + p->payload_len - l4) != p->l4_len || p->l4_len < field + 2) {
        st->checksum_unverified++;
        return 0;
    }
    if (p->l4_proto == 17 && p->ip_version == 4 && l4[6] == 0 && l4[7] == 0)
        return 0; /* no checksum sent */
    const uint8_t *src = p->ip_version == 4 ? p->ip_hdr + 12 : p->ip_hdr + 8;
    const uint8_t *dst = p->ip_version == 4 ? p->ip_hdr + 16 : p->ip_hdr + 24;
    uint64_t pseudo = tw_csum_pseudo(p->ip_version, src, dst, p->l4_proto, (uint32_t)p->l4_len);
    st->checksum_checked++;
    if (tw_csum_deciding(c))
        c->checked++;
    if (tw_csum_fold(tw_csum_partial(l4, p->l4_len, pseudo)) == 0xffff)
        return 0;
    bool partial = offload_partial(pseudo, l4 + field);
    if (tw_csum_deciding(c)) {
        c->wrong++;
        if (partial) {
            c->partial++;
            st->checksum_partial++;
            return 0;
        }
    }
    if (p->l4_proto == 6)
        st->tcp_bad_checksum++;
    else
        st->udp_bad_checksum++;
    return TW_PREP_BAD_CHECKSUM;
}

/* auto: moves to a final state once the evidence is in (the packets checked while open,
 * whatever stats they were counted in). */
static void auto_decide(struct tw_csum_ctl *c, struct tw_prep_stats *st)
{
    if (c->checked >= TW_PREP_AUTO_MIN && c->wrong * 2 > c->checked) {
        c->state = AUTO_OFFLOAD;
        st->checksum_offload_detected = 1;
    } else if (c->checked >= TW_PREP_AUTO_LOCK && c->partial * 100 < c->checked) {
        c->state = AUTO_LOCKED_ON;
    }
}

int tw_prep_verify(struct tw_csum_ctl *c, const struct tw_pkt *p, struct tw_prep_stats *st)
{
    if (!p->csum_pending)
        return 0;
    if (!validating(c)) {
        st->checksum_unverified++;
        return 0;
    }
    int rc;
    if (p->ip_version == 4 && !tw_csum_ip4_ok(p->ip_hdr, (size_t)(p->ip_hdr[0] & 0x0f) * 4)) {
        /* evidence too: a capture whose addresses were rewritten without fixing the
         * checksums (anonymised, replayed) is as untrustworthy as an offloaded one */
        st->ip4_bad_checksum++;
        st->checksum_checked++;
        if (tw_csum_deciding(c)) {
            c->checked++;
            c->wrong++;
        }
        rc = TW_PREP_BAD_CHECKSUM;
    } else {
        rc = check_l4(c, p, st);
    }
    if (c->mode == TW_CSUM_AUTO && c->state == AUTO_OPEN) {
        auto_decide(c, st);
        if (c->state == AUTO_OFFLOAD)
            return 0; /* this packet is the one that tipped it: inspect it */
    }
    return rc;
}

/* Fragments nest (a fragmented tunnel carrying fragments): bounded like tunnels. */
#define MAX_ROUNDS (TW_DECODE_MAX_ENCAP + 1)

int tw_prep_decode_deferred(struct tw_prep *pp, struct tw_prep_frame *fr, int64_t now,
                            struct tw_pkt *out, struct tw_decode_stats *dst,
                            struct tw_prep_stats *st)
{
    struct tw_frag f;

    tw_defrag_expire(pp->defrag, now, &st->defrag);
    for (int round = 0; round < MAX_ROUNDS; round++) {
        int rc = tw_decode_frag(fr->linktype, fr->data, fr->caplen, out, dst, &f);
        if (rc == 0) {
            out->csum_pending = 1;
            return 0;
        }
        if (rc != TW_DECODE_FRAGMENT)
            return rc;
        if (f.version == 4 && validating(&pp->csum) && !tw_csum_ip4_ok(f.hdr, f.hdr_len)) {
            st->ip4_bad_checksum++;
            if (tw_csum_deciding(&pp->csum))
                pp->csum.wrong++; /* evidence against the capture, though no segment checked */
            return TW_PREP_BAD_CHECKSUM;
        }
        const uint8_t *frame;
        size_t len;
        if (tw_defrag_add(pp->defrag, &f, now, &frame, &len, &st->defrag) == 0)
            return TW_EINCOMPLETE;
        fr->linktype = TW_LINK_REASSEMBLED;
        fr->data = frame;
        fr->caplen = len;
    }
    dst->reason[TW_DR_TUNNEL_TOO_DEEP]++;
    return TW_ESKIP;
}

int tw_prep_decode(struct tw_prep *pp, struct tw_prep_frame *fr, int64_t now, struct tw_pkt *out,
                   struct tw_decode_stats *dst, struct tw_prep_stats *st)
{
    int rc = tw_prep_decode_deferred(pp, fr, now, out, dst, st);

    if (rc == 0 && (rc = tw_prep_verify(&pp->csum, out, st)) == 0)
        out->csum_pending = 0;
    return rc;
}

size_t tw_prep_counters(const struct tw_prep_stats *st, const char **names, uint64_t *values,
                        size_t cap)
{
    size_t n = tw_defrag_counters(&st->defrag, names, values, cap);
    const struct {
        const char *name;
        uint64_t v;
    } c[] = {
        {"ip4_bad_checksum", st->ip4_bad_checksum},
        {"tcp_bad_checksum", st->tcp_bad_checksum},
        {"udp_bad_checksum", st->udp_bad_checksum},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(c); i++, n++) {
        if (n < cap) {
            names[n] = c[i].name;
            values[n] = c[i].v;
        }
    }
    return n;
}
