#!/bin/sh
# Operations: -T/--test-config lists every problem; missing rule, indicator and exclusion paths
# stop a start; -q groups skipped rules by reason; stats lines carry only what is not zero; a
# full disk never leaves a cut line and the counters say what was and was not written; the
# answer cache counts the same with workers; as root: files opened before -u belong to that
# user and a SIGHUP reopen works (log rotation), and the service manager's notifications
# (READY, RELOADING, STOPPING, STATUS, WATCHDOG) reach a listener on $NOTIFY_SOCKET. The root
# parts use a network namespace of their own and dig; skipped without root (failed in CI).
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
TOP=$(pwd)
SUITE=ops
. tests/lib.sh
tmp=$(mktemp -d)
NS=twops$$
cleanup() {
    [ -n "${TWPID:-}" ] && kill "$TWPID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"
pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -f "$tmp/err" ] && sed 's/^/     /' "$tmp/err" | head -8; }
expect() {
    label=$1 want=$2 pattern=$3
    shift 4
    "$TW" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then bad "$label: exit $got, want $want"; return; fi
    if ! grep -q -- "$pattern" "$tmp/err" "$tmp/out"; then bad "$label: no '$pattern'"; return; fi
    ok "$label"
}

[ -x "$TW" ] || fail_early "$TW not built"
help=$("$TW" --help 2>&1)
for o in "-T, --test-config" "-q, --quiet" "--stats-file" "-u, --user"; do
    case "$help" in *"$o"*) ;; *) fail_early "$TW --help lacks $o" ;; esac
done

# ---- missing paths stop a start, each named
expect "missing -R stops the start" 1 "/nonexistent/rules: No such file or directory (rules (-R))" -- -q -r pcaps/tunnels.pcapng -R /nonexistent/rules
expect "missing --intel stops the start" 1 "$tmp/no.intel: No such file or directory (indicators (--intel))" -- -q -r pcaps/tunnels.pcapng --intel "$tmp/no.intel"
expect "missing --exclude stops the start" 1 "$tmp/no.excl: No such file or directory (exclusions (--exclude))" -- -q -r pcaps/tunnels.pcapng --exclude "$tmp/no.excl"
[ -s "$tmp/out" ] && bad "a start with a missing path wrote output"

# ---- -T: every problem listed
cat >"$tmp/good.conf" <<CONF
read = pcaps/tunnels.pcapng
rules = rules
output = $tmp/alerts.json
CONF
expect "-T on a good configuration: exit 0" 0 "configuration OK" -- -T -c "$tmp/good.conf"
[ -e "$tmp/alerts.json" ] && bad "-T wrote the output file"
"$TW" -T -r pcaps/tunnels.pcapng -R /nonexistent/rules --intel "$tmp/no.intel" \
    --exclude "$tmp/no.excl" -i twops-noif0 -o /nonexistent/dir/alerts.json -u twops-nosuchuser \
    -r "$tmp/none-*.pcap" >"$tmp/out" 2>"$tmp/err"
st=$?
n=0
for p in "/nonexistent/rules: No such file" "no.intel: No such file" "no.excl: No such file" \
    "twops-noif0: no such interface" "/nonexistent/dir/alerts.json: /nonexistent/dir: No such file" \
    "twops-nosuchuser: no such user" "none-\*.pcap: no file matches" "-r and -i exclude each other"; do
    grep -q -- "$p" "$tmp/err" && n=$((n + 1)) || echo "     missing: $p"
done
if [ $st -eq 1 ] && [ $n -eq 8 ] && grep -q "configuration test failed: [0-9]* problems" "$tmp/err"; then
    ok "-T lists every problem (8 kinds), exit 1"
else
    bad "-T: exit $st, $n of 8 problems listed"
fi
printf 'rules = rules\nread = pcaps/tunnels.pcapng\nbogus-key = 1\n' >"$tmp/bad.conf"
expect "-T on an unknown key" 1 "bad.conf:3: unknown key 'bogus-key'" -- -T -c "$tmp/bad.conf"

