/* SPDX-License-Identifier: MIT */
/*
 * Storage of a threat-intel set: the string arena, the table indicators live in, creating and
 * freeing a set, and its statistics.
 */
#include "tunwatch/match/intel.h"

#include "intel_impl.h"
#include "tunwatch/base/alloc.h"

#include <stdlib.h>
#include <string.h>

struct ind *intel_ind_new(struct tw_intel *in)
{
    struct ind *e;

    if (in->n >= UINT32_MAX ||
        tw_table_grow((void **)&in->inds, &in->inds_cap, in->n + 1, sizeof(*in->inds), 1024))
        return NULL;
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
    tw_table_free(in->inds, in->inds_cap * sizeof(*in->inds));
    free(in->files);
    tw_arena_free(&in->arena);
    free(in);
}

void tw_intel_get_stats(const struct tw_intel *in, struct tw_intel_stats *st)
{
    *st = in->st;
    st->skipped = 0;
    for (size_t i = 0; i < in->n_reasons; i++)
        st->skipped += in->reasons[i].count;
    st->memory = sizeof(*in) + in->arena.total + in->inds_cap * sizeof(*in->inds) +
                 in->files_cap * sizeof(*in->files) + in->order_cap * sizeof(*in->order) +
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
