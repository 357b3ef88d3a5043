/* SPDX-License-Identifier: MIT */
/*
 * Capture files packet by packet (classic pcap and pcapng, both read here) and the k-way merge of several files: see include/tunwatch/capture/capfile.h.
 */
#include "tunwatch/capture/capfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/mapguard.h"
#include "tunwatch/capture/pcapng.h"

/*
 * Classic pcap is read here, not through libpcap. A regular file is mapped whole where that
 * pays (see "a regular file mapped whole" below) and its records parsed in the mapping;
 * otherwise, and for streams: read() into large blocks, records parsed in
 * place (no copy into a packet buffer), and frames handed out pointing into the block (2 MiB,
 * one huge page: one read(2) and one page fault per block). A block is
 * refilled only when no frame of it is held (struct tw_hold), so a reader hands a burst of
 * frames to its engine, or frames to workers, without copying their bytes. A single thread
 * uses two blocks in turn (its burst holds the last frames of one while the next is read);
 * workers keep up to BLOCKS of them in flight.
 */
/* Classic pcap magics, as written in the file's own byte order. */
#define PCAP_MAGIC_US 0xa1b2c3d4u  /* microseconds */
#define PCAP_MAGIC_NS 0xa1b23c4du  /* nanoseconds */
#define PCAP_MAGIC_KUZ 0xa1b2cd34u /* Kuznetzov's modified pcap (24-byte record headers) */

/* One huge page: a block is mapped with one fault (tw_table_alloc), not 512. */
#define BLOCK_BYTES (2u << 20)
#define BLOCKS 32
/* The largest record libpcap reads (MAXIMUM_SNAPLEN); a larger one is an error there too. */
#define MAX_CAPLEN 262144u

struct tw_hold {
    _Alignas(64) _Atomic uint64_t released; /* frames let go of (any thread) */
    _Alignas(64) uint64_t held;             /* frames handed on (the reading thread) */
    uint8_t *mem;                           /* BLOCK_BYTES, mapped when first used */
};

void tw_hold_take(struct tw_hold *h)
{
    h->held++;
}

void tw_hold_put(struct tw_hold *h, uint64_t n)
{
    atomic_fetch_add_explicit(&h->released, n, memory_order_release);
}

static bool hold_idle(struct tw_hold *h)
{
    return atomic_load_explicit(&h->released, memory_order_acquire) == h->held;
}

/*
 * A regular file read by several threads at once (the replay workers, each of which reads
 * every frame and keeps its share of the flows): each block of the file (SLOT_BYTES, block i
 * from byte i * SLOT_BYTES) is read once into one of SHARE_SLOTS shared slots, slot i %
 * SHARE_SLOTS, and every reader parses it there in place. A slot takes its next block once
 * every reader has let go of the one before: a reader runs at most SHARE_SLOTS blocks ahead
 * of the slowest. Block i is read by its owner, reader i % readers, ahead of its own parse
 * (share_ahead), so that the copying is shared out (each pays for half of the file's bytes
 * with two readers); a reader that needs a block its owner has not read after
 * SHARE_PATIENCE_NS, or whose owner is gone, reads it itself; a reader that has to wait for
 * another thread reads ahead the blocks nobody has read yet (tw_merge_read_ahead: the reader
 * with less to do takes on more of the copying). A record that runs from one block into the
 * next is put together in a private block of the reader's. A reader that waits for another
 * first lets go of what it holds (its stall callback: no two wait for each other); a reader
 * that stops reading lets go of every block (share_leave).
 */
#define SHARE_SLOTS 8
#define SLOT_BYTES (1u << 20)
#define SHARE_PATIENCE_NS 200000

enum { SLOT_LOADING = 1, SLOT_READY = 2, SLOT_FAILED = 3 };

struct share_slot {
    /* (block + 1) << 2 | SLOT_*, 0 before its first block; loaded (len, err) before READY or
     * FAILED is stored */
    _Alignas(64) _Atomic uint64_t state;
    uint32_t len; /* bytes read: less than SLOT_BYTES at the end of the file */
    int err;      /* errno of a failed read */
};

struct share_reader {
    _Alignas(64) _Atomic uint64_t done; /* blocks below this one let go of (UINT64_MAX: gone) */
};

/* Slots kept for the next file: the shares of one merge (tw_merge_share) hand them on when
 * every reader of a file is gone, so that a replay of many files does not map and clear
 * SHARE_SLOTS * SLOT_BYTES anew for each. */
#define POOL_KEEP 4

struct slot_pool {
    pthread_mutex_t lock;
    _Atomic unsigned refs;
    unsigned n;
    uint8_t *mem[POOL_KEEP];
};

struct tw_capshare {
    pthread_mutex_t lock; /* joining */
    struct slot_pool *pool; /* where its slots come from and go back to, or NULL */
    _Atomic unsigned refs;
    unsigned n_readers, n_joined;
    int fd;              /* the file, from its first reader (-1 until then) */
    dev_t dev;           /* and its identity: a reader that opened another file does not */
    ino_t ino;           /* share */
    uint8_t *mem;        /* SHARE_SLOTS slots of SLOT_BYTES */
    struct share_slot slot[SHARE_SLOTS];
    struct share_reader *rd; /* n_readers */
};

/* The classic pcap reader's state. */
struct pcapr {
    bool swapped;   /* the file's byte order is not ours */
    bool nano;      /* nanosecond timestamps */
    uint8_t swap_lengths; /* 0 never, 1 always (before 2.3), 2 when caplen > len (2.3) */
    size_t rec_hdr; /* 16, or 24 (Kuznetzov's modified format) */
    struct tw_hold blk[BLOCKS];
    unsigned cur;     /* the private block last used */
    struct tw_hold *cb; /* the block being parsed: blk[cur], or a view of a shared block */
    size_t pos, end;  /* parse position and valid bytes in it */
    bool eof;
    uint64_t offset;  /* file offset of cb's first byte */
    /* Blocks shared with other readers (sh != NULL): */
    struct tw_capshare *sh;
    unsigned reader;  /* this reader's index in sh */
    bool in_view;     /* cb is a view of a shared block */
    bool gone;        /* this reader let go of the shared blocks (share_leave) */
    uint64_t released; /* shared blocks below this one let go of */
    size_t pf;         /* in a view: the bytes before it are prefetched (share_prefetch) */
    struct tw_hold view[SHARE_SLOTS]; /* the frames handed out of each shared block */
    /* A regular file mapped whole (map_file), parsed in place there: */
    bool in_map;      /* the parse is in the mapping (cb is a window's hold) */
    uint8_t *map;     /* the mapping (every window's hold has it as mem) */
    size_t map_len;   /* the file's size when mapped */
    size_t win_end;   /* where the window being parsed ends */
    size_t n_win;     /* windows of MAP_WIN bytes */
    size_t zapped;    /* windows below this one let go of (MADV_DONTNEED) */
    int map_slot;     /* its guard (tw_mapguard_add(): SIGBUS) */
    const atomic_bool *map_bad; /* ... and the guard's flag (tw_mapguard_flag()) */
    struct tw_hold *mapw; /* one per window: the frames handed out of it */
};

struct stream;

struct tw_capfile {
    const char *path;
    FILE *fp;
    bool regular; /* a regular file by name: can be opened again and read from the start */
    struct stream *in; /* a stream read once (standard input, a FIFO, a socket), else NULL */
    struct pcapr *pr; /* the blocks of classic pcap, and of pcapng from a regular file */
    bool ng_blocks;   /* pcapng parsed in pr's blocks (c->ng keeps the section's state) */
    int linktype;
    struct tw_pcapng ng;
    uint64_t size;
    tw_stall_fn stall; /* called while waiting for held frames (see tw_capfile_set_stall) */
    void *stall_ctx;
    struct tw_capshare *want_share; /* to join when the reader is made (tw_capfile_open_shared) */
    bool *joined;                   /* and set once it has its place there, while it opens */
};

static uint32_t rd32(const struct pcapr *r, const uint8_t *b)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return r->swapped ? __builtin_bswap32(v) : v;
}

static uint16_t rd16(const struct pcapr *r, const uint8_t *b)
{
    uint16_t v;
    memcpy(&v, b, 2);
    return r->swapped ? __builtin_bswap16(v) : v;
}

static ssize_t read_full(int fd, uint8_t *buf, size_t n);
static int capfile_open(const char *path, struct tw_capshare *sh, bool *joined,
                        struct tw_capfile **out, char *err, size_t errlen);
static void pcapr_join(struct tw_capfile *c);
static bool map_file(struct tw_capfile *c);
static void map_enter(struct tw_capfile *c);
static bool map_failed(const struct pcapr *r);
static void map_close(struct tw_capfile *c);
static ssize_t stream_read(struct stream *s, uint8_t *dst, size_t n, bool wait);

/* Reads the capture: a regular file with read(2) straight into buf, n bytes unless it ends
 * first (no stdio buffer between: that would be one more copy of every byte); a stream, what
 * has arrived (at least a byte, waiting for it). How many, or -1 with errno set. */
static ssize_t cap_read(struct tw_capfile *c, uint8_t *buf, size_t n)
{
    if (c->regular)
        return read_full(fileno(c->fp), buf, n);
    return stream_read(c->in, buf, n, true);
}

/* The block reader's state, zeroed: NULL when out of memory. */
static struct pcapr *pcapr_new(void)
{
    /* Its blocks' hold counters are cache-line aligned (workers write them): more than
     * calloc promises. */
    const size_t align = _Alignof(struct pcapr);
    struct pcapr *r = aligned_alloc(align, (sizeof(*r) + align - 1) & ~(align - 1));

