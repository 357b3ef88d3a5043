/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the pcapng block reader: the input is a whole file (an exact-size heap
 * copy read through fmemopen). Every packet returned must lie inside the block that holds it
 * and be no longer than the wire length; the reader must end with TW_EOF or an error, and
 * stay failed after an error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/capture/pcapng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tw_pcapng r;
    struct tw_frame f;
    char err[256];
    int lt, rc;

    if (size == 0)
        return 0;
    uint8_t *copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    FILE *fp = fmemopen(copy, size, "rb");
    if (fp == NULL) {
        free(copy);
        return 0;
    }
    rc = tw_pcapng_open(&r, fp, err, sizeof(err));
    unsigned n = 0;
    while (rc == 0 && (rc = tw_pcapng_next(&r, &f, &lt, err, sizeof(err))) == 1) {
        if (f.caplen > f.wirelen || f.caplen > TW_PCAPNG_BLOCK_MAX || lt < 0 || lt > 0xffff)
            abort();
        if (f.caplen > 0 && (f.data < r.buf || f.data + f.caplen > r.buf + r.cap))
            abort();
        volatile uint8_t sink = 0;
        for (uint32_t i = 0; i < f.caplen; i++)
            sink ^= f.data[i]; /* touch every byte: ASan checks the bounds */
        (void)sink;
        rc = 0;
        if (++n > 100000)
            break;
    }
    if (rc < 0 && rc != TW_EOF && tw_pcapng_next(&r, &f, &lt, err, sizeof(err)) != rc)
        abort();
    tw_pcapng_close(&r);
    fclose(fp);
    free(copy);
    return 0;
}
