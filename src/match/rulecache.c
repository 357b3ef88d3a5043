/* SPDX-License-Identifier: MIT */
/* The rule cache (see rulecache.h). */
#include "tunwatch/match/rulecache.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tunwatch/base/blob.h"
#include "tunwatch/base/mapguard.h"

#define CACHE_MAGIC "TWRULES1"
#define CACHE_KEEP 8
#define CACHE_MAX ((size_t)1 << 31) /* a longer file is not one of ours */
#define KEY_SEED 0x7475727563616368ULL

/* The set of cfg compiled from its files, problems on errlog. */
static int compile_rules(const struct tw_matchers_config *cfg, FILE *errlog,
                         struct tw_ruleset **out)
{
    struct tw_ruleset *rs = tw_ruleset_new();

    *out = NULL;
    if (rs == NULL)
        return TW_ENOMEM;
    tw_ruleset_set_process_fields(rs, cfg->process_fields);
    tw_ruleset_set_explain(rs, !cfg->lean);
    for (size_t i = 0; i < cfg->n_rule_paths; i++)
        if (tw_ruleset_load(rs, cfg->rule_paths[i], errlog) == TW_ENOMEM)
            goto nomem;
    if (tw_ruleset_compile(rs) != 0)
        goto nomem;
    *out = rs;
    return 0;
nomem:
    tw_ruleset_free(rs);
    return TW_ENOMEM;
}

/* --- the key ---------------------------------------------------------------------------- */

/*
 * What a rule file was when the set was compiled: where it is (device, inode), its size and
 * times, and a hash of its contents. A start finds the cached set by the names alone; a file
 * whose stat is the same as it was is the same file (a write changes its ctime, which no one
 * can set), unless its times were within RACY_NS of the moment the set was written (the
 * kernel stamps files from a clock that moves in ticks of a few ms: a write in the same tick
 * as that last look would not show): such a file, and one whose stat changed, is read and
 * hashed, and the set is used if the contents are the same.
 */
struct file_rec {
    uint64_t dev, ino, size, mtime_ns, ctime_ns, hash;
    uint32_t racy, pad;
};

#define RACY_NS 100000000LL

struct key {
    FILE *f; /* the names' bytes (build, settings, paths, files), into buf */
    char *buf;
    size_t len;
    struct file_rec *recs; /* n_recs, the files in load order */
    char **paths;          /* their paths, to hash them */
    size_t n_recs, cap;
    bool bad; /* a file could not be read: no cache */
};

static void key_free(struct key *k)
{
    for (size_t i = 0; i < k->n_recs; i++)
        free(k->paths[i]);
    free(k->paths);
    free(k->recs);
    free(k->buf);
}

static uint64_t ns_of(struct timespec t)
{
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void stat_rec(const struct stat *sb, struct file_rec *r)
{
    *r = (struct file_rec){.dev = sb->st_dev,
                           .ino = sb->st_ino,
                           .size = (uint64_t)sb->st_size,
                           .mtime_ns = ns_of(sb->st_mtim),
                           .ctime_ns = ns_of(sb->st_ctim)};
}

/* Whether a and b describe the same file in the same state (hashes aside). */
static bool same_stat(const struct file_rec *a, const struct file_rec *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* The regular file at path as it is now into *r, its stat and the hash of its contents (of
 * the one file opened: both are of the same bytes). 0, or -1 when it cannot be read. */
static int hash_file(const char *path, struct file_rec *r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    int rc = -1;

    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        stat_rec(&sb, r);
        if (sb.st_size == 0) {
            r->hash = tw_blob_hash("", 0, KEY_SEED);
            rc = 0;
        } else {
            void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m != MAP_FAILED) {
                r->hash = tw_blob_hash(m, (size_t)sb.st_size, KEY_SEED);
                munmap(m, (size_t)sb.st_size);
                rc = 0;
            }
        }
    }
    close(fd);
    return rc;
}

