/* SPDX-License-Identifier: MIT */
/*
 * The lookup index of a threat-intel set: compiling sorts the indicators by key and hashes
 * names (suffix by suffix, see intel_impl.h) and address prefixes into open-addressing
 * tables; matching walks an event's name and addresses through them, and explaining prints
 * why each indicator would fire or not.
 */
#include "tunwatch/match/intel.h"

#include "intel_impl.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"

#define RPZ_DECIDED_MAX 32
#define LABELS_MAX 128

/* The compiled arrays are tables: for a million indicators, tens of MB written once (the
 * slots hashed: every page touched), which in small pages cost a fault every 4 KiB. */
void intel_drop_compiled(struct tw_intel *in)
{
    tw_table_free(in->order, in->order_cap * sizeof(*in->order));
    tw_table_free(in->nslots, (in->nmask + 1) * sizeof(*in->nslots));
    tw_table_free(in->aslots, (in->amask + 1) * sizeof(*in->aslots));
    in->order = NULL;
    in->nslots = in->aslots = NULL;
    in->n_order = in->order_cap = 0;
    in->nmask = in->amask = 0;
    in->n_prefixes[0] = in->n_prefixes[1] = 0;
    in->max_labels = 0;
    in->compiled = false;
}

/* ---- compiling -------------------------------------------------------------------------- */

static int key_cmp(const struct ind *x, const struct ind *y)
{
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->kind == K_NAME) {
        if (x->value_len != y->value_len)
            return x->value_len < y->value_len ? -1 : 1;
        return memcmp(x->value, y->value, x->value_len);
    }
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    return memcmp(x->addr, y->addr, 16);
}

/* An indicator's sort key, apart from it: the sort compares kind and hash in a compact array
 * and reads the indicators themselves (spread over the set's memory) only for equal hashes. */
struct skey {
    uint64_t hash;
    const struct ind *e;
    uint32_t seq;
    uint8_t kind;
};

