/* SPDX-License-Identifier: MIT */
/*
 * Tests for the QUIC Initial reader (src/proto/quic.c).
 *
 * Vectors: RFC 9001 Appendix A (keys from DCID 0x8394c8f03e515708 and the client Initial
 * carrying a ClientHello for example.com) and RFC 9369 Appendix A (the same for version 2).
 * Every other packet is built here by tests/quic_seal.h, whose sealing of the RFC plaintext
 * must reproduce the RFC packets byte for byte. Every datagram is fed from an exact-size heap
 * copy (AddressSanitizer sees a one-byte over-read) and compared afterwards to show it was not
 * written.
 */
#include "tunwatch/proto/quic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quic_seal.h"
#include "test_util.h"

#define PKT_MAX 4096
#define DGRAM_MAX 8192

static struct tw_quic_ctx *ctx;
static struct tw_quic_flow flow;
static struct tw_quic_stats stats;

static void expect(bool ok, int line, size_t k, const char *what)
{
    if (!ok)
        fail_msg("case line %d, at %zu: %s", line, k, what);
}
#define EXPECT(line, k, cond) expect((cond), (line), (k), #cond)

/* Hex digits to bytes, skipping spaces and newlines. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;

    for (; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            v = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            v = *s - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(n < cap);
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    return n;
}

static bool sni_is(const struct tw_quic_hello *h, const char *want)
{
    return h->tls.has_sni && h->tls.sni_len == strlen(want) &&
           memcmp(h->tls.sni, want, h->tls.sni_len) == 0;
}

/* Feeds d[0..n) from an exact-size copy; checks the copy was not written. */
static enum tw_quic_verdict feed(const uint8_t *d, size_t n, struct tw_quic_hello *out)
{
    uint8_t *c = exact_copy(d, n);
    enum tw_quic_verdict v = tw_quic_feed(ctx, &flow, c, n, &stats, out);

    assert_memory_equal(c, d, n);
    free(c);
    return v;
}

static void fresh(void)
{
    tw_quic_flow_init(&flow);
    memset(&stats, 0, sizeof(stats));
}

static int setup(void **state)
{
    (void)state;
    ctx = tw_quic_ctx_new();
    return ctx == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    tw_quic_ctx_free(ctx);
    return 0;
}

/* ------------------------------------------------------------ RFC vectors */

static const uint8_t rfc_dcid[] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};

/* RFC 9001 A.2 and RFC 9369 A.2: the CRYPTO frame of the client Initial (then PADDING). */
static const char rfc_crypto_frame[] =
    "060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a 00080006001d00170018001000070005"
    "04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408 050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806 048000ffff";

/* RFC 9001 A.2: the protected client Initial. */
static const char rfc9001_initial[] =
    "c000000001088394c8f03e5157080000 449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c 0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a12 82a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba1 7c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89 eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae81215 4682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf3 62c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e 610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5 eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d8 2df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7 961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4 faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d874 3eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7 fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a 33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a22 9a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf 330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f0 5796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576 f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff2 8f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f 6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37 252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accd d5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4 dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c 4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a07 1b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b4381303 68cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e5 66d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499d bd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433 bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885 c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723 c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd8 04a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356f bf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905dd f3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be 0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b 8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934";

/* RFC 9369 A.2: the protected version 2 client Initial. */
static const char rfc9369_initial[] =
    "d76b3343cf088394c8f03e5157080000 449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c 96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb 5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58 a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004 f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de 1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f77 32e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b 6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65 e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b 46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df 8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910 d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34 b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae43 2b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe060 17e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5 c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd4787 6d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99 f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806 105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e1 0d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd 770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a4083 22cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388 d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a4 17ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a 30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037fe bf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42 310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd115 7380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec30966 1bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671 a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da498730 7cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5a ddf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0a e55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde2 7525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f3 3e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8af bab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b20 9973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc";

struct rfc_case {
    int line;
    uint32_t version;
    const char *packet;
    const char *key, *iv, *hp; /* A.1 client keys */
    uint8_t first;             /* first byte without header protection */
};

static const struct rfc_case rfc_cases[] = {
    {__LINE__, TW_QUIC_V1, rfc9001_initial, "1f369613dd76d5467730efcbe3b1a22d",
     "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2", 0xc3},
    {__LINE__, TW_QUIC_V2, rfc9369_initial, "8b1a0bc121284290a29e0971b5cd045d",
     "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9", 0xd3},
};

static uint8_t rfc_pkt[PKT_MAX], rfc_plain[PKT_MAX];
static size_t rfc_pkt_len, rfc_plain_len;

/* Loads a case's packet into rfc_pkt and the A.2 plaintext (frame + PADDING) into rfc_plain. */
static void rfc_load(const struct rfc_case *c)
{
    rfc_pkt_len = unhex(c->packet, rfc_pkt, sizeof(rfc_pkt));
    assert_int_equal(rfc_pkt_len, 1200);
    memset(rfc_plain, 0, sizeof(rfc_plain));
    size_t n = unhex(rfc_crypto_frame, rfc_plain, sizeof(rfc_plain));
    assert_int_equal(n, 4 + 241);
    rfc_plain_len = 1162;
}

/* A.1: the keys from the sample DCID. */
static void test_rfc_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(rfc_cases); i++) {
        const struct rfc_case *c = &rfc_cases[i];
        struct tw_quic_keys k;
        uint8_t want[16];

        assert_int_equal(tw_quic_keys_derive(ctx, c->version, rfc_dcid, sizeof(rfc_dcid), &k), 0);
        EXPECT(c->line, 0, k.version == c->version && k.cid_len == sizeof(rfc_dcid));
        EXPECT(c->line, 0, memcmp(k.cid, rfc_dcid, sizeof(rfc_dcid)) == 0);
        assert_int_equal(unhex(c->key, want, sizeof(want)), 16);
        EXPECT(c->line, 0, memcmp(k.key, want, 16) == 0);
        assert_int_equal(unhex(c->iv, want, sizeof(want)), 12);
        EXPECT(c->line, 0, memcmp(k.iv, want, 12) == 0);
        assert_int_equal(unhex(c->hp, want, sizeof(want)), 16);
        EXPECT(c->line, 0, memcmp(k.hp, want, 16) == 0);
    }
    /* refused: an unknown version, a DCID over 20 bytes; an empty DCID derives */
    struct tw_quic_keys k;
    uint8_t long_cid[21] = {0};
    assert_int_equal(tw_quic_keys_derive(ctx, 0x1a2a3a4a, rfc_dcid, 8, &k), TW_EINVAL);
    assert_int_equal(tw_quic_keys_derive(ctx, TW_QUIC_V1, long_cid, 21, &k), TW_EINVAL);
    assert_int_equal(tw_quic_keys_derive(ctx, TW_QUIC_V1, NULL, 0, &k), 0);
}