    if (r != NULL) {
        memset(r, 0, sizeof(*r));
        r->cb = &r->blk[0];
    }
    return r;
}

/* Reads the 24-byte file header. 0, or TW_EMALFORMED / TW_EIO with the reason in why. */
static int pcapr_open(struct tw_capfile *c, char *why, size_t whylen)
{
    uint8_t h[24];
    struct pcapr *r = pcapr_new();

    if (r == NULL) {
        snprintf(why, whylen, "out of memory");
        return TW_ENOMEM;
    }
    ssize_t n = 0, got = 1;
    while (n < (ssize_t)sizeof(h) && (got = cap_read(c, h + n, sizeof(h) - (size_t)n)) > 0)
        n += got;
    if (got < 0)
        n = -1;
    if (n != (ssize_t)sizeof(h)) {
        free(r);
        if (n < 0) {
            snprintf(why, whylen, "%s", strerror(errno));
            return TW_EIO;
        }
        snprintf(why, whylen, "truncated dump file; tried to read %zu file header bytes, only "
                 "got %zd", sizeof(h), n);
        return TW_EMALFORMED;
    }
    uint32_t magic;
    memcpy(&magic, h, 4);
    r->swapped = magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS && magic != PCAP_MAGIC_KUZ;
    magic = rd32(r, h);
    r->nano = magic == PCAP_MAGIC_NS;
    r->rec_hdr = magic == PCAP_MAGIC_KUZ ? 24 : 16;
    uint16_t major = rd16(r, h + 4), minor = rd16(r, h + 6);
    /* As libpcap: 2.0 to 2.4 (and DG/UX's 543.0); before 2.3 the two lengths of a record
     * were written the other way round, in 2.3 sometimes. */
    if (major < 2) {
        free(r);
        snprintf(why, whylen, "archaic pcap savefile format");
        return TW_EMALFORMED;
    }
    if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0))) {
        free(r);
        snprintf(why, whylen, "unsupported pcap savefile version %u.%u", major, minor);
        return TW_EMALFORMED;
    }
    r->swap_lengths = major == 2 && minor < 3 ? 1 : major == 2 && minor == 3 ? 2 : 0;
    c->linktype = (int)(rd32(r, h + 20) & 0xffff); /* the rest: FCS length bits */
    r->offset = sizeof(h);
    c->pr = r;
    pcapr_join(c);
    return 0;
}

/* One round of waiting for frames held by other threads: wake them (the stall callback),
 * yield, and after a while sleep a little. */
static void pcapr_pause(struct tw_capfile *c, unsigned spin)
{
    if (c->stall != NULL)
        c->stall(c->stall_ctx);
    if (spin < 64)
        sched_yield();
    else
        nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
}

/* Waits until block h (private or a view of a shared one) holds no frame another thread
 * still reads. */
static void pcapr_wait(struct tw_capfile *c, struct tw_hold *h)
{
    for (unsigned spin = 0; !hold_idle(h); spin++)
        pcapr_pause(c, spin);
}

/* A block no frame is held in: the current one if it is free, else the free block of lowest
 * index that has memory, else one that has none yet, else the first to become free (waiting:
 * workers are behind). Few blocks are touched unless workers keep many in flight. */
static unsigned pcapr_free_block(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;

    if (hold_idle(&r->blk[r->cur]))
        return r->cur;
    for (unsigned spin = 0;; spin++) {
        unsigned fresh = BLOCKS;
        for (unsigned k = 0; k < BLOCKS; k++) {
            if (!hold_idle(&r->blk[k]))
                continue;
            if (r->blk[k].mem != NULL)
                return k;
            if (fresh == BLOCKS)
                fresh = k;
        }
        if (fresh < BLOCKS)
            return fresh;
        pcapr_pause(c, spin);
    }
}

/* A private block's memory: one huge page (one fault), or, for a reader of shared blocks,
 * which puts only the records across two shared blocks together there, small pages touched
 * as used (a few KiB, not 2 MiB to clear). */
static uint8_t *pcapr_block_alloc(const struct pcapr *r)
{
    if (r->sh == NULL)
        return tw_table_alloc(BLOCK_BYTES);
    void *p = mmap(NULL, BLOCK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Room for need bytes from the parse position in the current block (the first step of
 * pcapr_fill). 0, or TW_ENOMEM with the reason in why. */
static int pcapr_room(struct tw_capfile *c, size_t need, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;

    if (r->in_view || r->in_map || r->cb->mem == NULL || r->pos + need > BLOCK_BYTES) {
        size_t tail = r->end - r->pos;
        unsigned nb = pcapr_free_block(c);
        struct tw_hold *b = &r->blk[nb];
        if (b->mem == NULL && (b->mem = pcapr_block_alloc(r)) == NULL) {
            snprintf(why, whylen, "out of memory");
            return TW_ENOMEM;
        }
        if (tail > 0)
            memmove(b->mem, r->cb->mem + r->pos, tail);
        r->offset += r->pos;
        r->cur = nb;
        r->cb = b;
        r->in_view = false;
        r->in_map = false;
        r->pos = 0;
        r->end = tail;
    }
    return 0;
}

/* ---- blocks shared by several readers of one file (struct tw_capshare) ---- */

static struct slot_pool *pool_new(void)
{
    struct slot_pool *p = calloc(1, sizeof(*p));

    if (p != NULL) {
        pthread_mutex_init(&p->lock, NULL);
        atomic_init(&p->refs, 1);
    }
    return p;
}

static void pool_unref(struct slot_pool *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < p->n; i++)
        tw_table_free(p->mem[i], (size_t)SHARE_SLOTS * SLOT_BYTES);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Slots for a share: kept ones if its pool has any, else mapped (NULL when out of memory). */
static uint8_t *slots_take(struct slot_pool *p)
{
    uint8_t *m = NULL;

    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        if (p->n > 0)
            m = p->mem[--p->n];
        pthread_mutex_unlock(&p->lock);
    }
    return m != NULL ? m : tw_table_alloc((size_t)SHARE_SLOTS * SLOT_BYTES);
}

static void slots_give(struct slot_pool *p, uint8_t *m)
{
    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        if (p->n < POOL_KEEP) {
            p->mem[p->n++] = m;
            m = NULL;
        }
        pthread_mutex_unlock(&p->lock);
    }
    if (m != NULL)
        tw_table_free(m, (size_t)SHARE_SLOTS * SLOT_BYTES);
}

static struct tw_capshare *capshare_new(unsigned readers, struct slot_pool *pool)
{
    struct tw_capshare *sh = aligned_alloc(_Alignof(struct tw_capshare),
                                           (sizeof(*sh) + _Alignof(struct tw_capshare) - 1) &
                                               ~(_Alignof(struct tw_capshare) - 1));

    if (sh == NULL)
        return NULL;
    memset(sh, 0, sizeof(*sh));
    sh->rd = aligned_alloc(_Alignof(struct share_reader), readers * sizeof(*sh->rd));
    if (readers == 0 || sh->rd == NULL) {
        free(sh->rd);
        free(sh);
        return NULL;
    }
    memset(sh->rd, 0, readers * sizeof(*sh->rd));
    pthread_mutex_init(&sh->lock, NULL);
    atomic_init(&sh->refs, 1);
    sh->n_readers = readers;
    sh->fd = -1;
    if ((sh->pool = pool) != NULL)
        atomic_fetch_add_explicit(&pool->refs, 1, memory_order_relaxed);
    return sh;
}

struct tw_capshare *tw_capshare_new(unsigned readers)
{
    return capshare_new(readers, NULL);
}

struct tw_capshare *tw_capshare_ref(struct tw_capshare *sh)
{
    if (sh != NULL)
        atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    return sh;
}

/* Gives sh's slots back to its pool and closes its file: no reader reads them any more. */
static void share_close(struct tw_capshare *sh)
{
    if (sh->mem != NULL)
        slots_give(sh->pool, sh->mem);
    sh->mem = NULL;
    if (sh->fd >= 0)
        close(sh->fd);
    sh->fd = -1;
}

