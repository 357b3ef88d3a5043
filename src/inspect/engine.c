/* SPDX-License-Identifier: MIT */
#include "tunwatch/inspect/engine.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/ascii.h"
#include "tunwatch/base/seed.h"
#include "tunwatch/flow/stream.h"
#include "tunwatch/inspect/answers.h"
#include "tunwatch/proto/dns.h"
#include "tunwatch/proto/http.h"
#include "tunwatch/proto/ja4.h"
#include "tunwatch/proto/proxy.h"
#include "tunwatch/proto/quic.h"
#include "tunwatch/proto/tls.h"

/* Packets a mid-stream TCP flow may show before we stop looking for a client hello. */
#define MIDSTREAM_PATIENCE 16
/* Bytes of each direction of a mid-stream flow held until they tell who the client is (the
 * mid-stream pool's buffers). */
#define MIDSTREAM_CAP (8u * 1024u)
/* ClientHellos read again per flow at the sequence number of the one reported (see
 * hello_recheck). */
#define HELLO_RECHECKS 4
/* Client segments after the first ClientHello looked at for a second one (tls_next_segment):
 * early data the server skips after a HelloRetryRequest comes between them (OpenSSL skips up
 * to 16 KiB of it). */
#define TLS_NEXT_SEGMENTS 16
/* Client segments checked for a ClientHello after a non-TLS start (STARTTLS, SOCKS, ...). */
#define SCAN_SEGMENTS 8
/* Client segments after an HTTP request without the start of another before the flow is
 * done with (request bodies, an upgrade to another protocol). */
#define HTTP_NEXT_SEGMENTS 64

/* What the engine keeps per flow, after the flow table's part. */
enum tw_flow_state {
    TW_FLOW_NEW,     /* no payload classified yet */
    TW_FLOW_CONNECT, /* client stream inside an HTTP CONNECT request header */
    TW_FLOW_PROXY,   /* client stream inside a PROXY protocol (v1 or v2) header */
    TW_FLOW_TLS,     /* client stream being read as a TLS ClientHello */
    TW_FLOW_TLS_NEXT, /* after the first ClientHello: the start of each client segment is
                         looked at for a second hello (after a HelloRetryRequest), a bounded
                         number of times (tls_next_segment) */
    TW_FLOW_TLS_NEXT_EARLY, /* the same, the first hello having offered early data: segments
                               of application data records do not end the look */
    TW_FLOW_TLS_RETRY, /* client stream being read as a second ClientHello */
    TW_FLOW_HTTP,    /* client stream being read as an HTTP/1.x request header */
    TW_FLOW_HTTP_NEXT, /* after a request: each client segment (and the bytes right after a
                          request) is checked for the start of the next one, a bounded
                          number of segments (keep-alive, pipelining) */
    TW_FLOW_SCAN,    /* client spoke something else first (STARTTLS, SOCKS, ...): each new
                        client segment is checked for a ClientHello, a bounded number of times */
    TW_FLOW_DNS,     /* DNS: every message is inspected, never done */
    TW_FLOW_QUIC,    /* UDP whose client sent a QUIC Initial: its datagrams are read until the
                        ClientHello is whole (state in the QUIC pool, conn.quic) */
    TW_FLOW_QUIC_NEXT, /* ... and after it, until a second one (after a HelloRetryRequest)
                          or the handshake going on says there is none (quic_datagram) */
    TW_FLOW_DONE,    /* name known, or nothing for us: packets only touch the entry */
};

#define TW_FLOWF_SYN_SEEN 0x01   /* the initiator's SYN was seen */
#define TW_FLOWF_MIDSTREAM 0x02  /* the flow's start was not seen */
#define TW_FLOWF_CONNECT 0x04    /* client stream began with an HTTP CONNECT request */
#define TW_FLOWF_CLIENT_SET 0x08 /* client_next is valid */
#define TW_FLOWF_BUFFERED 0x10   /* the client stream needed the reassembly buffer */
#define TW_FLOWF_NAMED 0x20      /* a network_connection event was emitted for this flow */
#define TW_FLOWF_ANSWERED 0x40   /* the answer cache was consulted for this flow */
#define TW_FLOWF_PORT_GUESS 0x80 /* start not seen: initiator guessed from the ports */

/* conn.xflags: rarer facts */
#define TW_FLOWX_SERVER_SET 0x01 /* server_next is valid (DNS over TCP responses are read) */
#define TW_FLOWX_SERVER_OFF 0x02 /* stop reading the server stream (oversize, no buffer) */
#define TW_FLOWX_HOLDING 0x04    /* in the flow table's holding class (see hold_update) */
#define TW_FLOWX_BIG_STREAM 0x08 /* conn.stream indexes the large-buffer pool (a large hello) */
#define TW_FLOWX_CONFLICT 0x10   /* overlapping bytes differed: the flow's events say so */
#define TW_FLOWX_HELLO_KEPT 0x20 /* hello_seq and hello_hash hold the ClientHello reported */
#define TW_FLOWX_RECHECK 0x40    /* reading a ClientHello at hello_seq again (hello_recheck) */
#define TW_FLOWX_PICKED 0x80     /* mid-stream: the client was found in its first bytes, held */

/* A flow-table entry as the engine sees it: the table's part, then the engine's state (the
 * table zeroes it for a new flow; conn_init sets what is not zero). The first 8 bytes of the
 * engine's part share the entry's first cache line with the key: what every packet reads. */
struct conn {
    struct tw_flow ft;    /* key, last time seen, packets: owned by the flow table */
    uint8_t state;        /* enum tw_flow_state */
    uint8_t flags;        /* TW_FLOWF_* */
    uint8_t initiator;    /* key side (0/1) that opened the flow, or TW_SIDE_UNKNOWN */
    uint8_t client;       /* key side whose bytes are inspected, or TW_SIDE_UNKNOWN */
    uint8_t scan_left;    /* TW_FLOW_SCAN: client segments still to check */
    uint8_t xflags;       /* TW_FLOWX_* */
    uint8_t dns_qz;       /* DNS: bit 7 set: the last query seen had ID dns_qid and Zeek's Z
                             (header bits 4-6) in bits 0-2 */
    uint8_t rechecks;     /* ClientHellos read again at hello_seq */
    uint32_t client_next; /* TCP: sequence number of the next unconsumed client byte */
    uint32_t stream;      /* reassembly buffer index or TW_STREAM_NONE */
    uint32_t isn;         /* initiator's initial sequence number, if its SYN was seen */
    uint32_t server_next; /* TCP DNS: sequence number of the next unconsumed server byte */
    uint32_t sstream;     /* TCP DNS: server-side reassembly buffer or TW_STREAM_NONE */
    uint32_t quic;        /* TW_FLOW_QUIC: state index in the QUIC pool, else QUIC_NONE */
    uint32_t pick[2];     /* mid-stream, client not known yet: each key side's first bytes
                             (mid-stream pool index, or TW_STREAM_NONE) */
    uint32_t hello_seq;   /* TW_FLOWX_HELLO_KEPT: sequence number of the hello reported */
    uint16_t quic_left;   /* TW_FLOW_QUIC: client datagrams still read without a hello */
    uint16_t dns_qid;     /* DNS: see dns_qz */
    uint16_t source;      /* the capture source of the flow's first packet (tw_frame.source) */
    uint8_t pick_off;     /* mid-stream: bit per key side whose first bytes are no longer held
                             (they outgrew their buffer) */
    uint8_t tls_back;     /* a hello read again (hello_recheck) in a TLS_NEXT* state: that
                             state, gone back to once it is read (0: done then) */
    uint32_t hello_end;   /* TW_FLOWX_HELLO_KEPT: sequence number after that hello's bytes */
    uint64_t hello_hash;  /* TW_FLOWX_HELLO_KEPT: seeded hash of that hello's stream bytes */
    uint64_t hello_names; /* TW_FLOWX_HELLO_KEPT: seeded hash of its names (names_hash) */
};
_Static_assert(offsetof(struct conn, client_next) <= sizeof(struct tw_flow) + TW_FLOW_OWNER_HOT,
               "the per-packet fields sit on the entry's first cache line");
_Static_assert(sizeof(struct conn) <= 2 * TW_CACHE_LINE, "a flow entry is two cache lines");

struct tw_engine {
    struct tw_engine_config cfg;
    struct tw_flow_table *flows;
    struct tw_prep *prep; /* NULL: frames come prepared */
    /* Validates what decoding left pending (the prep's state, or own_csum without one). */
    struct tw_csum_ctl *csum;
    struct tw_csum_ctl own_csum;
    /* The flow key of the packet being read, made ahead in a burst (NULL: make it). */
    const struct tw_flow_pre *pre;
    struct burst_slot *burst; /* TW_ENGINE_BURST of them */
    struct tw_stream_pool pool;
    /* Larger buffers, lent to a TLS client stream that outgrows a TW_STREAM_CAP buffer before
     * its ClientHello is whole (rare: hellos over ~24 KiB); bounded like the general pool. */
    struct tw_stream_pool big;
    size_t tls_stream_max; /* bytes of client stream a ClientHello may take */
    /* The first bytes of mid-stream TCP flows, per direction, until they tell the client. */
    struct tw_stream_pool mid;
    uint64_t hello_seed; /* per-run seed of hello_hash */
    struct tw_engine_stats st;
    const struct tw_frame *frame; /* frame being processed */
    uint64_t seq;                 /* frames taken so far (the next one's number) */
    uint64_t cur_seq;             /* number of the frame being processed */
    /* An engine that shares its frames: the counts of what it does for frames another engine
     * counts (of other shares, or TW_SHARE_UNKNOWN ones unless it is the last engine), never
     * reported: every frame is counted once. */
    struct tw_engine_stats *scratch;
    /* Where a TW_SHARE_UNKNOWN frame and its decoding count: st (the last engine, or one that
     * does not share) or scratch. */
    struct tw_engine_stats *frame_st;
    bool peek_none; /* decodes every frame of a share without a peek (share_last_full) */
    struct tw_dns_msg dns;
    struct tw_dns_answers *answers; /* 70 KB: allocated with the engine */
    char ans_name[TW_ANSCACHE_TEXT_MAX];
    char ans_chain[TW_ANSCACHE_TEXT_MAX];
    char norm[TW_NAME_MAX];
    char ja4[TW_JA4_LEN];
    char http[TW_HTTP_HDR_MAX + 16]; /* the request fields of an event, NUL-terminated */
    uint8_t *tls_scratch; /* tls_max_hello + 4 bytes: one ClientHello message, joined */
    size_t tls_scratch_cap;
    /* QUIC: libcrypto contexts and decryption scratch, and the per-flow states of the flows
     * whose ClientHello is being collected (a bounded pool, like reassembly buffers). */
    struct tw_quic_ctx *quic; /* made for the first QUIC flow (quic_context) */
    bool quic_failed;         /* ... and it could not be */
    struct tw_quic_flow *qpool;
    uint32_t *qnext; /* free list */
    uint32_t qfree, qcap;
    struct tw_holders qhold; /* who holds each QUIC state, least recently used first */
};

/* A packet of a burst: decoded, its flow key made and prefetched, then read. */
struct burst_slot {
    struct tw_pkt p;
    struct tw_flow_pre pre;
    const struct tw_frame *fr;
    uint64_t seq; /* the frame's number in the input (tw_engine_config.answer_wait) */
    bool has_pre;
};

#define QUIC_NONE UINT32_MAX
/* Client datagrams a QUIC flow may send without completing its ClientHello. */
#define QUIC_PATIENCE 32
/* ... and after it, without a second one or a sign the handshake went on without one. */
#define QUIC_NEXT_PATIENCE 8

/* Which of a flow's buffers or states a pool's slot is (tw_holder.role). */
enum hold_role {
    HOLD_CLIENT, /* conn.stream (the general or the large pool) */
    HOLD_SERVER, /* conn.sstream */
    HOLD_PICK0,  /* conn.pick[0], then pick[1] */
    HOLD_PICK1,
    HOLD_QUIC, /* conn.quic */
};

/* The pool of flow f's reassembly buffer idx (client or server stream): the large pool only
 * lends client streams. */
static struct tw_stream_pool *pool_of(struct tw_engine *e, const struct conn *f,
                                      const uint32_t *idx)
{
    return idx == &f->stream && (f->xflags & TW_FLOWX_BIG_STREAM) ? &e->big : &e->pool;
}

/* Gives a reassembly buffer back to its pool. */
static void put_stream_of(struct tw_engine *e, struct conn *f, uint32_t *idx)
{
    if (*idx != TW_STREAM_NONE) {
        tw_stream_put(pool_of(e, f, idx), *idx);
        *idx = TW_STREAM_NONE;
    }
    if (idx == &f->stream)
        f->xflags &= (uint8_t)~TW_FLOWX_BIG_STREAM;
}

/* The buffer idx of flow f (client or server stream). */
static struct tw_stream *stream_of(struct tw_engine *e, const struct conn *f, const uint32_t *idx)
{
    return tw_stream_at(pool_of(e, f, idx), *idx);
}

/*
 * A flow that holds part of a name (its client stream in a reassembly buffer, a QUIC state
 * with CRYPTO frames) is in the flow table's holding class, which a flood of new flows that
 * carry nothing cannot push out between the halves (tw_flow.h); it goes back to the default
 * class once it holds nothing. A flow in the short class (closing) stays there.
 */
