/* SPDX-License-Identifier: MIT */
/*
 * A flat binary form for what is built once and kept (a compiled rule set, for the rule
 * cache): values written in this machine's byte order one after the other, read back from a
 * buffer with every read bounds-checked. A reader that runs past its end, or finds a length
 * that does not fit, is marked bad and returns zeros and NULLs from then on, so a caller
 * checks once at the end. Not a wire format: it is read only by the build that wrote it.
 */
#ifndef TUNWATCH_BLOB_H
#define TUNWATCH_BLOB_H

#include <stdio.h>

#include "tunwatch/base/common.h"

struct tw_blob_w {
    FILE *f;
    bool failed; /* a write failed (the stream's error) */
    uint64_t at; /* bytes written: where the next goes, for alignment */
};

void tw_blob_put(struct tw_blob_w *w, const void *p, size_t n);
void tw_blob_u32(struct tw_blob_w *w, uint32_t v);
void tw_blob_u64(struct tw_blob_w *w, uint64_t v);
/* A string (NULL too) as its length and bytes, NUL included. */
void tw_blob_str(struct tw_blob_w *w, const char *s);
/* n bytes that may hold NULs, as their length and the bytes. */
void tw_blob_bytes(struct tw_blob_w *w, const void *p, size_t n);
/* An array of n elements of elem bytes: n, zeros to the next multiple of 8 bytes, then the
 * elements (so that a reader whose buffer starts 8-aligned finds them aligned). */
void tw_blob_array(struct tw_blob_w *w, const void *p, size_t n, size_t elem);
/* Zeros up to the next multiple of 8 bytes from the start. */
void tw_blob_align(struct tw_blob_w *w);

struct tw_blob_r {
    const uint8_t *base; /* where the blob starts (alignment is counted from there) */
    const uint8_t *p, *end;
    bool bad;
};

#define TW_BLOB_READER(buf, len)                                                              \
    ((struct tw_blob_r){(const uint8_t *)(buf), (const uint8_t *)(buf),                        \
                        (const uint8_t *)(buf) + (len), false})

const void *tw_blob_get(struct tw_blob_r *r, size_t n);
/* Past what tw_blob_align() wrote. */
void tw_blob_get_align(struct tw_blob_r *r);
uint32_t tw_blob_get_u32(struct tw_blob_r *r);
uint64_t tw_blob_get_u64(struct tw_blob_r *r);
/* A string written by tw_blob_str(): in the buffer, NUL-terminated; NULL for a NULL one (and
 * when r is bad). */
const char *tw_blob_get_str(struct tw_blob_r *r);
/* Bytes written by tw_blob_bytes(): in the buffer, *n of them (followed by nothing). */
const void *tw_blob_get_bytes(struct tw_blob_r *r, size_t *n);
/* An array written by tw_blob_array() with the same elem: in the buffer (aligned as the
 * buffer's start is, to 8), *n elements, at most max (more is bad). */
const void *tw_blob_get_array(struct tw_blob_r *r, size_t elem, size_t max, size_t *n);

/* A 64-bit hash of n bytes (seeded; not cryptographic): for telling contents apart. */
uint64_t tw_blob_hash(const void *p, size_t n, uint64_t seed);

#endif /* TUNWATCH_BLOB_H */
