/* SPDX-License-Identifier: MIT */
/*
 * A compiled rule set written out flat and read back (the rule cache): the rules with their
 * strings, the graph, the matchers, the problems kept for reports, the statistics, the trie
 * and the automaton. Nothing is parsed or compiled again but regular expressions (PCRE2's
 * compiled form depends on the library build and is cheap to make). Restoring checks every
 * index the matcher follows, so that a damaged cache is refused, never followed.
 */
#include "tunwatch/match/rules.h"

#include <arpa/inet.h>
#include <string.h>

#include "rules_impl.h"
#include "tunwatch/base/blob.h"
#include "tunwatch/match/acm.h"
#include "tunwatch/match/trie.h"

#define FORM_VERSION 2u

static void put_strs(struct tw_blob_w *w, const char *const *v, size_t n)
{
    tw_blob_u32(w, v != NULL);
    tw_blob_u64(w, v != NULL ? n : 0);
    for (size_t i = 0; v != NULL && i < n; i++)
        tw_blob_str(w, v[i]);
}

/* Index of the file a rule came from in rs->files (rule info points at those strings). */
static uint32_t file_index(const struct tw_ruleset *rs, const char *file)
{
    for (size_t i = rs->n_files; i-- > 0;)
        if (rs->files[i] == file)
            return (uint32_t)i;
    return UINT32_MAX;
}

int tw_ruleset_save(const struct tw_ruleset *rs, FILE *out)
{
    struct tw_blob_w w = {out, false, 0};

    if (!rs || !rs->compiled)
        return TW_EINVAL;
    tw_blob_u32(&w, FORM_VERSION);
    /* has_re is not kept: the restore finds the regular expressions again. */
    tw_blob_u32(&w, (uint32_t)rs->process_fields | (uint32_t)rs->explain << 1);
    tw_blob_u64(&w, rs->st.files);
    tw_blob_u64(&w, rs->st.loaded);
    tw_blob_u64(&w, rs->st.skipped);
    tw_blob_u64(&w, rs->st.errors);
    tw_blob_u64(&w, rs->st.indicators);
    tw_blob_u64(&w, rs->n_files);
    for (size_t i = 0; i < rs->n_files; i++)
        tw_blob_str(&w, rs->files[i]);
    /* The graph first: the rules name their root node in it. */
    tw_blob_array(&w, rs->nodes, rs->n_nodes, sizeof(*rs->nodes));
    tw_blob_array(&w, rs->kids, rs->n_kids, sizeof(*rs->kids));
    tw_blob_u64(&w, rs->n_rules);
    uint32_t last_file = 0;
    for (size_t i = 0; i < rs->n_rules; i++) {
        const struct tw_rule_info *in = &rs->rules[i]->info;
        /* Rules come file after file: the last index found is tried first. */
        if (last_file >= rs->n_files || rs->files[last_file] != in->file)
            last_file = file_index(rs, in->file);
        tw_blob_u32(&w, last_file);
        tw_blob_u32(&w, in->line);
        tw_blob_u32(&w, (uint32_t)in->category);
        tw_blob_u32(&w, rs->rules[i]->root);
        tw_blob_str(&w, in->id);
        tw_blob_str(&w, in->title);
        tw_blob_str(&w, in->level);
        tw_blob_str(&w, in->description);
        put_strs(&w, in->tags, in->n_tags);
        put_strs(&w, in->references, in->n_references);
    }
    tw_blob_u64(&w, rs->n_m);
    for (size_t i = 0; i < rs->n_m; i++) {
        const struct matcher *m = &rs->m[i];
        uint8_t small[8] = {m->kind, m->field, m->family, m->bits, m->cased,
                            m->op,   m->field2, (uint8_t)m->refmod};
        uint64_t num;
        memcpy(&num, &m->num, sizeof(num));
        tw_blob_put(&w, small, sizeof(small));
        tw_blob_u32(&w, m->pat != NULL);
        tw_blob_bytes(&w, m->pat, m->pat != NULL ? (size_t)m->len + 1 : 0); /* NUL too */
        tw_blob_str(&w, m->desc);
        tw_blob_u64(&w, num);
        tw_blob_put(&w, m->addr, sizeof(m->addr));
        tw_blob_u32(&w, m->re_opts);
    }
    tw_blob_u64(&w, rs->n_probs);
    for (size_t i = 0; i < rs->n_probs; i++) {
        tw_blob_str(&w, rs->probs[i].file);
        tw_blob_str(&w, rs->probs[i].id);
        tw_blob_str(&w, rs->probs[i].reason);
        tw_blob_u32(&w, rs->probs[i].line);
        tw_blob_u32(&w, rs->probs[i].col);
    }
    tw_trie_save(rs->trie, &w);
    tw_acm_save(rs->acm, &w);
    for (int c = 0; c < TW_CAT__COUNT; c++) {
        tw_blob_array(&w, rs->always[c].v, rs->always[c].n, sizeof(uint32_t));
        tw_blob_array(&w, rs->gated[c].v, rs->gated[c].n, sizeof(uint32_t));
    }
    return w.failed ? TW_EIO : 0;
}

