#!/bin/sh
# DPDK capture end to end: every classic pcap in pcaps/ is replayed through DPDK's net_pcap
# virtual device (no NIC, no hugepages) into `tunwatch -i dpdk:0 --events`, and the alerts and
# every observed name must be those of `tunwatch -r FILE --events` with the same rules,
# timestamps and flow_id left out (DPDK frames carry their arrival time). The port's counters
# must show every packet of the file and no drop.
#
# net_pcap delivers a file's packets once, then nothing: tunwatch writes a stats line every
# second (--stats-interval 1) and gets SIGTERM once the capture counted as many frames as the
# file holds (or no new frame came for 3 s, or 30 s passed: then the counts differ and the
# case fails). pcapng files are left out (net_pcap reads classic pcap only), so are captures
# that are not Ethernet.
#
# Needs libdpdk and a binary built with `make DPDK=1`: $BUILD/tunwatch, else
# build/dpdk/tunwatch (where make DPDK=1 puts it); builds nothing. Skips (exit 77, "dpdk:
# skipped: REASON"; a failure in CI, see tests/lib.sh) when libdpdk is not installed, no DPDK
# build is there, or the DPDK EAL cannot start here; a DPDK build whose --help does not list
# --dpdk is a failure. Last line: "dpdk: N passed, N failed, N skipped". TW_DPDK_KEEP=1 keeps
# the temporary directory.
#
# Then one RX queue per worker: the Ethernet pcaps, merged (mergecap -F pcap), are split by a
# symmetric flow hash into two files, the two RX queues of one net_pcap port (it has no RSS:
# queue Q replays file Q). `tunwatch -i dpdk:0 --workers 2` must give each worker its own queue
# (dpdk:0/W/2): worker W counts exactly the packets of file W, and the alerts, in any order,
# are those of -r on the merged file. Needs python3 and mergecap (else that case is skipped,
# and so is the suite: exit 77, a failure in CI).
set -u
BUILD=${BUILD:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
SUITE=dpdk
. "$HERE/lib.sh"

# A DPDK build: its object directory has the DPDK backend (make DPDK=1).
dpdk_build() { [ -x "$1/tunwatch" ] && [ -f "$1/capture/dpdk/dpdk.o" ]; }

command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libdpdk ||
    skip "libdpdk is not installed (apt-get install libdpdk-dev)"
if dpdk_build "$BUILD"; then
    TW=$BUILD/tunwatch
elif dpdk_build "$TOP/build/dpdk"; then
    TW=$TOP/build/dpdk/tunwatch
else
    skip "no tunwatch built with DPDK=1 ($BUILD, build/dpdk)"
fi
"$TW" --help 2>&1 | grep -q -- '--dpdk' || fail_early "$TW is a DPDK build but --help lacks --dpdk"
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
skipped=0
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

# Alert lines without the fields that depend on the time of capture, and without who wrote them
# (the run id is random per run; the source is a file for -r, a DPDK port here).
strip() {
    sed -e 's/"timestamp":"[^"]*",\{0,1\}//g' -e 's/"flow_id":[0-9]*,\{0,1\}//g' \
        -e 's/,"sensor":{[^}]*}//' -e 's/,"interface":"[^"]*"//' -e 's/,"pcap_filename":"[^"]*"//' \
        "$1"
}

# Frames counted for the capture in the last stats line of $1 (empty if none yet).
frames_seen() {
    tail -n 1 "$1" 2>/dev/null | sed -n 's/.*"capture":\[{[^]]*"frames":\([0-9]*\).*/\1/p'
}

# The net_pcap vdev replays its file once and then stays silent: SIGTERM tunwatch ($TWPID) once
# its stats (file $1) show all $2 packets, after 3 s without a new frame, or after 30 s.
# Sets status to tunwatch's exit status.
stop_when_consumed() {
    start=$(now)
    last=$start
    prev=""
    while kill -0 "$TWPID" 2>/dev/null; do
        seen=$(frames_seen "$1")
        [ -n "$seen" ] && [ "$seen" -ge "$2" ] && break
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
}

# Field $2 of the capture in the last stats line of $1.
capture_field() {
    tail -n 1 "$1" 2>/dev/null | sed -n "s/.*\"capture\":\[{[^]]*\"$2\":\([0-9]*\).*/\1/p"
}

now() { date +%s; }

replayed=0
for f in "$TOP"/pcaps/*.pcap; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    lt=$(linktype "$f")
    [ "$lt" = 1 ] || { echo "left out: $name (link type '${lt:-not classic pcap}')"; continue; }
    replayed=$((replayed + 1))
    want=$tmp/$name.want
    out=$tmp/$name.out
    stats=$tmp/$name.stats
    err=$tmp/$name.err
    if ! "$TW" -r "$f" -R "$TOP/rules" -q --events >"$want" 2>"$tmp/$name.want.err"; then
        bad "$name: tunwatch -r failed: $(tail -n 1 "$tmp/$name.want.err")"
        continue
    fi
    packets=$(sed -n 's/^tunwatch: \([0-9]*\) packets.*/\1/p' "$tmp/$name.want.err")
    [ -n "$packets" ] || { bad "$name: no packet count in the summary of -r"; continue; }

    eal="--no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=error"
    eal="$eal --vdev=net_pcap0,rx_pcap=$f"
    "$TW" --dpdk "$eal" -i dpdk:0 -R "$TOP/rules" -q --events -o "$out" --stats-interval 1 \
        --stats-file "$stats" 2>"$err" &
    TWPID=$!
    stop_when_consumed "$stats" "$packets"
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
    elif [ "${dropped:-0}" != 0 ]; then  # a counter at zero is left out of the stats line
        bad "$name: port dropped ${dropped:-?}"
    elif [ ! -s "$want" ]; then
        bad "$name: tunwatch -r found no name: nothing to compare"
    elif strip "$want" >"$want.cmp" && strip "$out" >"$out.cmp" &&
        cmp -s "$want.cmp" "$out.cmp"; then
        ok "$name: $packets packets, $(wc -l <"$out" | tr -d ' ') lines (events and alerts) as with -r"
    else
        bad "$name: events or alerts differ from tunwatch -r"
        diff "$want.cmp" "$out.cmp" | head -n 10
    fi
done

[ "$replayed" -gt 0 ] || bad "no Ethernet capture in classic pcap format in pcaps/"

# Writes FILE to OUT0 and OUT1 by a symmetric hash of the IPv4/IPv6 addresses, as the RSS that
# tunwatch asks of a NIC (addresses only, so that fragments go where their flow goes), frames
# that are not IP to OUT0; prints the number of packets in each.
split_pcap() {
    python3 - "$@" <<'PY'
import struct, sys, zlib

def flow_key(d):
    off = 12
    et = struct.unpack("!H", d[12:14])[0] if len(d) >= 14 else 0
    while et in (0x8100, 0x88A8) and len(d) >= off + 6:
        off += 4
        et = struct.unpack("!H", d[off:off + 2])[0]
    ip = d[off + 2:]
    if et == 0x0800 and len(ip) >= 20 and ip[0] >> 4 == 4:
        a, b = ip[12:16], ip[16:20]
    elif et == 0x86DD and len(ip) >= 40 and ip[0] >> 4 == 6:
        a, b = ip[8:24], ip[24:40]
    else:
        return None
    return b"".join(sorted([a, b]))

src, outs = sys.argv[1], sys.argv[2:4]
data = open(src, "rb").read()
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
files = [open(o, "wb") for o in outs]
for f in files:
    f.write(data[:24])
pos, count = 24, [0, 0]
while pos + 16 <= len(data):
    caplen = struct.unpack(end + "I", data[pos + 8:pos + 12])[0]
    key = flow_key(data[pos + 16:pos + 16 + caplen])
    i = 0 if key is None else zlib.crc32(key) % 2
    files[i].write(data[pos:pos + 16 + caplen])
    count[i] += 1
    pos += 16 + caplen
print(count[0], count[1])
PY
}

# Packets of each worker in the last stats line of $1, "N0 N1 ...", empty if none.
worker_packets() {
    tail -n 1 "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    print(" ".join(str(w.get("packets", 0)) for w in json.loads(sys.stdin.read())["workers"]))
except (ValueError, KeyError, TypeError):
    pass'
}

# Prints, one per line, the classic Ethernet pcaps among its arguments whose TCP and UDP flows
# (5-tuple, either direction) appear in no capture printed before: the crafted evasion captures
# replay the flows of resolve_connect.pcap with the same addresses, ports and sequence numbers,
# and merged into one stream they would be one flow whose packets interleave, not the traffic of
# a network. Which of two such captures is kept does not matter: the order of the arguments.
disjoint_captures() {
    python3 - "$@" <<'PY'
import struct, sys

def flows(path):
    data = open(path, "rb").read()
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return None
    if len(data) < 24 or struct.unpack(end + "I", data[20:24])[0] != 1:
        return None
    keys, pos = set(), 24
    while pos + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[pos + 8:pos + 12])[0]
        d = data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
        off = 12
        et = struct.unpack("!H", d[12:14])[0] if len(d) >= 14 else 0
        while et in (0x8100, 0x88A8) and len(d) >= off + 6:
            off += 4
            et = struct.unpack("!H", d[off:off + 2])[0]
        ip = d[off + 2:]
        if et == 0x0800 and len(ip) >= 20 and ip[0] >> 4 == 4:
            a, b, proto, l4 = ip[12:16], ip[16:20], ip[9], ip[(ip[0] & 15) * 4:]
        elif et == 0x86DD and len(ip) >= 40 and ip[0] >> 4 == 6:
            a, b, proto, l4 = ip[8:24], ip[24:40], ip[6], ip[40:]
        else:
            continue
        if proto in (6, 17) and len(l4) >= 4:
            keys.add((proto,) + tuple(sorted([a + l4[0:2], b + l4[2:4]])))
    return keys

seen = set()
for path in sys.argv[1:]:
    keys = flows(path)
    if keys is None or keys & seen:
        continue
    seen |= keys
    print(path)
PY
}