static int phdr_build_id(struct dl_phdr_info *info, size_t size, void *ctx)
{
    FILE *f = ctx;

    (void)size;
    /* The first object is the program itself. */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const void *)p;
            size_t name = (nh->n_namesz + 3) & ~(size_t)3, desc = (nh->n_descsz + 3) & ~(size_t)3;
            if (name + desc > (size_t)(end - p) - sizeof(*nh))
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
                fwrite(p + sizeof(*nh) + name, 1, nh->n_descsz, f);
                return 1;
            }
            p += sizeof(*nh) + name + desc;
        }
    }
    return 1;
}

/* This build: its ELF build ID, else the executable's identity on disk. */
static void key_build(FILE *f)
{
    long at = ftell(f);
    struct stat sb;

    dl_iterate_phdr(phdr_build_id, f);
    if (ftell(f) == at && stat("/proc/self/exe", &sb) == 0) {
        uint64_t id[4] = {sb.st_dev, sb.st_ino, (uint64_t)sb.st_size, ns_of(sb.st_mtim)};
        fwrite(id, sizeof(id), 1, f);
    }
    fputc(0, f);
}

/* One rule file: its name into the key, its stat into the records. */
static int key_file(void *ctx, const char *path)
{
    struct key *k = ctx;
    struct stat sb;

    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        k->bad = true; /* the load says why */
        return 0;
    }
    if (k->n_recs == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        struct file_rec *r = realloc(k->recs, cap * sizeof(*r));
        if (r != NULL)
            k->recs = r;
        char **p = realloc(k->paths, cap * sizeof(*p));
        if (p != NULL)
            k->paths = p;
        if (r == NULL || p == NULL)
            return TW_ENOMEM;
        k->cap = cap;
    }
    if ((k->paths[k->n_recs] = strdup(path)) == NULL)
        return TW_ENOMEM;
    stat_rec(&sb, &k->recs[k->n_recs++]);
    fputs(path, k->f);
    fputc(0, k->f);
    return 0;
}

/* The key of cfg's rule set into k (k->bad when a path cannot be read). 0 or TW_ENOMEM. */
static int make_key(const struct tw_matchers_config *cfg, struct key *k)
{
    k->f = open_memstream(&k->buf, &k->len);
    if (k->f == NULL)
        return TW_ENOMEM;
    fputs(CACHE_MAGIC, k->f);
    key_build(k->f);
    fputc(cfg->process_fields ? 'p' : '-', k->f);
    fputc(cfg->lean ? 'l' : '-', k->f);
    for (size_t i = 0; i < cfg->n_rule_paths; i++) {
        /* The path as given, then the files it stands for. */
        fputc(1, k->f);
        fputs(cfg->rule_paths[i], k->f);
        fputc(0, k->f);
        int rc = tw_ruleset_files(cfg->rule_paths[i], key_file, k);
        if (rc == TW_ENOMEM) {
            fclose(k->f);
            key_free(k);
            *k = (struct key){0};
            return TW_ENOMEM;
        }
        if (rc != 0)
            k->bad = true;
    }
    if (fclose(k->f) != 0) {
        key_free(k);
        *k = (struct key){0};
        return TW_ENOMEM;
    }
    return 0;
}

/*
 * The records of the files as the set was compiled from them, for the cache (hashes made
 * now): false when a file changed while the set was compiled (its stat is not the one the
 * key was made with), or cannot be read: such a set is not kept.
 */
static bool records_now(struct key *k)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    for (size_t i = 0; i < k->n_recs; i++) {
        struct file_rec *r = &k->recs[i], cur;
        if (hash_file(k->paths[i], &cur) != 0 || !same_stat(r, &cur))
            return false;
        r->hash = cur.hash;
        r->racy = (int64_t)(ns_of(now) - r->ctime_ns) < RACY_NS ||
                  (int64_t)(ns_of(now) - r->mtime_ns) < RACY_NS;
    }
    return true;
}

/* Whether the files are still the ones recs (n of them, as the cache keeps them) describe:
 * by stat where that tells, else by contents. */
