#!/bin/sh
# DPDK capture end to end: every classic pcap in pcaps/ is replayed through DPDK's net_pcap
# virtual device (no NIC, no hugepages) into `tunwatch -i dpdk:0`, and the alerts must be
# those of `tunwatch -r FILE` with the same rules, timestamps and flow_id left out (DPDK frames
# carry their arrival time). The port's counters must show every packet of the file and no drop.
#
# net_pcap delivers a file's packets once, then nothing: tunwatch writes a stats line every
# second (--stats-interval 1) and gets SIGTERM once the capture counted as many frames as the
# file holds (or no new frame came for 3 s, or 30 s passed: then the counts differ and the
# case fails). pcapng files are left out (net_pcap reads classic pcap only), so are captures
# that are not Ethernet.
#
# Needs libdpdk and a binary built with `make DPDK=1` (--help lists --dpdk): $BUILD/tunwatch,
# else build/dpdk/tunwatch (where make DPDK=1 puts it); builds nothing. Skips (exit 0,
# "dpdk: skipped: REASON") otherwise, or when the DPDK EAL cannot start here. Last line:
# "dpdk: N passed, N failed". TW_DPDK_KEEP=1 keeps the temporary directory.
set -u
BUILD=${BUILD:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)

skip() { echo "dpdk: skipped: $*"; exit 0; }

has_dpdk() { [ -x "$1" ] && "$1" --help 2>&1 | grep -q -- '--dpdk'; }

command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libdpdk ||
    skip "libdpdk is not installed (apt-get install libdpdk-dev)"
TW=$BUILD/tunwatch
has_dpdk "$TW" || TW=$TOP/build/dpdk/tunwatch
has_dpdk "$TW" || skip "no tunwatch built with DPDK=1 ($BUILD/tunwatch, build/dpdk/tunwatch)"
case "$TOP" in *[[:space:],]*) skip "the source path has blanks or commas (EAL --vdev)" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunwatch-dpdk.XXXXXX")
TWPID=""
cleanup() {
    [ -n "$TWPID" ] && kill -KILL "$TWPID" 2>/dev/null
    if [ "${TW_DPDK_KEEP:-0}" = 1 ]; then echo "dpdk: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# Link type of a classic pcap (either byte order); empty if the file is not one.
linktype() {
    magic=$(od -An -tx1 -N4 "$1" | tr -d ' \n')
    case "$magic" in
    d4c3b2a1|4d3cb2a1) od -An -tu4 -j20 -N4 --endian=little "$1" | tr -d ' ' ;;
    a1b2c3d4|a1b23c4d) od -An -tu4 -j20 -N4 --endian=big "$1" | tr -d ' ' ;;
    esac
}

# Alert lines without the fields that depend on the time of capture.
strip() { sed -e 's/"timestamp":"[^"]*",\{0,1\}//g' -e 's/"flow_id":[0-9]*,\{0,1\}//g' "$1"; }

# Frames counted for the capture in the last stats line of $1 (empty if none yet).
frames_seen() {
    tail -n 1 "$1" 2>/dev/null | sed -n 's/.*"capture":\[{[^]]*"frames":\([0-9]*\).*/\1/p'
}

# Field $2 of the capture in the last stats line of $1.
capture_field() {
    tail -n 1 "$1" 2>/dev/null | sed -n "s/.*\"capture\":\[{[^]]*\"$2\":\([0-9]*\).*/\1/p"
}

now() { date +%s; }

for f in "$TOP"/pcaps/*.pcap; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    lt=$(linktype "$f")
    [ "$lt" = 1 ] || { echo "skip: $name (link type '${lt:-not classic pcap}')"; continue; }
    want=$tmp/$name.want
    out=$tmp/$name.out
    stats=$tmp/$name.stats
    err=$tmp/$name.err
    if ! "$TW" -r "$f" -R "$TOP/rules" -q >"$want" 2>"$tmp/$name.want.err"; then
        bad "$name: tunwatch -r failed: $(tail -n 1 "$tmp/$name.want.err")"
        continue
    fi
    packets=$(sed -n 's/^tunwatch: \([0-9]*\) packets.*/\1/p' "$tmp/$name.want.err")
    [ -n "$packets" ] || { bad "$name: no packet count in the summary of -r"; continue; }

    eal="--no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=error"
    eal="$eal --vdev=net_pcap0,rx_pcap=$f"
    "$TW" --dpdk "$eal" -i dpdk:0 -R "$TOP/rules" -q -o "$out" --stats-interval 1 \
        --stats-file "$stats" 2>"$err" &
    TWPID=$!
    start=$(now)
    last=$start
    prev=""
    while kill -0 "$TWPID" 2>/dev/null; do
        seen=$(frames_seen "$stats")
        [ -n "$seen" ] && [ "$seen" -ge "$packets" ] && break
        [ "$seen" != "$prev" ] && { prev=$seen; last=$(now); }
        [ $(($(now) - last)) -ge 3 ] && [ -n "$seen" ] && break
        [ $(($(now) - start)) -ge 30 ] && break
        sleep 0.2
    done
    kill -TERM "$TWPID" 2>/dev/null
    n=0
    while kill -0 "$TWPID" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL "$TWPID" 2>/dev/null
    wait "$TWPID"
    status=$?
    TWPID=""
    if grep -q 'EAL initialisation failed' "$err"; then
        cat "$err"
        skip "the DPDK EAL does not start here: $(grep 'EAL initialisation' "$err")"
    fi

    # The final stats line is written at exit, after the last frame.
    seen=$(frames_seen "$stats")
    received=$(capture_field "$stats" received)
    dropped=$(capture_field "$stats" dropped)
    if [ "$status" -ne 0 ]; then
        bad "$name: exit status $status: $(tail -n 3 "$err" | tr '\n' ' ')"
    elif [ "${seen:-x}" != "$packets" ] || [ "${received:-x}" != "$packets" ]; then
        bad "$name: $packets packets in the file, captured ${seen:-none}," \
            "port received ${received:-none}"
    elif [ "${dropped:-x}" != 0 ]; then
        bad "$name: port dropped ${dropped:-?}"
    elif [ ! -s "$want" ]; then
        bad "$name: tunwatch -r found no alert: nothing to compare"
    elif strip "$want" >"$want.cmp" && strip "$out" >"$out.cmp" &&
        cmp -s "$want.cmp" "$out.cmp"; then
        ok "$name: $packets packets, $(wc -l <"$out" | tr -d ' ') alerts as with -r"
    else
        bad "$name: alerts differ from tunwatch -r"
        diff "$want.cmp" "$out.cmp" | head -n 10
    fi
done

echo "dpdk: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
