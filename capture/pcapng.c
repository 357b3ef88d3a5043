/* SPDX-License-Identifier: MIT */
/*
 * pcapng block reader: see include/tunwatch/capture/pcapng.h. Blocks are parsed where they
 * lie, whole (a stream's read into one buffer first); integers are read in the section's byte
 * order.
 */
#include "tunwatch/capture/pcapng.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OPT_ENDOFOPT 0
#define OPT_IF_TSRESOL 9
#define OPT_IF_TSOFFSET 14

bool tw_pcapng_magic(const uint8_t *b)
{
    return b[0] == 0x0A && b[1] == 0x0D && b[2] == 0x0D && b[3] == 0x0A;
}

static uint16_t rd16(const struct tw_pcapng *r, const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    v = r->big ? be16toh(v) : le16toh(v);
    return v;
}

static uint32_t rd32(const struct tw_pcapng *r, const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return r->big ? be32toh(v) : le32toh(v);
}

#include <stdarg.h>

__attribute__((format(printf, 6, 7))) static int
fail(struct tw_pcapng *r, int rc, char *err, size_t errlen, uint64_t off, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "pcapng block at offset %llu: %s", (unsigned long long)off, msg);
    r->failed = rc;
    return rc;
}

/* A section header's byte-order magic (its bytes 8 to 11): sets *big, false if it is none. */
static bool section_order(const uint8_t *shb, bool *big)
{
    uint32_t bom_le =
        (uint32_t)shb[11] << 24 | (uint32_t)shb[10] << 16 | (uint32_t)shb[9] << 8 | shb[8];

    if (bom_le != TW_PCAPNG_BOM && bom_le != 0x4D3C2B1Au)
        return false;
    *big = bom_le != TW_PCAPNG_BOM;
    return true;
}

uint32_t tw_pcapng_peek_block(const uint8_t *b, bool *big, uint32_t *type)
{
    struct tw_pcapng r = {.big = *big};

    if (tw_pcapng_magic(b) && !section_order(b, &r.big))
        return 0;
    *big = r.big;
    *type = rd32(&r, b);
    return rd32(&r, b + 4);
}

int tw_pcapng_head(struct tw_pcapng *r, const uint8_t *h, size_t avail, uint32_t *type,
                   uint32_t *len, char *err, size_t errlen)
{
    uint64_t off = r->offset;

    if (avail < 8)
        return fail(r, TW_EINCOMPLETE, err, errlen, off, "file cut inside the block header");
    if (tw_pcapng_magic(h)) {
        /* A section starts: its byte-order magic decides how to read its length. */
        if (avail < 12)
            return fail(r, TW_EINCOMPLETE, err, errlen, off, "file cut inside the section header");
        if (!section_order(h, &r->big))
            return fail(r, TW_EMALFORMED, err, errlen, off, "bad byte-order magic");
    }
    *type = rd32(r, h);
    *len = rd32(r, h + 4);
    if (*len < 12 || *len % 4 != 0 || *len > TW_PCAPNG_BLOCK_MAX) {
        char what[64];
        snprintf(what, sizeof(what), "%u", *len);
        return fail(r, TW_EMALFORMED, err, errlen, off, "bad block total length %s", what);
    }
    if (*type == TW_PCAPNG_SHB && *len < 28)
        return fail(r, TW_EMALFORMED, err, errlen, off, "section header too short");
    return 1;
}

int tw_pcapng_cut(struct tw_pcapng *r, char *err, size_t errlen)
{
    return fail(r, TW_EINCOMPLETE, err, errlen, r->offset, "file cut inside the block");
}

/* Reads exactly n bytes. 1, 0 at end of file before any byte, TW_EINCOMPLETE when cut,
 * TW_EIO on a read error. */
static int read_exact(struct tw_pcapng *r, void *dst, size_t n)
{
    size_t got = fread(dst, 1, n, r->fp);

    if (got == n)
        return 1;
    if (ferror(r->fp))
        return TW_EIO;
    return got == 0 ? 0 : TW_EINCOMPLETE;
}

/*
 * Reads the next block from r->fp into r->buf (whole: header, body, trailer). *type and *len
 * are set. 1, 0 at a clean end of file, or a negative code with err set.
 */
static int read_block(struct tw_pcapng *r, uint32_t *type, uint32_t *len, char *err, size_t errlen)
{
    uint8_t hdr[12];
    uint64_t off = r->offset;
    size_t have = 8;
    int rc = read_exact(r, hdr, 8);

    if (rc == 0)
        return 0;
    if (rc == TW_EINCOMPLETE)
        have = 0; /* tw_pcapng_head() says the header is cut */
    else if (rc < 0)
        return fail(r, TW_EIO, err, errlen, off, "read error: %s", strerror(errno));
    if (have == 8 && tw_pcapng_magic(hdr)) {
        rc = read_exact(r, hdr + 8, 4);
        if (rc < 0 && rc != TW_EINCOMPLETE)
            return fail(r, TW_EIO, err, errlen, off, "read error: %s", strerror(errno));
        if (rc == 1)
            have = 12;
    }
    if ((rc = tw_pcapng_head(r, hdr, have, type, len, err, errlen)) != 1)
        return rc;
    if (r->cap < *len) {
        size_t ncap = r->cap == 0 ? 65536 : r->cap;
        while (ncap < *len)
            ncap *= 2;
        uint8_t *nb = realloc(r->buf, ncap);
        if (nb == NULL)
            return fail(r, TW_ENOMEM, err, errlen, off, "out of memory");
        r->buf = nb;
        r->cap = ncap;
    }
    memcpy(r->buf, hdr, have);
    rc = read_exact(r, r->buf + have, *len - have);
    if (rc == TW_EIO)
        return fail(r, TW_EIO, err, errlen, off, "file cut inside the block");
    if (rc != 1)
        return tw_pcapng_cut(r, err, errlen);
    return 1;
}

