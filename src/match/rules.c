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
#include "tunwatch/match/rules.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tunwatch/match/acm.h"
#include "tunwatch/match/trie.h"
#include "tunwatch/base/alloc.h"

/* Candidates one match call collects from the trie and the automaton on its stack (16 KiB);
 * beyond this the call falls back to evaluating every gated rule of the category. Broad
 * indicators (endswith '.net', contains 'api') make hundreds of candidates for one name. */
#define CAND_MAX 4096
/* Nesting of parentheses / not in a condition; bounds evaluation recursion. */
#define COND_DEPTH_MAX 48
/* YAML nesting accepted in a rule file. */
#define YAML_DEPTH_MAX 64
/* Directory nesting followed by the loader. */
#define DIR_DEPTH_MAX 32
/* Values one field value may expand to (windash, base64offset). */
#define EXPAND_MAX 256
/* Match data kept for regular expressions; a call that finds all in use makes its own. */
#define MD_POOL 64
/* Lines of reasons tw_ruleset_explain() prints for one rule. */
#define WHY_MAX 8

/*
 * Fields beyond the event's: Sysmon's SourceIsIpv6 / DestinationIsIpv6 (network_connection),
 * derived from the address family; F_ANY is a keyword search over every string field.
 */
#define F_SRC_IS_IPV6 ((uint8_t)TW_F__COUNT)
#define F_DST_IS_IPV6 ((uint8_t)(TW_F__COUNT + 1))
#define F_ANY 0xffu
#define F_NONE 0xfeu /* no such field */

enum mkind {
    MK_EXACT,
    MK_PREFIX,
    MK_SUFFIX,
    MK_CONTAINS,
    MK_GLOB, /* pat holds '*' and '?' wildcards; '\' makes the next byte literal */
    MK_NULL, /* field absent or empty */
    MK_EXISTS,
    MK_CIDR,
    MK_RE,       /* PCRE2 search (unanchored) */
    MK_NUM,      /* numeric comparison: op against num */
    MK_FIELDREF, /* the value of field2, compared as refmod says */
};

enum numop { OP_GT, OP_GTE, OP_LT, OP_LTE, OP_NEQ };

struct matcher {
    uint8_t kind;
    uint8_t field;  /* enum tw_field, F_SRC_IS_IPV6, F_DST_IS_IPV6 or F_ANY */
    uint8_t family; /* MK_CIDR: AF_INET or AF_INET6 */
    uint8_t bits;   /* MK_CIDR: prefix length */
    bool cased;     /* compare case-sensitively (|cased): pat is as written */
    uint8_t op;     /* MK_NUM: enum numop */
    uint8_t field2; /* MK_FIELDREF: the other field */
    char refmod;    /* MK_FIELDREF: 0 equal, 'c'ontains, 's'tartswith, 'e'ndswith */
    uint32_t len;
    char *pat;  /* lowercased unless cased; NUL-terminated for convenience, may hold NULs */
    char *desc; /* "Field|mods: 'value'" as written, for tw_ruleset_explain() */
    pcre2_code *re;
    double num;
    uint8_t addr[16];
};

struct mdslot {
    atomic_flag busy;
    pcre2_match_data *md;
};

/* A skipped rule or a file error, kept for tw_ruleset_skip_reasons() and friends. */
struct problem {
    char *file;
    char *id;     /* skipped rule's id; NULL for a file error */
    char *reason; /* skip reason, or the error message */
    unsigned line, col;
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
    struct problem *probs;
    size_t n_probs, probs_cap;
    bool has_re;