void tw_capshare_unref(struct tw_capshare *sh)
{
    if (sh == NULL || atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
        return;
    share_close(sh);
    pool_unref(sh->pool);
    pthread_mutex_destroy(&sh->lock);
    free(sh->rd);
    free(sh);
}

/* Reader `reader` reads no more (sh's lock held). Once every reader is gone the slots and the
 * file are let go of at once, not when the last reference goes (the merge keeps one to the
 * end of the run: a replay of many files would keep every file's slots). */
static void share_gone(struct tw_capshare *sh, unsigned reader)
{
    atomic_store_explicit(&sh->rd[reader].done, UINT64_MAX, memory_order_release);
    if (sh->n_joined < sh->n_readers)
        return;
    for (unsigned i = 0; i < sh->n_readers; i++)
        if (atomic_load_explicit(&sh->rd[i].done, memory_order_acquire) != UINT64_MAX)
            return;
    share_close(sh);
}

/* Takes a reader's place in sh: false when this reader will not read (it opened another file
 * than the first reader did, or more readers came than sh was made for, or out of memory). */
static bool share_join(struct tw_capshare *sh, int fd, unsigned *reader)
{
    struct stat sb;
    bool ok = false;

    pthread_mutex_lock(&sh->lock);
    if (sh->n_joined == sh->n_readers) {
        pthread_mutex_unlock(&sh->lock);
        return false;
    }
    *reader = sh->n_joined++;
    if (fstat(fd, &sb) == 0) {
        if (sh->fd < 0 && sh->mem == NULL)
            sh->mem = slots_take(sh->pool);
        if (sh->fd < 0 && sh->mem != NULL && (sh->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
            sh->dev = sb.st_dev;
            sh->ino = sb.st_ino;
        }
        ok = sh->fd >= 0 && sh->dev == sb.st_dev && sh->ino == sb.st_ino;
    }
    if (!ok) /* reads on its own: the others do not wait for it */
        share_gone(sh, *reader);
    pthread_mutex_unlock(&sh->lock);
    return ok;
}

void tw_capshare_skip(struct tw_capshare *sh)
{
    pthread_mutex_lock(&sh->lock);
    if (sh->n_joined < sh->n_readers)
        share_gone(sh, sh->n_joined++);
    pthread_mutex_unlock(&sh->lock);
}

/* Whether every reader has let go of the block slot k holds before block blk. */
static bool slot_free(const struct tw_capshare *sh, uint64_t blk)
{
    if (blk < SHARE_SLOTS)
        return true;
    for (unsigned i = 0; i < sh->n_readers; i++)
        if (atomic_load_explicit(&sh->rd[i].done, memory_order_acquire) <= blk - SHARE_SLOTS)
            return false;
    return true;
}

/* Reads block blk into its slot (this reader claimed it). */
static void slot_load(struct tw_capshare *sh, struct share_slot *sl, uint64_t blk)
{
    uint8_t *dst = sh->mem + (blk % SHARE_SLOTS) * SLOT_BYTES;
    off_t at = (off_t)(blk * SLOT_BYTES);
    size_t done = 0;
    int err = 0;

    while (done < SLOT_BYTES) {
        ssize_t got = pread(sh->fd, dst + done, SLOT_BYTES - done, at + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            err = errno;
        if (got <= 0)
            break;
        done += (size_t)got;
    }
    sl->len = (uint32_t)done;
    sl->err = err;
    atomic_store_explicit(&sl->state, (blk + 1) << 2 | (err != 0 ? SLOT_FAILED : SLOT_READY),
                          memory_order_release);
}

/* Reads block blk into sl unless another reader claimed the slot since its state was st.
 * Returns whether it read it. */
static bool slot_claim(struct tw_capshare *sh, struct share_slot *sl, uint64_t st, uint64_t blk)
{
    if (!atomic_compare_exchange_strong_explicit(&sl->state, &st, (blk + 1) << 2 | SLOT_LOADING,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    slot_load(sh, sl, blk);
    return true;
}

/* The file offset of the next byte this reader of shared blocks reads out of the slots. */
static uint64_t share_next(const struct pcapr *r)
{
    return r->offset + (r->in_view ? r->pos : r->end);
}

/* Lets go of the shared blocks this reader has left behind (the parse, or the copy into a
 * private block, is past them) and holds no frame of. */
static void share_release(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;
    uint64_t upto = share_next(r) / SLOT_BYTES, from = r->released;

    while (r->released < upto && hold_idle(&r->view[r->released % SHARE_SLOTS]))
        r->released++;
    if (r->released != from)
        atomic_store_explicit(&r->sh->rd[r->reader].done, r->released, memory_order_release);
}

/* Nanoseconds since t0. */
static int64_t share_waited(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)(t.tv_sec - t0->tv_sec) * 1000000000 + (t.tv_nsec - t0->tv_nsec);
}

/* Block blk of the file in its slot: read by its owner, or by this reader (see above), once
 * the slowest reader has let go of what the slot held. 0, or TW_EIO with the reason in why. */
static int share_get(struct tw_capfile *c, uint64_t blk, const struct share_slot **out, char *why,
                     size_t whylen)
{
    struct tw_capshare *sh = c->pr->sh;
    struct share_slot *sl = &sh->slot[blk % SHARE_SLOTS];
    const uint64_t tag = (blk + 1) << 2;
    const unsigned owner = (unsigned)(blk % sh->n_readers);
    struct timespec t0 = {0};

    if (c->pr->gone) { /* share_leave: its slots may hold other blocks by now */
        snprintf(why, whylen, "no longer read");
        return TW_EIO;
    }
    for (unsigned spin = 0;; spin++) {
        uint64_t st = atomic_load_explicit(&sl->state, memory_order_acquire);
        if (st == (tag | SLOT_READY)) {
            *out = sl;
            return 0;
        }
        if (st == (tag | SLOT_FAILED)) {
            snprintf(why, whylen, "%s", strerror(sl->err));
            return TW_EIO;
        }
        if (st == (tag | SLOT_LOADING)) { /* another reader is reading it: a short wait */
            if (spin < 1024)
                tw_cpu_relax();
            else
                sched_yield();
            continue;
        }
        /* Its owner reads it (share_ahead), or another reader when the owner is gone or
         * slow to come: the slot must be free of the block it held before. */
        if (slot_free(sh, blk) &&
            (owner == c->pr->reader ||
             atomic_load_explicit(&sh->rd[owner].done, memory_order_acquire) == UINT64_MAX ||
             (spin > 64 && share_waited(&t0) > SHARE_PATIENCE_NS))) {
            slot_claim(sh, sl, st, blk);
            continue;
        }
        if (spin < 64) {
            tw_cpu_relax();
            continue;
        }
        if (spin == 64)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        /* Waiting on another reader: let go of what this one holds first. */
        share_release(c);
        pcapr_pause(c, spin - 64);
        share_release(c);
    }
}

/* Reads ahead, among the blocks after blk whose slots are free and that nobody has read yet,
 * the ones this reader owns (block % readers), or with `any` the first one whoever owns it.
 * Returns whether it read one. */
static bool share_ahead(struct tw_capfile *c, uint64_t blk, bool any)
{
    struct tw_capshare *sh = c->pr->sh;
    bool read = false;

    for (uint64_t j = blk + 1; j < blk + SHARE_SLOTS; j++) {
        if (!any && j % sh->n_readers != c->pr->reader)
            continue;
        struct share_slot *sl = &sh->slot[j % SHARE_SLOTS];
        uint64_t st = atomic_load_explicit(&sl->state, memory_order_acquire);
        if (st >> 2 != j + 1 && slot_free(sh, j) && slot_claim(sh, sl, st, j)) {
            read = true;
            if (any)
                break;
        }
    }
    return read;
}

/* Parses on in the shared block that holds file offset at, in place. 0, or as share_get(). */
static int view_enter(struct tw_capfile *c, uint64_t at, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;
    const struct share_slot *sl;
    uint64_t blk = at / SLOT_BYTES;
    int rc = share_get(c, blk, &sl, why, whylen);

    if (rc != 0)
        return rc;
    r->cb = &r->view[blk % SHARE_SLOTS];
    r->in_view = true;
    r->offset = blk * SLOT_BYTES;
    r->end = sl->len;
    r->pos = TW_MIN((size_t)(at - r->offset), r->end);
    r->eof = sl->len < SLOT_BYTES;
    r->pf = r->pos & ~(size_t)63;
    share_release(c);
    share_ahead(c, blk, false);
    return 0;
}

/* Copies up to n bytes of the file from offset at into dst, out of the shared blocks: *got
 * fewer at the end of the file. 0, or as share_get(). */
static int share_read(struct tw_capfile *c, uint64_t at, uint8_t *dst, size_t n, size_t *got,
                      char *why, size_t whylen)
{
    const struct share_slot *sl;
    int rc;

    *got = 0;
    while (n > 0) {
        uint64_t blk = at / SLOT_BYTES;
        size_t off = (size_t)(at % SLOT_BYTES);
        if ((rc = share_get(c, blk, &sl, why, whylen)) != 0)
            return rc;
        if (off >= sl->len)
            break;
        size_t k = TW_MIN(n, sl->len - off);
        memcpy(dst, c->pr->sh->mem + (blk % SHARE_SLOTS) * SLOT_BYTES + off, k);
        dst += k;
        at += k;
        n -= k;
        *got += k;
        if (sl->len < SLOT_BYTES)
            break; /* the end of the file */
    }
    return 0;
}

/*
 * pcapr_fill() for a reader of shared blocks: parses on in place in the next shared block
 * when nothing is left in this one; a record that runs past a shared block's end is put
 * together in a private block (pcapr_room).
 */
static int share_fill(struct tw_capfile *c, size_t need, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;
    size_t got;
    int rc;

    if (r->eof)
        return 0;
    if (r->pos == r->end) {
        if ((rc = view_enter(c, r->offset + r->end, why, whylen)) != 0)
            return rc;
        if (r->end - r->pos >= need || r->eof)
            return 0;
    }
    if ((rc = pcapr_room(c, need, why, whylen)) != 0)
        return rc;
    size_t want = r->pos + need - r->end;
    if ((rc = share_read(c, r->offset + r->end, r->cb->mem + r->end, want, &got, why,
                         whylen)) != 0)
        return rc;
    r->end += got;
    if (got < want)
        r->eof = true;
    share_release(c);
    return 0;
}

/* This reader of shared blocks reads no more: the others no longer wait for it. Its frames
 * must be let go of first (pcapr_close waits for them). */
static void share_leave(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;

    if (r->sh == NULL || r->gone)
        return;
    r->gone = true;
    pthread_mutex_lock(&r->sh->lock);
    share_gone(r->sh, r->reader);
    pthread_mutex_unlock(&r->sh->lock);
}

/*
 * Makes need bytes available from the parse position. When the current block cannot hold
 * them, the unparsed tail moves to the start of a free block first (pcapr_room). A regular
 * file is read a block at a time; a stream (a pipe, standard input) until need bytes are
 * there, taking what has arrived as far as the block goes, so that each record is handed out
 * as soon as it arrived. 0 (r->eof set if the input ended first), or TW_EIO / TW_ENOMEM with
 * the reason in why.
 */
static int pcapr_fill(struct tw_capfile *c, size_t need, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;
    if (r->sh != NULL)
        return share_fill(c, need, why, whylen);
    int rc = pcapr_room(c, need, why, whylen);

    if (rc != 0)
        return rc;
    uint8_t *mem = r->cb->mem;
    size_t goal = c->regular ? BLOCK_BYTES : r->pos + need;
    while (r->end < goal) {
        ssize_t got = cap_read(c, mem + r->end, (c->regular ? goal : BLOCK_BYTES) - r->end);
        if (got < 0) {
            snprintf(why, whylen, "%s", strerror(errno));
            return TW_EIO;
        }
        r->end += (size_t)got;
        if (got == 0) {
            r->eof = true;
            break;
        }
    }
    return 0;
}

/*
 * A shared block was most often read by another thread, on another core: its bytes are in
 * that core's cache or in memory, not in this one's, and every record header read in place
 * would wait for them. They are asked for SHARE_AHEAD bytes ahead of the parse, every line.
 */
#define SHARE_AHEAD 8192u

static inline void share_prefetch(struct pcapr *r)
{
    size_t goal = TW_MIN(r->pos + SHARE_AHEAD, r->end);

    for (; r->pf < goal; r->pf += 64)
        __builtin_prefetch(r->cb->mem + r->pf);
}

/* The parse moved past a record or block: the bytes ahead asked for when they are another
 * thread's or a mapping's, and into the next window of a mapping at its end. */
static inline void parsed_on(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;

    if (r->in_view || r->in_map)
        share_prefetch(r);
    if (r->in_map && r->pos >= r->win_end)
        map_enter(c);
}

/* 0, or TW_EIO with the reason in why when the mapped file shrank while read. */
static int map_check(const struct pcapr *r, char *why, size_t whylen)
{
    if (!r->in_map || !map_failed(r))
        return 0;
    snprintf(why, whylen, "the file shrank while it was read");
    return TW_EIO;
}

/* The two lengths of the record header at h: the captured one returned, the wire's in *len. */
static uint32_t rec_lengths(const struct pcapr *r, const uint8_t *h, uint32_t *len)
{
    uint32_t caplen = rd32(r, h + 8);

    *len = rd32(r, h + 12);
    if (r->swap_lengths == 1 || (r->swap_lengths == 2 && caplen > *len)) {
        uint32_t t = caplen;
        caplen = *len;
        *len = t;
    }
    return caplen;
}

/* The next record: 1, TW_EOF, or a negative code with the reason in why (libpcap's words). */
static int pcapr_next(struct tw_capfile *c, struct tw_frame *f, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;
    int rc;

    if ((rc = map_check(r, why, whylen)) != 0)
        return rc;
    for (;;) {
        size_t avail = r->end - r->pos;
        if (avail >= r->rec_hdr) {
            const uint8_t *h = r->cb->mem + r->pos;
            uint32_t len, caplen = rec_lengths(r, h, &len);
            if (caplen > MAX_CAPLEN) {
                snprintf(why, whylen, "invalid packet capture length %u, bigger than maximum "
                         "of %u", caplen, MAX_CAPLEN);
                return TW_EMALFORMED;
            }
            if (avail >= r->rec_hdr + caplen) {
                uint32_t frac = rd32(r, h + 4);
                *f = (struct tw_frame){
                    .ts_sec = rd32(r, h),
                    .ts_nsec = r->nano ? frac : frac * 1000u,
                    .caplen = caplen,
                    .wirelen = len < caplen ? caplen : len,
                    .data = h + r->rec_hdr,
                    .hold = r->cb,
                };
                r->pos += r->rec_hdr + caplen;
                parsed_on(c);
                return 1;
            }
            if (r->eof) {
                snprintf(why, whylen, "truncated dump file; tried to read %u captured bytes, "
                         "only got %zu", caplen, avail - r->rec_hdr);
                return TW_EMALFORMED;
            }
            rc = pcapr_fill(c, r->rec_hdr + caplen, why, whylen);
        } else if (r->eof) {
            if (avail == 0)
                return TW_EOF;
            snprintf(why, whylen, "truncated dump file; tried to read %zu header bytes, only "
                     "got %zu", r->rec_hdr, avail);
            return TW_EMALFORMED;
        } else {
            rc = pcapr_fill(c, r->rec_hdr, why, whylen);
        }
        if (rc != 0)
            return rc;
    }
}

/*
 * pcapng from a regular file, parsed in the same blocks as classic pcap: a packet is handed
 * out pointing into its block, held like a classic record. A block larger than a read block
 * (pcapng allows 16 MiB; a packet never needs it, options or a custom block may) is read into
 * a buffer of its own (c->ng.buf) past the blocks, and a packet in it is handed out with no
 * hold: valid until the next call, as the stdio reader's.
 */
static int ngblk_big(struct tw_capfile *c, uint32_t type, uint32_t len, struct tw_frame *f,
                     int *linktype, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;
    struct tw_pcapng *ng = &c->ng;
    size_t have = r->end - r->pos;

    if (ng->cap < len) {
        uint8_t *nb = realloc(ng->buf, len);
        if (nb == NULL) {
            snprintf(why, whylen, "out of memory");
            return TW_ENOMEM;
        }
        ng->buf = nb;
        ng->cap = len;
    }
    memcpy(ng->buf, r->cb->mem + r->pos, have);
    ssize_t got = 0;
    if (r->eof) {
        got = 0;
    } else if (r->sh != NULL) {
        size_t n;
        int rc = share_read(c, r->offset + r->end, ng->buf + have, len - have, &n, why, whylen);
        if (rc != 0)
            return rc;
        got = (ssize_t)n;
    } else if ((got = cap_read(c, ng->buf + have, len - have)) < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return TW_EIO;
    }
    /* What is parsed next follows the block: the read block is used up to its end. */
    r->offset += (uint64_t)got;
    r->pos = r->end;
    if (r->sh != NULL)
        share_release(c);
    if (have + (size_t)got < len) {
        r->eof = true;
        return tw_pcapng_cut(ng, why, whylen);
    }
    return tw_pcapng_block(ng, ng->buf, type, len, f, linktype, why, whylen);
}

/* The block whose header (type, total length len) is at the parse position, read whole and
 * parsed: as tw_pcapng_block(), or a negative code with the reason in why. */
static int ngblk_block(struct tw_capfile *c, uint32_t type, uint32_t len, struct tw_frame *f,
                       int *linktype, char *why, size_t whylen)
{
    struct pcapr *r = c->pr;
    int rc;

    if (len > BLOCK_BYTES && !(r->in_map && r->end - r->pos >= len))
        return ngblk_big(c, type, len, f, linktype, why, whylen);
    if (r->end - r->pos < len && (rc = pcapr_fill(c, len, why, whylen)) != 0)
        return rc;
    if (r->end - r->pos < len)
        return tw_pcapng_cut(&c->ng, why, whylen);
    const uint8_t *b = r->cb->mem + r->pos;
    rc = tw_pcapng_block(&c->ng, b, type, len, f, linktype, why, whylen);
    r->pos += len;
    if (rc == 1)
        f->hold = r->cb;
    parsed_on(c);
    return rc;
}

/* The header of the next block, at the parse position: 1 with its type and length, TW_EOF at
 * the end of the file, or a negative code with the reason in why. */
static int ngblk_head(struct tw_capfile *c, uint32_t *type, uint32_t *len, char *why,
                     size_t whylen)
{
    struct pcapr *r = c->pr;
    int rc;

    if (r->end - r->pos < 12 && !r->eof && (rc = pcapr_fill(c, 12, why, whylen)) != 0)
        return rc; /* no block is shorter than 12 bytes */
    if (r->end == r->pos)
        return TW_EOF;
    c->ng.offset = r->offset + r->pos;
    return tw_pcapng_head(&c->ng, r->cb->mem + r->pos, r->end - r->pos, type, len, why,
                          whylen);
}

/* The next packet of pcapng in blocks: as pcapr_next(), with its link type in *linktype. */
static int ngblk_next(struct tw_capfile *c, struct tw_frame *f, int *linktype, char *why,
                      size_t whylen)
{
    uint32_t type, len;
    int rc;

    if (c->ng.failed != 0) {
        snprintf(why, whylen, "pcapng stream already failed");
        return c->ng.failed;
    }
    if ((rc = map_check(c->pr, why, whylen)) != 0)
        return rc;
    do {
        if ((rc = ngblk_head(c, &type, &len, why, whylen)) != 1)
            return rc;
    } while ((rc = ngblk_block(c, type, len, f, linktype, why, whylen)) == 0);
    return rc;
}

/* Sets c up to read pcapng from its regular file in blocks and reads the first block, which
 * must be a Section Header Block. 0, or a negative code with the reason in why. */
static int ngblk_open(struct tw_capfile *c, char *why, size_t whylen)
{
    uint32_t type, len;
    int rc;

    memset(&c->ng, 0, sizeof(c->ng));
    if ((c->pr = pcapr_new()) == NULL) {
        snprintf(why, whylen, "out of memory");
        return TW_ENOMEM;
    }
    c->ng_blocks = true;
    pcapr_join(c);
    if ((rc = ngblk_head(c, &type, &len, why, whylen)) != 1)
        return rc; /* the magic was read: the file is not empty */
    if (type != TW_PCAPNG_SHB) {
        snprintf(why, whylen, "not a pcapng file (no section header block)");
        return TW_EMALFORMED;
    }
    return ngblk_block(c, type, len, NULL, NULL, why, whylen);
}

static void pcapr_close(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;

    for (unsigned i = 0; i < BLOCKS; i++) {
        if (r->blk[i].mem == NULL)
            continue;
        pcapr_wait(c, &r->blk[i]); /* frames handed to workers still point into it */
        tw_table_free(r->blk[i].mem, BLOCK_BYTES);
    }
    if (r->sh != NULL) {
        for (unsigned i = 0; i < SHARE_SLOTS; i++)
            pcapr_wait(c, &r->view[i]);
        share_leave(c);
        tw_capshare_unref(r->sh);
    }
    map_close(c);
    free(r);
}


/* ---- a regular file mapped whole ---- */

/*
 * A regular file is mapped whole and parsed in place, with no copy of its bytes: read(2)
 * copies every byte out of the page cache (a third of a replay's time), where a mapping only
 * sets up page tables. The parse runs through windows of MAP_WIN bytes: entering one, the
 * next is populated (MADV_POPULATE_READ: its page-table entries set up in one call, not page
 * by page on fault), the file's size is checked, and the windows the parse has left and no
 * frame of which is held any more are let go of (MADV_DONTNEED: the page cache keeps the
 * bytes, the process's resident size does not grow with the file), MAP_ZAP_WINDOWS or more
 * in one call: each call flushes the TLB, on every CPU another thread of the process ran on
 * (an interrupt each), and one call a window cost 4% of a replay, 8% with two workers; the
 * process then holds up to that many windows more of the file. Every line is asked for
 * SHARE_AHEAD bytes ahead of the parse (share_prefetch), as the copy brought them in before.
 *
 * A mapping pays only where page tables are cheap to set up. The first window's populate is
 * timed: a file whose pages map slower than MAP_SLOW_NS_PER_MIB (a virtual machine that traps
 * page-table updates costs ten times what a copy does; a file not in the page cache costs its
 * disk reads either way) is read with read(2) instead, as is a file under MAP_MIN bytes.
 *
 * A file that shrinks while it is mapped: a page past its new end raises SIGBUS when touched.
 * The handler (sigbus) puts a page of zeros in its place and marks the mapping failed; the
 * reader, which also finds the shrinking by the size it checks at each window, stops with
 * "the file shrank while it was read". Frames handed out before may have read zeros, which
 * the decoders count as malformed. A SIGBUS elsewhere goes to the disposition there was.
 */
#define MAP_WIN (2u << 20)
#define MAP_ZAP_WINDOWS 8
#define MAP_MIN (1u << 20)
#define MAP_SLOW_NS_PER_MIB 150000

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

static enum tw_capfile_map map_mode = TW_CAPFILE_MAP_AUTO;

void tw_capfile_set_map(enum tw_capfile_map mode)
{
    map_mode = mode;
}

static bool map_failed(const struct pcapr *r)
{
    return atomic_load_explicit(r->map_bad, memory_order_acquire);
}

/* Sets up the page-table entries of map[at..at + len): false if that failed (a kernel
 * without MADV_POPULATE_READ touches a byte of every page instead). */
static bool map_populate(uint8_t *map, size_t at, size_t len)
{
    if (madvise(map + at, len, MADV_POPULATE_READ) == 0)
        return true;
    if (errno != EINVAL)
        return false;
    for (size_t i = 0; i < len; i += tw_mapguard_page())
        (void)*(volatile const uint8_t *)(map + at + i);
    return true;
}

/* Window k's bytes: [k * MAP_WIN, its end). */
static size_t win_len(const struct pcapr *r, size_t k)
{
    return TW_MIN((size_t)MAP_WIN, r->map_len - k * MAP_WIN);
}

/* Maps c's regular file and parses on in the mapping (nothing may have been read into a
 * block yet). False, with nothing changed, where it is not worth it or not possible. */
static bool map_file(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;
    int fd = fileno(c->fp);
    struct stat sb;
    struct timespec t0, t1;

    if (map_mode == TW_CAPFILE_MAP_NEVER || r->pos != r->end || fstat(fd, &sb) != 0 ||
        !S_ISREG(sb.st_mode) || sb.st_size <= 0 || (uint64_t)sb.st_size > SIZE_MAX / 2 ||
        (map_mode == TW_CAPFILE_MAP_AUTO && (uint64_t)sb.st_size < MAP_MIN))
        return false;
    size_t len = (size_t)sb.st_size, n_win = (len + MAP_WIN - 1) / MAP_WIN;
    struct tw_hold *w = aligned_alloc(_Alignof(struct tw_hold), n_win * sizeof(*w));
    if (w == NULL)
        return false;
    memset(w, 0, n_win * sizeof(*w));
    uint8_t *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        free(w);
        return false;
    }
    int slot = tw_mapguard_add(map, len);
    if (slot < 0)
        goto undo;
    size_t first = TW_MIN(len, (size_t)MAP_WIN);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool ok = map_populate(map, 0, first);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    if (!ok || (map_mode == TW_CAPFILE_MAP_AUTO &&
                ns > (double)MAP_SLOW_NS_PER_MIB * (double)first / (1 << 20)))
        goto undo;
    /* Whatever the file gains past the mapping is read after it (a file still written). */
    if (lseek(fd, (off_t)len, SEEK_SET) != (off_t)len)
        goto undo;
    for (size_t k = 0; k < n_win; k++)
        w[k].mem = map;
    r->map = map;
    r->map_len = len;
    r->map_slot = slot;
    r->map_bad = tw_mapguard_flag(slot);
    r->mapw = w;
    r->n_win = n_win;
    r->zapped = 0;
    r->pos += r->offset;
    r->offset = 0;
    r->end = len;
    r->in_map = true;
    r->cb = &w[0];
    r->win_end = first;
    r->pf = r->pos & ~(size_t)63;
    if (n_win > 1)
        (void)map_populate(map, MAP_WIN, win_len(r, 1));
    return true;
undo:
    if (slot >= 0)
        tw_mapguard_remove(slot);
    munmap(map, len);
    free(w);
    return false;
}

/* The parse has reached r->win_end: on into the window it is in (see above). */
static void map_enter(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;
    size_t k = r->pos / MAP_WIN;
    struct stat sb;

    if (k < r->n_win) {
        r->cb = &r->mapw[k];
        r->win_end = k * MAP_WIN + win_len(r, k);
        if (k + 1 < r->n_win)
            (void)map_populate(r->map, (k + 1) * MAP_WIN, win_len(r, k + 1));
    } else {
        r->win_end = SIZE_MAX; /* the end of the mapping: on in blocks (pcapr_fill) */
    }
    if (fstat(fileno(c->fp), &sb) == 0 && (uint64_t)sb.st_size < r->map_len)
        tw_mapguard_set_failed(r->map_slot);
    /* Not the window before this one: the frame just parsed (this call returns it, its
     * hold not taken yet) may begin there. Let go of MAP_ZAP_WINDOWS or more at once. */
    if (r->zapped + MAP_ZAP_WINDOWS >= k)
        return;
    size_t first = r->zapped;
    while (r->zapped + 1 < k && r->zapped < r->n_win && hold_idle(&r->mapw[r->zapped]))
        r->zapped++;
    if (r->zapped == first)
        return;
    uint8_t *w = r->map + first * MAP_WIN;
    size_t len = (r->zapped - first) * MAP_WIN; /* whole windows: the last one is not among them */
    if (map_mode == TW_CAPFILE_MAP_CHECK)
        (void)mprotect(w, len, PROT_NONE);
    else
        (void)madvise(w, len, MADV_DONTNEED);
}

/* Unmaps c's file once no frame of it is held. */
static void map_close(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;

    if (r->map == NULL)
        return;
    for (size_t k = r->zapped; k < r->n_win; k++)
        pcapr_wait(c, &r->mapw[k]);
    munmap(r->map, r->map_len);
    tw_mapguard_remove(r->map_slot);
    free(r->mapw);
    r->map = NULL;
    r->mapw = NULL;
    r->in_map = false;
}

/* Joins c's reader to the blocks it shares with other readers of its file (c->want_share);
 * reads on its own if it cannot. */
static void pcapr_join(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;
    struct tw_capshare *sh = c->want_share;

    if (c->regular && map_file(c)) {
        if (sh != NULL) { /* it reads its own mapping: the others do not wait for it */
            c->want_share = NULL;
            *c->joined = true;
            tw_capshare_skip(sh);
        }
        return;
    }
    if (sh == NULL || !c->regular)
        return;
    c->want_share = NULL;
    *c->joined = true;
    if (!share_join(sh, fileno(c->fp), &r->reader))
        return;
    r->sh = tw_capshare_ref(sh);
    for (unsigned i = 0; i < SHARE_SLOTS; i++)
        r->view[i].mem = sh->mem + (size_t)i * SLOT_BYTES;
}

bool tw_capfile_regular(const struct tw_capfile *c)
{
    return c->regular;
}

bool tw_capfile_magic(const uint8_t *b)
{
    static const uint32_t magics[] = {PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZ};
    uint32_t be = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    uint32_t le = (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];

    if (tw_pcapng_magic(b))
        return true;
    for (size_t i = 0; i < TW_ARRAY_SIZE(magics); i++)
        if (be == magics[i] || le == magics[i])
            return true;
    return false;
}

/*
 * A stream read once (standard input, a FIFO, a socket). Its bytes pass through buf, which
 * first holds the bytes read to learn the magic. The pcap reader takes what has arrived
 * straight from here; the pcapng reader reads through an unbuffered stdio cookie on top
 * (stream_cookie_read), so that no byte waits in a buffer this does not see: whether the
 * next packet has arrived whole (tw_capfile_ready) is known here.
 */
struct stream {
    FILE *under; /* the stream opened (not closed if standard input) */
    int fd;
    uint8_t *buf;
    size_t cap, beg, end; /* buf[beg, end) arrived and not taken yet */
    bool eof;
    int err; /* errno of a failed read, given to the reader's next read */
};

#define STREAM_BUFFER (1u << 20)

/* Whether a read of fd returns at once (data, end of stream, an error). */
static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) != 0; /* POLLIN, POLLHUP, POLLERR; -1 (EINTR): let the read tell */
}

static bool (*read_stop)(void); /* tw_capfile_set_stop */

void tw_capfile_set_stop(bool (*stop)(void))
{
    read_stop = stop;
}

/* Waits until a read of the stream fd returns at once: false (errno EINTR) if read_stop
 * said stop first. It is asked every STOP_POLL_MS, and after every signal. */
#define STOP_POLL_MS 100
static bool wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    while (read_stop != NULL) {
        int rc = poll(&p, 1, STOP_POLL_MS);
        if (read_stop()) {
            errno = EINTR;
            return false;
        }
        if (rc > 0 || (rc < 0 && errno != EINTR))
            break;
    }
    return true;
}

