/* SPDX-License-Identifier: MIT */
/*
 * Whether two readings of one answer section agree in everything a caller sees: the records
 * stored (names, types, TTLs, addresses, targets), the counts, the oddities and every record's
 * text. tw_dns_parse_answers_of() reads names that point to one already read from it; the
 * tests and the fuzzer check it against tw_dns_parse_answers(), which walks every name.
 */
#ifndef TUNWATCH_TESTS_DNS_SAME_H
#define TUNWATCH_TESTS_DNS_SAME_H

#include <string.h>

#include "tunwatch/proto/dns.h"

/* NULL when a and b agree, else what differs first. */
static inline const char *dns_answers_differ(const struct tw_dns_answers *a,
                                             const struct tw_dns_answers *b)
{
    if (a->n != b->n || a->skipped != b->skipped)
        return "records stored or skipped";
    if (a->odd != b->odd)
        return "oddities";
    for (unsigned i = 0; i < TW_DNS_MAX_ANSWERS; i++) {
        const struct tw_dns_answer *x = &a->a[i], *y = &b->a[i];
        if (x->name_len != y->name_len || strcmp(x->name, y->name) != 0)
            return "an owner name";
        if (x->type != y->type || x->ttl != y->ttl || memcmp(x->addr, y->addr, 16) != 0)
            return "a record's type, TTL or address";
        if (x->target_len != y->target_len || strcmp(x->target, y->target) != 0)
            return "a CNAME target";
    }
    if (a->n_text != b->n_text || a->text_flags != b->text_flags || a->text_len != b->text_len)
        return "the records' text counts";
    for (unsigned i = 0; i < a->n_text; i++)
        if (a->text_type[i] != b->text_type[i] || a->text_ttl[i] != b->text_ttl[i] ||
            a->text_off[i] != b->text_off[i])
            return "a record's text type, TTL or place";
    if (memcmp(a->text, b->text, a->text_len) != 0)
        return "a record's text";
    return NULL;
}

#endif
