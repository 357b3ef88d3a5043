/* SPDX-License-Identifier: MIT */
/*
 * tw_ruleset_explain(): which rules an event carrying only a name would fire, the hostname
 * tests that hold, and for the others what keeps them from matching.
 */
#include "tunwatch/match/rules.h"

#include <string.h>

#include "rules_impl.h"
#include "tunwatch/base/ascii.h"

/* Lines of reasons tw_ruleset_explain() prints for one rule. */
#define WHY_MAX 8

static bool is_name_field(unsigned f)
{
    return f == TW_F_QUERY_NAME || f == TW_F_DESTINATION_HOSTNAME;
}

/* What a field test says: as written, or its field's name when the set keeps no texts. */
static const char *desc(const struct matcher *m)
{
    return m->desc ? m->desc : rules_field_label(m->field);
}

/* Whether a hostname test under node ni holds on x, outside any negation; prints each one
 * that does (when out is set). */
static bool name_hits(const struct evctx *x, uint32_t ni, bool neg, FILE *out, int depth)
{
    const struct tw_ruleset *rs = x->rs;
    const struct node *nd = &rs->nodes[ni];
    bool any = false;

    if (depth > COND_DEPTH_MAX + 8)
        return false;
    switch (nd->type) {
    case N_MATCH: {
        const struct matcher *m = &rs->m[nd->a];

        if (neg || !is_name_field(m->field) || !rules_match_one(x, m))
            return false;
        if (out)
            fprintf(out, "    hit    %s\n", desc(m));
        return true;
    }
    case N_NOT:
        return name_hits(x, nd->a, !neg, out, depth + 1);
    default:
        for (uint32_t i = 0; i < nd->n; i++)
            any |= name_hits(x, rs->kids[nd->a + i], neg, out, depth + 1);
        return any;
    }
}

static void why_match(const struct evctx *x, const struct matcher *m, bool want, FILE *out)
{
    char tmp[TW_FIELD_TMP];
    const char *v;
    size_t len;
    unsigned f = m->field;

    if (!want) {
        fprintf(out, "    why    excluded by %s\n", desc(m));
        return;
    }
    if (f != F_ANY && !rules_get_field(x, f, tmp, sizeof(tmp), &v, &len))
        fprintf(out, "    why    needs %s (%s is not in a name-only event)\n", desc(m),
                rules_field_label(f));
    else if (f == F_ANY)
        fprintf(out, "    why    needs %s (no field holds it)\n", desc(m));
    else
        fprintf(out, "    why    needs %s (%s is '%.*s')\n", desc(m), rules_field_label(f),
                (int)TW_MIN(len, 200), v);
}

/*
 * Prints why node ni is not `want` on x: the field tests that would have to change, at
 * most *budget lines. For a failed OR, the alternatives whose hostname tests hold are
 * explained (when none does, all of them are).
 */
static void why(const struct evctx *x, uint32_t ni, bool want, FILE *out, int *budget, int depth)
{
    const struct tw_ruleset *rs = x->rs;
    const struct node *nd = &rs->nodes[ni];
    bool hit_child = false;

    if (*budget <= 0 || depth > COND_DEPTH_MAX + 8)
        return;
    switch (nd->type) {
    case N_MATCH:
        why_match(x, &rs->m[nd->a], want, out);
        --*budget;
        return;
    case N_NOT:
        why(x, nd->a, !want, out, budget, depth + 1);
        return;
    default:
        break;
    }
    /* want true: "at least k" failed; want false: "at least k" held. */
    if (want && nd->k < nd->n)
        for (uint32_t i = 0; i < nd->n && !hit_child; i++)
            hit_child = name_hits(x, rs->kids[nd->a + i], false, NULL, depth + 1);
    for (uint32_t i = 0; i < nd->n && (*budget) > 0; i++) {
        uint32_t ch = rs->kids[nd->a + i];
        bool v = rules_eval(x, ch);

        if (v == want)
            continue;
        if (hit_child && !name_hits(x, ch, false, NULL, depth + 1))
            continue;
        why(x, ch, want, out, budget, depth + 1);
    }
    if (*budget <= 0)
        fprintf(out, "    why    ...\n");
}

