/* SPDX-License-Identifier: MIT */
/*
 * Differential test: tw_dns_parse() against ldns on every port-53 DNS message
 * in the test captures (pcaps/ in the tree, recursively, and the public corpus,
 * $TW_SHARED/corpus/pcaps: see tests/test_util.h). Frames are decoded with
 * tw_decode(), the sensor's own packet path. Without the corpus the captures
 * in the tree are still compared, then the case is reported as skipped.
 *
 * UDP: the whole datagram payload is one message. TCP: only segments that are
 * exactly one or more complete length-prefixed messages are used (no stream
 * reassembly; enough for a differential test of the message parser).
 *
 * Verdicts are compared on the question section only: ldns_wire2pkt() parses
 * every section, so when it fails the questions are parsed again alone with
 * ldns_wire2rr(LDNS_SECTION_QUESTION) and those are compared (counted as
 * "ldns rejects a later section").
 *
 * Normalisation of ldns's presentation form (ldns_rdf2buffer_str_dname, 1.8):
 *  - ldns ends every name but the root with '.'; exactly one trailing '.' is
 *    removed ("." stays the root).
 *  - ldns escapes ';', '(' and ')' as "\;", "\(", "\)"; tunwatch copies them
 *    as they are (they are printable and not special in our output), so those
 *    three escapes are replaced by the bare character.
 *  - "\.", "\\" and "\DDD" (for bytes outside 0x21..0x7e) are the same on both
 *    sides and are compared as they are.
 *
 * Compression pointers are followed as glibc and dnsmasq follow them (forward, into the
 * header; a loop is malformed), so a message ldns reads and tunwatch rejects is a failure.
 * Where tunwatch is laxer, the message must break ldns's one stricter rule: a pointer to
 * offset 0, which ldns refuses. Such messages are listed with the rule; any other
 * disagreement is a failure.
 */
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>
#include <pcap/pcap.h>

#include "dns_same.h"
#include "test_util.h"

#include "tunwatch/decode/decode.h"
#include "tunwatch/proto/dns.h"

struct diff_stats {
    unsigned long files, frames, udp_msgs, tcp_msgs, tcp_segs_skipped, trunc_skipped;
    unsigned long both_ok, questions, both_reject, ldns_later_reject, laxer, failures;
    unsigned long answers; /* answer records whose text was compared with ldns's */
};

/* ldns presentation form -> ours (see the file comment). */
static void ldns_normalise(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;

    if (n > 1 && in[n - 1] == '.') /* ldns always appends exactly one */
        n--;
    for (size_t i = 0; i < n && o + 5 < cap;) {
        if (in[i] == '\\' && i + 1 < n) {
            char e = in[i + 1];
            if (e == ';' || e == '(' || e == ')') {
                out[o++] = e;
                i += 2;
            } else if (e >= '0' && e <= '9' && i + 3 < n) {
                memcpy(out + o, in + i, 4);
                o += 4;
                i += 4;
            } else {
                out[o++] = '\\';
                out[o++] = e;
                i += 2;
            }
        } else {
            out[o++] = in[i++];
        }
    }
    out[o] = '\0';
}

/*
 * Walks the question names as tunwatch does and returns ldns's stricter rule the message
 * breaks (a compression pointer to offset 0), or NULL.
 */
static const char *laxer_rule(const uint8_t *b, size_t n)
{
    if (n < TW_DNS_HDR_LEN)
        return NULL;
    unsigned qd = tw_load_be16(b + 4);
    size_t pos = TW_DNS_HDR_LEN;

    for (unsigned q = 0; q < qd; q++) {
        size_t p = pos, after = 0, looked = 0;
        unsigned hops = 0;
        for (;;) {
            if (p >= n)
                return NULL;
            uint8_t l = b[p];
            if (l == 0) {
                p++;
                break;
            }
            if ((l & 0xC0) == 0xC0) {
                if (p + 2 > n)
                    return NULL;
                size_t t = (size_t)(l & 0x3F) << 8 | b[p + 1];
                if (hops++ == 0)
                    after = p + 2;
                looked += 2;
                if (t >= n || looked > n)
                    return NULL;
                if (t == 0)
                    return "compression pointer to offset 0 (ldns refuses it, glibc follows it)";
                p = t;
                continue;
            }
            if (l > 63 || p + 1 + l > n)
                return NULL;
            looked += 1u + l;
            p += 1u + l;
        }
        pos = (hops ? after : p) + 4;
        if (pos > n)
            return NULL;
    }
    return NULL;
}

