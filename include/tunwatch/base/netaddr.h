/* SPDX-License-Identifier: MIT */
/*
 * Addresses and home networks. An address is 16 bytes; IPv4 uses the first 4
 * (as struct tw_pkt stores it) and is told apart by the version.
 */
#ifndef TUNWATCH_NETADDR_H
#define TUNWATCH_NETADDR_H

#include "tunwatch/base/common.h"

#define TW_HOMENET_MAX 64

struct tw_cidr {
    uint8_t version; /* 4 or 6 */
    uint8_t prefix;  /* bits */
    uint8_t addr[16];
};

struct tw_homenet {
    size_t n;
    struct tw_cidr net[TW_HOMENET_MAX];
};

/* A port written p[0..n) as in a URI or a Host field (RFC 3986: *DIGIT, leading zeros allowed):
 * true with *port set when n > 0, every byte is a digit and the value is at most 65535. */
bool tw_port_parse(const uint8_t *p, size_t n, uint16_t *port);

/* True if addr (version 4: the first 4 bytes) is inside c; never across address families. */
bool tw_cidr_contains(const struct tw_cidr *c, uint8_t version, const uint8_t addr[16]);

/* The default home networks: RFC 1918, RFC 4193 (fc00::/7), loopback, link-local. */
void tw_homenet_default(struct tw_homenet *h);

/*
 * Parses one CIDR ("10.0.0.0/8", "fd00::/8", a bare address means /32 or /128).
 * Host bits must be zero. Returns 0 or TW_EINVAL.
 */
int tw_cidr_parse(const char *s, struct tw_cidr *out);

/*
 * Replaces h with a comma-separated CIDR list. Returns 0, or TW_EINVAL with
 * the offending element copied into bad (capacity badcap). h is unchanged on error.
 */
int tw_homenet_parse(struct tw_homenet *h, const char *list, char *bad, size_t badcap);

bool tw_homenet_contains(const struct tw_homenet *h, uint8_t version, const uint8_t addr[16]);

/* Formats an address (inet_ntop conventions). buf needs TW_IPSTR_MAX (46) bytes. */
void tw_addr_format(uint8_t version, const uint8_t addr[16], char *buf, size_t cap);

#endif /* TUNWATCH_NETADDR_H */
