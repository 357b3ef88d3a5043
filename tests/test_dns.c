/* SPDX-License-Identifier: MIT */
/*
 * DNS header/question parser. Every case runs on the whole message and on
 * every prefix of it, each copied into an exact-size heap buffer so that
 * AddressSanitizer reports a one-byte over-read.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns_same.h"
#include "test_util.h"

#include "tunwatch/proto/dns.h"

/* Header with ID 0x1234, flags 0x0100 (RD), QDCOUNT qd (a 2-byte string), no other records.
 * String pieces are kept separate so that a hex escape never swallows a following letter. */
#define HDR(qd) "\x12\x34\x01\x00" qd "\x00\x00\x00\x00\x00\x00"
#define QD0 "\x00\x00"
#define QD1 "\x00\x01"
#define QD2 "\x00\x02"
#define QD3 "\x00\x03"
#define QD5 "\x00\x05"
#define T_A_IN "\x00\x01\x00\x01"
#define T_AAAA_IN "\x00\x1c\x00\x01"
#define T_HTTPS_IN "\x00\x41\x00\x01"
#define WWW_EXAMPLE_COM "\x03" "www" "\x07" "example" "\x03" "com" "\x00"

#define MAXQ TW_DNS_MAX_QUESTIONS

struct dns_case {
    int line;
    const char *wire; /* message bytes */
    size_t len;
    int want;         /* return of tw_dns_parse on the whole message */
    unsigned nq;      /* questions stored */
    const char *names[MAXQ];
    uint16_t qtypes[MAXQ];
    unsigned odd;     /* 1u << enum tw_dns_oddity the parse reports (also on error) */
};

#define W(s) (s), sizeof(s) - 1
#define FWD (1u << TW_DNS_ODD_FORWARD_POINTER)
#define HDRP (1u << TW_DNS_ODD_HEADER_POINTER)

