/* SPDX-License-Identifier: MIT */
/*
 * Sinks: where output lines go. Each -o names one: a file path, "-" (stdout), or a URL
 * (file://, syslog+udp://, syslog+tcp://, syslog+unix://, kafka://, redis://; README,
 * "Sinks"). A file sink writes each line whole under its lock, from the thread that formatted
 * it, and its write errors are sticky (the run stops, exit 2). A network sink never blocks
 * the packet path: tw_sink_write() puts the line in the sink's bounded queue (bytes and lines),
 * or, when that is full or the spool already holds lines, in its spool directory, or counts
 * it dropped; the sink's own thread connects (exponential backoff, capped), sends in order
 * (queue first, then the spool, so order is kept), and at close drains until a deadline,
 * spooling or counting what is left.
 */
#ifndef TUNWATCH_OUTPUT_SINK_H
#define TUNWATCH_OUTPUT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunwatch/output/format.h"

#define TW_MAX_SINKS 16

/* What a line is, for the counters of what was written and what was not. */
enum tw_line_kind { TW_LINE_EVENT, TW_LINE_ALERT, TW_LINE__COUNT };
#define TW_SINK_MAX_PROPS 32 /* librdkafka properties of one kafka:// URL */

enum tw_sink_kind {
    TW_SINK_FILE, /* a path, "-" or file:// */
    TW_SINK_SYSLOG_UDP,
    TW_SINK_SYSLOG_TCP,
    TW_SINK_SYSLOG_UNIX,
    TW_SINK_KAFKA,
    TW_SINK_REDIS,
};

enum tw_redis_mode { TW_REDIS_LIST, TW_REDIS_STREAM, TW_REDIS_PUBLISH };
enum tw_syslog_proto { TW_SYSLOG_5424, TW_SYSLOG_3164_LOCAL };
enum tw_sink_keyby { TW_KEY_SOURCE, TW_KEY_COMMUNITY_ID };

struct tw_sink_prop {
    char *name, *value;
};

/* A parsed -o value. Strings are owned (tw_sink_url_free). */
struct tw_sink_url {
    enum tw_sink_kind kind;
    char *text;        /* as given, with password values hidden: for messages and stats */
    char *path;        /* file (NULL: stdout), unix socket */
    char *host, *port; /* syslog udp/tcp, redis */
    char *brokers;     /* kafka: HOST:PORT[,HOST:PORT...] */
    char *topic;       /* kafka topic, redis key */
    bool plain_path;   /* a bare path or "-": --events decides what it gets */
    int events_all;    /* -1 not given, 0 alerts, 1 all events */
    int format;           /* ?format=: an enum tw_format, or -1: the run's --output-format */
    bool append;
    uint64_t queue_bytes; /* 0: default */
    uint32_t queue_lines;
    char *spool_dir;      /* NULL: --spool-dir or none */
    uint64_t spool_max;   /* 0: default */
    double backoff_max;   /* seconds, 0: default */
    int facility;         /* syslog, -1: default */
    int severity;         /* -1: from the rule level */
    char *app;            /* syslog APP-NAME, NULL: "tunwatch" */
    enum tw_syslog_proto proto;
    enum tw_redis_mode mode;
    char *password;
    int db;               /* -1: not selected */
    uint64_t maxlen;      /* redis stream MAXLEN ~ */
    enum tw_sink_keyby keyby;
    struct tw_sink_prop props[TW_SINK_MAX_PROPS]; /* kafka: passed to librdkafka */
    size_t n_props;
};

/*
 * Parses one -o value into *u (reset on entry). Returns 0, or TW_EINVAL with a reason in err
 * (the caller names the URL), or TW_ENOMEM. Bare paths take no parameters: a '?' in one is
 * part of the name. tw_sink_url_free() is safe after either.
 */
int tw_sink_url_parse(const char *text, struct tw_sink_url *u, char *err, size_t errlen);
void tw_sink_url_free(struct tw_sink_url *u);
const char *tw_sink_kind_name(enum tw_sink_kind k);

