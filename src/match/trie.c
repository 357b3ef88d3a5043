/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/trie.h"
#include "tunwatch/base/alloc.h"
#include "tunwatch/base/blob.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ascii.h"

/*
 * Layout: nodes in one array in breadth-first order, so the children of a
 * node are consecutive (first_child .. first_child + n_child) and sorted by
 * their label byte; labels[] holds each node's incoming byte apart from the
 * node so that the child search scans a dense byte array. A node's values are
 * vals[val_off ..]: first n_exact exact-key values, then n_suffix suffix-key
 * values.
 *
 * Path-compressed: where the keys below a child go on together, with no key
 * ending and no branch, for several more bytes, the child stands for them
 * all: its edge is its label byte and then skips[skip_off .. + skip_len). On a
 * large set most nodes would otherwise have one child (50,000 rules: 83% of
 * the steps of a walk), and every step is a dependent load of another node.
 */
struct trie_node {
    uint32_t first_child;
    uint32_t val_off;
    uint32_t n_exact;
    uint32_t n_suffix;
    uint16_t n_child;
    uint16_t skip_len;
    uint32_t skip_off;
};

struct tw_trie {
    struct trie_node *nodes;
    uint8_t *labels;
    uint8_t *skips;
    uint32_t *vals;
    size_t n_nodes;
    size_t n_skips;
    size_t n_vals;
    size_t nodes_cap, vals_cap; /* the arrays are tables (tw_table_alloc()) of these sizes */
    bool borrowed;              /* ... or someone else's (tw_trie_restore()): not freed */
};

/* Build-time copy of one key: reversed, lowercased bytes. */
struct bkey {
    const uint8_t *rev;
    uint32_t len;
    uint8_t suffix;
    uint32_t value;
};

/*
 * Build-time range of sorted keys below one node, kept in the node's own slot until the node
 * is built (breadth-first, a node is queued before it is built and built once): the build needs
 * no array of its own for them.
 */
struct pending {
    uint32_t lo, hi, depth; /* depth: past the node's edge */
    uint32_t skip_off;
    uint16_t skip_len;
};
_Static_assert(sizeof(struct pending) <= sizeof(struct trie_node), "a pending range fits a node");

static int bkey_cmp(const void *a, const void *b)
{
    const struct bkey *x = a, *y = b;
    size_t n = TW_MIN(x->len, y->len);
    int c = memcmp(x->rev, y->rev, n);

    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if (x->suffix != y->suffix)
        return x->suffix < y->suffix ? -1 : 1; /* exact first */
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return 0;
}

/* The build's arrays are tables: for 100,000 keys they take some 20 MB, filled once in order,
 * where 2 MiB pages save thousands of page faults. */
static void *table(size_t n)
{
    return tw_table_alloc(tw_table_dense(n ? n : 1));
}

static void table_free(void *p, size_t n)
{
    tw_table_free(p, tw_table_dense(n ? n : 1));
}

/* Bytes at the start of x and y that are equal. */
static size_t common_prefix(const struct bkey *x, const struct bkey *y)
{
    size_t n = TW_MIN(x->len, y->len), i = 0;

    while (i < n && x->rev[i] == y->rev[i])
        i++;
    return i;
}

static void put_pending(struct trie_node *slot, struct pending pd)
{
    memcpy(slot, &pd, sizeof(pd));
}

static struct pending get_pending(const struct trie_node *slot)
{
    struct pending pd;

    memcpy(&pd, slot, sizeof(pd));
    return pd;
}

struct tw_trie *tw_trie_build(const struct tw_trie_key *keys, size_t n)
{
    struct tw_trie *t = calloc(1, sizeof(*t));
    struct bkey *bk = NULL;
    uint8_t *bytes = NULL, *sorted = NULL;
    size_t total = 0, off = 0, n_nodes = 1;

