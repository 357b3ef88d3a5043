#!/bin/sh
# Runs each libFuzzer target for SECONDS, with a corpus kept in build/fuzz/corpus/<target>
# seeded from the project's captures (tests/fuzz/seeds.py). Fails if any target crashes.
# usage: tests/fuzz/run.sh SECONDS TARGET...
set -u
secs=$1
shift
fail=0
pass=0
python3 tests/fuzz/seeds.py build/fuzz/corpus pcaps || exit 1
for t in "$@"; do
    name=$(basename "$t")
    corpus=build/fuzz/corpus/$name
    mkdir -p "$corpus" build/fuzz/artifacts
    echo "== $name: ${secs}s"
    # ClientHellos reach 131 KiB (README, "Lenient TLS"): let inputs be that long.
    maxlen=""
    [ "$name" = fuzz_tls ] && maxlen=-max_len=131072
    if "$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ \
        $maxlen "$corpus" >build/fuzz/"$name".log 2>&1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $name: see build/fuzz/$name.log"
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)|^#[0-9]+.*DONE' \
        build/fuzz/"$name".log | tail -3
done
echo "fuzz: $pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
