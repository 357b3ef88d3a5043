/* SPDX-License-Identifier: MIT */
/*
 * The capture files of a replay: every -r argument expanded (a file as given, a directory
 * walked, a pattern expanded with glob(3)) and added to the time-ordered merge. Every path
 * that cannot be read is named; a path the user named that cannot be read fails the run, a
 * file found inside a directory that turns out not to be a capture is skipped with a warning.
 */
#include "sensor_impl.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tunwatch/capture/capfile.h"

#define MAX_DEPTH 32

static bool has_capture_ext(const char *name)
{
    static const char *const exts[] = {".pcap", ".pcapng", ".cap"};
    size_t n = strlen(name);

    for (size_t i = 0; i < TW_ARRAY_SIZE(exts); i++) {
        size_t k = strlen(exts[i]);
        if (n > k && strcasecmp(name + n - k, exts[i]) == 0)
            return true;
    }
    return false;
}

/* True if the file at path starts with a pcap or pcapng magic. */
static bool has_capture_magic(const char *path)
{
    uint8_t b[4];
    FILE *fp = fopen(path, "rb");
    bool ok;

    if (fp == NULL)
        return false;
    ok = fread(b, 1, sizeof(b), fp) == sizeof(b) && tw_capfile_magic(b);
    fclose(fp);
    return ok;
}

