/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/acm.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ascii.h"
#include "tunwatch/base/alloc.h"
#include "tunwatch/base/blob.h"

/*
 * A start-anchored pattern p is the string "^p", where "^" is a symbol that
 * occurs only before the first byte of a name; plain Aho-Corasick over the
 * union of both pattern sets then finds both kinds in one pass that starts
 * in the "^" state. The anchored patterns hang below a second root (state
 * 1, the "^" state) whose failure link is the ordinary root (state 0).
 *
 * Layout: states in one array in breadth-first order (both roots first), so
 * the children of a state are consecutive (first_child .. + n_child) and
 * sorted by byte; labels[] holds each state's incoming byte apart from the
 * state so that the child search scans a dense byte array. A state's values
 * are vals[val_off .. next state's val_off). out_link is the nearest state on
 * the failure chain that has values (0: none), so reporting costs one step
 * per match. The root's transitions are a full 256-entry table: most bytes of
 * most names fall back to it.
 */
struct acm_state {
    uint32_t first_child;
    uint32_t fail;
    uint32_t out_link;
    uint32_t val_off;
    uint16_t n_child;
};

#define ROOT 0u
#define ANCHOR_ROOT 1u

/* Build-time copy of one pattern; bytes live in the arena at off. */
struct acm_pat {
    const uint8_t *s; /* set at compile time (the arena moves while adding) */
    size_t off;
    uint32_t len;
    uint32_t value;
    uint8_t anchored;
};

struct acm_pending {
    uint32_t lo, hi, depth;
};

/* The arrays are tables (tw_table_grow): for tens of thousands of patterns they grow to MBs,
 * one element at a time, which in small pages cost a fault every 4 KiB. */
struct tw_acm {
    bool compiled;
    bool borrowed; /* states, labels and vals are someone else's (tw_acm_restore()) */
    /* before compiling */
    struct acm_pat *pats;
    size_t n_pats, pats_cap;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    /* after compiling */
    struct acm_state *states; /* n_states + 1: the last one only closes the value ranges */
    uint8_t *labels;          /* n_states */
    uint32_t *vals;
    size_t n_states, states_cap;
    size_t n_vals, vals_cap;
    uint32_t root_next[256];
};

struct tw_acm *tw_acm_new(void)
{
    return calloc(1, sizeof(struct tw_acm));
}

static void free_patterns(struct tw_acm *a)
{
    tw_table_free(a->pats, a->pats_cap * sizeof(*a->pats));
    tw_table_free(a->arena, a->arena_cap);
    a->pats = NULL;
    a->arena = NULL;
    a->n_pats = a->pats_cap = a->arena_len = a->arena_cap = 0;
}

static void free_states(struct tw_acm *a)
{
    if (a->borrowed) {
        a->states = NULL;
        a->labels = NULL;
        a->vals = NULL;
        a->n_states = a->states_cap = a->n_vals = a->vals_cap = 0;
        return;
    }
    tw_table_free(a->states, a->states_cap * sizeof(*a->states));
    tw_table_free(a->labels, a->n_states);
    tw_table_free(a->vals, a->vals_cap * sizeof(*a->vals));
    a->states = NULL;
    a->labels = NULL;
    a->vals = NULL;
    a->n_states = a->states_cap = a->n_vals = a->vals_cap = 0;
}

void tw_acm_free(struct tw_acm *a)
{
    if (!a)
        return;
    free_patterns(a);
    free_states(a);
    free(a);
}

int tw_acm_add(struct tw_acm *a, const char *pat, size_t len, uint32_t value, unsigned flags)
{
    struct acm_pat *p;

    if (!a || a->compiled || !pat || len == 0 || (flags & ~TW_ACM_ANCHOR_START) != 0)
        return TW_EINVAL;
    if (len > UINT32_MAX || a->n_pats >= UINT32_MAX - 2 || len > SIZE_MAX - a->arena_len)
        return TW_ENOMEM;
    if (tw_table_grow((void **)&a->arena, &a->arena_cap, a->arena_len + len, 1, 4096) ||
        tw_table_grow((void **)&a->pats, &a->pats_cap, a->n_pats + 1, sizeof(*a->pats), 64))
        return TW_ENOMEM;
    for (size_t i = 0; i < len; i++)
        a->arena[a->arena_len + i] = tw_ascii_lower((uint8_t)pat[i]);
    p = &a->pats[a->n_pats++];
    p->s = NULL;
    p->off = a->arena_len;
    p->len = (uint32_t)len;
    p->value = value;
    p->anchored = (flags & TW_ACM_ANCHOR_START) != 0;
    a->arena_len += len;
    return 0;
}