static const struct dns_case cases[] = {
    /* plain query */
    {__LINE__, W(HDR(QD1) WWW_EXAMPLE_COM T_A_IN), 33, 1, {"www.example.com"}, {1}, 0},
    /* trailing bytes after the question section are not ours to judge */
    {__LINE__, W(HDR(QD1) WWW_EXAMPLE_COM T_A_IN "\xff\xff\xff"), 33, 1, {"www.example.com"}, {1}, 0},
    /* QDCOUNT 0 */
    {__LINE__, W(HDR(QD0)), 12, 0, {0}, {0}, 0},
    {__LINE__, W(HDR(QD0) "\xc0\xff garbage"), 12, 0, {0}, {0}, 0},
    /* several questions, later ones compressed against earlier ones (offset 16 = "example") */
    {__LINE__,
     W(HDR(QD3) WWW_EXAMPLE_COM T_A_IN "\x04" "mail" "\xc0\x10" T_AAAA_IN "\xc0\x0c" T_HTTPS_IN),
     33 + 7 + 4 + 2 + 4,
     3,
     {"www.example.com", "mail.example.com", "www.example.com"},
     {1, 28, 65}, 0},
    /* pointer to a pointer, both backwards: q2 -> q3's name is a pointer to q1 */
    {__LINE__,
     W(HDR(QD3) WWW_EXAMPLE_COM T_A_IN "\xc0\x0c" T_A_IN "\x01" "x" "\xc0\x21" T_A_IN),
     33 + 6 + 8, 3, {"www.example.com", "www.example.com", "x.www.example.com"}, {1, 1, 1}, 0},
    /* forward pointers, read as glibc, musl and dnsmasq read them: q1 to q2 (offset 18)... */
    {__LINE__, W(HDR(QD2) "\xc0\x12" T_A_IN WWW_EXAMPLE_COM T_A_IN), 39, 2,
     {"www.example.com", "www.example.com"}, {1, 1}, FWD},
    /* ... and into the middle of a label: offset 33 is "m" (0x6d, a reserved label type) */
    {__LINE__, W(HDR(QD2) "\xc0\x21" T_A_IN WWW_EXAMPLE_COM T_A_IN), TW_EMALFORMED, 0, {0}, {0},
     FWD},
    /* into the header: offset 2 is the flags word, 0x01 0x00, a label "\000" then QDCOUNT's
     * 0x00 ending the name; offset 0 is ID 0x12, a label running past the end */
    {__LINE__, W(HDR(QD1) "\xc0\x02" T_A_IN), 18, 1, {"\\000"}, {1}, HDRP},
    {__LINE__, W(HDR(QD1) "\xc0\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}, HDRP},
    /* loops, each found once the walk has looked at more octets than the message holds (a loop
     * always has a pointer that does not aim back: flagged) */
    /* self loop */
    {__LINE__, W(HDR(QD2) "\x00" T_A_IN "\xc0\x11" T_A_IN), TW_EMALFORMED, 1, {"."}, {1}, FWD},
    /* pointer back into the run that holds it: "a" then a pointer to that "a" */
    {__LINE__, W(HDR(QD2) "\x00" T_A_IN "\x01" "a" "\xc0\x11" T_A_IN), TW_EMALFORMED, 1, {"."},
     {1}, FWD},
    /* mutual loop: q1's label octets hold a pointer to q2 (20), q2 points back at them (13) */
    {__LINE__, W(HDR(QD2) "\x02" "\xc0\x14" "\x00" T_A_IN "\xc0\x0d" T_A_IN), TW_EMALFORMED, 1,
     {"\\192\\020"}, {1}, FWD},
    /* the same bytes, with the first hop already forward */
    {__LINE__, W(HDR(QD2) "\x01" "a" "\xc0\x15" T_A_IN "\xc0\x0e" T_A_IN), TW_EMALFORMED, 0, {0},
     {0}, FWD},
    /* pointer past the end of the message */
    {__LINE__, W(HDR(QD2) "\x00" T_A_IN "\xff\xff" T_A_IN), TW_EMALFORMED, 1, {"."}, {1}, 0},
    /* pointer cut after its first byte */
    {__LINE__, W(HDR(QD1) "\x01" "a" "\xc0"), TW_EMALFORMED, 0, {0}, {0}, 0},
    /* root name */
    {__LINE__, W(HDR(QD1) "\x00" "\x00\x02\x00\x01"), 17, 1, {"."}, {2}, 0},
    /* mixed case preserved */
    {__LINE__, W(HDR(QD1) "\x03" "WwW" "\x07" "ExAmPlE" "\x03" "CoM" "\x00" T_A_IN), 33, 1,
     {"WwW.ExAmPlE.CoM"}, {1}, 0},
    /* escapes: dot, backslash, space, NUL, 0x7f, 0xff inside labels; ; ( ) " copied */
    {__LINE__, W(HDR(QD1) "\x03" "a.b" "\x03" "c\\d" "\x03" "e f" "\x00" T_A_IN), 12 + 13 + 4,
     1, {"a\\.b.c\\\\d.e\\032f"}, {1}, 0},
    {__LINE__, W(HDR(QD1) "\x04" "\x00" "\x7f" "\xff" "\x20" "\x00" T_A_IN), 12 + 6 + 4, 1,
     {"\\000\\127\\255\\032"}, {1}, 0},
    {__LINE__, W(HDR(QD1) "\x06" ";()\"@$" "\x02" "\x21\x7e" "\x00" T_A_IN), 12 + 11 + 4, 1,
     {";()\"@$.!~"}, {1}, 0},
    {__LINE__, W(HDR(QD1) "\x01" "." "\x00" T_A_IN), 12 + 3 + 4, 1, {"\\."}, {1}, 0},
    /* bad label types */
    {__LINE__, W(HDR(QD1) "\x41" "a" "\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}, 0},
    {__LINE__, W(HDR(QD1) "\x81" "a" "\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}, 0},
    {__LINE__, W(HDR(QD1) "\xbf" "a" "\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}, 0},
    /* truncated header */
    {__LINE__, W(""), TW_EMALFORMED, 0, {0}, {0}, 0},
    {__LINE__, W("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"), TW_EMALFORMED, 0, {0}, {0}, 0},
    /* QDCOUNT larger than the data */
    {__LINE__, W(HDR(QD2) WWW_EXAMPLE_COM T_A_IN), TW_EMALFORMED, 1, {"www.example.com"}, {1}, 0},
    {__LINE__, W(HDR("\xff\xff") WWW_EXAMPLE_COM T_A_IN), TW_EMALFORMED, 1, {"www.example.com"},
     {1}, 0},
    /* name without its terminating zero, then without qtype/qclass */
    {__LINE__, W(HDR(QD1) "\x03" "www"), TW_EMALFORMED, 0, {0}, {0}, 0},
    {__LINE__, W(HDR(QD1) "\x03" "www" "\x00" "\x00\x01\x00"), TW_EMALFORMED, 0, {0}, {0}, 0},
    /* label length running past the end */
    {__LINE__, W(HDR(QD1) "\x3f" "abc"), TW_EMALFORMED, 0, {0}, {0}, 0},
};

/* Runs one message whole and at every prefix. want/nq/names/qtypes describe the whole run. */
static void run_one(int line, const uint8_t *wire, size_t len, int want, unsigned nq,
                    const char *const *names, const uint16_t *qtypes, unsigned odd)
{
    static struct tw_dns_msg m; /* about 18 KB: keep it off the stack */

    uint8_t *b = exact_copy(wire, len);
    int r = tw_dns_parse(b, len, &m);
    if (r != want)
        fail_msg("line %d: tw_dns_parse returned %d, want %d", line, r, want);
    if (m.odd != odd)
        fail_msg("line %d: oddities 0x%x, want 0x%x", line, m.odd, odd);
    if (want >= 0 || len >= TW_DNS_HDR_LEN) {
        if (m.n_questions != nq)
            fail_msg("line %d: %u questions stored, want %u", line, m.n_questions, nq);
        for (unsigned i = 0; i < nq; i++) {
            if (strcmp(m.q[i].name, names[i]) != 0)
                fail_msg("line %d: q%u name \"%s\", want \"%s\"", line, i, m.q[i].name, names[i]);
            if (m.q[i].name_len != strlen(names[i]))
                fail_msg("line %d: q%u name_len %zu", line, i, m.q[i].name_len);
            if (m.q[i].qtype != qtypes[i])
                fail_msg("line %d: q%u qtype %u, want %u", line, i, m.q[i].qtype, qtypes[i]);
        }
        for (unsigned i = nq; i < MAXQ; i++)
            if (m.q[i].name[0] != '\0' || m.q[i].name_len != 0)
                fail_msg("line %d: q%u not reset", line, i);
    }
    free(b);

    for (size_t k = 0; k < len; k++) {
        b = exact_copy(wire, k);
        r = tw_dns_parse(b, k, &m);
        int w = want >= 0 && k >= (size_t)want ? want : TW_EMALFORMED;
        if (r != w)
            fail_msg("line %d: prefix %zu/%zu returned %d, want %d", line, k, len, r, w);
        free(b);
    }
}

/* Forward pointers to a name past the question section: read (glibc and dnsmasq read them),
 * and every cut of the message before its end is malformed, as the name is not all there. */
static void test_pointer_past_questions(void **state)
{
    (void)state;
    static struct tw_dns_msg m;
    /* q1 points at a name after the questions (offset 24), q2 at its "example" (28) */
    static const char wire[] = HDR(QD2) "\xc0\x18" T_A_IN "\xc0\x1c" T_AAAA_IN WWW_EXAMPLE_COM;
    const size_t len = sizeof(wire) - 1;

    uint8_t *b = exact_copy((const uint8_t *)wire, len);
    assert_int_equal(tw_dns_parse(b, len, &m), 24);
    assert_int_equal(m.n_questions, 2);
    assert_string_equal(m.q[0].name, "www.example.com");
    assert_int_equal(m.q[0].qtype, 1);
    assert_string_equal(m.q[1].name, "example.com");
    assert_int_equal(m.q[1].qtype, 28);
    assert_int_equal(m.odd, FWD);
    free(b);
    for (size_t k = 0; k < len; k++) {
        b = exact_copy((const uint8_t *)wire, k);
        assert_int_equal(tw_dns_parse(b, k, &m), TW_EMALFORMED);
        free(b);
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        const struct dns_case *c = &cases[i];
        run_one(c->line, (const uint8_t *)c->wire, c->len, c->want, c->nq, c->names, c->qtypes, c->odd);
    }
}

/* A message under construction, for cases too long to spell out. */
struct msgbuf {
    uint8_t b[8192];
    size_t n;
};

static void mb_put(struct msgbuf *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void mb_u8(struct msgbuf *m, uint8_t v)
{
    mb_put(m, &v, 1);
}

static void mb_hdr(struct msgbuf *m, uint16_t qd)
{
    m->n = 0;
    mb_put(m, "\x12\x34\x01\x00", 4);
    mb_u8(m, (uint8_t)(qd >> 8));
    mb_u8(m, (uint8_t)qd);
    mb_put(m, "\x00\x00\x00\x00\x00\x00", 6);
}

/* Label of n copies of byte c. */
static void mb_label(struct msgbuf *m, size_t n, uint8_t c)
{
    mb_u8(m, (uint8_t)n);
    for (size_t i = 0; i < n; i++)
        mb_u8(m, c);
}

static void expect_one(int line, struct msgbuf *m, int want, const char *name)
{
    const char *names[1] = {name};
    const uint16_t qt[1] = {1};
    run_one(line, m->b, m->n, want, want >= 0 ? 1 : 0, names, qt, 0);
}

static void test_label_lengths(void **state)
{
    (void)state;
    struct msgbuf m;
    char want[128];

    memset(want, 'a', 63);
    want[63] = '\0';
    mb_hdr(&m, 1);
    mb_label(&m, 63, 'a');
    mb_put(&m, "\x00" T_A_IN, 5);
    expect_one(__LINE__, &m, (int)m.n, want);

    /* 64 is also the 0x40 label type: rejected either way */
    mb_hdr(&m, 1);
    mb_label(&m, 64, 'a');
    mb_put(&m, "\x00" T_A_IN, 5);
    expect_one(__LINE__, &m, TW_EMALFORMED, NULL);
}

static void test_name_lengths(void **state)
{
    (void)state;
    struct msgbuf m;
    static char want[TW_NAME_MAX];

    /* 63+63+63+61 label octets + 4 length octets + final zero = 255 */
    mb_hdr(&m, 1);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_label(&m, 61, 'd');
    mb_put(&m, "\x00" T_A_IN, 5);
    snprintf(want, sizeof(want), "%.63s.%.63s.%.63s.%.61s",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
             "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
    expect_one(__LINE__, &m, (int)m.n, want);

    /* 256 */
    mb_hdr(&m, 1);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_label(&m, 62, 'd');
    mb_put(&m, "\x00" T_A_IN, 5);
    expect_one(__LINE__, &m, TW_EMALFORMED, NULL);

    /* 255 reached through a pointer: "x" + 63+63+63+59 stored in q1 (253 octets) -> 255 */
    mb_hdr(&m, 2);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_label(&m, 59, 'd');
    mb_put(&m, "\x00" T_A_IN, 5);
    mb_put(&m, "\x01" "x" "\xc0\x0c" T_A_IN, 8);
    {
        static struct tw_dns_msg dm;
        uint8_t *b = exact_copy(m.b, m.n);
        assert_int_equal(tw_dns_parse(b, m.n, &dm), (int)m.n);
        assert_int_equal(dm.n_questions, 2);
        assert_int_equal(dm.q[1].name_len, 2 + 63 * 3 + 59 + 3);
        free(b);
    }
    /* one octet more in the pointed-to name: 254 for q1, 256 for q2 */
    mb_hdr(&m, 2);
    mb_label(&m, 63, 'a');
    mb_label(&m, 63, 'b');
    mb_label(&m, 63, 'c');
    mb_label(&m, 60, 'd');
    mb_put(&m, "\x00" T_A_IN, 5);
    mb_put(&m, "\x01" "x" "\xc0\x0c" T_A_IN, 8);
    {
        static struct tw_dns_msg dm;
        uint8_t *b = exact_copy(m.b, m.n);
        assert_int_equal(tw_dns_parse(b, m.n, &dm), TW_EMALFORMED);
        assert_int_equal(dm.n_questions, 1);
        assert_int_equal(dm.q[0].name_len, 63 * 3 + 60 + 3);
        free(b);
    }

    /* 127 one-octet labels = 255 octets; 128 = 257 */
    mb_hdr(&m, 1);
    for (int i = 0; i < 127; i++)
        mb_label(&m, 1, 'z');
    mb_put(&m, "\x00" T_A_IN, 5);
    for (int i = 0; i < 127; i++) {
        want[2 * i] = 'z';
        want[2 * i + 1] = '.';
    }
    want[253] = '\0';
    expect_one(__LINE__, &m, (int)m.n, want);
    mb_hdr(&m, 1);
    for (int i = 0; i < 128; i++)
        mb_label(&m, 1, 'z');
    mb_put(&m, "\x00" T_A_IN, 5);
    expect_one(__LINE__, &m, TW_EMALFORMED, NULL);

    /* longest presentation form: 250 octets of 0xff -> 1000 + 3 dots, fits TW_NAME_MAX */
    mb_hdr(&m, 1);
    mb_label(&m, 63, 0xff);
    mb_label(&m, 63, 0xff);
    mb_label(&m, 63, 0xff);
    mb_label(&m, 61, 0xff);
    mb_put(&m, "\x00" T_A_IN, 5);
    {
        size_t o = 0;
        const size_t lens[4] = {63, 63, 63, 61};
        for (int l = 0; l < 4; l++) {
            if (l)
                want[o++] = '.';
            for (size_t i = 0; i < lens[l]; i++) {
                memcpy(want + o, "\\255", 4);
                o += 4;
            }
        }
        want[o] = '\0';
        assert_int_equal(o, 1003);
    }
    expect_one(__LINE__, &m, (int)m.n, want);
}

/*
 * A chain of n pointers for q2: q1 carries, inside its label octets, the name
 * "\x01x\x00" followed by pointer pairs each aiming at the one before; q2 is
 * a pointer to the last pair.
 */
static void build_chain(struct msgbuf *m, unsigned n)
{
    size_t prev = 0; /* offset the next pair points to */
    unsigned pairs = n - 1;

    mb_hdr(m, 3);
    /* q1 and q2 hold the pairs in their labels; each label 63 octets = 3 + 30 pairs */
    for (int q = 0; q < 2; q++) {
        for (int l = 0; l < 4; l++) {
            size_t llen = l == 3 ? 61 : 63;
            mb_u8(m, (uint8_t)llen);
            size_t start = m->n, used = 0;
            if (prev == 0) {
                mb_put(m, "\x01" "x" "\x00", 3);
                prev = start;
                used = 3;
            }
            while (pairs > 0 && used + 2 <= llen) {
                mb_u8(m, (uint8_t)(0xc0 | prev >> 8));
                mb_u8(m, (uint8_t)prev);
                prev = m->n - 2;
                used += 2;
                pairs--;
            }
            while (used < llen) {
                mb_u8(m, '-');
                used++;
            }
        }
        mb_put(m, "\x00" T_A_IN, 5);
    }
    assert_int_equal(pairs, 0);
    mb_u8(m, (uint8_t)(0xc0 | prev >> 8));
    mb_u8(m, (uint8_t)prev);
    mb_put(m, T_A_IN, 4);
}

/* Pointer chains are followed however long, as glibc follows them: no cap on hops but the
 * message's length (a walk that looked at more octets than the message holds is a loop). */
static void test_long_pointer_chain(void **state)
{
    (void)state;
    static struct msgbuf m;
    static struct tw_dns_msg dm;
    const unsigned hops[] = {127, 128, 200};

    for (size_t i = 0; i < TW_ARRAY_SIZE(hops); i++) {
        build_chain(&m, hops[i]);
        uint8_t *b = exact_copy(m.b, m.n);
        assert_int_equal(tw_dns_parse(b, m.n, &dm), (int)m.n);
        assert_int_equal(dm.n_questions, 3);
        assert_string_equal(dm.q[2].name, "x");
        assert_int_equal(dm.odd, 0); /* every pair aims back */
        free(b);
    }
}

/* q1 is a 127-label name; q2.. are pointers to it, each costing 128 steps for 6 octets. */
static void build_amplifier(struct msgbuf *m, unsigned qd)
{
    mb_hdr(m, (uint16_t)qd);
    for (int i = 0; i < 127; i++)
        mb_label(m, 1, 'x');
    mb_put(m, "\x00" T_A_IN, 5);
    for (unsigned i = 1; i < qd; i++)
        mb_put(m, "\xc0\x0c" T_A_IN, 6);
}

/* More questions than kept: all validated, the first MAXQ stored; a bad one past MAXQ still
 * makes the message malformed. */
static void test_more_questions_than_kept(void **state)
{
    (void)state;
    static struct msgbuf m;
    static char letters[MAXQ + 1][2];
    const char *names[MAXQ];
    uint16_t qt[MAXQ];

    for (unsigned bad = 0; bad < 2; bad++) {
        mb_hdr(&m, MAXQ + 1);
        for (unsigned i = 0; i <= MAXQ; i++) {
            letters[i][0] = (char)('a' + i);
            if (i < MAXQ) {
                names[i] = letters[i];
                qt[i] = 1;
            }
            /* 0x41: an extended label type, invalid, on the question that is not kept */
            mb_u8(&m, bad && i == MAXQ ? 0x41 : 0x01);
            mb_u8(&m, (uint8_t)letters[i][0]);
            mb_put(&m, "\x00" T_A_IN, 5);
        }
        run_one(__LINE__, m.b, m.n, bad ? TW_EMALFORMED : (int)m.n, MAXQ, names, qt, 0);
    }
}

static void test_step_budget(void **state)
{
    (void)state;
    static struct msgbuf m;
    static char x127[256];
    const char *names[MAXQ];
    uint16_t qt[MAXQ];

    for (unsigned i = 0; i < MAXQ; i++)
        qt[i] = 1;
    for (int i = 0; i < 127; i++) {
        x127[2 * i] = 'x';
        x127[2 * i + 1] = '.';
    }
    x127[253] = '\0';
    for (unsigned i = 0; i < MAXQ; i++)
        names[i] = x127;

    /* 127 + 5 * 128 steps, budget 256 + 2 * 301 */
    build_amplifier(&m, 6);
    assert_true(127 + 5 * 128 <= TW_DNS_STEP_BUDGET(m.n));
    run_one(__LINE__, m.b, m.n, (int)m.n, TW_MIN(6u, MAXQ), names, qt, 0);

    /* 127 + 19 * 128 steps, budget 256 + 2 * 385: a valid message, refused for the work.
     * The questions completed within the budget stay stored. */
    build_amplifier(&m, 20);
    assert_true(127 + 19 * 128 > TW_DNS_STEP_BUDGET(m.n));
    unsigned within = 0;
    while (within < 20 && 127 + within * 128 <= TW_DNS_STEP_BUDGET(m.n))
        within++;
    run_one(__LINE__, m.b, m.n, TW_EMALFORMED, TW_MIN(within, MAXQ), names, qt, 0);
}

static void test_header_fields(void **state)
{
    (void)state;
    static struct tw_dns_msg m;
    static const uint8_t w[] = {0xbe, 0xef, 0xa8, 0x05, 0, 0, 0, 3, 0, 4, 0, 5};
    uint8_t *b = exact_copy(w, sizeof(w));

    assert_int_equal(tw_dns_parse(b, sizeof(w), &m), 12);
    assert_int_equal(m.id, 0xbeef);
    assert_int_equal(m.flags, 0xa805);
    assert_true(m.qr);
    assert_int_equal(m.opcode, 5);
    assert_int_equal(m.rcode, 5);
    assert_int_equal(m.qdcount, 0);
    assert_int_equal(m.ancount, 3);
    assert_int_equal(m.nscount, 4);
    assert_int_equal(m.arcount, 5);
    assert_int_equal(m.n_questions, 0);

    /* reset on entry: a failed parse leaves nothing from the previous one */
    b[3] = 0;
    assert_int_equal(tw_dns_parse(b, 11, &m), TW_EMALFORMED);
    assert_int_equal(m.id, 0);
    assert_int_equal(m.ancount, 0);
    assert_false(m.qr);
    free(b);
}

static void test_name_read(void **state)
{
    (void)state;
    static const char w[] = HDR(QD2) WWW_EXAMPLE_COM T_A_IN "\x04" "mail" "\xc0\x10" T_A_IN;
    const size_t len = sizeof(w) - 1;
    uint8_t *b = exact_copy(w, len);
    char out[TW_NAME_MAX];
    size_t next = 0;

    assert_int_equal(tw_dns_name_read(b, len, 12, out, sizeof(out), &next), 15);
    assert_string_equal(out, "www.example.com");
    assert_int_equal(next, 29);
    /* compressed: next is just past the pointer */
    assert_int_equal(tw_dns_name_read(b, len, 33, out, sizeof(out), &next), 16);
    assert_string_equal(out, "mail.example.com");
    assert_int_equal(next, 40);
    /* a name that starts in the middle of another is fine */
    assert_int_equal(tw_dns_name_read(b, len, 16, out, sizeof(out), &next), 11);
    assert_string_equal(out, "example.com");
    /* small buffers: exact fit, one short */
    assert_int_equal(tw_dns_name_read(b, len, 33, out, 17, &next), 16);
    assert_string_equal(out, "mail.example.com");
    assert_int_equal(tw_dns_name_read(b, len, 33, out, 16, &next), TW_ENOMEM);
    assert_int_equal(tw_dns_name_read(b, len, 33, out, 0, &next), TW_EINVAL);
    assert_int_equal(tw_dns_name_read(b, len, 33, NULL, 10, &next), TW_EINVAL);
    /* offset at or past the end */
    assert_int_equal(tw_dns_name_read(b, len, len, out, sizeof(out), &next), TW_EMALFORMED);
    assert_int_equal(tw_dns_name_read(b, len, len + 5, out, sizeof(out), &next), TW_EMALFORMED);
    /* the qtype bytes at 29 read as a name: \x00 is the root */
    assert_int_equal(tw_dns_name_read(b, len, 29, out, sizeof(out), &next), 1);
    assert_string_equal(out, ".");
    assert_int_equal(next, 30);
    free(b);
}

static void test_qtype_name(void **state)
{
    (void)state;
    static const struct {
        uint16_t t;
        const char *n;
    } tab[] = {
        {1, "A"},        {2, "NS"},     {5, "CNAME"},    {6, "SOA"},     {12, "PTR"},
        {15, "MX"},      {16, "TXT"},   {28, "AAAA"},    {33, "SRV"},    {35, "NAPTR"},
        {41, "OPT"},     {43, "DS"},    {46, "RRSIG"},   {47, "NSEC"},   {48, "DNSKEY"},
        {50, "NSEC3"},   {52, "TLSA"},  {59, "CDS"},     {60, "CDNSKEY"}, {64, "SVCB"},
        {65, "HTTPS"},   {99, "SPF"},   {251, "IXFR"},   {252, "AXFR"},  {255, "ANY"},
        {257, "CAA"},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(tab); i++)
        assert_string_equal(tw_dns_qtype_name(tab[i].t), tab[i].n);
    assert_null(tw_dns_qtype_name(0));
    assert_null(tw_dns_qtype_name(31));
    assert_null(tw_dns_qtype_name(65535));
}

/* ---- answer section ---- */

/* Response header: QR RD RA, QDCOUNT qd, ANCOUNT an (2-byte strings), no other records. */
#define RHDR(qd, an) "\x12\x34\x81\x80" qd an "\x00\x00\x00\x00"
#define AN0 "\x00\x00"
#define AN1 "\x00\x01"
#define AN2 "\x00\x02"
#define AN3 "\x00\x03"
#define AN4 "\x00\x04"
#define PQ "\xc0\x0c" /* pointer to the first question's name */
#define T_CNAME_IN "\x00\x05\x00\x01"
#define T_MX_IN "\x00\x0f\x00\x01"
#define T_TXT_IN "\x00\x10\x00\x01"
#define TTL60 "\x00\x00\x00\x3c"
#define TTL300 "\x00\x00\x01\x2c"
#define IP4_1 "\xc0\x00\x02\x01"                                                 /* 192.0.2.1 */
#define IP4_2 "\xc6\x33\x64\x07"                                                 /* 198.51.100.7 */
#define IP6_1 "\x20\x01\x0d\xb8" "\x00\x00\x00\x00" "\x00\x00\x00\x00" "\x00\x00\x00\x01" /* 2001:db8::1 */
#define RR_A(owner, ttl, ip) owner T_A_IN ttl "\x00\x04" ip
#define RR_AAAA(owner, ttl, ip) owner T_AAAA_IN ttl "\x00\x10" ip
/* Question "www.example.com" A at 12..32: answers start at 33, "example.com" is at 16 (0x10),
 * "com" at 24 (0x18). */
#define Q_WWW WWW_EXAMPLE_COM T_A_IN
/* Question "a" A at 12..18: answers start at 19. */
#define Q_A "\x01" "a" "\x00" T_A_IN

#define MAXRR 4

struct want_rr {
    uint16_t type;
    const char *name;
    uint32_t ttl;
    const char *data; /* A/AAAA: the address bytes; CNAME: the target */
};

struct want_addr {
    uint8_t version;
    const char *addr;
    uint32_t ttl;
};

struct ans_case {
    int line;
    const char *wire; /* a response whose last byte is the last answer's */
    size_t len;
    int want; /* tw_dns_parse_answers on the whole message */
    unsigned n, skipped;
    struct want_rr rr[MAXRR];
    /* tw_dns_cname_chain from the first question's name, max 8 */
    unsigned nchain;
    const char *chain[MAXRR];
    unsigned naddr;
    struct want_addr addr[MAXRR];
};

static const struct ans_case ans_cases[] = {
    /* A */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW RR_A(PQ, TTL300, IP4_1)), 0, 1, 0,
     {{1, "www.example.com", 300, IP4_1}}, 1, {"www.example.com"}, 1, {{4, IP4_1, 300}}},
    /* AAAA, then A, both for the question name */
    {__LINE__, W(RHDR(QD1, AN2) Q_WWW RR_AAAA(PQ, TTL60, IP6_1) RR_A(PQ, TTL300, IP4_1)), 0, 2, 0,
     {{28, "www.example.com", 60, IP6_1}, {1, "www.example.com", 300, IP4_1}}, 1,
     {"www.example.com"}, 2, {{6, IP6_1, 60}, {4, IP4_1, 300}}},
    /* www -> x.trycloudflare.com ("com" compressed to the question) -> A; the A's owner points
     * at the CNAME target (45 = 0x2d); an A for another name is not reported */
    {__LINE__,
     W(RHDR(QD1, AN3) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x12" "\x01" "x" "\x0d" "trycloudflare"
       "\xc0\x18" RR_A("\xc0\x2d", TTL60, IP4_2) RR_A("\x05" "other" "\xc0\x10", TTL60, IP4_1)),
     0, 3, 0,
     {{5, "www.example.com", 300, "x.trycloudflare.com"},
      {1, "x.trycloudflare.com", 60, IP4_2},
      {1, "other.example.com", 60, IP4_1}},
     2, {"www.example.com", "x.trycloudflare.com"}, 1, {{4, IP4_2, 60}}},
    /* two hops, names in other letter case: www -> CDN.example.com -> edge.example.net, whose
     * AAAA is owned by EDGE.EXAMPLE.NET */
    {__LINE__,
     W(RHDR(QD1, AN3) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x06" "\x03" "CDN" "\xc0\x10"
       "\x03" "cdn" "\x07" "example" "\x03" "com" "\x00" T_CNAME_IN TTL300 "\x00\x12"
       "\x04" "edge" "\x07" "example" "\x03" "net" "\x00"
       RR_AAAA("\x04" "EDGE" "\x07" "EXAMPLE" "\x03" "NET" "\x00", TTL60, IP6_1)),
     0, 3, 0,
     {{5, "www.example.com", 300, "CDN.example.com"},
      {5, "cdn.example.com", 300, "edge.example.net"},
      {28, "EDGE.EXAMPLE.NET", 60, IP6_1}},
     3, {"www.example.com", "CDN.example.com", "edge.example.net"}, 1, {{6, IP6_1, 60}}},
    /* loop a -> b -> a (b's owner points at the first target, 31 = 0x1f), plus an A for b */
    {__LINE__,
     W(RHDR(QD1, AN3) Q_A PQ T_CNAME_IN TTL300 "\x00\x03" "\x01" "b" "\x00"
       "\xc0\x1f" T_CNAME_IN TTL300 "\x00\x02" PQ RR_A("\xc0\x1f", TTL300, IP4_1)),
     0, 3, 0, {{5, "a", 300, "b"}, {5, "b", 300, "a"}, {1, "b", 300, IP4_1}}, 2, {"a", "b"}, 1,
     {{4, IP4_1, 300}}},
    /* loop a -> b -> c -> a */
    {__LINE__,
     W(RHDR(QD1, AN3) Q_A PQ T_CNAME_IN TTL300 "\x00\x03" "\x01" "b" "\x00"
       "\xc0\x1f" T_CNAME_IN TTL300 "\x00\x03" "\x01" "c" "\x00"
       "\xc0\x2e" T_CNAME_IN TTL300 "\x00\x02" PQ),
     0, 3, 0, {{5, "a", 300, "b"}, {5, "b", 300, "c"}, {5, "c", 300, "a"}}, 3, {"a", "b", "c"},
     0, {{0}}},
    /* self loop */
    {__LINE__, W(RHDR(QD1, AN1) Q_A PQ T_CNAME_IN TTL300 "\x00\x02" PQ), 0, 1, 0,
     {{5, "a", 300, "a"}}, 1, {"a"}, 0, {{0}}},
    /* MX, TXT, HTTPS skipped (their RDATA is not read) */
    {__LINE__,
     W(RHDR(QD1, AN4) Q_WWW PQ T_MX_IN TTL300 "\x00\x04" "\x00\x0a" PQ
       PQ T_TXT_IN TTL300 "\x00\x03" "\x02" "hi" PQ T_HTTPS_IN TTL300 "\x00\x03" "\x00\x01" "\x00"
       RR_A(PQ, TTL300, IP4_1)),
     0, 1, 3, {{1, "www.example.com", 300, IP4_1}}, 1, {"www.example.com"}, 1,
     {{4, IP4_1, 300}}},
    /* classes other than IN skipped whatever their RDATA: CH A of 5 octets, ANY A, HS CNAME */
    {__LINE__,
     W(RHDR(QD1, AN4) Q_WWW PQ "\x00\x01\x00\x03" TTL300 "\x00\x05" "\x01" "x" "\x00\x00\x01"
       PQ "\x00\x01\x00\xff" TTL300 "\x00\x04" IP4_2 PQ "\x00\x05\x00\x04" TTL300 "\x00\x01" "\xff"
       RR_A(PQ, TTL300, IP4_1)),
     0, 1, 3, {{1, "www.example.com", 300, IP4_1}}, 1, {"www.example.com"}, 1,
     {{4, IP4_1, 300}}},
    /* a TTL with the top bit set reads as 0 */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW RR_A(PQ, "\x80\x00\x00\x01", IP4_1)), 0, 1, 0,
     {{1, "www.example.com", 0, IP4_1}}, 1, {"www.example.com"}, 1, {{4, IP4_1, 0}}},
    /* RDLENGTH past the end of the message: A, and a skipped TXT */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_A_IN TTL300 "\x00\x05" IP4_1), TW_EMALFORMED, 0, 0,
     {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_TXT_IN TTL300 "\x00\x04" "\x02" "hi"), TW_EMALFORMED,
     0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    /* A of 5, 3 and 0 octets; AAAA of 4 and 17 */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_A_IN TTL300 "\x00\x05" IP4_1 "\x00"), TW_EMALFORMED,
     0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_A_IN TTL300 "\x00\x03" "\xc0\x00\x02"), TW_EMALFORMED,
     0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_A_IN TTL300 "\x00\x00"), TW_EMALFORMED, 0, 0, {{0}}, 1,
     {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_AAAA_IN TTL300 "\x00\x04" IP4_1), TW_EMALFORMED, 0, 0,
     {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_AAAA_IN TTL300 "\x00\x11" IP6_1 "\x00"),
     TW_EMALFORMED, 0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    /* CNAME RDLENGTH shorter than the target ("x" needs 3 octets), longer (by one zero octet,
     * then with a pointer target), and 0 */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x02" "\x01" "x" "\x00"),
     TW_EMALFORMED, 0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x04" "\x01" "x" "\x00" "\x00"),
     TW_EMALFORMED, 0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x03" PQ "\x00"), TW_EMALFORMED,
     0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x00"), TW_EMALFORMED, 0, 0,
     {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    /* a good A stays stored when the next record is bad */
    {__LINE__,
     W(RHDR(QD1, AN2) Q_WWW RR_A(PQ, TTL300, IP4_1) PQ T_A_IN TTL300 "\x00\x05" IP4_1 "\x00"),
     TW_EMALFORMED, 1, 0, {{1, "www.example.com", 300, IP4_1}}, 1, {"www.example.com"}, 1,
     {{4, IP4_1, 300}}},
    /* ANCOUNT larger than the records present */
    {__LINE__, W(RHDR(QD1, AN2) Q_WWW RR_A(PQ, TTL300, IP4_1)), TW_EMALFORMED, 1, 0,
     {{1, "www.example.com", 300, IP4_1}}, 1, {"www.example.com"}, 1, {{4, IP4_1, 300}}},
    /* owner: forward pointer (to 45), self pointer (33), bad label type */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW RR_A("\xc0\x2d", TTL300, IP4_1)), TW_EMALFORMED, 0, 0,
     {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW RR_A("\xc0\x21", TTL300, IP4_1)), TW_EMALFORMED, 0, 0,
     {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW RR_A("\x41" "a" "\x00", TTL300, IP4_1)), TW_EMALFORMED, 0,
     0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    /* CNAME target: pointer to itself (45), into the header, bad label type */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x02" "\xc0\x2d"), TW_EMALFORMED,
     0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x02" "\xc0\x02"), TW_EMALFORMED,
     0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x03" "\x81" "x" "\x00"),
     TW_EMALFORMED, 0, 0, {{0}}, 1, {"www.example.com"}, 0, {{0}}},
};

struct seen_addrs {
    unsigned n;
    uint8_t version[MAXRR];
    uint8_t addr[MAXRR][16];
    uint32_t ttl[MAXRR];
};

static void record_addr(void *ctx, const uint8_t *addr, uint8_t version, uint32_t ttl)
{
    struct seen_addrs *s = ctx;
    if (s->n < MAXRR) {
        s->version[s->n] = version;
        memcpy(s->addr[s->n], addr, version == 4 ? 4 : 16);
        s->ttl[s->n] = ttl;
    }
    s->n++;
}

static void check_rr(int line, unsigned i, const struct tw_dns_answer *a, const struct want_rr *w)
{
    if (a->type != w->type)
        fail_msg("line %d: a%u type %u, want %u", line, i, a->type, w->type);
    if (strcmp(a->name, w->name) != 0 || a->name_len != strlen(w->name))
        fail_msg("line %d: a%u name \"%s\" (%zu), want \"%s\"", line, i, a->name, a->name_len,
                 w->name);
    if (a->ttl != w->ttl)
        fail_msg("line %d: a%u ttl %u, want %u", line, i, (unsigned)a->ttl, (unsigned)w->ttl);
    static const uint8_t zero[16];
    if (w->type == 5) {
        if (strcmp(a->target, w->data) != 0 || a->target_len != strlen(w->data))
            fail_msg("line %d: a%u target \"%s\", want \"%s\"", line, i, a->target, w->data);
        if (memcmp(a->addr, zero, 16) != 0)
            fail_msg("line %d: a%u CNAME with an address", line, i);
    } else {
        size_t al = w->type == 1 ? 4 : 16;
        if (memcmp(a->addr, w->data, al) != 0 || memcmp(a->addr + al, zero, 16 - al) != 0)
            fail_msg("line %d: a%u address differs", line, i);
        if (a->target[0] != '\0' || a->target_len != 0)
            fail_msg("line %d: a%u address record with a target", line, i);
    }
}

static void check_empty_from(int line, const struct tw_dns_answers *ans, unsigned from)
{
    static const uint8_t zero[16];
    for (unsigned i = from; i < TW_DNS_MAX_ANSWERS; i++) {
        const struct tw_dns_answer *a = &ans->a[i];
        if (a->name[0] != '\0' || a->name_len != 0 || a->type != 0 || a->ttl != 0 ||
            a->target[0] != '\0' || a->target_len != 0 || memcmp(a->addr, zero, 16) != 0)
            fail_msg("line %d: a%u not empty", line, i);
    }
}

/* tw_dns_parse_answers_of() into *ans (off: what tw_dns_parse() returned for m), checked
 * against tw_dns_parse_answers(), which walks every name: the same result, records, texts and
 * oddities. */
static int answers_of(int line, const uint8_t *b, size_t len, size_t off,
                      const struct tw_dns_msg *m, struct tw_dns_answers *ans)
{
    static struct tw_dns_answers walked;
    const char *d;

    walked.no_text = ans->no_text;
    int want = tw_dns_parse_answers(b, len, off, m->ancount, &walked);
    int r = tw_dns_parse_answers_of(b, len, off, m, ans);
    if (r != want || (d = dns_answers_differ(ans, &walked)) != NULL)
        fail_msg("line %d: names read from earlier names: %d, walked: %d (%s)", line, r, want,
                 r != want ? "result" : d);
    return r;
}

/* Parses the questions, then the answers; returns the answers' result. */
static int parse_all(const uint8_t *b, size_t len, struct tw_dns_msg *m,
                     struct tw_dns_answers *ans)
{
    int r = tw_dns_parse(b, len, m);
    if (r < 0)
        return r;
    return answers_of(__LINE__, b, len, (size_t)r, m, ans);
}

static void run_answers(const struct ans_case *c)
{
    static struct tw_dns_msg m;
    static struct tw_dns_answers ans; /* 70 KB */
    const char *chain[8];
    struct seen_addrs seen = {0};
    int line = c->line;

    uint8_t *b = exact_copy(c->wire, c->len);
    int r = tw_dns_parse(b, c->len, &m);
    if (r < 0 || m.n_questions != 1)
        fail_msg("line %d: questions do not parse (%d)", line, r);
    r = answers_of(line, b, c->len, (size_t)r, &m, &ans);
    if (r != c->want)
        fail_msg("line %d: tw_dns_parse_answers returned %d, want %d", line, r, c->want);
    if (ans.n != c->n || ans.skipped != c->skipped)
        fail_msg("line %d: %u stored, %u skipped; want %u, %u", line, ans.n, ans.skipped, c->n,
                 c->skipped);
    for (unsigned i = 0; i < c->n; i++)
        check_rr(line, i, &ans.a[i], &c->rr[i]);
    check_empty_from(line, &ans, c->n);
    if (c->want == 0 && ans.odd != 0) /* every pointer of a good case aims back */
        fail_msg("line %d: oddities 0x%x", line, ans.odd);

    size_t k = tw_dns_cname_chain(&ans, m.q[0].name, chain, TW_ARRAY_SIZE(chain), record_addr,
                                  &seen);
    if (k != c->nchain)
        fail_msg("line %d: chain of %zu names, want %u", line, k, c->nchain);
    for (unsigned i = 0; i < c->nchain; i++)
        if (strcmp(chain[i], c->chain[i]) != 0)
            fail_msg("line %d: chain[%u] \"%s\", want \"%s\"", line, i, chain[i], c->chain[i]);
    if (seen.n != c->naddr)
        fail_msg("line %d: %u addresses reported, want %u", line, seen.n, c->naddr);
    for (unsigned i = 0; i < c->naddr; i++) {
        const struct want_addr *w = &c->addr[i];
        if (seen.version[i] != w->version || seen.ttl[i] != w->ttl ||
            memcmp(seen.addr[i], w->addr, w->version == 4 ? 4 : 16) != 0)
            fail_msg("line %d: address %u differs", line, i);
    }
    free(b);

    /* The message ends with the last answer: every prefix is malformed somewhere. */
    for (size_t p = 0; p < c->len; p++) {
        b = exact_copy(c->wire, p);
        r = parse_all(b, p, &m, &ans);
        if (r != TW_EMALFORMED)
            fail_msg("line %d: prefix %zu/%zu returned %d", line, p, c->len, r);
        free(b);
    }
}

static void test_answers_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(ans_cases); i++)
        run_answers(&ans_cases[i]);
}

