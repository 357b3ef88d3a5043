/* SPDX-License-Identifier: MIT */
/*
 * Building the matcher (tw_ruleset_compile()): the hostname prefilter, the rules of each
 * category, the match data pool, and the children of each node ordered cheapest first.
 *
 * Prefilter: a rule is "gated" when every way its condition can be true
 * needs one of its hostname indicators (exact or suffix MATCH nodes on
 * DestinationHostname / QueryName) to hold. Those indicators go into one
 * suffix trie. Matching walks the event's name through the trie once and
 * evaluates only the rules it names, plus the rules that are not gated.
 */
#include "tunwatch/match/rules.h"

#include <stdlib.h>

#include "rules_impl.h"
#include "tunwatch/match/acm.h"
#include "tunwatch/match/trie.h"

void rules_uncompile(struct tw_ruleset *rs)
{
    tw_trie_free(rs->trie);
    rs->trie = NULL;
    tw_acm_free(rs->acm);
    rs->acm = NULL;
    for (int c = 0; c < TW_CAT__COUNT; c++) {
        free(rs->always[c].v);
        free(rs->gated[c].v);
        rs->always[c] = (struct u32vec){0};
        rs->gated[c] = (struct u32vec){0};
    }
    rs->st.indicators = 0;
    rs->compiled = false;
    for (size_t i = 0; rs->mdpool && i < MD_POOL; i++)
        pcre2_match_data_free(rs->mdpool[i].md);
    free(rs->mdpool);
    rs->mdpool = NULL;
}

int rules_mdpool_init(struct tw_ruleset *rs)
{
    rs->mdpool = calloc(MD_POOL, sizeof(*rs->mdpool));
    if (!rs->mdpool)
        return TW_ENOMEM;
    for (size_t i = 0; i < MD_POOL; i++) {
        atomic_flag_clear(&rs->mdpool[i].busy);
        rs->mdpool[i].md = pcre2_match_data_create(1, NULL);
        if (!rs->mdpool[i].md)
            return TW_ENOMEM; /* the caller uncompiles: the pool goes with what it holds */
    }
    return 0;
}

/*
 * The literal a wildcard value's names must contain (and start with, when *flags gets
 * TW_ACM_ANCHOR_START) into buf; its length, or <= 0 when the value has none that fits.
 */
static int glob_literal(const struct matcher *m, char *buf, size_t cap, unsigned *flags)
{
    return tw_acm_glob_literal(m->pat, m->len, buf, cap, flags);
}

/*
 * A hostname test the prefilter can stand for: equals and endswith go into the suffix trie;
 * contains, startswith and the longest literal of a wildcard value into the Aho-Corasick
 * automaton. A hit is necessary for the test to hold (names are lowercased, and so are the
 * patterns there: also for |cased, whose exact case is checked by the rule itself).
 */
static bool is_indicator(const struct matcher *m)
{
    char lit[TW_NAME_MAX];
    unsigned flags;

    if (m->field != TW_F_DESTINATION_HOSTNAME && m->field != TW_F_QUERY_NAME)
        return false;
    switch (m->kind) {
    case MK_EXACT:
    case MK_SUFFIX:
    case MK_PREFIX:
    case MK_CONTAINS:
        return m->len > 0;
    case MK_GLOB:
        return glob_literal(m, lit, sizeof(lit), &flags) > 0;
    default:
        return false;
    }
}

/* Adds indicator m of rule r to the trie keys or the automaton. */
static int add_indicator(struct tw_ruleset *rs, const struct matcher *m, uint32_t r,
                         struct tw_trie_key *keys, size_t *n_keys)
{
    char lit[TW_NAME_MAX];
    unsigned flags = 0;
    int n;

    switch (m->kind) {
    case MK_EXACT:
    case MK_SUFFIX:
        keys[(*n_keys)++] = (struct tw_trie_key){m->pat, m->len, m->kind == MK_SUFFIX, r};
        return 0;
    case MK_PREFIX:
        return tw_acm_add(rs->acm, m->pat, m->len, r, TW_ACM_ANCHOR_START);
    case MK_CONTAINS:
        return tw_acm_add(rs->acm, m->pat, m->len, r, 0);
    default: /* MK_GLOB, checked by is_indicator() */
        n = glob_literal(m, lit, sizeof(lit), &flags);
        return n > 0 ? tw_acm_add(rs->acm, lit, (size_t)n, r, flags) : TW_EINVAL;
    }
}

/*
 * True if node ni (negated when neg) can only hold when one of its hostname
 * indicators holds. For "at least k of n" (under negation: at least n-k+1
 * of the negated children) with u children that are not gated: if u < k,
 * any satisfying assignment has a true gated child.
 */
static bool is_gated(const struct tw_ruleset *rs, uint32_t ni, bool neg)
{
    const struct node *nd = &rs->nodes[ni];
    int64_t k;
    uint32_t u = 0;

    switch (nd->type) {
    case N_MATCH:
        return !neg && is_indicator(&rs->m[nd->a]);
    case N_NOT:
        return is_gated(rs, nd->a, !neg);
    default:
        k = neg ? (int64_t)nd->n - nd->k + 1 : (int64_t)nd->k;
        if (k <= 0)
            return false; /* always true */
        if (k > nd->n)
            return true; /* never true: needs no indicator at all */
        for (uint32_t i = 0; i < nd->n && u < k; i++)
            u += !is_gated(rs, rs->kids[nd->a + i], neg);
        return u < k;
    }
}

