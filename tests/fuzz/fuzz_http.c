/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HTTP/1.x request header parser: the input is the
 * start of a client stream, given to tw_http_request_parse,
 * tw_http_maybe_request and tw_http_hostport_parse from an exact-size copy so
 * AddressSanitizer sees any over-read. Checks the contracts: a success lies
 * within the input and the bound and ends in LF, the same header alone gives
 * the same result, one byte less is never a success, a prefix of a valid
 * prefix is one too, every slice lies inside the header (and inside the part
 * it is cut from) and is NULL exactly when empty, a failure leaves *out
 * zeroed, the flags agree with the counts, and the content test agrees with
 * the parse about the method.
 */
#include "tunwatch/proto/http.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hostport(const struct tw_http_hostport *hp, const uint8_t *lo, size_t n)
{
    check_slice(hp->raw, hp->raw_len, lo, n);
    if (hp->host != NULL)
        check_slice(hp->host, hp->host_len, hp->raw, hp->raw_len);
    if (!hp->has_port && hp->port != 0)
        abort();
    if ((hp->host != NULL || hp->has_port) && hp->raw == NULL)
        abort();
}

static void check_success(const uint8_t *buf, size_t size, int rc, const struct tw_http_req *r)
{
    size_t n = (size_t)rc;
    struct tw_http_req again;

    if (n == 0 || n > size || n > TW_HTTP_HDR_MAX || buf[n - 1] != '\n')
        abort();
    if (r->flags & ~TW_HTTP_F_ALL || r->form > TW_HTTP_FORM_OTHER)
        abort();
    check_slice(r->method, r->method_len, buf, n);
    if (r->method == NULL)
        abort();
    check_slice(r->target, r->target_len, buf, n);
    check_slice(r->version, r->version_len, buf, n);
    if (r->target != NULL) {
        check_slice(r->scheme, r->scheme_len, r->target, r->target_len);
        check_slice(r->uri, r->uri_len, r->target, r->target_len);
        check_slice(r->path, r->path_len, r->target, r->target_len);
        check_slice(r->query, r->query_len, r->target, r->target_len);
        check_slice(r->fragment, r->fragment_len, r->target, r->target_len);
        check_hostport(&r->authority, r->target, r->target_len);
    } else if (r->scheme || r->uri || r->path || r->query || r->fragment || r->authority.raw ||
               r->form != TW_HTTP_FORM_NONE) {
        abort();
    }
    if (r->ext != NULL && r->path == NULL)
        abort();
    if (r->ext != NULL)
        check_slice(r->ext, r->ext_len, r->path, r->path_len);
    if (r->fragment != NULL && !(r->flags & TW_HTTP_F_FRAGMENT))
        abort();
    check_hostport(&r->host, buf, n);
    check_slice(r->user_agent, r->user_agent_len, buf, n);
    check_slice(r->referer, r->referer_len, buf, n);
    if ((r->n_host > 1) != !!(r->flags & TW_HTTP_F_HOST_DUP) || r->n_host > r->n_fields)
        abort();
    if (r->host.raw != NULL && r->n_host == 0)
        abort();
    if ((r->flags & TW_HTTP_F_HTTP09) && (r->version != NULL || r->n_fields != 0 ||
                                          r->method_len != 3 || memcmp(r->method, "GET", 3) != 0))
        abort();
    if (!(r->flags & TW_HTTP_F_HTTP09) && r->version == NULL)
        abort();
    if (tw_http_maybe_request(buf, size) == !!(r->flags & TW_HTTP_F_METHOD))
        abort();
    if (tw_http_request_parse(buf, n, &again) != rc || memcmp(r, &again, sizeof(again)) != 0)
        abort();
    if (tw_http_request_parse(buf, n - 1, &again) != TW_EINCOMPLETE)
        abort();
}

static void check_request(const uint8_t *buf, size_t size)
{
    struct tw_http_req r, again;
    int rc = tw_http_request_parse(buf, size, &r);

    if (rc >= 0) {
        check_success(buf, size, rc, &r);
        return;
    }
    if ((rc != TW_EINCOMPLETE && rc != TW_EMALFORMED) || !all_zero(&r, sizeof(r)))
        abort();
    if (rc == TW_EINCOMPLETE && size >= TW_HTTP_HDR_MAX)
        abort();
    if (rc == TW_EINCOMPLETE && size > 0 && tw_http_request_parse(buf, size - 1, &again) != rc)
        abort();
}

static void check_hostport_alone(const uint8_t *buf, size_t size)
{
    struct tw_http_hostport hp;
    unsigned bad = tw_http_hostport_parse(buf, size, &hp);

    if (bad & ~(TW_HTTP_F_HOST_BAD | TW_HTTP_F_USERINFO))
        abort();
    check_hostport(&hp, buf, size);
    if ((hp.raw == NULL) != (size == 0))
        abort();
    if (bad == 0 && size > 0 && hp.host == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size)
        memcpy(buf, data, size);

    check_request(buf, size);
    check_hostport_alone(buf, size);
    if (memcmp(buf, data, size) != 0)
        abort();
    free(buf);
    return 0;
}
