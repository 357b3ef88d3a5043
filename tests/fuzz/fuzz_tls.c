/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the TLS ClientHello parser: the input is a client
 * byte stream for tw_tls_parse_stream and, separately, a bare ClientHello
 * body for tw_tls_client_hello_parse, each from an exact-size copy so
 * AddressSanitizer sees any over-read. Checks the stream contract: a result
 * > 0 lies within the input, every returned slice lies within its buffer,
 * and the prefix one byte short of a completed hello is incomplete.
 */
#include "tunwatch/proto/tls.h"

#include <stdlib.h>
#include <string.h>

static uint8_t scratch[TW_TLS_HELLO_MAX + 4];

static void check_slice(const struct tw_tls_hello *h, const uint8_t *lo, size_t n)
{
    if (h->has_sni && (h->sni == NULL || h->sni_len == 0 || h->sni < lo || h->sni_len > n ||
                       (size_t)(h->sni - lo) > n - h->sni_len))
        abort();
    if (!h->has_sni && (h->sni != NULL || h->sni_len != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tw_tls_hello h;
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size)
        memcpy(copy, data, size);

    (void)tw_tls_maybe_client_hello(copy, size);

    int rc = tw_tls_parse_stream(copy, size, scratch, sizeof(scratch), &h);
    if (rc > 0) {
        if ((size_t)rc > size || h.n_records == 0)
            abort();
        check_slice(&h, scratch, sizeof(scratch));
        if (tw_tls_parse_stream(copy, (size_t)rc - 1, scratch, sizeof(scratch), &h) !=
            TW_EINCOMPLETE)
            abort();
    } else if (rc != TW_EINCOMPLETE && rc != TW_EMALFORMED && rc != TW_ENOMEM) {
        abort();
    }

    if (tw_tls_client_hello_parse(copy, size, &h) == TW_OK)
        check_slice(&h, copy, size);
    free(copy);
    return 0;
}
