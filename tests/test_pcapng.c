/* SPDX-License-Identifier: MIT */
/*
 * The pcapng block reader (capture/pcapng.c) and the k-way merge of capture files
 * (capture/capfile.c): files built here in both byte orders with several interfaces of
 * different link types and timestamp resolutions, every truncation prefix (on an exact-size
 * heap copy), bad block lengths and trailers, and merges of classic pcap and pcapng files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_frame.h"
#include "test_util.h"
#include "tunwatch/capture/capfile.h"
#include "tunwatch/capture/pcapng.h"

static char dir[] = "/tmp/tw_test_pcapng.XXXXXX";
/* How regular files are read in this run of the suite (main). */
static enum tw_capfile_map suite_mode;

/* ---- a pcapng writer for the tests, either byte order ---- */

struct w {
    uint8_t *buf;
    size_t len, cap;
    bool big;
    size_t block; /* start of the open block */
};

static void put8(struct w *w, uint8_t v)
{
    if (w->len == w->cap) {
        w->cap = w->cap == 0 ? 8192 : 2 * w->cap;
        w->buf = realloc(w->buf, w->cap);
        assert_non_null(w->buf);
    }
    w->buf[w->len++] = v;
}

/* A copy of w with a buffer of its own. */
static struct w wdup(const struct w *w)
{
    struct w c = *w;

    c.buf = exact_copy(w->buf, w->cap);
    return c;
}

static void put16(struct w *w, uint16_t v)
{
    if (w->big) {
        put8(w, (uint8_t)(v >> 8));
        put8(w, (uint8_t)v);
    } else {
        put8(w, (uint8_t)v);
        put8(w, (uint8_t)(v >> 8));
    }
}

static void put32(struct w *w, uint32_t v)
{
    if (w->big) {
        put16(w, (uint16_t)(v >> 16));
        put16(w, (uint16_t)v);
    } else {
        put16(w, (uint16_t)v);
        put16(w, (uint16_t)(v >> 16));
    }
}

static void set32(struct w *w, size_t at, uint32_t v)
{
    size_t save = w->len;
    w->len = at;
    put32(w, v);
    w->len = save;
}

static void begin(struct w *w, uint32_t type)
{
    w->block = w->len;
    put32(w, type);
    put32(w, 0); /* length, set by end() */
}

static void pad(struct w *w)
{
    while (w->len % 4 != 0)
        put8(w, 0);
}

static void end(struct w *w)
{
    pad(w);
    uint32_t total = (uint32_t)(w->len - w->block + 4);
    put32(w, total);
    set32(w, w->block + 4, total);
}

static void shb(struct w *w)
{
    begin(w, TW_PCAPNG_SHB);
    put32(w, TW_PCAPNG_BOM);
    put16(w, 1);
    put16(w, 0);
    put32(w, 0xffffffffu); /* section length unknown */
    put32(w, 0xffffffffu);
    end(w);
}

/* tsresol < 0: no option */
static void idb(struct w *w, uint16_t linktype, int tsresol, uint32_t snaplen)
{
    begin(w, TW_PCAPNG_IDB);
    put16(w, linktype);
    put16(w, 0);
    put32(w, snaplen);
    if (tsresol >= 0) {
        put16(w, 9);
        put16(w, 1);
        put8(w, (uint8_t)tsresol);
        pad(w);
    }
    put16(w, 2); /* if_name, an option the reader skips */
    put16(w, 3);
    put8(w, 'e');
    put8(w, 't');
    put8(w, 'h');
    pad(w);
    put16(w, 0); /* opt_endofopt */
    put16(w, 0);
    end(w);
}

static void epb(struct w *w, uint32_t ifid, uint64_t units, const char *data, uint32_t origlen)
{
    uint32_t n = (uint32_t)strlen(data);
    begin(w, TW_PCAPNG_EPB);
    put32(w, ifid);
    put32(w, (uint32_t)(units >> 32));
    put32(w, (uint32_t)units);
    put32(w, n);
    put32(w, origlen);
    for (uint32_t i = 0; i < n; i++)
        put8(w, (uint8_t)data[i]);
    end(w);
}

