#!/bin/sh
# Live-capture throughput on a veth pair: how many packets tunwatch keeps up with on the wire.
#
#   sh tests/bench/live.sh BUILD          (as root; needs ip, ethtool, tcpreplay)
#
# Creates two network namespaces, twb-tx and twb-rx, joined by a veth pair twb-tx0 <-> twb-rx0
# (offloads off: gro, gso, tso; MTU 1500, the bench capture's largest frame is 1514 bytes;
# IPv6 off so no neighbour discovery adds frames). Then, in the same run, for each rate in
# BENCH_LIVE_RATES:
#   veth only       tcpreplay into twb-tx0 with no capture process at all: the rx counters
#                   of twb-rx0 show what the veth itself delivers at that rate
#   tunwatch N=1    BUILD/tunwatch -i twb-rx0 (one thread, its own AF_PACKET ring)
#   tunwatch N=2    BUILD/tunwatch -i twb-rx0 --workers 2 (AF_PACKET fanout, one socket each)
# tunwatch runs in twb-rx with the bundled rules, --stats-interval 1 and a stats file; once
# tcpreplay (in twb-tx) is done, the script waits until the stats stop growing, sends SIGTERM
# and reads the final summary ("capture IFACE: F frames, kernel received R, dropped D,
# interface dropped I", summed over the sources) and worker_ring_drops from the last stats
# line.
#
# The table: packets sent and tcpreplay's own rate (pps, Mbit/s); packets the receiving veth
# counted (rx_packets) and what the veth dropped (tx_dropped of twb-tx0 + rx_dropped of
# twb-rx0: a full backlog queue shows there); frames tunwatch delivered; kernel (socket) drops;
# interface drops; worker ring drops; loss = 1 - delivered/sent (for "veth only": 1 -
# rx_packets/sent); tunwatch's CPU seconds over the replay and the drain.
#
# Reading it: a veth delivers in the sender's context (veth_xmit -> netif_rx, then the backlog
# is processed when tcpreplay's send returns), so the receive path, capture sockets included,
# runs on tcpreplay's CPU and slows it down: at --topspeed the veth pushes back rather than
# dropping, and "veth only" gives the rate at which the veth itself stops going faster. Socket
# drops (k drop) appear when tunwatch reads its ring slower than that rate. With 2 CPUs
# tcpreplay plus the kernel's receive path take one CPU and tunwatch the other, and rates vary
# by tens of percent between runs: the load average is printed.
#
# Exits 0 unless a command failed: this is a benchmark, not a test.
#
# Environment:
#   BENCH_LIVE_PACKETS (1000000)  packets sent per case
#   BENCH_LIVE_RATES (topspeed)   space-separated: "topspeed" and/or packet rates for
#                                 tcpreplay --pps, e.g. "50000 100000 topspeed"
#   BENCH_LIVE_WORKERS ("1 2")    the --workers values to run
#   BENCH_LIVE_BUFFER_MIB         passed as --buffer-size to tunwatch when set
#   BENCH_LIVE_IMMEDIATE (0)      1: pass --immediate to tunwatch
#   BENCH_LIVE_KEEP (0)           1: keep the scratch directory (stderr, stats, tcpreplay logs)
#   TUNWATCH                      the binary (default BUILD/tunwatch)
#   BENCH_PACKETS, BENCH_SEED     to find the capture cached by `make bench` (tests/bench/run.sh)
set -u

BUILD=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=$BUILD/bench
twgen=$bdir/twgen
tunwatch=${TUNWATCH:-$BUILD/tunwatch}
npkts=${BENCH_LIVE_PACKETS:-1000000}
rates=${BENCH_LIVE_RATES:-topspeed}
workers_list=${BENCH_LIVE_WORKERS:-1 2}
bench_packets=${BENCH_PACKETS:-2000000}
seed=${BENCH_SEED:-0x7475}
rules=$root/rules
TX=twb-tx
RX=twb-rx
TXIF=twb-tx0
RXIF=twb-rx0

