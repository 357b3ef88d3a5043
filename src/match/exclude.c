/* SPDX-License-Identifier: MIT */
/*
 * Exclusions: parsing of exclusion files and the check of an alert. See exclude.h for the
 * syntax and the contract.
 *
 * Entries are kept in load order. One open-addressing table maps a key, the hash of (rule
 * scope, domain), to a chain of the entries with that key in load order; entries without
 * domain= are keyed with DOM_NONE in place of the domain's hash. Domains are hashed from their
 * last byte to their first, so hashing a name once from its end yields the hash of each of its
 * label suffixes in turn (the value after the first byte of a label). The table is rebuilt
 * after every file that loads: loads are rare and off the packet path. Hash collisions only
 * lengthen a chain: every entry of a chain is tested in full.
 */
#include "tunwatch/match/exclude.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/ascii.h"
#include "tunwatch/base/netaddr.h"

#define EX_NONE UINT32_MAX
#define EX_LINE_MAX 4096
#define EX_REPORT_MAX 20 /* bad lines reported a file */
#define EX_DOMAIN_MAX 253
#define EX_SHOW 64 /* bytes of a bad value quoted in a message */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define SCOPE_GLOBAL 0x5bd1e9955bd1e995ULL
#define DOM_NONE 0x2545f4914f6cdd1dULL

struct ex_entry {
    char *rule;   /* lowercased, NULL: global */
    char *domain; /* lowercased, no trailing dot; NULL: any name */
    size_t domain_len;
    char *image; /* glob; NULL: any process or none */
    struct tw_cidr src, dst;
    bool has_src, has_dst;
    uint32_t file; /* index into files */
    unsigned line;
};

struct ex_slot {
    uint64_t key;
    uint32_t head; /* EX_NONE: empty slot */
    uint32_t tail;
};

/*
 * The arrays are tables and the strings in an arena (huge pages once large): an allow-list of
 * a million domains is a few hundred page faults to load, not tens of thousands.
 */
struct tw_exclusions {
    struct ex_entry *entries; /* a table of cap */
    size_t n, cap;
    struct tw_arena strings; /* the entries' rule, domain and image */
    uint32_t *next;          /* chain links, n entries */
    _Atomic uint64_t *hits;  /* n counters */
    size_t n_built;          /* next and hits are tables of max(n_built, 1) */
    struct ex_slot *slots;
    size_t mask; /* slots - 1; slots NULL when n is 0 */
    char **files;
    size_t n_files, files_cap;
    size_t errors;
    size_t scoped, rules;
};

static uint64_t scope_hash(const char *rule)
{
    uint64_t h = FNV_OFFSET;

    if (rule == NULL || *rule == '\0')
        return SCOPE_GLOBAL;
    for (const char *p = rule; *p != '\0'; p++)
        h = (h ^ tw_ascii_lower((unsigned char)*p)) * FNV_PRIME;
    return tw_mix64(h);
}

/* Hash of a domain, read from its end (see the comment at the top). */
static uint64_t domain_hash(const char *d, size_t len)
{
    uint64_t h = FNV_OFFSET;

    for (size_t i = len; i-- > 0;)
        h = (h ^ tw_ascii_lower((unsigned char)d[i])) * FNV_PRIME;
    return h;
}

static uint64_t make_key(uint64_t scope, uint64_t dom)
{
    return tw_mix64(scope ^ tw_mix64(dom));
}

/* Frees what rebuild() made: the slots (mask + 1) and next[] and hits[] of max(n, 1). */
static void built_free(struct ex_slot *slots, size_t mask, uint32_t *next, void *hits, size_t n)
{
    tw_table_free(slots, (mask + 1) * sizeof(*slots));
    tw_table_free(next, TW_MAX(n, 1) * sizeof(*next));
    tw_table_free(hits, TW_MAX(n, 1) * sizeof(uint64_t));
}

struct tw_exclusions *tw_exclusions_new(void)
{
    return calloc(1, sizeof(struct tw_exclusions));
}

void tw_exclusions_free(struct tw_exclusions *ex)
{
    if (ex == NULL)
        return;
    tw_table_free(ex->entries, ex->cap * sizeof(*ex->entries));
    tw_arena_free(&ex->strings);
    built_free(ex->slots, ex->mask, ex->next, (void *)ex->hits, ex->n_built);
    for (size_t i = 0; i < ex->n_files; i++)
        free(ex->files[i]);
    free(ex->files);
    free(ex);
}

/* ---- parsing ---- */

static char *dup_lower(struct tw_arena *a, const char *s, size_t len)
{
    char *d = tw_arena_alloc(a, len + 1, 1);

    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        d[i] = (char)tw_ascii_lower((unsigned char)s[i]);
    d[len] = '\0';
    return d;
}