/* A list of strings written by put_strs(): pointers into the buffer in *heap (malloc'd, to
 * free), *v NULL when the rule had no list. false when r is bad or on no memory. */
static bool get_strs(struct tw_blob_r *r, const char ***v, size_t *n)
{
    bool present = tw_blob_get_u32(r) != 0;
    uint64_t k = tw_blob_get_u64(r);

    *v = NULL;
    *n = 0;
    if (r->bad || !present)
        return !r->bad;
    if (k > (uint64_t)(r->end - r->p) / 5) { /* a string takes 5 bytes at least */
        r->bad = true;
        return false;
    }
    *v = malloc((k ? k : 1) * sizeof(**v));
    if (*v == NULL)
        return false;
    for (size_t i = 0; i < k; i++)
        if (((*v)[i] = tw_blob_get_str(r)) == NULL)
            r->bad = true;
    *n = (size_t)k;
    return !r->bad;
}

static int get_rules(struct tw_ruleset *rs, struct tw_blob_r *r)
{
    uint64_t n = tw_blob_get_u64(r);

    if (n > UINT32_MAX || n > (uint64_t)(r->end - r->p) / 16)
        return TW_EMALFORMED;
    for (size_t i = 0; i < n && !r->bad; i++) {
        struct rule_text t = {0};
        uint32_t file = tw_blob_get_u32(r);
        t.line = tw_blob_get_u32(r);
        uint32_t cat = tw_blob_get_u32(r), root = tw_blob_get_u32(r);
        t.id = tw_blob_get_str(r);
        t.title = tw_blob_get_str(r);
        t.level = tw_blob_get_str(r);
        t.description = tw_blob_get_str(r);
        const char **tags = NULL, **refs = NULL;
        bool ok = get_strs(r, &tags, &t.n_tags) && get_strs(r, &refs, &t.n_refs);
        int rc = 0;
        t.tags = tags;
        t.refs = refs;
        if (!ok) {
            rc = r->bad ? TW_EMALFORMED : TW_ENOMEM;
        } else if (file >= rs->n_files || cat >= TW_CAT__COUNT || root >= rs->n_nodes ||
                   t.id == NULL) {
            rc = TW_EMALFORMED;
        } else {
            t.file = rs->files[file];
            t.in_place = true;
            rc = rules_rule_new(rs, &t, (enum tw_category)cat, root);
        }
        free(tags);
        free(refs);
        if (rc != 0)
            return rc;
    }
    return r->bad ? TW_EMALFORMED : 0;
}

/* Whether field f is one a matcher may test. */
static bool field_ok(uint8_t f)
{
    return f < TW_F__COUNT || f == F_SRC_IS_IPV6 || f == F_DST_IS_IPV6 || f == F_ANY;
}

