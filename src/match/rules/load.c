/* SPDX-License-Identifier: MIT */
/*
 * Loading rules: the walk of a file or directory, each file parsed once (by the fast reader,
 * else libyaml) and each document compiled into a rule as it ends, skipped rules and file
 * errors (one line each to errlog, and kept for tw_ruleset_skip_reasons(),
 * tw_ruleset_skipped(), tw_ruleset_errors()).
 */
#include "tunwatch/match/rules.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_impl.h"

/* Directory nesting followed by the loader. */
#define DIR_DEPTH_MAX 32

/* ------------------------------------------------------------------------ */
/* Rules                                                                    */

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

/* The values of the top-level keys the loader reads (the first of each, as rules_map_get()
 * would find it), from one pass over the map; NULL for a key that is not there. */
struct rule_keys {
    const struct ynode *id, *title, *level, *description, *tags, *references, *logsource,
        *detection;
};

static void rule_keys(const struct ydoc *d, const struct ynode *root, struct rule_keys *k)
{
    *k = (struct rule_keys){0};
    if (!root || root->type != Y_MAP)
        return;
    for (size_t i = 0; i < root->n; i++) {
        const struct ynode *kn = ykid(d, root, 2 * i), **slot = NULL;
        const char *s = d->text + kn->a;

        if (kn->type != Y_SCALAR)
            continue;
        switch (kn->n) {
        case 2:
            slot = memcmp(s, "id", 2) == 0 ? &k->id : NULL;
            break;
        case 4:
            slot = memcmp(s, "tags", 4) == 0 ? &k->tags : NULL;
            break;
        case 5:
            slot = memcmp(s, "title", 5) == 0   ? &k->title
                   : memcmp(s, "level", 5) == 0 ? &k->level
                                                : NULL;
            break;
        case 9:
            slot = memcmp(s, "logsource", 9) == 0   ? &k->logsource
                   : memcmp(s, "detection", 9) == 0 ? &k->detection
                                                    : NULL;
            break;
        case 10:
            slot = memcmp(s, "references", 10) == 0 ? &k->references : NULL;
            break;
        case 11:
            slot = memcmp(s, "description", 11) == 0 ? &k->description : NULL;
            break;
        default:
            break;
        }
        if (slot && !*slot)
            *slot = ykid(d, root, 2 * i + 1);
    }
}

/* The strings of sequence node seq (NULL: not a sequence), those that are strings: into
 * buf[0..cap) while they fit, else a malloc'd array (*heap, to free). */
static const char *const *seq_strings(const struct ydoc *d, const struct ynode *seq,
                                      const char **buf, size_t cap, const char ***heap,
                                      size_t *n)
{
    const char **v = buf;

    *n = 0;
    *heap = NULL;
    if (!seq || seq->type != Y_SEQ)
        return NULL;
    if (seq->n > cap) {
        if ((v = *heap = malloc(seq->n * sizeof(*v))) == NULL)
            return NULL;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const char *t = scalar(d, ykid(d, seq, i));

        if (t)
            v[(*n)++] = t;
    }
    return v;
}

static int make_rule(struct tw_ruleset *rs, const struct ydoc *d, const struct rule_keys *k,
                     const char *id, enum tw_category cat, uint32_t node)
{
    const char *tbuf[16], *rbuf[16], **theap, **rheap;
    struct rule_text t = {.id = id,
                          .title = scalar(d, k->title),
                          .level = scalar(d, k->level),
                          .description = scalar(d, k->description),
                          .file = rs->files[rs->n_files - 1]};
    int rc;

    t.tags = seq_strings(d, k->tags, tbuf, 16, &theap, &t.n_tags);
    t.refs = seq_strings(d, k->references, rbuf, 16, &rheap, &t.n_refs);
    if ((k->tags && k->tags->type == Y_SEQ && !t.tags) ||
        (k->references && k->references->type == Y_SEQ && !t.refs))
        rc = TW_ENOMEM;
    else
        rc = rules_rule_new(rs, &t, cat, node);
    free(theap);
    free(rheap);
    return rc;
}

/* String s of rule text t where the rule keeps it: copied to *at (advanced past it), or, when
 * t's strings stay where they are, s itself; "" for NULL either way. */
static char *place(const struct rule_text *t, char **at, const char *s)
{
    if (!t->in_place)
        return put_str(at, s);
    return (char *)(uintptr_t)(s != NULL ? s : "");
}

