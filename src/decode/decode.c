/* SPDX-License-Identifier: MIT */
/*
 * Packet decoder: link layer -> VLAN/MPLS/PPPoE -> IP -> tunnels -> innermost IP -> TCP/UDP.
 *
 * One loop walks the layers. The state is a "next protocol" (an Ethertype, or one of the
 * pseudo protocols below) and a cursor over the bytes that layer may use. Every layer narrows
 * the cursor to the smaller of what was captured and what its header declares, so a layer can
 * never see an outer layer's trailer or Ethernet padding. Each refusal counts one reason.
 */
#include "tunwatch/decode/decode.h"

#include <string.h>

enum {
    ET_IP4 = 0x0800,
    ET_IP6 = 0x86dd,
    ET_VLAN = 0x8100,
    ET_QINQ = 0x88a8,
    ET_QINQ_OLD = 0x9100,
    ET_MPLS_UC = 0x8847,
    ET_MPLS_MC = 0x8848,
    ET_PPPOE_SESS = 0x8864,
    ET_TEB = 0x6558, /* transparent Ethernet bridging */
    ET_ERSPAN2 = 0x88be,
    ET_ERSPAN3 = 0x22eb,
    ET_PPP = 0x880b,
    /* Pseudo protocols, outside the 16-bit Ethertype space. */
    P_ETH = 0x10000, /* an Ethernet header follows */
    P_GUESS,         /* IPv4 or IPv6, told apart by the version nibble */
    P_PPP,           /* PPP: optional ff 03, then a 1- or 2-byte protocol number */
    P_GRE,           /* a GRE header follows */
    P_WLAN,          /* an IEEE 802.11 frame follows */
    P_WLAN_CAPWAP,   /* the same, frame control possibly byte-swapped (CAPWAP from Cisco APs) */
};

enum {
    IPP_HOPOPT = 0,
    IPP_IPIP = 4,
    IPP_TCP = 6,
    IPP_UDP = 17,
    IPP_IPV6 = 41,
    IPP_ROUTING = 43,
    IPP_FRAGMENT = 44,
    IPP_GRE = 47,
    IPP_AH = 51,
    IPP_NONXT = 59,
    IPP_DSTOPTS = 60,
    IPP_MOBILITY = 135,
    IPP_MPLS = 137,
    IPP_HIP = 139,
    IPP_SHIM6 = 140,
};

enum {
    PORT_DNS = 53,
    PORT_GTPU = 2152,
    PORT_TEREDO = 3544,
    PORT_GRE_UDP = 4754,
    PORT_VXLAN = 4789,
    PORT_GENEVE = 6081,
    PORT_CAPWAP_DATA = 5247,
};

struct dctx {
    struct tw_pkt *out;
    struct tw_decode_stats *st;
    const uint8_t *ip_hdr; /* innermost valid IP header so far, NULL after entering a tunnel */
    unsigned encap;        /* tunnels entered */
    unsigned vlans;        /* VLAN tags seen, all layers */
    struct tw_frag *frag;  /* fragments are reported here (tw_decode_frag), or skipped */
};

static const char *const reason_names[TW_DR__COUNT] = {
    [TW_DR_LINK_TRUNCATED] = "link_truncated",
    [TW_DR_LINK_UNSUPPORTED] = "link_unsupported",
    [TW_DR_VLAN_TRUNCATED] = "vlan_truncated",
    [TW_DR_VLAN_TOO_DEEP] = "vlan_too_deep",
    [TW_DR_NOT_IP] = "not_ip",
    [TW_DR_IP4_TRUNCATED] = "ip4_truncated",
    [TW_DR_IP4_BAD_VERSION] = "ip4_bad_version",
    [TW_DR_IP4_BAD_IHL] = "ip4_bad_ihl",
    [TW_DR_IP4_BAD_TOTLEN] = "ip4_bad_totlen",
    [TW_DR_IP4_FRAGMENT] = "ip4_fragment",
    [TW_DR_IP6_TRUNCATED] = "ip6_truncated",
    [TW_DR_IP6_BAD_VERSION] = "ip6_bad_version",
    [TW_DR_IP6_BAD_PLEN] = "ip6_bad_plen",
    [TW_DR_IP6_EXT_TRUNCATED] = "ip6_ext_truncated",
    [TW_DR_IP6_EXT_TOO_MANY] = "ip6_ext_too_many",
    [TW_DR_IP6_FRAGMENT] = "ip6_fragment",
    [TW_DR_L4_OTHER] = "l4_other",
    [TW_DR_UDP_TRUNCATED] = "udp_truncated",
    [TW_DR_UDP_BAD_LEN] = "udp_bad_len",
    [TW_DR_TCP_TRUNCATED] = "tcp_truncated",
    [TW_DR_TCP_BAD_OFFSET] = "tcp_bad_offset",
    [TW_DR_TUNNEL_TRUNCATED] = "tunnel_truncated",
    [TW_DR_PAYLOAD_TRUNCATED] = "payload_truncated",
    [TW_DR_TUNNEL_TOO_DEEP] = "tunnel_too_deep",
    [TW_DR_TUNNEL_UNSUPPORTED] = "tunnel_unsupported",
    [TW_DR_MPLS_TRUNCATED] = "mpls_truncated",
    [TW_DR_PPP_TRUNCATED] = "ppp_truncated",
    [TW_DR_IP6_NO_NEXT] = "ip6_no_next",
    [TW_DR_TUNNEL_MALFORMED] = "tunnel_malformed",
};

const char *tw_decode_reason_name(enum tw_decode_reason r)
{
    if ((unsigned)r >= TW_DR__COUNT || reason_names[r] == NULL)
        return "unknown";
    return reason_names[r];
}