/* A.2: header, opening, and the ClientHello with SNI example.com through the stateful reader. */
static void test_rfc_initial(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(rfc_cases); i++) {
        const struct rfc_case *c = &rfc_cases[i];
        struct tw_quic_hdr h;
        struct tw_quic_keys k;
        struct tw_quic_plain pl;
        struct tw_quic_hello hello;
        enum tw_quic_reason why;
        int l = c->line;

        rfc_load(c);
        uint8_t *d = exact_copy(rfc_pkt, rfc_pkt_len);
        EXPECT(l, 0, tw_quic_header_parse(d, rfc_pkt_len, &h, &why) == 1200);
        EXPECT(l, 0, h.type == TW_QUIC_PKT_INITIAL && h.version == c->version);
        EXPECT(l, 0, h.dcid_len == 8 && memcmp(h.dcid, rfc_dcid, 8) == 0);
        EXPECT(l, 0, h.scid_len == 0 && h.scid == NULL && h.token_len == 0 && h.token == NULL);
        EXPECT(l, 0, h.pn_offset == 18 && h.length == 1182 && h.packet_len == 1200);
        assert_int_equal(tw_quic_keys_derive(ctx, c->version, h.dcid, h.dcid_len, &k), 0);
        EXPECT(l, 0, tw_quic_packet_open(ctx, &k, d, &h, &pl, &why) == 0);
        EXPECT(l, 0, pl.first == c->first && pl.pn_len == 4 && pl.pn == 2);
        EXPECT(l, 0, pl.payload_len == rfc_plain_len);
        EXPECT(l, 0, memcmp(pl.payload, rfc_plain, rfc_plain_len) == 0);
        EXPECT(l, 0, memcmp(d, rfc_pkt, rfc_pkt_len) == 0);
        free(d);

        fresh();
        EXPECT(l, 0, feed(rfc_pkt, rfc_pkt_len, &hello) == TW_QUIC_HELLO);
        EXPECT(l, 0, sni_is(&hello, "example.com"));
        EXPECT(l, 0, hello.version == c->version && hello.n_initial == 1 && hello.flags == 0);
        EXPECT(l, 0, hello.tls.legacy_version == 0x0303 && hello.tls.hello_len == 237);
        EXPECT(l, 0,
               hello.tls.sni >= flow.crypto && hello.tls.sni < flow.crypto + sizeof(flow.crypto));
        EXPECT(l, 0, stats.initials == 1 && stats.hellos == 1 && stats.datagrams == 1);
        for (size_t r = 0; r < TW_QR__COUNT; r++)
            EXPECT(l, r, stats.reason[r] == 0);
        /* the flow is done: nothing more is read */
        EXPECT(l, 0, feed(rfc_pkt, rfc_pkt_len, &hello) == TW_QUIC_DONE);
        EXPECT(l, 0, hello.tls.sni == NULL && stats.datagrams == 1);
    }
}

/* The test sealer reproduces both RFC packets from their plaintext. */
static void test_rfc_seal(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(rfc_cases); i++) {
        const struct rfc_case *c = &rfc_cases[i];
        uint8_t out[PKT_MAX];
        struct seal s = {.version = c->version,
                         .type = TW_QUIC_PKT_INITIAL,
                         .dcid = rfc_dcid,
                         .dcid_len = 8,
                         .pn = 2,
                         .pn_len = 4};

        rfc_load(c);
        size_t n = seal_packet(ctx, &s, rfc_plain, rfc_plain_len, out, sizeof(out));
        EXPECT(c->line, n, n == rfc_pkt_len && memcmp(out, rfc_pkt, n) == 0);
    }
}

/* Every prefix of the RFC packets: the header parser says incomplete, the reader never takes
 * or returns anything; the whole packet gives the hello. */
static void test_rfc_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(rfc_cases); i++) {
        const struct rfc_case *c = &rfc_cases[i];
        int l = c->line;

        rfc_load(c);
        for (size_t k = 0; k <= rfc_pkt_len; k++) {
            struct tw_quic_hdr h;
            struct tw_quic_hello hello;
            enum tw_quic_reason why;
            uint8_t *d = exact_copy(rfc_pkt, k);
            int rc = tw_quic_header_parse(d, k, &h, &why);

            EXPECT(l, k, rc == (k < rfc_pkt_len ? TW_EINCOMPLETE : (int)rfc_pkt_len));
            if (k < rfc_pkt_len)
                EXPECT(l, k, why == (k < 18 ? TW_QR_HEADER_TRUNCATED : TW_QR_SHORT_PACKET));
            free(d);

            fresh();
            enum tw_quic_verdict v = feed(rfc_pkt, k, &hello);
            if (k == 0)
                EXPECT(l, k, v == TW_QUIC_SKIP);
            else if (k < rfc_pkt_len)
                EXPECT(l, k,
                       v == TW_QUIC_DROP && flow.n_initial == 0 && flow.n_ranges == 0 &&
                           hello.tls.sni == NULL);
            else
                EXPECT(l, k, v == TW_QUIC_HELLO && sni_is(&hello, "example.com"));
        }
    }
}

/* Damaged copies of the RFC v1 packet. */
struct damage_case {
    int line;
    size_t at;
    uint8_t xor_with;
    enum tw_quic_verdict verdict;
    enum tw_quic_reason reason;
};

static const struct damage_case damage_cases[] = {
    {__LINE__, 1199, 0x01, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED}, /* the tag's last bit */
    {__LINE__, 1184, 0x80, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED}, /* the tag's first bit */
    {__LINE__, 600, 0x04, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED},  /* ciphertext */
    {__LINE__, 22, 0x01, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED},   /* the sample: another mask */
    {__LINE__, 19, 0x01, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED},   /* packet number (nonce) */
    {__LINE__, 6, 0x01, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED},    /* DCID: other keys */
    {__LINE__, 0, 0x01, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED},    /* packet number length */
    {__LINE__, 0, 0x40, TW_QUIC_DROP, TW_QR_NO_FIXED_BIT},
    {__LINE__, 0, 0x80, TW_QUIC_SKIP, TW_QR_NOT_LONG_HEADER},
    {__LINE__, 0, 0x30, TW_QUIC_SKIP, TW_QR_RETRY},           /* now a Retry */
    {__LINE__, 0, 0x10, TW_QUIC_SKIP, TW_QR_OTHER_LONG_TYPE}, /* now 0-RTT */
    {__LINE__, 4, 0x01, TW_QUIC_SKIP, TW_QR_VERSION_NEGOTIATION},
    {__LINE__, 4, 0x03, TW_QUIC_SKIP, TW_QR_UNKNOWN_VERSION}, /* version 2 in the wire image */
    {__LINE__, 1, 0xff, TW_QUIC_SKIP, TW_QR_UNKNOWN_VERSION},
    {__LINE__, 5, 0x1d, TW_QUIC_DROP, TW_QR_BAD_CID_LEN},     /* 21: 20 is the most */
    {__LINE__, 15, 0x04, TW_QUIC_DROP, TW_QR_BAD_LENGTH},     /* token 4 bytes, Length huge */
    {__LINE__, 16, 0x04, TW_QUIC_DROP, TW_QR_DECRYPT_FAILED}, /* Length 158: a shorter packet */
    {__LINE__, 16, 0x80, TW_QUIC_DROP, TW_QR_BAD_LENGTH},     /* an 8-byte Length, huge */
    {__LINE__, 16, 0x10, TW_QUIC_DROP, TW_QR_SHORT_PACKET},   /* Length 0x149e */
};

static void test_damage(void **state)
{
    (void)state;
    rfc_load(&rfc_cases[0]);
    for (size_t i = 0; i < TW_ARRAY_SIZE(damage_cases); i++) {
        const struct damage_case *c = &damage_cases[i];
        uint8_t pkt[PKT_MAX];
        struct tw_quic_hello hello;

        memcpy(pkt, rfc_pkt, rfc_pkt_len);
        pkt[c->at] ^= c->xor_with;
        fresh();
        enum tw_quic_verdict v = feed(pkt, rfc_pkt_len, &hello);
        EXPECT(c->line, c->at, v == c->verdict);
        EXPECT(c->line, c->at, stats.reason[c->reason] == 1);
        EXPECT(c->line, c->at, flow.n_initial == 0 && hello.tls.sni == NULL);
        /* the flow is not spoilt: the real packet still gives the hello */
        EXPECT(c->line, c->at, feed(rfc_pkt, rfc_pkt_len, &hello) == TW_QUIC_HELLO);
    }
}

/* -------------------------------------------------------- built packets */

static const uint8_t cid_a[] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};
static const uint8_t cid_b[] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9};
static const uint8_t cid_c[] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5};
static const uint8_t cid_s[] = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58};

/* A ClientHello handshake message (header included): server_name `sni`, then a padding
 * extension (21) of `pad` bytes when pad > 0. Returns its length. */
