#!/bin/sh
# The tunwatch throughput benchmark (`make bench`).
#
#   sh tests/bench/run.sh BUILD
#
# Generates (once, cached in BUILD/bench/ under a key made of twgen's sources' checksums and the
# parameters) a mixed-traffic capture and 100,000 Sigma rules, warms the page cache, then
# times, round-robin in the same run (the tunwatch cases in reverse order every other round):
#   floor       BUILD/bench/floor FILE                 (bare libpcap read loop: pcap_fopen_offline
#               on a stream with a 1 MiB buffer, the fastest honest way libpcap reads a file)
#   bundled     BUILD/tunwatch -q -r FILE -R rules -o /dev/null
#   workersN    the same with --workers N for each N of BENCH_WORKERS (the scaling over one
#               worker is printed for each; the target is on 2 workers)
#   rules100k   BUILD/tunwatch -q -r FILE -R BUILD/bench/rules100k.yml -o /dev/null
#   load100k    BUILD/tunwatch -q -r TINY -R BUILD/bench/rules100k.yml -o /dev/null
#               (a 10-packet capture: the cost of loading and compiling 100k rules)
#   loadcached  the same with --rule-cache: the cost of loading them from the rule cache
# Every other case that reads rules runs with --rule-cache DIR (BENCH_RULE_CACHE=0: without),
# DIR a fresh directory of this run whose sets are compiled and written by one untimed run of
# each rule set before the timed rounds: the state of a sensor restarted with the same rules,
# or of a hunt over many captures (the cold compile is the load100k case).
#   loadintel   BUILD/tunwatch -q -r TINY -R rules --intel BUILD/bench/intelN.txt -o /dev/null
#   loadexcl    BUILD/tunwatch -q -r TINY -R rules --exclude BUILD/bench/exclN.txt -o /dev/null
#               (a threat-intel list of BENCH_INTEL names, an allow-list of as many domain=
#               lines: what a large feed costs to load, at start and at every reload)
#   rules50k    BUILD/tunwatch -q -r FILE -R BUILD/bench/rules50k.yml -o ALERTS
#               (50,000 Sigma rules with a mix of hostname selections from
#               tests/bench/sigma_rules.py: endswith, equals, lists, filters, `1 of selection*`,
#               and BENCH_R50K_OTHER percent of rules whose only hostname indicators are
#               contains/startswith/wildcard values, which the Aho-Corasick automaton indexes)
# and prints the best of BENCH_RUNS runs of each: seconds, packets/s, Gbit/s (wire bytes),
# ratio to the floor in wall and in CPU (user+sys) time, and peak RSS, with PASS/FAIL of the
# wall-time ratio against the targets (bundled <= 3.0x floor, stretch 1.5x; rules100k <= 3.3x
# floor, rule loading included), the speed-up of 2 workers over one (target >= 1.4x on 2 CPUs;
# the best of each compared, with the median and range of the rounds' own ratios next to it),
# and the slowdown of rules50k against bundled (time(rules50k) / time(bundled), target <= 1.3x).
# Other processes on the machine inflate wall times, so the 1-minute load average is shown
# and the CPU ratio is the one to trust on a busy machine. One untimed run per tunwatch case
# counts the alerts, so a benchmark that silently matched nothing shows (rules50k counts the
# alerts of its timed runs: a run is long enough without an extra one).
#
# Exits 0 unless a command failed: missed targets are reported, not fatal.
#
# Environment:
#   BENCH_PACKETS (2000000)  BENCH_SEED (0x7475)  BENCH_RUNS (7)  BENCH_RULES (100000)
#   BENCH_R50K (50000)       rules of the rules50k case; 0 leaves the case out
#   BENCH_INTEL (1000000)    names of the loadintel and loadexcl cases; 0 leaves them out
#   BENCH_R50K_OTHER (30)    percent of them with only contains/startswith/wildcard indicators
#       (a SigmaHQ-like share; the prefilter indexes them, so they cost only for candidate names).
#   BENCH_WORKERS ("2 3")     worker counts timed besides one
#   BENCH_RECALL (1)         0 leaves out the recall line (tests/recall_check.py against tshark)
#   BENCH_FORMAT (pcap)      pcapng: twgen writes the capture as pcapng (one interface,
#       Enhanced Packet Blocks), the same packets
#   BENCH_CAPTURE            a capture of your own (pcap or pcapng) timed instead of twgen's;
#       BENCH_PACKETS, BENCH_SEED and BENCH_FORMAT then do not apply. A path that is not a
#       readable file is an error. tshark's view of it is cached in BUILD/bench, keyed on its
#       path, size and modification time.
#   BENCH_RULE_CACHE (1)     0: the cases compile their rules every run (no --rule-cache)
#   TUNWATCH      the binary to time (default BUILD/tunwatch)
set -u

