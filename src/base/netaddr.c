/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_nets[] = {
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7",   "::1/128",       "fe80::/10",
};

void tw_homenet_default(struct tw_homenet *h)
{
    h->n = 0;
    for (size_t i = 0; i < TW_ARRAY_SIZE(default_nets); i++)
        if (tw_cidr_parse(default_nets[i], &h->net[h->n]) == 0)
            h->n++;
}

int tw_cidr_parse(const char *s, struct tw_cidr *out)
{
    char buf[64];
    char *slash, *end;
    long bits;
    size_t len = strlen(s);
    unsigned maxbits;

    if (len == 0 || len >= sizeof(buf))
        return TW_EINVAL;
    memcpy(buf, s, len + 1);
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->version = 4;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->version = 6;
        maxbits = 128;
    } else {
        return TW_EINVAL;
    }
    bits = maxbits;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9')
            return TW_EINVAL;
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || bits < 0 || bits > (long)maxbits)
            return TW_EINVAL;
    }
    out->prefix = (uint8_t)bits;
    /* Host bits must be zero: a typo like 10.1.2.3/8 is an error, not a silent /8. */
    for (unsigned i = 0; i < maxbits; i++) {
        bool bit = (out->addr[i / 8] >> (7 - i % 8)) & 1;
        if (i >= (unsigned)bits && bit)
            return TW_EINVAL;
    }
    return 0;
}

int tw_homenet_parse(struct tw_homenet *h, const char *list, char *bad, size_t badcap)
{
    struct tw_homenet tmp = {.n = 0};
    const char *p = list;

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[64];

        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= sizeof(item) || tmp.n == TW_HOMENET_MAX) {
            snprintf(bad, badcap, "%.*s", (int)TW_MIN(n, 63), p);
            return TW_EINVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (tw_cidr_parse(item, &tmp.net[tmp.n]) != 0) {
            snprintf(bad, badcap, "%s", item);
            return TW_EINVAL;
        }
        tmp.n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (tmp.n == 0) {
        snprintf(bad, badcap, "(empty list)");
        return TW_EINVAL;
    }
    *h = tmp;
    return 0;
}

bool tw_port_parse(const uint8_t *p, size_t n, uint16_t *port)
{
    uint32_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(p[i] - '0');
        if (v > 65535)
            return false;
    }
    *port = (uint16_t)v;
    return true;
}

bool tw_cidr_contains(const struct tw_cidr *c, uint8_t version, const uint8_t addr[16])
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;

    if (c->version != version || memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

bool tw_homenet_contains(const struct tw_homenet *h, uint8_t version, const uint8_t addr[16])
{
    for (size_t i = 0; i < h->n; i++)
        if (tw_cidr_contains(&h->net[i], version, addr))
            return true;
    return false;
}

void tw_addr_format(uint8_t version, const uint8_t addr[16], char *buf, size_t cap)
{
    if (inet_ntop(version == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)cap) == NULL)
        snprintf(buf, cap, "?");
}
