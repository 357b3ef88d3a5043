/* SPDX-License-Identifier: MIT */
/*
 * IP reassembly: IPv4 (RFC 791, RFC 815) and IPv6 (RFC 8200 section 4.5) fragments become the
 * datagram the receiver would see, so that a DNS query or a ClientHello sent in fragments is
 * read like one that arrived whole.
 *
 * Datagrams are keyed by (version, source, destination, identification, IPv4 protocol, VLAN
 * ids, encapsulation depth). Everything is sized at tw_defrag_new(): a fixed number of
 * datagram trackers, a hash table over them, and a pool of 1 KiB blocks of fragment data;
 * nothing is allocated per packet. Bounds and what happens past them (each counted):
 *   - memory: the blocks; when none is free the oldest other datagrams are dropped
 *     (defrag_evicted), and if that is not enough the datagram itself (defrag_no_memory);
 *   - datagrams in flight: a new datagram with no free tracker drops the oldest one
 *     (defrag_evicted);
 *   - fragments per datagram: past max_frags the datagram is dropped (defrag_too_many_frags);
 *   - timeout: a datagram not complete timeout seconds after its first fragment is dropped
 *     (defrag_timeout), checked on every call with the capture's clock.
 * Overlap policy "first" (BSD-style "first", as Windows and Solaris reassemble): bytes that
 * arrived first win; an overlap whose bytes differ is counted as defrag_overlap_conflict (a
 * receiver that resolves overlaps otherwise would see other bytes: an evasion attempt), one
 * with the same bytes as defrag_overlap (duplicates, retransmissions).
 * Refused outright: fragments cut by the snapshot length (defrag_truncated), datagrams that
 * would exceed 65535 bytes (defrag_oversize), first fragments that do not hold the whole
 * TCP (20 bytes) or UDP (8 bytes) header and IPv4 TCP fragments at offset 8 (RFC 1858 tiny
 * and overlapping-header fragments: defrag_tiny), a second last fragment or a fragment past
 * the end that disagree on the datagram's length (defrag_bad_end, the datagram dropped),
 * an IPv6 unfragmentable part longer than TW_DEFRAG_HDR_MAX (defrag_header_too_long).
 * A non-last fragment whose length is not a multiple of 8 is trimmed to one, as Linux does.
 */
#ifndef TUNWATCH_DEFRAG_H
#define TUNWATCH_DEFRAG_H

#include "tunwatch/base/common.h"

/* The link type of a reassembled datagram handed back to tw_decode(): an 8-byte preamble
 * (struct layout below) then the IP datagram. Not a pcap link type (negative). */
#define TW_LINK_REASSEMBLED (-2)
#define TW_DEFRAG_PREAMBLE 8
/* Longest unfragmentable part kept: IPv4 header (60), or IPv6 header and the extension
 * headers before the fragment header. */
#define TW_DEFRAG_HDR_MAX 256
/* Largest reassembled frame: preamble, header, 65535 bytes of datagram. */
#define TW_DEFRAG_FRAME_MAX (TW_DEFRAG_PREAMBLE + 65535 + TW_DEFRAG_HDR_MAX)

/*
 * One fragment as tw_decode_frag() reports it: slices into the frame being decoded.
 *   hdr/hdr_len    IPv4: the header with options. IPv6: the fixed header and the extension
 *                  headers before the fragment header (the unfragmentable part).
 *   nh_off         IPv6: offset in hdr of the Next Header byte that names the fragment
 *                  header (6, or the first byte of the last extension header before it).
 *   data/data_len  the fragment's payload as declared (data_len); cap_len bytes captured.
 */
struct tw_frag {
    const uint8_t *hdr;
    size_t hdr_len;
    size_t nh_off;
    const uint8_t *data;
    size_t data_len, cap_len;
    uint32_t id;     /* IPv4: 16 bits */
    uint32_t offset; /* bytes */
    bool more;       /* MF / M flag */
    uint8_t version; /* 4 or 6 */
    uint8_t proto;   /* IPv4 protocol, or the fragment header's Next Header */
    uint8_t encap;   /* tunnels entered before this IP header */
    uint8_t vlans;   /* VLAN tags seen before it, all layers */
    uint8_t vlan_count;
    uint16_t vlan[2];
};

