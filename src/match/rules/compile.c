/* SPDX-License-Identifier: MIT */
/*
 * Compiling selections into the rule graph: each value of a field, after its modifiers, into
 * MATCH nodes (the cheapest test that expresses it), a field's values into OR (AND with
 * |all), a map into AND, a list into OR; keywords.
 */
#include "rules_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ascii.h"

static char *dup_lower(struct tw_arena *a, const char *s, size_t len)
{
    char *d = tw_arena_alloc(a, len + 1, 1);

    if (!d)
        return NULL;
    tw_ascii_lower_copy(d, s, len);
    d[len] = '\0';
    return d;
}

int rules_add_node(struct tw_ruleset *rs, uint8_t type, uint32_t a, uint32_t n, uint32_t k,
                   uint32_t *out)
{
    if (rs->n_nodes >= UINT32_MAX ||
        grow_table((void **)&rs->nodes, &rs->nodes_cap, rs->n_nodes + 1, sizeof(*rs->nodes)))
        return TW_ENOMEM;
    rs->nodes[rs->n_nodes] = (struct node){type, a, n, k};
    *out = (uint32_t)rs->n_nodes++;
    return 0;
}

/* ATLEAST k of the children in v; a single child with k = 1 is the child itself. */
int rules_add_atleast(struct tw_ruleset *rs, const struct u32vec *v, uint32_t k, uint32_t *out)
{
    uint32_t first = (uint32_t)rs->n_kids;

    if (v->n == 1 && k == 1) {
        *out = v->v[0];
        return 0;
    }
    if (v->n > UINT32_MAX ||
        grow_table((void **)&rs->kids, &rs->kids_cap, rs->n_kids + v->n, sizeof(*rs->kids)))
        return TW_ENOMEM;
    if (v->n)
        memcpy(rs->kids + rs->n_kids, v->v, v->n * sizeof(*v->v));
    rs->n_kids += v->n;
    return rules_add_node(rs, N_ATLEAST, first, (uint32_t)v->n, k, out);
}

static int add_matcher(struct tw_ruleset *rs, const struct matcher *m, uint32_t *out)
{
    if (rs->n_m >= UINT32_MAX || grow_table((void **)&rs->m, &rs->m_cap, rs->n_m + 1, sizeof(*rs->m)))
        return TW_ENOMEM;
    rs->m[rs->n_m] = *m;
    return rules_add_node(rs, N_MATCH, (uint32_t)rs->n_m++, 0, 0, out);
}

static bool is_true(const char *s)
{
    return strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0;
}

static bool is_false(const char *s)
{
    return strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0;
}

/*
 * Compiles one token string into a matcher: picks the cheapest kind that expresses
 * it, lowercases literals unless cased.
 */
static int tstr_compile(struct tw_arena *a, const struct tstr *s, bool cased, struct matcher *m)
{
    size_t nt = s->n, stars = 0, ones = 0, out = 0;
    const uint16_t *k = s->t;

    for (size_t i = 0; i < nt; i++) {
        stars += k[i] == T_STAR;
        ones += k[i] == T_ONE;
    }
    if (ones == 0 && stars == 0)
        m->kind = MK_EXACT;
    else if (ones == 0 && stars == 1 && nt > 1 && k[0] == T_STAR)
        m->kind = MK_SUFFIX;
    else if (ones == 0 && stars == 1 && nt > 1 && k[nt - 1] == T_STAR)
        m->kind = MK_PREFIX;
    else if (ones == 0 && stars == 2 && nt > 2 && k[0] == T_STAR && k[nt - 1] == T_STAR)
        m->kind = MK_CONTAINS;
    else
        m->kind = MK_GLOB;
    m->cased = cased;
    m->pat = tw_arena_alloc(a, (m->kind == MK_GLOB ? 2 * nt : nt) + 1, 1); /* escapes */
    if (!m->pat)
        return TW_ENOMEM;
    for (size_t i = 0; i < nt; i++) {
        char ch = k[i] < T_STAR ? (char)k[i] : 0;

        if (k[i] < T_STAR && !cased)
            ch = (char)tw_ascii_lower((uint8_t)ch);
        if (m->kind == MK_GLOB) {
            if (k[i] == T_STAR)
                m->pat[out++] = '*';
            else if (k[i] == T_ONE)
                m->pat[out++] = '?';
            else {
                if (ch == '*' || ch == '?' || ch == '\\')
                    m->pat[out++] = '\\';
                m->pat[out++] = ch;
            }
        } else if (k[i] < T_STAR) {
            m->pat[out++] = ch;
        }
    }
    m->pat[out] = '\0';
    m->len = (uint32_t)out;
    return 0;
}