# ---- -q: one line per skip reason
mkdir -p "$tmp/rules"
for i in 1 2 3; do
    cat >"$tmp/rules/img$i.yml" <<YAML
title: needs a process $i
id: 6f1d3c1e-0000-4000-8000-00000000010$i
logsource:
    category: network_connection
detection:
    selection:
        Image|endswith: '\\ngrok$i.exe'
    condition: selection
YAML
done
cat >"$tmp/rules/cmd.yml" <<'YAML'
title: needs a command line
id: 6f1d3c1e-0000-4000-8000-000000000201
logsource:
    category: network_connection
detection:
    selection:
        CommandLine|contains: 'ngrok'
    condition: selection
YAML
cp rules/tunnel_localtonet.yml "$tmp/rules/"
"$TW" -q -r pcaps/tunnels.pcapng -R "$tmp/rules" -o /dev/null 2>"$tmp/err"
q_lines=$(grep -c "rules\{0,1\} skipped: " "$tmp/err")
"$TW" -r pcaps/tunnels.pcapng -R "$tmp/rules" -o /dev/null 2>"$tmp/err2"
v_lines=$(grep -c ": rule .* skipped: " "$tmp/err2")
if grep -q "^tunwatch: 3 rules skipped: field 'Image' needs process attribution" "$tmp/err" &&
    grep -q "^tunwatch: 1 rule skipped: field 'CommandLine' not observable" "$tmp/err" &&
    [ "$q_lines" -eq 2 ] && [ "$v_lines" -eq 4 ]; then
    ok "-q: one line per skip reason with its count (2 lines; 4 without -q)"
else
    bad "-q skip lines: $q_lines with -q, $v_lines without"
fi

