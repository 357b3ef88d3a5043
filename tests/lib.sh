# Shell helpers shared by the shell tests (tests/t_*.sh), sourced after they set SUITE (the
# name their lines start with) and, where they count checks, pass, fail and skipped.
#
# Skip protocol (tests/run.sh): a suite that cannot run says why and exits 77; one that ran
# some checks and skipped others exits 77 too, unless one failed (exit 1). A skip is only for an
# environment that is missing here (no root, no network namespaces, a missing tool or the shared
# data), never for a fault of tunwatch (an option missing from --help is a failure). With CI
# set (in_ci) a skip is a failure that names its reason: CI provides every environment.

# The public captures and SigmaHQ's rules: $TW_SHARED/corpus and $TW_SHARED/sigma, by default
# ../shared (relative to the top of the tree, where the tests run).
SHARED=${TW_SHARED:-../shared}

# True when CI is set to anything but "", "0" or "false" (CI systems set CI=true).
in_ci() {
    case "${CI:-}" in '' | 0 | false) return 1 ;; *) return 0 ;; esac
}

# skip REASON: the whole suite cannot run here. Exit 77, or in CI a failure (exit 1).
skip() {
    if in_ci; then
        echo "$SUITE: FAIL: skipped, but CI must run this: $*"
        exit 1
    fi
    echo "$SUITE: skipped: $*"
    exit 77
}

# skip_check REASON: one check cannot run here; the others go on. Counted in skipped, or in CI
# in fail.
skip_check() {
    if in_ci; then
        fail=$((fail + 1))
        echo "FAIL skipped, but CI must run this: $*"
    else
        skipped=$((skipped + 1))
        echo "skip $*"
    fi
}

# fail_early REASON: a fault (of tunwatch or of the test, not of the environment) that stops
# the suite before its checks: a failure, with the closing line.
fail_early() {
    echo "FAIL $*"
    echo "$SUITE: ${pass:-0} passed, $((${fail:-0} + 1)) failed, ${skipped:-0} skipped"
    exit 1
}

# wait_for SECONDS CMD...: runs CMD (its stderr dropped) every 0.1 s until it succeeds, at most
# SECONDS * 10 times; false if it never did.
wait_for() {
    n=$(($1 * 10))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

# tally: the closing line "SUITE: N passed, N failed, N skipped", then exit 1 after a failure,
# 77 after a skip, else 0.
tally() {
    echo "$SUITE: $pass passed, $fail failed, $skipped skipped"
    [ "$fail" -eq 0 ] || exit 1
    [ "$skipped" -eq 0 ] || exit 77
    exit 0
}