static size_t build_hello(const char *sni, size_t pad, uint8_t *out, size_t cap)
{
    size_t sl = strlen(sni), n = 4;
    size_t ext = 4 + 2 + 1 + 2 + sl + (pad ? 4 + pad : 0);
    size_t body = 2 + 32 + 1 + 4 + 2 + 2 + ext;

    assert_true(4 + body <= cap);
    out[0] = 1;
    out[1] = (uint8_t)(body >> 16);
    out[2] = (uint8_t)(body >> 8);
    out[3] = (uint8_t)body;
    out[n++] = 3;
    out[n++] = 3;
    memset(out + n, 0x11, 32);
    n += 32;
    out[n++] = 0;                           /* session id */
    memcpy(out + n, "\x00\x02\x13\x01", 4); /* TLS_AES_128_GCM_SHA256 */
    n += 4;
    memcpy(out + n, "\x01\x00", 2);
    n += 2;
    out[n++] = (uint8_t)(ext >> 8);
    out[n++] = (uint8_t)ext;
    out[n++] = 0; /* server_name */
    out[n++] = 0;
    out[n++] = (uint8_t)((5 + sl) >> 8);
    out[n++] = (uint8_t)(5 + sl);
    out[n++] = (uint8_t)((3 + sl) >> 8);
    out[n++] = (uint8_t)(3 + sl);
    out[n++] = 0;
    out[n++] = (uint8_t)(sl >> 8);
    out[n++] = (uint8_t)sl;
    memcpy(out + n, sni, sl);
    n += sl;
    if (pad) {
        out[n++] = 0;
        out[n++] = 21;
        out[n++] = (uint8_t)(pad >> 8);
        out[n++] = (uint8_t)pad;
        memset(out + n, 0, pad);
        n += pad;
    }
    assert_int_equal(n, 4 + body);
    return n;
}

/* Appends a CRYPTO frame for hs[off..off+len) at out+n; returns the new n. */
static size_t put_crypto(uint8_t *out, size_t n, const uint8_t *hs, size_t off, size_t len)
{
    out[n++] = 0x06;
    n += seal_varint(out + n, off);
    n += seal_varint(out + n, len);
    memcpy(out + n, hs + off, len);
    return n + len;
}

/* The usual client Initial of these tests: version v, DCID A, SCID C, packet number pn. */
static struct seal client(uint32_t v, uint32_t pn)
{
    return (struct seal){.version = v,
                         .type = TW_QUIC_PKT_INITIAL,
                         .dcid = cid_a,
                         .dcid_len = sizeof(cid_a),
                         .scid = cid_c,
                         .scid_len = sizeof(cid_c),
                         .pn = pn,
                         .pn_len = 2};
}

/* Seals frames into a 1200-byte client Initial at out; returns its length. */
static size_t seal_1200(const struct seal *s, const uint8_t *frames, size_t n, uint8_t *out)
{
    size_t len = seal_padded(ctx, s, frames, n, 1200, out, PKT_MAX);

    assert_true(len >= 1200);
    return len;
}

/*
 * A ClientHello split over several Initial packets, fed in an order. `order` lists the packet
 * indexes; with `shuffle`, each packet's piece goes out as three CRYPTO frames, last third
 * first, with PING and PADDING between (as Chrome does).
 */
struct split_case {
    int line;
    uint32_t version;
    size_t pad; /* padding extension: sets the hello's size */
    unsigned parts;
    const char *order;
    bool shuffle;
    unsigned want_flags;
};

static const struct split_case split_cases[] = {
    {__LINE__, TW_QUIC_V1, 1500, 2, "01", false, 0},
    {__LINE__, TW_QUIC_V1, 1500, 2, "10", false, TW_QUIC_F_REORDERED},
    {__LINE__, TW_QUIC_V1, 2600, 3, "012", false, 0},
    {__LINE__, TW_QUIC_V1, 2600, 3, "210", false, TW_QUIC_F_REORDERED},
    {__LINE__, TW_QUIC_V1, 2600, 3, "201", false, TW_QUIC_F_REORDERED},
    {__LINE__, TW_QUIC_V1, 2600, 3, "012", true, TW_QUIC_F_REORDERED},
    {__LINE__, TW_QUIC_V1, 2600, 3, "120", true, TW_QUIC_F_REORDERED},
    {__LINE__, TW_QUIC_V2, 2600, 3, "021", true, TW_QUIC_F_REORDERED},
    {__LINE__, 0xff00001d, 1500, 2, "10", true, TW_QUIC_F_REORDERED},
    /* the largest hello the buffer holds */
    {__LINE__, TW_QUIC_V1, TW_QUIC_CRYPTO_MAX - 78, 8, "76543210", true, TW_QUIC_F_REORDERED},
};

static void test_split(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < TW_ARRAY_SIZE(split_cases); ci++) {
        const struct split_case *c = &split_cases[ci];
        static uint8_t hs[TW_QUIC_CRYPTO_MAX + 64];
        uint8_t pkts[8][PKT_MAX];
        size_t lens[8];
        size_t n = build_hello("tunnel.example.net", c->pad, hs, sizeof(hs));
        int l = c->line;

        assert_true(c->parts <= 8 && strlen(c->order) == c->parts);
        if (c->pad > 4000)
            assert_int_equal(n, TW_QUIC_CRYPTO_MAX);
        for (unsigned p = 0; p < c->parts; p++) {
            uint8_t frames[PKT_MAX];
            size_t lo = n * p / c->parts, hi = n * (p + 1) / c->parts, fn = 0;
            struct seal s = client(c->version, p);
            if (c->shuffle) {
                size_t a = lo + (hi - lo) / 3, b = lo + 2 * (hi - lo) / 3;
                fn = put_crypto(frames, fn, hs, b, hi - b);
                frames[fn++] = 0x01;
                fn = put_crypto(frames, fn, hs, lo, a - lo);
                memset(frames + fn, 0, 7);
                fn += 7;
                fn = put_crypto(frames, fn, hs, a, b - a);
                frames[fn++] = 0x01;
            } else {
                fn = put_crypto(frames, fn, hs, lo, hi - lo);
            }
            lens[p] = seal_1200(&s, frames, fn, pkts[p]);
        }
        fresh();
        for (unsigned i = 0; i < c->parts; i++) {
            struct tw_quic_hello hello;
            unsigned p = (unsigned)(c->order[i] - '0');
            enum tw_quic_verdict v = feed(pkts[p], lens[p], &hello);
            if (i + 1 < c->parts) {
                EXPECT(l, i, v == TW_QUIC_MORE && hello.tls.sni == NULL);
                continue;
            }
            EXPECT(l, i, v == TW_QUIC_HELLO);
            EXPECT(l, i, sni_is(&hello, "tunnel.example.net"));
            EXPECT(l, i, hello.version == c->version && hello.n_initial == c->parts);
            EXPECT(l, i, hello.flags == c->want_flags);
            EXPECT(l, i, hello.tls.hello_len == n - 4);
        }
        EXPECT(l, 0, stats.initials == c->parts && stats.hellos == 1);
        for (size_t r = 0; r < TW_QR__COUNT; r++)
            EXPECT(l, r, stats.reason[r] == 0);
    }
}

/* Frames around the ClientHello's CRYPTO frame, in one Initial. */
struct frame_case {
    int line;
    const char *pre;  /* frames before, hex */
    unsigned hellos;  /* CRYPTO frames with the whole hello (0: none) */
    const char *post; /* frames after, hex */
    bool nopad;       /* no PADDING up to 1200 bytes */
    unsigned pn_len;  /* 0: 2 */
    uint8_t reserved;
    enum tw_quic_verdict verdict;
    int reason; /* counted once; -1: none */
    unsigned flags;
};

