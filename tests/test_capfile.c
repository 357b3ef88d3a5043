/* SPDX-License-Identifier: MIT */
/*
 * The classic pcap reader (capture/capfile.c) against libpcap as the oracle: files written
 * here in both byte orders, with microsecond, nanosecond and Kuznetzov's modified records,
 * versions 2.2 to 2.4 (lengths written swapped before 2.3), records of every size up to
 * libpcap's maximum crossing the reader's 1 MiB blocks, cut at many points, and a record over
 * the maximum: the same frames (time, lengths, bytes) and an error exactly where libpcap gives
 * one. Then frames held across reads (struct tw_hold): their bytes stay put while held, by
 * one thread or by a consumer thread that lets them go in batches.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "test_frame.h"
#include "test_util.h"
#include "tunwatch/capture/capfile.h"

/* The reading mode the suite runs in (main). */
static enum tw_capfile_map suite_mode;

/* ---- a classic pcap writer ---- */

struct pw {
    uint8_t *buf;
    size_t len, cap;
    bool big;   /* big-endian file */
    bool nano;  /* nanosecond magic */
    bool kuz;   /* Kuznetzov's 24-byte record headers */
    uint16_t minor;
    uint32_t snaplen; /* 0: 262144 */
};

static void grow(struct pw *w, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2;
        w->buf = realloc(w->buf, w->cap);
        assert_non_null(w->buf);
    }
}

static void put(struct pw *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2;
        w->buf = realloc(w->buf, w->cap);
        assert_non_null(w->buf);
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put32(struct pw *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[w->big ? i : 3 - i] = (uint8_t)(v >> (24 - 8 * i));
    put(w, b, 4);
}

static void put16(struct pw *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(w->big ? v >> 8 : v), (uint8_t)(w->big ? v : v >> 8)};
    put(w, b, 2);
}

static void pw_header(struct pw *w, uint32_t linktype)
{
    put32(w, w->kuz ? 0xa1b2cd34u : w->nano ? 0xa1b23c4du : 0xa1b2c3d4u);
    put16(w, 2);
    put16(w, w->minor);
    put32(w, 0);
    put32(w, 0);
    put32(w, w->snaplen ? w->snaplen : 262144);
    put32(w, linktype);
}

/* A record whose bytes are a function of its index k. */
static void pw_record(struct pw *w, uint32_t k, uint32_t caplen, uint32_t len)
{
    put32(w, 1700000000u + k);
    put32(w, (k * 7919u) % (w->nano ? 1000000000u : 1000000u));
    bool swap = w->minor < 3 || (w->minor == 3 && caplen > len);
    put32(w, swap ? len : caplen);
    put32(w, swap ? caplen : len);
    if (w->kuz) {
        put32(w, 1);
        put32(w, 0x00080000u);
    }
    grow(w, caplen);
    for (uint32_t i = 0; i < caplen; i++)
        w->buf[w->len++] = (uint8_t)(k * 31u + i);
}

static char *write_file(const uint8_t *b, size_t n)
{
    char *path = strdup("/tmp/tw-capfile-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    close(fd);
    return path;
}

/* Removes the file at path and frees it and w's bytes. */
static void drop(char *path, struct pw *w)
{
    unlink(path);
    free(path);
    free(w->buf);
}

/* ---- the comparison ---- */

/* Reads path with both readers; every frame equal, and both end at the same record, with an
 * error or without. Returns the frames read. */
static size_t compare(const char *path, int want_linktype)
{
    char err[512], perr[PCAP_ERRBUF_SIZE];
    struct tw_capfile *c;
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
    int rc = tw_capfile_open(path, &c, err, sizeof(err));

    if (p == NULL) {
        assert_true(rc < 0);
        return 0;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(tw_capfile_linktype(c), want_linktype);
    size_t n = 0;
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *bytes;
        struct tw_frame f;
        int lt;
        int prc = pcap_next_ex(p, &h, &bytes);
        rc = tw_capfile_next(c, &f, &lt, err, sizeof(err));
        if (prc != 1) {
            /* libpcap: -2 at the end, -1 on an error */
            assert_int_equal(rc, prc == PCAP_ERROR_BREAK ? TW_EOF : TW_EMALFORMED);
            if (rc != TW_EOF)
                assert_non_null(strstr(err, path));
            break;
        }
        assert_int_equal(rc, 1);
        assert_int_equal(f.ts_sec, h->ts.tv_sec);
        assert_int_equal(f.ts_nsec, (uint32_t)h->ts.tv_usec);
        assert_int_equal(f.caplen, h->caplen);
        assert_int_equal(f.wirelen, h->len < h->caplen ? h->caplen : h->len);
        assert_memory_equal(f.data, bytes, h->caplen);
        assert_non_null(f.hold);
        n++;
    }
    pcap_close(p);
    tw_capfile_close(c);
    return n;
}

/* Every format variant, records of small and large sizes; the files cut at many points. */
static void test_against_libpcap(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {0, 1, 14, 60, 1514, 9000, 65535, 131072, 262144};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    for (int variant = 0; variant < 2 * 3 * 3; variant++) {
        struct pw w = {.big = variant & 1, .nano = (variant >> 1) % 3 == 1,
                       .kuz = (variant >> 1) % 3 == 2, .minor = (uint16_t)(2 + variant / 6)};
        pw_header(&w, 1);
        /* 6 MiB and more: records cross the reader's blocks. */
        uint32_t k = 0;
        while (w.len < (6u << 20)) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            uint32_t caplen = sizes[rng % TW_ARRAY_SIZE(sizes)];
            if ((rng >> 8) & 1)
                caplen = (uint32_t)(rng >> 16) % 2000;
            uint32_t len = caplen + ((rng >> 40) & 1 ? (uint32_t)(rng >> 44) % 100 : 0);
            pw_record(&w, k++, caplen, len);
        }
        char *path = write_file(w.buf, w.len);
        assert_int_equal(compare(path, 1), k);
        unlink(path);
        free(path);
        /* Cut: in the file header, in record headers and in record bytes. */
        size_t cuts[] = {0, 4, 23, 24, 25, 24 + 15, 24 + 16, w.len / 3, w.len / 2 + 1,
                         (4u << 20) + 3, w.len - 1};
        for (size_t i = 0; i < TW_ARRAY_SIZE(cuts); i++) {
            path = write_file(w.buf, cuts[i]);
            compare(path, 1);
            unlink(path);
            free(path);
        }
        free(w.buf);
    }
}

