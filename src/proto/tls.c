/* SPDX-License-Identifier: MIT */
/*
 * TLS ClientHello parsing: record walk, handshake defragmentation and the
 * ClientHello body (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2,
 * server_name from RFC 6066 section 3), and the extension lists a client
 * fingerprint reads (signature_algorithms, ALPN from RFC 7301,
 * supported_versions).
 */
#include "tunwatch/proto/tls.h"

#include <string.h>

#include "tunwatch/base/netaddr.h"

#define TLS_CT_CCS 20
#define TLS_CT_ALERT 21
#define TLS_CT_HANDSHAKE 22
#define TLS_CT_HEARTBEAT 24
#define TLS_CT_APPLICATION_DATA 23
#define TLS_HS_CLIENT_HELLO 1
#define TLS_REC_HDR_LEN 5
#define TLS_HS_HDR_LEN 4
#define TLS_SNI_HOST_NAME 0

/* Extension types remembered in a plain array before the bitmap is set up. */
#define EXT_SEEN_SMALL 32

#define F(flag) (1u << (flag))

static const char *const flag_names[TW_TLS_F__COUNT] = {TW_TLS_FLAGS(TW_X_NAME)};

static const char *const flag_counters[TW_TLS_F__COUNT] = {
#define TW_TLS_FLAG_COUNTER(id, name) [id] = "tls_" name,
    TW_TLS_FLAGS(TW_TLS_FLAG_COUNTER)
#undef TW_TLS_FLAG_COUNTER
};

const char *tw_tls_flag_name(enum tw_tls_flag f)
{
    return (unsigned)f < TW_TLS_F__COUNT ? flag_names[f] : "?";
}

const char *tw_tls_flag_counter(enum tw_tls_flag f)
{
    return (unsigned)f < TW_TLS_F__COUNT ? flag_counters[f] : "tls_?";
}

/* RFC 8701 GREASE values: 0x?a?a with both bytes equal. */
static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/*
 * Duplicate-extension detection (RFC 8446 section 4.2) in time linear in
 * the number of extensions. A 256-bit filter indexed by a hash of the type
 * answers "certainly new" for most extensions of a real ClientHello; only on
 * a filter hit is the short list of earlier types scanned. Past
 * EXT_SEEN_SMALL extensions a full 65536-bit map takes over, so a hello
 * stuffed with thousands of extensions costs one 8 KiB clear, not a
 * quadratic scan.
 */
struct ext_seen {
    unsigned n;
    uint64_t filter[4];
    uint16_t small[EXT_SEEN_SMALL];
    uint64_t map[65536 / 64];
};

static void ext_seen_init(struct ext_seen *s)
{
    s->n = 0;
    memset(s->filter, 0, sizeof(s->filter));
}

/* Returns false if `type` was seen before. */
static bool ext_seen_add(struct ext_seen *s, uint16_t type)
{
    if (s->n < EXT_SEEN_SMALL) {
        unsigned h = (uint16_t)(type * 40503u) >> 8; /* Fibonacci hashing to 8 bits */
        uint64_t fbit = (uint64_t)1 << (h & 63);
        if (s->filter[h >> 6] & fbit) {
            for (unsigned i = 0; i < s->n; i++)
                if (s->small[i] == type)
                    return false;
        }
        s->filter[h >> 6] |= fbit;
        s->small[s->n++] = type;
        return true;
    }
    if (s->n == EXT_SEEN_SMALL) {
        memset(s->map, 0, sizeof(s->map));
        for (unsigned i = 0; i < EXT_SEEN_SMALL; i++)
            s->map[s->small[i] >> 6] |= (uint64_t)1 << (s->small[i] & 63);
    }
    uint64_t bit = (uint64_t)1 << (type & 63);
    if (s->map[type >> 6] & bit)
        return false;
    s->map[type >> 6] |= bit;
    s->n++;
    return true;
}

