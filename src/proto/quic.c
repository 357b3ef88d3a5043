/* SPDX-License-Identifier: MIT */
/*
 * QUIC Initial packets: long header framing (RFC 9000 17.2), Initial packet protection
 * (RFC 9001 5, RFC 9369 3.3), the frames an Initial may carry (RFC 9000 12.4, 19) and the
 * reassembly of the client's CRYPTO stream up to its ClientHello.
 */
#include "tunwatch/proto/quic.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#define VARINT_MAX ((UINT64_C(1) << 62) - 1)
#define SECRET_LEN 32 /* SHA-256 */
#define LABEL_MAX 64

/* Frame types an Initial may carry (RFC 9000 table 3, column "Pkts" holding I). */
enum {
    FRAME_PADDING = 0x00,
    FRAME_PING = 0x01,
    FRAME_ACK = 0x02,
    FRAME_ACK_ECN = 0x03,
    FRAME_CRYPTO = 0x06,
    FRAME_CONNECTION_CLOSE = 0x1c,
};

struct tw_quic_ctx {
    EVP_CIPHER_CTX *gcm;
    EVP_CIPHER_CTX *ecb;
    EVP_KDF_CTX *kdf;
    uint8_t scratch[TW_QUIC_SCRATCH_MAX];
};

enum frame_coding {
    FRAMES_IETF,  /* RFC 9000 19 */
    FRAMES_GQUIC, /* Google QUIC T050/T051: its own frame types and ACK layout */
};

struct version_info {
    uint32_t lo, hi; /* versions lo..hi */
    uint8_t salt[20];
    const char *key_label, *iv_label, *hp_label;
    bool v2_types;  /* RFC 9369 3.2 packet type bits */
    uint8_t frames; /* enum frame_coding */
};

#define SALT_V1                                                                                    \
    {                                                                                              \
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,  \
            0xad, 0xcc, 0xbb, 0x7f, 0x0a                                                           \
    }
#define SALT_DRAFT29                                                                               \
    {                                                                                              \
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,  \
            0xe0, 0x43, 0x90, 0xa8, 0x99                                                           \
    }
#define SALT_DRAFT23                                                                               \
    {                                                                                              \
        0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63,  \
            0x65, 0xbe, 0xf9, 0xf5, 0x02                                                           \
    }
#define SALT_DRAFT22                                                                               \
    {                                                                                              \
        0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e,  \
            0xbd, 0x7a, 0x02, 0x64, 0x4a                                                           \
    }
#define LABELS_V1 "quic key", "quic iv", "quic hp"

/*
 * Salts from RFC 9001 5.2, RFC 9369 3.3.1, draft-ietf-quic-v2-01 3.3.1 and
 * draft-ietf-quic-tls-22..34 section 5.2; mvfst's
 * versions take those of the drafts they were cut from, T050 and T051 the salts Chromium gave
 * them. Entry 0 (version 1) and entry VI_DRAFT29 are the salts tried for versions not listed.
 */
