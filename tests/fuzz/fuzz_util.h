/* SPDX-License-Identifier: MIT */
/* Checks shared by the parser fuzz targets: a broken contract aborts, for libFuzzer to report. */
#ifndef TUNWATCH_FUZZ_UTIL_H
#define TUNWATCH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Whether p[0..n) is all zero bytes (an output reset on entry and left unfilled). */
static inline bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* p[0..len) inside lo[0..n), and p NULL exactly when len is 0. */
static inline void check_slice(const uint8_t *p, size_t len, const uint8_t *lo, size_t n)
{
    if (p == NULL) {
        if (len != 0)
            abort();
        return;
    }
    if (len == 0 || p < lo || len > n || (size_t)(p - lo) > n - len)
        abort();
}

#ifdef TUNWATCH_EVENT_H
/* An event naming `name` from 10.0.0.2:40000 to 203.0.113.7, initiated: a DNS query (UDP
 * port 53) or a connection (TCP port 443), for the loaders' targets to match against. */
static inline void fuzz_event(struct tw_event *ev, const char *name, bool dns)
{
    memset(ev, 0, sizeof(*ev));
    ev->category = dns ? TW_CAT_DNS_QUERY : TW_CAT_NETWORK_CONNECTION;
    ev->raw = ev->norm = name;
    ev->raw_len = ev->norm_len = strlen(name);
    ev->ip_version = 4;
    memcpy(ev->src_addr, "\x0a\x00\x00\x02", 4);
    memcpy(ev->dst_addr, "\xcb\x00\x71\x07", 4);
    ev->sport = 40000;
    ev->dport = dns ? 53 : 443;
    ev->l4_proto = dns ? 17 : 6;
    ev->initiated = true;
}
#endif

#endif /* TUNWATCH_FUZZ_UTIL_H */
