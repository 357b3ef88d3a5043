/* SPDX-License-Identifier: MIT */
/* ASCII case folding and the name normal form rules match in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/base/ascii.h"
#include "tunwatch/base/common.h"

/* Every byte: only A-Z change, each to its lowercase letter (no locale, no Latin-1 folding). */
static void test_lower_every_byte(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        uint8_t want = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : (uint8_t)c;
        assert_int_equal(tw_ascii_lower((uint8_t)c), want);
        assert_int_equal(tw_ascii_alpha((uint8_t)c),
                         (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
        assert_int_equal(tw_ascii_alnum((uint8_t)c), (c >= 'a' && c <= 'z') ||
                                                         (c >= 'A' && c <= 'Z') ||
                                                         (c >= '0' && c <= '9'));
    }
}

static const struct {
    int line;
    const char *in;
    const char *norm;
} norm_cases[] = {
    {__LINE__, "Abc.LocalTo.NET", "abc.localto.net"},
    {__LINE__, "abc.localto.net.", "abc.localto.net"},   /* one trailing dot dropped */
    {__LINE__, "abc.localto.net..", "abc.localto.net."}, /* only one */
    {__LINE__, ".", ""},
    {__LINE__, "", ""},
    {__LINE__, "\xc3\x89X.example", "\xc3\x89x.example"}, /* bytes >= 0x80 kept */
    {__LINE__, "a\\.B\\032c", "a\\.b\\032c"},             /* presentation escapes kept */
    {__LINE__, "@[`{", "@[`{"},                           /* neighbours of A-Z and a-z */
};

/* Every pair of byte values at every third position of lengths up to 24 (whole words, the
 * last word overlapping the one before, under eight bytes read in pieces), against
 * tw_ascii_lower() byte by byte: the word-at-a-time test agrees on each. */
static void test_eq_nocase_every_pair(void **state)
{
    uint8_t a[24], b[24];
    unsigned long n_cases = 0;

    (void)state;
    for (int x = 0; x < 256; x++)
        for (int y = 0; y < 256; y++)
            for (size_t pos = 0; pos < 20; pos += 3) {
                memset(a, 'q', sizeof(a));
                memset(b, 'Q', sizeof(b));
                a[pos] = (uint8_t)x;
                b[pos] = (uint8_t)y;
                for (size_t n = pos + 1; n <= sizeof(a); n++) {
                    bool want = true;
                    for (size_t i = 0; i < n; i++)
                        want = want && tw_ascii_lower(a[i]) == tw_ascii_lower(b[i]);
                    if (tw_ascii_eq_nocase(a, b, n) != want)
                        fail_msg("bytes 0x%02x 0x%02x at %zu of %zu: got %d", x, y, pos, n, !want);
                    n_cases++;
                }
            }
    assert_true(n_cases > 1000000);
    assert_true(tw_ascii_eq_nocase("", "x", 0));
    assert_true(tw_ascii_eq_nocase("Tunnel.TryCloudflare.COM", "tunnel.trycloudflare.com", 24));
    assert_false(tw_ascii_eq_nocase("tunnel.trycloudflare.co@", "tunnel.trycloudflare.co`", 24));
}

static void test_normalize(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        char out[64];
        size_t n = strlen(norm_cases[i].in);
        size_t got = tw_name_normalize(out, norm_cases[i].in, n);
        if (got != strlen(norm_cases[i].norm) || strcmp(out, norm_cases[i].norm) != 0)
            fail_msg("line %d: '%s' -> '%s'", norm_cases[i].line, norm_cases[i].in, out);
        assert_true(tw_name_equals_normalized(norm_cases[i].in, n, out, got));
    }
}

static void test_equals_normalized(void **state)
{
    (void)state;
    assert_true(tw_name_equals_normalized("X.Ngrok.IO.", 11, "x.ngrok.io", 10));
    assert_true(tw_name_equals_normalized("x.ngrok.io", 10, "x.ngrok.io", 10));
    assert_false(tw_name_equals_normalized("x.ngrok.io", 10, "x.ngrok.i", 9));
    assert_false(tw_name_equals_normalized("x.ngrok.io", 10, "X.ngrok.io", 10)); /* norm is lower */
    assert_false(tw_name_equals_normalized("x.ngrok.io..", 12, "x.ngrok.io", 10));
    assert_false(tw_name_equals_normalized("y.ngrok.io", 10, "x.ngrok.io", 10));
}

/* In place: dst may be src. */
static void test_lower_copy_in_place(void **state)
{
    (void)state;
    char s[] = "MiXeD.CaSe";
    tw_ascii_lower_copy(s, s, strlen(s));
    assert_string_equal(s, "mixed.case");
}

/* Every byte value at every position of every length up to 24, copied apart and in place,
 * against tw_ascii_lower() byte by byte, the bytes past the length untouched; and the
 * comparison with a normal form, true against the reference's lowercase bytes and false where
 * one byte of the normal form differs (an uppercase letter in it too). */
static void test_lower_every_length(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 24; n++) {
        for (size_t pos = 0; pos < TW_MAX(n, (size_t)1); pos++) {
            for (unsigned c = 0; c < 256; c++) {
                char src[32], dst[32], want[32], in_place[32];
                for (size_t i = 0; i < sizeof(src); i++)
                    src[i] = (char)("AbCdEfGhIjKlMnOpQrStUvWxYz.-0Z"[i % 30]);
                if (n > 0)
                    src[pos] = (char)c;
                for (size_t i = 0; i < sizeof(src); i++)
                    want[i] = i < n ? (char)tw_ascii_lower((uint8_t)src[i]) : '#';
                memset(dst, '#', sizeof(dst));
                tw_ascii_lower_copy(dst, src, n);
                memcpy(in_place, src, sizeof(src));
                tw_ascii_lower_copy(in_place, in_place, n);
                if (memcmp(dst, want, sizeof(dst)) != 0 || memcmp(in_place, want, n) != 0 ||
                    memcmp(in_place + n, src + n, sizeof(src) - n) != 0)
                    fail_msg("byte 0x%02x at %zu of %zu", c, pos, n);
                size_t norm = n > 0 && src[n - 1] == '.' ? n - 1 : n; /* one dot dropped */
                if (!tw_name_equals_normalized(src, n, want, norm))
                    fail_msg("equals_normalized: byte 0x%02x at %zu of %zu", c, pos, n);
                if (pos < norm) {
                    want[pos] = (char)(want[pos] == 'X' ? 'x' : 'X');
                    if (tw_name_equals_normalized(src, n, want, norm))
                        fail_msg("equals_normalized, %zu changed: 0x%02x of %zu", pos, c, n);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower_every_byte),
        cmocka_unit_test(test_eq_nocase_every_pair),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_equals_normalized),
        cmocka_unit_test(test_lower_copy_in_place),
        cmocka_unit_test(test_lower_every_length),
    };
    return tw_run_tests_name("ascii", tests, NULL, NULL);
}