/* Checks a domain value; returns NULL when fine, else the reason. */
static const char *domain_problem(const char *v, size_t len)
{
    size_t label = 0;

    if (len >= 2 && v[0] == '*' && v[1] == '.')
        return "write the name without '*.': domain= already covers its subdomains";
    if (len == 0)
        return "empty name";
    if (len > EX_DOMAIN_MAX)
        return "longer than 253 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c == '.') {
            if (label == 0)
                return "empty label";
            label = 0;
            continue;
        }
        if (!(tw_ascii_alnum((uint8_t)c) || c == '-' || c == '_'))
            return "only letters, digits, '-' and '_' may appear in a label";
        if (++label > 63)
            return "a label longer than 63 bytes";
    }
    if (label == 0)
        return "empty label";
    return NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum ex_key { K_RULE, K_DOMAIN, K_SRC, K_DST, K_IMAGE, K__COUNT };
static const char *const key_names[K__COUNT] = {"rule", "domain", "src", "dst", "image"};

/*
 * Parses one line (NUL-terminated, no line end) into *e, its strings in a. Returns 1 for an
 * exclusion, 0 for a blank or comment line, TW_EINVAL with the reason in why, or TW_ENOMEM
 * (the caller takes a back to before the line unless 1).
 */
static int parse_line(struct tw_arena *a, const char *s, struct ex_entry *e, char *why,
                      size_t whycap)
{
    const char *p = s;
    bool seen[K__COUNT] = {false};
    bool any = false;
    char val[EX_LINE_MAX + 1];

    memset(e, 0, sizeof(*e));
    for (;;) {
        const char *key, *v;
        size_t klen, vlen;
        enum ex_key k;

        while (is_blank(*p))
            p++;
        if (*p == '\0' || *p == '#')
            break;
        key = p;
        while (*p != '\0' && *p != '=' && !is_blank(*p))
            p++;
        klen = (size_t)(p - key);
        if (*p != '=') {
            snprintf(why, whycap, "'%.*s' is not KEY=VALUE", (int)TW_MIN(klen, EX_SHOW), key);
            goto out_bad;
        }
        if (klen == 0) {
            snprintf(why, whycap, "a term starts with '=': no key");
            goto out_bad;
        }
        p++;
        if (*p == '"') {
            v = ++p;
            while (*p != '\0' && *p != '"')
                p++;
            if (*p != '"') {
                snprintf(why, whycap, "unterminated quote");
                goto out_bad;
            }
            vlen = (size_t)(p - v);
            p++;
            if (*p != '\0' && !is_blank(*p)) {
                snprintf(why, whycap, "text right after a closing quote");
                goto out_bad;
            }
        } else {
            v = p;
            while (*p != '\0' && !is_blank(*p))
                p++;
            vlen = (size_t)(p - v);
        }
        for (k = 0; k < K__COUNT; k++)
            if (strlen(key_names[k]) == klen && memcmp(key_names[k], key, klen) == 0)
                break;
        if (k == K__COUNT) {
            snprintf(why, whycap, "unknown key '%.*s' (keys: rule, domain, src, dst, image)",
                     (int)TW_MIN(klen, EX_SHOW), key);
            goto out_bad;
        }
        if (seen[k]) {
            snprintf(why, whycap, "key '%s' given twice", key_names[k]);
            goto out_bad;
        }
        seen[k] = true;
        if (vlen == 0) {
            snprintf(why, whycap, "empty value for '%s'", key_names[k]);
            goto out_bad;
        }
        memcpy(val, v, vlen); /* vlen < line length <= EX_LINE_MAX */
        val[vlen] = '\0';
        any = true;
        switch (k) {
        case K_RULE:
            if ((e->rule = dup_lower(a, val, vlen)) == NULL)
                goto out_nomem;
            break;
        case K_DOMAIN: {
            const char *problem;

            if (vlen > 1 && val[vlen - 1] == '.')
                vlen--; /* one trailing dot, as in names */
            problem = domain_problem(val, vlen);
            if (problem != NULL) {
                snprintf(why, whycap, "bad domain '%.*s': %s", (int)TW_MIN(vlen, EX_SHOW), val,
                         problem);
                goto out_bad;
            }
            if ((e->domain = dup_lower(a, val, vlen)) == NULL)
                goto out_nomem;
            e->domain_len = vlen;
            break;
        }
        case K_SRC:
        case K_DST: {
            struct tw_cidr *c = k == K_SRC ? &e->src : &e->dst;

            if (tw_cidr_parse(val, c) != 0) {
                snprintf(why, whycap,
                         "bad CIDR '%.*s' for '%s' (an IPv4 or IPv6 address, or a network "
                         "with its host bits zero)",
                         (int)TW_MIN(vlen, EX_SHOW), val, key_names[k]);
                goto out_bad;
            }
            if (k == K_SRC)
                e->has_src = true;
            else
                e->has_dst = true;
            break;
        }
        case K_IMAGE:
            if ((e->image = tw_arena_strndup(a, val, vlen)) == NULL)
                goto out_nomem;
            break;
        default:
            break;
        }
    }
    return any ? 1 : 0;

out_nomem:
    return TW_ENOMEM;
out_bad:
    return TW_EINVAL;
}