/* Link type with FCS bits set; a record longer than libpcap's maximum; archaic versions. */
static void test_header_cases(void **state)
{
    (void)state;
    struct pw w = {.minor = 4};
    pw_header(&w, 101u | 0x04000000u | (4u << 28)); /* LINKTYPE_RAW, FCS length 4 */
    pw_record(&w, 0, 40, 40);
    char *path = write_file(w.buf, w.len);
    char err[512];
    struct tw_capfile *c;
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    assert_int_equal(tw_capfile_linktype(c), 101);
    tw_capfile_close(c);
    drop(path, &w);

    w = (struct pw){.minor = 4};
    pw_header(&w, 1);
    pw_record(&w, 0, 60, 60);
    pw_record(&w, 1, 262145, 262145);
    path = write_file(w.buf, w.len);
    assert_int_equal(compare(path, 1), 1);
    struct tw_frame f;
    int lt;
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), 1);
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), TW_EMALFORMED);
    assert_non_null(strstr(err, "invalid packet capture length 262145"));
    tw_capfile_close(c);
    drop(path, &w);

    /* Records longer than the file's snapshot length: read whole, as Wireshark does
     * (libpcap cuts them to it). */
    w = (struct pw){.minor = 4, .snaplen = 100};
    pw_header(&w, 1);
    pw_record(&w, 0, 1000, 1000);
    path = write_file(w.buf, w.len);
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), 1);
    assert_int_equal(f.caplen, 1000);
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), TW_EOF);
    tw_capfile_close(c);
    drop(path, &w);

    w = (struct pw){.minor = 4};
    pw_header(&w, 1);
    w.buf[w.big ? 5 : 4] = 1; /* version 1.4 */
    path = write_file(w.buf, w.len);
    assert_true(tw_capfile_open(path, &c, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "archaic"));
    drop(path, &w);
}

/* ---- holds ---- */

static char *big_file(uint32_t *n_records)
{
    struct pw w = {.minor = 4};
    uint32_t k = 0;

    pw_header(&w, 1);
    while (w.len < (40u << 20)) {
        uint32_t caplen = 60 + (k * 977u) % 1455;
        pw_record(&w, k++, caplen, caplen);
    }
    char *path = write_file(w.buf, w.len);
    free(w.buf);
    *n_records = k;
    return path;
}

static bool frame_intact_k(const struct tw_frame *f, uint32_t k)
{
    if ((uint32_t)(f->ts_sec - 1700000000) != k)
        return false;
    for (uint32_t i = 0; i < f->caplen; i++)
        if (f->data[i] != (uint8_t)(k * 31u + i))
            return false;
    return true;
}

static bool frame_intact(const struct tw_frame *f)
{
    uint32_t k = (uint32_t)(f->ts_sec - 1700000000);
    if (f->caplen != 60 + (k * 977u) % 1455)
        return false;
    for (uint32_t i = 0; i < f->caplen; i++)
        if (f->data[i] != (uint8_t)(k * 31u + i))
            return false;
    return true;
}