BUILD=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=$BUILD/bench
twgen=$bdir/twgen
floor=$bdir/floor
tunwatch=${TUNWATCH:-$BUILD/tunwatch}
packets=${BENCH_PACKETS:-2000000}
seed=${BENCH_SEED:-0x7475}
format=${BENCH_FORMAT:-pcap}
runs=${BENCH_RUNS:-7}
n_rules=${BENCH_RULES:-100000}
bundled=$root/rules
target_bundled=3.0
target_100k=3.3
target_workers=1.4
worker_counts=${BENCH_WORKERS:-2 3}
n_r50k=${BENCH_R50K:-50000}
r50k_other=${BENCH_R50K_OTHER:-30}
target_50k=1.3
n_intel=${BENCH_INTEL:-1000000}
rule_cache=${BENCH_RULE_CACHE:-1}

die() {
    echo "bench: $*" >&2
    exit 1
}

for b in "$twgen" "$floor" "$tunwatch"; do
    [ -x "$b" ] || die "$b not found (run 'make bench', which builds it)"
done
mkdir -p "$bdir" || die "cannot create $bdir"
tmp=$(mktemp -d) || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT INT TERM

# --- inputs, cached on the checksums of twgen's sources and the parameters -----------------
src_sum=$(cd "$root/tests/bench" && cksum twgen*.[ch] | LC_ALL=C sort | cksum | awk '{ print $1 }')
case $format in
pcap) fmt_flag="" ;;
pcapng) fmt_flag=--pcapng ;;
*) die "BENCH_FORMAT=$format: pcap or pcapng" ;;
esac
key=$(printf '%s %s %s %s\n' "$src_sum" "$packets" "$seed" "$format" | cksum | awk '{ print $1 }')
pcap=$bdir/capture-$key.$format
tshark_cache=$bdir/capture-$key.tshark.tsv
if [ -n "${BENCH_CAPTURE:-}" ]; then
    [ -f "$BENCH_CAPTURE" ] && [ -r "$BENCH_CAPTURE" ] ||
        die "BENCH_CAPTURE=$BENCH_CAPTURE: not a readable file"
    pcap=$BENCH_CAPTURE
    ukey=$(printf '%s %s\n' "$(readlink -f "$pcap")" "$(stat -c '%s %Y' "$pcap")" | cksum |
        awk '{ print $1 }')
    tshark_cache=$bdir/user-$ukey.tshark.tsv
    packets="" # the floor counts them
    echo "bench: capture $pcap (BENCH_CAPTURE)"
elif [ -s "$pcap" ]; then
    echo "bench: capture $pcap (cached)"
else
    rm -f "$bdir"/capture-*.pcap "$bdir"/capture-*.pcapng "$bdir"/capture-*.tshark.tsv
    echo "bench: generating $packets packets into $pcap"
    "$twgen" -n "$packets" -s "$seed" $fmt_flag -o "$pcap.tmp" || die "twgen failed"
    mv "$pcap.tmp" "$pcap" || die "mv failed"
fi

rules100k=$bdir/rules100k.yml
rkey=$(printf '%s %s\n' "$src_sum" "$n_rules" | cksum | awk '{ print $1 }')
if [ -s "$rules100k" ] && [ "$(cat "$bdir/rules100k.key" 2>/dev/null)" = "$rkey" ]; then
    echo "bench: rules $rules100k (cached)"
else
    echo "bench: generating $n_rules rules into $rules100k"
    "$twgen" --rules "$n_rules" -o "$rules100k.tmp" || die "twgen --rules failed"
    mv "$rules100k.tmp" "$rules100k" || die "mv failed"
    echo "$rkey" >"$bdir/rules100k.key"
fi

