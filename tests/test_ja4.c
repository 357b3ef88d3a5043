/* SPDX-License-Identifier: MIT */
/*
 * Tests for JA4 client fingerprints (src/proto/ja4.c).
 *
 * Hellos are built from fields (the specification's example and variants of it) or pinned
 * from real clients, parsed from exact-size heap copies, and fingerprinted. Expected values:
 * the JA4 specification (technical_details/JA4.md) where it gives them; otherwise the value
 * Suricata 7.0.10 (ja4-fingerprints: yes) logged for the same hello, except where Suricata
 * departs from the specification (noted at the case).
 */
#include "tunwatch/proto/ja4.h"
#include "tunwatch/event/event.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_bytes.h"

/* ClientHellos captured on 127.0.0.1 (openssl s_server listener), exact client bytes. */
/* curl 7.88.1 (OpenSSL 3.0.19) -k https://localhost:14433/: TLS 1.3, ALPN h2 */
static const uint8_t ch_curl_h2[] = {
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x79, 0x18, 0x86, 0xed, 0xb7,
    0xc4, 0x8c, 0xe3, 0x47, 0x05, 0x9b, 0xc4, 0xd8, 0x8d, 0xc0, 0x8e, 0x92, 0xa1, 0x0a, 0x25, 0xa4,
    0x73, 0x66, 0xd3, 0x7e, 0xa2, 0xa3, 0x7b, 0x90, 0xdb, 0x93, 0xdc, 0x20, 0x3e, 0xc7, 0xf6, 0x10,
    0x49, 0x83, 0x11, 0xc5, 0xfa, 0xfc, 0xe1, 0xd3, 0xa1, 0xe8, 0xa7, 0x81, 0xf8, 0xaf, 0xd7, 0x28,
    0xd7, 0xae, 0x67, 0x40, 0x89, 0xaf, 0x8f, 0x37, 0x6c, 0x49, 0xd4, 0x51, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
    0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f,
    0x73, 0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14,
    0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
    0x01, 0x03, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74,
    0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31,
    0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
    0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01,
    0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
    0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
    0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x5c, 0xbd, 0x7a,
    0x95, 0x0e, 0x42, 0x4c, 0xbc, 0xb2, 0xc3, 0xb5, 0x36, 0xb2, 0x30, 0x9a, 0x3e, 0xa8, 0xc7, 0xc1,
    0x8f, 0xf6, 0x18, 0x63, 0xca, 0xb2, 0xd0, 0x6e, 0xbe, 0x80, 0x9d, 0x68, 0x41, 0x00, 0x15, 0x00,
    0xb4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00};
