/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunwatch/flow/communityid.h"
#include "tunwatch/output/json.h"
#include "tunwatch/output/syslog.h"

/* What a line carries to the sinks besides its bytes. */
struct line_meta {
    struct tw_sink_meta m;
    char cid[TW_COMMUNITY_ID_LEN];
    char src[TW_IPSTR_MAX];
};

/* The keys are computed only when some sink sends them (a Community ID is a SHA-1). */
static void line_meta_init(struct line_meta *lm, const struct tw_sinkset *set,
                           const struct tw_event *ev, bool alert, int severity)
{
    lm->m = (struct tw_sink_meta){.alert = alert, .severity = severity};
    if (set->key_source) {
        tw_addr_format(ev->ip_version, ev->src_addr, lm->src, sizeof(lm->src));
        lm->m.source = lm->src;
    }
    if (set->key_community_id &&
        tw_community_id(0, ev->ip_version, ev->src_addr, ev->dst_addr, ev->l4_proto, ev->sport,
                        ev->dport, lm->cid, sizeof(lm->cid)) == 0)
        lm->m.community_id = lm->cid;
}

/* Formats the alert a (or the event ev) once for each format some sink takes it in, and hands
 * each line to those sinks. Returns whether a line was handed over. */
static bool write_lines(struct tw_output *o, const struct tw_alert *a, const struct tw_event *ev)
{
    const struct tw_sinkset *set = o->sinks;
    const bool alert = a != NULL;
    unsigned formats = alert ? set->alert_formats : set->event_formats;
    struct line_meta lm;
    bool any = false;

    if (formats == 0)
        return false;
    line_meta_init(&lm, set, alert ? a->ev : ev, alert,
                   alert ? tw_syslog_severity_for_level(a->rule->level) : 6 /* info */);
    for (unsigned f = 0; f < TW_FORMAT__COUNT; f++) {
        struct tw_jb jb;
        if (!(formats & (1u << f)))
            continue;
        tw_jb_init(&jb, o->line, sizeof(o->line));
        if (alert)
            tw_format_alert((enum tw_format)f, &jb, o->fmt, a, &o->memo);
        else
            tw_format_event((enum tw_format)f, &jb, o->fmt, ev);
        if (!jb.overflow)
            tw_jb_raw(&jb, "\n", 1);
        if (jb.overflow) {
            o->lines_dropped++;
            continue;
        }
        for (size_t i = 0; i < set->n; i++) {
            struct tw_sink *k = set->v[i];
            if (tw_sink_format(k) == (enum tw_format)f && (alert || tw_sink_wants_events(k)))
                tw_sink_write(k, jb.buf, jb.len - 1, &lm.m);
        }
        any = true;
    }
    return any;
}

void tw_output_alert(void *out, const struct tw_alert *a)
{
    write_lines(out, a, NULL);
}

void tw_output_event(struct tw_output *o, const struct tw_event *ev)
{
    o->events_seen[ev->category]++;
    if (!o->events)
        return;
    if (write_lines(o, NULL, ev))
        o->events_written++;
}

#define OUTFILE_BUFFER (1u << 20)
#define OUTFILE_LINES (OUTFILE_BUFFER / 64) /* lines held at once (flushed when full) */

int tw_outfile_init(struct tw_outfile *f, FILE *fp, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->fp = fp;
    f->path = path;
    atomic_init(&f->err, 0);
    f->buf = malloc(OUTFILE_BUFFER);
    f->kinds = malloc(OUTFILE_LINES);
    if (f->buf == NULL || f->kinds == NULL) {
        free(f->buf);
        free(f->kinds);
        return TW_ENOMEM;
    }
    f->cap = OUTFILE_BUFFER;
    f->max_lines = OUTFILE_LINES;
    return pthread_mutex_init(&f->lock, NULL) == 0 ? 0 : TW_ENOMEM;
}

/* Counts kinds[from..to) as written or lost. */
static void count_lines(struct tw_outfile *f, size_t from, size_t to, bool written)
{
    for (size_t i = from; i < to; i++)
        (written ? f->written : f->unwritten)[f->kinds[i]]++;
}

/*
 * Writes the buffered lines. A write that stops short (ENOSPC, EFBIG, EIO, EPIPE) leaves the
 * lines before the last newline it wrote; on a regular file the bytes after it are cut off
 * again, so the file ends on a whole line. Called with the lock held.
 */
static void flush_locked(struct tw_outfile *f)
{
    int fd = fileno(f->fp);
    size_t done = 0;
    off_t start;

    if (f->len == 0)
        return;
    if (f->err != 0) {
        count_lines(f, 0, f->n_lines, false);
        f->len = f->n_lines = 0;
        return;
    }
    start = lseek(fd, 0, SEEK_END); /* -1 on a pipe or terminal */
    while (done < f->len) {
        ssize_t n = write(fd, f->buf + done, f->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            f->err = n < 0 && errno != 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    if (done == f->len) {
        count_lines(f, 0, f->n_lines, true);
    } else {
        /* The whole lines that made it, and the cut one taken back. */
        size_t whole = 0, lines = 0;
        for (size_t i = 0; i < done; i++)
            if (f->buf[i] == '\n') {
                whole = i + 1;
                lines++;
            }
        if (whole < done && start >= 0 && ftruncate(fd, start + (off_t)whole) != 0)
            fprintf(stderr, "tunwatch: %s: cannot take back a partial line: %s\n", f->path,
                    strerror(errno));
        count_lines(f, 0, lines, true);
        count_lines(f, lines, f->n_lines, false);
    }
    f->len = f->n_lines = 0;
}

void tw_outfile_write(struct tw_outfile *f, const char *p, size_t n, enum tw_line_kind kind)
{
    pthread_mutex_lock(&f->lock);
    if (f->err != 0) {
        f->unwritten[kind]++;
        goto out;
    }
    if (f->len + n > f->cap || f->n_lines == f->max_lines)
        flush_locked(f);
    if (f->err != 0) {
        f->unwritten[kind]++;
        goto out;
    }
    /* A line never exceeds TW_LINE_MAX, far below the buffer. */
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    f->kinds[f->n_lines++] = (uint8_t)kind;
out:
    pthread_mutex_unlock(&f->lock);
}

void tw_outfile_counts(struct tw_outfile *f, uint64_t written[TW_LINE__COUNT],
                       uint64_t unwritten[TW_LINE__COUNT])
{
    pthread_mutex_lock(&f->lock);
    memcpy(written, f->written, sizeof(f->written));
    memcpy(unwritten, f->unwritten, sizeof(f->unwritten));
    pthread_mutex_unlock(&f->lock);
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
    free(f->buf);
    free(f->kinds);
    f->buf = NULL;
    f->kinds = NULL;
    return f->err;
}