static const struct version_info versions[] = {
    {TW_QUIC_V1, TW_QUIC_V1, SALT_V1, LABELS_V1, false, FRAMES_IETF},
    {TW_QUIC_V2,
     TW_QUIC_V2,
     {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
      0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
     "quicv2 key",
     "quicv2 iv",
     "quicv2 hp",
     true,
     FRAMES_IETF},
    /* draft-29 to draft-32 */
    {0xff00001d, 0xff000020, SALT_DRAFT29, LABELS_V1, false, FRAMES_IETF},
    /* draft-33, draft-34: the salt RFC 9001 kept */
    {0xff000021, 0xff000022, SALT_V1, LABELS_V1, false, FRAMES_IETF},
    /* draft-23 to draft-28 */
    {0xff000017, 0xff00001c, SALT_DRAFT23, LABELS_V1, false, FRAMES_IETF},
    /* draft-22 */
    {0xff000016, 0xff000016, SALT_DRAFT22, LABELS_V1, false, FRAMES_IETF},
    {TW_QUIC_MVFST_D22, TW_QUIC_MVFST_D22, SALT_DRAFT22, LABELS_V1, false, FRAMES_IETF},
    {TW_QUIC_MVFST_D27, TW_QUIC_MVFST_D27, SALT_DRAFT23, LABELS_V1, false, FRAMES_IETF},
    {TW_QUIC_MVFST_EXP, TW_QUIC_MVFST_EXP, SALT_DRAFT23, LABELS_V1, false, FRAMES_IETF},
    {TW_QUIC_T050,
     TW_QUIC_T050,
     {0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80,
      0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c, 0x60, 0x48, 0x83, 0x10},
     LABELS_V1,
     false,
     FRAMES_GQUIC},
    {TW_QUIC_T051,
     TW_QUIC_T051,
     {0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50,
      0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d},
     LABELS_V1,
     false,
     FRAMES_GQUIC},
    /* draft-ietf-quic-v2-01 to -10 (ngtcp2 0.x "v2draft"): RFC 9369's labels and packet
     * types under the draft's version number and salt */
    {TW_QUIC_V2_DRAFT,
     TW_QUIC_V2_DRAFT,
     {0xa7, 0x07, 0xc2, 0x03, 0xa5, 0x9b, 0x47, 0x18, 0x4a, 0x1d,
      0x62, 0xca, 0x57, 0x04, 0x06, 0xea, 0x7a, 0xe3, 0xe5, 0xd3},
     "quicv2 key",
     "quicv2 iv",
     "quicv2 hp",
     true,
     FRAMES_IETF},
};
#define VI_V1 0
#define VI_DRAFT29 2

/* The salts tried, in this order, for a version not listed. */
static const struct version_info *const trial[] = {&versions[VI_V1], &versions[VI_DRAFT29]};

/* Every reason with its name: for tw_quic_reason_name, and prefixed for counters. */
#define QUIC_REASONS(X)                                                                            \
    X(TW_QR_NOT_LONG_HEADER, "not_long_header")                                                    \
    X(TW_QR_NO_FIXED_BIT, "no_fixed_bit")                                                          \
    X(TW_QR_VERSION_NEGOTIATION, "version_negotiation")                                            \
    X(TW_QR_UNKNOWN_VERSION, "unknown_version")                                                    \
    X(TW_QR_BAD_CID_LEN, "bad_cid_len")                                                            \
    X(TW_QR_HEADER_TRUNCATED, "header_truncated")                                                  \
    X(TW_QR_SHORT_PACKET, "short_packet")                                                          \
    X(TW_QR_BAD_LENGTH, "bad_length")                                                              \
    X(TW_QR_HP_SAMPLE_SHORT, "hp_sample_short")                                                    \
    X(TW_QR_PACKET_TOO_BIG, "packet_too_big")                                                      \
    X(TW_QR_KEY_DERIVE_FAILED, "key_derive_failed")                                                \
    X(TW_QR_DECRYPT_FAILED, "decrypt_failed")                                                      \
    X(TW_QR_RESERVED_BITS, "reserved_bits")                                                        \
    X(TW_QR_EMPTY_PAYLOAD, "empty_payload")                                                        \
    X(TW_QR_BAD_FRAME, "bad_frame")                                                                \
    X(TW_QR_FRAME_TRUNCATED, "frame_truncated")                                                    \
    X(TW_QR_BAD_ACK, "bad_ack")                                                                    \
    X(TW_QR_CONNECTION_CLOSE, "connection_close")                                                  \
    X(TW_QR_CRYPTO_OUT_OF_BOUNDS, "crypto_out_of_bounds")                                          \
    X(TW_QR_CRYPTO_GAP_LIMIT, "crypto_gap_limit")                                                  \
    X(TW_QR_CRYPTO_CONFLICT, "crypto_conflict")                                                    \
    X(TW_QR_CRYPTO_DUP, "crypto_dup")                                                              \
    X(TW_QR_NOT_CLIENT_HELLO, "not_client_hello")                                                  \
    X(TW_QR_CRYPTO_BUFFER_FULL, "crypto_buffer_full")                                              \
    X(TW_QR_HELLO_MALFORMED, "hello_malformed")                                                    \
    X(TW_QR_OTHER_LONG_TYPE, "other_long_type")                                                    \
    X(TW_QR_RETRY, "retry")                                                                        \
    X(TW_QR_RETRY_SHORT, "retry_short")                                                            \
    X(TW_QR_SERVER_PACKET, "server_packet")                                                        \
    X(TW_QR_TRAILING_BYTES, "trailing_bytes")                                                      \
    X(TW_QR_SHORT_DATAGRAM, "short_datagram")                                                      \
    X(TW_QR_VERSION_CHANGED, "version_changed")                                                    \
    X(TW_QR_REKEY, "rekey")                                                                        \
    X(TW_QR_UNKNOWN_VERSION_READ, "unknown_version_read")

#define REASON_NAME(e, n) [e] = n,
#define REASON_COUNTER(e, n) [e] = "quic_" n,
static const char *const reason_names[TW_QR__COUNT] = {QUIC_REASONS(REASON_NAME)};
static const char *const reason_counters[TW_QR__COUNT] = {QUIC_REASONS(REASON_COUNTER)};

const char *tw_quic_reason_name(enum tw_quic_reason r)
{
    if ((unsigned)r >= TW_QR__COUNT || reason_names[r] == NULL)
        return "unknown";
    return reason_names[r];
}

const char *tw_quic_reason_counter(enum tw_quic_reason r)
{
    if ((unsigned)r >= TW_QR__COUNT || reason_counters[r] == NULL)
        return "quic_unknown";
    return reason_counters[r];
}

bool tw_quic_reason_is_benign(enum tw_quic_reason r)
{
    switch (r) {
    case TW_QR_NOT_LONG_HEADER:
    case TW_QR_VERSION_NEGOTIATION:
    case TW_QR_UNKNOWN_VERSION:
    case TW_QR_CONNECTION_CLOSE:
    case TW_QR_CRYPTO_DUP:
    case TW_QR_OTHER_LONG_TYPE:
    case TW_QR_RETRY:
    case TW_QR_SERVER_PACKET:
    case TW_QR_REKEY:
    case TW_QR_UNKNOWN_VERSION_READ:
        return true;
    default:
        return false;
    }
}

const char *tw_quic_verdict_name(enum tw_quic_verdict v)
{
    static const char *const names[] = {
        [TW_QUIC_SKIP] = "skip", [TW_QUIC_MORE] = "more", [TW_QUIC_HELLO] = "hello",
        [TW_QUIC_DONE] = "done", [TW_QUIC_DROP] = "drop", [TW_QUIC_FAIL] = "fail",
    };
    if ((unsigned)v >= TW_ARRAY_SIZE(names))
        return "unknown";
    return names[v];
}

static const struct version_info *version_find(uint32_t version)
{
    for (size_t i = 0; i < TW_ARRAY_SIZE(versions); i++)
        if (version >= versions[i].lo && version <= versions[i].hi)
            return &versions[i];
    return NULL;
}

bool tw_quic_version_known(uint32_t version)
{
    return version_find(version) != NULL;
}

bool tw_quic_version_readable(uint32_t version)
{
    /* Google QUIC 'Q' versions hold its own handshake, not TLS */
    return version != 0 && (version_find(version) != NULL || version >> 24 != 'Q');
}

/* ---------------------------------------------------------------- context */

struct tw_quic_ctx *tw_quic_ctx_new(void)
{
    struct tw_quic_ctx *ctx = calloc(1, sizeof(*ctx));
    EVP_KDF *kdf = NULL;

    if (ctx == NULL)
        return NULL;
    ctx->gcm = EVP_CIPHER_CTX_new();
    ctx->ecb = EVP_CIPHER_CTX_new();
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf != NULL)
        ctx->kdf = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx->gcm == NULL || ctx->ecb == NULL || ctx->kdf == NULL)
        goto out_free;
    if (EVP_DecryptInit_ex(ctx->gcm, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx->ecb, EVP_aes_128_ecb(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx->ecb, 0) != 1)
        goto out_free;
    return ctx;

out_free:
    tw_quic_ctx_free(ctx);
    return NULL;
}

