/* SPDX-License-Identifier: MIT */
#include "tunwatch/run/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes of a key or value quoted in an error message; longer ones end in "...". */
#define SHOW_MAX 64

struct reader {
    FILE *fp;
    const char *path;
    unsigned long line;
    char *where; /* "FILE:LINE" of the current line */
    size_t where_cap;
    char *err;
    size_t errlen;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Copies s into buf for a message: printable ASCII as is, any other byte as
 * \xHH, so a stray control byte in a file cannot garble the terminal.
 */
static const char *show(const char *s, char *buf, size_t cap)
{
    size_t n = 0, i;

    for (i = 0; s[i] != '\0' && i < SHOW_MAX && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            buf[n++] = (char)c;
        else
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
    }
    if (s[i] != '\0' && n + 4 <= cap) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

__attribute__((format(printf, 3, 4))) static int fail(struct reader *r, int rc, const char *fmt,
                                                      ...)
{
    va_list ap;
    int n;

    if (r->errlen == 0)
        return rc;
    n = snprintf(r->err, r->errlen, "%s: ", r->line > 0 ? r->where : r->path);
    if (n < 0 || (size_t)n >= r->errlen)
        return rc;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

/* An open or read error: "FILE: reason", errno kept for the caller. */
static int fail_errno(struct reader *r)
{
    int saved = errno;

    if (r->errlen > 0)
        snprintf(r->err, r->errlen, "%s: %s", r->path, strerror(saved));
    errno = saved;
    return TW_EIO;
}

/*
 * Reads the next line into buf (capacity TW_CONFIG_LINE_MAX + 2), without its
 * LF or CRLF ending. Returns 1 for a line, 0 at the end of the file, or a
 * negative TW_E* with the message written.
 */
static int read_line(struct reader *r, char *buf, size_t *len_out)
{
    size_t len = 0;
    int c;

    while ((c = getc(r->fp)) != EOF && c != '\n') {
        if (c == '\0')
            return fail(r, TW_EINVAL, "NUL byte in line");
        /* One spare byte for a CR that the line ending may still strip. */
        if (len == TW_CONFIG_LINE_MAX + 1)
            return fail(r, TW_EINVAL, "line longer than %d bytes", TW_CONFIG_LINE_MAX);
        buf[len++] = (char)c;
    }
    if (c == EOF) {
        if (ferror(r->fp))
            return fail_errno(r);
        if (len == 0)
            return 0;
    }
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len > TW_CONFIG_LINE_MAX)
        return fail(r, TW_EINVAL, "line longer than %d bytes", TW_CONFIG_LINE_MAX);
    buf[len] = '\0';
    *len_out = len;
    return 1;
}

/*
 * Reads a double-quoted value in place: s points at the opening quote; the
 * unescaped text is written from s on. Returns 0 or TW_EINVAL.
 */
static int unquote(struct reader *r, char *s)
{
    char *dst = s, *src = s + 1;

    for (;;) {
        if (*src == '\0')
            return fail(r, TW_EINVAL, "unterminated quote");
        if (*src == '"')
            break;
        if (*src == '\\') {
            src++;
            if (*src == '\0')
                return fail(r, TW_EINVAL, "unterminated quote");
            if (*src != '"' && *src != '\\') {
                char shown[8];
                return fail(r, TW_EINVAL,
                            "unknown escape '\\%s' in quoted value (only \\\" and \\\\)",
                            show((char[]){*src, '\0'}, shown, sizeof(shown)));
            }
        }
        *dst++ = *src++;
    }
    *dst = '\0';
    src++;
    while (is_blank(*src))
        src++;
    if (*src != '\0' && !(*src == '#' && is_blank(src[-1])))
        return fail(r, TW_EINVAL, "text after the closing quote");
    return 0;
}

struct setting {
    char *key;
    bool has_eq; /* "key =" or "key = ...", as opposed to a bare "key" */
    char *value; /* NULL when nothing follows '=' (or no '=') */
};

/*
 * Splits one line in place into key and value. Returns 1 for a setting, 0 for
 * a blank or comment line, or TW_EINVAL.
 */
static int split_line(struct reader *r, char *s, struct setting *out)
{
    char *p = s, *key_end, *q;
    int rc;

    out->key = out->value = NULL;
    out->has_eq = false;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    if (*p == '=')
        return fail(r, TW_EINVAL, "missing key before '='");
    out->key = p;
    while (*p != '\0' && !is_blank(*p) && *p != '=')
        p++;
    key_end = p;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || (*p == '#' && p > key_end)) {
        *key_end = '\0';
        return 1;
    }
    if (*p != '=') {
        char shown[SHOW_MAX * 4 + 4];
        *key_end = '\0';
        return fail(r, TW_EINVAL, "expected '=' after '%s'", show(out->key, shown, sizeof(shown)));
    }
    out->has_eq = true;
    p++;
    *key_end = '\0'; /* may be the '=' itself: only now that it has been read */
    while (is_blank(*p))
        p++;
    if (*p == '"') {
        rc = unquote(r, p);
        if (rc < 0)
            return rc;
        out->value = p;
        return 1;
    }
    /* Unquoted: up to a '#' that follows whitespace, trailing whitespace trimmed. */
    for (q = p; *q != '\0'; q++)
        if (*q == '#' && is_blank(q[-1]))
            break;
    while (q > p && is_blank(q[-1]))
        q--;
    *q = '\0';
    if (q > p)
        out->value = p;
    return 1;
}

/* Returns 1 for true/yes/on, 0 for false/no/off, -1 for anything else. */
static int parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < TW_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

static const struct tw_config_key *find_key(const struct tw_config_key *keys, size_t n_keys,
                                            const char *name, size_t *idx)
{
    for (size_t i = 0; i < n_keys; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            *idx = i;
            return &keys[i];
        }
    }
    return NULL;
}