size_t tw_tls_sni_host_len(const uint8_t *name, size_t n)
{
    const uint8_t *colon = n > 0 ? memrchr(name, ':', n) : NULL;
    size_t host = colon != NULL ? (size_t)(colon - name) : 0;
    uint16_t port;

    /* 1 to 5 digits, a value up to 65535 */
    if (host == 0 || n - host - 1 > 5 || !tw_port_parse(colon + 1, n - host - 1, &port))
        return n;
    /* An IPv6 address is a host with colons of its own: only in brackets ("[::1]:443"). */
    if (memchr(name, ':', host) != NULL && name[host - 1] != ']')
        return n;
    return host;
}

/* Keeps one host_name, unless an equal one is already kept. */
static void add_name(struct tw_tls_hello *out, const uint8_t *name, size_t n)
{
    for (unsigned i = 0; i < out->n_sni; i++)
        if (out->sni_lens[i] == n && memcmp(out->snis[i], name, n) == 0)
            return;
    if (out->n_sni > 0)
        out->flags |= F(TW_TLS_F_SNI_MULTIPLE);
    if (out->n_sni == TW_TLS_SNI_MAX) {
        out->flags |= F(TW_TLS_F_SNI_TOO_MANY);
        return;
    }
    out->snis[out->n_sni] = name;
    out->sni_lens[out->n_sni] = n;
    if (out->n_sni++ == 0) {
        out->has_sni = true;
        out->sni = name;
        out->sni_len = n;
    }
}

/*
 *  struct {
 *      NameType name_type;
 *      select (name_type) { case host_name: HostName; } name;
 *  } ServerName;
 *  opaque HostName<1..2^16-1>;
 *  struct { ServerName server_name_list<1..2^16-1> } ServerNameList;
 *
 * Every host_name entry is kept (RFC 6066 allows one per type; GnuTLS reads
 * them all, so a client can put the real name second). Entries of other name
 * types (none are defined) are skipped as opaque<0..2^16-1>, the layout every
 * deployed parser assumes, and so is an empty host_name.
 */
static int parse_server_name(struct tw_cur *ext, struct tw_tls_hello *out)
{
    uint16_t list_len = tw_get_be16(ext);
    if (ext->err || list_len == 0 || list_len != tw_cur_left(ext))
        return TW_EMALFORMED;
    while (tw_cur_left(ext) > 0) {
        uint8_t name_type = tw_get_u8(ext);
        uint16_t name_len = tw_get_be16(ext);
        const uint8_t *name = tw_get_bytes(ext, name_len);
        if (ext->err)
            return TW_EMALFORMED;
        if (name_type != TLS_SNI_HOST_NAME)
            out->flags |= F(TW_TLS_F_SNI_OTHER_TYPE);
        else if (name_len == 0)
            out->flags |= F(TW_TLS_F_SNI_EMPTY);
        else {
            if (tw_tls_sni_host_len(name, name_len) != name_len)
                out->flags |= F(TW_TLS_F_SNI_PORT);
            add_name(out, name, name_len);
        }
    }
    return TW_OK;
}

/*
 * A list of 16-bit values that fills its extension exactly behind a `w`-byte
 * length prefix (signature_algorithms: 2, supported_versions: 1). Returns
 * false, leaving the slice alone, when the framing does not hold.
 */
static bool take_u16_list(struct tw_cur *ext, unsigned w, const uint8_t **list, size_t *len)
{
    size_t n = w == 1 ? tw_get_u8(ext) : tw_get_be16(ext);
    if (ext->err || n != tw_cur_left(ext) || n % 2 != 0)
        return false;
    *list = ext->p;
    *len = n;
    return true;
}

/*
 *  opaque ProtocolName<1..2^8-1>;
 *  struct { ProtocolName protocol_name_list<2..2^16-1> } ProtocolNameList;
 *
 * The whole list is walked so that a list running past its extension is
 * refused; the first name is kept (even empty, which RFC 7301 forbids).
 */
