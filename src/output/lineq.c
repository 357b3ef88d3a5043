/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/lineq.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/common.h"

/*
 * Record layout in the ring (no alignment needed: read with memcpy):
 *
 *     u32 size (whole record) | u32 line length | u8 key length | u8 alert | u8 severity |
 *     u8 0 | key | line
 *
 * A record never wraps: when it does not fit before the end, the rest of the ring is padding
 * (a size of WRAP when there is room for it) and the record goes to offset 0.
 */
#define HDR 12u
#define WRAP 0xffffffffu

int tw_lineq_init(struct tw_lineq *q, size_t cap_bytes, size_t max_records)
{
    memset(q, 0, sizeof(*q));
    if (cap_bytes < 64 || cap_bytes > 0xfffffff0u || max_records == 0)
        return TW_EINVAL;
    q->buf = malloc(cap_bytes);
    if (q->buf == NULL)
        return TW_ENOMEM;
    q->cap = cap_bytes;
    q->max_n = max_records;
    return 0;
}

void tw_lineq_destroy(struct tw_lineq *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Moves head past the padding at the end of the ring, if it stands there. */
static void skip_padding(struct tw_lineq *q)
{
    if (q->n > 0 && (q->cap - q->head < HDR || get_u32(q->buf + q->head) == WRAP)) {
        q->used -= q->cap - q->head;
        q->head = 0;
    }
}

bool tw_lineq_push(struct tw_lineq *q, const struct tw_rec *r)
{
    size_t key_len = r->key != NULL ? r->key_len : 0;
    size_t size, pos, pad = 0;
    uint8_t hdr[HDR];
    uint32_t v;

    if (key_len > TW_REC_KEY_MAX || r->len > q->cap)
        return false;
    size = HDR + key_len + r->len;
    if (size > q->cap || q->n >= q->max_n)
        return false;
    if (q->n == 0)
        q->head = q->tail = q->used = 0;
    pos = q->tail;
    if (q->cap - pos < size) {
        pad = q->cap - pos;
        pos = 0;
    }
    if (q->used + pad + size > q->cap)
        return false;
    if (pad >= 4) {
        v = WRAP;
        memcpy(q->buf + q->tail, &v, 4);
    }
    v = (uint32_t)size;
    memcpy(hdr, &v, 4);
    v = (uint32_t)r->len;
    memcpy(hdr + 4, &v, 4);
    hdr[8] = (uint8_t)key_len;
    hdr[9] = r->alert ? 1 : 0;
    hdr[10] = r->severity;
    hdr[11] = 0;
    memcpy(q->buf + pos, hdr, HDR);
    if (key_len > 0)
        memcpy(q->buf + pos + HDR, r->key, key_len);
    if (r->len > 0)
        memcpy(q->buf + pos + HDR + key_len, r->line, r->len);
    q->tail = pos + size;
    if (q->tail == q->cap)
        q->tail = 0;
    q->used += pad + size;
    q->n++;
    return true;
}

bool tw_lineq_peek(const struct tw_lineq *q, struct tw_rec *r)
{
    const uint8_t *p;

    if (q->n == 0)
        return false;
    p = q->buf + q->head;
    r->len = get_u32(p + 4);
    r->key_len = p[8];
    r->alert = p[9] != 0;
    r->severity = p[10];
    r->key = r->key_len > 0 ? (const char *)p + HDR : NULL;
    r->line = (const char *)p + HDR + r->key_len;
    return true;
}

void tw_lineq_pop(struct tw_lineq *q)
{
    uint32_t size;

    if (q->n == 0)
        return;
    size = get_u32(q->buf + q->head);
    q->head += size;
    q->used -= size;
    q->n--;
    if (q->head == q->cap)
        q->head = 0;
    if (q->n == 0) {
        q->head = q->tail = q->used = 0;
        return;
    }
    skip_padding(q);
}