/* Unanchored before anchored, then by bytes (a prefix first), then by value. */
static int pat_cmp(const void *x, const void *y)
{
    const struct acm_pat *p = x, *q = y;
    int c;

    if (p->anchored != q->anchored)
        return p->anchored < q->anchored ? -1 : 1;
    c = memcmp(p->s, q->s, TW_MIN(p->len, q->len));
    if (c != 0)
        return c;
    if (p->len != q->len)
        return p->len < q->len ? -1 : 1;
    if (p->value != q->value)
        return p->value < q->value ? -1 : 1;
    return 0;
}

/* Index of the child of state s labelled c, or 0 (no root is anybody's child). */
static uint32_t find_child(const struct tw_acm *a, uint32_t s, uint8_t c)
{
    const struct acm_state *st = &a->states[s];
    size_t i = tw_sorted_byte_find(a->labels + st->first_child, st->n_child, c);

    return i < st->n_child ? st->first_child + (uint32_t)i : 0;
}

/* The goto/fail transition: the longest pattern prefix that is a suffix of (s's string + c). */
static uint32_t next_state(const struct tw_acm *a, uint32_t s, uint8_t c)
{
    for (;;) {
        uint32_t child;

        if (s == ROOT)
            return a->root_next[c];
        child = find_child(a, s, c);
        if (child != 0)
            return child;
        s = a->states[s].fail;
    }
}

static int build_states(struct tw_acm *a)
{
    struct acm_pat *pk = a->pats;
    size_t n = a->n_pats, n_un = 0, pcap = 0;
    struct acm_pending *pend = NULL;
    int rc = TW_ENOMEM;

    for (size_t i = 0; i < n; i++)
        pk[i].s = a->arena + pk[i].off;
    if (n > 1)
        tw_sort(pk, n, sizeof(*pk), pat_cmp);
    while (n_un < n && !pk[n_un].anchored)
        n_un++;

    if (tw_table_grow((void **)&a->states, &a->states_cap, 2, sizeof(*a->states), 64) ||
        tw_table_grow((void **)&pend, &pcap, 2, sizeof(*pend), 64))
        goto out_free;
    pend[ROOT] = (struct acm_pending){0, (uint32_t)n_un, 0};
    pend[ANCHOR_ROOT] = (struct acm_pending){(uint32_t)n_un, (uint32_t)n, 0};
    a->n_states = 2;

    /* Breadth-first: the state array doubles as the work queue. */
    for (size_t i = 0; i < a->n_states; i++) {
        struct acm_pending pd = pend[i];
        struct acm_state st = {0};
        uint32_t j = pd.lo;

        st.val_off = (uint32_t)a->n_vals;
        /* Patterns ending here sort first in the range. */
        for (; j < pd.hi && pk[j].len == pd.depth; j++) {
            if (j > pd.lo && pat_cmp(&pk[j - 1], &pk[j]) == 0)
                continue;
            if (a->n_vals >= UINT32_MAX ||
                tw_table_grow((void **)&a->vals, &a->vals_cap, a->n_vals + 1, sizeof(*a->vals), 64))
                goto out_free;
            a->vals[a->n_vals++] = pk[j].value;
        }
        st.first_child = (uint32_t)a->n_states;
        while (j < pd.hi) {
            uint8_t c = pk[j].s[pd.depth];
            uint32_t k = j;
            size_t idx = a->n_states;

            while (k < pd.hi && pk[k].s[pd.depth] == c)
                k++;
            if (idx >= UINT32_MAX - 1 ||
                tw_table_grow((void **)&a->states, &a->states_cap, idx + 2, sizeof(*a->states),
                              64) ||
                tw_table_grow((void **)&pend, &pcap, idx + 1, sizeof(*pend), 64))
                goto out_free;
            pend[idx] = (struct acm_pending){j, k, pd.depth + 1};
            a->n_states++;
            st.n_child++;
            j = k;
        }
        a->states[i] = st;
    }
    /* The sentinel closing the last state's value range. */
    a->states[a->n_states] = (struct acm_state){.val_off = (uint32_t)a->n_vals};

    a->labels = tw_table_alloc(a->n_states);
    if (!a->labels)
        goto out_free;
    a->labels[ROOT] = a->labels[ANCHOR_ROOT] = 0;
    for (size_t i = 0; i < a->n_states; i++) {
        const struct acm_state *st = &a->states[i];

        for (uint32_t c = 0; c < st->n_child; c++) {
            const struct acm_pending *cp = &pend[st->first_child + c];

            a->labels[st->first_child + c] = pk[cp->lo].s[cp->depth - 1];
        }
    }
    rc = 0;
out_free:
    tw_table_free(pend, pcap * sizeof(*pend));
    return rc;
}