/* Answers whose names point forward or into the header are read (as glibc reads them, the
 * client's own resolver) and the oddity is reported; a loop is still malformed. */
static void test_answers_odd_pointers(void **state)
{
    (void)state;
    static struct tw_dns_msg m;
    static struct tw_dns_answers ans;
    const char *chain[8];
    struct seen_addrs seen = {0};
    /* www CNAME -> a forward pointer (47 = 0x2f) to the next record's owner "edge"; A edge */
    static const char fwd[] = RHDR(QD1, AN2) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x02" "\xc0\x2f"
        RR_A("\x04" "edge" "\x00", TTL300, IP4_1);
    /* the A's owner is a pointer into the header (offset 10: ARCOUNT, 0x00 0x00, the root) */
    static const char hdr[] = RHDR(QD1, AN1) Q_WWW RR_A("\xc0\x0a", TTL60, IP4_2);
    /* a CNAME target pointing at itself (45 = 0x2d) */
    static const char loop[] = RHDR(QD1, AN1) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x02" "\xc0\x2d";
    uint8_t *b;
    int r;

    b = exact_copy(fwd, sizeof(fwd) - 1);
    r = tw_dns_parse(b, sizeof(fwd) - 1, &m);
    assert_int_equal(r, 33);
    assert_int_equal(m.odd, 0);
    assert_int_equal(answers_of(__LINE__, b, sizeof(fwd) - 1, (size_t)r, &m, &ans), 0);
    assert_int_equal(ans.odd, FWD);
    assert_int_equal(ans.n, 2);
    assert_string_equal(ans.a[0].target, "edge");
    assert_string_equal(ans.a[1].name, "edge");
    assert_int_equal(tw_dns_cname_chain(&ans, m.q[0].name, chain, 8, record_addr, &seen), 2);
    assert_string_equal(chain[1], "edge");
    assert_int_equal(seen.n, 1);
    assert_memory_equal(seen.addr[0], IP4_1, 4);
    assert_int_equal(ans.n_text, 2);
    assert_string_equal(ans.text + ans.text_off[0], "edge");
    free(b);

    b = exact_copy(hdr, sizeof(hdr) - 1);
    r = tw_dns_parse(b, sizeof(hdr) - 1, &m);
    assert_int_equal(answers_of(__LINE__, b, sizeof(hdr) - 1, (size_t)r, &m, &ans), 0);
    assert_int_equal(ans.odd, HDRP);
    assert_int_equal(ans.n, 1);
    assert_string_equal(ans.a[0].name, ".");
    free(b);

    b = exact_copy(loop, sizeof(loop) - 1);
    r = tw_dns_parse(b, sizeof(loop) - 1, &m);
    assert_int_equal(answers_of(__LINE__, b, sizeof(loop) - 1, (size_t)r, &m, &ans),
                     TW_EMALFORMED);
    assert_int_equal(ans.odd, FWD);
    free(b);
}