rules50k=$bdir/rules50k.yml
if [ "$n_r50k" -gt 0 ]; then
    command -v python3 >/dev/null 2>&1 || die "python3 not found (needed by tests/bench/sigma_rules.py)"
    gsum=$(cksum <"$root/tests/bench/sigma_rules.py" | awk '{ print $1 }')
    r5key=$(printf '%s %s %s\n' "$gsum" "$n_r50k" "$r50k_other" | cksum | awk '{ print $1 }')
    if [ -s "$rules50k" ] && [ "$(cat "$bdir/rules50k.key" 2>/dev/null)" = "$r5key" ]; then
        echo "bench: rules $rules50k (cached)"
    else
        echo "bench: generating $n_r50k Sigma rules ($r50k_other% contains/startswith/wildcard only) into $rules50k"
        python3 "$root/tests/bench/sigma_rules.py" -n "$n_r50k" --non-trie "$r50k_other" \
            -o "$rules50k.tmp" || die "sigma_rules.py failed"
        mv "$rules50k.tmp" "$rules50k" || die "mv failed"
        echo "$r5key" >"$bdir/rules50k.key"
    fi
fi

# A threat-intel list and an allow-list of n_intel made-up names each (deterministic).
intel=$bdir/intel$n_intel.txt
excl=$bdir/excl$n_intel.txt
if [ "$n_intel" -gt 0 ]; then
    if [ -s "$intel" ] && [ -s "$excl" ]; then
        echo "bench: $intel and $excl (cached)"
    else
        echo "bench: generating $n_intel threat-intel names and allow-list lines"
        awk -v n="$n_intel" 'BEGIN {
            x = 12345
            for (i = 0; i < n; i++) {
                x = (x * 1103515245 + 12345) % 2147483648
                printf "%08x%d.example%d.net\n", x, i, i % 97 >ARGV[1]
                printf "domain=%08x%d.good%d.com\n", x, i, i % 50 >ARGV[2]
            }
        }' "$intel.tmp" "$excl.tmp" || die "cannot write $intel"
        mv "$intel.tmp" "$intel" && mv "$excl.tmp" "$excl" || die "mv failed"
    fi
fi

tiny=$tmp/tiny.pcap
"$twgen" -n 10 -o "$tiny" 2>/dev/null || die "twgen -n 10 failed"

# The rule cache of this run, its sets compiled and written once, untimed.
rcache=""
if [ "$rule_cache" != 0 ]; then
    rcache="--rule-cache $tmp/rulecache"
    for set in "$bundled" "$rules100k" $([ "$n_r50k" -gt 0 ] && echo "$rules50k"); do
        "$tunwatch" -q -r "$tiny" -R "$set" $rcache -o /dev/null 2>/dev/null ||
            die "compiling $set into the rule cache failed"
    done
    echo "bench: rule cache $tmp/rulecache: $(ls "$tmp/rulecache" | wc -l) sets written (untimed)"
fi

echo "bench: warming the page cache"
cat "$pcap" >/dev/null || die "cannot read $pcap"

# --- timing ---------------------------------------------------------------------------------
time_bin=""
if [ -x /usr/bin/time ] && /usr/bin/time -f '%M' -o "$tmp/probe" true 2>/dev/null; then
    time_bin=/usr/bin/time
else
    echo "bench: /usr/bin/time (Debian package 'time') not found: peak RSS not measured"
fi

# Seconds (fractional) of a "XmY.ZZZs" field printed by the `times` builtin.
times_secs() {
    echo "$1" | awk '{ m = $0; sub(/m.*/, "", m); s = $0; sub(/^[0-9]+m/, "", s); sub(/s$/, "", s);
                       printf "%.3f", m * 60 + s }'
}

children_cpu() { # user+sys of all children so far, via the `times` builtin (fallback path)
    times >"$tmp/times"
    set -- $(sed -n 2p "$tmp/times")
    awk -v u="$(times_secs "$1")" -v s="$(times_secs "$2")" 'BEGIN { printf "%.3f", u + s }'
}