static void spb(struct w *w, const char *data)
{
    uint32_t n = (uint32_t)strlen(data);
    begin(w, TW_PCAPNG_SPB);
    put32(w, n);
    for (uint32_t i = 0; i < n; i++)
        put8(w, (uint8_t)data[i]);
    end(w);
}

static void unknown_block(struct w *w)
{
    begin(w, 0x00000BADu);
    put32(w, 0x11223344u);
    end(w);
}

/* The test file: two sections; the first with interfaces of three link types and
 * resolutions, the second starting its interface ids again. */
struct expect_pkt {
    int linktype;
    int64_t sec;
    uint32_t nsec;
    const char *data;
    uint32_t wirelen;
};

static const struct expect_pkt want[] = {
    {1, 1700000000, 123456000, "ether", 60},   /* microseconds (default) */
    {101, 1700000001, 5, "raw-ip", 6},         /* nanoseconds (tsresol 9) */
    {113, 1700000002, 500000000, "sll", 3},    /* 2^-20 (tsresol 0x94) */
    {1, 1700000002, 500000000, "simple", 6},   /* SPB: interface 0, the time before it */
    {276, 1700000003, 0, "sll2 in section 2", 17},
};

static size_t build(struct w *w, bool big, size_t *boundaries, size_t *n_bound)
{
    memset(w, 0, sizeof(*w));
    w->big = big;
    *n_bound = 0;
#define MARK() (boundaries[(*n_bound)++] = w->len)
    MARK();
    shb(w);
    MARK();
    idb(w, 1, -1, 0); /* Ethernet, microseconds */
    MARK();
    idb(w, 101, 9, 0); /* raw IP, nanoseconds */
    MARK();
    idb(w, 113, 0x80 | 20, 0); /* SLL, 2^-20 s */
    MARK();
    epb(w, 0, UINT64_C(1700000000123456), "ether", 60);
    MARK();
    unknown_block(w);
    MARK();
    epb(w, 1, UINT64_C(1700000001000000005), "raw-ip", 6);
    MARK();
    epb(w, 2, (UINT64_C(1700000002) << 20) | (1u << 19), "sll", 3);
    MARK();
    spb(w, "simple"); /* interface 0 (Ethernet), the time of the packet before */
    MARK();
    shb(w);
    MARK();
    idb(w, 276, 0, 0); /* SLL2, seconds */
    MARK();
    epb(w, 0, 1700000003, "sll2 in section 2", 17);
    MARK();
#undef MARK
    return w->len;
}