bool tw_decode_reason_is_benign(enum tw_decode_reason r)
{
    return r == TW_DR_NOT_IP || r == TW_DR_L4_OTHER || r == TW_DR_IP6_NO_NEXT;
}

/* Reasons for frames that are well formed but not for us (or beyond our bounds). */
static bool reason_is_skip(enum tw_decode_reason r)
{
    switch (r) {
    case TW_DR_NOT_IP:
    case TW_DR_L4_OTHER:
    case TW_DR_IP6_NO_NEXT:
    case TW_DR_IP4_FRAGMENT:
    case TW_DR_IP6_FRAGMENT:
    case TW_DR_LINK_UNSUPPORTED:
    case TW_DR_TUNNEL_UNSUPPORTED:
    case TW_DR_VLAN_TOO_DEEP:
    case TW_DR_TUNNEL_TOO_DEEP:
    case TW_DR_IP6_EXT_TOO_MANY:
        return true;
    default:
        return false;
    }
}

static int drop(struct dctx *d, enum tw_decode_reason r)
{
    d->st->reason[r]++;
    return reason_is_skip(r) ? TW_ESKIP : TW_EMALFORMED;
}

bool tw_decode_linktype_supported(int linktype)
{
    switch (linktype) {
    case TW_LINK_NULL:
    case TW_LINK_ETHERNET:
    case TW_LINK_RAW:
    case TW_LINK_DLT_RAW1:
    case TW_LINK_DLT_RAW2:
    case TW_LINK_LOOP:
    case TW_LINK_LINUX_SLL:
    case TW_LINK_IPV4:
    case TW_LINK_IPV6:
    case TW_LINK_LINUX_SLL2:
    case TW_LINK_PPP:
    case TW_LINK_PPP_HDLC:
    case TW_LINK_C_HDLC:
    case TW_LINK_NFLOG:
    case TW_LINK_IEEE802_11:
    case TW_LINK_RADIOTAP:
        return true;
    default:
        return false;
    }
}

/* Marks the start of a new encapsulation level; false (reason counted) past the bound. */
static bool enter_tunnel(struct dctx *d)
{
    d->ip_hdr = NULL;
    return ++d->encap <= TW_DECODE_MAX_ENCAP;
}

/* Narrows c to at most n bytes (a header's declared length); Ethernet padding falls away. */
static void cur_clamp(struct tw_cur *c, size_t n)
{
    if (tw_cur_left(c) > n)
        c->end = c->p + n;
}

/* Fills the address fields from the innermost IP header and counts the success. */
static int finish(struct dctx *d, const uint8_t *payload, size_t len, size_t wire_len)
{
    struct tw_pkt *out = d->out;
    const uint8_t *h = d->ip_hdr;

    if (out->ip_version == 4) {
        memcpy(out->src, h + 12, 4);
        memcpy(out->dst, h + 16, 4);
    } else {
        memcpy(out->src, h + 8, 16);
        memcpy(out->dst, h + 24, 16);
    }
    out->ip_hdr = h;
    out->payload = payload;
    out->payload_len = len;
    out->payload_wire_len = wire_len;
    if (TW_UNLIKELY(len < wire_len))
        d->st->reason[TW_DR_PAYLOAD_TRUNCATED]++;
    if (out->l4_proto == IPP_TCP)
        d->st->tcp++;
    else
        d->st->udp++;
    return TW_OK;
}

/*
 * UDP tunnels. Returns 1 with *c narrowed to the inner packet and *next set, 0 when the
 * datagram is plain UDP, or a negative TW_E* (reason counted). c covers the captured UDP
 * payload; wire is its declared length. VXLAN, Geneve and GRE-in-UDP are told by destination
 * port alone; GTP-U and Teredo use either port and must also pass a length check, so a
 * stray datagram on those ports stays plain UDP. A datagram to or from port 53 is DNS, never a
 * tunnel: a resolver answering a client whose ephemeral port is 4789, 6081, 4754, 2152, ...
 * sends to that port, and reading the response as a tunnel loses it.
 */