static bool take_alpn(struct tw_cur *ext, struct tw_tls_hello *out)
{
    const uint8_t *first = NULL;
    size_t first_len = 0;
    uint16_t list_len = tw_get_be16(ext);

    if (ext->err || list_len != tw_cur_left(ext))
        return false;
    while (tw_cur_left(ext) > 0) {
        uint8_t n = tw_get_u8(ext);
        const uint8_t *name = tw_get_bytes(ext, n);
        if (ext->err)
            return false;
        if (first == NULL) {
            first = name;
            first_len = n;
        }
    }
    out->alpn = first;
    out->alpn_len = first_len;
    return true;
}

/*
 *  uint16 ProtocolVersion legacy_version;
 *  opaque Random[32];
 *  opaque legacy_session_id<0..32>;
 *  CipherSuite cipher_suites<2..2^16-2>;
 *  opaque legacy_compression_methods<1..2^8-1>;
 *  Extension extensions<0..2^16-1>;          (the whole field may be absent)
 *  struct { ExtensionType extension_type; opaque extension_data<0..2^16-1>; } Extension;
 */
/*
 * A broken hello: everything is reset but the names read before the break and the flags, so
 * a sensor still reports those names (flagged truncated).
 */
static int hello_fail(struct tw_tls_hello *out)
{
    struct tw_tls_hello keep = *out;

    memset(out, 0, sizeof(*out));
    out->flags = keep.flags;
    out->n_sni = keep.n_sni;
    memcpy(out->snis, keep.snis, sizeof(out->snis));
    memcpy(out->sni_lens, keep.sni_lens, sizeof(out->sni_lens));
    out->sni = keep.sni;
    out->sni_len = keep.sni_len;
    out->has_sni = keep.has_sni;
    if (out->n_sni > 0)
        out->flags |= F(TW_TLS_F_TRUNCATED);
    return TW_EMALFORMED;
}

/* The highest non-GREASE supported_versions entry (draft 0x7fNN counts as 0x0304), else
 * legacy_version. */
static uint16_t offered_version(const struct tw_tls_hello *h)
{
    uint16_t best = 0;
    unsigned best_rank = 0;

    for (size_t i = 0; h->versions != NULL && i + 1 < h->versions_len; i += 2) {
        uint16_t v = tw_load_be16(h->versions + i);
        unsigned rank = (v & 0xff00) == 0x7f00 ? 0x0304 * 2 - 1 : (unsigned)v * 2;
        if (!is_grease(v) && rank > best_rank) {
            best = v;
            best_rank = rank;
        }
    }
    return best_rank != 0 ? best : h->legacy_version;
}

/*
 *  uint16 ProtocolVersion legacy_version;
 *  opaque Random[32];
 *  opaque legacy_session_id<0..32>;
 *  CipherSuite cipher_suites<2..2^16-2>;
 *  opaque legacy_compression_methods<1..2^8-1>;
 *  Extension extensions<0..2^16-1>;          (the whole field may be absent)
 *  struct { ExtensionType extension_type; opaque extension_data<0..2^16-1>; } Extension;
 */
