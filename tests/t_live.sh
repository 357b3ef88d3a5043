#!/bin/sh
# Live capture end to end: tunwatch captures on a veth inside a network namespace while real
# clients (dig, curl, openssl s_client) talk to real servers (dnsmasq, openssl s_server) in a
# second namespace. Checks the alerts, rule reload and output reopen on SIGHUP (log rotation),
# the final summary and exit status on SIGTERM, the same alerts with two workers, and what a
# reload re-reads (indicator and exclusion files) and keeps (the DNS answer cache; the rules in
# use when a rule file is broken, counted as a failure), and tcpdump -U writing to a FIFO
# that tunwatch -r reads as it arrives.
#
#   netns twl-cli  twl-c0 10.77.0.2/24 fd77::2/64  <-veth->  twl-s0 10.77.0.1/24 fd77::1/64  netns twl-srv
#                  tunwatch -i twl-c0                          dnsmasq (UDP+TCP 53), s_server :443
#
# Needs root, working `ip netns` and the clients and servers above; skips otherwise (exit 77,
# "live: skipped: REASON"; a failure in CI, see tests/lib.sh). An option missing from
# `tunwatch --help` is a failure. Namespaces, servers and tunwatch are removed on exit, even on
# failure (TW_LIVE_KEEP=1 keeps the temporary directory with every log and output). Every wait
# has a deadline. Last line: "live: N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
HERE=$(cd "$(dirname "$0")" && pwd)
C=twl-cli
S=twl-srv
SRV=10.77.0.1
SRV6=fd77::1

SUITE=live
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -x "$TW" ] || fail_early "$TW not built"
help=$("$TW" --help 2>&1)
for o in --interface --pid-file --immediate --workers; do
    case "$help" in *"$o"*) ;; *) fail_early "$TW --help lacks $o" ;; esac
done
for t in ip dig openssl curl dnsmasq python3 ss timeout tcpdump; do
    command -v $t >/dev/null 2>&1 || skip "missing $t"
done

# the interpreter itself, not a version-manager shim (it runs in every poll)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || skip "python3 does not run"
check() { "$PY" "$HERE/live/check.py" "$@"; }

# One run at a time: the namespace names are fixed.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/tunwatch-t_live.lock"
    flock -w 300 9 || fail_early "another t_live.sh still held the lock after 300 s"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunwatch-live.XXXXXX")
PIDS=""      # background processes we started (servers, tunwatch)
TWPID=""
pass=0
fail=0
skipped=0
failed=""

. "$HERE/live/lib.sh"
cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    trap '' PIPE   # a reader that went away must not cut the clean-up short
    ns_teardown
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && show_logs "$tmp"/tw*.err "$tmp"/dnsmasq.log "$tmp"/s_server.log "$tmp"/client.log
    if [ "${TW_LIVE_KEEP:-0}" = 1 ]; then echo "live: kept $tmp" 2>/dev/null; else rm -rf "$tmp"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE


# ------------------------------------------------------------------ topology and servers
for ns in "$C" "$S"; do   # left behind by an interrupted run
    if ns_exists "$ns"; then ns_kill "$ns"; sleep 0.3; ip netns del "$ns" 2>/dev/null; fi
done
if ! ip netns add "$C" 2>"$tmp/netns.err"; then
    skip "ip netns does not work here: $(head -1 "$tmp/netns.err")"