static const struct frame_case frame_cases[] = {
    {__LINE__, "", 1, "", .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "01 00 00 00 01", 1, "01 00", .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "", 1, "", .pn_len = 1, .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "", 1, "", .pn_len = 3, .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "", 1, "", .pn_len = 4, .verdict = TW_QUIC_HELLO, .reason = -1},
    /* ACK: largest 5, delay 0, no more ranges, first range 2 */
    {__LINE__, "02 05 00 00 02", 1, "", .verdict = TW_QUIC_HELLO, .reason = -1},
    /* ACK_ECN: largest 5, first 1 (4..5), gap 0 len 1 (1..2), ECN counts 1 2 3 */
    {__LINE__, "03 05 00 01 01 00 01 01 02 03", 1, "", .verdict = TW_QUIC_HELLO, .reason = -1},
    /* ACK down to packet 0 exactly: largest 5, first 1, gap 0, len 2 */
    {__LINE__, "02 05 00 01 01 00 02", 1, "", .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "02 4005 00 00 02", 1, "", .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "02 01 00 00 02", 1, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_ACK},
    {__LINE__, "02 05 00 01 01 03 00", 1, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_ACK},
    {__LINE__, "02 05 00 01 01 00 03", 1, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_ACK},
    {__LINE__, "02 05", 0, "", .nopad = true, .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_FRAME_TRUNCATED},
    {__LINE__, "03 05 00 00 00 01 02", 0, "", .nopad = true, .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_FRAME_TRUNCATED},
    /* CONNECTION_CLOSE: code 0, frame type 0, reason "abc" */
    {__LINE__, "1c 00 00 03 616263", 1, "", .verdict = TW_QUIC_HELLO,
     .reason = TW_QR_CONNECTION_CLOSE},
    {__LINE__, "1c 00 00 05 616263", 0, "", .nopad = true, .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_FRAME_TRUNCATED},
    /* frames an Initial may not carry */
    {__LINE__, "1d 00 00", 1, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_FRAME},
    {__LINE__, "08 00 01 61", 1, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_FRAME},
    {__LINE__, "07 01 61", 1, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_FRAME},
    {__LINE__, "", 1, "1e", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_FRAME},
    {__LINE__, "40 06 00 01 01", 0, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_BAD_FRAME},
    /* CRYPTO oddities */
    {__LINE__, "06 00 10 01 02", 0, "", .nopad = true, .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_FRAME_TRUNCATED},
    {__LINE__, "06 00", 0, "", .nopad = true, .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_FRAME_TRUNCATED},
    {__LINE__, "06 00 00", 1, "", .verdict = TW_QUIC_HELLO, .reason = -1},
    {__LINE__, "06 ffffffffffffffff 01 aa", 0, "", .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_BAD_FRAME},
    {__LINE__, "06 80002000 01 aa", 1, "", .verdict = TW_QUIC_HELLO,
     .reason = TW_QR_CRYPTO_OUT_OF_BOUNDS, .flags = TW_QUIC_F_CRYPTO_DROPPED},
    {__LINE__, "06 5ffe 04 aabbccdd", 0, "", .verdict = TW_QUIC_MORE,
     .reason = TW_QR_CRYPTO_OUT_OF_BOUNDS, .flags = TW_QUIC_F_CRYPTO_DROPPED | TW_QUIC_F_REORDERED},
    {__LINE__, "", 2, "", .verdict = TW_QUIC_HELLO, .reason = TW_QR_CRYPTO_DUP},
    {__LINE__, "", 1, "06 00 01 02", .verdict = TW_QUIC_HELLO, .reason = TW_QR_CRYPTO_CONFLICT,
     .flags = TW_QUIC_F_CRYPTO_CONFLICT},
    {__LINE__, "06 00 01 02", 0, "", .verdict = TW_QUIC_FAIL, .reason = TW_QR_NOT_CLIENT_HELLO},
    {__LINE__, "06 00 04 02000000", 0, "", .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_NOT_CLIENT_HELLO},
    {__LINE__, "06 00 01 01", 0, "", .verdict = TW_QUIC_MORE, .reason = -1},
    {__LINE__, "06 00 04 01001ffc", 0, "", .verdict = TW_QUIC_MORE, .reason = -1},
    {__LINE__, "06 00 04 01001ffd", 0, "", .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_CRYPTO_BUFFER_FULL},
    {__LINE__, "06 00 0b 01000007 0303 0000000000", 0, "", .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_HELLO_MALFORMED},
    {__LINE__, "06 00 04 01000000", 0, "", .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_HELLO_MALFORMED},
    /* the payload */
    {__LINE__, "", 0, "", .nopad = true, .pn_len = 4, .verdict = TW_QUIC_FAIL,
     .reason = TW_QR_EMPTY_PAYLOAD},
    {__LINE__, "01", 0, "", .verdict = TW_QUIC_MORE, .reason = -1},
    {__LINE__, "", 1, "", .reserved = 1, .verdict = TW_QUIC_DROP, .reason = TW_QR_RESERVED_BITS},
    {__LINE__, "", 1, "", .reserved = 2, .verdict = TW_QUIC_DROP, .reason = TW_QR_RESERVED_BITS},
    /* under 1200 bytes: taken (short_datagram is counted for every nopad case taken) */
    {__LINE__, "", 1, "", .nopad = true, .verdict = TW_QUIC_HELLO, .reason = -1},
};

static void test_frames(void **state)
{
    (void)state;
    uint8_t hs[512];
    size_t hn = build_hello("frames.example", 0, hs, sizeof(hs));

    for (size_t ci = 0; ci < TW_ARRAY_SIZE(frame_cases); ci++) {
        const struct frame_case *c = &frame_cases[ci];
        uint8_t frames[PKT_MAX], pkt[PKT_MAX];
        struct seal s = client(TW_QUIC_V1, 0);
        struct tw_quic_hello hello;
        size_t fn = unhex(c->pre, frames, sizeof(frames));
        int l = c->line;

        for (unsigned i = 0; i < c->hellos; i++)
            fn = put_crypto(frames, fn, hs, 0, hn);
        fn += unhex(c->post, frames + fn, sizeof(frames) - fn);
        s.pn_len = c->pn_len ? c->pn_len : 2;
        s.reserved = c->reserved;
        size_t n = seal_padded(ctx, &s, frames, fn, c->nopad ? 0 : 1200, pkt, sizeof(pkt));
        assert_true(n > 0);
        fresh();
        enum tw_quic_verdict v = feed(pkt, n, &hello);
        bool short_dgram = c->nopad && v != TW_QUIC_DROP;
        unsigned want_flags = c->flags | (short_dgram ? TW_QUIC_F_SHORT_DATAGRAM : 0);
        EXPECT(l, 0, v == c->verdict);
        for (int r = 0; r < TW_QR__COUNT; r++)
            EXPECT(l, (size_t)r,
                   stats.reason[r] ==
                       (r == c->reason || (r == TW_QR_SHORT_DATAGRAM && short_dgram) ? 1u : 0u));
        EXPECT(l, 0, flow.flags == want_flags);
        if (v == TW_QUIC_HELLO)
            EXPECT(l, 0, sni_is(&hello, "frames.example") && hello.flags == want_flags);
        else
            EXPECT(l, 0, hello.tls.sni == NULL && !hello.tls.has_sni);
        if (v == TW_QUIC_FAIL) {
            EXPECT(l, 0, flow.phase == TW_QUIC_FAILED && flow.fail_reason == c->reason);
            /* a failed flow stays failed */
            EXPECT(l, 0, feed(pkt, n, &hello) == TW_QUIC_FAIL && stats.datagrams == 1);
        }
    }
}

/* More disjoint CRYPTO ranges than the flow holds: the frame that would need one more is
 * dropped and counted; the hello still completes once the gaps are filled. */
