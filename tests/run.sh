#!/bin/sh
# Runs every test program (cmocka unit tests in BUILD/tests, shell tests tests/t_*.sh) and prints
# one closing line: "N passed, N failed".
# Usage: tests/run.sh BUILD_DIR
BUILD=${1:-build}
pass=0
fail=0
failed=""
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue ;; esac
    echo "== $t"
    if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
for t in tests/t_*.sh; do
    [ -f "$t" ] || continue
    echo "== $t"
    if BUILD="$BUILD" sh "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
