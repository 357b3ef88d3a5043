/* SPDX-License-Identifier: MIT */
/* JSON line building: escaping of arbitrary bytes, overflow, timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/output/json.h"

struct esc_case {
    int line;
    const char *in;
    size_t in_len;
    const char *want;
};

#define S(x) x, sizeof(x) - 1

static const struct esc_case esc_cases[] = {
    {__LINE__, S("a.localto.net"), "\"a.localto.net\""},
    {__LINE__, S("q\"uote\\back"), "\"q\\\"uote\\\\back\""},
    {__LINE__, S("nl\ncr\rtab\t"), "\"nl\\ncr\\rtab\\t\""},
    {__LINE__, S("nul\0x"), "\"nul\\u0000x\""},
    {__LINE__, S("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\""},
    {__LINE__, S("caf\xc3\xa9"), "\"caf\xc3\xa9\""},             /* valid UTF-8 kept */
    {__LINE__, S("\xe2\x82\xac"), "\"\xe2\x82\xac\""},           /* euro sign */
    {__LINE__, S("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\""},   /* 4-byte sequence */
    {__LINE__, S("bad\xff"), "\"bad\\u00ff\""},                  /* invalid byte */
    {__LINE__, S("\xc3"), "\"\\u00c3\""},                        /* truncated sequence */
    {__LINE__, S("\xc0\xaf"), "\"\\u00c0\\u00af\""},             /* overlong */
    {__LINE__, S("\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\""},  /* surrogate */
    {__LINE__, S("\xf4\x90\x80\x80"), "\"\\u00f4\\u0090\\u0080\\u0080\""}, /* > U+10FFFF */
    {__LINE__, S(""), "\"\""},
};

static void test_escape(void **state)
{
    (void)state;
    char buf[256];
    struct tw_jb jb;

    for (size_t i = 0; i < TW_ARRAY_SIZE(esc_cases); i++) {
        const struct esc_case *c = &esc_cases[i];
        tw_jb_init(&jb, buf, sizeof(buf));
        tw_jb_str(&jb, c->in, c->in_len);
        assert_false(jb.overflow);
        if (jb.len != strlen(c->want) || memcmp(buf, c->want, jb.len) != 0)
            fail_msg("case at line %d: got %.*s want %s", c->line, (int)jb.len, buf, c->want);
    }
}

/* Every byte value, alone and in runs: the output holds only printable ASCII or valid UTF-8,
 * and no raw control byte, quote or backslash outside an escape. */
static void test_all_bytes(void **state)
{
    (void)state;
    static char buf[8192];
    uint8_t in[256];
    struct tw_jb jb;

    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    tw_jb_init(&jb, buf, sizeof(buf));
    tw_jb_str(&jb, in, sizeof(in));
    assert_false(jb.overflow);
    assert_true(buf[0] == '"' && buf[jb.len - 1] == '"');
    for (size_t i = 1; i + 1 < jb.len; i++) {
        uint8_t c = (uint8_t)buf[i];
        assert_true(c >= 0x20 && c < 0x7f); /* no byte >= 0x80 survives in this input */
        if (c == '"')
            assert_int_equal(buf[i - 1], '\\');
    }
}

static void test_overflow(void **state)
{
    (void)state;
    char buf[8 + 8]; /* 8 bytes given to the builder, then a guard the builder must not touch */
    struct tw_jb jb;
    size_t len;

    memset(buf, 0x5a, sizeof(buf));
    tw_jb_init(&jb, buf, 8);
    tw_jb_str(&jb, "0123456789", 10);
    assert_true(jb.overflow);
    for (size_t i = 8; i < sizeof(buf); i++)
        assert_int_equal((unsigned char)buf[i], 0x5a);
    /* The overflow sticks: a later piece that would fit is not appended either. */
    len = jb.len;
    tw_jb_lit(&jb, "");
    tw_jb_raw(&jb, "x", 1);
    assert_true(jb.overflow);
    assert_int_equal(jb.len, len);
    tw_jb_init(&jb, buf, 8);
    tw_jb_str(&jb, "\x01", 1); /* "\u0001" is 8 bytes: fits exactly */
    assert_false(jb.overflow);
    assert_int_equal(jb.len, 8);
    assert_memory_equal(buf, "\"\\u0001\"", 8);
    assert_int_equal((unsigned char)buf[8], 0x5a);
    tw_jb_raw(&jb, "x", 1); /* one byte more does not fit */
    assert_true(jb.overflow);
    assert_int_equal(jb.len, 8);
    assert_int_equal((unsigned char)buf[8], 0x5a);
}

static void test_keys_time(void **state)
{
    (void)state;
    char buf[256];
    struct tw_jb jb;

    tw_jb_init(&jb, buf, sizeof(buf));
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "t");
    tw_jb_time(&jb, 1718618400, 123456789);
    tw_jb_key(&jb, "n");
    tw_jb_u64(&jb, 18446744073709551615ULL);
    tw_jb_key(&jb, "b");
    tw_jb_bool(&jb, false);
    tw_jb_raw(&jb, "}", 1);
    assert_false(jb.overflow);
    buf[jb.len] = '\0';
    assert_string_equal(buf, "{\"t\":\"2024-06-17T10:00:00.123456Z\",\"n\":18446744073709551615,"
                             "\"b\":false}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_all_bytes),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_keys_time),
    };
    return tw_run_tests_name("json", tests, NULL, NULL);
}