/* One thread: frames held (in the first 20,000 records: about 15 of the reader's 32 blocks)
 * stay intact while about 12 more blocks are read; once let go of, the reader goes on to the
 * end (it would wait for them forever otherwise). */
static void test_hold_one_thread(void **state)
{
    (void)state;
    uint32_t n;
    char *path = big_file(&n);
    char err[512];
    struct tw_capfile *c;
    struct tw_frame f, kept[64];
    int lt;
    size_t n_kept = 0;
    uint32_t read = 0;

    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    while (tw_capfile_next(c, &f, &lt, err, sizeof(err)) == 1) {
        read++;
        if (read % 997 == 1 && n_kept < TW_ARRAY_SIZE(kept) && read < 20000) {
            tw_hold_take(f.hold);
            kept[n_kept++] = f;
        }
        if (read == 20000 + 15900) {
            for (size_t i = 0; i < n_kept; i++) {
                assert_true(frame_intact(&kept[i]));
                tw_hold_put(kept[i].hold, 1);
            }
            n_kept = 0;
        }
    }
    assert_int_equal(read, n);
    tw_capfile_close(c);
    unlink(path);
    free(path);
}

/* A consumer thread gets every frame by pointer, checks its bytes and lets it go in batches
 * (as a worker does); the reader waits for blocks, waking it through the stall callback. */
struct queue {
    struct tw_frame q[1024];
    _Atomic uint32_t head, tail;
    _Atomic bool done;
    _Atomic uint64_t stalls;
    uint32_t checked, bad;
};

static void *consumer(void *arg)
{
    struct queue *q = arg;
    struct tw_hold *pending = NULL;
    uint64_t n_pending = 0;

    for (;;) {
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (t == atomic_load_explicit(&q->head, memory_order_acquire)) {
            if (pending != NULL) {
                tw_hold_put(pending, n_pending);
                pending = NULL;
            }
            if (atomic_load(&q->done) && t == atomic_load(&q->head))
                break;
            usleep(100);
            continue;
        }
        const struct tw_frame *f = &q->q[t % 1024];
        q->checked++;
        q->bad += !frame_intact(f);
        if (f->hold != pending) {
            if (pending != NULL)
                tw_hold_put(pending, n_pending);
            pending = f->hold;
            n_pending = 0;
        }
        n_pending++;
        atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    }
    return NULL;
}

static void stall(void *ctx)
{
    struct queue *q = ctx;
    atomic_fetch_add(&q->stalls, 1);
}

static void test_hold_consumer_thread(void **state)
{
    (void)state;
    uint32_t n;
    char *path = big_file(&n);
    char err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    int lt;
    static struct queue q;
    pthread_t th;

    memset(&q, 0, sizeof(q));
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    tw_capfile_set_stall(c, stall, &q);
    assert_int_equal(pthread_create(&th, NULL, consumer, &q), 0);
    while (tw_capfile_next(c, &f, &lt, err, sizeof(err)) == 1) {
        uint32_t h = atomic_load_explicit(&q.head, memory_order_relaxed);
        while (h - atomic_load_explicit(&q.tail, memory_order_acquire) >= 1024)
            usleep(50);
        tw_hold_take(f.hold);
        q.q[h % 1024] = f;
        atomic_store_explicit(&q.head, h + 1, memory_order_release);
    }
    atomic_store(&q.done, true);
    tw_capfile_close(c); /* waits for the consumer to let go of the last blocks */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(q.checked, n);
    assert_int_equal(q.bad, 0);
    unlink(path);
    free(path);
}

/* A stream is read only as far as the next record: a record is handed out as soon as it
 * arrived, not when a block's worth did (tcpdump -w - | tunwatch -r -). */
struct pipe_writer {
    int fd;
    _Atomic bool got_first;
    bool timed_out;
};

static void *pipe_write(void *arg)
{
    struct pipe_writer *pw = arg;
    struct pw w = {.minor = 4};

    pw_header(&w, 1);
    pw_record(&w, 0, 100, 100);
    size_t first = w.len;
    pw_record(&w, 1, 200, 200);
    assert_int_equal(write(pw->fd, w.buf, first), (ssize_t)first);
    for (int i = 0; i < 5000 && !atomic_load(&pw->got_first); i++)
        usleep(1000);
    pw->timed_out = !atomic_load(&pw->got_first);
    assert_int_equal(write(pw->fd, w.buf + first, w.len - first), (ssize_t)(w.len - first));
    close(pw->fd);
    free(w.buf);
    return NULL;
}