/* A response to "www.example.com" A with ANCOUNT an; the caller appends the answers. */
static void mb_resp(struct msgbuf *m, uint16_t an)
{
    mb_hdr(m, 1);
    m->b[2] = 0x81;
    m->b[3] = 0x80;
    m->b[6] = (uint8_t)(an >> 8);
    m->b[7] = (uint8_t)an;
    mb_put(m, Q_WWW, sizeof(Q_WWW) - 1);
}

static void mb_a(struct msgbuf *m, uint8_t last_octet, uint16_t rdlen)
{
    mb_put(m, PQ T_A_IN TTL300, 10);
    mb_u8(m, (uint8_t)(rdlen >> 8));
    mb_u8(m, (uint8_t)rdlen);
    for (uint16_t i = 0; i < rdlen; i++)
        mb_u8(m, i == 3 ? last_octet : 10);
}

/* More answers than kept: all validated, the first TW_DNS_MAX_ANSWERS stored, the rest counted
 * as skipped, and all of them reported to the chain callback. */
static void test_more_answers_than_kept(void **state)
{
    (void)state;
    static struct msgbuf mb;
    static struct tw_dns_msg m;
    static struct tw_dns_answers ans;
    const unsigned total = TW_DNS_MAX_ANSWERS + 8;

    mb_resp(&mb, (uint16_t)(total + 1));
    mb_put(&mb, PQ T_TXT_IN TTL300 "\x00\x01" "\x00", 13);
    for (unsigned i = 0; i < total; i++)
        mb_a(&mb, (uint8_t)i, 4);
    uint8_t *b = exact_copy(mb.b, mb.n);
    assert_int_equal(parse_all(b, mb.n, &m, &ans), 0);
    assert_int_equal(ans.n, TW_DNS_MAX_ANSWERS);
    assert_int_equal(ans.skipped, 1 + total - TW_DNS_MAX_ANSWERS);
    for (unsigned i = 0; i < TW_DNS_MAX_ANSWERS; i++) {
        assert_int_equal(ans.a[i].type, 1);
        assert_int_equal(ans.a[i].addr[3], i);
    }
    struct seen_addrs seen = {0};
    const char *chain[1];
    assert_int_equal(tw_dns_cname_chain(&ans, "WWW.example.com", chain, 1, record_addr, &seen),
                     1);
    assert_int_equal(seen.n, TW_DNS_MAX_ANSWERS);
    free(b);

    /* a bad record among those not kept still makes the message malformed */
    mb_resp(&mb, (uint16_t)total);
    for (unsigned i = 0; i < total; i++)
        mb_a(&mb, (uint8_t)i, i == total - 1 ? 5 : 4);
    b = exact_copy(mb.b, mb.n);
    assert_int_equal(parse_all(b, mb.n, &m, &ans), TW_EMALFORMED);
    assert_int_equal(ans.n, TW_DNS_MAX_ANSWERS);
    assert_int_equal(ans.skipped, total - 1 - TW_DNS_MAX_ANSWERS);
    free(b);
}

