/* SPDX-License-Identifier: MIT */
/*
 * Configuration file reader. The file holds the command line's long options,
 * one setting a line:
 *
 *   # a comment (whole line, or after whitespace)
 *   key = value
 *   key = "a value with spaces, a # and \"quotes\" and \\ backslashes"
 *   flag                       # a flag that is on
 *   flag = true                # also yes/on; false/no/off turns it off
 *
 * Surrounding whitespace (spaces, tabs) is trimmed; blank lines are skipped;
 * LF and CRLF line endings both work, the last line needs no newline, and a
 * UTF-8 byte order mark at the start is skipped. Inside double quotes the only
 * escapes are \" and \\. A line holds at most TW_CONFIG_LINE_MAX bytes (its
 * line ending not counted); a longer one is an error, not silently cut.
 *
 * The reader knows nothing about what the keys mean: the caller passes the
 * table of keys and a function that applies each setting, so the same
 * function can serve the command line (getopt's optarg is NULL for a flag,
 * as value is here).
 */
#ifndef TUNWATCH_CONFIG_H
#define TUNWATCH_CONFIG_H

#include "tunwatch/base/common.h"

#define TW_CONFIG_LINE_MAX 4096

struct tw_config_key {
    const char *name; /* the long option's name, without the dashes */
    bool takes_value; /* false: a flag */
    bool repeatable;  /* may appear on several lines (e.g. rules, interface) */
    bool cli_only;    /* command line only (e.g. config): refused in a file */
};

/*
 * Applies one setting. key is the name from the key table (the same pointer,
 * so it outlives the call); value is the setting's value, or NULL for a flag
 * that is on; where is "FILE:LINE". value and where are valid only during the
 * call: copy what you keep. Returns 0 to go on, or a negative TW_E* to stop
 * loading; on failure it should write a message into err (errlen bytes,
 * starting with where), else the reader writes a generic one.
 */
typedef int (*tw_config_fn)(void *ctx, const char *key, const char *value, const char *where,
                            char *err, size_t errlen);

/*
 * Reads the configuration file at path and calls fn(ctx, ...) once for each
 * setting, in file order. A flag set to false/no/off is checked but not
 * reported (flags are off unless set); a non-repeatable key may appear only
 * once, whatever its value.
 *
 * Settings before an error have already been applied when the error is seen:
 * a caller that wants all or nothing applies them into scratch storage.
 *
 * Returns 0; TW_EINVAL for a syntax error, an unknown, doubled or
 * command-line-only key, a missing or unexpected value, a line too long or
 * holding a NUL byte; TW_EIO if the file cannot be opened or read (errno is
 * kept); TW_ENOMEM; or fn's negative return. On error err holds one line
 * (no newline), such as "FILE:LINE: unknown key 'x'" or
 * "FILE: No such file or directory". No global state: safe to call again,
 * e.g. to reload on SIGHUP.
 */
int tw_config_load(const char *path, const struct tw_config_key *keys, size_t n_keys,
                   tw_config_fn fn, void *ctx, char *err, size_t errlen);

#endif /* TUNWATCH_CONFIG_H */