static void test_stream_record_at_once(void **state)
{
    (void)state;
    int fds[2];
    char path[64], err[512];
    struct pipe_writer pw = {0};
    pthread_t th;
    struct tw_capfile *c;
    struct tw_frame f;
    int lt;

    assert_int_equal(pipe(fds), 0);
    pw.fd = fds[1];
    assert_int_equal(pthread_create(&th, NULL, pipe_write, &pw), 0);
    snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), 1);
    assert_int_equal(f.caplen, 100);
    atomic_store(&pw.got_first, true);
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), 1);
    assert_int_equal(f.caplen, 200);
    assert_true(frame_intact_k(&f, 1));
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), TW_EOF);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_false(pw.timed_out);
    tw_capfile_close(c);
    close(fds[0]);
}

/* Whether descriptors a and b are the same open pipe or file (/dev/fd/N opens a new one). */
static bool same_file(int a, int b)
{
    struct stat sa, sb;

    return a >= 0 && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

/* Writes all of b[0, n) to fd. */
static void write_all(int fd, const uint8_t *b, size_t n)
{
    assert_int_equal(write(fd, b, n), (ssize_t)n);
}

/*
 * A stream that goes quiet says so instead of making its reader wait (tcpdump -w - |
 * tunwatch -r -): tw_capfile_ready() is false while the next record has not arrived whole,
 * byte by byte too (a writer's buffer cuts records anywhere), and true once it has, or once
 * the stream ended. The merge says the same and names the descriptor to wait on.
 */
static void test_stream_ready(void **state)
{
    (void)state;
    int fds[2];
    char path[64], err[512];
    struct pw w = {.minor = 4, .big = true};
    struct tw_merge *m;
    struct tw_frame f;
    size_t file;
    int lt;

    pw_header(&w, 1);
    pw_record(&w, 0, 60, 60);
    size_t first = w.len;
    pw_record(&w, 1, 300, 1500);
    size_t second = w.len;
    pw_record(&w, 2, 70, 70);
    assert_int_equal(pipe(fds), 0);
    write_all(fds[1], w.buf, first);
    snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
    assert_non_null(m = tw_merge_new());
    assert_int_equal(tw_merge_add(m, path, err, sizeof(err)), 0); /* reads record 0 */
    assert_true(tw_merge_has_stream(m));
    assert_true(tw_merge_ready(m)); /* record 0, read when the stream was added */
    assert_int_equal(tw_merge_next(m, &f, &lt, &file, err, sizeof(err)), 1);
    assert_int_equal(f.caplen, 60);
    assert_false(tw_merge_ready(m));
    assert_true(same_file(tw_merge_wait_fd(m), fds[0]));
    /* record 1 one byte at a time: not ready until its last byte */
    for (size_t i = first; i < second; i++) {
        assert_false(tw_merge_ready(m));
        write_all(fds[1], w.buf + i, 1);
    }
    assert_true(tw_merge_ready(m));
    assert_int_equal(tw_merge_next(m, &f, &lt, &file, err, sizeof(err)), 1);
    assert_int_equal(f.caplen, 300);
    assert_int_equal(f.wirelen, 1500);
    assert_true(frame_intact_k(&f, 1));
    assert_false(tw_merge_ready(m));
    /* record 2 and the end together */
    write_all(fds[1], w.buf + second, w.len - second);
    close(fds[1]);
    assert_true(tw_merge_ready(m));
    assert_int_equal(tw_merge_next(m, &f, &lt, &file, err, sizeof(err)), 1);
    assert_int_equal(f.caplen, 70);
    assert_true(frame_intact_k(&f, 2));
    assert_true(tw_merge_ready(m));
    assert_int_equal(tw_merge_next(m, &f, &lt, &file, err, sizeof(err)), TW_EOF);
    tw_merge_free(m);
    close(fds[0]);

    /* Cut inside a record: ready (the stream ended), and the reader says it was cut. */
    struct tw_capfile *c;
    assert_int_equal(pipe(fds), 0);
    write_all(fds[1], w.buf, first + 20);
    snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
    assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
    assert_true(same_file(tw_capfile_fd(c), fds[0]));
    assert_true(tw_capfile_ready(c));
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), 1);
    assert_false(tw_capfile_ready(c));
    close(fds[1]);
    assert_true(tw_capfile_ready(c));
    assert_int_equal(tw_capfile_next(c, &f, &lt, err, sizeof(err)), TW_EMALFORMED);
    assert_non_null(strstr(err, "truncated dump file"));
    tw_capfile_close(c);
    close(fds[0]);
    free(w.buf);
}

/* A merge whose caller still holds frames of a file when the file ends (a burst not read
 * yet) goes on: the file is closed later, once nothing of it is held (no wait on oneself). */
