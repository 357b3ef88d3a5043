/* SPDX-License-Identifier: MIT */
/*
 * Storage of a threat-intel set: the string arena, the chunks indicators live in, creating and
 * freeing a set, and its statistics.
 */
#include "tunwatch/match/intel.h"

#include "intel_impl.h"
#include "tunwatch/base/alloc.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK ((size_t)256 * 1024)

void *intel_arena_alloc(struct tw_intel *in, size_t n)
{
    struct arena_chunk *c = in->arena;
    size_t need = (n + 7) & ~(size_t)7;

    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = in->arena;
        in->arena = c;
        in->arena_bytes += sizeof(*c) + cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    return p;
}

char *intel_arena_strndup(struct tw_intel *in, const char *s, size_t len)
{
    char *d = intel_arena_alloc(in, len + 1);

    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

struct ind *intel_ind_new(struct tw_intel *in)
{
    size_t c = in->n >> IND_SHIFT;
    struct ind *e;

    if (in->n >= UINT32_MAX)
        return NULL;
    if (c >= in->n_chunks) {
        if (tw_grow((void **)&in->chunks, &in->chunks_cap, c + 1, sizeof(*in->chunks), 16))
            return NULL;
        in->chunks[c] = malloc(IND_CHUNK * sizeof(struct ind));
        if (in->chunks[c] == NULL)
            return NULL;
        in->n_chunks = c + 1;
    }
    e = ind_at(in, in->n);
    memset(e, 0, sizeof(*e));
    e->seq = (uint32_t)in->n++;
    return e;
}

struct tw_intel *tw_intel_new(void)
{
    return calloc(1, sizeof(struct tw_intel));
}

void tw_intel_free(struct tw_intel *in)
{
    if (in == NULL)
        return;
    intel_drop_compiled(in);
    for (size_t i = 0; i < in->n_chunks; i++)
        free(in->chunks[i]);
    free(in->chunks);
    free(in->files);
    while (in->arena != NULL) {
        struct arena_chunk *next = in->arena->next;

        free(in->arena);
        in->arena = next;
    }
    free(in);
}

void tw_intel_get_stats(const struct tw_intel *in, struct tw_intel_stats *st)
{
    *st = in->st;
    st->skipped = 0;
    for (size_t i = 0; i < in->n_reasons; i++)
        st->skipped += in->reasons[i].count;
    st->memory = sizeof(*in) + in->arena_bytes +
                 in->n_chunks * (IND_CHUNK * sizeof(struct ind) + sizeof(*in->chunks)) +
                 in->files_cap * sizeof(*in->files) + in->n_order * sizeof(*in->order) +
                 (in->nslots != NULL ? (in->nmask + 1) * sizeof(struct slot) : 0) +
                 (in->aslots != NULL ? (in->amask + 1) * sizeof(struct slot) : 0);
}

bool tw_intel_skip_reason(const struct tw_intel *in, size_t i, const char **reason, size_t *count)
{
    if (in == NULL || i >= in->n_reasons)
        return false;
    *reason = in->reasons[i].text;
    *count = in->reasons[i].count;
    return true;
}