static void hold_update(struct tw_engine *e, struct conn *f)
{
    bool holds = f->stream != TW_STREAM_NONE || f->quic != QUIC_NONE ||
                 f->pick[0] != TW_STREAM_NONE || f->pick[1] != TW_STREAM_NONE;

    if (holds == ((f->xflags & TW_FLOWX_HOLDING) != 0))
        return;
    enum tw_flow_timeout now = tw_flow_meta(e->flows, &f->ft)->timeout;
    if (holds && now == TW_FLOW_TIMEOUT_DEFAULT) {
        tw_flow_set_timeout(e->flows, &f->ft, TW_FLOW_TIMEOUT_HOLDING);
        f->xflags |= TW_FLOWX_HOLDING;
    } else if (!holds) {
        if (now == TW_FLOW_TIMEOUT_HOLDING)
            tw_flow_set_timeout(e->flows, &f->ft, TW_FLOW_TIMEOUT_DEFAULT);
        f->xflags &= (uint8_t)~TW_FLOWX_HOLDING;
    }
}

/* Gives the mid-stream buffers of a flow back. */
static void put_pickups(struct tw_engine *e, struct conn *f)
{
    for (unsigned i = 0; i < 2; i++) {
        tw_stream_put(&e->mid, f->pick[i]);
        f->pick[i] = TW_STREAM_NONE;
    }
}

/* Gives a QUIC state back to the pool. */
static void put_quic(struct tw_engine *e, struct conn *f)
{
    if (f->quic != QUIC_NONE) {
        tw_holders_release(&e->qhold, f->quic);
        e->qnext[f->quic] = e->qfree;
        e->qfree = f->quic;
        f->quic = QUIC_NONE;
    }
}

/*
 * Takes the slot h describes back from the flow that holds it, for another flow that needs
 * one when none is free. The holder gives up what the slot held as it would have had it been
 * refused a slot: a client stream is done with, a DNS server stream no longer read, a
 * mid-stream side no longer held, a QUIC flow no longer read. Counted per pool.
 */
static void reclaim(struct tw_engine *e, const struct tw_holder *h)
{
    struct conn *v = h->owner;
    enum hold_role role = (enum hold_role)h->role; /* h is released below */

    switch (role) {
    case HOLD_CLIENT:
        if (v->xflags & TW_FLOWX_BIG_STREAM)
            e->st.tls_big_reclaimed++;
        else
            e->st.stream_reclaimed++;
        v->state = TW_FLOW_DONE;
        put_stream_of(e, v, &v->stream);
        break;
    case HOLD_SERVER:
        e->st.stream_reclaimed++;
        v->xflags |= TW_FLOWX_SERVER_OFF;
        put_stream_of(e, v, &v->sstream);
        break;
    case HOLD_PICK0:
    case HOLD_PICK1: {
        unsigned side = role - HOLD_PICK0;
        e->st.midstream_reclaimed++;
        tw_stream_put(&e->mid, v->pick[side]);
        v->pick[side] = TW_STREAM_NONE;
        v->pick_off |= (uint8_t)(1u << side);
        break;
    }
    case HOLD_QUIC:
        e->st.quic_reclaimed++;
        put_quic(e, v);
        v->state = TW_FLOW_DONE;
        break;
    }
    hold_update(e, v);
}

/* The slot of hs used least recently, taken back from its holder when it has been idle
 * --reclaim-idle seconds: for a pool with none free. */
static void reclaim_stale(struct tw_engine *e, const struct tw_holders *hs)
{
    uint32_t old = tw_holders_stale(hs, e->frame->ts_sec, e->cfg.reclaim_idle);

    if (old != TW_HOLDERS_NONE)
        reclaim(e, tw_holders_at(hs, old));
}

/* A buffer of pool, reset to seq, for flow f's `role`, or TW_STREAM_NONE (the caller counts
 * the refusal): when none is free, a stalled holder's is taken back first (reclaim_stale). */
static uint32_t buffer_get(struct tw_engine *e, struct tw_stream_pool *pool, uint32_t seq,
                           struct conn *f, enum hold_role role)
{
    if (pool->n_free == 0 && pool->cap > 0)
        reclaim_stale(e, &pool->holders);
    return tw_stream_get(pool, seq, f, (uint8_t)role, e->frame->ts_sec);
}

/* A QUIC state for flow f (f->quic), or QUIC_NONE when every one is in use, after a stalled
 * holder's was taken back as for buffers. */
static uint32_t quic_get(struct tw_engine *e, struct conn *f)
{
    if (e->qfree == QUIC_NONE && e->qcap > 0)
        reclaim_stale(e, &e->qhold);
    if (e->qfree == QUIC_NONE)
        return QUIC_NONE;
    f->quic = e->qfree;
    e->qfree = e->qnext[f->quic];
    tw_holders_take(&e->qhold, f->quic, f, HOLD_QUIC, e->frame->ts_sec);
    return f->quic;
}

static void answer_event(struct tw_engine *e, struct conn *f);

/* The flow is over (retired by the table, or its 5-tuple reused): a flow that never carried
 * a name still gets its one answer-cache lookup, then its buffers go back. */
static void flow_end(struct tw_engine *e, struct conn *f)
{
    answer_event(e, f);
    put_stream_of(e, f, &f->stream);
    put_stream_of(e, f, &f->sstream);
    put_pickups(e, f);
    put_quic(e, f);
}

/* The engine's part of a new flow (the table zeroed it). */
static void conn_init(struct tw_engine *e, struct conn *f)
{
    f->source = (uint16_t)e->frame->source;
    f->stream = f->sstream = TW_STREAM_NONE;
    f->pick[0] = f->pick[1] = TW_STREAM_NONE;
    f->quic = QUIC_NONE;
    f->initiator = f->client = TW_SIDE_UNKNOWN;
}

/*
 * The flow of packet p: looked up or created (then initialised) in the flow table. Flows the
 * table let go of to make room, or because they were idle, are finished first, in the order
 * they were retired, before anything of p is read.
 */
static inline struct conn *conn_get(struct tw_engine *e, const struct tw_pkt *p, uint8_t *side,
                                    bool *created)
{
    struct tw_flow_lookup res;
    struct conn *f =
        e->pre != NULL
            ? (struct conn *)tw_flow_get_pre(e->flows, e->pre, e->frame->ts_sec,
                                             e->frame->ts_nsec, &res)
            : (struct conn *)tw_flow_get(e->flows, p, e->frame->ts_sec, e->frame->ts_nsec, &res);

    for (unsigned i = 0; i < res.n_retired; i++)
        flow_end(e, (struct conn *)res.retired[i]);
    if (res.created)
        conn_init(e, f);
    *side = res.side;
    *created = res.created;
    return f;
}

/* Whether p may be read: its checksums, when decoding left them pending, are validated now
 * (a packet the receiver drops must not reach the parsers nor make or change a flow). */
static inline bool pkt_ok(struct tw_engine *e, const struct tw_pkt *p)
{
    return !p->csum_pending || tw_prep_verify(e->csum, p, &e->st.prep) == 0;
}

/*
 * Bypass: a packet whose flow exists and will read nothing of it (per the caller's
 * predicate) is counted against that flow and goes no further: no checksum pass over its
 * bytes, no second lookup. Returns the flow then, else NULL (validate, then conn_get()).
 */
static inline struct conn *conn_bypass(struct tw_engine *e, const struct tw_pkt *p,
                                       bool (*reads)(const struct conn *, uint8_t side,
                                                     const struct tw_pkt *))
{
    uint8_t side;
    struct conn *f;

    if (e->pre != NULL) {
        side = e->pre->side;
        f = (struct conn *)tw_flow_find_pre(e->flows, e->pre, e->frame->ts_sec);
    } else {
        f = (struct conn *)tw_flow_find(e->flows, p, e->frame->ts_sec, &side);
    }

    if (f == NULL || reads(f, side, p))
        return NULL;
    tw_flow_touch(e->flows, &f->ft, e->frame->ts_sec);
    e->st.bypassed++;
    return f;
}

struct tw_engine *tw_engine_new(const struct tw_engine_config *cfg)
{
    struct tw_engine *e;

    if (cfg->flow_capacity == 0 || cfg->sink == NULL)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->cfg = *cfg;
    e->flows = tw_flow_table_new(cfg->flow_capacity, cfg->flow_timeout,
                                 cfg->flow_timeout_short ? cfg->flow_timeout_short : 30,
                                 sizeof(struct conn));
    if (e->flows == NULL)
        goto out_free;
    if (cfg->dns_timeout != 0)
        tw_flow_table_set_timeout(e->flows, TW_FLOW_TIMEOUT_DONE, cfg->dns_timeout);
    if (tw_stream_pool_init(&e->pool, cfg->stream_buffers, TW_STREAM_CAP) != 0)
        goto out_flows;
    if (tw_stream_pool_init(&e->mid, cfg->midstream_buffers, MIDSTREAM_CAP) != 0)
        goto out_pool;
    e->hello_seed = tw_random_seed(e);
    /* One ClientHello message of the largest body configured; its stream may hold twice that
     * (records of 5 payload bytes on average carry as many header bytes) and the records
     * skipped before it. */
    uint32_t max_hello = cfg->tls_max_hello ? TW_MIN(cfg->tls_max_hello, (uint32_t)TW_TLS_HELLO_MAX)
                                            : (uint32_t)TW_TLS_HELLO_MAX;
    e->tls_scratch_cap = (size_t)max_hello + 4;
    e->tls_scratch = malloc(e->tls_scratch_cap);
    if (e->tls_scratch == NULL)
        goto out_pool;
    e->tls_stream_max = TW_STREAM_CAP;
    if (cfg->tls_big_buffers > 0 && 2 * e->tls_scratch_cap + 16384 > TW_STREAM_CAP) {
        e->tls_stream_max = 2 * e->tls_scratch_cap + 16384;
        if (tw_stream_pool_init(&e->big, cfg->tls_big_buffers, (uint32_t)e->tls_stream_max) != 0)
            goto out_scratch;
    }
    e->answers = malloc(sizeof(*e->answers));
    e->burst = malloc(TW_ENGINE_BURST * sizeof(*e->burst));
    if (cfg->share_n > 1)
        e->scratch = calloc(1, sizeof(*e->scratch));
    if (e->answers == NULL || e->burst == NULL || (cfg->share_n > 1 && e->scratch == NULL))
        goto out_big;
    tw_dns_answers_init(e->answers);
    e->frame_st = cfg->share_n <= 1 || cfg->share_idx == cfg->share_n - 1 ? &e->st : e->scratch;
    e->peek_none = cfg->share_n > 1 && cfg->share_last_full && cfg->share_idx == cfg->share_n - 1;
    e->qcap = cfg->quic_states;
    if (tw_holders_init(&e->qhold, e->qcap) != 0)
        goto out_quic;
    if (e->qcap > 0) {
        /* Mapped, touched only when used, like the flow table. */
        e->qpool = tw_table_alloc((size_t)e->qcap * sizeof(*e->qpool));
        e->qnext = malloc((size_t)e->qcap * sizeof(*e->qnext));
        if (e->qpool == NULL || e->qnext == NULL)
            goto out_quic;
        for (uint32_t i = 0; i < e->qcap; i++)
            e->qnext[i] = i + 1 < e->qcap ? i + 1 : QUIC_NONE;
    }
    e->qfree = e->qcap > 0 ? 0 : QUIC_NONE;
    tw_csum_ctl_init(&e->own_csum, cfg->checksums);
    e->csum = cfg->csum_shared != NULL ? cfg->csum_shared : &e->own_csum;
    if (cfg->prep != NULL) {
        if ((e->prep = tw_prep_new(cfg->prep)) == NULL)
            goto out_quic;
        e->csum = tw_prep_csum(e->prep);
    }
    e->cfg.prep = NULL; /* the caller's; not kept */
    if (cfg->flow_id_first != 0)
        tw_flow_table_set_ids(e->flows, cfg->flow_id_first, cfg->flow_id_stride);
    return e;
out_quic:
    tw_quic_ctx_free(e->quic);
    tw_holders_destroy(&e->qhold);
    free(e->qnext);
    tw_table_free(e->qpool, (size_t)e->qcap * sizeof(*e->qpool));
out_big:
    free(e->answers);
    free(e->burst);
    free(e->scratch);
    tw_stream_pool_destroy(&e->big);
out_scratch:
    free(e->tls_scratch);
out_pool:
    tw_stream_pool_destroy(&e->mid);
    tw_stream_pool_destroy(&e->pool);
out_flows:
    tw_flow_table_free(e->flows);
out_free:
    free(e);
    return NULL;
}

/* Flows and buffers a prefaulter keeps mapped ahead of those used (a few milliseconds of a
 * replay's flows: 4 MiB of entries; buffers in proportion to how often they are taken). */
#define PREFAULT_FLOWS 32768u
#define PREFAULT_STREAMS 64u
#define PREFAULT_MIDSTREAMS 128u
#define PREFAULT_BIG 4u