void tw_quic_ctx_free(struct tw_quic_ctx *ctx)
{
    if (ctx == NULL)
        return;
    EVP_CIPHER_CTX_free(ctx->gcm);
    EVP_CIPHER_CTX_free(ctx->ecb);
    EVP_KDF_CTX_free(ctx->kdf);
    free(ctx);
}

/* ----------------------------------------------------------------- header */

/* A variable-length integer (RFC 9000 16); 0 and c->err when it does not fit. */
static uint64_t get_varint(struct tw_cur *c)
{
    uint8_t b = tw_get_u8(c);
    size_t n = (size_t)1 << (b >> 6);
    uint64_t v = b & 0x3f;

    for (size_t i = 1; i < n; i++)
        v = v << 8 | tw_get_u8(c);
    return c->err ? 0 : v;
}

static int refuse(enum tw_quic_reason *why, enum tw_quic_reason r, int rc)
{
    if (why != NULL)
        *why = r;
    return rc;
}

/* The version-independent type of a long header's first byte. */
static uint8_t long_type(const struct version_info *vi, uint8_t first)
{
    uint8_t bits = (first >> 4) & 3;

    /* v2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00 */
    return vi->v2_types ? (uint8_t)((bits + 3) & 3) : bits;
}

static int header_parse(const uint8_t *buf, size_t len, struct tw_quic_hdr *out,
                        enum tw_quic_reason *why)
{
    struct tw_cur c;
    const struct version_info *vi;

    memset(out, 0, sizeof(*out));
    tw_cur_init(&c, buf, len);
    out->first = tw_get_u8(&c);
    out->version = tw_get_be32(&c);
    if (len >= 1 && !(out->first & 0x80))
        return refuse(why, TW_QR_NOT_LONG_HEADER, TW_ESKIP);
    if (c.err)
        return refuse(why, TW_QR_HEADER_TRUNCATED, TW_EINCOMPLETE);
    if (out->version == 0)
        return refuse(why, TW_QR_VERSION_NEGOTIATION, TW_ESKIP);
    if (!tw_quic_version_readable(out->version))
        return refuse(why, TW_QR_UNKNOWN_VERSION, TW_ESKIP);
    vi = version_find(out->version);
    if (vi == NULL)
        vi = &versions[VI_V1]; /* not listed: read as version 1, its keys found by trial */
    if (!(out->first & 0x40))
        return refuse(why, TW_QR_NO_FIXED_BIT, TW_EMALFORMED);
    out->type = long_type(vi, out->first);

    out->dcid_len = tw_get_u8(&c);
    if (!c.err && out->dcid_len > TW_QUIC_CID_MAX)
        return refuse(why, TW_QR_BAD_CID_LEN, TW_EMALFORMED);
    out->dcid = tw_get_bytes(&c, out->dcid_len);
    out->scid_len = tw_get_u8(&c);
    if (!c.err && out->scid_len > TW_QUIC_CID_MAX)
        return refuse(why, TW_QR_BAD_CID_LEN, TW_EMALFORMED);
    out->scid = tw_get_bytes(&c, out->scid_len);
    if (c.err)
        return refuse(why, TW_QR_HEADER_TRUNCATED, TW_EINCOMPLETE);

    if (out->type == TW_QUIC_PKT_RETRY) {
        /* a token to the end of the datagram, then the integrity tag */
        if (tw_cur_left(&c) < TW_QUIC_TAG_LEN)
            return refuse(why, TW_QR_RETRY_SHORT, TW_EINCOMPLETE);
        out->token_len = tw_cur_left(&c) - TW_QUIC_TAG_LEN;
        out->token = out->token_len ? c.p : NULL;
        out->packet_len = len;
        goto out_ok;
    }
    if (out->type == TW_QUIC_PKT_INITIAL) {
        uint64_t tl = get_varint(&c);
        if (!c.err && tl > TW_QUIC_DGRAM_MAX)
            return refuse(why, TW_QR_BAD_LENGTH, TW_EMALFORMED);
        out->token_len = (size_t)tl;
        out->token = tw_get_bytes(&c, out->token_len);
        if (out->token_len == 0)
            out->token = NULL;
    }
    uint64_t length = get_varint(&c);
    if (c.err)
        return refuse(why, TW_QR_HEADER_TRUNCATED, TW_EINCOMPLETE);
    if (length > TW_QUIC_DGRAM_MAX)
        return refuse(why, TW_QR_BAD_LENGTH, TW_EMALFORMED);
    out->length = (size_t)length;
    out->pn_offset = (size_t)(c.p - buf);
    if (tw_cur_left(&c) < out->length)
        return refuse(why, TW_QR_SHORT_PACKET, TW_EINCOMPLETE);
    out->packet_len = out->pn_offset + out->length;

out_ok:
    if (out->dcid_len == 0)
        out->dcid = NULL;
    if (out->scid_len == 0)
        out->scid = NULL;
    return (int)out->packet_len;
}