static int udp_tunnel(struct dctx *d, uint16_t sport, uint16_t dport, struct tw_cur *c,
                      size_t wire, uint32_t *next)
{
    const uint8_t *p = c->p;
    size_t left = tw_cur_left(c);

    if (sport == PORT_DNS || dport == PORT_DNS)
        return 0;
    switch (dport) {
    case PORT_VXLAN:
        /* flags(8) reserved(24) VNI(24) reserved(8); the I flag says the VNI is valid */
        if (left < 8)
            return drop(d, TW_DR_TUNNEL_TRUNCATED);
        if (!(p[0] & 0x08))
            return 0;
        c->p += 8;
        *next = P_ETH;
        return 1;
    case PORT_GENEVE: {
        /* ver(2) optlen(6) O C rsvd(6) protocol(16) VNI(24) reserved(8) options(optlen*4) */
        if (left < 8)
            return drop(d, TW_DR_TUNNEL_TRUNCATED);
        if (p[0] >> 6)
            return drop(d, TW_DR_TUNNEL_UNSUPPORTED);
        size_t hl = 8 + (size_t)(p[0] & 0x3f) * 4;
        if (left < hl)
            return drop(d, TW_DR_TUNNEL_TRUNCATED);
        uint16_t proto = tw_load_be16(p + 2);
        c->p += hl;
        *next = proto == ET_TEB ? P_ETH : proto;
        return 1;
    }
    case PORT_GRE_UDP:
        *next = P_GRE;
        return 1;
    default:
        break;
    }

    if (dport == PORT_CAPWAP_DATA || sport == PORT_CAPWAP_DATA) {
        /* preamble(8)=0 (1 is DTLS), then HLEN(5) RID(5) WBID(5) T F L W M K flags(3):
         * HLEN counts 4-byte words; T says the payload is in the WBID's native format. */
        if (left < 8 || p[0] != 0)
            return 0;
        uint32_t v = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        size_t hl = (size_t)(v >> 19) * 4;
        if (hl < 8)
            return 0;
        if (hl > left)
            return drop(d, TW_DR_TUNNEL_TRUNCATED);
        if (v & 0x88) /* F: fragment, K: keep-alive */
            return drop(d, TW_DR_NOT_IP);
        if (v & 0x100) {
            if (((v >> 9) & 0x1f) != 1) /* WBID 1: IEEE 802.11 */
                return drop(d, TW_DR_NOT_IP);
            *next = P_WLAN_CAPWAP;
        } else {
            *next = P_ETH;
        }
        c->p += hl;
        return 1;
    }

    if (dport == PORT_GTPU || sport == PORT_GTPU) {
        /* flags: version(3)=1 PT=1 spare E S PN; type; length (after these 8 bytes); TEID */
        if (left < 8 || (p[0] & 0xf0) != 0x30)
            return 0;
        size_t glen = tw_load_be16(p + 2);
        if (glen + 8 > wire)
            return 0;
        if (p[1] != 0xff) /* echo, error indication, end marker: no user packet */
            return drop(d, TW_DR_NOT_IP);
        cur_clamp(c, glen + 8);
        uint8_t flags = p[0];
        c->p += 8;
        if (flags & 0x07) {
            /* sequence(16) N-PDU(8) next extension type(8), then the extension chain */
            if (tw_cur_left(c) < 4)
                return drop(d, TW_DR_TUNNEL_TRUNCATED);
            uint8_t ext = c->p[3];
            c->p += 4;
            for (unsigned n = 0; ext != 0; n++) {
                if (n >= 8)
                    return drop(d, TW_DR_TUNNEL_UNSUPPORTED);
                if (tw_cur_left(c) < 1)
                    return drop(d, TW_DR_TUNNEL_TRUNCATED);
                size_t elen = (size_t)c->p[0] * 4; /* includes length and next-type bytes */
                if (elen == 0)
                    return drop(d, TW_DR_TUNNEL_MALFORMED);
                if (tw_cur_left(c) < elen)
                    return drop(d, TW_DR_TUNNEL_TRUNCATED);
                ext = c->p[elen - 1];
                c->p += elen;
            }
        }
        *next = P_GUESS;
        return 1;
    }

    if (dport == PORT_TEREDO || sport == PORT_TEREDO) {
        /* Optional authentication (00 01) and origin indication (00 00) headers, then IPv6
         * whose payload length fills the datagram exactly (RFC 4380 section 5.1.1). */
        struct tw_cur t = *c;
        for (int i = 0; i < 2 && tw_cur_left(&t) >= 2 && t.p[0] == 0; i++) {
            if (t.p[1] == 1) {
                if (tw_cur_left(&t) < 4)
                    return 0;
                size_t alen = 4 + (size_t)t.p[2] + t.p[3] + 8 + 1;
                tw_skip(&t, alen);
            } else if (t.p[1] == 0) {
                tw_skip(&t, 8);
            } else {
                break;
            }
            if (t.err)
                return 0;
        }
        size_t used = (size_t)(t.p - c->p);
        if (tw_cur_left(&t) < 6 || (t.p[0] >> 4) != 6 || wire < used + 40 ||
            (size_t)tw_load_be16(t.p + 4) + 40 != wire - used)
            return 0;
        *c = t;
        *next = ET_IP6;
        return 1;
    }
    return 0;
}

/*
 * Transport layer over the innermost IP header so far. c covers the IP payload (captured and
 * within the declared length), decl is the payload length the IP header declares (>= what c
 * holds), and bad_len is the reason to count when a header fits the capture but not decl.
 * Returns TW_OK / TW_E* when done, or 1 with *next and *c set up for a tunnelled packet.
 */
static int transport(struct dctx *d, uint8_t proto, struct tw_cur *c, size_t decl,
                     enum tw_decode_reason bad_len, uint32_t *next)
{
    struct tw_pkt *out = d->out;
    const uint8_t *p = c->p;
    size_t left = tw_cur_left(c);
    bool cut_by_decl = left == decl;

    switch (proto) {
    case IPP_TCP: {
        if (left < 20)
            return drop(d, cut_by_decl ? bad_len : TW_DR_TCP_TRUNCATED);
        size_t thl = (size_t)(p[12] >> 4) * 4;
        if (thl < 20 || thl > decl)
            return drop(d, TW_DR_TCP_BAD_OFFSET);
        out->l4_proto = IPP_TCP;
        out->l4 = p;
        out->l4_len = decl;
        out->sport = tw_load_be16(p);
        out->dport = tw_load_be16(p + 2);
        out->seq = tw_load_be32(p + 4);
        out->ack = tw_load_be32(p + 8);
        out->tcp_flags = p[13];
        out->tcp_window = tw_load_be16(p + 14);
        /* A short snaplen (68 was tcpdump's default) can cut the options: the fixed header is
         * all the flow engine needs, so report it with an empty payload. */
        size_t hdr = TW_MIN(thl, left);
        return finish(d, p + hdr, left - hdr, decl - thl);
    }
    case IPP_UDP: {
        if (left < 8)
            return drop(d, cut_by_decl ? bad_len : TW_DR_UDP_TRUNCATED);
        size_t ulen = tw_load_be16(p + 4);
        if (ulen == 0 && out->ip_version == 6) /* jumbogram (RFC 2675): the IP length rules */
            ulen = decl;
        if (ulen < 8)
            return drop(d, TW_DR_UDP_BAD_LEN);
        uint16_t sport = tw_load_be16(p);
        uint16_t dport = tw_load_be16(p + 2);
        size_t wire = TW_MIN(ulen, decl) - 8;
        struct tw_cur u = {p + 8, p + 8 + TW_MIN(left - 8, wire), false};
        int rc = udp_tunnel(d, sport, dport, &u, wire, next);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            if (!enter_tunnel(d))
                return drop(d, TW_DR_TUNNEL_TOO_DEEP);
            *c = u;
            return 1;
        }
        out->l4_proto = IPP_UDP;
        out->l4 = p;
        out->l4_len = wire + 8;
        out->sport = sport;
        out->dport = dport;
        return finish(d, p + 8, tw_cur_left(&u), wire);
    }
    case IPP_IPIP:
        *next = ET_IP4;
        break;
    case IPP_IPV6:
        *next = ET_IP6;
        break;
    case IPP_GRE:
        *next = P_GRE;
        break;
    case IPP_MPLS:
        *next = ET_MPLS_UC;
        break;
    default:
        return drop(d, TW_DR_L4_OTHER);
    }
    if (!enter_tunnel(d))
        return drop(d, TW_DR_TUNNEL_TOO_DEEP);
    return 1;
}