/* Rebuilds next[], hits[] (keeping the counts of the first n_old entries) and the table. */
static int rebuild(struct tw_exclusions *ex, size_t n_old)
{
    size_t nslots = 8;
    struct ex_slot *slots = NULL;
    uint32_t *next = NULL;
    _Atomic uint64_t *hits = NULL;
    size_t scoped = 0, rules = 0;

    while (nslots < 2 * ex->n)
        nslots *= 2;
    slots = tw_table_alloc(nslots * sizeof(*slots));
    next = tw_table_alloc(TW_MAX(ex->n, 1) * sizeof(*next));
    hits = tw_table_alloc(TW_MAX(ex->n, 1) * sizeof(*hits));
    if (slots == NULL || next == NULL || hits == NULL)
        goto out_nomem;
    for (size_t i = 0; i < nslots; i++)
        slots[i].head = EX_NONE;
    for (size_t i = 0; i < ex->n; i++) {
        const struct ex_entry *e = &ex->entries[i];
        uint64_t dom = e->domain != NULL ? domain_hash(e->domain, e->domain_len) : DOM_NONE;
        uint64_t key = make_key(scope_hash(e->rule), dom);
        size_t j = key & (nslots - 1);

        atomic_init(&hits[i],
                    i < n_old ? atomic_load_explicit(&ex->hits[i], memory_order_relaxed) : 0);
        next[i] = EX_NONE;
        while (slots[j].head != EX_NONE && slots[j].key != key)
            j = (j + 1) & (nslots - 1);
        if (slots[j].head == EX_NONE) {
            slots[j].key = key;
            slots[j].head = (uint32_t)i;
        } else {
            next[slots[j].tail] = (uint32_t)i;
        }
        slots[j].tail = (uint32_t)i;
        if (e->rule != NULL)
            scoped++;
    }
    /* Distinct rule ids, by their scope hash (a collision would undercount a statistic). */
    {
        uint64_t *seen = tw_table_alloc(nslots * sizeof(*seen));

        if (seen == NULL)
            goto out_nomem;
        for (size_t i = 0; i < ex->n; i++) {
            const char *r = ex->entries[i].rule;
            uint64_t h;
            size_t j;
            bool found = false;

            if (r == NULL)
                continue;
            h = scope_hash(r) | 1; /* never 0: 0 marks an empty cell */
            for (j = h & (nslots - 1); seen[j] != 0; j = (j + 1) & (nslots - 1)) {
                if (seen[j] == h) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                seen[j] = h;
                rules++;
            }
        }
        tw_table_free(seen, nslots * sizeof(*seen));
    }
    built_free(ex->slots, ex->mask, ex->next, (void *)ex->hits, ex->n_built);
    ex->slots = slots;
    ex->mask = nslots - 1;
    ex->next = next;
    ex->hits = hits;
    ex->n_built = ex->n;
    ex->scoped = scoped;
    ex->rules = rules;
    return 0;

out_nomem:
    built_free(slots, nslots - 1, next, (void *)hits, ex->n);
    return TW_ENOMEM;
}