/* Writes buf[0..len) to a file in dir, its path returned (the caller frees it). */
static char *write_tmp(const uint8_t *buf, size_t len)
{
    char *path = malloc(strlen(dir) + 32);
    assert_non_null(path);
    sprintf(path, "%s/part.pcapng", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

/*
 * Reads buf[0..len) as a regular file through capfile.c, which parses pcapng in its read
 * blocks: every packet must be the stdio reader's (f, lts[]), the ending the same code and
 * message. n is how many packets the stdio reader gave.
 */
static void same_as_capfile(const uint8_t *buf, size_t len, const struct tw_frame *fs,
                            const int *lts, size_t n, int end, const char *end_err)
{
    char *path = write_tmp(buf, len), err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    size_t k = 0;
    int lt, rc = tw_capfile_open(path, &c, err, sizeof(err));

    if (rc == 0) {
        while ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1) {
            assert_true(k < n);
            assert_same_frame(&f, lt, &fs[k], lts[k]);
            k++;
        }
        tw_capfile_close(c);
    }
    assert_int_equal(k, n);
    assert_int_equal(rc, end);
    if (end != TW_EOF)
        assert_non_null(strstr(err, end_err));
    unlink(path);
    free(path);
}

/* Reads the whole of buf[0..len) (an exact-size heap copy). Returns the final code; *n the
 * packets read, each checked against want[]. A file of 4 bytes or more (the magic) is read
 * again through capfile.c, which must give the same. */
static int read_all(const uint8_t *buf, size_t len, size_t *n)
{
    uint8_t *copy = len > 0 ? exact_copy(buf, len) : malloc(1);
    FILE *fp = fmemopen(copy, len > 0 ? len : 1, "rb");
    struct tw_pcapng r;
    struct tw_frame f, fs[TW_ARRAY_SIZE(want)];
    char err[256] = "";
    int lt, rc, lts[TW_ARRAY_SIZE(want)];

    assert_non_null(fp);
    if (len == 0) {
        fclose(fp);
        fp = fopen("/dev/null", "rb");
    }
    *n = 0;
    rc = tw_pcapng_open(&r, fp, err, sizeof(err));
    while (rc == 0 && (rc = tw_pcapng_next(&r, &f, &lt, err, sizeof(err))) == 1) {
        const struct expect_pkt *e = &want[*n];
        assert_int_equal(lt, e->linktype);
        assert_int_equal(f.ts_sec, e->sec);
        assert_int_equal(f.ts_nsec, e->nsec);
        assert_int_equal(f.caplen, strlen(e->data));
        assert_memory_equal(f.data, e->data, f.caplen);
        assert_int_equal(f.wirelen, e->wirelen);
        fs[*n] = f;
        fs[*n].data = (const uint8_t *)e->data;
        lts[*n] = lt;
        (*n)++;
        rc = 0;
    }
    char end_err[256];
    snprintf(end_err, sizeof(end_err), "%s", err);
    if (rc != TW_EOF)
        assert_int_equal(tw_pcapng_next(&r, &f, &lt, err, sizeof(err)), rc); /* sticky */
    tw_pcapng_close(&r);
    fclose(fp);
    free(copy);
    if (len >= 4)
        same_as_capfile(buf, len, fs, lts, *n, rc, end_err);
    return rc;
}

static void test_whole_both_orders(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        struct w w;
        size_t bounds[32], nb, n;
        size_t len = build(&w, big, bounds, &nb);
        assert_int_equal(read_all(w.buf, len, &n), TW_EOF);
        assert_int_equal(n, TW_ARRAY_SIZE(want));
        free(w.buf);
    }
}

/* Every prefix: never a crash; at a block boundary a clean end after the packets of the
 * blocks before it, inside a block "cut short" after the same packets. */
static void test_every_prefix(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        struct w w;
        size_t bounds[32], nb, n;
        size_t len = build(&w, big, bounds, &nb);
        /* packets complete before each boundary */
        static const size_t pk_at[] = {0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 4, 4, 5};
        assert_int_equal(nb, TW_ARRAY_SIZE(pk_at));
        for (size_t cut = 0; cut < len; cut++) {
            size_t b = 0;
            while (b + 1 < nb && bounds[b + 1] <= cut)
                b++;
            int rc = read_all(w.buf, cut, &n);
            assert_int_equal(n, pk_at[b]);
            if (cut == bounds[b] && b >= 1)
                assert_int_equal(rc, TW_EOF);
            else
                assert_int_equal(rc, TW_EINCOMPLETE);
        }
        free(w.buf);
    }
}

/* A block length of 0, 8, 13, past the bound, and a trailer that differs: malformed. */
static void test_bad_lengths(void **state)
{
    static const uint32_t bad[] = {0, 8, 13, 14, TW_PCAPNG_BLOCK_MAX + 4};
    (void)state;
    for (int big = 0; big < 2; big++) {
        struct w w;
        size_t bounds[32], nb, n;
        build(&w, big, bounds, &nb);
        size_t epb_at = bounds[4]; /* the first EPB */
        for (size_t i = 0; i < TW_ARRAY_SIZE(bad); i++) {
            struct w c = wdup(&w);
            set32(&c, epb_at + 4, bad[i]);
            assert_int_equal(read_all(c.buf, c.len, &n), TW_EMALFORMED);
            assert_int_equal(n, 0);
            free(c.buf);
        }
        /* the trailer */
        struct w c = wdup(&w);
        set32(&c, bounds[5] - 4, 1000);
        assert_int_equal(read_all(c.buf, c.len, &n), TW_EMALFORMED);
        /* a section header's length */
        free(c.buf);
        c = wdup(&w);
        set32(&c, 4, 16);
        assert_int_equal(read_all(c.buf, c.len, &n), TW_EMALFORMED);
        /* an interface id not described */
        free(c.buf);
        c = wdup(&w);
        set32(&c, epb_at + 8, 7);
        assert_int_equal(read_all(c.buf, c.len, &n), TW_EMALFORMED);
        /* a captured length past the block */
        free(c.buf);
        c = wdup(&w);
        set32(&c, epb_at + 20, 4000);
        assert_int_equal(read_all(c.buf, c.len, &n), TW_EMALFORMED);
        /* a byte-order magic that is neither order */
        free(c.buf);
        c = wdup(&w);
        set32(&c, 8, 0x12345678u);
        assert_int_equal(read_all(c.buf, c.len, &n), TW_EMALFORMED);
        free(c.buf);
        free(w.buf);
    }
}

