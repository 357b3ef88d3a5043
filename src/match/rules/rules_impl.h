/* SPDX-License-Identifier: MIT */
/*
 * Private to src/match/rules/: the rule graph and the rule set, the YAML document tree rules
 * are compiled from, and what the files of this folder share.
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
 */
#ifndef TUNWATCH_MATCH_RULES_IMPL_H
#define TUNWATCH_MATCH_RULES_IMPL_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/match/rules.h"

/* Nesting of parentheses / not in a condition; bounds evaluation recursion. */
#define COND_DEPTH_MAX 48
/* YAML nesting accepted in a rule file. */
#define YAML_DEPTH_MAX 64
/* Values one field value may expand to (windash, base64offset). */
#define EXPAND_MAX 256
/* Match data kept for regular expressions; a call that finds all in use makes its own. */
#define MD_POOL 64

/*
 * Fields beyond the event's: Sysmon's SourceIsIpv6 / DestinationIsIpv6 (network_connection),
 * derived from the address family; F_ANY is a keyword search over every string field.
 */
#define F_SRC_IS_IPV6 ((uint8_t)TW_F__COUNT)
#define F_DST_IS_IPV6 ((uint8_t)(TW_F__COUNT + 1))
#define F_ANY 0xffu
#define F_NONE 0xfeu /* no such field */
_Static_assert(TW_F__COUNT + 2 <= 64, "evctx.absent has one bit per field");

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
    char *pat;  /* lowercased unless cased; NUL-terminated for convenience, may hold NULs;
                   in the rule set's arena */
    char *desc; /* "Field|mods: 'value'" as written, for tw_ruleset_explain(); in the arena;
                   NULL when the set does not keep them (tw_ruleset_set_explain()) */
    pcre2_code *re;
    uint32_t re_opts; /* MK_RE: the options re was compiled with (rules_re_compile()) */
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
    uint32_t root;
};

struct u32vec {
    uint32_t *v;
    size_t n, cap;
};

struct tw_ruleset {
    /* The rules (each one allocation: the struct, its tag pointers, then its strings) and the
     * matchers' patterns and descriptions; a rule or file dropped again is released from it. */
    struct tw_arena arena;
    /* rules, nodes, kids and m are tables (grow_table()) */
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
    bool explain;        /* matchers keep desc (tw_ruleset_set_explain()) */
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

    /* A set restored from the rule cache keeps its strings and prefilter arrays where the
     * cache's mapping holds them: released with the set. */
    void (*backing_release)(void *ctx);
    void *backing_ctx;
};

static inline int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0; /* the usual case, without a call */
    return tw_grow(p, cap, need, elem, 16);
}

/* grow() for the rule set's graph and rule list, which are tables (tw_table_grow()). */
static inline int grow_table(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    return tw_table_grow(p, cap, need, elem, 64);
}

static inline int u32_push(struct u32vec *v, uint32_t x)
{
    if (grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v)))
        return TW_ENOMEM;
    v->v[v->n++] = x;
    return 0;
}

/*
 * What an evaluation reads: the event, and which of its fields to treat as
 * absent (tw_ruleset_explain() evaluates events that carry only a name).
 */
struct evctx {
    const struct tw_event *ev;
    uint64_t absent; /* bit f: field f is absent */
    const struct tw_ruleset *rs;
};

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

/* Child i of container n; pair j of a map is key 2 * j, value 2 * j + 1. */
static inline const struct ynode *ykid(const struct ydoc *d, const struct ynode *n, size_t i)
{
    return &d->nodes[d->kids[n->a + i]];
}

/* The text of scalar n; NULL when n is NULL or not a scalar. */
static inline const char *scalar(const struct ydoc *d, const struct ynode *n)
{
    return (n && n->type == Y_SCALAR) ? d->text + n->a : NULL;
}

/* Field names of the logsources mapped onto tunwatch's events. */
enum fmap {
    FM_SIGMA,    /* network_connection, dns_query: Sigma taxonomy (Sysmon) names */
    FM_DNS,      /* category dns / service dns: Zeek dns.log and generic dns names */
    FM_PROXY,    /* category proxy: W3C extended log names, onto network_connection */
    FM_FIREWALL, /* category firewall: generic firewall names, onto network_connection */
};