/* gnutls-cli 3.7.9 --alpn=h2 --alpn=http/1.1 localhost */
static const uint8_t ch_gnutls_alpn[] = {
    0x16, 0x03, 0x01, 0x01, 0x94, 0x01, 0x00, 0x01, 0x90, 0x03, 0x03, 0xdc, 0xed, 0x42, 0xe1, 0x4f,
    0x66, 0xf6, 0x3f, 0x78, 0x17, 0x2e, 0x23, 0x80, 0x78, 0x01, 0xfa, 0x5b, 0xae, 0xbc, 0x45, 0x79,
    0x64, 0x92, 0xc5, 0x0e, 0x70, 0x02, 0x8d, 0x72, 0xd7, 0x9b, 0x52, 0x20, 0xc5, 0x95, 0x37, 0x6a,
    0xcf, 0xb8, 0xdc, 0xfd, 0x44, 0xe9, 0x6f, 0x14, 0xe2, 0x7f, 0xd4, 0x6d, 0xba, 0x87, 0x4c, 0x95,
    0x68, 0x59, 0x16, 0x73, 0x7a, 0x5a, 0xb8, 0xfb, 0x7b, 0xb6, 0xa9, 0x1d, 0x00, 0x3a, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0x13, 0x04, 0xc0, 0x2c, 0xcc, 0xa9, 0xc0, 0xad, 0xc0, 0x0a, 0xc0, 0x2b,
    0xc0, 0xac, 0xc0, 0x09, 0xc0, 0x30, 0xcc, 0xa8, 0xc0, 0x14, 0xc0, 0x2f, 0xc0, 0x13, 0x00, 0x9d,
    0xc0, 0x9d, 0x00, 0x35, 0x00, 0x9c, 0xc0, 0x9c, 0x00, 0x2f, 0x00, 0x9f, 0xcc, 0xaa, 0xc0, 0x9f,
    0x00, 0x39, 0x00, 0x9e, 0xc0, 0x9e, 0x00, 0x33, 0x01, 0x00, 0x01, 0x0d, 0x00, 0x05, 0x00, 0x05,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x17, 0x00, 0x18, 0x00,
    0x19, 0x00, 0x1d, 0x00, 0x1e, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00,
    0x0b, 0x00, 0x02, 0x01, 0x00, 0x00, 0x0d, 0x00, 0x22, 0x00, 0x20, 0x04, 0x01, 0x08, 0x09, 0x08,
    0x04, 0x04, 0x03, 0x08, 0x07, 0x05, 0x01, 0x08, 0x0a, 0x08, 0x05, 0x05, 0x03, 0x08, 0x08, 0x06,
    0x01, 0x08, 0x0b, 0x08, 0x06, 0x06, 0x03, 0x02, 0x01, 0x02, 0x03, 0x00, 0x10, 0x00, 0x0e, 0x00,
    0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00,
    0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x23, 0x00, 0x00, 0x00, 0x33, 0x00, 0x6b, 0x00, 0x69, 0x00,
    0x17, 0x00, 0x41, 0x04, 0xdd, 0xc7, 0x41, 0xd3, 0x7d, 0xfc, 0xd0, 0xf2, 0x4c, 0x1d, 0xe2, 0x4d,
    0x0c, 0x83, 0xbe, 0x8d, 0xf4, 0xfc, 0x18, 0xb1, 0xd9, 0x83, 0xa8, 0x30, 0x1f, 0x95, 0xb6, 0x31,
    0xb6, 0xce, 0xf5, 0x7f, 0x4b, 0xb8, 0x26, 0x2d, 0x30, 0x2f, 0x7e, 0x1e, 0xb9, 0xa0, 0x2f, 0xbf,
    0x5e, 0x2f, 0xe9, 0x44, 0x78, 0xa4, 0x51, 0x92, 0xce, 0xf9, 0x34, 0xfd, 0x90, 0x75, 0xd9, 0x56,
    0x2e, 0x6a, 0xb4, 0xb7, 0x00, 0x1d, 0x00, 0x20, 0xfe, 0x30, 0x71, 0xcc, 0x55, 0xbe, 0xec, 0x5b,
    0x70, 0xf2, 0x41, 0x84, 0xd2, 0xa7, 0xed, 0x86, 0x09, 0x31, 0xaf, 0xf4, 0xcb, 0x65, 0xfc, 0x47,
    0x6a, 0x7a, 0x69, 0x94, 0x16, 0x5f, 0xa1, 0x4f, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03,
    0x03, 0x03, 0x02, 0x03, 0x01, 0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c,
    0x00, 0x00, 0x09, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x2d, 0x00, 0x03,
    0x02, 0x01, 0x00, 0x00, 0x1c, 0x00, 0x02, 0x40, 0x01};
/* openssl s_client (OpenSSL 3.0.19) -tls1 -servername old.example: no signature_algorithms */
static const uint8_t ch_openssl_tls10[] = {
    0x16, 0x03, 0x01, 0x00, 0x93, 0x01, 0x00, 0x00, 0x8f, 0x03, 0x01, 0x85, 0x23, 0xb5, 0xd2, 0x45,
    0xf7, 0x6d, 0x27, 0x0a, 0x2a, 0xa5, 0x86, 0xbe, 0xe4, 0x90, 0x85, 0x43, 0x08, 0xc9, 0x10, 0xe2,
    0xf7, 0x80, 0xa7, 0x45, 0x78, 0x77, 0x36, 0xaf, 0x19, 0x5c, 0xf9, 0x00, 0x00, 0x2e, 0xc0, 0x0a,
    0xc0, 0x14, 0x00, 0x39, 0x00, 0x38, 0x00, 0x88, 0x00, 0x87, 0xc0, 0x19, 0x00, 0x3a, 0x00, 0x89,
    0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x32, 0x00, 0x45, 0x00, 0x44, 0xc0, 0x18, 0x00, 0x34,
    0x00, 0x46, 0x00, 0x35, 0x00, 0x84, 0x00, 0x2f, 0x00, 0x41, 0x00, 0xff, 0x01, 0x00, 0x00, 0x38,
    0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, 0x6f, 0x6c, 0x64, 0x2e, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c,
    0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00,
    0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00};

#define MSG_MAX 70000

/* ---------------------------------------------------------------- builder */

struct ext_spec {
    uint16_t type;
    const char *data;
    size_t len;
};

#define EXT(t, lit)                                                                                \
    {                                                                                              \
        (t), (lit), sizeof(lit) - 1                                                                \
    }
#define EXT_EMPTY(t)                                                                               \
    {                                                                                              \
        (t), "", 0                                                                                 \
    }

/* What differs between cases: the specification's example hello, or lists of their own. */
enum base { BASE_SPEC, BASE_LISTS };