static int section(struct tw_pcapng *r, const uint8_t *blk, char *err, size_t errlen)
{
    uint16_t major = rd16(r, blk + 12);

    if (major != 1) {
        char what[32];
        snprintf(what, sizeof(what), "%u", major);
        return fail(r, TW_EMALFORMED, err, errlen, r->offset, "unsupported major version %s",
                    what);
    }
    r->n_ifs = 0; /* interface ids are per section */
    r->sections++;
    return 0;
}

static int interface(struct tw_pcapng *r, const uint8_t *blk, uint32_t len, char *err,
                     size_t errlen)
{
    const uint8_t *p = blk + 8, *end = blk + len - 4;
    struct tw_pcapng_if ifc = {.exp = 6};
    uint64_t off = r->offset;

    if (end - p < 8)
        return fail(r, TW_EMALFORMED, err, errlen, off, "interface description too short");
    ifc.linktype = rd16(r, p);
    ifc.snaplen = rd32(r, p + 4);
    p += 8;
    /* Options: code, length, value padded to 4 bytes; ends at opt_endofopt or the body. */
    while (end - p >= 4) {
        uint16_t code = rd16(r, p), olen = rd16(r, p + 2);
        size_t padded = ((size_t)olen + 3u) & ~(size_t)3u;
        p += 4;
        if (code == OPT_ENDOFOPT)
            break;
        if ((size_t)(end - p) < padded)
            return fail(r, TW_EMALFORMED, err, errlen, off, "interface option overruns the block");
        if (code == OPT_IF_TSRESOL && olen == 1) {
            ifc.binary = (p[0] & 0x80) != 0;
            ifc.exp = p[0] & 0x7f;
            if ((!ifc.binary && ifc.exp > 19) || (ifc.binary && ifc.exp > 63))
                return fail(r, TW_EMALFORMED, err, errlen, off, "if_tsresol out of range");
        } else if (code == OPT_IF_TSOFFSET && olen == 8) {
            uint64_t v = r->big ? (uint64_t)rd32(r, p) << 32 | rd32(r, p + 4)
                                : (uint64_t)rd32(r, p + 4) << 32 | rd32(r, p);
            ifc.offset = (int64_t)v;
        }
        p += padded;
    }
    if (r->n_ifs == TW_PCAPNG_MAX_IFS)
        return fail(r, TW_EMALFORMED, err, errlen, off, "more interfaces than the bound");
    if (r->n_ifs == r->ifs_cap) {
        size_t ncap = r->ifs_cap == 0 ? 8 : r->ifs_cap * 2;
        struct tw_pcapng_if *n = realloc(r->ifs, ncap * sizeof(*n));
        if (n == NULL)
            return fail(r, TW_ENOMEM, err, errlen, off, "out of memory");
        r->ifs = n;
        r->ifs_cap = ncap;
    }
    r->ifs[r->n_ifs++] = ifc;
    return 0;
}

/* Timestamp units of interface ifc into seconds and nanoseconds. Microseconds (the default)
 * and nanoseconds divide by constants; other decimal resolutions by powers of ten. */
static void timestamp(const struct tw_pcapng_if *ifc, uint64_t units, int64_t *sec, uint32_t *nsec)
{
    if (ifc->binary) {
        uint64_t frac = ifc->exp == 0 ? 0 : units & ((UINT64_C(1) << ifc->exp) - 1);
        *sec = (int64_t)(units >> ifc->exp);
        *nsec = (uint32_t)(((unsigned __int128)frac * 1000000000u) >> ifc->exp);
    } else if (ifc->exp == 6) {
        *sec = (int64_t)(units / 1000000u);
        *nsec = (uint32_t)(units % 1000000u) * 1000u;
    } else if (ifc->exp == 9) {
        *sec = (int64_t)(units / 1000000000u);
        *nsec = (uint32_t)(units % 1000000000u);
    } else {
        uint64_t div = 1;
        for (unsigned i = 0; i < ifc->exp; i++)
            div *= 10;
        uint64_t frac = units % div;
        *sec = (int64_t)(units / div);
        if (ifc->exp <= 9) {
            uint64_t mul = 1;
            for (unsigned i = ifc->exp; i < 9; i++)
                mul *= 10;
            *nsec = (uint32_t)(frac * mul);
        } else {
            uint64_t d = 1;
            for (unsigned i = 9; i < ifc->exp; i++)
                d *= 10;
            *nsec = (uint32_t)(frac / d);
        }
    }
    *sec += ifc->offset;
}