/* Checks one setting against the key table and hands it to fn. */
static int apply(struct reader *r, const struct setting *st, const struct tw_config_key *keys,
                 size_t n_keys, unsigned long *first_line, tw_config_fn fn, void *ctx)
{
    const struct tw_config_key *k;
    const char *value = st->value;
    char shown[SHOW_MAX * 4 + 4];
    size_t idx = 0;
    int rc;

    k = find_key(keys, n_keys, st->key, &idx);
    if (k == NULL)
        return fail(r, TW_EINVAL, "unknown key '%s'", show(st->key, shown, sizeof(shown)));
    if (k->cli_only)
        return fail(r, TW_EINVAL, "'%s' is allowed on the command line only", k->name);
    if (!k->repeatable) {
        if (first_line[idx] != 0)
            return fail(r, TW_EINVAL, "key '%s' given twice (first on line %lu)", k->name,
                        first_line[idx]);
        first_line[idx] = r->line;
    }
    if (k->takes_value) {
        if (value == NULL)
            return fail(r, TW_EINVAL, "'%s' needs a value", k->name);
    } else if (st->has_eq) {
        int on = value != NULL ? parse_bool(value) : -1;
        if (on < 0)
            return fail(r, TW_EINVAL, "'%s' takes no value other than true/false", k->name);
        if (on == 0)
            return 0;
        value = NULL;
    }
    if (r->errlen > 0)
        r->err[0] = '\0';
    rc = fn(ctx, k->name, value, r->where, r->err, r->errlen);
    if (rc < 0 && r->errlen > 0 && r->err[0] == '\0')
        fail(r, rc, "invalid value for '%s'", k->name);
    return rc < 0 ? rc : 0;
}

int tw_config_load(const char *path, const struct tw_config_key *keys, size_t n_keys,
                   tw_config_fn fn, void *ctx, char *err, size_t errlen)
{
    struct reader r = {.path = path, .err = err, .errlen = err != NULL ? errlen : 0};
    char line[TW_CONFIG_LINE_MAX + 2];
    unsigned long *first_line;
    struct setting st;
    size_t len = 0;
    int rc;

    if (r.errlen > 0)
        err[0] = '\0';
    /* Line where each non-repeatable key was first set (0: not yet). */
    first_line = calloc(n_keys > 0 ? n_keys : 1, sizeof(*first_line));
    r.where_cap = strlen(path) + 24;
    r.where = malloc(r.where_cap);
    if (first_line == NULL || r.where == NULL) {
        rc = fail(&r, TW_ENOMEM, "out of memory");
        goto out_free;
    }
    r.fp = fopen(path, "re");
    if (r.fp == NULL) {
        rc = fail_errno(&r);
        goto out_free;
    }
    for (;;) {
        char *s = line;

        r.line++;
        snprintf(r.where, r.where_cap, "%s:%lu", path, r.line);
        rc = read_line(&r, line, &len);
        if (rc <= 0)
            break;
        /* A UTF-8 byte order mark, as some Windows editors write. */
        if (r.line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3;
        rc = split_line(&r, s, &st);
        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        rc = apply(&r, &st, keys, n_keys, first_line, fn, ctx);
        if (rc < 0)
            break;
    }
    fclose(r.fp);
out_free:
    free(r.where);
    free(first_line);
    return rc;
}