int tw_engine_prefault(struct tw_engine *e, struct tw_prefault *pf)
{
    int rc;

    if ((rc = tw_flow_table_prefault(e->flows, pf, PREFAULT_FLOWS)) != 0 ||
        (rc = tw_stream_pool_prefault(&e->pool, pf, PREFAULT_STREAMS)) != 0 ||
        (rc = tw_stream_pool_prefault(&e->mid, pf, PREFAULT_MIDSTREAMS)) != 0)
        return rc;
    return tw_stream_pool_prefault(&e->big, pf, PREFAULT_BIG);
}

void tw_engine_free(struct tw_engine *e)
{
    if (e == NULL)
        return;
    tw_flow_table_free(e->flows);
    tw_prep_free(e->prep);
    tw_stream_pool_destroy(&e->pool);
    tw_stream_pool_destroy(&e->big);
    tw_stream_pool_destroy(&e->mid);
    free(e->tls_scratch);
    free(e->answers);
    free(e->burst);
    free(e->scratch);
    tw_quic_ctx_free(e->quic);
    tw_holders_destroy(&e->qhold);
    free(e->qnext);
    tw_table_free(e->qpool, (size_t)e->qcap * sizeof(*e->qpool));
    free(e);
}

void tw_engine_get_stats(const struct tw_engine *e, struct tw_engine_stats *st,
                         struct tw_flow_table_stats *fst, uint32_t *stream_high_water)
{
    *st = e->st;
    /* The packet that tipped auto to offload may be another engine's, counted apart. */
    st->prep.checksum_offload_detected = tw_csum_offload(e->csum);
    tw_flow_table_get_stats(e->flows, fst);
    *stream_high_water = e->pool.high_water;
}

/* The stats struct is made of uint64_t counters only (checked below), so it can be summed
 * counter by counter. */
_Static_assert(sizeof(struct tw_engine_stats) % sizeof(uint64_t) == 0,
               "tw_engine_stats must hold uint64_t counters only");

void tw_engine_stats_add(struct tw_engine_stats *dst, const struct tw_engine_stats *src)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;

    for (size_t i = 0; i < sizeof(*dst); i += sizeof(uint64_t)) {
        uint64_t a, b;
        memcpy(&a, d + i, sizeof(a));
        memcpy(&b, s + i, sizeof(b));
        a += b;
        memcpy(d + i, &a, sizeof(a));
    }
}

size_t tw_engine_anomalies(const struct tw_engine_stats *st, struct tw_counter *out, size_t cap)
{
    const struct tw_counter own[] = {
        {"dns_malformed", st->dns_malformed},
        {"dns_tcp_oversize", st->dns_tcp_oversize},
        {"dns_questions_dropped", st->dns_questions_dropped},
        {"dns_rdata_bad", st->dns_rdata_bad},
        {"dns_answer_text_cut", st->dns_answer_text_cut},
        {"tls_malformed", st->tls_malformed},
        {"tls_too_large", st->tls_too_large},
        {"tls_big_refused", st->tls_big_refused},
        {"name_truncated", st->name_truncated},
        {"connect_bad", st->connect_bad},
        {"proxy_bad", st->proxy_bad},
        {"stream_no_buffer", st->stream_no_buffer},
        {"stream_reclaimed", st->stream_reclaimed},
        {"tls_big_reclaimed", st->tls_big_reclaimed},
        {"stream_clipped", st->stream_clipped},
        {"stream_gaps", st->stream_gaps},
        {"flows_not_inspected", st->flows_not_inspected},
        {"midstream_no_buffer", st->midstream_no_buffer},
        {"midstream_reclaimed", st->midstream_reclaimed},
        {"midstream_too_long", st->midstream_too_long},
        {"midstream_gave_up", st->midstream_gave_up},
        {"overlap_conflict", st->overlap_conflict},
        {"hello_later", st->hello_later},
        {"tls_hello_retry_other", st->tls_hello_retry_other},
        {"tls_hello_retry_broken", st->tls_hello_retry_broken},
        {"quic_no_state", st->quic_no_state},
        {"quic_reclaimed", st->quic_reclaimed},
        {"quic_no_context", st->quic_no_context},
        {"quic_gave_up", st->quic_gave_up},
    };
    size_t n = 0;

    for (unsigned r = 0; r < TW_DR__COUNT; r++, n++)
        if (n < cap)
            out[n] = (struct tw_counter){tw_decode_reason_name((enum tw_decode_reason)r),
                                         st->decode.reason[r]};
    for (size_t i = 0; i < TW_ARRAY_SIZE(own); i++, n++)
        if (n < cap)
            out[n] = own[i];
    /* Oddities of DNS messages and ClientHellos that were read all the same (named decoder
     * events). */
    for (unsigned o = 0; o < TW_DNS_ODD__COUNT; o++, n++)
        if (n < cap)
            out[n] = (struct tw_counter){tw_dns_oddity_counter((enum tw_dns_oddity)o),
                                         st->dns_odd[o]};
    for (unsigned t = 0; t < TW_TLS_F__COUNT; t++, n++)
        if (n < cap)
            out[n] = (struct tw_counter){tw_tls_flag_counter((enum tw_tls_flag)t), st->tls_flag[t]};
    {
        const char *pn[32];
        uint64_t pv[32];
        size_t k = tw_prep_counters(&st->prep, pn, pv, TW_ARRAY_SIZE(pn));
        for (size_t i = 0; i < k && i < TW_ARRAY_SIZE(pn); i++, n++)
            if (n < cap)
                out[n] = (struct tw_counter){pn[i], pv[i]};
    }
    /* QUIC refusals; valid traffic that holds nothing for us (short headers, Handshake
     * packets, ...) is not an anomaly. */
    for (unsigned r = 0; r < TW_QR__COUNT; r++) {
        if (tw_quic_reason_is_benign((enum tw_quic_reason)r))
            continue;
        if (n < cap)
            out[n] = (struct tw_counter){tw_quic_reason_counter((enum tw_quic_reason)r),
                                         st->quic.reason[r]};
        n++;
    }
    return n;
}

/* Fills the parts of an event common to every evidence, at time ts_sec.ts_nsec. src is the
 * side that sent the name (the querier, the TLS client). */
static void event_init_at(struct tw_engine *e, struct tw_event *ev, const struct conn *f,
                          uint8_t version, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                          uint16_t dport, uint8_t proto, int64_t ts_sec, uint32_t ts_nsec,
                          uint32_t source)
{
    memset(ev, 0, sizeof(*ev));
    ev->ts_sec = ts_sec;
    ev->ts_nsec = ts_nsec;
    ev->flow_id = tw_flow_meta(e->flows, &f->ft)->id;
    /* The file the packet that completed the observation came from; a connection reported at
     * its end (answer cache) names the file of its first packet, as its time does. */
    if (e->cfg.source_names != NULL && source < e->cfg.n_sources) {
        ev->source = e->cfg.source_names[source];
        ev->source_is_file = true;
    }
    ev->midstream = (f->flags & TW_FLOWF_MIDSTREAM) != 0;
    ev->direction = !ev->midstream                     ? TW_DIR_START
                    : (f->flags & TW_FLOWF_PORT_GUESS) ? TW_DIR_PORT
                                                       : TW_DIR_CLIENT_BYTES;
    ev->stream_flags = (uint8_t)(((f->xflags & TW_FLOWX_CONFLICT) ? 1u << TW_SF_OVERLAP_CONFLICT : 0) |
                                 ((f->xflags & TW_FLOWX_PICKED) ? 1u << TW_SF_MIDSTREAM_PICKUP : 0));
    ev->l4_proto = proto;
    ev->sport = sport;
    ev->dport = dport;
    ev->initiated = tw_homenet_contains(&e->cfg.home, version, src);
    ev->ip_version = version;
    memcpy(ev->src_addr, src, 16);
    memcpy(ev->dst_addr, dst, 16);
}

/* event_init_at() at the time of the frame being processed. */
static void event_init(struct tw_engine *e, struct tw_event *ev, const struct conn *f,
                       uint8_t version, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                       uint16_t dport, uint8_t proto)
{
    event_init_at(e, ev, f, version, src, sport, dst, dport, proto, e->frame->ts_sec,
                  e->frame->ts_nsec, e->frame->source);
}

/*
 * Hands the event to the sink with name raw[0..raw_len), of which rules match the first
 * match_len bytes (all but a server_name's ":port"). A name longer than an event holds
 * (TW_NAME_MAX - 1) keeps its last bytes, the part suffix rules (endswith, the suffix trie)
 * match, and is flagged name_truncated.
 */
static void emit_part(struct tw_engine *e, struct tw_event *ev, const char *raw, size_t raw_len,
                      size_t match_len)
{
    size_t unmatched = raw_len - match_len;

    if (raw_len > TW_NAME_MAX - 1) {
        raw += raw_len - (TW_NAME_MAX - 1);
        raw_len = TW_NAME_MAX - 1;
        ev->name_truncated = true;
        e->st.name_truncated++;
    }
    ev->raw = raw;
    ev->raw_len = raw_len;
    ev->norm = e->norm;
    ev->norm_len = tw_name_normalize(e->norm, raw, raw_len - unmatched);
    e->st.events++;
    e->cfg.sink(e->cfg.sink_ctx, ev);
}

/* emit_part() of a name rules match whole. */
static void emit(struct tw_engine *e, struct tw_event *ev, const char *raw, size_t raw_len)
{
    emit_part(e, ev, raw, raw_len, raw_len);
}

/* Joins names[0..n) with ' ' into e->ans_chain, whole names only. */
static void join_chain(struct tw_engine *e, const char *const *names, size_t n)
{
    size_t len = 0;

    e->ans_chain[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (len + (len > 0) + l >= sizeof(e->ans_chain))
            break;
        if (len > 0)
            e->ans_chain[len++] = ' ';
        memcpy(e->ans_chain + len, names[i], l + 1);
        len += l;
    }
}

/*
 * The CNAME targets a response gave for a question: each is a name the client is about to
 * use without ever asking for it, so each is reported as a dns_query event with evidence
 * dns_answer (QueryName = the target, dns_answer.name = what was asked). A benign-looking
 * name that aliases a tunnel host is caught here.
 */
struct response_ctx {
    struct tw_engine *e;
    const struct conn *f;
    const struct tw_pkt *p;
};

static void cname_events(void *ctx, const struct tw_dns_question *q, const char *const *chain,
                         size_t n)
{
    const struct response_ctx *r = ctx;
    struct tw_engine *e = r->e;
    const struct tw_pkt *p = r->p;
    struct tw_event ev;

    join_chain(e, chain + 1, n - 1);
    for (size_t k = 1; k < n; k++) {
        /* The response travels to the client: the querier is its destination. */
        event_init(e, &ev, r->f, p->ip_version, p->dst, p->dport, p->src, p->sport, p->l4_proto);
        ev.category = TW_CAT_DNS_QUERY;
        ev.evidence = TW_EV_DNS_ANSWER;
        ev.qtype = q->qtype;
        ev.answer_name = q->name;
        ev.answer_chain = e->ans_chain;
        ev.dns_odd = (uint8_t)(e->dns.odd | e->answers->odd);
        e->st.dns_cname_names++;
        emit(e, &ev, chain[k], strlen(chain[k]));
    }
}

/* Zeek's Z: header bits 4-6 (the reserved bit, AD and CD). */
#define DNS_ZEEK_Z(flags) ((uint8_t)((flags) >> 4 & 7))

/*
 * The response itself as a dns event (evidence dns_response), what Zeek's dns.log holds for
 * it: the question (its first one), the header's code and flags, every answer record as text
 * with its TTL. Source is the client, as on its query. e->answers holds the parsed answers.
 */
static void response_event(struct tw_engine *e, const struct conn *f, const struct tw_pkt *p,
                           const struct tw_dns_msg *m)
{
    const struct tw_dns_answers *a = e->answers;
    struct tw_event ev;

    if (a->no_text) {
        e->st.dns_response_unread++; /* nothing reads the event: not made */
        return;
    }
    event_init(e, &ev, f, p->ip_version, p->dst, p->dport, p->src, p->sport, p->l4_proto);
    ev.category = TW_CAT_DNS;
    ev.evidence = TW_EV_DNS_RESPONSE;
    ev.qtype = m->n_questions > 0 ? m->q[0].qtype : 0;
    ev.dns.id = m->id;
    ev.dns.flags = m->flags;
    /* Zeek reports the Z of the query the response answers, when it saw it. */
    ev.dns.z = (f->dns_qz & 0x80) && f->dns_qid == m->id ? (uint8_t)(f->dns_qz & 7)
                                                         : DNS_ZEEK_Z(m->flags);
    /* Zeek's rejected: a response with no records at all, or an error without a question. */
    ev.dns.rejected = (m->qdcount > 0 && m->ancount == 0 && m->nscount == 0 && m->arcount == 0) ||
                      (m->rcode != 0 && m->qdcount == 0);
    ev.dns.ech = (a->text_flags & TW_DNS_TEXT_ECH) != 0;
    ev.dns_odd = (uint8_t)(m->odd | a->odd);
    if (a->n_text > 0) {
        ev.dns.n_answers = (uint16_t)a->n_text;
        ev.dns.answers = a->text;
        ev.dns.answers_len = a->text_len;
        ev.dns.offs = a->text_off;
        ev.dns.ttls = a->text_ttl;
        ev.dns.types = a->text_type;
    }
    if (ev.dns.ech)
        e->st.dns_https_ech++;
    if (a->text_flags & TW_DNS_TEXT_BAD_RDATA)
        e->st.dns_rdata_bad++;
    if (a->text_flags & (TW_DNS_TEXT_CUT | TW_DNS_TEXT_SKIPPED))
        e->st.dns_answer_text_cut++;
    e->st.dns_response_events++;
    if (m->n_questions > 0)
        emit(e, &ev, m->q[0].name, m->q[0].name_len);
    else
        emit(e, &ev, "", 0);
}

