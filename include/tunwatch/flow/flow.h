/* SPDX-License-Identifier: MIT */
/*
 * Fixed-capacity flow table keyed by the 5-tuple (plus the outer VLAN id).
 *
 * Keys are stored in canonical order (lower address/port first) so both
 * directions find the same entry; `side` tells which end sent a packet.
 * Entries are preallocated at start-up. When the table is full the least
 * recently seen flow is recycled: counted as `expired` if it had been idle
 * longer than the timeout, else as `evicted`. Idle flows are also expired
 * lazily, a few per insertion.
 */
#ifndef TUNWATCH_FLOW_H
#define TUNWATCH_FLOW_H

#include "tunwatch/decode/decode.h"

#define TW_FLOW_NONE UINT32_MAX
#define TW_SIDE_UNKNOWN 2

enum tw_flow_state {
    TW_FLOW_NEW,     /* no payload classified yet */
    TW_FLOW_CONNECT, /* client stream inside an HTTP CONNECT request header */
    TW_FLOW_PROXY,   /* client stream inside a PROXY protocol (v1 or v2) header */
    TW_FLOW_TLS,     /* client stream being read as a TLS ClientHello */
    TW_FLOW_SCAN,    /* client spoke something else first (STARTTLS, SOCKS, ...): each new
                        client segment is checked for a ClientHello, a bounded number of times */
    TW_FLOW_DNS,     /* DNS: every message is inspected, never done */
    TW_FLOW_DONE,    /* name known, or nothing for us: packets only touch the entry */
};

#define TW_FLOWF_SYN_SEEN 0x01  /* the initiator's SYN was seen */
#define TW_FLOWF_MIDSTREAM 0x02 /* the flow's start was not seen */
#define TW_FLOWF_CONNECT 0x04   /* client stream began with an HTTP CONNECT request */
#define TW_FLOWF_BUFFERED 0x10  /* the client stream needed the reassembly buffer */
#define TW_FLOWF_NAMED 0x20     /* a network_connection event was emitted for this flow */
#define TW_FLOWF_ANSWERED 0x40  /* the answer cache was consulted for this flow */
#define TW_FLOWF_CLIENT_SET 0x08 /* client_next is valid */
#define TW_FLOWF_PORT_GUESS 0x80 /* start not seen: initiator guessed from the ports */

/* tw_flow.xflags: rarer facts, kept off the first cache line */
#define TW_FLOWX_SERVER_SET 0x01 /* server_next is valid (DNS over TCP responses are read) */
#define TW_FLOWX_SERVER_OFF 0x02 /* stop reading the server stream (oversize, no buffer) */

struct tw_flow_key {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint16_t vlan;
    uint8_t proto;
    uint8_t version;
};

struct tw_flow {
    /* Hot: read for every packet; kept within the first cache line. */
    struct tw_flow_key key;
    uint32_t hash;
    uint32_t next;     /* bucket chain */
    int64_t last_sec;
    uint8_t state;        /* enum tw_flow_state */
    uint8_t flags;        /* TW_FLOWF_* */
    uint8_t initiator;    /* key side (0/1) that opened the flow, or TW_SIDE_UNKNOWN */
    uint8_t client;       /* key side whose bytes are inspected, or TW_SIDE_UNKNOWN */
    uint32_t pkts;
    /* Cold. */
    uint32_t lru_prev; /* towards least recently seen */
    uint32_t lru_next;
    uint64_t id;       /* unique within the run, starting at 1 */
    int64_t first_sec;
    uint32_t client_next; /* TCP: sequence number of the next unconsumed client byte */
    uint32_t stream;      /* reassembly buffer index or TW_STREAM_NONE */
    uint32_t isn;         /* initiator's initial sequence number, if its SYN was seen */
    uint8_t scan_left;    /* TW_FLOW_SCAN: client segments still to check */
    uint8_t xflags;       /* TW_FLOWX_* */
    uint32_t first_nsec;  /* with first_sec: time of the flow's first packet */
    uint32_t server_next; /* TCP DNS: sequence number of the next unconsumed server byte */
    uint32_t sstream;     /* TCP DNS: server-side reassembly buffer or TW_STREAM_NONE */
};

struct tw_flow_table_stats {
    uint64_t created;
    uint64_t evicted; /* recycled while still active because the table was full */
    uint64_t expired; /* recycled after the idle timeout */
    uint32_t active;
    uint32_t capacity;
};

struct tw_flow_table;

/* Called before an entry is recycled (expired, evicted, or restarted for a reused 5-tuple), so
 * its owner can finish with it: return borrowed buffers, report what the flow never did. */
typedef void (*tw_flow_release_fn)(void *ctx, struct tw_flow *f);

/* capacity >= 1 flows; idle_timeout in seconds. NULL on allocation failure. */
struct tw_flow_table *tw_flow_table_new(uint32_t capacity, uint32_t idle_timeout,
                                        tw_flow_release_fn release, void *ctx);
void tw_flow_table_free(struct tw_flow_table *t);

/*
 * Finds the flow of packet p, or creates it (recycling as described above).
 * *side is the key side of p's source; *created tells whether the entry is new
 * (zeroed apart from key, id, times, stream = TW_STREAM_NONE and
 * initiator = client = TW_SIDE_UNKNOWN). Never returns NULL.
 */
struct tw_flow *tw_flow_get(struct tw_flow_table *t, const struct tw_pkt *p, int64_t now,
                            uint8_t *side, bool *created);

/* Flow ids start at `first` and step by `stride`, so several tables (one per worker) hand out
 * ids that never collide: worker w of n uses first = w + 1, stride = n. Default 1, 1. */
void tw_flow_table_set_ids(struct tw_flow_table *t, uint64_t first, uint64_t stride);

/* Gives a flow a fresh identity (new id, state NEW) in place, as on TCP port reuse. */
void tw_flow_restart(struct tw_flow_table *t, struct tw_flow *f, int64_t now);

/* Calls fn for every flow in the table, least recently seen first. fn must not add or
 * remove flows. */
void tw_flow_table_foreach(struct tw_flow_table *t, void (*fn)(void *ctx, struct tw_flow *f),
                           void *ctx);

void tw_flow_table_get_stats(const struct tw_flow_table *t, struct tw_flow_table_stats *st);

/* Address and port of one side of a flow. */
static inline const uint8_t *tw_flow_addr(const struct tw_flow *f, unsigned side)
{
    return f->key.addr[side];
}

#endif /* TUNWATCH_FLOW_H */
