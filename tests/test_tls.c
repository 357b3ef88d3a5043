/* SPDX-License-Identifier: MIT */
/*
 * Tests for the TLS ClientHello parser (src/proto/tls.c).
 *
 * Every valid case runs whole, at every proper prefix (each copied into an
 * exact-size heap buffer, so AddressSanitizer sees a one-byte over-read),
 * fed in chunks into one growing buffer, and as a bare body through
 * tw_tls_client_hello_parse; each must give exactly its names and its
 * oddity flags. The valid cases include what real servers accept and
 * tunwatch reads through (README, "Lenient TLS"): repeated extension types,
 * several host_names, unusual legacy and record versions, empty,
 * ChangeCipherSpec, alert and heartbeat records before or inside the hello,
 * hellos up to the largest the format allows over many records, and names
 * over 1 KiB. Every valid case marked for it is then broken
 * at each length field it has (record, handshake, session id, cipher
 * suites, compression, extensions, each extension, server_name list,
 * host_name) and at the record layer, and must come back malformed (or
 * the stated code) without any proper prefix succeeding.
 */
#include "tunwatch/proto/tls.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_bytes.h"

/* ClientHellos captured from real clients on 127.0.0.1 (socat listener), exact client bytes. */
/* openssl s_client (OpenSSL 3.0.19) -servername foo.localto.net: TLS 1.3, x25519 key share. */
static const uint8_t ch_openssl13[] = {
    0x16, 0x03, 0x01, 0x01, 0x3c, 0x01, 0x00, 0x01, 0x38, 0x03, 0x03, 0x79, 0xd4, 0x71, 0xfb, 0x5d,
    0x89, 0x95, 0xd3, 0x35, 0x83, 0x0a, 0xee, 0x2b, 0x31, 0xba, 0xf9, 0xb5, 0xff, 0x85, 0x18, 0x0b,
    0xbe, 0x92, 0x55, 0x6b, 0xbc, 0x0f, 0xc5, 0xfd, 0x26, 0xe4, 0xaa, 0x20, 0x1a, 0xc0, 0x2d, 0x20,
    0x67, 0x65, 0x7c, 0x2c, 0x2a, 0xd3, 0x84, 0xd1, 0x3f, 0xca, 0xa5, 0x8c, 0xef, 0x1f, 0x34, 0xa5,
    0x0d, 0x0d, 0x2c, 0xc6, 0xf4, 0x8f, 0xd5, 0xda, 0xfc, 0x5f, 0xc6, 0x9f, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb1,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x66, 0x6f, 0x6f, 0x2e, 0x6c, 0x6f, 0x63,
    0x61, 0x6c, 0x74, 0x6f, 0x2e, 0x6e, 0x65, 0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,
    0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16,
    0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03,
    0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
    0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02,
    0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03,
    0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
    0x20, 0xf2, 0xcd, 0x49, 0x04, 0x28, 0x45, 0xf3, 0x99, 0xf0, 0xe4, 0x05, 0xae, 0xea, 0x8d, 0x85,
    0x23, 0xa2, 0x9d, 0xdf, 0x15, 0xa9, 0x76, 0x43, 0x4f, 0x1e, 0x01, 0xa6, 0xfc, 0x2f, 0x8e, 0x6d,
    0x70};
/* openssl s_client (OpenSSL 3.0.19) -noservername: no server_name extension. */
static const uint8_t ch_openssl_nosni[] = {
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x5d, 0xc7, 0x04, 0x33, 0xc1,
    0xd0, 0x82, 0x6c, 0x0d, 0x7e, 0x7d, 0x14, 0x03, 0xac, 0xbc, 0x01, 0x5b, 0x3a, 0x8c, 0x1b, 0xe2,
    0xe0, 0xef, 0xc8, 0xf0, 0xd7, 0x54, 0x20, 0x07, 0x11, 0xc9, 0xea, 0x20, 0x17, 0x96, 0xd3, 0x1b,
    0x5b, 0x7e, 0x49, 0x4f, 0xf2, 0xe5, 0x0e, 0x82, 0x58, 0x5f, 0xcb, 0x44, 0x7e, 0x34, 0xc9, 0xf8,
    0xf9, 0x3a, 0xea, 0x1d, 0xc7, 0x9c, 0x86, 0x7b, 0x8d, 0x5a, 0x14, 0xc4, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
    0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x38, 0x7f, 0xc9, 0x8f, 0x73, 0xea, 0x5d,
    0xa6, 0x24, 0x75, 0x6f, 0x5b, 0x47, 0x7d, 0x45, 0x74, 0xb9, 0x89, 0x2d, 0x2f, 0xcb, 0x15, 0xc6,
    0x36, 0x8c, 0xf8, 0xd6, 0x0a, 0xff, 0x40, 0xae, 0x24};
/* openssl s_client (OpenSSL 3.0.19) -tls1_2 -servername bar.ngrok-free.app: TLS 1.2 only. */
static const uint8_t ch_openssl12[] = {
    0x16, 0x03, 0x01, 0x00, 0xd2, 0x01, 0x00, 0x00, 0xce, 0x03, 0x03, 0xe2, 0x2a, 0x1d, 0x25, 0x3e,
    0xdc, 0x40, 0x4b, 0x52, 0xf3, 0x29, 0x4a, 0x7b, 0x9a, 0xb3, 0x6f, 0x5c, 0x73, 0x7a, 0x66, 0xc6,
    0x4d, 0xd5, 0x42, 0xb9, 0x72, 0xbc, 0x45, 0xc0, 0xcb, 0xa3, 0x09, 0x00, 0x00, 0x38, 0xc0, 0x2c,
    0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14,
    0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
    0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6d, 0x00, 0x00, 0x00, 0x17, 0x00, 0x15,
    0x00, 0x00, 0x12, 0x62, 0x61, 0x72, 0x2e, 0x6e, 0x67, 0x72, 0x6f, 0x6b, 0x2d, 0x66, 0x72, 0x65,
    0x65, 0x2e, 0x61, 0x70, 0x70, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
    0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00,
    0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04,
    0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08,
    0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03,
    0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02};