    /* Built by tw_ruleset_compile(). */
    bool compiled;
    struct tw_trie *trie;
    struct tw_acm *acm;                  /* contains / startswith / wildcard literals */
    struct u32vec always[TW_CAT__COUNT]; /* rules evaluated for every event, load order */
    struct u32vec gated[TW_CAT__COUNT];  /* trie-gated rules, load order */
    struct mdslot *mdpool;               /* MD_POOL entries when a rule has a regex */
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

static bool eq_fold(const char *ev, const char *pat, size_t n, bool cased)
{
    if (cased)
        return memcmp(ev, pat, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lower(ev[i]) != pat[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Matching one field test                                                  */

/*
 * What an evaluation reads: the event, and which of its fields to treat as
 * absent (tw_ruleset_explain() evaluates events that carry only a name).
 */
struct evctx {
    const struct tw_event *ev;
    uint32_t absent; /* bit f: field f is absent */
    const struct tw_ruleset *rs;
};

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
            if ((!lit && pc == '?') || pc == (cased ? s[si] : lower(s[si]))) {
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
static bool parse_num(const char *s, size_t len, double *out)
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

    if (!parse_num(v, len, &x))
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
    return f == TW_F_DESTINATION_PORT || f == TW_F_SOURCE_PORT || f == TW_F_PROCESS_ID;
}

/* The value of field f for matching: the event's fields and the derived ones. */
static bool get_field(const struct evctx *x, unsigned f, char *tmp, size_t cap, const char **v,
                      size_t *len)
{
    const struct tw_event *ev = x->ev;

    if (f < 32 && (x->absent & (1u << f)))
        return false;
    if (f == F_SRC_IS_IPV6 || f == F_DST_IS_IPV6) {
        if (ev->category != TW_CAT_NETWORK_CONNECTION ||
            (ev->ip_version != 4 && ev->ip_version != 6))
            return false;
        *v = ev->ip_version == 6 ? "true" : "false";
        *len = strlen(*v);
        return true;
    }
    if (f >= TW_F__COUNT)
        return false;
    return tw_event_field(ev, (enum tw_field)f, tmp, cap, v, len) && *v;
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

/* Both sides folded: a field reference compares two event values. */
static bool eq_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

static bool fieldref_match(const struct evctx *x, const struct matcher *m, const char *v,
                           size_t len)
{
    char tmp[TW_FIELD_TMP];
    const char *r;
    size_t rl;

    if (!get_field(x, m->field2, tmp, sizeof(tmp), &r, &rl))
        return false;
    switch (m->refmod) {
    case 'c':
        for (size_t i = 0; rl <= len && i + rl <= len; i++)
            if (m->cased ? memcmp(v + i, r, rl) == 0 : eq_ci(v + i, r, rl))
                return true;
        return false;
    case 's':
        return rl <= len && (m->cased ? memcmp(v, r, rl) == 0 : eq_ci(v, r, rl));
    case 'e':
        return rl <= len && (m->cased ? memcmp(v + len - rl, r, rl) == 0
                                      : eq_ci(v + len - rl, r, rl));
    default:
        return rl == len && (m->cased ? memcmp(v, r, rl) == 0 : eq_ci(v, r, rl));
    }
}

static bool match_one(const struct evctx *x, const struct matcher *m)
{
    char tmp[TW_FIELD_TMP];
    const char *v = NULL;
    size_t len = 0;
    bool have;

    if (m->field == F_ANY) {
        /* Keyword: any string field of the event holds the value. */
        for (unsigned f = 0; f < TW_F__COUNT; f++) {
            if (is_numeric_field(f) || !get_field(x, f, tmp, sizeof(tmp), &v, &len))
                continue;
            if (test_value(x, m, v, len))
                return true;
        }
        return false;
    }
    have = get_field(x, m->field, tmp, sizeof(tmp), &v, &len);
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

static bool eval(const struct evctx *x, uint32_t ni)
{
    const struct tw_ruleset *rs = x->rs;
    const struct node *nd = &rs->nodes[ni];
    uint32_t yes = 0;

    switch (nd->type) {
    case N_MATCH:
        return match_one(x, &rs->m[nd->a]);
    case N_NOT:
        return !eval(x, nd->a);
    default:
        if (nd->k > nd->n)
            return false;
        for (uint32_t i = 0; i < nd->n; i++) {
            if (eval(x, rs->kids[nd->a + i]))
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
    int fmap;          /* enum fmap: the logsource's field names */
    char reason[256];  /* why the rule is skipped */
    char pending[256]; /* set: the rule compiles, but needs process attribution to load */
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

/* Field names of the logsources mapped onto tunwatch's events. */
enum fmap {
    FM_SIGMA,    /* network_connection, dns_query: Sigma taxonomy (Sysmon) names */
    FM_DNS,      /* category dns / service dns: Zeek dns.log and generic dns names */
    FM_PROXY,    /* category proxy: W3C extended log names, onto network_connection */
    FM_FIREWALL, /* category firewall: generic firewall names, onto network_connection */
};

struct fname_map {
    const char *name;
    unsigned f;
};

static const struct fname_map dns_names[] = {
    /* QueryType holds the type mnemonic ("TXT"): Zeek's qtype_name, the generic record_type.
     * Zeek's numeric qtype has no counterpart. */
    {"query", TW_F_QUERY_NAME},        {"qtype_name", TW_F_QUERY_TYPE},
    {"record_type", TW_F_QUERY_TYPE},  {"id.orig_h", TW_F_SOURCE_IP},
    {"id.orig_p", TW_F_SOURCE_PORT},   {"id.resp_h", TW_F_DESTINATION_IP},
    {"id.resp_p", TW_F_DESTINATION_PORT}, {"proto", TW_F_PROTOCOL},
};

static const struct fname_map proxy_names[] = {
    /* cs-host: the name the client connected to (TLS SNI, or the name it resolved to the
     * address). The HTTP Host header itself is not extracted. */
    {"cs-host", TW_F_DESTINATION_HOSTNAME}, {"dst_ip", TW_F_DESTINATION_IP},
    {"c-ip", TW_F_SOURCE_IP},               {"src_ip", TW_F_SOURCE_IP},
    {"dst_port", TW_F_DESTINATION_PORT},    {"src_port", TW_F_SOURCE_PORT},
};

static const struct fname_map firewall_names[] = {
    {"src_ip", TW_F_SOURCE_IP},     {"dst_ip", TW_F_DESTINATION_IP},
    {"src_port", TW_F_SOURCE_PORT}, {"dst_port", TW_F_DESTINATION_PORT},
};

static const struct fname_map sigma_extra[] = {
    {"SourceIsIpv6", F_SRC_IS_IPV6},
    {"DestinationIsIpv6", F_DST_IS_IPV6},
};

static unsigned map_lookup(const struct fname_map *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return m[i].f;
    return F_NONE;
}

static unsigned sigma_lookup(const char *name)
{
    enum tw_field f = tw_field_lookup(name);

    return f == TW_F__COUNT ? F_NONE : (unsigned)f;
}

/* The field a rule's field name means under its logsource, or F_NONE. */
static unsigned lookup_field(enum fmap fm, const char *name)
{
    unsigned f;

    switch (fm) {
    case FM_DNS:
        f = map_lookup(dns_names, TW_ARRAY_SIZE(dns_names), name);
        return f != F_NONE ? f : sigma_lookup(name);
    case FM_PROXY:
        return map_lookup(proxy_names, TW_ARRAY_SIZE(proxy_names), name);
    case FM_FIREWALL:
        return map_lookup(firewall_names, TW_ARRAY_SIZE(firewall_names), name);
    default:
        f = map_lookup(sigma_extra, TW_ARRAY_SIZE(sigma_extra), name);
        return f != F_NONE ? f : sigma_lookup(name);
    }
}

static bool field_in_category(unsigned f, enum tw_category c)
{
    if (f == F_SRC_IS_IPV6 || f == F_DST_IS_IPV6)
        return c == TW_CAT_NETWORK_CONNECTION;
    return tw_field_in_category((enum tw_field)f, c);
}

/* Name of field f for messages. */
static const char *field_label(unsigned f)
{
    if (f == F_SRC_IS_IPV6)
        return "SourceIsIpv6";
    if (f == F_DST_IS_IPV6)
        return "DestinationIsIpv6";
    if (f == F_ANY)
        return "keyword";
    return tw_field_name((enum tw_field)f);
}

/*
 * A value as Sigma sees it: a sequence of tokens, each a literal byte (0..255),
 * T_STAR ('*' wildcard) or T_ONE ('?' wildcard). Modifiers transform token
 * strings; the result compiles into one matcher each.
 */
#define T_STAR 0x100u
#define T_ONE 0x101u

struct tstr {
    uint16_t *t;
    size_t n;
};

struct tset {
    struct tstr v[EXPAND_MAX];
    size_t n;
};

static void tset_free(struct tset *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        free(ts->v[i].t);
    ts->n = 0;
}

static bool tstr_special(const struct tstr *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] >= T_STAR)
            return true;
    return false;
}

/* Parses Sigma escapes: \* \? \\ are literal, any other backslash is literal itself. */
static int tstr_parse(const char *s, size_t len, struct tstr *out)
{
    out->n = 0;
    out->t = malloc((len + 1) * sizeof(*out->t));
    if (!out->t)
        return TW_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '\\' && i + 1 < len && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\'))
            out->t[out->n++] = (unsigned char)s[++i];
        else if (ch == '*')
            out->t[out->n++] = T_STAR;
        else if (ch == '?')
            out->t[out->n++] = T_ONE;
        else
            out->t[out->n++] = ch;
    }
    return 0;
}

/* contains / startswith / endswith: a '*' at the start and/or end unless one is there. */
static int tstr_wild(struct tstr *s, bool front, bool back)
{
    uint16_t *t = malloc((s->n + 2) * sizeof(*t));
    size_t n = 0;

    if (!t)
        return TW_ENOMEM;
    if (front && (s->n == 0 || s->t[0] != T_STAR))
        t[n++] = T_STAR;
    if (s->n)
        memcpy(t + n, s->t, s->n * sizeof(*t));
    n += s->n;
    if (back && (n == 0 || t[n - 1] != T_STAR))
        t[n++] = T_STAR;
    free(s->t);
    s->t = t;
    s->n = n;
    return 0;
}

static bool word_tok(uint16_t t)
{
    return t < T_STAR && ((t >= 'a' && t <= 'z') || (t >= 'A' && t <= 'Z') ||
                          (t >= '0' && t <= '9') || t == '_' || t >= 0x80);
}

/*
 * windash: every '-' or '/' that starts a word (regex \B[-/]\b: no word character
 * before it, one after it) becomes each of '-', '/', en dash, em dash and horizontal
 * bar (UTF-8), all combinations.
 */
static int tset_windash(struct lctx *c, struct tset *ts);

/* UTF-16 (le, be, or le with a byte order mark) of the UTF-8 in the literal runs. */
static int tstr_utf16(struct lctx *c, struct tstr *s, char mode);

static int tstr_base64(struct lctx *c, struct tset *ts, bool offset);

/*
 * Compiles one token string into a matcher: picks the cheapest kind that expresses
 * it, lowercases literals unless cased.
 */
static int tstr_compile(const struct tstr *s, bool cased, struct matcher *m)
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
    m->pat = malloc(2 * nt + 1);
    if (!m->pat)
        return TW_ENOMEM;
    for (size_t i = 0; i < nt; i++) {
        char ch = k[i] < T_STAR ? (char)k[i] : 0;

        if (k[i] < T_STAR && !cased)
            ch = lower(ch);
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

static int tset_windash(struct lctx *c, struct tset *ts)
{
    static const char *const dash[] = {"-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95"};
    struct tset in = *ts;
    int rc = 0;

    ts->n = 0;
    for (size_t v = 0; v < in.n && !rc; v++) {
        const struct tstr *s = &in.v[v];
        size_t pos[16], np = 0, combos = 1;

        for (size_t i = 0; i < s->n; i++) {
            if ((s->t[i] == '-' || s->t[i] == '/') && (i == 0 || !word_tok(s->t[i - 1])) &&
                i + 1 < s->n && word_tok(s->t[i + 1])) {
                if (np == TW_ARRAY_SIZE(pos))
                    return SKIP(c, "windash expands to too many values");
                pos[np++] = i;
                combos *= TW_ARRAY_SIZE(dash);
                if (combos > EXPAND_MAX)
                    break;
            }
        }
        if (ts->n + combos > EXPAND_MAX) {
            rc = SKIP(c, "windash expands to too many values");
            break;
        }
        for (size_t k = 0; k < combos; k++) {
            struct tstr *o = &ts->v[ts->n];
            size_t sel = k, p = 0;

            o->n = 0;
            o->t = malloc((s->n * 3 + 1) * sizeof(*o->t));
            if (!o->t) {
                rc = TW_ENOMEM;
                break;
            }
            ts->n++;
            for (size_t i = 0; i < s->n; i++) {
                if (p < np && pos[p] == i) {
                    const char *d = dash[sel % TW_ARRAY_SIZE(dash)];

                    sel /= TW_ARRAY_SIZE(dash);
                    p++;
                    for (; *d; d++)
                        o->t[o->n++] = (unsigned char)*d;
                } else {
                    o->t[o->n++] = s->t[i];
                }
            }
        }
    }
    tset_free(&in);
    return rc;
}

static int tstr_utf16(struct lctx *c, struct tstr *s, char mode)
{
    uint16_t *t = malloc((s->n * 4 + 2) * sizeof(*t));
    size_t n = 0;

    if (!t)
        return TW_ENOMEM;
    if (mode == 'b') { /* utf16: byte order mark, then little endian */
        t[n++] = 0xff;
        t[n++] = 0xfe;
    }
    for (size_t i = 0; i < s->n;) {
        uint32_t cp;
        size_t need;
        uint16_t u[2];
        size_t nu = 1;

        if (s->t[i] >= T_STAR) {
            t[n++] = s->t[i++];
            continue;
        }
        cp = s->t[i];
        need = cp < 0x80 ? 0 : (cp & 0xe0) == 0xc0 ? 1 : (cp & 0xf0) == 0xe0 ? 2
             : (cp & 0xf8) == 0xf0 ? 3 : 4;
        if (need == 4 || i + need >= s->n + (need ? 0 : 1)) {
            free(t);
            return SKIP(c, "value is not valid UTF-8 for a utf16 modifier");
        }
        cp = need ? cp & (0x3fu >> need) : cp;
        for (size_t j = 1; j <= need; j++) {
            if (s->t[i + j] >= T_STAR || (s->t[i + j] & 0xc0) != 0x80) {
                free(t);
                return SKIP(c, "value is not valid UTF-8 for a utf16 modifier");
            }
            cp = cp << 6 | (s->t[i + j] & 0x3fu);
        }
        i += need + 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[0] = (uint16_t)(0xd800 | (cp >> 10));
            u[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
            nu = 2;
        } else {
            u[0] = (uint16_t)cp;
        }
        for (size_t j = 0; j < nu; j++) {
            if (mode == 'B') {
                t[n++] = u[j] >> 8;
                t[n++] = u[j] & 0xff;
            } else {
                t[n++] = u[j] & 0xff;
                t[n++] = u[j] >> 8;
            }
        }
    }
    free(s->t);
    s->t = t;
    s->n = n;
    return 0;
}

/* Standard base64 with padding of in[0..n) into out (4 * ((n + 2) / 3) tokens). */
static size_t b64(const uint8_t *in, size_t n, uint16_t *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t r = n - i;

        if (r > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (r > 2)
            v |= in[i + 2];
        out[o++] = (unsigned char)al[v >> 18 & 63];
        out[o++] = (unsigned char)al[v >> 12 & 63];
        out[o++] = r > 1 ? (unsigned char)al[v >> 6 & 63] : '=';
        out[o++] = r > 2 ? (unsigned char)al[v & 63] : '=';
    }
    return o;
}

/*
 * base64: the encoding of the value. base64offset: the three encodings of the value
 * at offsets 0, 1 and 2 of a longer text, trimmed to the characters that do not
 * depend on its neighbours (Sigma's definition: start offsets 0, 2, 3; end offsets
 * none, -3, -2 chosen by (len + offset) % 3).
 */
static int tstr_base64(struct lctx *c, struct tset *ts, bool offset)
{
    static const size_t start[3] = {0, 2, 3};
    static const size_t endcut[3] = {0, 3, 2};
    struct tset in = *ts;
    int rc = 0;

    ts->n = 0;
    for (size_t v = 0; v < in.n && !rc; v++) {
        const struct tstr *s = &in.v[v];
        uint8_t *bytes;

        if (tstr_special(s)) {
            rc = SKIP(c, "base64 of a value with wildcards");
            break;
        }
        if (ts->n + (offset ? 3 : 1) > EXPAND_MAX) {
            rc = SKIP(c, "value expands to too many values");
            break;
        }
        bytes = malloc(s->n + 3);
        if (!bytes) {
            rc = TW_ENOMEM;
            break;
        }
        for (size_t i = 0; i < (offset ? 3u : 1u) && !rc; i++) {
            struct tstr *o = &ts->v[ts->n];
            size_t n = i + s->n, enc, cut = endcut[(s->n + i) % 3], from = offset ? start[i] : 0;

            memset(bytes, ' ', i);
            for (size_t j = 0; j < s->n; j++)
                bytes[i + j] = (uint8_t)s->t[j];
            o->t = malloc((4 * ((n + 2) / 3) + 1) * sizeof(*o->t));
            if (!o->t) {
                rc = TW_ENOMEM;
                break;
            }
            ts->n++;
            enc = b64(bytes, n, o->t);
            if (!offset)
                cut = 0;
            if (from + cut > enc)
                from = enc, cut = 0;
            memmove(o->t, o->t + from, (enc - from - cut) * sizeof(*o->t));
            o->n = enc - from - cut;
        }
        free(bytes);
    }
    tset_free(&in);
    return rc;
}

/* Value-level modifiers of one "Field|mod|mod" key, in the order written. */
struct mods {
    bool all, cased, cidr, exists, re, fieldref, num;
    uint8_t op;
    uint32_t re_opts;
    char strmod;          /* last of contains/startswith/endswith, for re and fieldref */
    char chain[16];       /* value transforms in order: c s e w(indash) 6 (base64) o(ffset)
                             l(e) B(e) b(om) */
    size_t n_chain;
};

static int parse_mods(struct lctx *c, const char *key, const char *bar, struct mods *md)
{
    while (bar) {
        const char *mod = bar + 1;
        size_t ml;
        char t = 0;

        bar = strchr(mod, '|');
        ml = bar ? (size_t)(bar - mod) : strlen(mod);
#define IS(w) (ml == sizeof(w) - 1 && memcmp(mod, w, ml) == 0)
        if (IS("all")) {
            md->all = true;
            continue;
        }
        if (IS("cased")) {
            md->cased = true;
            continue;
        }
        if (md->re && (IS("i") || IS("ignorecase"))) {
            md->re_opts |= PCRE2_CASELESS;
            continue;
        }
        if (md->re && (IS("m") || IS("multiline"))) {
            md->re_opts |= PCRE2_MULTILINE;
            continue;
        }
        if (md->re && (IS("s") || IS("dotall"))) {
            md->re_opts |= PCRE2_DOTALL;
            continue;
        }
        if (IS("contains"))
            t = 'c';
        else if (IS("startswith"))
            t = 's';
        else if (IS("endswith"))
            t = 'e';
        else if (IS("windash"))
            t = 'w';
        else if (IS("base64"))
            t = '6';
        else if (IS("base64offset"))
            t = 'o';
        else if (IS("wide") || IS("utf16le"))
            t = 'l';
        else if (IS("utf16be"))
            t = 'B';
        else if (IS("utf16"))
            t = 'b';
        if (t) {
            if (md->cidr || md->exists || md->num || (md->re && !strchr("cse", t)) ||
                (md->strmod && strchr("cse", t)) ||
                (md->fieldref && !strchr("cse", t)))
                return SKIP(c, "conflicting modifiers in '%s'", key);
            if (t == 'c' || t == 's' || t == 'e')
                md->strmod = t;
            if (md->n_chain == sizeof(md->chain))
                return SKIP(c, "too many modifiers in '%s'", key);
            md->chain[md->n_chain++] = t;
            continue;
        }
        if (md->n_chain || md->cidr || md->exists || md->re || md->num || md->fieldref)
            return SKIP(c, "conflicting modifiers in '%s'", key);
        if (IS("cidr"))
            md->cidr = true;
        else if (IS("exists"))
            md->exists = true;
        else if (IS("re"))
            md->re = true;
        else if (IS("fieldref"))
            md->fieldref = true;
        else if (IS("gt") || IS("gte") || IS("lt") || IS("lte") || IS("neq")) {
            md->num = true;
            md->op = IS("gt") ? OP_GT : IS("gte") ? OP_GTE : IS("lt") ? OP_LT
                   : IS("lte") ? OP_LTE : OP_NEQ;
        } else if (IS("expand"))
            return SKIP(c, "modifier 'expand' needs placeholder values, which are not configured");
        else
            return SKIP(c, "unsupported modifier '%.*s'", (int)(ml > 64 ? 64 : ml), mod);
#undef IS
    }
    if (md->cased && (md->cidr || md->exists || md->re || md->num))
        return SKIP(c, "conflicting modifiers in '%s'", key);
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
    m->pat = dup_lower(s, strlen(s));
    if (!m->pat)
        return TW_ENOMEM;
    m->len = (uint32_t)strlen(m->pat);
    return 0;
}

static int compile_re(struct lctx *c, const char *s, size_t len, uint32_t opts,
                      struct matcher *m)
{
    int err;
    PCRE2_SIZE off;

    m->re = pcre2_compile((PCRE2_SPTR)s, len, opts | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err,
                          &off, NULL);
    if (!m->re) {
        PCRE2_UCHAR msg[128];

        pcre2_get_error_message(err, msg, sizeof(msg));
        return SKIP(c, "invalid regular expression: %s", (const char *)msg);
    }
    pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE); /* the interpreter runs it if JIT cannot */
    m->kind = MK_RE;
    m->pat = malloc(len + 1);
    if (m->pat) {
        memcpy(m->pat, s, len);
        m->pat[len] = '\0';
    }
    if (!m->pat)
        return TW_ENOMEM;
    m->len = (uint32_t)len;
    c->rs->has_re = true;
    return 0;
}

/* "Field|mods: 'value'" as written, for explanations. */
static char *make_desc(const char *key, const struct ynode *v, const char *s)
{
    size_t n = strlen(key) + (s ? strlen(s) : 0) + 8;
    char *d = malloc(n);

    if (!d)
        return NULL;
    if (!s)
        snprintf(d, n, "%s: (not a string)", key);
    else if (v->type == Y_SCALAR && v->plain && (s[0] == '\0' || strcmp(s, "~") == 0 ||
                                                  strcmp(s, "null") == 0))
        snprintf(d, n, "%s: null", key);
    else
        snprintf(d, n, "%s: '%s'", key, s);
    return d;
}

static void matcher_free(struct matcher *m)
{
    free(m->pat);
    free(m->desc);
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
    } else if (is_null(c->doc, v)) {
        if (f == F_ANY)
            return SKIP(c, "keyword search for null");
        base.kind = MK_NULL;
    } else if (md->cidr) {
        rc = compile_cidr(c, s, &base);
    } else if (md->re) {
        rc = compile_re(c, s, v->n, md->re_opts, &base);
    } else if (md->num) {
        if (!parse_num(s, v->n, &base.num))
            return SKIP(c, "'%s' needs a number", key);
        base.kind = MK_NUM;
        base.op = md->op;
    } else if (md->fieldref) {
        unsigned f2 = lookup_field(c->fmap, s);

        if (f2 == F_NONE)
            return SKIP(c, "field '%s' not observable", s);
        if (!field_in_category(f2, c->cat))
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
        if ((rc = tstr_parse(s, v->n, &ts.v[0])))
            return rc;
        ts.n = 1;
        for (size_t i = 0; i < md->n_chain && !rc; i++) {
            char t = md->chain[i];

            if (t == 'c' || t == 's' || t == 'e') {
                for (size_t j = 0; j < ts.n && !rc; j++)
                    rc = tstr_wild(&ts.v[j], t != 's', t != 'e');
            } else if (t == 'w') {
                rc = tset_windash(c, &ts);
            } else if (t == '6' || t == 'o') {
                rc = tstr_base64(c, &ts, t == 'o');
            } else {
                for (size_t j = 0; j < ts.n && !rc; j++)
                    rc = tstr_utf16(c, &ts.v[j], t);
            }
        }
        if (f == F_ANY && !md->strmod)
            for (size_t j = 0; j < ts.n && !rc; j++)
                rc = tstr_wild(&ts.v[j], true, true); /* a keyword is found anywhere */
    }
    if (rc) {
        matcher_free(&base);
        tset_free(&ts);
        return rc;
    }
    for (size_t j = 0; j < (ts.n ? ts.n : 1); j++) {
        m = base;
        if (ts.n) {
            m.pat = NULL;
            m.field = (uint8_t)f;
            if ((rc = tstr_compile(&ts.v[j], md->cased, &m)))
                break;
        } else if (j > 0) {
            break;
        }
        m.desc = make_desc(key, v, s);
        if (!m.desc || (rc = add_matcher(c->rs, &m, &ni))) {
            if (!ts.n)
                base.pat = NULL, base.re = NULL; /* m owned them */
            matcher_free(&m);
            rc = TW_ENOMEM;
            break;
        }
        if (!ts.n)
            base.pat = NULL, base.re = NULL;
        if ((rc = u32_push(kids, ni)))
            break;
    }
    if (!ts.n)
        matcher_free(&base);
    tset_free(&ts);
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
        f = lookup_field(c->fmap, fname);
        if (f == F_NONE)
            return SKIP(c, "field '%s' not observable", fname);
        if (!field_in_category(f, c->cat))
            return SKIP(c, "field '%s' not in category %s", fname, tw_category_name(c->cat));
        if (f < TW_F__COUNT && tw_field_is_process((enum tw_field)f) && !c->rs->process_fields &&
            !c->pending[0])
            snprintf(c->pending, sizeof(c->pending),
                     "field '%s' needs process attribution (--local-processes)", fname);
    }
    if ((rc = parse_mods(c, key, bar, &md)))
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
    rc = add_atleast(c->rs, &kids, md.all ? (uint32_t)kids.n : 1, out);
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
        rc = add_atleast(c->rs, &kids, 1, out);
    free(kids.v);
    return rc;
}

static int compile_selection(struct lctx *c, const struct ynode *sel, uint32_t *out)
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
        if ((rc = compile_selection(c, v, &sels[n_sels].node)))
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
    c->fmap = FM_SIGMA;
    if (cat && strcmp(cat, "network_connection") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
    } else if (cat && strcmp(cat, "dns_query") == 0) {
        c->cat = TW_CAT_DNS_QUERY;
    } else if ((cat && strcmp(cat, "dns") == 0) || (!cat && svc && strcmp(svc, "dns") == 0)) {
        c->cat = TW_CAT_DNS_QUERY;
        c->fmap = FM_DNS;
    } else if (cat && strcmp(cat, "proxy") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
        c->fmap = FM_PROXY;
    } else if (cat && strcmp(cat, "firewall") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
        c->fmap = FM_FIREWALL;
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
        matcher_free(&rs->m[i]);
    rs->n_m = n_m;
    rs->n_nodes = n_nodes;
    rs->n_kids = n_kids;
}

static int add_problem(struct tw_ruleset *rs, const char *file, const char *id, unsigned line,
                       unsigned col, const char *reason)
{
    struct problem *pr;

    if (grow((void **)&rs->probs, &rs->probs_cap, rs->n_probs + 1, sizeof(*rs->probs)))
        return TW_ENOMEM;
    pr = &rs->probs[rs->n_probs];
    *pr = (struct problem){strdup(file), id ? strdup(id) : NULL, strdup(reason), line, col};
    if (!pr->file || !pr->reason || (id && !pr->id)) {
        free(pr->file);
        free(pr->id);
        free(pr->reason);
        return TW_ENOMEM;
    }
    rs->n_probs++;
    return 0;
}

/* A file that could not be read or parsed: one line to errlog ("FILE:LINE:COL: MESSAGE",
 * or "FILE: MESSAGE" when the line is not known), counted and kept. */
__attribute__((format(printf, 6, 7))) static void
file_error(struct tw_ruleset *rs, FILE *errlog, const char *path, size_t line, size_t col,
           const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        fprintf(errlog, "%s:%zu:%zu: %s\n", path, line, col, msg);
    else
        fprintf(errlog, "%s: %s\n", path, msg);
    rs->st.errors++;
    add_problem(rs, path, NULL, (unsigned)line, (unsigned)col, msg); /* best effort */
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
    if (!rc && c.pending[0]) {
        memcpy(c.reason, c.pending, sizeof(c.reason));
        rc = TW_ENOTSUP;
    }
    if (!rc)
        rc = make_rule(rs, d, root, id, c.cat, node);
    if (rc) {
        rollback(rs, n_nodes, n_kids, n_m);
        if (rc == TW_ENOMEM || add_problem(rs, file, id, 0, 0, c.reason))
            return TW_ENOMEM;
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

static void yaml_report(struct tw_ruleset *rs, const char *file, const yaml_parser_t *p, FILE *f,
                        FILE *errlog)
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
    file_error(rs, errlog, file, mk.line + 1, mk.column + 1, "yaml error: %s",
               p->problem ? p->problem : "unknown error");
}

/* What a file added to the rule set, so that a broken file can be taken out. */
struct file_mark {
    size_t n_rules, n_nodes, n_kids, n_m, loaded, skipped, n_probs;
};

static void file_undo(struct tw_ruleset *rs, const struct file_mark *fm)
{
    for (size_t i = fm->n_rules; i < rs->n_rules; i++)
        rule_free(rs->rules[i]);
    rs->n_rules = fm->n_rules;
    rollback(rs, fm->n_nodes, fm->n_kids, fm->n_m);
    rs->st.loaded = fm->loaded;
    rs->st.skipped = fm->skipped;
    /* The file's skipped rules go; its error stays. */
    size_t w = fm->n_probs;
    for (size_t i = fm->n_probs; i < rs->n_probs; i++) {
        if (rs->probs[i].id) {
            free(rs->probs[i].file);
            free(rs->probs[i].id);
            free(rs->probs[i].reason);
        } else {
            rs->probs[w++] = rs->probs[i];
        }
    }
    rs->n_probs = w;
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
    struct file_mark fm = {rs->n_rules,    rs->n_nodes,    rs->n_kids, rs->n_m,
                           rs->st.loaded, rs->st.skipped, rs->n_probs};
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
        file_error(rs, errlog, path, 0, 0, "cannot read: %s", strerror(errno));
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
                file_error(rs, errlog, path, 0, 0, "cannot read: %s", strerror(in.err));
                rs->st.files--;
            } else if (rc == TW_EINVAL) {
                yaml_report(rs, path, &p, in.f, errlog);
            }
            goto out_parser;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
            nest++;
        else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
            nest--;
        if (nest > YAML_DEPTH_MAX) {
            file_error(rs, errlog, path, e.start_mark.line + 1, e.start_mark.column + 1,
                       "yaml error: nesting deeper than %d", YAML_DEPTH_MAX);
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
        file_error(rs, errlog, path, problem_mark.line + 1, problem_mark.column + 1,
                   "yaml error: %s", problem);
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
        file_error(rs, errlog, path, 0, 0, "cannot read: %s", strerror(errno));
        return TW_EINVAL;
    }
    if (!S_ISDIR(sb.st_mode))
        return load_file(rs, yd, path, errlog);
    if (depth >= DIR_DEPTH_MAX) {
        file_error(rs, errlog, path, 0, 0, "directories nested too deeply");
        return TW_EINVAL;
    }
    d = opendir(path);
    if (!d) {
        file_error(rs, errlog, path, 0, 0, "cannot read: %s", strerror(errno));
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
        matcher_free(&rs->m[i]);
    free(rs->m);
    free(rs->nodes);
    free(rs->kids);
    for (size_t i = 0; i < rs->n_files; i++)
        free(rs->files[i]);
    free(rs->files);
    for (size_t i = 0; i < rs->n_probs; i++) {
        free(rs->probs[i].file);
        free(rs->probs[i].id);
        free(rs->probs[i].reason);
    }
    free(rs->probs);
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
    uncompile(rs);
    rs->acm = tw_acm_new();
    if (!rs->acm)
        return TW_ENOMEM;
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
    if (rs->has_re) {
        rs->mdpool = calloc(MD_POOL, sizeof(*rs->mdpool));
        if (!rs->mdpool) {
            rc = TW_ENOMEM;
            goto out_fail;
        }
        for (size_t i = 0; i < MD_POOL; i++) {
            atomic_flag_clear(&rs->mdpool[i].busy);
            rs->mdpool[i].md = pcre2_match_data_create(1, NULL);
            if (!rs->mdpool[i].md) {
                rc = TW_ENOMEM;
                goto out_fail;
            }
        }
    }
    rs->st.indicators = n_keys + tw_acm_patterns(rs->acm);
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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
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
            size_t more = tw_acm_match_values(rs->acm, name, name_len, cand + total,
                                              CAND_MAX - total);
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
        if (eval(&x, rs->rules[r]->root)) {
            hits++;
            if (fn)
                fn(&rs->rules[r]->info, ev, ctx);
        }
    }
    return hits;
}

/* ------------------------------------------------------------------------ */
/* Load reports                                                             */

static int reason_cmp(const void *a, const void *b)
{
    const struct tw_reason_count *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->reason, y->reason);
}

size_t tw_ruleset_skip_reasons(const struct tw_ruleset *rs, struct tw_reason_count *out,
                               size_t cap)
{
    struct tw_reason_count *all;
    size_t n = 0;

    if (!rs || rs->n_probs == 0)
        return 0;
    all = calloc(rs->n_probs, sizeof(*all));
    if (!all)
        return 0;
    for (size_t i = 0; i < rs->n_probs; i++) {
        size_t j;

        if (!rs->probs[i].id)
            continue;
        for (j = 0; j < n && strcmp(all[j].reason, rs->probs[i].reason) != 0; j++)
            ;
        if (j == n)
            all[n++] = (struct tw_reason_count){rs->probs[i].reason, 0};
        all[j].count++;
    }
    if (n > 1)
        qsort(all, n, sizeof(*all), reason_cmp);
    if (out && cap)
        memcpy(out, all, TW_MIN(n, cap) * sizeof(*all));
    free(all);
    return n;
}

size_t tw_ruleset_skipped(const struct tw_ruleset *rs, struct tw_rule_skip *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; rs && i < rs->n_probs; i++) {
        if (!rs->probs[i].id)
            continue;
        if (out && n < cap)
            out[n] = (struct tw_rule_skip){rs->probs[i].file, rs->probs[i].id,
                                           rs->probs[i].reason};
        n++;
    }
    return n;
}

size_t tw_ruleset_errors(const struct tw_ruleset *rs, struct tw_rule_error *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; rs && i < rs->n_probs; i++) {
        if (rs->probs[i].id)
            continue;
        if (out && n < cap)
            out[n] = (struct tw_rule_error){rs->probs[i].file, rs->probs[i].line,
                                            rs->probs[i].col, rs->probs[i].reason};
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Explaining a name                                                        */

static bool is_name_field(unsigned f)
{
    return f == TW_F_QUERY_NAME || f == TW_F_DESTINATION_HOSTNAME;
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

        if (neg || !is_name_field(m->field) || !match_one(x, m))
            return false;
        if (out)
            fprintf(out, "    hit    %s\n", m->desc);
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
        fprintf(out, "    why    excluded by %s\n", m->desc);
        return;
    }
    if (f != F_ANY && !get_field(x, f, tmp, sizeof(tmp), &v, &len))
        fprintf(out, "    why    needs %s (%s is not in a name-only event)\n", m->desc,
                field_label(f));
    else if (f == F_ANY)
        fprintf(out, "    why    needs %s (no field holds it)\n", m->desc);
    else
        fprintf(out, "    why    needs %s (%s is '%.*s')\n", m->desc, field_label(f),
                (int)TW_MIN(len, 200), v);
}

/*
 * Prints why node ni is not `want` on x: the field tests that would have to change, at
 * most *budget lines. For a failed OR, the alternatives whose hostname tests hold are
 * explained (when none does, all of them are).
 */
static void why(const struct evctx *x, uint32_t ni, bool want, FILE *out, int *budget,
                int depth)
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
    for (uint32_t i = 0; i < nd->n && *budget > 0; i++) {
        uint32_t ch = rs->kids[nd->a + i];
        bool v = eval(x, ch);

        if (v == want)
            continue;
        if (hit_child && !name_hits(x, ch, false, NULL, depth + 1))
            continue;
        why(x, ch, want, out, budget, depth + 1);
    }
    if (*budget <= 0)
        fprintf(out, "    why    ...\n");
}

size_t tw_ruleset_explain(const struct tw_ruleset *rs, const char *name, FILE *out)
{
    char norm[256];
    size_t n = 0, matched = 0, shown = 0;
    struct tw_event ev[TW_CAT__COUNT];
    struct evctx x[TW_CAT__COUNT];

    if (!rs || !name || !out)
        return 0;
    for (; name[n] && n < sizeof(norm) - 1; n++)
        norm[n] = lower(name[n]);
    if (n && norm[n - 1] == '.')
        n--;
    norm[n] = '\0';
    for (int c = 0; c < TW_CAT__COUNT; c++) {
        ev[c] = (struct tw_event){.category = (enum tw_category)c, .raw = norm, .raw_len = n,
                                  .norm = norm, .norm_len = n, .initiated = true};
        ev[c].evidence = c == TW_CAT_DNS_QUERY ? TW_EV_DNS_QUERY : TW_EV_TLS_SNI;
        /* Only the name (and Initiated) are present. */
        x[c] = (struct evctx){&ev[c], 0, rs};
        for (unsigned f = 0; f < TW_F__COUNT; f++)
            if (f != TW_F_QUERY_NAME && f != TW_F_DESTINATION_HOSTNAME && f != TW_F_INITIATED)
                x[c].absent |= 1u << f;
    }
    fprintf(out, "name %s\n", norm);
    for (size_t r = 0; r < rs->n_rules; r++) {
        const struct rule *ru = rs->rules[r];
        const struct evctx *xc = &x[ru->info.category];
        bool ok = eval(xc, ru->root);
        int budget = WHY_MAX;

        if (!ok && !name_hits(xc, ru->root, false, NULL, 0))
            continue;
        matched += ok;
        shown++;
        fprintf(out, "%s %s  %s\n", ok ? "match   " : "no match", ru->info.id, ru->info.title);
        fprintf(out, "    file   %s\n", ru->info.file);
        if (ru->info.category == TW_CAT_DNS_QUERY)
            fprintf(out, "    event  dns_query QueryName=%s\n", norm);
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
