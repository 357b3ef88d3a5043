/* SPDX-License-Identifier: MIT */
/*
 * Internet checksums (RFC 1071): the IPv4 header checksum and the TCP and UDP checksums over
 * their pseudo-headers (RFC 793, RFC 768, RFC 8200 section 8.1).
 *
 * tw_csum_partial() sums in one pass, in the machine's byte order: 64-bit adds with the carry
 * folded back (as Linux's csum_partial and DPDK's rte_raw_cksum), and from 64 bytes on
 * 16-bit words in four 32-bit vector lanes (no carries to fold within 512 KiB). The one's
 * complement sum does not depend on it as long as every piece starts at an even offset of
 * the summed sequence, and a valid packet sums to 0xffff either way.
 */
#ifndef TUNWATCH_CSUM_H
#define TUNWATCH_CSUM_H

#include "tunwatch/base/common.h"

/* Adds len bytes at buf to the running sum (0 to start). buf needs no alignment. An odd len
 * may only be the last piece of a sum. */
uint64_t tw_csum_partial(const void *buf, size_t len, uint64_t sum);

/* Folds a running sum to 16 bits (not inverted), in the machine's byte order. */
uint16_t tw_csum_fold(uint64_t sum);

/* True when the IPv4 header at h (hl bytes, 20..60) carries a valid checksum. */
bool tw_csum_ip4_ok(const uint8_t *h, size_t hl);

/* The pseudo-header sum of a TCP or UDP segment of l4_len bytes from src to dst (4 or 16
 * bytes each, by version), not folded. */
uint64_t tw_csum_pseudo(uint8_t version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                        uint32_t l4_len);

/* The checksum to write in a segment's field (network byte order, as two bytes at out):
 * computed over the pseudo-header and the l4_len bytes at l4 with the field zeroed.
 * For generators and tests. */
void tw_csum_l4_fill(uint8_t version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     uint8_t *l4, uint32_t l4_len, uint8_t *out);

/* Stores the IPv4 header checksum of h (hl bytes) in h[10..11]. */
void tw_csum_ip4_fill(uint8_t *h, size_t hl);

#endif /* TUNWATCH_CSUM_H */
