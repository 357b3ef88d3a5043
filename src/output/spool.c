/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunwatch/base/common.h"
#include "tunwatch/output/output.h"

#define SUFFIX_SEALED ".spool"
#define SUFFIX_OPEN ".tmp"
#define SCRATCH (TW_LINE_MAX + TW_REC_KEY_MAX + 8)

struct tw_spool {
    char *dir;
    int lock_fd;
    uint64_t max_bytes, seg_bytes;
    uint64_t *seqs; /* sealed segments, ascending */
    size_t n_seqs, cap_seqs;
    uint64_t next_seq;
    /* the segment being written */
    int wfd;
    uint64_t wseq, wbytes, wrecords;
    /* the segment being replayed: seqs[0] */
    FILE *rfp;
    char *rbuf; /* getline buffer */
    size_t rcap;
    ssize_t rlen; /* the record peeked, > 0 while one is held */
    struct tw_spool_stats st;
    char *scratch; /* one record, as written */
};

static int seg_path(const struct tw_spool *sp, uint64_t seq, const char *suffix, char *buf,
                    size_t cap)
{
    int n = snprintf(buf, cap, "%s/%016" PRIx64 "%s", sp->dir, seq, suffix);
    return n > 0 && (size_t)n < cap ? 0 : TW_EINVAL;
}

static int add_seq(struct tw_spool *sp, uint64_t seq)
{
    if (sp->n_seqs == sp->cap_seqs) {
        size_t c = sp->cap_seqs ? sp->cap_seqs * 2 : 64;
        uint64_t *v = realloc(sp->seqs, c * sizeof(*v));
        if (v == NULL)
            return TW_ENOMEM;
        sp->seqs = v;
        sp->cap_seqs = c;
    }
    sp->seqs[sp->n_seqs++] = seq;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Counts the LF-ended records of a file and the bytes after the last LF. */
static int scan_file(const char *path, uint64_t *records, uint64_t *size, uint64_t *whole)
{
    char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    *records = *size = *whole = 0;
    if (fd < 0)
        return TW_EIO;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n') {
                (*records)++;
                *whole = *size + (uint64_t)i + 1;
            }
        *size += (uint64_t)n;
    }
    close(fd);
    return n < 0 ? TW_EIO : 0;
}

/* Reads the folder: sealed segments in order, cut .tmp segments kept up to their last LF. */
static int recover(struct tw_spool *sp, char *err, size_t errlen)
{
    DIR *d = opendir(sp->dir);
    struct dirent *de;
    char path[4096], sealed[4096];

    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", sp->dir, strerror(errno));
        return TW_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        char *end;
        uint64_t seq, records, size, whole;
        bool open_seg;

        if (len == 16 + strlen(SUFFIX_SEALED) && strcmp(name + 16, SUFFIX_SEALED) == 0)
            open_seg = false;
        else if (len == 16 + strlen(SUFFIX_OPEN) && strcmp(name + 16, SUFFIX_OPEN) == 0)
            open_seg = true;
        else
            continue;
        errno = 0;
        seq = strtoull(name, &end, 16);
        if (errno != 0 || end != name + 16)
            continue;
        if (seg_path(sp, seq, open_seg ? SUFFIX_OPEN : SUFFIX_SEALED, path, sizeof(path)) != 0 ||
            scan_file(path, &records, &size, &whole) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            closedir(d);
            return TW_EIO;
        }
        if (whole < size) {
            /* A record cut by a crash or a full disk: keep the whole ones. */
            sp->st.cut_bytes += size - whole;
            if (truncate(path, (off_t)whole) != 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                closedir(d);
                return TW_EIO;
            }
        }
        if (whole == 0) {
            unlink(path);
            continue;
        }
        if (open_seg) {
            if (seg_path(sp, seq, SUFFIX_SEALED, sealed, sizeof(sealed)) != 0 ||
                rename(path, sealed) != 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                closedir(d);
                return TW_EIO;
            }
            sp->st.recovered++;
        }
        if (add_seq(sp, seq) != 0) {
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return TW_ENOMEM;
        }
        sp->st.records += records;
        sp->st.bytes += whole;
        if (seq >= sp->next_seq)
            sp->next_seq = seq + 1;
    }
    closedir(d);
    if (sp->n_seqs > 1)
        qsort(sp->seqs, sp->n_seqs, sizeof(*sp->seqs), cmp_u64);
    return 0;
}

struct tw_spool *tw_spool_open(const char *dir, uint64_t max_bytes, uint64_t seg_bytes,
                               char *err, size_t errlen)
{
    struct tw_spool *sp = calloc(1, sizeof(*sp));
    char path[4096];

    if (sp == NULL || (sp->dir = strdup(dir)) == NULL ||
        (sp->scratch = malloc(SCRATCH)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out_free;
    }
    sp->wfd = sp->lock_fd = -1;
    sp->max_bytes = max_bytes;
    sp->seg_bytes = seg_bytes > 0 ? seg_bytes : 1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto out_free;
    }
    snprintf(path, sizeof(path), "%s/lock", dir);
    sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->lock_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out_free;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s: in use by another sink or process", dir);
        goto out_free;
    }
    if (recover(sp, err, errlen) != 0)
        goto out_free;
    return sp;
