/* SPDX-License-Identifier: MIT */
/*
 * Packet decoding: link layer -> (tunnels) -> innermost IPv4/IPv6 -> UDP/TCP.
 *
 * tw_decode() fills a struct tw_pkt whose pointers are slices into the
 * caller's packet buffer and stay valid as long as that buffer does. It never
 * reads past caplen; every layer is clamped to the smaller of what was
 * captured and what its header declares. Anything truncated or inconsistent
 * is counted in struct tw_decode_stats by reason and the packet is skipped.
 */
#ifndef TUNWATCH_DECODE_H
#define TUNWATCH_DECODE_H

#include "tunwatch/base/common.h"
#include "tunwatch/decode/defrag.h"

/* Link types we read (values are the pcap LINKTYPE_* / DLT_* numbers). */
#define TW_LINK_NULL 0         /* BSD loopback, host byte order family */
#define TW_LINK_ETHERNET 1
#define TW_LINK_RAW 101        /* LINKTYPE_RAW: raw IPv4/IPv6 */
#define TW_LINK_DLT_RAW1 12    /* DLT_RAW on most BSDs */
#define TW_LINK_DLT_RAW2 14    /* DLT_RAW on OpenBSD */
#define TW_LINK_LOOP 108       /* OpenBSD loopback, network byte order family */
#define TW_LINK_LINUX_SLL 113
#define TW_LINK_IPV4 228
#define TW_LINK_IPV6 229
#define TW_LINK_LINUX_SLL2 276
#define TW_LINK_PPP 9          /* PPP, optional ff 03, 1- or 2-byte protocol */
#define TW_LINK_PPP_HDLC 50    /* PPP in HDLC-like framing (read as TW_LINK_PPP) */
#define TW_LINK_C_HDLC 104     /* Cisco HDLC: address, control, ethertype */
#define TW_LINK_NFLOG 239      /* Linux NFLOG: header + TLVs, NFULA_PAYLOAD holds the packet */
#define TW_LINK_IEEE802_11 105 /* 802.11 data frames with LLC/SNAP */
#define TW_LINK_RADIOTAP 127   /* radiotap header, then 802.11 */

/* Bounds on what one frame may stack before it is refused (TW_DR_VLAN_TOO_DEEP for tags and
 * labels, TW_DR_TUNNEL_TOO_DEEP for encapsulations). Real traffic stays far below them. */
#define TW_DECODE_MAX_VLAN 8   /* 802.1Q/802.1ad tags per frame, all layers together */
#define TW_DECODE_MAX_MPLS 8   /* MPLS labels per stack */
#define TW_DECODE_MAX_ENCAP 8  /* tunnels (GRE, VXLAN, Geneve, GTP-U, Teredo, IP-in-IP, ...) */
#define TW_DECODE_MAX_IP6_EXT 8 /* IPv6 extension headers per IPv6 header */

/* Skip/anomaly reasons. Keep tw_decode_reason_name() in sync. */
enum tw_decode_reason {
    TW_DR_LINK_TRUNCATED,   /* link header cut by caplen */
    TW_DR_LINK_UNSUPPORTED, /* link type we do not decode */
    TW_DR_VLAN_TRUNCATED,
    TW_DR_VLAN_TOO_DEEP,    /* more stacked VLAN tags or MPLS labels than we follow */
    TW_DR_NOT_IP,           /* ARP, LLDP, ... (not an anomaly, just skipped) */
    TW_DR_IP4_TRUNCATED,
    TW_DR_IP4_BAD_VERSION,
    TW_DR_IP4_BAD_IHL,
    TW_DR_IP4_BAD_TOTLEN,
    TW_DR_IP4_FRAGMENT,     /* fragments tw_decode() skips (tw_decode_frag() reports them) */
    TW_DR_IP6_TRUNCATED,
    TW_DR_IP6_BAD_VERSION,
    TW_DR_IP6_BAD_PLEN,
    TW_DR_IP6_EXT_TRUNCATED,
    TW_DR_IP6_EXT_TOO_MANY,
    TW_DR_IP6_FRAGMENT,
    TW_DR_L4_OTHER,         /* ICMP, SCTP, ESP, ... (not an anomaly, just skipped) */
    TW_DR_UDP_TRUNCATED,
    TW_DR_UDP_BAD_LEN,
    TW_DR_TCP_TRUNCATED,    /* fixed 20-byte header cut (cut options are tolerated) */
    TW_DR_TCP_BAD_OFFSET,
    TW_DR_TUNNEL_TRUNCATED, /* GRE/VXLAN/Geneve/... header cut */
    TW_DR_PAYLOAD_TRUNCATED, /* L4 payload shorter on capture than on the wire (snaplen);
                              * the only reason counted on a successful return */
    TW_DR_TUNNEL_TOO_DEEP,   /* more than TW_DECODE_MAX_ENCAP nested encapsulations */
    TW_DR_TUNNEL_UNSUPPORTED, /* GRE source routing or unknown version, Geneve version != 0 */
    TW_DR_MPLS_TRUNCATED,
    TW_DR_PPP_TRUNCATED,     /* PPP or PPPoE header cut */
    TW_DR_IP6_NO_NEXT,       /* IPv6 next header 59: nothing follows (benign) */
    TW_DR_TUNNEL_MALFORMED,  /* tunnel header inconsistent (GTP-U extension length 0, ...) */
    TW_DR__COUNT
};

