/* SPDX-License-Identifier: MIT */
/*
 * Syslog framing of an output line.
 *
 * RFC 5424 (UDP, TCP, and the unix socket on request):
 *
 *     <PRI>1 SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP - SP MSG
 *
 * PRI = facility * 8 + severity; TIMESTAMP RFC 3339 UTC with microseconds; MSGID "alert" or
 * "event"; no structured data; MSG the JSON line. Over TCP each message is prefixed with its
 * length (RFC 6587 octet counting: "LEN SP MSG").
 *
 * The local format (syslog+unix, default), what glibc's syslog(3) writes to /dev/log and
 * rsyslog's imuxsock and journald read:
 *
 *     <PRI>Mmm dd hh:mm:ss APP[PID]: MSG
 */
#ifndef TUNWATCH_OUTPUT_SYSLOG_H
#define TUNWATCH_OUTPUT_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tunwatch/output/sink.h"

struct tw_syslog_hdr {
    int facility; /* 0..23 */
    const char *hostname, *app;
    long pid;
    enum tw_syslog_proto proto;
    bool octet_count; /* TCP */
};

/* Facility by name ("daemon", "local0", ...) or number; -1 if unknown. */
int tw_syslog_facility(const char *name);
/* Severity by name ("warning", "err", ...) or number 0..7; -1 if unknown. */
int tw_syslog_severity(const char *name);
/* Severity for a Sigma rule level: critical 2, high 3, medium 4, low 5, else 6. */
int tw_syslog_severity_for_level(const char *level);
/*
 * Frames msg (len bytes) at time ts into out (cap bytes). Returns the framed length, or 0 when
 * it does not fit. Header fields are cut to RFC 5424's lengths and printable ASCII.
 */
size_t tw_syslog_frame(const struct tw_syslog_hdr *h, int severity, bool alert,
                       const struct timespec *ts, const char *msg, size_t len, char *out,
                       size_t cap);

#endif /* TUNWATCH_OUTPUT_SYSLOG_H */