/* One read(2) into dst. The count, 0 at the end (s->eof), -1 with errno (kept in s->err). */
static ssize_t stream_sysread(struct stream *s, uint8_t *dst, size_t n)
{
    ssize_t got;

    while ((got = read(s->fd, dst, n)) < 0 && errno == EINTR)
        ;
    if (got == 0)
        s->eof = true;
    else if (got < 0)
        s->err = errno;
    return got;
}

/*
 * Up to n bytes of what has arrived: what buf holds, else one read(2) straight into dst. With
 * wait false and nothing arrived, -2 (nothing read). The count, 0 at the end, -1 with errno.
 */
static ssize_t stream_read(struct stream *s, uint8_t *dst, size_t n, bool wait)
{
    if (s->beg < s->end) {
        size_t k = TW_MIN(n, s->end - s->beg);
        memcpy(dst, s->buf + s->beg, k);
        s->beg += k;
        return (ssize_t)k;
    }
    if (s->err != 0) {
        errno = s->err;
        return -1;
    }
    if (s->eof)
        return 0;
    if (!wait && !fd_readable(s->fd))
        return -2;
    if (wait && !wait_readable(s->fd))
        return -1; /* stopped (EINTR): not kept, nothing failed */
    return stream_sysread(s, dst, n);
}