struct hello_case {
    int line;
    const char *name;
    char proto;
    enum base base;
    /* BASE_SPEC variants */
    bool grease;          /* GREASE cipher, extensions and supported_versions entry added */
    bool no_sni;          /* server_name left out */
    const char *alpn;     /* ALPN extension data instead of "h2, http/1.1"; "" leaves it out */
    size_t alpn_len;      /* bytes of alpn; 0: strlen(alpn) */
    const char *sig_algs; /* signature_algorithms extension data instead of the example's */
    size_t sig_algs_len;
    /* BASE_LISTS */
    uint16_t legacy; /* 0: 0x0303 */
    const uint16_t *ciphers;
    size_t n_ciphers;
    unsigned cipher_run; /* > 0: ciphers 0x0100, 0x0101, ... this many instead */
    const struct ext_spec *exts;
    size_t n_exts;
    unsigned ext_run;     /* > 0: this many empty extensions 0x7000, 0x7001, ... after exts */
    bool no_exts;         /* the hello ends after compression_methods */
    const char *want;     /* JA4 */
    const char *want_raw; /* JA4_r, checked when set */
};

/* The specification's example (technical_details/JA4.md, "Example"): fields in order. */
static const uint16_t spec_ciphers[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                        0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                                        0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
#define SPEC_SNI                                                                                   \
    "\x00\x0e\x00\x00\x0b"                                                                         \
    "example.com"
#define SPEC_ALPN "\x00\x0c\x02h2\x08http/1.1"
#define SPEC_SIGS "\x00\x10\x04\x03\x08\x04\x04\x01\x05\x03\x08\x05\x05\x01\x08\x06\x06\x01"

/* 001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015 */
static size_t build_spec_exts(const struct hello_case *hc, struct ext_spec *e)
{
    size_t n = 0;

    if (hc->grease)
        e[n++] = (struct ext_spec)EXT_EMPTY(0x0a0a);
    e[n++] = (struct ext_spec)EXT(0x001b, "\x02\x00\x02");
    if (!hc->no_sni)
        e[n++] = (struct ext_spec)EXT(0x0000, SPEC_SNI);
    e[n++] = (struct ext_spec)EXT(0x0033, "\x00\x00");
    if (hc->alpn == NULL)
        e[n++] = (struct ext_spec)EXT(0x0010, SPEC_ALPN);
    else if (hc->alpn[0] != '\0' || hc->alpn_len > 0)
        e[n++] =
            (struct ext_spec){0x0010, hc->alpn, hc->alpn_len ? hc->alpn_len : strlen(hc->alpn)};
    e[n++] = (struct ext_spec)EXT(0x4469, "\x00\x03\x02h2");
    e[n++] = (struct ext_spec)EXT_EMPTY(0x0017);
    e[n++] = (struct ext_spec)EXT(0x002d, "\x01\x01");
    if (hc->sig_algs != NULL)
        e[n++] = (struct ext_spec){0x000d, hc->sig_algs, hc->sig_algs_len};
    else
        e[n++] = (struct ext_spec)EXT(0x000d, SPEC_SIGS);
    e[n++] = (struct ext_spec)EXT(0x0005, "\x01\x00\x00\x00\x00");
    e[n++] = (struct ext_spec)EXT_EMPTY(0x0023);
    e[n++] = (struct ext_spec)EXT_EMPTY(0x0012);
    if (hc->grease)
        e[n++] = (struct ext_spec)EXT(0x002b, "\x06\x3a\x3a\x03\x04\x03\x03");
    else
        e[n++] = (struct ext_spec)EXT(0x002b, "\x04\x03\x04\x03\x03");
    e[n++] = (struct ext_spec)EXT(0xff01, "\x00");
    e[n++] = (struct ext_spec)EXT(0x000b, "\x01\x00");
    e[n++] = (struct ext_spec)EXT(0x000a, "\x00\x04\x00\x1d\x00\x17");
    if (hc->grease)
        e[n++] = (struct ext_spec)EXT(0x1a1a, "\x00");
    e[n++] = (struct ext_spec)EXT(0x0015, "\x00\x00\x00\x00");
    return n;
}

/* Builds the ClientHello body (no handshake header) of a case into out; returns its length. */
static size_t build_body(const struct hello_case *hc, uint8_t *out, size_t cap)
{
    struct ext_spec spec[24];
    const struct ext_spec *exts = hc->exts;
    size_t n_exts = hc->n_exts;
    struct bb b = {out, 0, cap};

    put16(&b, hc->legacy ? hc->legacy : 0x0303);
    for (int i = 0; i < 32; i++)
        put8(&b, 0x5a);
    put8(&b, 0);
    if (hc->base == BASE_SPEC) {
        put16(&b, (unsigned)(2 * (TW_ARRAY_SIZE(spec_ciphers) + hc->grease)));
        if (hc->grease)
            put16(&b, 0x4a4a);
        for (size_t i = 0; i < TW_ARRAY_SIZE(spec_ciphers); i++)
            put16(&b, spec_ciphers[i]);
        n_exts = build_spec_exts(hc, spec);
        exts = spec;
    } else if (hc->cipher_run) {
        put16(&b, 2 * hc->cipher_run);
        for (unsigned i = 0; i < hc->cipher_run; i++)
            put16(&b, 0x0100 + i);
    } else {
        put16(&b, (unsigned)(2 * hc->n_ciphers));
        for (size_t i = 0; i < hc->n_ciphers; i++)
            put16(&b, hc->ciphers[i]);
    }
    put8(&b, 1);
    put8(&b, 0);
    if (hc->no_exts)
        return b.len;
    size_t at = b.len;
    put16(&b, 0);
    for (size_t i = 0; i < n_exts; i++) {
        put16(&b, exts[i].type);
        put16(&b, (unsigned)exts[i].len);
        putn(&b, exts[i].data, exts[i].len);
    }
    for (unsigned i = 0; i < hc->ext_run; i++)
        put16(&b, 0x7000 + i), put16(&b, 0);
    size_t el = b.len - at - 2;
    assert_true(el < 65536);
    out[at] = (uint8_t)(el >> 8), out[at + 1] = (uint8_t)el;
    return b.len;
}

/* ------------------------------------------------------------------ cases */

static const uint16_t c_ssl3[] = {0x002f, 0x0035, 0x000a, 0x00ff};
static const uint16_t c_tls10[] = {0x002f, 0x0035, 0xc013, 0x00ff};
static const uint16_t c_1301[] = {0x1301};
static const uint16_t c_1301_c02f[] = {0x1301, 0xc02f};
static const uint16_t c_grease_only[] = {0x0a0a, 0xfafa};
static const uint16_t c_002f[] = {0x002f};

static const struct ext_spec e_tls10[] = {EXT(0x0000, "\x00\x0e\x00\x00\x0bold.example"),
                                          EXT(0xff01, "\x00"), EXT(0x000b, "\x01\x00")};
static const struct ext_spec e_no_sigs[] = {EXT(0x0000, "\x00\x0c\x00\x00\x09n.example"),
                                            EXT(0x002b, "\x02\x03\x04"), EXT_EMPTY(0x0017)};
static const struct ext_spec e_grease_sigs[] = {EXT(0x0000, "\x00\x0c\x00\x00\x09g.example"),
                                                EXT(0x002b, "\x02\x03\x04"),
                                                EXT(0x000d, "\x00\x06\x0a\x0a\x04\x03\x08\x04")};
static const struct ext_spec e_plain_sigs[] = {EXT(0x0000, "\x00\x0c\x00\x00\x09g.example"),
                                               EXT(0x002b, "\x02\x03\x04"),
                                               EXT(0x000d, "\x00\x04\x04\x03\x08\x04")};
static const struct ext_spec e_grease_versions[] = {EXT(0x002b, "\x02\x2a\x2a"),
                                                    EXT(0x000d, "\x00\x02\x04\x03")};
static const struct ext_spec e_sni_17[] = {EXT(0x0000, "\x00\x0c\x00\x00\x09z.example"),
                                           EXT_EMPTY(0x0017)};
static const struct ext_spec e_many_sni[] = {EXT(0x0000, "\x00\x0c\x00\x00\x09"
                                                         "e.example")};
static const struct ext_spec e_sni_other_type[] = {EXT(0x0000, "\x00\x09\x07\x00\x06opaque"),
                                                   EXT_EMPTY(0x0017)};
static const struct ext_spec e_bad_alpn[] = {EXT(0x0000, "\x00\x0c\x00\x00\x09"
                                                         "b.example"),
                                             EXT(0x0010, "\x00\x03\x05h2")};
/* supported_versions alone decides the version; listed low to high, then a draft value */
static const struct ext_spec e_v_order[] = {EXT(0x002b, "\x04\x03\x03\x03\x04")};
static const struct ext_spec e_v_draft[] = {EXT(0x002b, "\x02\x7f\x1c")};
/* 0x0304 next to a value JA4 does not name (ndpi's tls_2_reasms capture): Suricata reads 13 */
static const struct ext_spec e_v_unknown[] = {EXT(0x002b, "\x04\x03\x04\xfb\x1a")};
/* 0x0304 and the TLS 1.3 draft 0x7f1a (ndpi's quic-mvfst-27 capture): Suricata reads 00 */
static const struct ext_spec e_v_13_draft[] = {EXT(0x002b, "\x04\x03\x04\x7f\x1a")};
static const struct ext_spec e_v_s2[] = {EXT(0x002b, "\x02\x00\x02")};
static const struct ext_spec e_v_tls11[] = {EXT(0x002b, "\x02\x03\x02")};
static const struct ext_spec e_v_dtls10[] = {EXT(0x002b, "\x02\xfe\xff")};
static const struct ext_spec e_v_dtls12[] = {EXT(0x002b, "\x02\xfe\xfd")};
static const struct ext_spec e_v_dtls13[] = {EXT(0x002b, "\x02\xfe\xfc")};

#define LISTS(c, e)                                                                                \
    .base = BASE_LISTS, .ciphers = (c), .n_ciphers = TW_ARRAY_SIZE(c), .exts = (e),                \
    .n_exts = TW_ARRAY_SIZE(e)

#define SPEC_B "8daaf6152771"
#define SPEC_C "e5627efa2ab1"

static const struct hello_case cases[] = {
    /* JA4.md "Example" and "Raw Output"; Suricata 7.0.10 and the FoxIO Python tool agree. */
    {__LINE__, "specification example", 't', BASE_SPEC, .want = "t13d1516h2_" SPEC_B "_" SPEC_C,
     .want_raw = "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,"
                 "cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,"
                 "ff01_0403,0804,0401,0503,0805,0501,0806,0601"},
    {__LINE__, "specification example, QUIC", 'q', BASE_SPEC,
     .want = "q13d1516h2_" SPEC_B "_" SPEC_C},
    {__LINE__, "specification example, DTLS", 'd', BASE_SPEC,
     .want = "d13d1516h2_" SPEC_B "_" SPEC_C},
    /* GREASE cipher, two GREASE extensions and a GREASE supported_versions entry: no change */
    {__LINE__, "GREASE everywhere", 't', BASE_SPEC, .grease = true,
     .want = "t13d1516h2_" SPEC_B "_" SPEC_C},
    {__LINE__, "no SNI: i, one extension fewer", 't', BASE_SPEC, .no_sni = true,
     .want = "t13i1515h2_" SPEC_B "_" SPEC_C},
    {__LINE__, "no ALPN: 00", 't', BASE_SPEC, .alpn = "", .want = "t13d151500_" SPEC_B "_" SPEC_C},
    /* JA4.md "ALPN Extension Value": non-alphanumeric first or last byte gives hex digits */
    {__LINE__, "ALPN 0x30 0xAB, then h2: 3b", 't', BASE_SPEC, .alpn = "\x00\x06\x02\x30\xab\x02h2",
     .alpn_len = 8, .want = "t13d15163b_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0xAB 0xCD: ad", 't', BASE_SPEC, .alpn = "\x00\x03\x02\xab\xcd", .alpn_len = 5,
     .want = "t13d1516ad_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0xAB: ab", 't', BASE_SPEC, .alpn = "\x00\x02\x01\xab", .alpn_len = 4,
     .want = "t13d1516ab_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0x20: 20", 't', BASE_SPEC, .alpn = "\x00\x02\x01\x20", .alpn_len = 4,
     .want = "t13d151620_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0x20 0x61: 21", 't', BASE_SPEC, .alpn = "\x00\x03\x02\x20\x61", .alpn_len = 5,
     .want = "t13d151621_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0x61 0x20: 60", 't', BASE_SPEC, .alpn = "\x00\x03\x02\x61\x20", .alpn_len = 5,
     .want = "t13d151660_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0x30 0x31 0xAB 0xCD: 3d", 't', BASE_SPEC,
     .alpn = "\x00\x05\x04\x30\x31\xab\xcd", .alpn_len = 7,
     .want = "t13d15163d_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN 0x30 0xAB 0xCD 0x31: 01", 't', BASE_SPEC,
     .alpn = "\x00\x05\x04\x30\xab\xcd\x31", .alpn_len = 7,
     .want = "t13d151601_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN of one character: xx", 't', BASE_SPEC, .alpn = "\x00\x02\x01x", .alpn_len = 4,
     .want = "t13d1516xx_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN with an empty first protocol: 00", 't', BASE_SPEC,
     .alpn = "\x00\x04\x00\x02h2", .alpn_len = 6, .want = "t13d151600_" SPEC_B "_" SPEC_C},
    {__LINE__, "ALPN with an empty list: 00", 't', BASE_SPEC, .alpn = "\x00\x00", .alpn_len = 2,
     .want = "t13d151600_" SPEC_B "_" SPEC_C},
    /* JA4.md "Extension hash": with no signature algorithms the text ends without '_':
     * "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01 = 6d807ffa2a79" */
    {__LINE__, "signature_algorithms with an empty list", 't', BASE_SPEC, .sig_algs = "\x00\x00",
     .sig_algs_len = 2, .want = "t13d1516h2_" SPEC_B "_6d807ffa2a79"},
    /* Suricata 7.0.10 gives t12d990200_78cd3e4e4f62_4bc33739f15d: it always writes the '_'
     * before the (here empty) signature algorithms; the rest agrees. */
    {__LINE__, "120 cipher suites: 99", 't', BASE_LISTS, .cipher_run = 120, .exts = e_sni_17,
     .n_exts = 2, .want = "t12d990200_78cd3e4e4f62_1ca028f07214"},
    /* Suricata: t12d019900_ba72b8082249_5709b48926fe, the same '_' difference */
    {__LINE__, "120 extensions: 99", 't', LISTS(c_002f, e_many_sni), .ext_run = 119,
     .want = "t12d019900_ba72b8082249_3fe06330fe42"},
    /* SSL 3.0 hello without extensions. Suricata: ts3i040000_e2f6df6ad119_d2e2adf7177b (it
     * hashes "_" where the specification writes 000000000000 for an empty list) */
    {__LINE__, "SSL 3.0, no extensions", 't', .base = BASE_LISTS, .legacy = 0x0300,
     .ciphers = c_ssl3, .n_ciphers = 4, .no_exts = true,
     .want = "ts3i040000_e2f6df6ad119_000000000000", .want_raw = "ts3i040000_000a,002f,0035,00ff_"},
    /* Suricata: t10d040300_436b065bc8c6_4680aa95648a (sha256 of "000b,ff01_") */
    {__LINE__, "TLS 1.0, no supported_versions", 't', LISTS(c_tls10, e_tls10), .legacy = 0x0301,
     .want = "t10d040300_436b065bc8c6_8fe157b277d7",
     .want_raw = "t10d040300_002f,0035,00ff,c013_000b,ff01"},
    /* Suricata: t13d010300_0f2cb44170f4_5e5c8d585c1e, the same '_' difference */
    {__LINE__, "no signature_algorithms", 't', LISTS(c_1301, e_no_sigs),
     .want = "t13d010300_0f2cb44170f4_5ea61440e398", .want_raw = "t13d010300_1301_0017,002b"},
    /* Suricata 7.0.10 agrees on both */
    {__LINE__, "GREASE signature algorithm left out", 't', LISTS(c_1301, e_grease_sigs),
     .want = "t13d010300_0f2cb44170f4_ef5f37ab036a",
     .want_raw = "t13d010300_1301_000d,002b_0403,0804"},
    {__LINE__, "the same without the GREASE value", 't', LISTS(c_1301, e_plain_sigs),
     .want = "t13d010300_0f2cb44170f4_ef5f37ab036a"},
    {__LINE__, "supported_versions only GREASE: legacy_version", 't',
     LISTS(c_1301_c02f, e_grease_versions), .want = "t12i020200_c1929292aa6b_3953dc75acc4"},
    /* Suricata: t12d000200_e3b0c44298fc_4bc33739f15d (hashes the empty text) */
    {__LINE__, "only GREASE cipher suites", 't', LISTS(c_grease_only, e_sni_17),
     .want = "t12d000200_000000000000_1ca028f07214", .want_raw = "t12d000200__0017"},
    /* Suricata 7.0.10 cannot parse this extension block and reports t12i010000; the
     * specification asks only whether the server_name extension is present */
    {__LINE__, "server_name of another name type: still d", 't', LISTS(c_002f, e_sni_other_type),
     .want = "t12d010200_ba72b8082249_1ca028f07214"},
    {__LINE__, "ALPN not well-formed: 00", 't', LISTS(c_002f, e_bad_alpn),
     .want = "t12d010200_ba72b8082249_000000000000"},
    {__LINE__, "supported_versions out of order", 't', LISTS(c_002f, e_v_order),
     .want = "t13i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions, a draft value: 00", 't', LISTS(c_002f, e_v_draft),
     .want = "t00i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions, 1.3 and an unknown value: 13", 't', LISTS(c_002f, e_v_unknown),
     .want = "t13i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions, 1.3 and a 1.3 draft: 00", 't', LISTS(c_002f, e_v_13_draft),
     .want = "t00i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions SSL 2.0: s2", 't', LISTS(c_002f, e_v_s2),
     .want = "ts2i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions TLS 1.1", 't', LISTS(c_002f, e_v_tls11),
     .want = "t11i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions DTLS 1.0", 'd', LISTS(c_002f, e_v_dtls10),
     .want = "dd1i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions DTLS 1.2", 'd', LISTS(c_002f, e_v_dtls12),
     .want = "dd2i010100_ba72b8082249_b9a491fefe05"},
    {__LINE__, "supported_versions DTLS 1.3", 'd', LISTS(c_002f, e_v_dtls13),
     .want = "dd3i010100_ba72b8082249_b9a491fefe05"},
};

static uint8_t body_buf[MSG_MAX];

/* Parses body[0..n) from an exact-size copy and fingerprints it; the copy is returned for the
 * caller to free once done with *h. */
static uint8_t *parse_body(const uint8_t *body, size_t n, struct tw_tls_hello *h, int line)
{
    uint8_t *d = exact_copy(body, n);
    int rc = tw_tls_client_hello_parse(d, n, h);
    if (rc != TW_OK)
        fail_msg("line %d: hello did not parse: %d", line, rc);
    return d;
}

static void expect_ja4(const struct tw_tls_hello *h, char proto, const char *want,
                       const char *want_raw, int line, const char *name)
{
    char out[TW_JA4_LEN];
    static char raw[65536];

    assert_int_equal(strlen(want), TW_JA4_LEN - 1);
    int rc = tw_ja4(h, proto, out);
    if (rc != TW_OK || strcmp(out, want) != 0)
        fail_msg("line %d (%s): got %s (%d), expected %s", line, name, out, rc, want);
    rc = tw_ja4_raw(h, proto, raw, sizeof(raw));
    assert_true(rc > 0);
    assert_int_equal((size_t)rc, strlen(raw));
    assert_memory_equal(raw, want, 11); /* ja4_a and its '_' */
    if (want_raw != NULL && strcmp(raw, want_raw) != 0)
        fail_msg("line %d (%s): raw %s, expected %s", line, name, raw, want_raw);
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        const struct hello_case *hc = &cases[i];
        struct tw_tls_hello h;
        size_t n = build_body(hc, body_buf, sizeof(body_buf));
        uint8_t *d = parse_body(body_buf, n, &h, hc->line);
        expect_ja4(&h, hc->proto, hc->want, hc->want_raw, hc->line, hc->name);
        free(d);
    }
}