/* Failure and output links, parents before children (breadth-first order). */
static void link_states(struct tw_acm *a)
{
    for (unsigned c = 0; c < 256; c++) {
        uint32_t child = find_child(a, ROOT, (uint8_t)c);

        a->root_next[c] = child; /* 0 (stay at the root) when no pattern starts with c */
    }
    a->states[ROOT].fail = ROOT;
    a->states[ANCHOR_ROOT].fail = ROOT;
    for (size_t u = 0; u < a->n_states; u++) {
        const struct acm_state *su = &a->states[u];

        for (uint32_t k = 0; k < su->n_child; k++) {
            uint32_t v = su->first_child + k;
            struct acm_state *sv = &a->states[v];
            uint32_t f;

            f = (u == ROOT) ? ROOT : next_state(a, su->fail, a->labels[v]);
            sv->fail = f;
            sv->out_link =
                (a->states[f + 1].val_off > a->states[f].val_off) ? f : a->states[f].out_link;
        }
    }
}

int tw_acm_compile(struct tw_acm *a)
{
    if (!a || a->compiled)
        return TW_EINVAL;
    a->compiled = true;
    if (build_states(a) != 0) {
        free_states(a);
        free_patterns(a);
        return TW_ENOMEM;
    }
    link_states(a);
    free_patterns(a);
    return 0;
}

/*
 * The distinct values of one match call: a short array searched linearly,
 * indexed by a small open-addressing table once it holds more than
 * DEDUP_LINEAR values (the table is cleared only then).
 */
#define DEDUP_LINEAR 16
#define DEDUP_SLOTS (2 * TW_ACM_DEDUP)

struct dedup {
    size_t n;
    uint32_t vals[TW_ACM_DEDUP];
    uint16_t slot[DEDUP_SLOTS]; /* index + 1 into vals, 0: empty */
};

enum { DEDUP_SEEN, DEDUP_NEW, DEDUP_FULL };

static size_t dedup_hash(uint32_t v)
{
    return (size_t)((v * 0x9e3779b1u) >> 23) & (DEDUP_SLOTS - 1);
}

static void dedup_index(struct dedup *d, size_t i)
{
    size_t h = dedup_hash(d->vals[i]);

    while (d->slot[h] != 0)
        h = (h + 1) & (DEDUP_SLOTS - 1);
    d->slot[h] = (uint16_t)(i + 1);
}

static int dedup_insert(struct dedup *d, uint32_t v)
{
    if (d->n <= DEDUP_LINEAR) {
        for (size_t i = 0; i < d->n; i++)
            if (d->vals[i] == v)
                return DEDUP_SEEN;
    } else {
        size_t h = dedup_hash(v);

        for (; d->slot[h] != 0; h = (h + 1) & (DEDUP_SLOTS - 1))
            if (d->vals[d->slot[h] - 1] == v)
                return DEDUP_SEEN;
    }
    if (d->n == TW_ACM_DEDUP)
        return DEDUP_FULL;
    d->vals[d->n++] = v;
    if (d->n == DEDUP_LINEAR + 1) {
        memset(d->slot, 0, sizeof(d->slot));
        for (size_t i = 0; i < d->n; i++)
            dedup_index(d, i);
    } else if (d->n > DEDUP_LINEAR + 1) {
        dedup_index(d, d->n - 1);
    }
    return DEDUP_NEW;
}