/*
 * Reads, without waiting, what has arrived until buf holds want bytes (it grows to that).
 * True if it does, or the stream ended or failed first (the reader says which); false if the
 * bytes have not all arrived yet.
 */
static bool stream_fill(struct stream *s, size_t want)
{
    while (s->end - s->beg < want) {
        if (s->eof || s->err != 0)
            return true;
        if (s->cap - s->beg < want) {
            memmove(s->buf, s->buf + s->beg, s->end - s->beg);
            s->end -= s->beg;
            s->beg = 0;
        }
        if (s->cap < want) {
            uint8_t *nb = realloc(s->buf, want);
            if (nb == NULL)
                return true; /* the reader waits for the block instead */
            s->buf = nb;
            s->cap = want;
        }
        if (!fd_readable(s->fd))
            return false;
        ssize_t got = stream_sysread(s, s->buf + s->end, s->cap - s->end);
        if (got > 0)
            s->end += (size_t)got;
    }
    return true;
}

static ssize_t stream_cookie_read(void *cookie, char *buf, size_t size)
{
    return stream_read(cookie, (uint8_t *)buf, size, true);
}

static int stream_cookie_close(void *cookie)
{
    struct stream *s = cookie;
    int rc = s->under != stdin ? fclose(s->under) : 0;

    free(s->buf);
    free(s);
    return rc;
}