/* max bounds chain[], not the names whose addresses are reported; NULL arguments. */
static void test_cname_chain_bounds(void **state)
{
    (void)state;
    static const char w[] = RHDR(QD1, AN2) Q_A PQ T_CNAME_IN TTL300 "\x00\x03" "\x01" "b" "\x00"
        RR_A("\xc0\x1f", TTL300, IP4_1);
    static struct tw_dns_msg m;
    static struct tw_dns_answers ans;
    const char *chain[2] = {NULL, NULL};
    struct seen_addrs seen = {0};
    uint8_t *b = exact_copy(w, sizeof(w) - 1);

    assert_int_equal(parse_all(b, sizeof(w) - 1, &m, &ans), 0);
    assert_int_equal(tw_dns_cname_chain(&ans, "a", chain, 2, NULL, NULL), 2);
    assert_ptr_equal(chain[1], ans.a[0].target);
    assert_int_equal(tw_dns_cname_chain(&ans, "a", chain, 1, record_addr, &seen), 1);
    assert_int_equal(seen.n, 1);
    assert_int_equal(tw_dns_cname_chain(&ans, "A", NULL, 0, record_addr, &seen), 0);
    assert_int_equal(seen.n, 2);
    /* a name with no records: itself, nothing reported */
    assert_int_equal(tw_dns_cname_chain(&ans, "c", chain, 2, record_addr, &seen), 1);
    assert_string_equal(chain[0], "c");
    assert_int_equal(seen.n, 2);
    /* starting inside the chain */
    assert_int_equal(tw_dns_cname_chain(&ans, "b", chain, 2, record_addr, &seen), 1);
    assert_int_equal(seen.n, 3);
    assert_int_equal(tw_dns_cname_chain(NULL, "a", chain, 2, record_addr, &seen), 0);
    assert_int_equal(tw_dns_cname_chain(&ans, NULL, chain, 2, record_addr, &seen), 0);
    assert_int_equal(tw_dns_cname_chain(&ans, "a", NULL, 2, record_addr, &seen), 0);
    assert_int_equal(seen.n, 3);
    free(b);
}