int tw_quic_header_parse(const uint8_t *buf, size_t len, struct tw_quic_hdr *out,
                         enum tw_quic_reason *why)
{
    int rc = header_parse(buf, len, out, why);

    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ------------------------------------------------------------------- keys */

static int hkdf(struct tw_quic_ctx *ctx, int mode, const uint8_t *key, size_t key_len,
                const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len,
                uint8_t *out, size_t out_len)
{
    OSSL_PARAM p[6], *q = p;
    /* HKDF-Extract of an empty DCID: libcrypto wants a key, HMAC pads it with zeros anyway */
    static const uint8_t zero = 0;

    *q++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(key_len ? key : &zero),
                                             key_len ? key_len : 1);
    if (salt != NULL)
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    if (info != NULL)
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *q = OSSL_PARAM_construct_end();
    return EVP_KDF_derive(ctx->kdf, out, out_len, p) == 1 ? 0 : TW_EMALFORMED;
}

/* HKDF-Expand-Label(secret, label, "", out_len) of TLS 1.3 (RFC 8446 7.1). */
static int expand_label(struct tw_quic_ctx *ctx, const uint8_t secret[SECRET_LEN],
                        const char *label, uint8_t *out, size_t out_len)
{
    static const char prefix[] = "tls13 ";
    uint8_t info[2 + 1 + LABEL_MAX + 1];
    size_t pl = sizeof(prefix) - 1, ll = strlen(label), n = 0;

    if (pl + ll > LABEL_MAX)
        return TW_EINVAL;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(pl + ll);
    memcpy(info + n, prefix, pl);
    n += pl;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0; /* empty context */
    return hkdf(ctx, EVP_KDF_HKDF_MODE_EXPAND_ONLY, secret, SECRET_LEN, NULL, 0, info, n, out,
                out_len);
}

/* Derives the client's Initial keys with the salt and labels of `vi`, for `version`. */
static int keys_derive(struct tw_quic_ctx *ctx, const struct version_info *vi, uint32_t version,
                       const uint8_t *dcid, size_t dcid_len, struct tw_quic_keys *out)
{
    uint8_t initial[SECRET_LEN], client[SECRET_LEN];
    int rc = TW_EMALFORMED;

    memset(out, 0, sizeof(*out));
    if (dcid_len > TW_QUIC_CID_MAX)
        return TW_EINVAL;
    out->version = version;
    out->cid_len = (uint8_t)dcid_len;
    if (dcid_len)
        memcpy(out->cid, dcid, dcid_len);
    if (hkdf(ctx, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, dcid, dcid_len, vi->salt, sizeof(vi->salt), NULL,
             0, initial, sizeof(initial)) == 0 &&
        expand_label(ctx, initial, "client in", client, sizeof(client)) == 0 &&
        expand_label(ctx, client, vi->key_label, out->key, sizeof(out->key)) == 0 &&
        expand_label(ctx, client, vi->iv_label, out->iv, sizeof(out->iv)) == 0 &&
        expand_label(ctx, client, vi->hp_label, out->hp, sizeof(out->hp)) == 0)
        rc = 0;
    OPENSSL_cleanse(initial, sizeof(initial));
    OPENSSL_cleanse(client, sizeof(client));
    return rc;
}

int tw_quic_keys_derive(struct tw_quic_ctx *ctx, uint32_t version, const uint8_t *dcid,
                        size_t dcid_len, struct tw_quic_keys *out)
{
    const struct version_info *vi = version_find(version);

    if (vi == NULL) {
        memset(out, 0, sizeof(*out));
        return TW_EINVAL;
    }
    return keys_derive(ctx, vi, version, dcid, dcid_len, out);
}

/* ------------------------------------------------------------- protection */

int tw_quic_packet_open(struct tw_quic_ctx *ctx, const struct tw_quic_keys *k, const uint8_t *pkt,
                        const struct tw_quic_hdr *h, struct tw_quic_plain *out,
                        enum tw_quic_reason *why)
{
    uint8_t mask[TW_QUIC_SAMPLE_LEN], pnb[4], nonce[12], tag[TW_QUIC_TAG_LEN];
    const uint8_t *ct;
    size_t ct_len;
    int outl = 0, finl = 0;

    memset(out, 0, sizeof(*out));
    if (h->type == TW_QUIC_PKT_RETRY || h->pn_offset < 7)
        return refuse(why, TW_QR_HEADER_TRUNCATED, TW_EMALFORMED);
    /* the sample starts 4 bytes after the packet number's start (RFC 9001 5.4.2) */
    if (h->length < 4 + TW_QUIC_SAMPLE_LEN)
        return refuse(why, TW_QR_HP_SAMPLE_SHORT, TW_EMALFORMED);
    if (EVP_EncryptInit_ex(ctx->ecb, NULL, NULL, k->hp, NULL) != 1 ||
        EVP_EncryptUpdate(ctx->ecb, mask, &outl, pkt + h->pn_offset + 4, TW_QUIC_SAMPLE_LEN) != 1 ||
        outl != TW_QUIC_SAMPLE_LEN)
        return refuse(why, TW_QR_DECRYPT_FAILED, TW_EMALFORMED);
    out->first = (uint8_t)(h->first ^ (mask[0] & 0x0f));
    out->pn_len = (uint8_t)((out->first & 3) + 1);
    for (size_t i = 0; i < out->pn_len; i++) {
        pnb[i] = pkt[h->pn_offset + i] ^ mask[1 + i];
        out->pn = out->pn << 8 | pnb[i];
    }
    /* length >= 20 >= pn_len + tag: the payload may be empty, never negative */
    ct = pkt + h->pn_offset + out->pn_len;
    ct_len = h->length - out->pn_len - TW_QUIC_TAG_LEN;
    if (ct_len > TW_QUIC_SCRATCH_MAX)
        return refuse(why, TW_QR_PACKET_TOO_BIG, TW_EMALFORMED);
    memcpy(nonce, k->iv, sizeof(nonce));
    for (size_t i = 0; i < 8; i++)
        nonce[sizeof(nonce) - 1 - i] ^= (uint8_t)(out->pn >> (8 * i));
    memcpy(tag, ct + ct_len, sizeof(tag));

