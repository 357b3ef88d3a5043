/* SPDX-License-Identifier: MIT */
/*
 * --report: alerts summed per (source host, rule or indicator) while the run goes, written at
 * its end as a table (text, or one JSON object a line) sorted by source address, then rule
 * title, then rule id: first and last seen (capture time), count, and the distinct names
 * (normalised, the REPORT_NAMES smallest kept, sorted). Every thread that writes alerts adds to the
 * one table under its lock; alerts are few next to packets.
 */
#include "sensor_impl.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/match/rules.h"
#include "tunwatch/output/json.h"

#define REPORT_NAMES 8
#define REPORT_ROWS_MAX (1u << 20)

struct report_row {
    uint8_t version;
    uint8_t addr[16];
    char *rule_id, *title; /* copies: a reload frees the rules */
    int64_t first_sec, last_sec;
    uint32_t first_nsec, last_nsec;
    uint64_t count;
    char *names[REPORT_NAMES];
    unsigned n_names;
    bool names_truncated; /* more distinct names than kept */
};

struct report {
    pthread_mutex_t lock;
    struct report_row **slots; /* open addressing */
    size_t n_slots, n_rows;
    uint64_t rows_dropped; /* alerts of new rows past REPORT_ROWS_MAX */
    bool oom;
};

struct report *report_new(void)
{
    struct report *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->n_slots = 1024;
    r->slots = calloc(r->n_slots, sizeof(*r->slots));
    if (r->slots == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static uint64_t row_hash(uint8_t version, const uint8_t *addr, const char *id)
{
    uint64_t h = 1469598103934665603ULL ^ version;

    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * 1099511628211ULL;
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h;
}

static bool row_is(const struct report_row *row, uint8_t version, const uint8_t *addr,
                   const char *id)
{
    return row->version == version && memcmp(row->addr, addr, 16) == 0 &&
           strcmp(row->rule_id, id) == 0;
}

static int grow(struct report *r)
{
    size_t n = r->n_slots * 2;
    struct report_row **slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return TW_ENOMEM;
    for (size_t i = 0; i < r->n_slots; i++) {
        struct report_row *row = r->slots[i];
        if (row == NULL)
            continue;
        size_t j = row_hash(row->version, row->addr, row->rule_id) & (n - 1);
        while (slots[j] != NULL)
            j = (j + 1) & (n - 1);
        slots[j] = row;
    }
    free(r->slots);
    r->slots = slots;
    r->n_slots = n;
    return 0;
}

static bool earlier(int64_t s1, uint32_t n1, int64_t s2, uint32_t n2)
{
    return s1 < s2 || (s1 == s2 && n1 < n2);
}

/* Compares a kept name with name[0..len) as strcmp would. */
static int name_cmp(const char *kept, const char *name, size_t len)
{
    int c = strncmp(kept, name, len);
    return c != 0 ? c : kept[len] != '\0';
}

/* Keeps the REPORT_NAMES smallest distinct names (byte order): which names a row shows does not
 * depend on the order alerts arrive in (workers interleave them). */
static void add_name(struct report_row *row, const char *name, size_t len)
{
    unsigned largest = 0;

    if (memchr(name, '\0', len) != NULL)
        len = strlen(name);
    for (unsigned i = 0; i < row->n_names; i++) {
        if (name_cmp(row->names[i], name, len) == 0)
            return;
        if (strcmp(row->names[i], row->names[largest]) > 0)
            largest = i;
    }
    if (row->n_names == REPORT_NAMES) {
        row->names_truncated = true;
        if (name_cmp(row->names[largest], name, len) < 0)
            return; /* larger than every kept name */
        char *c = strndup(name, len);
        if (c != NULL) {
            free(row->names[largest]);
            row->names[largest] = c;
        }
        return;
    }
    char *c = strndup(name, len);
    if (c != NULL)
        row->names[row->n_names++] = c;
}

void report_alert(struct report *r, const struct tw_alert *a)
{
    const struct tw_event *ev = a->ev;
    const char *id = a->rule->id;
    struct report_row *row;
    size_t j;

    pthread_mutex_lock(&r->lock);
    j = row_hash(ev->ip_version, ev->src_addr, id) & (r->n_slots - 1);
    while ((row = r->slots[j]) != NULL && !row_is(row, ev->ip_version, ev->src_addr, id))
        j = (j + 1) & (r->n_slots - 1);
    if (row == NULL) {
        if (r->n_rows >= REPORT_ROWS_MAX) {
            r->rows_dropped++;
            goto out;
        }
        row = calloc(1, sizeof(*row));
        if (row == NULL || (row->rule_id = strdup(id)) == NULL ||
            (row->title = strdup(a->rule->title)) == NULL) {
            if (row != NULL) {
                free(row->rule_id);
                free(row);
            }
            r->oom = true;
            goto out;
        }
        row->version = ev->ip_version;
        memcpy(row->addr, ev->src_addr, 16);
        row->first_sec = row->last_sec = ev->ts_sec;
        row->first_nsec = row->last_nsec = ev->ts_nsec;
        r->slots[j] = row;
        r->n_rows++;
        if (r->n_rows * 2 > r->n_slots && grow(r) != 0)
            r->oom = true;
    }
    if (earlier(ev->ts_sec, ev->ts_nsec, row->first_sec, row->first_nsec)) {
        row->first_sec = ev->ts_sec;
        row->first_nsec = ev->ts_nsec;
    }
    if (earlier(row->last_sec, row->last_nsec, ev->ts_sec, ev->ts_nsec)) {
        row->last_sec = ev->ts_sec;
        row->last_nsec = ev->ts_nsec;
    }
    row->count++;
    add_name(row, ev->norm, ev->norm_len);
out:
    pthread_mutex_unlock(&r->lock);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_rows(const void *a, const void *b)
{
    const struct report_row *x = *(const struct report_row *const *)a;
    const struct report_row *y = *(const struct report_row *const *)b;
    int c;

    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    if ((c = memcmp(x->addr, y->addr, x->version == 4 ? 4 : 16)) != 0)
        return c;
    if ((c = strcmp(x->title, y->title)) != 0)
        return c;
    return strcmp(x->rule_id, y->rule_id);
}

static void addr_text(const struct report_row *row, char *buf, size_t cap)
{
    if (inet_ntop(row->version == 4 ? AF_INET : AF_INET6, row->addr, buf, (socklen_t)cap) == NULL)
        snprintf(buf, cap, "?");
}

/* RFC 3339 UTC with microseconds, as the output lines write it. */
static void time_text(int64_t sec, uint32_t nsec, char *buf, size_t cap)
{
    struct tw_jb jb;
    char tmp[64];

    tw_jb_init(&jb, tmp, sizeof(tmp));
    tw_jb_time(&jb, sec, nsec);
    /* drop the quotes */
    snprintf(buf, cap, "%.*s", jb.len >= 2 ? (int)jb.len - 2 : 0, tmp + 1);
}

int report_write(struct report *r, FILE *fp, enum tw_report_format fmt)
{
    struct report_row **rows = malloc((r->n_rows + 1) * sizeof(*rows));
    size_t n = 0, w_src = 6, w_svc = 7;
    char a[INET6_ADDRSTRLEN], t1[64], t2[64];

    if (rows == NULL)
        return TW_ENOMEM;
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->slots[i] != NULL)
            rows[n++] = r->slots[i];
    qsort(rows, n, sizeof(*rows), cmp_rows);
    for (size_t i = 0; i < n; i++) {
        qsort(rows[i]->names, rows[i]->n_names, sizeof(char *), cmp_str);
        addr_text(rows[i], a, sizeof(a));
        w_src = TW_MAX(w_src, strlen(a));
        w_svc = TW_MAX(w_svc, strlen(rows[i]->title));
    }
    if (fmt == TW_REPORT_TEXT)
        fprintf(fp, "%-*s  %-*s  %-27s  %-27s  %8s  %s\n", (int)w_src, "SOURCE", (int)w_svc,
                "SERVICE", "FIRST SEEN", "LAST SEEN", "COUNT", "NAMES");
    for (size_t i = 0; i < n; i++) {
        const struct report_row *row = rows[i];
        addr_text(row, a, sizeof(a));
        if (fmt == TW_REPORT_TEXT) {
            time_text(row->first_sec, row->first_nsec, t1, sizeof(t1));
            time_text(row->last_sec, row->last_nsec, t2, sizeof(t2));
            fprintf(fp, "%-*s  %-*s  %-27s  %-27s  %8llu  ", (int)w_src, a, (int)w_svc, row->title,
                    t1, t2, (unsigned long long)row->count);
            for (unsigned k = 0; k < row->n_names; k++)
                fprintf(fp, "%s%s", k > 0 ? "," : "", row->names[k]);
            fprintf(fp, "%s\n", row->names_truncated ? ",..." : "");
            continue;
        }
        static char line[TW_LINE_MAX];
        struct tw_jb jb;
        tw_jb_init(&jb, line, sizeof(line));
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "type");
        tw_jb_lit(&jb, "\"report\"");
        tw_jb_key(&jb, "source_ip");
        tw_jb_cstr(&jb, a);
        tw_jb_key(&jb, "rule");
        tw_jb_raw(&jb, "{", 1);
        tw_jb_key(&jb, "id");
        tw_jb_cstr(&jb, row->rule_id);
        tw_jb_key(&jb, "title");
        tw_jb_cstr(&jb, row->title);
        tw_jb_raw(&jb, "}", 1);
        tw_jb_key(&jb, "first_seen");
        tw_jb_time(&jb, row->first_sec, row->first_nsec);
        tw_jb_key(&jb, "last_seen");
        tw_jb_time(&jb, row->last_sec, row->last_nsec);
        tw_jb_key(&jb, "count");
        tw_jb_u64(&jb, row->count);
        tw_jb_key(&jb, "names");
        tw_jb_raw(&jb, "[", 1);
        for (unsigned k = 0; k < row->n_names; k++) {
            if (k > 0)
                tw_jb_raw(&jb, ",", 1);
            tw_jb_cstr(&jb, row->names[k]);
        }
        tw_jb_raw(&jb, "]", 1);
        tw_jb_key(&jb, "names_truncated");
        tw_jb_bool(&jb, row->names_truncated);
        tw_jb_raw(&jb, "}\n", 2);
        if (!jb.overflow)
            fwrite(line, 1, jb.len, fp);
    }
    if (r->rows_dropped > 0 || r->oom)
        fprintf(stderr, "tunwatch: report: %llu alerts of rows past %u not counted%s\n",
                (unsigned long long)r->rows_dropped, REPORT_ROWS_MAX,
                r->oom ? " (out of memory)" : "");
    free(rows);
    if (fflush(fp) != 0 || ferror(fp))
        return TW_EIO;
    return 0;
}

void report_free(struct report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_slots; i++) {
        struct report_row *row = r->slots[i];
        if (row == NULL)
            continue;
        for (unsigned k = 0; k < row->n_names; k++)
            free(row->names[k]);
        free(row->rule_id);
        free(row->title);
        free(row);
    }
    free(r->slots);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