static void test_merge_held_at_end(void **state)
{
    (void)state;
    struct pw w = {.minor = 4};
    pw_header(&w, 1);
    for (uint32_t k = 0; k < 40; k++)
        pw_record(&w, k, 100 + k, 100 + k);
    char *p1 = write_file(w.buf, w.len), *p2 = write_file(w.buf, w.len);
    free(w.buf);
    char err[512];
    struct tw_merge *m = tw_merge_new();
    struct tw_frame f, kept[80];
    int lt, rc;
    size_t file, n = 0;

    assert_non_null(m);
    assert_int_equal(tw_merge_add(m, p1, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, p2, err, sizeof(err)), 0);
    assert_false(tw_merge_mapped(m)); /* no packet handed out yet */
    alarm(20);                        /* a wait on itself would hang here */
    while ((rc = tw_merge_next(m, &f, &lt, &file, err, sizeof(err))) == 1) {
        assert_true(n < TW_ARRAY_SIZE(kept));
        /* Small files are mapped only when told to (the tests' CHECK is ALWAYS). */
        assert_int_equal(tw_merge_mapped(m), suite_mode == TW_CAPFILE_MAP_CHECK);
        tw_hold_take(f.hold);
        kept[n++] = f;
    }
    alarm(0);
    assert_int_equal(rc, TW_EOF);
    assert_int_equal(n, 80);
    for (size_t i = 0; i < n; i++) {
        assert_true(frame_intact_k(&kept[i], (uint32_t)(i / 2)));
        tw_hold_put(kept[i].hold, 1);
    }
    tw_merge_free(m);
    unlink(p1);
    unlink(p2);
    free(p1);
    free(p2);
}

/* A copy of a merge that has not started reads the same frames in the same order, from the
 * files' start, without the files being added again; a started merge is not copied. */
static void test_merge_copy(void **state)
{
    (void)state;
    struct pw w1 = {.minor = 4}, w2 = {.minor = 4};
    pw_header(&w1, 1);
    pw_header(&w2, 1);
    for (uint32_t k = 0; k < 30; k++) {
        pw_record(&w1, 2 * k, 100 + k, 100 + k);
        pw_record(&w2, 2 * k + 1, 200 + k, 200 + k);
    }
    char *p1 = write_file(w1.buf, w1.len), *p2 = write_file(w2.buf, w2.len);
    free(w1.buf);
    free(w2.buf);
    char err[512];
    struct tw_merge *m = tw_merge_new(), *c;
    struct tw_frame f, g;
    int lt, lt2, rc, rc2;
    size_t file, file2, n = 0;

    assert_non_null(m);
    assert_int_equal(tw_merge_add(m, p1, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_add(m, p2, err, sizeof(err)), 0);
    c = tw_merge_copy(m);
    assert_non_null(c);
    do {
        rc = tw_merge_next(m, &f, &lt, &file, err, sizeof(err));
        rc2 = tw_merge_next(c, &g, &lt2, &file2, err, sizeof(err));
        assert_int_equal(rc, rc2);
        if (rc != 1)
            break;
        assert_int_equal(file, file2);
        assert_same_frame(&f, lt, &g, lt2);
        n++;
    } while (true);
    assert_int_equal(rc, TW_EOF);
    assert_int_equal(n, 60);
    assert_null(tw_merge_copy(m)); /* started */
    tw_merge_free(c);
    tw_merge_free(m);
    unlink(p1);
    unlink(p2);
    free(p1);
    free(p2);
}

/*
 * Readers of one file in threads of their own, reading its blocks once between them
 * (tw_capfile_open_shared): the frames each gets are those of the file read alone, with
 * records that cross blocks (every size up to libpcap's largest, Kuznetzov's headers), files
 * cut inside a record or its header (the same error for every reader), a reader that is
 * slow now and then, and one that stops early.
 */
static void test_shared_readers(void **state)
{
    (void)state;
    uint32_t n;
    char *path = big_file(&n); /* 40 MiB: more blocks than the shared slots */

    assert_shared_readers_agree(path, 2, 0);
    assert_shared_readers_agree(path, 3, 0);
    assert_shared_readers_agree(path, 2, n / 3); /* the others go on alone */
    assert_shared_readers_agree(path, 3, 10);
    unlink(path);
    free(path);

    /* a file that ends with a record exactly where a shared block ends (3 MiB): the next
     * block is empty, the end of the file */
    struct pw e = {.minor = 4};
    uint32_t n_e = 0;
    pw_header(&e, 1);
    while (e.len + 16 + 1514 < (3u << 20))
        pw_record(&e, n_e++, 1514, 1514);
    pw_record(&e, n_e, (uint32_t)((3u << 20) - e.len - 16), 1514);
    assert_int_equal(e.len, 3u << 20);
    path = write_file(e.buf, e.len);
    assert_shared_readers_agree(path, 2, 0);
    unlink(path);
    free(path);
    free(e.buf);

    for (int kuz = 0; kuz < 2; kuz++) {
        struct pw w = {.minor = 4, .kuz = kuz, .big = kuz};
        uint64_t rng = 0x2545f4914f6cdd1dULL;
        uint32_t k = 0;
        pw_header(&w, 1);
        while (w.len < (24u << 20)) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            static const uint32_t sizes[] = {0, 1, 60, 1514, 9000, 65535, 131072, 262144};
            uint32_t caplen = (rng >> 8) & 1 ? (uint32_t)(rng >> 20) % 3000
                                             : sizes[rng % TW_ARRAY_SIZE(sizes)];
            pw_record(&w, k++, caplen, caplen + 4);
        }
        path = write_file(w.buf, w.len);
        assert_shared_readers_agree(path, 2, 0);
        unlink(path);
        free(path);
        /* cut inside records and headers, at and around the blocks' edges */
        size_t cuts[] = {24 + 7, (2u << 20) - 3, (2u << 20) + 5, (4u << 20) + 1,
                         (16u << 20) + 9, (18u << 20) - 1, w.len - 1};
        for (size_t i = 0; i < TW_ARRAY_SIZE(cuts); i++) {
            path = write_file(w.buf, cuts[i]);
            assert_shared_readers_agree(path, 2, 0);
            unlink(path);
            free(path);
        }
        free(w.buf);
    }
}