/* Where the values go: a callback, or a bounded array. */
struct sink {
    struct dedup d;
    void (*fn)(void *ctx, uint32_t value);
    void *ctx;
    uint32_t *out;
    size_t cap;
    size_t n;      /* calls made, or values written */
    bool overflow; /* array form: a value did not fit */
};

/* Returns false when the walk can stop (the array is full and a new value came). */
static bool sink_put(struct sink *k, uint32_t v)
{
    int r = dedup_insert(&k->d, v);

    if (r == DEDUP_SEEN)
        return true;
    if (k->fn) {
        k->fn(k->ctx, v);
        k->n++;
        return true;
    }
    if (r == DEDUP_FULL) /* past the dedup set: the output array is the reference */
        for (size_t i = 0; i < k->n; i++)
            if (k->out[i] == v)
                return true;
    if (k->n == k->cap) {
        k->overflow = true;
        return false;
    }
    k->out[k->n++] = v;
    return true;
}

static void walk(const struct tw_acm *a, const char *text, size_t len, struct sink *k)
{
    uint32_t s = ANCHOR_ROOT;

    if (!a || !a->compiled || a->n_vals == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        s = next_state(a, s, tw_ascii_lower((uint8_t)text[i]));
        for (uint32_t o = s; o != ROOT; o = a->states[o].out_link) {
            const struct acm_state *st = &a->states[o];

            for (uint32_t j = st->val_off; j < st[1].val_off; j++)
                if (!sink_put(k, a->vals[j]))
                    return;
        }
    }
}

size_t tw_acm_match(const struct tw_acm *a, const char *text, size_t len,
                    void (*fn)(void *ctx, uint32_t value), void *ctx)
{
    struct sink k;

    if (!fn)
        return 0;
    k.d.n = 0;
    k.fn = fn;
    k.ctx = ctx;
    k.out = NULL;
    k.cap = 0;
    k.n = 0;
    k.overflow = false;
    walk(a, text, len, &k);
    return k.n;
}

size_t tw_acm_match_values(const struct tw_acm *a, const char *text, size_t len, uint32_t *out,
                           size_t cap)
{
    struct sink k;

    k.d.n = 0;
    k.fn = NULL;
    k.ctx = NULL;
    k.out = out;
    k.cap = out ? cap : 0;
    k.n = 0;
    k.overflow = false;
    walk(a, text, len, &k);
    return k.overflow ? k.cap + 1 : k.n;
}

size_t tw_acm_patterns(const struct tw_acm *a)
{
    if (!a)
        return 0;
    return a->compiled ? a->n_vals : a->n_pats;
}

size_t tw_acm_states(const struct tw_acm *a)
{
    return a ? a->n_states : 0;
}

size_t tw_acm_memory(const struct tw_acm *a)
{
    if (!a)
        return 0;
    return sizeof(*a) + a->pats_cap * sizeof(*a->pats) + a->arena_cap +
           (a->states ? (a->n_states + 1) * sizeof(*a->states) : 0) + a->n_states +
           a->n_vals * sizeof(*a->vals);
}

