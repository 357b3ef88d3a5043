/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/match.h"

#include <string.h>

#include "tunwatch/base/ascii.h"
#include "tunwatch/match/exclude.h"
#include "tunwatch/match/intel.h"
#include "tunwatch/match/suppress.h"

/* One event's matching: the rules that fired so far (each alerts once per event) and, while
 * other names of the event are tried, which one and how it relates to the event. */
struct match_ctx {
    struct tw_match *m;
    const struct tw_matchers *mx;
    const struct tw_event *orig; /* the event as observed (a CNAME target is matched on a copy) */
    tw_alert_fn fn;
    void *fn_ctx;
    const struct tw_rule_info *fired[64]; /* past 64 rules, later ones are not deduplicated */
    size_t n_fired;
    const char *alt; /* NULL: the event's own name */
    const char *via; /* how the name relates to the event ("cname") */
    uint64_t serial; /* struct tw_alert.ev_serial of its alerts */
};

static bool already_fired(const struct match_ctx *c, const struct tw_rule_info *rule)
{
    for (size_t i = 0; i < c->n_fired; i++)
        if (c->fired[i] == rule)
            return true;
    return false;
}

/* A rule or indicator fired on `matched` (ev itself or its copy under another name). */
static void fired(const struct tw_rule_info *rule, const struct tw_event *matched, void *ctx)
{
    struct match_ctx *c = ctx;
    struct tw_match *m = c->m;
    const struct tw_event *ev = c->orig; /* reported as observed; `matched` names the target */
    uint64_t held = 0;

    if (already_fired(c, rule))
        return;
    if (c->n_fired < TW_ARRAY_SIZE(c->fired))
        c->fired[c->n_fired++] = rule;
    /* Known-good traffic: counted, never written. */
    if (c->mx->exclusions != NULL &&
        tw_exclusions_match(c->mx->exclusions, rule->id, ev, c->alt, NULL)) {
        m->excluded++;
        return;
    }
    /* One alert per (rule, source, name) and window: a beaconing client is one line, and the
     * next line after the window says how many were held back. */
    if (m->suppress != NULL &&
        tw_suppress_check(m->suppress, rule->id, ev, matched->norm, ev->ts_sec, &held)) {
        m->suppressed++;
        return;
    }
    m->alerts++;
    c->fn(c->fn_ctx, &(struct tw_alert){.rule = rule,
                                        .ev = ev,
                                        .matched_name = c->alt,
                                        .via = c->via,
                                        .suppressed_before = held,
                                        .ev_serial = c->serial});
}

static void match_name(struct match_ctx *c, const struct tw_event *ev)
{
    tw_ruleset_match(c->mx->rules, ev, fired, c);
    if (c->mx->intel != NULL)
        tw_intel_match(c->mx->intel, ev, fired, c);
}

/* Matches ev as if its hostname were name[0..len) (normalised here). */
static void match_alt(struct match_ctx *c, const struct tw_event *ev, const char *name, size_t len,
                      const char *via)
{
    char norm[TW_NAME_MAX], alt[TW_NAME_MAX];
    struct tw_event e2 = *ev;

    if (len == 0 || len >= sizeof(norm))
        return;
    memcpy(alt, name, len);
    alt[len] = '\0';
    e2.norm_len = tw_name_normalize(norm, name, len);
    e2.norm = norm;
    if (e2.norm_len == ev->norm_len && memcmp(norm, ev->norm, e2.norm_len) == 0)
        return; /* the event's own name: already matched */
    c->alt = alt;
    c->via = via;
    match_name(c, &e2);
}

void tw_match_event(struct tw_match *m, const struct tw_event *ev, tw_alert_fn fn, void *ctx)
{
    const struct tw_matchers *mx = atomic_load_explicit(&m->matchers, memory_order_acquire);

    if (mx == NULL)
        return;
    /* Set field by field: an initialiser would clear fired[] (512 bytes) for every name, where
     * only the first n_fired are ever read. */
    struct match_ctx c;
    c.m = m;
    c.mx = mx;
    c.orig = ev;
    c.fn = fn;
    c.fn_ctx = ctx;
    c.n_fired = 0;
    c.alt = NULL;
    c.via = NULL;
    c.serial = ++m->serials;
    match_name(&c, ev);
    if (ev->category != TW_CAT_NETWORK_CONNECTION || ev->answer_name == NULL ||
        ev->answer_chain == NULL ||
        !tw_name_equals_normalized(ev->answer_name, strlen(ev->answer_name), ev->norm,
                                   ev->norm_len))
        return;
    for (const char *s = ev->answer_chain; *s != '\0';) {
        const char *sp = strchr(s, ' ');
        size_t l = sp != NULL ? (size_t)(sp - s) : strlen(s);
        match_alt(&c, ev, s, l, "cname");
        s += l + (sp != NULL);
    }
}