/* Collects indicators of a gated node: one of them holds whenever the node does. */
static int collect(const struct tw_ruleset *rs, uint32_t ni, bool neg, struct u32vec *out)
{
    const struct node *nd = &rs->nodes[ni];
    int64_t k;
    int rc;

    switch (nd->type) {
    case N_MATCH:
        return u32_push(out, nd->a);
    case N_NOT:
        return collect(rs, nd->a, !neg, out);
    default:
        k = neg ? (int64_t)nd->n - nd->k + 1 : (int64_t)nd->k;
        if (k > nd->n)
            return 0;
        for (uint32_t i = 0; i < nd->n; i++) {
            uint32_t ch = rs->kids[nd->a + i];

            if (!is_gated(rs, ch, neg))
                continue;
            if ((rc = collect(rs, ch, neg, out)))
                return rc;
            if (k == nd->n) /* every child must hold: one gated child suffices */
                break;
        }
        return 0;
    }
}

/* Relative cost of evaluating node ni: regular expressions and keyword searches are dear. */
static unsigned node_cost(const struct tw_ruleset *rs, uint32_t ni, int depth)
{
    const struct node *nd = &rs->nodes[ni];
    unsigned c = 0;

    if (depth > COND_DEPTH_MAX + 8)
        return 1;
    switch (nd->type) {
    case N_MATCH:
        return rs->m[nd->a].kind == MK_RE || rs->m[nd->a].field == F_ANY ? 16 : 1;
    case N_NOT:
        return node_cost(rs, nd->a, depth + 1);
    default:
        for (uint32_t i = 0; i < nd->n && c < 1024; i++)
            c += node_cost(rs, rs->kids[nd->a + i], depth + 1);
        return c;
    }
}

/* Children of an "at least k of n" node, cheapest first: the outcome does not depend on the
 * order, and the short-circuit then seldom reaches a regular expression. Stable. */
static void order_kids(struct tw_ruleset *rs, const struct node *nd)
{
    uint32_t *k;

    if (nd->type != N_ATLEAST || nd->n < 2)
        return;
    k = rs->kids + nd->a; /* kids may be NULL when no node has children */
    for (uint32_t i = 1; i < nd->n; i++) {
        uint32_t x = k[i];
        unsigned cx = node_cost(rs, x, 0);
        uint32_t j = i;

        for (; j > 0 && node_cost(rs, k[j - 1], 0) > cx; j--)
            k[j] = k[j - 1];
        k[j] = x;
    }
}

int tw_ruleset_compile(struct tw_ruleset *rs)
{
    struct tw_trie_key *keys = NULL;
    size_t n_keys = 0, keys_cap = 0;
    struct u32vec ind = {0};
    int rc = 0;

    if (!rs)
        return TW_EINVAL;
    rules_uncompile(rs);
    rs->acm = tw_acm_new();
    if (!rs->acm)
        return TW_ENOMEM;
    /* Room for one key per matcher, the usual most, in one table (a rule whose condition
     * names a selection twice can have more: the table grows then). */
    if ((rc = grow_table((void **)&keys, &keys_cap, rs->n_m ? rs->n_m : 1, sizeof(*keys))))
        goto out_fail;
    for (size_t r = 0; r < rs->n_rules; r++) {
        const struct rule *ru = rs->rules[r];
        enum tw_category cat = ru->info.category;

        if (!is_gated(rs, ru->root, false)) {
            if ((rc = u32_push(&rs->always[cat], (uint32_t)r)))
                goto out_fail;
            continue;
        }
        ind.n = 0;
        if ((rc = collect(rs, ru->root, false, &ind)) ||
            (rc = u32_push(&rs->gated[cat], (uint32_t)r)) ||
            (rc = grow_table((void **)&keys, &keys_cap, n_keys + ind.n, sizeof(*keys))))
            goto out_fail;
        for (size_t i = 0; i < ind.n; i++)
            if ((rc = add_indicator(rs, &rs->m[ind.v[i]], (uint32_t)r, keys, &n_keys)))
                goto out_fail;
    }
    rs->trie = tw_trie_build(keys, n_keys);
    if (!rs->trie || (rc = tw_acm_compile(rs->acm)) != 0) {
        rc = TW_ENOMEM;
        goto out_fail;
    }
    for (size_t i = 0; i < rs->n_nodes; i++)
        order_kids(rs, &rs->nodes[i]);
    if (rs->has_re && (rc = rules_mdpool_init(rs)) != 0)
        goto out_fail;
    rs->st.indicators = n_keys + tw_acm_patterns(rs->acm);
    rs->compiled = true;
    tw_table_free(keys, keys_cap * sizeof(*keys));
    free(ind.v);
    return 0;
out_fail:
    tw_table_free(keys, keys_cap * sizeof(*keys));
    free(ind.v);
    rules_uncompile(rs);
    return rc;
}
