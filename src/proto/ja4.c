/* SPDX-License-Identifier: MIT */
/*
 * JA4 TLS client fingerprints from a parsed ClientHello (FoxIO JA4 specification,
 * technical_details/JA4.md). SHA-256 comes from libcrypto.
 */
#include "tunwatch/proto/ja4.h"

#include <string.h>

#include <openssl/evp.h>

/* What any ClientHello can hold: cipher_suites<2..2^16-2> of 2-byte suites, extensions<0..2^16-1>
 * of 4-byte headers at least (about 96 KiB of stack for the largest hello). */
#define JA4_MAX_CIPHERS (65534 / 2)
#define JA4_MAX_EXTS (65535 / 4)
#define JA4_A_LEN 10    /* t13d1516h2 */
#define JA4_HASH_HEX 12 /* hex digits kept of each SHA-256 */
#define JA4_STAGE 256   /* text bytes gathered before a digest update */

static const char hex_digits[] = "0123456789abcdef";

/* The parts of a fingerprint before hashing; the lists are sorted, GREASE-free. */
struct ja4_parts {
    char a[JA4_A_LEN + 1];
    size_t n_ciphers;
    size_t n_exts; /* without server_name and ALPN */
    const uint8_t *sig_algs;
    size_t sig_algs_len;
    uint16_t ciphers[JA4_MAX_CIPHERS];
    uint16_t exts[JA4_MAX_EXTS];
};

/* Where list text goes: a running SHA-256 (md non-NULL) or a caller's buffer. */
struct ja4_sink {
    EVP_MD_CTX *md;
    bool md_err;
    char *buf;
    size_t cap;
    size_t len; /* text produced so far, also past cap */
    size_t staged;
    char stage[JA4_STAGE];
};

/* RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa. */
static bool ja4_is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static bool ja4_is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static const char *ja4_version_code(uint16_t v)
{
    switch (v) {
    case 0x0304:
        return "13";
    case 0x0303:
        return "12";
    case 0x0302:
        return "11";
    case 0x0301:
        return "10";
    case 0x0300:
        return "s3";
    case 0x0002:
        return "s2";
    case 0xfeff:
        return "d1";
    case 0xfefd:
        return "d2";
    case 0xfefc:
        return "d3";
    default:
        return "00";
    }
}

/* Order of the versions JA4 knows (0: one it does not); DTLS counts down on the wire. */
static unsigned ja4_version_rank(uint16_t v)
{
    switch (v) {
    case 0x0002:
        return 1;
    case 0x0300:
        return 2;
    case 0x0301:
    case 0xfeff:
        return 3;
    case 0x0302:
        return 4;
    case 0x0303:
    case 0xfefd:
        return 5;
    case 0x0304:
    case 0xfefc:
        return 6;
    default:
        /* TLS 1.3 drafts (0x7fNN) are versions too, above 1.3, read "00" (as Suricata reads
         * them); other values are not. */
        return (v & 0xff00) == 0x7f00 ? 7 : 0;
    }
}

/*
 * The highest non-GREASE supported_versions entry among the versions JA4 knows, TLS 1.3 drafts
 * included (0x0304 next to 0x7f1a reads "00", next to an unknown 0xfb1a "13", as Suricata 7
 * reads both); an unknown value when the extension holds nothing else ("00"); legacy_version
 * without the extension.
 */
static uint16_t ja4_version(const struct tw_tls_hello *h)
{
    uint16_t best = 0, other = 0;
    bool found = false, any = false;

    for (size_t i = 0; h->versions != NULL && i + 1 < h->versions_len; i += 2) {
        uint16_t v = tw_load_be16(h->versions + i);
        if (ja4_is_grease(v))
            continue;
        if (ja4_version_rank(v) == 0) {
            other = v;
            any = true;
        } else if (!found || ja4_version_rank(v) > ja4_version_rank(best)) {
            best = v;
            found = true;
        }
    }
    return found ? best : any ? other : h->legacy_version;
}

/*
 * First and last byte of the first ALPN protocol when both are ASCII letters or digits;
 * otherwise the first and last digit of the protocol in hex; "00" when there is none.
 */