int tw_tls_client_hello_parse(const uint8_t *body, size_t len, struct tw_tls_hello *out)
{
    struct tw_cur c;
    struct ext_seen seen;
    bool sni_seen = false, sig_seen = false, alpn_seen = false, vers_seen = false;

    memset(out, 0, sizeof(*out));
    if (body == NULL)
        return TW_EMALFORMED;
    tw_cur_init(&c, body, len);
    out->hello_len = len;
    if (len > TW_TLS_HELLO_LARGE)
        out->flags |= F(TW_TLS_F_HELLO_LARGE);

    /* Servers negotiate from supported_versions and read legacy_version only without it:
     * any value is read here, and reported. */
    out->legacy_version = tw_get_be16(&c);
    tw_skip(&c, 32);
    uint8_t sid_len = tw_get_u8(&c);
    tw_skip(&c, sid_len);
    uint16_t cs_len = tw_get_be16(&c);
    out->ciphers = tw_get_bytes(&c, cs_len);
    out->ciphers_len = cs_len;
    uint8_t comp_len = tw_get_u8(&c);
    tw_skip(&c, comp_len);
    if (c.err || sid_len > 32 || cs_len < 2 || cs_len % 2 != 0 || comp_len < 1)
        return hello_fail(out);
    if (out->legacy_version < 0x0300 || out->legacy_version > 0x0303)
        out->flags |= F(TW_TLS_F_LEGACY_VERSION_UNUSUAL);
    out->version = out->legacy_version;
    if (tw_cur_left(&c) == 0)
        return TW_OK;

    uint16_t exts_len = tw_get_be16(&c);
    if (c.err || exts_len != tw_cur_left(&c))
        return hello_fail(out);
    out->exts = c.p;
    out->exts_len = exts_len;
    ext_seen_init(&seen);
    while (tw_cur_left(&c) > 0) {
        uint16_t type = tw_get_be16(&c);
        uint16_t ext_len = tw_get_be16(&c);
        struct tw_cur ext = tw_cur_sub(&c, ext_len);
        if (c.err)
            return hello_fail(out);
        /* RFC 8446 4.2 forbids repeats; OpenSSL and GnuTLS accept repeated GREASE and
         * unknown types (Chrome-like hellos repeat a GREASE value by chance). */
        if (!ext_seen_add(&seen, type))
            out->flags |= F(TW_TLS_F_DUPLICATE_EXTENSION);
        switch (type) {
        case TW_TLS_EXT_SERVER_NAME:
            if (sni_seen)
                out->flags |= F(TW_TLS_F_SNI_EXTENSION_REPEATED);
            sni_seen = true;
            if (parse_server_name(&ext, out) != TW_OK)
                return hello_fail(out);
            break;
        case TW_TLS_EXT_SIG_ALGS:
            if (!sig_seen && !take_u16_list(&ext, 2, &out->sig_algs, &out->sig_algs_len))
                out->ext_list_bad = true;
            sig_seen = true;
            break;
        case TW_TLS_EXT_ALPN:
            if (!alpn_seen && !take_alpn(&ext, out))
                out->ext_list_bad = true;
            alpn_seen = true;
            break;
        case TW_TLS_EXT_VERSIONS:
            if (!vers_seen && !take_u16_list(&ext, 1, &out->versions, &out->versions_len))
                out->ext_list_bad = true;
            vers_seen = true;
            break;
        case TW_TLS_EXT_ECH:
            out->has_ech = true;
            break;
        case TW_TLS_EXT_ESNI:
            out->has_esni = true;
            break;
        default:
            break;
        }
    }
    if (out->ext_list_bad)
        out->flags |= F(TW_TLS_F_EXTENSION_LIST_BAD);
    out->version = offered_version(out);
    return TW_OK;
}

/* Largest ClientHello body the vector bounds allow (see the layout above). */
#define TLS_CH_BODY_MAX (2 + 32 + 1 + 32 + 2 + 65534 + 1 + 255 + 2 + 65535)
_Static_assert(TLS_CH_BODY_MAX == TW_TLS_HELLO_MAX, "TW_TLS_HELLO_MAX is the vector bound");
/* Smallest: empty session id, one cipher suite, one compression method, no extensions. */
#define TLS_CH_BODY_MIN (2 + 32 + 1 + 2 + 2 + 1 + 1)

static bool record_type_ok(uint8_t t)
{
    return t == TLS_CT_HANDSHAKE || t == TLS_CT_CCS || t == TLS_CT_ALERT || t == TLS_CT_HEARTBEAT;
}