/* curl 7.88.1 (OpenSSL 3.0.19) https://abc.trycloudflare.com: ALPN, padded to 512 bytes. */
static const uint8_t ch_curl[] = {
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xa2, 0x85, 0x0e, 0x3f, 0x91,
    0x9a, 0xdb, 0x60, 0xf8, 0x14, 0x40, 0x3b, 0x0d, 0x41, 0x92, 0xf8, 0xfc, 0x55, 0x28, 0x5e, 0x5e,
    0x5e, 0xa9, 0xd7, 0x28, 0x37, 0x69, 0x44, 0xaf, 0xe9, 0xed, 0x95, 0x20, 0x42, 0xa6, 0x4b, 0xbb,
    0xc8, 0x2f, 0xfa, 0x4d, 0xe7, 0xf6, 0x0e, 0x2f, 0x4f, 0xba, 0x39, 0x66, 0x4d, 0xba, 0x63, 0x84,
    0x5a, 0x5e, 0x8b, 0x7d, 0x08, 0x97, 0x6c, 0x79, 0x28, 0xbc, 0x08, 0x0a, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
    0x00, 0x00, 0x00, 0x1a, 0x00, 0x18, 0x00, 0x00, 0x15, 0x61, 0x62, 0x63, 0x2e, 0x74, 0x72, 0x79,
    0x63, 0x6c, 0x6f, 0x75, 0x64, 0x66, 0x6c, 0x61, 0x72, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b,
    0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17,
    0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04,
    0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31,
    0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x3d, 0xa2, 0xe7, 0x54, 0x7b, 0x3e, 0xe9,
    0x50, 0x62, 0x16, 0x9b, 0x81, 0x31, 0x34, 0x59, 0x4a, 0xef, 0x03, 0x6f, 0x0d, 0x55, 0x0d, 0x04,
    0x83, 0x16, 0x05, 0x6b, 0x73, 0x33, 0x0d, 0x3d, 0x10, 0x00, 0x15, 0x00, 0xa8, 0x00, 0x00, 0x00,
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
/* gnutls-cli 3.7.9 --sni-hostname=x.devtunnels.ms: TLS 1.3 key shares for secp256r1 and x25519. */
static const uint8_t ch_gnutls[] = {
    0x16, 0x03, 0x01, 0x01, 0x88, 0x01, 0x00, 0x01, 0x84, 0x03, 0x03, 0xda, 0x98, 0xe0, 0x10, 0x53,
    0xe1, 0x92, 0x3e, 0xac, 0xe0, 0x8b, 0x69, 0xea, 0x78, 0x2e, 0x83, 0xa3, 0x84, 0x18, 0x74, 0xef,
    0xa3, 0x57, 0xc5, 0x6b, 0x0a, 0xd0, 0x51, 0x5f, 0xc8, 0xf7, 0x21, 0x20, 0x04, 0x62, 0x73, 0x3e,
    0x12, 0xb9, 0xbb, 0xa9, 0x91, 0xe7, 0xf9, 0x53, 0x4c, 0x27, 0x63, 0x3a, 0xb2, 0xd1, 0x6f, 0x03,
    0x7f, 0x64, 0xc5, 0xe3, 0x9b, 0x78, 0xd4, 0x7a, 0x08, 0xb7, 0xe2, 0x57, 0x00, 0x3a, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0x13, 0x04, 0xc0, 0x2c, 0xcc, 0xa9, 0xc0, 0xad, 0xc0, 0x0a, 0xc0, 0x2b,
    0xc0, 0xac, 0xc0, 0x09, 0xc0, 0x30, 0xcc, 0xa8, 0xc0, 0x14, 0xc0, 0x2f, 0xc0, 0x13, 0x00, 0x9d,
    0xc0, 0x9d, 0x00, 0x35, 0x00, 0x9c, 0xc0, 0x9c, 0x00, 0x2f, 0x00, 0x9f, 0xcc, 0xaa, 0xc0, 0x9f,
    0x00, 0x39, 0x00, 0x9e, 0xc0, 0x9e, 0x00, 0x33, 0x01, 0x00, 0x01, 0x01, 0x00, 0x05, 0x00, 0x05,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x17, 0x00, 0x18, 0x00,
    0x19, 0x00, 0x1d, 0x00, 0x1e, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00,
    0x0b, 0x00, 0x02, 0x01, 0x00, 0x00, 0x0d, 0x00, 0x22, 0x00, 0x20, 0x04, 0x01, 0x08, 0x09, 0x08,
    0x04, 0x04, 0x03, 0x08, 0x07, 0x05, 0x01, 0x08, 0x0a, 0x08, 0x05, 0x05, 0x03, 0x08, 0x08, 0x06,
    0x01, 0x08, 0x0b, 0x08, 0x06, 0x06, 0x03, 0x02, 0x01, 0x02, 0x03, 0x00, 0x16, 0x00, 0x00, 0x00,
    0x17, 0x00, 0x00, 0x00, 0x23, 0x00, 0x00, 0x00, 0x33, 0x00, 0x6b, 0x00, 0x69, 0x00, 0x17, 0x00,
    0x41, 0x04, 0x08, 0xaa, 0x45, 0x6c, 0xf5, 0x58, 0x25, 0xfd, 0x3e, 0xb9, 0xb6, 0x5e, 0x1f, 0x5d,
    0xee, 0xb2, 0xd4, 0x5a, 0xd2, 0x3d, 0x1b, 0x4f, 0xdf, 0x0b, 0x47, 0xa4, 0x81, 0xda, 0xfe, 0xe1,
    0x14, 0x58, 0x6c, 0x6d, 0x88, 0x34, 0x89, 0x2c, 0xe3, 0x40, 0x99, 0x2e, 0x6c, 0x32, 0x7d, 0x6f,
    0x2d, 0x1b, 0x21, 0xd1, 0xd8, 0xab, 0xa0, 0xb9, 0x41, 0x02, 0x69, 0xf3, 0x04, 0x5a, 0xc1, 0xe5,
    0xab, 0xca, 0x00, 0x1d, 0x00, 0x20, 0x39, 0xb6, 0x20, 0x83, 0x39, 0x5b, 0x9a, 0xee, 0x75, 0x92,
    0x7a, 0x46, 0x59, 0xad, 0x69, 0x01, 0x00, 0x42, 0xde, 0xba, 0xa0, 0x66, 0x47, 0xa8, 0x86, 0x6b,
    0x60, 0xc5, 0x0a, 0xb1, 0xc2, 0x4b, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03,
    0x02, 0x03, 0x01, 0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00,
    0x0f, 0x78, 0x2e, 0x64, 0x65, 0x76, 0x74, 0x75, 0x6e, 0x6e, 0x65, 0x6c, 0x73, 0x2e, 0x6d, 0x73,
    0x00, 0x2d, 0x00, 0x03, 0x02, 0x01, 0x00, 0x00, 0x1c, 0x00, 0x02, 0x40, 0x01};

#define SCRATCH_CAP (TW_TLS_HELLO_MAX + 4)
#define SMALL_SCRATCH (16384 + 4) /* what the parser had before hellos over 16 KiB were read */
#define MSG_MAX (TW_TLS_HELLO_MAX + 4) /* largest handshake message a case builds */
#define STREAM_MAX 160000 /* largest stream: MSG_MAX in 16 KiB records plus skipped records */
#define MAX_EXT 96
#define MAX_REC 2048

/* ---------------------------------------------------------------- builder */

static void putfill(struct bb *b, unsigned byte, size_t n)
{
    assert_true(b->cap - b->len >= n);
    memset(b->p + b->len, (int)byte, n);
    b->len += n;
}

/* Opens a vector with a `w`-byte length prefix; vec_close() fills it in. */
static size_t vec_open(struct bb *b, unsigned w)
{
    size_t at = b->len;
    putfill(b, 0, w);
    return at;
}

static void vec_close(struct bb *b, size_t at, unsigned w)
{
    size_t v = b->len - at - w;
    assert_true(w == 3 ? v < (1u << 24) : w == 2 ? v < 65536 : v < 256);
    for (unsigned i = 0; i < w; i++)
        b->p[at + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
}

static void ext_empty(struct bb *b, unsigned type)
{
    put16(b, type);
    put16(b, 0);
}

enum sni_kind { SNI_NONE, SNI_ONE, SNI_UNKNOWN_FIRST, SNI_TWO, SNI_NINE, SNI_EMPTY_FIRST };

struct synth {
    enum sni_kind sni_kind;
    const char *sni; /* host_name bytes */
    size_t sni_len;  /* 0: strlen(sni) */
    bool pq;         /* X25519MLKEM768 (0x11ec) key share, 1216 bytes, as browsers send */
    bool ech, esni;
    bool no_exts;      /* hello ends after compression_methods */
    bool no_lists;     /* no signature_algorithms, ALPN or supported_versions extension */
    unsigned n_filler; /* extra distinct extension types 0x7000 + i */
    size_t body_len;   /* padding extension brings the body to exactly this; 0: no padding */
    uint16_t legacy;   /* legacy_version; 0: 0x0303 */
    unsigned cipher_run; /* > 0: this many more cipher suites 0x6000.. (a large hello) */
    bool dup_grease;     /* the first GREASE extension twice */
    bool dup_unknown;    /* an unknown extension type 0x7777 twice, other contents */
    const char *sni_ext2; /* a second server_name extension with this name, after the first */
};

static void sni_entry(struct bb *b, unsigned type, const char *name, size_t n)
{
    put8(b, type);
    put16(b, (unsigned)n);
    putn(b, name, n);
}

/* A Chrome-shaped ClientHello handshake message (header included). */
static size_t build_hello(const struct synth *s, uint8_t *out, size_t cap)
{
    static const uint16_t suites[] = {0x4a4a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                      0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
                                      0x009c, 0x009d, 0x002f, 0x0035};
    static const uint16_t sigalgs[] = {0x0403, 0x0804, 0x0401, 0x0503,
                                       0x0805, 0x0501, 0x0806, 0x0601};
    struct bb b = {out, 0, cap};
    size_t v, w;

    put8(&b, 1);
    size_t hs = vec_open(&b, 3);
    put16(&b, s->legacy ? s->legacy : 0x0303);
    putfill(&b, 0x5a, 32);
    put8(&b, 32);
    putfill(&b, 0x33, 32);
    v = vec_open(&b, 2);
    for (size_t i = 0; i < TW_ARRAY_SIZE(suites); i++)
        put16(&b, suites[i]);
    for (unsigned i = 0; i < s->cipher_run; i++)
        put16(&b, 0x6000 + (i & 0x0fff));
    vec_close(&b, v, 2);
    put8(&b, 1);
    put8(&b, 0);
    if (s->no_exts) {
        vec_close(&b, hs, 3);
        return b.len;
    }
    size_t exts = vec_open(&b, 2);
    ext_empty(&b, 0x0a0a);
    if (s->dup_grease)
        ext_empty(&b, 0x0a0a);
    if (s->sni_kind != SNI_NONE) {
        size_t n = s->sni_len ? s->sni_len : strlen(s->sni);
        put16(&b, TW_TLS_EXT_SERVER_NAME);
        v = vec_open(&b, 2);
        w = vec_open(&b, 2);
        if (s->sni_kind == SNI_UNKNOWN_FIRST)
            sni_entry(&b, 7, "opaque", 6);
        if (s->sni_kind == SNI_EMPTY_FIRST)
            sni_entry(&b, 0, "", 0);
        sni_entry(&b, 0, s->sni, n);
        if (s->sni_kind == SNI_TWO)
            sni_entry(&b, 0, "second.example", 14);
        for (unsigned i = 0; s->sni_kind == SNI_NINE && i < 8; i++) {
            char name[16];
            snprintf(name, sizeof(name), "n%u.localto.net", i + 2);
            sni_entry(&b, 0, name, strlen(name));
        }
        vec_close(&b, w, 2);
        vec_close(&b, v, 2);
    }
    if (s->sni_ext2 != NULL) {
        put16(&b, TW_TLS_EXT_SERVER_NAME);
        v = vec_open(&b, 2);
        w = vec_open(&b, 2);
        sni_entry(&b, 0, s->sni_ext2, strlen(s->sni_ext2));
        vec_close(&b, w, 2);
        vec_close(&b, v, 2);
    }
    if (s->dup_unknown)
        put16(&b, 0x7777), put16(&b, 1), put8(&b, 'a'), put16(&b, 0x7777), put16(&b, 2),
            put16(&b, 0x6262);
    ext_empty(&b, 23);
    put16(&b, 0xff01), put16(&b, 1), put8(&b, 0);
    put16(&b, 10);
    v = vec_open(&b, 2);
    w = vec_open(&b, 2);
    put16(&b, 0x2a2a);
    if (s->pq)
        put16(&b, 0x11ec);
    put16(&b, 0x001d), put16(&b, 0x0017), put16(&b, 0x0018);
    vec_close(&b, w, 2);
    vec_close(&b, v, 2);
    put16(&b, 11), put16(&b, 2), put8(&b, 1), put8(&b, 0);
    ext_empty(&b, 35);
    if (!s->no_lists) {
        put16(&b, 16);
        v = vec_open(&b, 2);
        w = vec_open(&b, 2);
        put8(&b, 2), putn(&b, "h2", 2), put8(&b, 8), putn(&b, "http/1.1", 8);
        vec_close(&b, w, 2);
        vec_close(&b, v, 2);
    }
    put16(&b, 5), put16(&b, 5), put8(&b, 1), put16(&b, 0), put16(&b, 0);
    if (!s->no_lists) {
        put16(&b, 13);
        v = vec_open(&b, 2);
        w = vec_open(&b, 2);
        for (size_t i = 0; i < TW_ARRAY_SIZE(sigalgs); i++)
            put16(&b, sigalgs[i]);
        vec_close(&b, w, 2);
        vec_close(&b, v, 2);
    }
    ext_empty(&b, 18);
    put16(&b,
          51); /* key_share: GREASE, [X25519MLKEM768: ML-KEM-768 ek 1184 || x25519 32], x25519 */
    v = vec_open(&b, 2);
    w = vec_open(&b, 2);
    put16(&b, 0x2a2a), put16(&b, 1), put8(&b, 0);
    if (s->pq)
        put16(&b, 0x11ec), put16(&b, 1216), putfill(&b, 0xc4, 1216);
    put16(&b, 0x001d), put16(&b, 32), putfill(&b, 0x1d, 32);
    vec_close(&b, w, 2);
    vec_close(&b, v, 2);
    put16(&b, 45), put16(&b, 2), put8(&b, 1), put8(&b, 1);
    if (!s->no_lists)
        put16(&b, 43), put16(&b, 7), put8(&b, 6), put16(&b, 0x3a3a), put16(&b, 0x0304),
            put16(&b, 0x0303);
    put16(&b, 27), put16(&b, 3), put8(&b, 2), put16(&b, 2);
    put16(&b, 0x44cd), put16(&b, 5), put16(&b, 3), put8(&b, 2), putn(&b, "h2", 2);
    for (unsigned i = 0; i < s->n_filler; i++)
        put16(&b, 0x7000 + i), put16(&b, 1), put8(&b, i);
    if (s->ech) { /* GREASE ECH: outer, HKDF-SHA256, AES-128-GCM, config id, enc, payload */
        put16(&b, TW_TLS_EXT_ECH);
        v = vec_open(&b, 2);
        put8(&b, 0), put16(&b, 1), put16(&b, 1), put8(&b, 0x42);
        put16(&b, 32), putfill(&b, 0xec, 32);
        put16(&b, 208), putfill(&b, 0xe5, 208);
        vec_close(&b, v, 2);
    }
    if (s->esni)
        put16(&b, TW_TLS_EXT_ESNI), put16(&b, 6), putfill(&b, 0xee, 6);
    put16(&b, 0x1a1a), put16(&b, 1), put8(&b, 0);
    if (s->body_len) {
        size_t body_now = b.len - 4;
        assert_true(s->body_len >= body_now + 4 && s->body_len - body_now - 4 < 65536);
        put16(&b, 21);
        put16(&b, (unsigned)(s->body_len - body_now - 4));
        putfill(&b, 0, s->body_len - body_now - 4);
    }
    vec_close(&b, exts, 2);
    vec_close(&b, hs, 3);
    return b.len;
}

/* ---------------------------------------------------------- test's own walk */

/* Offsets (into the handshake message, header included) of every length field. */
struct layout {
    size_t sid_len, cs_len, comp_len, exts_len; /* exts_len 0: no extensions */
    size_t comp_end;
    size_t n_ext;
    size_t ext_at[MAX_EXT]; /* offset of each extension's type field */
    uint16_t ext_type[MAX_EXT];
    size_t sni_ext, sni_list, host_len; /* 0: absent */
    size_t end;                         /* message length */
};

static unsigned rd16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static void layout_of(const uint8_t *m, size_t n, struct layout *l)
{
    memset(l, 0, sizeof(*l));
    size_t o = 4 + 2 + 32;
    l->sid_len = o;
    o += 1 + m[o];
    l->cs_len = o;
    o += 2 + rd16(m + o);
    l->comp_len = o;
    o += 1 + m[o];
    l->comp_end = o;
    l->end = n;
    assert_true(o <= n);
    if (o == n)
        return;
    l->exts_len = o;
    o += 2;
    while (o < n) {
        assert_true(l->n_ext < MAX_EXT);
        l->ext_at[l->n_ext] = o;
        l->ext_type[l->n_ext] = (uint16_t)rd16(m + o);
        if (rd16(m + o) == TW_TLS_EXT_SERVER_NAME && l->sni_ext == 0) {
            l->sni_ext = o;
            l->sni_list = o + 4;
            l->host_len = o + 4 + 2 + 1;
        }
        l->n_ext++;
        o += 4 + rd16(m + o + 2);
    }
    assert_int_equal(o, n);
}

/* ------------------------------------------------------------------ framing */

struct framing {
    unsigned split;      /* records of near-equal size; 0 or 1: one record */
    unsigned head_split; /* first this many records carry 1 byte each, the rest one record */
    unsigned rec_size;   /* records of this many bytes (the last shorter); 0: see above */
    uint16_t version;    /* record version; 0: 0x0301 */
    size_t trail;        /* bytes after the ClientHello inside its last record */
    bool ccs_after;      /* a ChangeCipherSpec record follows (not consumed) */
    const char *pre;     /* whole records before the first handshake record (raw bytes) */
    size_t pre_len;
    const char *mid;     /* whole records between the first and second handshake records */
    size_t mid_len;
};

struct framed {
    size_t len;      /* stream length */
    size_t consumed; /* end of the record that completes the ClientHello */
    unsigned n_rec;
    size_t rec_at[MAX_REC];
};

static void put_record(struct bb *b, struct framed *f, unsigned type, unsigned ver,
                       const uint8_t *d, size_t n)
{
    assert_true(n <= 16384 && f->n_rec < MAX_REC);
    f->rec_at[f->n_rec++] = b->len;
    put8(b, type);
    put16(b, ver);
    put16(b, (unsigned)n);
    putn(b, d, n);
}

static void frame(const uint8_t *msg, size_t msg_len, const struct framing *fr, uint8_t *out,
                  size_t cap, struct framed *f)
{
    static uint8_t last[16384];
    struct bb b = {out, 0, cap};
    unsigned ver = fr->version ? fr->version : 0x0301;
    size_t sizes[MAX_REC], n = 0, off = 0;

    memset(f, 0, sizeof(*f));
    if (fr->pre_len)
        putn(&b, fr->pre, fr->pre_len);
    if (fr->rec_size) {
        for (size_t o = 0; o < msg_len; o += fr->rec_size) {
            assert_true(n < MAX_REC);
            sizes[n++] = TW_MIN((size_t)fr->rec_size, msg_len - o);
        }
    } else if (fr->head_split) {
        for (; n < fr->head_split; n++)
            sizes[n] = 1;
        sizes[n++] = msg_len - fr->head_split;
    } else {
        unsigned k = fr->split ? fr->split : 1;
        for (; n < k; n++)
            sizes[n] = n + 1 < k ? msg_len / k : msg_len - (msg_len / k) * (k - 1);
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(sizes[i] > 0);
        if (i == 1 && fr->mid_len)
            putn(&b, fr->mid, fr->mid_len);
        if (i + 1 < n) {
            put_record(&b, f, 22, ver, msg + off, sizes[i]);
        } else {
            assert_true(sizes[i] + fr->trail <= sizeof(last));
            memcpy(last, msg + off, sizes[i]);
            memset(last + sizes[i], 0x0f, fr->trail);
            put_record(&b, f, 22, ver, last, sizes[i] + fr->trail);
        }
        off += sizes[i];
    }
    f->consumed = b.len;
    if (fr->ccs_after) {
        static const uint8_t ccs = 1;
        put_record(&b, f, 20, 0x0303, &ccs, 1);
        f->n_rec--;
    }
    f->len = b.len;
}

/* ------------------------------------------------------------ real sources */

enum src { SRC_SYNTH, SRC_OPENSSL13, SRC_OPENSSL_NOSNI, SRC_OPENSSL12, SRC_CURL, SRC_GNUTLS };

static const struct {
    const uint8_t *bytes;
    size_t len;
} real_src[] = {
    [SRC_OPENSSL13] = {ch_openssl13, sizeof(ch_openssl13)},
    [SRC_OPENSSL_NOSNI] = {ch_openssl_nosni, sizeof(ch_openssl_nosni)},
    [SRC_OPENSSL12] = {ch_openssl12, sizeof(ch_openssl12)},
    [SRC_CURL] = {ch_curl, sizeof(ch_curl)},
    [SRC_GNUTLS] = {ch_gnutls, sizeof(ch_gnutls)},
};

/* Appends one extension (type, data) to a handshake message and fixes both enclosing lengths. */
static size_t append_ext(uint8_t *m, size_t n, size_t cap, unsigned type, const uint8_t *d,
                         size_t dn)
{
    struct layout l;
    layout_of(m, n, &l);
    assert_true(l.exts_len != 0 && cap - n >= 4 + dn);
    m[n] = (uint8_t)(type >> 8), m[n + 1] = (uint8_t)type;
    m[n + 2] = (uint8_t)(dn >> 8), m[n + 3] = (uint8_t)dn;
    if (dn)
        memcpy(m + n + 4, d, dn);
    n += 4 + dn;
    unsigned e = rd16(m + l.exts_len) + 4 + (unsigned)dn;
    m[l.exts_len] = (uint8_t)(e >> 8), m[l.exts_len + 1] = (uint8_t)e;
    size_t body = n - 4;
    m[1] = (uint8_t)(body >> 16), m[2] = (uint8_t)(body >> 8), m[3] = (uint8_t)body;
    return n;
}

/* A GREASE ECH outer extension body (RFC 9849 section 6.2 shape). */
static const uint8_t ech_grease[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x9b, 0x00, 0x04, 0xde,
                                     0xad, 0xbe, 0xef, 0x00, 0x03, 0x01, 0x02, 0x03};
static const uint8_t esni_body[] = {0x13, 0x01, 0x00, 0x1d, 0x00, 0x00};

struct valid_case {
    int line;
    const char *name;
    enum src src;
    struct synth synth;
    uint16_t add_ext; /* appended: TW_TLS_EXT_ECH or TW_TLS_EXT_ESNI (fixed bodies), or any
                         type with add_data; 0: none */
    const char *add_data;
    size_t add_len;
    struct framing fr;
    const char *sni; /* NULL: no SNI */
    size_t sni_len;  /* 0: strlen(sni) */
    bool ech, esni;
    const char *alpn; /* first ALPN protocol, checked when set (alpn_len 0: strlen) */
    size_t alpn_len;
    bool list_bad; /* ext_list_bad: the case has no well-formed 13, 16 or 43 list */
    bool mutate;   /* run the malformed matrix on it */
    const char *more[TW_TLS_SNI_MAX]; /* the host_names after `sni`, in order */
    uint16_t legacy;   /* legacy_version expected; 0: 0x0303 */
    uint32_t flags;    /* oddity flags of the body, besides extension_list_bad and hello_large */
    uint32_t rec_flags; /* ... of the record layer, besides record_split and
                           record_version_unusual (which follow from the framing) */
};

#define FL(x) (1u << TW_TLS_F_##x)
#define C64 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz."
/* A 1500-byte host_name, more than an event holds (TW_NAME_MAX - 1): the end must survive. */
#define LONG_SNI                                                                                   \
    C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64 C64     \
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuv.tail.localto.net"
/* Records a client may send before (or inside) its ClientHello, and servers skip. */
#define REC_EMPTY "\x16\x03\x01\x00\x00"
#define REC_CCS "\x14\x03\x03\x00\x01\x01"
#define REC_ALERT "\x15\x03\x03\x00\x02\x01\x5a"
#define REC_HEARTBEAT "\x18\x03\x03\x00\x03\x01\x00\x00"
#define PRE(r) .pre = (r), .pre_len = sizeof(r) - 1
#define MID(r) .mid = (r), .mid_len = sizeof(r) - 1

#define PQ(...)                                                                                    \
    {                                                                                              \
        .sni_kind = SNI_ONE, .sni = "pq.localto.net", .pq = true, .ech = true, __VA_ARGS__         \
    }
#define SYNTH_SNI(name)                                                                            \
    {                                                                                              \
        .sni_kind = SNI_ONE, .sni = name                                                           \
    }
/* A synthetic hello without lists, plus one extension of the given type and raw data. */
#define NO_LISTS_PLUS(type, data)                                                                  \
    SRC_SYNTH, {.sni_kind = SNI_ONE, .sni = "l.test", .no_lists = true},                           \
        .add_ext = (type), .add_data = (data), .add_len = sizeof(data) - 1, .sni = "l.test"

/* legacy_version is 0x0303 unless a case says otherwise. */
static const struct valid_case valid_cases[] = {
    {__LINE__, "openssl TLS 1.3", SRC_OPENSSL13, .sni = "foo.localto.net", .mutate = true},
    {__LINE__, "openssl without SNI", SRC_OPENSSL_NOSNI, .mutate = true},
    {__LINE__, "openssl TLS 1.2 only", SRC_OPENSSL12, .sni = "bar.ngrok-free.app", .mutate = true},
    {__LINE__, "curl", SRC_CURL, .sni = "abc.trycloudflare.com", .mutate = true},
    {__LINE__, "gnutls-cli", SRC_GNUTLS, .sni = "x.devtunnels.ms", .mutate = true},
    {__LINE__, "openssl + GREASE ECH", SRC_OPENSSL13, .add_ext = TW_TLS_EXT_ECH,
     .sni = "foo.localto.net", .ech = true, .mutate = true},
    {__LINE__, "curl + ESNI", SRC_CURL, .add_ext = TW_TLS_EXT_ESNI, .sni = "abc.trycloudflare.com",
     .esni = true},
    {__LINE__, "curl in 3 records", SRC_CURL, .fr = {.split = 3}, .sni = "abc.trycloudflare.com",
     .mutate = true},
    {__LINE__, "gnutls, handshake header over 4 records", SRC_GNUTLS, .fr = {.head_split = 4},
     .sni = "x.devtunnels.ms", .mutate = true},
    {__LINE__, "gnutls, 1-byte records", SRC_GNUTLS, .fr = {.split = 392},
     .sni = "x.devtunnels.ms"},
    {__LINE__, "openssl, record version 0x0300", SRC_OPENSSL13, .fr = {.version = 0x0300},
     .sni = "foo.localto.net"},
    {__LINE__, "openssl, record version 0x0304", SRC_OPENSSL13, .fr = {.version = 0x0304},
     .sni = "foo.localto.net"},
    {__LINE__, "openssl, bytes after the hello in its record", SRC_OPENSSL13, .fr = {.trail = 9},
     .sni = "foo.localto.net"},
    {__LINE__, "curl in 2 records, then a ChangeCipherSpec record", SRC_CURL,
     .fr = {.split = 2, .ccs_after = true}, .sni = "abc.trycloudflare.com"},
    {__LINE__, "post-quantum, 1 record", SRC_SYNTH, PQ(.body_len = 2100), .fr = {.split = 1},
     .sni = "pq.localto.net", .ech = true, .mutate = true},
    {__LINE__, "post-quantum, 2 records", SRC_SYNTH, PQ(.body_len = 2100), .fr = {.split = 2},
     .sni = "pq.localto.net", .ech = true, .mutate = true},
    {__LINE__, "post-quantum, 5 records", SRC_SYNTH, PQ(.body_len = 2100), .fr = {.split = 5},
     .sni = "pq.localto.net", .ech = true, .mutate = true},
    {__LINE__, "post-quantum, no padding, header split", SRC_SYNTH, PQ(0), .fr = {.head_split = 3},
     .sni = "pq.localto.net", .ech = true},
    {__LINE__, "no extensions", SRC_SYNTH, {.no_exts = true}, .mutate = true},
    {__LINE__, "SNI with trailing dot", SRC_SYNTH, SYNTH_SNI("a.localto.net."),
     .sni = "a.localto.net."},
    {__LINE__, "SNI host:port", SRC_SYNTH, SYNTH_SNI("server4:443"), .sni = "server4:443",
     .flags = FL(SNI_PORT)},
    {__LINE__,
     "SNI with NUL, newline and 0xff",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "a\0b\n\xff", .sni_len = 5},
     .sni = "a\0b\n\xff",
     .sni_len = 5},
    {__LINE__,
     "SNI after an unknown name type",
     SRC_SYNTH,
     {.sni_kind = SNI_UNKNOWN_FIRST, .sni = "x.ngrok.io"},
     .sni = "x.ngrok.io",
     .mutate = true,
     .flags = FL(SNI_OTHER_TYPE)},
    {__LINE__,
     "SNI after an empty host_name",
     SRC_SYNTH,
     {.sni_kind = SNI_EMPTY_FIRST, .sni = "after-empty.localto.net"},
     .sni = "after-empty.localto.net",
     .mutate = true,
     .flags = FL(SNI_EMPTY)},
    {__LINE__,
     "two host_names in one list: both (GnuTLS reads both)",
     SRC_SYNTH,
     {.sni_kind = SNI_TWO, .sni = "one.test"},
     .sni = "one.test",
     .more = {"second.example"},
     .mutate = true,
     .flags = FL(SNI_MULTIPLE)},
    {__LINE__,
     "nine host_names: eight kept",
     SRC_SYNTH,
     {.sni_kind = SNI_NINE, .sni = "n1.localto.net"},
     .sni = "n1.localto.net",
     .more = {"n2.localto.net", "n3.localto.net", "n4.localto.net", "n5.localto.net",
              "n6.localto.net", "n7.localto.net", "n8.localto.net"},
     .flags = FL(SNI_MULTIPLE) | FL(SNI_TOO_MANY)},
    {__LINE__,
     "two server_name extensions: both names",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "decoy.example.com", .sni_ext2 = "hidden.localto.net"},
     .sni = "decoy.example.com",
     .more = {"hidden.localto.net"},
     .mutate = true,
     .flags = FL(SNI_MULTIPLE) | FL(SNI_EXTENSION_REPEATED) | FL(DUPLICATE_EXTENSION)},
    {__LINE__,
     "two server_name extensions, one name",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "same.localto.net", .sni_ext2 = "same.localto.net"},
     .sni = "same.localto.net",
     .flags = FL(SNI_EXTENSION_REPEATED) | FL(DUPLICATE_EXTENSION)},
    {__LINE__,
     "GREASE extension twice (Chrome-like, 1 in 30)",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "dupgrease.localto.net", .dup_grease = true},
     .sni = "dupgrease.localto.net",
     .mutate = true,
     .flags = FL(DUPLICATE_EXTENSION)},
    {__LINE__,
     "unknown extension twice",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "dupunknown.localto.net", .dup_unknown = true},
     .sni = "dupunknown.localto.net",
     .mutate = true,
     .flags = FL(DUPLICATE_EXTENSION)},
    {__LINE__,
     "legacy_version 0x7f7f",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "legacy.localto.net", .legacy = 0x7f7f},
     .sni = "legacy.localto.net",
     .legacy = 0x7f7f,
     .mutate = true,
     .flags = FL(LEGACY_VERSION_UNUSUAL)},
    {__LINE__,
     "legacy_version 0x0400",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "legacy.localto.net", .legacy = 0x0400},
     .sni = "legacy.localto.net",
     .legacy = 0x0400,
     .flags = FL(LEGACY_VERSION_UNUSUAL)},
    {__LINE__,
     "legacy_version 0x0203",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "legacy.localto.net", .legacy = 0x0203},
     .sni = "legacy.localto.net",
     .legacy = 0x0203,
     .flags = FL(LEGACY_VERSION_UNUSUAL)},
    {__LINE__, "record version 0x0305", SRC_OPENSSL13, .fr = {.version = 0x0305},
     .sni = "foo.localto.net", .mutate = true},
    {__LINE__, "record version 0x03ff, 3 records", SRC_CURL, .fr = {.version = 0x03ff, .split = 3},
     .sni = "abc.trycloudflare.com", .mutate = true},
    {__LINE__, "empty handshake record first (OpenSSL)", SRC_OPENSSL13, .fr = {PRE(REC_EMPTY)},
     .sni = "foo.localto.net", .mutate = true, .rec_flags = FL(RECORD_EMPTY)},
    {__LINE__, "ChangeCipherSpec record first (GnuTLS)", SRC_GNUTLS, .fr = {PRE(REC_CCS)},
     .sni = "x.devtunnels.ms", .mutate = true, .rec_flags = FL(RECORD_CCS)},
    {__LINE__, "alert record first", SRC_CURL, .fr = {PRE(REC_ALERT)},
     .sni = "abc.trycloudflare.com", .rec_flags = FL(RECORD_ALERT)},
    {__LINE__, "heartbeat record first", SRC_CURL, .fr = {PRE(REC_HEARTBEAT)},
     .sni = "abc.trycloudflare.com", .rec_flags = FL(RECORD_HEARTBEAT)},
    {__LINE__,
     "all four kinds, 32 records in all, first and between fragments",
     SRC_CURL,
     .fr = {.split = 2,
            PRE(REC_EMPTY REC_CCS REC_ALERT REC_HEARTBEAT REC_EMPTY REC_CCS REC_ALERT
                    REC_HEARTBEAT REC_EMPTY REC_CCS REC_ALERT REC_HEARTBEAT REC_EMPTY REC_CCS
                        REC_ALERT REC_HEARTBEAT),
            MID(REC_EMPTY REC_CCS REC_ALERT REC_HEARTBEAT REC_EMPTY REC_CCS REC_ALERT
                    REC_HEARTBEAT REC_EMPTY REC_CCS REC_ALERT REC_HEARTBEAT REC_EMPTY REC_CCS
                        REC_ALERT REC_HEARTBEAT)},
     .sni = "abc.trycloudflare.com",
     .mutate = true,
     .rec_flags = FL(RECORD_EMPTY) | FL(RECORD_CCS) | FL(RECORD_ALERT) | FL(RECORD_HEARTBEAT)},
    {__LINE__,
     "SNI of 1500 bytes",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = LONG_SNI},
     .sni = LONG_SNI,
     .mutate = true},
    {__LINE__,
     "100 KiB hello in 7 records",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "large.localto.net", .cipher_run = 20000, .body_len = 102400},
     .fr = {.rec_size = 16384},
     .sni = "large.localto.net"},
    {__LINE__,
     "largest hello the format allows, records of 16 KiB",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "max.localto.net", .cipher_run = 32767 - 16,
      .body_len = TW_TLS_HELLO_MAX - 254},
     .fr = {.rec_size = 16384},
     .sni = "max.localto.net"},
    {__LINE__,
     "40 more distinct extensions",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "many.test", .n_filler = 40},
     .fr = {.split = 2},
     .sni = "many.test",
     .mutate = true},
    {__LINE__,
     "message of exactly 2^14 bytes in one record",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "big.test", .pq = true, .body_len = 16380},
     .sni = "big.test"},
    {__LINE__,
     "body of 16 KiB in 2 records",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "max.test", .pq = true, .body_len = 16384},
     .fr = {.split = 2},
     .sni = "max.test"},
    {__LINE__,
     "no signature_algorithms, ALPN or supported_versions",
     SRC_SYNTH,
     {.sni_kind = SNI_ONE, .sni = "l.test", .no_lists = true},
     .sni = "l.test",
     .mutate = true},
    {__LINE__, "ALPN of two non-alphanumeric bytes", SRC_OPENSSL12, .add_ext = TW_TLS_EXT_ALPN,
     .add_data = "\x00\x03\x02\xab\xcd", .add_len = 5, .sni = "bar.ngrok-free.app",
     .alpn = "\xab\xcd", .mutate = true},
    {__LINE__, "ALPN, empty first protocol", NO_LISTS_PLUS(TW_TLS_EXT_ALPN, "\x00\x04\x00\x02h2"),
     .alpn = "", .mutate = true},
    {__LINE__, "ALPN, empty list", NO_LISTS_PLUS(TW_TLS_EXT_ALPN, "\x00\x00")},
    {__LINE__, "ALPN, protocol past the list", NO_LISTS_PLUS(TW_TLS_EXT_ALPN, "\x00\x03\x05h2"),
     .list_bad = true, .mutate = true},
    {__LINE__, "ALPN, list shorter than the extension",
     NO_LISTS_PLUS(TW_TLS_EXT_ALPN, "\x00\x03\x02h2x"), .list_bad = true},
    {__LINE__, "ALPN, empty extension", NO_LISTS_PLUS(TW_TLS_EXT_ALPN, ""), .list_bad = true},
    {__LINE__, "signature_algorithms, odd list",
     NO_LISTS_PLUS(TW_TLS_EXT_SIG_ALGS, "\x00\x03\x04\x03\x05"), .list_bad = true},
    {__LINE__, "signature_algorithms, list longer than the extension",
     NO_LISTS_PLUS(TW_TLS_EXT_SIG_ALGS, "\x00\x04\x04\x03"), .list_bad = true, .mutate = true},
    {__LINE__, "signature_algorithms, empty extension", NO_LISTS_PLUS(TW_TLS_EXT_SIG_ALGS, ""),
     .list_bad = true},
    {__LINE__, "signature_algorithms, empty list", NO_LISTS_PLUS(TW_TLS_EXT_SIG_ALGS, "\x00\x00")},
    {__LINE__, "supported_versions, odd list",
     NO_LISTS_PLUS(TW_TLS_EXT_VERSIONS, "\x03\x03\x04\x03"), .list_bad = true},
    {__LINE__, "supported_versions, list shorter than the extension",
     NO_LISTS_PLUS(TW_TLS_EXT_VERSIONS, "\x02\x03\x04\x03\x03"), .list_bad = true, .mutate = true},
    {__LINE__, "supported_versions, empty list", NO_LISTS_PLUS(TW_TLS_EXT_VERSIONS, "\x00")},
    {__LINE__, "supported_versions, GREASE and TLS 1.3",
     NO_LISTS_PLUS(TW_TLS_EXT_VERSIONS, "\x04\x7a\x7a\x03\x04"), .mutate = true},
};