out_free:
    if (sp != NULL) {
        if (sp->lock_fd >= 0)
            close(sp->lock_fd);
        free(sp->seqs);
        free(sp->scratch);
        free(sp->dir);
        free(sp);
    }
    return NULL;
}

/* Closes the segment being written and makes it replayable. */
static int seal(struct tw_spool *sp)
{
    char from[4096], to[4096];

    if (sp->wfd < 0)
        return 0;
    close(sp->wfd);
    sp->wfd = -1;
    if (seg_path(sp, sp->wseq, SUFFIX_OPEN, from, sizeof(from)) != 0 ||
        seg_path(sp, sp->wseq, SUFFIX_SEALED, to, sizeof(to)) != 0)
        return TW_EIO;
    if (sp->wrecords == 0) {
        unlink(from);
        return 0;
    }
    if (rename(from, to) != 0)
        return TW_EIO;
    return add_seq(sp, sp->wseq);
}

int tw_spool_append(struct tw_spool *sp, const struct tw_rec *r)
{
    size_t key_len = r->key != NULL && r->key_len > 0 ? r->key_len : 0;
    size_t n = 0;
    char path[4096];

    if (key_len > TW_REC_KEY_MAX || r->len > TW_LINE_MAX)
        return TW_EINVAL;
    sp->scratch[n++] = r->alert ? 'A' : 'E';
    sp->scratch[n++] = (char)('0' + (r->severity & 7));
    sp->scratch[n++] = ' ';
    if (key_len > 0) {
        memcpy(sp->scratch + n, r->key, key_len);
        n += key_len;
    } else {
        sp->scratch[n++] = '-';
    }
    sp->scratch[n++] = ' ';
    memcpy(sp->scratch + n, r->line, r->len);
    n += r->len;
    sp->scratch[n++] = '\n';
    if (sp->st.bytes + n > sp->max_bytes) {
        sp->st.refused++;
        return TW_ENOMEM;
    }
    if (sp->wfd < 0) {
        sp->wseq = sp->next_seq++;
        sp->wbytes = sp->wrecords = 0;
        if (seg_path(sp, sp->wseq, SUFFIX_OPEN, path, sizeof(path)) != 0)
            return TW_EIO;
        sp->wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        if (sp->wfd < 0)
            return TW_EIO;
    }
    ssize_t w = write(sp->wfd, sp->scratch, n);
    if (w != (ssize_t)n) {
        int e = w < 0 ? errno : ENOSPC;
        /* Nothing cut stays behind: the next record starts on a line of its own. */
        if (ftruncate(sp->wfd, (off_t)sp->wbytes) != 0) {
            /* the cut record is dropped at replay (counted there) */
        }
        errno = e;
        return TW_EIO;
    }
    sp->wbytes += n;
    sp->wrecords++;
    sp->st.bytes += n;
    sp->st.records++;
    sp->st.appended++;
    if (sp->wbytes >= sp->seg_bytes && seal(sp) != 0)
        return TW_EIO;
    return 0;
}

/* Done with the oldest sealed segment: removed. */
static void drop_oldest(struct tw_spool *sp)
{
    char path[4096];
    struct stat sb;

    if (sp->rfp != NULL) {
        fclose(sp->rfp);
        sp->rfp = NULL;
    }
    if (seg_path(sp, sp->seqs[0], SUFFIX_SEALED, path, sizeof(path)) == 0) {
        if (stat(path, &sb) == 0)
            sp->st.bytes -= TW_MIN((uint64_t)sb.st_size, sp->st.bytes);
        unlink(path);
    }
    memmove(sp->seqs, sp->seqs + 1, (sp->n_seqs - 1) * sizeof(*sp->seqs));
    sp->n_seqs--;
}

/* Parses "A7 KEY LINE" (rlen bytes, LF removed) into r; false if it is not a record. */
static bool parse_rec(const char *p, size_t n, struct tw_rec *r, char *buf, size_t cap)
{
    const char *sp1, *key;
    size_t key_len;

    if (n < 5 || (p[0] != 'A' && p[0] != 'E') || p[1] < '0' || p[1] > '7' || p[2] != ' ')
        return false;
    key = p + 3;
    sp1 = memchr(key, ' ', n - 3);
    if (sp1 == NULL)
        return false;
    key_len = (size_t)(sp1 - key);
    if (key_len == 0 || key_len > TW_REC_KEY_MAX)
        return false;
    if (key_len == 1 && key[0] == '-')
        key_len = 0;
    size_t line_len = n - (size_t)(sp1 + 1 - p);
    if (key_len + line_len + 1 > cap)
        return false;
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, sp1 + 1, line_len);
    buf[key_len + line_len] = '\n';
    r->alert = p[0] == 'A';
    r->severity = (uint8_t)(p[1] - '0');
    r->key = key_len > 0 ? buf : NULL;
    r->key_len = key_len;
    r->line = buf + key_len;
    r->len = line_len;
    return true;
}

