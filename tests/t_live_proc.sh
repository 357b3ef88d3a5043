#!/bin/sh
# Process attribution, live: tunwatch captures on a veth inside a network namespace and names
# the local process behind each event (sock_diag and /proc/PID/fd work per network namespace,
# so tunwatch runs in the clients' namespace; `ip netns exec` keeps the pid namespace).
#
#   netns twp-cli  twp-c0 10.78.0.2/24 fd78::2/64  <-veth->  twp-s0 10.78.0.1/24 fd78::1/64  netns twp-srv
#                  tunwatch -i twp-c0                          dnsmasq (UDP+TCP 53), s_server :443
#                  s_server :8443 (as nobody)                  s_client -> twp-cli:8443
#
# Real clients (dig over UDP and TCP, curl, openssl s_client), half as root and half as nobody,
# over IPv4 and IPv6, each run with a name of its own and its pid known exactly (a shell writes
# its pid, then execs the client). For every line of a run that says "attributed", pid, uid,
# user, image and comm must be exactly the client's; every kind must be attributed at least
# once; connections to the local s_server are attributed on the destination side; a flow
# between two foreign addresses has no "process" key; the summary's "processes:" line matches
# the event lines; a rule on Image fires for exactly the attributed openssl runs. The rate per
# kind and the reasons of the unattributed runs are printed ("live-proc: rate KIND A/N ...").
# Three runs of tunwatch: attribution by default (auto, live capture), --local-processes on,
# and --local-processes off (no "process" key at all); each reads twp-c0 through the immediate
# TPACKET_V2 ring. A fourth, on an interface with only an fe80:: address (a mirror port),
# must keep the buffered TPACKET_V3 ring.
#
# Needs root, working `ip netns`, the clients and servers above and a user nobody; skips
# otherwise (exit 77, "live-proc: skipped: REASON"; a failure in CI, see tests/lib.sh). An
# option missing from `tunwatch --help` is a failure. Namespaces, servers, clients and tunwatch
# are removed on exit, even on failure (TW_LIVE_KEEP=1 keeps the temporary directory). Every
# wait has a deadline. TW_PROC_RUNS=N sets the runs per client kind in the first case
# (default 20). Last line: "live-proc: N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
HERE=$(cd "$(dirname "$0")" && pwd)
C=twp-cli
S=twp-srv
SRV=10.78.0.1
SRV6=fd78::1
CLI=10.78.0.2
FOREIGN=10.78.0.99   # on the link, not an address of either namespace
RUNS=${TW_PROC_RUNS:-20}
SUITE=live-proc
. "$HERE/lib.sh"
case "$RUNS" in ''|*[!0-9]*|0) fail_early "TW_PROC_RUNS must be a positive number" ;; esac

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -x "$TW" ] || fail_early "$TW not built"
help=$("$TW" --help 2>&1)
for o in --interface --local-processes --pid-file --immediate; do
    case "$help" in *"$o"*) ;; *) fail_early "$TW --help lacks $o" ;; esac
done
for t in ip dig openssl curl dnsmasq python3 ss timeout setpriv; do
    command -v $t >/dev/null 2>&1 || skip "missing $t"
done
NOBODY_UID=$(id -u nobody 2>/dev/null) || skip "no user nobody"
NOBODY_GID=$(id -g nobody 2>/dev/null) || skip "no user nobody"

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || skip "python3 does not run"
pcheck() { "$PY" "$HERE/live/proc_check.py" "$@"; }

# One run at a time: the namespace names are fixed.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/tunwatch-t_live_proc.lock"
    flock -w 300 9 || fail_early "another t_live_proc.sh still held the lock after 300 s"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunwatch-live-proc.XXXXXX")
PIDS=""      # background processes we started (servers, tunwatch)
TWPID=""
pass=0
fail=0
skipped=0
failed=""
T0=$(date +%s)

. "$HERE/live/lib.sh"
cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    trap '' PIPE   # a reader that went away must not cut the clean-up short
    ns_teardown
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && show_logs "$tmp"/tw*.err "$tmp"/dnsmasq.log "$tmp"/s_server*.log "$tmp"/client.log
    if [ "${TW_LIVE_KEEP:-0}" = 1 ]; then echo "live-proc: kept $tmp" 2>/dev/null; else rm -rf "$tmp"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

