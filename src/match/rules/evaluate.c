/* SPDX-License-Identifier: MIT */
/*
 * Matching: the field tests (strings, wildcards, cidr, regular expressions, numbers, field
 * references), the walk of the rule graph, and tw_ruleset_match(), which evaluates the rules
 * the prefilter names and those it cannot gate.
 */
#include "tunwatch/match/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules_impl.h"
#include "tunwatch/base/ascii.h"
#include "tunwatch/match/acm.h"
#include "tunwatch/match/trie.h"

/* Candidates one match call collects from the trie and the automaton on its stack (16 KiB);
 * beyond this the call falls back to evaluating every gated rule of the category. Broad
 * indicators (endswith '.net', contains 'api') make hundreds of candidates for one name. */
#define CAND_MAX 4096

static bool eq_fold(const char *ev, const char *pat, size_t n, bool cased)
{
    if (cased)
        return memcmp(ev, pat, n) == 0;
    for (size_t i = 0; i < n; i++)
        if ((char)tw_ascii_lower((uint8_t)ev[i]) != pat[i])
            return false;
    return true;
}

static bool glob_match(const char *p, size_t pn, const char *s, size_t sn, bool cased)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;

    while (si < sn) {
        if (pi < pn) {
            char pc = p[pi];
            size_t step = 1;
            bool lit = false;

            if (pc == '*') {
                star_p = ++pi;
                star_s = si;
                continue;
            }
            if (pc == '\\' && pi + 1 < pn) {
                pc = p[pi + 1];
                step = 2;
                lit = true;
            }
            if ((!lit && pc == '?') ||
                pc == (cased ? s[si] : (char)tw_ascii_lower((uint8_t)s[si]))) {
                pi += step;
                si++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static bool cidr_match(const struct matcher *m, const char *v, size_t len)
{
    char buf[TW_IPSTR_MAX];
    uint8_t a[16];
    size_t full, rem;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (inet_pton(m->family, buf, a) != 1)
        return false;
    full = m->bits / 8u;
    rem = m->bits % 8u;
    if (memcmp(a, m->addr, full) != 0)
        return false;
    if (rem) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rem));
        if ((a[full] & mask) != (m->addr[full] & mask))
            return false;
    }
    return true;
}

/* A decimal number making up all of s[0..len), as Sigma's numeric comparisons want. */
bool rules_parse_num(const char *s, size_t len, double *out)
{
    char buf[64];
    char *end;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n')
        return false;
    errno = 0;
    *out = strtod(buf, &end);
    return errno == 0 && *end == '\0' && *out == *out;
}

static bool num_match(const struct matcher *m, const char *v, size_t len)
{
    double x;

    if (!rules_parse_num(v, len, &x))
        return false;
    switch (m->op) {
    case OP_GT:
        return x > m->num;
    case OP_GTE:
        return x >= m->num;
    case OP_LT:
        return x < m->num;
    case OP_LTE:
        return x <= m->num;
    default:
        return x != m->num;
    }
}

/*
 * A regex search with match data claimed from the rule set's pool, so that
 * concurrent callers never share one; when all are in use (more threads than
 * MD_POOL), the call makes and frees its own.
 */
static bool re_match(const struct tw_ruleset *rs, const struct matcher *m, const char *v,
                     size_t len)
{
    struct mdslot *slot = NULL;
    pcre2_match_data *md = NULL;
    int rc;

    for (size_t i = 0; rs->mdpool && i < MD_POOL; i++) {
        if (!atomic_flag_test_and_set_explicit(&rs->mdpool[i].busy, memory_order_acquire)) {
            slot = &rs->mdpool[i];
            md = slot->md;
            break;
        }
    }
    if (!md)
        md = pcre2_match_data_create(1, NULL);
    if (!md)
        rc = -1;
    else
        rc = pcre2_match(m->re, (PCRE2_SPTR)v, len, 0, 0, md, NULL);
    if (slot)
        atomic_flag_clear_explicit(&slot->busy, memory_order_release);
    else
        pcre2_match_data_free(md);
    return rc >= 0;
}

static bool is_numeric_field(unsigned f)
{
    return f < TW_F__COUNT && tw_field_kind((enum tw_field)f) == TW_FK_NUMBER;
}

