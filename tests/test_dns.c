/* SPDX-License-Identifier: MIT */
/*
 * DNS header/question parser. Every case runs on the whole message and on
 * every prefix of it, each copied into an exact-size heap buffer so that
 * AddressSanitizer reports a one-byte over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunwatch/dns.h"

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
};

#define W(s) (s), sizeof(s) - 1

static const struct dns_case cases[] = {
    /* plain query */
    {__LINE__, W(HDR(QD1) WWW_EXAMPLE_COM T_A_IN), 33, 1, {"www.example.com"}, {1}},
    /* trailing bytes after the question section are not ours to judge */
    {__LINE__, W(HDR(QD1) WWW_EXAMPLE_COM T_A_IN "\xff\xff\xff"), 33, 1, {"www.example.com"}, {1}},
    /* QDCOUNT 0 */
    {__LINE__, W(HDR(QD0)), 12, 0, {0}, {0}},
    {__LINE__, W(HDR(QD0) "\xc0\xff garbage"), 12, 0, {0}, {0}},
    /* several questions, later ones compressed against earlier ones (offset 16 = "example") */
    {__LINE__,
     W(HDR(QD3) WWW_EXAMPLE_COM T_A_IN "\x04" "mail" "\xc0\x10" T_AAAA_IN "\xc0\x0c" T_HTTPS_IN),
     33 + 7 + 4 + 2 + 4,
     3,
     {"www.example.com", "mail.example.com", "www.example.com"},
     {1, 28, 65}},
    /* pointer to a pointer, both backwards: q2 -> q3's name is a pointer to q1 */
    {__LINE__,
     W(HDR(QD3) WWW_EXAMPLE_COM T_A_IN "\xc0\x0c" T_A_IN "\x01" "x" "\xc0\x21" T_A_IN),
     33 + 6 + 8, 3, {"www.example.com", "www.example.com", "x.www.example.com"}, {1, 1, 1}},
    /* forward pointer (to q2 at offset 33) */
    {__LINE__, W(HDR(QD2) "\xc0\x21" T_A_IN WWW_EXAMPLE_COM T_A_IN), TW_EMALFORMED, 0, {0}, {0}},
    /* first name cannot be compressed: the only earlier bytes are the header */
    {__LINE__, W(HDR(QD1) "\xc0\x02" T_A_IN), TW_EMALFORMED, 0, {0}, {0}},
    {__LINE__, W(HDR(QD1) "\xc0\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}},
    /* self loop */
    {__LINE__, W(HDR(QD2) "\x00" T_A_IN "\xc0\x11" T_A_IN), TW_EMALFORMED, 1, {"."}, {1}},
    /* pointer back into the run that holds it: "a" then a pointer to that "a" */
    {__LINE__, W(HDR(QD2) "\x00" T_A_IN "\x01" "a" "\xc0\x11" T_A_IN), TW_EMALFORMED, 1, {"."},
     {1}},
    /* mutual loop: q1's label octets hold a pointer to q2 (20), q2 points back at them (13) */
    {__LINE__, W(HDR(QD2) "\x02" "\xc0\x14" "\x00" T_A_IN "\xc0\x0d" T_A_IN), TW_EMALFORMED, 1,
     {"\\192\\020"}, {1}},
    /* the same bytes, with the first hop already forward */
    {__LINE__, W(HDR(QD2) "\x01" "a" "\xc0\x15" T_A_IN "\xc0\x0e" T_A_IN), TW_EMALFORMED, 0, {0},
     {0}},
    /* pointer past the end of the message */
    {__LINE__, W(HDR(QD2) "\x00" T_A_IN "\xff\xff" T_A_IN), TW_EMALFORMED, 1, {"."}, {1}},
    /* pointer cut after its first byte */
    {__LINE__, W(HDR(QD1) "\x01" "a" "\xc0"), TW_EMALFORMED, 0, {0}, {0}},
    /* root name */
    {__LINE__, W(HDR(QD1) "\x00" "\x00\x02\x00\x01"), 17, 1, {"."}, {2}},
    /* mixed case preserved */
    {__LINE__, W(HDR(QD1) "\x03" "WwW" "\x07" "ExAmPlE" "\x03" "CoM" "\x00" T_A_IN), 33, 1,
     {"WwW.ExAmPlE.CoM"}, {1}},
    /* escapes: dot, backslash, space, NUL, 0x7f, 0xff inside labels; ; ( ) " copied */
    {__LINE__, W(HDR(QD1) "\x03" "a.b" "\x03" "c\\d" "\x03" "e f" "\x00" T_A_IN), 12 + 13 + 4,
     1, {"a\\.b.c\\\\d.e\\032f"}, {1}},
    {__LINE__, W(HDR(QD1) "\x04" "\x00" "\x7f" "\xff" "\x20" "\x00" T_A_IN), 12 + 6 + 4, 1,
     {"\\000\\127\\255\\032"}, {1}},
    {__LINE__, W(HDR(QD1) "\x06" ";()\"@$" "\x02" "\x21\x7e" "\x00" T_A_IN), 12 + 11 + 4, 1,
     {";()\"@$.!~"}, {1}},
    {__LINE__, W(HDR(QD1) "\x01" "." "\x00" T_A_IN), 12 + 3 + 4, 1, {"\\."}, {1}},
    /* bad label types */
    {__LINE__, W(HDR(QD1) "\x41" "a" "\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}},
    {__LINE__, W(HDR(QD1) "\x81" "a" "\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}},
    {__LINE__, W(HDR(QD1) "\xbf" "a" "\x00" T_A_IN), TW_EMALFORMED, 0, {0}, {0}},
    /* truncated header */
    {__LINE__, W(""), TW_EMALFORMED, 0, {0}, {0}},
    {__LINE__, W("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"), TW_EMALFORMED, 0, {0}, {0}},
    /* QDCOUNT larger than the data */
    {__LINE__, W(HDR(QD2) WWW_EXAMPLE_COM T_A_IN), TW_EMALFORMED, 1, {"www.example.com"}, {1}},
    {__LINE__, W(HDR("\xff\xff") WWW_EXAMPLE_COM T_A_IN), TW_EMALFORMED, 1, {"www.example.com"},
     {1}},
    /* name without its terminating zero, then without qtype/qclass */
    {__LINE__, W(HDR(QD1) "\x03" "www"), TW_EMALFORMED, 0, {0}, {0}},
    {__LINE__, W(HDR(QD1) "\x03" "www" "\x00" "\x00\x01\x00"), TW_EMALFORMED, 0, {0}, {0}},
    /* label length running past the end */
    {__LINE__, W(HDR(QD1) "\x3f" "abc"), TW_EMALFORMED, 0, {0}, {0}},
};

static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

/* Runs one message whole and at every prefix. want/nq/names/qtypes describe the whole run. */
static void run_one(int line, const uint8_t *wire, size_t len, int want, unsigned nq,
                    const char *const *names, const uint16_t *qtypes)
{
    static struct tw_dns_msg m; /* 4.4 KB: keep it off the stack */

    uint8_t *b = dup_exact(wire, len);
    int r = tw_dns_parse(b, len, &m);
    if (r != want)
        fail_msg("line %d: tw_dns_parse returned %d, want %d", line, r, want);
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
        b = dup_exact(wire, k);
        r = tw_dns_parse(b, k, &m);
        int w = want >= 0 && k >= (size_t)want ? want : TW_EMALFORMED;
        if (r != w)
            fail_msg("line %d: prefix %zu/%zu returned %d, want %d", line, k, len, r, w);
        free(b);
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        const struct dns_case *c = &cases[i];
        run_one(c->line, (const uint8_t *)c->wire, c->len, c->want, c->nq, c->names, c->qtypes);
    }
}

/* A message under construction, for cases too long to spell out. */
struct msgbuf {
    uint8_t b[4096];
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
    run_one(line, m->b, m->n, want, want >= 0 ? 1 : 0, names, qt);
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
        uint8_t *b = dup_exact(m.b, m.n);
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
        uint8_t *b = dup_exact(m.b, m.n);
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

static void test_hop_limit(void **state)
{
    (void)state;
    static struct msgbuf m;
    static struct tw_dns_msg dm;

    build_chain(&m, TW_DNS_MAX_PTR_HOPS);
    uint8_t *b = dup_exact(m.b, m.n);
    assert_int_equal(tw_dns_parse(b, m.n, &dm), (int)m.n);
    assert_int_equal(dm.n_questions, 3);
    assert_string_equal(dm.q[2].name, "x");
    free(b);

    build_chain(&m, TW_DNS_MAX_PTR_HOPS + 1);
    b = dup_exact(m.b, m.n);
    assert_int_equal(tw_dns_parse(b, m.n, &dm), TW_EMALFORMED);
    assert_int_equal(dm.n_questions, 2);
    free(b);
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
        run_one(__LINE__, m.b, m.n, bad ? TW_EMALFORMED : (int)m.n, MAXQ, names, qt);
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
    run_one(__LINE__, m.b, m.n, (int)m.n, TW_MIN(6u, MAXQ), names, qt);

    /* 127 + 19 * 128 steps, budget 256 + 2 * 385: a valid message, refused for the work.
     * The questions completed within the budget stay stored. */
    build_amplifier(&m, 20);
    assert_true(127 + 19 * 128 > TW_DNS_STEP_BUDGET(m.n));
    unsigned within = 0;
    while (within < 20 && 127 + within * 128 <= TW_DNS_STEP_BUDGET(m.n))
        within++;
    run_one(__LINE__, m.b, m.n, TW_EMALFORMED, TW_MIN(within, MAXQ), names, qt);
}

static void test_header_fields(void **state)
{
    (void)state;
    static struct tw_dns_msg m;
    static const uint8_t w[] = {0xbe, 0xef, 0xa8, 0x05, 0, 0, 0, 3, 0, 4, 0, 5};
    uint8_t *b = dup_exact(w, sizeof(w));

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
    uint8_t *b = dup_exact(w, len);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_label_lengths),
        cmocka_unit_test(test_name_lengths),
        cmocka_unit_test(test_hop_limit),
        cmocka_unit_test(test_more_questions_than_kept),
        cmocka_unit_test(test_step_budget),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_name_read),
        cmocka_unit_test(test_qtype_name),
    };
    return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
