/* SPDX-License-Identifier: MIT */
/*
 * Capture files packet by packet (classic pcap through libpcap, pcapng through the own block
 * reader) and the k-way merge of several files: see include/tunwatch/capture/capfile.h.
 */
#include "tunwatch/capture/capfile.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pcap_frame.h"
#include "tunwatch/capture/pcapng.h"

#define READ_BUFFER (1u << 20)

struct tw_capfile {
    const char *path;
    FILE *fp;
    bool regular; /* a regular file by name: can be opened again and read from the start */
    char *readbuf;
    pcap_t *pcap; /* classic pcap, else NULL (pcapng) */
    bool nano;
    int linktype;
    struct tw_pcapng ng;
    uint64_t size;
};

bool tw_capfile_regular(const struct tw_capfile *c)
{
    return c->regular;
}

bool tw_capfile_magic(const uint8_t *b)
{
    static const uint32_t magics[] = {
        0xa1b2c3d4u, /* microseconds */
        0xa1b23c4du, /* nanoseconds */
        0xa1b2cd34u, /* Kuznetzov's modified pcap */
    };
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
 * A stream that cannot seek back (standard input, a FIFO, a socket): the bytes read to learn
 * its magic are handed out again before the rest, through a stdio cookie, so that libpcap and
 * the pcapng reader see the stream from its first byte.
 */
struct replay {
    FILE *under;
    uint8_t head[4];
    size_t len, pos;
};

static ssize_t replay_read(void *cookie, char *buf, size_t size)
{
    struct replay *r = cookie;
    size_t n = 0;

    while (r->pos < r->len && n < size)
        buf[n++] = (char)r->head[r->pos++];
    if (n < size) {
        size_t got = fread(buf + n, 1, size - n, r->under);
        if (got == 0 && n == 0 && ferror(r->under))
            return -1;
        n += got;
    }
    return (ssize_t)n;
}

static int replay_close(void *cookie)
{
    struct replay *r = cookie;
    int rc = r->under != stdin ? fclose(r->under) : 0;

    free(r);
    return rc;
}

/* A stream that reads head[0..len) and then fp, or NULL (errno set). Takes fp over. */
static FILE *replay_open(FILE *fp, const uint8_t *head, size_t len)
{
    static const cookie_io_functions_t io = {.read = replay_read, .close = replay_close};
    struct replay *r = calloc(1, sizeof(*r));
    FILE *out;

    if (r == NULL)
        return NULL;
    r->under = fp;
    memcpy(r->head, head, len);
    r->len = len;
    if ((out = fopencookie(r, "rb", io)) == NULL)
        free(r);
    return out;
}

int tw_capfile_open(const char *path, struct tw_capfile **out, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "", why[256];
    struct tw_capfile *c = calloc(1, sizeof(*c));
    uint8_t magic[4];
    struct stat sb;
    int rc;

    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TW_ENOMEM;
    }
    c->path = path;
    if (strcmp(path, "-") == 0) {
        c->fp = stdin;
    } else if ((c->fp = fopen(path, "rb")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(c);
        return TW_EIO;
    }
    c->readbuf = malloc(READ_BUFFER);
    if (c->readbuf != NULL)
        setvbuf(c->fp, c->readbuf, _IOFBF, READ_BUFFER);
    if (fstat(fileno(c->fp), &sb) == 0 && S_ISREG(sb.st_mode)) {
        c->size = (uint64_t)sb.st_size;
        c->regular = c->fp != stdin; /* standard input cannot be opened again */
    }
    size_t n = fread(magic, 1, sizeof(magic), c->fp);
    if (n != sizeof(magic)) {
        snprintf(err, errlen, "%s: %s", path,
                 ferror(c->fp) ? strerror(errno) : "not a capture file (shorter than a header)");
        rc = ferror(c->fp) ? TW_EIO : TW_EMALFORMED;
        goto out_close;
    }
    if (!tw_capfile_magic(magic)) {
        snprintf(err, errlen, "%s: not a capture file (no pcap or pcapng magic)", path);
        rc = TW_EMALFORMED;
        goto out_close;
    }
    if (c->regular) {
        if (fseek(c->fp, 0, SEEK_SET) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = TW_EIO;
            goto out_close;
        }
    } else {
        FILE *fp = replay_open(c->fp, magic, sizeof(magic));
        if (fp == NULL) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = TW_EIO;
            goto out_close;
        }
        c->fp = fp; /* closes the stream under it (not stdin) */
    }
    if (tw_pcapng_magic(magic)) {
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
    c->pcap = pcap_fopen_offline_with_tstamp_precision(c->fp, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (c->pcap == NULL) {
        snprintf(err, errlen, "%s: %s", path, perr);
        rc = TW_EMALFORMED;
        goto out_close;
    }
    c->nano = pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO;
    c->linktype = pcap_datalink(c->pcap);
    *out = c;
    return 0;
out_close:
    if (c->fp != stdin)
        fclose(c->fp);
    free(c->readbuf);
    free(c);
    return rc;
}

int tw_capfile_next(struct tw_capfile *c, struct tw_frame *f, int *linktype, char *err,
                    size_t errlen)
{
    char why[256];
    int rc;

    if (c->pcap == NULL) {
        rc = tw_pcapng_next(&c->ng, f, linktype, why, sizeof(why));
        if (rc < 0 && rc != TW_EOF)
            snprintf(err, errlen, "%s: %s", c->path, why);
        return rc;
    }
    struct pcap_pkthdr *h;
    const u_char *bytes;
    rc = pcap_next_ex(c->pcap, &h, &bytes);
    if (rc == 1) {
        *f = tw_pcap_frame(h, bytes, c->nano);
        *linktype = c->linktype;
        return 1;
    }
    if (rc == PCAP_ERROR_BREAK)
        return TW_EOF;
    snprintf(err, errlen, "%s: %s", c->path, pcap_geterr(c->pcap));
    return TW_EIO;
}

void tw_capfile_progress(const struct tw_capfile *c, uint64_t *done, uint64_t *total)
{
    long pos = c->fp != NULL ? ftell(c->fp) : -1;

    *done = pos >= 0 ? (uint64_t)pos : 0;
    *total = c->size;
}

int tw_capfile_linktype(const struct tw_capfile *c)
{
    return c->linktype;
}

void tw_capfile_close(struct tw_capfile *c)
{
    if (c == NULL)
        return;
    if (c->pcap != NULL) {
        pcap_close(c->pcap); /* closes fp */
    } else {
        tw_pcapng_close(&c->ng);
        if (c->fp != stdin)
            fclose(c->fp);
    }
    free(c->readbuf);
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
};

struct tw_merge {
    struct mfile *files;
    size_t n, cap;
    size_t *order;    /* file indices by first packet time, built at the first next() */
    size_t next_open; /* position in order of the next file to open */
    size_t *heap;     /* open files, a min-heap on (cur time, idx) */
    size_t n_heap;
    bool started;
    ssize_t last; /* file whose packet was handed out last (advance it first), or -1 */
    struct tw_merge_stats st;
};

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
    tw_capfile_close(mf->cf);
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
        return 0;
    }
    if (mf->cf == NULL) {
        if ((rc = tw_capfile_open(mf->path, &mf->cf, err, errlen)) != 0) {
            m->st.files_failed++;
            return rc;
        }
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
        /* The file handed out last is at the top of the heap: advance it. */
        struct mfile *mf = &m->files[m->last];
        m->last = -1;
        rc = tw_capfile_next(mf->cf, &mf->cur, &mf->cur_linktype, err, errlen);
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

void tw_merge_free(struct tw_merge *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        tw_capfile_close(m->files[i].cf);
    free(m->files);
    free(m->order);
    free(m->heap);
    free(m);
}
