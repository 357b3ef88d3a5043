/* SPDX-License-Identifier: MIT */
#include "tunwatch/inspect/answers.h"

#include <string.h>

struct learn_ctx {
    struct tw_anscache *cache;
    uint8_t version;
    const uint8_t *client;
    int64_t now;
    const char *const *chain; /* chain[0] is the queried name; NULL after the last */
    unsigned stored;
};

static void learn_addr(void *ctx, const uint8_t *addr, uint8_t version, uint32_t ttl)
{
    struct learn_ctx *l = ctx;
    uint8_t resolved[16] = {0};
    size_t n = 1;

    /* The connection that follows comes from the address that asked: same family only. */
    if (version != l->version)
        return;
    while (n < TW_ANSWERS_CHAIN_MAX && l->chain[n] != NULL)
        n++;
    memcpy(resolved, addr, version == 4 ? 4 : 16);
    if (tw_anscache_put(l->cache, version, l->client, resolved, l->chain[0], l->chain + 1, n - 1,
                        ttl, l->now) == 0)
        l->stored++;
}

int tw_answers_learn(struct tw_anscache *c, const struct tw_dns_msg *m, const uint8_t *msg,
                     size_t len, size_t off, struct tw_dns_answers *ans, uint8_t version,
                     const uint8_t client[16], int64_t now, tw_cname_chain_fn on_chain, void *ctx,
                     unsigned *stored)
{
    const char *chain[TW_ANSWERS_CHAIN_MAX];
    int rc = 0;

    /* Parsed even when nothing will be learnt: *ans describes this response to the caller. */
    if (tw_dns_parse_answers(msg, len, off, m->ancount, ans) != 0) {
        rc = TW_EMALFORMED;
        if (ans->n == 0)
            return rc;
    }
    if (m->ancount == 0 || m->n_questions == 0)
        return rc;
    for (unsigned i = 0; i < m->n_questions; i++) {
        struct learn_ctx l = {
            .cache = c, .version = version, .client = client, .now = now, .chain = chain};
        /* One walk for both: the chain, and the addresses it ends at. */
        memset(chain, 0, sizeof(chain));
        size_t n = tw_dns_cname_chain(ans, m->q[i].name, chain, TW_ANSWERS_CHAIN_MAX,
                                      c != NULL ? learn_addr : NULL, &l);
        *stored += l.stored;
        if (n > 1 && on_chain != NULL)
            on_chain(ctx, &m->q[i], chain, n);
    }
    return rc;
}