/* A DNS response: report the CNAME targets, and remember which client resolved which name
 * (and CNAME chain) to which address, so that a later flow without a name on the wire can be
 * named. */
static void learn_answers(struct tw_engine *e, const struct conn *f, const struct tw_pkt *p,
                          const uint8_t *msg, size_t len, size_t off)
{
    struct response_ctx r = {.e = e, .f = f, .p = p};
    /* With several workers the reader stores UDP answers itself, in capture order (see
     * answers.h). */
    struct tw_anscache *c = e->cfg.udp_answers_stored && p->l4_proto == 17 ? NULL : e->cfg.anscache;
    unsigned stored = 0;

    /* The response goes to the client: its destination is the querier. */
    if (tw_answers_learn(c, &e->dns, msg, len, off, e->answers, p->ip_version, p->dst,
                         e->frame->ts_sec, e->cur_seq, cname_events, &r, &stored) != 0)
        e->st.dns_answers_malformed++;
    e->st.dns_answers_learnt += stored;
}

/* The name this flow's client resolved to the server's address by time `at`, if the cache
 * has it: the one equal to want[0..want_len) (the flow's SNI or Host) when the client resolved
 * it, else the newest (want NULL: the newest). */
static bool answer_lookup(struct tw_engine *e, uint8_t version, const uint8_t *client,
                          const uint8_t *server, int64_t at, const char *want, size_t want_len)
{
    if (e->cfg.anscache == NULL)
        return false;
    uint64_t seq = e->frame != NULL ? e->cur_seq : UINT64_MAX;
    /* Every answer learnt from the frames before this one is in the cache first. */
    if (e->cfg.answer_wait != NULL)
        e->cfg.answer_wait(e->cfg.answer_wait_ctx, seq);
    /* A stamped cache (several workers reading a replay) gives the answers of the frames
     * before this one only, however far ahead the worker that learns them is. */
    return tw_anscache_lookup_name_at(e->cfg.anscache, seq, version, client, server, at, want,
                                      want_len, e->ans_name, sizeof(e->ans_name), e->ans_chain,
                                      sizeof(e->ans_chain), NULL);
}

/*
 * A flow whose start was not seen and whose bytes never told the client apart: take the
 * server to be the side on a well-known port (< 1024) when the other is not, else the side
 * outside the ephemeral range (>= 32768, where Linux and Windows pick client ports) when the
 * other is in it. Returns false when the ports do not tell.
 */
static bool guess_initiator_by_port(struct conn *f)
{
    uint16_t p0 = f->ft.key.port[0], p1 = f->ft.key.port[1];
    int server;

    if ((p0 < 1024) != (p1 < 1024))
        server = p0 < 1024 ? 0 : 1;
    else if ((p0 >= 32768) != (p1 >= 32768))
        server = p0 < 32768 ? 0 : 1;
    else
        return false;
    f->initiator = (uint8_t)(server ^ 1);
    f->flags |= TW_FLOWF_PORT_GUESS;
    return true;
}

/*
 * A flow that carried no name of its own (raw TCP or UDP tunnel, a connection that ended
 * before any ClientHello): one network_connection event, evidence dns_answer, when the client
 * resolved the server's address. At most once per flow.
 */
static void answer_event(struct tw_engine *e, struct conn *f)
{
    unsigned c, sv;
    struct tw_event ev;

    /* DNS connections themselves are not named after the answers they carry. */
    if (e->cfg.anscache == NULL || (f->flags & (TW_FLOWF_NAMED | TW_FLOWF_ANSWERED)) ||
        f->state == TW_FLOW_DNS)
        return;
    f->flags |= TW_FLOWF_ANSWERED;
    if (f->initiator == TW_SIDE_UNKNOWN && !guess_initiator_by_port(f))
        return;
    c = f->initiator;
    sv = c ^ 1u;
    /* The connection was made at its first packet: the answer had to be valid then. */
    const struct tw_flow_key *k = &f->ft.key;
    const struct tw_flow_meta *m = tw_flow_meta(e->flows, &f->ft);
    if (!answer_lookup(e, k->version, k->addr[c], k->addr[sv], m->first_sec, NULL, 0))
        return;
    f->flags |= TW_FLOWF_NAMED;
    e->st.answer_named_flows++;
    /* Reported at its end, eviction or the end of the capture (when no frame is being
     * processed), the event carries the connection's time. */
    event_init_at(e, &ev, f, k->version, k->addr[c], k->port[c], k->addr[sv], k->port[sv], k->proto,
                  m->first_sec, m->first_nsec, f->source);
    ev.category = TW_CAT_NETWORK_CONNECTION;
    ev.evidence = TW_EV_DNS_ANSWER;
    ev.answer_name = e->ans_name;
    ev.answer_chain = e->ans_chain;
    emit(e, &ev, e->ans_name, strlen(e->ans_name));
}

/* A DNS message read with these oddities (1u << enum tw_dns_oddity): counted once each. */
static void count_oddities(struct tw_engine *e, unsigned odd)
{
    for (unsigned o = 0; odd != 0 && o < TW_DNS_ODD__COUNT; o++)
        if (odd & 1u << o)
            e->st.dns_odd[o]++;
}

/* One DNS message from `src` (the sender) to `dst`. */
static void dns_message(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                        const uint8_t *msg, size_t len)
{
    struct tw_dns_msg *m = &e->dns;
    struct tw_event ev;

    int off = tw_dns_parse(msg, len, m);

    if (off < 0) {
        /* The questions validated before the error are still real names on the wire:
         * report them (junk appended to a query must not hide its name). */
        e->st.dns_malformed++;
        if (m->qr || m->n_questions == 0)
            return;
    } else if (m->qr) {
        e->st.dns_responses++;
        e->answers->no_text = e->cfg.dns_events != NULL &&
                              !atomic_load_explicit(e->cfg.dns_events, memory_order_relaxed);
        learn_answers(e, f, p, msg, len, (size_t)off);
        count_oddities(e, m->odd | e->answers->odd);
        response_event(e, f, p, m);
        return;
    }
    count_oddities(e, m->odd);
    /* The query's ID and Z, for the dns event of its response. */
    f->dns_qid = m->id;
    f->dns_qz = (uint8_t)(0x80 | DNS_ZEEK_Z(m->flags));
    e->st.dns_queries++;
    if (m->qdcount > TW_DNS_MAX_QUESTIONS)
        e->st.dns_questions_dropped += m->qdcount - TW_DNS_MAX_QUESTIONS;
    for (unsigned i = 0; i < m->n_questions; i++) {
        event_init(e, &ev, f, p->ip_version, p->src, p->sport, p->dst, p->dport, p->l4_proto);
        ev.category = TW_CAT_DNS_QUERY;
        ev.evidence = TW_EV_DNS_QUERY;
        ev.qtype = m->q[i].qtype;
        ev.dns_odd = (uint8_t)m->odd;
        e->st.dns_questions++;
        emit(e, &ev, m->q[i].name, m->q[i].name_len);
    }
}

static void udp_dns(struct tw_engine *e, const struct tw_pkt *p)
{
    uint8_t side;
    bool created;

    if (!pkt_ok(e, p))
        return;
    struct conn *f = conn_get(e, p, &side, &created);

    if (created) {
        f->initiator = f->client = side;
        f->state = TW_FLOW_DNS;
        /* A query and its answer: a one-shot flow. */
        tw_flow_set_timeout(e->flows, &f->ft, TW_FLOW_TIMEOUT_SHORT);
    }
    e->st.udp_dns_pkts++;
    dns_message(e, f, p, p->payload, p->payload_len);
    /* Answered: the exchange is over (a duplicate answer may still come, briefly). */
    if (e->dns.qr)
        tw_flow_set_timeout(e->flows, &f->ft, TW_FLOW_TIMEOUT_DONE);
}

/* UDP other than DNS: no name is read from it (yet); a new flow may be named from the cache. */
/*
 * A ClientHello was read whole (over TCP, or from QUIC Initials: evidence, and proto 't' or
 * 'q' for JA4), or broke after its names were read (flag truncated): the flow is done; each
 * distinct host_name it carries is a network_connection event (several when the client sent
 * several, in one server_name list or in repeated extensions: rules see every one), with the
 * hello's oddities as flags.
 */
static void hello_event(struct tw_engine *e, struct conn *f, const struct tw_tls_hello *h,
                        const struct tw_pkt *p, enum tw_evidence evidence, char proto,
                        uint8_t stream_flags)
{
    struct tw_event ev;

    f->state = TW_FLOW_DONE;
    for (unsigned t = 0; t < TW_TLS_F__COUNT; t++)
        if (h->flags & (1u << t))
            e->st.tls_flag[t]++;
    if (h->n_sni == 0)
        return;
    /* The client's fingerprint: which program made this hello, whatever name it sends
     * (none for a broken hello). Computed only if a rule, the output or a copy reads it, once
     * for all the names of the hello. */
    e->ja4[0] = '\0';
    /* The SNI wins; the name the client resolved to this address is reported too. */
    f->flags |= TW_FLOWF_NAMED | TW_FLOWF_ANSWERED;
    int64_t first_sec = tw_flow_meta(e->flows, &f->ft)->first_sec;
    for (unsigned i = 0; i < h->n_sni; i++) {
        /* p is a client packet: its source is the client. */
        event_init(e, &ev, f, p->ip_version, p->src, p->sport, p->dst, p->dport, p->l4_proto);
        ev.category = TW_CAT_NETWORK_CONNECTION;
        ev.evidence = evidence;
        ev.stream_flags |= stream_flags;
        ev.ech = h->has_ech;
        ev.tls_flags = h->flags;
        ev.tls_version = h->version;
        ev.tls_legacy_version = h->legacy_version;
        ev.tls_record_version = h->record_version;
        ev.ja4_hello = h;
        ev.ja4_proto = proto;
        ev.ja4_buf = e->ja4;
        /* A server_name sent as host:port is matched as its host (README, "Lenient TLS"). */
        size_t host_len = tw_tls_sni_host_len(h->snis[i], h->sni_lens[i]);
        /* the name this client resolved to the address that matches this SNI, if any */
        if (answer_lookup(e, p->ip_version, p->src, p->dst, first_sec, (const char *)h->snis[i],
                          host_len)) {
            ev.answer_name = e->ans_name;
            ev.answer_chain = e->ans_chain;
        }
        e->st.tls_names++;
        emit_part(e, &ev, (const char *)h->snis[i], h->sni_lens[i], host_len);
    }
}

/* A hash of a ClientHello's stream bytes b[0..n), seeded per run (a sender cannot craft two
 * hellos that collide without knowing the seed): tells a retransmitted hello from another one
 * at the same sequence numbers. */
static uint64_t hello_hash(const struct tw_engine *e, const uint8_t *b, size_t n)
{
    uint64_t h = e->hello_seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    size_t i = 0;

    /* Words in the host's byte order: the hash is compared only within one run. */
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, sizeof(w));
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    for (; i < n; i++) {
        h = (h ^ b[i]) * 0x94d049bb133111ebull;
        h ^= h >> 29;
    }
    return h;
}

/* A hash of the names of hello h, seeded per run, whatever their order. */
static uint64_t names_hash(const struct tw_engine *e, const struct tw_tls_hello *h)
{
    uint64_t sum = h->n_sni;

    for (unsigned i = 0; i < h->n_sni; i++)
        sum += hello_hash(e, h->snis[i], h->sni_lens[i]);
    return sum;
}

/* Whether s is one of the states after a first ClientHello (tls_next_segment). */
static bool tls_next_state(uint8_t s)
{
    return s == TW_FLOW_TLS_NEXT || s == TW_FLOW_TLS_NEXT_EARLY;
}

/* A hello read again at the sequence number of the one reported is over: the flow goes back
 * to looking for a second hello if it was (hello_recheck), else it is done. */
static void recheck_over(struct conn *f)
{
    f->state = f->tls_back != 0 ? f->tls_back : TW_FLOW_DONE;
    f->tls_back = 0;
}

/*
 * A ClientHello over TCP was read whole from the client's stream bytes b[0..n), which begin at
 * sequence number seq. The hello is remembered (seq and a hash of its bytes): when the flow
 * reads one again at seq (hello_recheck), the same bytes are a retransmission and say nothing;
 * other bytes are another hello at the same sequence numbers, whose names are reported too,
 * flagged hello_later (an insertion decoy that a receiver drops, a TTL that expires before it,
 * was read first, or is this one).
 */
