/* SPDX-License-Identifier: MIT */
/*
 * A bounded FIFO of output records (a line with its partition key and syslog severity), held
 * in one byte ring allocated at start: a network sink's memory queue. Bounded by bytes and by
 * records; a push that does not fit is refused, never blocks and never allocates. Not
 * thread-safe: the sink holds its lock around every call.
 */
#ifndef TUNWATCH_OUTPUT_LINEQ_H
#define TUNWATCH_OUTPUT_LINEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One output record. line holds no '\n'; key at most TW_REC_KEY_MAX bytes. */
struct tw_rec {
    const char *line;
    size_t len;
    const char *key;
    size_t key_len;
    bool alert;
    uint8_t severity;
};
#define TW_REC_KEY_MAX 255

struct tw_lineq {
    uint8_t *buf;
    size_t cap;       /* bytes */
    size_t head, tail; /* read and write offsets */
    size_t used;      /* bytes held, wrap padding included */
    size_t n, max_n;  /* records held, at most */
};

/* 0, or TW_ENOMEM. cap_bytes >= 64. */
int tw_lineq_init(struct tw_lineq *q, size_t cap_bytes, size_t max_records);
void tw_lineq_destroy(struct tw_lineq *q);
/* Appends a copy of r. False (nothing changed) when it does not fit now; a record larger
 * than the whole queue never fits. */
bool tw_lineq_push(struct tw_lineq *q, const struct tw_rec *r);
/* The oldest record, pointing into the queue (valid until the next pop). False if empty. */
bool tw_lineq_peek(const struct tw_lineq *q, struct tw_rec *r);
/* Removes the oldest record (no-op when empty). */
void tw_lineq_pop(struct tw_lineq *q);
static inline size_t tw_lineq_count(const struct tw_lineq *q)
{
    return q->n;
}

#endif /* TUNWATCH_OUTPUT_LINEQ_H */