/* Sets bit f of *fields for every response-only field (answers, Z, rcode, ...) tested under
 * node ni. */
static void response_fields(const struct tw_ruleset *rs, uint32_t ni, uint64_t *fields, int depth)
{
    const struct node *nd = &rs->nodes[ni];

    if (depth > COND_DEPTH_MAX + 8)
        return;
    if (nd->type == N_MATCH) {
        unsigned f = rs->m[nd->a].field;
        if (f < TW_F__COUNT && !tw_field_in_category((enum tw_field)f, TW_CAT_DNS_QUERY) &&
            tw_field_in_category((enum tw_field)f, TW_CAT_DNS))
            *fields |= UINT64_C(1) << f;
    } else if (nd->type == N_NOT) {
        response_fields(rs, nd->a, fields, depth + 1);
    } else {
        for (uint32_t i = 0; i < nd->n; i++)
            response_fields(rs, rs->kids[nd->a + i], fields, depth + 1);
    }
}

size_t tw_ruleset_explain(const struct tw_ruleset *rs, const char *name, FILE *out)
{
    char norm[256];
    size_t n = 0, matched = 0, shown = 0;
    struct tw_event ev[TW_CAT__COUNT];
    struct evctx x[TW_CAT__COUNT];

    if (!rs || !name || !out)
        return 0;
    n = tw_name_normalize(norm, name, strnlen(name, sizeof(norm) - 1));
    for (int c = 0; c < TW_CAT__COUNT; c++) {
        ev[c] = (struct tw_event){.category = (enum tw_category)c,
                                  .raw = norm,
                                  .raw_len = n,
                                  .norm = norm,
                                  .norm_len = n,
                                  .initiated = true};
        ev[c].evidence = c == TW_CAT_DNS_QUERY ? TW_EV_DNS_QUERY
                         : c == TW_CAT_DNS     ? TW_EV_DNS_RESPONSE
                                               : TW_EV_TLS_SNI;
        /* Only the name (and Initiated) are present. */
        x[c] = (struct evctx){&ev[c], 0, rs};
        for (unsigned f = 0; f < TW_F__COUNT; f++)
            if (f != TW_F_QUERY_NAME && f != TW_F_DESTINATION_HOSTNAME && f != TW_F_INITIATED)
                x[c].absent |= UINT64_C(1) << f;
    }
    fprintf(out, "name %s\n", norm);
    for (size_t r = 0; r < rs->n_rules; r++) {
        const struct rule *ru = rs->rules[r];
        const struct evctx *xc = &x[ru->info.category];
        bool ok = rules_eval(xc, ru->root);
        int budget = WHY_MAX;

        if (!ok && !name_hits(xc, ru->root, false, NULL, 0))
            continue;
        matched += ok;
        shown++;
        fprintf(out, "%s %s  %s\n", ok ? "match   " : "no match", ru->info.id, ru->info.title);
        fprintf(out, "    file   %s\n", ru->info.file);
        if (ru->info.category == TW_CAT_DNS_QUERY)
            fprintf(out, "    event  dns_query QueryName=%s\n", norm);
        else if (ru->info.category == TW_CAT_DNS) {
            uint64_t rf = 0;
            fprintf(out, "    event  dns (a response) query=%s\n", norm);
            /* The name alone cannot settle these: say which response fields decide too. */
            response_fields(rs, ru->root, &rf, 0);
            fprintf(out, "    note   matched on DNS responses; also decided by");
            for (unsigned f = 0; f < TW_F__COUNT; f++)
                if (rf & (UINT64_C(1) << f))
                    fprintf(out, " %s", tw_field_name((enum tw_field)f));
            fprintf(out, " (absent here)\n");
        }
        else
            fprintf(out, "    event  network_connection DestinationHostname=%s Initiated=true\n",
                    norm);
        name_hits(xc, ru->root, false, out, 0);
        if (!ok)
            why(xc, ru->root, true, out, &budget, 0);
    }
    fprintf(out, "%zu rules match, %zu more have a hostname test that holds\n", matched,
            shown - matched);
    return matched;
}