static void test_crypto_gap_limit(void **state)
{
    (void)state;
    uint8_t hs[2048], frames[PKT_MAX], pkt[PKT_MAX];
    size_t hn = build_hello("gaps.example", 600, hs, sizeof(hs)), fn = 0;
    struct tw_quic_hello hello;
    struct seal s = client(TW_QUIC_V1, 0);

    /* bytes 100, 110, ..., one range each, then one more */
    for (unsigned i = 0; i <= TW_QUIC_RANGES_MAX; i++)
        fn = put_crypto(frames, fn, hs, 100 + 10 * i, 1);
    size_t n = seal_1200(&s, frames, fn, pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_MORE);
    assert_int_equal(flow.n_ranges, TW_QUIC_RANGES_MAX);
    assert_int_equal(stats.reason[TW_QR_CRYPTO_GAP_LIMIT], 1);
    assert_true(flow.flags & TW_QUIC_F_CRYPTO_DROPPED);
    /* at the limit, a frame that only touches its neighbours (bytes 101..109) joins them */
    fn = put_crypto(frames, 0, hs, 101, 9);
    s.pn = 1;
    n = seal_1200(&s, frames, fn, pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_MORE);
    assert_int_equal(flow.n_ranges, TW_QUIC_RANGES_MAX - 1);
    assert_int_equal(stats.reason[TW_QR_CRYPTO_GAP_LIMIT], 1);
    assert_int_equal(stats.reason[TW_QR_CRYPTO_DUP], 0);
    /* the whole hello merges them all */
    fn = put_crypto(frames, 0, hs, 0, hn);
    s.pn = 2;
    n = seal_1200(&s, frames, fn, pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "gaps.example"));
    assert_int_equal(flow.n_ranges, 1);
    assert_int_equal(stats.reason[TW_QR_CRYPTO_DUP], 1);
    assert_int_equal(stats.reason[TW_QR_CRYPTO_GAP_LIMIT], 1);
}

/* Several packets in one datagram, walked by their Length fields. */
static void test_coalesced(void **state)
{
    (void)state;
    uint8_t hs[4096], frames[PKT_MAX], dgram[DGRAM_MAX];
    size_t hn = build_hello("coalesced.example", 1500, hs, sizeof(hs)), half = hn / 2, n;
    struct tw_quic_hello hello;
    struct seal s = client(TW_QUIC_V1, 0);
    struct seal hsk = s;
    static const uint8_t junk[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

    /* Initial (first half) + Handshake: the Handshake packet is skipped by its Length */
    hsk.type = TW_QUIC_PKT_HANDSHAKE;
    n = seal_padded(ctx, &s, frames, put_crypto(frames, 0, hs, 0, half), 0, dgram, DGRAM_MAX);
    n += seal_padded(ctx, &hsk, junk, sizeof(junk), 0, dgram + n, DGRAM_MAX - n);
    memset(dgram + n, 0, 1300 - n); /* zeros after the packets, to 1300 bytes */
    fresh();
    assert_int_equal(feed(dgram, 1300, &hello), TW_QUIC_MORE);
    assert_int_equal(stats.coalesced, 1);
    assert_int_equal(stats.reason[TW_QR_OTHER_LONG_TYPE], 1);
    assert_int_equal(stats.reason[TW_QR_TRAILING_BYTES], 1);
    /* Initial (second half) + a short-header packet */
    s.pn = 1;
    n = seal_padded(ctx, &s, frames, put_crypto(frames, 0, hs, half, hn - half), 0, dgram,
                    DGRAM_MAX);
    memset(dgram + n, 0x41, 1200 - n);
    assert_int_equal(feed(dgram, 1200, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "coalesced.example"));
    assert_int_equal(hello.flags, TW_QUIC_F_COALESCED);

    /* two Initials, each with a half, in one datagram, second half first */
    n = seal_padded(ctx, &s, frames, put_crypto(frames, 0, hs, half, hn - half), 0, dgram,
                    DGRAM_MAX);
    s.pn = 0;
    n += seal_padded(ctx, &s, frames, put_crypto(frames, 0, hs, 0, half), 1400, dgram + n,
                     DGRAM_MAX - n);
    fresh();
    assert_int_equal(feed(dgram, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "coalesced.example"));
    assert_int_equal(hello.n_initial, 2);
    assert_int_equal(hello.flags, TW_QUIC_F_COALESCED | TW_QUIC_F_REORDERED);
    assert_int_equal(stats.coalesced, 1);

    /* an Initial, then one whose decryption fails: the first is taken */
    n = seal_padded(ctx, &s, frames, put_crypto(frames, 0, hs, 0, half), 0, dgram, DGRAM_MAX);
    size_t m = seal_padded(ctx, &s, frames, put_crypto(frames, 0, hs, half, hn - half), 0,
                           dgram + n, DGRAM_MAX - n);
    dgram[n + m - 1] ^= 1;
    fresh();
    assert_int_equal(feed(dgram, n + m, &hello), TW_QUIC_MORE);
    assert_int_equal(stats.reason[TW_QR_DECRYPT_FAILED], 1);
    assert_int_equal(flow.n_initial, 1);
    /* an Initial cut short after a whole one */
    fresh();
    assert_int_equal(feed(dgram, n + 40, &hello), TW_QUIC_MORE);
    assert_int_equal(stats.reason[TW_QR_SHORT_PACKET], 1);
}

/* A Retry packet from the server (DCID: the client's SCID, new SCID B, a token, a tag). */
static size_t build_retry(uint32_t version, uint8_t *out)
{
    size_t n = 0;
    uint8_t bits = version == TW_QUIC_V2 ? 0 : 3;

    out[n++] = (uint8_t)(0xc0 | bits << 4 | 0x0a);
    for (int i = 3; i >= 0; i--)
        out[n++] = (uint8_t)(version >> (8 * i));
    out[n++] = sizeof(cid_c);
    memcpy(out + n, cid_c, sizeof(cid_c));
    n += sizeof(cid_c);
    out[n++] = sizeof(cid_b);
    memcpy(out + n, cid_b, sizeof(cid_b));
    n += sizeof(cid_b);
    memcpy(out + n, "token", 5);
    n += 5;
    memset(out + n, 0x5a, TW_QUIC_TAG_LEN);
    return n + TW_QUIC_TAG_LEN;
}

/* Retry: the client's next Initial goes to the Retry's SCID with keys derived from it,
 * carrying the same ClientHello from offset 0. */
static void test_retry(void **state)
{
    (void)state;
    static const uint32_t vers[] = {TW_QUIC_V1, TW_QUIC_V2, 0xff00001b};

    for (size_t vi = 0; vi < TW_ARRAY_SIZE(vers); vi++) {
        uint8_t hs[4096], frames[PKT_MAX], pkt[PKT_MAX];
        size_t hn = build_hello("retry.example", 1500, hs, sizeof(hs)), n;
        struct tw_quic_hello hello;
        struct tw_quic_hdr h;
        struct seal s = client(vers[vi], 0);

        n = seal_1200(&s, frames, put_crypto(frames, 0, hs, 0, hn / 2), pkt);
        fresh();
        assert_int_equal(feed(pkt, n, &hello), TW_QUIC_MORE);
        n = build_retry(vers[vi], pkt);
        assert_int_equal(tw_quic_header_parse(pkt, n, &h, NULL), (int)n);
        assert_int_equal(h.type, TW_QUIC_PKT_RETRY);
        assert_int_equal(h.token_len, 5);
        assert_memory_equal(h.token, "token", 5);
        assert_int_equal(h.scid_len, sizeof(cid_b));
        assert_int_equal(tw_quic_header_parse(pkt, 15 + 9 + 5, &h, NULL), TW_EINCOMPLETE);
        assert_int_equal(feed(pkt, n, &hello), TW_QUIC_SKIP);
        assert_int_equal(stats.reason[TW_QR_RETRY], 1);
        /* the new Initial: DCID B, the token, keys from B; the whole hello again */
        s.dcid = cid_b;
        s.dcid_len = sizeof(cid_b);
        s.token = (const uint8_t *)"token";
        s.token_len = 5;
        s.pn = 1;
        size_t fn = put_crypto(frames, 0, hs, 0, hn / 2 + 100);
        fn = put_crypto(frames, fn, hs, hn / 2 + 100, hn - hn / 2 - 100);
        n = seal_1200(&s, frames, fn, pkt);
        assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
        assert_true(sni_is(&hello, "retry.example"));
        assert_int_equal(hello.version, vers[vi]);
        assert_int_equal(hello.flags, TW_QUIC_F_RETRY | TW_QUIC_F_REKEYED | TW_QUIC_F_DCID_CHANGED);
        assert_int_equal(stats.reason[TW_QR_REKEY], 1);
        assert_int_equal(stats.reason[TW_QR_CRYPTO_DUP], 1);
        assert_int_equal(stats.reason[TW_QR_DECRYPT_FAILED], 0);
    }
}

/* The client moves to the server's connection ID but keeps the keys of its first DCID; the
 * server's own Initial (DCID: the client's SCID) is skipped, not counted as a failure. */
static void test_dcid_change(void **state)
{
    (void)state;
    uint8_t hs[4096], frames[PKT_MAX], pkt[PKT_MAX];
    size_t hn = build_hello("move.example", 1500, hs, sizeof(hs)), n;
    struct tw_quic_hello hello;
    struct tw_quic_keys ka;
    struct seal s = client(TW_QUIC_V1, 0);

    assert_int_equal(tw_quic_keys_derive(ctx, TW_QUIC_V1, cid_a, sizeof(cid_a), &ka), 0);
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs, 0, hn / 2), pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_MORE);
    /* the server's Initial */
    struct seal srv = {.version = TW_QUIC_V1,
                       .type = TW_QUIC_PKT_INITIAL,
                       .dcid = cid_c,
                       .dcid_len = sizeof(cid_c),
                       .scid = cid_s,
                       .scid_len = sizeof(cid_s),
                       .pn_len = 1};
    n = seal_padded(ctx, &srv, (const uint8_t *)"\x02\x00\x00\x00\x00", 5, 0, pkt, PKT_MAX);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_SKIP);
    assert_int_equal(stats.reason[TW_QR_SERVER_PACKET], 1);
    /* the client's next Initial: DCID S, keys still from A */
    s.dcid = cid_s;
    s.dcid_len = sizeof(cid_s);
    s.keys = &ka;
    s.pn = 1;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs, hn / 2, hn - hn / 2), pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "move.example"));
    assert_int_equal(hello.flags, TW_QUIC_F_DCID_CHANGED);
    assert_int_equal(stats.reason[TW_QR_REKEY], 0);
    assert_int_equal(stats.reason[TW_QR_DECRYPT_FAILED], 0);
}

