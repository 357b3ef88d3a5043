/* SPDX-License-Identifier: MIT */
/*
 * One sensor run: capture sources -> engine -> rules -> output, with the
 * operational parts around it: rules loaded off the packet path (at start and
 * on reload), SIGHUP (reopen output files, reload rules, keep flows),
 * SIGTERM/SIGINT (stop, flush, final summary), periodic stats lines, a
 * progress line for long replays.
 */
#ifndef TUNWATCH_SENSOR_H
#define TUNWATCH_SENSOR_H

#include "tunwatch/capture/capture.h"
#include "tunwatch/inspect/engine.h"
#include "tunwatch/match/matchers.h"
#include "tunwatch/output/format.h"
#include "tunwatch/output/sink.h"

#define TW_MAX_SOURCES 16
#define TW_MAX_WORKERS 64
#define TW_MAX_READ_PATHS 256 /* -r arguments (each a file, directory or pattern) */
#define TW_MAX_READ_FILES 65535 /* capture files they expand to */

enum tw_report_format { TW_REPORT_TEXT, TW_REPORT_JSON };

struct tw_sensor_config {
    const char *read_paths[TW_MAX_READ_PATHS]; /* replay these (files, directories, globs) as
                                                  one stream merged in time order, or ... */
    size_t n_read_paths;
    const char *interfaces[TW_MAX_SOURCES];    /* ... capture live from these */
    size_t n_interfaces;
    struct tw_capture_opts cap;
    struct tw_matchers_config match; /* rules, indicator and exclusion files */
    const char *outputs[TW_MAX_SINKS]; /* -o: paths, "-" or URLs (none: stdout) */
    size_t n_outputs;
    const char *spool_dir;    /* --spool-dir: network sinks spool below it */
    uint32_t spool_max_mib;   /* --spool-max: per sink (0: default) */
    uint32_t drain_timeout;   /* --drain-timeout: seconds network sinks get at exit */
    const char *stats_path;   /* NULL: stats lines go to stderr */
    const char *pid_path;
    const char *user;         /* drop privileges to this user once the capture is open */
    unsigned stats_interval;  /* seconds, 0: no periodic stats */
    unsigned workers;         /* packet workers (0 or 1: the reading thread does the work) */
    int file_read;            /* --file-read: enum tw_capfile_map (AUTO, ALWAYS, NEVER) */
    uint32_t dns_cache;       /* DNS answer cache entries (0: no answer correlation) */
    uint32_t suppress_secs;   /* one alert per (rule, source, name) per window; 0: every one */
    int local_processes;      /* process attribution: 1 on, 0 off, -1 (auto) on for live
                                 capture from local interfaces (not files, not DPDK) */
    const char *report_path;  /* --report: NULL none, "-" stderr, else a file */
    enum tw_report_format report_format;
    bool append;              /* -o and --report files: append, not truncate (replay; a live
                                 capture always appends) */
    bool events;
    bool quiet;
    enum tw_format format;    /* --output-format (TW_FORMAT_NATIVE by default) */
    const char *sensor_name;  /* --sensor-name; NULL: the host name */
    const char *version;      /* tunwatch's version, written by some formats */
    struct tw_engine_config eng;
    struct tw_prep_config prep; /* IP reassembly and checksum validation */
};

/* Signal flags, set by the handlers tw_sensor_run installs. */
void tw_sensor_request_stop(void);
void tw_sensor_request_reload(void);

/*
 * Runs the sensor until the file ends or a stop is requested.
 * Returns the exit status: 0 success, 1 bad input or set-up failure, 2 output write error.
 */
int tw_sensor_run(const struct tw_sensor_config *cfg);

#endif /* TUNWATCH_SENSOR_H */
