/* SPDX-License-Identifier: MIT */
/* Comparing the frames two capture readers hand out; include after <cmocka.h>. */
#ifndef TUNWATCH_TEST_FRAME_H
#define TUNWATCH_TEST_FRAME_H

#include "tunwatch/capture/capture.h"

/* The same packet: times, lengths, link types and bytes (not where it is held). */
static inline void assert_same_frame(const struct tw_frame *a, int lt_a, const struct tw_frame *b,
                                     int lt_b)
{
    assert_int_equal(lt_a, lt_b);
    assert_int_equal(a->ts_sec, b->ts_sec);
    assert_int_equal(a->ts_nsec, b->ts_nsec);
    assert_int_equal(a->caplen, b->caplen);
    assert_int_equal(a->wirelen, b->wirelen);
    assert_memory_equal(a->data, b->data, a->caplen);
}

/*
 * Readers of one file sharing its blocks (tw_capfile_open_shared), each in its own thread,
 * against the file read alone: every reader gets the same frames (times, lengths, link types,
 * bytes) and ends the same way, with the same message. Each holds its frames in bursts of
 * changing size and lets them go when its burst is full or when it must wait (the stall
 * callback), as a replay worker does; one reader is slower now and then, so that the others
 * run ahead and wait for it. With quit_after > 0, reader 0 stops after that many frames and
 * closes the file: the others must not wait for it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "tunwatch/capture/capfile.h"

/* Frames a reader holds (tw_hold_take) until it lets them all go at once, as a replay
 * worker's burst; held_let_go() is also its stall callback (ctx: the burst). */
struct held_burst {
    struct tw_hold *h[64];
    unsigned n;
};

static void held_let_go(void *ctx)
{
    struct held_burst *b = ctx;
    for (unsigned i = 0; i < b->n; i++)
        tw_hold_put(b->h[i], 1);
    b->n = 0;
}

static void held_take(struct held_burst *b, struct tw_hold *h)
{
    tw_hold_take(h);
    b->h[b->n++] = h;
}

struct shared_frame {
    int64_t ts_sec;
    uint32_t ts_nsec, caplen, wirelen;
    int linktype;
    uint64_t hash;
};

struct shared_reader {
    const char *path;
    struct tw_capshare *sh;
    const struct shared_frame *want;
    size_t n_want;
    int want_end;
    const char *want_err;
    unsigned idx;
    size_t quit_after;
    struct held_burst burst;
    /* what it found */
    size_t n, bad;
    int end;
    char err[512];
    bool failed_open;
};

static uint64_t shared_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void *shared_read(void *arg)
{
    struct shared_reader *r = arg;
    struct tw_capfile *c;
    struct tw_frame f;
    int lt, rc;
    unsigned burst = 1 + r->idx * 7 % 40;

    if ((r->end = tw_capfile_open_shared(r->path, r->sh, &c, r->err, sizeof(r->err))) != 0) {
        r->failed_open = true;
        return NULL;
    }
    tw_capfile_set_stall(c, held_let_go, &r->burst);
    while ((rc = tw_capfile_next(c, &f, &lt, r->err, sizeof(r->err))) == 1) {
        const struct shared_frame *w = r->n < r->n_want ? &r->want[r->n] : NULL;
        if (w == NULL || w->ts_sec != f.ts_sec || w->ts_nsec != f.ts_nsec ||
            w->caplen != f.caplen || w->wirelen != f.wirelen || w->linktype != lt ||
            w->hash != shared_hash(f.data, f.caplen))
            r->bad++;
        r->n++;
        if (f.hold != NULL)
            held_take(&r->burst, f.hold);
        if (r->burst.n >= burst) {
            held_let_go(&r->burst);
            burst = 1 + (burst * 13 + r->idx) % 40;
        }
        if (r->idx == 1 && r->n % 3000 == 0)
            nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL); /* behind now and then */
        if (r->quit_after > 0 && r->n == r->quit_after)
            break;
    }
    held_let_go(&r->burst);
    r->end = rc;
    tw_capfile_close(c);
    return NULL;
}

static void assert_shared_readers_agree(const char *path, unsigned n_readers, size_t quit_after)
{
    struct shared_frame *want = NULL;
    size_t n = 0, cap = 0;
    char err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    int lt, end;

    int open_rc = tw_capfile_open(path, &c, err, sizeof(err));
    end = open_rc;
    while (open_rc == 0 && (end = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            want = realloc(want, cap * sizeof(*want));
            assert_non_null(want);
        }
        want[n++] = (struct shared_frame){f.ts_sec, f.ts_nsec, f.caplen, f.wirelen, lt,
                                          shared_hash(f.data, f.caplen)};
    }
    if (open_rc == 0)
        tw_capfile_close(c);

    struct tw_capshare *sh = tw_capshare_new(n_readers);
    struct shared_reader r[8];
    pthread_t th[8];
    assert_non_null(sh);
    assert_true(n_readers <= 8);
    alarm(60); /* readers that wait for each other would hang here */
    for (unsigned i = 0; i < n_readers; i++) {
        r[i] = (struct shared_reader){.path = path, .sh = sh, .want = want, .n_want = n,
                                      .want_end = end, .want_err = err, .idx = i,
                                      .quit_after = i == 0 ? quit_after : 0};
        assert_int_equal(pthread_create(&th[i], NULL, shared_read, &r[i]), 0);
    }
    for (unsigned i = 0; i < n_readers; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    alarm(0);
    tw_capshare_unref(sh);
    for (unsigned i = 0; i < n_readers; i++) {
        if (open_rc != 0) { /* the file's start is broken: every reader says so */
            assert_true(r[i].failed_open);
            assert_int_equal(r[i].end, open_rc);
            assert_string_equal(r[i].err, err);
            continue;
        }
        assert_false(r[i].failed_open);
        assert_int_equal(r[i].bad, 0);
        if (i == 0 && quit_after > 0 && quit_after <= n) {
            assert_int_equal(r[i].n, quit_after);
            continue;
        }
        assert_int_equal(r[i].n, n);
        assert_int_equal(r[i].end, end);
        if (end != TW_EOF)
            assert_string_equal(r[i].err, err);
    }
    free(want);
}

#endif
