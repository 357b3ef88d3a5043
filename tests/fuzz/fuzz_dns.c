/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DNS parser: header, questions, and (when those
 * parse) the answer section and the CNAME chain, the answers also as
 * tw_dns_parse_answers_of() reads them (the same, or it aborts). The input is copied
 * into an exact-size heap buffer so an over-read by one byte is caught.
 * Checks the invariants of a successful parse as well as the absence of
 * memory errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tunwatch/proto/dns.h"

#include "../dns_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tw_dns_msg msg;
static struct tw_dns_answers ans, ans_of;

static void check_addr(void *ctx, const uint8_t *addr, uint8_t version, uint32_t ttl)
{
    unsigned *n = ctx;
    (void)ttl;
    if (addr == NULL || (version != 4 && version != 6))
        abort();
    ++*n;
}

static void check_name(const char *name, size_t len)
{
    if (len == 0 || len >= TW_NAME_MAX || strlen(name) != len)
        abort();
}

/* Invariants of the answers stored by tw_dns_parse_answers (returned r). */
static void check_answers(int r)
{
    if (r != 0 && r != TW_EMALFORMED)
        abort();
    if (ans.n > TW_DNS_MAX_ANSWERS || ans.n + ans.skipped > msg.ancount)
        abort();
    if (r == 0 && ans.n + ans.skipped != msg.ancount)
        abort();
    if (ans.odd >> TW_DNS_ODD__COUNT != 0)
        abort();
    unsigned addrs = 0;
    for (unsigned i = 0; i < ans.n; i++) {
        const struct tw_dns_answer *a = &ans.a[i];
        check_name(a->name, a->name_len);
        if (a->type == 5)
            check_name(a->target, a->target_len);
        else if (a->type == 1 || a->type == 28)
            addrs++;
        else
            abort();
        if (a->ttl > 0x7fffffffu)
            abort();
    }

    /* Every record's text: one after another, NUL-terminated, printable ASCII only (whatever
     * the record held is escaped), each with its offset. */
    if (ans.n_text > TW_DNS_MAX_ANSWERS || ans.n_text > msg.ancount ||
        ans.text_len > TW_DNS_ANSWER_TEXT_MAX ||
        (ans.text_flags & ~(unsigned)(TW_DNS_TEXT_CUT | TW_DNS_TEXT_BAD_RDATA | TW_DNS_TEXT_ECH |
                                      TW_DNS_TEXT_SKIPPED)) != 0)
        abort();
    size_t used = 0;
    for (unsigned i = 0; i < ans.n_text; i++) {
        if (ans.text_off[i] != used)
            abort();
        const char *t = ans.text + used;
        size_t l = strnlen(t, ans.text_len - used);
        if (l == ans.text_len - used)
            abort();
        for (size_t j = 0; j < l; j++)
            if ((unsigned char)t[j] < 0x20 || (unsigned char)t[j] > 0x7e)
                abort();
        used += l + 1;
    }
    if (used != ans.text_len)
        abort();

    const char *chain[8];
    unsigned seen = 0;
    const char *qname = msg.n_questions > 0 ? msg.q[0].name : "x";
    size_t k = tw_dns_cname_chain(&ans, qname, chain, TW_ARRAY_SIZE(chain), check_addr, &seen);
    if (k < 1 || k > TW_ARRAY_SIZE(chain) || chain[0] != qname || seen > addrs)
        abort();
    for (size_t i = 1; i < k; i++)
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(chain[i], chain[j]) == 0) /* a loop went round */
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size)
        memcpy(buf, data, size);

    int r = tw_dns_parse(buf, size, &msg);
    if (msg.odd >> TW_DNS_ODD__COUNT != 0)
        abort();
    if (r >= 0) {
        if ((size_t)r > size || r < TW_DNS_HDR_LEN)
            abort();
        if (msg.n_questions != TW_MIN((unsigned)msg.qdcount, (unsigned)TW_DNS_MAX_QUESTIONS))
            abort();
        for (unsigned i = 0; i < msg.n_questions; i++)
            if (msg.q[i].name_len == 0 || msg.q[i].name_len >= TW_NAME_MAX ||
                strlen(msg.q[i].name) != msg.q[i].name_len)
                abort();
        int ra = tw_dns_parse_answers(buf, size, (size_t)r, msg.ancount, &ans);
        check_answers(ra);
        /* Names read from the ones they point to: the same as walked. */
        if (tw_dns_parse_answers_of(buf, size, (size_t)r, &msg, &ans_of) != ra ||
            dns_answers_differ(&ans, &ans_of) != NULL)
            abort();
    } else if (r != TW_EMALFORMED) {
        abort();
    }

    /* Every offset as a name start, into a small buffer too. */
    for (size_t off = TW_DNS_HDR_LEN; off < size && off < 64; off++) {
        char out[32];
        size_t next;
        int n = tw_dns_name_read(buf, size, off, out, sizeof(out), &next);
        if (n >= 0 && (n >= (int)sizeof(out) || next > size || strlen(out) != (size_t)n))
            abort();
    }
    free(buf);
    return 0;
}