int tw_acm_glob_literal(const char *glob, size_t len, char *buf, size_t cap, unsigned *flags)
{
    size_t best_len = 0, best_start = 0, best_score = 0, run_len = 0, run_start = 0, i = 0,
           o = 0;

    if (!glob || !flags)
        return TW_EINVAL;
    *flags = 0;
    /* First pass: the most selective literal run, the earliest of equal ones. Longer is more
     * selective, except that a run ending the value after a wildcard counts half: in a host
     * name that is the shared parent domain ("*tunnel7*.example.com": "tunnel7", not
     * ".example.com"), which every name of that domain would hit. */
    while (i <= len) {
        bool end = i == len, wild = !end && (glob[i] == '*' || glob[i] == '?');

        if (end || wild) {
            size_t score = 2 * run_len - (end && run_start > 0 ? run_len : 0);
            if (run_len > 0 && score > best_score) {
                best_score = score;
                best_len = run_len;
                best_start = run_start;
            }
            run_len = 0;
            run_start = ++i;
            continue;
        }
        if (glob[i] == '\\' && i + 1 < len &&
            (glob[i + 1] == '*' || glob[i + 1] == '?' || glob[i + 1] == '\\'))
            i += 2;
        else
            i++;
        run_len++;
    }
    if (best_len == 0)
        return TW_ENOTSUP;
    if (best_len > cap || best_len > INT32_MAX)
        return TW_ENOMEM;
    /* Second pass: unescape it. */
    for (i = best_start; o < best_len; o++) {
        if (glob[i] == '\\' && i + 1 < len &&
            (glob[i + 1] == '*' || glob[i + 1] == '?' || glob[i + 1] == '\\'))
            i++;
        buf[o] = glob[i++];
    }
    if (best_start == 0)
        *flags = TW_ACM_ANCHOR_START;
    return (int)best_len;
}

void tw_acm_save(const struct tw_acm *a, struct tw_blob_w *w)
{
    /* n_states + 1 states: the last closes the value ranges. */
    tw_blob_array(w, a->states, a->n_states > 0 ? a->n_states + 1 : 0, sizeof(*a->states));
    tw_blob_array(w, a->labels, a->n_states, 1);
    tw_blob_array(w, a->vals, a->n_vals, sizeof(*a->vals));
    tw_blob_array(w, a->root_next, 256, sizeof(a->root_next[0]));
}

/* Whether the n states of a restored automaton keep every walk inside its arrays and end:
 * children after their parent (breadth-first), failure and output links to earlier states,
 * value ranges in order. */
static bool states_sound(const struct acm_state *st, size_t n, size_t n_vals,
                         const uint32_t *root_next)
{
    if (n < 2 || st[0].val_off != 0 || st[n].val_off != n_vals)
        return false;
    for (size_t s = 0; s < n; s++) {
        const struct acm_state *x = &st[s];
        if (x->first_child > n || x->n_child > n - x->first_child ||
            (x->n_child > 0 && x->first_child <= s) || x->val_off > st[s + 1].val_off)
            return false;
        if (s >= 2 && (x->fail >= s || x->out_link >= s))
            return false;
        if (s < 2 && (x->fail != ROOT || x->out_link != ROOT))
            return false;
    }
    for (int c = 0; c < 256; c++)
        if (root_next[c] >= n)
            return false;
    return true;
}

struct tw_acm *tw_acm_restore(struct tw_blob_r *r, uint32_t max_value)
{
    size_t n1, n, n_vals, n_root;
    const struct acm_state *st = tw_blob_get_array(r, sizeof(*st), UINT32_MAX, &n1);
    const uint8_t *labels = tw_blob_get_array(r, 1, UINT32_MAX, &n);
    const uint32_t *vals = tw_blob_get_array(r, sizeof(*vals), UINT32_MAX, &n_vals);
    const uint32_t *root = tw_blob_get_array(r, sizeof(*root), 256, &n_root);
    struct tw_acm *a;

    if (r->bad || n_root != 256 || n1 != (n > 0 ? n + 1 : 0))
        goto bad;
    if (n > 0 && !states_sound(st, n, n_vals, root))
        goto bad;
    for (size_t i = 0; i < n_vals; i++)
        if (vals[i] >= max_value)
            goto bad;
    a = tw_acm_new();
    if (a == NULL)
        return NULL;
    a->compiled = true;
    memcpy(a->root_next, root, sizeof(a->root_next));
    if (n == 0)
        return a;
    /* In place: the arrays stay where r's buffer holds them. */
    a->borrowed = true;
    a->states = (struct acm_state *)(uintptr_t)st;
    a->labels = (uint8_t *)(uintptr_t)labels;
    a->vals = (uint32_t *)(uintptr_t)vals;
    a->n_states = n;
    a->n_vals = n_vals;
    return a;
bad:
    r->bad = true;
    return NULL;
}
