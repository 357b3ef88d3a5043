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

#include "tunwatch/common.h"

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

/* Skip/anomaly reasons. Keep tw_decode_reason_name() in sync. */
enum tw_decode_reason {
    TW_DR_LINK_TRUNCATED,   /* link header cut by caplen */
    TW_DR_LINK_UNSUPPORTED, /* link type we do not decode */
    TW_DR_VLAN_TRUNCATED,
    TW_DR_VLAN_TOO_DEEP,    /* more stacked tags/encapsulations than we follow */
    TW_DR_NOT_IP,           /* ARP, LLDP, ... (not an anomaly, just skipped) */
    TW_DR_IP4_TRUNCATED,
    TW_DR_IP4_BAD_VERSION,
    TW_DR_IP4_BAD_IHL,
    TW_DR_IP4_BAD_TOTLEN,
    TW_DR_IP4_FRAGMENT,     /* fragments: counted, skipped (no reassembly yet) */
    TW_DR_IP6_TRUNCATED,
    TW_DR_IP6_BAD_VERSION,
    TW_DR_IP6_BAD_PLEN,
    TW_DR_IP6_EXT_TRUNCATED,
    TW_DR_IP6_EXT_TOO_MANY,
    TW_DR_IP6_FRAGMENT,
    TW_DR_L4_OTHER,         /* ICMP, SCTP, ESP, ... (not an anomaly, just skipped) */
    TW_DR_UDP_TRUNCATED,
    TW_DR_UDP_BAD_LEN,
    TW_DR_TCP_TRUNCATED,
    TW_DR_TCP_BAD_OFFSET,
    TW_DR_TUNNEL_TRUNCATED, /* GRE/VXLAN/Geneve/... header cut */
    TW_DR_PAYLOAD_TRUNCATED, /* L4 payload shorter on capture than on the wire (snaplen) */
    TW_DR__COUNT
};

struct tw_decode_stats {
    uint64_t eth, vlan, sll, raw, null_loop;
    uint64_t ipv4, ipv6, tcp, udp;
    uint64_t tunnel; /* packets whose inner packet we decoded (GRE, VXLAN, ...) */
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
    const uint8_t *payload;  /* L4 payload, clamped to caplen and to the IP/UDP lengths */
    size_t payload_len;      /* bytes available at payload */
    size_t payload_wire_len; /* bytes the headers declare (>= payload_len) */
};

/*
 * Decodes one captured frame.
 * Returns 0 with *out filled for TCP and UDP; TW_ESKIP for frames that are
 * valid but not TCP/UDP over IP (reason counted in st); TW_EMALFORMED for
 * truncated or inconsistent frames (reason counted in st). *out is reset on entry.
 */
int tw_decode(int linktype, const uint8_t *frame, size_t caplen, size_t wirelen, struct tw_pkt *out,
              struct tw_decode_stats *st);

/* True if tw_decode() understands this link type. */
bool tw_decode_linktype_supported(int linktype);

/* Stable snake_case name of a reason, for stats output ("ip4_fragment", ...). */
const char *tw_decode_reason_name(enum tw_decode_reason r);

/* True for reasons that are plain "not for us" skips rather than anomalies. */
bool tw_decode_reason_is_benign(enum tw_decode_reason r);

#endif /* TUNWATCH_DECODE_H */