/* Builds a case's handshake message into m (capacity MSG_MAX); returns its length. */
static size_t case_message(const struct valid_case *vc, uint8_t *m)
{
    size_t n;
    if (vc->src == SRC_SYNTH) {
        n = build_hello(&vc->synth, m, MSG_MAX);
    } else {
        const uint8_t *r = real_src[vc->src].bytes;
        n = real_src[vc->src].len;
        assert_int_equal(rd16(r + 3), n - 5); /* captured as one record */
        memcpy(m, r + 5, n - 5);
        n -= 5;
    }
    if (vc->add_data != NULL)
        n = append_ext(m, n, MSG_MAX, vc->add_ext, (const uint8_t *)vc->add_data, vc->add_len);
    else if (vc->add_ext == TW_TLS_EXT_ECH)
        n = append_ext(m, n, MSG_MAX, TW_TLS_EXT_ECH, ech_grease, sizeof(ech_grease));
    else if (vc->add_ext == TW_TLS_EXT_ESNI)
        n = append_ext(m, n, MSG_MAX, TW_TLS_EXT_ESNI, esni_body, sizeof(esni_body));
    return n;
}

static uint8_t scratch[SCRATCH_CAP];

/*
 * Inputs over 8 KiB (the large hellos, parsed at each of their 100,000 prefixes) are copied to
 * end just before a PROT_NONE page instead of into a fresh heap block: an over-read faults in
 * every build, and the sanitizer build does not pay for poisoning a large block per prefix.
 */
