/* SPDX-License-Identifier: MIT */
/*
 * Sigma conditions: tokens, a recursive descent parser (not binds tightest, then and, then
 * or; parentheses; "N of pattern*", "all of them") onto the rule graph, and the detection
 * map whose selections they name.
 */
#include "rules_impl.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ascii.h"

struct sel {
    const char *name;
    uint32_t node;
};

enum ctok {
    CT_END,
    CT_IDENT,
    CT_NUM,
    CT_LP,
    CT_RP,
    CT_AND,
    CT_OR,
    CT_NOT,
    CT_OF,
    CT_ALL,
    CT_THEM,
    CT_PIPE,
    CT_BAD
};

struct cparse {
    struct lctx *c;
    const char *s;
    size_t pos;
    enum ctok tok;
    const char *tstart;
    size_t tlen;
    const struct sel *sels;
    size_t n_sels;
    int depth;
};

static bool ident_char(char ch)
{
    return tw_ascii_alnum((uint8_t)ch) || ch == '_' || ch == '-' || ch == '.' || ch == '*';
}

static bool word_is(const struct cparse *p, const char *w)
{
    size_t n = strlen(w);

    if (p->tlen != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((char)tw_ascii_lower((uint8_t)p->tstart[i]) != w[i])
            return false;
    return true;
}

static void next_tok(struct cparse *p)
{
    const char *s = p->s;
    size_t i = p->pos;
    bool digits = true;

    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    p->tstart = s + i;
    p->tlen = 1;
    if (s[i] == '\0') {
        p->tok = CT_END;
        p->tlen = 0;
    } else if (s[i] == '(') {
        p->tok = CT_LP;
        i++;
    } else if (s[i] == ')') {
        p->tok = CT_RP;
        i++;
    } else if (s[i] == '|') {
        p->tok = CT_PIPE;
        i++;
    } else if (ident_char(s[i])) {
        size_t st = i;

        while (ident_char(s[i])) {
            digits = digits && s[i] >= '0' && s[i] <= '9';
            i++;
        }
        p->tlen = i - st;
        p->tok = digits ? CT_NUM : CT_IDENT;
        if (word_is(p, "and"))
            p->tok = CT_AND;
        else if (word_is(p, "or"))
            p->tok = CT_OR;
        else if (word_is(p, "not"))
            p->tok = CT_NOT;
        else if (word_is(p, "of"))
            p->tok = CT_OF;
        else if (word_is(p, "all"))
            p->tok = CT_ALL;
        else if (word_is(p, "them"))
            p->tok = CT_THEM;
    } else {
        p->tok = CT_BAD;
        i++;
    }
    p->pos = i;
}

/* Identifier pattern with '*' wildcards, case-sensitive like identifiers. */
static bool ident_match(const char *pat, size_t pn, const char *s)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0, sn = strlen(s);

    while (si < sn) {
        if (pi < pn && pat[pi] == '*') {
            star_p = ++pi;
            star_s = si;
        } else if (pi < pn && pat[pi] == s[si]) {
            pi++;
            si++;
        } else if (star_p != SIZE_MAX) {
            pi = star_p;
            si = ++star_s;
        } else {
            return false;
        }
    }
    while (pi < pn && pat[pi] == '*')
        pi++;
    return pi == pn;
}

static int parse_or(struct cparse *p, uint32_t *out);

static int cond_error(struct cparse *p)
{
    if (p->tok == CT_PIPE)
        return SKIP(p->c, "unsupported condition: aggregation ('| ...')");
    if (p->tok == CT_IDENT && word_is(p, "near"))
        return SKIP(p->c, "unsupported condition: 'near'");
    if (p->tok == CT_END)
        return SKIP(p->c, "condition ends unexpectedly");
    return SKIP(p->c, "condition syntax error at '%.*s'", (int)TW_MIN(p->tlen, 64), p->tstart);
}

static int parse_of(struct cparse *p, uint32_t *out)
{
    unsigned long k = 0;
    bool all = p->tok == CT_ALL;
    struct u32vec kids = {0};
    int rc;

    if (!all) {
        char num[16];
        if (p->tlen >= sizeof(num))
            return SKIP(p->c, "count in condition too large");
        memcpy(num, p->tstart, p->tlen);
        num[p->tlen] = '\0';
        k = strtoul(num, NULL, 10);
        if (k == 0 || k > UINT32_MAX)
            return SKIP(p->c, "unsupported condition '%s of'", num);
    }
    next_tok(p);
    if (p->tok != CT_OF)
        return cond_error(p);
    next_tok(p);
    if (p->tok != CT_THEM && p->tok != CT_IDENT)
        return cond_error(p);
    for (size_t i = 0; i < p->n_sels; i++) {
        bool hit = p->tok == CT_THEM ? p->sels[i].name[0] != '_'
                                     : ident_match(p->tstart, p->tlen, p->sels[i].name);
        if (hit && (rc = u32_push(&kids, p->sels[i].node)))
            goto out_free;
    }
    if (kids.n == 0) {
        rc = SKIP(p->c, "'%.*s' in condition matches no search identifier",
                  (int)TW_MIN(p->tlen, 64), p->tstart);
        goto out_free;
    }
    next_tok(p);
    rc = rules_add_atleast(p->c->rs, &kids, all ? (uint32_t)kids.n : (uint32_t)k, out);
out_free:
    free(kids.v);
    return rc;
}

