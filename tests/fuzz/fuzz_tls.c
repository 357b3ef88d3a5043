/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the TLS ClientHello parser: the input is a client
 * byte stream for tw_tls_parse_stream and, separately, a bare ClientHello
 * body for tw_tls_client_hello_parse, each from an exact-size copy so
 * AddressSanitizer sees any over-read. Checks the stream contract: a result
 * > 0 lies within the input, every returned name lies within its buffer (also
 * the names a malformed hello keeps, flagged truncated), and the prefix one
 * byte short of a completed hello is incomplete. Run with -max_len=131072 or
 * more so that hellos over 16 KiB and many records are reached.
 */
#include "tunwatch/proto/tls.h"

#include <stdlib.h>
#include <string.h>

static uint8_t scratch[TW_TLS_HELLO_MAX + 4];

static bool inside(const uint8_t *p, size_t len, const uint8_t *lo, size_t n)
{
    return p != NULL && len > 0 && p >= lo && len <= n && (size_t)(p - lo) <= n - len;
}

/* Every name lies in its buffer, the first is `sni`, no two are equal, flags are known; the
 * names (and only they) survive a malformed result, flagged truncated. */
static void check_names(const struct tw_tls_hello *h, const uint8_t *lo, size_t n)
{
    if (h->n_sni > TW_TLS_SNI_MAX || h->has_sni != (h->n_sni > 0) ||
        (h->flags >> TW_TLS_F__COUNT) != 0)
        abort();
    if (!h->has_sni && (h->sni != NULL || h->sni_len != 0))
        abort();
    if (h->has_sni && (h->sni != h->snis[0] || h->sni_len != h->sni_lens[0]))
        abort();
    for (unsigned i = 0; i < h->n_sni; i++) {
        if (!inside(h->snis[i], h->sni_lens[i], lo, n))
            abort();
        for (unsigned j = 0; j < i; j++)
            if (h->sni_lens[j] == h->sni_lens[i] &&
                memcmp(h->snis[j], h->snis[i], h->sni_lens[i]) == 0)
                abort();
    }
}

static void check_broken(const struct tw_tls_hello *h, const uint8_t *lo, size_t n)
{
    check_names(h, lo, n);
    if (h->ciphers != NULL || h->exts != NULL || h->hello_len != 0 ||
        ((h->flags & (1u << TW_TLS_F_TRUNCATED)) != 0) != (h->n_sni > 0))
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
        check_names(&h, scratch, sizeof(scratch));
        if (tw_tls_parse_stream(copy, (size_t)rc - 1, scratch, sizeof(scratch), &h) !=
            TW_EINCOMPLETE)
            abort();
    } else if (rc == TW_EMALFORMED) {
        if (h.n_sni > 0)
            check_broken(&h, scratch, sizeof(scratch));
    } else if (rc != TW_EINCOMPLETE && rc != TW_ENOMEM) {
        abort();
    }

    if (tw_tls_client_hello_parse(copy, size, &h) == TW_OK)
        check_names(&h, copy, size);
    else
        check_broken(&h, copy, size);
    free(copy);
    return 0;
}