/* Run-wide settings a sink falls back to when its URL does not say. */
struct tw_sink_defaults {
    enum tw_format format; /* --output-format: sinks without ?format= */
    bool events;          /* --events: what plain file outputs get */
    bool append;          /* --append: files are appended to, not truncated */
    const char *spool_dir; /* --spool-dir: each network sink gets a folder of its own below */
    uint64_t spool_max;   /* bytes per spool */
    uint64_t queue_bytes;
    uint32_t queue_lines;
    double backoff_max;
};
#define TW_SINK_QUEUE_BYTES (8u << 20)
#define TW_SINK_QUEUE_LINES 65536u
#define TW_SINK_SPOOL_MAX (256ull << 20)
#define TW_SINK_BACKOFF_MAX 30.0
#define TW_SINK_BACKOFF_MIN 0.1

/* What a line carries besides its bytes. */
struct tw_sink_meta {
    bool alert;      /* an alert line (else an event line) */
    int severity;    /* syslog severity 0..7 */
    /* Keys, given only when some sink is keyed by them (tw_sink_keyed); else NULL. */
    const char *source;       /* the event's source address: the default kafka key */
    const char *community_id; /* its flow's Community ID (kafka ?key=community_id) */
};

/* Per sink counters (lines). */
struct tw_sink_stats {
    uint64_t sent;       /* delivered (network: acknowledged where the protocol acknowledges) */
    uint64_t queued;     /* in the memory queue now */
    uint64_t spooled;    /* written to the spool (in all) */
    uint64_t spool_pending; /* in the spool now */
    uint64_t dropped;    /* lost: queue full without a spool, spool full, or left at exit */
    uint64_t failed;     /* send attempts refused or broken (each retried) */
    uint64_t reconnects; /* connections made after the first, or lost (kafka) */
    uint64_t left;       /* at close: lines not delivered within the drain deadline */
    bool connected;
};

struct tw_sink;

/*
 * Opens the sink u names (u is taken over: freed with the sink). Files are opened here;
 * network sinks open their spool and start their thread, which connects in the background (a
 * collector that is down at start is not an error). Returns 0, or a negative TW_E* with the
 * reason in err.
 */
int tw_sink_open(struct tw_sink_url *u, const struct tw_sink_defaults *d, struct tw_sink **out,
                 char *err, size_t errlen);
/* Hands over one line (len bytes, not counting the '\n' that line[len] must hold). Never
 * blocks on the network; safe from any thread. */
void tw_sink_write(struct tw_sink *s, const char *line, size_t len, const struct tw_sink_meta *m);
/* True if s keeps a key with each line (network sinks: queue and spool records; kafka sends
 * it as the message key), and which: *by. Files take none. */
bool tw_sink_keyed(const struct tw_sink *s, enum tw_sink_keyby *by);
/* True if s takes event lines as well as alerts. */
bool tw_sink_wants_events(const struct tw_sink *s);
/* The format of the lines s takes (its ?format=, else the run's). */
enum tw_format tw_sink_format(const struct tw_sink *s);
/* Name for messages (the URL with passwords hidden). */
const char *tw_sink_name(const struct tw_sink *s);
/* Files: flushes; returns 0 or the errno of the first write error (sticky). Others: 0. */
int tw_sink_flush(struct tw_sink *s);
/* Files: the errno of the first write error, 0 if none (cheap; no lock). Others: 0. */
int tw_sink_error(const struct tw_sink *s);
/* Files with a path: reopens for appending (log rotation). 0, or an errno (old file kept). */
int tw_sink_reopen(struct tw_sink *s);
void tw_sink_get_stats(struct tw_sink *s, struct tw_sink_stats *st);
/* File sinks: lines that reached the file and lines lost to a write error, by kind (a
 * consistent snapshot). Others: false, nothing written. */
bool tw_sink_line_counts(struct tw_sink *s, uint64_t written[TW_LINE__COUNT],
                         uint64_t unwritten[TW_LINE__COUNT]);
/* Hands what s opened before -u USER to uid:gid: a file sink's file (so that a SIGHUP
 * reopen still works), a network sink's spool directory. 0, or an errno. */
int tw_sink_chown(struct tw_sink *s, unsigned uid, unsigned gid);
/*
 * Drains for at most deadline seconds (network sinks), then closes. What could not be sent
 * goes to the spool, or is counted dropped and left. Returns 0 or the errno of a file write
 * error. The counters stay readable until tw_sink_free().
 */
int tw_sink_close(struct tw_sink *s, double deadline);
void tw_sink_free(struct tw_sink *s);

#endif /* TUNWATCH_OUTPUT_SINK_H */