static int compile_cidr(struct lctx *c, const char *s, struct matcher *m)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    long bits;
    char *end;

    if (alen == 0 || alen >= sizeof(buf))
        return SKIP(c, "invalid cidr value '%s'", s);
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    m->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(m->family, buf, m->addr) != 1)
        return SKIP(c, "invalid cidr value '%s'", s);
    bits = m->family == AF_INET6 ? 128 : 32;
    if (slash) {
        errno = 0;
        long b = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end != '\0' || b < 0 || b > bits)
            return SKIP(c, "invalid cidr value '%s'", s);
        bits = b;
    }
    m->bits = (uint8_t)bits;
    m->kind = MK_CIDR;
    m->pat = dup_lower(&c->rs->arena, s, strlen(s));
    if (!m->pat)
        return TW_ENOMEM;
    m->len = (uint32_t)strlen(m->pat);
    return 0;
}

int rules_re_compile(struct matcher *m, const char *s, size_t len, uint32_t opts)
{
    int err = 0;
    PCRE2_SIZE off;

    m->re = pcre2_compile((PCRE2_SPTR)s, len, opts | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err,
                          &off, NULL);
    if (!m->re)
        return err != 0 ? err : -1;
    m->re_opts = opts;
    pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE); /* the interpreter runs it if JIT cannot */
    return 0;
}

static int compile_re(struct lctx *c, const char *s, size_t len, uint32_t opts, struct matcher *m)
{
    int err = rules_re_compile(m, s, len, opts);

    if (err != 0) {
        PCRE2_UCHAR msg[128];

        pcre2_get_error_message(err, msg, sizeof(msg));
        return SKIP(c, "invalid regular expression: %s", (const char *)msg);
    }
    m->kind = MK_RE;
    m->pat = tw_arena_strndup(&c->rs->arena, s, len);
    if (!m->pat)
        return TW_ENOMEM;
    m->len = (uint32_t)len;
    c->rs->has_re = true;
    return 0;
}

/* "Field|mods: 'value'" as written, for explanations. */
static char *make_desc(struct tw_arena *a, const char *key, const struct ynode *v, const char *s)
{
    size_t kn = strlen(key), sn = s ? strlen(s) : 0;
    char *d = tw_arena_alloc(a, kn + sn + 20, 1);

    if (!d)
        return NULL;
    memcpy(d, key, kn);
    char *w = d + kn;
    if (!s) {
        memcpy(w, ": (not a string)", 17);
    } else if (v->type == Y_SCALAR && v->plain &&
               (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0)) {
        memcpy(w, ": null", 7);
    } else {
        memcpy(w, ": '", 3);
        memcpy(w + 3, s, sn);
        memcpy(w + 3 + sn, "'", 2);
    }
    return d;
}

void rules_matcher_free(struct matcher *m)
{
    pcre2_code_free(m->re);
}

