/* SPDX-License-Identifier: MIT */
/*
 * Builds protected QUIC long-header packets (RFC 9001 5.3, 5.4) for the QUIC tests and the
 * fuzz target: the client's Initial keys come from tw_quic_keys_derive, the AEAD and header
 * protection are done here with libcrypto, independently of src/proto/quic.c. The RFC 9001
 * and RFC 9369 sample packets, sealed from their plaintext, must come out byte for byte.
 */
#ifndef TUNWATCH_TEST_QUIC_SEAL_H
#define TUNWATCH_TEST_QUIC_SEAL_H

#include <string.h>

#include <openssl/evp.h>

#include "tunwatch/proto/quic.h"

struct seal {
    uint32_t version;
    uint8_t type; /* enum tw_quic_pkt_type */
    const uint8_t *dcid;
    size_t dcid_len;
    const uint8_t *scid;
    size_t scid_len;
    const uint8_t *token;
    size_t token_len;
    uint32_t pn;
    unsigned pn_len;                 /* 1..4 */
    uint8_t reserved;                /* reserved bits to set, 0..3 */
    const struct tw_quic_keys *keys; /* NULL: derived from dcid */
};

/* A variable-length integer in its shortest form; returns its length. */
static inline size_t seal_varint(uint8_t *out, uint64_t v)
{
    if (v < 64) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v < 16384) {
        out[0] = (uint8_t)(0x40 | v >> 8);
        out[1] = (uint8_t)v;
        return 2;
    }
    if (v < (UINT64_C(1) << 30)) {
        for (int i = 3; i >= 0; i--, v >>= 8)
            out[i] = (uint8_t)v;
        out[0] |= 0x80;
        return 4;
    }
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
    out[0] |= 0xc0;
    return 8;
}

/* Bytes of the header before the packet number (Length as 2 bytes, as RFC 9001 A.2). */
static inline size_t seal_header_len(const struct seal *s)
{
    uint8_t tmp[8];
    size_t n = 1 + 4 + 1 + s->dcid_len + 1 + s->scid_len + 2;

    if (s->type == TW_QUIC_PKT_INITIAL)
        n += seal_varint(tmp, s->token_len) + s->token_len;
    return n;
}

/*
 * Seals plain[0..plain_len) into a packet at out (capacity cap). Returns its length, or 0 when
 * it does not fit, the payload is too short for the header protection sample, or libcrypto
 * fails. The Length field is always 2 bytes.
 */
static inline size_t seal_packet(struct tw_quic_ctx *ctx, const struct seal *s,
                                 const uint8_t *plain, size_t plain_len, uint8_t *out, size_t cap)
{
    struct tw_quic_keys derived;
    const struct tw_quic_keys *k = s->keys;
    uint8_t nonce[12], mask[16];
    size_t n = 0, pn_off, len = s->pn_len + plain_len + TW_QUIC_TAG_LEN;
    int outl = 0;
    bool ok;

    if (k == NULL) {
        if (tw_quic_keys_derive(ctx, s->version, s->dcid, s->dcid_len, &derived) != 0)
            return 0;
        k = &derived;
    }
    if (s->pn_len < 1 || s->pn_len > 4 || len >= 16384 || s->pn_len + plain_len < 4 ||
        seal_header_len(s) + len > cap)
        return 0;
    uint8_t bits = s->version == TW_QUIC_V2 ? (uint8_t)((s->type + 1) & 3) : s->type;
    out[n++] = (uint8_t)(0xc0 | bits << 4 | (s->reserved & 3) << 2 | (s->pn_len - 1));
    for (int i = 3; i >= 0; i--)
        out[n++] = (uint8_t)(s->version >> (8 * i));
    out[n++] = (uint8_t)s->dcid_len;
    if (s->dcid_len)
        memcpy(out + n, s->dcid, s->dcid_len);
    n += s->dcid_len;
    out[n++] = (uint8_t)s->scid_len;
    if (s->scid_len)
        memcpy(out + n, s->scid, s->scid_len);
    n += s->scid_len;
    if (s->type == TW_QUIC_PKT_INITIAL) {
        n += seal_varint(out + n, s->token_len);
        if (s->token_len)
            memcpy(out + n, s->token, s->token_len);
        n += s->token_len;
    }
    out[n++] = (uint8_t)(0x40 | len >> 8);
    out[n++] = (uint8_t)len;
    pn_off = n;
    for (unsigned i = 0; i < s->pn_len; i++)
        out[n++] = (uint8_t)(s->pn >> (8 * (s->pn_len - 1 - i)));

    memcpy(nonce, k->iv, sizeof(nonce));
    for (int i = 0; i < 4; i++)
        nonce[11 - i] ^= (uint8_t)(s->pn >> (8 * i));
    EVP_CIPHER_CTX *gcm = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX *ecb = EVP_CIPHER_CTX_new();
    ok =
        gcm != NULL && ecb != NULL &&
        EVP_EncryptInit_ex(gcm, EVP_aes_128_gcm(), NULL, k->key, nonce) == 1 &&
        EVP_EncryptUpdate(gcm, NULL, &outl, out, (int)n) == 1 &&
        (plain_len == 0 || EVP_EncryptUpdate(gcm, out + n, &outl, plain, (int)plain_len) == 1) &&
        EVP_EncryptFinal_ex(gcm, out + n + plain_len, &outl) == 1 &&
        EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_GET_TAG, TW_QUIC_TAG_LEN, out + n + plain_len) == 1 &&
        EVP_EncryptInit_ex(ecb, EVP_aes_128_ecb(), NULL, k->hp, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ecb, 0) == 1 &&
        EVP_EncryptUpdate(ecb, mask, &outl, out + pn_off + 4, 16) == 1 && outl == 16;
    EVP_CIPHER_CTX_free(gcm);
    EVP_CIPHER_CTX_free(ecb);
    if (!ok)
        return 0;
    out[0] ^= mask[0] & 0x0f;
    for (unsigned i = 0; i < s->pn_len; i++)
        out[pn_off + i] ^= mask[1 + i];
    return n + plain_len + TW_QUIC_TAG_LEN;
}

/*
 * Seals frames[0..n) followed by PADDING so that the packet is `target` bytes long (no
 * padding when it is already as long, or target is 0). Returns the length or 0.
 */
static inline size_t seal_padded(struct tw_quic_ctx *ctx, const struct seal *s,
                                 const uint8_t *frames, size_t n, size_t target, uint8_t *out,
                                 size_t cap)
{
    uint8_t plain[TW_QUIC_DGRAM_MAX];
    size_t fixed = seal_header_len(s) + s->pn_len + TW_QUIC_TAG_LEN;
    size_t pad = target > fixed + n ? target - fixed - n : 0;

    if (n + pad > sizeof(plain))
        return 0;
    memcpy(plain, frames, n);
    memset(plain + n, 0, pad);
    if (s->pn_len + n + pad < 4) /* the sample needs 4 bytes after the packet number's start */
        pad = 4 - s->pn_len - n;
    memset(plain + n, 0, pad);
    return seal_packet(ctx, s, plain, n + pad, out, cap);
}

#endif /* TUNWATCH_TEST_QUIC_SEAL_H */
