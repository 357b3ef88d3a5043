/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/output.h"

#include <errno.h>
#include <string.h>

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

void tw_output_alert(void *out, const struct tw_alert *a)
{
    struct tw_output *o = out;
    struct tw_jb jb;

    tw_jb_init(&jb, o->line, sizeof(o->line));
    tw_format_alert(o->format, &jb, o->fmt, a);
    write_line(o, &jb);
}

void tw_output_event(struct tw_output *o, const struct tw_event *ev)
{
    struct tw_jb jb;

    o->events_seen[ev->category]++;
    if (!o->events)
        return;
    tw_jb_init(&jb, o->line, sizeof(o->line));
    tw_format_event(o->format, &jb, o->fmt, ev);
    write_line(o, &jb);
    o->events_written++;
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
