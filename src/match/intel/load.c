/* SPDX-License-Identifier: MIT */
/*
 * Loading one indicator file: reading it whole, telling its format from its content, handing
 * it to the format's reader, reporting malformed lines and rejections, and merging its counts
 * into the set, or leaving the set as it was when the file is rejected.
 */
#include "tunwatch/match/intel.h"

#include "intel_impl.h"
#include "tunwatch/base/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_BAD_SHOWN 20

enum fmt { FMT_PLAIN, FMT_ZEEK, FMT_RPZ };

void intel_bad_line(struct loader *ld, unsigned line, const char *fmt, ...)
{
    va_list ap;

    if (++ld->bad > MAX_BAD_SHOWN)
        return;
    fprintf(ld->errlog, "%s:%u: ", ld->path, line);
    va_start(ap, fmt);
    vfprintf(ld->errlog, fmt, ap);
    va_end(ap);
    fputc('\n', ld->errlog);
}

int intel_skip(struct loader *ld, const char *reason)
{
    ld->usable++;
    for (size_t i = 0; i < ld->n_reasons; i++) {
        if (strcmp(ld->reasons[i].text, reason) == 0) {
            ld->reasons[i].count++;
            return 0;
        }
    }
    if (ld->n_reasons == MAX_REASONS)
        reason = "other reasons";
    for (size_t i = 0; i < ld->n_reasons; i++) {
        if (strcmp(ld->reasons[i].text, reason) == 0) {
            ld->reasons[i].count++;
            return 0;
        }
    }
    const char *copy = tw_arena_strndup(&ld->in->arena, reason, strlen(reason));
    if (copy == NULL)
        return TW_ENOMEM;
    ld->reasons[ld->n_reasons].text = copy;
    ld->reasons[ld->n_reasons].count = 1;
    ld->n_reasons++;
    return 0;
}

char *intel_next_line(char *buf, size_t len, size_t *pos)
{
    char *line, *nl;

    if (*pos >= len)
        return NULL;
    line = buf + *pos;
    nl = memchr(line, '\n', len - *pos);
    if (nl != NULL) {
        *nl = '\0';
        *pos = (size_t)(nl - buf) + 1;
    } else {
        buf[len] = '\0'; /* the buffer has room for it */
        nl = buf + len;
        *pos = len;
    }
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

void intel_reject(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    fprintf(ld->errlog, "%s: rejected: ", ld->path);
    va_start(ap, fmt);
    vfprintf(ld->errlog, fmt, ap);
    va_end(ap);
    fputc('\n', ld->errlog);
}

/* The first line that is not blank or a comment decides; see intel.h. */
static enum fmt detect(const char *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        const char *p = buf + off, *nl = memchr(p, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - p) : len - off;
        size_t i = 0;

        off += n + 1;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i == n)
            continue;
        if ((n - i >= 7 && memcmp(p + i, "#fields", 7) == 0) ||
            (n - i >= 10 && memcmp(p + i, "#separator", 10) == 0))
            return FMT_ZEEK;
        if (p[i] == '#')
            continue;
        if (p[i] == ';' || p[i] == '$' || p[i] == '@')
            return FMT_RPZ;
        if (memchr(p, '\t', n) != NULL) {
            for (size_t k = 0; k + 7 <= n; k++)
                if (memcmp(p + k, "Intel::", 7) == 0)
                    return FMT_ZEEK;
        }
        /* A zone record names a class or type after its owner; a hosts line starts with an
         * address. */
        char tok[16];
        size_t ntok = 0, k = i;
        bool first_is_addr = false;

        while (k < n) {
            size_t b = k;

            while (k < n && p[k] != ' ' && p[k] != '\t' && p[k] != '\r')
                k++;
            if (k > b && k - b < sizeof(tok)) {
                memcpy(tok, p + b, k - b);
                tok[k - b] = '\0';
                if (ntok == 0) {
                    uint8_t a[16];

                    first_is_addr =
                        inet_pton(AF_INET, tok, a) == 1 || inet_pton(AF_INET6, tok, a) == 1;
                } else if (!first_is_addr) {
                    static const char *const rr[] = {"IN", "SOA",  "NS",  "CNAME",
                                                     "A",  "AAAA", "TXT", "DNAME"};

                    for (size_t r = 0; r < TW_ARRAY_SIZE(rr); r++)
                        if (strcasecmp(tok, rr[r]) == 0)
                            return FMT_RPZ;
                }
            }
            if (k > b)
                ntok++;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
                k++;
        }
        return FMT_PLAIN;
    }
    return FMT_PLAIN;
}

