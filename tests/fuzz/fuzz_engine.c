/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the stateful packet path: the input is a sequence of Ethernet frames,
 * each preceded by a 2-byte big-endian length, fed in order to one engine with tiny tables
 * (8 flows, 2 reassembly buffers, 2 mid-stream buffers, 1 large buffer for hellos over 24 KiB
 * with a 16 KiB hello bound, a 16-entry DNS answer cache) so eviction, reassembly limits,
 * mid-stream pickup, the move into a large buffer, buffers and QUIC states taken back from
 * flows idle 2 s, DNS answers over UDP and TCP, CNAME events and the end-of-capture flush are
 * all reached.
 * Each frame is copied into an exact-size buffer; events are checked for their invariants.
 * The input's length modulo 4 picks the way in: frames one by one or in bursts of up to
 * TW_ENGINE_BURST (tw_engine_frames: prefetched lookups), with or without IP reassembly and
 * checksum validation (checksums then left pending until a packet is read, and bypassed).
 */
#include "tunwatch/inspect/engine.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_event(void *ctx, const struct tw_event *ev)
{
    (void)ctx;
    if (ev->raw_len > TW_NAME_MAX - 1 || ev->norm_len > ev->raw_len ||
        ev->norm[ev->norm_len] != '\0' || (unsigned)ev->category >= TW_CAT__COUNT ||
        (unsigned)ev->evidence >= TW_EV__COUNT || (ev->ip_version != 4 && ev->ip_version != 6))
        abort();
    if (ev->answer_name != NULL && strlen(ev->answer_name) >= TW_ANSCACHE_TEXT_MAX)
        abort();
    if (ev->answer_chain != NULL && strlen(ev->answer_chain) >= TW_ANSCACHE_TEXT_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tw_anscache_config ac = {16, 60, 86400, 2};
    struct tw_anscache *cache = tw_anscache_new(&ac);
    struct tw_engine_config cfg = {
        .flow_capacity = 8,
        .flow_timeout = 30,
        .stream_buffers = 2,
        .tls_max_hello = 16384,
        .tls_big_buffers = 1,
        .midstream_buffers = 2,
        .quic_states = 2,
        .reclaim_idle = 2,
        .sink = check_event,
        .anscache = cache,
    };
    struct tw_engine *e;
    int64_t t = 1700000000;
    struct tw_prep_config pc = {.defrag = TW_DEFRAG_CONFIG_DEFAULT, .checksums = TW_CSUM_AUTO};
    bool bursts = size % 4 >= 2;
    struct tw_frame fb[TW_ENGINE_BURST];
    int lt[TW_ENGINE_BURST];
    unsigned nb = 0;

    if (cache == NULL)
        return 0;
    tw_homenet_default(&cfg.home);
    pc.defrag.max_datagrams = 4;
    pc.defrag.memory = tw_defrag_min_memory(&pc.defrag) + (16u << 10);
    if (size % 2)
        cfg.prep = &pc;
    e = tw_engine_new(&cfg);
    if (e == NULL) {
        tw_anscache_free(cache);
        return 0;
    }
    while (size >= 2) {
        size_t n = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (n > size)
            n = size;
        uint8_t *buf = malloc(n ? n : 1);
        if (buf == NULL)
            break;
        memcpy(buf, data, n);
        /* time moves by 0..3 s a frame (from the frame's last byte): idle expiry happens */
        t += n ? buf[n - 1] & 3 : 1;
        struct tw_frame f = {.ts_sec = t, .ts_nsec = 0, .caplen = (uint32_t)n,
                             .wirelen = (uint32_t)n, .data = buf};
        data += n;
        size -= n;
        if (!bursts) {
            tw_engine_frame(e, TW_LINK_ETHERNET, &f);
            free(buf);
            continue;
        }
        /* Every frame of a burst stays valid until the burst is read. */
        fb[nb] = f;
        lt[nb++] = TW_LINK_ETHERNET;
        if (nb == TW_ENGINE_BURST || size < 2 || (n > 0 && buf[0] == 0xff)) {
            tw_engine_frames(e, lt, fb, nb);
            for (unsigned i = 0; i < nb; i++)
                free((void *)fb[i].data);
            nb = 0;
        }
    }
    if (nb > 0) {
        tw_engine_frames(e, lt, fb, nb);
        for (unsigned i = 0; i < nb; i++)
            free((void *)fb[i].data);
    }
    tw_engine_flush(e);
    tw_engine_free(e);
    tw_anscache_free(cache);
    return 0;
}