/* A reader that opened another file than the first reader did (the file was replaced
 * between the openings) reads its own: it is not handed the first file's blocks, and the
 * first does not wait for it. */
static void test_shared_replaced(void **state)
{
    (void)state;
    struct pw a = {.minor = 4}, b = {.minor = 4};
    pw_header(&a, 1);
    pw_header(&b, 1);
    for (uint32_t k = 0; a.len < (20u << 20); k++) {
        pw_record(&a, k, 1000, 1000);
        pw_record(&b, k + 1, 1000, 1000);
    }
    char *path = write_file(a.buf, a.len);
    struct tw_capshare *sh = tw_capshare_new(2);
    struct tw_capfile *c1, *c2;
    struct tw_frame f, g;
    char err[512];
    int lt, rc1 = 1, rc2 = 1;
    size_t n = 0;

    assert_non_null(sh);
    assert_int_equal(tw_capfile_open_shared(path, sh, &c1, err, sizeof(err)), 0);
    unlink(path);
    free(path);
    path = write_file(b.buf, b.len);
    assert_int_equal(tw_capfile_open_shared(path, sh, &c2, err, sizeof(err)), 0);
    alarm(20);
    while (rc1 == 1) { /* all of the first, then all of the second: no waiting on each other */
        if ((rc1 = tw_capfile_next(c1, &f, &lt, err, sizeof(err))) == 1) {
            assert_true(frame_intact_k(&f, (uint32_t)n));
            n++;
        }
    }
    assert_int_equal(rc1, TW_EOF);
    for (size_t k = 0; (rc2 = tw_capfile_next(c2, &g, &lt, err, sizeof(err))) == 1; k++)
        assert_true(frame_intact_k(&g, (uint32_t)k + 1));
    alarm(0);
    assert_int_equal(rc2, TW_EOF);
    tw_capfile_close(c1);
    tw_capfile_close(c2);
    tw_capshare_unref(sh);
    unlink(path);
    free(path);
    free(a.buf);
    free(b.buf);
}

/* Two copies of a merge, each read by its own thread, sharing the files' blocks
 * (tw_merge_share): both get the merge's frames in order; one that stops early and leaves
 * (tw_merge_leave) does not hold the other up. */
struct merge_reader {
    struct tw_merge *m;
    size_t quit_after;
    uint32_t split; /* 0: files 0 and 1 interleave; else file 0 holds records 0 to split - 1 */
    bool help; /* reads blocks ahead for the other (tw_merge_read_ahead) every few frames */
    struct held_burst burst;
    size_t n, bad, n_file[3], helped;
    int end;
};

static void *merge_read(void *arg)
{
    struct merge_reader *r = arg;
    struct tw_frame f;
    char err[512];
    int lt;
    size_t file;

    tw_merge_set_stall(r->m, held_let_go, &r->burst);
    while ((r->end = tw_merge_next(r->m, &f, &lt, &file, err, sizeof(err))) == 1) {
        /* in time order, record n: file 0 holds the even ones and file 1 the odd ones, or
         * file 0 the first `split` and file 1 the rest */
        size_t want = r->split > 0 ? r->n >= r->split : r->n % 2;
        r->bad += !frame_intact_k(&f, (uint32_t)r->n) || file != want;
        r->n_file[file]++;
        r->n++;
        held_take(&r->burst, f.hold);
        if (r->burst.n == 32)
            held_let_go(&r->burst);
        if (r->help && r->n % 5 == 0) /* as a worker waiting in the middle of its burst */
            r->helped += tw_merge_read_ahead(r->m);
        if (r->quit_after > 0 && r->n == r->quit_after)
            break;
    }
    held_let_go(&r->burst);
    tw_merge_leave(r->m);
    return NULL;
}

