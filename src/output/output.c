/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/output.h"

#include <errno.h>
#include <string.h>

#include "tunwatch/flow/communityid.h"
#include "tunwatch/match/exclude.h"
#include "tunwatch/match/intel.h"
#include "tunwatch/match/suppress.h"
#include "tunwatch/output/json.h"

static void write_line(struct tw_output *o, struct tw_jb *jb)
{
    if (jb->overflow) {
        o->lines_dropped++;
        return;
    }
    tw_jb_raw(jb, "\n", 1);
    if (jb->overflow) {
        o->lines_dropped++;
        return;
    }
    struct tw_outfile *f = o->file;
    if (atomic_load_explicit(&f->err, memory_order_relaxed) != 0)
        return;
    pthread_mutex_lock(&f->lock);
    if (fwrite(jb->buf, 1, jb->len, f->fp) != jb->len && f->err == 0)
        f->err = errno != 0 ? errno : EIO;
    pthread_mutex_unlock(&f->lock);
}

/* "process": who owns the local socket, or why that is not known. */
static void process_fields(struct tw_jb *jb, const struct tw_proc *p)
{
    tw_jb_key(jb, "process");
    tw_jb_raw(jb, "{", 1);
    tw_jb_key(jb, "status");
    tw_jb_cstr(jb, tw_proc_status_name(p->status));
    tw_jb_key(jb, "local");
    tw_jb_cstr(jb, p->local_is_source ? "source" : "destination");
    if (p->status == TW_PROC_FOUND) {
        tw_jb_key(jb, "pid");
        tw_jb_u64(jb, (uint64_t)(uint32_t)p->pid);
        tw_jb_key(jb, "uid");
        tw_jb_u64(jb, p->uid);
        tw_jb_key(jb, "user");
        tw_jb_cstr(jb, p->user != NULL ? p->user : "");
        tw_jb_key(jb, "image");
        tw_jb_cstr(jb, p->image != NULL ? p->image : "");
        tw_jb_key(jb, "comm");
        tw_jb_cstr(jb, p->comm != NULL ? p->comm : "");
    } else {
        tw_jb_key(jb, "reason");
        tw_jb_cstr(jb, p->reason != NULL ? p->reason : "");
    }
    tw_jb_raw(jb, "}", 1);
}

/* The parts shared by alerts and events: time, flow, category, evidence, names, fields. */
static void common_fields(struct tw_jb *jb, const struct tw_event *ev)
{
    char tmp[TW_FIELD_TMP];
    const char *val;
    size_t len;

    tw_jb_key(jb, "timestamp");
    tw_jb_time(jb, ev->ts_sec, ev->ts_nsec);
    tw_jb_key(jb, "flow_id");
    tw_jb_u64(jb, ev->flow_id);
    /* Community ID v1 (seed 0), as Zeek and Suricata compute it: pivots between their logs.
     * Computed here, for written lines only, not for every event. */
    char cid[TW_COMMUNITY_ID_LEN];
    if (tw_community_id(0, ev->ip_version, ev->src_addr, ev->dst_addr, ev->l4_proto, ev->sport,
                        ev->dport, cid, sizeof(cid)) == 0) {
        tw_jb_key(jb, "community_id");
        tw_jb_cstr(jb, cid);
    }
    tw_jb_key(jb, "category");
    tw_jb_cstr(jb, tw_category_name(ev->category));
    tw_jb_key(jb, "evidence");
    tw_jb_cstr(jb, tw_evidence_name(ev->evidence));
    tw_jb_key(jb, "name");
    tw_jb_str(jb, ev->raw, ev->raw_len);
    tw_jb_key(jb, "name_normalized");
    tw_jb_str(jb, ev->norm, ev->norm_len);
    tw_jb_key(jb, "event");
    tw_jb_raw(jb, "{", 1);
    for (unsigned f = 0; f < TW_F__COUNT; f++) {
        if (!tw_event_field(ev, (enum tw_field)f, tmp, sizeof(tmp), &val, &len))
            continue;
        tw_jb_key(jb, tw_field_name((enum tw_field)f));
        if (f == TW_F_QUERY_NAME || f == TW_F_DESTINATION_HOSTNAME)
            tw_jb_str(jb, ev->raw, ev->raw_len); /* as seen; rules match name_normalized */
        else if (f == TW_F_DESTINATION_PORT || f == TW_F_SOURCE_PORT || f == TW_F_PROCESS_ID)
            tw_jb_raw(jb, val, len);
        else
            tw_jb_str(jb, val, len);
    }
    tw_jb_raw(jb, "}", 1);
    tw_jb_key(jb, "midstream");
    tw_jb_bool(jb, ev->midstream);
    tw_jb_key(jb, "direction");
    tw_jb_cstr(jb, tw_direction_name(ev->direction));
    if (ev->proc.status != TW_PROC_NONE)
        process_fields(jb, &ev->proc);
    if (ev->answer_name != NULL) {
        tw_jb_key(jb, "dns_answer");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "name");
        tw_jb_cstr(jb, ev->answer_name);
        tw_jb_key(jb, "cname_chain");
        tw_jb_cstr(jb, ev->answer_chain != NULL ? ev->answer_chain : "");
        tw_jb_raw(jb, "}", 1);
    }
    if (ev->evidence == TW_EV_TLS_SNI) {
        tw_jb_key(jb, "tls");
        tw_jb_raw(jb, "{", 1);
        tw_jb_key(jb, "ech");
        tw_jb_bool(jb, ev->ech);
        tw_jb_raw(jb, "}", 1);
    }
}