bool rules_get_field(const struct evctx *x, unsigned f, char *tmp, size_t cap, const char **v,
                     size_t *len)
{
    return rules_get_field_at(x, f, 0, tmp, cap, v, len);
}

/* Value i of field f for matching: the event's fields and the derived ones. */
bool rules_get_field_at(const struct evctx *x, unsigned f, unsigned i, char *tmp, size_t cap,
                        const char **v, size_t *len)
{
    const struct tw_event *ev = x->ev;

    if (f < 64 && (x->absent & (UINT64_C(1) << f)))
        return false;
    if (f == F_SRC_IS_IPV6 || f == F_DST_IS_IPV6) {
        if (ev->category != TW_CAT_NETWORK_CONNECTION ||
            (ev->ip_version != 4 && ev->ip_version != 6))
            return false;
        if (i > 0)
            return false;
        *v = ev->ip_version == 6 ? "true" : "false";
        *len = strlen(*v);
        return true;
    }
    if (f >= TW_F__COUNT)
        return false;
    return tw_event_field_at(ev, (enum tw_field)f, i, tmp, cap, v, len) && *v;
}

static bool test_value(const struct evctx *x, const struct matcher *m, const char *v, size_t len)
{
    switch (m->kind) {
    case MK_EXACT:
        return len == m->len && eq_fold(v, m->pat, len, m->cased);
    case MK_PREFIX:
        return len >= m->len && eq_fold(v, m->pat, m->len, m->cased);
    case MK_SUFFIX:
        return len >= m->len && eq_fold(v + (len - m->len), m->pat, m->len, m->cased);
    case MK_CONTAINS:
        if (len < m->len)
            return false;
        for (size_t i = 0; i + m->len <= len; i++)
            if (eq_fold(v + i, m->pat, m->len, m->cased))
                return true;
        return false;
    case MK_GLOB:
        return glob_match(m->pat, m->len, v, len, m->cased);
    case MK_CIDR:
        return cidr_match(m, v, len);
    case MK_RE:
        return re_match(x->rs, m, v, len);
    case MK_NUM:
        return num_match(m, v, len);
    default:
        return false;
    }
}

static bool fieldref_match(const struct evctx *x, const struct matcher *m, const char *v,
                           size_t len)
{
    char tmp[TW_FIELD_TMP];
    const char *r;
    size_t rl;

    if (!rules_get_field(x, m->field2, tmp, sizeof(tmp), &r, &rl))
        return false;
    switch (m->refmod) {
    case 'c':
        for (size_t i = 0; rl <= len && i + rl <= len; i++)
            if (m->cased ? memcmp(v + i, r, rl) == 0 : tw_ascii_eq_nocase(v + i, r, rl))
                return true;
        return false;
    case 's':
        return rl <= len && (m->cased ? memcmp(v, r, rl) == 0 : tw_ascii_eq_nocase(v, r, rl));
    case 'e':
        return rl <= len && (m->cased ? memcmp(v + len - rl, r, rl) == 0
                                      : tw_ascii_eq_nocase(v + len - rl, r, rl));
    default:
        return rl == len && (m->cased ? memcmp(v, r, rl) == 0 : tw_ascii_eq_nocase(v, r, rl));
    }
}

/* The test of m on value i of its field (have: the field has that value). */
static bool match_value(const struct evctx *x, const struct matcher *m, bool have, const char *v,
                        size_t len)
{
    switch (m->kind) {
    case MK_NULL:
        return !have || len == 0;
    case MK_EXISTS:
        return have && len > 0; /* the complement of null */
    case MK_FIELDREF:
        return have && fieldref_match(x, m, v, len);
    default:
        return have && test_value(x, m, v, len);
    }
}

bool rules_match_one(const struct evctx *x, const struct matcher *m)
{
    char tmp[TW_FIELD_TMP];
    const char *v = NULL;
    size_t len = 0;
    bool have;

    if (m->field == F_ANY) {
        /* Keyword: any string field of the event (any value of a list) holds the value. */
        for (unsigned f = 0; f < TW_F__COUNT; f++) {
            if (is_numeric_field(f))
                continue;
            for (unsigned i = 0; rules_get_field_at(x, f, i, tmp, sizeof(tmp), &v, &len); i++)
                if (test_value(x, m, v, len))
                    return true;
        }
        return false;
    }
    have = rules_get_field(x, m->field, tmp, sizeof(tmp), &v, &len);
    if (m->field < TW_F__COUNT && tw_field_is_list((enum tw_field)m->field) && have) {
        /* A list matches when one of its values does; null and exists read the whole list
         * (an empty list is null). */
        if (m->kind == MK_NULL || m->kind == MK_EXISTS)
            return match_value(x, m, have, v, len);
        for (unsigned i = 1; have; i++) {
            if (match_value(x, m, have, v, len))
                return true;
            have = rules_get_field_at(x, m->field, i, tmp, sizeof(tmp), &v, &len);
        }
        return false;
    }
    return match_value(x, m, have, v, len);
}