static void merge_shared_case(bool rotated);

/* A reader that waits for another reads ahead the blocks the other would read (every block
 * no one has read whose slot is free, one a call), and only those: with two readers, the
 * first at block 0 has read blocks 2, 4 and 6 ahead (its own), so blocks 1, 3, 5 and 7; block
 * 8's slot is not free until the second reader is done with block 0. */
static void test_merge_read_ahead(void **state)
{
    struct pw w = {.minor = 4};
    char err[512];
    struct tw_frame f;
    int lt, rc;
    size_t file, n = 0, helped = 0;
    uint32_t k = 0;

    (void)state;
    tw_capfile_set_map(TW_CAPFILE_MAP_NEVER); /* shared blocks are read ahead, not a mapping */
    pw_header(&w, 1);
    while (w.len < (12u << 20)) {
        uint32_t caplen = 60 + (k * 977u) % 3000;
        pw_record(&w, k++, caplen, caplen);
    }
    char *path = write_file(w.buf, w.len);
    struct tw_merge *m = tw_merge_new(), *a, *b;
    assert_non_null(m);
    assert_int_equal(tw_merge_add(m, path, err, sizeof(err)), 0);
    assert_int_equal(tw_merge_share(m, 2), 0);
    assert_non_null(a = tw_merge_copy(m));
    assert_non_null(b = tw_merge_copy(m));
    alarm(20);
    assert_false(tw_merge_read_ahead(a)); /* no file open yet */
    assert_int_equal(tw_merge_next(a, &f, &lt, &file, err, sizeof(err)), 1);
    assert_true(frame_intact_k(&f, 0));
    while (tw_merge_read_ahead(a))
        helped++;
    assert_int_equal(helped, 4);
    /* The second reader leaves: the first reads on alone, through what it read for it. */
    tw_merge_leave(b);
    tw_merge_free(b);
    for (n = 1; (rc = tw_merge_next(a, &f, &lt, &file, err, sizeof(err))) == 1; n++)
        assert_true(frame_intact_k(&f, (uint32_t)n));
    alarm(0);
    assert_int_equal(rc, TW_EOF);
    assert_int_equal(n, k);
    assert_false(tw_merge_read_ahead(a)); /* at the end: nothing */
    tw_merge_leave(a);
    tw_merge_free(a);
    tw_merge_free(m);
    unlink(path);
    free(path);
    free(w.buf);
    tw_capfile_set_map(suite_mode);
}

/* Files that interleave in time (both open at once), then files one after another (rotated:
 * the second takes over the first's slots once both readers are done with it). */
static void test_merge_shared(void **state)
{
    (void)state;
    for (int rotated = 0; rotated < 2; rotated++)
        merge_shared_case(rotated);
}