    if (!t || n > UINT32_MAX)
        goto out_fail;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len > UINT32_MAX - total)
            goto out_fail;
        total += keys[i].len;
    }
    bk = table(n * sizeof(*bk));
    bytes = table(total);
    sorted = table(total);
    if (!bk || !bytes || !sorted)
        goto out_fail;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = (const uint8_t *)keys[i].s;
        size_t len = keys[i].len;

        for (size_t j = 0; j < len; j++)
            bytes[off + j] = tw_ascii_lower(s[len - 1 - j]);
        bk[i].rev = bytes + off;
        bk[i].len = (uint32_t)len;
        bk[i].suffix = keys[i].suffix;
        bk[i].value = keys[i].value;
        off += len;
    }
    tw_sort(bk, n, sizeof(*bk), bkey_cmp);
    /* The bytes again in sorted order, so that the walk below reads them in order; one node
     * per distinct prefix, so the arrays are allocated once. */
    off = 0;
    for (size_t i = 0; i < n; i++) {
        if (bk[i].len)
            memcpy(sorted + off, bk[i].rev, bk[i].len);
        bk[i].rev = sorted + off;
        off += bk[i].len;
        n_nodes += bk[i].len - (i ? common_prefix(&bk[i - 1], &bk[i]) : 0);
    }
    table_free(bytes, total);
    bytes = NULL;
    if (n_nodes > UINT32_MAX)
        goto out_fail;
    /* n_nodes: one node per distinct prefix, as many as there would be without the paths
     * compressed; each byte an edge skips is one node fewer. */
    t->nodes = table(n_nodes * sizeof(*t->nodes));
    t->labels = table(n_nodes);
    t->skips = table(n_nodes);
    t->vals = table(n * sizeof(*t->vals));
    t->nodes_cap = n_nodes;
    t->vals_cap = n;
    if (!t->nodes || !t->labels || !t->skips || !t->vals)
        goto out_fail;
    t->n_nodes = 1;
    t->labels[0] = 0;
    put_pending(&t->nodes[0], (struct pending){0, (uint32_t)n, 0, 0, 0});

    /* Breadth-first: the node array doubles as the work queue. */
    for (size_t i = 0; i < t->n_nodes; i++) {
        struct pending pd = get_pending(&t->nodes[i]);
        struct trie_node nd = {0};
        uint32_t j = pd.lo;

        nd.val_off = (uint32_t)t->n_vals;
        nd.skip_off = pd.skip_off;
        nd.skip_len = pd.skip_len;
        /* Keys ending at this depth sort first: exact ones, then suffix ones. */
        for (; j < pd.hi && bk[j].len == pd.depth; j++) {
            if (j > pd.lo && bkey_cmp(&bk[j - 1], &bk[j]) == 0)
                continue;
            t->vals[t->n_vals++] = bk[j].value;
            if (bk[j].suffix)
                nd.n_suffix++;
            else
                nd.n_exact++;
        }
        nd.first_child = (uint32_t)t->n_nodes;
        while (j < pd.hi) {
            uint8_t c = bk[j].rev[pd.depth];
            uint32_t k = j;
            size_t idx = t->n_nodes++;

            if (idx >= n_nodes)
                goto out_fail; /* not reached: one node per distinct prefix */
            while (k < pd.hi && bk[k].rev[pd.depth] == c)
                k++;
            /* The keys of [j, k) go on together up to their common prefix (that of the first
             * and the last: they are sorted), or to the end of the first (the shortest: a key
             * that is a prefix of another sorts before it), whichever comes first. */
            uint32_t end = (uint32_t)TW_MIN(common_prefix(&bk[j], &bk[k - 1]), (size_t)bk[j].len);
            end = TW_MIN(end, pd.depth + 1 + UINT16_MAX);
            uint32_t skip = end - (pd.depth + 1);
            if (t->n_skips + skip > n_nodes)
                goto out_fail; /* not reached: a byte skipped is a node less */
            memcpy(t->skips + t->n_skips, bk[j].rev + pd.depth + 1, skip);
            put_pending(&t->nodes[idx],
                        (struct pending){j, k, end, (uint32_t)t->n_skips, (uint16_t)skip});
            t->n_skips += skip;
            t->labels[idx] = c;
            nd.n_child++;
            j = k;
        }
        t->nodes[i] = nd;
    }
    table_free(bk, n * sizeof(*bk));
    table_free(sorted, total);
    return t;

out_fail:
    if (bk)
        table_free(bk, n * sizeof(*bk));
    if (bytes)
        table_free(bytes, total);
    if (sorted)
        table_free(sorted, total);
    tw_trie_free(t);
    return NULL;
}

void tw_trie_free(struct tw_trie *t)
{
    if (!t)
        return;
    if (t->borrowed) {
        free(t);
        return;
    }
    if (t->nodes)
        table_free(t->nodes, t->nodes_cap * sizeof(*t->nodes));
    if (t->labels)
        table_free(t->labels, t->nodes_cap);
    if (t->skips)
        table_free(t->skips, t->nodes_cap);
    if (t->vals)
        table_free(t->vals, t->vals_cap * sizeof(*t->vals));
    free(t);
}