failed=0
# timed NAME RUN CMD...: runs CMD once; appends "NAME RUN wall cpu rss_kb" to $tmp/results.
timed() {
    name=$1
    run=$2
    shift 2
    if [ -n "$time_bin" ]; then
        t0=$(date +%s.%N)
        "$time_bin" -f '%U %S %M' -o "$tmp/time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
        rc=$?
        t1=$(date +%s.%N)
        set -- $(tail -n 1 "$tmp/time")
        cpu=$(awk -v u="$1" -v s="$2" 'BEGIN { printf "%.2f", u + s }')
        rss=$3
    else
        c0=$(children_cpu)
        t0=$(date +%s.%N)
        "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
        rc=$?
        t1=$(date +%s.%N)
        c1=$(children_cpu)
        cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
        rss=0
    fi
    if [ "$rc" -ne 0 ]; then
        echo "bench: $name run $run failed (exit $rc):" >&2
        head -n 20 "$tmp/$name.err" >&2
        failed=1
        return 1
    fi
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    echo "$name $run $wall $cpu $rss" >>"$tmp/results"
    printf '  %-10s run %s: %7.3f s wall, %6.2f s user+sys\n' "$name" "$run" "$wall" "$cpu"
}

: >"$tmp/results"
load_before=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo "?")
echo "bench: $runs runs of each case, round-robin ($(nproc) CPUs, $(uname -m), load average $load_before)"
# One tunwatch case of round r.
tw_case() { # tw_case NAME ROUND
    case $1 in
    bundled) timed bundled "$2" "$tunwatch" -q -r "$pcap" -R "$bundled" $rcache -o /dev/null ;;
    workers*)
        timed "$1" "$2" "$tunwatch" -q -r "$pcap" -R "$bundled" $rcache --workers "${1#workers}" \
            -o /dev/null ;;
    rules100k) timed rules100k "$2" "$tunwatch" -q -r "$pcap" -R "$rules100k" $rcache -o /dev/null ;;
    load100k) timed load100k "$2" "$tunwatch" -q -r "$tiny" -R "$rules100k" -o /dev/null ;;
    loadcached)
        timed loadcached "$2" "$tunwatch" -q -r "$tiny" -R "$rules100k" $rcache -o /dev/null ;;
    loadintel)
        timed loadintel "$2" "$tunwatch" -q -r "$tiny" -R "$bundled" --intel "$intel" -o /dev/null ;;
    loadexcl)
        timed loadexcl "$2" "$tunwatch" -q -r "$tiny" -R "$bundled" --exclude "$excl" -o /dev/null ;;
    rules50k)
        timed rules50k "$2" "$tunwatch" -q -r "$pcap" -R "$rules50k" $rcache \
            -o "$tmp/rules50k.ndjson" ;;
    esac
}
cases="bundled"
for n in $worker_counts; do
    cases="$cases workers$n"
done
cases="$cases rules100k load100k"
[ -n "$rcache" ] && cases="$cases loadcached"
[ "$n_r50k" -gt 0 ] && cases="$cases rules50k"
[ "$n_intel" -gt 0 ] && cases="$cases loadintel loadexcl"
reversed=$(echo "$cases" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "") }')
r=1
while [ "$r" -le "$runs" ]; do
    timed floor "$r" "$floor" "$pcap"
    # Even rounds run the tunwatch cases in reverse order: on a virtual machine, memory the
    # previous run freed a moment ago is faster to touch again than memory freed seconds ago,
    # so each case follows a different one in turn (bundled and workers2 stay back to back).
    order=$cases
    [ $((r % 2)) -eq 0 ] && order=$reversed
    for c in $order; do
        tw_case "$c" "$r"
    done
    r=$((r + 1))
done

# Packet and byte counts come from the floor's own output.
set -- $(cat "$tmp/floor.out" 2>/dev/null)
n_pkts=${2:-0}
n_bytes=${6:-0}
if [ -n "$packets" ] && [ "$n_pkts" != "$packets" ]; then
    echo "bench: floor counted '$n_pkts' packets, expected $packets" >&2
    failed=1
fi

