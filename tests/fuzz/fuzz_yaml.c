/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the fast YAML reader of rule files (src/match/rules/yaml_fast.c)
 * against libyaml: on any input the fast reader either declines (TW_ENOTSUP) or gives
 * exactly libyaml's documents, and never takes a file libyaml refuses (tests/fuzz/yaml_diff.h).
 * The input is handed over in an exact-size copy so AddressSanitizer sees any over-read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    bool accepted;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (yd_check(buf, size, &accepted) != NULL)
        abort();
    free(buf);
    return 0;
}