/* Compiles one value under the modifiers md into matchers appended to kids. */
static int compile_value(struct lctx *c, const char *key, unsigned f, const struct mods *md,
                         const struct ynode *v, struct u32vec *kids)
{
    const char *s = scalar(c->doc, v);
    struct matcher base = {.field = (uint8_t)f}, m;
    struct tset ts;
    uint32_t ni;
    int rc = 0;

    if (!s)
        return SKIP(c, "value of '%s' is not a string", key);
    ts.n = 0;
    if (md->exists) {
        if (is_true(s))
            base.kind = MK_EXISTS;
        else if (is_false(s))
            base.kind = MK_NULL;
        else
            return SKIP(c, "exists needs true or false");
    } else if (rules_is_null(c->doc, v)) {
        if (f == F_ANY)
            return SKIP(c, "keyword search for null");
        base.kind = MK_NULL;
    } else if (md->cidr) {
        rc = compile_cidr(c, s, &base);
    } else if (md->re) {
        rc = compile_re(c, s, v->n, md->re_opts, &base);
    } else if (md->num) {
        if (!rules_parse_num(s, v->n, &base.num))
            return SKIP(c, "'%s' needs a number", key);
        base.kind = MK_NUM;
        base.op = md->op;
    } else if (md->fieldref) {
        unsigned f2 = rules_lookup_field(c->fmap, s);

        if (f2 == F_NONE)
            return SKIP(c, "field '%s' not observable", s);
        if (!rules_field_fits(c, f2))
            return SKIP(c, "field '%s' not in category %s", s, tw_category_name(c->cat));
        if (f2 < TW_F__COUNT && tw_field_is_process((enum tw_field)f2) && !c->rs->process_fields &&
            !c->pending[0])
            snprintf(c->pending, sizeof(c->pending),
                     "field '%s' needs process attribution (--local-processes)", s);
        base.kind = MK_FIELDREF;
        base.field2 = (uint8_t)f2;
        base.refmod = md->strmod;
        base.cased = md->cased;
    } else {
        /* A string: escapes, then each transform in the order written. */
        if ((rc = rules_tstr_parse(s, v->n, &ts.v[0])))
            return rc;
        ts.n = 1;
        for (size_t i = 0; i < md->n_chain && !rc; i++) {
            char t = md->chain[i];

            if (t == 'c' || t == 's' || t == 'e') {
                for (size_t j = 0; j < ts.n && !rc; j++)
                    rc = rules_tstr_wild(&ts.v[j], t != 's', t != 'e');
            } else if (t == 'w') {
                rc = rules_tset_windash(c, &ts);
            } else if (t == '6' || t == 'o') {
                rc = rules_tstr_base64(c, &ts, t == 'o');
            } else {
                for (size_t j = 0; j < ts.n && !rc; j++)
                    rc = rules_tstr_utf16(c, &ts.v[j], t);
            }
        }
        if (f == F_ANY && !md->strmod)
            for (size_t j = 0; j < ts.n && !rc; j++)
                rc = rules_tstr_wild(&ts.v[j], true, true); /* a keyword is found anywhere */
    }
    if (rc) {
        rules_matcher_free(&base);
        rules_tset_free(&ts);
        return rc;
    }
    for (size_t j = 0; j < (ts.n ? ts.n : 1); j++) {
        m = base;
        if (ts.n) {
            m.pat = NULL;
            m.field = (uint8_t)f;
            if ((rc = tstr_compile(&c->rs->arena, &ts.v[j], md->cased, &m)))
                break;
        } else if (j > 0) {
            break;
        }
        m.desc = c->rs->explain ? make_desc(&c->rs->arena, key, v, s) : NULL;
        if ((c->rs->explain && !m.desc) || (rc = add_matcher(c->rs, &m, &ni))) {
            if (!ts.n)
                base.pat = NULL, base.re = NULL; /* m owned them */
            rules_matcher_free(&m);
            rc = TW_ENOMEM;
            break;
        }
        if (!ts.n)
            base.pat = NULL, base.re = NULL;
        if ((rc = u32_push(kids, ni)))
            break;
    }
    if (!ts.n)
        rules_matcher_free(&base);
    rules_tset_free(&ts);
    return rc;
}