#define GUARD_MIN 8192
static uint8_t *guard_base;
static size_t guard_len;

static uint8_t *input_copy(const uint8_t *s, size_t n)
{
    if (n < GUARD_MIN)
        return exact_copy(s, n);
    if (guard_base == NULL) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        guard_len = (STREAM_MAX + page - 1) / page * page;
        guard_base = mmap(NULL, guard_len + page, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(guard_base != MAP_FAILED);
        assert_int_equal(mprotect(guard_base + guard_len, page, PROT_NONE), 0);
    }
    assert_true(n <= guard_len);
    memcpy(guard_base + guard_len - n, s, n);
    return guard_base + guard_len - n;
}

static void input_free(uint8_t *d)
{
    if (guard_base == NULL || d < guard_base || d > guard_base + guard_len)
        free(d);
}

/* Parses the first n bytes from an exact-size copy. */
static int parse_prefix(const uint8_t *s, size_t n, struct tw_tls_hello *h)
{
    uint8_t *d = input_copy(s, n);
    int rc = tw_tls_parse_stream(n ? d : NULL, n, scratch, sizeof(scratch), h);
    input_free(d);
    return rc;
}

/* The data of extension `type` in message m, or NULL. */
static const uint8_t *ext_data(const uint8_t *m, const struct layout *l, uint16_t type, size_t *len)
{
    for (size_t e = 0; e < l->n_ext; e++) {
        if (l->ext_type[e] == type) {
            *len = rd16(m + l->ext_at[e] + 2);
            return m + l->ext_at[e] + 4;
        }
    }
    *len = 0;
    return NULL;
}

