#!/bin/sh
# Recall on a realistic mix: twgen (tests/bench/twgen.c, the `make bench` generator) writes
# captures of many flows (IPv6, VLAN, DNS over UDP and TCP with compression, split
# post-quantum hellos, mid-stream TLS flows), and every DNS query and response name and every
# TLS SNI tshark decodes must be reported by tunwatch --events with its source address and
# port (tests/recall_check.py), with one worker and with two. The captures: RECALL_PACKETS
# (100,000) packets with each of RECALL_SEEDS (2 3: seed 2 has a DNS response to a client on
# port 4754, once read as GRE-in-UDP), and the same with twgen --field (what field traffic
# adds: repeated GREASE, mixed-case names, reordered and IP-fragmented packets, ...).
# Required recall: RECALL_MIN percent (100: every name; the bar is 99.9).
# Skipped (exit 77) without tshark or python3, a failure in CI (tests/lib.sh).
set -u
BUILD=${BUILD:-build}
SUITE=recall
. tests/lib.sh
pass=0
fail=0
skipped=0
packets=${RECALL_PACKETS:-100000}
seeds=${RECALL_SEEDS:-2 3}
min=${RECALL_MIN:-100}
twgen=$BUILD/bench/twgen

command -v tshark >/dev/null 2>&1 || skip "tshark not found (apt-get install tshark)"
command -v python3 >/dev/null 2>&1 || skip "python3 not found"
[ -x "$BUILD/tunwatch" ] || fail_early "$BUILD/tunwatch not built"
[ -x "$twgen" ] || fail_early "$twgen not built (make check builds it)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunwatch-recall.XXXXXX") || fail_early "mktemp failed"
trap 'rm -rf "$tmp"' EXIT INT TERM

# run LABEL TWGEN_ARGS...: one capture, checked with 1 and 2 workers.
run() {
    label=$1
    shift
    if ! "$twgen" -n "$packets" -o "$tmp/$label.pcap" "$@" 2>"$tmp/gen.log"; then
        cat "$tmp/gen.log"
        fail=$((fail + 1))
        echo "FAIL twgen -n $packets $*"
        return
    fi
    sed 's/^/  /' "$tmp/gen.log"
    if python3 tests/recall_check.py "$BUILD/tunwatch" "$tmp/$label.pcap" --workers 1,2 \
        --min "$min" --show 30; then
        pass=$((pass + 1))
        echo "ok   recall >= $min% on twgen $*"
    else
        fail=$((fail + 1))
        echo "FAIL recall below $min% on twgen $* (missed rows above)"
    fi
}

for s in $seeds; do
    run "seed$s" -s "$s"
    run "field$s" -s "$s" --field
done
tally