die() {
    echo "live: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth, raw sockets)"
for t in ip ethtool tcpreplay; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (Debian: apt-get install -y iproute2 ethtool tcpreplay)"
done
[ -x "$tunwatch" ] || die "$tunwatch not found (run 'make')"
case $npkts in '' | *[!0-9]*) die "BENCH_LIVE_PACKETS must be a number" ;; esac
[ "$npkts" -gt 0 ] || die "BENCH_LIVE_PACKETS must be > 0"
for r in $rates; do
    case $r in topspeed) ;; '' | *[!0-9]*) die "BENCH_LIVE_RATES: '$r' is neither topspeed nor a rate" ;; esac
done
for w in $workers_list; do
    case $w in '' | *[!0-9]* | 0) die "BENCH_LIVE_WORKERS: '$w' is not a worker count" ;; esac
done

# One run at a time: the namespace names are fixed.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/tunwatch-bench-live.lock"
    flock -w 300 9 || die "another live.sh still holds the lock"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunwatch-bench-live.XXXXXX") || die "mktemp failed"
TWPID=""

ns_exists() { ip netns list 2>/dev/null | grep -q "^$1\( \|$\)"; }
ns_kill() { # kill every process left in namespace $1 (only this script starts any there)
    ns_exists "$1" || return 0
    for p in $(ip netns pids "$1" 2>/dev/null); do kill "$p" 2>/dev/null; done
}
cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    trap '' PIPE
    [ -n "$TWPID" ] && kill "$TWPID" 2>/dev/null
    ns_kill "$TX"
    ns_kill "$RX"
    i=0
    while [ $i -lt 30 ] && { [ -n "$(ip netns pids "$TX" 2>/dev/null)" ] || [ -n "$(ip netns pids "$RX" 2>/dev/null)" ]; }; do
        sleep 0.1
        i=$((i + 1))
    done
    for ns in "$TX" "$RX"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    [ -n "$TWPID" ] && wait "$TWPID" 2>/dev/null
    for ns in "$TX" "$RX"; do ns_exists "$ns" && ip netns del "$ns" 2>/dev/null; done
    if [ "${BENCH_LIVE_KEEP:-0}" = 1 ]; then echo "live: kept $tmp" 2>/dev/null; else rm -rf "$tmp"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- the capture ----------------------------------------------------------------------------
# Reuse the capture `make bench` cached (same key as tests/bench/run.sh) when it holds at least
# N packets: tcpreplay --limit sends its first N. Otherwise generate N packets here.
src_sum=$(cd "$root/tests/bench" && cksum twgen*.[ch] | LC_ALL=C sort | cksum | awk '{ print $1 }')
key=$(printf '%s %s %s\n' "$src_sum" "$bench_packets" "$seed" | cksum | awk '{ print $1 }')
pcap=$bdir/capture-$key.pcap
if [ -s "$pcap" ] && [ "$bench_packets" -ge "$npkts" ]; then
    echo "live: capture $pcap (cached by make bench; first $npkts of $bench_packets packets)"
else
    if [ ! -x "$twgen" ]; then
        make -C "$root" "$BUILD/bench/twgen" >"$tmp/make.log" 2>&1 ||
            { tail -n 20 "$tmp/make.log" >&2; die "make $BUILD/bench/twgen failed"; }
    fi
    pcap=$tmp/capture.pcap
    echo "live: generating $npkts packets into $pcap"
    "$twgen" -n "$npkts" -s "$seed" -o "$pcap" || die "twgen failed"
fi
echo "live: warming the page cache"
cat "$pcap" >/dev/null || die "cannot read $pcap"

# --- the wire -------------------------------------------------------------------------------
for ns in "$TX" "$RX"; do
    if ns_exists "$ns"; then
        echo "live: removing namespace $ns left by an earlier run"
        ns_kill "$ns"
        sleep 0.5
        ip netns del "$ns" || die "cannot remove namespace $ns"
    fi
