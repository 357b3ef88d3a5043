/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the proxy preamble parsers: the input is the start of
 * a client stream, given to tw_preamble_classify, tw_proxy_parse and
 * tw_http_connect_parse from an exact-size copy so AddressSanitizer sees any
 * over-read. Checks the contracts: a success lies within the input and
 * within its bound, the same header alone gives the same result, one byte
 * less is never a success, every slice lies inside the header, a failure
 * leaves *out zeroed, and the classifier agrees with what parsed.
 */
#include "tunwatch/proto/proxy.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROXY_F_ALL 0xffu
#define CONNECT_F_ALL 0x1fu

static void check_proxy(const uint8_t *buf, size_t size)
{
    struct tw_proxy_hdr h, again;
    int rc = tw_proxy_parse(buf, size, &h);

    if (rc < 0) {
        if ((rc != TW_EINCOMPLETE && rc != TW_EMALFORMED) || !all_zero(&h, sizeof(h)))
            abort();
        return;
    }
    size_t n = (size_t)rc;
    if (n == 0 || n > size || (h.version != 1 && h.version != 2) || (h.flags & ~PROXY_F_ALL))
        abort();
    if (h.version == 1 && (n > TW_PROXY_V1_MAX || buf[n - 1] != '\n'))
        abort();
    if (h.version == 2 && (n < TW_PROXY_V2_HDR_LEN || n > TW_PROXY_V2_MAX))
        abort();
    if (h.has_addr && h.command != TW_PROXY_CMD_PROXY)
        abort();
    check_slice(h.src_path, h.src_path_len, buf, n);
    check_slice(h.dst_path, h.dst_path_len, buf, n);
    check_slice(h.tlv, h.tlv_len, buf, n);
    if (h.tlv != NULL && h.tlv + h.tlv_len != buf + n)
        abort();
    if ((size_t)h.n_tlv * 3 > h.tlv_len)
        abort();
    if (tw_proxy_parse(buf, n, &again) != rc || memcmp(&h, &again, sizeof(h)) != 0)
        abort();
    if (tw_proxy_parse(buf, n - 1, &again) != TW_EINCOMPLETE)
        abort();
    if (tw_preamble_classify(buf, size) !=
        (size < TW_PROXY_V2_SIG_LEN ? TW_PREAMBLE_MORE : TW_PREAMBLE_PROXY))
        abort();
}

static void check_connect(const uint8_t *buf, size_t size)
{
    struct tw_connect_req r, again;
    int rc = tw_http_connect_parse(buf, size, &r);

    if (rc < 0) {
        if ((rc != TW_EINCOMPLETE && rc != TW_EMALFORMED) || !all_zero(&r, sizeof(r)))
            abort();
        if (rc == TW_EMALFORMED && size > TW_HTTP_CONNECT_MAX && memcmp(buf, "CONNECT ", 8) == 0 &&
            memmem(buf, size, "\r\n\r\n", 4) != NULL)
            abort();
        return;
    }
    size_t n = (size_t)rc;
    if (n < 12 || n > size || memcmp(buf + n - 4, "\r\n\r\n", 4) != 0 ||
        memmem(buf, n - 1, "\r\n\r\n", 4) != NULL || (r.flags & ~CONNECT_F_ALL))
        abort();
    check_slice(r.authority, r.authority_len, buf, n);
    check_slice(r.host, r.host_len, buf, n);
    check_slice(r.version, r.version_len, buf, n);
    if (r.host != NULL && (r.authority == NULL || r.host < r.authority ||
                           r.host + r.host_len > r.authority + r.authority_len))
        abort();
    if (!r.has_port && r.port != 0)
        abort();
    if (tw_http_connect_parse(buf, n, &again) != rc || memcmp(&r, &again, sizeof(r)) != 0)
        abort();
    rc = tw_http_connect_parse(buf, n - 1, &again);
    if (rc != (n - 1 > TW_HTTP_CONNECT_MAX ? TW_EMALFORMED : TW_EINCOMPLETE))
        abort();
    if (tw_preamble_classify(buf, size) != TW_PREAMBLE_CONNECT)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size)
        memcpy(buf, data, size);

    enum tw_preamble p = tw_preamble_classify(buf, size);
    if (p != TW_PREAMBLE_NONE && p != TW_PREAMBLE_MORE && p != TW_PREAMBLE_CONNECT &&
        p != TW_PREAMBLE_PROXY)
        abort();
    check_proxy(buf, size);
    check_connect(buf, size);
    free(buf);
    return 0;
}