/* Parses the question section alone with ldns. Returns NULL if ldns rejects it. */
static ldns_rr_list *ldns_questions(const uint8_t *b, size_t n)
{
    if (n < LDNS_HEADER_SIZE)
        return NULL;
    ldns_rr_list *l = ldns_rr_list_new();
    size_t pos = LDNS_HEADER_SIZE;
    unsigned qd = tw_load_be16(b + 4);
    for (unsigned i = 0; i < qd; i++) {
        ldns_rr *rr = NULL;
        if (ldns_wire2rr(&rr, b, n, &pos, LDNS_SECTION_QUESTION) != LDNS_STATUS_OK) {
            ldns_rr_list_deep_free(l);
            return NULL;
        }
        ldns_rr_list_push_rr(l, rr);
    }
    return l;
}

#define DIFF_FAIL(st, ...)                                                                         \
    do {                                                                                           \
        (st)->failures++;                                                                          \
        printf("FAIL %s frame %ld: ", where, frame);                                               \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

/*
 * The RDATA of rr as ldns writes it (the part of ldns_rr2str() after owner, TTL, class and
 * type), with every name's one trailing '.' removed as in ldns_normalise(): what tunwatch's
 * answer text is for A, AAAA, CNAME, NS, PTR, SVCB and HTTPS. Returns false for other types.
 */
static bool ldns_rdata_text(const ldns_rr *rr, char *out, size_t cap)
{
    ldns_rr_type t = ldns_rr_get_type(rr);
    char *line, *p;
    size_t o = 0;

    if (t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA && t != LDNS_RR_TYPE_CNAME &&
        t != LDNS_RR_TYPE_NS && t != LDNS_RR_TYPE_PTR && t != LDNS_RR_TYPE_SVCB &&
        t != LDNS_RR_TYPE_HTTPS)
        return false;
    if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
        return false;
    line = ldns_rr2str(rr);
    assert_non_null(line);
    p = line;
    for (int tabs = 0; tabs < 4 && p != NULL; tabs++) {
        p = strchr(p, '\t');
        if (p != NULL)
            p++;
    }
    assert_non_null(p);
    p[strcspn(p, "\n")] = '\0';
    /* Names are the tokens that end with an unescaped '.' (the root "." stays). */
    for (char *tok = strtok(p, " "); tok != NULL; tok = strtok(NULL, " ")) {
        size_t l = strlen(tok);
        char norm[TW_NAME_MAX + 16];
        if (l > 1 && tok[l - 1] == '.' && tok[l - 2] != '\\' && strchr(tok, '=') == NULL) {
            ldns_normalise(tok, norm, sizeof(norm));
            tok = norm;
        }
        o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? " " : "", tok);
    }
    free(line);
    return o < cap;
}

/* Every answer record of the response whose type ldns_rdata_text() covers: the same text. */
static void check_answers(const char *where, long frame, const uint8_t *b, size_t n,
                          const struct tw_dns_msg *m, int off, ldns_pkt *pkt,
                          struct diff_stats *st)
{
    static struct tw_dns_answers ans, walked;
    const ldns_rr_list *al = ldns_pkt_answer(pkt);
    const char *d = NULL;

    int r = tw_dns_parse_answers_of(b, n, (size_t)off, m, &ans);
    if (tw_dns_parse_answers(b, n, (size_t)off, m->ancount, &walked) != r ||
        (d = dns_answers_differ(&ans, &walked)) != NULL)
        DIFF_FAIL(st, "names read from earlier names differ from the walk (%s)",
                  d != NULL ? d : "result");
    if (r != 0) {
        DIFF_FAIL(st, "answers rejected, ldns reads them");
        return;
    }
    for (unsigned i = 0; i < ans.n_text && i < ldns_rr_list_rr_count(al); i++) {
        char want[TW_DNS_ANSWER_TEXT_MAX];
        const char *got = ans.text + ans.text_off[i];
        if (!ldns_rdata_text(ldns_rr_list_rr(al, i), want, sizeof(want)))
            continue;
        st->answers++;
        if (strcmp(got, want) != 0)
            DIFF_FAIL(st, "answer %u \"%s\" vs ldns \"%s\"", i, got, want);
    }
}