/*
 *    0                   1                   2                   3
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   |         Identification        |Flags|      Fragment Offset    |
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   |                       Source Address                          |
 *   |                    Destination Address                        |
 *   |                    Options (IHL > 5)                          |
 */
static int ip4(struct dctx *d, struct tw_cur *c, uint32_t *next)
{
    size_t avail = tw_cur_left(c);
    if (avail < 20)
        return drop(d, TW_DR_IP4_TRUNCATED);
    const uint8_t *h = c->p;
    if ((h[0] >> 4) != 4)
        return drop(d, TW_DR_IP4_BAD_VERSION);
    size_t hl = (size_t)(h[0] & 0x0f) * 4;
    if (hl < 20)
        return drop(d, TW_DR_IP4_BAD_IHL);
    size_t tot = tw_load_be16(h + 2);
    /* Total length 0 is what a sender's capture shows under TCP segmentation offload: the NIC
     * fills it in later. Take what was captured. */
    if (tot == 0)
        tot = avail;
    if (tot < hl)
        return drop(d, TW_DR_IP4_BAD_TOTLEN);
    if (avail < hl)
        return drop(d, TW_DR_IP4_TRUNCATED);
    d->ip_hdr = h;
    d->out->ip_version = 4;
    uint16_t fo = tw_load_be16(h + 6);
    if (fo & 0x3fff) { /* MF or a fragment offset */
        struct tw_frag *f = d->frag;
        if (f == NULL)
            return drop(d, TW_DR_IP4_FRAGMENT);
        *f = (struct tw_frag){.hdr = h, .hdr_len = hl, .nh_off = 9, .data = h + hl,
                              .data_len = tot - hl, .cap_len = TW_MIN(tot, avail) - hl,
                              .id = tw_load_be16(h + 4), .offset = (uint32_t)(fo & 0x1fff) * 8,
                              .more = (fo & 0x2000) != 0, .version = 4, .proto = h[9]};
        return TW_DECODE_FRAGMENT;
    }
    struct tw_cur l4 = {h + hl, h + TW_MIN(tot, avail), false};
    int rc = transport(d, h[9], &l4, tot - hl, TW_DR_IP4_BAD_TOTLEN, next);
    if (rc > 0)
        *c = l4;
    return rc;
}

/*
 *   |Version| Traffic Class |           Flow Label                  |
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   |                  Source Address (16 bytes)                    |
 *   |               Destination Address (16 bytes)                  |
 *   then extension headers chained by their first byte, then the upper layer.
 */
static int ip6(struct dctx *d, struct tw_cur *c, uint32_t *next)
{
    size_t avail = tw_cur_left(c);
    if (avail < 40)
        return drop(d, TW_DR_IP6_TRUNCATED);
    const uint8_t *h = c->p;
    if ((h[0] >> 4) != 6)
        return drop(d, TW_DR_IP6_BAD_VERSION);
    avail -= 40;
    size_t plen = tw_load_be16(h + 4);
    /* 0: a jumbogram (RFC 2675) or a sender's capture under segmentation offload */
    if (plen == 0)
        plen = avail;
    d->ip_hdr = h;
    d->out->ip_version = 6;

    struct tw_cur e = {h + 40, h + 40 + TW_MIN(plen, avail), false};
    enum tw_decode_reason cut = plen <= avail ? TW_DR_IP6_BAD_PLEN : TW_DR_IP6_EXT_TRUNCATED;
    uint8_t nh = h[6];
    size_t nh_off = 6; /* where the byte naming the current header sits, from h */
    for (unsigned n = 0;; n++) {
        size_t len;
        switch (nh) {
        case IPP_HOPOPT:
        case IPP_ROUTING:
        case IPP_DSTOPTS:
        case IPP_MOBILITY:
        case IPP_HIP:
        case IPP_SHIM6:
            if (tw_cur_left(&e) < 2)
                return drop(d, cut);
            len = ((size_t)e.p[1] + 1) * 8;
            break;
        case IPP_AH:
            if (tw_cur_left(&e) < 2)
                return drop(d, cut);
            len = ((size_t)e.p[1] + 2) * 4;
            break;
        case IPP_FRAGMENT:
            /* next(8) reserved(8) offset(13) res(2) M(1) identification(32) */
            if (tw_cur_left(&e) < 8)
                return drop(d, cut);
            if (tw_load_be16(e.p + 2) & 0xfff9) {
                struct tw_frag *f = d->frag;
                if (f == NULL)
                    return drop(d, TW_DR_IP6_FRAGMENT);
                size_t unfrag = (size_t)(e.p - h), used = unfrag - 40 + 8;
                if (plen < used)
                    return drop(d, TW_DR_IP6_BAD_PLEN);
                uint16_t fo = tw_load_be16(e.p + 2);
                *f = (struct tw_frag){.hdr = h, .hdr_len = unfrag, .nh_off = nh_off,
                                      .data = e.p + 8, .data_len = plen - used,
                                      .cap_len = tw_cur_left(&e) - 8, .id = tw_load_be32(e.p + 4),
                                      .offset = fo & 0xfff8u, .more = (fo & 1) != 0,
                                      .version = 6, .proto = e.p[0]};
                return TW_DECODE_FRAGMENT;
            }
            len = 8;
            break;
        case IPP_NONXT:
            return drop(d, TW_DR_IP6_NO_NEXT);
        default: {
            size_t used = (size_t)(e.p - (h + 40));
            int rc = transport(d, nh, &e, plen - used, TW_DR_IP6_BAD_PLEN, next);
            if (rc > 0)
                *c = e;
            return rc;
        }
        }
        if (n >= TW_DECODE_MAX_IP6_EXT)
            return drop(d, TW_DR_IP6_EXT_TOO_MANY);
        if (tw_cur_left(&e) < len)
            return drop(d, cut);
        nh = e.p[0];
        nh_off = (size_t)(e.p - h);
        e.p += len;
    }
}