static void ja4_alpn(const uint8_t *p, size_t n, char out[2])
{
    if (p == NULL || n == 0) {
        out[0] = out[1] = '0';
        return;
    }
    uint8_t first = p[0], last = p[n - 1];
    if (ja4_is_alnum(first) && ja4_is_alnum(last)) {
        out[0] = (char)first;
        out[1] = (char)last;
    } else {
        out[0] = hex_digits[first >> 4];
        out[1] = hex_digits[last & 0x0f];
    }
}

/* In-place heapsort: O(n log n) on any input, no memory beyond the array. */
static void ja4_sift_down(uint16_t *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && v[child + 1] > v[child])
            child++;
        if (v[root] >= v[child])
            return;
        uint16_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

static void ja4_sort(uint16_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        ja4_sift_down(v, i, n);
    for (size_t end = n; end > 1; end--) {
        uint16_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        ja4_sift_down(v, 0, end - 1);
    }
}

static int ja4_collect(const struct tw_tls_hello *h, char proto, struct ja4_parts *p)
{
    size_t n_ext_all = 0;
    bool sni = false;
    struct tw_cur c;

    if (h == NULL || (proto != 't' && proto != 'q' && proto != 'd') || h->ciphers == NULL ||
        h->ciphers_len < 2 || h->ciphers_len % 2 != 0)
        return TW_EINVAL;

    p->n_ciphers = 0;
    for (size_t i = 0; i < h->ciphers_len; i += 2) {
        uint16_t v = tw_load_be16(h->ciphers + i);
        if (ja4_is_grease(v))
            continue;
        if (p->n_ciphers == JA4_MAX_CIPHERS)
            return TW_ENOMEM;
        p->ciphers[p->n_ciphers++] = v;
    }

    p->n_exts = 0;
    /* (a hello without extensions has exts NULL: no cursor over it, NULL + 0 is undefined) */
    tw_cur_init(&c, h->exts != NULL ? h->exts : h->ciphers, h->exts != NULL ? h->exts_len : 0);
    while (tw_cur_left(&c) > 0) {
        uint16_t type = tw_get_be16(&c);
        tw_skip(&c, tw_get_be16(&c));
        if (c.err)
            return TW_EINVAL;
        if (ja4_is_grease(type))
            continue;
        n_ext_all++;
        if (type == TW_TLS_EXT_SERVER_NAME) {
            sni = true;
            continue;
        }
        if (type == TW_TLS_EXT_ALPN)
            continue;
        if (p->n_exts == JA4_MAX_EXTS)
            return TW_ENOMEM;
        p->exts[p->n_exts++] = type;
    }
    ja4_sort(p->ciphers, p->n_ciphers);
    ja4_sort(p->exts, p->n_exts);
    p->sig_algs = h->sig_algs;
    p->sig_algs_len = h->sig_algs != NULL ? h->sig_algs_len : 0;

    const char *ver = ja4_version_code(ja4_version(h));
    size_t nc = TW_MIN(p->n_ciphers, (size_t)99), ne = TW_MIN(n_ext_all, (size_t)99);
    p->a[0] = proto;
    p->a[1] = ver[0];
    p->a[2] = ver[1];
    p->a[3] = sni ? 'd' : 'i';
    p->a[4] = (char)('0' + nc / 10);
    p->a[5] = (char)('0' + nc % 10);
    p->a[6] = (char)('0' + ne / 10);
    p->a[7] = (char)('0' + ne % 10);
    ja4_alpn(h->alpn, h->alpn_len, &p->a[8]);
    p->a[JA4_A_LEN] = '\0';
    return TW_OK;
}

static void ja4_flush(struct ja4_sink *s)
{
    if (s->md != NULL && s->staged > 0 && EVP_DigestUpdate(s->md, s->stage, s->staged) != 1)
        s->md_err = true;
    s->staged = 0;
}

static void ja4_put(struct ja4_sink *s, const char *t, size_t n)
{
    if (s->md != NULL) {
        if (s->staged + n > sizeof(s->stage))
            ja4_flush(s);
        memcpy(s->stage + s->staged, t, n);
        s->staged += n;
    } else if (s->len < s->cap && s->cap - s->len > n) {
        memcpy(s->buf + s->len, t, n);
    }
    s->len += n;
}