/* Parses the questions of the len bytes at w and reads the answers (answers_of() checks them
 * against the walk of every name); returns the answers' result. */
static int recalled(int line, const char *w, size_t len, struct tw_dns_answers *ans)
{
    static struct tw_dns_msg m;
    uint8_t *b = exact_copy(w, len);
    int r = tw_dns_parse(b, len, &m);

    if (r < 0)
        fail_msg("line %d: questions do not parse", line);
    r = answers_of(line, b, len, (size_t)r, &m, ans);
    free(b);
    return r;
}

/*
 * Names that point to a name already read (the question's, a kept record's owner, a CNAME's
 * target) are read from it: the same names, oddities and results as walking them, also where a
 * record was not kept (its owner is walked again) and where the step budget runs out on such a
 * name.
 */
static void test_answers_recalled(void **state)
{
    (void)state;
    static struct tw_dns_answers ans;
    static const struct {
        int line;
        const char *wire;
        size_t len;
        unsigned n, skipped;
        const char *owner[4]; /* of the records stored; the first's CNAME target after */
        const char *target;
    } recalls[] = {
        /* four records owned by the question's name, by pointers */
        {__LINE__,
         W(RHDR(QD1, AN4) Q_WWW RR_A(PQ, TTL300, IP4_1) RR_A(PQ, TTL60, IP4_2)
               RR_AAAA(PQ, TTL300, IP6_1) RR_A(PQ, TTL300, IP4_1)),
         4, 0, {"www.example.com", "www.example.com", "www.example.com", "www.example.com"}, ""},
        /* an MX owned by "mx" + the question (at 33, not kept), then an A owned by a pointer to
         * it (33 = 0x21): the A's owner is walked, not read from the MX's */
        {__LINE__,
         W(RHDR(QD1, AN2) Q_WWW "\x02" "mx" PQ T_MX_IN TTL300 "\x00\x04" "\x00\x0a" PQ
               RR_A("\xc0\x21", TTL300, IP4_2)),
         1, 1, {"mx.www.example.com"}, ""},
        /* www CNAME edge.net (target at 45 = 0x2d), A and AAAA owned by pointers to the
         * target, an A owned by a pointer to the CNAME's owner (33 = 0x21, a pointer itself) */
        {__LINE__,
         W(RHDR(QD1, AN4) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x0a" "\x04" "edge" "\x03" "net"
               "\x00" RR_A("\xc0\x2d", TTL60, IP4_1) RR_AAAA("\xc0\x2d", TTL60, IP6_1)
                   RR_A("\xc0\x21", TTL60, IP4_2)),
         4, 0, {"www.example.com", "edge.net", "edge.net", "www.example.com"}, "edge.net"},
        /* two questions, "a" at 12 and "b" at 19 (0x13): records owned by either */
        {__LINE__,
         W("\x12\x34\x81\x80" "\x00\x02" AN3 "\x00\x00\x00\x00" "\x01" "a" "\x00" T_A_IN
           "\x01" "b" "\x00" T_A_IN RR_A("\xc0\x13", TTL300, IP4_1)
               RR_A("\xc0\x0c", TTL300, IP4_2) RR_A("\xc0\x13", TTL60, IP4_1)),
         3, 0, {"b", "a", "b"}, ""},
    };

    for (size_t c = 0; c < TW_ARRAY_SIZE(recalls); c++) {
        assert_int_equal(recalled(recalls[c].line, recalls[c].wire, recalls[c].len, &ans), 0);
        assert_int_equal(ans.n, recalls[c].n);
        assert_int_equal(ans.skipped, recalls[c].skipped);
        assert_int_equal(ans.odd, 0);
        for (unsigned i = 0; i < recalls[c].n; i++)
            assert_string_equal(ans.a[i].name, recalls[c].owner[i]);
        assert_string_equal(ans.a[0].target, recalls[c].target);
    }

    /* A question of 100 one-octet labels (201 octets at 12), n A records owned by pointers to
     * it: each takes 101 steps of the section's budget, 2 * 127 + 2 + 2 * (217 + 16 n): 10
     * records use it up exactly, the 11th runs out. */
    for (unsigned n = 1; n <= 12; n++) {
        uint8_t msg[12 + 201 + 4 + 12 * 16];
        size_t len = 12;
        memcpy(msg, RHDR(QD1, AN0), 12);
        msg[7] = (uint8_t)n;
        for (unsigned i = 0; i < 100; i++) {
            msg[len++] = 1;
            msg[len++] = 'a';
        }
        msg[len++] = 0;
        memcpy(msg + len, T_A_IN, 4);
        len += 4;
        for (unsigned i = 0; i < n; i++) {
            static const char rr[] = RR_A(PQ, TTL300, IP4_1);
            memcpy(msg + len, rr, sizeof(rr) - 1);
            len += sizeof(rr) - 1;
        }
        int r = recalled(__LINE__, (const char *)msg, len, &ans);
        assert_int_equal(r, n <= 10 ? 0 : TW_EMALFORMED);
        assert_int_equal(ans.n, TW_MIN(n, 10u));
    }
}

