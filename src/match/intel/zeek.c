/* SPDX-License-Identifier: MIT */
/*
 * Zeek intel files: "#fields" names the columns, "#separator" is honoured, Intel::DOMAIN,
 * Intel::ADDR and Intel::SUBNET become indicators, Zeek's other types are counted as skipped.
 */
#include "intel_impl.h"

#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS 64

static bool is_empty_value(const char *s)
{
    return s[0] == '\0' || strcmp(s, "-") == 0 || strcmp(s, "(empty)") == 0;
}

/* The separator of a "#separator" line: "\x09" or one character. -1 if neither. */
static int parse_separator(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (v[0] == '\\' && v[1] == 'x' && v[2] != '\0' && v[3] != '\0' && v[4] == '\0') {
        char hex[3] = {v[2], v[3], '\0'};
        char *end;
        long c = strtol(hex, &end, 16);

        return *end == '\0' && c > 0 ? (int)c : -1;
    }
    if (v[0] != '\0' && v[1] == '\0')
        return (uint8_t)v[0];
    return -1;
}

static size_t split(char *s, char sep, char **out, size_t cap)
{
    size_t n = 0;

    for (;;) {
        char *e = strchr(s, sep);

        if (n < cap)
            out[n] = s;
        n++;
        if (e == NULL)
            return n;
        *e = '\0';
        s = e + 1;
    }
}

/* Zeek's other indicator types: valid, but nothing tunwatch observes. */
static bool zeek_known_type(const char *t)
{
    static const char *const types[] = {
        "Intel::URL",       "Intel::SOFTWARE",    "Intel::EMAIL",     "Intel::USER_NAME",
        "Intel::CERT_HASH", "Intel::PUBKEY_HASH", "Intel::FILE_HASH", "Intel::FILE_NAME",
    };

    for (size_t i = 0; i < TW_ARRAY_SIZE(types); i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    return false;
}

int intel_load_zeek(struct loader *ld, char *buf, size_t len)
{
    char *cols[MAX_COLUMNS];
    char sep = '\t';
    size_t pos = 0, ncols = 0;
    int c_ind = -1, c_type = -1, c_src = -1, c_desc = -1;
    unsigned line = 0;
    char *s;

    while ((s = intel_next_line(buf, len, &pos)) != NULL) {
        line++;
        if (strspn(s, " \t") == strlen(s))
            continue;
        if (strncmp(s, "#separator", 10) == 0 && (s[10] == ' ' || s[10] == '\t')) {
            int c = parse_separator(s + 11);

            if (c < 0)
                intel_bad_line(ld, line, "unsupported #separator (one character or \\xHH)");
            else
                sep = (char)c;
            continue;
        }
        if (strncmp(s, "#fields", 7) == 0 && s[7] == sep) {
            ncols = split(s + 8, sep, cols, MAX_COLUMNS);
            if (ncols > MAX_COLUMNS) {
                intel_reject(ld, "line %u: more than %d columns", line, MAX_COLUMNS);
                return TW_EMALFORMED;
            }
            c_ind = c_type = c_src = c_desc = -1;
            for (size_t i = 0; i < ncols; i++) {
                if (strcmp(cols[i], "indicator") == 0)
                    c_ind = (int)i;
                else if (strcmp(cols[i], "indicator_type") == 0)
                    c_type = (int)i;
                else if (strcmp(cols[i], "meta.source") == 0)
                    c_src = (int)i;
                else if (strcmp(cols[i], "meta.desc") == 0)
                    c_desc = (int)i;
            }
            if (c_ind < 0 || c_type < 0) {
                intel_reject(ld, "line %u: #fields names no %s column", line,
                             c_ind < 0 ? "indicator" : "indicator_type");
                return TW_EMALFORMED;
            }
            continue;
        }
        if (strncmp(s, "#fields", 7) == 0) {
            intel_reject(ld, "line %u: #fields columns must be separated by tabs", line);
            return TW_EMALFORMED;
        }
        if (s[0] == '#')
            continue;
        if (ncols == 0) {
            intel_reject(ld, "line %u: data before the #fields line", line);
            return TW_EMALFORMED;
        }
        bool spaces = strchr(s, sep) == NULL && strchr(s, ' ') != NULL;
        size_t n = split(s, sep, cols, MAX_COLUMNS);
        if (n != ncols) {
            if (spaces)
                intel_bad_line(ld, line, "fields must be separated by tabs");
            else
                intel_bad_line(ld, line, "%zu fields where #fields names %zu", n, ncols);
            continue;
        }
        const char *v = cols[c_ind], *t = cols[c_type];
        const char *src = c_src >= 0 && !is_empty_value(cols[c_src]) ? cols[c_src] : ld->base;
        const char *desc = c_desc >= 0 && !is_empty_value(cols[c_desc]) ? cols[c_desc] : NULL;
        int rc = 0;

        if (is_empty_value(v)) {
            intel_bad_line(ld, line, "empty indicator");
            continue;
        }
        if (strcmp(t, "Intel::DOMAIN") == 0 || strcmp(t, "Intel::ADDR") == 0 ||
            strcmp(t, "Intel::SUBNET") == 0) {
            src = intel_intern_source(ld, src);
            if (src == NULL)
                return TW_ENOMEM;
        }
        if (strcmp(t, "Intel::DOMAIN") == 0) {
            rc = intel_add_name(ld, line, v, src, desc);
        } else if (strcmp(t, "Intel::ADDR") == 0) {
            rc = intel_add_addr(ld, line, v, false, src, desc);
        } else if (strcmp(t, "Intel::SUBNET") == 0) {
            rc = intel_add_addr(ld, line, v, true, src, desc);
        } else if (zeek_known_type(t)) {
            char why[96];

            snprintf(why, sizeof(why), "%.60s: not observed", t);
            rc = intel_skip(ld, why);
        } else {
            intel_bad_line(ld, line, "unknown indicator_type '%.60s'", t);
        }
        if (rc == TW_ENOMEM)
            return rc;
    }
    return 0;
}
