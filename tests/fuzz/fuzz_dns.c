/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DNS header/question parser. The input is copied
 * into an exact-size heap buffer so an over-read by one byte is caught.
 * Checks the invariants of a successful parse as well as the absence of
 * memory errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunwatch/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tw_dns_msg msg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size)
        memcpy(buf, data, size);

    int r = tw_dns_parse(buf, size, &msg);
    if (r >= 0) {
        if ((size_t)r > size || r < TW_DNS_HDR_LEN)
            abort();
        if (msg.n_questions != TW_MIN((unsigned)msg.qdcount, (unsigned)TW_DNS_MAX_QUESTIONS))
            abort();
        for (unsigned i = 0; i < msg.n_questions; i++)
            if (msg.q[i].name_len == 0 || msg.q[i].name_len >= TW_NAME_MAX ||
                strlen(msg.q[i].name) != msg.q[i].name_len)
                abort();
    } else if (r != TW_EMALFORMED) {
        abort();
    }

    /* Every offset as a name start, into a small buffer too. */
    for (size_t off = TW_DNS_HDR_LEN; off < size && off < 64; off++) {
        char out[32];
        size_t next;
        int n = tw_dns_name_read(buf, size, off, out, sizeof(out), &next);
        if (n >= 0 && (n >= (int)sizeof(out) || next > size || strlen(out) != (size_t)n))
            abort();
    }
    free(buf);
    return 0;
}