/*
 * Read as a stream that arrives a byte at a time (a pipe): tw_capfile_ready() turns true with
 * the last byte of each packet block and not before, across the blocks that are no packet
 * (interfaces, an unknown block) and across a second section in the other byte order; then
 * the end. Every packet as read from a file.
 */
static void test_stream_ready(void **state)
{
    (void)state;
    static const size_t pkt_end[] = {5, 7, 8, 9, 12}; /* boundaries after a packet block */
    struct w w1, w2;
    size_t b1[32], b2[32], n1, n2, ends[10], n_ends = 0;
    size_t len1 = build(&w1, false, b1, &n1), len2 = build(&w2, true, b2, &n2);
    int fds[2], lt;
    char path[64], err[256];
    struct tw_capfile *c;
    struct tw_frame f;

    for (size_t i = 0; i < TW_ARRAY_SIZE(pkt_end); i++)
        ends[n_ends++] = b1[pkt_end[i]];
    for (size_t i = 0; i < TW_ARRAY_SIZE(pkt_end); i++)
        ends[n_ends++] = len1 + b2[pkt_end[i]];
    uint8_t *all = malloc(len1 + len2);
    assert_non_null(all);
    memcpy(all, w1.buf, len1);
    memcpy(all + len1, w2.buf, len2);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], all, b1[1]), (ssize_t)b1[1]); /* the section header */
    snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    assert_true(tw_capfile_fd(c) >= 0);
    size_t k = 0;
    for (size_t at = b1[1]; at < len1 + len2; at++) {
        assert_int_equal(tw_capfile_ready(c), false);
        assert_int_equal(write(fds[1], all + at, 1), 1);
        if (at + 1 < ends[k]) {
            continue;
        }
        assert_true(tw_capfile_ready(c));
        assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), 1);
        const struct expect_pkt *e = &want[k % TW_ARRAY_SIZE(want)];
        assert_int_equal(lt, e->linktype);
        assert_int_equal(f.ts_sec, e->sec);
        assert_int_equal(f.caplen, strlen(e->data));
        assert_memory_equal(f.data, e->data, f.caplen);
        k++;
    }
    assert_int_equal(k, n_ends);
    assert_false(tw_capfile_ready(c));
    close(fds[1]);
    assert_true(tw_capfile_ready(c));
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), TW_EOF);
    tw_capfile_close(c);
    close(fds[0]);
    free(all);
    free(w1.buf);
    free(w2.buf);
}


/* An EPB of n bytes of pattern k, with opt_comment options of opt bytes in all (0: none). */
static void epb_k(struct w *w, uint32_t ifid, uint64_t units, uint32_t n, uint32_t k, size_t opt)
{
    begin(w, TW_PCAPNG_EPB);
    put32(w, ifid);
    put32(w, (uint32_t)(units >> 32));
    put32(w, (uint32_t)units);
    put32(w, n);
    put32(w, n + 4);
    for (uint32_t i = 0; i < n; i++)
        put8(w, (uint8_t)(k * 31u + i));
    pad(w);
    for (; opt >= 4 + 65532; opt -= 4 + 65532) {
        put16(w, 1); /* opt_comment */
        put16(w, 65532);
        for (uint32_t i = 0; i < 65532; i++)
            put8(w, 'c');
    }
    put16(w, 0);
    put16(w, 0);
    end(w);
}

/* A block of an unknown type with n bytes of body. */
static void skip_block(struct w *w, size_t n)
{
    begin(w, 0x80000001u); /* a custom block type */
    for (size_t i = 0; i < n; i++)
        put8(w, (uint8_t)i);
    end(w);
}

