/* SPDX-License-Identifier: MIT */
/* The rule set itself: creating and freeing it, the process fields switch, its statistics. */
#include "tunwatch/match/rules.h"

#include <stdlib.h>

#include "rules_impl.h"

struct tw_ruleset *tw_ruleset_new(void)
{
    struct tw_ruleset *rs = calloc(1, sizeof(struct tw_ruleset));

    if (rs)
        rs->explain = true;
    return rs;
}

void tw_ruleset_set_explain(struct tw_ruleset *rs, bool on)
{
    rs->explain = on;
}

void tw_ruleset_set_process_fields(struct tw_ruleset *rs, bool on)
{
    rs->process_fields = on;
}

void tw_ruleset_free(struct tw_ruleset *rs)
{
    if (!rs)
        return;
    rules_uncompile(rs);
    tw_table_free(rs->rules, rs->rules_cap * sizeof(*rs->rules));
    for (size_t i = 0; rs->has_re && i < rs->n_m; i++)
        rules_matcher_free(&rs->m[i]);
    tw_table_free(rs->m, rs->m_cap * sizeof(*rs->m));
    tw_arena_free(&rs->arena);
    tw_table_free(rs->nodes, rs->nodes_cap * sizeof(*rs->nodes));
    tw_table_free(rs->kids, rs->kids_cap * sizeof(*rs->kids));
    for (size_t i = 0; i < rs->n_files; i++)
        free(rs->files[i]);
    free(rs->files);
    for (size_t i = 0; i < rs->n_probs; i++) {
        free(rs->probs[i].file);
        free(rs->probs[i].id);
        free(rs->probs[i].reason);
    }
    free(rs->probs);
    if (rs->backing_release != NULL)
        rs->backing_release(rs->backing_ctx);
    free(rs);
}

void tw_ruleset_get_stats(const struct tw_ruleset *rs, struct tw_ruleset_stats *st)
{
    *st = rs->st;
}

bool tw_ruleset_reads(const struct tw_ruleset *rs, enum tw_category c)
{
    if ((unsigned)c >= TW_CAT__COUNT)
        return false;
    return !rs->compiled || rs->always[c].n > 0 || rs->gated[c].n > 0;
}