int tw_exclusions_load(struct tw_exclusions *ex, const char *path, FILE *errlog)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t bufcap = 0;
    ssize_t got;
    unsigned lineno = 0;
    size_t bad = 0, n_old, file_idx;
    char why[256];
    int rc = 0;

    if (ex == NULL || path == NULL)
        return TW_EINVAL;
    if (errlog == NULL)
        errlog = stderr;
    n_old = ex->n;
    file_idx = ex->n_files;
    struct tw_arena_mark file_mark = tw_arena_mark(&ex->strings);
    f = fopen(path, "r");
    if (f == NULL) {
        int err = errno;

        fprintf(errlog, "%s: cannot read: %s\n", path, strerror(err));
        ex->errors++;
        errno = err;
        return TW_EIO;
    }
    if (tw_grow((void **)&ex->files, &ex->files_cap, ex->n_files + 1, sizeof(*ex->files), 8) != 0 ||
        (ex->files[file_idx] = strdup(path)) == NULL) {
        rc = TW_ENOMEM;
        goto out_close;
    }
    while ((got = getline(&buf, &bufcap, f)) != -1) {
        size_t len = (size_t)got;
        struct ex_entry e;
        struct tw_arena_mark line_mark = tw_arena_mark(&ex->strings);
        int r;

        lineno++;
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
        buf[len] = '\0';
        if (strlen(buf) != len) {
            snprintf(why, sizeof(why), "NUL byte in the line");
            r = TW_EINVAL;
        } else if (len > EX_LINE_MAX) {
            snprintf(why, sizeof(why), "line longer than %d bytes", EX_LINE_MAX);
            r = TW_EINVAL;
        } else {
            r = parse_line(&ex->strings, buf, &e, why, sizeof(why));
        }
        /* Its strings stay only if the line is kept (a line of a rejected file is not). */
        if (r != 1 || bad > 0)
            tw_arena_release(&ex->strings, line_mark);
        if (r == TW_ENOMEM) {
            rc = TW_ENOMEM;
            goto out_drop;
        }
        if (r == TW_EINVAL) {
            if (bad < EX_REPORT_MAX)
                fprintf(errlog, "%s:%u: %s\n", path, lineno, why);
            bad++;
            continue;
        }
        if (r == 0)
            continue;
        if (bad > 0) /* the file is rejected already: only look for more bad lines */
            continue;
        if (tw_table_grow((void **)&ex->entries, &ex->cap, ex->n + 1, sizeof(*ex->entries), 16) !=
            0) {
            rc = TW_ENOMEM;
            goto out_drop;
        }
        e.file = (uint32_t)file_idx;
        e.line = lineno;
        ex->entries[ex->n++] = e;
    }
    if (ferror(f)) {
        int err = errno;

        fprintf(errlog, "%s: cannot read: %s\n", path, strerror(err));
        errno = err;
        rc = TW_EIO;
        goto out_drop;
    }
    if (bad > 0) {
        if (bad > EX_REPORT_MAX)
            fprintf(errlog, "%s: %zu more bad lines not shown\n", path, bad - EX_REPORT_MAX);
        fprintf(errlog, "%s: rejected: %zu bad line%s, no exclusion of this file is used\n", path,
                bad, bad == 1 ? "" : "s");
        rc = TW_EINVAL;
        goto out_drop;
    }
    if (ex->n > EX_NONE - 1) {
        rc = TW_ENOMEM;
        goto out_drop;
    }
    rc = rebuild(ex, n_old);
    if (rc != 0)
        goto out_drop;
    ex->n_files++;
    goto out_close;

out_drop:
    ex->n = n_old;
    tw_arena_release(&ex->strings, file_mark);
    if (ex->files != NULL && file_idx < ex->files_cap) {
        free(ex->files[file_idx]);
        ex->files[file_idx] = NULL;
    }
    if (rc != TW_ENOMEM)
        ex->errors++;
out_close:
    free(buf);
    fclose(f);
    return rc;
}

/* ---- matching ---- */

struct ex_name {
    const char *p;
    size_t len;
};

/* Glob with '*' and '?', bytes compared exactly. Linear backtracking on the last '*'. */
static bool glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s != '\0') {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || (*pat != '\0' && *pat == *s)) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static bool name_covered(const struct ex_name *n, const char *dom, size_t dlen)
{
    if (n->len == dlen)
        return tw_ascii_eq_nocase(n->p, dom, dlen);
    return n->len > dlen && n->p[n->len - dlen - 1] == '.' &&
           tw_ascii_eq_nocase(n->p + n->len - dlen, dom, dlen);
}

struct ex_query {
    const char *rule_id; /* NULL: none */
    const struct tw_event *ev;
    struct ex_name names[2];
    size_t n_names;
};

static bool entry_holds(const struct ex_entry *e, const struct ex_query *q)
{
    const struct tw_event *ev = q->ev;

    if (e->rule != NULL) {
        size_t rl = strlen(e->rule);

        if (q->rule_id == NULL || strlen(q->rule_id) != rl ||
            !tw_ascii_eq_nocase(q->rule_id, e->rule, rl))
            return false;
    }
    if (e->domain != NULL) {
        bool any = false;

        for (size_t i = 0; i < q->n_names && !any; i++)
            any = name_covered(&q->names[i], e->domain, e->domain_len);
        if (!any)
            return false;
    }
    if (e->has_src && !tw_cidr_contains(&e->src, ev->ip_version, ev->src_addr))
        return false;
    if (e->has_dst && !tw_cidr_contains(&e->dst, ev->ip_version, ev->dst_addr))
        return false;
    if (e->image != NULL && (ev->proc.status != TW_PROC_FOUND || ev->proc.image == NULL ||
                             !glob_match(e->image, ev->proc.image)))
        return false;
    return true;
}

