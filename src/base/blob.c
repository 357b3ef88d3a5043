/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/blob.h"

#include <string.h>

#define NULL_STR UINT32_MAX

void tw_blob_put(struct tw_blob_w *w, const void *p, size_t n)
{
    if (n > 0 && !w->failed && fwrite(p, 1, n, w->f) != n)
        w->failed = true;
    w->at += n;
}

void tw_blob_align(struct tw_blob_w *w)
{
    static const uint8_t zeros[8];

    tw_blob_put(w, zeros, (8 - w->at % 8) % 8);
}

void tw_blob_u32(struct tw_blob_w *w, uint32_t v)
{
    tw_blob_put(w, &v, sizeof(v));
}

void tw_blob_u64(struct tw_blob_w *w, uint64_t v)
{
    tw_blob_put(w, &v, sizeof(v));
}

void tw_blob_str(struct tw_blob_w *w, const char *s)
{
    if (s == NULL) {
        tw_blob_u32(w, NULL_STR);
        return;
    }
    size_t n = strlen(s);
    if (n >= NULL_STR) {
        w->failed = true;
        return;
    }
    tw_blob_u32(w, (uint32_t)n);
    tw_blob_put(w, s, n + 1);
}

void tw_blob_bytes(struct tw_blob_w *w, const void *p, size_t n)
{
    tw_blob_u64(w, n);
    tw_blob_put(w, p, n);
}

void tw_blob_array(struct tw_blob_w *w, const void *p, size_t n, size_t elem)
{
    tw_blob_u64(w, n);
    tw_blob_align(w);
    tw_blob_put(w, p, n * elem);
}

const void *tw_blob_get(struct tw_blob_r *r, size_t n)
{
    if (r->bad || n > (size_t)(r->end - r->p)) {
        r->bad = true;
        return NULL;
    }
    const void *at = r->p;
    r->p += n;
    return at;
}

void tw_blob_get_align(struct tw_blob_r *r)
{
    (void)tw_blob_get(r, (8 - (size_t)(r->p - r->base) % 8) % 8);
}

uint32_t tw_blob_get_u32(struct tw_blob_r *r)
{
    uint32_t v = 0;
    const void *p = tw_blob_get(r, sizeof(v));

    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

uint64_t tw_blob_get_u64(struct tw_blob_r *r)
{
    uint64_t v = 0;
    const void *p = tw_blob_get(r, sizeof(v));

    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

const char *tw_blob_get_str(struct tw_blob_r *r)
{
    uint32_t n = tw_blob_get_u32(r);

    if (r->bad || n == NULL_STR)
        return NULL;
    const char *s = tw_blob_get(r, (size_t)n + 1);
    if (s != NULL && s[n] != '\0') {
        r->bad = true;
        return NULL;
    }
    return s;
}

const void *tw_blob_get_bytes(struct tw_blob_r *r, size_t *n)
{
    uint64_t len = tw_blob_get_u64(r);

    *n = 0;
    if (r->bad || len > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return NULL;
    }
    *n = (size_t)len;
    return tw_blob_get(r, (size_t)len);
}

const void *tw_blob_get_array(struct tw_blob_r *r, size_t elem, size_t max, size_t *n)
{
    uint64_t k = tw_blob_get_u64(r);

    tw_blob_get_align(r);
    *n = 0;
    if (r->bad || elem == 0 || k > max || k > (uint64_t)(r->end - r->p) / elem) {
        r->bad = true;
        return NULL;
    }
    *n = (size_t)k;
    return tw_blob_get(r, (size_t)k * elem);
}

/* Eight independent lanes of 8-byte words (multiply-add, rotate: one multiply on each
 * lane's chain), folded and mixed at the end: as fast as memory brings the bytes, so that
 * hashing what a cache is keyed on costs little next to what it saves. */
#define P1 0x9e3779b185ebca87ULL
#define P2 0xc2b2ae3d27d4eb4fULL
#define LANES 8

uint64_t tw_blob_hash(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h[LANES], w;
    size_t i = 0;

    for (int k = 0; k < LANES; k++)
        h[k] = seed + P1 * (uint64_t)(k + 1);
    for (; i + 8 * LANES <= n; i += 8 * LANES)
        for (int k = 0; k < LANES; k++)
            h[k] = tw_rotl64(h[k] + tw_load64(b + i + 8 * k) * P2, 31);
    uint64_t x = seed ^ P2;
    for (int k = 0; k < LANES; k++)
        x = tw_mix64(x ^ (h[k] * P1));
    for (; i + 8 <= n; i += 8)
        x = tw_mix64(x ^ tw_load64(b + i));
    w = 0;
    if (i < n)
        memcpy(&w, b + i, n - i);
    return tw_mix64(x ^ w ^ tw_mix64((uint64_t)n + P2));
}