int rules_rule_new(struct tw_ruleset *rs, const struct rule_text *t, enum tw_category cat,
                   uint32_t root)
{
    /* One allocation: the struct, its tag and reference pointers, then its strings (unless
     * they stay where they are). */
    size_t n_slots = t->tags ? (t->n_tags ? t->n_tags : 1) : 0;
    size_t n_ref_slots = t->refs ? (t->n_refs ? t->n_refs : 1) : 0;
    size_t size = sizeof(struct rule) + (n_slots + n_ref_slots) * sizeof(char *);
    char **refv = NULL, **tagv = NULL;
    struct rule *r;
    char *at;

    if (!t->in_place) {
        size += str_size(t->id) + str_size(t->title) + str_size(t->level);
        for (size_t i = 0; i < t->n_tags; i++)
            size += str_size(t->tags[i]);
        for (size_t i = 0; i < t->n_refs; i++)
            size += str_size(t->refs[i]);
        if (t->description)
            size += str_size(t->description);
    }
    if (grow_table((void **)&rs->rules, &rs->rules_cap, rs->n_rules + 1, sizeof(*rs->rules)))
        return TW_ENOMEM;
    r = tw_arena_alloc(&rs->arena, size, _Alignof(struct rule));
    if (!r)
        return TW_ENOMEM;
    memset(r, 0, size);
    at = (char *)(r + 1);
    if (t->tags) {
        tagv = (char **)(void *)at;
        r->info.tags = (const char *const *)tagv;
        at += n_slots * sizeof(char *);
    }
    if (t->refs) {
        refv = (char **)(void *)at;
        r->info.references = (const char *const *)refv;
        at += n_ref_slots * sizeof(char *);
    }
    r->info.id = place(t, &at, t->id);
    r->info.title = place(t, &at, t->title);
    r->info.level = place(t, &at, t->level);
    for (size_t i = 0; i < t->n_tags; i++)
        tagv[r->info.n_tags++] = place(t, &at, t->tags[i]);
    for (size_t i = 0; i < t->n_refs; i++)
        refv[r->info.n_references++] = place(t, &at, t->refs[i]);
    if (t->description)
        r->info.description = place(t, &at, t->description);
    r->info.file = t->file;
    r->info.line = t->line;
    r->info.category = cat;
    r->root = root;
    rs->rules[rs->n_rules++] = r;
    return 0;
}

/* Drops the graph built for a rule that is then skipped, and what it put in the arena. */
static void rollback(struct tw_ruleset *rs, size_t n_nodes, size_t n_kids, size_t n_m,
                     struct tw_arena_mark am)
{
    for (size_t i = n_m; rs->has_re && i < rs->n_m; i++)
        rules_matcher_free(&rs->m[i]);
    rs->n_m = n_m;
    rs->n_nodes = n_nodes;
    rs->n_kids = n_kids;
    tw_arena_release(&rs->arena, am);
}

int rules_add_problem(struct tw_ruleset *rs, const char *file, const char *id, unsigned line,
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
static void __attribute__((format(printf, 6, 7)))
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
    rules_add_problem(rs, path, NULL, (unsigned)line, (unsigned)col, msg); /* best effort */
}

/* Compiles the document in d into a rule, or writes why it is skipped to msgs.
 * 0 or TW_ENOMEM. */
static int load_doc(struct tw_ruleset *rs, const char *file, const struct ydoc *d, size_t docno,
                    FILE *msgs)
{
    struct lctx c = {.rs = rs, .doc = d};
    const struct ynode *root = d->n_nodes ? &d->nodes[0] : NULL;
    size_t n_nodes = rs->n_nodes, n_kids = rs->n_kids, n_m = rs->n_m;
    struct tw_arena_mark am = tw_arena_mark(&rs->arena);
    struct rule_keys k;
    const char *id;
    char idbuf[48];
    uint32_t node = 0;
    int rc;

    if (!root || rules_is_null(d, root))
        return 0; /* empty document, e.g. after a trailing '---' */
    rule_keys(d, root, &k);
    id = scalar(d, k.id);
    if (!id || !*id) {
        snprintf(idbuf, sizeof(idbuf), "(document %zu)", docno);
        id = idbuf;
    }
    if (root->type != Y_MAP)
        rc = SKIP(&c, "document is not a map");
    else if (id == idbuf)
        rc = SKIP(&c, "missing id");
    else if (!(rc = rules_logsource(&c, k.logsource)))
        rc = rules_compile_detection(&c, k.detection, &node);
    /* A rule that became a rule on DNS responses (a response field) must not test a field
     * responses lack, tested before the response field was met. */
    for (size_t i = n_m; !rc && c.cat == TW_CAT_DNS && i < rs->n_m; i++) {
        const struct matcher *m = &rs->m[i];
        if (m->field != F_ANY && !rules_field_in_category(m->field, TW_CAT_DNS))
            rc = SKIP(&c, "field '%s' not in category dns (a rule on DNS responses)",
                      rules_field_label(m->field));
        else if (m->kind == MK_FIELDREF && !rules_field_in_category(m->field2, TW_CAT_DNS))
            rc = SKIP(&c, "field '%s' not in category dns (a rule on DNS responses)",
                      rules_field_label(m->field2));
    }
    if (!rc && c.pending[0]) {
        memcpy(c.reason, c.pending, sizeof(c.reason));
        rc = TW_ENOTSUP;
    }
    if (!rc)
        rc = make_rule(rs, d, &k, id, c.cat, node);
    if (rc) {
        rollback(rs, n_nodes, n_kids, n_m, am);
        if (rc == TW_ENOMEM || rules_add_problem(rs, file, id, 0, 0, c.reason))
            return TW_ENOMEM;
        fprintf(msgs, "%s: rule %s skipped: %s\n", file, id, c.reason);
        rs->st.skipped++;
        return 0;
    }
    rs->st.loaded++;
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
    struct tw_arena_mark am;
};

