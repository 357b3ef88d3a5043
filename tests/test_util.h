/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka tests; include after <cmocka.h>. */
#ifndef TUNWATCH_TEST_UTIL_H
#define TUNWATCH_TEST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic time in nanoseconds, for the timings some tests print. */
static inline double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Copies p[0..n) into an exact-size heap buffer, so that ASan sees a one-byte over-read. */
static inline void *exact_copy(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);

    assert_non_null(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

/*
 * Data kept outside the tree: the public captures ($TW_SHARED/corpus) and SigmaHQ's rules
 * ($TW_SHARED/sigma). TW_SHARED defaults to ../shared, relative to the top of the tree, where
 * the tests run. Writes "$TW_SHARED/sub" into buf and returns buf; a path that does not fit
 * ends the program with a failure.
 */
static inline const char *tw_shared_path(char *buf, size_t cap, const char *sub)
{
    const char *top = getenv("TW_SHARED");
    int n;

    if (top == NULL || top[0] == '\0')
        top = "../shared";
    n = snprintf(buf, cap, "%s/%s", top, sub);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "TW_SHARED: path too long: %s/%s\n", top, sub);
        exit(1);
    }
    return buf;
}

/* True when CI is set to anything but "", "0" or "false" (CI systems set CI=true). */
static inline bool tw_in_ci(void)
{
    const char *ci = getenv("CI");

    return ci != NULL && ci[0] != '\0' && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
}

/*
 * Skips. A case that cannot run says why through one of these, never through cmocka's bare
 * skip(), and main() returns tw_run_tests() (or tw_run_tests_name()): the program then exits 1
 * when a case failed, 77 when a case was skipped (tests/run.sh reports the program as skipped,
 * not passed), 0 otherwise.
 *
 *   tw_skip_required(fmt, ...)     something CI provides is missing: the shared corpus or
 *                                  SigmaHQ rules (TW_SHARED), root, the permission to capture,
 *                                  sock_diag. With CI set (tw_in_ci) the case fails instead,
 *                                  naming the reason.
 *   tw_skip_unsupported(fmt, ...)  the system lacks a feature (an older kernel, no IPv6):
 *                                  skipped, in CI as well.
 *   tw_skip_optional(fmt, ...)     a case that runs only when another test drives it (such as
 *                                  TW_SIGMA_CASES from tests/t_sigma.sh): printed as
 *                                  "optional, not run: REASON"; the program still passes.
 */
enum tw_skip_kind { TW_SKIP_REQUIRED, TW_SKIP_UNSUPPORTED, TW_SKIP_OPTIONAL };

/* Skips so far that make the program count as skipped (required and unsupported ones). */
static inline unsigned *tw_skips(void)
{
    static unsigned n;

    return &n;
}

__attribute__((format(printf, 4, 5))) static inline void
tw_skip_at(enum tw_skip_kind kind, const char *file, int line, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (kind == TW_SKIP_REQUIRED && tw_in_ci()) {
        print_error("FAIL: skipped, but CI must run this: %s\n", why);
        _fail(file, line);
    }
    if (kind == TW_SKIP_OPTIONAL) {
        print_message("optional, not run: %s\n", why);
    } else {
        print_message("skipped: %s\n", why);
        (*tw_skips())++;
    }
    _skip(file, line);
}

#define tw_skip_required(...) tw_skip_at(TW_SKIP_REQUIRED, __FILE__, __LINE__, __VA_ARGS__)
#define tw_skip_unsupported(...) tw_skip_at(TW_SKIP_UNSUPPORTED, __FILE__, __LINE__, __VA_ARGS__)
#define tw_skip_optional(...) tw_skip_at(TW_SKIP_OPTIONAL, __FILE__, __LINE__, __VA_ARGS__)

/* main()'s exit status from cmocka's count of failed cases; see the skips above. */
static inline int tw_exit_status(int failed)
{
    if (failed != 0)
        return 1;
    return *tw_skips() != 0 ? 77 : 0;
}

#define tw_run_tests(group, setup, teardown)                                                    \
    tw_exit_status(cmocka_run_group_tests(group, setup, teardown))
#define tw_run_tests_name(name, group, setup, teardown)                                         \
    tw_exit_status(cmocka_run_group_tests_name(name, group, setup, teardown))

#endif /* TUNWATCH_TEST_UTIL_H */
