/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/matchers.h"

#include <stdlib.h>

#include "tunwatch/match/exclude.h"
#include "tunwatch/match/intel.h"
#include "tunwatch/match/rulecache.h"

int tw_matchers_load(const struct tw_matchers_config *cfg, FILE *errlog, struct tw_matchers **out)
{
    struct tw_matchers *m = calloc(1, sizeof(*m));
    struct tw_ruleset_stats st;

    *out = NULL;
    if (m == NULL)
        return TW_ENOMEM;
    if (tw_rulecache_rules(cfg, errlog, &m->rules, NULL) != 0)
        goto out_nomem;
    tw_ruleset_get_stats(m->rules, &st);
    m->errors += st.errors;
    if (cfg->n_intel_paths > 0) {
        m->intel = tw_intel_new();
        if (m->intel == NULL)
            goto out_nomem;
        for (size_t i = 0; i < cfg->n_intel_paths; i++) {
            int rc = tw_intel_load(m->intel, cfg->intel_paths[i], cfg->intel_subdomains[i],
                                   errlog);
            if (rc == TW_ENOMEM)
                goto out_nomem;
            if (rc != 0)
                m->errors++;
        }
        if (tw_intel_compile(m->intel) != 0)
            goto out_nomem;
    }
    if (cfg->n_exclude_paths > 0) {
        m->exclusions = tw_exclusions_new();
        if (m->exclusions == NULL)
            goto out_nomem;
        for (size_t i = 0; i < cfg->n_exclude_paths; i++) {
            int rc = tw_exclusions_load(m->exclusions, cfg->exclude_paths[i], errlog);
            if (rc == TW_ENOMEM)
                goto out_nomem;
            if (rc != 0)
                m->errors++;
        }
    }
    *out = m;
    return 0;
out_nomem:
    tw_matchers_free(m);
    return TW_ENOMEM;
}

void tw_matchers_free(struct tw_matchers *m)
{
    if (m == NULL)
        return;
    tw_ruleset_free(m->rules);
    tw_intel_free(m->intel);
    tw_exclusions_free(m->exclusions);
    free(m);
}

bool tw_matchers_read(const struct tw_matchers *m, enum tw_category c)
{
    return m != NULL && ((m->rules != NULL && tw_ruleset_reads(m->rules, c)) ||
                         tw_intel_reads(m->intel, c));
}