/*
 * Counters. eth, sll, raw, null_loop, ppp, nflog and wlan count frames by link type; vlan counts
 * tags (every layer); ipv4/ipv6 count frames whose innermost IP header was valid; tcp/udp count
 * successful returns; tunnel counts successful returns through at least one encapsulation. reason[] counts one reason per refused frame, plus PAYLOAD_TRUNCATED on
 * successful frames whose payload was cut.
 */
struct tw_decode_stats {
    uint64_t eth, vlan, sll, raw, null_loop;
    uint64_t ipv4, ipv6, tcp, udp;
    uint64_t tunnel; /* packets whose inner packet we decoded (GRE, VXLAN, ...) */
    uint64_t ppp, nflog, wlan;
    uint64_t reason[TW_DR__COUNT];
};

struct tw_pkt {
    uint8_t ip_version;   /* 4 or 6 (innermost header) */
    uint8_t l4_proto;     /* 6 TCP, 17 UDP */
    uint8_t tcp_flags;    /* TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10) */
    uint8_t vlan_count;   /* tags seen (outermost first in vlan[]) */
    uint16_t vlan[2];     /* VLAN ids of the first two tags */
    uint8_t src[16];      /* IPv4 addresses in the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;    /* TCP only */
    uint16_t tcp_window;
    uint8_t csum_pending;    /* ip_hdr's and l4's checksums are still to be validated
                                (tw_prep_verify()); tw_decode() leaves it 0 */
    const uint8_t *payload;  /* L4 payload, clamped to caplen and to the IP/UDP lengths */
    size_t payload_len;      /* bytes available at payload */
    size_t payload_wire_len; /* bytes the headers declare (>= payload_len) */
    const uint8_t *ip_hdr;   /* innermost IP header (checksum validation) */
    const uint8_t *l4;       /* its TCP or UDP header */
    size_t l4_len;           /* segment length the headers declare (header and payload) */
};

/* tw_decode_frag()'s return for an IP fragment, described in *frag and not counted as a
 * skip: hand it to tw_defrag_add(). */
#define TW_DECODE_FRAGMENT (-16)

/*
 * Decodes one captured frame.
 * Returns 0 with *out filled for TCP and UDP; TW_ESKIP for frames that are
 * valid but not TCP/UDP over IP (reason counted in st); TW_EMALFORMED for
 * truncated or inconsistent frames (reason counted in st). *out is reset on entry.
 * Tunnels are followed (MPLS, PPPoE, GRE incl. PPTP and ERSPAN I/II/III, VXLAN on UDP 4789,
 * Geneve 6081, GRE-in-UDP 4754, CAPWAP data 5247, GTP-U 2152, Teredo 3544, IPv4/IPv6/MPLS in
 * IP) and *out
 * describes the innermost IP header and its TCP/UDP header. IPv4 fragments and IPv6 packets
 * with a non-atomic fragment header are skipped. wirelen is accepted for symmetry with
 * pcap_pkthdr; payload_wire_len comes from the headers' own length fields. st may not be NULL.
 */
int tw_decode(int linktype, const uint8_t *frame, size_t caplen, size_t wirelen, struct tw_pkt *out,
              struct tw_decode_stats *st);

/*
 * tw_decode() for a sensor that reassembles: an IPv4 fragment, or an IPv6 packet with a
 * fragment header that is not atomic (offset 0 and M 0, RFC 6946: those are read as whole
 * packets), at any depth (inside tunnels, behind VLAN tags), returns TW_DECODE_FRAGMENT with
 * *frag filled (slices into frame) instead of being skipped. linktype may also be
 * TW_LINK_REASSEMBLED for a frame tw_defrag_add() made: the VLAN ids and tunnel depth its
 * preamble carries are restored, so the datagram decodes as its fragments would have.
 */
int tw_decode_frag(int linktype, const uint8_t *frame, size_t caplen, struct tw_pkt *out,
                   struct tw_decode_stats *st, struct tw_frag *frag);

/* True if tw_decode() understands this link type. */
bool tw_decode_linktype_supported(int linktype);

/*
 * The flow of a frame read fast, without decoding it: for Ethernet with up to two VLAN tags,
 * IPv4 that is not a fragment or IPv6 without extension headers, then TCP or UDP on ports no
 * tunnel uses. Returns true with p's ip_version, l4_proto, src, dst, sport and dport set (its
 * other fields untouched): whenever tw_decode() accepts the frame, it reports these. False
 * when only decoding can tell (other link types and encapsulations, fragments, tunnels, short
 * frames). Lets a reader skip the frames of flows that are not its own (replay workers).
 */
bool tw_decode_peek(int linktype, const uint8_t *frame, size_t caplen, struct tw_pkt *p);

/* Stable snake_case name of a reason, for stats output ("ip4_fragment", ...). */
const char *tw_decode_reason_name(enum tw_decode_reason r);

/* True for reasons that are plain "not for us" skips rather than anomalies. */
bool tw_decode_reason_is_benign(enum tw_decode_reason r);

#endif /* TUNWATCH_DECODE_H */