static void check_msg(const char *where, long frame, const uint8_t *p, size_t n,
                      struct diff_stats *st)
{
    static struct tw_dns_msg m;
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);

    int r = tw_dns_parse(b, n, &m);
    ldns_pkt *pkt = NULL;
    ldns_rr_list *alone = NULL;
    const ldns_rr_list *ql = NULL;

    if (ldns_wire2pkt(&pkt, b, n) == LDNS_STATUS_OK) {
        ql = ldns_pkt_question(pkt);
    } else {
        pkt = NULL;
        alone = ldns_questions(b, n);
        ql = alone;
        if (alone != NULL)
            st->ldns_later_reject++;
    }

    if (r < 0 && ql == NULL) {
        st->both_reject++;
    } else if (r < 0) {
        DIFF_FAIL(st, "tunwatch rejects, ldns accepts");
    } else if (ql == NULL) {
        const char *rule = laxer_rule(b, n);
        if (rule != NULL) {
            st->laxer++;
            printf("laxer %s frame %ld: %s\n", where, frame, rule);
        } else {
            DIFF_FAIL(st, "tunwatch accepts (%d), ldns rejects, no documented rule", r);
        }
    } else {
        st->both_ok++;
        if (ldns_rr_list_rr_count(ql) != m.qdcount)
            DIFF_FAIL(st, "qdcount %u, ldns has %zu questions", m.qdcount,
                      ldns_rr_list_rr_count(ql));
        if (pkt != NULL && (ldns_pkt_id(pkt) != m.id || ldns_pkt_qr(pkt) != m.qr ||
                            (unsigned)ldns_pkt_get_opcode(pkt) != m.opcode ||
                            (unsigned)ldns_pkt_get_rcode(pkt) != m.rcode))
            DIFF_FAIL(st, "header fields differ");
        for (unsigned i = 0; i < m.n_questions && i < ldns_rr_list_rr_count(ql); i++) {
            const ldns_rr *rr = ldns_rr_list_rr(ql, i);
            char *s = ldns_rdf2str(ldns_rr_owner(rr));
            char norm[TW_NAME_MAX + 16];
            assert_non_null(s);
            ldns_normalise(s, norm, sizeof(norm));
            st->questions++;
            if (strcmp(norm, m.q[i].name) != 0)
                DIFF_FAIL(st, "q%u name \"%s\" vs ldns \"%s\" (normalised \"%s\")", i,
                          m.q[i].name, s, norm);
            if ((uint16_t)ldns_rr_get_type(rr) != m.q[i].qtype ||
                (uint16_t)ldns_rr_get_class(rr) != m.q[i].qclass)
                DIFF_FAIL(st, "q%u type/class %u/%u vs ldns %u/%u", i, m.q[i].qtype,
                          m.q[i].qclass, (unsigned)ldns_rr_get_type(rr),
                          (unsigned)ldns_rr_get_class(rr));
            free(s);
        }
        if (pkt != NULL && m.qr)
            check_answers(where, frame, b, n, &m, r, pkt, st);
    }
    ldns_pkt_free(pkt);
    ldns_rr_list_deep_free(alone);
    free(b);
}

static void check_file(const char *path, struct diff_stats *st)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (pc == NULL) {
        printf("skip %s: %s\n", path, err);
        return;
    }
    int lt = pcap_datalink(pc);
    if (!tw_decode_linktype_supported(lt)) {
        printf("skip %s: link type %d\n", path, lt);
        goto out_close;
    }
    st->files++;

    const char *where = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct tw_decode_stats dst;
    memset(&dst, 0, sizeof(dst));
    struct pcap_pkthdr *h;
    const u_char *data;
    long frame = 0;
    while (pcap_next_ex(pc, &h, &data) == 1) {
        struct tw_pkt pkt;
        frame++;
        st->frames++;
        if (tw_decode(lt, data, h->caplen, h->len, &pkt, &dst) != 0)
            continue;
        if (pkt.sport != 53 && pkt.dport != 53)
            continue;
        if (pkt.payload_len != pkt.payload_wire_len) {
            st->trunc_skipped++;
            continue;
        }
        if (pkt.l4_proto == 17) {
            st->udp_msgs++;
            check_msg(where, frame, pkt.payload, pkt.payload_len, st);
            continue;
        }
        if (pkt.l4_proto != 6 || pkt.payload_len == 0)
            continue;
        /* the segment must be exactly a run of complete length-prefixed messages */
        size_t off = 0;
        while (pkt.payload_len - off >= 2) {
            size_t ml = tw_load_be16(pkt.payload + off);
            if (pkt.payload_len - off - 2 < ml)
                break;
            off += 2 + ml;
        }
        if (off != pkt.payload_len) {
            st->tcp_segs_skipped++;
            continue;
        }
        for (off = 0; off < pkt.payload_len;) {
            size_t ml = tw_load_be16(pkt.payload + off);
            st->tcp_msgs++;
            check_msg(where, frame, pkt.payload + off + 2, ml, st);
            off += 2 + ml;
        }
    }