    /* associated data: the header with protection removed, fed in three pieces */
    if (EVP_DecryptInit_ex(ctx->gcm, NULL, NULL, k->key, nonce) != 1 ||
        EVP_DecryptUpdate(ctx->gcm, NULL, &outl, &out->first, 1) != 1 ||
        EVP_DecryptUpdate(ctx->gcm, NULL, &outl, pkt + 1, (int)(h->pn_offset - 1)) != 1 ||
        EVP_DecryptUpdate(ctx->gcm, NULL, &outl, pnb, out->pn_len) != 1)
        return refuse(why, TW_QR_DECRYPT_FAILED, TW_EMALFORMED);
    outl = 0;
    if (ct_len > 0 && EVP_DecryptUpdate(ctx->gcm, ctx->scratch, &outl, ct, (int)ct_len) != 1)
        return refuse(why, TW_QR_DECRYPT_FAILED, TW_EMALFORMED);
    if (EVP_CIPHER_CTX_ctrl(ctx->gcm, EVP_CTRL_GCM_SET_TAG, sizeof(tag), tag) != 1 ||
        EVP_DecryptFinal_ex(ctx->gcm, ctx->scratch + outl, &finl) != 1 ||
        (size_t)outl + (size_t)finl != ct_len) {
        memset(out, 0, sizeof(*out));
        return refuse(why, TW_QR_DECRYPT_FAILED, TW_EMALFORMED);
    }
    /* reserved bits, judged only once the packet is authentic (RFC 9000 17.2) */
    if (out->first & 0x0c) {
        memset(out, 0, sizeof(*out));
        return refuse(why, TW_QR_RESERVED_BITS, TW_EMALFORMED);
    }
    out->payload = ctx->scratch;
    out->payload_len = ct_len;
    return 0;
}

/* ------------------------------------------------------------------ flows */

void tw_quic_flow_init(struct tw_quic_flow *f)
{
    /* the CRYPTO buffer is only read where range[] says it was written */
    memset(f, 0, offsetof(struct tw_quic_flow, crypto));
}

static void count(struct tw_quic_stats *st, enum tw_quic_reason r)
{
    st->reason[r]++;
}

static bool cid_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/*
 * Opens an Initial with the flow's keys: those of its DCID if cached; else those that
 * worked last (the client moved to the server's connection ID, keeping its keys); else new
 * keys from its DCID (the first Initial, or the first after a Retry). A version not listed gets
 * the keys of the first trial salt that authenticates the packet; when none does, TW_ESKIP with
 * TW_QR_UNKNOWN_VERSION, remembered for that DCID so it is not tried again.
 */
static int open_initial(struct tw_quic_ctx *ctx, struct tw_quic_flow *f, const uint8_t *pkt,
                        const struct tw_quic_hdr *h, struct tw_quic_stats *st,
                        struct tw_quic_plain *pl, enum tw_quic_reason *why)
{
    const struct version_info *vi = version_find(h->version);
    const struct version_info *const *cand = vi != NULL ? &vi : trial;
    size_t n_cand = vi != NULL ? 1 : TW_ARRAY_SIZE(trial);
    int rc = TW_EMALFORMED;

    for (unsigned i = 0; i < f->n_keys; i++) {
        const struct tw_quic_keys *k = &f->keys[i];
        if (k->version == h->version && cid_eq(k->cid, k->cid_len, h->dcid, h->dcid_len)) {
            rc = tw_quic_packet_open(ctx, k, pkt, h, pl, why);
            if (rc == 0)
                f->cur_key = (uint8_t)i;
            return rc;
        }
    }
    if (f->n_keys > 0 && f->keys[f->cur_key].version == h->version) {
        rc = tw_quic_packet_open(ctx, &f->keys[f->cur_key], pkt, h, pl, why);
        if (rc == 0 || *why != TW_QR_DECRYPT_FAILED)
            return rc;
    }
    if (vi == NULL && f->miss_version == h->version &&
        cid_eq(f->miss_cid, f->miss_cid_len, h->dcid, h->dcid_len)) {
        *why = TW_QR_UNKNOWN_VERSION;
        return TW_ESKIP;
    }
    unsigned slot = f->n_keys < TW_QUIC_KEY_SLOTS ? f->n_keys : (f->cur_key + 1u) % f->n_keys;
    struct tw_quic_keys *k = &f->keys[slot];
    for (size_t c = 0; c < n_cand; c++) {
        if (keys_derive(ctx, cand[c], h->version, h->dcid, h->dcid_len, k) != 0) {
            memset(k, 0, sizeof(*k));
            *why = TW_QR_KEY_DERIVE_FAILED;
            return TW_EMALFORMED;
        }
        rc = tw_quic_packet_open(ctx, k, pkt, h, pl, why);
        /* a refusal other than the tag's does not depend on the salt */
        if (rc == 0 || *why != TW_QR_DECRYPT_FAILED)
            break;
    }
    if (vi == NULL && rc != 0 && *why == TW_QR_DECRYPT_FAILED) {
        memset(k, 0, sizeof(*k));
        f->miss_version = h->version;
        f->miss_cid_len = h->dcid_len;
        if (h->dcid_len)
            memcpy(f->miss_cid, h->dcid, h->dcid_len);
        *why = TW_QR_UNKNOWN_VERSION;
        return TW_ESKIP;
    }
    if (slot == f->n_keys)
        f->n_keys++;
    if (rc == 0) {
        if (vi == NULL) {
            count(st, TW_QR_UNKNOWN_VERSION_READ);
            f->flags |= TW_QUIC_F_UNKNOWN_VERSION;
        }
        if (f->n_initial > 0) {
            count(st, TW_QR_REKEY);
            f->flags |= TW_QUIC_F_REKEYED;
        }
        f->cur_key = (uint8_t)slot;
    }
    return rc;
}