static int parse_unary(struct cparse *p, uint32_t *out)
{
    uint32_t child;
    int rc;

    if (++p->depth > COND_DEPTH_MAX)
        return SKIP(p->c, "condition nested too deeply");
    switch (p->tok) {
    case CT_NOT:
        next_tok(p);
        rc = parse_unary(p, &child);
        if (!rc)
            rc = rules_add_node(p->c->rs, N_NOT, child, 0, 0, out);
        break;
    case CT_LP:
        next_tok(p);
        rc = parse_or(p, out);
        if (!rc && p->tok != CT_RP)
            rc = cond_error(p);
        if (!rc)
            next_tok(p);
        break;
    case CT_NUM:
    case CT_ALL:
        rc = parse_of(p, out);
        break;
    case CT_IDENT:
        rc = TW_ENOTSUP;
        for (size_t i = 0; i < p->n_sels; i++) {
            if (strlen(p->sels[i].name) == p->tlen &&
                memcmp(p->sels[i].name, p->tstart, p->tlen) == 0) {
                *out = p->sels[i].node;
                rc = 0;
                next_tok(p);
                break;
            }
        }
        if (rc && word_is(p, "near"))
            rc = cond_error(p);
        else if (rc)
            rc = SKIP(p->c, "condition references unknown identifier '%.*s'",
                      (int)TW_MIN(p->tlen, 64), p->tstart);
        break;
    default:
        rc = cond_error(p);
        break;
    }
    p->depth--;
    return rc;
}

static int parse_and(struct cparse *p, uint32_t *out)
{
    struct u32vec kids = {0};
    uint32_t ni;
    int rc;

    for (;;) {
        rc = parse_unary(p, &ni);
        if (rc || (rc = u32_push(&kids, ni)))
            goto out_free;
        if (p->tok != CT_AND)
            break;
        next_tok(p);
    }
    rc = rules_add_atleast(p->c->rs, &kids, (uint32_t)kids.n, out);
out_free:
    free(kids.v);
    return rc;
}

static int parse_or(struct cparse *p, uint32_t *out)
{
    struct u32vec kids = {0};
    uint32_t ni;
    int rc;

    if (++p->depth > COND_DEPTH_MAX) {
        p->depth--;
        return SKIP(p->c, "condition nested too deeply");
    }
    for (;;) {
        rc = parse_and(p, &ni);
        if (rc || (rc = u32_push(&kids, ni)))
            goto out_free;
        if (p->tok != CT_OR)
            break;
        next_tok(p);
    }
    rc = rules_add_atleast(p->c->rs, &kids, 1, out);
out_free:
    p->depth--;
    free(kids.v);
    return rc;
}

static int parse_condition(struct lctx *c, const char *s, const struct sel *sels, size_t n_sels,
                           uint32_t *out)
{
    struct cparse p = {.c = c, .s = s, .sels = sels, .n_sels = n_sels};
    int rc;

    next_tok(&p);
    rc = parse_or(&p, out);
    if (!rc && p.tok != CT_END)
        rc = cond_error(&p);
    return rc;
}

int rules_compile_detection(struct lctx *c, const struct ynode *det, uint32_t *root)
{
    struct sel *sels = NULL;
    size_t n_sels = 0, sels_cap = 0;
    const struct ynode *cond = NULL;
    struct u32vec conds = {0};
    int rc = 0;

    if (!det || det->type != Y_MAP)
        return SKIP(c, "missing detection");
    for (size_t i = 0; i < det->n; i++) {
        const char *k = scalar(c->doc, ykid(c->doc, det, 2 * i));
        const struct ynode *v = ykid(c->doc, det, 2 * i + 1);

        if (!k) {
            rc = SKIP(c, "detection key is not a string");
            goto out_free;
        }
        if (strcmp(k, "condition") == 0) {
            cond = v;
            continue;
        }
        if (strcmp(k, "timeframe") == 0)
            continue;
        if ((rc = grow((void **)&sels, &sels_cap, n_sels + 1, sizeof(*sels))))
            goto out_free;
        sels[n_sels].name = k;
        if ((rc = rules_compile_selection(c, v, &sels[n_sels].node)))
            goto out_free;
        n_sels++;
    }
    if (!cond) {
        rc = SKIP(c, "detection has no condition");
        goto out_free;
    }
    if (cond->type == Y_SCALAR) {
        rc = parse_condition(c, scalar(c->doc, cond), sels, n_sels, root);
        goto out_free;
    }
    if (cond->type != Y_SEQ) {
        rc = SKIP(c, "condition is a map");
        goto out_free;
    }
    for (size_t i = 0; i < cond->n; i++) {
        const char *s = scalar(c->doc, ykid(c->doc, cond, i));
        uint32_t ni;

        if (!s) {
            rc = SKIP(c, "condition list item is not a string");
            goto out_free;
        }
        if ((rc = parse_condition(c, s, sels, n_sels, &ni)) || (rc = u32_push(&conds, ni)))
            goto out_free;
    }
    rc = rules_add_atleast(c->rs, &conds, 1, root);
out_free:
    free(conds.v);
    free(sels);
    return rc;
}