/* What compiling one rule (one YAML document) works with. */
struct lctx {
    struct tw_ruleset *rs;
    const struct ydoc *doc;
    enum tw_category cat;
    int fmap;          /* enum fmap: the logsource's field names */
    char reason[256];  /* why the rule is skipped */
    char pending[256]; /* set: the rule compiles, but needs process attribution to load */
};

/* Sets c->reason from the format and evaluates to TW_ENOTSUP: the rule is skipped. */
#define SKIP(c, ...) (snprintf((c)->reason, sizeof((c)->reason), __VA_ARGS__), TW_ENOTSUP)

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

/* Value-level modifiers of one "Field|mod|mod" key, in the order written. */
struct mods {
    bool all, cased, cidr, exists, re, fieldref, num;
    uint8_t op;
    uint32_t re_opts;
    char strmod;    /* last of contains/startswith/endswith, for re and fieldref */
    char chain[16]; /* value transforms in order: c s e w(indash) 6 (base64) o(ffset)
                       l(e) B(e) b(om) */
    size_t n_chain;
};

/* yaml_dom.c */

/* Empties d for the next document; its arrays are kept for reuse. */
void rules_ydoc_reset(struct ydoc *d);

/* Frees d's arrays and zeroes d. */
void rules_ydoc_free(struct ydoc *d);

/*
 * Adds node event e (scalar, sequence or mapping start or end, alias) to d. 0, TW_ENOMEM, or
 * TW_EINVAL with *problem set to libyaml's message for the composer error (undefined alias,
 * duplicate anchor). The caller keeps the nesting below YAML_DEPTH_MAX.
 */
int rules_ydoc_event(struct ydoc *d, const yaml_event_t *e, const char **problem);

/* Appends len bytes and a NUL to d->text; *off is where they start. 0 or TW_ENOMEM. */
static inline int rules_ydoc_text(struct ydoc *d, const void *s, size_t len, uint32_t *off)
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

/* Adds node nd (its text already in d->text) as the next child of the innermost open
 * container, and opens it if it is one; its index in *idx. 0 or TW_ENOMEM. The caller keeps
 * the nesting below YAML_DEPTH_MAX. Inline: a rule file is mostly this. */
static inline int rules_ydoc_node(struct ydoc *d, struct ynode nd, uint32_t *idx)
{
    if (nd.type != Y_SCALAR && d->depth >= YAML_DEPTH_MAX)
        return TW_ENOMEM; /* the caller's nesting limit makes this unreachable */
    if (d->n_nodes >= UINT32_MAX ||
        grow((void **)&d->nodes, &d->nodes_cap, d->n_nodes + 1, sizeof(*d->nodes)))
        return TW_ENOMEM;
    *idx = (uint32_t)d->n_nodes;
    d->nodes[d->n_nodes++] = nd;
    if (d->depth > 0) {
        if (grow((void **)&d->pend, &d->pend_cap, d->n_pend + 1, sizeof(*d->pend)))
            return TW_ENOMEM;
        d->pend[d->n_pend++] = *idx;
    }
    if (nd.type != Y_SCALAR) {
        d->open[d->depth].node = *idx;
        d->open[d->depth++].pend = d->n_pend;
    }
    return 0;
}

/* The same for a parser of its own: a scalar of len bytes (plain or quoted style), the start
 * of a sequence or map (Y_SEQ, Y_MAP), the end of the innermost one. 0 or TW_ENOMEM. */
static inline int rules_ydoc_scalar(struct ydoc *d, const char *s, size_t len, bool plain)
{
    struct ynode nd = {.type = Y_SCALAR, .plain = plain, .n = (uint32_t)len};
    uint32_t idx;

    if (len >= UINT32_MAX || rules_ydoc_text(d, s, len, &nd.a))
        return TW_ENOMEM;
    return rules_ydoc_node(d, nd, &idx);
}

static inline int rules_ydoc_open(struct ydoc *d, enum ytype type)
{
    uint32_t idx;

    return rules_ydoc_node(d, (struct ynode){.type = (uint8_t)type}, &idx);
}

int rules_ydoc_close(struct ydoc *d);

/* yaml_fast.c */