fi
ip netns add "$S" || fail_early "ip netns add $S failed after $C was added"
setup() {
    for ns in "$C" "$S"; do
        ip -n "$ns" link set lo up || return 1
        ip netns exec "$ns" sh -c 'for k in default all; do
            echo 0 > /proc/sys/net/ipv6/conf/$k/router_solicitations
            echo 0 > /proc/sys/net/ipv6/conf/$k/accept_ra; done' 2>/dev/null
    done
    ip link add twl-c0 netns "$C" type veth peer name twl-s0 netns "$S" || return 1
    ip -n "$C" addr add 10.77.0.2/24 dev twl-c0 || return 1
    ip -n "$C" addr add fd77::2/64 dev twl-c0 nodad || return 1
    ip -n "$S" addr add $SRV/24 dev twl-s0 || return 1
    ip -n "$S" addr add $SRV6/64 dev twl-s0 nodad || return 1
    # Segments as they are on the wire, not 64 KB super-segments split after the capture point.
    if command -v ethtool >/dev/null 2>&1; then
        inC ethtool -K twl-c0 tso off gso off gro off >/dev/null 2>&1
        inS ethtool -K twl-s0 tso off gso off gro off >/dev/null 2>&1
    fi
    ip -n "$C" link set twl-c0 up && ip -n "$S" link set twl-s0 up
}
setup || { bad "namespaces and veth pair set up"; tally; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=tunwatch-live-test -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/req.log"
# Background jobs run `ip netns exec` directly (it execs: $! is the server itself) and without
# fd 9, so that nothing left behind could hold the lock.
ip netns exec "$S" openssl s_server -quiet -www -accept 443 -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    >"$tmp/s_server.log" 2>&1 9>&- &
PIDS="$PIDS $!"
ip netns exec "$S" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root --group=root --pid-file= \
    --address=/#/$SRV --address=/#/$SRV6 --log-queries --log-facility=- >"$tmp/dnsmasq.log" 2>&1 9>&- &
PIDS="$PIDS $!"
listening() { inS ss -Hln"$1" "sport = :$2" | grep -q .; }
if wait_until 100 listening u 53 && wait_until 100 listening t 53 && wait_until 100 listening t 443 &&
    wait_until 50 inC dig +tries=1 +time=1 @$SRV ready.twl.test A; then
    ok "servers up in $S (dnsmasq UDP+TCP 53, s_server 443)"
else
    bad "servers up in $S (dnsmasq UDP+TCP 53, s_server 443)"
    tally
fi

# ------------------------------------------------------------------ traffic
q() { inC dig +tries=1 +time=3 "$@" >>"$tmp/client.log" 2>&1; }
tls() { # addr sni
    inC timeout 10 openssl s_client -connect "$1" -servername "$2" </dev/null >>"$tmp/client.log" 2>&1
}
web() { inC curl -sk -o /dev/null --max-time 10 "$@" >>"$tmp/client.log" 2>&1; }
# expected alerts: RULE_ID EVIDENCE PROTOCOL NAME (see tests/live/check.py)
DNS_LTN=230651d4-10cd-44dd-b4ed-fea1d174daee NET_LTN=1537b3d4-7ac5-441e-87a4-3ecafdf95e38
DNS_NGROK=4caf0690-bb9c-46aa-bec2-2684e5a3aa09 NET_NGROK=e2835303-1b68-4006-acbf-67b6a6243f54
DNS_TCF=1cd370e1-797f-4885-87b9-d64c9f9d377b NET_TCF=18eac429-f5c9-4c2f-a325-c10368e52427

traffic1() {
    q @$SRV a1.localto.net A
    q +tcp @$SRV x.ngrok-free.app A
    web --resolve a2.localto.net:443:$SRV https://a2.localto.net/
    tls $SRV:443 b.ngrok-free.app
    q @$SRV6 v6.localto.net AAAA
    tls "[$SRV6]:443" v6.ngrok-free.app
    # benign, and a tunnel whose rule file is not loaded yet: observed, never alerted
    q @$SRV www.debian.org A
    web --resolve www.debian.org:443:$SRV https://www.debian.org/
    q @$SRV q.trycloudflare.com A
    tls $SRV:443 q.trycloudflare.com
}
: >"$tmp/expect0"
cat >"$tmp/expect1" <<EOF
$DNS_LTN dns_query udp a1.localto.net
$DNS_NGROK dns_query tcp x.ngrok-free.app
$NET_LTN tls_sni tcp a2.localto.net
$NET_NGROK tls_sni tcp b.ngrok-free.app
$DNS_LTN dns_query udp v6.localto.net
$NET_NGROK tls_sni tcp v6.ngrok-free.app
EOF
traffic3() {
    q @$SRV q.trycloudflare.com A
    tls $SRV:443 q.trycloudflare.com
}
cat "$tmp/expect1" - >"$tmp/expect3" <<EOF
$NET_TCF tls_sni tcp late.trycloudflare.com
$DNS_TCF dns_query udp q.trycloudflare.com
$NET_TCF tls_sni tcp q.trycloudflare.com
EOF
traffic4() {
    q @$SRV r1.localto.net A
    tls $SRV:443 r2.ngrok-free.app
    q +tcp @$SRV r3.trycloudflare.com A
    web --resolve r4.trycloudflare.com:443:$SRV https://r4.trycloudflare.com/
}
cat >"$tmp/expect4only" <<EOF
$DNS_LTN dns_query udp r1.localto.net
$NET_NGROK tls_sni tcp r2.ngrok-free.app
$DNS_TCF dns_query tcp r3.trycloudflare.com
$NET_TCF tls_sni tcp r4.trycloudflare.com
EOF
cat "$tmp/expect3" "$tmp/expect4only" >"$tmp/expect4"

# sync NAME OUT...: a benign query as a marker, sent until its event line shows up in OUT (the
# capture is live and the output flushed). Polls the expected alerts too when EXPECT is set.
SYNC_N=0
sync_marker() { # expect-file out...
    ex=$1; shift
    SYNC_N=$((SYNC_N + 1))
    tries=0
    while [ $tries -lt 5 ]; do
        tries=$((tries + 1))
        m=sync$SYNC_N-$tries.twl.test
        q @$SRV "$m" A
        if wait_until 40 grep -q "\"name\":\"$m\"" "$@"; then
            wait_until 50 check --poll "$ex" "$@"
            return 0
        fi
    done
    return 1
}

# ------------------------------------------------------------------ tunwatch
RULES=$tmp/rules
mkdir -p "$RULES"
cp rules/tunnel_ngrok.yml rules/tunnel_localtonet.yml "$RULES/"
OUT=$tmp/alerts.json
STATS=$tmp/stats.json
# start_tw NAME ARGS...: tunwatch inside twl-cli on twl-c0; sets TWPID; stderr in $tmp/NAME.err
start_tw() {
    name=$1; shift
    rm -f "$tmp/$name.pid"
    ip netns exec "$C" "$TW" -i twl-c0 --immediate --events --pid-file "$tmp/$name.pid" -q "$@" \
        2>"$tmp/$name.err" 9>&- &
    TWPID=$!
    PIDS="$PIDS $TWPID"
    if ! wait_until 100 test -s "$tmp/$name.pid"; then
        bad "$name: pid file $tmp/$name.pid written within 10 s"; return 1
    fi
    sleep 0.3
    if [ "$(cat "$tmp/$name.pid")" != "$TWPID" ]; then
        bad "$name: pid file holds $(cat "$tmp/$name.pid"), tunwatch is $TWPID"
    fi
    if ! alive "$TWPID"; then
        bad "$name: tunwatch exited right after start"; return 1
    fi
    return 0
}
# stop_tw LABEL: SIGTERM, wait (deadline 15 s), exit status in TWRC
stop_tw() {
    kill -TERM "$TWPID" 2>/dev/null
    if wait_until 150 gone "$TWPID"; then
        wait "$TWPID"; TWRC=$?
    else
        bad "$1: tunwatch did not exit within 15 s of SIGTERM"
        kill -KILL "$TWPID" 2>/dev/null; wait "$TWPID"; TWRC=137
    fi
}
# check_source FILE LABEL: every line names the interface it was captured on, and one run id.
check_source() {
    if python3 -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
runs = {o["sensor"]["run_id"] for o in lines}
wrong = [o for o in lines if o.get("interface") != "twl-c0" or "pcap_filename" in o]
sys.exit(1 if wrong or not lines or len(runs) != 1 else 0)' "$1"; then
        ok "${2}every line names the interface twl-c0 and one run id"
    else
        bad "${2}lines without the interface twl-c0, or with several run ids"
    fi
}
count_reloads() { grep -c "rules reloaded" "$1" 2>/dev/null || true; }

run_main() {
    start_tw tw -R "$RULES" -o "$OUT" --stats-interval 1 --stats-file "$STATS" || return 1

    # 1. first traffic: the ngrok and LocaltoNet alerts, nothing for the others
    if sync_marker "$tmp/expect0" "$OUT"; then
        ok "capturing: a marker query shows up in $OUT"
    else
        bad "capturing: a marker query shows up in $OUT within 20 s"; return 1
    fi
    traffic1
    sync_marker "$tmp/expect1" "$OUT"
    sleep 1.2   # one more flush period: an unexpected extra alert would show up now
    if check --seen www.debian.org --seen q.trycloudflare.com "$tmp/expect1" "$OUT"; then
        ok "alerts for DNS (UDP, TCP, IPv6) and TLS SNI (curl, openssl), none for benign or unloaded rules"
    else
        bad "alerts after the first traffic"
    fi
    check_source "$OUT" ""

    # 3. rule reload; a TCP connection opened before it sends its ClientHello after it (the
    # flow table survives the reload: the flow is not picked up mid-stream)
    ip netns exec "$C" "$PY" "$HERE/live/late_hello.py" $SRV 443 late.trycloudflare.com \
        "$tmp/late.ready" "$tmp/late.go" >"$tmp/late.log" 2>&1 9>&- &
    LATE=$!
    PIDS="$PIDS $LATE"
    wait_until 100 test -e "$tmp/late.ready" || bad "late_hello.py connected within 10 s"
    cp rules/tunnel_trycloudflare.yml "$RULES/"
    kill -HUP "$TWPID"
    if wait_until 100 grep -q "rules reloaded" "$tmp/tw.err"; then
        ok "SIGHUP: stderr reports the reload"
        line=$(grep "rules reloaded" "$tmp/tw.err" | head -1)
        case "$line" in
            *[!0-9]6[!0-9]*|*[!0-9]6) ok "reload line has the new rule count (6): $line" ;;
            *) bad "reload line has the new rule count (6): $line" ;;
        esac
    else
        bad "SIGHUP: a 'rules reloaded' line on stderr within 10 s"
    fi
    alive "$TWPID" || { bad "tunwatch still running after SIGHUP"; return 1; }
    touch "$tmp/late.go"
    if wait_until 150 gone "$LATE" && wait "$LATE"; then :; else
        bad "late_hello.py: TLS handshake on the connection opened before the reload"
        sed 's/^/     /' "$tmp/late.log"
    fi
    traffic3
    sync_marker "$tmp/expect3" "$OUT"
    sleep 1.2
    if check "$tmp/expect3" "$OUT"; then
        ok "after reload: trycloudflare names alert (DNS, SNI, and a flow opened before the reload), earlier alerts not repeated"
    else
        bad "alerts after the rule reload"
    fi

    # 4. log rotation
    mv "$OUT" "$OUT.1"
    mv "$STATS" "$STATS.1"
    kill -HUP "$TWPID"
    if wait_until 100 sh -c "[ \$(grep -c 'rules reloaded' '$tmp/tw.err') -ge 2 ]"; then
        ok "second SIGHUP acknowledged"
    else
        bad "second SIGHUP: a second 'rules reloaded' line within 10 s"
    fi
    traffic4
    sync_marker "$tmp/expect4" "$OUT.1" "$OUT"
    sleep 1.2
    if [ -f "$OUT" ]; then ok "SIGHUP after mv: alerts file recreated"; else bad "SIGHUP after mv: alerts file recreated"; fi
    if wait_until 30 test -s "$STATS"; then
        ok "SIGHUP after mv: stats file recreated and written"
    else
        bad "SIGHUP after mv: stats file recreated and written within 3 s"
    fi
    if check "$tmp/expect4" "$OUT.1" "$OUT"; then
        ok "rotation: old + new alerts file hold every alert exactly once, whole JSON lines"
    else
        bad "rotation: alerts across the old + new alerts file"
    fi
    if check --poll "$tmp/expect4only" "$OUT"; then
        ok "rotation: traffic after the acknowledged SIGHUP went to the new file"
    else
        bad "rotation: traffic after the acknowledged SIGHUP went to the new file"
    fi

    # 5. SIGTERM
    stop_tw "SIGTERM"
    if [ "$TWRC" -eq 0 ]; then ok "SIGTERM: exit status 0"; else bad "SIGTERM: exit status $TWRC, want 0"; fi
    sumline=$(grep -E '^tunwatch: [0-9]+ packets,' "$tmp/tw.err" | tail -1)
    npk=$(echo "$sumline" | sed -n 's/^tunwatch: \([0-9][0-9]*\) packets,.*/\1/p')
    if [ -n "$npk" ] && [ "$npk" -gt 0 ]; then
        ok "SIGTERM: final summary ($sumline)"
    else
        bad "SIGTERM: final summary 'tunwatch: N packets,' with N > 0 on stderr (got '${sumline}')"
    fi
    if grep -q "rules: 6 loaded" "$tmp/tw.err"; then
        ok "summary counts the reloaded rules (rules: 6 loaded)"
    else
        bad "summary counts the reloaded rules: $(grep 'rules:' "$tmp/tw.err" | tail -1)"
    fi
    if grep -q "flows: .* 0 mid-stream" "$tmp/tw.err"; then
        ok "summary: no flow picked up mid-stream (the flow table survived the reloads)"
    else
        bad "summary: no flow picked up mid-stream: $(grep 'flows:' "$tmp/tw.err" | tail -1)"
    fi
    if check "$tmp/expect4" "$OUT.1" "$OUT"; then
        ok "after exit: alerts complete, every line whole"
    else
        bad "after exit: alerts"
    fi
    if check --lines "$STATS.1" "$STATS"; then
        ok "stats lines (before and after rotation): whole JSON lines"
    else
        bad "stats lines (before and after rotation)"
    fi
    # the reader the summary names, in the stats lines too
    reader=$(sed -n 's/^  capture [^ ]*: .* (\(.*\))$/\1/p' "$tmp/tw.err" | head -1)
    if [ -n "$reader" ] && grep -qF "\"reader\":\"$reader\"" "$STATS"; then
        ok "stats lines name the capture's reader as the summary does ($reader)"
    else
        bad "stats lines name the capture's reader: summary '$reader', $(grep -o '"capture":\[[^]]*' "$STATS" | tail -1)"
    fi
    return 0
}
run_main