/* A slice equals want[0..want_len) (NULL: absent) and lies inside lo[0..span). */
static void expect_slice(int line, const char *what, const uint8_t *got, size_t got_len,
                         const uint8_t *want, size_t want_len, const uint8_t *lo, size_t span)
{
    if (want == NULL) {
        if (got != NULL || got_len != 0)
            fail_msg("line %d: %s present (%zu bytes), expected absent", line, what, got_len);
        return;
    }
    if (got == NULL || got_len != want_len)
        fail_msg("line %d: %s: %zu bytes, expected %zu", line, what, got ? got_len : 0, want_len);
    assert_memory_equal(got, want, want_len);
    assert_true(got >= lo && got + got_len <= lo + span);
}

/*
 * The fingerprint slices, against the test's own walk of the message m: cipher_suites and
 * the extensions block always; the lists of 13, 16 and 43 when the case's lists are sound.
 */
static void expect_lists(const struct valid_case *vc, const struct tw_tls_hello *h,
                         const uint8_t *m, const struct layout *l, const uint8_t *lo, size_t span)
{
    const uint8_t *d, *want = NULL;
    size_t dl, want_len = 0;

    expect_slice(vc->line, "cipher_suites", h->ciphers, h->ciphers_len, m + l->cs_len + 2,
                 rd16(m + l->cs_len), lo, span);
    expect_slice(vc->line, "extensions", h->exts, h->exts_len,
                 l->exts_len ? m + l->exts_len + 2 : NULL,
                 l->exts_len ? l->end - l->exts_len - 2 : 0, lo, span);
    assert_int_equal(h->ext_list_bad, vc->list_bad);
    if (vc->list_bad) {
        assert_null(h->sig_algs);
        assert_null(h->versions);
        assert_null(h->alpn);
        return;
    }
    d = ext_data(m, l, TW_TLS_EXT_SIG_ALGS, &dl);
    if (d != NULL)
        assert_int_equal(rd16(d) + 2, dl);
    expect_slice(vc->line, "signature_algorithms", h->sig_algs, h->sig_algs_len, d ? d + 2 : NULL,
                 d ? dl - 2 : 0, lo, span);
    d = ext_data(m, l, TW_TLS_EXT_VERSIONS, &dl);
    if (d != NULL)
        assert_int_equal(d[0] + 1, dl);
    expect_slice(vc->line, "supported_versions", h->versions, h->versions_len, d ? d + 1 : NULL,
                 d ? dl - 1 : 0, lo, span);
    d = ext_data(m, l, TW_TLS_EXT_ALPN, &dl);
    if (d != NULL && dl > 2) {
        assert_int_equal(rd16(d) + 2, dl);
        want = d + 3;
        want_len = d[2];
    }
    expect_slice(vc->line, "ALPN", h->alpn, h->alpn_len, want, want_len, lo, span);
    if (vc->alpn != NULL) {
        size_t n = vc->alpn_len ? vc->alpn_len : strlen(vc->alpn);
        assert_non_null(h->alpn);
        assert_int_equal(h->alpn_len, n);
        assert_memory_equal(h->alpn, vc->alpn, n);
    }
}

/* Flags a case's hello must carry: its own, plus what its shape implies. */
static uint32_t case_flags(const struct valid_case *vc, size_t msg_len, const struct framed *f)
{
    uint32_t fl = vc->flags;
    if (vc->list_bad)
        fl |= FL(EXTENSION_LIST_BAD);
    if (msg_len - 4 > TW_TLS_HELLO_LARGE)
        fl |= FL(HELLO_LARGE);
    if (f != NULL) {
        fl |= vc->rec_flags;
        if (f->n_rec > 1)
            fl |= FL(RECORD_SPLIT);
        if (vc->fr.version > 0x0304)
            fl |= FL(RECORD_VERSION_UNUSUAL);
    }
    return fl;
}

static void expect_hello(const struct valid_case *vc, const struct tw_tls_hello *h,
                         const uint8_t *lo, size_t span, uint32_t flags)
{
    if (vc->sni) {
        size_t n = vc->sni_len ? vc->sni_len : strlen(vc->sni);
        assert_true(h->has_sni);
        assert_int_equal(h->sni_len, n);
        assert_memory_equal(h->sni, vc->sni, n);
        assert_true(h->sni >= lo && h->sni + h->sni_len <= lo + span);
        unsigned want = 1;
        while (want < TW_TLS_SNI_MAX && vc->more[want - 1] != NULL)
            want++;
        if (h->n_sni != want)
            fail_msg("line %d: %u names, expected %u", vc->line, h->n_sni, want);
        assert_ptr_equal(h->snis[0], h->sni);
        assert_int_equal(h->sni_lens[0], n);
        for (unsigned i = 1; i < want; i++) {
            assert_int_equal(h->sni_lens[i], strlen(vc->more[i - 1]));
            assert_memory_equal(h->snis[i], vc->more[i - 1], h->sni_lens[i]);
            assert_true(h->snis[i] >= lo && h->snis[i] + h->sni_lens[i] <= lo + span);
        }
    } else {
        assert_false(h->has_sni);
        assert_null(h->sni);
        assert_int_equal(h->sni_len, 0);
        assert_int_equal(h->n_sni, 0);
    }
    assert_int_equal(h->has_ech, vc->ech);
    assert_int_equal(h->has_esni, vc->esni);
    assert_int_equal(h->legacy_version, vc->legacy ? vc->legacy : 0x0303);
    if (h->flags != flags)
        fail_msg("line %d: flags 0x%x, expected 0x%x", vc->line, (unsigned)h->flags,
                 (unsigned)flags);
}

static uint8_t msg_buf[MSG_MAX];
static uint8_t stream_buf[STREAM_MAX];

static void test_valid(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(valid_cases); ci++) {
        const struct valid_case *vc = &valid_cases[ci];
        struct tw_tls_hello h;
        struct framed f;
        struct layout l;
        int rc;

        print_message("line %d: %s\n", vc->line, vc->name);
        size_t n = case_message(vc, msg_buf);
        layout_of(msg_buf, n, &l);
        frame(msg_buf, n, &vc->fr, stream_buf, sizeof(stream_buf), &f);

        uint32_t sflags = case_flags(vc, n, &f), bflags = case_flags(vc, n, NULL);

        /* whole */
        rc = parse_prefix(stream_buf, f.len, &h);
        assert_int_equal(rc, (int)f.consumed);
        expect_hello(vc, &h, scratch, sizeof(scratch), sflags);
        expect_lists(vc, &h, msg_buf, &l, scratch, sizeof(scratch));
        assert_int_equal(h.n_records, f.n_rec);
        assert_int_equal(h.record_version, vc->fr.version ? vc->fr.version : 0x0301);
        assert_int_equal(h.hello_len, n - 4);

        /* every prefix: incomplete before the completing record ends, the same result after */
        for (size_t k = 0; k < f.len; k++) {
            rc = parse_prefix(stream_buf, k, &h);
            if (k < f.consumed) {
                if (rc != TW_EINCOMPLETE)
                    fail_msg("line %d: prefix %zu of %zu gave %d", vc->line, k, f.len, rc);
            } else {
                assert_int_equal(rc, (int)f.consumed);
            }
        }

        /* growing buffer, chunks of 1..61 bytes, then byte by byte */
        for (int pass = 0; pass < 2; pass++) {
            uint32_t seed = (uint32_t)vc->line;
            size_t have = 0, calls = 0;
            rc = TW_EINCOMPLETE;
            while (rc == TW_EINCOMPLETE && have < f.len) {
                seed = seed * 1103515245u + 12345u;
                size_t step = pass == 0 ? 1 + (seed >> 16) % 61 : 1;
                have = TW_MIN(f.len, have + step);
                rc = tw_tls_parse_stream(stream_buf, have, scratch, sizeof(scratch), &h);
                calls++;
            }
            assert_int_equal(rc, (int)f.consumed);
            assert_true(have >= f.consumed);
            expect_hello(vc, &h, scratch, sizeof(scratch), sflags);
            expect_lists(vc, &h, msg_buf, &l, scratch, sizeof(scratch));
        }

        /* the bare body: exact; every proper prefix malformed except one ending after compression
         */
        uint8_t *body = exact_copy(msg_buf + 4, n - 4);
        assert_int_equal(tw_tls_client_hello_parse(body, n - 4, &h), TW_OK);
        expect_hello(vc, &h, body, n - 4, bflags);
        expect_lists(vc, &h, msg_buf, &l, body, n - 4);
        free(body);
        for (size_t k = 0; k < n - 4; k++) {
            body = input_copy(msg_buf + 4, k);
            rc = tw_tls_client_hello_parse(body, k, &h);
            input_free(body);
            if (k + 4 == l.comp_end)
                assert_int_equal(rc, TW_OK);
            else if (rc != TW_EMALFORMED)
                fail_msg("line %d: body prefix %zu gave %d", vc->line, k, rc);
        }
    }
}

/* -------------------------------------------------------- broken variants */

/* A broken stream: the whole gives `expect`; no prefix succeeds; once a prefix gives an
 * error other than TW_EINCOMPLETE, every longer one gives the same. */
static void check_broken(const uint8_t *s, size_t len, int expect, int line, const char *what)
{
    struct tw_tls_hello h;
    int first_err = 0;
    for (size_t k = 0; k <= len; k++) {
        int rc = parse_prefix(s, k, &h);
        if (rc >= 0)
            fail_msg("line %d (%s): prefix %zu of %zu succeeded", line, what, k, len);
        if (first_err && rc != first_err)
            fail_msg("line %d (%s): prefix %zu gave %d after %d", line, what, k, rc, first_err);
        if (rc != TW_EINCOMPLETE)
            first_err = rc;
        if (k == len && expect != 0 && rc != expect)
            fail_msg("line %d (%s): gave %d, expected %d", line, what, rc, expect);
    }
}