static int get_matchers(struct tw_ruleset *rs, struct tw_blob_r *r)
{
    uint64_t n = tw_blob_get_u64(r);

    if (r->bad || n > UINT32_MAX || n > (uint64_t)(r->end - r->p) / 40)
        return TW_EMALFORMED;
    if (n > 0 && grow_table((void **)&rs->m, &rs->m_cap, (size_t)n, sizeof(*rs->m)))
        return TW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct matcher *m = &rs->m[i];
        const uint8_t *small = tw_blob_get(r, 8);
        bool has_pat = tw_blob_get_u32(r) != 0;
        size_t len;
        const char *pat = tw_blob_get_bytes(r, &len);
        const char *desc = tw_blob_get_str(r);
        uint64_t num = tw_blob_get_u64(r);
        const uint8_t *addr = tw_blob_get(r, sizeof(m->addr));
        uint32_t re_opts = tw_blob_get_u32(r);

        if (r->bad || small[0] > MK_FIELDREF || !field_ok(small[1]) ||
            (has_pat && (len == 0 || len > UINT32_MAX || pat[len - 1] != '\0')) ||
            (small[0] == MK_FIELDREF && !field_ok(small[6])) ||
            (small[0] == MK_CIDR && ((small[2] != AF_INET && small[2] != AF_INET6) ||
                                     small[3] > (small[2] == AF_INET ? 32 : 128))) ||
            (small[0] == MK_NUM && small[5] > OP_NEQ) ||
            ((small[0] == MK_RE || small[0] == MK_CIDR || small[0] <= MK_GLOB) && !has_pat))
            return TW_EMALFORMED;
        /* Pattern and description stay in the cache's mapping (the set's backing). */
        *m = (struct matcher){.kind = small[0], .field = small[1], .family = small[2],
                              .bits = small[3], .cased = small[4] != 0, .op = small[5],
                              .field2 = small[6], .refmod = (char)small[7],
                              .len = has_pat ? (uint32_t)(len - 1) : 0,
                              .pat = has_pat ? (char *)(uintptr_t)pat : NULL,
                              .desc = (char *)(uintptr_t)desc};
        memcpy(&m->num, &num, sizeof(num));
        memcpy(m->addr, addr, sizeof(m->addr));
        rs->n_m = i + 1;
        if (m->kind == MK_RE) {
            rs->has_re = true; /* its pattern is freed with the set from here on */
            if (rules_re_compile(m, m->pat, m->len, re_opts) != 0)
                return TW_EMALFORMED; /* it compiled when saved: not this set's form */
        }
    }
    return 0;
}

/* Whether the graph stays inside its arrays and has no cycle: every child comes before its
 * parent (the loader builds children first). */
static bool graph_sound(const struct tw_ruleset *rs)
{
    for (size_t i = 0; i < rs->n_nodes; i++) {
        const struct node *nd = &rs->nodes[i];
        switch (nd->type) {
        case N_MATCH:
            if (nd->a >= rs->n_m)
                return false;
            break;
        case N_NOT:
            if (nd->a >= i)
                return false;
            break;
        case N_ATLEAST: /* k may exceed n: "3 of sel_*" over two selections never holds */
            if (nd->a > rs->n_kids || nd->n > rs->n_kids - nd->a)
                return false;
            for (uint32_t j = 0; j < nd->n; j++)
                if (rs->kids[nd->a + j] >= i)
                    return false;
            break;
        default:
            return false;
        }
    }
    return true;
}

static int get_problems(struct tw_ruleset *rs, struct tw_blob_r *r)
{
    uint64_t n = tw_blob_get_u64(r);

    if (n > (uint64_t)(r->end - r->p) / 20)
        return TW_EMALFORMED;
    for (size_t i = 0; i < n; i++) {
        const char *file = tw_blob_get_str(r), *id = tw_blob_get_str(r),
                   *reason = tw_blob_get_str(r);
        uint32_t line = tw_blob_get_u32(r), col = tw_blob_get_u32(r);

        if (r->bad || file == NULL || reason == NULL)
            return TW_EMALFORMED;
        if (rules_add_problem(rs, file, id, line, col, reason) != 0)
            return TW_ENOMEM;
    }
    return 0;
}