# 6. two workers, same traffic, same alerts
mkdir -p "$tmp/rules1"
cp rules/tunnel_ngrok.yml rules/tunnel_localtonet.yml "$tmp/rules1/"
OUT2=$tmp/alerts-workers.json
if start_tw tw2 --workers 2 -R "$tmp/rules1" -o "$OUT2"; then
    if sync_marker "$tmp/expect0" "$OUT2"; then
        traffic1
        sync_marker "$tmp/expect1" "$OUT2"
        sleep 1.2
        if check --seen www.debian.org --seen q.trycloudflare.com "$tmp/expect1" "$OUT2"; then
            ok "--workers 2: the same alert set"
        else
            bad "--workers 2: the same alert set"
        fi
        check_source "$OUT2" "--workers 2: "
        # rotation and reload with two workers writing to one output
        cat "$tmp/expect1" "$tmp/expect4only" >"$tmp/expect6"
        cp rules/tunnel_trycloudflare.yml "$tmp/rules1/"
        mv "$OUT2" "$OUT2.1"
        kill -HUP "$TWPID"
        if wait_until 100 grep -q "rules reloaded" "$tmp/tw2.err"; then
            traffic4
            sync_marker "$tmp/expect6" "$OUT2.1" "$OUT2"
            sleep 1.2
            if check "$tmp/expect6" "$OUT2.1" "$OUT2" && check --poll "$tmp/expect4only" "$OUT2"; then
                ok "--workers 2: SIGHUP reload and rotation, every alert once, whole lines"
            else
                bad "--workers 2: SIGHUP reload and rotation"
            fi
        else
            bad "--workers 2: SIGHUP: a 'rules reloaded' line within 10 s"
        fi
    else
        bad "--workers 2: capturing (marker query in $OUT2 within 20 s)"
    fi
    stop_tw "--workers 2 SIGTERM"
    if [ "$TWRC" -eq 0 ]; then ok "--workers 2: SIGTERM exit status 0"; else bad "--workers 2: exit status $TWRC"; fi