/* Reads n bytes from fd unless it ends first: how many, or -1 (errno set). */
static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t got = read(fd, buf + done, n - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

/* A stream that hands out head[0..len) and then what fp brings, as an unbuffered stdio stream
 * whose state is *in; NULL (errno set) on failure. Takes fp over. */
static FILE *stream_open(FILE *fp, const uint8_t *head, size_t len, struct stream **in)
{
    static const cookie_io_functions_t io = {.read = stream_cookie_read,
                                             .close = stream_cookie_close};
    struct stream *s = calloc(1, sizeof(*s));
    FILE *out = NULL;

    if (s == NULL || (s->buf = malloc(STREAM_BUFFER)) == NULL)
        goto fail;
    s->under = fp;
    s->fd = fileno(fp);
    s->cap = STREAM_BUFFER;
    memcpy(s->buf, head, len);
    s->end = len;
    if ((out = fopencookie(s, "rb", io)) == NULL)
        goto fail;
    setvbuf(out, NULL, _IONBF, 0);
    *in = s;
    return out;
fail:
    if (s != NULL)
        free(s->buf);
    free(s);
    return NULL;
}

/* Whether the next classic pcap record has arrived whole (or the stream ended): read, without
 * waiting, what has arrived, into the block as pcapr_fill would. */
static bool pcapr_ready(struct tw_capfile *c)
{
    struct pcapr *r = c->pr;
    char why[8];

    for (;;) {
        size_t avail = r->end - r->pos, need = r->rec_hdr;
        if (avail >= r->rec_hdr) {
            uint32_t len, caplen = rec_lengths(r, r->cb->mem + r->pos, &len);
            if (caplen > MAX_CAPLEN)
                return true; /* the reader says so */
            need += caplen;
        }
        if (avail >= need || r->eof)
            return true;
        if (pcapr_room(c, need, why, sizeof(why)) != 0)
            return true; /* out of memory: the reader says so */
        ssize_t got = stream_read(c->in, r->cb->mem + r->end, BLOCK_BYTES - r->end,
                                  false);
        if (got == -2)
            return false;
        if (got < 0)
            return true; /* kept for the reader's next read */
        if (got == 0)
            r->eof = true;
        r->end += (size_t)got;
    }
}

/* Whether a whole packet block has arrived (or the stream ended, or a block the reader will
 * refuse is at hand): the blocks before it (section and interface descriptions, others) are
 * read by the same call of the pcapng reader. */
static bool pcapng_ready(struct tw_capfile *c)
{
    struct stream *s = c->in;
    bool big = c->ng.big;
    size_t at = 0;

    for (;;) {
        uint32_t type, len;
        if (!stream_fill(s, at + 12))
            return false;
        if (s->end - s->beg < at + 12)
            return true; /* the end, or a read error: the reader says which */
        len = tw_pcapng_peek_block(s->buf + s->beg + at, &big, &type);
        if (len < 12 || len > TW_PCAPNG_BLOCK_MAX || at + len > 2 * TW_PCAPNG_BLOCK_MAX)
            return true; /* refused by the reader, or too far ahead to look */
        if (!stream_fill(s, at + len))
            return false;
        if (type == TW_PCAPNG_EPB || type == TW_PCAPNG_PB || type == TW_PCAPNG_SPB ||
            s->end - s->beg < at + len)
            return true;
        at += len;
    }
}

bool tw_capfile_ready(struct tw_capfile *c)
{
    if (c->in == NULL)
        return true;
    return c->pr != NULL ? pcapr_ready(c) : pcapng_ready(c); /* a stream's pcapng: stdio */
}

int tw_capfile_fd(const struct tw_capfile *c)
{
    return c->in != NULL ? c->in->fd : -1;
}

int tw_capfile_open(const char *path, struct tw_capfile **out, char *err, size_t errlen)
{
    return tw_capfile_open_shared(path, NULL, out, err, errlen);
}

int tw_capfile_open_shared(const char *path, struct tw_capshare *sh, struct tw_capfile **out,
                           char *err, size_t errlen)
{
    struct tw_capfile *c = NULL;
    bool joined = false;
    int rc = capfile_open(path, sh, &joined, &c, err, errlen);

    /* Every opening takes one reader's place in sh: one that did not join gives it up. */
    if (sh != NULL && !joined)
        tw_capshare_skip(sh);
    if (rc == 0) {
        c->want_share = NULL;
        c->joined = NULL;
        *out = c;
    }
    return rc;
}

static int capfile_open(const char *path, struct tw_capshare *sh, bool *joined,
                        struct tw_capfile **out, char *err, size_t errlen)
{
    char why[256];
    struct tw_capfile *c = calloc(1, sizeof(*c));
    uint8_t magic[4];
    struct stat sb;
    int rc;

    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TW_ENOMEM;
    }
    c->path = path;
    c->want_share = sh;
    c->joined = joined;
    if (strcmp(path, "-") == 0) {
        c->fp = stdin;
    } else if ((c->fp = fopen(path, "rb")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(c);
        return TW_EIO;
    }
    if (fstat(fileno(c->fp), &sb) == 0 && S_ISREG(sb.st_mode)) {
        c->size = (uint64_t)sb.st_size;
        c->regular = c->fp != stdin; /* standard input cannot be opened again */
    }
    /* The magic is read with read(2): nothing goes through stdio's buffer before the reader
     * that takes the file is chosen. A regular file goes back to its start; a stream is read
     * through struct stream, which hands the magic back first and then what has arrived,
     * instead of waiting to fill a buffer. */
    ssize_t n = c->regular || wait_readable(fileno(c->fp))
                    ? read_full(fileno(c->fp), magic, sizeof(magic))
                    : -1;
    if (n != (ssize_t)sizeof(magic)) {
        snprintf(err, errlen, "%s: %s", path,
                 n < 0 ? strerror(errno) : "not a capture file (shorter than a header)");
        rc = n < 0 ? TW_EIO : TW_EMALFORMED;
        goto out_close;
    }
    if (!tw_capfile_magic(magic)) {
        snprintf(err, errlen, "%s: not a capture file (no pcap or pcapng magic)", path);
        rc = TW_EMALFORMED;
        goto out_close;
    }
    if (c->regular) {
        if (lseek(fileno(c->fp), 0, SEEK_SET) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = TW_EIO;
            goto out_close;
        }
    } else {
        FILE *fp = stream_open(c->fp, magic, sizeof(magic), &c->in);
        if (fp == NULL) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = TW_EIO;
            goto out_close;
        }
        c->fp = fp; /* closes the stream under it (not stdin) */
    }
    if (tw_pcapng_magic(magic) && c->regular) {
        /* Read by read(2) into blocks and parsed in place, as classic pcap. */
        c->linktype = -1;
        rc = ngblk_open(c, why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            goto out_close;
        }
        *out = c;
        return 0;
    }
    if (tw_pcapng_magic(magic)) { /* a stream: through struct stream's stdio cookie */
        c->linktype = -1;
        rc = tw_pcapng_open(&c->ng, c->fp, why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            tw_pcapng_close(&c->ng);
            goto out_close;
        }
        *out = c;
        return 0;
    }
    rc = pcapr_open(c, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto out_close;
    }
    *out = c;
    return 0;
out_close:
    if (c->pr != NULL)
        pcapr_close(c);
    tw_pcapng_close(&c->ng);
    if (c->fp != stdin)
        fclose(c->fp);
    free(c);
    return rc;
}

