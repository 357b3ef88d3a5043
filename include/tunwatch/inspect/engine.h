/* SPDX-License-Identifier: MIT */
/*
 * The packet path of one worker: decode -> flow -> inspect -> event.
 *
 * tw_engine_frame() takes one captured frame, decodes it, finds its flow and
 * reads what the flow's client (or, for DNS, its server) sends with the
 * parsers of proto/; every name it finds (DNS query names and CNAME targets,
 * TLS ClientHello SNI, names from the answer cache) and every DNS response
 * (a dns event with its answers) becomes a struct tw_event
 * handed to the sink callback (the run stage passes it on to matching and
 * output). Nothing is allocated per packet: the flow table and reassembly
 * buffers are sized at tw_engine_new().
 */
#ifndef TUNWATCH_ENGINE_H
#define TUNWATCH_ENGINE_H

#include <stdatomic.h>

#include "tunwatch/host/anscache.h"
#include "tunwatch/capture/capture.h"
#include "tunwatch/decode/decode.h"
#include "tunwatch/decode/prep.h"
#include "tunwatch/event/event.h"
#include "tunwatch/flow/flow.h"
#include "tunwatch/base/netaddr.h"
#include "tunwatch/proto/dns.h"
#include "tunwatch/proto/quic.h"
#include "tunwatch/proto/tls.h"

typedef void (*tw_event_fn)(void *ctx, const struct tw_event *ev);

struct tw_engine_config {
    uint32_t flow_capacity;   /* flows tracked at once */
    uint32_t flow_timeout;    /* seconds of idleness before a flow may be expired */
    uint32_t flow_timeout_short; /* ... a DNS flow, or a TCP flow after FIN or RST (0: 30) */
    uint32_t dns_timeout;     /* ... a DNS flow over UDP once a response was read (0: short) */
    uint32_t stream_buffers;  /* reassembly buffers (flows mid-ClientHello at once) */
    uint32_t tls_max_hello;   /* largest ClientHello body read, bytes (0: TW_TLS_HELLO_MAX) */
    uint32_t tls_big_buffers; /* larger reassembly buffers, for the ClientHellos that outgrow
                                 a TW_STREAM_CAP buffer (0: none) */
    uint32_t midstream_buffers; /* 8 KiB buffers for the first bytes of TCP flows whose start
                                   was not seen, until they tell the client (0: none) */
    uint32_t quic_states;     /* QUIC flows collecting their ClientHello at once (about 8.5 KiB
                                 each, touched only when used); 0: QUIC is not read */
    uint32_t reclaim_idle;    /* seconds (capture time) a reassembly or mid-stream buffer, or a
                                 QUIC state, must have been idle before it is taken back from
                                 its flow for one that needs it when none is free (0: never) */
    struct tw_homenet home;   /* decides Initiated */
    tw_event_fn sink;
    void *sink_ctx;
    struct tw_anscache *anscache; /* shared DNS answer cache, NULL: no answer correlation */
    bool udp_answers_stored;  /* someone else stores UDP DNS answers in anscache (the reader
                                 thread in front of several workers): do not store them again */
    enum tw_csum_mode checksums; /* validation of what is handed to tw_engine_packet() with
                                 csum_pending set, when prep is NULL */
    struct tw_csum_ctl *csum_shared; /* else this state (the reader's in front of workers: it
                                 decides auto in capture order), not one of the engine's own */
    const struct tw_prep_config *prep; /* IP reassembly and checksum validation in
                                 tw_engine_frame(); NULL: plain decoding (the reader in front
                                 of workers reassembles and hands over tw_engine_packet()) */
    /* Names of the capture sources (files) indexed by tw_frame.source, NULL: none. Events
     * carry the name (struct tw_event.source); the strings outlive the engine. */
    const char *const *source_names;
    size_t n_sources;
    uint64_t flow_id_first;   /* flow ids: first, first + stride, ... (0: 1, 1) */
    uint64_t flow_id_stride;
    /*
     * Several engines reading the same frames, each its own share (a replay's workers, each
     * reading every file): share_n > 1 engines, this one share_idx; it reads the frames whose
     * flow is tw_flow_worker(p, share_n, share0) == share_idx and skips the others (share0:
     * the part of the flows other than DNS that engine 0 reads too, in 256ths, the same for
     * every engine). A frame whose flow
     * tw_decode_peek() reads is counted (with its decoding) by the engine whose share it is;
     * any other frame is decoded by every engine and counted by engine share_n - 1. 0 or 1:
     * every frame.
     */
    unsigned share_n, share_idx, share0;
    /* With share_n > 1: engine share_n - 1 has most of the frames (a replay's two workers with
     * share0 0: the DNS flows are the other's), so it decodes every frame without a peek first
     * (a peek would only add to the decoding of most of them) and counts every frame with its
     * decoding; the others count none. */
    bool share_last_full;
    /* Called before every answer cache lookup with the frame's number in the input (as
     * tw_engine_frames_at() was given it, or the count of frames tw_engine_frames() and
     * tw_engine_frame() took before it; UINT64_MAX at tw_engine_flush()): returns once the
     * engine that learns the answers has read every frame before it. NULL: one engine. */
    void (*answer_wait)(void *ctx, uint64_t seq);
    void *answer_wait_ctx;
    /* NULL, or while false: DNS responses make no dns_response event and their answers get no
     * text (nothing would read them: no rule of category dns, no output of every event); the
     * answers are still learnt and the CNAME targets still reported. Counted in
     * dns_response_unread. Read once per response. */
    const atomic_bool *dns_events;
};