/* Takes out the rules a file added and the skipped-rule lines it left; its errors stay. */
static void docs_undo(struct tw_ruleset *rs, const struct file_mark *fm)
{
    rs->n_rules = fm->n_rules;
    rollback(rs, fm->n_nodes, fm->n_kids, fm->n_m, fm->am);
    rs->st.loaded = fm->loaded;
    rs->st.skipped = fm->skipped;
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
}

/* The same, and the file itself goes from the list of files read. */
static void file_undo(struct tw_ruleset *rs, const struct file_mark *fm)
{
    docs_undo(rs, fm);
    free(rs->files[--rs->n_files]);
}

struct fast_ctx {
    struct tw_ruleset *rs;
    struct ydoc *d;
    const char *path;
    FILE *msgs;
};

static int fast_doc_end(void *ctx, size_t docno)
{
    struct fast_ctx *c = ctx;

    return load_doc(c->rs, c->path, c->d, docno, c->msgs);
}

#define FAST_PIECE ((size_t)1 << 20) /* read this much at a time */
#define FAST_MAX ((size_t)256 << 20)  /* a longer document is left to libyaml */

/* Reads f in pieces of whole documents (rules_yaml_fast_cut()) through one buffer that is
 * reused, and compiles them with the fast reader (yaml_fast.c): 0, TW_ENOMEM, or TW_ENOTSUP
 * when libyaml has to read the file (something outside the fast reader's subset, or a file it
 * does not take: not regular, a document over FAST_MAX, unreadable). */
static int load_fast(struct tw_ruleset *rs, struct ydoc *d, const char *path, FILE *f,
                     FILE *msgs)
{
    struct fast_ctx c = {rs, d, path, msgs};
    size_t cap = FAST_PIECE, have = 0, docno = 0;
    struct stat stb;
    bool eof = false;
    char *buf;
    int rc = 0;

    if (fstat(fileno(f), &stb) != 0 || !S_ISREG(stb.st_mode))
        return TW_ENOTSUP;
    if (stb.st_size >= 0 && (size_t)stb.st_size < cap)
        cap = (size_t)stb.st_size + 1; /* a small file in one read, and no more memory */
    buf = malloc(cap);
    if (!buf)
        return TW_ENOTSUP;
    while (!eof && rc == 0) {
        size_t want = cap - have, n = fread(buf + have, 1, want, f), cut;

        if (ferror(f)) {
            rc = TW_ENOTSUP;
            break;
        }
        have += n;
        eof = n < want;
        cut = eof ? have : rules_yaml_fast_cut(buf, have);
        if (cut == 0) { /* no document ends in the buffer: make room for more */
            if (cap >= FAST_MAX || grow((void **)&buf, &cap, cap * 2, 1))
                rc = TW_ENOTSUP;
            continue;
        }
        rc = rules_yaml_fast(d, buf, cut, &docno, fast_doc_end, &c);
        memmove(buf, buf + cut, have - cut);
        have -= cut;
    }
    free(buf);
    return rc;
}

/*
 * Parses the file once, compiling each document as it ends: with the fast reader when the
 * file is in its subset, else with libyaml. What the rules have to say goes to a buffer that
 * reaches errlog only if the whole file parsed: a syntax error (or nesting beyond
 * YAML_DEPTH_MAX, which would make later walks of the tree deep) takes every rule of the file
 * out again and leaves one line. A composer error (undefined or duplicate anchor) keeps the
 * rules of the documents before it, as yaml_parser_load() would have.
 */
