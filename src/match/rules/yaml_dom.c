/* SPDX-License-Identifier: MIT */
/*
 * The YAML document tree rules are compiled from: built from libyaml's parser events, with
 * yaml_parser_load()'s rules for anchors and aliases, and the lookups made in it.
 */
#include "rules_impl.h"

#include <stdlib.h>
#include <string.h>

void rules_ydoc_reset(struct ydoc *d)
{
    d->n_nodes = d->n_kids = d->n_pend = d->n_text = d->n_anchors = 0;
    d->depth = 0;
}

void rules_ydoc_free(struct ydoc *d)
{
    free(d->nodes);
    free(d->kids);
    free(d->pend);
    free(d->text);
    free(d->anchors);
    *d = (struct ydoc){0};
}

/* Makes node idx the next child of the innermost open container, if any (an alias). */
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

/* Adds node nd (its text already in d->text) as rules_ydoc_node() does, and records its
 * anchor; yaml_parser_load()'s composer rules. */
static int ydoc_add(struct ydoc *d, struct ynode nd, const char *anchor, const char **problem)
{
    uint32_t idx;

    if (rules_ydoc_node(d, nd, &idx))
        return TW_ENOMEM;
    if (!anchor)
        return 0;
    for (size_t i = 0; i < d->n_anchors; i++) {
        if (strcmp(d->text + d->anchors[i].name, anchor) == 0) {
            *problem = "second occurrence"; /* libyaml's problem text for a duplicate anchor */
            return TW_EINVAL;
        }
    }
    if (grow((void **)&d->anchors, &d->anchors_cap, d->n_anchors + 1, sizeof(*d->anchors)) ||
        rules_ydoc_text(d, anchor, strlen(anchor), &d->anchors[d->n_anchors].name))
        return TW_ENOMEM;
    d->anchors[d->n_anchors++].node = idx;
    return 0;
}

int rules_ydoc_close(struct ydoc *d)
{
    return ydoc_close(d);
}

/*
 * Adds what a node event says to d, with yaml_parser_load()'s composer rules
 * for anchors and aliases. Returns 0, TW_ENOMEM, or TW_EINVAL with *problem
 * set to libyaml's message for that composer error. The caller keeps the
 * nesting below YAML_DEPTH_MAX.
 */
int rules_ydoc_event(struct ydoc *d, const yaml_event_t *e, const char **problem)
{
    const char *anchor = NULL;
    struct ynode nd = {0};
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
        if ((rc = rules_ydoc_text(d, e->data.scalar.value, e->data.scalar.length, &nd.a)))
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
    return ydoc_add(d, nd, anchor, problem);
}

bool rules_is_null(const struct ydoc *d, const struct ynode *n)
{
    const char *s;

    if (!n || n->type != Y_SCALAR || !n->plain)
        return false;
    s = d->text + n->a;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const struct ynode *rules_map_get(const struct ydoc *d, const struct ynode *map, const char *key)
{
    if (!map || map->type != Y_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = ykid(d, map, 2 * i);
        if (k->type == Y_SCALAR && k->n == klen && memcmp(d->text + k->a, key, klen) == 0)
            return ykid(d, map, 2 * i + 1);
    }
    return NULL;
}
