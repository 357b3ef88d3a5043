/* SPDX-License-Identifier: MIT */
/*
 * Building one JSON line in a fixed buffer. Nothing allocates; a line that
 * does not fit sets `overflow` and must be dropped (and counted) by the caller.
 *
 * tw_jb_str() escapes anything: '"', '\\', control bytes and DEL as \uXXXX
 * (or the short forms \n \r \t \b \f), valid UTF-8 passes through, and each
 * byte of an invalid UTF-8 sequence becomes \u00XX. The result is valid JSON
 * whatever bytes the input holds.
 */
#ifndef TUNWATCH_JSON_H
#define TUNWATCH_JSON_H

#include "tunwatch/base/common.h"

struct tw_jb {
    char *buf;
    size_t len;
    size_t cap;
    bool overflow;
};

static inline void tw_jb_init(struct tw_jb *jb, char *buf, size_t cap)
{
    jb->buf = buf;
    jb->len = 0;
    jb->cap = cap;
    jb->overflow = false;
}

void tw_jb_raw(struct tw_jb *jb, const char *s, size_t n);
void tw_jb_lit(struct tw_jb *jb, const char *s); /* trusted literal, not escaped */
void tw_jb_str(struct tw_jb *jb, const void *s, size_t n); /* quoted and escaped */
/* Escaped as tw_jb_str does, without the quotes: pieces of one string value. */
void tw_jb_str_body(struct tw_jb *jb, const void *s, size_t n);
void tw_jb_cstr(struct tw_jb *jb, const char *s);          /* quoted and escaped */
void tw_jb_u64(struct tw_jb *jb, uint64_t v);
void tw_jb_bool(struct tw_jb *jb, bool v);
/* "key": -- key is a trusted literal; a comma is written first unless the
 * previous byte opened an object or array. */
void tw_jb_key(struct tw_jb *jb, const char *key);
/* Length of the valid UTF-8 sequence at s (n > 0 bytes there; RFC 3629: no overlongs, no
 * surrogates, <= U+10FFFF), or 0 if the bytes there are not one. */
size_t tw_utf8_seq_len(const uint8_t *s, size_t n);
/* RFC 3339 UTC timestamp with microseconds, quoted: "2024-06-17T10:00:00.123456Z". */
void tw_jb_time(struct tw_jb *jb, int64_t sec, uint32_t nsec);

#endif /* TUNWATCH_JSON_H */
