/* SPDX-License-Identifier: MIT */
/*
 * DNS Response Policy Zones, read with ldns: QNAME triggers below the zone apex become name
 * indicators tagged with their action; passthru entries are kept as allow-list entries;
 * triggers on what tunwatch does not observe are counted as skipped.
 */
#include "intel_impl.h"

#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#define RPZ_SENTINEL "origin.tunwatch.invalid."

/* Line of the first record at or after line `from` (1-based): skips blank and ';' lines. */
struct line_cursor {
    const char *buf;
    size_t len, off;
    unsigned line;
};

static unsigned record_line(struct line_cursor *lc, unsigned from)
{
    while (lc->off < lc->len) {
        const char *p = lc->buf + lc->off, *nl = memchr(p, '\n', lc->len - lc->off);
        size_t n = nl != NULL ? (size_t)(nl - p) : lc->len - lc->off;
        size_t sp = 0;

        while (sp < n && (p[sp] == ' ' || p[sp] == '\t' || p[sp] == '\r'))
            sp++;
        if (lc->line >= from && sp < n && p[sp] != ';')
            return lc->line;
        lc->off += n + (nl != NULL);
        lc->line++;
    }
    return from;
}

static const char *rpz_skip_reason(const char *rel)
{
    static const struct {
        const char *label, *reason;
    } kinds[] = {
        {"rpz-ip", "rpz-ip trigger: response addresses are not observed"},
        {"rpz-nsdname", "rpz-nsdname trigger: name server names are not observed"},
        {"rpz-nsip", "rpz-nsip trigger: name server addresses are not observed"},
        {"rpz-client-ip", "rpz-client-ip trigger: a policy on the querier, not an indicator"},
    };
    const char *dot = strrchr(rel, '.');
    const char *last = dot != NULL ? dot + 1 : rel;

    for (size_t i = 0; i < TW_ARRAY_SIZE(kinds); i++)
        if (strcmp(last, kinds[i].label) == 0)
            return kinds[i].reason;
    return NULL;
}

/* One RR of a policy zone. apex: lowercased, with its trailing dot. */
static int rpz_record(struct loader *ld, unsigned line, const ldns_rr *rr, const char *apex,
                      const char *source)
{
    char *owner = ldns_rdf2str(ldns_rr_owner(rr)), *target = NULL;
    size_t olen, alen = strlen(apex);
    ldns_rr_type type = ldns_rr_get_type(rr);
    const char *why, *action = "local-data";
    bool allow = false, below = false;
    char *rel;
    int rc = 0;

    if (owner == NULL)
        return TW_ENOMEM;
    olen = strlen(owner);
    tw_ascii_lower_copy(owner, owner, olen);
    if (strcmp(owner, apex) == 0)
        goto out_free; /* SOA, NS and whatever else describes the zone itself */
    if (strcmp(apex, ".") == 0) {
        owner[olen - 1] = '\0';
    } else if (olen > alen && owner[olen - alen - 1] == '.' &&
               strcmp(owner + olen - alen, apex) == 0) {
        owner[olen - alen - 1] = '\0';
    } else {
        if (strcmp(apex, RPZ_SENTINEL) == 0)
            intel_bad_line(ld, line, "absolute owner %.100s in a zone without $ORIGIN or SOA",
                           owner);
        else
            intel_bad_line(ld, line, "owner %.100s is outside the zone %s", owner, apex);
        rc = TW_EMALFORMED;
        goto out_free;
    }
    rel = owner;
    why = rpz_skip_reason(rel);
    if (why != NULL) {
        rc = intel_skip(ld, why);
        goto out_free;
    }
    if (strcmp(rel, "*") == 0) {
        intel_bad_line(ld, line, "a wildcard of the whole zone would match every name");
        rc = TW_EMALFORMED;
        goto out_free;
    }
    if (rel[0] == '*' && rel[1] == '.') {
        below = true;
        rel += 2;
    }
    if (type == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) > 0) {
        target = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        if (target == NULL) {
            rc = TW_ENOMEM;
            goto out_free;
        }
        tw_ascii_lower_copy(target, target, strlen(target));
        size_t rl = strlen(rel), tl = strlen(target);
        if (strcmp(target, ".") == 0)
            action = "nxdomain";
        else if (strcmp(target, "*.") == 0)
            action = "nodata";
        else if (strcmp(target, "rpz-passthru.") == 0 ||
                 (!below && tl == rl + 1 && strncmp(target, rel, rl) == 0))
            allow = true;
        else if (strcmp(target, "rpz-drop.") == 0)
            action = "drop";
        else if (strcmp(target, "rpz-tcp-only.") == 0)
            action = "tcp-only";
    } else if (type == LDNS_RR_TYPE_SOA || type == LDNS_RR_TYPE_NS) {
        rc = intel_skip(ld, "SOA or NS record below the zone apex");
        goto out_free;
    }
    struct entry en = {
        .line = line,
        .kind = K_NAME,
        .mode = below ? M_BELOW : M_EXACT,
        .allow = allow,
        .value = rel,
        .value_len = strlen(rel),
        .type = "domain",
        .source = source,
        .action = allow ? "passthru" : action,
    };
    rc = intel_add_entry(ld, &en);