int tw_capfile_next(struct tw_capfile *c, struct tw_frame *f, int *linktype, char *err,
                    size_t errlen)
{
    char why[256];
    int rc;

    if (c->pr == NULL) {
        rc = tw_pcapng_next(&c->ng, f, linktype, why, sizeof(why));
        if (rc < 0 && rc != TW_EOF)
            snprintf(err, errlen, "%s: %s", c->path, why);
        return rc;
    }
    if (c->ng_blocks) {
        rc = ngblk_next(c, f, linktype, why, sizeof(why));
        if (rc < 0 && rc != TW_EOF)
            snprintf(err, errlen, "%s: %s", c->path, why);
        return rc;
    }
    rc = pcapr_next(c, f, why, sizeof(why));
    if (rc == 1) {
        *linktype = c->linktype;
        return 1;
    }
    if (rc != TW_EOF)
        snprintf(err, errlen, "%s: %s", c->path, why);
    return rc;
}

void tw_capfile_progress(const struct tw_capfile *c, uint64_t *done, uint64_t *total)
{
    long pos = c->fp != NULL ? ftell(c->fp) : -1;

    if (c->pr != NULL)
        *done = c->pr->offset + c->pr->pos; /* what was parsed, not what was read ahead */
    else
        *done = pos >= 0 ? (uint64_t)pos : 0;
    *total = c->size;
}

void tw_capfile_set_stall(struct tw_capfile *c, tw_stall_fn fn, void *ctx)
{
    c->stall = fn;
    c->stall_ctx = ctx;
}

int tw_capfile_linktype(const struct tw_capfile *c)
{
    return c->linktype;
}

void tw_capfile_close(struct tw_capfile *c)
{
    if (c == NULL)
        return;
    if (c->pr != NULL)
        pcapr_close(c);
    tw_pcapng_close(&c->ng);
    if (c->fp != stdin)
        fclose(c->fp);
    free(c);
}

/* ---- the merge ---- */

struct mfile {
    const char *path;
    size_t idx;        /* order of tw_merge_add */
    int64_t first_sec; /* time of its first packet (INT64_MAX: none) */
    uint32_t first_nsec;
    uint64_t size;
    struct tw_capfile *cf; /* open, or NULL */
    struct tw_frame cur;   /* its next packet, while open */
    int cur_linktype;
    bool opened;  /* taken from the pending list */
    int linktype; /* classic pcap: the file's; pcapng: -1 */
    struct tw_capshare *share; /* its blocks, read once for every copy of the merge, or NULL */
};

struct tw_merge {
    struct mfile *files;
    size_t n, cap;
    size_t *order;    /* file indices by first packet time, built at the first next() */
    size_t next_open; /* position in order of the next file to open */
    size_t *heap;     /* open files, a min-heap on (cur time, idx) */
    size_t n_heap;
    bool started;
    bool copy; /* tw_merge_copy's: a reader of the files' shared blocks */
    ssize_t last; /* file whose packet was handed out last (advance it first), or -1 */
    struct tw_merge_stats st;
    tw_stall_fn stall;
    void *stall_ctx;
    /* Files read to their end whose blocks still hold frames handed out (to workers, or in
     * the caller's burst): closed once nothing of them is held (reap_closing). */
    struct tw_capfile **closing;
    size_t n_closing, cap_closing;
};

/* Whether no frame of c is held any more. */
static bool capfile_idle(struct tw_capfile *c)
{
    if (c->pr == NULL)
        return true;
    for (unsigned i = 0; i < BLOCKS; i++)
        if (!hold_idle(&c->pr->blk[i]))
            return false;
    if (c->pr->sh != NULL)
        for (unsigned i = 0; i < SHARE_SLOTS; i++)
            if (!hold_idle(&c->pr->view[i]))
                return false;
    for (size_t k = c->pr->zapped; k < c->pr->n_win; k++)
        if (!hold_idle(&c->pr->mapw[k]))
            return false;
    return true;
}

/* A file of the merge waits for another reader of shared blocks: the caller lets go of what
 * it holds (its stall callback), then every open file lets go of the shared blocks it is
 * done with, so that no two readers wait for each other. */
static void merge_stall(void *ctx)
{
    struct tw_merge *m = ctx;

    if (m->stall != NULL)
        m->stall(m->stall_ctx);
    for (size_t i = 0; i < m->n; i++) {
        struct tw_capfile *cf = m->files[i].cf;
        if (cf != NULL && cf->pr != NULL && cf->pr->sh != NULL && !cf->pr->gone)
            share_release(cf);
    }
}

static void reap_closing(struct tw_merge *m)
{
    size_t k = 0;

    for (size_t i = 0; i < m->n_closing; i++) {
        if (capfile_idle(m->closing[i]))
            tw_capfile_close(m->closing[i]);
        else
            m->closing[k++] = m->closing[i];
    }
    m->n_closing = k;
}

/* Closes cf now if nothing of it is held, else once nothing is (the caller may hold frames
 * of it itself: it must not wait here). */
static void close_later(struct tw_merge *m, struct tw_capfile *cf)
{
    if (capfile_idle(cf)) {
        tw_capfile_close(cf);
        return;
    }
    if (m->n_closing == m->cap_closing) {
        size_t ncap = m->cap_closing ? 2 * m->cap_closing : 4;
        struct tw_capfile **nc = realloc(m->closing, ncap * sizeof(*nc));
        if (nc == NULL) {
            tw_capfile_close(cf); /* waits: only a caller that holds nothing itself gets here */
            return;
        }
        m->closing = nc;
        m->cap_closing = ncap;
    }
    m->closing[m->n_closing++] = cf;
}

void tw_merge_set_stall(struct tw_merge *m, tw_stall_fn fn, void *ctx)
{
    m->stall = fn;
    m->stall_ctx = ctx;
    for (size_t i = 0; i < m->n; i++)
        if (m->files[i].cf != NULL)
            tw_capfile_set_stall(m->files[i].cf, merge_stall, m);
}

int tw_merge_share(struct tw_merge *m, unsigned readers)
{
    struct slot_pool *pool = pool_new(); /* NULL: each file maps its own slots */
    int rc = 0;

    for (size_t i = 0; i < m->n && rc == 0; i++) {
        struct mfile *mf = &m->files[i];
        if (mf->cf != NULL || mf->share != NULL)
            continue; /* a stream: read once, by one reader */
        if ((mf->share = capshare_new(readers, pool)) == NULL)
            rc = TW_ENOMEM;
    }
    pool_unref(pool); /* the shares keep it */
    return rc;
}

/* mf's share is no longer m's: a copy that never opened the file gives its reader's place up
 * (opened from here on, the file is read alone). */
static void share_drop(struct tw_merge *m, struct mfile *mf)
{
    if (mf->share == NULL)
        return;
    if (!mf->opened && m->copy)
        tw_capshare_skip(mf->share);
    tw_capshare_unref(mf->share);
    mf->share = NULL;
}

void tw_merge_leave(struct tw_merge *m)
{
    m->stall = NULL; /* the caller holds nothing any more, and may be gone when m is freed */
    for (size_t i = 0; i < m->n; i++) {
        struct mfile *mf = &m->files[i];
        if (mf->share != NULL && mf->cf != NULL && mf->cf->pr != NULL)
            share_leave(mf->cf);
        share_drop(m, mf);
    }
    for (size_t i = 0; i < m->n_closing; i++)
        if (m->closing[i]->pr != NULL)
            share_leave(m->closing[i]);
}

bool tw_merge_read_ahead(struct tw_merge *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct tw_capfile *cf = m->files[i].cf;
        if (cf == NULL || cf->pr == NULL || cf->pr->sh == NULL || cf->pr->gone || cf->pr->eof)
            continue;
        if (share_ahead(cf, share_next(cf->pr) / SLOT_BYTES, true))
            return true;
    }
    return false;
}

struct tw_merge *tw_merge_new(void)
{
    struct tw_merge *m = calloc(1, sizeof(*m));
    if (m != NULL)
        m->last = -1;
    return m;
}