static void ja4_put_u16(struct ja4_sink *s, uint16_t v, bool comma)
{
    char t[5] = {',', hex_digits[v >> 12], hex_digits[(v >> 8) & 15], hex_digits[(v >> 4) & 15],
                 hex_digits[v & 15]};
    ja4_put(s, comma ? t : t + 1, comma ? 5 : 4);
}

static void ja4_put_list(struct ja4_sink *s, const uint16_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ja4_put_u16(s, v[i], i > 0);
}

/* The cipher list: ja4_b's text. */
static void ja4_put_b(struct ja4_sink *s, const struct ja4_parts *p)
{
    ja4_put_list(s, p->ciphers, p->n_ciphers);
}

/* Sorted extensions, then '_' and the signature algorithms in order when there are any. */
static void ja4_put_c(struct ja4_sink *s, const struct ja4_parts *p)
{
    bool first = true;

    ja4_put_list(s, p->exts, p->n_exts);
    for (size_t i = 0; i + 1 < p->sig_algs_len; i += 2) {
        uint16_t v = tw_load_be16(p->sig_algs + i);
        if (ja4_is_grease(v))
            continue;
        if (first)
            ja4_put(s, "_", 1);
        ja4_put_u16(s, v, !first);
        first = false;
    }
}

/* Writes the first JA4_HASH_HEX hex digits of SHA-256 over what `put` emits, or zeros for
 * empty text. */
static int ja4_hash(EVP_MD_CTX *md, void (*put)(struct ja4_sink *, const struct ja4_parts *),
                    const struct ja4_parts *p, char out[JA4_HASH_HEX])
{
    unsigned char dg[EVP_MAX_MD_SIZE];
    struct ja4_sink s = {.md = md};

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        return TW_EIO;
    put(&s, p);
    ja4_flush(&s);
    if (s.md_err || EVP_DigestFinal_ex(md, dg, NULL) != 1)
        return TW_EIO;
    for (size_t i = 0; i < JA4_HASH_HEX / 2; i++) {
        out[2 * i] = s.len == 0 ? '0' : hex_digits[dg[i] >> 4];
        out[2 * i + 1] = s.len == 0 ? '0' : hex_digits[dg[i] & 15];
    }
    return TW_OK;
}

int tw_ja4(const struct tw_tls_hello *h, char proto, char out[TW_JA4_LEN])
{
    struct ja4_parts p;
    EVP_MD_CTX *md;
    int rc;

    out[0] = '\0';
    rc = ja4_collect(h, proto, &p);
    if (rc != TW_OK)
        return rc;
    md = EVP_MD_CTX_new();
    if (md == NULL)
        return TW_EIO;
    memcpy(out, p.a, JA4_A_LEN);
    out[JA4_A_LEN] = '_';
    rc = ja4_hash(md, ja4_put_b, &p, out + JA4_A_LEN + 1);
    if (rc == TW_OK) {
        out[JA4_A_LEN + 1 + JA4_HASH_HEX] = '_';
        rc = ja4_hash(md, ja4_put_c, &p, out + JA4_A_LEN + 2 + JA4_HASH_HEX);
    }
    EVP_MD_CTX_free(md);
    out[rc == TW_OK ? TW_JA4_LEN - 1 : 0] = '\0';
    return rc;
}

int tw_ja4_raw(const struct tw_tls_hello *h, char proto, char *out, size_t cap)
{
    struct ja4_parts p;
    struct ja4_sink s = {.buf = out, .cap = cap};
    int rc;

    if (out == NULL && cap > 0)
        return TW_EINVAL;
    if (cap > 0)
        out[0] = '\0';
    rc = ja4_collect(h, proto, &p);
    if (rc != TW_OK)
        return rc;
    ja4_put(&s, p.a, JA4_A_LEN);
    ja4_put(&s, "_", 1);
    ja4_put_b(&s, &p);
    ja4_put(&s, "_", 1);
    ja4_put_c(&s, &p);
    if (s.len >= cap || s.len > (size_t)INT32_MAX) {
        if (cap > 0)
            out[0] = '\0';
        return TW_ENOMEM;
    }
    out[s.len] = '\0';
    return (int)s.len;
}
