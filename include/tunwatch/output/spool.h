/* SPDX-License-Identifier: MIT */
/*
 * A sink's spool: the records it could not take, on disk, in order, bounded in size, so that a
 * collector that is down for minutes loses nothing. A directory of segment files
 * NNNNNNNNNNNNNNNN.spool (16 hex digits, replayed in ascending order); the segment being
 * written is NNNN.tmp and becomes .spool when sealed (rename: a replayer never sees a half
 * written segment). A segment is removed once every record in it was delivered. One record
 * a line:
 *
 *     A|E SEVERITY SP KEY SP LINE LF   (SEVERITY one digit 0-7; KEY "-" when empty; LINE the
 *                                      output line)
 *
 * A segment cut by a crash (a .tmp found at open, or a last line without LF) keeps its whole
 * lines; the cut bytes are counted. At close, a segment that was partly replayed is rewritten
 * with the records not yet delivered, so a clean stop delivers each record once. Not
 * thread-safe: the sink holds its lock around every call.
 */
#ifndef TUNWATCH_OUTPUT_SPOOL_H
#define TUNWATCH_OUTPUT_SPOOL_H

#include <stdint.h>
#include <stdio.h>

#include "tunwatch/output/lineq.h"

struct tw_spool_stats {
    uint64_t bytes;      /* on disk now (records not yet delivered, roughly) */
    uint64_t records;    /* not yet delivered */
    uint64_t appended;   /* records written */
    uint64_t refused;    /* records refused: the size bound */
    uint64_t replayed;   /* records delivered from the spool */
    uint64_t cut_bytes;  /* bytes of cut records dropped (crash, or a damaged file) */
    uint64_t recovered;  /* .tmp segments found at open and kept */
};

struct tw_spool;

/*
 * Opens (creating it, mode 0700) the directory dir, recovers what an earlier run left, and
 * counts its records. max_bytes bounds the whole spool; a segment is sealed past seg_bytes.
 * NULL with a reason in err.
 */
struct tw_spool *tw_spool_open(const char *dir, uint64_t max_bytes, uint64_t seg_bytes,
                               char *err, size_t errlen);
/* Appends r (written with one write(2)). 0; TW_ENOMEM when the size bound refuses it;
 * TW_EIO (errno set) when the write failed. */
int tw_spool_append(struct tw_spool *sp, const struct tw_rec *r);
/*
 * The oldest record not yet delivered, copied into buf (cap bytes: line and key point into
 * it). 1 when one is returned, 0 when the spool is empty; the open segment is sealed when it
 * is all that is left. Returning the same record until tw_spool_ack().
 */
int tw_spool_peek(struct tw_spool *sp, struct tw_rec *r, char *buf, size_t cap);
/* The record tw_spool_peek returned was delivered: the next one; an emptied segment is
 * removed. */
void tw_spool_ack(struct tw_spool *sp);
/* Records not yet delivered (the open segment's included). */
uint64_t tw_spool_pending(const struct tw_spool *sp);
void tw_spool_get_stats(const struct tw_spool *sp, struct tw_spool_stats *st);
/* Hands the directory and every file in it to uid:gid (a spool opened before -u USER). 0, or
 * the errno of the first failure. Call before the sink's thread writes to it. */
int tw_spool_chown(struct tw_spool *sp, unsigned uid, unsigned gid);
/* Seals the open segment, rewrites a partly delivered one, frees sp. 0 or TW_EIO. */
int tw_spool_close(struct tw_spool *sp);

#endif /* TUNWATCH_OUTPUT_SPOOL_H */
