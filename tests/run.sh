#!/bin/sh
# Runs the test programs and prints one closing line, counting programs (each cmocka program
# BUILD/tests/test_*, each shell suite tests/t_*.sh):
#     N passed, N failed, N skipped
# and exits non-zero if any failed.
#
# Usage: tests/run.sh BUILD_DIR [TEST...]
#   Without TEST: every cmocka program in BUILD_DIR/tests and every tests/t_*.sh, except
#   tests/t_dpdk.sh unless BUILD_DIR has the DPDK backend (make DPDK=1; make check-dpdk runs it).
#
# Skip protocol:
#   - A test that cannot run here prints why and exits 77 (the automake convention); so does
#     one that ran some of its cases and skipped others. It counts as skipped, never as passed,
#     and its reason is listed after the closing line. A skip is for an environment missing
#     here (no root, no network namespaces, a missing tool, the shared data absent), never for
#     a fault of tunwatch.
#   - cmocka programs skip a case through tests/test_util.h (tw_skip_required,
#     tw_skip_unsupported, tw_skip_optional), which prints "skipped: REASON", and return
#     tw_run_tests(): exit 77 after a skip. An optional case ("optional, not run: REASON": one
#     that runs only when another test drives it) does not make its program skipped.
#     The runner also reads cmocka's summary ("[  SKIPPED ] N test(s)"): a program with more
#     skipped cases than optional ones is skipped even if it exits 0 (a bare cmocka skip()).
#   - Shell suites skip through tests/lib.sh (skip, skip_check, tally).
#   - With CI set (CI=true; anything but "", 0 or false), a skip of what CI must provide (the
#     shared data, root, network namespaces, the permission to capture, the tools .ci/deps.sh
#     installs, DPDK under make check-dpdk) is a failure that prints its reason: the helpers
#     fail instead of skipping. Only a missing kernel feature (tw_skip_unsupported) is still a
#     skip in CI. A bare cmocka skip() that gave no reason is a failure in CI.
#
# Time limit: each program gets TEST_TIMEOUT seconds (default 1200; 0: none) under coreutils'
# timeout, so a test that hangs fails with a reason instead of stalling the whole run.
#
# Shared data: the public captures and SigmaHQ's rules are read from $TW_SHARED/corpus and
# $TW_SHARED/sigma; TW_SHARED defaults to ../shared, relative to the top of the tree (where
# this runs). Without them the suites that need them are skipped (failed in CI).
BUILD=${1:-build}
[ $# -gt 0 ] && shift
pass=0
fail=0
skip=0
failed=""
skipped=""
limit=${TEST_TIMEOUT:-1200}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunwatch-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

in_ci() {
    case "${CI:-}" in '' | 0 | false) return 1 ;; *) return 0 ;; esac
}

# The first line of the log holding one of the patterns (fixed strings), for the summary.
reason() {
    log=$1
    shift
    for pat in "$@"; do
        line=$(grep -F -m 1 -- "$pat" "$log") && { echo "$line" | cut -c1-200; return; }
    done
}

# run NAME CMD...: runs one test with its output shown and kept, then counts it.
run() {
    name=$1
    shift
    echo "== $name"
    log=$tmp/log
    t0=$(date +%s)
    if [ "$limit" -gt 0 ]; then
        # TERM first (the suites clean up on it), KILL 30 s later if it is still there
        { timeout -k 30 "$limit" "$@" 2>&1; echo $? >"$tmp/rc"; } | tee "$log"
    else
        { "$@" 2>&1; echo $? >"$tmp/rc"; } | tee "$log"
    fi
    rc=$(cat "$tmp/rc")
    why=""
    if [ "$limit" -gt 0 ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } &&
        [ $(($(date +%s) - t0)) -ge "$limit" ]; then
        rc=1
        why="timed out after $limit s (TEST_TIMEOUT)"
    fi
    # cmocka's summary: skipped cases, against those announced as optional or with a reason
    n_skip=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test(s), listed below:$/\1/p' "$log" |
        awk '{ s += $1 } END { print s + 0 }')
    n_opt=$(grep -c '^optional, not run: ' "$log")
    n_why=$(grep -c '^skipped: ' "$log")
    if [ "$rc" -eq 0 ] && [ "$n_skip" -gt "$n_opt" ]; then
        if [ "$n_skip" -gt $((n_opt + n_why)) ] && in_ci; then
            rc=1
            why="$((n_skip - n_opt - n_why)) case(s) skipped without a reason (cmocka skip())"
        else
            rc=77
        fi
    fi
    case "$rc" in
    0) pass=$((pass + 1)) ;;
    77)
        skip=$((skip + 1))
        [ -n "$why" ] || why=$(reason "$log" "skipped: " "[  SKIPPED ]")
        skipped="$skipped
  $name: ${why:-no reason given}"
        ;;
    *)
        fail=$((fail + 1))
        [ -n "$why" ] || why=$(reason "$log" "CI must run this" "runtime error:" "FAIL" \
            "[  FAILED  ]" "ERROR")
        failed="$failed
  $name${why:+: $why}"
        ;;
    esac
}

if [ $# -eq 0 ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.o | *.d) continue ;; esac
        set -- "$@" "$t"
    done
    for t in tests/t_*.sh; do
        [ -f "$t" ] || continue
        [ "$t" = tests/t_dpdk.sh ] && [ ! -f "$BUILD/capture/dpdk/dpdk.o" ] && continue
        set -- "$@" "$t"
    done
fi
for t in "$@"; do
    case "$t" in
    *.sh) run "$t" env BUILD="$BUILD" sh "$t" ;;
    *) run "$t" env CMOCKA_MESSAGE_OUTPUT=stdout "$t" ;;
    esac
done
[ -n "$skipped" ] && echo "skipped:$skipped"
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