/* Real clients' hellos, whole streams from exact-size copies. */
static void test_real_clients(void **state)
{
    static const struct {
        int line;
        const uint8_t *b;
        size_t len;
        const char *want;
        const char *want_raw;
    } real[] = {
        /* Suricata 7.0.10 logged the same JA4 for this hello */
        {__LINE__, ch_curl_h2, sizeof(ch_curl_h2), "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
         "t13d3112h2_002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,1301,1302,"
         "1303,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa_000a,"
         "000b,000d,0015,0016,0017,002b,002d,0031,0033_0403,0503,0603,0807,0808,0809,080a,080b,"
         "0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602"},
        /* Suricata 7.0.10 logged the same JA4 for this hello */
        {__LINE__, ch_gnutls_alpn, sizeof(ch_gnutls_alpn), "t13d2914h2_723694b0fccc_2cc26d266019",
         NULL},
        /* the FoxIO Python tool gives the same; Suricata 7.0.10 gives
         * t10d230600_44099cda8a52_242d16716555, hashing "000a,000b,0016,0017,0023_" */
        {__LINE__, ch_openssl_tls10, sizeof(ch_openssl_tls10),
         "t10d230600_44099cda8a52_195413a0cc0f",
         "t10d230600_002f,0032,0033,0034,0035,0038,0039,003a,0041,0044,0045,0046,0084,0087,0088,"
         "0089,00ff,c009,c00a,c013,c014,c018,c019_000a,000b,0016,0017,0023"},
    };
    static uint8_t scratch[TW_TLS_HELLO_MAX + 4];
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(real); i++) {
        struct tw_tls_hello h;
        uint8_t *d = exact_copy(real[i].b, real[i].len);
        assert_int_equal(tw_tls_parse_stream(d, real[i].len, scratch, sizeof(scratch), &h),
                         (int)real[i].len);
        free(d);
        expect_ja4(&h, 't', real[i].want, real[i].want_raw, real[i].line, "real client");
    }
}

