/* SPDX-License-Identifier: MIT */
/*
 * What a DNS response tells its client, read once for every consumer: the answer section is
 * parsed, each question's CNAME chain followed, the addresses at its end stored in the
 * host-wide answer cache for (client, address), and the chains handed to the caller (the
 * engine reports CNAME targets as names). The engine calls it for the responses it reads;
 * with several workers, the thread that reads the capture calls it for UDP responses before
 * it hands the frame out, so an answer is in the cache before any worker can see the
 * connection that follows it, whatever worker either lands on.
 */
#ifndef TUNWATCH_ANSWERS_H
#define TUNWATCH_ANSWERS_H

#include "tunwatch/host/anscache.h"
#include "tunwatch/proto/dns.h"

#define TW_ANSWERS_CHAIN_MAX 16 /* names of a CNAME chain kept, the queried name included */

/* The CNAME chain of question q: chain[0] is its name, chain[1..n) the targets (n >= 2).
 * The names are valid during the call only. */
typedef void (*tw_cname_chain_fn)(void *ctx, const struct tw_dns_question *q,
                                  const char *const *chain, size_t n);

/*
 * Reads DNS response m (QR=1; tw_dns_parse() read its header and questions from msg[0..len)
 * and returned off) as seen by `client` (IP version `version`, 4 or 16 address bytes) at
 * capture time now, from the frame numbered seq: parses the answer section into *ans (caller
 * storage, about 70 KB), then for each question stores every address its CNAME chain ends at
 * in c (when c is not NULL; tw_anscache_put_n_at(), stamped with seq)
 * and calls on_chain(ctx, ...) when the chain has CNAME targets (on_chain may be NULL).
 * Adds the cache entries made to *stored. Returns 0, or TW_EMALFORMED when the answer section
 * is malformed: the records before the error are still used. *ans always describes this
 * response afterwards (its records and their text); a response without questions or answers
 * stores nothing.
 */
int tw_answers_learn(struct tw_anscache *c, const struct tw_dns_msg *m, const uint8_t *msg,
                     size_t len, size_t off, struct tw_dns_answers *ans, uint8_t version,
                     const uint8_t client[16], int64_t now, uint64_t seq,
                     tw_cname_chain_fn on_chain, void *ctx, unsigned *stored);

#endif /* TUNWATCH_ANSWERS_H */