out_close:
    pcap_close(pc);
}

/* nftw() has no user pointer: collect paths in file-scope storage. */
static char **found;
static size_t n_found, cap_found;

static int collect(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    size_t l = strlen(path);
    if (!((l > 5 && strcmp(path + l - 5, ".pcap") == 0) ||
          (l > 7 && strcmp(path + l - 7, ".pcapng") == 0)))
        return 0;
    if (n_found == cap_found) {
        cap_found = cap_found ? 2 * cap_found : 64;
        found = realloc(found, cap_found * sizeof(*found));
        assert_non_null(found);
    }
    found[n_found] = strdup(path);
    assert_non_null(found[n_found]);
    n_found++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_captures(void **state)
{
    (void)state;
    char corpus[4096];
    struct diff_stats st;
    size_t in_tree;
    bool no_corpus;

    memset(&st, 0, sizeof(st));
    tw_shared_path(corpus, sizeof(corpus), "corpus/pcaps");
    assert_int_equal(nftw("pcaps", collect, 16, FTW_PHYS), 0);
    in_tree = n_found;
    if (in_tree == 0)
        fail_msg("no captures under pcaps/");
    no_corpus = access(corpus, R_OK | X_OK) != 0;
    if (!no_corpus) {
        assert_int_equal(nftw(corpus, collect, 16, FTW_PHYS), 0);
        if (n_found == in_tree)
            fail_msg("no captures under %s", corpus);
    }
    qsort(found, n_found, sizeof(*found), cmp_str);
    for (size_t i = 0; i < n_found; i++) {
        check_file(found[i], &st);
        free(found[i]);
    }
    free(found);
    found = NULL;
    n_found = cap_found = 0;

    printf("dns vs ldns: %lu files, %lu frames; %lu UDP + %lu TCP messages "
           "(%lu TCP segments not whole messages, %lu snaplen-cut skipped)\n",
           st.files, st.frames, st.udp_msgs, st.tcp_msgs, st.tcp_segs_skipped, st.trunc_skipped);
    printf("dns vs ldns: %lu compared (%lu questions, %lu answer texts; %lu where ldns rejects a "
           "later section), %lu rejected by both, %lu read only by tunwatch (documented rule), "
           "%lu failures\n",
           st.both_ok, st.questions, st.answers, st.ldns_later_reject, st.both_reject,
           st.laxer, st.failures);
    assert_int_equal(st.failures, 0);
    assert_true(st.udp_msgs + st.tcp_msgs > 0); /* pcaps/ holds DNS over UDP and TCP */
    assert_true(st.both_ok > 0);
    if (no_corpus)
        tw_skip_required("%s not present (TW_SHARED): only pcaps/ compared", corpus);
}

/* The normalisation and the escaping on crafted names, with or without captures. */
static void test_crafted(void **state)
{
    (void)state;
    static const struct {
        const char *wire;
        size_t len;
    } msgs[] = {
#define M(s) {(s), sizeof(s) - 1}
        M("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
          "\x03" "a.b" "\x03" "c\\d" "\x03" "e f" "\x00" "\x00\x01\x00\x01"),
        M("\x00\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
          "\x08" ";()\"@$\\." "\x04" "\x00\x7f\xff\x20" "\x00" "\x00\x41\x00\x01"),
        M("\x00\x03\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
          "\x02" "\\(" "\x01" "." "\x00" "\x00\x10\x00\x03"),
        M("\x00\x04\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" "\x00" "\x00\x02\x00\x01"),
        M("\x00\x05\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00"
          "\x03" "WwW" "\x07" "ExAmPlE" "\x00" "\x00\x01\x00\x01"
          "\x01" "x" "\xc0\x0c" "\x00\x1c\x00\x01"),
        /* forward pointer: both read it */
        M("\x00\x06\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00"
          "\xc0\x12" "\x00\x01\x00\x01" "\x01" "a" "\x00" "\x00\x01\x00\x01"),
        /* pointer into the header (QDCOUNT's 0x00: the root): both read it */
        M("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" "\xc0\x04" "\x00\x01\x00\x01"),
        /* pointer to offset 0 (ID 0x00..: the root): ldns refuses it, we read it by rule */
        M("\x00\x09\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" "\xc0\x00" "\x00\x01\x00\x01"),
        /* answer section broken: ldns_wire2pkt fails, questions still compared */
        M("\x00\x08\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
          "\x01" "a" "\x00" "\x00\x01\x00\x01" "\xc0\x0c\x00\x01"),
#undef M
    };
    struct diff_stats st;

    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < TW_ARRAY_SIZE(msgs); i++)
        check_msg("crafted", (long)i, (const uint8_t *)msgs[i].wire, msgs[i].len, &st);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.both_ok, 8);
    assert_int_equal(st.laxer, 1);
    assert_int_equal(st.ldns_later_reject, 1);
    assert_int_equal(st.questions, 10);
}