/* Reads path both ways (stdio and capfile.c's blocks): the same frames, the same ending. A
 * frame in one of capfile.c's read blocks is held; big_ts, a packet in a block larger than
 * those, is not, unless the file is mapped. Returns the frames read. */
static size_t both_readers(const char *path, int64_t big_ts, int *end)
{
    FILE *fp = fopen(path, "rb");
    struct tw_pcapng r;
    struct tw_capfile *c;
    struct tw_frame f, g;
    char err[512], err2[512];
    int lt, lt2, rc, rc2;
    size_t n = 0;

    assert_non_null(fp);
    rc = tw_pcapng_open(&r, fp, err, sizeof(err));
    rc2 = tw_capfile_open(path, &c, err2, sizeof(err2));
    assert_int_equal(rc2, rc);
    if (rc != 0) { /* the section header is cut */
        assert_non_null(strstr(err2, err));
        *end = rc;
        tw_pcapng_close(&r);
        fclose(fp);
        return 0;
    }
    for (;;) {
        rc = tw_pcapng_next(&r, &f, &lt, err, sizeof(err));
        rc2 = tw_capfile_next(c, &g, &lt2, err2, sizeof(err2));
        assert_int_equal(rc2, rc);
        if (rc != 1)
            break;
        assert_same_frame(&g, lt2, &f, lt);
        if (g.ts_sec == big_ts && suite_mode == TW_CAPFILE_MAP_NEVER)
            assert_null(g.hold); /* read apart; a mapped file holds every block in place */
        else
            assert_non_null(g.hold);
        n++;
    }
    if (rc != TW_EOF)
        assert_non_null(strstr(err2, err));
    *end = rc;
    tw_capfile_close(c);
    tw_pcapng_close(&r);
    fclose(fp);
    return n;
}

/*
 * Files of some 10 MiB in both byte orders: packets of every size up to libpcap's largest
 * (262144 bytes), blocks that cross capfile.c's 2 MiB read blocks, a custom block and a packet
 * block of 3 MiB (larger than a read block), on three interfaces. capfile.c must read them as
 * the stdio reader does, whole and cut at many points, inside the large blocks too.
 */
static void test_large_blocks(void **state)
{
    static const uint32_t sizes[] = {0, 1, 14, 60, 1514, 9000, 65535, 131072, 262144};
    (void)state;
    for (int big = 0; big < 2; big++) {
        struct w w = {.big = big};
        uint64_t rng = 0x9e3779b97f4a7c15ULL;
        uint32_t k = 0;
        size_t big_skip = 0, big_epb = 0;
        shb(&w);
        idb(&w, 1, -1, 0);
        idb(&w, 101, 9, 0);
        idb(&w, 113, 0x80 | 20, 0);
        while (w.len < (10u << 20)) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            uint32_t n = sizes[rng % TW_ARRAY_SIZE(sizes)];
            if ((rng >> 8) & 1)
                n = (uint32_t)(rng >> 16) % 2000;
            if (k == 40) {
                big_skip = w.len;
                skip_block(&w, 3u << 20);
            }
            if (k == 60) {
                big_epb = w.len;
                epb_k(&w, 0, UINT64_C(1700000060000000), 100, k, 3u << 20);
            } else {
                /* seconds k in each interface's units */
                static const uint64_t per_s[] = {1000000, 1000000000, 1u << 20};
                uint32_t ifid = k % 3;
                epb_k(&w, ifid, (1700000000 + (uint64_t)k) * per_s[ifid], n, k, 0);
            }
            k++;
        }
        assert_true(big_epb > big_skip && big_skip > 0);
        char *path = write_tmp(w.buf, w.len);
        int end;
        assert_int_equal(both_readers(path, 1700000060, &end), k);
        assert_int_equal(end, TW_EOF);
        /* read by two threads, once between them (the replay workers) */
        assert_shared_readers_agree(path, 2, 0);
        free(path);
        size_t cuts[] = {12, 40, big_skip + 5, big_skip + (1u << 20), big_skip + (3u << 20),
                         big_epb + 30, big_epb + (2u << 20), (4u << 20) + 3, w.len / 2 + 1,
                         w.len - 1};
        for (size_t i = 0; i < TW_ARRAY_SIZE(cuts); i++) {
            path = write_tmp(w.buf, cuts[i]);
            both_readers(path, 1700000060, &end);
            assert_int_equal(end, TW_EINCOMPLETE);
            assert_shared_readers_agree(path, 2, 0);
            free(path);
        }
        free(w.buf);
    }
}