/*
 * Checks the first `have` (< 5) bytes of a record header, so that a stream
 * that cannot be TLS is rejected on its first byte rather than buffered.
 * This is also where an SSLv2-compatible hello (first byte >= 0x80) ends:
 * it has no extensions, so it can carry no SNI.
 */
static bool record_header_prefix_ok(const uint8_t *h, size_t have)
{
    if (have >= 1 && !record_type_ok(h[0]))
        return false;
    if (have >= 2 && h[1] != 3)
        return false;
    if (have >= 4 && h[3] > 0x40)
        return false;
    return true;
}

/* Servers check only the major version of a record (OpenSSL, GnuTLS: 0x0305 and 0x03ff pass). */
static bool record_header_ok(const uint8_t h[TLS_REC_HDR_LEN])
{
    return record_type_ok(h[0]) && h[1] == 3 && tw_load_be16(h + 3) <= 16384;
}

/* A record that is read past, not joined: empty handshake records and the other types. */
static bool record_skipped(const uint8_t h[TLS_REC_HDR_LEN])
{
    return h[0] != TLS_CT_HANDSHAKE || tw_load_be16(h + 3) == 0;
}

static uint32_t skipped_flag(uint8_t type)
{
    switch (type) {
    case TLS_CT_CCS:
        return F(TW_TLS_F_RECORD_CCS);
    case TLS_CT_ALERT:
        return F(TW_TLS_F_RECORD_ALERT);
    case TLS_CT_HEARTBEAT:
        return F(TW_TLS_F_RECORD_HEARTBEAT);
    default:
        return F(TW_TLS_F_RECORD_EMPTY);
    }
}

bool tw_tls_maybe_client_hello(const uint8_t *buf, size_t len)
{
    if (len < TLS_REC_HDR_LEN)
        return len == 0 || record_header_prefix_ok(buf, len);
    return record_header_ok(buf) &&
           (len == TLS_REC_HDR_LEN || record_skipped(buf) || buf[5] == TLS_HS_CLIENT_HELLO);
}

bool tw_tls_hello_has_extension(const struct tw_tls_hello *h, uint16_t type)
{
    struct tw_cur c;

    if (h->exts == NULL)
        return false;
    tw_cur_init(&c, h->exts, h->exts_len);
    while (tw_cur_left(&c) > 0) {
        uint16_t t = tw_get_be16(&c);
        tw_skip(&c, tw_get_be16(&c));
        if (c.err)
            return false;
        if (t == type)
            return true;
    }
    return false;
}

bool tw_tls_application_data(const uint8_t *buf, size_t len)
{
    /* RFC 5246 6.2.3: a TLSCiphertext fragment is at most 2^14 + 2048 bytes. */
    return len >= TLS_REC_HDR_LEN && buf[0] == TLS_CT_APPLICATION_DATA && buf[1] == 3 &&
           tw_load_be16(buf + 3) <= 16384 + 2048;
}

/* Validates the handshake header once its 4 bytes are known; sets *msg_len (header included). */
static int handshake_header_check(const uint8_t hs[TLS_HS_HDR_LEN], size_t scratch_cap,
                                  size_t *msg_len)
{
    uint32_t body_len = (uint32_t)hs[1] << 16 | (uint32_t)hs[2] << 8 | hs[3];
    if (hs[0] != TLS_HS_CLIENT_HELLO || body_len < TLS_CH_BODY_MIN || body_len > TLS_CH_BODY_MAX)
        return TW_EMALFORMED;
    *msg_len = TLS_HS_HDR_LEN + (size_t)body_len;
    if (*msg_len > scratch_cap)
        return TW_ENOMEM;
    return TW_OK;
}

/*
 *  TLSPlaintext: ContentType type(1)=22 | ProtocolVersion(2) | uint16 length | fragment[length]
 *
 * Pass one walks record headers only, so a call on an incomplete prefix
 * costs O(records) and copies nothing. Once every byte of the ClientHello
 * message and the whole record that ends it are present, pass two joins the
 * fragments into scratch and parses the body.
 */