/*
 * Puts CRYPTO bytes [off, off + n) into the flow's buffer. Bytes already held are kept (a
 * resend that differs is counted as a conflict); bytes past TW_QUIC_CRYPTO_MAX and frames that
 * would need more ranges than TW_QUIC_RANGES_MAX are dropped and counted.
 */
static void crypto_put(struct tw_quic_flow *f, struct tw_quic_stats *st, uint64_t off,
                       const uint8_t *data, size_t n)
{
    size_t lo, hi, pos, k = 0, nr = f->n_ranges;
    bool dup = false, conflict = false;

    if (n == 0)
        return;
    if (off + n > TW_QUIC_CRYPTO_MAX) {
        count(st, TW_QR_CRYPTO_OUT_OF_BOUNDS);
        f->flags |= TW_QUIC_F_CRYPTO_DROPPED;
        if (off >= TW_QUIC_CRYPTO_MAX)
            return;
        n = TW_QUIC_CRYPTO_MAX - (size_t)off;
    }
    lo = (size_t)off;
    hi = lo + n;
    /* ranges that touch or overlap [lo, hi) merge into one */
    for (size_t i = 0; i < nr; i++)
        if (f->range[i].hi >= lo && f->range[i].lo <= hi)
            k++;
    if (nr - k + 1 > TW_QUIC_RANGES_MAX) {
        count(st, TW_QR_CRYPTO_GAP_LIMIT);
        f->flags |= TW_QUIC_F_CRYPTO_DROPPED;
        return;
    }
    /* copy the bytes not held, compare those that are */
    pos = lo;
    for (size_t i = 0; i < nr && pos < hi; i++) {
        size_t rl = f->range[i].lo, rh = f->range[i].hi;
        if (rh <= pos)
            continue;
        if (rl >= hi)
            break;
        if (rl > pos)
            memcpy(f->crypto + pos, data + (pos - lo), rl - pos);
        size_t a = TW_MAX(pos, rl), b = TW_MIN(hi, rh);
        dup = true;
        if (memcmp(f->crypto + a, data + (a - lo), b - a) != 0)
            conflict = true;
        pos = b;
    }
    if (pos < hi)
        memcpy(f->crypto + pos, data + (pos - lo), hi - pos);
    if (conflict) {
        count(st, TW_QR_CRYPTO_CONFLICT);
        f->flags |= TW_QUIC_F_CRYPTO_CONFLICT;
    } else if (dup) {
        count(st, TW_QR_CRYPTO_DUP);
    }

    /* merge */
    size_t i = 0, mlo = lo, mhi = hi;
    while (i < nr && f->range[i].hi < lo)
        i++;
    size_t first = i;
    while (i < nr && f->range[i].lo <= hi) {
        mlo = TW_MIN(mlo, f->range[i].lo);
        mhi = TW_MAX(mhi, f->range[i].hi);
        i++;
    }
    size_t rest = nr - i;
    memmove(&f->range[first + 1], &f->range[i], rest * sizeof(f->range[0]));
    f->range[first].lo = (uint16_t)mlo;
    f->range[first].hi = (uint16_t)mhi;
    f->n_ranges = (uint8_t)(first + 1 + rest);
    if (mlo > 0)
        f->flags |= TW_QUIC_F_REORDERED;
}

/* Skips an ACK frame's fields after its type, checking its ranges (RFC 9000 19.3.1). */
static int skip_ack(struct tw_cur *c, bool ecn, enum tw_quic_reason *why)
{
    uint64_t largest = get_varint(c);
    (void)get_varint(c); /* ACK Delay */
    uint64_t n = get_varint(c);
    uint64_t smallest = get_varint(c); /* First ACK Range, for now */

    if (c->err)
        return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
    if (smallest > largest)
        return refuse(why, TW_QR_BAD_ACK, TW_EMALFORMED);
    smallest = largest - smallest;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t gap = get_varint(c);
        uint64_t len = get_varint(c);
        if (c->err)
            return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
        if (gap + 2 > smallest || len > smallest - gap - 2)
            return refuse(why, TW_QR_BAD_ACK, TW_EMALFORMED);
        smallest = smallest - gap - 2 - len;
    }
    if (ecn) {
        (void)get_varint(c);
        (void)get_varint(c);
        (void)get_varint(c);
    }
    return c->err ? refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED) : 0;
}

/* Reads the frames of an opened Initial; TW_EMALFORMED (*why) ends the flow. */
static int read_frames(struct tw_quic_flow *f, struct tw_quic_stats *st, const uint8_t *p, size_t n,
                       enum tw_quic_reason *why)
{
    struct tw_cur c;

    if (n == 0)
        return refuse(why, TW_QR_EMPTY_PAYLOAD, TW_EMALFORMED);
    tw_cur_init(&c, p, n);
    while (tw_cur_left(&c) > 0) {
        /* every type an Initial may carry is a 1-byte varint; longer ones are refused */
        uint8_t type = tw_get_u8(&c);
        switch (type) {
        case FRAME_PADDING:
            while (c.p < c.end && *c.p == 0)
                c.p++;
            break;
        case FRAME_PING:
            break;
        case FRAME_ACK:
        case FRAME_ACK_ECN:
            if (skip_ack(&c, type == FRAME_ACK_ECN, why) != 0)
                return TW_EMALFORMED;
            break;
        case FRAME_CRYPTO: {
            uint64_t off = get_varint(&c);
            uint64_t len = get_varint(&c);
            if (c.err || len > tw_cur_left(&c))
                return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
            if (off + len > VARINT_MAX)
                return refuse(why, TW_QR_BAD_FRAME, TW_EMALFORMED);
            crypto_put(f, st, off, tw_get_bytes(&c, (size_t)len), (size_t)len);
            break;
        }
        case FRAME_CONNECTION_CLOSE: {
            (void)get_varint(&c); /* Error Code */
            (void)get_varint(&c); /* Frame Type */
            uint64_t rlen = get_varint(&c);
            if (c.err || rlen > tw_cur_left(&c))
                return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
            tw_skip(&c, (size_t)rlen);
            count(st, TW_QR_CONNECTION_CLOSE);
            break;
        }
        default:
            return refuse(why, TW_QR_BAD_FRAME, TW_EMALFORMED);
        }
    }
    return 0;
}