/*
 * SVCB and HTTPS records that ldns writes from their presentation form: tunwatch's text of
 * the wire RDATA equals ldns's text of it. Each record is put in a response to "a." of its
 * type, parsed whole, and at every prefix on exact-size buffers.
 */
static void test_svcb_against_ldns(void **state)
{
    (void)state;
    static const char *const rrs[] = {
        "a. 300 IN HTTPS 1 . alpn=h2,h3 port=8443 ipv4hint=1.2.3.4 ech=AEX+DQBB",
        "a. 300 IN HTTPS 0 b.example.",
        "a. 300 IN SVCB 2 b.example. no-default-alpn alpn=h3 key65000=abc "
        "ipv6hint=2001:db8::1,::1",
        "a. 300 IN HTTPS 1 . mandatory=alpn,port alpn=h2 port=1",
        "a. 300 IN HTTPS 1 . dohpath=/q{?dns}",
        "a. 60 IN HTTPS 1 svc.b.example. alpn=h3,h2 ipv4hint=192.0.2.1,192.0.2.2 "
        "ech=AEX+DQBBMwAgACBQHaG8s0rqbO/8Gn/kFUJ7wbeHFlNjxLwm7pTdgJLsDQAEAAEAAQASY2xvdWRmbGFy"
        "ZS1lY2guY29tAAA=",
    };
    struct diff_stats st;

    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < TW_ARRAY_SIZE(rrs); i++) {
        ldns_rr *rr = NULL;
        uint8_t *w = NULL, msg[1024];
        size_t wl = 0, n;

        assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL), LDNS_STATUS_OK);
        assert_int_equal(ldns_rr2wire(&w, rr, LDNS_SECTION_ANSWER, &wl), LDNS_STATUS_OK);
        uint16_t type = (uint16_t)ldns_rr_get_type(rr);
        /* header (QR RD RA, one question, one answer), question "a." of the type, the RR */
        const uint8_t hdr[] = {0, (uint8_t)i, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
                               1, 'a', 0, (uint8_t)(type >> 8), (uint8_t)type, 0, 1};
        assert_true(sizeof(hdr) + wl <= sizeof(msg));
        memcpy(msg, hdr, sizeof(hdr));
        memcpy(msg + sizeof(hdr), w, wl);
        n = sizeof(hdr) + wl;
        check_msg("svcb", (long)i, msg, n, &st);

        /* our text also flags ech= */
        static struct tw_dns_msg m;
        static struct tw_dns_answers ans;
        uint8_t *b = malloc(n);
        assert_non_null(b);
        memcpy(b, msg, n);
        int off = tw_dns_parse(b, n, &m);
        assert_true(off > 0);
        assert_int_equal(tw_dns_parse_answers(b, n, (size_t)off, m.ancount, &ans), 0);
        assert_int_equal((ans.text_flags & TW_DNS_TEXT_ECH) != 0, strstr(rrs[i], "ech=") != NULL);
        free(b);
        for (size_t k = 0; k < n; k++) {
            b = malloc(k ? k : 1);
            assert_non_null(b);
            memcpy(b, msg, k);
            off = tw_dns_parse(b, k, &m);
            if (off >= 0 && tw_dns_parse_answers(b, k, (size_t)off, m.ancount, &ans) == 0)
                fail_msg("%s: prefix %zu/%zu parses", rrs[i], k, n);
            free(b);
        }
        LDNS_FREE(w);
        ldns_rr_free(rr);
    }
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.answers, TW_ARRAY_SIZE(rrs));
}

static void test_normalise(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } tab[] = {
        {".", "."},
        {"www.example.com.", "www.example.com"},
        {"a\\..", "a\\."},
        {"a\\\\.", "a\\\\"},
        {"\\;\\(\\).", ";()"},
        {"\\\\\\(.", "\\\\("},
        {"\\032\\255.x.", "\\032\\255.x"},
    };
    char buf[64];
    for (size_t i = 0; i < TW_ARRAY_SIZE(tab); i++) {
        ldns_normalise(tab[i].in, buf, sizeof(buf));
        assert_string_equal(buf, tab[i].out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_svcb_against_ldns),
        cmocka_unit_test(test_captures),
    };
    return tw_run_tests_name("dns_ldns", tests, NULL, NULL);
}