int tw_tls_parse_stream(const uint8_t *stream, size_t len, uint8_t *scratch, size_t scratch_cap,
                        struct tw_tls_hello *out)
{
    uint8_t hs[TLS_HS_HDR_LEN];
    size_t hs_have = 0; /* handshake header bytes collected */
    size_t done = 0;    /* handshake bytes in the records before the current one */
    size_t msg_len = 0; /* handshake header + body; 0 until the header is known */
    size_t pos = 0;
    unsigned n_records = 0, n_skipped = 0;
    uint16_t first_version = 0;
    uint32_t flags = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return TW_EINCOMPLETE;
    if (stream == NULL)
        return TW_EINVAL;

    for (;;) {
        if (len - pos < TLS_REC_HDR_LEN)
            return record_header_prefix_ok(stream + pos, len - pos) ? TW_EINCOMPLETE
                                                                    : TW_EMALFORMED;
        const uint8_t *rh = stream + pos;
        if (!record_header_ok(rh))
            return TW_EMALFORMED;
        uint16_t rlen = tw_load_be16(rh + 3);
        size_t frag = pos + TLS_REC_HDR_LEN;
        if (rh[2] > 4)
            flags |= F(TW_TLS_F_RECORD_VERSION_UNUSUAL);
        if (record_skipped(rh)) {
            /* Read past whole, a bounded number of times (OpenSSL skips empty records,
             * GnuTLS a ChangeCipherSpec before the hello). */
            if (++n_skipped > TW_TLS_SKIP_MAX)
                return TW_EMALFORMED;
            flags |= skipped_flag(rh[0]);
            if (len - frag < rlen)
                return TW_EINCOMPLETE;
            pos = frag + rlen;
            continue;
        }
        if (n_records == 0)
            first_version = tw_load_be16(rh + 1);
        n_records++;

        size_t avail = TW_MIN((size_t)rlen, len - frag);
        /* hs_have == min(4, done) here: the header may be split over several records. */
        while (msg_len == 0 && hs_have < TLS_HS_HDR_LEN && hs_have < done + avail) {
            hs[hs_have] = stream[frag + (hs_have - done)];
            hs_have++;
            if (hs_have == 1 && hs[0] != TLS_HS_CLIENT_HELLO)
                return TW_EMALFORMED;
            if (hs_have == TLS_HS_HDR_LEN) {
                rc = handshake_header_check(hs, scratch_cap, &msg_len);
                if (rc != TW_OK)
                    return rc;
            }
        }
        if (avail < rlen)
            return TW_EINCOMPLETE;
        pos = frag + rlen;
        done += rlen;
        /* The record that ends the message may carry more; that is not ours to judge. */
        if (msg_len != 0 && done >= msg_len)
            break;
    }

    /* Pass two: join the fragments. Every record up to `pos` was validated above. */
    size_t copied = 0;
    for (size_t p = 0; copied < msg_len;) {
        size_t rlen = tw_load_be16(stream + p + 3);
        if (!record_skipped(stream + p)) {
            size_t n = TW_MIN(rlen, msg_len - copied);
            memcpy(scratch + copied, stream + p + TLS_REC_HDR_LEN, n);
            copied += n;
        }
        p += TLS_REC_HDR_LEN + rlen;
    }
    rc = tw_tls_client_hello_parse(scratch + TLS_HS_HDR_LEN, msg_len - TLS_HS_HDR_LEN, out);
    if (n_records > 1)
        flags |= F(TW_TLS_F_RECORD_SPLIT);
    out->flags |= flags;
    if (rc != TW_OK)
        return rc;
    out->record_version = first_version;
    out->n_records = n_records;
    return (int)pos; /* at most 6 * (4 + TLS_CH_BODY_MAX) + 33 * 16389: fits */
}