/* ANCOUNT 0, trailing sections ignored, offsets out of range, reset on entry. */
static void test_answers_edges(void **state)
{
    (void)state;
    static const char w[] = RHDR(QD1, AN1) Q_WWW RR_A(PQ, TTL300, IP4_1);
    const size_t len = sizeof(w) - 1;
    static struct tw_dns_answers ans;
    uint8_t *b = exact_copy(w, len);

    assert_int_equal(tw_dns_parse_answers(b, len, 33, 0, &ans), 0);
    assert_int_equal(ans.n + ans.skipped, 0);
    /* bytes after ANCOUNT records (authority, additional) are not looked at */
    assert_int_equal(tw_dns_parse_answers(b, 40, 33, 0, &ans), 0);
    assert_int_equal(tw_dns_parse_answers(b, len, 33, 1, &ans), 0);
    assert_int_equal(ans.n, 1);
    assert_string_equal(ans.a[0].name, "www.example.com");
    /* off past the end, or inside the header */
    assert_int_equal(tw_dns_parse_answers(b, len, len + 1, 0, &ans), TW_EMALFORMED);
    assert_int_equal(ans.n, 0);
    check_empty_from(__LINE__, &ans, 0);
    assert_int_equal(tw_dns_parse_answers(b, len, 11, 0, &ans), TW_EMALFORMED);
    assert_int_equal(tw_dns_parse_answers(b, len, len, 0, &ans), 0);
    assert_int_equal(tw_dns_parse_answers(b, len, len, 1, &ans), TW_EMALFORMED);
    free(b);
}


/* ---- answers as text (every type), header fields of responses ---- */

#define T_NS_IN "\x00\x02\x00\x01"
#define T_SVCB_IN "\x00\x40\x00\x01"
#define T_CAA_IN "\x01\x01\x00\x01"
#define T_TXT_CH "\x00\x10\x00\x03"
/* HTTPS 1 . alpn=h2,h3 port=8443 ipv4hint=1.2.3.4 ech=AEX+DQBB (the RDATA ldns writes for it) */
#define HTTPS_RDATA                                                                                \
    "\x00\x01" "\x00" "\x00\x01\x00\x06\x02" "h2" "\x02" "h3" "\x00\x03\x00\x02\x20\xfb"          \
    "\x00\x04\x00\x04\x01\x02\x03\x04" "\x00\x05\x00\x06\x00\x45\xfe\x0d\x00\x41"

struct text_case {
    int line;
    const char *wire; /* a response whose last byte is the last answer's */
    size_t len;
    uint16_t flags;   /* the header's flags word */
    unsigned n;       /* records with text */
    const char *text[MAXRR];
    uint16_t type[MAXRR];
    uint32_t ttl[MAXRR];
    unsigned text_flags;
};

static const struct text_case text_cases[] = {
    /* A, AAAA, and a CNAME whose target is compressed */
    {__LINE__,
     W(RHDR(QD1, AN3) Q_WWW PQ T_CNAME_IN TTL300 "\x00\x04" "\x01" "x" "\xc0\x10"
       RR_A(PQ, TTL60, IP4_1) RR_AAAA(PQ, TTL60, IP6_1)),
     0x8180, 3, {"x.example.com", "192.0.2.1", "2001:db8::1"}, {5, 1, 28}, {300, 60, 60}, 0},
    /* MX: the exchange (as Zeek logs it); NS */
    {__LINE__,
     W(RHDR(QD1, AN2) Q_WWW PQ T_MX_IN TTL300 "\x00\x09" "\x00\x0a" "\x04" "mail" "\xc0\x10"
       PQ T_NS_IN TTL60 "\x00\x06" "\x03" "ns1" "\xc0\x10"),
     0x8180, 2, {"mail.example.com", "ns1.example.com"}, {15, 2}, {300, 60}, 0},
    /* TXT: the strings joined; odd bytes as \xHH, a backslash doubled */
    {__LINE__,
     W(RHDR(QD1, AN1) Q_WWW PQ T_TXT_IN TTL300 "\x00\x0b" "\x05" "hello" "\x04" " a\\\x01"),
     0x8180, 1, {"hello a\\\\\\x01"}, {16}, {300}, 0},
    /* TXT of class CHAOS is text too (version.bind) */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_TXT_CH TTL60 "\x00\x04" "\x03" "9.x"), 0x8180, 1,
     {"9.x"}, {16}, {60}, 0},
    /* HTTPS with ech: flagged */
    {__LINE__, W(RHDR(QD1, AN1) Q_WWW PQ T_HTTPS_IN TTL300 "\x00\x25" HTTPS_RDATA), 0x8180, 1,
     {"1 . alpn=h2,h3 port=8443 ipv4hint=1.2.3.4 ech=AEX+DQBB"}, {65}, {300},
     TW_DNS_TEXT_ECH},
    /* SVCB, a target name, no-default-alpn, an unknown key with odd bytes and a value-less one */
    {__LINE__,
     W(RHDR(QD1, AN1) Q_WWW PQ T_SVCB_IN TTL300 "\x00\x18" "\x00\x02" "\x03" "svc" "\xc0\x10"
       "\x00\x02\x00\x00" "\xfd\xe8\x00\x04" "a b\"" "\xfd\xe9\x00\x00"),
     0x8180, 1, {"2 svc.example.com no-default-alpn key65000=a\\032b\\034 key65001"}, {64}, {300},
     0},
    /* SvcParams out of order: the generic form, flagged; the section is still read */
    {__LINE__,
     W(RHDR(QD1, AN2) Q_WWW PQ T_HTTPS_IN TTL300 "\x00\x0b" "\x00\x01" "\x00"
       "\x00\x03\x00\x02\x01\xbb" "\x00\x01" PQ T_A_IN TTL60 "\x00\x04" IP4_1),
     0x8180, 2, {"\\# 11 0001000003000201BB0001", "192.0.2.1"}, {65, 1}, {300, 60},
     TW_DNS_TEXT_BAD_RDATA},
    /* an MX whose name runs past its RDATA: generic form, flagged */
    {__LINE__,
     W(RHDR(QD1, AN1) Q_WWW PQ T_MX_IN TTL300 "\x00\x04" "\x00\x0a" "\x04" "m"), 0x8180, 1,
     {"\\# 4 000A046D"}, {15}, {300}, TW_DNS_TEXT_BAD_RDATA},
    /* a type without a text form (CAA): RFC 3597 generic */
    {__LINE__,
     W(RHDR(QD1, AN1) Q_WWW PQ T_CAA_IN TTL300 "\x00\x05" "\x00\x03" "iss"), 0x8180, 1,
     {"\\# 5 0003697373"}, {257}, {300}, 0},
    /* NXDOMAIN, Z bits (0x40 reserved, 0x20 AD), no answers */
    {__LINE__, W("\x12\x34\x81\xe3" QD1 AN0 "\x00\x00\x00\x00" Q_WWW), 0x81e3, 0, {NULL}, {0},
     {0}, 0},
};