/* Bad arguments, a too-small raw buffer, and the bound on list lengths. */
static void test_contract(void **state)
{
    static const struct hello_case spec = {__LINE__, "spec", 't', .base = BASE_SPEC};
    static char raw[65536];
    struct tw_tls_hello h, zero;
    char out[TW_JA4_LEN];
    (void)state;

    size_t n = build_body(&spec, body_buf, sizeof(body_buf));
    uint8_t *d = parse_body(body_buf, n, &h, spec.line);

    /* protocol letters other than t, q, d */
    static const char bad_proto[] = {'T', 'u', '\0', 'x'};
    for (size_t i = 0; i < sizeof(bad_proto); i++) {
        memset(out, 'z', sizeof(out));
        assert_int_equal(tw_ja4(&h, bad_proto[i], out), TW_EINVAL);
        assert_int_equal(out[0], '\0');
        assert_int_equal(tw_ja4_raw(&h, bad_proto[i], raw, sizeof(raw)), TW_EINVAL);
    }
    /* a hello that no parse filled */
    memset(&zero, 0, sizeof(zero));
    assert_int_equal(tw_ja4(&zero, 't', out), TW_EINVAL);
    assert_int_equal(tw_ja4(NULL, 't', out), TW_EINVAL);

    /* raw: exactly the length and the NUL fits; one byte less does not */
    int len = tw_ja4_raw(&h, 't', raw, sizeof(raw));
    assert_true(len > 36);
    assert_int_equal(tw_ja4_raw(&h, 't', NULL, 0), TW_ENOMEM);
    for (size_t cap = 1; cap <= (size_t)len + 1; cap++) {
        char *b = malloc(cap);
        assert_non_null(b);
        int rc = tw_ja4_raw(&h, 't', b, cap);
        if (cap == (size_t)len + 1) {
            assert_int_equal(rc, len);
            assert_string_equal(b, raw);
        } else {
            assert_int_equal(rc, TW_ENOMEM);
            assert_int_equal(b[0], '\0');
        }
        free(b);
    }
    free(d);

    /* the most cipher suites a hello can hold (32767, the run 0x0100..0x80fe holds eight
     * GREASE values) all count: no hello is too large for a fingerprint */
    static const struct ext_spec none[] = {EXT_EMPTY(0x0017)};
    struct hello_case big = {__LINE__,
                             "32767 ciphers",
                             't',
                             BASE_LISTS,
                             .exts = none,
                             .n_exts = 1,
                             .cipher_run = 65534 / 2};
    n = build_body(&big, body_buf, sizeof(body_buf));
    d = parse_body(body_buf, n, &h, big.line);
    assert_int_equal(tw_ja4(&h, 't', out), TW_OK);
    assert_memory_equal(out, "t12i990100_", 11);
    assert_true(tw_ja4_raw(&h, 't', raw, sizeof(raw)) == TW_ENOMEM); /* 32759 hex suites */
    free(d);
}