/* Whether name, compared as rules compare (ASCII case folded, one trailing dot dropped),
 * is the normalised name norm[0..len). */
static bool name_equal(const char *name, const char *norm, size_t len)
{
    size_t n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n != len)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (c != norm[i])
            return false;
    }
    return true;
}

/* One event's matching: the rules that fired so far (each alerts once per event) and, while
 * other names of the event are tried, which one and how it relates to the event. */
struct match_ctx {
    struct tw_output *o;
    const struct tw_matchers *mx;
    const struct tw_event *orig; /* the event as observed (a CNAME target is matched on a copy) */
    const struct tw_rule_info *fired[64]; /* past 64 rules, later ones are not deduplicated */
    size_t n_fired;
    const char *alt; /* NULL: the event's own name */
    const char *via; /* how the name relates to the event ("cname") */
};

static bool already_fired(const struct match_ctx *m, const struct tw_rule_info *rule)
{
    for (size_t i = 0; i < m->n_fired; i++)
        if (m->fired[i] == rule)
            return true;
    return false;
}

static void alert(const struct tw_rule_info *rule, const struct tw_event *matched, void *ctx)
{
    struct match_ctx *m = ctx;
    struct tw_output *o = m->o;
    const struct tw_event *ev = m->orig; /* reported as observed; `matched` names the target */
    struct tw_jb jb;

    if (already_fired(m, rule))
        return;
    if (m->n_fired < TW_ARRAY_SIZE(m->fired))
        m->fired[m->n_fired++] = rule;
    /* Known-good traffic: counted, never written. */
    if (m->mx->exclusions != NULL &&
        tw_exclusions_match(m->mx->exclusions, rule->id, ev, m->alt, NULL)) {
        o->excluded++;
        return;
    }
    /* One alert per (rule, source, name) and window: a beaconing client is one line, and the
     * next line after the window says how many were held back. */
    uint64_t held = 0;
    if (o->suppress != NULL &&
        tw_suppress_check(o->suppress, rule->id, ev, matched->norm, ev->ts_sec, &held)) {
        o->suppressed++;
        return;
    }

    o->alerts++;
    tw_jb_init(&jb, o->line, sizeof(o->line));
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "type");
    tw_jb_lit(&jb, "\"alert\"");
    tw_jb_key(&jb, "rule");
    tw_jb_raw(&jb, "{", 1);
    tw_jb_key(&jb, "id");
    tw_jb_cstr(&jb, rule->id);
    tw_jb_key(&jb, "title");
    tw_jb_cstr(&jb, rule->title);
    tw_jb_key(&jb, "level");
    tw_jb_cstr(&jb, rule->level);
    tw_jb_key(&jb, "tags");
    tw_jb_raw(&jb, "[", 1);
    for (size_t i = 0; i < rule->n_tags; i++) {
        if (i > 0)
            tw_jb_raw(&jb, ",", 1);
        tw_jb_cstr(&jb, rule->tags[i]);
    }
    tw_jb_raw(&jb, "]", 1);
    tw_jb_key(&jb, "file");
    tw_jb_cstr(&jb, rule->file);
    if (rule->line > 0) {
        tw_jb_key(&jb, "line");
        tw_jb_u64(&jb, rule->line);
    }
    tw_jb_raw(&jb, "}", 1);
    common_fields(&jb, ev);
    if (held > 0) {
        tw_jb_key(&jb, "suppressed_before");
        tw_jb_u64(&jb, held);
    }
    if (m->alt != NULL) {
        /* The rule matched another name this connection goes by, not the event's own. */
        tw_jb_key(&jb, "matched");
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "name");
        tw_jb_cstr(&jb, m->alt);
        tw_jb_key(&jb, "via");
        tw_jb_cstr(&jb, m->via);
        tw_jb_raw(&jb, "}", 1);
    }
    tw_jb_raw(&jb, "}", 1);
    write_line(o, &jb);
}