int tw_spool_peek(struct tw_spool *sp, struct tw_rec *r, char *buf, size_t cap)
{
    char path[4096];

    for (;;) {
        if (sp->rlen > 0 && parse_rec(sp->rbuf, (size_t)sp->rlen - 1, r, buf, cap))
            return 1;
        if (sp->rlen > 0) {
            /* not a record: a damaged file */
            sp->st.cut_bytes += (uint64_t)sp->rlen;
            sp->rlen = 0;
        }
        if (sp->n_seqs == 0) {
            if (sp->wfd < 0 || sp->wrecords == 0 || seal(sp) != 0 || sp->n_seqs == 0)
                return 0;
        }
        if (sp->rfp == NULL) {
            if (seg_path(sp, sp->seqs[0], SUFFIX_SEALED, path, sizeof(path)) != 0 ||
                (sp->rfp = fopen(path, "re")) == NULL) {
                drop_oldest(sp); /* gone: nothing to replay from it */
                continue;
            }
        }
        ssize_t n = getline(&sp->rbuf, &sp->rcap, sp->rfp);
        if (n <= 0) {
            drop_oldest(sp);
            continue;
        }
        if (sp->rbuf[n - 1] != '\n') {
            sp->st.cut_bytes += (uint64_t)n;
            drop_oldest(sp);
            continue;
        }
        sp->rlen = n;
    }
}

void tw_spool_ack(struct tw_spool *sp)
{
    if (sp->rlen <= 0)
        return;
    sp->rlen = 0;
    if (sp->st.records > 0)
        sp->st.records--;
    sp->st.replayed++;
    /* Past the last record: the segment goes now, not at the next peek. */
    if (sp->rfp != NULL) {
        int c = getc(sp->rfp);
        if (c == EOF)
            drop_oldest(sp);
        else
            ungetc(c, sp->rfp);
    }
}

uint64_t tw_spool_pending(const struct tw_spool *sp)
{
    return sp->st.records;
}

void tw_spool_get_stats(const struct tw_spool *sp, struct tw_spool_stats *st)
{
    *st = sp->st;
}

/* The segment being replayed keeps only what was not delivered (a clean stop delivers each
 * record once). */
static int rewrite_rest(struct tw_spool *sp)
{
    char to[4096], tmp[4096], buf[65536];
    size_t n;
    int fd, rc = 0;
    long off;

    if (sp->rfp == NULL)
        return 0;
    off = ftell(sp->rfp) - (sp->rlen > 0 ? sp->rlen : 0);
    if (off <= 0 || fseek(sp->rfp, off, SEEK_SET) != 0) {
        fclose(sp->rfp);
        sp->rfp = NULL;
        return 0;
    }
    if (seg_path(sp, sp->seqs[0], SUFFIX_SEALED, to, sizeof(to)) != 0 ||
        seg_path(sp, sp->seqs[0], ".rest", tmp, sizeof(tmp)) != 0)
        return TW_EIO;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = TW_EIO;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), sp->rfp)) > 0)
        if (write(fd, buf, n) != (ssize_t)n)
            rc = TW_EIO;
    if (fd >= 0 && close(fd) != 0)
        rc = TW_EIO;
    if (rc == 0 && rename(tmp, to) != 0)
        rc = TW_EIO;
    if (rc != 0)
        unlink(tmp); /* the segment stays whole: its delivered records come again */
    fclose(sp->rfp);
    sp->rfp = NULL;
    return rc;
}

int tw_spool_close(struct tw_spool *sp)
{
    int rc = 0;

    if (sp == NULL)
        return 0;
    if (rewrite_rest(sp) != 0)
        rc = TW_EIO;
    if (seal(sp) != 0)
        rc = TW_EIO;
    if (sp->lock_fd >= 0)
        close(sp->lock_fd);
    free(sp->rbuf);
    free(sp->seqs);
    free(sp->scratch);
    free(sp->dir);
    free(sp);
    return rc;
}

int tw_spool_chown(struct tw_spool *sp, unsigned uid, unsigned gid)
{
    int dfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (dfd < 0)
        return errno;
    if (fchown(dfd, (uid_t)uid, (gid_t)gid) != 0)
        rc = errno;
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int e = errno;
        close(dfd);
        return rc != 0 ? rc : e;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fchownat(dfd, de->d_name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) != 0 &&
            rc == 0)
            rc = errno;
    }
    closedir(d); /* closes dfd */
    return rc;
}