/* By key (key_cmp()), then in load order. */
static int skey_cmp(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    int c = key_cmp(x->e, y->e);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int table_new(struct slot **t, size_t *mask, size_t groups)
{
    size_t cap = 16;

    while (cap < groups * 2)
        cap *= 2;
    *t = tw_table_alloc(cap * sizeof(**t));
    if (*t == NULL)
        return TW_ENOMEM;
    *mask = cap - 1;
    return 0;
}

static void table_put(struct slot *t, size_t mask, const struct ind *e, uint32_t first, uint32_t n)
{
    size_t i = (size_t)e->hash & mask;

    while (t[i].n != 0)
        i = (i + 1) & mask;
    t[i] = (struct slot){e->hash, e->kind == K_NAME ? e->value : NULL, first, n};
}

int tw_intel_compile(struct tw_intel *in)
{
    const struct ind **all = NULL;
    size_t groups[2] = {0, 0}, n = 0, dups = 0;
    bool seen_prefix[2][129] = {{false}};

    intel_drop_compiled(in);
    size_t all_cap = in->n ? in->n : 1;
    all = tw_table_alloc(all_cap * sizeof(*all));
    if (all == NULL)
        goto out_nomem;
    struct skey *sk = tw_table_alloc(all_cap * sizeof(*sk));
    if (sk == NULL)
        goto out_nomem;
    for (size_t i = 0; i < in->n; i++) {
        const struct ind *e = ind_at(in, i);
        sk[i] = (struct skey){e->hash, e, e->seq, e->kind};
    }
    tw_sort(sk, in->n, sizeof(*sk), skey_cmp);
    for (size_t i = 0; i < in->n; i++)
        all[i] = sk[i].e;
    tw_table_free(sk, all_cap * sizeof(*sk));

    /* Drop an indicator its file already holds (same key, same mode); count the groups. */
    for (size_t i = 0, g = 0; i < in->n; i++) {
        const struct ind *e = all[i];
        bool dup = false;

        if (i == 0 || key_cmp(all[i - 1], e) != 0) {
            g = n;
            groups[e->kind]++;
        }
        for (size_t k = g; k < n && !dup; k++)
            dup = all[k]->file == e->file && all[k]->mode == e->mode && all[k]->allow == e->allow;
        if (dup)
            dups++;
        else
            all[n++] = e;
    }
    in->order = all;
    in->n_order = n;
    in->order_cap = all_cap;
    all = NULL;
    if (table_new(&in->nslots, &in->nmask, groups[K_NAME]) ||
        table_new(&in->aslots, &in->amask, groups[K_ADDR]))
        goto out_nomem;
    for (size_t i = 0; i < n;) {
        const struct ind *e = in->order[i];
        size_t j = i + 1;

        while (j < n && key_cmp(in->order[j], e) == 0)
            j++;
        if (e->kind == K_NAME) {
            table_put(in->nslots, in->nmask, e, (uint32_t)i, (uint32_t)(j - i));
        } else {
            table_put(in->aslots, in->amask, e, (uint32_t)i, (uint32_t)(j - i));
            seen_prefix[e->version == 6][e->prefix] = true;
        }
        for (size_t k = i; k < j; k++) {
            const struct ind *x = in->order[k];

            if (x->kind == K_NAME && (x->mode & M_BELOW)) {
                uint32_t labels = 1;

                for (uint32_t c = 0; c < x->value_len; c++)
                    labels += x->value[c] == '.';
                in->max_labels = TW_MAX(in->max_labels, labels);
            }
        }
        i = j;
    }
    for (int v = 0; v < 2; v++)
        for (int p = 128; p >= 0; p--)
            if (seen_prefix[v][p])
                in->prefixes[v][in->n_prefixes[v]++] = (uint8_t)p;
    in->st.duplicates = dups;
    in->compiled = true;
    return 0;

out_nomem:
    tw_table_free(all, all_cap * sizeof(*all));
    intel_drop_compiled(in);
    return TW_ENOMEM;
}

/* ---- matching --------------------------------------------------------------------------- */

static void mask_addr(const uint8_t in[16], uint8_t prefix, uint8_t out[16])
{
    memset(out, 0, 16);
    memcpy(out, in, prefix / 8);
    if (prefix % 8 != 0)
        out[prefix / 8] = (uint8_t)(in[prefix / 8] & (0xff << (8 - prefix % 8)));
}

static bool covers(const struct ind *e, uint8_t version, const uint8_t a[16])
{
    uint8_t m[16];

    if (e->version != version)
        return false;
    mask_addr(a, e->prefix, m);
    return memcmp(m, e->addr, 16) == 0;
}

/* Key (lowercase, NUL-terminated) equals s[0..len) folded. */
static bool name_eq(const char *key, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (key[i] == '\0' || (uint8_t)key[i] != tw_ascii_lower((uint8_t)s[i]))
            return false;
    return key[len] == '\0';
}

/* How a visited indicator relates to the name or address looked up. */
struct hit {
    const struct ind *e;
    bool exact;                /* names: the whole name (else a parent) */
    bool fires;                /* reported by tw_intel_match */
    const struct ind *decider; /* RPZ entries that do not fire: what decided their zone */
};

typedef void (*visit_fn)(const struct tw_intel *in, const struct hit *h, void *ctx);

struct decided {
    uint32_t file[RPZ_DECIDED_MAX];
    const struct ind *by[RPZ_DECIDED_MAX];
    size_t n;
};

static size_t visit(const struct tw_intel *in, struct decided *d, const struct ind *e, bool exact,
                    visit_fn fn, void *ctx)
{
    struct hit h = {e, exact, true, NULL};

    if (in->files[e->file].rpz) {
        for (size_t i = 0; i < d->n; i++)
            if (d->file[i] == e->file)
                h.decider = d->by[i];
        if (h.decider == NULL && d->n < RPZ_DECIDED_MAX) {
            d->file[d->n] = e->file;
            d->by[d->n++] = e;
        }
        if (h.decider == NULL && e->allow)
            h.decider = e;
        h.fires = h.decider == NULL;
    }
    fn(in, &h, ctx);
    return h.fires;
}

/* The slot of name key s[0..len), whose reversed-byte hash is raw; NULL if none. */
static const struct slot *find_name(const struct tw_intel *in, uint64_t raw, const char *s,
                                    size_t len)
{
    uint64_t hash = tw_mix64(raw);

    for (size_t i = (size_t)hash & in->nmask; in->nslots[i].n != 0; i = (i + 1) & in->nmask)
        if (in->nslots[i].hash == hash && name_eq(in->nslots[i].key, s, len))
            return &in->nslots[i];
    return NULL;
}

static size_t walk_name(const struct tw_intel *in, const char *name, size_t len, visit_fn fn,
                        void *ctx)
{
    struct {
        uint64_t h;
        size_t off;
    } par[LABELS_MAX];
    struct decided d = {.n = 0};
    size_t np = 0, count = 0;
    uint64_t h = FNV_OFFSET;
    uint32_t dots = 0;
    const struct slot *s;

    if (!in->compiled || len == 0)
        return 0;
    for (size_t i = len; i-- > 0;) {
        uint8_t c = tw_ascii_lower((uint8_t)name[i]);

        if (c == '.') {
            /* name[i+1..len) is a parent with dots + 1 labels */
            if (dots + 1 <= in->max_labels && np < LABELS_MAX && i + 1 < len) {
                par[np].h = h;
                par[np++].off = i + 1;
            }
            dots++;
        }
        h = fnv_step(h, c);
    }
    s = find_name(in, h, name, len);
    if (s != NULL)
        for (uint32_t k = 0; k < s->n; k++)
            if (in->order[s->first + k]->mode & M_EXACT)
                count += visit(in, &d, in->order[s->first + k], true, fn, ctx);
    /* Parents from the nearest outwards: the last one found is the longest. */
    while (np-- > 0) {
        s = find_name(in, par[np].h, name + par[np].off, len - par[np].off);
        if (s == NULL)
            continue;
        for (uint32_t k = 0; k < s->n; k++)
            if (in->order[s->first + k]->mode & M_BELOW)
                count += visit(in, &d, in->order[s->first + k], false, fn, ctx);
    }
    return count;
}

/* Address indicators covering a (skipping those that also cover `other`, already reported). */
static size_t walk_addr(const struct tw_intel *in, uint8_t version, const uint8_t a[16],
                        const uint8_t *other, visit_fn fn, void *ctx)
{
    int v = version == 6;
    size_t count = 0;
    struct decided d = {.n = 0};

    if (!in->compiled || (version != 4 && version != 6))
        return 0;
    for (size_t i = 0; i < in->n_prefixes[v]; i++) {
        uint8_t m[16];
        uint8_t p = in->prefixes[v][i];
        uint64_t h;

        if (p > (version == 4 ? 32 : 128))
            continue;
        mask_addr(a, p, m);
        h = addr_hash(version, p, m);
        for (size_t j = (size_t)h & in->amask; in->aslots[j].n != 0; j = (j + 1) & in->amask) {
            const struct slot *s = &in->aslots[j];
            const struct ind *e = in->order[s->first];

            if (s->hash != h || e->version != version || e->prefix != p ||
                memcmp(e->addr, m, 16) != 0)
                continue;
            for (uint32_t k = 0; k < s->n; k++) {
                e = in->order[s->first + k];
                if (other == NULL || !covers(e, version, other))
                    count += visit(in, &d, e, true, fn, ctx);
            }
            break;
        }
    }
    return count;
}

struct match_ctx {
    const struct tw_event *ev;
    tw_match_fn fn;
    void *ctx;
};

static void match_visit(const struct tw_intel *in, const struct hit *h, void *ctx)
{
    struct match_ctx *m = ctx;

    (void)in;
    if (h->fires && m->fn != NULL)
        m->fn(&h->e->info, m->ev, m->ctx);
}

bool tw_intel_reads(const struct tw_intel *in, enum tw_category c)
{
    /* A DNS response repeats the question its query event was matched on: once is enough. */
    return in != NULL && in->compiled && (unsigned)c < TW_CAT__COUNT && c != TW_CAT_DNS;
}

size_t tw_intel_match(const struct tw_intel *in, const struct tw_event *ev, tw_match_fn fn,
                      void *ctx)
{
    struct match_ctx m = {ev, fn, ctx};
    size_t count = 0;

    if (ev == NULL || !tw_intel_reads(in, ev->category))
        return 0;
    if (ev->norm != NULL)
        count += walk_name(in, ev->norm, ev->norm_len, match_visit, &m);
    if (in->n_prefixes[0] + in->n_prefixes[1] > 0) {
        count += walk_addr(in, ev->ip_version, ev->dst_addr, NULL, match_visit, &m);
        count += walk_addr(in, ev->ip_version, ev->src_addr, ev->dst_addr, match_visit, &m);
    }
    return count;
}

static void explain_visit(const struct tw_intel *in, const struct hit *h, void *ctx)
{
    FILE *out = ctx;
    const struct ind *e = h->e;
    const struct tw_rule_info *ri = &e->info;

    fprintf(out, "%s:%u: %s%s%s %s%s: ", ri->file, ri->line, e->type,
            e->action != NULL ? " rpz " : "", e->action != NULL ? e->action : "",
            e->kind == K_NAME && e->mode == M_BELOW ? "*." : "", e->value);
    if (e->kind == K_ADDR)
        fputs(strcmp(e->type, "subnet") == 0 ? "in subnet" : "address", out);
    else if (h->exact)
        fputs("exact", out);
    else
        fprintf(out, "subdomain of %s", e->value);
    if (h->decider == e)
        fputs(", allow-list entry (rpz-passthru): the zone reports nothing for this name", out);
    else if (h->decider != NULL)
        fprintf(out, ", not applied: %s:%u decides for its zone", h->decider->info.file,
                h->decider->info.line);
    (void)in;
    fprintf(out, " (%s)\n", ri->id);
}

size_t tw_intel_explain(const struct tw_intel *in, const char *name, FILE *out)
{
    char buf[TW_NAME_MAX];
    size_t len;
    uint8_t a[16] = {0};

    if (in == NULL || name == NULL || !in->compiled)
        return 0;
    if (out == NULL)
        out = stdout;
    len = strlen(name);
    if (len >= sizeof(buf))
        return 0;
    tw_ascii_lower_copy(buf, name, len);
    if (len > 1 && buf[len - 1] == '.')
        len--;
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, a) == 1)
        return walk_addr(in, 4, a, NULL, explain_visit, out);
    if (inet_pton(AF_INET6, buf, a) == 1)
        return walk_addr(in, 6, a, NULL, explain_visit, out);
    return walk_name(in, buf, len, explain_visit, out);
}