/* Lowers *best to the first entry of key's chain that holds, if it comes before *best. */
static void probe(const struct tw_exclusions *ex, uint64_t key, const struct ex_query *q,
                  uint32_t *best)
{
    size_t j = key & ex->mask;

    while (ex->slots[j].head != EX_NONE && ex->slots[j].key != key)
        j = (j + 1) & ex->mask;
    for (uint32_t i = ex->slots[j].head; i != EX_NONE && i < *best; i = ex->next[i]) {
        if (entry_holds(&ex->entries[i], q)) {
            *best = i; /* chains are in load order: the rest come later */
            return;
        }
    }
}

static struct ex_name trim_name(const char *p, size_t len)
{
    struct ex_name n = {p, len};

    if (n.len > 0 && n.p[n.len - 1] == '.')
        n.len--;
    return n;
}

bool tw_exclusions_find(const struct tw_exclusions *ex, const char *rule_id,
                        const struct tw_event *ev, const char *matched_name,
                        struct tw_exclusion_hit *hit)
{
    struct ex_query q = {.rule_id = rule_id, .ev = ev};
    uint64_t scopes[2];
    size_t n_scopes = 0;
    uint32_t best = EX_NONE;
    uint64_t count;

    if (ex == NULL || ex->n == 0 || ev == NULL)
        return false;
    if (rule_id != NULL && *rule_id == '\0')
        q.rule_id = NULL;
    if (ev->norm != NULL)
        q.names[q.n_names++] = trim_name(ev->norm, ev->norm_len);
    if (matched_name != NULL) {
        struct ex_name m = trim_name(matched_name, strlen(matched_name));

        if (q.n_names == 0 || m.len != q.names[0].len ||
            !tw_ascii_eq_nocase(m.p, q.names[0].p, m.len))
            q.names[q.n_names++] = m;
    }
    scopes[n_scopes++] = SCOPE_GLOBAL;
    if (q.rule_id != NULL)
        scopes[n_scopes++] = scope_hash(q.rule_id);

    for (size_t k = 0; k < q.n_names; k++) {
        const struct ex_name *n = &q.names[k];
        uint64_t h = FNV_OFFSET;

        for (size_t i = n->len; i-- > 0;) {
            h = (h ^ tw_ascii_lower((unsigned char)n->p[i])) * FNV_PRIME;
            if (i == 0 || n->p[i - 1] == '.')
                for (size_t s = 0; s < n_scopes; s++)
                    probe(ex, make_key(scopes[s], h), &q, &best);
        }
    }
    for (size_t s = 0; s < n_scopes; s++)
        probe(ex, make_key(scopes[s], DOM_NONE), &q, &best);
    if (best == EX_NONE)
        return false;
    count = atomic_fetch_add_explicit(&ex->hits[best], 1, memory_order_relaxed) + 1;
    if (hit != NULL) {
        hit->file = ex->files[ex->entries[best].file];
        hit->line = ex->entries[best].line;
        hit->hits = count;
    }
    return true;
}

bool tw_exclusions_match(const struct tw_exclusions *ex, const char *rule_id,
                         const struct tw_event *ev, const char *matched_name, unsigned *line_out)
{
    struct tw_exclusion_hit hit;

    if (!tw_exclusions_find(ex, rule_id, ev, matched_name, &hit))
        return false;
    if (line_out != NULL)
        *line_out = hit.line;
    return true;
}

size_t tw_exclusions_hits(const struct tw_exclusions *ex, struct tw_exclusion_hit *out, size_t cap)
{
    if (ex == NULL)
        return 0;
    for (size_t i = 0; i < ex->n && i < cap; i++) {
        out[i].file = ex->files[ex->entries[i].file];
        out[i].line = ex->entries[i].line;
        out[i].hits = atomic_load_explicit(&ex->hits[i], memory_order_relaxed);
    }
    return ex->n;
}

void tw_exclusions_get_stats(const struct tw_exclusions *ex, struct tw_exclusions_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (ex == NULL)
        return;
    st->files = ex->n_files;
    st->errors = ex->errors;
    st->entries = ex->n;
    st->scoped = ex->scoped;
    st->rules = ex->rules;
    for (size_t i = 0; i < ex->n; i++)
        st->excluded += atomic_load_explicit(&ex->hits[i], memory_order_relaxed);
}