static bool records_hold(const struct key *k, const struct file_rec *recs, size_t n)
{
    if (n != k->n_recs)
        return false;
    for (size_t i = 0; i < n; i++) {
        struct file_rec cur;
        if (!recs[i].racy && same_stat(&recs[i], &k->recs[i]))
            continue;
        if (recs[i].size != k->recs[i].size || hash_file(k->paths[i], &cur) != 0 ||
            cur.size != recs[i].size || cur.hash != recs[i].hash)
            return false;
    }
    return true;
}

/* --- the file --------------------------------------------------------------------------- */

/* "DIR/rules-HASH.twc" (or the temporary name: '.' before it, then a suffix). */
static char *cache_path(const char *dir, const struct key *k, bool temp)
{
    char *p = NULL;
    unsigned long long h = (unsigned long long)tw_blob_hash(k->buf, k->len, KEY_SEED);

    if (asprintf(&p, "%s/%srules-%016llx.twc%s", dir, temp ? "." : "", h,
                 temp ? ".XXXXXX" : "") < 0)
        return NULL;
    return p;
}

/*
 * The file: magic, key (the names), the files' records, messages (each bytes: a length, then
 * them), zeros to a multiple of 8 bytes, the set (bytes: its arrays aligned as the mapping
 * is), then a hash of all before it (sum()). split() finds the parts of a file of key k, or
 * says it is not one.
 */
struct parts {
    const struct file_rec *recs;
    size_t n_recs;
    const char *msgs;
    size_t msgs_len;
    const void *set;
    size_t set_len;
};

static uint64_t sum(const struct key *k, const struct file_rec *recs, size_t n_recs,
                    const void *msgs, size_t msgs_len, const void *set, size_t set_len)
{
    uint64_t h = tw_blob_hash(k->buf, k->len, KEY_SEED);

    h = tw_blob_hash(recs, n_recs * sizeof(*recs), h);
    h = tw_blob_hash(msgs, msgs_len, h);
    return tw_blob_hash(set, set_len, h);
}

static bool split(const uint8_t *buf, size_t len, const struct key *k, struct parts *pt)
{
    struct tw_blob_r r = TW_BLOB_READER(buf, len);
    uint64_t want;
    size_t klen;

    if (len < 8 + sizeof(want) || memcmp(buf, CACHE_MAGIC, 8) != 0)
        return false;
    r.end -= sizeof(want);
    memcpy(&want, r.end, sizeof(want));
    (void)tw_blob_get(&r, 8);
    const void *key = tw_blob_get_bytes(&r, &klen);
    if (r.bad || klen != k->len || memcmp(key, k->buf, klen) != 0)
        return false;
    pt->recs = tw_blob_get_array(&r, sizeof(*pt->recs), k->n_recs, &pt->n_recs);
    pt->msgs = tw_blob_get_bytes(&r, &pt->msgs_len);
    tw_blob_get_align(&r);
    pt->set = tw_blob_get_bytes(&r, &pt->set_len);
    return !r.bad && r.p == r.end &&
           sum(k, pt->recs, pt->n_recs, pt->msgs, pt->msgs_len, pt->set, pt->set_len) == want;
}

/* The cache file at path mapped (*len bytes), when it is one to trust: a regular file of
 * this user's that no one else may write; NULL otherwise. Cache files are replaced by rename,
 * never written in place: the mapping stays whole while the set is read from it. */
static uint8_t *map_cache(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    void *m = MAP_FAILED;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
        (sb.st_mode & 022) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <= CACHE_MAX) {
        *len = (size_t)sb.st_size;
        m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    }
    close(fd);
    return m == MAP_FAILED ? NULL : m;
}

/* A cache file's mapping, guarded (a file cut short under it reads zeros, see mapguard.h):
 * what a restored set reads its strings and prefilter from for as long as it lives. */
struct backing {
    void *map;
    size_t len;
    int guard;
};

static void backing_release(void *ctx)
{
    struct backing *b = ctx;

    if (b->guard >= 0)
        tw_mapguard_remove(b->guard);
    munmap(b->map, b->len);
    free(b);
}