/* Index of the child of nd labelled c, or 0 (the root is nobody's child). */
static uint32_t find_child(const struct tw_trie *t, const struct trie_node *nd, uint8_t c)
{
    size_t i = tw_sorted_byte_find(t->labels + nd->first_child, nd->n_child, c);

    return i < nd->n_child ? nd->first_child + (uint32_t)i : 0;
}

static size_t emit(const struct tw_trie *t, size_t off, size_t nv, uint32_t *out, size_t cap,
                   size_t count)
{
    for (size_t i = 0; i < nv; i++, count++)
        if (count < cap)
            out[count] = t->vals[off + i];
    return count;
}

size_t tw_trie_match(const struct tw_trie *t, const char *name, size_t len, uint32_t *out,
                     size_t cap)
{
    const struct trie_node *nd;
    size_t count = 0;

    if (!t || t->n_nodes == 0)
        return 0;
    nd = &t->nodes[0];
    for (size_t i = 0;;) { /* i: bytes of the name (from its end) walked */
        uint32_t child;

        count = emit(t, (size_t)nd->val_off + nd->n_exact, nd->n_suffix, out, cap, count);
        if (i == len)
            return emit(t, nd->val_off, nd->n_exact, out, cap, count);
        child = find_child(t, nd, tw_ascii_lower((uint8_t)name[len - 1 - i]));
        if (child == 0)
            return count;
        nd = &t->nodes[child];
        i++;
        /* The rest of the edge: no key ends inside it, so a name that ends there or differs
         * there matches nothing more. */
        if (nd->skip_len > len - i)
            return count;
        const uint8_t *sk = t->skips + nd->skip_off;
        for (size_t k = 0; k < nd->skip_len; k++, i++)
            if (tw_ascii_lower((uint8_t)name[len - 1 - i]) != sk[k])
                return count;
    }
}

size_t tw_trie_memory(const struct tw_trie *t)
{
    if (!t)
        return 0;
    return sizeof(*t) + t->n_nodes * (sizeof(*t->nodes) + 1) + t->n_skips +
           t->n_vals * sizeof(*t->vals);
}

size_t tw_trie_nodes(const struct tw_trie *t)
{
    return t ? t->n_nodes : 0;
}

void tw_trie_save(const struct tw_trie *t, struct tw_blob_w *w)
{
    tw_blob_array(w, t->nodes, t->n_nodes, sizeof(*t->nodes));
    tw_blob_array(w, t->labels, t->n_nodes, 1);
    tw_blob_array(w, t->skips, t->n_skips, 1);
    tw_blob_array(w, t->vals, t->n_vals, sizeof(*t->vals));
}

struct tw_trie *tw_trie_restore(struct tw_blob_r *r, uint32_t max_value)
{
    size_t n, n_labels, n_skips, n_vals;
    const struct trie_node *nodes = tw_blob_get_array(r, sizeof(*nodes), UINT32_MAX, &n);
    const uint8_t *labels = tw_blob_get_array(r, 1, UINT32_MAX, &n_labels);
    const uint8_t *skips = tw_blob_get_array(r, 1, UINT32_MAX, &n_skips);
    const uint32_t *vals = tw_blob_get_array(r, sizeof(*vals), UINT32_MAX, &n_vals);
    struct tw_trie *t;

    if (r->bad || n_labels != n)
        goto bad;
    /* Every child range, edge and value range inside the arrays, every value a valid one: a
     * walk never leaves them. */
    for (size_t i = 0; i < n; i++)
        if (nodes[i].first_child > n || nodes[i].n_child > n - nodes[i].first_child ||
            (nodes[i].n_child > 0 && nodes[i].first_child <= i) || nodes[i].val_off > n_vals ||
            (uint64_t)nodes[i].n_exact + nodes[i].n_suffix > n_vals - nodes[i].val_off ||
            nodes[i].skip_off > n_skips || nodes[i].skip_len > n_skips - nodes[i].skip_off)
            goto bad;
    for (size_t i = 0; i < n_vals; i++)
        if (vals[i] >= max_value)
            goto bad;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    /* In place: the arrays stay where r's buffer holds them. */
    t->borrowed = true;
    t->nodes = (struct trie_node *)(uintptr_t)nodes;
    t->labels = (uint8_t *)(uintptr_t)labels;
    t->skips = (uint8_t *)(uintptr_t)skips;
    t->vals = (uint32_t *)(uintptr_t)vals;
    t->n_nodes = n;
    t->n_skips = n_skips;
    t->n_vals = n_vals;
    return t;
bad:
    r->bad = true;
    return NULL;
}
