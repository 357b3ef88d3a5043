/* SPDX-License-Identifier: MIT */
#include "tunwatch/inspect/answers.h"

#include <string.h>

/* The addresses a question's chain ends at, of the querier's family (the connection that
 * follows comes from the address that asked), stored together once the chain is known. */
struct learn_ctx {
    uint8_t version;
    size_t n;
    uint8_t addr[TW_DNS_MAX_ANSWERS][16];
    uint32_t ttl[TW_DNS_MAX_ANSWERS];
};

static void learn_addr(void *ctx, const uint8_t *addr, uint8_t version, uint32_t ttl)
{
    struct learn_ctx *l = ctx;

    if (version != l->version || l->n == TW_DNS_MAX_ANSWERS)
        return;
    memset(l->addr[l->n], 0, 16);
    memcpy(l->addr[l->n], addr, version == 4 ? 4 : 16);
    l->ttl[l->n++] = ttl;
}

int tw_answers_learn(struct tw_anscache *c, const struct tw_dns_msg *m, const uint8_t *msg,
                     size_t len, size_t off, struct tw_dns_answers *ans, uint8_t version,
                     const uint8_t client[16], int64_t now, uint64_t seq,
                     tw_cname_chain_fn on_chain, void *ctx, unsigned *stored)
{
    const char *chain[TW_ANSWERS_CHAIN_MAX];
    int rc = 0;

    /* Parsed even when nothing will be learnt: *ans describes this response to the caller. */
    if (tw_dns_parse_answers_of(msg, len, off, m, ans) != 0) {
        rc = TW_EMALFORMED;
        if (ans->n == 0)
            return rc;
    }
    if (m->ancount == 0 || m->n_questions == 0)
        return rc;
    for (unsigned i = 0; i < m->n_questions; i++) {
        struct learn_ctx l; /* l.addr and l.ttl are filled as far as l.n says */
        l.version = version;
        l.n = 0;
        /* One walk for both: the chain, and the addresses it ends at. */
        size_t n = tw_dns_cname_chain(ans, m->q[i].name, chain, TW_ANSWERS_CHAIN_MAX,
                                      c != NULL ? learn_addr : NULL, &l);
        if (l.n > 0)
            *stored += (unsigned)tw_anscache_put_n_at(c, seq, version, client,
                                                      (const uint8_t(*)[16])l.addr, l.ttl, l.n,
                                                      chain[0], chain + 1, n - 1, now);
        if (n > 1 && on_chain != NULL)
            on_chain(ctx, &m->q[i], chain, n);
    }
    return rc;
}