static int get_lists(struct tw_ruleset *rs, struct tw_blob_r *r)
{
    for (int c = 0; c < TW_CAT__COUNT; c++)
        for (int g = 0; g < 2; g++) {
            struct u32vec *v = g ? &rs->gated[c] : &rs->always[c];
            size_t n;
            const uint32_t *a = tw_blob_get_array(r, sizeof(uint32_t), rs->n_rules, &n);
            if (r->bad)
                return TW_EMALFORMED;
            for (size_t i = 0; i < n; i++) {
                if (a[i] >= rs->n_rules || rs->rules[a[i]]->info.category != (enum tw_category)c)
                    return TW_EMALFORMED;
                if (u32_push(v, a[i]) != 0)
                    return TW_ENOMEM;
            }
        }
    return 0;
}

int tw_ruleset_restore(struct tw_ruleset *rs, const void *buf, size_t len,
                       void (*release)(void *ctx), void *ctx)
{
    struct tw_blob_r r = TW_BLOB_READER(buf, len);
    int rc;

    if (!rs || rs->n_rules || rs->n_files || rs->n_m || rs->n_probs || rs->compiled)
        return TW_EINVAL;
    uint32_t version = tw_blob_get_u32(&r), flags = tw_blob_get_u32(&r);
    if (r.bad || version != FORM_VERSION || (flags & 1) != rs->process_fields ||
        ((flags >> 1) & 1) != rs->explain)
        return TW_EMALFORMED;
    rs->st.files = tw_blob_get_u64(&r);
    rs->st.loaded = tw_blob_get_u64(&r);
    rs->st.skipped = tw_blob_get_u64(&r);
    rs->st.errors = tw_blob_get_u64(&r);
    rs->st.indicators = tw_blob_get_u64(&r);
    uint64_t n_files = tw_blob_get_u64(&r);
    if (r.bad || n_files > (uint64_t)(r.end - r.p) / 5)
        return TW_EMALFORMED;
    if ((rs->files = calloc(n_files ? n_files : 1, sizeof(*rs->files))) == NULL)
        return TW_ENOMEM;
    rs->files_cap = n_files ? n_files : 1;
    for (size_t i = 0; i < n_files; i++) {
        const char *f = tw_blob_get_str(&r);
        if (f == NULL)
            return TW_EMALFORMED;
        if ((rs->files[i] = strdup(f)) == NULL)
            return TW_ENOMEM;
        rs->n_files = i + 1;
    }
    size_t n_nodes, n_kids;
    const struct node *nodes = tw_blob_get_array(&r, sizeof(*nodes), UINT32_MAX, &n_nodes);
    const uint32_t *kids = tw_blob_get_array(&r, sizeof(*kids), UINT32_MAX, &n_kids);
    if (r.bad)
        return TW_EMALFORMED;
    if ((n_nodes > 0 &&
         grow_table((void **)&rs->nodes, &rs->nodes_cap, n_nodes, sizeof(*rs->nodes))) ||
        (n_kids > 0 && grow_table((void **)&rs->kids, &rs->kids_cap, n_kids, sizeof(*rs->kids))))
        return TW_ENOMEM;
    if (n_nodes > 0)
        memcpy(rs->nodes, nodes, n_nodes * sizeof(*nodes));
    if (n_kids > 0)
        memcpy(rs->kids, kids, n_kids * sizeof(*kids));
    rs->n_nodes = n_nodes;
    rs->n_kids = n_kids;
    if ((rc = get_rules(rs, &r)) != 0)
        return rc;
    if ((rc = get_matchers(rs, &r)) != 0 || (rc = get_problems(rs, &r)) != 0)
        return rc;
    if (!graph_sound(rs))
        return TW_EMALFORMED;
    rs->trie = tw_trie_restore(&r, (uint32_t)rs->n_rules);
    if (rs->trie == NULL)
        return r.bad ? TW_EMALFORMED : TW_ENOMEM;
    rs->acm = tw_acm_restore(&r, (uint32_t)rs->n_rules);
    if (rs->acm == NULL)
        return r.bad ? TW_EMALFORMED : TW_ENOMEM;
    if ((rc = get_lists(rs, &r)) != 0)
        return rc;
    if (r.p != r.end || rs->st.loaded != rs->n_rules)
        return TW_EMALFORMED;
    if (rs->has_re && (rc = rules_mdpool_init(rs)) != 0)
        return rc;
    rs->compiled = true;
    rs->backing_release = release;
    rs->backing_ctx = ctx;
    return 0;
}