/*
 * Reads the YAML file buf[0..len) with the block-style subset rule files are written in,
 * building each document in d as libyaml's events would and calling doc_end(ctx, docno) at
 * its end (docno counts from 1, as document start events do). 0 when the whole file was read;
 * TW_ENOTSUP at the first thing outside the subset (the documents before it were handed
 * over already: the caller takes them back and reads the file with libyaml); TW_ENOMEM; or
 * what doc_end returned.
 *
 * A file may be read in pieces cut by rules_yaml_fast_cut(), one call each, in order: *docno
 * holds the documents counted so far (0 before the first piece) and is updated.
 */
int rules_yaml_fast(struct ydoc *d, const char *buf, size_t len, size_t *docno,
                    int (*doc_end)(void *ctx, size_t docno), void *ctx);

/*
 * Where the last document marker line ("---" alone or followed by a space) that starts after
 * buf[0] and whose first four bytes are within buf[0..len) starts; 0 when there is none. The
 * documents before it end there whatever follows, so buf[0..cut) and the rest of the file
 * read as two pieces give what the whole file gives.
 */
size_t rules_yaml_fast_cut(const char *buf, size_t len);

/* Whether n is a plain scalar YAML reads as null ("", ~, null, Null, NULL); false for NULL. */
bool rules_is_null(const struct ydoc *d, const struct ynode *n);

/* The value of the first scalar key equal to key in map; NULL if none or map is not a map. */
const struct ynode *rules_map_get(const struct ydoc *d, const struct ynode *map, const char *key);

/* logsource.c */

/*
 * Sets c->cat and c->fmap from a rule's logsource map ls. 0, or TW_ENOTSUP (c->reason says
 * why) for a missing logsource or one that is not observed.
 */
int rules_logsource(struct lctx *c, const struct ynode *ls);

/* The field a rule's field name means under field names fm: an enum tw_field, F_SRC_IS_IPV6,
 * F_DST_IS_IPV6, or F_NONE. */
unsigned rules_lookup_field(enum fmap fm, const char *name);

/* Whether events of category c have field f (a rules_lookup_field() result other than F_NONE). */
bool rules_field_in_category(unsigned f, enum tw_category c);

/*
 * Whether the rule being compiled can read field f: in its category, or a DNS response field
 * in a rule on DNS queries, which then becomes a rule on DNS responses (c->cat TW_CAT_DNS:
 * matched once per response, where the answers are known, instead of once per query). The
 * loader then checks that the fields met before are in that category too.
 */
bool rules_field_fits(struct lctx *c, unsigned f);

/* Name of field f for messages ("keyword" for F_ANY). */
const char *rules_field_label(unsigned f);

/* modifiers.c: token strings and their transforms. */

/* Frees the token strings of ts; ts->n becomes 0. */
void rules_tset_free(struct tset *ts);

/* out = s[0..len) as tokens (out->t allocated; Sigma escapes and wildcards). 0 or TW_ENOMEM. */
int rules_tstr_parse(const char *s, size_t len, struct tstr *out);

/* Adds a T_STAR at the front and / or back of s unless one is there. 0 or TW_ENOMEM. */
int rules_tstr_wild(struct tstr *s, bool front, bool back);

/* windash: replaces the values in ts with their dash variants, all combinations. 0,
 * TW_ENOMEM, or TW_ENOTSUP with c->reason set (too many values). */
int rules_tset_windash(struct lctx *c, struct tset *ts);

/* utf16 ('b': byte order mark, then little endian), utf16le / wide ('l'), utf16be ('B') of s,
 * in place. 0, TW_ENOMEM, or TW_ENOTSUP with c->reason set (not UTF-8). */
int rules_tstr_utf16(struct lctx *c, struct tstr *s, char mode);

/* base64 (offset false) or base64offset (three values each) of the values in ts, in place.
 * 0, TW_ENOMEM, or TW_ENOTSUP with c->reason set (wildcards, too many values). */
int rules_tstr_base64(struct lctx *c, struct tset *ts, bool offset);

/* Parses the modifiers of key, bar pointing at its first '|' (NULL for none), into md, which
 * the caller zeroes. 0, or TW_ENOTSUP with c->reason set. */
int rules_parse_mods(struct lctx *c, const char *key, const char *bar, struct mods *md);