/* Counters of what the engine saw and skipped; every refusal is counted somewhere here. */
struct tw_engine_stats {
    uint64_t packets, bytes;
    struct tw_decode_stats decode;
    struct tw_prep_stats prep; /* reassembly and checksums (the reader's, with workers) */
    uint64_t tcp_payload_pkts, udp_dns_pkts;
    uint64_t tcp_pure_ack;     /* segments without payload or SYN/FIN/RST: not looked up */
    uint64_t bypassed;         /* packets of flows that read nothing more of them (a name
                                  known, or given up): looked up, counted, not validated */
    uint64_t dns_queries;      /* DNS request messages (QR=0) parsed */
    uint64_t dns_responses;    /* DNS response messages (QR=1) parsed (answers: answers.h) */
    uint64_t dns_questions;    /* names emitted from DNS requests */
    uint64_t dns_malformed;    /* messages rejected (questions parsed before the error are kept) */
    uint64_t dns_tcp_messages;
    uint64_t dns_tcp_oversize; /* length prefix larger than the reassembly buffer */
    uint64_t dns_questions_dropped; /* questions beyond TW_DNS_MAX_QUESTIONS */
    uint64_t dns_odd[TW_DNS_ODD__COUNT]; /* messages read with each oddity */
    uint64_t tls_hellos;       /* ClientHellos parsed */
    uint64_t tls_sni;          /* ... with a server_name */
    uint64_t tls_no_sni;
    uint64_t tls_ech;
    uint64_t tls_multi_segment; /* hellos that needed reassembly */
    uint64_t tls_malformed;
    uint64_t tls_too_large;    /* hello larger than --tls-max-hello or its stream than a buffer */
    uint64_t tls_big_buffers;  /* flows moved into a large reassembly buffer (large hellos) */
    uint64_t tls_big_refused;  /* ... refused: every large buffer was in use */
    uint64_t tls_big_reclaimed; /* large buffers taken back from a stalled flow, as
                                   stream_reclaimed */
    uint64_t tls_flag[TW_TLS_F__COUNT]; /* hellos (TCP and QUIC) with each oddity */
    uint64_t tls_names;        /* server names reported (several per hello when sent) */
    uint64_t name_truncated;   /* names longer than TW_NAME_MAX-1, reported by their end */
    uint64_t http_connect;     /* client streams that began with CONNECT */
    uint64_t proxy_protocol;   /* client streams that began with a PROXY protocol header */
    uint64_t proxy_bad;        /* PROXY protocol headers malformed or too long */
    uint64_t tls_after_preamble; /* ClientHellos found after other client bytes (STARTTLS, SOCKS) */
    uint64_t connect_bad;      /* CONNECT request headers too long or malformed */
    uint64_t tcp_port_reuse;   /* new SYN on a finished flow: new flow id */
    uint64_t midstream;        /* TCP flows whose SYN was not seen */
    uint64_t midstream_pickup; /* ... whose client was found in their first bytes, held */
    uint64_t midstream_no_buffer; /* ... that needed a mid-stream buffer when none was free */
    uint64_t midstream_past_start; /* sides of mid-stream flows whose first bytes seen are TLS
                                      application data: past their hello, not held */
    uint64_t midstream_reclaimed; /* mid-stream buffers taken back from a stalled flow's side
                                     (idle reclaim_idle seconds) for one that needed one */
    uint64_t midstream_too_long; /* ... given up: their first bytes outgrew the buffer */
    uint64_t midstream_gave_up; /* ... given up: MIDSTREAM_PATIENCE packets, no client start */
    uint64_t overlap_conflict; /* TCP segments overlapping held bytes with other bytes, and
                                  ClientHellos at the sequence numbers of an earlier one */
    uint64_t hello_later;      /* ... of them, later ClientHellos whose names were reported */
    uint64_t tls_hello_retry;  /* second ClientHellos read (after a HelloRetryRequest) */
    uint64_t tls_hello_retry_other; /* ... with other names than the first: reported */
    uint64_t tls_hello_retry_broken; /* ... that began like one and did not parse */
    uint64_t stream_no_buffer; /* flows that needed reassembly when the pool was empty */
    uint64_t stream_reclaimed; /* reassembly buffers taken back from a stalled flow (idle
                                  reclaim_idle seconds) for one that needed one: its client
                                  stream is done with, or its DNS server stream not read */
    uint64_t stream_clipped;   /* segments cut at the buffer's end */
    uint64_t stream_gaps;      /* segments refused: too many holes */
    uint64_t flows_not_inspected; /* TCP flows whose first client bytes were not TLS/DNS */
    uint64_t events;           /* events handed to the sink */
    uint64_t dns_answers_learnt; /* (client, address) -> name pairs put in the answer cache */
    uint64_t dns_answers_malformed; /* answer sections rejected (records before the error kept) */
    uint64_t answer_named_flows; /* flows without a name on the wire named from the cache */
    uint64_t dns_cname_names;  /* CNAME targets reported from responses */
    uint64_t dns_tcp_responses; /* DNS responses read from the server side of TCP flows */
    uint64_t dns_response_events; /* dns events (evidence dns_response) handed to the sink */
    uint64_t dns_response_unread; /* responses made into no event (tw_engine_config.dns_events) */
    uint64_t dns_https_ech;    /* ... whose SVCB/HTTPS answers carry an ech SvcParam */
    uint64_t dns_rdata_bad;    /* answer records whose RDATA did not parse as their type */
    uint64_t dns_answer_text_cut; /* responses whose answers did not all fit the text space */
    uint64_t http_requests;    /* HTTP request headers read whole (first of a connection) */
    uint64_t http_no_host;     /* ... without a host (HTTP/1.0 without Host, origin-form) */
    uint64_t http_malformed;   /* streams that began like a request and were none */
    uint64_t quic_hellos;      /* ClientHellos read whole from QUIC Initials */
    uint64_t quic_sni;         /* ... with a server_name */
    uint64_t quic_no_state;    /* QUIC flows not read: every QUIC state was in use */
    uint64_t quic_reclaimed;   /* QUIC states taken back from a stalled flow (idle
                                  reclaim_idle seconds), which is then not read */
    uint64_t quic_no_context;  /* ... or the decryption context could not be made */
    uint64_t quic_gave_up;     /* QUIC flows given up after QUIC_PATIENCE datagrams, no hello */
    struct tw_quic_stats quic; /* datagrams, Initials, and every refusal by reason */
};