static void tls_hello_done(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                           const struct tw_tls_hello *h, const uint8_t *b, size_t n, uint32_t seq)
{
    uint64_t hash = hello_hash(e, b, n);
    uint8_t sf = 0;

    if (f->xflags & TW_FLOWX_RECHECK) {
        f->xflags &= (uint8_t)~TW_FLOWX_RECHECK;
        if (hash == f->hello_hash) {
            recheck_over(f);
            return;
        }
        e->st.overlap_conflict++;
        e->st.hello_later++;
        f->xflags |= TW_FLOWX_CONFLICT;
        sf = 1u << TW_SF_HELLO_LATER;
    }
    f->tls_back = 0;
    f->hello_seq = seq;
    f->hello_end = seq + (uint32_t)n;
    f->hello_hash = hash;
    f->hello_names = names_hash(e, h);
    f->xflags |= TW_FLOWX_HELLO_KEPT;
    e->st.tls_hellos++;
    if (f->flags & TW_FLOWF_BUFFERED)
        e->st.tls_multi_segment++;
    if (h->has_ech)
        e->st.tls_ech++;
    if (h->has_sni)
        e->st.tls_sni++;
    else
        e->st.tls_no_sni++;
    hello_event(e, f, h, p, TW_EV_TLS_SNI, 't', sf);
    /* What the client sends next may be a second hello (after a HelloRetryRequest). */
    f->state = tw_tls_hello_has_extension(h, TW_TLS_EXT_EARLY_DATA) ? TW_FLOW_TLS_NEXT_EARLY
                                                                     : TW_FLOW_TLS_NEXT;
    f->scan_left = TLS_NEXT_SEGMENTS;
}

/*
 * A second ClientHello was read whole (after a HelloRetryRequest; over TCP, or in QUIC's
 * Initials): RFC 8446 4.1.2 has it repeat the first one's server_name, but OpenSSL takes the
 * second hello's for the connection's and Go's crypto/tls does not compare them, so a client
 * can name one server in the first hello and another in the second. Its names are reported
 * when they are not the first hello's (f->hello_names), flagged hello_retry: returns whether
 * they were. The flow is done with: a second HelloRetryRequest is not allowed.
 */
static bool second_hello_done(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                              const struct tw_tls_hello *h, enum tw_evidence evidence,
                              char proto)
{
    e->st.tls_hello_retry++;
    f->state = TW_FLOW_DONE;
    if (names_hash(e, h) == f->hello_names)
        return false;
    e->st.tls_hello_retry_other++;
    hello_event(e, f, h, p, evidence, proto, 1u << TW_SF_HELLO_RETRY);
    return true;
}

/* A second hello over TCP (second_hello_done); nothing more is read of the flow, not a hello
 * again at the first one's place either. */
static void tls_retry_done(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                           const struct tw_tls_hello *h)
{
    f->rechecks = HELLO_RECHECKS;
    if (second_hello_done(e, f, p, h, TW_EV_TLS_SNI, 't') && h->has_ech)
        e->st.tls_ech++;
}


/*
 * A client segment at the sequence number of the ClientHello already reported: a
 * retransmission, or another hello at the same sequence numbers. The flow reads a hello from
 * there again, and tls_hello_done() tells the two apart. At most HELLO_RECHECKS times a flow.
 */
static void hello_recheck(struct conn *f)
{
    if (f->rechecks >= HELLO_RECHECKS)
        return;
    f->rechecks++;
    f->tls_back = tls_next_state(f->state) ? f->state : 0;
    f->state = TW_FLOW_TLS;
    f->client_next = f->hello_seq;
    f->xflags |= TW_FLOWX_RECHECK;
}

/*
 * A client segment again at the sequence number right after the first ClientHello, where the
 * look for a second one began (tls_next_segment) and ended: what ended it may have been a
 * decoy the server never got (a TTL that expires before it), this one the real bytes. The
 * look is taken up again for it, HELLO_RECHECKS times a flow with the rechecks of the first
 * hello; not after a second hello was read.
 */
static void look_again(struct conn *f)
{
    if (f->rechecks >= HELLO_RECHECKS)
        return;
    f->rechecks++;
    f->state = TW_FLOW_TLS_NEXT;
    f->scan_left = TLS_NEXT_SEGMENTS;
}

/*
 * Whether a UDP payload starts with a QUIC Initial or 0-RTT packet of a version we can read:
 * packets only a client sends, so their sender is the client. A client may send 0-RTT ahead of
 * its Initial, and the capture may show them in that order.
 */
static bool quic_initial_start(const uint8_t *b, size_t n)
{
    struct tw_quic_hdr h;

    return n > 0 && (b[0] & 0xc0) == 0xc0 && tw_quic_header_parse(b, n, &h, NULL) > 0 &&
           (h.type == TW_QUIC_PKT_INITIAL || h.type == TW_QUIC_PKT_0RTT);
}

/*
 * Whether e has its QUIC decryption context, made for the first QUIC flow (not with the
 * engine: libcrypto's first fetch costs milliseconds, which a run without QUIC, a short
 * replay above all, need not pay). Made once: after a failure, every QUIC flow is counted
 * as not read (quic_no_context).
 */
static bool quic_context(struct tw_engine *e)
{
    if (e->quic == NULL && !e->quic_failed)
        e->quic_failed = (e->quic = tw_quic_ctx_new()) == NULL;
    return e->quic != NULL;
}

/*
 * A client datagram of a QUIC flow: its Initials are decrypted and their CRYPTO frames joined
 * until the ClientHello is whole, which names the flow (evidence quic_sni). A flow that can
 * never give one, or keeps sending without completing it, is done with (and then named from
 * the answer cache at its end, like any flow without a name).
 */
static void quic_datagram(struct tw_engine *e, struct conn *f, const struct tw_pkt *p)
{
    struct tw_quic_hello hello;
    const bool second = f->state == TW_FLOW_QUIC_NEXT;
    enum tw_quic_verdict v =
        tw_quic_feed(e->quic, &e->qpool[f->quic], p->payload, p->payload_len, &e->st.quic, &hello);

    if (v == TW_QUIC_HELLO && second) {
        /* The hello's bytes live in the QUIC state: report, then give it back. */
        second_hello_done(e, f, p, &hello.tls, TW_EV_QUIC_SNI, 'q');
        put_quic(e, f);
        return;
    }
    if (v == TW_QUIC_HELLO) {
        e->st.quic_hellos++;
        if (hello.tls.has_sni)
            e->st.quic_sni++;
        /* The hello's bytes live in the QUIC state: report; the state is kept for a second
         * hello, a few datagrams at most. */
        hello_event(e, f, &hello.tls, p, TW_EV_QUIC_SNI, 'q', 0);
        f->hello_names = names_hash(e, &hello.tls);
        tw_quic_expect_second(&e->qpool[f->quic]);
        f->state = TW_FLOW_QUIC_NEXT;
        f->quic_left = QUIC_NEXT_PATIENCE;
        return;
    }
    if (v == TW_QUIC_FAIL || v == TW_QUIC_DONE || --f->quic_left == 0) {
        if (v != TW_QUIC_FAIL && v != TW_QUIC_DONE && !second)
            e->st.quic_gave_up++;
        f->state = TW_FLOW_DONE;
        put_quic(e, f);
    }
}

/* UDP other than DNS: QUIC Initials are read; any other flow may be named from the cache. */
/* Whether a UDP flow other than DNS reads this side's datagrams (its client's Initials). */
static bool udp_reads(const struct conn *f, uint8_t side, const struct tw_pkt *p)
{
    (void)p;
    return (f->state == TW_FLOW_QUIC || f->state == TW_FLOW_QUIC_NEXT) && side == f->client;
}

static void udp_other(struct tw_engine *e, const struct tw_pkt *p)
{
    uint8_t side;
    bool created;

    if (p->csum_pending && (conn_bypass(e, p, udp_reads) != NULL || !pkt_ok(e, p)))
        return;
    struct conn *f = conn_get(e, p, &side, &created);

    if (created) {
        f->initiator = f->client = side;
        f->state = TW_FLOW_DONE;
        if (quic_initial_start(p->payload, p->payload_len)) {
            /* Recognised by content, whatever the ports (cloudflared uses UDP 7844). */
            if (quic_get(e, f) == QUIC_NONE) {
                e->st.quic_no_state++;
            } else if (!quic_context(e)) {
                e->st.quic_no_context++;
                put_quic(e, f);
            } else {
                tw_quic_flow_init(&e->qpool[f->quic]);
                f->quic_left = QUIC_PATIENCE;
                f->state = TW_FLOW_QUIC;
            }
        }
    }
    if ((f->state == TW_FLOW_QUIC || f->state == TW_FLOW_QUIC_NEXT) && side == f->client) {
        tw_holders_touch(&e->qhold, f->quic, e->frame->ts_sec);
        quic_datagram(e, f, p);
        hold_update(e, f);
        if (f->state == TW_FLOW_DONE && !(f->flags & TW_FLOWF_NAMED))
            answer_event(e, f);
        return;
    }
    if (created)
        answer_event(e, f);
}

/* Copies slice b[0..n) NUL-terminated into the event's field buffer at *w; NULL when empty. */
static const char *http_field(struct tw_engine *e, size_t *w, const uint8_t *b, size_t n)
{
    char *d;

    if (n == 0 || *w + n + 1 > sizeof(e->http))
        return NULL;
    d = e->http + *w;
    memcpy(d, b, n);
    d[n] = '\0';
    *w += n + 1;
    return d;
}

/*
 * An HTTP request header was read whole: its host (the Host field without its port, else the
 * authority of an absolute-form or CONNECT target) names the flow, with Sigma's proxy fields
 * and the Host field as sent. The caller decides what is read next: the next request
 * (keep-alive), or after a CONNECT the tunnelled bytes.
 */
static void http_request_done(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                              const struct tw_http_req *r)
{
    const struct tw_http_hostport *h = r->host.host_len > 0 ? &r->host : &r->authority;
    struct tw_event ev;
    size_t w = 0, n;

    e->st.http_requests++;
    if (h->host_len == 0) {
        e->st.http_no_host++;
        return;
    }
    n = h->host_len; /* emit() keeps the end of a name too long for an event */
    /* p is a client packet: its source is the client. */
    event_init(e, &ev, f, p->ip_version, p->src, p->sport, p->dst, p->dport, p->l4_proto);
    ev.category = TW_CAT_NETWORK_CONNECTION;
    ev.evidence = TW_EV_HTTP_HOST;
    ev.http[TW_F_CS_METHOD - TW_F_CS_METHOD] = http_field(e, &w, r->method, r->method_len);
    ev.http[TW_F_C_URI - TW_F_CS_METHOD] = http_field(e, &w, r->uri, r->uri_len);
    ev.http[TW_F_C_URI_STEM - TW_F_CS_METHOD] = http_field(e, &w, r->path, r->path_len);
    ev.http[TW_F_C_URI_QUERY - TW_F_CS_METHOD] = http_field(e, &w, r->query, r->query_len);
    ev.http[TW_F_C_URI_EXTENSION - TW_F_CS_METHOD] = http_field(e, &w, r->ext, r->ext_len);
    ev.http[TW_F_C_USERAGENT - TW_F_CS_METHOD] =
        http_field(e, &w, r->user_agent, r->user_agent_len);
    ev.http[TW_F_CS_REFERRER - TW_F_CS_METHOD] = http_field(e, &w, r->referer, r->referer_len);
    ev.http[TW_F_CS_VERSION - TW_F_CS_METHOD] = http_field(e, &w, r->version, r->version_len);
    ev.http[TW_F_CS_COOKIE - TW_F_CS_METHOD] = http_field(e, &w, r->cookie, r->cookie_len);
    ev.http_host_raw = http_field(e, &w, r->host.raw, r->host.raw_len);
    f->flags |= TW_FLOWF_NAMED | TW_FLOWF_ANSWERED;
    if (answer_lookup(e, p->ip_version, p->src, p->dst, tw_flow_meta(e->flows, &f->ft)->first_sec,
                      (const char *)h->host, n)) {
        ev.answer_name = e->ans_name;
        ev.answer_chain = e->ans_chain;
    }
    emit(e, &ev, (const char *)h->host, n);
}

enum client_start {
    START_MORE,    /* a prefix of a preamble: wait for more bytes */
    START_CONNECT, /* an HTTP CONNECT request */
    START_PROXY,   /* a PROXY protocol v1 or v2 header */
    START_TLS,     /* (a prefix of) a TLS handshake record with a ClientHello */
    START_HTTP,    /* (a prefix of) an HTTP request: a known method and SP */
    START_OTHER,
};

/* What the first n (>= 1) bytes of a client stream begin with. */
static enum client_start classify_start(const uint8_t *b, size_t n)
{
    switch (tw_preamble_classify(b, n)) {
    case TW_PREAMBLE_MORE:
        return START_MORE;
    case TW_PREAMBLE_CONNECT:
        return START_CONNECT;
    case TW_PREAMBLE_PROXY:
        return START_PROXY;
    case TW_PREAMBLE_NONE:
        break;
    }
    if (tw_tls_maybe_client_hello(b, n))
        return START_TLS;
    if (tw_http_maybe_request(b, n))
        return START_HTTP;
    return START_OTHER;
}

/* A whole TLS record header announcing a ClientHello: strong enough to pick a client by. */
static bool hello_record_start(const uint8_t *b, size_t n)
{
    return n >= 6 && b[0] == 0x16 && tw_tls_maybe_client_hello(b, n);
}