/* The event's fingerprint: computed on first read, once, from the hello the producer points
 * to; copies carry the value and outlive the hello's bytes; no hello or a failed one gives
 * NULL every time. */
static void test_event_lazy(void **state)
{
    static const struct hello_case spec = {__LINE__, "spec", 't', .base = BASE_SPEC};
    struct tw_tls_hello h, zero;
    char want[TW_JA4_LEN], buf[TW_JA4_LEN];
    (void)state;

    size_t n = build_body(&spec, body_buf, sizeof(body_buf));
    uint8_t *d = parse_body(body_buf, n, &h, spec.line);
    assert_int_equal(tw_ja4(&h, 'q', want), TW_OK);

    struct tw_event ev = {.category = TW_CAT_NETWORK_CONNECTION, .raw = "a", .raw_len = 1,
                          .norm = "a", .norm_len = 1};
    assert_null(tw_event_ja4(&ev)); /* no hello */
    ev.ja4_hello = &h;
    ev.ja4_proto = 'q';
    ev.ja4_buf = buf;
    buf[0] = '\0';
    assert_string_equal(tw_event_ja4(&ev), want);
    assert_ptr_equal(tw_event_ja4(&ev), buf); /* computed once, into the producer's buffer */
    const char *v;
    size_t vlen;
    char tmp[TW_FIELD_TMP];
    assert_true(tw_event_field(&ev, TW_F_JA4, tmp, sizeof(tmp), &v, &vlen));
    assert_int_equal(vlen, TW_JA4_LEN - 1);
    assert_memory_equal(v, want, vlen);

    /* a copy taken before anything read the value computes it and keeps it */
    buf[0] = '\0';
    size_t cap = tw_event_copy_size(&ev);
    void *mem = malloc(cap);
    assert_non_null(mem);
    struct tw_event *c = tw_event_copy(mem, &ev);
    memset(d, 0xee, n); /* the hello's bytes are gone */
    free(d);
    memset(buf, 'x', sizeof(buf));
    assert_null(c->ja4_hello);
    assert_string_equal(tw_event_ja4(c), want);
    free(mem);

    /* a hello the fingerprint refuses: NULL, also on the second read */
    memset(&zero, 0, sizeof(zero));
    ev.ja4_hello = &zero;
    buf[0] = '\0';
    assert_null(tw_event_ja4(&ev));
    assert_null(tw_event_ja4(&ev));
    assert_false(tw_event_field(&ev, TW_F_JA4, tmp, sizeof(tmp), &v, &vlen));
    cap = tw_event_copy_size(&ev);
    mem = malloc(cap);
    assert_non_null(mem);
    c = tw_event_copy(mem, &ev);
    assert_null(tw_event_ja4(c));
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_real_clients),
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_event_lazy),
    };
    return tw_run_tests(tests, NULL, NULL);
}