/* Matches ev as if its hostname were `name` (lowercased, one trailing dot dropped). */
static void match_alt(const struct tw_matchers *mx, const struct tw_event *ev,
                      struct match_ctx *m, const char *name, size_t len, const char *via)
{
    char norm[TW_NAME_MAX], alt[TW_NAME_MAX];
    struct tw_event e2 = *ev;

    if (len == 0 || len >= sizeof(norm))
        return;
    for (size_t i = 0; i < len; i++)
        norm[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + ('a' - 'A')) : name[i];
    memcpy(alt, name, len);
    alt[len] = '\0';
    if (norm[len - 1] == '.')
        len--;
    norm[len] = '\0';
    if (len == ev->norm_len && memcmp(norm, ev->norm, len) == 0)
        return; /* the event's own name: already matched */
    e2.norm = norm;
    e2.norm_len = len;
    m->alt = alt;
    m->via = via;
    tw_ruleset_match(mx->rules, &e2, alert, m);
    if (mx->intel != NULL)
        tw_intel_match(mx->intel, &e2, alert, m);
}

/*
 * A connection named by the answer cache, or by an SNI that is the very name its client
 * resolved, also goes by every CNAME target on the way to the address: rules are matched
 * against each, so a benign-looking name that aliases a tunnel host still alerts (once per
 * rule). A cached name that differs from the SNI is only reported, never matched: many names
 * share an address (CDNs, hosting), and the SNI is what the client asked that server for.
 */
static void match_event(struct tw_output *o, const struct tw_matchers *mx,
                        const struct tw_event *ev)
{
    struct match_ctx m = {.o = o, .mx = mx, .orig = ev};

    tw_ruleset_match(mx->rules, ev, alert, &m);
    if (mx->intel != NULL)
        tw_intel_match(mx->intel, ev, alert, &m);
    if (ev->category != TW_CAT_NETWORK_CONNECTION || ev->answer_name == NULL ||
        ev->answer_chain == NULL || !name_equal(ev->answer_name, ev->norm, ev->norm_len))
        return;
    for (const char *c = ev->answer_chain; *c != '\0';) {
        const char *sp = strchr(c, ' ');
        size_t l = sp != NULL ? (size_t)(sp - c) : strlen(c);
        match_alt(mx, ev, &m, c, l, "cname");
        c += l + (sp != NULL);
    }
}

void tw_output_event(void *ctx, const struct tw_event *ev)
{
    struct tw_output *o = ctx;
    struct tw_jb jb;

    o->events_seen[ev->category]++;
    if (o->events) {
        tw_jb_init(&jb, o->line, sizeof(o->line));
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "type");
        tw_jb_lit(&jb, "\"event\"");
        common_fields(&jb, ev);
        tw_jb_raw(&jb, "}", 1);
        write_line(o, &jb);
        o->events_written++;
    }
    const struct tw_matchers *m = atomic_load_explicit(&o->matchers, memory_order_acquire);
    if (m != NULL)
        match_event(o, m, ev);
}

int tw_outfile_init(struct tw_outfile *f, FILE *fp, const char *path)
{
    f->fp = fp;
    f->path = path;
    atomic_init(&f->err, 0);
    return pthread_mutex_init(&f->lock, NULL) == 0 ? 0 : TW_ENOMEM;
}

static void flush_locked(struct tw_outfile *f)
{
    if (f->err == 0 && fflush(f->fp) != 0)
        f->err = errno != 0 ? errno : EIO;
}

int tw_outfile_flush(struct tw_outfile *f)
{
    pthread_mutex_lock(&f->lock);
    flush_locked(f);
    pthread_mutex_unlock(&f->lock);
    return f->err;
}

int tw_outfile_reopen(struct tw_outfile *f, const char *path)
{
    FILE *fp = fopen(path, "a");
    int e = errno;

    if (fp == NULL)
        return e != 0 ? e : EIO;
    pthread_mutex_lock(&f->lock);
    flush_locked(f);
    if (f->fp != stdout && fclose(f->fp) != 0 && f->err == 0)
        f->err = errno != 0 ? errno : EIO;
    f->fp = fp;
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

int tw_outfile_close(struct tw_outfile *f)
{
    pthread_mutex_lock(&f->lock);
    flush_locked(f);
    if (f->fp != NULL && f->fp != stdout && fclose(f->fp) != 0 && f->err == 0)
        f->err = errno != 0 ? errno : EIO;
    f->fp = NULL;
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_destroy(&f->lock);
    return f->err;
}
