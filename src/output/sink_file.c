/* SPDX-License-Identifier: MIT */
/*
 * File sinks (a path, "-", file://): written from the thread that formatted the line, whole
 * lines under one lock per file (struct tw_outfile, output.c), write errors sticky.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink_impl.h"
#include "tunwatch/base/common.h"

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
    /* The outfile keeps whole lines in its own buffer and writes the descriptor itself. */
    if (tw_outfile_init(&s->file, fp, s->u.path != NULL ? s->u.path : "stdout") != 0) {
        if (fp != stdout)
            fclose(fp);
        snprintf(err, errlen, "out of memory");
        return TW_ENOMEM;
    }
    s->file_open = true;
    return 0;
}

void tw_sink_file_write(struct tw_sink *s, const char *line, size_t len, enum tw_line_kind kind)
{
    tw_outfile_write(&s->file, line, len + 1, kind);
}

bool tw_sink_line_counts(struct tw_sink *s, uint64_t written[TW_LINE__COUNT],
                         uint64_t unwritten[TW_LINE__COUNT])
{
    if (s->ops != NULL || !s->file_open) {
        memset(written, 0, sizeof(uint64_t) * TW_LINE__COUNT);
        memset(unwritten, 0, sizeof(uint64_t) * TW_LINE__COUNT);
        return false;
    }
    tw_outfile_counts(&s->file, written, unwritten);
    return true;
}

int tw_sink_chown(struct tw_sink *s, unsigned uid, unsigned gid)
{
    int rc = 0;

    if (s->ops != NULL) { /* a network sink: its spool, if it has one */
        pthread_mutex_lock(&s->lock);
        rc = s->spool != NULL ? tw_spool_chown(s->spool, uid, gid) : 0;
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    if (!s->file_open || s->u.path == NULL)
        return 0;
    pthread_mutex_lock(&s->file.lock);
    if (fchown(fileno(s->file.fp), (uid_t)uid, (gid_t)gid) != 0)
        rc = errno;
    pthread_mutex_unlock(&s->file.lock);
    return rc;
}