/* The packet of a packet block (b its body, body bytes long): 1 with *f and *linktype set
 * (f->data points into b), or a negative code with err set. */
static int packet(struct tw_pcapng *r, uint32_t type, const uint8_t *b, size_t body,
                  struct tw_frame *f, int *linktype, char *err, size_t errlen)
{
    uint64_t off = r->offset;
    uint32_t ifid, caplen, origlen;
    const uint8_t *data;

    if (type == TW_PCAPNG_SPB) {
        if (body < 4)
            return fail(r, TW_EMALFORMED, err, errlen, off, "packet block too short");
        if (r->n_ifs == 0)
            return fail(r, TW_EMALFORMED, err, errlen, off,
                        "simple packet block without an interface");
        ifid = 0;
        origlen = rd32(r, b);
        caplen = origlen;
        if (r->ifs[0].snaplen != 0 && caplen > r->ifs[0].snaplen)
            caplen = r->ifs[0].snaplen;
        if (caplen > body - 4)
            caplen = (uint32_t)(body - 4);
        data = b + 4;
        /* No timestamp in the block: the time of the packet before it. */
        f->ts_sec = r->last_sec;
        f->ts_nsec = r->last_nsec;
    } else {
        if (body < 20)
            return fail(r, TW_EMALFORMED, err, errlen, off, "packet block too short");
        ifid = type == TW_PCAPNG_EPB ? rd32(r, b) : rd16(r, b);
        uint64_t units = (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8);
        caplen = rd32(r, b + 12);
        origlen = rd32(r, b + 16);
        data = b + 20;
        if (caplen > body - 20)
            return fail(r, TW_EMALFORMED, err, errlen, off, "captured length overruns the block");
        if (ifid >= r->n_ifs)
            return fail(r, TW_EMALFORMED, err, errlen, off,
                        "packet names an interface not described");
        timestamp(&r->ifs[ifid], units, &f->ts_sec, &f->ts_nsec);
        r->last_sec = f->ts_sec;
        r->last_nsec = f->ts_nsec;
    }
    f->caplen = caplen;
    f->wirelen = origlen < caplen ? caplen : origlen;
    f->data = data;
    f->hold = NULL;
    *linktype = r->ifs[ifid].linktype;
    r->packets++;
    return 1;
}

int tw_pcapng_block(struct tw_pcapng *r, const uint8_t *blk, uint32_t type, uint32_t len,
                    struct tw_frame *f, int *linktype, char *err, size_t errlen)
{
    int rc;

    if (rd32(r, blk + len - 4) != len)
        return fail(r, TW_EMALFORMED, err, errlen, r->offset,
                    "trailing block length differs from the leading one");
    switch (type) {
    case TW_PCAPNG_SHB:
        rc = section(r, blk, err, errlen);
        break;
    case TW_PCAPNG_IDB:
        rc = interface(r, blk, len, err, errlen);
        break;
    case TW_PCAPNG_EPB:
    case TW_PCAPNG_PB:
    case TW_PCAPNG_SPB:
        rc = packet(r, type, blk + 8, len - 12, f, linktype, err, errlen);
        break;
    default:
        r->blocks_skipped++; /* statistics, name resolution, journal, custom, ... */
        rc = 0;
        break;
    }
    if (rc >= 0)
        r->offset += len;
    return rc;
}

int tw_pcapng_open(struct tw_pcapng *r, FILE *fp, char *err, size_t errlen)
{
    uint32_t type = 0, len = 0; /* set by read_block() when it returns 1 */
    int rc;

    memset(r, 0, sizeof(*r));
    r->fp = fp;
    rc = read_block(r, &type, &len, err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "empty file");
        r->failed = TW_EINCOMPLETE;
        return TW_EINCOMPLETE;
    }
    if (rc < 0)
        return rc;
    if (type != TW_PCAPNG_SHB) {
        snprintf(err, errlen, "not a pcapng file (no section header block)");
        r->failed = TW_EMALFORMED;
        return TW_EMALFORMED;
    }
    rc = tw_pcapng_block(r, r->buf, type, len, NULL, NULL, err, errlen);
    return rc < 0 ? rc : 0;
}

int tw_pcapng_next(struct tw_pcapng *r, struct tw_frame *f, int *linktype, char *err, size_t errlen)
{
    uint32_t type = 0, len = 0; /* set by read_block() when it returns 1 */
    int rc;

    if (r->failed != 0) {
        snprintf(err, errlen, "pcapng stream already failed");
        return r->failed;
    }
    for (;;) {
        rc = read_block(r, &type, &len, err, errlen);
        if (rc == 0)
            return TW_EOF;
        if (rc < 0)
            return rc;
        rc = tw_pcapng_block(r, r->buf, type, len, f, linktype, err, errlen);
        if (rc != 0)
            return rc;
    }
}

void tw_pcapng_close(struct tw_pcapng *r)
{
    free(r->buf);
    free(r->ifs);
    r->buf = NULL;
    r->ifs = NULL;
}