# ---- stats lines: only what is not zero
"$TW" -q -r 'pcaps/*.pcap*' --events -o /dev/null --stats-interval 1 --stats-file "$tmp/stats" 2>"$tmp/err"
if python3 - "$tmp/stats" >"$tmp/err" 2>&1 <<'PY'; then ok "stats lines: no zero counter, $(wc -c <"$tmp/stats") bytes"; else bad "stats lines carry zeros"; fi
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines, "no stats line"
def walk(o, path):
    if isinstance(o, dict):
        assert o, f"empty object at {path}"
        for k, v in o.items():
            walk(v, f"{path}.{k}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            walk(v, f"{path}[{i}]")
    elif isinstance(o, int) and not isinstance(o, bool):
        assert o != 0 or path == ".uptime_s", f"zero at {path}"
for l in lines:
    walk(l, "")
last = lines[-1]
assert last["type"] == "stats" and last["packets"] > 0 and last["alerts"] > 0
assert last["output"]["events_written"] > 0 and "alerts_not_written" not in last["output"]
PY

# ---- a full disk: whole lines or nothing, and counters that say so
# (the lines a run that can write gives: its alerts, and its events, DNS responses included)
"$TW" -q --events -r pcaps/tunnels.pcapng -o "$tmp/full.ref" 2>/dev/null
n_alerts=$(grep -c '^{"type":"alert"' "$tmp/full.ref")
n_events=$(grep -c '^{"type":"event"' "$tmp/full.ref")
expect "/dev/full: exit 2, every line counted as not written" 2 "0 alert lines and 0 event lines written, $n_alerts alert lines and $n_events event lines not written" -- -q --events -r pcaps/tunnels.pcapng -o /dev/full
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1; then
    mkdir -p "$tmp/small"
    # 16 KiB: a few dozen lines of the ~200 written over every capture
    unshare -m sh -c "mount -t tmpfs -o size=16k twops '$tmp/small' &&
        '$TW' -q --events -r 'pcaps/*.pcap*' -r pcaps/linktypes -o '$tmp/small/out.json' \
            --stats-interval 100 --stats-file '$tmp/small.stats';
        echo \$? >'$tmp/small.status'; cp '$tmp/small/out.json' '$tmp/small.json'" 2>"$tmp/err"
    st=$(cat "$tmp/small.status" 2>/dev/null)
    if python3 - "$tmp/small.json" "$tmp/err" "$tmp/small.stats" "$st" >"$tmp/check" 2>&1 <<'PY'; then
import json, re, sys
out, err, stats, st = sys.argv[1:]
data = open(out, "rb").read()
assert st == "2", f"exit {st}"
assert data and data.endswith(b"\n"), "the file ends inside a line"
lines = data.split(b"\n")[:-1]
kinds = {"alert": 0, "event": 0}
for l in lines:
    kinds[json.loads(l)["type"]] += 1
m = re.search(r"output: (\d+) alert lines and (\d+) event lines written, (\d+) alert lines and (\d+) event lines not written", open(err).read())
assert m, "no output counters in the summary"
aw, ew, an, en = map(int, m.groups())
assert (aw, ew) == (kinds["alert"], kinds["event"]), f"summary says {aw}+{ew} written, file holds {kinds}"
assert an + en > 0
s = json.loads(open(stats).read().splitlines()[-1])["output"]
assert s.get("events_written", 0) == ew and s.get("alerts_written", 0) == aw
assert s["alerts_not_written"] + s["events_not_written"] == an + en
print(f"{len(data)} bytes, {aw}+{ew} lines written, {an}+{en} not written")
PY
        ok "16 KiB tmpfs: the file ends on a whole line, counters match it ($(cat "$tmp/check"))"
    else
        cp "$tmp/check" "$tmp/err"
        bad "small tmpfs"
    fi
else
    skip_check "full tmpfs: needs root and unshare"
fi

# ---- the answer cache counts the same with workers
for f in pcaps/resolve_connect.pcap pcaps/dns_tcp.pcap pcaps/tunnels.pcapng; do
    a=$("$TW" -q -r $f -o /dev/null 2>&1 | grep -o '[0-9]* learnt')
    b=$("$TW" -q -r $f -o /dev/null --workers 2 2>&1 | grep -o '[0-9]* learnt')
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "0 learnt" ]; then
        ok "$f: answer cache $a with 1 and 2 workers"
    else
        bad "$f: answer cache '$a' with 1 worker, '$b' with 2"
    fi
done

# ---- root: -u and log rotation, service manager notifications (live, loopback of a netns)
if [ "$(id -u)" -ne 0 ]; then
    skip_check "-u and SIGHUP, notifications: need root"
    tally
fi
for t in dig ip; do
    command -v $t >/dev/null 2>&1 || { skip_check "-u and notifications: $t is not installed"; tally; }
done
if ! ip netns add "$NS" 2>"$tmp/err"; then
    skip_check "-u and notifications: ip netns does not work here"
    tally
fi
ip -n "$NS" link set lo up
nb=$(id -u nobody)
logs=$tmp/logs
mkdir -p "$logs"
chown nobody "$logs"
: >"$tmp/notify.log"
python3 tests/notify_listen.py "$tmp/notify.sock" "$tmp/notify.log" 120 &
LPID=$!
for i in 1 2 3 4 5 6 7 8 9 10; do [ -S "$tmp/notify.sock" ] && break; sleep 0.2; done
# dig's queries to a loopback address where nothing answers: captured, a tunnel name each
queries() {
    qp=""
    for i in 1 2 3; do
        ip netns exec "$NS" dig +tries=1 +time=1 @127.0.0.1 "q$1$i.a1b2c3.localto.net" >/dev/null 2>&1 &
        qp="$qp $!"
    done
    wait $qp
}
lines() { n=$(grep -c '"type":"alert"' "$1" 2>/dev/null); echo "${n:-0}"; }
wait_lines() { for i in $(seq 1 50); do [ "$(lines "$1")" -ge "$2" ] && return 0; sleep 0.2; done; return 1; }
# the rules load after the drop to nobody: a copy nobody can read (the tree may be under /root)
cp -r rules "$tmp/rules-nobody" && chmod -R a+rX "$tmp/rules-nobody"
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=400000 ip netns exec "$NS" "$TW" -q -i lo \
    -R "$tmp/rules-nobody" --local-processes off -u nobody -o "$logs/alerts.json" --stats-interval 1 \
    --stats-file "$logs/stats.json" --report "$logs/report.txt" 2>"$tmp/tw.err" &