/* Bytes of a Google QUIC length code (2 bits): 1, 2, 4 or 6. */
static size_t gquic_len(unsigned code)
{
    static const uint8_t len[4] = {1, 2, 4, 6};
    return len[code & 3];
}

/*
 * Reads the frames of an opened T050/T051 Initial: Google QUIC frame types (PADDING 0x00,
 * CONNECTION_CLOSE 0x02, PING 0x07, CRYPTO 0x08 with varint offset and length as in RFC 9000,
 * ACK 0x40-0x7f with its own layout); any other ends the flow.
 */
static int read_gquic_frames(struct tw_quic_flow *f, struct tw_quic_stats *st, const uint8_t *p,
                             size_t n, enum tw_quic_reason *why)
{
    struct tw_cur c;

    if (n == 0)
        return refuse(why, TW_QR_EMPTY_PAYLOAD, TW_EMALFORMED);
    tw_cur_init(&c, p, n);
    while (tw_cur_left(&c) > 0) {
        uint8_t type = tw_get_u8(&c);
        if (type == 0x00) { /* PADDING */
            while (c.p < c.end && *c.p == 0)
                c.p++;
        } else if (type == 0x07) { /* PING */
        } else if (type == 0x08) { /* CRYPTO */
            uint64_t off = get_varint(&c);
            uint64_t len = get_varint(&c);
            if (c.err || len > tw_cur_left(&c))
                return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
            if (off + len > VARINT_MAX)
                return refuse(why, TW_QR_BAD_FRAME, TW_EMALFORMED);
            crypto_put(f, st, off, tw_get_bytes(&c, (size_t)len), (size_t)len);
        } else if (type == 0x02) { /* CONNECTION_CLOSE: error code, reason (16-bit length) */
            tw_skip(&c, 4);
            tw_skip(&c, tw_get_be16(&c));
            if (c.err)
                return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
            count(st, TW_QR_CONNECTION_CLOSE);
        } else if ((type & 0xc0) == 0x40) {
            /* ACK 01NULLMM: largest acked (LL), delay (2), [blocks (1) if N], first block
             * (MM), blocks of gap (1) and length (MM), timestamps (1) and their deltas */
            size_t mm = gquic_len(type);
            unsigned blocks = 0, stamps;
            tw_skip(&c, gquic_len(type >> 2) + 2);
            if (type & 0x20)
                blocks = tw_get_u8(&c);
            tw_skip(&c, mm + blocks * (1 + mm));
            stamps = tw_get_u8(&c);
            if (stamps > 0)
                tw_skip(&c, 1 + 4 + (stamps - 1) * (1 + 2));
            if (c.err)
                return refuse(why, TW_QR_FRAME_TRUNCATED, TW_EMALFORMED);
        } else {
            return refuse(why, TW_QR_BAD_FRAME, TW_EMALFORMED);
        }
    }
    return 0;
}

static enum tw_quic_verdict flow_fail(struct tw_quic_flow *f, struct tw_quic_stats *st,
                                      enum tw_quic_reason r)
{
    count(st, r);
    f->phase = TW_QUIC_FAILED;
    f->fail_reason = (uint8_t)r;
    return TW_QUIC_FAIL;
}

/* Whether the stream from offset 0 now holds the whole ClientHello that begins at hello_base;
 * parses it then. */
static enum tw_quic_verdict check_hello(struct tw_quic_flow *f, struct tw_quic_stats *st,
                                        struct tw_quic_hello *out)
{
    const uint32_t base = f->hello_base;
    const uint8_t *m = f->crypto + base;
    size_t have;

    if (f->n_ranges == 0 || f->range[0].lo != 0 || f->range[0].hi <= base)
        return TW_QUIC_MORE;
    have = f->range[0].hi;
    if (m[0] != 1) /* msg_type client_hello (RFC 8446 4) */
        return flow_fail(f, st, TW_QR_NOT_CLIENT_HELLO);
    if (f->hello_need == 0) {
        if (have < base + 4)
            return TW_QUIC_MORE;
        uint32_t body = (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
        if (body > TW_QUIC_CRYPTO_MAX - 4 - base)
            return flow_fail(f, st, TW_QR_CRYPTO_BUFFER_FULL);
        f->hello_need = base + 4 + body;
    }
    if (have < f->hello_need)
        return TW_QUIC_MORE;
    if (tw_tls_client_hello_parse(m + 4, f->hello_need - base - 4, &out->tls) != 0) {
        if (out->tls.n_sni == 0) {
            memset(&out->tls, 0, sizeof(out->tls));
            return flow_fail(f, st, TW_QR_HELLO_MALFORMED);
        }
        /* Broken after its names: counted malformed, returned like a hello with its names
         * (flag truncated); later datagrams are DONE. */
        count(st, TW_QR_HELLO_MALFORMED);
    }
    f->phase = TW_QUIC_GOT_HELLO;
    out->version = f->version;
    out->n_initial = f->n_initial;
    out->flags = f->flags;
    st->hellos++;
    return TW_QUIC_HELLO;
}

/* One Initial packet of the datagram: MORE (taken), DROP (refused), SKIP, FAIL or HELLO. */
static enum tw_quic_verdict take_initial(struct tw_quic_ctx *ctx, struct tw_quic_flow *f,
                                         const uint8_t *pkt, const struct tw_quic_hdr *h,
                                         size_t dgram_len, struct tw_quic_stats *st,
                                         struct tw_quic_hello *out)
{
    struct tw_quic_plain pl;
    enum tw_quic_reason why = TW_QR_DECRYPT_FAILED;