static void merge_shared_case(bool rotated)
{
    struct pw w[3] = {{.minor = 4}, {.minor = 4, .big = true}, {.minor = 4}};
    uint32_t k = 0, split = 0;
    char *p[3];

    for (int i = 0; i < 3; i++)
        pw_header(&w[i], 1);
    while (w[0].len + w[1].len < (24u << 20)) {
        uint32_t caplen = 60 + (k * 977u) % 3000;
        if (rotated && split == 0 && w[0].len >= (12u << 20))
            split = k;
        pw_record(&w[rotated ? split > 0 : k % 2], k, caplen, caplen);
        k++;
    }
    for (int i = 0; i < 3; i++) { /* the third: no packet */
        p[i] = write_file(w[i].buf, w[i].len);
        free(w[i].buf);
    }
    for (size_t quit = 0; quit <= k / 2; quit += k / 2) {
        char err[512];
        struct tw_merge *m = tw_merge_new();
        struct merge_reader r[2] = {{0}};
        pthread_t th[2];
        assert_non_null(m);
        for (int i = 0; i < 3; i++)
            assert_int_equal(tw_merge_add(m, p[i], err, sizeof(err)), 0);
        assert_int_equal(tw_merge_share(m, 2), 0);
        alarm(60);
        for (int i = 0; i < 2; i++) {
            r[i].m = tw_merge_copy(m);
            r[i].quit_after = i == 1 ? quit : 0;
            r[i].split = split;
            r[i].help = i == 1;
            assert_non_null(r[i].m);
            assert_int_equal(pthread_create(&th[i], NULL, merge_read, &r[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        alarm(0);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(r[i].bad, 0);
            if (i == 1 && quit > 0) {
                assert_int_equal(r[i].n, quit);
            } else {
                assert_int_equal(r[i].end, TW_EOF);
                assert_int_equal(r[i].n, k);
                assert_int_equal(r[i].n_file[0], rotated ? split : (k + 1) / 2);
            }
            tw_merge_free(r[i].m);
        }
        tw_merge_free(m);
    }
    for (int i = 0; i < 3; i++) {
        unlink(p[i]);
        free(p[i]);
    }
}

/* ---- a file mapped whole (tw_capfile_set_map) ---- */

/* Records 0..n-1 of pw_record (60 + k * 977 % 1455 bytes each, frame_intact) appended to w. */
static void pw_records(struct pw *w, uint32_t from, uint32_t n)
{
    for (uint32_t k = from; k < from + n; k++)
        pw_record(w, k, 60 + (k * 977u) % 1455, 60 + (k * 977u) % 1455);
}

/*
 * A mapped file that grows while it is read (a capture still written): what it gained past
 * the mapping is read after it, whole records and a record cut by the end of the mapping
 * alike. A mapped file that shrinks while it is read: the reader stops with an error, both
 * when the size it checks shows it (at a window) and when the parse touches a page past the
 * new end first (SIGBUS: a page of zeros put there), and the process lives on.
 */
static void test_map_changed(void **state)
{
    (void)state;
    char err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    int lt, rc;

    tw_capfile_set_map(TW_CAPFILE_MAP_ALWAYS);
    for (int cut = 0; cut < 2; cut++) {
        struct pw w = {.minor = 4};
        pw_header(&w, 1);
        pw_records(&w, 0, 3000);
        size_t first = w.len - (cut ? 500 : 0); /* the file at open ends in a record */
        pw_records(&w, 3000, 3000);
        char *path = write_file(w.buf, first);
        assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
        FILE *fp = fopen(path, "ab");
        assert_non_null(fp);
        assert_int_equal(fwrite(w.buf + first, 1, w.len - first, fp), w.len - first);
        fclose(fp);
        uint32_t n = 0;
        while ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1) {
            assert_true(frame_intact(&f));
            n++;
        }
        assert_int_equal(rc, TW_EOF);
        assert_int_equal(n, 6000);
        tw_capfile_close(c);
        drop(path, &w);
    }
    for (int early = 0; early < 2; early++) {
        struct pw w = {.minor = 4};
        pw_header(&w, 1);
        pw_records(&w, 0, 20000); /* ~15 MiB: several windows */
        char *path = write_file(w.buf, w.len);
        assert_int_equal(tw_capfile_open(path, &c, err, sizeof(err)), 0);
        uint32_t n = 0;
        while ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1 && n < 1000)
            n++;
        assert_int_equal(rc, 1);
        /* Past the parse (~750 KiB in), within the window it is in or well after it. */
        assert_int_equal(truncate(path, early ? (1u << 20) : (9u << 20)), 0);
        while ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1)
            n++;
        assert_int_equal(rc, TW_EIO);
        assert_non_null(strstr(err, "the file shrank while it was read"));
        assert_true(n < 20000);
        tw_capfile_close(c);
        drop(path, &w);
    }
    tw_capfile_set_map(TW_CAPFILE_MAP_CHECK);
}

/* The suite with every file copied with read(2), then with every file mapped and the parts
 * let go of made inaccessible (a frame read after its hold was let go of faults). */
static int mode_read(void **state)
{
    (void)state;
    tw_capfile_set_map(suite_mode = TW_CAPFILE_MAP_NEVER);
    return 0;
}

static int mode_map(void **state)
{
    (void)state;
    tw_capfile_set_map(suite_mode = TW_CAPFILE_MAP_CHECK);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_libpcap),
        cmocka_unit_test(test_header_cases),
        cmocka_unit_test(test_hold_one_thread),
        cmocka_unit_test(test_hold_consumer_thread),
        cmocka_unit_test(test_stream_record_at_once),
        cmocka_unit_test(test_stream_ready),
        cmocka_unit_test(test_merge_held_at_end),
        cmocka_unit_test(test_merge_copy),
        cmocka_unit_test(test_shared_readers),
        cmocka_unit_test(test_shared_replaced),
        cmocka_unit_test(test_merge_shared),
        cmocka_unit_test(test_merge_read_ahead),
    };
    const struct CMUnitTest map_tests[] = {
        cmocka_unit_test(test_map_changed),
    };
    int failed = cmocka_run_group_tests_name("read(2)", tests, mode_read, NULL);
    failed += cmocka_run_group_tests_name("mapped", tests, mode_map, NULL);
    failed += cmocka_run_group_tests_name("mapped files that change", map_tests, mode_map, NULL);
    return failed;
}