/*
 * DNS over TCP (RFC 7766): 2-byte length-prefixed messages, from the client (queries) or the
 * server (responses). Returns the bytes of the whole messages consumed. A length larger than
 * the reassembly buffer stops reading that direction.
 */
static size_t dns_tcp_bytes(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                            const uint8_t *b, size_t n, bool server)
{
    size_t off = 0;
    const uint8_t *msg;
    size_t mlen;

    while (n - off >= 2) {
        int rc = tw_dns_tcp_frame(b + off, n - off, &msg, &mlen);
        if (mlen + 2 > TW_STREAM_CAP) {
            e->st.dns_tcp_oversize++;
            if (server)
                f->xflags |= TW_FLOWX_SERVER_OFF;
            else
                f->state = TW_FLOW_DONE;
            break;
        }
        if (rc < 0)
            break; /* the rest of the message is still to come */
        e->st.dns_tcp_messages++;
        if (server)
            e->st.dns_tcp_responses++;
        dns_message(e, f, p, msg, mlen);
        off += (size_t)rc;
    }
    return off;
}

/*
 * The start b[0..n) of a client segment after the flow's first ClientHello (TW_FLOW_TLS_NEXT*).
 * A second hello there, after ChangeCipherSpec records (TLS 1.3's middlebox compatibility),
 * is read (the state becomes TW_FLOW_TLS_RETRY; returns the bytes before it). Any other TLS
 * record ends the look: the rest of the handshake (a key exchange, encrypted records), an
 * alert; application data too, unless the first hello offered early data (a server skips it
 * after a HelloRetryRequest): then segments that begin inside a record are let go too,
 * TLS_NEXT_SEGMENTS at most. Returns n, the bytes let go, otherwise.
 */
static size_t tls_next_segment(struct conn *f, const uint8_t *b, size_t n)
{
    size_t off = 0;

    while (n - off >= 6 && b[off] == 0x14 && b[off + 1] == 3 && tw_load_be16(b + off + 3) <= 64 &&
           n - off >= 5 + (size_t)tw_load_be16(b + off + 3))
        off += 5 + (size_t)tw_load_be16(b + off + 3);
    if (hello_record_start(b + off, n - off)) {
        f->state = TW_FLOW_TLS_RETRY;
        return off;
    }
    if (n - off >= 5 && b[off + 1] == 3 && b[off] >= 0x14 && b[off] <= 0x18 &&
        !(b[off] == 0x17 && f->state == TW_FLOW_TLS_NEXT_EARLY)) {
        f->state = TW_FLOW_DONE;
        return n;
    }
    /* A flight begins on a record: past the first hello, only early data (a record over
     * several segments) leaves segments that begin inside one. */
    if (f->state != TW_FLOW_TLS_NEXT_EARLY || --f->scan_left == 0)
        f->state = TW_FLOW_DONE;
    return n;
}

/*
 * Reads contiguous client bytes buf[0..len). Returns how many were consumed
 * (fully handled, never needed again); the caller keeps the rest for the next
 * call. May set the flow DONE.
 */
static size_t client_bytes(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                           const uint8_t *buf, size_t len)
{
    size_t off = 0;
    struct tw_tls_hello hello;
    int rc;

    while (f->state != TW_FLOW_DONE && off < len) {
        const uint8_t *b = buf + off;
        size_t n = len - off;

        switch (f->state) {
        case TW_FLOW_NEW:
            if (p->sport == 53 || p->dport == 53) {
                f->state = TW_FLOW_DNS;
                break;
            }
            switch (classify_start(b, n)) {
            case START_MORE:
                return off;
            case START_CONNECT:
                f->state = TW_FLOW_CONNECT;
                if (!(f->flags & TW_FLOWF_CONNECT))
                    e->st.http_connect++;
                f->flags |= TW_FLOWF_CONNECT;
                break;
            case START_PROXY:
                f->state = TW_FLOW_PROXY;
                e->st.proxy_protocol++;
                break;
            case START_TLS:
                f->state = TW_FLOW_TLS;
                break;
            case START_HTTP:
                f->state = TW_FLOW_HTTP;
                break;
            case START_OTHER:
                /* Something else first: look for a ClientHello at the start of the next
                 * few client segments (SMTP/IMAP/POP3/FTP STARTTLS, SOCKS, ...). */
                f->state = TW_FLOW_SCAN;
                f->scan_left = SCAN_SEGMENTS;
                return len;
            }
            break;
        case TW_FLOW_TLS_NEXT:
        case TW_FLOW_TLS_NEXT_EARLY:
            /* At a segment start (see stream_segment), or right after the first hello. */
            off += tls_next_segment(f, b, n);
            break;
        case TW_FLOW_SCAN:
            /* Only called at a segment start (see client_segment). */
            if (hello_record_start(b, n)) {
                f->state = TW_FLOW_TLS;
                e->st.tls_after_preamble++;
                break;
            }
            if (--f->scan_left == 0) {
                f->state = TW_FLOW_DONE;
                e->st.flows_not_inspected++;
            }
            return len;
        case TW_FLOW_PROXY: {
            struct tw_proxy_hdr ph;
            rc = tw_proxy_parse(b, n, &ph);
            if (rc == TW_EINCOMPLETE)
                return off;
            if (rc < 0) {
                e->st.proxy_bad++;
                f->state = TW_FLOW_DONE;
                return off;
            }
            off += (size_t)rc;
            f->state = TW_FLOW_NEW;
            break;
        }
        case TW_FLOW_CONNECT: {
            struct tw_connect_req req;
            rc = tw_http_connect_parse(b, n, &req);
            if (rc == TW_EINCOMPLETE)
                return off;
            if (rc < 0) {
                e->st.connect_bad++;
                f->state = TW_FLOW_DONE;
                return off;
            }
            /* The request names the target too (its Host field, else its authority). */
            struct tw_http_req hreq;
            if (tw_http_request_parse(b, (size_t)rc, &hreq) > 0)
                http_request_done(e, f, p, &hreq);
            /* What follows the request (after the proxy's reply) is classified afresh. */
            off += (size_t)rc;
            f->state = TW_FLOW_NEW;
            break;
        }
        case TW_FLOW_TLS:
        case TW_FLOW_TLS_RETRY: {
            bool retry = f->state == TW_FLOW_TLS_RETRY;
            rc = tw_tls_parse_stream(b, n, e->tls_scratch, e->tls_scratch_cap, &hello);
            if (rc > 0) {
                /* buf begins at client_next (see stream_segment) */
                if (retry)
                    tls_retry_done(e, f, p, &hello);
                else
                    tls_hello_done(e, f, p, &hello, b, (size_t)rc,
                                   f->client_next + (uint32_t)off);
                /* what follows it is read on (a second hello after the first) */
                off += (size_t)rc;
                break;
            }
            if (rc == TW_EINCOMPLETE) {
                if (n >= e->tls_stream_max) {
                    e->st.tls_too_large++;
                    f->state = TW_FLOW_DONE;
                }
                return off;
            }
            f->state = TW_FLOW_DONE;
            if (retry) {
                /* Not a hello after all (a TLS 1.2 Finished, encrypted, can begin like one):
                 * counted apart, as a server would have ended the handshake. */
                e->st.tls_hello_retry_broken++;
                return off;
            }
            /* Read again at the sequence number of a whole hello: these bytes differ. */
            uint8_t sf = (f->xflags & TW_FLOWX_RECHECK) ? 1u << TW_SF_HELLO_LATER : 0;
            f->xflags &= (uint8_t)~TW_FLOWX_RECHECK;
            if (rc == TW_ENOMEM) {
                e->st.tls_too_large++;
            } else {
                e->st.tls_malformed++;
                /* Names read before the break are still names the client sent (flag
                 * truncated). */
                if (hello.n_sni > 0) {
                    if (sf != 0) {
                        e->st.overlap_conflict++;
                        e->st.hello_later++;
                        f->xflags |= TW_FLOWX_CONFLICT;
                    }
                    hello_event(e, f, &hello, p, TW_EV_TLS_SNI, 't', sf);
                }
            }
            if (sf != 0 && f->tls_back != 0) {
                /* A broken hello at the first one's sequence numbers, read while looking for
                 * a second: the look goes on from the next segment; these bytes are let go. */
                recheck_over(f);
                return len;
            }
            return off;
        }
        case TW_FLOW_HTTP: {
            struct tw_http_req req;
            rc = tw_http_request_parse(b, n, &req);
            if (rc > 0) {
                http_request_done(e, f, p, &req);
                /* The next request may follow at once (pipelining) or in a later segment
                 * (keep-alive); a body in between is skipped a segment at a time. */
                f->state = TW_FLOW_HTTP_NEXT;
                f->scan_left = HTTP_NEXT_SEGMENTS;
                off += (size_t)rc;
                break;
            }
            if (rc == TW_EINCOMPLETE)
                return off;
            /* Began like a request, is none: look for a ClientHello later, as for any
             * other start. */
            e->st.http_malformed++;
            f->state = TW_FLOW_SCAN;
            f->scan_left = SCAN_SEGMENTS;
            return len;
        }
        case TW_FLOW_HTTP_NEXT:
            if (tw_http_maybe_request(b, n) && n > 0) {
                f->state = TW_FLOW_HTTP;
                break;
            }
            if (--f->scan_left == 0)
                f->state = TW_FLOW_DONE;
            return len;
        case TW_FLOW_DNS:
            return off + dns_tcp_bytes(e, f, p, b, n, false);
        default:
            return off;
        }
    }
    return off;
}

static size_t server_bytes(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                           const uint8_t *buf, size_t len)
{
    return dns_tcp_bytes(e, f, p, buf, len, true);
}

/* Offset just past a segment of len bytes at seq in buffer s (0 when it lies before s). */
static size_t stream_end(const struct tw_stream *s, uint32_t seq, size_t len)
{
    int32_t rel = (int32_t)(seq - s->base_seq);

    if (rel >= 0)
        return (size_t)rel + len;
    size_t before = (size_t)(-(int64_t)rel);
    return len > before ? len - before : 0;
}

/* Whether the client stream may still be (or become) a ClientHello larger than a
 * TW_STREAM_CAP buffer: it is being read as TLS, or its first bytes are still missing (a hole
 * at the start, the later segments already here). */
static bool may_be_large_hello(const struct conn *f)
{
    return f->state == TW_FLOW_TLS || f->state == TW_FLOW_TLS_RETRY || f->state == TW_FLOW_NEW;
}

/*
 * Makes room for client stream bytes up to offset `end` of a flow's buffer: a ClientHello
 * larger than a TW_STREAM_CAP buffer holds (post-quantum key shares, padding, a 100 KiB hello
 * in many records) moves into a large buffer, from a bounded pool of its own; refusals are
 * counted. Returns the flow's buffer.
 */
static struct tw_stream *tls_room(struct tw_engine *e, struct conn *f, size_t end)
{
    struct tw_stream *s = stream_of(e, f, &f->stream);

    if (end <= s->cap || !may_be_large_hello(f) || (f->xflags & TW_FLOWX_BIG_STREAM) ||
        e->big.cap == 0)
        return s;
    uint32_t big = buffer_get(e, &e->big, s->base_seq, f, HOLD_CLIENT);
    if (big == TW_STREAM_NONE) {
        e->st.tls_big_refused++;
        return s;
    }
    struct tw_stream *b = tw_stream_at(&e->big, big);
    tw_stream_move(b, s);
    tw_stream_put(&e->pool, f->stream);
    f->stream = big;
    f->xflags |= TW_FLOWX_BIG_STREAM;
    e->st.tls_big_buffers++;
    return b;
}

/* Whether the direction read by stream_segment() has nothing more to give. */
static bool direction_done(const struct conn *f, bool server)
{
    return f->state == TW_FLOW_DONE || (server && (f->xflags & TW_FLOWX_SERVER_OFF));
}

static void stream_drain(struct tw_engine *e, struct conn *f, const struct tw_pkt *p, bool server);

/*
 * A payload segment starting at sequence number seq, of the client stream (server false) or
 * of the server stream of a DNS flow (server true): bytes in order are parsed straight from
 * the packet; out of order or incomplete ones wait in a reassembly buffer.
 */