out_free:
    free(target);
    free(owner);
    return rc;
}

int intel_load_rpz(struct loader *ld, char *buf, size_t len)
{
    struct line_cursor lc = {buf, len, 0, 1};
    ldns_rdf *origin = NULL, *prev = NULL;
    char *apex = NULL;
    const char *source = NULL;
    uint32_t ttl = 3600;
    int line_nr = 1, rc = 0;
    FILE *fp;

    if (len == 0)
        return 0;
    fp = fmemopen(buf, len, "r");
    origin = ldns_dname_new_frm_str(RPZ_SENTINEL);
    if (fp == NULL || origin == NULL) {
        rc = TW_ENOMEM;
        goto out_close;
    }
    for (;;) {
        ldns_rr *rr = NULL;
        int from = line_nr;
        long at = ftell(fp);
        ldns_status s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line_nr);
        unsigned line = record_line(&lc, (unsigned)from);

        if (s == LDNS_STATUS_OK && rr != NULL) {
            if (apex == NULL) {
                /* The zone is named by its SOA when it starts with one, else by $ORIGIN. */
                apex = ldns_rdf2str(ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA ? ldns_rr_owner(rr)
                                                                             : origin);
                if (apex == NULL) {
                    ldns_rr_free(rr);
                    rc = TW_ENOMEM;
                    goto out_close;
                }
                tw_ascii_lower_copy(apex, apex, strlen(apex));
                if (strcmp(apex, RPZ_SENTINEL) == 0 || strcmp(apex, ".") == 0) {
                    source = intel_intern_source(ld, ld->base);
                } else {
                    char zone[TW_NAME_MAX];

                    snprintf(zone, sizeof(zone), "%.*s", (int)strlen(apex) - 1, apex);
                    source = intel_intern_source(ld, zone);
                }
                if (source == NULL) {
                    ldns_rr_free(rr);
                    rc = TW_ENOMEM;
                    goto out_close;
                }
            }
            rc = rpz_record(ld, line, rr, apex, source);
            ldns_rr_free(rr);
            if (rc == TW_ENOMEM)
                goto out_close;
            rc = 0;
        } else if (s == LDNS_STATUS_SYNTAX_INCLUDE) {
            intel_bad_line(ld, line, "$INCLUDE is not followed");
        } else if (s != LDNS_STATUS_SYNTAX_EMPTY && s != LDNS_STATUS_SYNTAX_TTL &&
                   s != LDNS_STATUS_SYNTAX_ORIGIN && s != LDNS_STATUS_OK) {
            intel_bad_line(ld, line, "%s", ldns_get_errorstr_by_id(s));
            ldns_rr_free(rr);
        }
        if (feof(fp) || (s != LDNS_STATUS_OK && ftell(fp) == at))
            break;
    }
out_close:
    free(apex);
    ldns_rdf_deep_free(origin);
    ldns_rdf_deep_free(prev);
    if (fp != NULL)
        fclose(fp);
    return rc;
}