/* ---- the merge ---- */

/* A classic pcap file (microseconds, Ethernet) with packets at the given times (ms); each
 * packet's data is "F<file>P<n>". */
static void write_pcap(const char *path, int file, const int *ms, size_t n)
{
    FILE *fp = fopen(path, "wb");
    const uint32_t hdr[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};

    assert_non_null(fp);
    assert_int_equal(fwrite(hdr, 4, 6, fp), 6);
    for (size_t i = 0; i < n; i++) {
        char data[16];
        int len = snprintf(data, sizeof(data), "F%dP%zu", file, i);
        uint32_t rec[4] = {(uint32_t)(1000 + ms[i] / 1000), (uint32_t)(ms[i] % 1000) * 1000,
                           (uint32_t)len, (uint32_t)len};
        assert_int_equal(fwrite(rec, 4, 4, fp), 4);
        assert_int_equal(fwrite(data, 1, (size_t)len, fp), (size_t)len);
    }
    assert_int_equal(fclose(fp), 0);
}

static void test_merge_order(void **state)
{
    static const int a[] = {0, 10, 20, 30};
    static const int b[] = {5, 10, 25};          /* a tie with a's 10 ms: a first (added first) */
    static const int c[] = {5000, 5001};         /* later: opened only when reached */
    static const char *const want_order[] = {"F0P0", "F1P0", "F0P1", "F1P1", "F0P2",
                                             "F1P2", "F0P3", "F2P0", "F2P1"};
    char pa[64], pb[64], pc[64], pe[64];
    struct tw_merge *m = tw_merge_new();
    struct tw_merge_stats st;
    struct tw_frame f;
    char err[256];
    size_t file, k = 0, max_open = 0;
    int lt, rc;

    (void)state;
    snprintf(pa, sizeof(pa), "%s/a.pcap", dir);
    snprintf(pb, sizeof(pb), "%s/b.pcap", dir);
    snprintf(pc, sizeof(pc), "%s/c.pcap", dir);
    snprintf(pe, sizeof(pe), "%s/empty.pcap", dir);
    write_pcap(pa, 0, a, TW_ARRAY_SIZE(a));
    write_pcap(pb, 1, b, TW_ARRAY_SIZE(b));
    write_pcap(pc, 2, c, TW_ARRAY_SIZE(c));
    write_pcap(pe, 3, NULL, 0);
    assert_non_null(m);
    /* added out of time order: c first */
    assert_int_equal(tw_merge_add(m, pc, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, pa, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, pe, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, pb, err, sizeof(err)), 0);
    while ((rc = tw_merge_next(m, &f, &lt, &file, err, sizeof(err))) == 1) {
        char got[16];
        assert_true(k < TW_ARRAY_SIZE(want_order));
        snprintf(got, sizeof(got), "%.*s", (int)f.caplen, (const char *)f.data);
        assert_string_equal(got, want_order[k]);
        /* file indices are the order of tw_merge_add: c=0, a=1, empty=2, b=3 */
        static const size_t idx_of[] = {1, 3, 0};
        assert_int_equal(file, idx_of[got[1] - '0']);
        assert_int_equal(lt, 1);
        tw_merge_get_stats(m, &st);
        max_open = TW_MAX(max_open, (size_t)st.files_open);
        k++;
    }
    assert_int_equal(rc, TW_EOF);
    assert_int_equal(k, TW_ARRAY_SIZE(want_order));
    assert_int_equal(max_open, 2); /* c is opened once a and b are done */
    tw_merge_get_stats(m, &st);
    assert_int_equal(st.files, 4);
    assert_int_equal(st.files_done, 4);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.frames, TW_ARRAY_SIZE(want_order));
    assert_int_equal(st.bytes_done, st.bytes_total);
    tw_merge_free(m);
}