/* The whole file, with one spare byte. 0, or TW_EIO with errno set, or TW_ENOMEM. */
static int read_all(const char *path, char **out, size_t *outlen, size_t *outcap)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    if (f == NULL)
        return TW_EIO;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        errno = EISDIR;
        rc = TW_EIO;
        goto out_close;
    }
    for (;;) {
        size_t got;

        if (cap - len < 65536 + 1) {
            if (tw_table_grow((void **)&buf, &cap, len + 65536 + 1, 1, 65536 * 2)) {
                rc = TW_ENOMEM;
                goto out_close;
            }
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = TW_EIO;
            break;
        }
    }
out_close:
    fclose(f);
    if (rc != 0) {
        int e = errno;

        tw_table_free(buf, cap);
        errno = e;
        return rc;
    }
    buf[len] = '\0'; /* the loop made room for at least one byte more */
    *out = buf;
    *outlen = len;
    *outcap = cap;
    return 0;
}

static void merge(struct loader *ld)
{
    struct tw_intel *in = ld->in;

    in->st.files++;
    in->st.bad_lines += ld->bad;
    in->st.names += ld->names;
    in->st.wildcards += ld->wildcards;
    in->st.addrs += ld->addrs;
    in->st.subnets += ld->subnets;
    in->st.allow += ld->allow;
    for (size_t i = 0; i < ld->n_reasons; i++) {
        const struct reason *r = &ld->reasons[i];
        size_t k = 0;

        fprintf(ld->errlog, "%s: %zu entr%s skipped: %s\n", ld->path, r->count,
                r->count == 1 ? "y" : "ies", r->text);
        in->st.skipped += r->count;
        while (k < in->n_reasons && strcmp(in->reasons[k].text, r->text) != 0)
            k++;
        if (k == in->n_reasons && k == MAX_REASONS) {
            k = MAX_REASONS - 1; /* the last one collects the rest */
            in->reasons[k].text = "other reasons";
        } else if (k == in->n_reasons) {
            in->reasons[k].text = r->text;
            in->reasons[k].count = 0;
            in->n_reasons++;
        }
        in->reasons[k].count += r->count;
    }
}

int tw_intel_load(struct tw_intel *in, const char *path, bool subdomains, FILE *errlog)
{
    struct loader *ld = NULL;
    char *buf = NULL, *nul;
    size_t len = 0, cap = 0;
    const char *slash;
    int rc;

    if (in == NULL || path == NULL)
        return TW_EINVAL;
    if (errlog == NULL)
        errlog = stderr;
    intel_drop_compiled(in);
    rc = read_all(path, &buf, &len, &cap);
    if (rc != 0) {
        int e = errno;

        if (rc == TW_EIO) {
            fprintf(errlog, "%s: cannot read: %s\n", path, strerror(e));
            in->st.errors++;
        }
        errno = e;
        return rc;
    }
    ld = calloc(1, sizeof(*ld));
    if (ld == NULL ||
        tw_grow((void **)&in->files, &in->files_cap, in->n_files + 1, sizeof(*in->files), 8)) {
        rc = TW_ENOMEM;
        goto out_free;
    }
    ld->in = in;
    ld->errlog = errlog;
    ld->subdomains = subdomains;
    ld->start = in->n;
    ld->path = tw_arena_strndup(&in->arena, path, strlen(path));
    if (ld->path == NULL) {
        rc = TW_ENOMEM;
        goto out_free;
    }
    slash = strrchr(ld->path, '/');
    ld->base = slash != NULL && slash[1] != '\0' ? slash + 1 : ld->path;
    ld->file = (uint32_t)in->n_files;

    nul = memchr(buf, '\0', len);
    if (nul != NULL) {
        intel_reject(ld, "not a text file (NUL byte at offset %zu)", (size_t)(nul - buf));
        rc = TW_EMALFORMED;
        goto out_reject;
    }
    enum fmt f = detect(buf, len);
    in->files[in->n_files].rpz = f == FMT_RPZ;
    if (f == FMT_ZEEK)
        rc = intel_load_zeek(ld, buf, len);
    else if (f == FMT_RPZ)
        rc = intel_load_rpz(ld, buf, len);
    else
        rc = intel_load_plain(ld, buf, len);
    if (rc == TW_ENOMEM)
        goto out_rollback;
    if (rc != 0)
        goto out_reject;
    if (ld->bad > ld->usable) {
        intel_reject(ld, "%zu of %zu entries malformed", ld->bad, ld->bad + ld->usable);
        rc = TW_EMALFORMED;
        goto out_reject;
    }
    if (ld->bad > MAX_BAD_SHOWN)
        fprintf(errlog, "%s: %zu more malformed lines not shown\n", ld->path,
                ld->bad - MAX_BAD_SHOWN);
    in->n_files++;
    merge(ld);
    rc = 0;
    goto out_free;

out_reject:
    in->st.errors++;
out_rollback:
    in->n = ld->start;
out_free:
    free(ld);
    tw_table_free(buf, cap);
    return rc;
}