/*
 * GRE (RFC 2784/2890) and PPTP's enhanced GRE (RFC 2637):
 *   |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
 *   [checksum, reserved1 if C]  [key if K]  [sequence if S]  [ack if A, version 1]
 */
static int gre(struct dctx *d, struct tw_cur *c, uint32_t *next)
{
    if (tw_cur_left(c) < 4)
        return drop(d, TW_DR_TUNNEL_TRUNCATED);
    uint16_t fv = tw_load_be16(c->p);
    uint16_t proto = tw_load_be16(c->p + 2);
    size_t opt;
    switch (fv & 0x0007) {
    case 0:
        if (fv & 0x4000) /* source routing (RFC 1701), deprecated */
            return drop(d, TW_DR_TUNNEL_UNSUPPORTED);
        opt = (fv & 0x8000 ? 4 : 0) + (fv & 0x2000 ? 4 : 0) + (fv & 0x1000 ? 4 : 0);
        break;
    case 1:
        if (proto != ET_PPP || (fv & 0xe000) != 0x2000)
            return drop(d, TW_DR_TUNNEL_UNSUPPORTED);
        opt = 4 + (fv & 0x1000 ? 4 : 0) + (fv & 0x0080 ? 4 : 0);
        break;
    default:
        return drop(d, TW_DR_TUNNEL_UNSUPPORTED);
    }
    if (tw_cur_left(c) < 4 + opt)
        return drop(d, TW_DR_TUNNEL_TRUNCATED);
    c->p += 4 + opt;

    switch (proto) {
    case ET_TEB:
        *next = P_ETH;
        break;
    case ET_ERSPAN2:
        /* Type II (sequence present): ver(4) VLAN(12) COS En T session(10) reserved index,
         * 8 bytes. Type I has no sequence number and no header. */
        if (fv & 0x1000) {
            if (tw_cur_left(c) < 8)
                return drop(d, TW_DR_TUNNEL_TRUNCATED);
            c->p += 8;
        }
        *next = P_ETH;
        break;
    case ET_ERSPAN3: {
        /* 12 bytes; the O bit (last bit) announces an 8-byte platform-specific subheader */
        if (tw_cur_left(c) < 12)
            return drop(d, TW_DR_TUNNEL_TRUNCATED);
        size_t hl = (c->p[11] & 0x01) ? 20 : 12;
        if (tw_cur_left(c) < hl)
            return drop(d, TW_DR_TUNNEL_TRUNCATED);
        c->p += hl;
        *next = P_ETH;
        break;
    }
    case ET_PPP:
        if (tw_cur_left(c) == 0) /* PPTP acknowledgement without data */
            return drop(d, TW_DR_NOT_IP);
        *next = P_PPP;
        break;
    default:
        *next = proto;
        break;
    }
    return 1;
}

/* 802.2 LLC: only SNAP (AA AA 03, OUI 0 or 00-00-F8) carries an Ethertype; 0 otherwise. */
static uint32_t llc_snap(struct tw_cur *c)
{
    const uint8_t *p = c->p;
    if (tw_cur_left(c) < 8 || p[0] != 0xaa || p[1] != 0xaa || p[2] != 0x03 || p[3] != 0 ||
        p[4] != 0 || (p[5] != 0 && p[5] != 0xf8))
        return 0;
    c->p += 8;
    return tw_load_be16(p + 6);
}

/*
 * IEEE 802.11 data frame: frame control(16) duration(16) addr1 addr2 addr3 sequence(16)
 * [addr4 if ToDS and FromDS] [QoS control(16)] [HT control(32) if QoS and Order], then LLC.
 * Management, control, null-data, protected, A-MSDU and first-of-several fragment frames are
 * not followed.
 */
static int wlan(struct dctx *d, struct tw_cur *c, uint32_t *next, bool maybe_swapped)
{
    const uint8_t *p = c->p;
    size_t left = tw_cur_left(c);
    enum tw_decode_reason cut = d->encap ? TW_DR_TUNNEL_TRUNCATED : TW_DR_LINK_TRUNCATED;
    if (left < 24)
        return drop(d, cut);
    uint8_t fc0 = p[0], fc1 = p[1];
    if (maybe_swapped && (fc0 & 0x0f) != 0x08 && (fc1 & 0x0f) == 0x08) {
        fc0 = p[1];
        fc1 = p[0];
    }
    /* A later fragment shows no LLC header, so More Fragments is all that is checked here;
     * the fragment number is not trustworthy (Cisco APs fill it over CAPWAP). */
    if ((fc0 & 0x0f) != 0x08 || (fc0 & 0x40) || (fc1 & 0x44))
        return drop(d, TW_DR_NOT_IP);
    size_t hl = (fc1 & 0x03) == 0x03 ? 30 : 24;
    if (fc0 & 0x80) {
        if (left < hl + 2)
            return drop(d, cut);
        if (p[hl] & 0x80) /* A-MSDU */
            return drop(d, TW_DR_NOT_IP);
        hl += (fc1 & 0x80) ? 6 : 2;
    }
    if (left < hl)
        return drop(d, cut);
    c->p += hl;
    *next = llc_snap(c);
    return 1;
}