done
ip netns add "$TX" || die "ip netns add $TX failed"
ip netns add "$RX" || die "ip netns add $RX failed"
ip link add "$TXIF" netns "$TX" type veth peer name "$RXIF" netns "$RX" || die "cannot create the veth pair"
for pair in "$TX $TXIF" "$RX $RXIF"; do
    set -- $pair
    # IPv6 off first, so the link never sends router/neighbour solicitations.
    ip netns exec "$1" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$2/disable_ipv6" 2>/dev/null
    ip -n "$1" link set "$2" mtu 1500 || die "mtu on $2 failed"
    ip netns exec "$1" ethtool -K "$2" gro off gso off tso off >"$tmp/ethtool.log" 2>&1 ||
        { cat "$tmp/ethtool.log" >&2; die "ethtool -K $2 failed"; }
    ip -n "$1" link set "$2" up || die "link up $2 failed"
    ip -n "$1" link set lo up || die "lo up in $1 failed"
done
i=0
while [ $i -lt 50 ] && ! ip -n "$RX" link show "$RXIF" | grep -q 'state UP'; do
    sleep 0.1
    i=$((i + 1))
done
ip -n "$RX" link show "$RXIF" | grep -q 'state UP' || die "$RXIF did not come up"

# counter NS IFACE NAME: one /sys statistics counter, read inside the namespace
counter() {
    ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0
}
# snap FILE: the veth counters that matter, one line
snap() {
    echo "$(counter "$RX" "$RXIF" rx_packets) $(counter "$RX" "$RXIF" rx_dropped)" \
        "$(counter "$TX" "$TXIF" tx_packets) $(counter "$TX" "$TXIF" tx_dropped)" >"$1"
}

