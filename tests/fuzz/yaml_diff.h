/* SPDX-License-Identifier: MIT */
/*
 * The fast YAML reader (src/match/rules/yaml_fast.c) against libyaml on the same bytes, for
 * tests/test_rules_yaml.c and tests/fuzz/fuzz_yaml.c. Each reader's documents are written
 * out as text (document number, then the tree: plain or quoted scalars with their bytes, maps
 * and sequences), and the contract is:
 *   - libyaml refuses the file (a syntax error, a composer error, nesting beyond
 *     YAML_DEPTH_MAX): the fast reader must decline it (TW_ENOTSUP);
 *   - libyaml reads it: the fast reader declines it, or gives the same documents, byte for
 *     byte.
 */
#ifndef TW_TEST_YAML_DIFF_H
#define TW_TEST_YAML_DIFF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/match/rules/rules_impl.h"

struct ydump {
    char *buf;
    size_t len;
    FILE *f;
};

static void yd_node(FILE *f, const struct ydoc *d, const struct ynode *n, int depth)
{
    if (depth > YAML_DEPTH_MAX + 1) {
        fputs("(deep)", f);
        return;
    }
    switch (n->type) {
    case Y_SCALAR:
        fprintf(f, "%c%u:", n->plain ? 'p' : 'q', n->n);
        fwrite(d->text + n->a, 1, n->n, f);
        break;
    case Y_SEQ:
        fputc('[', f);
        for (size_t i = 0; i < n->n; i++)
            yd_node(f, d, ykid(d, n, i), depth + 1);
        fputc(']', f);
        break;
    default:
        fputc('{', f);
        for (size_t i = 0; i < 2 * (size_t)n->n; i++)
            yd_node(f, d, ykid(d, n, i), depth + 1);
        fputc('}', f);
        break;
    }
}

static void yd_doc(FILE *f, const struct ydoc *d, size_t docno)
{
    fprintf(f, "#%zu ", docno);
    if (d->n_nodes)
        yd_node(f, d, &d->nodes[0], 0);
    else
        fputs("(none)", f);
    fputc('\n', f);
}

struct yd_fast_ctx {
    struct ydoc *d;
    FILE *f;
};

static int yd_fast_doc(void *ctx, size_t docno)
{
    struct yd_fast_ctx *c = ctx;
    yd_doc(c->f, c->d, docno);
    return 0;
}

/* The fast reader's documents into out; its return code. */
static int yd_fast(const char *buf, size_t len, struct ydump *out)
{
    struct ydoc d = {0};
    out->f = open_memstream(&out->buf, &out->len);
    if (out->f == NULL)
        abort();
    struct yd_fast_ctx c = {&d, out->f};
    /* in two pieces, as the loader reads a file, when a document marker allows it */
    size_t docno = 0, cut = rules_yaml_fast_cut(buf, len / 2 + 4 < len ? len / 2 + 4 : len);
    int rc = rules_yaml_fast(&d, buf, cut, &docno, yd_fast_doc, &c);
    if (rc == 0)
        rc = rules_yaml_fast(&d, buf + cut, len - cut, &docno, yd_fast_doc, &c);
    fclose(out->f);
    rules_ydoc_free(&d);
    return rc;
}

/* libyaml's documents into out, as the rule loader reads them; 0, or 1 when libyaml (or the
 * loader's nesting bound or composer) refuses the file. */
static int yd_lib(const char *buf, size_t len, struct ydump *out)
{
    struct ydoc d = {0};
    yaml_parser_t p;
    yaml_event_t e;
    const char *problem = NULL;
    size_t docno = 0;
    int nest = 0, bad = 0;
    bool done = false;

    out->f = open_memstream(&out->buf, &out->len);
    if (out->f == NULL || !yaml_parser_initialize(&p))
        abort();
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    while (!done && !bad) {
        if (!yaml_parser_parse(&p, &e)) {
            bad = 1;
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
            nest++;
        else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
            nest--;
        if (nest > YAML_DEPTH_MAX) {
            bad = 1;
        } else if (e.type == YAML_DOCUMENT_START_EVENT) {
            docno++;
            rules_ydoc_reset(&d);
        } else if (e.type == YAML_DOCUMENT_END_EVENT) {
            yd_doc(out->f, &d, docno);
        } else if (rules_ydoc_event(&d, &e, &problem) != 0) {
            bad = 1;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    fclose(out->f);
    rules_ydoc_free(&d);
    return bad;
}

/* Checks the contract on buf; *accepted says whether the fast reader took the file. Returns
 * NULL, or what is wrong (a static string). */
static const char *yd_check(const char *buf, size_t len, bool *accepted)
{
    struct ydump a = {0}, b = {0};
    int frc = yd_fast(buf, len, &a);
    int lbad = yd_lib(buf, len, &b);
    const char *why = NULL;

    *accepted = frc == 0;
    if (frc != 0 && frc != TW_ENOTSUP)
        why = "fast reader failed with an error other than TW_ENOTSUP";
    else if (frc == 0 && lbad)
        why = "fast reader accepted a file libyaml refuses";
    else if (frc == 0 && (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0))
        why = "fast reader's documents differ from libyaml's";
    if (why != NULL && getenv("TW_YAML_DIFF_SHOW") != NULL)
        fprintf(stderr, "--- input\n%.*s\n--- fast (%d)\n%s--- libyaml (%d)\n%s", (int)len, buf,
                frc, a.buf, lbad, b.buf);
    free(a.buf);
    free(b.buf);
    return why;
}

#endif /* TW_TEST_YAML_DIFF_H */