/* Every version read, an empty DCID, and a change of version (after Version Negotiation). */
static void test_versions(void **state)
{
    (void)state;
    /* IETF frames; T050 and T051 have theirs (test_gquic_tls) */
    static const uint32_t known[] = {
        TW_QUIC_V1,        TW_QUIC_V2,        0xff000016,       0xff000017, 0xff000018,
        0xff000019,        0xff00001a,        0xff00001b,       0xff00001c, 0xff00001d,
        0xff00001e,        0xff00001f,        0xff000020,       0xff000021, 0xff000022,
        TW_QUIC_MVFST_D22, TW_QUIC_MVFST_D27, TW_QUIC_MVFST_EXP};
    static const uint32_t unknown[] = {0,          2,          0xff000015, 0xff000023, 0x1a2a3a4a,
                                       0xfaceb003, 0x709a50c5, 0x51303530, 0x54303439};
    uint8_t hs[512], frames[PKT_MAX], pkt[PKT_MAX];
    size_t hn = build_hello("versions.example", 0, hs, sizeof(hs)), n;
    struct tw_quic_hello hello;

    for (size_t i = 0; i < TW_ARRAY_SIZE(known); i++) {
        struct seal s = client(known[i], 0);
        assert_true(tw_quic_version_known(known[i]));
        n = seal_1200(&s, frames, put_crypto(frames, 0, hs, 0, hn), pkt);
        fresh();
        EXPECT(__LINE__, i, feed(pkt, n, &hello) == TW_QUIC_HELLO);
        EXPECT(__LINE__, i, sni_is(&hello, "versions.example") && hello.version == known[i]);
    }
    for (size_t i = 0; i < TW_ARRAY_SIZE(unknown); i++)
        EXPECT(__LINE__, i, !tw_quic_version_known(unknown[i]));
    assert_true(tw_quic_version_known(TW_QUIC_T050) && tw_quic_version_known(TW_QUIC_T051));
    /* every version but 0 and Google 'Q' ones is read, known or by trial */
    assert_true(tw_quic_version_readable(TW_QUIC_V1) && tw_quic_version_readable(0x1a2a3a4a));
    assert_true(tw_quic_version_readable(2) && tw_quic_version_readable(0x54303439));
    assert_false(tw_quic_version_readable(0) || tw_quic_version_readable(0x51303530));
    assert_false(tw_quic_version_readable(0x51303433));

    /* an empty DCID derives keys too */
    struct seal e = client(TW_QUIC_V1, 0);
    e.dcid = NULL;
    e.dcid_len = 0;
    n = seal_1200(&e, frames, put_crypto(frames, 0, hs, 0, hn), pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);

    /* v1 half a hello, then a v2 handshake with another hello: the stream starts over */
    uint8_t hs2[4096];
    size_t hn2 = build_hello("second.example", 1500, hs2, sizeof(hs2));
    struct seal s1 = client(TW_QUIC_V1, 0);
    n = seal_1200(&s1, frames, put_crypto(frames, 0, hs2, 0, hn2 / 2), pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_MORE);
    struct seal s2 = client(TW_QUIC_V2, 0);
    s2.dcid = cid_b;
    s2.dcid_len = sizeof(cid_b);
    n = seal_1200(&s2, frames, put_crypto(frames, 0, hs, 0, hn), pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "versions.example"));
    assert_int_equal(hello.version, TW_QUIC_V2);
    assert_true(hello.flags & TW_QUIC_F_VERSION_CHANGED);
    assert_int_equal(stats.reason[TW_QR_VERSION_CHANGED], 1);
    assert_int_equal(stats.reason[TW_QR_CRYPTO_CONFLICT], 0);
}

/* Keys of a known version's salt, for a packet sealed under another version number. */
static struct tw_quic_keys keys_of(uint32_t salt_version, uint32_t version, const uint8_t *dcid,
                                   size_t dcid_len)
{
    struct tw_quic_keys k;

    assert_int_equal(tw_quic_keys_derive(ctx, salt_version, dcid, dcid_len, &k), 0);
    k.version = version;
    return k;
}

/*
 * Versions not listed (a reserved 0x?a?a?a?a one, as a client forcing Version Negotiation
 * sends): read when the version 1 or the draft-29 salt authenticates the Initial, and only then.
 */