/* Linux cooked capture: a protocol below 0x0600 is not an Ethertype (802.2 LLC, 802.3, CAN). */
static uint32_t sll_proto(uint16_t hatype, uint16_t proto)
{
    if (hatype == 824 /* ARPHRD_NETLINK */ || proto < 0x0600)
        return 0;
    return proto;
}

/* BSD loopback family values that mean IPv6: NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30,
 * Windows 23 (Npcap loopback). */
static uint32_t af_proto(uint32_t af)
{
    switch (af) {
    case 2:
        return ET_IP4;
    case 23:
    case 24:
    case 28:
    case 30:
        return ET_IP6;
    default:
        return 0;
    }
}

/*
 * NFLOG: family(8) version(8) resource id(16), then TLVs {length(16) type(16) value, padded
 * to 4} with length and type in the capturing host's byte order. Type 9 (NFULA_PAYLOAD) holds
 * the IP packet. Returns 1 with *c narrowed to it, or a negative TW_E*.
 */
static int nflog(struct dctx *d, struct tw_cur *c, uint32_t *next)
{
    if (tw_cur_left(c) < 4)
        return drop(d, TW_DR_LINK_TRUNCATED);
    uint8_t family = c->p[0];
    if (c->p[1] != 0)
        return drop(d, TW_DR_LINK_UNSUPPORTED);
    c->p += 4;
    bool le = true;
    if (tw_cur_left(c) >= 4) {
        size_t first = (size_t)c->p[0] | (size_t)c->p[1] << 8;
        le = first >= 4 && first <= tw_cur_left(c);
    }
    while (tw_cur_left(c) > 0) {
        if (tw_cur_left(c) < 4)
            return drop(d, TW_DR_LINK_TRUNCATED);
        size_t len = le ? (size_t)(c->p[0] | c->p[1] << 8) : tw_load_be16(c->p);
        unsigned type = le ? (unsigned)(c->p[2] | c->p[3] << 8) : tw_load_be16(c->p + 2);
        if (len < 4 || len > tw_cur_left(c))
            return drop(d, TW_DR_LINK_TRUNCATED);
        if ((type & 0x3fff) == 9) {
            c->p += 4;
            c->end = c->p + (len - 4);
            *next = family == 2 ? ET_IP4 : family == 10 ? ET_IP6 : P_GUESS;
            return 1;
        }
        size_t padded = (len + 3) & ~(size_t)3;
        c->p += TW_MIN(padded, tw_cur_left(c));
    }
    return drop(d, TW_DR_NOT_IP);
}

/* Link layer header: returns 1 with *c past it and *next set, or a negative TW_E*. */
static int link_layer(struct dctx *d, int linktype, struct tw_cur *c, uint32_t *next)
{
    struct tw_decode_stats *st = d->st;
    const uint8_t *p = c->p;
    size_t left = tw_cur_left(c);

    switch (linktype) {
    case TW_LINK_ETHERNET:
        st->eth++;
        *next = P_ETH;
        return 1;
    case TW_LINK_RAW:
    case TW_LINK_DLT_RAW1:
    case TW_LINK_DLT_RAW2:
    case TW_LINK_IPV4:
    case TW_LINK_IPV6:
        /* 228 and 229 say the version, but readers (tshark, tcpdump) go by the header. */
        st->raw++;
        *next = P_GUESS;
        return 1;
    case TW_LINK_LINUX_SLL:
        /* packet type(16) ARPHRD type(16) address length(16) address(64) protocol(16) */
        st->sll++;
        if (left < 16)
            return drop(d, TW_DR_LINK_TRUNCATED);
        *next = sll_proto(tw_load_be16(p + 2), tw_load_be16(p + 14));
        c->p += 16;
        return 1;
    case TW_LINK_LINUX_SLL2:
        /* protocol(16) reserved(16) ifindex(32) ARPHRD type(16) packet type(8) addr len(8)
         * address(64) */
        st->sll++;
        if (left < 20)
            return drop(d, TW_DR_LINK_TRUNCATED);
        *next = sll_proto(tw_load_be16(p + 8), tw_load_be16(p));
        c->p += 20;
        return 1;
    case TW_LINK_NULL: {
        st->null_loop++;
        if (left < 4)
            return drop(d, TW_DR_LINK_TRUNCATED);
        uint32_t af = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                      (uint32_t)p[3] << 24;
        if (af > 0xff) /* written by a big-endian machine */
            af = tw_load_be32(p);
        *next = af_proto(af);
        c->p += 4;
        return 1;
    }
    case TW_LINK_LOOP:
        st->null_loop++;
        if (left < 4)
            return drop(d, TW_DR_LINK_TRUNCATED);
        *next = af_proto(tw_load_be32(p));
        c->p += 4;
        return 1;
    case TW_LINK_PPP:
    case TW_LINK_PPP_HDLC:
        st->ppp++;
        *next = P_PPP;
        return 1;
    case TW_LINK_C_HDLC:
        /* address(8) control(8) Ethertype(16) */
        st->ppp++;
        if (left < 4)
            return drop(d, TW_DR_LINK_TRUNCATED);
        *next = tw_load_be16(p + 2);
        c->p += 4;
        return 1;
    case TW_LINK_NFLOG:
        st->nflog++;
        return nflog(d, c, next);
    case TW_LINK_REASSEMBLED:
        /* vlan_count(8) encap(8) vlans(8) reserved(8) vlan[0](16) vlan[1](16), then the
         * datagram: the frame's link layers were counted with its fragments */
        if (left < TW_DEFRAG_PREAMBLE)
            return drop(d, TW_DR_LINK_TRUNCATED);
        d->out->vlan_count = p[0];
        d->encap = p[1];
        d->vlans = p[2];
        d->out->vlan[0] = tw_load_be16(p + 4);
        d->out->vlan[1] = tw_load_be16(p + 6);
        c->p += TW_DEFRAG_PREAMBLE;
        *next = P_GUESS;
        return 1;
    case TW_LINK_IEEE802_11:
        st->wlan++;
        *next = P_WLAN;
        return 1;
    case TW_LINK_RADIOTAP: {
        /* version(8)=0 pad(8) length(16, little-endian) present flags ... */
        st->wlan++;
        if (left < 8)
            return drop(d, TW_DR_LINK_TRUNCATED);
        size_t hl = (size_t)p[2] | (size_t)p[3] << 8;
        if (p[0] != 0 || hl < 8)
            return drop(d, TW_DR_LINK_UNSUPPORTED);
        if (hl > left)
            return drop(d, TW_DR_LINK_TRUNCATED);
        c->p += hl;
        *next = P_WLAN;
        return 1;
    }
    default:
        return drop(d, TW_DR_LINK_UNSUPPORTED);
    }
}