/* The cached set of key k from path into *out: true when it was there, whole, and restored
 * (its messages written to errlog). A file that is there but damaged is said on errlog. */
static bool take_cached(const struct tw_matchers_config *cfg, const char *path,
                        const struct key *k, FILE *errlog, struct tw_ruleset **out)
{
    struct backing *b = calloc(1, sizeof(*b));
    struct tw_ruleset *rs = NULL;
    struct parts pt;
    bool ok = false, restored = false;

    if (b == NULL || (b->map = map_cache(path, &b->len)) == NULL) {
        free(b);
        return false;
    }
    b->guard = tw_mapguard_add(b->map, b->len);
    bool whole = b->guard >= 0 && split(b->map, b->len, k, &pt);
    if (whole && !records_hold(k, pt.recs, pt.n_recs)) {
        /* The same names, other contents: a set of other rules, compiled over. */
        backing_release(b);
        return false;
    }
    if (whole && (rs = tw_ruleset_new()) != NULL) {
        tw_ruleset_set_process_fields(rs, cfg->process_fields);
        tw_ruleset_set_explain(rs, !cfg->lean);
        restored = tw_ruleset_restore(rs, pt.set, pt.set_len, backing_release, b) == 0;
        ok = restored && !tw_mapguard_failed(b->guard);
    }
    if (ok) {
        fwrite(pt.msgs, 1, pt.msgs_len, errlog);
        *out = rs;
        return true;
    }
    tw_ruleset_free(rs); /* a restored set releases b itself */
    if (!restored)
        backing_release(b);
    fprintf(errlog, "tunwatch: rule cache %s: not usable, the rules are compiled again\n",
            path);
    return false;
}

/* Keeps the CACHE_KEEP newest sets of dir (by modification time), deletes the others. */
static void prune(const char *dir)
{
    struct old {
        char *name;
        struct timespec t;
    } *v = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        struct stat sb;
        if (strncmp(de->d_name, "rules-", 6) != 0 || l < 10 ||
            strcmp(de->d_name + l - 4, ".twc") != 0 ||
            fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (n == cap) {
            struct old *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
            if (nv == NULL)
                break;
            v = nv;
        }
        if ((v[n].name = strdup(de->d_name)) == NULL)
            break;
        v[n++].t = sb.st_mtim;
    }
    /* The oldest out until CACHE_KEEP are left. */
    while (n > CACHE_KEEP) {
        size_t o = 0;
        for (size_t i = 1; i < n; i++)
            if (v[i].t.tv_sec < v[o].t.tv_sec ||
                (v[i].t.tv_sec == v[o].t.tv_sec && v[i].t.tv_nsec < v[o].t.tv_nsec))
                o = i;
        (void)unlinkat(dirfd(d), v[o].name, 0);
        free(v[o].name);
        v[o] = v[--n];
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    closedir(d);
}

/* Writes set rs with its messages under key k to path, through a temporary file renamed over
 * it: the set written straight into the file (tw_ruleset_save()), its length and the sum then
 * filled in from what the file holds. 0, or -1 with errno. */
static int write_cache(const char *dir, const char *path, const struct key *k,
                       const struct tw_ruleset *rs, const char *msgs, size_t msgs_len)
{
    char *tmp = cache_path(dir, k, true);
    FILE *f = NULL;
    int fd = -1, err = ENOMEM;
    bool made = false, ok = false;

    if (tmp == NULL)
        goto out;
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0 || (made = true, (f = fdopen(fd, "w+b")) == NULL)) {
        err = errno;
        goto out;
    }
    fd = -1;
    (void)setvbuf(f, NULL, _IOFBF, 1 << 20);
    struct tw_blob_w w = {f, false, 0};
    tw_blob_put(&w, CACHE_MAGIC, 8);
    tw_blob_bytes(&w, k->buf, k->len);
    tw_blob_array(&w, k->recs, k->n_recs, sizeof(*k->recs));
    tw_blob_bytes(&w, msgs, msgs_len);
    tw_blob_align(&w);
    uint64_t len_at = w.at, set_len = 0;
    tw_blob_u64(&w, 0); /* the set's length, known once it is written */
    uint64_t set_at = w.at;
    errno = 0;
    if (w.failed || tw_ruleset_save(rs, f) != 0 || fflush(f) != 0) {
        err = errno != 0 ? errno : EIO;
        goto out;
    }
    off_t end = ftello(f);
    if (end < 0 || (uint64_t)end < set_at) {
        err = errno != 0 ? errno : EIO;
        goto out;
    }
    set_len = (uint64_t)end - set_at;
    void *m = mmap(NULL, (size_t)end, PROT_READ, MAP_SHARED, fileno(f), 0);
    if (m == MAP_FAILED) {
        err = errno;
        goto out;
    }
    uint64_t h = sum(k, k->recs, k->n_recs, msgs, msgs_len, (const uint8_t *)m + set_at,
                     (size_t)set_len);
    munmap(m, (size_t)end);
    if (fseeko(f, (off_t)len_at, SEEK_SET) != 0 || fwrite(&set_len, sizeof(set_len), 1, f) != 1 ||
        fseeko(f, 0, SEEK_END) != 0 || fwrite(&h, sizeof(h), 1, f) != 1) {
        err = errno != 0 ? errno : EIO;
        goto out;
    }
    ok = true;
    err = 0;
    if (fclose(f) != 0) {
        ok = false;
        err = errno;
    }
    f = NULL;
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
out:
    if (f != NULL)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (made && !ok)
        (void)unlink(tmp);
    free(tmp);
    if (ok) {
        prune(dir);
        return 0;
    }
    errno = err != 0 ? err : EIO;
    return -1;
}

