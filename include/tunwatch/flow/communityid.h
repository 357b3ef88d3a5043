/* SPDX-License-Identifier: MIT */
/*
 * Community ID flow hash, version 1 (https://github.com/corelight/community-id-spec), as Zeek
 * and Suricata compute it, so that tunwatch events can be joined with their logs by one string.
 *
 * The hash is SHA-1 over the direction-independent flow tuple, all in network byte order:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |             seed              |  source address (4 or 16)     :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :  ...   destination address (4 or 16)  |     proto     |   0   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          source port          |       destination port        |  (only with ports)
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * and the result is "1:" followed by the base64 of the 20-byte digest.
 */
#ifndef TUNWATCH_COMMUNITYID_H
#define TUNWATCH_COMMUNITYID_H

#include "tunwatch/base/common.h"

/* Bytes needed for a Community ID string: "1:", 28 base64 characters, NUL. */
#define TW_COMMUNITY_ID_LEN 31

#define TW_SHA1_LEN 20

/*
 * Writes the version 1 Community ID of a flow, NUL-terminated, into out (cap bytes).
 *
 * ip_version is 4 or 6; IPv4 addresses sit in the first 4 bytes of src and dst, as in
 * struct tw_pkt. The meaning of sport and dport depends on proto:
 *   - TCP (6), UDP (17), SCTP (132): the ports.
 *   - ICMP (1), ICMPv6 (58): sport is the message type, dport the code. Request/reply types
 *     (echo, timestamp, router/neighbor discovery, ...) are paired as the spec and Zeek do,
 *     so both directions share an id; other types are one-way and keep their direction.
 *   - anything else: ignored; the hash covers addresses and protocol only.
 * Either direction of a bidirectional flow yields the same id. seed is the spec's seed
 * (0 unless a deployment chose another; it must match the other tools to compare ids).
 *
 * Returns 0, or TW_EINVAL (ip_version not 4 or 6, out NULL, or cap < TW_COMMUNITY_ID_LEN);
 * on error a non-NULL out with cap > 0 receives the empty string.
 */
int tw_community_id(uint16_t seed, uint8_t ip_version, const uint8_t src[16], const uint8_t dst[16],
                    uint8_t proto, uint16_t sport, uint16_t dport, char *out, size_t cap);

/* SHA-1 (FIPS 180-4) of len bytes at data into digest. Exposed for its test vectors. */
void tw_sha1(const void *data, size_t len, uint8_t digest[TW_SHA1_LEN]);

#endif /* TUNWATCH_COMMUNITYID_H */