/* A pcapng with two link types merged with a pcap; then a file cut short: its packets before
 * the cut come, the error names it, the others go on. */
static void test_merge_pcapng_and_cut(void **state)
{
    static const int a[] = {0, 3000, 4000};
    char pa[64], png[64], pcut[64];
    struct w w;
    size_t bounds[32], nb, file, n = 0, errors = 0;
    struct tw_merge *m = tw_merge_new();
    struct tw_frame f;
    char err[256];
    int lt, rc, lts[16];

    (void)state;
    snprintf(pa, sizeof(pa), "%s/a2.pcap", dir);
    snprintf(png, sizeof(png), "%s/x.pcapng", dir);
    snprintf(pcut, sizeof(pcut), "%s/cut.pcapng", dir);
    write_pcap(pa, 0, a, TW_ARRAY_SIZE(a));
    size_t len = build(&w, true, bounds, &nb);
    FILE *fp = fopen(png, "wb");
    assert_int_equal(fwrite(w.buf, 1, len, fp), len);
    fclose(fp);
    fp = fopen(pcut, "wb");
    assert_int_equal(fwrite(w.buf, 1, bounds[7] + 10, fp), bounds[7] + 10); /* inside a block */
    fclose(fp);
    free(w.buf);
    assert_int_equal(tw_merge_add(m, pa, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, png, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, pcut, err, sizeof(err)), 0);
    int64_t last = 0;
    while ((rc = tw_merge_next(m, &f, &lt, &file, err, sizeof(err))) != TW_EOF) {
        if (rc < 0) {
            assert_non_null(strstr(err, "cut.pcapng: pcapng block at offset"));
            errors++;
            continue;
        }
        assert_true(f.ts_sec >= last);
        last = f.ts_sec;
        if (n < TW_ARRAY_SIZE(lts))
            lts[n] = lt;
        n++;
    }
    /* a2: 3 packets at 1000..1004 s; x: 5; cut: its first 2 packets */
    assert_int_equal(n, 3 + 5 + 2);
    assert_int_equal(errors, 1);
    assert_int_equal(lts[0], 1); /* a2's first packet at 1000 s comes first */
    struct tw_merge_stats st;
    tw_merge_get_stats(m, &st);
    assert_int_equal(st.files_failed, 1);
    assert_int_equal(st.files_done, 2);
    tw_merge_free(m);
}

static void test_not_a_capture(void **state)
{
    char p[64], err[256];
    struct tw_merge *m = tw_merge_new();

    (void)state;
    snprintf(p, sizeof(p), "%s/text.pcap", dir);
    FILE *fp = fopen(p, "w");
    fputs("hello, not a capture\n", fp);
    fclose(fp);
    assert_int_equal(tw_merge_add(m, p, err, sizeof(err)), TW_EMALFORMED);
    assert_non_null(strstr(err, "text.pcap: not a capture file"));
    snprintf(p, sizeof(p), "%s/missing.pcap", dir);
    assert_int_equal(tw_merge_add(m, p, err, sizeof(err)), TW_EIO);
    assert_non_null(strstr(err, "missing.pcap: No such file or directory"));
    tw_merge_free(m);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/tw_test_pcapng.XXXXXX"); /* a template again for each group */
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_both_orders),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_large_blocks),
        cmocka_unit_test(test_merge_order),
        cmocka_unit_test(test_stream_ready),
        cmocka_unit_test(test_merge_pcapng_and_cut),
        cmocka_unit_test(test_not_a_capture),
    };
    /* Regular files copied with read(2), then mapped, the parts let go of made inaccessible
     * (a frame read after its hold was let go of faults). */
    tw_capfile_set_map(suite_mode = TW_CAPFILE_MAP_NEVER);
    int a = tw_run_tests_name("pcapng, read(2)", tests, setup, teardown);
    tw_capfile_set_map(suite_mode = TW_CAPFILE_MAP_CHECK);
    int b = tw_run_tests_name("pcapng, mapped", tests, setup, teardown);
    return a == 1 || b == 1 ? 1 : a == 77 || b == 77 ? 77 : 0;
}