int tw_rulecache_rules(const struct tw_matchers_config *cfg, FILE *errlog,
                       struct tw_ruleset **out, struct tw_rulecache_result *res)
{
    struct tw_rulecache_result dummy;
    struct key k = {0};
    char *path = NULL, *msgs = NULL;
    size_t msgs_len = 0;
    int rc;

    if (res == NULL)
        res = &dummy;
    *res = (struct tw_rulecache_result){0};
    *out = NULL;
    if (cfg->rule_cache == NULL)
        return compile_rules(cfg, errlog, out);
    if (make_key(cfg, &k) != 0)
        return TW_ENOMEM;
    if (k.bad || (path = cache_path(cfg->rule_cache, &k, false)) == NULL) {
        key_free(&k);
        return compile_rules(cfg, errlog, out); /* the load says what it cannot read */
    }
    if (take_cached(cfg, path, &k, errlog, out)) {
        res->used = true;
        free(path);
        key_free(&k);
        return 0;
    }
    /* Compiled, its messages kept for the cache and passed on. */
    FILE *tee = open_memstream(&msgs, &msgs_len);
    rc = compile_rules(cfg, tee != NULL ? tee : errlog, out);
    if (tee != NULL) {
        fclose(tee);
        fwrite(msgs, 1, msgs_len, errlog);
    }
    struct tw_ruleset_stats st;
    /* Kept when every file read and parsed, and none changed meanwhile. */
    if (rc == 0 && tee != NULL && (tw_ruleset_get_stats(*out, &st), st.errors == 0) &&
        records_now(&k)) {
        if (write_cache(cfg->rule_cache, path, &k, *out, msgs, msgs_len) == 0)
            res->written = true;
        else
            fprintf(errlog, "tunwatch: warning: rule cache %s: cannot write %s: %s\n",
                    cfg->rule_cache, path, strerror(errno));
    }
    free(msgs);
    free(path);
    key_free(&k);
    return rc;
}

int tw_rulecache_check_dir(const char *dir, char *why, size_t whylen)
{
    struct stat sb;

    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0) {
            snprintf(why, whylen, "%s", strerror(errno));
            return -1;
        }
        return 0;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(why, whylen, "not a directory");
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    return 0;
}