static void check_text(const struct text_case *c, const struct tw_dns_msg *m,
                       const struct tw_dns_answers *ans)
{
    int line = c->line;

    if (m->flags != c->flags)
        fail_msg("line %d: flags %04x, want %04x", line, m->flags, c->flags);
    if (m->rcode != (c->flags & 0xF))
        fail_msg("line %d: rcode %u", line, m->rcode);
    if (ans->n_text != c->n || ans->text_flags != c->text_flags)
        fail_msg("line %d: %u texts, flags %x; want %u, %x", line, ans->n_text, ans->text_flags,
                 c->n, c->text_flags);
    size_t used = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const char *t = ans->text + ans->text_off[i];
        if (strcmp(t, c->text[i]) != 0)
            fail_msg("line %d: text %u \"%s\", want \"%s\"", line, i, t, c->text[i]);
        if (ans->text_type[i] != c->type[i] || ans->text_ttl[i] != c->ttl[i])
            fail_msg("line %d: record %u type %u ttl %u", line, i, ans->text_type[i],
                     ans->text_ttl[i]);
        used += strlen(t) + 1;
    }
    if (ans->text_len != used)
        fail_msg("line %d: text_len %zu, want %zu", line, ans->text_len, used);
}

static void test_answers_text(void **state)
{
    (void)state;
    static struct tw_dns_msg m;
    static struct tw_dns_answers ans;

    for (size_t i = 0; i < TW_ARRAY_SIZE(text_cases); i++) {
        const struct text_case *c = &text_cases[i];
        uint8_t *b = exact_copy(c->wire, c->len);

        if (parse_all(b, c->len, &m, &ans) != 0)
            fail_msg("line %d: does not parse", c->line);
        check_text(c, &m, &ans);
        free(b);
        /* Every prefix: rejected (the message ends with its last record), never a crash or
         * an over-read; a prefix that still holds the header keeps its flags. */
        for (size_t p = 0; p < c->len; p++) {
            b = exact_copy(c->wire, p);
            if (parse_all(b, p, &m, &ans) != TW_EMALFORMED)
                fail_msg("line %d: prefix %zu/%zu parses", c->line, p, c->len);
            if (p >= TW_DNS_HDR_LEN && m.flags != c->flags)
                fail_msg("line %d: prefix %zu: flags %04x", c->line, p, m.flags);
            free(b);
        }
    }
}

/* Text that does not fit is cut between escapes and flagged; later records get none. */
static void test_answers_text_cut(void **state)
{
    (void)state;
    static struct msgbuf mb;
    static struct tw_dns_msg m;
    static struct tw_dns_answers ans;
    const unsigned strings = 20; /* 20 * 255 bytes of 0x01: 20400 text bytes as \x01 */

    mb_resp(&mb, 2);
    mb_put(&mb, PQ T_TXT_IN TTL300, 10);
    mb_u8(&mb, (uint8_t)((strings * 256) >> 8));
    mb_u8(&mb, (uint8_t)(strings * 256));
    for (unsigned i = 0; i < strings; i++) {
        mb_u8(&mb, 255);
        for (unsigned j = 0; j < 255; j++)
            mb_u8(&mb, 1);
    }
    mb_a(&mb, 9, 4);
    uint8_t *b = exact_copy(mb.b, mb.n);
    assert_int_equal(parse_all(b, mb.n, &m, &ans), 0);
    assert_int_equal(ans.n, 1); /* the A record is stored */
    assert_int_equal(ans.n_text, 1);
    assert_int_equal(ans.text_flags, TW_DNS_TEXT_CUT);
    size_t l = strlen(ans.text);
    assert_true(l < TW_DNS_ANSWER_TEXT_MAX);
    assert_int_equal(l % 4, 0); /* whole "\x01" escapes only */
    assert_int_equal(ans.text_len, l + 1);
    assert_true(l + 1 + 4 > TW_DNS_ANSWER_TEXT_MAX); /* the next escape did not fit */
    free(b);
}

static void test_rcode_names(void **state)
{
    (void)state;
    static const char *const want[16] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSet", "NOTAUTH", "NOTZONE", "unassigned-11", "unassigned-12", "unassigned-13",
        "unassigned-14", "unassigned-15"};
    for (unsigned i = 0; i < 16; i++)
        assert_string_equal(tw_dns_rcode_name((uint8_t)i), want[i]);
}


/* Answer addresses are formatted without printf: the same text as inet_ntop() for 200,000
 * addresses of zero and non-zero groups (runs of every length, IPv4-mapped and -compatible)
 * and as many IPv4 ones. */
static void test_address_text(void **state)
{
    (void)state;
    uint32_t seed = 1;
    uint8_t msg[12 + 16] = {0};
    char want[64], got[64];
    bool ech;

    for (int it = 0; it < 200000; it++) {
        uint8_t *a = msg + 12;
        for (int i = 0; i < 8; i++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t r = seed >> 16;
            uint16_t v = r % 3 == 0 ? (uint16_t)(r * 7919u) : r % 5 == 0 ? 0xffff : 0;
            a[2 * i] = (uint8_t)(v >> 8);
            a[2 * i + 1] = (uint8_t)v;
        }
        if (it % 7 == 0) { /* ::ffff:a.b.c.d */
            memset(a, 0, 10);
            a[10] = a[11] = 0xff;
        }
        if (it % 11 == 0) /* ::a.b.c.d */
            memset(a, 0, 12);
        assert_non_null(inet_ntop(AF_INET6, a, want, sizeof(want)));
        assert_true(tw_dns_rdata_text(msg, sizeof(msg), 12, 16, 28, 1, got, sizeof(got), &ech) > 0);
        if (strcmp(got, want) != 0)
            fail_msg("%s, inet_ntop %s", got, want);
        assert_non_null(inet_ntop(AF_INET, a, want, sizeof(want)));
        assert_true(tw_dns_rdata_text(msg, sizeof(msg), 12, 4, 1, 1, got, sizeof(got), &ech) > 0);
        if (strcmp(got, want) != 0)
            fail_msg("%s, inet_ntop %s", got, want);
    }
}

/* Labels of 1 to 63 bytes with a byte that needs escaping (or none) at each position, alone or
 * before a second label, with 0 to 9 bytes of the message after the name (bytes that would
 * need escaping): the presentation form, read eight bytes at a time where none does, the last
 * word read on into the message, against a byte-by-byte reference. Each message sits at the
 * end of an allocation of its own size, so that a read past it is a sanitizer's report. */
static size_t ref_label(char *out, const uint8_t *lab, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = lab[i];
        if (c > 0x20 && c < 0x7f) {
            if (c == '.' || c == '\\')
                out[o++] = '\\';
            out[o++] = (char)c;
        } else {
            o += (size_t)sprintf(out + o, "\\%03u", c);
        }
    }
    out[o] = '\0';
    return o;
}

static void label_case(const uint8_t *lab, size_t n, bool second, size_t slack)
{
    static const uint8_t tail[] = {0x00, '.', 0x5c, 0xff, 0x20, 0x7f, 0x01, '.', 0x00, 0x80};
    uint8_t buf[12 + 1 + 63 + 4 + 1 + sizeof(tail)];
    char got[512], want[512];
    size_t len = 12, next;

    memset(buf, 0, 12);
    buf[len++] = (uint8_t)n;
    memcpy(buf + len, lab, n);
    len += n;
    if (second) {
        memcpy(buf + len, "\003com", 4);
        len += 4;
    }
    buf[len++] = 0;
    size_t end = len;
    memcpy(buf + len, tail, slack);
    len += slack;
    size_t w = ref_label(want, lab, n);
    if (second)
        strcpy(want + w, ".com");
    uint8_t *msg = malloc(len);
    assert_non_null(msg);
    memcpy(msg, buf, len);
    int r = tw_dns_name_read(msg, len, 12, got, sizeof(got), &next);
    free(msg);
    if (r != (int)strlen(want) || strcmp(got, want) != 0)
        fail_msg("label of %zu, slack %zu: %s, want %s", n, slack, got, want);
    assert_int_equal(next, end);
}

static void test_label_escapes(void **state)
{
    static const uint8_t odd[] = {0x00, 0x20, 0x21, 0x2e, 0x5c, 0x7e, 0x7f, 0x80, 0xff, 'a'};
    (void)state;
    for (size_t n = 1; n <= 63; n++) {
        uint8_t lab[63];
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof(odd); k++) {
                for (size_t i = 0; i < n; i++)
                    lab[i] = (uint8_t)('b' + (i * 7 + n) % 24);
                lab[at] = odd[k];
                for (size_t slack = 0; slack <= 9; slack++) {
                    label_case(lab, n, false, slack);
                    label_case(lab, n, true, slack);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_pointer_past_questions),
        cmocka_unit_test(test_label_lengths),
        cmocka_unit_test(test_name_lengths),
        cmocka_unit_test(test_long_pointer_chain),
        cmocka_unit_test(test_more_questions_than_kept),
        cmocka_unit_test(test_step_budget),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_name_read),
        cmocka_unit_test(test_qtype_name),
        cmocka_unit_test(test_answers_table),
        cmocka_unit_test(test_answers_odd_pointers),
        cmocka_unit_test(test_answers_recalled),
        cmocka_unit_test(test_more_answers_than_kept),
        cmocka_unit_test(test_cname_chain_bounds),
        cmocka_unit_test(test_answers_edges),
        cmocka_unit_test(test_answers_text),
        cmocka_unit_test(test_answers_text_cut),
        cmocka_unit_test(test_rcode_names),
        cmocka_unit_test(test_address_text),
        cmocka_unit_test(test_label_escapes),
    };
    return tw_run_tests_name("dns", tests, NULL, NULL);
}