static int add_file(struct inputs *in, const char *path, bool named)
{
    char *c;

    if (in->n == TW_MAX_READ_FILES) {
        fprintf(stderr, "tunwatch: %s: more than %d capture files\n", path, TW_MAX_READ_FILES);
        return -1;
    }
    if (in->n == in->cap) {
        size_t ncap = in->cap == 0 ? 64 : in->cap * 2;
        char **np = realloc(in->paths, ncap * sizeof(*np));
        bool *nn = realloc(in->named, ncap * sizeof(*nn));
        if (np != NULL)
            in->paths = np;
        if (nn != NULL)
            in->named = nn;
        if (np == NULL || nn == NULL)
            goto nomem;
        in->cap = ncap;
    }
    if ((c = strdup(path)) == NULL)
        goto nomem;
    in->paths[in->n] = c;
    in->named[in->n] = named;
    in->n++;
    return 0;
nomem:
    fprintf(stderr, "tunwatch: out of memory\n");
    return -1;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* A directory, recursively, in name order: files with a capture extension or magic. Symbolic
 * links to directories are not followed (no loops). */
static int walk(struct inputs *in, const char *dir, unsigned depth)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, cmp_names), rc = 0;

    if (n < 0) {
        fprintf(stderr, "tunwatch: %s: %s\n", dir, strerror(errno));
        in->errors++;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char path[4096];
        struct stat sb, lsb;
        if (rc != 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            goto next;
        if (snprintf(path, sizeof(path), "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                     name) >= (int)sizeof(path)) {
            fprintf(stderr, "tunwatch: %s/%s: path too long, skipped\n", dir, name);
            in->skipped++;
            goto next;
        }
        if (lstat(path, &lsb) != 0 || stat(path, &sb) != 0) {
            fprintf(stderr, "tunwatch: %s: %s, skipped\n", path, strerror(errno));
            in->skipped++;
            goto next;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (S_ISLNK(lsb.st_mode))
                goto next;
            if (depth >= MAX_DEPTH) {
                fprintf(stderr, "tunwatch: %s: deeper than %d directories, skipped\n", path,
                        MAX_DEPTH);
                in->skipped++;
                goto next;
            }
            rc = walk(in, path, depth + 1);
        } else if (S_ISREG(sb.st_mode) && (has_capture_ext(name) || has_capture_magic(path))) {
            rc = add_file(in, path, false);
        }
    next:
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* One argument: "-", a file, a directory or a pattern. */
static int expand_one(struct inputs *in, const char *arg)
{
    struct stat sb;
    glob_t g;
    int rc = 0;

    if (strcmp(arg, "-") == 0)
        return add_file(in, arg, true);
    if (stat(arg, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            size_t before = in->n;
            if (walk(in, arg, 0) != 0)
                return -1;
            if (in->n == before) {
                fprintf(stderr, "tunwatch: %s: no capture file in this directory\n", arg);
                in->errors++;
            }
            return 0;
        }
        return add_file(in, arg, true);
    }
    if (strpbrk(arg, "*?[") == NULL) {
        fprintf(stderr, "tunwatch: %s: %s\n", arg, strerror(errno));
        in->errors++;
        return 0;
    }
    int grc = glob(arg, GLOB_ERR, NULL, &g);
    if (grc == GLOB_NOMATCH) {
        fprintf(stderr, "tunwatch: %s: no file matches this pattern\n", arg);
        in->errors++;
        return 0;
    }
    if (grc != 0) {
        fprintf(stderr, "tunwatch: %s: %s\n", arg,
                grc == GLOB_NOSPACE ? "out of memory" : "a directory could not be read");
        in->errors++;
        if (grc == GLOB_NOSPACE)
            return -1;
        return 0;
    }
    /* What the pattern matched is taken as a directory's files are: captures by name or
     * magic (a pattern ending in .pcap* leaves the .names.tsv files beside them out). */
    size_t before = in->n;
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
        const char *p = g.gl_pathv[i];
        const char *base = strrchr(p, '/') != NULL ? strrchr(p, '/') + 1 : p;
        if (stat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            rc = walk(in, p, 0);
        else if (S_ISREG(sb.st_mode) && (has_capture_ext(base) || has_capture_magic(p)))
            rc = add_file(in, p, false);
    }
    globfree(&g);
    if (rc == 0 && in->n == before) {
        fprintf(stderr, "tunwatch: %s: no capture file matches this pattern\n", arg);
        in->errors++;
    }
    return rc;
}

int inputs_open(struct inputs *in, const struct tw_sensor_config *cfg)
{
    char err[512];

    memset(in, 0, sizeof(*in));
    tw_capfile_set_map((enum tw_capfile_map)cfg->file_read);
    for (size_t i = 0; i < cfg->n_read_paths; i++)
        if (expand_one(in, cfg->read_paths[i]) != 0)
            return -1;
    in->merge = tw_merge_new();
    if (in->merge == NULL) {
        fprintf(stderr, "tunwatch: out of memory\n");
        return -1;
    }
    /* The merge's file indices are positions in names[]: only the files it took. */
    in->names = calloc(in->n + 1, sizeof(*in->names));
    if (in->names == NULL) {
        fprintf(stderr, "tunwatch: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < in->n; i++) {
        if (tw_merge_add(in->merge, in->paths[i], err, sizeof(err)) != 0) {
            if (in->named[i]) {
                fprintf(stderr, "tunwatch: %s\n", err);
                in->errors++;
            } else {
                fprintf(stderr, "tunwatch: %s, skipped\n", err);
                in->skipped++;
            }
            continue;
        }
        int lt = tw_merge_linktype(in->merge, in->n_names);
        if (lt >= 0 && !tw_decode_linktype_supported(lt)) {
            /* Its frames would all be refused (counted as link_unsupported). */
            fprintf(stderr, "tunwatch: %s: link type %d is not supported%s\n", in->paths[i], lt,
                    in->named[i] ? "" : " (its frames are counted as link_unsupported)");
            if (in->named[i])
                in->errors++;
        }
        in->names[in->n_names++] = in->paths[i];
    }
    if (in->errors > 0)
        return -1;
    if (in->n_names == 0) {
        fprintf(stderr, "tunwatch: no capture file to read\n");
        return -1;
    }
    return 0;
}

bool inputs_regular(const struct inputs *in)
{
    struct stat sb;

    for (size_t i = 0; i < in->n_names; i++)
        if (strcmp(in->names[i], "-") == 0 || stat(in->names[i], &sb) != 0 ||
            !S_ISREG(sb.st_mode))
            return false;
    return true;
}

void inputs_close(struct inputs *in)
{
    tw_merge_free(in->merge);
    for (size_t i = 0; i < in->n; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in->named);
    free(in->names);
    memset(in, 0, sizeof(*in));
}
