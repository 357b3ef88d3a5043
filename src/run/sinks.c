/* SPDX-License-Identifier: MIT */
/*
 * The run's sinks (-o, repeatable): opened at start-up (a bad URL stops the start with exit
 * 1), flushed, reopened on SIGHUP, drained at exit within --drain-timeout, and their counters
 * in the stats line and the summary.
 */
#include "sensor_impl.h"

#include <errno.h>
#include <string.h>

#include "tunwatch/output/json.h"

int sinks_open(struct sensor *s)
{
    const struct tw_sensor_config *cfg = s->cfg;
    struct tw_sinkset *set = &s->sinks;
    struct tw_sink_defaults d = {
        .format = cfg->format,
        .events = cfg->events,
        .append = cfg->append || s->live, /* a replay writes a fresh file; live appends */
        .spool_dir = cfg->spool_dir,
        .spool_max = (uint64_t)cfg->spool_max_mib << 20,
    };
    const char *one[] = {"-"};
    const char *const *outs = cfg->n_outputs > 0 ? cfg->outputs : one;
    size_t n = cfg->n_outputs > 0 ? cfg->n_outputs : 1;
    bool have_stdout = false;
    char err[512];

    for (size_t i = 0; i < n; i++) {
        struct tw_sink_url u;
        int rc = tw_sink_url_parse(outs[i], &u, err, sizeof(err));
        if (rc == 0 && u.kind == TW_SINK_FILE && u.path == NULL) {
            if (have_stdout) {
                snprintf(err, sizeof(err), "stdout given twice");
                rc = TW_EINVAL;
            }
            have_stdout = true;
        }
        if (rc != 0) {
            fprintf(stderr, "tunwatch: -o %s: %s\n", u.text != NULL ? u.text : outs[i],
                    rc == TW_ENOMEM ? "out of memory" : err);
            tw_sink_url_free(&u);
            return -1;
        }
        bool plain = u.plain_path;
        char shown[512];
        snprintf(shown, sizeof(shown), "%s", u.text != NULL ? u.text : outs[i]);
        rc = tw_sink_open(&u, &d, &set->v[set->n], err, sizeof(err));
        if (rc != 0) {
            if (plain) /* the message names the file */
                fprintf(stderr, "tunwatch: %s\n", err);
            else
                fprintf(stderr, "tunwatch: -o %s: %s\n", shown, err);
            return -1;
        }
        enum tw_sink_keyby by;
        if (tw_sink_keyed(set->v[set->n], &by)) {
            set->key_source |= by == TW_KEY_SOURCE;
            set->key_community_id |= by == TW_KEY_COMMUNITY_ID;
        }
        enum tw_format f = tw_sink_format(set->v[set->n]);
        set->alert_formats |= 1u << f;
        if (tw_sink_wants_events(set->v[set->n])) {
            set->event_formats |= 1u << f;
            set->events = true;
        }
        set->n++;
    }
    return 0;
}

bool sinks_line_counts(struct sensor *s, uint64_t written[TW_LINE__COUNT],
                       uint64_t unwritten[TW_LINE__COUNT])
{
    bool any = false;

    memset(written, 0, sizeof(uint64_t) * TW_LINE__COUNT);
    memset(unwritten, 0, sizeof(uint64_t) * TW_LINE__COUNT);
    for (size_t i = 0; i < s->sinks.n; i++) {
        uint64_t w[TW_LINE__COUNT], u[TW_LINE__COUNT];
        if (!tw_sink_line_counts(s->sinks.v[i], w, u))
            continue;
        for (int k = 0; k < TW_LINE__COUNT; k++) {
            written[k] += w[k];
            unwritten[k] += u[k];
        }
        any = true;
    }
    return any;
}

void sinks_flush(struct sensor *s)
{
    for (size_t i = 0; i < s->sinks.n; i++)
        tw_sink_flush(s->sinks.v[i]);
}

bool sinks_failed(const struct sensor *s)
{
    for (size_t i = 0; i < s->sinks.n; i++)
        if (tw_sink_error(s->sinks.v[i]) != 0)
            return true;
    return false;
}

int sinks_flush_report(struct sensor *s)
{
    int status = 0;

    for (size_t i = 0; i < s->sinks.n; i++) {
        int e = tw_sink_flush(s->sinks.v[i]);
        if (e != 0) {
            fprintf(stderr, "tunwatch: writing %s: %s\n", tw_sink_name(s->sinks.v[i]),
                    strerror(e));
            status = 2;
        }
    }
    return status;
}