int tw_merge_add(struct tw_merge *m, const char *path, char *err, size_t errlen)
{
    struct tw_capfile *cf;
    struct tw_frame f;
    int lt, rc;

    if (m->started) {
        snprintf(err, errlen, "%s: added after the merge started", path);
        return TW_EINVAL;
    }
    if ((rc = tw_capfile_open(path, &cf, err, errlen)) != 0)
        return rc;
    rc = tw_capfile_next(cf, &f, &lt, err, errlen);
    uint64_t done, size;
    tw_capfile_progress(cf, &done, &size);
    if (rc < 0 && rc != TW_EOF) {
        tw_capfile_close(cf);
        return rc;
    }
    if (m->n == m->cap) {
        size_t ncap = m->cap == 0 ? 16 : m->cap * 2;
        struct mfile *nf = realloc(m->files, ncap * sizeof(*nf));
        if (nf == NULL) {
            tw_capfile_close(cf);
            snprintf(err, errlen, "%s: out of memory", path);
            return TW_ENOMEM;
        }
        m->files = nf;
        m->cap = ncap;
    }
    m->files[m->n] = (struct mfile){
        .path = path,
        .idx = m->n,
        .first_sec = rc == 1 ? f.ts_sec : INT64_MAX,
        .first_nsec = rc == 1 ? f.ts_nsec : 0,
        .size = size,
        .linktype = tw_capfile_linktype(cf),
    };
    /* Standard input, a FIFO or a socket cannot be read twice: it stays open from here. */
    if (!tw_capfile_regular(cf)) {
        m->files[m->n].cf = cf;
        m->files[m->n].cur = f;
        m->files[m->n].cur_linktype = lt;
        if (rc != 1) {
            tw_capfile_close(cf);
            m->files[m->n].cf = NULL;
        }
    } else {
        tw_capfile_close(cf);
    }
    m->n++;
    m->st.files++;
    m->st.bytes_total += size;
    return 0;
}

static bool earlier(const struct mfile *a, const struct mfile *b)
{
    if (a->cur.ts_sec != b->cur.ts_sec)
        return a->cur.ts_sec < b->cur.ts_sec;
    if (a->cur.ts_nsec != b->cur.ts_nsec)
        return a->cur.ts_nsec < b->cur.ts_nsec;
    return a->idx < b->idx;
}

static void heap_down(struct tw_merge *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < m->n_heap && earlier(&m->files[m->heap[l]], &m->files[m->heap[best]]))
            best = l;
        if (r < m->n_heap && earlier(&m->files[m->heap[r]], &m->files[m->heap[best]]))
            best = r;
        if (best == i)
            return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[best];
        m->heap[best] = t;
        i = best;
    }
}

static void heap_push(struct tw_merge *m, size_t fi)
{
    size_t i = m->n_heap++;

    m->heap[i] = fi;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!earlier(&m->files[m->heap[i]], &m->files[m->heap[p]]))
            break;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[p];
        m->heap[p] = t;
        i = p;
    }
}

static void heap_pop(struct tw_merge *m)
{
    m->heap[0] = m->heap[--m->n_heap];
    heap_down(m, 0);
}

static int cmp_first(const void *a, const void *b, void *ctx)
{
    const struct mfile *files = ctx;
    const struct mfile *x = &files[*(const size_t *)a], *y = &files[*(const size_t *)b];

    if (x->first_sec != y->first_sec)
        return x->first_sec < y->first_sec ? -1 : 1;
    if (x->first_nsec != y->first_nsec)
        return x->first_nsec < y->first_nsec ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void file_closed(struct tw_merge *m, struct mfile *mf, bool failed)
{
    close_later(m, mf->cf);
    mf->cf = NULL;
    m->st.files_open--;
    if (failed)
        m->st.files_failed++;
    else
        m->st.files_done++;
}

/* Opens the next file in time order and reads its first packet into the heap. 0, or a
 * negative code with err set (the file is counted failed). */
static int open_next(struct tw_merge *m, char *err, size_t errlen)
{
    struct mfile *mf = &m->files[m->order[m->next_open++]];
    int rc;

    mf->opened = true;
    if (mf->first_sec == INT64_MAX) {
        m->st.files_done++; /* no packet in it */
        if (mf->share != NULL)
            tw_capshare_skip(mf->share);
        return 0;
    }
    if (mf->cf == NULL) {
        if ((rc = tw_capfile_open_shared(mf->path, mf->share, &mf->cf, err, errlen)) != 0) {
            m->st.files_failed++;
            return rc;
        }
        tw_capfile_set_stall(mf->cf, merge_stall, m);
        m->st.files_open++;
        rc = tw_capfile_next(mf->cf, &mf->cur, &mf->cur_linktype, err, errlen);
        if (rc != 1) {
            file_closed(m, mf, rc != TW_EOF);
            return rc == TW_EOF ? 0 : rc;
        }
    } else {
        m->st.files_open++; /* standard input, open since tw_merge_add */
    }
    heap_push(m, mf->idx);
    return 0;
}

int tw_merge_next(struct tw_merge *m, struct tw_frame *f, int *linktype, size_t *file, char *err,
                  size_t errlen)
{
    int rc;

    if (m->n_closing > 0)
        reap_closing(m);
    if (!m->started) {
        m->started = true;
        m->order = malloc((m->n + 1) * sizeof(*m->order));
        m->heap = malloc((m->n + 1) * sizeof(*m->heap));
        if (m->order == NULL || m->heap == NULL) {
            snprintf(err, errlen, "merge: out of memory");
            m->n = 0;
            return TW_ENOMEM;
        }
        for (size_t i = 0; i < m->n; i++)
            m->order[i] = i;
        qsort_r(m->order, m->n, sizeof(*m->order), cmp_first, m->files);
    }
    if (m->last >= 0) {
        /* The file handed out last is at the top of the heap: advance it. The one file left
         * (a replay of one file, or the end of a merge) hands its packets straight out: no
         * heap, no copy. */
        struct mfile *mf = &m->files[m->last];
        bool alone = m->n_heap == 1 && m->next_open == m->n;
        rc = tw_capfile_next(mf->cf, alone ? f : &mf->cur,
                             alone ? linktype : &mf->cur_linktype, err, errlen);
        if (rc == 1 && alone) {
            *file = mf->idx;
            m->st.frames++;
            return 1;
        }
        m->last = -1;
        if (rc == 1) {
            heap_down(m, 0);
        } else {
            heap_pop(m);
            file_closed(m, mf, rc != TW_EOF);
            if (rc != TW_EOF)
                return rc;
        }
    }
    /* Open every file whose first packet is not later than the earliest packet at hand. */
    while (m->next_open < m->n) {
        const struct mfile *nx = &m->files[m->order[m->next_open]];
        if (m->n_heap > 0) {
            const struct mfile *top = &m->files[m->heap[0]];
            if (nx->first_sec > top->cur.ts_sec ||
                (nx->first_sec == top->cur.ts_sec && nx->first_nsec > top->cur.ts_nsec))
                break;
        }
        if ((rc = open_next(m, err, errlen)) != 0)
            return rc;
    }
    if (m->n_heap == 0)
        return TW_EOF;
    struct mfile *mf = &m->files[m->heap[0]];
    *f = mf->cur;
    *linktype = mf->cur_linktype;
    *file = mf->idx;
    m->last = (ssize_t)mf->idx;
    m->st.frames++;
    return 1;
}

bool tw_merge_ready(struct tw_merge *m)
{
    return m->last < 0 || tw_capfile_ready(m->files[m->last].cf);
}

int tw_merge_wait_fd(const struct tw_merge *m)
{
    return m->last < 0 ? -1 : tw_capfile_fd(m->files[m->last].cf);
}

bool tw_merge_has_stream(const struct tw_merge *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->files[i].cf != NULL && tw_capfile_fd(m->files[i].cf) >= 0)
            return true;
    return false;
}

bool tw_merge_mapped(const struct tw_merge *m)
{
    if (m->last < 0)
        return false;
    const struct tw_capfile *cf = m->files[m->last].cf;
    return cf != NULL && cf->pr != NULL && cf->pr->map != NULL;
}

int tw_merge_linktype(const struct tw_merge *m, size_t file)
{
    return file < m->n ? m->files[file].linktype : -1;
}

void tw_merge_get_stats(const struct tw_merge *m, struct tw_merge_stats *st)
{
    *st = m->st;
    st->bytes_done = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct mfile *mf = &m->files[i];
        uint64_t done, total;
        if (mf->cf != NULL) {
            tw_capfile_progress(mf->cf, &done, &total);
            st->bytes_done += done;
        } else if (m->started) {
            /* closed: read whole, or not yet opened (its first packet is later) */
            if (mf->opened)
                st->bytes_done += mf->size;
        }
    }
}

struct tw_merge *tw_merge_copy(const struct tw_merge *m)
{
    struct tw_merge *c;

    if (m->started)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->files[i].cf != NULL)
            return NULL; /* a stream, read once */
    if ((c = tw_merge_new()) == NULL)
        return NULL;
    if (m->n > 0) {
        if ((c->files = malloc(m->n * sizeof(*c->files))) == NULL) {
            free(c);
            return NULL;
        }
        memcpy(c->files, m->files, m->n * sizeof(*c->files));
        for (size_t i = 0; i < m->n; i++)
            tw_capshare_ref(c->files[i].share);
    }
    c->n = c->cap = m->n;
    c->copy = true;
    c->st.files = m->st.files;
    c->st.bytes_total = m->st.bytes_total;
    return c;
}

void tw_merge_free(struct tw_merge *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct mfile *mf = &m->files[i];
        tw_capfile_close(mf->cf);
        share_drop(m, mf);
    }
    for (size_t i = 0; i < m->n_closing; i++)
        tw_capfile_close(m->closing[i]); /* waits for what is still held */
    free(m->closing);
    free(m->files);
    free(m->order);
    free(m->heap);
    free(m);
}