static void stream_segment(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                           uint32_t seq, bool server)
{
    size_t (*consume)(struct tw_engine *, struct conn *, const struct tw_pkt *, const uint8_t *,
                      size_t) = server ? server_bytes : client_bytes;
    uint32_t *next = server ? &f->server_next : &f->client_next;
    uint32_t *idx = server ? &f->sstream : &f->stream;
    const uint8_t *data = p->payload;
    size_t len = p->payload_len;
    struct tw_stream *s;
    size_t used;

    if (!server && f->state == TW_FLOW_TLS && f->tls_back != 0 &&
        (int32_t)(seq - f->hello_end) >= 0) {
        /* Bytes past the first hello while it is read again (hello_recheck): that reading
         * is given up, and the segment is looked at for a second hello. */
        f->xflags &= (uint8_t)~TW_FLOWX_RECHECK;
        recheck_over(f);
    }
    if (!server && tls_next_state(f->state) && (int32_t)(seq - f->hello_end) < 0)
        return; /* the first hello's bytes again, past HELLO_RECHECKS: nothing new */
    if (!server && (f->state == TW_FLOW_SCAN || tls_next_state(f->state))) {
        /* No reassembly while scanning: every client segment is a candidate start. */
        *next = seq;
        put_stream_of(e, f, idx);
    } else if (!server && f->state == TW_FLOW_HTTP_NEXT) {
        /* Between requests: a segment past a hole starts afresh; a copy of bytes already
         * read (a retransmission) is trimmed below, so no request is reported twice. */
        if ((int32_t)(seq - *next) > 0)
            *next = seq;
        put_stream_of(e, f, idx);
    }
    if (*idx == TW_STREAM_NONE) {
        int32_t rel = (int32_t)(seq - *next);

        if (rel < 0) {
            /* Overlaps bytes already consumed: keep only the new part. */
            size_t skip = (size_t)(-(int64_t)rel);
            if (skip >= len)
                return;
            data += skip;
            len -= skip;
            rel = 0;
        }
        if (rel == 0) {
            /* In order and nothing pending: parse straight from the packet. */
            used = consume(e, f, p, data, len);
            *next += (uint32_t)used;
            if (direction_done(f, server) || used == len)
                return;
            data += used;
            len -= used;
        } else if ((uint32_t)rel >= (!server && may_be_large_hello(f) ? e->tls_stream_max
                                                                         : TW_STREAM_CAP)) {
            e->st.stream_clipped++;
            return;
        }
        *idx = buffer_get(e, &e->pool, *next, f, server ? HOLD_SERVER : HOLD_CLIENT);
        if (*idx == TW_STREAM_NONE) {
            e->st.stream_no_buffer++;
            if (server)
                f->xflags |= TW_FLOWX_SERVER_OFF;
            else
                f->state = TW_FLOW_DONE;
            return;
        }
        if (!server)
            f->flags |= TW_FLOWF_BUFFERED;
        seq = *next + (uint32_t)rel;
    }
    s = stream_of(e, f, idx);
    if (!server)
        s = tls_room(e, f, stream_end(s, seq, len));
    uint32_t conflicts = s->conflicts;
    enum tw_stream_add_result res = tw_stream_add(s, seq, data, len);
    tw_stream_touch(pool_of(e, f, idx), *idx, e->frame->ts_sec);
    if (s->conflicts != conflicts) {
        /* Other bytes where the buffer holds some: the first ones stay; a receiver with
         * another policy would read these. */
        e->st.overlap_conflict++;
        f->xflags |= TW_FLOWX_CONFLICT;
    }
    switch (res) {
    case TW_STREAM_CLIPPED:
        e->st.stream_clipped++;
        break;
    case TW_STREAM_TOO_MANY_GAPS:
        e->st.stream_gaps++;
        return;
    case TW_STREAM_OLD:
        return;
    default:
        break;
    }
    stream_drain(e, f, p, server);
}

/*
 * Reads the bytes the flow's buffer (client stream, or server stream when server) holds
 * contiguous from its start, drops what was consumed, and gives the buffer back once it holds
 * nothing or the direction is done with.
 */
static void stream_drain(struct tw_engine *e, struct conn *f, const struct tw_pkt *p, bool server)
{
    size_t (*consume)(struct tw_engine *, struct conn *, const struct tw_pkt *, const uint8_t *,
                      size_t) = server ? server_bytes : client_bytes;
    uint32_t *next = server ? &f->server_next : &f->client_next;
    uint32_t *idx = server ? &f->sstream : &f->stream;
    struct tw_stream *s = stream_of(e, f, idx);
    size_t used;

    if (s->contig == 0)
        return;
    used = consume(e, f, p, s->data, s->contig);
    if (direction_done(f, server)) {
        put_stream_of(e, f, idx);
        return;
    }
    if (used > 0) {
        tw_stream_consume(s, used);
        *next += (uint32_t)used;
    }
    if (s->contig == 0 && s->n_gaps == 0) {
        /* Nothing pending (e.g. between DNS messages): give the buffer back. */
        put_stream_of(e, f, idx);
    } else if (s->contig >= s->cap) {
        /* Full and still no complete unit: nothing more can be learnt. */
        if (!server && (f->state == TW_FLOW_TLS || f->state == TW_FLOW_TLS_RETRY))
            e->st.tls_too_large++;
        else
            e->st.stream_clipped++;
        if (server)
            f->xflags |= TW_FLOWX_SERVER_OFF;
        else
            f->state = TW_FLOW_DONE;
        put_stream_of(e, f, idx);
    }
}

/* Mid-stream: does this segment start the way a client starts (so its sender is the client)? */
static bool looks_like_client_start(const struct tw_pkt *p)
{
    enum client_start c = classify_start(p->payload, p->payload_len);

    return p->dport == 53 || c == START_CONNECT || c == START_PROXY ||
           (c == START_TLS && hello_record_start(p->payload, p->payload_len)) ||
           (c == START_HTTP && p->payload_len >= 16);
}

/* Whether a TCP flow still reads data segment p from side: not once it is done, except a
 * client segment at the sequence number of the hello it reported (a later hello there is
 * compared with it, see hello_recheck). */
static bool tcp_reads(const struct conn *f, uint8_t side, const struct tw_pkt *p)
{
    if (tls_next_state(f->state))
        return side == f->client; /* the server's segments say nothing now */
    return f->state != TW_FLOW_DONE ||
           ((f->xflags & TW_FLOWX_HELLO_KEPT) && side == f->client &&
            (p->seq == f->hello_seq || p->seq == f->hello_end));
}

/* What the first bytes of one direction of a mid-stream flow say about its sender. */
enum pick_verdict {
    PICK_CLIENT, /* they begin what a client sends first: the sender is the client */
    PICK_WAIT,   /* not (yet): more bytes, or earlier ones, may still tell */
    PICK_NEVER,  /* the sender is a DNS server (port 53): never the client */
    PICK_PAST,   /* the sender is past its start (TLS application data): no start is to come */
};

/* A DNS-over-TCP message begins at b[0..n): a length prefix and a message that parses (its
 * questions at least, when it is longer than a mid-stream buffer). */
static enum pick_verdict dns_start_verdict(struct tw_engine *e, const uint8_t *b, size_t n)
{
    size_t mlen, have;
    int rc;

    if (n < 2 + 12)
        return PICK_WAIT;
    mlen = (size_t)b[0] << 8 | b[1];
    have = TW_MIN(mlen, n - 2);
    if (have < 12)
        return PICK_WAIT;
    rc = tw_dns_parse(b + 2, have, &e->dns);
    if (have == mlen)
        return rc >= 0 || e->dns.n_questions > 0 ? PICK_CLIENT : PICK_WAIT;
    if (mlen + 2 <= MIDSTREAM_CAP)
        return PICK_WAIT;
    return e->dns.n_questions > 0 ? PICK_CLIENT : PICK_WAIT;
}

/*
 * Whether the first bytes b[0..n) a side of a mid-stream flow sent (from port sport to dport)
 * are what a client sends first: a TLS record header announcing a ClientHello, a DNS message
 * to port 53, an HTTP request line, CONNECT, a PROXY protocol header. The same tests as
 * looks_like_client_start(), but a DNS message must parse.
 */
static enum pick_verdict client_start_verdict(struct tw_engine *e, const uint8_t *b, size_t n,
                                              uint16_t sport, uint16_t dport)
{
    if (dport == 53)
        return dns_start_verdict(e, b, n);
    if (sport == 53)
        return PICK_NEVER;
    switch (classify_start(b, n)) {
    case START_CONNECT:
    case START_PROXY:
        return PICK_CLIENT;
    case START_TLS:
        return hello_record_start(b, n) ? PICK_CLIENT : PICK_WAIT;
    case START_HTTP:
        return n >= 16 ? PICK_CLIENT : PICK_WAIT;
    default:
        return tw_tls_application_data(b, n) ? PICK_PAST : PICK_WAIT;
    }
}

/* Key side `side` of a mid-stream flow is its client; its stream is read from seq on. */
static void set_client(struct conn *f, uint8_t side, uint32_t seq)
{
    f->initiator = f->client = side;
    f->client_next = seq;
    f->flags |= TW_FLOWF_CLIENT_SET;
}

/* A mid-stream flow whose client is still unknown after MIDSTREAM_PATIENCE packets is done
 * with. */
static void midstream_patience(struct tw_engine *e, struct conn *f)
{
    if (f->ft.pkts <= MIDSTREAM_PATIENCE)
        return;
    f->state = TW_FLOW_DONE;
    e->st.flows_not_inspected++;
    if (f->pick[0] != TW_STREAM_NONE || f->pick[1] != TW_STREAM_NONE)
        e->st.midstream_gave_up++;
    put_pickups(e, f);
}

/*
 * The first bytes of side `side`, held in its mid-stream buffer, begin what a client sends:
 * that side is the client, its stream starts at the buffer's first byte, and what the buffer
 * holds (out-of-order islands too) moves into a reassembly buffer and is read the usual way.
 */
static void pickup_adopt(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                         uint8_t side)
{
    const struct tw_stream *pk = tw_stream_at(&e->mid, f->pick[side]);
    uint32_t idx;

    set_client(f, side, pk->base_seq);
    f->xflags |= TW_FLOWX_PICKED;
    e->st.midstream_pickup++;
    idx = buffer_get(e, &e->pool, pk->base_seq, f, HOLD_CLIENT);
    if (idx == TW_STREAM_NONE) {
        e->st.stream_no_buffer++;
        f->state = TW_FLOW_DONE;
        put_pickups(e, f);
        return;
    }
    tw_stream_move(tw_stream_at(&e->pool, idx), pk);
    f->stream = idx;
    f->flags |= TW_FLOWF_BUFFERED;
    put_pickups(e, f);
    stream_drain(e, f, p, false);
}

/*
 * A payload segment (at sequence number seq) of a TCP flow whose start was not seen, while its
 * client is unknown. Each side's first bytes are held in a mid-stream buffer, in sequence order
 * whatever the order they arrive in (a segment before the first one held moves the buffer's
 * start back), until they begin what a client sends first (client_start_verdict): then that
 * side is the client and they are read (pickup_adopt). So a hello, DNS message or request whose
 * first segment holds 1 byte, or whose segments arrive out of order, is read whole. A segment
 * that alone begins what a client sends makes its side the client as before: returns true, and
 * the caller reads the segment as the client's. Refusals are counted: no buffer free
 * (midstream_no_buffer, per segment), bytes beyond the buffer or too many holes
 * (midstream_too_long: that side is no longer held), MIDSTREAM_PATIENCE packets without a
 * client (midstream_gave_up when bytes were held).
 */
static bool midstream_segment(struct tw_engine *e, struct conn *f, const struct tw_pkt *p,
                              uint8_t side, uint32_t seq)
{
    uint32_t *pk = &f->pick[side];
    const uint8_t *b = p->payload;
    size_t n = p->payload_len;

    if (p->sport == 53 && p->dport != 53 && (p->tcp_flags & 0x10) && n >= 2 + 12 &&
        (b[4] & 0x80)) {
        /* A DNS server's response (length prefix, then a header with QR set), the query not
         * captured (a capture that begins between query and response): its receiver is the
         * client, whose next byte it acknowledges. The response is read by the caller. */
        put_pickups(e, f);
        set_client(f, side ^ 1u, p->ack);
        return true;
    }
    if (e->mid.cap == 0 || (f->pick_off & (1u << side))) {
        if (looks_like_client_start(p)) {
            put_pickups(e, f);
            set_client(f, side, seq);
            return true;
        }
        midstream_patience(e, f);
        return false;
    }
    if (*pk == TW_STREAM_NONE) {
        enum pick_verdict v = client_start_verdict(e, b, n, p->sport, p->dport);
        if (v == PICK_CLIENT) {
            put_pickups(e, f);
            set_client(f, side, seq);
            return true;
        }
        if (v == PICK_PAST) {
            /* Its hello came before the capture did: holding this side's bytes can only find
             * a start by a new one in a later segment, which is judged alone all the same. */
            e->st.midstream_past_start++;
            f->pick_off |= (uint8_t)(1u << side);
        }
        if (v == PICK_NEVER || v == PICK_PAST) {
            midstream_patience(e, f);
            return false;
        }
        *pk = buffer_get(e, &e->mid, seq, f, (enum hold_role)(HOLD_PICK0 + side));
        if (*pk == TW_STREAM_NONE) {
            e->st.midstream_no_buffer++;
            midstream_patience(e, f);
            return false;
        }
    }
    struct tw_stream *s = tw_stream_at(&e->mid, *pk);
    bool held = (int32_t)(seq - s->base_seq) >= 0 || tw_stream_rebase(s, seq) == 0;
    uint32_t conflicts = s->conflicts;
    if (held) {
        enum tw_stream_add_result res = tw_stream_add(s, seq, b, n);
        held = res == TW_STREAM_ADDED;
        tw_stream_touch(&e->mid, *pk, e->frame->ts_sec);
    }
    if (s->conflicts != conflicts) {
        e->st.overlap_conflict++;
        f->xflags |= TW_FLOWX_CONFLICT;
    }
    if (s->contig > 0 &&
        client_start_verdict(e, s->data, s->contig, p->sport, p->dport) == PICK_CLIENT) {
        pickup_adopt(e, f, p, side);
        return false;
    }
    if (!held) {
        /* Past the bound: this side's bytes are no longer held. */
        e->st.midstream_too_long++;
        tw_stream_put(&e->mid, *pk);
        *pk = TW_STREAM_NONE;
        f->pick_off |= (uint8_t)(1u << side);
    }
    /* A start after bytes that never began one (a new request on a kept-alive connection). */
    if (client_start_verdict(e, b, n, p->sport, p->dport) == PICK_CLIENT) {
        put_pickups(e, f);
        set_client(f, side, seq);
        return true;
    }
    midstream_patience(e, f);
    return false;
}