static int load_file(struct tw_ruleset *rs, struct ydoc *d, const char *path, FILE *errlog)
{
    struct file_mark fm = {rs->n_rules,   rs->n_nodes,    rs->n_kids,  rs->n_m,
                           rs->st.loaded, rs->st.skipped, rs->n_probs, tw_arena_mark(&rs->arena)};
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
    if (!msgs) {
        rc = TW_ENOMEM;
        goto out_undo;
    }
    rc = load_fast(rs, d, path, in.f, msgs);
    if (rc == 0)
        goto out_msgs;
    if (rc != TW_ENOTSUP)
        goto out_undo;
    /* libyaml reads it from the start */
    docs_undo(rs, &fm);
    fclose(msgs);
    free(msg);
    msg = NULL;
    msg_len = 0;
    rc = 0;
    rewind(in.f);
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
                rules_ydoc_reset(d);
            } else if (e.type == YAML_DOCUMENT_END_EVENT) {
                rc = load_doc(rs, path, d, docno, msgs);
            } else {
                rc = rules_ydoc_event(d, &e, &problem);
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
out_msgs:
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

/* What a walk over rule paths does with each file, and with a path it cannot read. */
struct walk {
    int (*file)(void *ctx, const char *path);
    void (*error)(void *ctx, const char *path, const char *msg);
    void *ctx;
};

/* path, a file or a directory read recursively in sorted order (names starting with '.' and
 * files not named *.yml / *.yaml left out): the worst of what w->file returned, TW_EINVAL
 * after w->error for what could not be read, or TW_ENOMEM; TW_ENOMEM stops the walk. */
static int walk_path(const struct walk *w, const char *path, int depth)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    char **names = NULL, msg[300];
    size_t n = 0, cap = 0;
    int rc = 0;

    if (stat(path, &sb) != 0) {
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        w->error(w->ctx, path, msg);
        return TW_EINVAL;
    }
    if (!S_ISDIR(sb.st_mode))
        return w->file(w->ctx, path);
    if (depth >= DIR_DEPTH_MAX) {
        w->error(w->ctx, path, "directories nested too deeply");
        return TW_EINVAL;
    }
    d = opendir(path);
    if (!d) {
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        w->error(w->ctx, path, msg);
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
        snprintf(child, plen, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
        if (stat(child, &sb) == 0 && S_ISDIR(sb.st_mode))
            rc = worse(rc, walk_path(w, child, depth + 1));
        else if (yaml_name(names[i]))
            rc = worse(rc, w->file(w->ctx, child));
        free(child);
    }
out_close:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

struct load_walk {
    struct tw_ruleset *rs;
    struct ydoc *yd;
    FILE *errlog;
};

static int load_walk_file(void *ctx, const char *path)
{
    struct load_walk *l = ctx;

    return load_file(l->rs, l->yd, path, l->errlog);
}

static void load_walk_error(void *ctx, const char *path, const char *msg)
{
    struct load_walk *l = ctx;

    file_error(l->rs, l->errlog, path, 0, 0, "%s", msg);
}

int tw_ruleset_load(struct tw_ruleset *rs, const char *path, FILE *errlog)
{
    struct ydoc d = {0};
    int rc;

    if (!rs || !path)
        return TW_EINVAL;
    if (!errlog)
        errlog = stderr;
    rules_uncompile(rs); /* rule pointers stay valid; the matcher must be rebuilt */
    struct load_walk l = {rs, &d, errlog};
    rc = walk_path(&(struct walk){load_walk_file, load_walk_error, &l}, path, 0);
    rules_ydoc_free(&d);
    return rc;
}

static void list_error(void *ctx, const char *path, const char *msg)
{
    (void)ctx;
    (void)path;
    (void)msg;
}

int tw_ruleset_files(const char *path, int (*fn)(void *ctx, const char *file), void *ctx)
{
    return walk_path(&(struct walk){fn, list_error, ctx}, path, 0);
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

size_t tw_ruleset_skip_reasons(const struct tw_ruleset *rs, struct tw_reason_count *out, size_t cap)
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
            out[n] = (struct tw_rule_skip){rs->probs[i].file, rs->probs[i].id, rs->probs[i].reason};
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
            out[n] = (struct tw_rule_error){rs->probs[i].file, rs->probs[i].line, rs->probs[i].col,
                                            rs->probs[i].reason};
        n++;
    }
    return n;
}