/* One "Field|mod|mod: value(s)" entry of a selection map; an empty field name is a keyword. */
static int compile_field(struct lctx *c, const char *key, const struct ynode *val, uint32_t *out)
{
    char fname[128];
    const char *bar = strchr(key, '|');
    size_t flen = bar ? (size_t)(bar - key) : strlen(key);
    unsigned f;
    struct mods md = {0};
    struct u32vec kids = {0};
    bool seq = false;
    size_t nvals = 1;
    int rc;

    if (flen >= sizeof(fname))
        return SKIP(c, "field name too long");
    memcpy(fname, key, flen);
    fname[flen] = '\0';
    if (flen == 0) {
        f = F_ANY;
    } else {
        f = rules_lookup_field(c->fmap, fname);
        if (f == F_NONE)
            return SKIP(c, "field '%s' not observable", fname);
        if (!rules_field_fits(c, f))
            return SKIP(c, "field '%s' not in category %s", fname, tw_category_name(c->cat));
        if (f < TW_F__COUNT && tw_field_is_process((enum tw_field)f) && !c->rs->process_fields &&
            !c->pending[0])
            snprintf(c->pending, sizeof(c->pending),
                     "field '%s' needs process attribution (--local-processes)", fname);
    }
    if ((rc = rules_parse_mods(c, key, bar, &md)))
        return rc;
    if (f == F_ANY && (md.exists || md.fieldref || md.cidr || md.num))
        return SKIP(c, "keyword search with '%s'", key);

    if (val->type == Y_SEQ) {
        seq = true;
        nvals = val->n;
    } else if (val->type != Y_SCALAR) {
        return SKIP(c, "value of '%s' is a map", key);
    }
    if (md.exists && seq)
        return SKIP(c, "exists needs one boolean value");
    if (nvals == 0)
        return SKIP(c, "empty value list for '%s'", key);

    for (size_t i = 0; i < nvals; i++) {
        rc = compile_value(c, key, f, &md, seq ? ykid(c->doc, val, i) : val, &kids);
        if (rc)
            goto out_free;
    }
    rc = rules_add_atleast(c->rs, &kids, md.all ? (uint32_t)kids.n : 1, out);
out_free:
    free(kids.v);
    return rc;
}

static int compile_map(struct lctx *c, const struct ynode *map, uint32_t *out)
{
    struct u32vec kids = {0};
    int rc = 0;

    for (size_t i = 0; i < map->n; i++) {
        const char *k = scalar(c->doc, ykid(c->doc, map, 2 * i));
        const struct ynode *v = ykid(c->doc, map, 2 * i + 1);
        uint32_t ni;

        if (!k) {
            rc = SKIP(c, "selection key is not a string");
            goto out_free;
        }
        rc = compile_field(c, k, v, &ni);
        if (rc)
            goto out_free;
        rc = u32_push(&kids, ni);
        if (rc)
            goto out_free;
    }
    rc = rules_add_atleast(c->rs, &kids, (uint32_t)kids.n, out);
out_free:
    free(kids.v);
    return rc;
}

/* A keyword (a string in a selection list, or the selection itself): found anywhere in
 * any string field of the event, case-insensitive, with wildcards. */
static int compile_keyword(struct lctx *c, const struct ynode *v, uint32_t *out)
{
    struct mods md = {0};
    struct u32vec kids = {0};
    int rc;

    if (v->type != Y_SCALAR)
        return SKIP(c, "selection list item is not a map or a string");
    rc = compile_value(c, "keyword", F_ANY, &md, v, &kids);
    if (!rc)
        rc = rules_add_atleast(c->rs, &kids, 1, out);
    free(kids.v);
    return rc;
}

int rules_compile_selection(struct lctx *c, const struct ynode *sel, uint32_t *out)
{
    struct u32vec kids = {0};
    int rc = 0;

    if (sel->type == Y_MAP)
        return compile_map(c, sel, out);
    if (sel->type == Y_SCALAR)
        return compile_keyword(c, sel, out);
    if (sel->n == 0)
        return SKIP(c, "empty selection");
    for (size_t i = 0; i < sel->n; i++) {
        const struct ynode *item = ykid(c->doc, sel, i);
        uint32_t ni;

        if (item->type == Y_MAP)
            rc = compile_map(c, item, &ni);
        else
            rc = compile_keyword(c, item, &ni);
        if (rc)
            goto out_free;
        rc = u32_push(&kids, ni);
        if (rc)
            goto out_free;
    }
    rc = rules_add_atleast(c->rs, &kids, 1, out);
out_free:
    free(kids.v);
    return rc;
}
