/* SPDX-License-Identifier: MIT */
/*
 * Files a run writes besides its output lines: the output and stats logs opened in append or
 * truncate mode and reopened on SIGHUP (log rotation), and the pid file.
 */
#include "sensor_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

FILE *open_log(const char *path, bool truncate)
{
    return fopen(path, truncate ? "w" : "a");
}

/* Reopens the output (log rotation): the new file is opened before the old one is closed,
 * so a failure keeps the old one and loses nothing. */
void reopen_files(struct sensor *s)
{
    const struct tw_sensor_config *cfg = s->cfg;

    sinks_reopen(s);
    if (cfg->stats_path != NULL && s->stats_fp != NULL) {
        FILE *fp = open_log(cfg->stats_path, false);
        if (fp == NULL) {
            fprintf(stderr, "tunwatch: reopening %s: %s\n", cfg->stats_path, strerror(errno));
        } else {
            fclose(s->stats_fp);
            s->stats_fp = fp;
        }
    }
}

int write_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n;

    if (fd < 0)
        return -1;
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return close(fd);
}