enum field {
    F_HS_TYPE,
    F_HS_LEN,
    F_LEGACY_VERSION,
    F_SID_LEN,
    F_CS_LEN,
    F_COMP_LEN,
    F_EXTS_LEN,
    F_EACH_EXT_LEN,
    F_SNI_LIST,
    F_HOST_LEN,
};

struct field_mut {
    int line;
    const char *name;
    enum field f;
    bool set; /* set to v, else add v */
    long v;
    int expect; /* for the stream; a body field also fails tw_tls_client_hello_parse */
};

static const struct field_mut field_muts[] = {
    {__LINE__, "msg_type 2", F_HS_TYPE, true, 2, TW_EMALFORMED},
    {__LINE__, "handshake length -1", F_HS_LEN, false, -1, TW_EMALFORMED},
    {__LINE__, "handshake length +1", F_HS_LEN, false, 1, TW_EINCOMPLETE},
    {__LINE__, "handshake length below minimum", F_HS_LEN, true, 40, TW_EMALFORMED},
    {__LINE__, "handshake length above ClientHello maximum", F_HS_LEN, true, 0xffffff,
     TW_EMALFORMED},
    {__LINE__, "handshake length one over the largest ClientHello", F_HS_LEN, true,
     TW_TLS_HELLO_MAX + 1, TW_EMALFORMED},
    {__LINE__, "session_id 33", F_SID_LEN, true, 33, TW_EMALFORMED},
    {__LINE__, "session_id +1", F_SID_LEN, false, 1, TW_EMALFORMED},
    {__LINE__, "session_id -1", F_SID_LEN, false, -1, TW_EMALFORMED},
    {__LINE__, "cipher_suites odd", F_CS_LEN, false, 1, TW_EMALFORMED},
    {__LINE__, "cipher_suites +2", F_CS_LEN, false, 2, TW_EMALFORMED},
    {__LINE__, "cipher_suites -2", F_CS_LEN, false, -2, TW_EMALFORMED},
    {__LINE__, "cipher_suites empty", F_CS_LEN, true, 0, TW_EMALFORMED},
    {__LINE__, "cipher_suites past the body", F_CS_LEN, true, 0xfffe, TW_EMALFORMED},
    {__LINE__, "compression_methods empty", F_COMP_LEN, true, 0, TW_EMALFORMED},
    {__LINE__, "compression_methods +1", F_COMP_LEN, false, 1, TW_EMALFORMED},
    {__LINE__, "extensions +1", F_EXTS_LEN, false, 1, TW_EMALFORMED},
    {__LINE__, "extensions -1", F_EXTS_LEN, false, -1, TW_EMALFORMED},
    {__LINE__, "extensions 0", F_EXTS_LEN, true, 0, TW_EMALFORMED},
    {__LINE__, "each extension +1", F_EACH_EXT_LEN, false, 1, TW_EMALFORMED},
    {__LINE__, "each extension -1", F_EACH_EXT_LEN, false, -1, TW_EMALFORMED},
    {__LINE__, "server_name list +1", F_SNI_LIST, false, 1, TW_EMALFORMED},
    {__LINE__, "server_name list -1", F_SNI_LIST, false, -1, TW_EMALFORMED},
    {__LINE__, "server_name list 0", F_SNI_LIST, true, 0, TW_EMALFORMED},
    {__LINE__, "host_name +1", F_HOST_LEN, false, 1, TW_EMALFORMED},
    {__LINE__, "host_name -1", F_HOST_LEN, false, -1, TW_EMALFORMED},
    {__LINE__, "host_name 0", F_HOST_LEN, true, 0, TW_EMALFORMED},
};

static unsigned field_width(enum field f)
{
    switch (f) {
    case F_HS_TYPE:
    case F_SID_LEN:
    case F_COMP_LEN:
        return 1;
    case F_HS_LEN:
        return 3;
    default:
        return 2;
    }
}

/* Rewrites the field at `at`; returns false when the new value does not fit its width. */
static bool rewrite(uint8_t *m, size_t at, unsigned w, bool set, long v)
{
    long old = 0;
    for (unsigned i = 0; i < w; i++)
        old = old << 8 | m[at + i];
    long nv = set ? v : old + v;
    if (nv < 0 || nv >= 1L << (8 * w) || nv == old)
        return false;
    for (unsigned i = 0; i < w; i++)
        m[at + i] = (uint8_t)(nv >> (8 * (w - 1 - i)));
    return true;
}

static void run_broken_msg(const struct valid_case *vc, const uint8_t *m, size_t n, int expect,
                           bool body_too, int line, const char *what)
{
    static uint8_t s[STREAM_MAX];
    struct framed f;
    struct tw_tls_hello h;

    frame(m, n, &vc->fr, s, sizeof(s), &f);
    check_broken(s, f.len, expect, line, what);
    if (body_too) {
        uint8_t *body = exact_copy(m + 4, n - 4);
        if (tw_tls_client_hello_parse(body, n - 4, &h) != TW_EMALFORMED)
            fail_msg("line %d (%s): body accepted", line, what);
        free(body);
    }
}

static void test_field_mutations(void **state)
{
    static uint8_t m[MSG_MAX];
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(valid_cases); ci++) {
        const struct valid_case *vc = &valid_cases[ci];
        if (!vc->mutate)
            continue;
        size_t n = case_message(vc, msg_buf);
        struct layout l;
        layout_of(msg_buf, n, &l);
        print_message("line %d: %s\n", vc->line, vc->name);
        for (size_t mi = 0; mi < TW_ARRAY_SIZE(field_muts); mi++) {
            const struct field_mut *fm = &field_muts[mi];
            size_t at[MAX_EXT], nat = 0;
            switch (fm->f) {
            case F_HS_TYPE:
                at[nat++] = 0;
                break;
            case F_HS_LEN:
                at[nat++] = 1;
                break;
            case F_LEGACY_VERSION:
                at[nat++] = 4;
                break;
            case F_SID_LEN:
                at[nat++] = l.sid_len;
                break;
            case F_CS_LEN:
                at[nat++] = l.cs_len;
                break;
            case F_COMP_LEN:
                at[nat++] = l.comp_len;
                break;
            case F_EXTS_LEN:
                if (l.exts_len)
                    at[nat++] = l.exts_len;
                break;
            case F_EACH_EXT_LEN:
                for (size_t e = 0; e < l.n_ext; e++)
                    at[nat++] = l.ext_at[e] + 2;
                break;
            case F_SNI_LIST:
                if (l.sni_list)
                    at[nat++] = l.sni_list;
                break;
            case F_HOST_LEN:
                /* the first entry; the unknown-type case's first entry is not a host_name */
                if (l.host_len && msg_buf[l.host_len - 1] == 0)
                    at[nat++] = l.host_len;
                break;
            }
            for (size_t i = 0; i < nat; i++) {
                memcpy(m, msg_buf, n);
                if (!rewrite(m, at[i], field_width(fm->f), fm->set, fm->v))
                    continue;
                char what[160];
                snprintf(what, sizeof(what), "case line %d, %s @%zu", vc->line, fm->name, at[i]);
                run_broken_msg(vc, m, n, fm->expect, fm->f > F_HS_LEN, fm->line, what);
            }
        }
    }
}

/* Replaces `del` bytes at `at` with `ins` bytes of value 0x11, adds `dv` to the `w`-byte
 * length field at `field`, and fixes the handshake length: one vector changes size
 * consistently with its own length, so only the rule under test can reject it. */
static size_t splice(uint8_t *m, size_t n, size_t at, size_t del, size_t ins, size_t field,
                     unsigned w, long dv)
{
    assert_true(at + del <= n && n - del + ins <= MSG_MAX);
    memmove(m + at + ins, m + at + del, n - at - del);
    memset(m + at, 0x11, ins);
    n = n - del + ins;
    assert_true(rewrite(m, field, w, false, dv));
    size_t body = n - 4;
    m[1] = (uint8_t)(body >> 16), m[2] = (uint8_t)(body >> 8), m[3] = (uint8_t)body;
    return n;
}

/* Structural breakage: bytes added or removed, with the enclosing lengths kept consistent
 * except for the one level under test. */
static void test_structure_mutations(void **state)
{
    static uint8_t m[MSG_MAX];
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(valid_cases); ci++) {
        const struct valid_case *vc = &valid_cases[ci];
        if (!vc->mutate)
            continue;
        size_t n = case_message(vc, msg_buf), mn;
        struct layout l;
        layout_of(msg_buf, n, &l);

        /* a vector resized consistently to a size its own rule forbids */
        size_t sid = msg_buf[l.sid_len], cs = rd16(msg_buf + l.cs_len);
        size_t comp = msg_buf[l.comp_len];
        memcpy(m, msg_buf, n);
        mn = splice(m, n, l.sid_len + 1, 0, 33 - sid, l.sid_len, 1, (long)(33 - sid));
        run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, "session_id of 33 bytes");
        memcpy(m, msg_buf, n);
        mn = splice(m, n, l.cs_len + 2, 0, 1, l.cs_len, 2, 1);
        run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, "odd cipher_suites");
        memcpy(m, msg_buf, n);
        mn = splice(m, n, l.cs_len + 2, cs, 0, l.cs_len, 2, -(long)cs);
        run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, "no cipher_suites");
        memcpy(m, msg_buf, n);
        mn = splice(m, n, l.comp_len + 1, comp, 0, l.comp_len, 1, -(long)comp);
        run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, "no compression_methods");

        /* one byte after the extensions (or after compression), handshake length follows */
        memcpy(m, msg_buf, n);
        m[n] = 0;
        mn = n + 1;
        m[1] = (uint8_t)((mn - 4) >> 16), m[2] = (uint8_t)((mn - 4) >> 8), m[3] = (uint8_t)(mn - 4);
        run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, vc->name);

        /* last byte dropped, handshake length follows */
        if (l.exts_len) {
            memcpy(m, msg_buf, n);
            mn = n - 1;
            m[1] = (uint8_t)((mn - 4) >> 16), m[2] = (uint8_t)((mn - 4) >> 8),
            m[3] = (uint8_t)(mn - 4);
            run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, vc->name);
        }
        if (!l.exts_len)
            continue;

        /* each extension repeated at the end: RFC 8446 4.2 forbids it, OpenSSL and GnuTLS
         * accept repeated GREASE and unknown types; read, flagged, the names unchanged (a
         * repeated server_name with the same name adds none) */
        for (size_t e = 0; e < l.n_ext; e++) {
            struct tw_tls_hello h, h0;
            memcpy(m, msg_buf, n);
            size_t at = l.ext_at[e], dl = rd16(msg_buf + at + 2);
            if (l.exts_len && rd16(msg_buf + l.exts_len) + 4 + dl > 65535)
                continue;
            mn = append_ext(m, n, sizeof(m), l.ext_type[e], msg_buf + at + 4, dl);
            uint8_t *b0 = exact_copy(msg_buf + 4, n - 4), *b1 = exact_copy(m + 4, mn - 4);
            assert_int_equal(tw_tls_client_hello_parse(b0, n - 4, &h0), TW_OK);
            if (tw_tls_client_hello_parse(b1, mn - 4, &h) != TW_OK)
                fail_msg("line %d: extension 0x%04x repeated: refused", vc->line,
                         l.ext_type[e]);
            uint32_t want = h0.flags | FL(DUPLICATE_EXTENSION) |
                            (l.ext_type[e] == TW_TLS_EXT_SERVER_NAME ? FL(SNI_EXTENSION_REPEATED)
                                                                     : 0);
            if (mn - 4 > TW_TLS_HELLO_LARGE)
                want |= FL(HELLO_LARGE);
            if (h.flags != want)
                fail_msg("line %d: extension 0x%04x repeated: flags 0x%x, expected 0x%x",
                         vc->line, l.ext_type[e], (unsigned)h.flags, (unsigned)want);
            assert_int_equal(h.n_sni, h0.n_sni);
            for (unsigned i = 0; i < h.n_sni; i++)
                assert_int_equal(h.snis[i] - b1, h0.snis[i] - b0);
            assert_int_equal(h.has_ech, h0.has_ech);
            free(b0);
            free(b1);
        }

        /* an extension header cut short inside the block */
        memcpy(m, msg_buf, n);
        mn = append_ext(m, n, sizeof(m), 0x7fff, NULL, 0) - 1;
        unsigned e = rd16(m + l.exts_len) - 1;
        m[l.exts_len] = (uint8_t)(e >> 8), m[l.exts_len + 1] = (uint8_t)e;
        m[1] = (uint8_t)((mn - 4) >> 16), m[2] = (uint8_t)((mn - 4) >> 8), m[3] = (uint8_t)(mn - 4);
        run_broken_msg(vc, m, mn, TW_EMALFORMED, true, __LINE__, "cut extension header");
    }
}