fi

# 7. what a reload re-reads and what it keeps: indicator and exclusion files are re-read with
# the rules; the DNS answer cache survives (a name resolved before the reload names a raw TCP
# connection made after it); a reload that cannot parse a rule file keeps everything in use,
# says why and is counted.
reload_state() {
    mkdir -p "$tmp/rules7"
    cp rules/tunnel_localtonet.yml "$tmp/rules7/"
    : >"$tmp/intel7.txt"
    : >"$tmp/exclude7.txt"
    OUT7=$tmp/alerts-reload.json
    STATS7=$tmp/stats-reload.json
    start_tw tw7 -R "$tmp/rules7" --intel "$tmp/intel7.txt" --exclude "$tmp/exclude7.txt" \
        -o "$OUT7" --stats-interval 1 --stats-file "$STATS7" || return 1
    sync_marker "$tmp/expect0" "$OUT7" || { bad "reload: capturing (marker in $OUT7)"; return 1; }
    echo "evil7.example" >"$tmp/intel7.txt"
    echo "domain=quiet7.localto.net" >"$tmp/exclude7.txt"
    q @$SRV cache7.localto.net A      # the last name this client resolves to $SRV before the raw flow
    kill -HUP "$TWPID"
    if ! wait_until 100 grep -q "rules reloaded" "$tmp/tw7.err"; then
        bad "reload: a 'rules reloaded' line within 10 s"; return 1
    fi
    # a raw TCP connection (no TLS, no name on the wire) to the address cache7 resolved to
    inC "$PY" -c 'import socket,sys
s = socket.create_connection((sys.argv[1], 443), timeout=5)
s.sendall(b"hello tunnel\n")
s.close()' $SRV >>"$tmp/client.log" 2>&1
    q @$SRV evil7.example A
    q @$SRV quiet7.localto.net A
    printf 'title: broken\nid: 7f1d3c1e-0000-4000-8000-000000000007\ndetection:\n  sel: [a\n' \
        >"$tmp/rules7/broken.yml"
    kill -HUP "$TWPID"
    if wait_until 100 grep -q "rules reload failed" "$tmp/tw7.err"; then
        ok "reload: a broken rule file is refused, stderr says why"
    else
        bad "reload: 'rules reload failed' on stderr within 10 s"
    fi
    q @$SRV after7.localto.net A      # still alerts: the rules in use were kept
    sync_marker "$tmp/expect0" "$OUT7"
    sleep 1.5                          # one more stats line after the failed reload
    if grep '"evidence":"dns_answer"' "$OUT7" | grep -q '"type":"alert".*"name":"cache7.localto.net".*"DestinationPort":443'; then
        ok "reload: the DNS answer cache survived (raw TCP after the reload named cache7.localto.net)"
    else
        bad "reload: the DNS answer cache survived (raw TCP named from an answer seen before the reload)"
    fi
    if grep -q '"id":"intel-[0-9a-f]*".*"name":"evil7.example"' "$OUT7"; then
        ok "reload: the indicator file was re-read (evil7.example alerts)"
    else
        bad "reload: the indicator file was re-read (evil7.example alerts)"
    fi
    if ! grep -q '"type":"alert".*"name":"quiet7.localto.net"' "$OUT7" &&
        grep -q '"type":"alert".*"name":"after7.localto.net"' "$OUT7"; then
        ok "reload: the exclusion file was re-read; the kept rules still alert after a failed reload"
    else
        bad "reload: exclusion re-read / rules kept after a failed reload"
    fi
    if tail -1 "$STATS7" | grep -q '"rule_reloads":1,"rule_reload_failures":1'; then
        ok "reload: stats count one reload and one failure"
    else
        bad "reload: stats count one reload and one failure: $(tail -1 "$STATS7" | grep -o '"rule_reload[^,]*,[^,]*')"
    fi
    stop_tw "reload SIGTERM"
    if grep -q "alerts: .*(excluded 1," "$tmp/tw7.err" && grep -q "1 reloads, 1 failed" "$tmp/tw7.err"; then
        ok "reload: summary counts the excluded alert, the reload and the failure"
    else
        bad "reload: summary: $(grep -E 'alerts:|reloads' "$tmp/tw7.err" | tr '\n' ' ')"
    fi
}
reload_state