/* Returns the packet's flow, or NULL when the packet did not touch the flow table. */
static struct conn *tcp_packet(struct tw_engine *e, const struct tw_pkt *p)
{
    /* A segment with no payload and none of SYN/FIN/RST (a pure ACK, about half of all bulk
     * traffic) carries nothing tunwatch reads: it does not touch the flow table. */
    if (p->payload_len == 0 && (p->tcp_flags & 0x07) == 0) {
        e->st.tcp_pure_ack++;
        return NULL;
    }
    uint8_t side;
    bool created;
    bool syn = (p->tcp_flags & 0x02) != 0, ack = (p->tcp_flags & 0x10) != 0;
    int64_t now = e->frame->ts_sec;
    struct conn *f;
    uint32_t seq;

    if (p->csum_pending) {
        /* Data (no SYN, FIN or RST) of a flow that is done: nothing more to read. */
        if ((p->tcp_flags & 0x07) == 0 && (f = conn_bypass(e, p, tcp_reads)) != NULL)
            return f;
        if (!pkt_ok(e, p))
            return NULL;
    }
    f = conn_get(e, p, &side, &created);

    if (syn && !ack && !created) {
        /* A SYN on a known flow: a retransmission (same ISN, e.g. a TCP Fast Open SYN the
         * server did not acknowledge), or the 5-tuple reused by a new connection. */
        bool same = (f->flags & TW_FLOWF_SYN_SEEN) && f->initiator == side && f->isn == p->seq;
        if (!same && f->state != TW_FLOW_NEW) {
            e->st.tcp_port_reuse++;
            flow_end(e, f);
            tw_flow_restart(e->flows, &f->ft, now, e->frame->ts_nsec);
            conn_init(e, f);
            created = true;
        }
    }
    if (created) {
        if (syn && !ack) {
            f->initiator = f->client = side;
            f->isn = p->seq;
            f->client_next = p->seq + 1;
            f->flags |= TW_FLOWF_SYN_SEEN | TW_FLOWF_CLIENT_SET;
        } else if (syn && ack) {
            /* The client's SYN was missed; its ISN is one before what the server acknowledges
             * (unless that SYN carried data: then the retransmission is what we will read). */
            f->initiator = f->client = side ^ 1u;
            f->isn = p->ack - 1;
            f->client_next = p->ack;
            f->flags |= TW_FLOWF_SYN_SEEN | TW_FLOWF_CLIENT_SET;
        } else {
            f->flags |= TW_FLOWF_MIDSTREAM;
            e->st.midstream++;
        }
    }
    if (syn && ack && side != f->initiator && !(f->xflags & TW_FLOWX_SERVER_SET)) {
        /* The server's ISN: where its byte stream (DNS responses over TCP) begins. */
        f->server_next = p->seq + 1;
        f->xflags |= TW_FLOWX_SERVER_SET;
    }
    seq = p->seq + (syn ? 1u : 0u); /* data on a SYN (TCP Fast Open) follows the ISN */
    if ((f->state == TW_FLOW_DONE || tls_next_state(f->state)) &&
        (f->xflags & TW_FLOWX_HELLO_KEPT) && side == f->client && p->payload_len > 0 &&
        seq == f->hello_seq)
        hello_recheck(f);
    else if (f->state == TW_FLOW_DONE && (f->xflags & TW_FLOWX_HELLO_KEPT) &&
             side == f->client && p->payload_len > 0 && seq == f->hello_end)
        look_again(f);
    if (f->state == TW_FLOW_DONE || p->payload_len == 0)
        return f;
    e->st.tcp_payload_pkts++;
    /* Start not seen: the side that sends what a client sends first is the client. */
    if (!(f->flags & TW_FLOWF_CLIENT_SET) && !midstream_segment(e, f, p, side, seq))
        return f;
    if (side != f->client) {
        if (f->state == TW_FLOW_NEW && (p->sport == 53 || p->dport == 53))
            f->state = TW_FLOW_DNS; /* the query was not captured, its response was */
        if (f->state == TW_FLOW_DNS && !(f->xflags & TW_FLOWX_SERVER_OFF)) {
            /* DNS responses over TCP: their answers feed the cache like UDP ones. */
            if (!(f->xflags & TW_FLOWX_SERVER_SET)) {
                f->server_next = p->seq; /* handshake not seen: start here */
                f->xflags |= TW_FLOWX_SERVER_SET;
            }
            stream_segment(e, f, p, p->seq, true);
            return f;
        }
        if (f->state == TW_FLOW_NEW && (f->flags & TW_FLOWF_SYN_SEEN)) {
            /* The server spoke first (SSH, SMTP banner, a raw tunnel): no ClientHello is
             * coming at the start of the client stream; look for one later. */
            f->state = TW_FLOW_SCAN;
            f->scan_left = SCAN_SEGMENTS;
        }
        return f;
    }
    stream_segment(e, f, p, seq, false);
    return f;
}

static void tcp(struct tw_engine *e, const struct tw_pkt *p)
{
    struct conn *f = tcp_packet(e, p);

    if (f == NULL)
        return;
    /* Done without a name of its own, or closing (FIN, RST) before one came. */
    if (f->state == TW_FLOW_DONE || (p->tcp_flags & 0x05) != 0)
        answer_event(e, f);
    /* Closing: what is left of it are a few segments, then a new connection on the 5-tuple. */
    if ((p->tcp_flags & 0x05) != 0) {
        tw_flow_set_timeout(e->flows, &f->ft, TW_FLOW_TIMEOUT_SHORT);
        f->xflags &= (uint8_t)~TW_FLOWX_HOLDING;
    } else {
        hold_update(e, f);
    }
}

static void flush_flow(void *ctx, struct tw_flow *f)
{
    answer_event(ctx, (struct conn *)f);
}

void tw_engine_flush(struct tw_engine *e)
{
    e->frame = NULL; /* the last one is gone: nothing below may read it */
    if (e->cfg.anscache != NULL)
        tw_flow_table_foreach(e->flows, flush_flow, e);
}

void tw_engine_packet(struct tw_engine *e, const struct tw_frame *fr, const struct tw_pkt *p)
{
    e->frame = fr;
    if (p->l4_proto == 6)
        tcp(e, p);
    else if (p->l4_proto == 17 && (p->sport == 53 || p->dport == 53))
        udp_dns(e, p);
    else if (p->l4_proto == 17)
        udp_other(e, p);
}

/* Whether the engine will look p's flow up (tcp_packet()'s and the UDP paths' first test). */
static inline bool looks_up(const struct tw_pkt *p)
{
    return p->l4_proto == 17 || (p->l4_proto == 6 && (p->payload_len > 0 || (p->tcp_flags & 0x07)));
}

/*
 * Reads n decoded packets in three passes, as DPDK's l3fwd does with rte_hash bulk lookups:
 * every flow key is made and its bucket prefetched, then every entry a bucket points to is
 * prefetched, then the packets are read in order. Two dependent cache misses a packet become
 * one overlapped wait a burst.
 */
static void read_burst(struct tw_engine *e, struct burst_slot *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        b[i].has_pre = looks_up(&b[i].p);
        if (b[i].has_pre)
            tw_flow_prepare(e->flows, &b[i].p, &b[i].pre);
    }
    for (unsigned i = 0; i < n; i++)
        if (b[i].has_pre)
            tw_flow_prefetch(e->flows, &b[i].pre);
    for (unsigned i = 0; i < n; i++) {
        e->pre = b[i].has_pre ? &b[i].pre : NULL;
        e->cur_seq = b[i].seq;
        tw_engine_packet(e, b[i].fr, &b[i].p);
    }
    e->pre = NULL;
}

void tw_engine_packets(struct tw_engine *e, const struct tw_frame *fr, const struct tw_pkt *p,
                       unsigned n)
{
    for (unsigned i = 0; i < n; i += TW_ENGINE_BURST) {
        unsigned m = TW_MIN(n - i, (unsigned)TW_ENGINE_BURST);
        for (unsigned k = 0; k < m; k++) {
            e->burst[k].p = p[i + k];
            e->burst[k].fr = &fr[i + k];
        }
        read_burst(e, e->burst, m);
    }
}

enum tw_share tw_engine_share_of(const struct tw_engine *e, int linktype, const struct tw_frame *f)
{
    struct tw_pkt k;

    if (e->cfg.share_n <= 1 || e->peek_none || !tw_decode_peek(linktype, f->data, f->caplen, &k))
        return TW_SHARE_UNKNOWN;
    return tw_flow_worker(&k, e->cfg.share_n, e->cfg.share0) == e->cfg.share_idx
               ? TW_SHARE_MINE
               : TW_SHARE_OTHER;
}

bool tw_engine_deciding(const struct tw_engine *e)
{
    return tw_csum_deciding(e->csum);
}

/*
 * Counts frame f (what tw_engine_share_of() said of it) and decodes it into *p: 0 when p is
 * to be read (with the prep, after IP reassembly: *reassembled tells whether p points into the
 * prep's buffer, valid until the next decoding, rather than into f), else the packet goes no
 * further.
 */
static int decode_frame(struct tw_engine *e, int linktype, const struct tw_frame *f,
                        enum tw_share share, struct tw_pkt *p, bool *reassembled)
{
    struct tw_engine_stats *fs = e->frame_st;

    e->seq++;
    *reassembled = false;
    if (share == TW_SHARE_MINE) {
        fs = e->cfg.share_last_full ? e->scratch : &e->st; /* the last counts every frame */
    } else if (share == TW_SHARE_OTHER) {
        /* Counted by the engine whose share it is. While auto decides, every engine
         * validates every frame. */
        if (!tw_csum_deciding(e->csum))
            return TW_ESKIP;
        fs = e->scratch;
    }
    fs->packets++;
    fs->bytes += f->wirelen;
    if (e->prep == NULL)
        return tw_decode(linktype, f->data, f->caplen, f->wirelen, p, &fs->decode);
    struct tw_prep_frame pf = {linktype, f->data, f->caplen};
    /* Every engine reassembles every fragment: what its reassembler does (expiries, whatever
     * frame's time brings them) counts where a fragment does, in frame_st. */
    int rc = tw_prep_decode_deferred(e->prep, &pf, f->ts_sec, p, &fs->decode,
                                     &e->frame_st->prep);
    *reassembled = pf.data != f->data;
    if (rc != 0)
        return rc;
    if (e->cfg.share_n > 1 &&
        tw_flow_worker(p, e->cfg.share_n, e->cfg.share0) != e->cfg.share_idx) {
        /* Another engine's frame. While auto decides it is validated all the same: every
         * engine decides on the same packets, in capture order, so all decide alike. */
        if (tw_csum_deciding(e->csum))
            (void)tw_prep_verify_early(e->csum, p, &e->scratch->prep);
        return TW_ESKIP;
    }
    return tw_prep_verify_early(e->csum, p, &e->st.prep);
}

/* tw_engine_frames() and tw_engine_frames_at(): seq and share NULL, the frames are numbered
 * on from the last and the engine tells their share itself. */
static void frames(struct tw_engine *e, const int *linktype, const struct tw_frame *fr,
                   const uint64_t *seq, const uint8_t *share, unsigned n)
{
    unsigned i = 0;
    bool reassembled;

    while (i < n) {
        unsigned m = 0;
        reassembled = false;
        /* A reassembled datagram's bytes last until the next decoding: read it first. */
        for (; i < n && m < TW_ENGINE_BURST && !reassembled; i++) {
            struct burst_slot *b = &e->burst[m];
            enum tw_share sh = share != NULL ? (enum tw_share)share[i]
                                             : tw_engine_share_of(e, linktype[i], &fr[i]);
            if (seq != NULL)
                e->seq = seq[i];
            b->fr = &fr[i];
            b->seq = e->seq;
            if (decode_frame(e, linktype[i], &fr[i], sh, &b->p, &reassembled) == 0)
                m++;
        }
        read_burst(e, e->burst, m);
    }
}

void tw_engine_frames(struct tw_engine *e, const int *linktype, const struct tw_frame *fr,
                      unsigned n)
{
    frames(e, linktype, fr, NULL, NULL, n);
}

void tw_engine_frames_at(struct tw_engine *e, const int *linktype, const struct tw_frame *fr,
                         const uint64_t *seq, const uint8_t *share, unsigned n)
{
    frames(e, linktype, fr, seq, share, n);
}

void tw_engine_frame(struct tw_engine *e, int linktype, const struct tw_frame *fr)
{
    struct tw_pkt p;
    bool reassembled;
    uint64_t seq = e->seq;

    if (decode_frame(e, linktype, fr, tw_engine_share_of(e, linktype, fr), &p, &reassembled) ==
        0) {
        e->cur_seq = seq;
        tw_engine_packet(e, fr, &p);
    }
}