/* compile.c */

/* Appends node {type, a, n, k} to rs's graph; its index in *out. 0 or TW_ENOMEM. */
int rules_add_node(struct tw_ruleset *rs, uint8_t type, uint32_t a, uint32_t n, uint32_t k,
                   uint32_t *out);

/* Appends "at least k of the nodes in v" (a single node when v holds one and k is 1); its
 * index in *out. v stays the caller's. 0 or TW_ENOMEM. */
int rules_add_atleast(struct tw_ruleset *rs, const struct u32vec *v, uint32_t k, uint32_t *out);

/* Frees what m holds outside the arena (its regular expression), not m itself. */
void rules_matcher_free(struct matcher *m);

/* Compiles s[0..len) with PCRE2 options opts (plus UTF, invalid UTF matched) into m->re and
 * m->re_opts, JIT-compiled where possible. 0, or the PCRE2 error code (< 0 or > 0) with m->re
 * NULL. */
int rules_re_compile(struct matcher *m, const char *s, size_t len, uint32_t opts);

/* Compiles a selection (a map, a keyword, or a list of maps and keywords: OR) into *out.
 * 0, TW_ENOMEM, or TW_ENOTSUP with c->reason set. */
int rules_compile_selection(struct lctx *c, const struct ynode *sel, uint32_t *out);

/* condition.c */

/* Compiles a rule's detection map (its selections, then its condition or list of
 * conditions: OR) into *root. 0, TW_ENOMEM, or TW_ENOTSUP with c->reason set. */
int rules_compile_detection(struct lctx *c, const struct ynode *det, uint32_t *root);

/* prefilter.c */

/* Drops what tw_ruleset_compile() built; rules and graph stay, the set is not compiled. */
void rules_uncompile(struct tw_ruleset *rs);

/* The match data pool of a set with regular expressions (has_re). 0 or TW_ENOMEM. */
int rules_mdpool_init(struct tw_ruleset *rs);

/* load.c */

/* The strings of a rule, as a rule file gave them or as the rule cache kept them. */
struct rule_text {
    const char *id, *title, *level; /* NULL is "" */
    const char *description;        /* NULL: none */
    const char *file;               /* one of rs->files */
    const char *const *tags;        /* n_tags; NULL: the rule has no list of tags */
    size_t n_tags;
    const char *const *refs; /* n_refs; NULL: no list of references */
    size_t n_refs;
    unsigned line;
    bool in_place; /* the strings outlive the set (its backing): pointed at, not copied */
};

/* Appends rule t of category cat whose condition is node root (one allocation in the arena).
 * 0 or TW_ENOMEM. */
int rules_rule_new(struct tw_ruleset *rs, const struct rule_text *t, enum tw_category cat,
                   uint32_t root);

/* Keeps a problem: a skipped rule (id set) or a file error (id NULL). 0 or TW_ENOMEM. */
int rules_add_problem(struct tw_ruleset *rs, const char *file, const char *id, unsigned line,
                      unsigned col, const char *reason);

/* evaluate.c */

/* Whether s[0..len) (shorter than 64 bytes, not starting with a blank) is one number as
 * strtod() reads it, and not NaN; the number goes to *out. */
bool rules_parse_num(const char *s, size_t len, double *out);

/* The value of field f (an event field, F_SRC_IS_IPV6 or F_DST_IS_IPV6) in *v and *len,
 * formatted into tmp[0..cap) when it has to be; false when the event has none, x marks it
 * absent, or f is F_ANY. */
bool rules_get_field(const struct evctx *x, unsigned f, char *tmp, size_t cap, const char **v,
                     size_t *len);

/* Value i of field f (0 for one-value fields; list fields have more), as rules_get_field(). */
bool rules_get_field_at(const struct evctx *x, unsigned f, unsigned i, char *tmp, size_t cap,
                        const char **v, size_t *len);

/* Whether field test m holds on x (on any value of a list field). */
bool rules_match_one(const struct evctx *x, const struct matcher *m);

/* Whether node ni of x->rs's graph holds on x. */
bool rules_eval(const struct evctx *x, uint32_t ni);

#endif /* TUNWATCH_MATCH_RULES_IMPL_H */