/* A UDP port some tunnel udp_tunnel() follows uses (by destination or either port). */
static bool tunnel_port(uint16_t port)
{
    switch (port) {
    case PORT_GTPU:
    case PORT_TEREDO:
    case PORT_GRE_UDP:
    case PORT_VXLAN:
    case PORT_GENEVE:
    case PORT_CAPWAP_DATA:
        return true;
    default:
        return false;
    }
}

bool tw_decode_peek(int linktype, const uint8_t *frame, size_t caplen, struct tw_pkt *p)
{
    const uint8_t *q = frame, *l4;
    size_t left = caplen;
    uint32_t et;
    uint8_t proto;

    if (linktype != TW_LINK_ETHERNET || frame == NULL || left < 14)
        return false;
    et = tw_load_be16(q + 12);
    q += 14;
    left -= 14;
    for (unsigned tags = 0; et == ET_VLAN || et == ET_QINQ || et == ET_QINQ_OLD; tags++) {
        _Static_assert(TW_DECODE_MAX_VLAN >= 2, "two tags are read here");
        if (tags == 2 || left < 4)
            return false;
        et = tw_load_be16(q + 2);
        q += 4;
        left -= 4;
    }
    memset(p->src, 0, sizeof(p->src));
    memset(p->dst, 0, sizeof(p->dst));
    if (et == ET_IP4) {
        if (left < 20 || (q[0] >> 4) != 4)
            return false;
        size_t hl = (size_t)(q[0] & 0x0f) * 4;
        /* a fragment is reassembled first: its datagram's ports may be elsewhere */
        if (hl < 20 || left < hl + 4 || (tw_load_be16(q + 6) & 0x3fff))
            return false;
        proto = q[9];
        memcpy(p->src, q + 12, 4);
        memcpy(p->dst, q + 16, 4);
        p->ip_version = 4;
        l4 = q + hl;
    } else if (et == ET_IP6) {
        if (left < 40 + 4 || (q[0] >> 4) != 6)
            return false;
        proto = q[6];
        memcpy(p->src, q + 8, 16);
        memcpy(p->dst, q + 24, 16);
        p->ip_version = 6;
        l4 = q + 40;
    } else {
        return false;
    }
    if (proto != IPP_TCP && proto != IPP_UDP)
        return false;
    p->l4_proto = proto;
    p->sport = tw_load_be16(l4);
    p->dport = tw_load_be16(l4 + 2);
    /* udp_tunnel(): DNS is never a tunnel, any other datagram on those ports may be */
    return proto == IPP_TCP || p->sport == PORT_DNS || p->dport == PORT_DNS ||
           (!tunnel_port(p->sport) && !tunnel_port(p->dport));
}

/* *p zeroed with a few vector stores: a memset of this size compiles to `rep stos`, whose
 * start-up cost is a third of decoding a frame. */
static inline void pkt_zero(struct tw_pkt *p)
{
    typedef uint8_t v16 __attribute__((vector_size(16)));
    const v16 z = {0};
    uint8_t *b = (uint8_t *)p;

    _Static_assert(sizeof(*p) > 96 && sizeof(*p) <= 112, "seven stores cover it");
    memcpy(b, &z, 16);
    memcpy(b + 16, &z, 16);
    memcpy(b + 32, &z, 16);
    memcpy(b + 48, &z, 16);
    memcpy(b + 64, &z, 16);
    memcpy(b + 80, &z, 16);
    memcpy(b + sizeof(*p) - 16, &z, 16);
}

static int decode(int linktype, const uint8_t *frame, size_t caplen, struct tw_pkt *out,
                  struct tw_decode_stats *st, struct tw_frag *frag)
{
    pkt_zero(out);
    struct dctx d = {out, st, NULL, 0, 0, frag};
    struct tw_cur c;
    tw_cur_init(&c, frame, frame != NULL ? caplen : 0);
    uint32_t proto = 0;