multi_queue() {
    mq=$tmp/mq
    mkdir -p "$mq"
    set --
    for f in "$TOP"/pcaps/*.pcap; do
        [ "$(linktype "$f")" = 1 ] && set -- "$@" "$f"
    done
    [ $# -gt 0 ] || { bad "queues: no Ethernet pcap in pcaps/"; return; }
    chosen=$(disjoint_captures "$@") || { bad "queues: cannot read the captures"; return; }
    # shellcheck disable=SC2086 # the paths have no blanks (checked above)
    set -- $chosen
    echo "queues: merging $(for f in "$@"; do basename "$f"; done | tr '\n' ' ')"
    if ! mergecap -F pcap -w "$mq/all.pcap" "$@" 2>"$mq/merge.err"; then
        bad "queues: mergecap failed: $(tail -n 1 "$mq/merge.err")"
        return
    fi
    counts=$(split_pcap "$mq/all.pcap" "$mq/q0.pcap" "$mq/q1.pcap") ||
        { bad "queues: cannot split the capture"; return; }
    n0=${counts% *}
    n1=${counts#* }
    packets=$((n0 + n1))
    if [ "$n0" -eq 0 ] || [ "$n1" -eq 0 ]; then
        bad "queues: the split left a file empty ($n0 and $n1 packets)"
        return
    fi
    # Each queue's worker stores the DNS answers it reads when it reads them: whether a response
    # on one queue is stored before the connection it names is looked up on the other is a
    # race, as with live fanout (README, Limits). Queue distribution is compared without it.
    if ! "$TW" -r "$mq/all.pcap" -R "$TOP/rules" --dns-cache 0 -q --events >"$mq/want" 2>"$mq/want.err"; then
        bad "queues: tunwatch -r failed: $(tail -n 1 "$mq/want.err")"
        return
    fi

    eal="--no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=error"
    eal="$eal --vdev=net_pcap0,rx_pcap=$mq/q0.pcap,rx_pcap=$mq/q1.pcap"
    "$TW" --dpdk "$eal" -i dpdk:0 --workers 2 -R "$TOP/rules" --dns-cache 0 -q --events -o "$mq/out" \
        --stats-interval 1 --stats-file "$mq/stats" 2>"$mq/err" &
    TWPID=$!
    stop_when_consumed "$mq/stats" "$packets"

    seen=$(frames_seen "$mq/stats")
    received=$(capture_field "$mq/stats" received)
    dropped=$(capture_field "$mq/stats" dropped)
    per_worker=$(worker_packets "$mq/stats")
    name="queues (dpdk:0 --workers 2, $n0 + $n1 packets)"
    if [ "$status" -ne 0 ]; then
        bad "$name: exit status $status: $(tail -n 3 "$mq/err" | tr '\n' ' ')"
    elif [ "${seen:-x}" != "$packets" ] || [ "${received:-x}" != "$packets" ]; then
        bad "$name: captured ${seen:-none}, port received ${received:-none}" \
            "(a single queue would give $n0)"
    elif [ "${dropped:-0}" != 0 ]; then  # a counter at zero is left out of the stats line
        bad "$name: port dropped ${dropped:-?}"
    elif [ "$per_worker" != "$n0 $n1" ]; then
        bad "$name: workers counted ${per_worker:-nothing}, not the $n0 $n1 of" \
            "their queues (is every worker reading its own queue dpdk:0/W/2?)"
    elif [ ! -s "$mq/want" ]; then
        bad "$name: tunwatch -r found no name: nothing to compare"
    elif strip "$mq/want" | sort >"$mq/want.cmp" && strip "$mq/out" | sort >"$mq/out.cmp" &&
        cmp -s "$mq/want.cmp" "$mq/out.cmp"; then
        ok "$name: workers $per_worker, $(wc -l <"$mq/out" | tr -d ' ') lines (events and alerts) as with -r"
    else
        bad "$name: events or alerts differ from tunwatch -r"
        diff "$mq/want.cmp" "$mq/out.cmp" | head -n 10
    fi
}

if ! command -v python3 >/dev/null 2>&1 || ! command -v mergecap >/dev/null 2>&1; then
    skip_check "queues: needs python3 and mergecap"
else
    multi_queue
fi

tally
