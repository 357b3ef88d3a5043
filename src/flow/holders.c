/* SPDX-License-Identifier: MIT */
#include "tunwatch/flow/holders.h"

#include <stdlib.h>
#include <string.h>

int tw_holders_init(struct tw_holders *hs, uint32_t n)
{
    memset(hs, 0, sizeof(*hs));
    hs->head = hs->tail = TW_HOLDERS_NONE;
    if (n == 0)
        return 0;
    /* Written when a slot is taken: untouched slots cost no resident memory. */
    hs->h = malloc((size_t)n * sizeof(*hs->h));
    if (hs->h == NULL)
        return TW_ENOMEM;
    hs->n = n;
    return 0;
}

void tw_holders_destroy(struct tw_holders *hs)
{
    free(hs->h);
    memset(hs, 0, sizeof(*hs));
    hs->head = hs->tail = TW_HOLDERS_NONE;
}

static void unlink_slot(struct tw_holders *hs, uint32_t idx)
{
    struct tw_holder *x = &hs->h[idx];

    if (x->prev != TW_HOLDERS_NONE)
        hs->h[x->prev].next = x->next;
    else
        hs->head = x->next;
    if (x->next != TW_HOLDERS_NONE)
        hs->h[x->next].prev = x->prev;
    else
        hs->tail = x->prev;
}

static void link_last(struct tw_holders *hs, uint32_t idx)
{
    struct tw_holder *x = &hs->h[idx];

    x->prev = hs->tail;
    x->next = TW_HOLDERS_NONE;
    if (hs->tail != TW_HOLDERS_NONE)
        hs->h[hs->tail].next = idx;
    else
        hs->head = idx;
    hs->tail = idx;
}

/* Links slot idx last, used at second now: a time before the last slot's (frames merged out
 * of order) is taken as the last's, so the list stays in order of last use. */
static void link_last_at(struct tw_holders *hs, uint32_t idx, int64_t now)
{
    if (hs->tail != TW_HOLDERS_NONE && hs->h[hs->tail].last > now)
        now = hs->h[hs->tail].last;
    hs->h[idx].last = now;
    link_last(hs, idx);
}

void tw_holders_take(struct tw_holders *hs, uint32_t idx, void *owner, uint8_t role, int64_t now)
{
    hs->h[idx].owner = owner;
    hs->h[idx].role = role;
    link_last_at(hs, idx, now);
}

void tw_holders_move_last(struct tw_holders *hs, uint32_t idx, int64_t now)
{
    unlink_slot(hs, idx);
    link_last_at(hs, idx, now);
}

void tw_holders_release(struct tw_holders *hs, uint32_t idx)
{
    unlink_slot(hs, idx);
    hs->h[idx].owner = NULL;
}

uint32_t tw_holders_stale(const struct tw_holders *hs, int64_t now, uint32_t idle)
{
    if (hs->n == 0 || hs->head == TW_HOLDERS_NONE || idle == 0 ||
        now - hs->h[hs->head].last < (int64_t)idle)
        return TW_HOLDERS_NONE;
    return hs->head;
}
