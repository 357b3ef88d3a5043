/* SPDX-License-Identifier: MIT */
/* Home networks: CIDR parsing and membership, which decide Initiated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/base/netaddr.h"

struct member_case {
    int line;
    const char *addr;
    bool inside;
};

static const struct member_case default_cases[] = {
    {__LINE__, "10.1.2.3", true},      {__LINE__, "172.16.0.1", true},
    {__LINE__, "172.31.255.255", true}, {__LINE__, "172.32.0.1", false},
    {__LINE__, "192.168.1.1", true},   {__LINE__, "192.169.1.1", false},
    {__LINE__, "127.0.0.1", true},     {__LINE__, "169.254.10.1", true},
    {__LINE__, "8.8.8.8", false},      {__LINE__, "fd20::2", true},
    {__LINE__, "fc00::1", true},       {__LINE__, "fe80::1", true},
    {__LINE__, "febf::1", true},       {__LINE__, "fec0::1", false},
    {__LINE__, "::1", true},           {__LINE__, "2001:db8::1", false},
};

static bool member(const struct tw_homenet *h, const char *s)
{
    uint8_t a[16] = {0};
    if (inet_pton(AF_INET, s, a) == 1)
        return tw_homenet_contains(h, 4, a);
    assert_int_equal(inet_pton(AF_INET6, s, a), 1);
    return tw_homenet_contains(h, 6, a);
}

static void test_default(void **state)
{
    (void)state;
    struct tw_homenet h;

    tw_homenet_default(&h);
    for (size_t i = 0; i < TW_ARRAY_SIZE(default_cases); i++)
        if (member(&h, default_cases[i].addr) != default_cases[i].inside)
            fail_msg("case at line %d: %s", default_cases[i].line, default_cases[i].addr);
}

static void test_parse(void **state)
{
    (void)state;
    struct tw_homenet h;
    char bad[64];
    struct tw_cidr c;

    assert_int_equal(tw_homenet_parse(&h, "203.0.113.0/24, 2001:db8::/32,198.51.100.7", bad,
                                      sizeof(bad)),
                     0);
    assert_int_equal(h.n, 3);
    assert_true(member(&h, "203.0.113.9"));
    assert_false(member(&h, "203.0.114.9"));
    assert_true(member(&h, "2001:db8:1::1"));
    assert_true(member(&h, "198.51.100.7"));
    assert_false(member(&h, "198.51.100.8"));
    assert_false(member(&h, "10.0.0.1"));
    /* Errors name the element and leave h untouched. */
    assert_int_equal(tw_homenet_parse(&h, "10.0.0.0/8,nonsense", bad, sizeof(bad)), TW_EINVAL);
    assert_string_equal(bad, "nonsense");
    assert_int_equal(h.n, 3);
    assert_int_equal(tw_cidr_parse("10.1.0.0/8", &c), TW_EINVAL); /* host bits set */
    assert_int_equal(tw_cidr_parse("10.0.0.0/33", &c), TW_EINVAL);
    assert_int_equal(tw_cidr_parse("10.0.0.0/", &c), TW_EINVAL);
    assert_int_equal(tw_cidr_parse("::/0", &c), 0);
    assert_int_equal(tw_cidr_parse("0.0.0.0/0", &c), 0);
    assert_int_equal(tw_homenet_parse(&h, "", bad, sizeof(bad)), TW_EINVAL);
    assert_int_equal(tw_homenet_parse(&h, "10.0.0.0/8,", bad, sizeof(bad)), 0);
}

/* Ports as a URI or a Host field writes them: digits, leading zeros allowed, up to 65535. */
static void test_port(void **state)
{
    (void)state;
    uint16_t port = 7;

    assert_true(tw_port_parse((const uint8_t *)"443", 3, &port));
    assert_int_equal(port, 443);
    assert_true(tw_port_parse((const uint8_t *)"0", 1, &port));
    assert_int_equal(port, 0);
    assert_true(tw_port_parse((const uint8_t *)"0008080", 7, &port));
    assert_int_equal(port, 8080);
    assert_true(tw_port_parse((const uint8_t *)"65535", 5, &port));
    assert_int_equal(port, 65535);
    assert_false(tw_port_parse((const uint8_t *)"65536", 5, &port));
    assert_false(tw_port_parse((const uint8_t *)"", 0, &port));
    assert_false(tw_port_parse((const uint8_t *)"4a3", 3, &port));
    assert_false(tw_port_parse((const uint8_t *)"-1", 2, &port));
    assert_false(tw_port_parse((const uint8_t *)"99999999999999999999", 20, &port));
    assert_int_equal(port, 65535); /* left as it was by a refusal */
}

static void test_format(void **state)
{
    (void)state;
    uint8_t a[16] = {192, 0, 2, 1};
    char buf[46];

    tw_addr_format(4, a, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.1");
    assert_int_equal(inet_pton(AF_INET6, "fd20::2", a), 1);
    tw_addr_format(6, a, buf, sizeof(buf));
    assert_string_equal(buf, "fd20::2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_format),
    };
    return tw_run_tests_name("netaddr", tests, NULL, NULL);
}