# tcpdump -U writing to a FIFO that tunwatch -r reads (the capture of another program, read as
# it arrives): an alert shows up while tcpdump still runs, the stream quiet between packets,
# and SIGTERM stops tunwatch at once, status 0, tcpdump still running.
from_tcpdump() {
    command -v tcpdump >/dev/null 2>&1 || { bad "tcpdump to a FIFO: tcpdump not found"; return; }
    fifo=$tmp/cap.fifo
    out=$tmp/fifo.json
    mkfifo "$fifo" || { bad "tcpdump to a FIFO: mkfifo failed"; return; }
    "$TW" -q -r "$fifo" -R "$RULES" --events --stats-interval 1 -o "$out" 2>"$tmp/tw-fifo.err" &
    tp=$!
    PIDS="$PIDS $tp"
    inC tcpdump -U -Z root -i twl-c0 -w "$fifo" 2>"$tmp/tcpdump.err" &
    dp=$!
    PIDS="$PIDS $dp"
    if ! wait_until 100 grep -q "listening on twl-c0" "$tmp/tcpdump.err"; then
        bad "tcpdump to a FIFO: tcpdump did not start: $(head -2 "$tmp/tcpdump.err")"
        return
    fi
    q @$SRV f1.localto.net A
    if wait_until 50 grep -q '"type":"alert".*"name":"f1.localto.net"' "$out"; then
        ok "tcpdump -U to a FIFO, tunwatch -r FIFO: the alert is written while tcpdump runs"
    else
        bad "tcpdump -U to a FIFO: no alert for f1.localto.net within 5 s ($(wc -l <"$out") lines)"
    fi
    kill -TERM "$tp" 2>/dev/null
    if wait_until 30 gone "$tp"; then
        wait "$tp"
        st=$?
        if [ $st -eq 0 ] && alive "$dp" && grep -q "^tunwatch: [1-9][0-9]* packets" "$tmp/tw-fifo.err"; then
            ok "tcpdump -U to a FIFO: SIGTERM stops tunwatch at once with its summary, status 0"
        else
            bad "tcpdump -U to a FIFO: status $st after SIGTERM (tcpdump alive: $(alive "$dp" && echo yes || echo no))"
        fi
    else
        bad "tcpdump -U to a FIFO: tunwatch still running 3 s after SIGTERM"
        kill -KILL "$tp" 2>/dev/null
        wait "$tp" 2>/dev/null
    fi
    kill "$dp" 2>/dev/null
    wait "$dp" 2>/dev/null
}
from_tcpdump

[ -n "$failed" ] && echo "failed: $(echo "$failed" | cut -c2- | sed 's/|/; /g')"
tally