    int rc = link_layer(&d, linktype, &c, &proto);
    while (rc > 0) {
        switch (proto) {
        case P_ETH: {
            /* destination(48) source(48) Ethertype or 802.3 length(16) */
            if (tw_cur_left(&c) < 14) {
                rc = drop(&d, d.encap ? TW_DR_TUNNEL_TRUNCATED : TW_DR_LINK_TRUNCATED);
                break;
            }
            proto = tw_load_be16(c.p + 12);
            c.p += 14;
            if (proto < 0x0600) /* 802.3 length: LLC follows */
                proto = llc_snap(&c);
            continue;
        }
        case ET_VLAN:
        case ET_QINQ:
        case ET_QINQ_OLD: {
            /* PCP(3) DEI(1) VID(12) Ethertype(16) */
            if (++d.vlans > TW_DECODE_MAX_VLAN) {
                rc = drop(&d, TW_DR_VLAN_TOO_DEEP);
                break;
            }
            if (tw_cur_left(&c) < 4) {
                rc = drop(&d, TW_DR_VLAN_TRUNCATED);
                break;
            }
            if (out->vlan_count < TW_ARRAY_SIZE(out->vlan))
                out->vlan[out->vlan_count] = tw_load_be16(c.p) & 0x0fff;
            out->vlan_count++;
            st->vlan++;
            proto = tw_load_be16(c.p + 2);
            c.p += 4;
            continue;
        }
        case ET_MPLS_UC:
        case ET_MPLS_MC: {
            /* label(20) TC(3) S(1) TTL(8), until S (bottom of stack) */
            uint32_t entry = 0;
            unsigned n = 0;
            rc = 1;
            do {
                if (n++ >= TW_DECODE_MAX_MPLS) {
                    rc = drop(&d, TW_DR_VLAN_TOO_DEEP);
                    break;
                }
                if (tw_cur_left(&c) < 4) {
                    rc = drop(&d, TW_DR_MPLS_TRUNCATED);
                    break;
                }
                entry = tw_load_be32(c.p);
                c.p += 4;
            } while (!(entry & 0x100));
            if (rc < 0)
                break;
            if (tw_cur_left(&c) < 1) {
                rc = drop(&d, TW_DR_MPLS_TRUNCATED);
                break;
            }
            switch (c.p[0] >> 4) {
            case 4:
                proto = ET_IP4;
                break;
            case 6:
                proto = ET_IP6;
                break;
            case 0:
                /* pseudowire control word (RFC 4385), then an Ethernet frame (RFC 4448) */
                if (tw_cur_left(&c) < 4) {
                    rc = drop(&d, TW_DR_MPLS_TRUNCATED);
                    break;
                }
                c.p += 4;
                proto = P_ETH;
                break;
            default:
                proto = 0;
                break;
            }
            continue;
        }
        case ET_PPPOE_SESS: {
            /* ver(4)=1 type(4)=1 code(8)=0 session(16) length(16), then PPP protocol */
            if (tw_cur_left(&c) < 6) {
                rc = drop(&d, TW_DR_PPP_TRUNCATED);
                break;
            }
            if (c.p[0] != 0x11 || c.p[1] != 0) {
                rc = drop(&d, TW_DR_NOT_IP);
                break;
            }
            size_t len = tw_load_be16(c.p + 4);
            c.p += 6;
            cur_clamp(&c, len);
            proto = P_PPP;
            continue;
        }
        case P_PPP: {
            if (tw_cur_left(&c) >= 2 && c.p[0] == 0xff && c.p[1] == 0x03)
                c.p += 2; /* HDLC address and control */
            if (tw_cur_left(&c) < 1 || (!(c.p[0] & 1) && tw_cur_left(&c) < 2)) {
                rc = drop(&d, TW_DR_PPP_TRUNCATED);
                break;
            }
            unsigned pp = c.p[0];
            if (pp & 1) { /* protocol field compression: one byte */
                c.p += 1;
            } else {
                pp = tw_load_be16(c.p);
                c.p += 2;
            }
            switch (pp) {
            case 0x21:
                proto = ET_IP4;
                break;
            case 0x57:
                proto = ET_IP6;
                break;
            case 0x281:
            case 0x283:
                proto = ET_MPLS_UC;
                break;
            default:
                proto = 0;
                break;
            }
            continue;
        }
        case P_GUESS:
            if (tw_cur_left(&c) < 1) {
                rc = drop(&d, d.encap ? TW_DR_TUNNEL_TRUNCATED : TW_DR_LINK_TRUNCATED);
                break;
            }
            proto = (c.p[0] >> 4) == 4 ? ET_IP4 : (c.p[0] >> 4) == 6 ? ET_IP6 : 0;
            continue;
        case ET_IP4:
            rc = ip4(&d, &c, &proto);
            continue;
        case ET_IP6:
            rc = ip6(&d, &c, &proto);
            continue;
        case P_GRE:
            rc = gre(&d, &c, &proto);
            continue;
        case P_WLAN:
        case P_WLAN_CAPWAP:
            rc = wlan(&d, &c, &proto, proto == P_WLAN_CAPWAP);
            continue;
        default:
            rc = drop(&d, TW_DR_NOT_IP);
            break;
        }
    }

    if (d.ip_hdr != NULL) {
        if (out->ip_version == 4)
            st->ipv4++;
        else
            st->ipv6++;
    }
    if (d.encap > 0 && rc == TW_OK)
        st->tunnel++;
    if (rc == TW_DECODE_FRAGMENT) {
        frag->encap = (uint8_t)d.encap;
        frag->vlans = (uint8_t)d.vlans;
        frag->vlan_count = out->vlan_count;
        memcpy(frag->vlan, out->vlan, sizeof(frag->vlan));
    }
    return rc;
}

int tw_decode(int linktype, const uint8_t *frame, size_t caplen, size_t wirelen, struct tw_pkt *out,
              struct tw_decode_stats *st)
{
    (void)wirelen;
    return decode(linktype, frame, caplen, out, st, NULL);
}

int tw_decode_frag(int linktype, const uint8_t *frame, size_t caplen, struct tw_pkt *out,
                   struct tw_decode_stats *st, struct tw_frag *frag)
{
    return decode(linktype, frame, caplen, out, st, frag);
}
