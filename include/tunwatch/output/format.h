/* SPDX-License-Identifier: MIT */
/*
 * Output formats: how one alert or one event becomes one line. A formatter only builds text in
 * a caller's buffer (struct tw_jb, also used for the CEF text line); it never writes, locks or
 * counts. Where a line goes (a file, a socket, a queue) is the caller's business, so several
 * outputs, each with its own format, can format the same alert one after the other.
 *
 *   native  tunwatch's own NDJSON (README, "Output schema")
 *   ecs     Elastic Common Schema 8 NDJSON (nested objects; tunwatch's extras under tunwatch.*)
 *   asim    Microsoft Sentinel ASIM NDJSON: NetworkSession 0.2.6 for connections, Dns 0.1.7 for
 *           DNS queries (flat keys)
 *   cef     ArcSight Common Event Format 0 text lines, for syslog receivers
 *
 * README "Output formats" maps every field of every format.
 *
 * Every line names who wrote it: the sensor (its name, the host name, a random run id) and the
 * capture source the event came from (an interface, or a capture file).
 */
#ifndef TUNWATCH_FORMAT_H
#define TUNWATCH_FORMAT_H

#include "tunwatch/base/netaddr.h"
#include "tunwatch/event/event.h"
#include "tunwatch/match/match.h"
#include "tunwatch/output/json.h"

enum tw_format {
    TW_FORMAT_NATIVE,
    TW_FORMAT_ECS,
    TW_FORMAT_ASIM,
    TW_FORMAT_CEF,
    TW_FORMAT__COUNT
};

/* "native", "ecs", "asim", "cef" (exact, lowercase) -> *out. 0 or TW_EINVAL. */
int tw_format_parse(const char *s, enum tw_format *out);
const char *tw_format_name(enum tw_format f);

#define TW_RUN_ID_LEN 37 /* a UUID in text form, with its NUL */
#define TW_HOST_NAME_MAX 256

/*
 * Who writes the lines: one per run, read-only once set up, shared by every output and thread.
 * The run id is a random (version 4) UUID drawn at start: flow ids restart at 1 each run, so
 * (run_id, flow_id) is what names a flow across runs and sensors.
 */
struct tw_sensor_id {
    char name[TW_HOST_NAME_MAX];     /* --sensor-name, default the host name */
    char hostname[TW_HOST_NAME_MAX]; /* the machine's host name (gethostname) */
    char run_id[TW_RUN_ID_LEN];
    const char *version;             /* tunwatch's version (CEF header, observer.version) */
};

/*
 * Fills id: name (NULL or "": the host name), host name, a fresh run id from getrandom(2).
 * Returns 0, or TW_EIO when the kernel gives no random bytes (the run id would not be unique).
 */
int tw_sensor_id_init(struct tw_sensor_id *id, const char *name, const char *version);

/* What a formatter needs besides the alert or event. Read-only while lines are formatted. */
struct tw_format_ctx {
    const struct tw_sensor_id *sensor;
    /* The home networks (--home-net): the destination side of the network direction (the
     * source side is the event's Initiated). NULL: the direction is unknown. */
    const struct tw_homenet *home;
    /* The default capture source, used when an event carries none (ev->source == NULL). */
    const char *source;
    bool source_is_file; /* the source is a capture file (-r), else an interface */
};

/*
 * What a formatter wrote of one event for an alert, kept (by one thread, its output's) for the
 * next alert on the same event (struct tw_alert.ev_serial): several rules firing on one name
 * are several alert lines that differ in their rule only. Up to TW_FORMAT_MEMO_MAX bytes.
 */
#define TW_FORMAT_MEMO_MAX 4096
struct tw_format_memo {
    uint64_t serial; /* the alerts' ev_serial it holds the bytes of (0: none) */
    unsigned format; /* enum tw_format that wrote them */
    size_t len;
    char buf[TW_FORMAT_MEMO_MAX];
};

/* One formatter: writes a whole line (no newline) into jb for the event ev, or for the alert a
 * on it (a->ev == ev) when a is not NULL; jb->overflow says it did not fit. memo (NULL: none)
 * may hold what it wrote of ev for the alert before on the same event, and takes what it
 * writes of it now. */
struct tw_formatter {
    void (*line)(struct tw_jb *jb, const struct tw_format_ctx *c, const struct tw_event *ev,
                 const struct tw_alert *a, struct tw_format_memo *memo);
};

extern const struct tw_formatter tw_format_native, tw_format_ecs, tw_format_asim,
    tw_format_cef;

/* The formatter of f (f < TW_FORMAT__COUNT). */
const struct tw_formatter *tw_formatter(enum tw_format f);

/* Formats a (or ev) in format f into jb, which is reset first; memo as in struct
 * tw_formatter. */
void tw_format_alert(enum tw_format f, struct tw_jb *jb, const struct tw_format_ctx *c,
                     const struct tw_alert *a, struct tw_format_memo *memo);
void tw_format_event(enum tw_format f, struct tw_jb *jb, const struct tw_format_ctx *c,
                     const struct tw_event *ev);

#endif /* TUNWATCH_FORMAT_H */