/* Parses stream s (len bytes) whole and at every prefix: incomplete before `consumed`, then
 * the hello, with its first name `sni` and exactly `flags`. */
static void check_read_through(const uint8_t *s, size_t len, size_t consumed, const char *sni,
                               uint32_t flags, int line, const char *what)
{
    struct tw_tls_hello h;
    for (size_t k = 0; k <= len; k++) {
        int rc = parse_prefix(s, k, &h);
        if (k < consumed && rc != TW_EINCOMPLETE)
            fail_msg("line %d (%s): prefix %zu of %zu gave %d", line, what, k, len, rc);
        if (k >= consumed && rc != (int)consumed)
            fail_msg("line %d (%s): prefix %zu gave %d, expected %zu", line, what, k, rc,
                     consumed);
    }
    if (sni == NULL) {
        assert_int_equal(h.n_sni, 0);
    } else {
        assert_int_equal(h.sni_len, strlen(sni));
        assert_memory_equal(h.sni, sni, h.sni_len);
    }
    if (h.flags != flags)
        fail_msg("line %d (%s): flags 0x%x, expected 0x%x", line, what, (unsigned)h.flags,
                 (unsigned)flags);
}

/* Whole records in raw[0..n). */
static unsigned n_records_in(const char *raw, size_t n)
{
    unsigned k = 0;
    for (size_t o = 0; o + 5 <= n; o += 5 + rd16((const uint8_t *)raw + o + 3))
        k++;
    return k;
}

/* Record-layer oddities and breakage on the framed stream. */
static void test_record_mutations(void **state)
{
    static uint8_t s[STREAM_MAX];
    static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    static const uint8_t alert[] = {21, 3, 3, 0, 2, 1, 0};
    static const uint8_t appdata[] = {23, 3, 3, 0, 1, 0x42};
    static const uint8_t empty_hs[] = {22, 3, 1, 0, 0};
    static const uint8_t heartbeat[] = {24, 3, 3, 0, 3, 1, 0, 0};
    static const uint8_t empty_ccs[] = {20, 3, 0xff, 0, 0};
    /* Skipped whole before (or inside) the hello, as servers skip them; flagged. */
    static const struct {
        const uint8_t *rec;
        size_t len;
        uint32_t flag;
        const char *name;
    } skipped[] = {
        {ccs, sizeof(ccs), FL(RECORD_CCS), "ChangeCipherSpec record"},
        {alert, sizeof(alert), FL(RECORD_ALERT), "alert record"},
        {empty_hs, sizeof(empty_hs), FL(RECORD_EMPTY), "empty handshake record"},
        {heartbeat, sizeof(heartbeat), FL(RECORD_HEARTBEAT), "heartbeat record"},
        {empty_ccs, sizeof(empty_ccs), FL(RECORD_CCS) | FL(RECORD_VERSION_UNUSUAL),
         "empty ChangeCipherSpec record, version 0x03ff"},
    };
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(valid_cases); ci++) {
        const struct valid_case *vc = &valid_cases[ci];
        if (!vc->mutate)
            continue;
        struct framed f;
        size_t n = case_message(vc, msg_buf);
        frame(msg_buf, n, &vc->fr, stream_buf, sizeof(stream_buf), &f);
        uint32_t flags = case_flags(vc, n, &f);
        print_message("line %d: %s\n", vc->line, vc->name);

        for (unsigned r = 0; r < f.n_rec && r < 4; r++) {
            size_t at = f.rec_at[r];
            static const unsigned bad_len[] = {16385, 0xffff};
            static const unsigned bad_ver[] = {0x0200, 0x0403, 0x0103, 0x0003, 0xff03};
            static const unsigned odd_ver[] = {0x0305, 0x03ff, 0x0380};
            static const unsigned bad_type[] = {23, 25, 0, 0x80, 0x17};

            for (size_t i = 0; i < TW_ARRAY_SIZE(bad_len); i++) {
                memcpy(s, stream_buf, f.len);
                s[at + 3] = (uint8_t)(bad_len[i] >> 8), s[at + 4] = (uint8_t)bad_len[i];
                check_broken(s, f.len, TW_EMALFORMED, __LINE__, "record length");
            }
            /* length 0: an empty record, skipped; its former contents then frame no hello */
            memcpy(s, stream_buf, f.len);
            s[at + 3] = 0, s[at + 4] = 0;
            check_broken(s, f.len, 0, __LINE__, "record length 0");
            for (size_t i = 0; i < TW_ARRAY_SIZE(bad_ver); i++) {
                memcpy(s, stream_buf, f.len);
                s[at + 1] = (uint8_t)(bad_ver[i] >> 8), s[at + 2] = (uint8_t)bad_ver[i];
                check_broken(s, f.len, TW_EMALFORMED, __LINE__, "record version");
            }
            /* servers check only the major version */
            for (size_t i = 0; i < TW_ARRAY_SIZE(odd_ver); i++) {
                memcpy(s, stream_buf, f.len);
                s[at + 1] = (uint8_t)(odd_ver[i] >> 8), s[at + 2] = (uint8_t)odd_ver[i];
                check_read_through(s, f.len, f.consumed, vc->sni,
                                   flags | FL(RECORD_VERSION_UNUSUAL), __LINE__, "record version");
            }
            for (size_t i = 0; i < TW_ARRAY_SIZE(bad_type); i++) {
                memcpy(s, stream_buf, f.len);
                s[at] = (uint8_t)bad_type[i];
                check_broken(s, f.len, TW_EMALFORMED, __LINE__, "record type");
            }
            /* one byte short: the stream no longer frames a hello; never success */
            memcpy(s, stream_buf, f.len);
            unsigned rl = rd16(s + at + 3) - 1;
            if (rl > 0) {
                s[at + 3] = (uint8_t)(rl >> 8), s[at + 4] = (uint8_t)rl;
                check_broken(s, f.len, 0, __LINE__, "record length -1");
            }
            /* a record before this one: skipped (malformed past TW_TLS_SKIP_MAX), or
             * malformed (application data) */
            for (size_t i = 0; i < TW_ARRAY_SIZE(skipped); i++) {
                memcpy(s, stream_buf, at);
                memcpy(s + at, skipped[i].rec, skipped[i].len);
                memcpy(s + at + skipped[i].len, stream_buf + at, f.len - at);
                if (n_records_in(vc->fr.pre, vc->fr.pre_len) +
                        n_records_in(vc->fr.mid, vc->fr.mid_len) ==
                    TW_TLS_SKIP_MAX)
                    check_broken(s, f.len + skipped[i].len, TW_EMALFORMED, __LINE__,
                                 "one record over the skip bound");
                else
                    check_read_through(s, f.len + skipped[i].len, f.consumed + skipped[i].len,
                                       vc->sni, flags | skipped[i].flag, __LINE__,
                                       skipped[i].name);
            }
            memcpy(s, stream_buf, at);
            memcpy(s + at, appdata, sizeof(appdata));
            memcpy(s + at + sizeof(appdata), stream_buf + at, f.len - at);
            check_broken(s, f.len + sizeof(appdata), TW_EMALFORMED, __LINE__,
                         "application_data record");
        }
    }
}

/* At most TW_TLS_SKIP_MAX records are skipped; one more is malformed. */
static void test_skip_bound(void **state)
{
    static uint8_t s[STREAM_MAX];
    (void)state;
    for (unsigned k = TW_TLS_SKIP_MAX; k <= TW_TLS_SKIP_MAX + 1; k++) {
        size_t len = 0;
        for (unsigned i = 0; i < k; i++) {
            memcpy(s + len, i % 2 ? REC_CCS : REC_EMPTY, i % 2 ? 6 : 5);
            len += i % 2 ? 6 : 5;
        }
        memcpy(s + len, ch_curl, sizeof(ch_curl));
        len += sizeof(ch_curl);
        if (k == TW_TLS_SKIP_MAX)
            check_read_through(s, len, len, "abc.trycloudflare.com",
                               FL(RECORD_EMPTY) | FL(RECORD_CCS), __LINE__, "32 skipped records");
        else
            check_broken(s, len, TW_EMALFORMED, __LINE__, "33 skipped records");
    }
}

/* A hello that breaks after its server_name: malformed, the names read kept and flagged. */
static void test_truncated_names(void **state)
{
    static const struct valid_case two = {__LINE__,
                                          "broken after two names",
                                          SRC_SYNTH,
                                          {.sni_kind = SNI_TWO, .sni = "first.localto.net"},
                                          .sni = "first.localto.net"};
    struct tw_tls_hello h;
    struct framed f;
    struct layout l;
    (void)state;

    size_t n = case_message(&two, msg_buf);
    layout_of(msg_buf, n, &l);
    /* the extensions block claims 4 bytes more than the message holds */
    unsigned e = rd16(msg_buf + l.exts_len) + 4;
    msg_buf[l.exts_len] = (uint8_t)(e >> 8), msg_buf[l.exts_len + 1] = (uint8_t)e;
    frame(msg_buf, n, &two.fr, stream_buf, sizeof(stream_buf), &f);
    assert_int_equal(parse_prefix(stream_buf, f.len, &h), TW_EMALFORMED);
    /* the extensions block no longer frames: nothing read */
    assert_int_equal(h.n_sni, 0);
    assert_int_equal(h.flags, 0);
    msg_buf[l.exts_len] = (uint8_t)((e - 4) >> 8), msg_buf[l.exts_len + 1] = (uint8_t)(e - 4);

    /* the last extension's length runs 1 past the block: both names were read */
    size_t last = l.ext_at[l.n_ext - 1];
    unsigned dl = rd16(msg_buf + last + 2) + 1;
    msg_buf[last + 2] = (uint8_t)(dl >> 8), msg_buf[last + 3] = (uint8_t)dl;
    frame(msg_buf, n, &two.fr, stream_buf, sizeof(stream_buf), &f);
    for (size_t k = 0; k < f.len; k++)
        assert_int_equal(parse_prefix(stream_buf, k, &h), TW_EINCOMPLETE);
    assert_int_equal(parse_prefix(stream_buf, f.len, &h), TW_EMALFORMED);
    assert_int_equal(h.n_sni, 2);
    assert_true(h.has_sni);
    assert_int_equal(h.sni_len, strlen("first.localto.net"));
    assert_memory_equal(h.snis[0], "first.localto.net", h.sni_lens[0]);
    assert_memory_equal(h.snis[1], "second.example", h.sni_lens[1]);
    assert_int_equal(h.flags, FL(TRUNCATED) | FL(SNI_MULTIPLE));
    /* everything else is reset */
    assert_null(h.ciphers);
    assert_null(h.exts);
    assert_int_equal(h.hello_len, 0);
    /* the bare body too */
    uint8_t *body = exact_copy(msg_buf + 4, n - 4);
    assert_int_equal(tw_tls_client_hello_parse(body, n - 4, &h), TW_EMALFORMED);
    assert_int_equal(h.n_sni, 2);
    assert_true(h.snis[0] >= body && h.snis[1] + h.sni_lens[1] <= body + n - 4);
    free(body);
}