void sinks_reopen(struct sensor *s)
{
    for (size_t i = 0; i < s->sinks.n; i++) {
        int e = tw_sink_reopen(s->sinks.v[i]);
        if (e != 0)
            fprintf(stderr, "tunwatch: reopening %s: %s (still writing to the old file)\n",
                    tw_sink_name(s->sinks.v[i]), strerror(e));
    }
}

static bool is_network(const struct tw_sink *k)
{
    return strstr(tw_sink_name(k), "://") != NULL && strncmp(tw_sink_name(k), "file:", 5) != 0;
}

void sinks_drain(struct sensor *s)
{
    double secs = s->cfg->drain_timeout;

    for (size_t i = 0; i < s->sinks.n; i++) {
        struct tw_sink *k = s->sinks.v[i];
        struct tw_sink_stats st;
        if (!is_network(k))
            continue;
        tw_sink_close(k, secs);
        tw_sink_get_stats(k, &st);
        if (st.left > 0 || st.spool_pending > 0)
            fprintf(stderr,
                    "tunwatch: %s: not delivered within %.0f s: %llu lines lost, %llu kept in "
                    "the spool for the next run\n",
                    tw_sink_name(k), secs, (unsigned long long)st.left,
                    (unsigned long long)st.spool_pending);
    }
}

int sinks_close(struct sensor *s, int status)
{
    for (size_t i = 0; i < s->sinks.n; i++) {
        struct tw_sink *k = s->sinks.v[i];
        int had = tw_sink_error(k);
        int e = tw_sink_close(k, s->cfg->drain_timeout);
        if (e != 0 && had == 0 && status == 0) {
            fprintf(stderr, "tunwatch: closing %s: %s\n", tw_sink_name(k), strerror(e));
            status = 2;
        }
        tw_sink_free(k);
        s->sinks.v[i] = NULL;
    }
    s->sinks.n = 0;
    return status;
}

void sinks_stats_json(struct sensor *s, struct tw_jb *jb)
{
    bool any = false;

    for (size_t i = 0; i < s->sinks.n; i++) {
        struct tw_sink *k = s->sinks.v[i];
        struct tw_sink_stats st;
        if (!is_network(k))
            continue;
        tw_sink_get_stats(k, &st);
        tw_jb_raw(jb, any ? "," : "", any ? 1 : 0);
        if (!any) {
            tw_jb_key(jb, "sinks");
            tw_jb_raw(jb, "[", 1);
        }
        any = true;
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "name");
        tw_jb_cstr(jb, tw_sink_name(k));
        tw_jb_key(jb, "connected");
        tw_jb_bool(jb, st.connected);
        static const char *const names[] = {"sent",   "queued", "spooled", "spool_pending",
                                            "dropped", "failed", "reconnects"};
        const uint64_t vals[] = {st.sent,    st.queued, st.spooled,   st.spool_pending,
                                 st.dropped, st.failed, st.reconnects};
        for (size_t j = 0; j < TW_ARRAY_SIZE(names); j++) {
            if (vals[j] == 0) /* as every counter of the stats line: only what is not zero */
                continue;
            tw_jb_key(jb, names[j]);
            tw_jb_u64(jb, vals[j]);
        }
        tw_jb_raw(jb, "}", 1);
    }
    if (any)
        tw_jb_raw(jb, "]", 1);
}

void sinks_summary(struct sensor *s)
{
    for (size_t i = 0; i < s->sinks.n; i++) {
        struct tw_sink *k = s->sinks.v[i];
        struct tw_sink_stats st;
        if (!is_network(k))
            continue;
        tw_sink_get_stats(k, &st);
        fprintf(stderr,
                "  sink %s: sent %llu, queued %llu, spooled %llu, in spool %llu, dropped %llu, "
                "failed %llu, reconnects %llu, left %llu\n",
                tw_sink_name(k), (unsigned long long)st.sent, (unsigned long long)st.queued,
                (unsigned long long)st.spooled, (unsigned long long)st.spool_pending,
                (unsigned long long)st.dropped, (unsigned long long)st.failed,
                (unsigned long long)st.reconnects, (unsigned long long)st.left);
    }
}