bool rules_eval(const struct evctx *x, uint32_t ni)
{
    const struct tw_ruleset *rs = x->rs;
    const struct node *nd = &rs->nodes[ni];
    uint32_t yes = 0;

    switch (nd->type) {
    case N_MATCH:
        return rules_match_one(x, &rs->m[nd->a]);
    case N_NOT:
        return !rules_eval(x, nd->a);
    default:
        if (nd->k > nd->n)
            return false;
        for (uint32_t i = 0; i < nd->n; i++) {
            if (rules_eval(x, rs->kids[nd->a + i]))
                yes++;
            if (yes >= nd->k)
                return true;
            if (yes + (nd->n - i - 1) < nd->k)
                return false;
        }
        return yes >= nd->k;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* The hostname field of events of category c. */
static enum tw_field name_field(enum tw_category c)
{
    return c == TW_CAT_NETWORK_CONNECTION ? TW_F_DESTINATION_HOSTNAME : TW_F_QUERY_NAME;
}

size_t tw_ruleset_match(const struct tw_ruleset *rs, const struct tw_event *ev, tw_match_fn fn,
                        void *ctx)
{
    uint32_t cand[CAND_MAX];
    const uint32_t *gl = cand;
    const uint32_t *al;
    size_t ng = 0, na, ia = 0, ig = 0, hits = 0;
    enum tw_category cat;
    char tmp[TW_FIELD_TMP];
    const char *name;
    size_t name_len;
    const struct evctx x = {ev, 0, rs};

    if (!rs || !rs->compiled || !ev || (unsigned)ev->category >= TW_CAT__COUNT)
        return 0;
    cat = ev->category;
    al = rs->always[cat].v;
    na = rs->always[cat].n;

    if (rs->gated[cat].n &&
        tw_event_field(ev, name_field(cat), tmp, sizeof(tmp), &name, &name_len) && name) {
        size_t total = tw_trie_match(rs->trie, name, name_len, cand, CAND_MAX);

        if (total <= CAND_MAX) {
            size_t more =
                tw_acm_match_values(rs->acm, name, name_len, cand + total, CAND_MAX - total);
            total += more; /* more than the room left: total > CAND_MAX, evaluate them all */
        }

        if (total > CAND_MAX) {
            gl = rs->gated[cat].v; /* too many hits to hold: evaluate them all */
            ng = rs->gated[cat].n;
        } else {
            /* Keep this category's rules, sort into load order, drop repeats. */
            for (size_t i = 0; i < total; i++)
                if (rs->rules[cand[i]]->info.category == cat)
                    cand[ng++] = cand[i];
            if (ng > 32) {
                qsort(cand, ng, sizeof(cand[0]), cmp_u32);
            } else {
                for (size_t i = 1; i < ng; i++) {
                    uint32_t c = cand[i];
                    size_t j = i;

                    for (; j > 0 && cand[j - 1] > c; j--)
                        cand[j] = cand[j - 1];
                    cand[j] = c;
                }
            }
            size_t w = 0;
            for (size_t i = 0; i < ng; i++)
                if (w == 0 || cand[w - 1] != cand[i])
                    cand[w++] = cand[i];
            ng = w;
        }
    }

    /* Merge the two ascending lists so that matches come in load order. */
    while (ia < na || ig < ng) {
        uint32_t r;

        if (ig >= ng || (ia < na && al[ia] < gl[ig]))
            r = al[ia++];
        else
            r = gl[ig++];
        if (rules_eval(&x, rs->rules[r]->root)) {
            hits++;
            if (fn)
                fn(&rs->rules[r]->info, ev, ctx);
        }
    }
    return hits;
}