struct tw_defrag_config {
    size_t memory;          /* bytes: trackers, hash table and fragment data together */
    uint32_t max_frags;     /* fragments one datagram may have */
    uint32_t max_datagrams; /* datagrams being reassembled at once */
    uint32_t timeout;       /* seconds from a datagram's first fragment to its drop */
};

#define TW_DEFRAG_CONFIG_DEFAULT                                                             \
    {.memory = (size_t)16 << 20, .max_frags = 128, .max_datagrams = 1024, .timeout = 30}

/* Counters (uint64_t only: summed field by field over workers). */
struct tw_defrag_stats {
    uint64_t fragments;        /* fragments handed in, IPv4 and IPv6 */
    uint64_t ip4_fragments, ip6_fragments;
    uint64_t reassembled;      /* datagrams completed */
    uint64_t overlap;          /* fragments overlapping earlier bytes with the same content */
    uint64_t overlap_conflict; /* ... with different content (first bytes kept) */
    uint64_t timeout;          /* datagrams dropped incomplete at their timeout */
    uint64_t evicted;          /* datagrams dropped for a new one (trackers or memory full) */
    uint64_t no_memory;        /* datagrams dropped: not enough blocks even after eviction */
    uint64_t too_many_frags;   /* datagrams dropped past max_frags */
    uint64_t oversize;         /* fragments that would make a datagram over 65535 bytes */
    uint64_t tiny;             /* tiny first fragments, IPv4 TCP at offset 8 */
    uint64_t bad_end;          /* datagrams dropped: fragments disagree on the length */
    uint64_t truncated;        /* fragments cut by the snapshot length */
    uint64_t header_too_long;  /* IPv6 unfragmentable part over TW_DEFRAG_HDR_MAX */
    uint64_t bad_length;       /* fragments with no payload (or none left once trimmed) */
};

struct tw_defrag;

/* The least memory cfg (its max_datagrams) needs: trackers, hash table, one 64 KiB datagram. */
size_t tw_defrag_min_memory(const struct tw_defrag_config *cfg);

/* NULL on allocation failure or a configuration that cannot hold one 64 KiB datagram
 * (memory too small, a zero bound). */
struct tw_defrag *tw_defrag_new(const struct tw_defrag_config *cfg);
void tw_defrag_free(struct tw_defrag *d);

/*
 * Adds one fragment seen at time now (seconds, the capture's clock). Returns 1 when it
 * completed its datagram: *frame and *len then describe a frame of link type
 * TW_LINK_REASSEMBLED in d's own buffer, valid until the next call (decode it with
 * tw_decode()); 0 when the fragment was kept or refused (counted in stats).
 */
int tw_defrag_add(struct tw_defrag *d, const struct tw_frag *f, int64_t now,
                  const uint8_t **frame, size_t *len, struct tw_defrag_stats *st);

/* Drops the datagrams whose timeout has passed at now (counted as defrag_timeout). Cheap
 * when none has: one comparison. tw_defrag_add() calls it too. */
void tw_defrag_expire(struct tw_defrag *d, int64_t now, struct tw_defrag_stats *st);

/* Datagrams being reassembled and fragment-data bytes held (blocks in use * 1 KiB). */
uint32_t tw_defrag_in_flight(const struct tw_defrag *d);
size_t tw_defrag_bytes_held(const struct tw_defrag *d);

/* Stable snake_case names and values of st's refusal and anomaly counters ("defrag_timeout",
 * ...), at most cap of them into names/values; returns how many there are in all. */
size_t tw_defrag_counters(const struct tw_defrag_stats *st, const char **names, uint64_t *values,
                          size_t cap);

#endif /* TUNWATCH_DEFRAG_H */
