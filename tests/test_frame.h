/* SPDX-License-Identifier: MIT */
/* Comparing the frames two capture readers hand out; include after <cmocka.h>. */
#ifndef TUNWATCH_TEST_FRAME_H
#define TUNWATCH_TEST_FRAME_H

#include "tunwatch/capture/capture.h"

/* The same packet: times, lengths, link types and bytes (not where it is held). */
static inline void assert_same_frame(const struct tw_frame *a, int lt_a, const struct tw_frame *b,
                                     int lt_b)
{
    assert_int_equal(lt_a, lt_b);
    assert_int_equal(a->ts_sec, b->ts_sec);
    assert_int_equal(a->ts_nsec, b->ts_nsec);
    assert_int_equal(a->caplen, b->caplen);
    assert_int_equal(a->wirelen, b->wirelen);
    assert_memory_equal(a->data, b->data, a->caplen);
}

#endif
