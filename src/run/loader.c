/* SPDX-License-Identifier: MIT */
/*
 * Rules, indicators and exclusions loaded on a thread of their own, at start and on reload,
 * and the finished bundle published to every output; the bundle it replaces is freed once no
 * thread can still be matching with it.
 */
#include "sensor_impl.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/match/rules.h"

/* -q: one line per skip reason with its count instead of one per skipped rule; every other
 * line (file errors with their line, indicator skips) as it is. */
static void quiet_report(const struct tw_matchers *m, const char *msgs, size_t len)
{
    const char *p = msgs, *end = msgs + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        const char *r = memmem(p, n, ": rule ", 7);
        if (r == NULL || memmem(r, n - (size_t)(r - p), " skipped: ", 10) == NULL)
            fwrite(p, 1, n, stderr);
        p += n;
    }
    if (m == NULL)
        return;
    size_t k = tw_ruleset_skip_reasons(m->rules, NULL, 0);
    struct tw_reason_count *rc = k > 0 ? calloc(k, sizeof(*rc)) : NULL;
    if (rc == NULL)
        return;
    tw_ruleset_skip_reasons(m->rules, rc, k);
    for (size_t i = 0; i < k; i++)
        fprintf(stderr, "tunwatch: %zu rule%s skipped: %s\n", rc[i].count,
                rc[i].count == 1 ? "" : "s", rc[i].reason);
    free(rc);
}

static void *load_rules(void *arg)
{
    struct rules_loader *l = arg;
    char *msgs = NULL;
    size_t len = 0;
    FILE *mem = l->quiet ? open_memstream(&msgs, &len) : NULL;

    l->rc = tw_matchers_load(&l->cfg, mem != NULL ? mem : stderr, &l->m);
    if (mem != NULL) {
        fclose(mem);
        quiet_report(l->m, msgs, len);
        free(msgs);
    }
    atomic_store_explicit(&l->done, true, memory_order_release);
    return NULL;
}

/* Starts loading a new bundle of rules, indicators and exclusions. 0 (a failed thread start
 * loads here and now). */
int loader_start(struct rules_loader *l, const struct tw_sensor_config *cfg, bool process_fields)
{
    l->cfg = cfg->match;
    l->cfg.process_fields = process_fields;
    l->cfg.lean = true; /* the sensor never explains */
    l->quiet = cfg->quiet;
    l->m = NULL;
    atomic_init(&l->done, false);
    if (pthread_create(&l->thread, NULL, load_rules, l) != 0) {
        load_rules(l); /* no thread: load here */
        l->running = false;
        return 0;
    }
    l->running = true;
    return 0;
}

bool loader_done(const struct rules_loader *l)
{
    return atomic_load_explicit(&l->done, memory_order_acquire);
}

void loader_join(struct rules_loader *l)
{
    if (l->running) {
        pthread_join(l->thread, NULL);
        l->running = false;
    }
}

/* Whether anything reads a dns_response event with bundle m in use: a rule of category dns,
 * or an output that writes every event. */
static bool dns_events_read(const struct sensor *s, const struct tw_matchers *m)
{
    return s->sinks.events || tw_matchers_read(m, TW_CAT_DNS);
}

/* Publishes bundle m to every thread's match stage (NULL: no matching). */
static void publish(struct sensor *s, const struct tw_matchers *m)
{
    atomic_store_explicit(&s->sink.match.matchers, m, memory_order_release);
    atomic_store_explicit(&s->attr_sink.match.matchers, m, memory_order_release);
    for (unsigned i = 0; i < s->n_workers; i++)
        atomic_store_explicit(&s->workers[i].sink.match.matchers, m, memory_order_release);
}

/* Puts a completed load in place (or refuses it) and matches the events that waited. */
void rules_take(struct sensor *s)
{
    struct tw_ruleset_stats st = {0};

    loader_join(&s->loader);
    s->loading = false;
    if (s->loader.m != NULL)
        tw_ruleset_get_stats(s->loader.m->rules, &st);
    if (s->first_load) {
        s->first_load = false;
        if (s->loader.rc != 0)
            s->failed = true;
        else
            s->matchers = s->loader.m;
        publish(s, s->matchers);
        /* The events made so far are matched below; from here on, only what is read. */
        atomic_store_explicit(&s->dns_events, dns_events_read(s, s->matchers),
                              memory_order_relaxed);
        tw_evqueue_drain(&s->pending, deliver_main, s);
        tw_evqueue_destroy(&s->pending);
        if (!s->failed && st.loaded == 0)
            fprintf(stderr,
                    "tunwatch: warning: no rule loaded; only --events output is possible\n");
        return;
    }
    /* A reload that could not read every file keeps the bundle in use. */
    if (s->loader.rc != 0 || s->loader.m->errors > 0) {
        s->reload_failures++;
        fprintf(stderr, "tunwatch: rules reload failed (%s), keeping the rules in use\n",
                s->loader.rc != 0
                    ? "out of memory"
                    : "a rule, indicator or exclusion file could not be read or parsed");
        tw_matchers_free(s->loader.m);
        return;
    }
    struct tw_matchers *old = s->matchers;
    bool dns_events = dns_events_read(s, s->loader.m);
    /* Events the new rules read are made from before the rules are in use; events only the
     * old rules read stop once the new rules are published. */
    if (dns_events)
        atomic_store_explicit(&s->dns_events, true, memory_order_relaxed);
    s->matchers = s->loader.m;
    publish(s, s->matchers);
    atomic_store_explicit(&s->dns_events, dns_events, memory_order_relaxed);
    if (s->n_workers > 0) {
        /* Workers match concurrently: free the old bundle only once each has finished the
         * batch it was in when the new one was published. */
        uint64_t seen[TW_MAX_WORKERS];
        for (unsigned i = 0; i < s->n_workers; i++)
            seen[i] = atomic_load_explicit(&s->workers[i].epoch, memory_order_acquire);
        for (unsigned i = 0; i < s->n_workers; i++)
            while (!s->workers[i].in_reader && /* this thread: between two bursts */
                   !atomic_load_explicit(&s->workers[i].finished, memory_order_acquire) &&
                   atomic_load_explicit(&s->workers[i].epoch, memory_order_acquire) == seen[i])
                sched_yield();
    }
    /* The attribution thread matches too: once what it held when the new bundle was
     * published has been written, it can only be using the new one. */
    if (s->attrib != NULL)
        tw_attrib_drain(s->attrib);
    /* Without workers matching runs on this thread only, between bursts. */
    tw_matchers_free(old);
    s->reloads++;
    fprintf(stderr, "tunwatch: rules reloaded: %zu loaded, %zu skipped, %zu files with errors\n",
            st.loaded, st.skipped, s->matchers->errors);
}