static void test_unknown_version(void **state)
{
    (void)state;
    uint8_t hs[4096], frames[PKT_MAX], pkt[PKT_MAX];
    size_t hn = build_hello("grease.example", 1500, hs, sizeof(hs)), n;
    struct tw_quic_hello hello;
    struct tw_quic_hdr h;
    enum tw_quic_reason why;

    /* the version 1 salt, the hello over two Initials: one trial, then the cached keys */
    struct tw_quic_keys k1 = keys_of(TW_QUIC_V1, 0x1a2a3a4a, cid_a, sizeof(cid_a));
    struct seal s = client(0x1a2a3a4a, 0);
    s.keys = &k1;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs, 0, hn / 2), pkt);
    assert_true(tw_quic_header_parse(pkt, n, &h, &why) > 0 && h.type == TW_QUIC_PKT_INITIAL);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_MORE);
    s.pn = 1;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs, hn / 2, hn - hn / 2), pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "grease.example"));
    assert_int_equal(hello.version, 0x1a2a3a4a);
    assert_int_equal(hello.flags, TW_QUIC_F_UNKNOWN_VERSION);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION_READ], 1);
    assert_int_equal(flow.n_keys, 1);
    assert_true(tw_quic_reason_is_benign(TW_QR_UNKNOWN_VERSION_READ));

    /* the draft-29 salt, tried second */
    uint8_t hs2[512];
    size_t hn2 = build_hello("second.example", 0, hs2, sizeof(hs2));
    struct tw_quic_keys k29 = keys_of(0xff00001d, 0x5a5a5a5a, cid_b, sizeof(cid_b));
    s = client(0x5a5a5a5a, 0);
    s.dcid = cid_b;
    s.dcid_len = sizeof(cid_b);
    s.keys = &k29;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs2, 0, hn2), pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "second.example") && hello.version == 0x5a5a5a5a);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION_READ], 1);

    /* another salt (draft-23's): not read, and not tried again for that DCID */
    struct tw_quic_keys k23 = keys_of(0xff00001b, 0x2a2a2a2a, cid_a, sizeof(cid_a));
    s = client(0x2a2a2a2a, 0);
    s.keys = &k23;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs2, 0, hn2), pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_SKIP);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION], 1);
    assert_int_equal(stats.reason[TW_QR_DECRYPT_FAILED], 0);
    assert_int_equal(flow.miss_version, 0x2a2a2a2a);
    assert_true(flow.n_keys == 0 && flow.n_initial == 0 && flow.phase == TW_QUIC_COLLECTING);
    s.pn = 1;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs2, 0, hn2), pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_SKIP);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION], 2);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION_READ], 0);
    /* after Version Negotiation the client comes back with version 1 on the same flow */
    struct seal v1 = client(TW_QUIC_V1, 0);
    v1.dcid = cid_b;
    v1.dcid_len = sizeof(cid_b);
    n = seal_1200(&v1, frames, put_crypto(frames, 0, hs2, 0, hn2), pkt);
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "second.example") && hello.version == TW_QUIC_V1);
    assert_int_equal(hello.flags, 0);

    /* Google QUIC 'Q' versions are not tried: their handshake is not TLS */
    s = client(0x51303530, 0);
    s.keys = &k1;
    n = seal_1200(&s, frames, put_crypto(frames, 0, hs2, 0, hn2), pkt);
    assert_int_equal(tw_quic_header_parse(pkt, n, &h, &why), TW_ESKIP);
    assert_int_equal(why, TW_QR_UNKNOWN_VERSION);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_SKIP);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION], 1);
}

/*
 * QUIC version 2 as drafted (draft-ietf-quic-v2-01 to -10: version 0x709a50c4, RFC 9369's
 * labels and packet types, the draft's own salt), as ngtcp2 0.12 sends it with
 * `gtlsclient -v v2draft`: the first client datagram of a v2 draft run of pcaps/gen.sh quic,
 * one Initial carrying the whole ClientHello.
 */
static const char ngtcp2_v2draft_initial[] =
    "d1709a50c4122566599b08ff85d548625be4fd7fa9d7148511916dfd20404fb13b4f4d4bd7c4be7930df0080000481d7"
    "2a83463f075a61e1570ad7d6f3cc958c9ff08da119689cc8c5356b10d936c3cb8cc3b0630e69eac7f811a0c473b3bea3"
    "b032ef93641b79d93d2c0ca380de312c57d35969c36cf6939add3f61927342a5db085378784d41a2c81a19157835cf0e"
    "7c87fe8c980e1cc93b239676a83589adb37be5bfaa33566db7bab5f5513fc0dcd8bdf0b3278a1bdba744c98c804dbb58"
    "f70c223b48f80127fbb31f6e54a13529d6f41fa40c2fb3ec36bb37aa7914f1f0f593e3aeb9851568fec9236476b4dc89"
    "0cc4e35f0b42feddb2ce9b9580cab4c89a8f192d9f9fe508613d50a294caeb2935f83d70a8f85d7e527f737da71676a7"
    "0ec35cd4d0e8abf5b92e820a81ae43f01d2414148853ec6ec7ee6be6027974a64fa8b47049d4280bd16951089fa9fbe7"
    "080e3a9631c18f74d19d0ce5223378be001b33cee6a37eaf38ace494c27ac4a749007e1a8913c3892091f212e53d06d9"
    "e94a284f9f7e7f40dc05eebc10cbaecb4b3101092b444cee38a399374a3051e77e3767e36607ebdc4e2f7b0cbbcaf231"
    "a0d2f6ca7b02d21a1884be7e9948d4fb7180a18e2c7853865e4b1e611317d5d0b71b93c3e699fb1395c0f4f36ad1edec"
    "6d633d0fb87e88c4e57e6a735b496b2047a02d524e00c1bf9325b16b7f1673dd63e4bef5399359fcb334b5f03648a370"
    "a9a45b59a89f16f1aebff64fa4e4c9eaeba6fa560d1aeb695c3c9cc9a9c91ae74d570a06416d5a2484e15449f9e8e006"
    "95b026b677c8fa53ec58b359a2e3e5d76e5095ec5f50723b24f50c0eb39a08955f15a80a7ceff8b6b5bda65cccb101ba"
    "52815865160a77aac1a282cd16c7ecc608df3da562ee0f143960bfe41a645b422cd7a16aeb80af4861f11981a4389573"
    "a4ee21fd7f44d62e097fa7b48f55b35284689df0eeb21bab648722ae1bef0b3b3864daf0110842f8105c6fc47fd109a0"
    "7cfc3d5ea03c2e088615ea477d554b20aa9d11fcec287d6ce6304e330f9bcf5fee9c1c5ca374ca84f19659a127653a91"
    "36a985430ab88ed24f7691906dfcfa1a1c98bc30953555ebcf49b5ecbe7cb51a3234d86b4b25ef006c3b4ccccb3251bd"
    "b4f71160c42cd57596718697b72833a9e08e4880f6b55e84773cb70d7aa712b7e3ec2dcb1cbf035cad99966e27083ba5"
    "6105c89180609cac23631814dcb51660f35b555770a36442ff282031dca011a34a01dc2a52f0af9433ab7037943d3c80"
    "326793916978f73a46543a8b43b8764b6c9415efcd40416f7445300b082a4679043210b89d66f89adc8c5ee814da5a55"
    "a0b983e698f5f44288c21aa80ed92f827852183dee7ce6792d9ab61a4a94ecb897113b86f77f6ce6e692198b0e351437"
    "a74cdec021b8cee38adff580383b96379e203c7cbf543c648eee1a55779646abe98f9ebc59d071b3aebb85a73ef05f2b"
    "a11507501a3bdbfbcc3802eb72623328789443a3f23bfeb146f8e08f30daed3f48bf1524502a590e36fe02bb573d94aa"
    "1238a51445fdf802250a76f026322973f6aac0d5daf6b4e2d2bcf3ce60d3aaa3123700531a3ca5378094f69e14e2e9b8"
    "562d0f566c4522802598a6d0431a122fc017f61fda25d84a87fc008d73d9d660cbdaf6f82fd8fb5f6572cd6b73214f10";

static void test_v2_draft(void **state)
{
    (void)state;
    uint8_t d[1200];
    struct tw_quic_hello hello;
    struct tw_quic_hdr h;
    size_t n = unhex(ngtcp2_v2draft_initial, d, sizeof(d));

    assert_int_equal(n, 1200);
    assert_true(tw_quic_version_known(TW_QUIC_V2_DRAFT));
    assert_true(tw_quic_header_parse(d, n, &h, NULL) > 0);
    assert_int_equal(h.version, TW_QUIC_V2_DRAFT);
    assert_int_equal(h.type, TW_QUIC_PKT_INITIAL); /* type bits 01: v2's Initial */
    fresh();
    assert_int_equal(feed(d, n, &hello), TW_QUIC_HELLO);
    assert_true(sni_is(&hello, "quic-v2.trycloudflare.com"));
    assert_int_equal(hello.version, TW_QUIC_V2_DRAFT);
    assert_int_equal(hello.flags, 0);
    assert_int_equal(stats.reason[TW_QR_UNKNOWN_VERSION_READ], 0);
    /* the same bytes under the final version number: its salt does not open them */
    d[1] = 0x6b, d[2] = 0x33, d[3] = 0x43, d[4] = 0xcf;
    fresh();
    assert_int_not_equal(feed(d, n, &hello), TW_QUIC_HELLO);
    assert_int_equal(stats.reason[TW_QR_DECRYPT_FAILED], 1);
}

