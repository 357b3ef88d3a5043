/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the QUIC Initial reader. The input is a mode byte, then records, each a
 * 2-byte big-endian length and its bytes (the last one takes what is left).
 *
 *   mode bit 0 clear: each record is a UDP datagram, fed to one flow from an exact-size copy
 *                     and given to tw_quic_header_parse.
 *   mode bit 0 set:   each record is the plaintext frames of a client Initial, sealed here
 *                     (tests/quic_seal.h; version from bits 1..3 of the mode, packet number
 *                     the record's index) so that the frames, the CRYPTO reassembly and the
 *                     ClientHello parser are reached past the AEAD.
 *   mode bit 4 set:   after a hello, tw_quic_expect_second(): a second one may follow.
 *
 * Checks the contracts: the header parser's success lies within its input and one byte less is
 * incomplete, a failure leaves *out zeroed; the flow's ranges stay sorted, apart and within the
 * buffer; a hello is returned at most once (twice with bit 4), its SNI inside the flow's
 * buffer past the hello before it; after the last hello every call says DONE, after a failure
 * FAIL; the input is never written.
 */
#include "tunwatch/proto/quic.h"

#include <stdlib.h>
#include <string.h>

#include "../quic_seal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t versions[8] = {TW_QUIC_V1, TW_QUIC_V2, 0xff00001b, 0xff00001d,
                                     0xff000020, 0xff000021, 0xff000022, TW_QUIC_V1};
static const uint8_t dcid[] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
static const uint8_t scid[] = {0xc1, 0xc2, 0xc3, 0xc4};

static struct tw_quic_ctx *ctx;
static struct tw_quic_flow flow;
static uint8_t sealed[TW_QUIC_DGRAM_MAX];

static void check_header(const uint8_t *buf, size_t len)
{
    struct tw_quic_hdr h, again;
    enum tw_quic_reason why = TW_QR__COUNT;
    int rc = tw_quic_header_parse(buf, len, &h, &why);

    if (rc < 0) {
        if ((rc != TW_EINCOMPLETE && rc != TW_ESKIP && rc != TW_EMALFORMED) ||
            !all_zero(&h, sizeof(h)) || (unsigned)why >= TW_QR__COUNT)
            abort();
        return;
    }
    size_t n = (size_t)rc;
    if (n == 0 || n > len || h.packet_len != n || h.dcid_len > TW_QUIC_CID_MAX ||
        h.scid_len > TW_QUIC_CID_MAX || !tw_quic_version_readable(h.version))
        abort();
    check_slice(h.dcid, h.dcid_len, buf, n);
    check_slice(h.scid, h.scid_len, buf, n);
    check_slice(h.token, h.token_len, buf, n);
    if (h.type == TW_QUIC_PKT_RETRY)
        return;
    if (h.pn_offset + h.length != n)
        abort();
    if (tw_quic_header_parse(buf, n - 1, &again, NULL) != TW_EINCOMPLETE)
        abort();
}

static void check_flow(void)
{
    if (flow.n_ranges > TW_QUIC_RANGES_MAX || flow.n_keys > TW_QUIC_KEY_SLOTS ||
        flow.phase > TW_QUIC_SECOND || flow.hello_base > TW_QUIC_CRYPTO_MAX)
        abort();
    for (unsigned i = 0; i < flow.n_ranges; i++) {
        if (flow.range[i].lo >= flow.range[i].hi || flow.range[i].hi > TW_QUIC_CRYPTO_MAX)
            abort();
        if (i > 0 && flow.range[i - 1].hi >= flow.range[i].lo)
            abort();
    }
}

/* Feeds one datagram from an exact-size copy; checks the verdict against the flow's past. */
static void feed_one(const uint8_t *d, size_t n, struct tw_quic_stats *st, bool *got_hello,
                     bool *failed, bool second)
{
    struct tw_quic_hello h;
    uint8_t *c = malloc(n ? n : 1);

    if (c == NULL)
        return;
    if (n)
        memcpy(c, d, n);
    check_header(c, n);
    enum tw_quic_verdict v = tw_quic_feed(ctx, &flow, c, n, st, &h);
    if (n && memcmp(c, d, n) != 0)
        abort();
    free(c);
    check_flow();
    if (*got_hello && v != TW_QUIC_DONE)
        abort();
    if (*failed && v != TW_QUIC_FAIL)
        abort();
    if (v == TW_QUIC_HELLO) {
        const uint32_t base = flow.hello_base;
        if (*got_hello || st->hellos != (base > 0 ? 2u : 1u) || flow.hello_need < base + 4)
            abort();
        const uint8_t *body = flow.crypto + base + 4;
        size_t body_len = flow.hello_need - base - 4;
        check_slice(h.tls.sni, h.tls.sni_len, body, body_len);
        for (unsigned i = 0; i < h.tls.n_sni && i < TW_TLS_SNI_MAX; i++)
            check_slice(h.tls.snis[i], h.tls.sni_lens[i], body, body_len);
        if (h.tls.n_sni > TW_TLS_SNI_MAX ||
            ((h.tls.flags & (1u << TW_TLS_F_TRUNCATED)) && h.tls.ciphers != NULL))
            abort();
        if (second && base == 0)
            tw_quic_expect_second(&flow);
        else
            *got_hello = true;
    } else if (h.tls.sni != NULL || h.tls.has_sni || h.version != 0) {
        abort();
    }
    if (v == TW_QUIC_FAIL) {
        if (flow.phase != TW_QUIC_FAILED || flow.fail_reason >= TW_QR__COUNT)
            abort();
        *failed = true;
    }
    if ((unsigned)v > TW_QUIC_FAIL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tw_quic_stats st;
    bool got_hello = false, failed = false;

    if (ctx == NULL && (ctx = tw_quic_ctx_new()) == NULL)
        abort();
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    tw_quic_flow_init(&flow);
    memset(&st, 0, sizeof(st));
    size_t off = 1;
    for (uint32_t i = 0; off < size && i < 64; i++) {
        size_t n = size - off >= 2 ? (size_t)data[off] << 8 | data[off + 1] : 0;
        off += 2;
        if (off > size)
            break;
        if (n > size - off)
            n = size - off;
        const uint8_t *rec = data + off;
        off += n;
        if (!(mode & 1)) {
            feed_one(rec, n, &st, &got_hello, &failed, mode & 0x10);
            continue;
        }
        struct seal s = {.version = versions[(mode >> 1) & 7],
                         .type = TW_QUIC_PKT_INITIAL,
                         .dcid = dcid,
                         .dcid_len = sizeof(dcid),
                         .scid = scid,
                         .scid_len = sizeof(scid),
                         .pn = i,
                         .pn_len = 1 + (i & 3)};
        size_t len = seal_padded(ctx, &s, rec, n, 1200, sealed, sizeof(sealed));
        if (len > 0)
            feed_one(sealed, len, &st, &got_hello, &failed, mode & 0x10);
    }
    if (st.hellos > ((mode & 0x10) ? 2u : 1u))
        abort();
    return 0;
}