alive() { # a running process, not a zombie
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# last_stats FILE: "packets frames_sum ring_drops" of the last whole stats line (or "0 0 0")
last_stats() {
    line=$(grep '^{.*}$' "$1" 2>/dev/null | tail -n 1)
    [ -n "$line" ] || { echo "0 0 0"; return; }
    pk=$(printf '%s\n' "$line" | sed 's/"capture":.*//' | sed -n 's/.*"packets":\([0-9]*\).*/\1/p')
    fr=$(printf '%s\n' "$line" | grep -o '"frames":[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }')
    rd=$(printf '%s\n' "$line" | sed -n 's/.*"worker_ring_drops":\([0-9]*\).*/\1/p')
    echo "${pk:-0} ${fr:-0} ${rd:-0}"
}

failed=0
results=$tmp/results
: >"$results"

# cpu_ticks PID: user+system clock ticks of a process, all its threads
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

# replay NAME RATE: tcpreplay in twb-tx; sets SENT, PPS, MBPS, SECS (from tcpreplay's own report)
replay() {
    if [ "$2" = topspeed ]; then speed=--topspeed; else speed=--pps=$2; fi
    ip netns exec "$TX" tcpreplay "$speed" --limit="$npkts" -i "$TXIF" "$pcap" \
        >"$tmp/$1.tcpreplay" 2>&1
    trc=$?
    SENT=$(sed -n 's/^[[:space:]]*Successful packets:[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/$1.tcpreplay" | tail -n 1)
    [ -n "$SENT" ] || SENT=$(sed -n 's/^[[:space:]]*Actual: \([0-9]*\) packets.*/\1/p' "$tmp/$1.tcpreplay" | tail -n 1)
    PPS=$(sed -n 's/^[[:space:]]*Rated:.* \([0-9.]*\) pps.*/\1/p' "$tmp/$1.tcpreplay" | tail -n 1)
    SECS=$(sed -n 's/^[[:space:]]*Actual:.* sent in \([0-9.]*\) seconds.*/\1/p' "$tmp/$1.tcpreplay" | tail -n 1)
    MBPS=$(sed -n 's/^[[:space:]]*Rated:.* \([0-9.]*\) Mbps.*/\1/p' "$tmp/$1.tcpreplay" | tail -n 1)
    FAILEDPK=$(sed -n 's/^[[:space:]]*Failed packets:[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/$1.tcpreplay" | tail -n 1)
    if [ $trc -ne 0 ] || [ -z "$SENT" ]; then
        echo "live: $1: tcpreplay failed (exit $trc):" >&2
        tail -n 20 "$tmp/$1.tcpreplay" >&2
        failed=1
        return 1
    fi
    [ "${FAILEDPK:-0}" = 0 ] || echo "live: $1: tcpreplay reports $FAILEDPK failed packets"
    return 0
}

# record NAME RATE SENT PPS MBPS SECS SNAP0 SNAP1 FRAMES KRECV KDROP IFDROP RINGDROP CPUSECS
record() {
    r_head="$1 $2 $3 $4 $5 $6"
    r_c0=$7 r_c1=$8
    shift 8
    r_tail="$*"
    set -- $(cat "$r_c0") $(cat "$r_c1")
    echo "$r_head $(($5 - $1)) $(($6 - $2 + $8 - $4)) $r_tail" >>"$results"
}

# veth_only RATE
veth_only() {
    name=veth-$1
    echo "live: [$1] veth only: tcpreplay, no capture process"
    snap "$tmp/$name.c0"
    if replay "$name" "$1"; then
        sleep 1 # let the receive path drain
        snap "$tmp/$name.c1"
        record "veth_only" "$1" "$SENT" "$PPS" "$MBPS" "$SECS" "$tmp/$name.c0" "$tmp/$name.c1" - - - - - -
    fi
}

# with_tunwatch WORKERS RATE
with_tunwatch() {
    w=$1
    rate=$2
    name=tw$w-$rate
    echo "live: [$rate] tunwatch --workers $w"
    stats=$tmp/$name.stats
    pidf=$tmp/$name.pid
    rm -f "$stats" "$pidf"
    set -- -i "$RXIF" --workers "$w" -R "$rules" -o "$tmp/$name.alerts" -q \
        --stats-interval 1 --stats-file "$stats" --pid-file "$pidf"
    [ -n "${BENCH_LIVE_BUFFER_MIB:-}" ] && set -- "$@" --buffer-size "$BENCH_LIVE_BUFFER_MIB"
    [ "${BENCH_LIVE_IMMEDIATE:-0}" = 1 ] && set -- "$@" --immediate
    ip netns exec "$RX" "$tunwatch" "$@" 2>"$tmp/$name.err" 9>&- &
    TWPID=$!
    # Running = pid file written and a first stats line out (the capture is open by then).
    i=0
    while [ $i -lt 150 ] && alive "$TWPID" && ! { [ -s "$pidf" ] && grep -q '^{' "$stats" 2>/dev/null; }; do
        sleep 0.1
        i=$((i + 1))
    done
    if ! alive "$TWPID" || ! grep -q '^{' "$stats" 2>/dev/null; then
        echo "live: $name: tunwatch did not start (no stats line within 15 s):" >&2
        tail -n 20 "$tmp/$name.err" >&2
        kill "$TWPID" 2>/dev/null
        wait "$TWPID" 2>/dev/null
        TWPID=""
        failed=1
        return 1
    fi
    snap "$tmp/$name.c0"
    t0=$(cpu_ticks "$TWPID")
    replay "$name" "$rate"
    rrc=$?
    # Wait until the stats stop growing: two stats intervals with the same counts (at most 120 s).
    prev=$(last_stats "$stats")
    same=0
    i=0
    while [ $i -lt 120 ] && [ $same -lt 2 ] && alive "$TWPID"; do
        sleep 1.05
        cur=$(last_stats "$stats")
        if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$cur
        i=$((i + 1))
    done
    snap "$tmp/$name.c1"
    t1=$(cpu_ticks "$TWPID")
    cpus=$(awk -v a="${t0:-0}" -v b="${t1:-0}" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
    kill -TERM "$TWPID" 2>/dev/null
    wait "$TWPID"
    twrc=$?
    TWPID=""
    if [ $twrc -ne 0 ]; then
        echo "live: $name: tunwatch exited with status $twrc:" >&2
        tail -n 20 "$tmp/$name.err" >&2
        failed=1
        return 1
    fi
    [ $rrc -eq 0 ] || return 1
    # Summary lines "  capture IFACE: F frames, kernel received R, dropped D, interface dropped I",
    # one per source (with --workers >1 one per worker socket): summed.
    set -- $(awk '/^  capture .*: [0-9]+ frames, kernel received/ {
                    for (i = 1; i <= NF; i++) {
                        if ($(i + 1) == "frames,") f += $i
                        if ($i == "received") r += $(i + 1)
                        if ($i == "dropped" && $(i - 1) != "interface") d += $(i + 1)
                        if ($i == "dropped" && $(i - 1) == "interface") x += $(i + 1)
                    }
                    n++
                  }
                  END { if (n) printf "%d %d %d %d\n", f, r, d, x }' "$tmp/$name.err")
    if [ $# -ne 4 ]; then
        echo "live: $name: no capture line in tunwatch's summary:" >&2
        tail -n 20 "$tmp/$name.err" >&2
        failed=1
        return 1
    fi
    ring=$(last_stats "$stats" | awk '{ print $3 }')
    record "tunwatch_N=$w" "$rate" "$SENT" "$PPS" "$MBPS" "$SECS" "$tmp/$name.c0" "$tmp/$name.c1" \
        "$1" "$2" "$3" "$4" "$ring" "$cpus"
}

load_before=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")
echo "live: $npkts packets per case, rates: $rates; $(nproc) CPUs, $(uname -r), load average $load_before"
for rate in $rates; do
    veth_only "$rate"
    for w in $workers_list; do
        with_tunwatch "$w" "$rate"
    done
done
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")

# --- report ---------------------------------------------------------------------------------
echo
echo "capture:  $pcap (first $npkts packets), bundled rules"
echo "wire:     veth $TXIF ($TX) -> $RXIF ($RX), mtu 1500, gro/gso/tso off"
echo "load:     load average $load_before before, $load_after after, on $(nproc) CPUs"
echo
awk '
    function pct(a, b) { return b > 0 ? sprintf("%.2f%%", 100 * (b - a) / b) : "-" }
    BEGIN {
        printf "%-12s %-8s %8s %7s %7s %7s %8s %6s %9s %8s %7s %7s %7s %7s %7s\n", "case", "rate",
               "sent", "pps", "Mbit/s", "secs", "if rx", "v.drop", "delivered", "k recv",
               "k drop", "ifdrop", "ring dr", "tw cpu", "loss"
    }
    {
        name = $1; rate = $2; sent = $3; pps = $4; mbps = $5; secs = $6; ifrx = $7; vdrop = $8
        fr = $9; kr = $10; kd = $11; ifd = $12; rd = $13; cpu = $14
        loss = name == "veth_only" ? pct(ifrx, sent) : pct(fr, sent)
        if (name == "veth_only") fr = "-"
        printf "%-12s %-8s %8s %7.0f %7.1f %7.2f %8s %6s %9s %8s %7s %7s %7s %7s %7s\n", name, rate,
               sent, pps, mbps, secs, ifrx, vdrop, fr, kr, kd, ifd, rd, cpu, loss
    }' "$results"
echo
echo "sent, pps, Mbit/s, secs: tcpreplay's own report; if rx: rx_packets of $RXIF; v.drop: tx_dropped"
echo "of $TXIF + rx_dropped of $RXIF; delivered, k recv, k drop, ifdrop: tunwatch's capture summary"
echo "(kernel socket counters); ring dr: worker_ring_drops; tw cpu: tunwatch's user+system seconds"
echo "from the start of the replay to the end of the drain; loss: 1 - delivered/sent (veth only:"
echo "1 - if rx/sent)."

[ $failed -eq 0 ] || { echo "live: some runs failed (see above)" >&2; exit 1; }
exit 0
