/* SPDX-License-Identifier: MIT */
/*
 * File sinks (a path, "-", file://): written from the thread that formatted the line, whole
 * lines under one lock per file (struct tw_outfile, output.c), write errors sticky.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "tunwatch/base/common.h"

#define FILE_BUF (1u << 20)

int tw_sink_file_open(struct tw_sink *s, const struct tw_sink_defaults *d, char *err,
                     size_t errlen)
{
    FILE *fp = stdout;
    bool append = s->u.append || d->append;

    if (s->u.path != NULL) {
        fp = fopen(s->u.path, append ? "a" : "w");
        if (fp == NULL) {
            snprintf(err, errlen, "%s: %s", s->u.path, strerror(errno));
            return TW_EIO;
        }
    }
    /* stdout's buffer outlives the sink: stdio may touch it at exit. */
    static char stdout_buf[FILE_BUF];
    char *buf = fp == stdout ? stdout_buf : (s->fbuf = malloc(FILE_BUF));
    if (buf == NULL || tw_outfile_init(&s->file, fp, s->u.path != NULL ? s->u.path
                                                                          : "stdout") != 0) {
        if (fp != stdout)
            fclose(fp);
        snprintf(err, errlen, "out of memory");
        return TW_ENOMEM;
    }
    setvbuf(fp, buf, _IOFBF, FILE_BUF);
    s->file_open = true;
    return 0;
}

void tw_sink_file_write(struct tw_sink *s, const char *line, size_t len)
{
    struct tw_outfile *f = &s->file;

    if (atomic_load_explicit(&f->err, memory_order_relaxed) != 0)
        return;
    pthread_mutex_lock(&f->lock);
    if (fwrite(line, 1, len + 1, f->fp) != len + 1 && f->err == 0)
        f->err = errno != 0 ? errno : EIO;
    pthread_mutex_unlock(&f->lock);
}