finish() {
    echo "live-proc: $(( $(date +%s) - T0 )) s"
    [ -n "$failed" ] && echo "failed: $(echo "$failed" | cut -c2- | sed 's/|/; /g')"
    tally
}

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
    ip link add twp-c0 netns "$C" type veth peer name twp-s0 netns "$S" || return 1
    ip -n "$C" addr add $CLI/24 dev twp-c0 || return 1
    ip -n "$C" addr add fd78::2/64 dev twp-c0 nodad || return 1
    ip -n "$S" addr add $SRV/24 dev twp-s0 || return 1
    ip -n "$S" addr add $SRV6/64 dev twp-s0 nodad || return 1
    if command -v ethtool >/dev/null 2>&1; then
        inC ethtool -K twp-c0 tso off gso off gro off >/dev/null 2>&1
        inS ethtool -K twp-s0 tso off gso off gro off >/dev/null 2>&1
    fi
    ip -n "$C" link set twp-c0 up && ip -n "$S" link set twp-s0 up || return 1
    # Frames from the server side to an address nobody has, delivered to twp-c0: a flow
    # between two addresses that are not the capturing host's.
    mac=$(ip -n "$C" -o link show twp-c0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    [ -n "$mac" ] || return 1
    ip -n "$S" neigh replace $FOREIGN lladdr "$mac" dev twp-s0 nud permanent
}
setup || { bad "namespaces and veth pair set up"; finish; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=tunwatch-live-proc-test -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/req.log"
# the local server runs as nobody: it reads a throwaway key
chmod 711 "$tmp"; chmod 644 "$tmp/key.pem" "$tmp/cert.pem"
# `ip netns exec` execs: $! is the server itself. No fd 9: nothing left behind holds the lock.
ip netns exec "$S" openssl s_server -quiet -www -accept 443 -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    >"$tmp/s_server.log" 2>&1 9>&- &
PIDS="$PIDS $!"
ip netns exec "$S" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root --group=root --pid-file= \
    --address=/#/$SRV --address=/#/$SRV6 --log-facility=- >"$tmp/dnsmasq.log" 2>&1 9>&- &
PIDS="$PIDS $!"
# a server of the capturing host: connections to it are attributed on the destination side
ip netns exec "$C" setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
    openssl s_server -quiet -www -accept 8443 -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    >"$tmp/s_server_local.log" 2>&1 9>&- &
LSRV=$!
PIDS="$PIDS $LSRV"
listening() { ip netns exec "$1" ss -Hln"$2" "sport = :$3" | grep -q .; }
if wait_until 100 listening "$S" u 53 && wait_until 100 listening "$S" t 53 &&
    wait_until 100 listening "$S" t 443 && wait_until 100 listening "$C" t 8443 &&
    wait_until 50 inC dig +tries=1 +time=1 @$SRV ready.twp.test A; then
    ok "servers up (dnsmasq UDP+TCP 53 and s_server 443 in $S, s_server 8443 as nobody in $C)"
else
    bad "servers up (dnsmasq UDP+TCP 53 and s_server 443 in $S, s_server 8443 as nobody in $C)"
    finish
fi

# ------------------------------------------------------------------ clients
# What a client is, as /proc shows it: image = the executable's real path, comm = the name it
# was exec'd by (at most 15 bytes).
img() { readlink -f "$(command -v "$1")"; }
comm_of() { basename "$(command -v "$1")" | cut -c1-15; }
DIG_IMG=$(img dig) CURL_IMG=$(img curl) OSSL_IMG=$(img openssl)
DIG_COMM=$(comm_of dig) CURL_COMM=$(comm_of curl) OSSL_COMM=$(comm_of openssl)

MANIFEST=""
CLIENT_FAIL=0
# client KIND NAME WHO IMAGE COMM CMD...: runs CMD in twp-cli as WHO (root or nobody), with a
# 10 s deadline; a shell writes its own pid, then execs the client (setpriv execs it in turn),
# so the pid is the client's. The run goes into $MANIFEST.
client() {
    kind=$1 name=$2 who=$3 image=$4 comm=$5; shift 5
    if [ "$who" = root ]; then uid=0; else
        uid=$NOBODY_UID
        set -- setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups "$@"
    fi
    rm -f "$tmp/client.pid"
    ip netns exec "$C" timeout -s KILL 10 sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/client.pid" "$@" \
        </dev/null >>"$tmp/client.log" 2>&1 9>&-
    crc=$?
    if [ $crc -ne 0 ]; then
        CLIENT_FAIL=$((CLIENT_FAIL + 1)); echo "client $kind $name exit $crc" >>"$tmp/client.log"
    fi
    pid=$(cat "$tmp/client.pid" 2>/dev/null)
    [ -n "$pid" ] || { CLIENT_FAIL=$((CLIENT_FAIL + 1)); return; }
    echo "RUN $kind $name $pid $uid $who $image $comm source $who" >>"$MANIFEST"
}
# run_clients TAG N: N runs of each kind; run i as root when i is even, else as nobody; over
# IPv6 when i mod 4 is 2 or 3. Then connections to the local server and a foreign flow.
run_clients() {
    tag=$1 n=$2 i=0
    while [ $i -lt "$n" ]; do
        if [ $((i % 2)) -eq 0 ]; then who=root w=r; else who=nobody w=n; fi
        if [ $((i % 4)) -ge 2 ]; then srv=$SRV6 url="[$SRV6]"; else srv=$SRV url=$SRV; fi
        id=$tag$i$w
        client dig-udp "$id-du.localto.net" $who "$DIG_IMG" "$DIG_COMM" \
            dig +tries=1 +time=3 @$srv "$id-du.localto.net" A
        client dig-tcp "$id-dt.trycloudflare.com" $who "$DIG_IMG" "$DIG_COMM" \
            dig +tcp +tries=1 +time=3 @$srv "$id-dt.trycloudflare.com" A
        client curl "$id-cu.ngrok-free.app" $who "$CURL_IMG" "$CURL_COMM" \
            curl -q -sk -o /dev/null --max-time 8 --resolve "$id-cu.ngrok-free.app:443:$url" \
            "https://$id-cu.ngrok-free.app/"
        client openssl "$id-os.ngrok-free.app" $who "$OSSL_IMG" "$OSSL_COMM" \
            openssl s_client -connect "$url:443" -servername "$id-os.ngrok-free.app"
        i=$((i + 1))
    done
    # the other direction: clients in twp-srv, the process is the local s_server (nobody)
    i=0
    while [ $i -lt 3 ]; do
        name=$tag$i-srv.localto.net
        ip netns exec "$S" timeout -s KILL 10 openssl s_client -connect "$CLI:8443" -servername "$name" \
            </dev/null >>"$tmp/client.log" 2>&1 9>&- || CLIENT_FAIL=$((CLIENT_FAIL + 1))
        echo "RUN server $name $LSRV $NOBODY_UID nobody $OSSL_IMG $OSSL_COMM destination nobody" >>"$MANIFEST"
        i=$((i + 1))
    done
    # neither side is this host: a query from twp-srv to an address nobody holds (no answer)
    name=${tag}f.localto.net
    ip netns exec "$S" dig +tries=1 +time=1 @$FOREIGN "$name" A >>"$tmp/client.log" 2>&1 9>&-
    echo "FOREIGN $name" >>"$MANIFEST"
}

# ------------------------------------------------------------------ tunwatch
RULES=$tmp/rules
mkdir -p "$RULES"
cp rules/tunnel_ngrok.yml rules/tunnel_localtonet.yml rules/tunnel_trycloudflare.yml "$RULES/"
IMAGE_RULE=6f1c2a5e-7d0b-4c61-9a8e-2b4f0d3e9c17
cat >"$RULES/openssl_to_ngrok.yml" <<EOF
title: openssl Connects To An ngrok Host (live-proc test)
id: $IMAGE_RULE
status: test
logsource:
    category: network_connection
detection:
    selection:
        Image|endswith: '/openssl'
        DestinationHostname|endswith: '.ngrok-free.app'
    condition: selection
level: high
EOF

# start_tw NAME ARGS...: tunwatch inside twp-cli on $TWIF; sets TWPID; stderr in $tmp/NAME.err
TWIF=twp-c0
start_tw() {
    name=$1; shift
    rm -f "$tmp/$name.pid"
    ip netns exec "$C" "$TW" -i "$TWIF" -R "$RULES" --events --pid-file "$tmp/$name.pid" -q "$@" \
        2>"$tmp/$name.err" 9>&- &
    TWPID=$!
    PIDS="$PIDS $TWPID"
    if ! wait_until 100 test -s "$tmp/$name.pid"; then
        bad "$name: pid file written within 10 s"; return 1
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
# capturing OUT: a marker query, sent until its event line shows up (deadline about 20 s)
MARK=0
capturing() {
    tries=0
    while [ $tries -lt 5 ]; do
        tries=$((tries + 1)) MARK=$((MARK + 1))
        inC dig +tries=1 +time=1 @$SRV "mark$MARK.twp.test" A >/dev/null 2>&1
        wait_until 40 grep -q "\"name\":\"mark$MARK.twp.test\"" "$1" && return 0
    done
    return 1
}
# verdict ARGS...: proc_check.py's checks counted here (its ok/FAIL lines)
verdict() {
    pcheck verdict "$@" >"$tmp/verdict.out" 2>&1
    vrc=$?
    cat "$tmp/verdict.out"
    np=$(grep -c '^ok ' "$tmp/verdict.out")
    nf=$(grep -c '^FAIL ' "$tmp/verdict.out")
    pass=$((pass + np)) fail=$((fail + nf))
    [ "$nf" -gt 0 ] && failed="$failed|$(grep '^FAIL ' "$tmp/verdict.out" | cut -c6- | tr '\n' '|' | sed 's/|$//')"
    if [ $vrc -ne 0 ] && [ "$nf" -eq 0 ]; then bad "proc_check.py verdict exited $vrc"; fi
}

# run_case LABEL N MODE ARGS...: tunwatch with ARGS, N runs of each client kind, then the
# checks (MODE attrib: each kind attributed at least once when N is 10 or more)
run_case() {
    label=$1 n=$2 mode=$3; shift 3
    each=""
    [ "$mode" = attrib ] && [ "$n" -ge 10 ] && each=--each-kind
    OUT=$tmp/$label.json
    MANIFEST=$tmp/$label.manifest
    : >"$MANIFEST"
    CLIENT_FAIL=0
    t0=$(now_ds)
    start_tw "tw-$label" -o "$OUT" "$@" || return 1
    if capturing "$OUT"; then
        ok "$label: capturing (a marker query shows up in the output)"
    else
        bad "$label: capturing (a marker query in the output within 20 s)"; stop_tw "$label"; return 1
    fi
    run_clients "$label" "$n"
    if [ "$CLIENT_FAIL" -eq 0 ]; then
        ok "$label: every client run succeeded ($(grep -c '^RUN' "$MANIFEST") runs, $(grep -c '^FOREIGN' "$MANIFEST") foreign)"
    else
        bad "$label: $CLIENT_FAIL client runs failed (see client.log)"
    fi
    wait_until 150 pcheck poll "$MANIFEST" "$OUT" || note "$label: not every run alerted within 15 s"
    stop_tw "$label"
    if [ "$TWRC" -eq 0 ]; then ok "$label: SIGTERM: exit status 0"; else bad "$label: exit status $TWRC, want 0"; fi
    grep "processes:" "$tmp/tw-$label.err" | sed 's/^ */note summary: /'
    # attribution (or --immediate) reads this host's interface through the immediate ring
    if grep -q "^  capture twp-c0: .*(TPACKET_V2 ring" "$tmp/tw-$label.err"; then
        ok "$label: twp-c0 read through the immediate TPACKET_V2 ring"
    else
        bad "$label: twp-c0 read through the immediate TPACKET_V2 ring ($(grep '^  capture' "$tmp/tw-$label.err"))"
    fi
    verdict --mode "$mode" $each --image-rule $IMAGE_RULE "$MANIFEST" "$OUT" "$tmp/tw-$label.err"
    echo "live-proc: $label took $(( ($(now_ds) - t0) / 10 )).$(( ($(now_ds) - t0) % 10 )) s"
}

# 1. attribution by default: live capture of this host's interface (no --immediate given)
run_case auto "$RUNS" attrib
# 2. asked for explicitly
run_case on 4 attrib --local-processes on
# 3. turned off: no "process" key anywhere
run_case off 4 off --local-processes off --immediate

# 4. a mirror port: an interface of the capturing host with only a link-local address (every
# interface that is up gets an fe80:: one) keeps the buffered TPACKET_V3 ring, attribution or
# not: it holds far more frames through a burst, and no local process sends from it
mirror_ring() {
    ip -n "$C" link add twp-m0 type veth peer name twp-m1 || return 1
    ip -n "$C" link set twp-m1 up && ip -n "$C" link set twp-m0 up || return 1
    wait_until 50 sh -c "ip -n $C -6 addr show dev twp-m0 | grep -q 'inet6 fe80'" || return 1
    ip -n "$C" -4 addr show dev twp-m0 | grep -q inet && return 1
    TWIF=twp-m0
    start_tw tw-mirror -o /dev/null || return 1
    TWIF=twp-c0
    stop_tw mirror
    [ "$TWRC" -eq 0 ] || return 1
    grep -q "^  capture twp-m0: .*(TPACKET_V3 ring)" "$tmp/tw-mirror.err" &&
        grep -q "processes:" "$tmp/tw-mirror.err"
}
if mirror_ring; then
    ok "mirror port (fe80:: only): attribution on, read through the buffered TPACKET_V3 ring"
else
    bad "mirror port (fe80:: only): attribution on, read through the buffered TPACKET_V3 ring ($(grep '^  capture' "$tmp/tw-mirror.err" 2>/dev/null))"
fi

finish