TWPID=$!
for i in $(seq 1 50); do grep -q '^READY=1' "$tmp/notify.log" && break; sleep 0.2; done
queries a
wait_lines "$logs/alerts.json" 3 || bad "no alert before rotation"
owner() { stat -c %u "$1" 2>/dev/null; }
if [ "$(owner "$logs/alerts.json")" = "$nb" ] && [ "$(owner "$logs/stats.json")" = "$nb" ] &&
    [ "$(owner "$logs/report.txt")" = "$nb" ]; then
    ok "files opened before -u belong to nobody (output, stats, report)"
else
    bad "owners: output $(owner "$logs/alerts.json"), stats $(owner "$logs/stats.json"), report $(owner "$logs/report.txt"); nobody is $nb"
fi
# HUP without a rename (copytruncate-style rotation): the reopen must open the same file
: >"$logs/alerts.json"
kill -HUP $TWPID
sleep 1
queries b
wait_lines "$logs/alerts.json" 3 && ! grep -q "reopening" "$tmp/tw.err" &&
    ok "SIGHUP reopens the file in place as nobody" || { cp "$tmp/tw.err" "$tmp/err"; bad "reopen in place"; }
# rename, HUP: a new file with the new lines, owned by nobody
mv "$logs/alerts.json" "$logs/alerts.json.1"
kill -HUP $TWPID
sleep 1
queries c
if wait_lines "$logs/alerts.json" 3 && [ "$(owner "$logs/alerts.json")" = "$nb" ] &&
    ! grep -q '"name":"qc' "$logs/alerts.json.1"; then
    ok "rotation: the new file has $(lines "$logs/alerts.json") alerts and belongs to nobody"
else
    cp "$tmp/tw.err" "$tmp/err"
    bad "rotation: $(lines "$logs/alerts.json") alerts, owner $(owner "$logs/alerts.json")"
fi
kill -TERM $TWPID
wait $TWPID
st=$?
TWPID=""
sleep 0.3
kill $LPID 2>/dev/null
wait $LPID 2>/dev/null
# READY first; each HUP: RELOADING=1 then READY=1; STOPPING=1; watchdog pings; status lines
if [ $st -eq 0 ] && python3 - "$tmp/notify.log" >"$tmp/err" 2>&1 <<'PY'; then
import sys
msgs = [l.rstrip("\n") for l in open(sys.argv[1])]
kinds = [m for m in msgs if not m.startswith(("STATUS=", "WATCHDOG="))]
assert kinds[:1] == ["READY=1"], kinds
assert kinds[1:] == ["RELOADING=1", "READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], kinds
wd = sum(m == "WATCHDOG=1" for m in msgs)
assert wd >= 5, f"{wd} watchdog pings"
st = [m for m in msgs if m.startswith("STATUS=")]
assert st and all(" packets, " in m and " alerts, " in m for m in st), st
assert any(" 0 alerts" not in m for m in st), st
print(f"{len(msgs)} messages, {wd} watchdog pings, {len(st)} status lines")
PY
    ok "notifications: READY, RELOADING/READY per reload, STOPPING, STATUS, WATCHDOG ($(cat "$tmp/err"))"
else
    sed 's/^/     /' "$tmp/notify.log" | head -20
    bad "notifications (exit $st)"
fi
grep -q "a1b2c3.localto.net" "$logs/report.txt" && [ "$(owner "$logs/report.txt")" = "$nb" ] &&
    ok "the report written at the end as nobody" || bad "report after -u"
tally