/* Appends a Google QUIC CRYPTO frame (type 0x08) for hs[off..off+len) at out+n. */
static size_t put_gquic_crypto(uint8_t *out, size_t n, const uint8_t *hs, size_t off, size_t len)
{
    size_t type_at = n;

    n = put_crypto(out, n, hs, off, len);
    out[type_at] = 0x08;
    return n;
}

/* Google T050 and T051: their own salts, Google QUIC frames in IETF-framed Initials. */
static void test_gquic_tls(void **state)
{
    (void)state;
    static const uint32_t vs[] = {TW_QUIC_T050, TW_QUIC_T051};
    /* ACK 0x40 (1-byte fields): largest 1, delay, first block 1, no timestamps; PING */
    static const uint8_t ack[] = {0x40, 0x01, 0x08, 0xc5, 0x01, 0x00, 0x07};
    /* ACK 0x64: 2-byte largest, one more block, two timestamps */
    static const uint8_t ack2[] = {0x64, 0x00, 0x09, 0x00, 0x10, 0x01, 0x02, 0x01, 0x03,
                                   0x02, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x06};
    uint8_t hs[4096], frames[PKT_MAX], pkt[PKT_MAX];
    size_t hn = build_hello("www.google.com", 1500, hs, sizeof(hs)), n, fn;
    struct tw_quic_hello hello;

    for (size_t i = 0; i < TW_ARRAY_SIZE(vs); i++) {
        struct seal s = client(vs[i], 0);
        fresh();
        fn = put_gquic_crypto(frames, 0, hs, 0, hn / 2);
        n = seal_1200(&s, frames, fn, pkt);
        EXPECT(__LINE__, i, feed(pkt, n, &hello) == TW_QUIC_MORE);
        memcpy(frames, ack, sizeof(ack));
        memcpy(frames + sizeof(ack), ack2, sizeof(ack2));
        fn = put_gquic_crypto(frames, sizeof(ack) + sizeof(ack2), hs, hn / 2, hn - hn / 2);
        s.pn = 1;
        n = seal_1200(&s, frames, fn, pkt);
        EXPECT(__LINE__, i, feed(pkt, n, &hello) == TW_QUIC_HELLO);
        EXPECT(__LINE__, i, sni_is(&hello, "www.google.com") && hello.version == vs[i]);
        EXPECT(__LINE__, i, hello.flags == 0 && stats.reason[TW_QR_UNKNOWN_VERSION_READ] == 0);

        /* an IETF CRYPTO frame (0x06) is no Google QUIC frame an Initial carries */
        s.pn = 0;
        n = seal_1200(&s, frames, put_crypto(frames, 0, hs, 0, hn / 2), pkt);
        fresh();
        EXPECT(__LINE__, i, feed(pkt, n, &hello) == TW_QUIC_FAIL);
        EXPECT(__LINE__, i, flow.fail_reason == TW_QR_BAD_FRAME);
        /* an ACK cut short */
        n = seal_packet(ctx, &s, ack2, sizeof(ack2) - 3, pkt, PKT_MAX);
        fresh();
        EXPECT(__LINE__, i, feed(pkt, n, &hello) == TW_QUIC_FAIL);
        EXPECT(__LINE__, i, flow.fail_reason == TW_QR_FRAME_TRUNCATED);
    }
    /* the version 1 salt does not open a T051 Initial: its own is not tried around */
    struct tw_quic_keys k1 = keys_of(TW_QUIC_V1, TW_QUIC_T051, cid_a, sizeof(cid_a));
    struct seal s = client(TW_QUIC_T051, 0);
    s.keys = &k1;
    n = seal_1200(&s, frames, put_gquic_crypto(frames, 0, hs, 0, hn), pkt);
    fresh();
    assert_int_equal(feed(pkt, n, &hello), TW_QUIC_DROP);
    assert_int_equal(stats.reason[TW_QR_DECRYPT_FAILED], 1);
}

/* Datagrams that are not QUIC Initials at all. */
static void test_not_quic(void **state)
{
    (void)state;
    struct tw_quic_hello hello;
    struct tw_quic_hdr h;
    enum tw_quic_reason why;
    /* a DNS query, a short-header packet, a Version Negotiation packet */
    static const uint8_t dns[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t shorthdr[] = {0x43, 0xa1, 0xa2, 0xa3, 0xa4, 0x00, 0x01, 0x02, 0x03};
    static const uint8_t vn[] = {0x80, 0, 0, 0, 0, 0x01, 0xaa, 0x01, 0xbb, 0, 0, 0, 1};

    fresh();
    assert_int_equal(feed(dns, sizeof(dns), &hello), TW_QUIC_SKIP);
    assert_int_equal(feed(shorthdr, sizeof(shorthdr), &hello), TW_QUIC_SKIP);
    assert_int_equal(stats.reason[TW_QR_NOT_LONG_HEADER], 2);
    assert_int_equal(feed(vn, sizeof(vn), &hello), TW_QUIC_SKIP);
    assert_int_equal(stats.reason[TW_QR_VERSION_NEGOTIATION], 1);
    assert_int_equal(tw_quic_header_parse(vn, sizeof(vn), &h, &why), TW_ESKIP);
    assert_int_equal(why, TW_QR_VERSION_NEGOTIATION);
    /* a refusal leaves *out zeroed, first byte and version included (found by fuzz_quic) */
    static const struct tw_quic_hdr zero;
    memset(&h, 0xa5, sizeof(h));
    assert_int_equal(tw_quic_header_parse(dns + 2, 8, &h, &why), TW_ESKIP);
    assert_memory_equal(&h, &zero, sizeof(h));
    assert_int_equal(tw_quic_header_parse(vn, 3, &h, &why), TW_EINCOMPLETE);
    assert_int_equal(why, TW_QR_HEADER_TRUNCATED);
    assert_int_equal(feed(vn, 0, &hello), TW_QUIC_SKIP);
    assert_int_equal(flow.phase, TW_QUIC_COLLECTING);
}

static void test_names(void **state)
{
    (void)state;
    for (int r = 0; r < TW_QR__COUNT; r++) {
        const char *n = tw_quic_reason_name((enum tw_quic_reason)r);
        assert_string_not_equal(n, "unknown");
        for (const char *p = n; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        for (int q = 0; q < r; q++)
            assert_string_not_equal(n, tw_quic_reason_name((enum tw_quic_reason)q));
    }
    assert_string_equal(tw_quic_reason_name(TW_QR__COUNT), "unknown");
    assert_string_equal(tw_quic_reason_name(TW_QR_DECRYPT_FAILED), "decrypt_failed");
    assert_true(tw_quic_reason_is_benign(TW_QR_RETRY));
    assert_false(tw_quic_reason_is_benign(TW_QR_DECRYPT_FAILED));
    assert_string_equal(tw_quic_verdict_name(TW_QUIC_HELLO), "hello");
    assert_string_equal(tw_quic_verdict_name(TW_QUIC_FAIL), "fail");
    assert_string_equal(tw_quic_verdict_name((enum tw_quic_verdict)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_keys),        cmocka_unit_test(test_rfc_initial),
        cmocka_unit_test(test_rfc_seal),        cmocka_unit_test(test_rfc_prefixes),
        cmocka_unit_test(test_damage),          cmocka_unit_test(test_split),
        cmocka_unit_test(test_frames),          cmocka_unit_test(test_crypto_gap_limit),
        cmocka_unit_test(test_coalesced),       cmocka_unit_test(test_retry),
        cmocka_unit_test(test_dcid_change),     cmocka_unit_test(test_versions),
        cmocka_unit_test(test_unknown_version), cmocka_unit_test(test_v2_draft),
        cmocka_unit_test(test_gquic_tls),
        cmocka_unit_test(test_not_quic),        cmocka_unit_test(test_names),
    };
    return tw_run_tests(tests, setup, teardown);
}