struct tw_engine;

/* NULL on allocation failure or a zero capacity. */
struct tw_engine *tw_engine_new(const struct tw_engine_config *cfg);
void tw_engine_free(struct tw_engine *e);

struct tw_prefault;
/* Has pf map e's flow table and stream buffers ahead of use (see prefault.h); e outlives pf's
 * thread. 0 or TW_ENOMEM (pf has no room left). */
int tw_engine_prefault(struct tw_engine *e, struct tw_prefault *pf);

/* Processes one frame of the given link type. */
void tw_engine_frame(struct tw_engine *e, int linktype, const struct tw_frame *f);

/* Frames read together, up to this many at once. */
#define TW_ENGINE_BURST 32

/* tw_engine_packet() for n frames decoded already (p[i] of fr[i]), in bursts as below. */
void tw_engine_packets(struct tw_engine *e, const struct tw_frame *fr, const struct tw_pkt *p,
                       unsigned n);

/* Processes n frames (frame i of link type linktype[i]), in order, as tw_engine_frame() would
 * one by one, in bursts: decoded first, their flows' buckets and entries prefetched, then
 * read. Every frame's bytes must stay valid until the call returns. */
void tw_engine_frames(struct tw_engine *e, const int *linktype, const struct tw_frame *f,
                      unsigned n);

