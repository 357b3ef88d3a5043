/* SPDX-License-Identifier: MIT */
/*
 * Sigma rules: YAML loading, compiling detections into an expression graph,
 * the hostname prefilter, and matching.
 *
 * Every rule compiles into nodes of one graph shared by the rule set:
 *   MATCH    one field test (exact, prefix, suffix, contains, wildcard, null,
 *            exists, cidr) against one value
 *   NOT      negation
 *   ATLEAST  "at least k of these n children": AND is k = n, OR is k = 1,
 *            "1 of sel*" / "all of them" are the same node over selections.
 * A selection map is an AND of its fields, a field with a value list is an
 * OR (AND with |all) of MATCH nodes, a list of maps is an OR. The condition
 * refers to selections by node index, so evaluation is a short-circuiting
 * walk of a small DAG: no allocation, recursion bounded by the condition's
 * nesting (limited at load time).
 *
 * Prefilter: a rule is "gated" when every way its condition can be true
 * needs one of its hostname indicators (exact or suffix MATCH nodes on
 * DestinationHostname / QueryName) to hold. Those indicators go into one
 * suffix trie. Matching walks the event's name through the trie once and
 * evaluates only the rules it names, plus the rules that are not gated.
 */
#include "tunwatch/rules.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "tunwatch/trie.h"
#include "tunwatch/alloc.h"

/* Candidates one match call collects from the trie on its stack; beyond this
 * the call falls back to evaluating every gated rule of the category. */
#define CAND_MAX 256
/* Nesting of parentheses / not in a condition; bounds evaluation recursion. */
#define COND_DEPTH_MAX 48
/* YAML nesting accepted in a rule file. */
#define YAML_DEPTH_MAX 64
/* Directory nesting followed by the loader. */
#define DIR_DEPTH_MAX 32

enum mkind {
    MK_EXACT,
    MK_PREFIX,
    MK_SUFFIX,
    MK_CONTAINS,
    MK_GLOB, /* pat holds '*' and '?' wildcards; '\' makes the next byte literal */
    MK_NULL, /* field absent or empty */
    MK_EXISTS,
    MK_CIDR,
};

struct matcher {
    uint8_t kind;
    uint8_t field;
    uint8_t family; /* MK_CIDR: AF_INET or AF_INET6 */
    uint8_t bits;   /* MK_CIDR: prefix length */
    uint32_t len;
    char *pat; /* lowercased; NUL-terminated for convenience, may hold NULs */
    uint8_t addr[16];
};

enum ntype { N_MATCH, N_NOT, N_ATLEAST };

struct node {
    uint8_t type;
    uint32_t a; /* N_MATCH: matcher; N_NOT: child; N_ATLEAST: first index into kids */
    uint32_t n; /* N_ATLEAST: number of children */
    uint32_t k; /* N_ATLEAST: children that must hold */
};

struct rule {
    struct tw_rule_info info;
    char *id, *title, *level;
    char **tags;
    uint32_t root;
};

struct u32vec {
    uint32_t *v;
    size_t n, cap;
};

struct tw_ruleset {
    struct rule **rules;
    size_t n_rules, rules_cap;
    struct node *nodes;
    size_t n_nodes, nodes_cap;
    uint32_t *kids;
    size_t n_kids, kids_cap;
    struct matcher *m;
    size_t n_m, m_cap;
    char **files;
    size_t n_files, files_cap;
    struct tw_ruleset_stats st;
    bool process_fields; /* Image/ProcessId/User are filled (process attribution on) */

    /* Built by tw_ruleset_compile(). */
    bool compiled;
    struct tw_trie *trie;
    struct u32vec always[TW_CAT__COUNT]; /* rules evaluated for every event, load order */
    struct u32vec gated[TW_CAT__COUNT];  /* trie-gated rules, load order */
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    return tw_grow(p, cap, need, elem, 16);
}

static int u32_push(struct u32vec *v, uint32_t x)
{
    if (grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v)))
        return TW_ENOMEM;
    v->v[v->n++] = x;
    return 0;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static char *dup_lower(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (!d)
        return NULL;
    for (size_t i = 0; i < len; i++)
        d[i] = lower(s[i]);
    d[len] = '\0';
    return d;
}