# Untimed runs that keep the alerts, to show matching happened.
alerts() { # alerts NAME RULES
    if "$tunwatch" -q -r "$pcap" -R "$2" $rcache -o "$tmp/$1.ndjson" >/dev/null 2>"$tmp/$1.alerts.err"; then
        wc -l <"$tmp/$1.ndjson" | tr -d ' '
    else
        head -n 20 "$tmp/$1.alerts.err" >&2
        echo "failed"
    fi
}
a_bundled=$(alerts bundled "$bundled")
a_100k=$(alerts rules100k "$rules100k")
[ "$a_bundled" = failed ] && failed=1
[ "$a_100k" = failed ] && failed=1
a_50k="-"
if [ "$n_r50k" -gt 0 ]; then
    if [ -f "$tmp/rules50k.ndjson" ]; then
        a_50k=$(wc -l <"$tmp/rules50k.ndjson" | tr -d ' ')
    else
        a_50k=failed
    fi
fi

# Recall: every DNS and SNI name tshark decodes in the capture, reported by tunwatch with its
# source address and port (tests/recall_check.py). tshark's view is kept next to the capture
# (the first run reads the capture with tshark once, ~1.5 min for 2M packets).
recall_line="not measured (BENCH_RECALL=0)"
if [ "${BENCH_RECALL:-1}" != 0 ]; then
    if ! command -v tshark >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
        recall_line="not measured (tshark or python3 not found)"
    else
        echo "bench: recall against tshark (tshark's view cached in $tshark_cache)"
        python3 "$root/tests/recall_check.py" "$tunwatch" "$pcap" --show 10 \
            --tshark-cache "$tshark_cache" >"$tmp/recall.out" 2>"$tmp/recall.err"
        rrc=$?
        cat "$tmp/recall.out"
        recall_line=$(sed -n 's/^recall: [^ ]*: all  *\([^ ]*\) = \([^ ]*\) .*/\2 (\1 names)/p' \
            "$tmp/recall.out")
        if [ "$rrc" -ge 2 ] || [ -z "$recall_line" ]; then
            head -n 20 "$tmp/recall.err" >&2
            recall_line="failed"
            failed=1
        fi
    fi
fi

# --- report ---------------------------------------------------------------------------------
size=$(wc -c <"$pcap" | tr -d ' ')
echo
echo "capture: $pcap"
echo "         $n_pkts packets, $n_bytes bytes on the wire (avg $((n_pkts > 0 ? n_bytes / n_pkts : 0)) B), file $size bytes"
echo "rules:   bundled = $bundled; rules100k = $rules100k ($n_rules rules)"
if [ -n "$rcache" ]; then
    echo "         read from the rule cache of this run (--rule-cache, compiled once untimed; load100k compiles)"
else
    echo "         compiled every run (BENCH_RULE_CACHE=0)"
fi
[ "$n_r50k" -gt 0 ] &&
    echo "         rules50k = $rules50k ($n_r50k rules, $r50k_other% with only contains/startswith/wildcard hostname indicators)"
echo "alerts:  bundled $a_bundled, rules100k $a_100k (untimed runs), rules50k $a_50k (timed runs)"
echo "recall:  $recall_line of the DNS and SNI names tshark decodes, with source address and port"
load_after=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo "?")
echo "load:    1-minute load average $load_before before, $load_after after, on $(nproc) CPUs"
if awk -v a="$load_before" -v b="$load_after" 'BEGIN { exit !(a + 0 >= 1.0 || b + 0 >= 1.5) }'; then
    echo "         (other processes were running: wall times are inflated, trust 'cpu x floor')"