/* What a frame is to an engine that shares its input (tw_engine_config.share_n > 1). */
enum tw_share {
    TW_SHARE_UNKNOWN, /* its flow is not read without decoding it: every engine decodes it,
                         the last one counts it */
    TW_SHARE_MINE,    /* of this engine's share: counted here */
    TW_SHARE_OTHER,   /* of another engine's share, which counts it: nothing to read here
                         (unless checksum auto is deciding: see tw_engine_deciding()) */
};

/* What frame f is to e, from tw_decode_peek(): TW_SHARE_UNKNOWN when e does not share. */
enum tw_share tw_engine_share_of(const struct tw_engine *e, int linktype, const struct tw_frame *f);

/* Whether checksum auto is still deciding: then every engine of a share validates every
 * frame (so that all decide alike), TW_SHARE_OTHER ones included. It never starts again. */
bool tw_engine_deciding(const struct tw_engine *e);

/* tw_engine_frames() for an engine that shares its input: seq[i] is frame i's number in the
 * input (increasing: the frames left out are TW_SHARE_OTHER ones, taken while the engine was
 * not deciding), share[i] what tw_engine_share_of() said of it. */
void tw_engine_frames_at(struct tw_engine *e, const int *linktype, const struct tw_frame *f,
                         const uint64_t *seq, const uint8_t *share, unsigned n);

/* The same for a frame the caller decoded already (tw_decode() or tw_prep_decode_deferred()
 * returned 0 for it; p->payload points into f->data): the frame, its bytes and its decoding
 * are counted by the caller, not here. Checksums left pending (p->csum_pending) are validated
 * here, only if the packet is read: a data segment of a flow that is done is counted
 * (bypassed) and nothing else. The reader in front of workers decodes once, for the flow hash, and hands both over. */
void tw_engine_packet(struct tw_engine *e, const struct tw_frame *f, const struct tw_pkt *p);

/*
 * The capture has ended: every flow still open that never carried a name gets its lookup in
 * the DNS answer cache now (as it would at its FIN or eviction), so no connection is left
 * unreported because the capture stopped first. Flows stay in the table.
 */
void tw_engine_flush(struct tw_engine *e);

void tw_engine_get_stats(const struct tw_engine *e, struct tw_engine_stats *st,
                         struct tw_flow_table_stats *fst, uint32_t *stream_high_water);

/* Adds every counter of src to dst (totals over workers). */
void tw_engine_stats_add(struct tw_engine_stats *dst, const struct tw_engine_stats *src);

struct tw_counter {
    const char *name; /* stable snake_case */
    uint64_t value;
};

/*
 * Every skip/anomaly counter of st (decode reasons, then the engine's own), in a stable order.
 * Writes at most cap entries and returns how many there are in all.
 */
size_t tw_engine_anomalies(const struct tw_engine_stats *st, struct tw_counter *out, size_t cap);

#endif /* TUNWATCH_ENGINE_H */