/* Streams that are not TLS ClientHellos at all, and contract edges. */
static void test_not_client_hello(void **state)
{
    /* SSLv2-compatible CLIENT-HELLO (RFC 5246 appendix E.2): length 0x801f, msg 1, v3.1 */
    static const uint8_t sslv2[] = {0x80, 0x1f, 0x01, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00,
                                    0x00, 0x10, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x11,
                                    0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
                                    0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};
    static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const uint8_t connect[] = "CONNECT a.localto.net:443 HTTP/1.1\r\n\r\n";
    /* a ServerHello record: handshake type 2 */
    static const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x2a, 0x02, 0x00, 0x00, 0x26};
    static const struct {
        int line;
        const uint8_t *b;
        size_t len;
    } cases[] = {
        {__LINE__, sslv2, sizeof(sslv2)},
        {__LINE__, http, sizeof(http) - 1},
        {__LINE__, connect, sizeof(connect) - 1},
        {__LINE__, server_hello, sizeof(server_hello)},
    };
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        check_broken(cases[i].b, cases[i].len, TW_EMALFORMED, cases[i].line, "not a ClientHello");
        assert_false(tw_tls_maybe_client_hello(cases[i].b, cases[i].len));
    }

    /* rejected as soon as the offending header byte is in, not when the message would end */
    static const struct {
        int line;
        const char *b;
        size_t len;
    } early[] = {
        {__LINE__, "\x80", 1},
        {__LINE__, "\x16\x03\x01\x00\x30\x02", 6},             /* msg_type 2 */
        {__LINE__, "\x16\x03\x01\x00\x30\x01\x00\x00\x28", 9}, /* body 40 < minimum 41 */
        {__LINE__,
         "\x16\x03\x01\x00\x01\x01\x16\x03\x01\x00\x01\x00"
         "\x16\x03\x01\x00\x01\x00\x16\x03\x01\x00\x01\x28",
         24},                                                  /* same, 4 records */
        {__LINE__, "\x16\x03\x01\x00\x30\x01\x02\x01\x45", 9}, /* body over the vector bounds */
        {__LINE__, "\x16\x03\x01\x41", 4},                     /* record length over 2^14 */
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(early); i++) {
        struct tw_tls_hello h0;
        if (parse_prefix((const uint8_t *)early[i].b, early[i].len, &h0) != TW_EMALFORMED)
            fail_msg("line %d: not rejected early", early[i].line);
    }

    /* zero-length host_name (RFC 6066: HostName<1..2^16-1>) alone: skipped, no name */
    static const struct valid_case empty_sni = {__LINE__, "empty host_name", SRC_SYNTH,
                                                .synth = SYNTH_SNI("")};
    size_t n = case_message(&empty_sni, msg_buf);
    struct tw_tls_hello h;
    uint8_t *body = exact_copy(msg_buf + 4, n - 4);
    assert_int_equal(tw_tls_client_hello_parse(body, n - 4, &h), TW_OK);
    assert_int_equal(h.n_sni, 0);
    assert_false(h.has_sni);
    assert_int_equal(h.flags, FL(SNI_EMPTY));
    free(body);

    /* a body one byte over a 16 KiB scratch does not fit it (a caller that configured a
     * smaller --tls-max-hello) */
    static const struct valid_case too_big = {
        __LINE__,
        "body 16 KiB + 1",
        SRC_SYNTH,
        {.sni_kind = SNI_ONE, .sni = "x", .body_len = SMALL_SCRATCH - 4 + 1},
        .fr = {.split = 2}};
    static uint8_t small_scratch[SMALL_SCRATCH];
    struct framed f;
    n = case_message(&too_big, msg_buf);
    frame(msg_buf, n, &too_big.fr, stream_buf, sizeof(stream_buf), &f);
    assert_int_equal(
        tw_tls_parse_stream(stream_buf, f.len, small_scratch, sizeof(small_scratch), &h),
        TW_ENOMEM);
    assert_int_equal(tw_tls_parse_stream(stream_buf, 9, small_scratch, sizeof(small_scratch), &h),
                     TW_ENOMEM);
    assert_int_equal(tw_tls_parse_stream(stream_buf, 8, small_scratch, sizeof(small_scratch), &h),
                     TW_EINCOMPLETE);
    /* ...but parses with the scratch for any hello */
    assert_int_equal(tw_tls_parse_stream(stream_buf, f.len, scratch, sizeof(scratch), &h),
                     (int)f.len);
    assert_true(h.has_sni && h.sni_len == 1 && h.sni[0] == 'x');
    assert_int_equal(h.flags, FL(HELLO_LARGE) | FL(RECORD_SPLIT));

    /* no scratch at all */
    assert_int_equal(tw_tls_parse_stream(ch_curl, sizeof(ch_curl), NULL, 0, &h), TW_ENOMEM);
    assert_int_equal(tw_tls_parse_stream(NULL, 0, scratch, sizeof(scratch), &h), TW_EINCOMPLETE);
}

/* "host:port" names: the host's length when a port follows; everything else whole. */
static void test_sni_host_len(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t want;
    } tab[] = {
        {"x.localto.net:443", 13}, {"x.localto.net.:8443", 14}, {"a:0", 1},
        {"a:65535", 1},           {"[::1]:443", 5},           {"x.localto.net", 13},
        {"a:65536", 7},           {"a:123456", 8},            {"a:", 2},
        {":443", 4},              {"a:44b", 5},               {"fe80::1", 7},
        {"a::443", 6},            {"443", 3},                 {"", 0},
    };

    for (size_t i = 0; i < TW_ARRAY_SIZE(tab); i++) {
        size_t n = strlen(tab[i].name);
        if (tw_tls_sni_host_len((const uint8_t *)tab[i].name, n) != tab[i].want)
            fail_msg("\"%s\": %zu, want %zu", tab[i].name,
                     tw_tls_sni_host_len((const uint8_t *)tab[i].name, n), tab[i].want);
    }
}

/* A byte-prefix predicate's cases: the bytes, their length, the answer wanted. */
struct prefix_case {
    int line;
    const char *b;
    size_t len;
    bool want;
};

/* pred on each case (an exact-size copy, so an over-read is caught by the sanitizer build),
 * then on every prefix of every real hello, where it must say on_real. */
static void check_prefix_pred(bool (*pred)(const uint8_t *, size_t),
                              const struct prefix_case *cases, size_t n, bool on_real)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = exact_copy((const uint8_t *)cases[i].b, cases[i].len);
        if (pred(d, cases[i].len) != cases[i].want)
            fail_msg("line %d", cases[i].line);
        free(d);
    }
    for (size_t i = 1; i < TW_ARRAY_SIZE(real_src); i++)
        for (size_t k = 0; k <= real_src[i].len; k++)
            assert_int_equal(pred(real_src[i].bytes, k), on_real);
}

static void test_maybe_client_hello(void **state)
{
    static const struct prefix_case cases[] = {
        {__LINE__, "", 0, true},
        {__LINE__, "\x16", 1, true},
        {__LINE__, "\x16\x03", 2, true},
        {__LINE__, "\x16\x03\x01", 3, true},
        {__LINE__, "\x16\x03\x01\x02", 4, true},
        {__LINE__, "\x16\x03\x01\x02\x00", 5, true},
        {__LINE__, "\x16\x03\x01\x02\x00\x01", 6, true},
        {__LINE__, "\x16\x03\x04\x40\x00\x01", 6, true},
        {__LINE__, "\x16\x03\x00\x00\x01\x01", 6, true},
        {__LINE__, "\x16\x03\x05", 3, true},                    /* servers read 0x0305 */
        {__LINE__, "\x16\x03\xff\x00\x05\x01", 6, true},
        {__LINE__, "\x16\x03\x01\x00\x00", 5, true},           /* empty: skipped */
        {__LINE__, "\x16\x03\x01\x00\x00\x16", 6, true},
        {__LINE__, "\x14\x03\x03\x00\x01\x01", 6, true},      /* ChangeCipherSpec first */
        {__LINE__, "\x15\x03\x03\x00\x02\x01\x00", 7, true}, /* alert first */
        {__LINE__, "\x18\x03", 2, true},                        /* heartbeat first */
        {__LINE__, "\x17", 1, false},
        {__LINE__, "\x19", 1, false},
        {__LINE__, "\x16\x02", 2, false},
        {__LINE__, "\x14\x04", 2, false},
        {__LINE__, "\x16\x03\x01\x41", 4, false},
        {__LINE__, "\x16\x03\x01\x40\x01", 5, false},
        {__LINE__, "\x16\x03\x01\x02\x00\x02", 6, false},
        {__LINE__, "\x80\x2e\x01\x03\x01", 5, false},
        {__LINE__, "GET / ", 6, false},
    };
    (void)state;
    check_prefix_pred(tw_tls_maybe_client_hello, cases, TW_ARRAY_SIZE(cases), true);
}

/* An application_data record header: whole (5 bytes), any 3.x version, at most 2^14 + 2048
 * bytes; a ClientHello's first bytes never are one. */
static void test_application_data(void **state)
{
    static const struct prefix_case cases[] = {
        {__LINE__, "\x17\x03\x03\x00\x20", 5, true},
        {__LINE__, "\x17\x03\x01\x48\x00\xaa", 6, true}, /* 18432 = 2^14 + 2048 */
        {__LINE__, "\x17\x03\x00\x00\x00", 5, true},
        {__LINE__, "\x17\x03\xff\x00\x10", 5, true},
        {__LINE__, "\x17\x03\x03\x48\x01", 5, false},
        {__LINE__, "\x17\x03\x03\x00", 4, false},
        {__LINE__, "\x17\x02\x03\x00\x10", 5, false},
        {__LINE__, "\x16\x03\x01\x02\x00", 5, false},
        {__LINE__, "\x15\x03\x03\x00\x02", 5, false},
        {__LINE__, "", 0, false},
    };
    (void)state;
    check_prefix_pred(tw_tls_application_data, cases, TW_ARRAY_SIZE(cases), false);
}

/* tw_tls_hello_has_extension: found in a real hello, not in one without extensions. */
static void test_has_extension(void **state)
{
    (void)state;
    struct tw_tls_hello h;

    memset(&h, 0, sizeof(h)); /* no extensions block: exts NULL */
    assert_false(tw_tls_hello_has_extension(&h, TW_TLS_EXT_SERVER_NAME));
    for (size_t i = 1; i < TW_ARRAY_SIZE(real_src); i++) {
        assert_true(tw_tls_parse_stream(real_src[i].bytes, real_src[i].len, scratch,
                                        sizeof(scratch), &h) > 0);
        assert_true(tw_tls_hello_has_extension(&h, 0x000a)); /* supported_groups */
        assert_int_equal(tw_tls_hello_has_extension(&h, TW_TLS_EXT_SERVER_NAME),
                         i != SRC_OPENSSL_NOSNI);
        assert_false(tw_tls_hello_has_extension(&h, 0x7777));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_field_mutations),
        cmocka_unit_test(test_structure_mutations),
        cmocka_unit_test(test_record_mutations),
        cmocka_unit_test(test_skip_bound),
        cmocka_unit_test(test_truncated_names),
        cmocka_unit_test(test_not_client_hello),
        cmocka_unit_test(test_maybe_client_hello),
        cmocka_unit_test(test_application_data),
        cmocka_unit_test(test_has_extension),
        cmocka_unit_test(test_sni_host_len),
    };
    return tw_run_tests(tests, NULL, NULL);
}