fi
echo
awk -v pk="$n_pkts" -v by="$n_bytes" -v tb="$target_bundled" -v tk="$target_100k" \
    -v tw="$target_workers" -v wcounts="$worker_counts" \
    -v t5="$target_50k" -v with50k="$([ "$n_r50k" -gt 0 ] && echo 1 || echo 0)" \
    -v nintel="$n_intel" -v cached="$([ -n "$rcache" ] && echo 1 || echo 0)" \
    -v rss_ok="$([ -n "$time_bin" ] && echo 1 || echo 0)" '
    {
        name = $1; wall = $3 + 0
        at[name, $2] = wall
        if ($2 + 0 > nruns) nruns = $2 + 0
        if (!(name in best) || wall < best[name]) { best[name] = wall; cpu[name] = $4 }
        if ($5 + 0 > rss[name]) rss[name] = $5 + 0
        seen[name] = 1
    }
    END {
        printf "%-10s %9s %13s %8s %8s %9s %9s %9s\n", "case", "seconds", "packets/s", "Gbit/s",
               "x floor", "user+sys", "cpu x fl", "RSS MiB"
        nw = split(wcounts, wc, " ")
        cases = "floor bundled"
        for (i = 1; i <= nw; i++) cases = cases " workers" wc[i]
        cases = cases " rules100k load100k"
        if (cached) cases = cases " loadcached"
        if (with50k) cases = cases " rules50k"
        if (nintel > 0) cases = cases " loadintel loadexcl"
        n = split(cases, order, " ")
        fl = best["floor"]
        for (i = 1; i <= n; i++) {
            c = order[i]
            if (!(c in seen)) { printf "%-10s %9s\n", c, "failed"; continue }
            s = best[c]
            ratio = (fl > 0) ? sprintf("%.2f", s / fl) : "n/a"
            cratio = (cpu["floor"] > 0) ? sprintf("%.2f", cpu[c] / cpu["floor"]) : "n/a"
            mem = rss_ok ? sprintf("%.1f", rss[c] / 1024) : "n/a"
            if (c == "load100k" || c == "loadcached" || c == "loadintel" || c == "loadexcl")
                printf "%-10s %9.3f %13s %8s %8s %9.2f %9s %9s  (%s)\n", c, s, "-", "-", ratio,
                       cpu[c], cratio, mem,
                       c == "load100k" ? "rule loading only, compiled" : \
                       c == "loadcached" ? "rule loading only, from the rule cache" : \
                       c == "loadintel" ? "loading " nintel " intel names" : \
                       "loading " nintel " allow-list lines"
            else
                printf "%-10s %9.3f %13.0f %8.2f %8s %9.2f %9s %9s\n", c, s, pk / s,
                       by * 8 / s / 1e9, ratio, cpu[c], cratio, mem
        }
        print ""
        verdict("bundled", tb); verdict("rules100k", tk)
        for (i = 1; i <= nw; i++) {
            c = "workers" wc[i]
            if (!(c in seen) || !("bundled" in seen) || best[c] <= 0) continue
            r = best["bundled"] / best[c]
            if (wc[i] == 2)
                printf "%-10s target >= %.1fx one worker: %.2fx  %s", c, tw, r,
                       (r >= tw) ? "PASS" : "FAIL"
            else
                printf "%-10s %.2fx one worker", c, r
            printf "   (%s)\n", rounds(c)
        }
        if (with50k) {
            if (!("rules50k" in seen) || !("bundled" in seen)) {
                printf "%-10s target <= %.1fx bundled: n/a\n", "rules50k", t5
            } else {
                r = best["rules50k"] / best["bundled"]
                cr = (cpu["bundled"] > 0) ? sprintf("%.2fx", cpu["rules50k"] / cpu["bundled"]) : "n/a"
                printf "%-10s target <= %.1fx bundled: %.2fx  %s   (cpu time: %s)\n", "rules50k", t5,
                       r, (r <= t5) ? "PASS" : "FAIL", cr
            }
        }
    }
    # The speed-up round by round (the two cases of one round run back to back): the median
    # and the range, so that the spread of the machine shows next to the best-of verdict.
    function rounds(c,    k, m, j, x, v) {
        m = 0
        for (k = 1; k <= nruns; k++)
            if (("bundled", k) in at && (c, k) in at && at[c, k] > 0) {
                x = at["bundled", k] / at[c, k]
                for (j = m; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
                v[j + 1] = x
                m++
            }
        if (m == 0) return "no paired rounds"
        return sprintf("round by round: median %.2fx, %.2f-%.2fx over %d", \
                       (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2, v[1], v[m], m)
    }
    function verdict(c, t) {
        if (!(c in seen) || !("floor" in seen)) { printf "%-10s target <= %.1fx floor: n/a\n", c, t; return }
        r = best[c] / best["floor"]
        cr = (cpu["floor"] > 0) ? sprintf("%.2fx", cpu[c] / cpu["floor"]) : "n/a"
        printf "%-10s target <= %.1fx floor: %.2fx  %s   (cpu time: %s)\n", c, t, r,
               (r <= t) ? "PASS" : "FAIL", cr
    }' "$tmp/results"

if [ "$failed" -ne 0 ]; then
    echo "bench: a command failed (see above)" >&2
    exit 1
fi
exit 0
