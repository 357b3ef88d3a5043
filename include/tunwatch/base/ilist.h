/* SPDX-License-Identifier: MIT */
/*
 * Doubly linked lists of the elements of a preallocated array, by index: the orders of age
 * or last use over bounded tables (flow timeout lists, IP reassembly trackers, alert
 * suppression windows, the holders of pool slots). Each element carries a struct tw_ilink;
 * the list keeps its two ends. Indexes, not pointers: half the size, and an array that is
 * remapped or copied keeps its lists.
 *
 * The element array is given as the address of element 0's link and the distance between
 * two elements (its size): tw_ilist_*(l, &arr[0].link, sizeof(arr[0]), i). Inline, so a
 * constant stride costs what hand-written code does.
 */
#ifndef TUNWATCH_ILIST_H
#define TUNWATCH_ILIST_H

#include <stddef.h>
#include <stdint.h>

#define TW_ILIST_NONE UINT32_MAX

struct tw_ilink {
    uint32_t prev; /* towards the head, or TW_ILIST_NONE */
    uint32_t next; /* towards the tail, or TW_ILIST_NONE */
};

struct tw_ilist {
    uint32_t head, tail; /* first and last element, or TW_ILIST_NONE */
};

static inline void tw_ilist_init(struct tw_ilist *l)
{
    l->head = l->tail = TW_ILIST_NONE;
}

/* The link of element i. */
static inline struct tw_ilink *tw_ilink_at(void *links, size_t stride, uint32_t i)
{
    return (struct tw_ilink *)(void *)((char *)links + (size_t)i * stride);
}

/* Takes element i (in l) out of l; its link is left as it was. */
static inline void tw_ilist_unlink(struct tw_ilist *l, void *links, size_t stride, uint32_t i)
{
    const struct tw_ilink *k = tw_ilink_at(links, stride, i);

    if (k->prev != TW_ILIST_NONE)
        tw_ilink_at(links, stride, k->prev)->next = k->next;
    else
        l->head = k->next;
    if (k->next != TW_ILIST_NONE)
        tw_ilink_at(links, stride, k->next)->prev = k->prev;
    else
        l->tail = k->prev;
}

/* Puts element i (in no list) last in l. */
static inline void tw_ilist_push_tail(struct tw_ilist *l, void *links, size_t stride, uint32_t i)
{
    struct tw_ilink *k = tw_ilink_at(links, stride, i);

    k->prev = l->tail;
    k->next = TW_ILIST_NONE;
    if (l->tail != TW_ILIST_NONE)
        tw_ilink_at(links, stride, l->tail)->next = i;
    else
        l->head = i;
    l->tail = i;
}

/* Puts element i (in no list) first in l. */
static inline void tw_ilist_push_head(struct tw_ilist *l, void *links, size_t stride, uint32_t i)
{
    struct tw_ilink *k = tw_ilink_at(links, stride, i);

    k->prev = TW_ILIST_NONE;
    k->next = l->head;
    if (l->head != TW_ILIST_NONE)
        tw_ilink_at(links, stride, l->head)->prev = i;
    else
        l->tail = i;
    l->head = i;
}

#endif /* TUNWATCH_ILIST_H */