static bool eq_fold(const char *ev, const char *pat, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(ev[i]) != pat[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Matching one field test                                                  */

static bool glob_match(const char *p, size_t pn, const char *s, size_t sn)
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
            if ((!lit && pc == '?') || pc == lower(s[si])) {
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

static bool match_one(const struct matcher *m, const struct tw_event *ev)
{
    char tmp[TW_FIELD_TMP];
    const char *v = NULL;
    size_t len = 0;
    bool have = tw_event_field(ev, (enum tw_field)m->field, tmp, sizeof(tmp), &v, &len) && v;

    switch (m->kind) {
    case MK_NULL:
        return !have || len == 0;
    case MK_EXISTS:
        return have && len > 0;
    default:
        break;
    }
    if (!have)
        return false;
    switch (m->kind) {
    case MK_EXACT:
        return len == m->len && eq_fold(v, m->pat, len);
    case MK_PREFIX:
        return len >= m->len && eq_fold(v, m->pat, m->len);
    case MK_SUFFIX:
        return len >= m->len && eq_fold(v + (len - m->len), m->pat, m->len);
    case MK_CONTAINS:
        if (len < m->len)
            return false;
        for (size_t i = 0; i + m->len <= len; i++)
            if (eq_fold(v + i, m->pat, m->len))
                return true;
        return false;
    case MK_GLOB:
        return glob_match(m->pat, m->len, v, len);
    case MK_CIDR:
        return cidr_match(m, v, len);
    default:
        return false;
    }
}

static bool eval(const struct tw_ruleset *rs, uint32_t ni, const struct tw_event *ev)
{
    const struct node *nd = &rs->nodes[ni];
    uint32_t yes = 0;

    switch (nd->type) {
    case N_MATCH:
        return match_one(&rs->m[nd->a], ev);
    case N_NOT:
        return !eval(rs, nd->a, ev);
    default:
        if (nd->k > nd->n)
            return false;
        for (uint32_t i = 0; i < nd->n; i++) {
            if (eval(rs, rs->kids[nd->a + i], ev))
                yes++;
            if (yes >= nd->k)
                return true;
            if (yes + (nd->n - i - 1) < nd->k)
                return false;
        }
        return yes >= nd->k;
    }
}

/* ------------------------------------------------------------------------ */
/* Building the graph                                                       */

/*
 * One YAML document as a compact tree, built from libyaml's events. Nodes,
 * child lists and scalar text live in arrays reused from document to document
 * (and file to file), so a rule costs no allocation here once they have grown.
 * Indices are those of the arrays; node 0 is the root. Aliases are resolved to
 * the index of the anchored node, as yaml_parser_load() does.
 */
enum ytype { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
    uint8_t type;
    bool plain; /* Y_SCALAR: plain style (not quoted, not a block scalar) */
    uint32_t a; /* Y_SCALAR: offset of its NUL-terminated text; else first index into kids */
    uint32_t n; /* Y_SCALAR: length; Y_SEQ: items; Y_MAP: pairs (kids: key, value, ...) */
};

struct yanchor {
    uint32_t name; /* offset into text */
    uint32_t node;
};

struct yopen {
    uint32_t node;
    size_t pend; /* where its children start in pend */
};

struct ydoc {
    struct ynode *nodes;
    size_t n_nodes, nodes_cap;
    uint32_t *kids;
    size_t n_kids, kids_cap;
    uint32_t *pend; /* children of the containers still open */
    size_t n_pend, pend_cap;
    char *text;
    size_t n_text, text_cap;
    struct yanchor *anchors;
    size_t n_anchors, anchors_cap;
    struct yopen open[YAML_DEPTH_MAX];
    int depth;
};

struct lctx {
    struct tw_ruleset *rs;
    const struct ydoc *doc;
    enum tw_category cat;
    bool zeek;         /* logsource dns (Zeek field names) */
    char reason[256]; /* why the rule is skipped */
};

#define SKIP(c, ...) (snprintf((c)->reason, sizeof((c)->reason), __VA_ARGS__), TW_ENOTSUP)

static int add_node(struct tw_ruleset *rs, uint8_t type, uint32_t a, uint32_t n, uint32_t k,
                    uint32_t *out)
{
    if (rs->n_nodes >= UINT32_MAX ||
        grow((void **)&rs->nodes, &rs->nodes_cap, rs->n_nodes + 1, sizeof(*rs->nodes)))
        return TW_ENOMEM;
    rs->nodes[rs->n_nodes] = (struct node){type, a, n, k};
    *out = (uint32_t)rs->n_nodes++;
    return 0;
}

/* ATLEAST k of the children in v; a single child with k = 1 is the child itself. */
static int add_atleast(struct tw_ruleset *rs, const struct u32vec *v, uint32_t k, uint32_t *out)
{
    uint32_t first = (uint32_t)rs->n_kids;

    if (v->n == 1 && k == 1) {
        *out = v->v[0];
        return 0;
    }
    if (v->n > UINT32_MAX ||
        grow((void **)&rs->kids, &rs->kids_cap, rs->n_kids + v->n, sizeof(*rs->kids)))
        return TW_ENOMEM;
    if (v->n)
        memcpy(rs->kids + rs->n_kids, v->v, v->n * sizeof(*v->v));
    rs->n_kids += v->n;
    return add_node(rs, N_ATLEAST, first, (uint32_t)v->n, k, out);
}

static int add_matcher(struct tw_ruleset *rs, const struct matcher *m, uint32_t *out)
{
    if (rs->n_m >= UINT32_MAX || grow((void **)&rs->m, &rs->m_cap, rs->n_m + 1, sizeof(*rs->m)))
        return TW_ENOMEM;
    rs->m[rs->n_m] = *m;
    return add_node(rs, N_MATCH, (uint32_t)rs->n_m++, 0, 0, out);
}

static const struct ynode *ykid(const struct ydoc *d, const struct ynode *n, size_t i)
{
    return &d->nodes[d->kids[n->a + i]];
}

static const char *scalar(const struct ydoc *d, const struct ynode *n)
{
    return (n && n->type == Y_SCALAR) ? d->text + n->a : NULL;
}

static bool is_null(const struct ydoc *d, const struct ynode *n)
{
    const char *s;

    if (!n || n->type != Y_SCALAR || !n->plain)
        return false;
    s = d->text + n->a;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static bool is_true(const char *s)
{
    return strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0;
}

static bool is_false(const char *s)
{
    return strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0;
}

static const struct ynode *map_get(const struct ydoc *d, const struct ynode *map, const char *key)
{
    if (!map || map->type != Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = scalar(d, ykid(d, map, 2 * i));
        if (k && strcmp(k, key) == 0)
            return ykid(d, map, 2 * i + 1);
    }
    return NULL;
}

/* Zeek dns.log field names, for logsource category (or service) dns. QueryType
 * holds the type mnemonic ("TXT"), which is Zeek's qtype_name; Zeek's numeric
 * qtype has no counterpart. */
static enum tw_field zeek_field(const char *name)
{
    static const struct {
        const char *zeek;
        enum tw_field f;
    } map[] = {
        {"query", TW_F_QUERY_NAME},        {"qtype_name", TW_F_QUERY_TYPE},
        {"id.orig_h", TW_F_SOURCE_IP},     {"id.orig_p", TW_F_SOURCE_PORT},
        {"id.resp_h", TW_F_DESTINATION_IP}, {"id.resp_p", TW_F_DESTINATION_PORT},
        {"proto", TW_F_PROTOCOL},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(map); i++)
        if (strcmp(map[i].zeek, name) == 0)
            return map[i].f;
    return tw_field_lookup(name);
}

enum tok_kind { TK_LIT, TK_STAR, TK_ONE };

/*
 * Compiles one string value under a string modifier (0, 'c'ontains,
 * 's'tartswith, 'e'ndswith) into a matcher: parses Sigma escapes (\* \? \\;
 * any other backslash is literal), adds the modifier's wildcards, and picks
 * the cheapest kind that expresses the pattern.
 */
static int compile_string(const char *s, size_t len, char mod, struct matcher *m)
{
    uint8_t *kind = malloc(len + 2);
    char *ch = malloc(len + 2);
    size_t nt = 0, stars = 0, ones = 0, out = 0;
    int rc = TW_ENOMEM;

    if (!kind || !ch)
        goto out_free;
    if (mod == 'c' || mod == 'e')
        kind[nt++] = TK_STAR;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
            kind[nt] = TK_LIT;
            ch[nt++] = lower(s[++i]);
        } else if (s[i] == '*') {
            if (nt == 0 || kind[nt - 1] != TK_STAR)
                kind[nt++] = TK_STAR;
        } else if (s[i] == '?') {
            kind[nt++] = TK_ONE;
        } else {
            kind[nt] = TK_LIT;
            ch[nt++] = lower(s[i]);
        }
    }
    if ((mod == 'c' || mod == 's') && (nt == 0 || kind[nt - 1] != TK_STAR))
        kind[nt++] = TK_STAR;
    for (size_t i = 0; i < nt; i++) {
        stars += kind[i] == TK_STAR;
        ones += kind[i] == TK_ONE;
    }

    if (ones == 0 && stars == 0)
        m->kind = MK_EXACT;
    else if (ones == 0 && stars == 1 && nt > 1 && kind[0] == TK_STAR)
        m->kind = MK_SUFFIX;
    else if (ones == 0 && stars == 1 && nt > 1 && kind[nt - 1] == TK_STAR)
        m->kind = MK_PREFIX;
    else if (ones == 0 && stars == 2 && nt > 2 && kind[0] == TK_STAR && kind[nt - 1] == TK_STAR)
        m->kind = MK_CONTAINS;
    else
        m->kind = MK_GLOB;

    m->pat = malloc(2 * nt + 1);
    if (!m->pat)
        goto out_free;
    for (size_t i = 0; i < nt; i++) {
        if (m->kind == MK_GLOB) {
            if (kind[i] == TK_STAR)
                m->pat[out++] = '*';
            else if (kind[i] == TK_ONE)
                m->pat[out++] = '?';
            else {
                if (ch[i] == '*' || ch[i] == '?' || ch[i] == '\\')
                    m->pat[out++] = '\\';
                m->pat[out++] = ch[i];
            }
        } else if (kind[i] == TK_LIT) {
            m->pat[out++] = ch[i];
        }
    }
    m->pat[out] = '\0';
    m->len = (uint32_t)out;
    rc = 0;
out_free:
    free(kind);
    free(ch);
    return rc;
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
    m->pat = dup_lower(s, strlen(s));
    if (!m->pat)
        return TW_ENOMEM;
    m->len = (uint32_t)strlen(m->pat);
    return 0;
}

/* One "Field|mod|mod: value(s)" entry of a selection map. */
static int compile_field(struct lctx *c, const char *key, const struct ynode *val, uint32_t *out)
{
    char fname[128];
    const char *bar = strchr(key, '|');
    size_t flen = bar ? (size_t)(bar - key) : strlen(key);
    enum tw_field f;
    char strmod = 0;
    bool all = false, cidr = false, exists = false;
    struct u32vec kids = {0};
    bool seq = false;
    size_t nvals = 1;
    int rc;

    if (flen == 0)
        return SKIP(c, "keyword search ('%s') not supported", key);
    if (flen >= sizeof(fname))
        return SKIP(c, "field name too long");
    memcpy(fname, key, flen);
    fname[flen] = '\0';
    f = c->zeek ? zeek_field(fname) : tw_field_lookup(fname);
    if (f == TW_F__COUNT)
        return SKIP(c, "field '%s' not observable", fname);
    if (!tw_field_in_category(f, c->cat))
        return SKIP(c, "field '%s' not in category %s", fname, tw_category_name(c->cat));
    if (tw_field_is_process(f) && !c->rs->process_fields)
        return SKIP(c, "field '%s' needs process attribution (--local-processes)", fname);

    while (bar) {
        const char *mod = bar + 1;
        size_t ml;

        bar = strchr(mod, '|');
        ml = bar ? (size_t)(bar - mod) : strlen(mod);
        if (ml == 3 && memcmp(mod, "all", 3) == 0) {
            all = true;
            continue;
        }
        if (strmod || cidr || exists)
            return SKIP(c, "conflicting modifiers in '%s'", key);
        if (ml == 8 && memcmp(mod, "contains", 8) == 0)
            strmod = 'c';
        else if (ml == 10 && memcmp(mod, "startswith", 10) == 0)
            strmod = 's';
        else if (ml == 8 && memcmp(mod, "endswith", 8) == 0)
            strmod = 'e';
        else if (ml == 4 && memcmp(mod, "cidr", 4) == 0)
            cidr = true;
        else if (ml == 6 && memcmp(mod, "exists", 6) == 0)
            exists = true;
        else
            return SKIP(c, "unsupported modifier '%.*s'", (int)(ml > 64 ? 64 : ml), mod);
    }

    if (val->type == Y_SEQ) {
        seq = true;
        nvals = val->n;
    } else if (val->type != Y_SCALAR) {
        return SKIP(c, "value of '%s' is a map", key);
    }
    if (exists && seq)
        return SKIP(c, "exists needs one boolean value");

    for (size_t i = 0; i < nvals; i++) {
        const struct ynode *v = seq ? ykid(c->doc, val, i) : val;
        struct matcher m = {0};
        uint32_t ni;
        const char *s = scalar(c->doc, v);

        m.field = (uint8_t)f;
        if (!s) {
            rc = SKIP(c, "value of '%s' is not a string", key);
            goto out_free;
        }
        if (exists) {
            if (is_true(s))
                m.kind = MK_EXISTS;
            else if (is_false(s))
                m.kind = MK_NULL;
            else {
                rc = SKIP(c, "exists needs true or false");
                goto out_free;
            }
        } else if (is_null(c->doc, v)) {
            m.kind = MK_NULL;
        } else if (cidr) {
            rc = compile_cidr(c, s, &m);
            if (rc)
                goto out_free;
        } else {
            rc = compile_string(s, v->n, strmod, &m);
            if (rc)
                goto out_free;
        }
        rc = add_matcher(c->rs, &m, &ni);
        if (rc) {
            free(m.pat);
            goto out_free;
        }
        rc = u32_push(&kids, ni);
        if (rc)
            goto out_free;
    }
    rc = add_atleast(c->rs, &kids, all ? (uint32_t)kids.n : 1, out);
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
    rc = add_atleast(c->rs, &kids, (uint32_t)kids.n, out);
out_free:
    free(kids.v);
    return rc;
}

static int compile_selection(struct lctx *c, const char *name, const struct ynode *sel,
                             uint32_t *out)
{
    struct u32vec kids = {0};
    int rc = 0;

    if (sel->type == Y_MAP)
        return compile_map(c, sel, out);
    if (sel->type == Y_SCALAR)
        return SKIP(c, "keyword search ('%s') not supported", name);
    for (size_t i = 0; i < sel->n; i++) {
        const struct ynode *item = ykid(c->doc, sel, i);
        uint32_t ni;

        if (item->type != Y_MAP) {
            rc = SKIP(c, "keyword search ('%s') not supported", name);
            goto out_free;
        }
        rc = compile_map(c, item, &ni);
        if (rc)
            goto out_free;
        rc = u32_push(&kids, ni);
        if (rc)
            goto out_free;
    }
    rc = add_atleast(c->rs, &kids, 1, out);
out_free:
    free(kids.v);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Conditions                                                               */

struct sel {
    const char *name;
    uint32_t node;
};

enum ctok { CT_END, CT_IDENT, CT_NUM, CT_LP, CT_RP, CT_AND, CT_OR, CT_NOT, CT_OF, CT_ALL,
            CT_THEM, CT_PIPE, CT_BAD };

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
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == '*';
}

static bool word_is(const struct cparse *p, const char *w)
{
    size_t n = strlen(w);

    if (p->tlen != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(p->tstart[i]) != w[i])
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
    return SKIP(p->c, "condition syntax error at '%.*s'", (int)TW_MIN(p->tlen, 64),
                p->tstart);
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
    rc = add_atleast(p->c->rs, &kids, all ? (uint32_t)kids.n : (uint32_t)k, out);
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
            rc = add_node(p->c->rs, N_NOT, child, 0, 0, out);
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
        rc = SKIP(p->c, "condition references unknown identifier '%.*s'",
                  (int)TW_MIN(p->tlen, 64), p->tstart);
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
    rc = add_atleast(p->c->rs, &kids, (uint32_t)kids.n, out);
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
    rc = add_atleast(p->c->rs, &kids, 1, out);
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

static int compile_detection(struct lctx *c, const struct ynode *det, uint32_t *root)
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
        if ((rc = compile_selection(c, k, v, &sels[n_sels].node)))
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
    rc = add_atleast(c->rs, &conds, 1, root);
out_free:
    free(conds.v);
    free(sels);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Rules and files                                                          */

static int logsource(struct lctx *c, const struct ynode *ls)
{
    const char *cat, *svc;

    if (!ls || ls->type != Y_MAP)
        return SKIP(c, "missing logsource");
    cat = scalar(c->doc, map_get(c->doc, ls, "category"));
    svc = scalar(c->doc, map_get(c->doc, ls, "service"));
    if (cat && strcmp(cat, "network_connection") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
    } else if (cat && strcmp(cat, "dns_query") == 0) {
        c->cat = TW_CAT_DNS_QUERY;
    } else if ((cat && strcmp(cat, "dns") == 0) || (!cat && svc && strcmp(svc, "dns") == 0)) {
        c->cat = TW_CAT_DNS_QUERY;
        c->zeek = true;
    } else if (cat) {
        return SKIP(c, "logsource category '%s' not observed", cat);
    } else if (svc) {
        return SKIP(c, "logsource service '%s' not observed", svc);
    } else {
        return SKIP(c, "logsource has no category");
    }
    return 0;
}

/* A rule is one allocation: the struct, its tag pointers, then its strings. */
static void rule_free(struct rule *r)
{
    free(r);
}

static size_t str_size(const char *s)
{
    return (s ? strlen(s) : 0) + 1;
}

/* Copies s ("" if NULL) to *at and advances *at past its NUL. */
static char *put_str(char **at, const char *s)
{
    size_t n = str_size(s) - 1;
    char *d = *at;

    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

static int make_rule(struct tw_ruleset *rs, const struct ydoc *d, const struct ynode *root,
                     const char *id, enum tw_category cat, uint32_t node)
{
    const struct ynode *tags = map_get(d, root, "tags");
    const char *title = scalar(d, map_get(d, root, "title"));
    const char *level = scalar(d, map_get(d, root, "level"));
    size_t size = sizeof(struct rule) + str_size(id) + str_size(title) + str_size(level);
    size_t n_slots = 0;
    struct rule *r;
    char *at;

    if (tags && tags->type != Y_SEQ)
        tags = NULL;
    if (tags) {
        n_slots = tags->n ? tags->n : 1;
        size += n_slots * sizeof(char *);
        for (size_t i = 0; i < tags->n; i++)
            size += str_size(scalar(d, ykid(d, tags, i)));
    }
    if (grow((void **)&rs->rules, &rs->rules_cap, rs->n_rules + 1, sizeof(*rs->rules)))
        return TW_ENOMEM;
    r = calloc(1, size);
    if (!r)
        return TW_ENOMEM;
    at = (char *)(r + 1);
    if (tags) {
        r->tags = (char **)(void *)at;
        at += n_slots * sizeof(char *);
    }
    r->id = put_str(&at, id);
    r->title = put_str(&at, title);
    r->level = put_str(&at, level);
    for (size_t i = 0; tags && i < tags->n; i++) {
        const char *t = scalar(d, ykid(d, tags, i));

        if (t)
            r->tags[r->info.n_tags++] = put_str(&at, t);
    }
    r->info.id = r->id;
    r->info.title = r->title;
    r->info.level = r->level;
    r->info.file = rs->files[rs->n_files - 1];
    r->info.tags = (const char *const *)r->tags;
    r->info.category = cat;
    r->root = node;
    rs->rules[rs->n_rules++] = r;
    return 0;
}

/* Drops the graph built for a rule that is then skipped. */
static void rollback(struct tw_ruleset *rs, size_t n_nodes, size_t n_kids, size_t n_m)
{
    for (size_t i = n_m; i < rs->n_m; i++)
        free(rs->m[i].pat);
    rs->n_m = n_m;
    rs->n_nodes = n_nodes;
    rs->n_kids = n_kids;
}

/* Compiles the document in d into a rule, or writes why it is skipped to msgs.
 * 0 or TW_ENOMEM. */
static int load_doc(struct tw_ruleset *rs, const char *file, const struct ydoc *d, size_t docno,
                    FILE *msgs)
{
    struct lctx c = {.rs = rs, .doc = d};
    const struct ynode *root = d->n_nodes ? &d->nodes[0] : NULL;
    size_t n_nodes = rs->n_nodes, n_kids = rs->n_kids, n_m = rs->n_m;
    const char *id = scalar(d, map_get(d, root, "id"));
    char idbuf[48];
    uint32_t node = 0;
    int rc;

    if (!root || is_null(d, root))
        return 0; /* empty document, e.g. after a trailing '---' */
    if (!id || !*id) {
        snprintf(idbuf, sizeof(idbuf), "(document %zu)", docno);
        id = idbuf;
    }
    if (root->type != Y_MAP)
        rc = SKIP(&c, "document is not a map");
    else if (id == idbuf)
        rc = SKIP(&c, "missing id");
    else if (!(rc = logsource(&c, map_get(d, root, "logsource"))))
        rc = compile_detection(&c, map_get(d, root, "detection"), &node);
    if (!rc)
        rc = make_rule(rs, d, root, id, c.cat, node);
    if (rc) {
        rollback(rs, n_nodes, n_kids, n_m);
        if (rc == TW_ENOMEM)
            return rc;
        fprintf(msgs, "%s: rule %s skipped: %s\n", file, id, c.reason);
        rs->st.skipped++;
        return 0;
    }
    rs->st.loaded++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Building a document tree from libyaml events                             */

static void ydoc_reset(struct ydoc *d)
{
    d->n_nodes = d->n_kids = d->n_pend = d->n_text = d->n_anchors = 0;
    d->depth = 0;
}

static void ydoc_free(struct ydoc *d)
{
    free(d->nodes);
    free(d->kids);
    free(d->pend);
    free(d->text);
    free(d->anchors);
    *d = (struct ydoc){0};
}

/* Appends len bytes and a NUL to d->text; *off is where they start. */
static int ydoc_text(struct ydoc *d, const void *s, size_t len, uint32_t *off)
{
    if (len >= UINT32_MAX - d->n_text ||
        grow((void **)&d->text, &d->text_cap, d->n_text + len + 1, 1))
        return TW_ENOMEM;
    if (len)
        memcpy(d->text + d->n_text, s, len);
    d->text[d->n_text + len] = '\0';
    *off = (uint32_t)d->n_text;
    d->n_text += len + 1;
    return 0;
}

/* Makes node idx the next child of the innermost open container, if any. */
static int ydoc_link(struct ydoc *d, uint32_t idx)
{
    if (d->depth == 0)
        return 0;
    if (grow((void **)&d->pend, &d->pend_cap, d->n_pend + 1, sizeof(*d->pend)))
        return TW_ENOMEM;
    d->pend[d->n_pend++] = idx;
    return 0;
}

static int ydoc_close(struct ydoc *d)
{
    const struct yopen *o = &d->open[--d->depth];
    struct ynode *nd = &d->nodes[o->node];
    size_t cnt = d->n_pend - o->pend;

    if (cnt >= UINT32_MAX - d->n_kids ||
        grow((void **)&d->kids, &d->kids_cap, d->n_kids + cnt, sizeof(*d->kids)))
        return TW_ENOMEM;
    if (cnt)
        memcpy(d->kids + d->n_kids, d->pend + o->pend, cnt * sizeof(*d->kids));
    nd->a = (uint32_t)d->n_kids;
    nd->n = (uint32_t)(nd->type == Y_MAP ? cnt / 2 : cnt);
    d->n_kids += cnt;
    d->n_pend = o->pend;
    return 0;
}

/*
 * Adds what a node event says to d, with yaml_parser_load()'s composer rules
 * for anchors and aliases. Returns 0, TW_ENOMEM, or TW_EINVAL with *problem
 * set to libyaml's message for that composer error. The caller keeps the
 * nesting below YAML_DEPTH_MAX.
 */
static int ydoc_event(struct ydoc *d, const yaml_event_t *e, const char **problem)
{
    const char *anchor = NULL;
    struct ynode nd = {0};
    uint32_t idx;
    int rc;

    switch (e->type) {
    case YAML_ALIAS_EVENT:
        for (size_t i = 0; i < d->n_anchors; i++)
            if (strcmp(d->text + d->anchors[i].name, (const char *)e->data.alias.anchor) == 0)
                return ydoc_link(d, d->anchors[i].node);
        *problem = "found undefined alias";
        return TW_EINVAL;
    case YAML_SCALAR_EVENT:
        nd.type = Y_SCALAR;
        nd.plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        nd.n = (uint32_t)e->data.scalar.length;
        if ((rc = ydoc_text(d, e->data.scalar.value, e->data.scalar.length, &nd.a)))
            return rc;
        anchor = (const char *)e->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        nd.type = Y_SEQ;
        anchor = (const char *)e->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        nd.type = Y_MAP;
        anchor = (const char *)e->data.mapping_start.anchor;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return ydoc_close(d);
    default:
        return 0;
    }
    if (nd.type != Y_SCALAR && d->depth >= YAML_DEPTH_MAX)
        return TW_ENOMEM; /* the caller's nesting limit makes this unreachable */
    if (d->n_nodes >= UINT32_MAX ||
        grow((void **)&d->nodes, &d->nodes_cap, d->n_nodes + 1, sizeof(*d->nodes)))
        return TW_ENOMEM;
    idx = (uint32_t)d->n_nodes;
    d->nodes[d->n_nodes++] = nd;
    if ((rc = ydoc_link(d, idx)))
        return rc;
    if (nd.type != Y_SCALAR) {
        d->open[d->depth].node = idx;
        d->open[d->depth++].pend = d->n_pend;
    }
    if (!anchor)
        return 0;
    for (size_t i = 0; i < d->n_anchors; i++) {
        if (strcmp(d->text + d->anchors[i].name, anchor) == 0) {
            *problem = "second occurrence"; /* libyaml's problem text for a duplicate anchor */
            return TW_EINVAL;
        }
    }
    if (grow((void **)&d->anchors, &d->anchors_cap, d->n_anchors + 1, sizeof(*d->anchors)) ||
        ydoc_text(d, anchor, strlen(anchor), &d->anchors[d->n_anchors].name))
        return TW_ENOMEM;
    d->anchors[d->n_anchors++].node = idx;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

struct yinput {
    FILE *f;
    int err; /* errno of a failed read */
};

static int yaml_read(void *data, unsigned char *buf, size_t size, size_t *size_read)
{
    struct yinput *in = data;

    *size_read = fread(buf, 1, size, in->f);
    if (*size_read == 0 && ferror(in->f)) {
        in->err = errno ? errno : EIO;
        return 0;
    }
    return 1;
}

static void yaml_report(const char *file, const yaml_parser_t *p, FILE *f, FILE *errlog)
{
    yaml_mark_t mk = p->problem_mark;

    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding) carry only a byte offset. */
        mk.line = 0;
        mk.column = 0;
        rewind(f);
        for (size_t i = 0; i < p->problem_offset; i++) {
            int ch = getc(f);

            if (ch == EOF)
                break;
            if (ch == '\n') {
                mk.line++;
                mk.column = 0;
            } else {
                mk.column++;
            }
        }
    }
    fprintf(errlog, "%s:%zu:%zu: yaml error: %s\n", file, mk.line + 1, mk.column + 1,
            p->problem ? p->problem : "unknown error");
}

/* What a file added to the rule set, so that a broken file can be taken out. */
struct file_mark {
    size_t n_rules, n_nodes, n_kids, n_m, loaded, skipped;
};

static void file_undo(struct tw_ruleset *rs, const struct file_mark *fm)
{
    for (size_t i = fm->n_rules; i < rs->n_rules; i++)
        rule_free(rs->rules[i]);
    rs->n_rules = fm->n_rules;
    rollback(rs, fm->n_nodes, fm->n_kids, fm->n_m);
    rs->st.loaded = fm->loaded;
    rs->st.skipped = fm->skipped;
    free(rs->files[--rs->n_files]);
}

/*
 * Parses the file once, compiling each document as it ends. What the rules
 * have to say goes to a buffer that reaches errlog only if the whole file
 * parsed: a syntax error (or nesting beyond YAML_DEPTH_MAX, which would make
 * later walks of the tree deep) takes every rule of the file out again and
 * leaves one line. A composer error (undefined or duplicate anchor) keeps the
 * rules of the documents before it, as yaml_parser_load() would have.
 */
static int load_file(struct tw_ruleset *rs, struct ydoc *d, const char *path, FILE *errlog)
{
    struct file_mark fm = {rs->n_rules, rs->n_nodes,   rs->n_kids,
                           rs->n_m,     rs->st.loaded, rs->st.skipped};
    struct yinput in = {0};
    const char *problem = NULL; /* composer error: no document after it is loaded */
    yaml_mark_t problem_mark = {0};
    char *msg = NULL, *name;
    size_t msg_len = 0, docno = 0;
    FILE *msgs = NULL;
    yaml_parser_t p;
    yaml_event_t e;
    bool done = false;
    int nest = 0, rc = 0;

    in.f = fopen(path, "rb");
    if (!in.f) {
        fprintf(errlog, "%s: cannot read: %s\n", path, strerror(errno));
        rs->st.errors++;
        return TW_EINVAL;
    }
    name = strdup(path);
    if (!name || grow((void **)&rs->files, &rs->files_cap, rs->n_files + 1, sizeof(*rs->files))) {
        free(name);
        fclose(in.f);
        return TW_ENOMEM;
    }
    rs->files[rs->n_files++] = name;
    rs->st.files++;
    msgs = open_memstream(&msg, &msg_len);
    if (!msgs || !yaml_parser_initialize(&p)) {
        rc = TW_ENOMEM;
        goto out_undo;
    }
    yaml_parser_set_input(&p, yaml_read, &in);
    while (!done) {
        if (!yaml_parser_parse(&p, &e)) {
            rc = p.error == YAML_MEMORY_ERROR ? TW_ENOMEM : TW_EINVAL;
            if (rc == TW_EINVAL && in.err) {
                fprintf(errlog, "%s: cannot read: %s\n", path, strerror(in.err));
                rs->st.files--;
                rs->st.errors++;
            } else if (rc == TW_EINVAL) {
                yaml_report(path, &p, in.f, errlog);
                rs->st.errors++;
            }
            goto out_parser;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
            nest++;
        else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
            nest--;
        if (nest > YAML_DEPTH_MAX) {
            fprintf(errlog, "%s:%zu:%zu: yaml error: nesting deeper than %d\n", path,
                    e.start_mark.line + 1, e.start_mark.column + 1, YAML_DEPTH_MAX);
            rs->st.errors++;
            yaml_event_delete(&e);
            rc = TW_EINVAL;
            goto out_parser;
        }
        if (!problem) {
            if (e.type == YAML_DOCUMENT_START_EVENT) {
                docno++;
                ydoc_reset(d);
            } else if (e.type == YAML_DOCUMENT_END_EVENT) {
                rc = load_doc(rs, path, d, docno, msgs);
            } else {
                rc = ydoc_event(d, &e, &problem);
                if (rc == TW_EINVAL) {
                    problem_mark = e.start_mark;
                    rc = 0;
                }
            }
        }
        yaml_event_delete(&e);
        if (rc)
            goto out_parser;
    }
    yaml_parser_delete(&p);
    if (fclose(msgs) != 0) {
        msgs = NULL;
        rc = TW_ENOMEM;
        goto out_undo;
    }
    if (msg_len)
        fwrite(msg, 1, msg_len, errlog);
    free(msg);
    if (problem) {
        fprintf(errlog, "%s:%zu:%zu: yaml error: %s\n", path, problem_mark.line + 1,
                problem_mark.column + 1, problem);
        rs->st.errors++;
        rc = TW_EINVAL;
    }
    fclose(in.f);
    return rc;

out_parser:
    yaml_parser_delete(&p);
out_undo:
    file_undo(rs, &fm);
    if (msgs)
        fclose(msgs);
    free(msg);
    fclose(in.f);
    return rc;
}

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);

    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int worse(int a, int b)
{
    if (a == TW_ENOMEM || b == TW_ENOMEM)
        return TW_ENOMEM;
    return a ? a : b;
}

static int load_path(struct tw_ruleset *rs, struct ydoc *yd, const char *path, FILE *errlog,
                     int depth)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (stat(path, &sb) != 0) {
        fprintf(errlog, "%s: cannot read: %s\n", path, strerror(errno));
        rs->st.errors++;
        return TW_EINVAL;
    }
    if (!S_ISDIR(sb.st_mode))
        return load_file(rs, yd, path, errlog);
    if (depth >= DIR_DEPTH_MAX) {
        fprintf(errlog, "%s: directories nested too deeply\n", path);
        rs->st.errors++;
        return TW_EINVAL;
    }
    d = opendir(path);
    if (!d) {
        fprintf(errlog, "%s: cannot read: %s\n", path, strerror(errno));
        rs->st.errors++;
        return TW_EINVAL;
    }
    while ((de = readdir(d)) != NULL) {
        char *s;

        if (de->d_name[0] == '.') /* ., .., and hidden files (editor and VCS state) */
            continue;
        s = strdup(de->d_name);
        if (!s || grow((void **)&names, &cap, n + 1, sizeof(*names))) {
            free(s);
            rc = TW_ENOMEM;
            goto out_close;
        }
        names[n++] = s;
    }
    if (n > 1) /* qsort wants a non-NULL base even for no elements */
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n && rc != TW_ENOMEM; i++) {
        size_t plen = strlen(path) + strlen(names[i]) + 2;
        char *child = malloc(plen);

        if (!child) {
            rc = TW_ENOMEM;
            break;
        }
        snprintf(child, plen, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
                 names[i]);
        if (stat(child, &sb) == 0 && S_ISDIR(sb.st_mode))
            rc = worse(rc, load_path(rs, yd, child, errlog, depth + 1));
        else if (yaml_name(names[i]))
            rc = worse(rc, load_file(rs, yd, child, errlog));
        free(child);
    }
out_close:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

struct tw_ruleset *tw_ruleset_new(void)
{
    return calloc(1, sizeof(struct tw_ruleset));
}

static void uncompile(struct tw_ruleset *rs)
{
    tw_trie_free(rs->trie);
    rs->trie = NULL;
    for (int c = 0; c < TW_CAT__COUNT; c++) {
        free(rs->always[c].v);
        free(rs->gated[c].v);
        rs->always[c] = (struct u32vec){0};
        rs->gated[c] = (struct u32vec){0};
    }
    rs->st.indicators = 0;
    rs->compiled = false;
}

void tw_ruleset_set_process_fields(struct tw_ruleset *rs, bool on)
{
    rs->process_fields = on;
}

void tw_ruleset_free(struct tw_ruleset *rs)
{
    if (!rs)
        return;
    uncompile(rs);
    for (size_t i = 0; i < rs->n_rules; i++)
        rule_free(rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->n_m; i++)
        free(rs->m[i].pat);
    free(rs->m);
    free(rs->nodes);
    free(rs->kids);
    for (size_t i = 0; i < rs->n_files; i++)
        free(rs->files[i]);
    free(rs->files);
    free(rs);
}

int tw_ruleset_load(struct tw_ruleset *rs, const char *path, FILE *errlog)
{
    struct ydoc d = {0};
    int rc;

    if (!rs || !path)
        return TW_EINVAL;
    if (!errlog)
        errlog = stderr;
    uncompile(rs); /* rule pointers stay valid; the matcher must be rebuilt */
    rc = load_path(rs, &d, path, errlog, 0);
    ydoc_free(&d);
    return rc;
}

static bool is_indicator(const struct matcher *m)
{
    return (m->field == TW_F_DESTINATION_HOSTNAME || m->field == TW_F_QUERY_NAME) &&
           (m->kind == MK_EXACT || m->kind == MK_SUFFIX);
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

int tw_ruleset_compile(struct tw_ruleset *rs)
{
    struct tw_trie_key *keys = NULL;
    size_t n_keys = 0, keys_cap = 0;
    struct u32vec ind = {0};
    int rc = 0;

    if (!rs)
        return TW_EINVAL;
    uncompile(rs);
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
            (rc = grow((void **)&keys, &keys_cap, n_keys + ind.n, sizeof(*keys))))
            goto out_fail;
        for (size_t i = 0; i < ind.n; i++) {
            const struct matcher *m = &rs->m[ind.v[i]];

            keys[n_keys++] = (struct tw_trie_key){m->pat, m->len, m->kind == MK_SUFFIX,
                                                  (uint32_t)r};
        }
    }
    rs->trie = tw_trie_build(keys, n_keys);
    if (!rs->trie) {
        rc = TW_ENOMEM;
        goto out_fail;
    }
    rs->st.indicators = n_keys;
    rs->compiled = true;
    free(keys);
    free(ind.v);
    return 0;
out_fail:
    free(keys);
    free(ind.v);
    uncompile(rs);
    return rc;
}

void tw_ruleset_get_stats(const struct tw_ruleset *rs, struct tw_ruleset_stats *st)
{
    *st = rs->st;
}

/* The hostname field of events of category c. */
static enum tw_field name_field(enum tw_category c)
{
    return c == TW_CAT_DNS_QUERY ? TW_F_QUERY_NAME : TW_F_DESTINATION_HOSTNAME;
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

    if (!rs || !rs->compiled || !ev || (unsigned)ev->category >= TW_CAT__COUNT)
        return 0;
    cat = ev->category;
    al = rs->always[cat].v;
    na = rs->always[cat].n;

    if (rs->gated[cat].n &&
        tw_event_field(ev, name_field(cat), tmp, sizeof(tmp), &name, &name_len) && name) {
        size_t total = tw_trie_match(rs->trie, name, name_len, cand, CAND_MAX);

        if (total > CAND_MAX) {
            gl = rs->gated[cat].v; /* too many hits to hold: evaluate them all */
            ng = rs->gated[cat].n;
        } else {
            /* Keep this category's rules, sort into load order, drop repeats. */
            for (size_t i = 0; i < total; i++)
                if (rs->rules[cand[i]]->info.category == cat)
                    cand[ng++] = cand[i];
            for (size_t i = 1; i < ng; i++) {
                uint32_t x = cand[i];
                size_t j = i;

                for (; j > 0 && cand[j - 1] > x; j--)
                    cand[j] = cand[j - 1];
                cand[j] = x;
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
        if (eval(rs, rs->rules[r]->root, ev)) {
            hits++;
            if (fn)
                fn(&rs->rules[r]->info, ev, ctx);
        }
    }
    return hits;
}