    if (f->n_initial > 0 && f->scid_len > 0 && cid_eq(f->scid, f->scid_len, h->dcid, h->dcid_len)) {
        count(st, TW_QR_SERVER_PACKET);
        return TW_QUIC_SKIP;
    }
    int rc = open_initial(ctx, f, pkt, h, st, &pl, &why);
    if (rc != 0) {
        count(st, why);
        return rc == TW_ESKIP ? TW_QUIC_SKIP : TW_QUIC_DROP;
    }
    st->initials++;
    if (dgram_len < TW_QUIC_MIN_DATAGRAM && !(f->flags & TW_QUIC_F_SHORT_DATAGRAM)) {
        count(st, TW_QR_SHORT_DATAGRAM);
        f->flags |= TW_QUIC_F_SHORT_DATAGRAM;
    }
    if (f->n_initial == 0) {
        f->version = h->version;
        f->scid_len = h->scid_len;
        if (h->scid_len)
            memcpy(f->scid, h->scid, h->scid_len);
        f->dcid_len = h->dcid_len;
        if (h->dcid_len)
            memcpy(f->dcid, h->dcid, h->dcid_len);
    } else {
        if (!cid_eq(f->dcid, f->dcid_len, h->dcid, h->dcid_len))
            f->flags |= TW_QUIC_F_DCID_CHANGED;
        if (h->version != f->version) {
            /* a new handshake (after Version Negotiation): its ClientHello starts over */
            count(st, TW_QR_VERSION_CHANGED);
            f->flags |= TW_QUIC_F_VERSION_CHANGED;
            f->version = h->version;
            f->n_ranges = 0;
            f->hello_base = 0;
            f->hello_need = 0;
        }
    }
    f->n_initial++;
    enum tw_quic_reason bad;
    const struct version_info *vi = version_find(h->version);
    if ((vi != NULL && vi->frames == FRAMES_GQUIC
             ? read_gquic_frames(f, st, pl.payload, pl.payload_len, &bad)
             : read_frames(f, st, pl.payload, pl.payload_len, &bad)) != 0)
        return flow_fail(f, st, bad);
    return check_hello(f, st, out);
}

void tw_quic_expect_second(struct tw_quic_flow *f)
{
    f->phase = TW_QUIC_SECOND;
    f->hello_base = f->hello_need;
    f->hello_need = 0;
}

/* Whether a client datagram shows its handshake went on past the first hello: a Handshake
 * packet among its long-header packets, or a short header (1-RTT) first. */
static bool second_over(const uint8_t *dgram, size_t len)
{
    size_t off = 0;

    while (off < len) {
        struct tw_quic_hdr h;
        enum tw_quic_reason why;
        int rc = tw_quic_header_parse(dgram + off, len - off, &h, &why);
        if (rc == TW_ESKIP)
            return off == 0 && why == TW_QR_NOT_LONG_HEADER && (dgram[0] & 0x40);
        if (rc < 0)
            return false;
        if (h.type == TW_QUIC_PKT_HANDSHAKE)
            return true;
        off += (size_t)rc;
    }
    return false;
}

enum tw_quic_verdict tw_quic_feed(struct tw_quic_ctx *ctx, struct tw_quic_flow *f,
                                  const uint8_t *dgram, size_t len, struct tw_quic_stats *st,
                                  struct tw_quic_hello *out)
{
    bool taken = false, refused = false;
    size_t off = 0;
    unsigned npk = 0;

    memset(out, 0, sizeof(*out));
    if (f->phase == TW_QUIC_GOT_HELLO)
        return TW_QUIC_DONE;
    if (f->phase == TW_QUIC_SECOND && second_over(dgram, len)) {
        f->phase = TW_QUIC_GOT_HELLO;
        return TW_QUIC_DONE;
    }
    if (f->phase == TW_QUIC_FAILED)
        return TW_QUIC_FAIL;
    st->datagrams++;
    while (off < len) {
        struct tw_quic_hdr h;
        enum tw_quic_reason why = TW_QR_HEADER_TRUNCATED;
        int rc = tw_quic_header_parse(dgram + off, len - off, &h, &why);

        if (rc == TW_ESKIP) {
            /* after a long packet, a short header may follow; anything else is junk */
            if (npk > 0 && why == TW_QR_NOT_LONG_HEADER && !(dgram[off] & 0x40))
                why = TW_QR_TRAILING_BYTES;
            count(st, why);
            break;
        }
        if (rc < 0) {
            count(st, why);
            refused = true;
            break;
        }
        if (++npk > 1) {
            st->coalesced++;
            f->flags |= TW_QUIC_F_COALESCED;
        }
        if (h.type == TW_QUIC_PKT_INITIAL) {
            enum tw_quic_verdict v = take_initial(ctx, f, dgram + off, &h, len, st, out);
            if (v == TW_QUIC_HELLO || v == TW_QUIC_FAIL)
                return v;
            if (v == TW_QUIC_MORE)
                taken = true;
            else if (v == TW_QUIC_DROP)
                refused = true;
        } else if (h.type == TW_QUIC_PKT_RETRY) {
            count(st, TW_QR_RETRY);
            f->flags |= TW_QUIC_F_RETRY;
        } else {
            count(st, TW_QR_OTHER_LONG_TYPE);
        }
        off += (size_t)rc;
    }
    if (taken)
        return TW_QUIC_MORE;
    return refused ? TW_QUIC_DROP : TW_QUIC_SKIP;
}
