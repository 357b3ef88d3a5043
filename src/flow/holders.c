/* SPDX-License-Identifier: MIT */
#include "tunwatch/flow/holders.h"

#include <stdlib.h>
#include <string.h>

int tw_holders_init(struct tw_holders *hs, uint32_t n)
{
    memset(hs, 0, sizeof(*hs));
    tw_ilist_init(&hs->order);
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
    tw_ilist_init(&hs->order);
}

/* Links slot idx last, used at second now: a time before the last slot's (frames merged out
 * of order) is taken as the last's, so the list stays in order of last use. */
static void link_last_at(struct tw_holders *hs, uint32_t idx, int64_t now)
{
    if (hs->order.tail != TW_HOLDERS_NONE && hs->h[hs->order.tail].last > now)
        now = hs->h[hs->order.tail].last;
    hs->h[idx].last = now;
    tw_ilist_push_tail(&hs->order, &hs->h[0].link, sizeof(hs->h[0]), idx);
}

void tw_holders_take(struct tw_holders *hs, uint32_t idx, void *owner, uint8_t role, int64_t now)
{
    hs->h[idx].owner = owner;
    hs->h[idx].role = role;
    link_last_at(hs, idx, now);
}

void tw_holders_move_last(struct tw_holders *hs, uint32_t idx, int64_t now)
{
    tw_ilist_unlink(&hs->order, &hs->h[0].link, sizeof(hs->h[0]), idx);
    link_last_at(hs, idx, now);
}

void tw_holders_release(struct tw_holders *hs, uint32_t idx)
{
    tw_ilist_unlink(&hs->order, &hs->h[0].link, sizeof(hs->h[0]), idx);
    hs->h[idx].owner = NULL;
}

uint32_t tw_holders_stale(const struct tw_holders *hs, int64_t now, uint32_t idle)
{
    uint32_t first = hs->order.head;

    if (hs->n == 0 || first == TW_HOLDERS_NONE || idle == 0 ||
        now - hs->h[first].last < (int64_t)idle)
        return TW_HOLDERS_NONE;
    return first;
}
