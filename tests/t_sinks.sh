#!/bin/sh
# Sinks against real services started here, on 127.0.0.1 ports of their own (none of the
# system's instances is used): rsyslogd (its own configuration: imudp, imtcp, two imuxsock
# sockets, omfile), redis-server (no persistence) and a Kafka mock cluster (librdkafka's, on
# real sockets: tests/kafka_mock.c), read back with rsyslog's own parser, redis-cli and kcat.
# Every alert must arrive whole and exactly once, also at a collector that comes up after the
# run started (spool), and across runs (a spool left for the next run); a full or closed
# collector is reported. Needs rsyslogd, redis-server, redis-cli, kcat (.ci/deps.sh); without
# them the suite is skipped (a failure in CI).
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
MOCK=$BUILD/tests/helpers/kafka_mock
SUITE=sinks
. tests/lib.sh
pass=0
fail=0
skipped=0
for tool in rsyslogd redis-server redis-cli kcat python3; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed (.ci/deps.sh installs it)"
done
[ -x "$MOCK" ] || fail_early "$MOCK not built (make $MOCK)"
PCAP=pcaps/tunnels.pcapng
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tw-sinks.XXXXXX")
chmod 755 "$tmp"
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    [ -f "${2:-/nonexistent}" ] && sed 's/^/     /' "$2" | head -8
    return 0
}
# check LABEL [LOG] -- CMD...: ok if CMD succeeds
check() {
    label=$1 log=$2
    shift 3
    if "$@"; then ok "$label"; else bad "$label" "$log"; fi
}
free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { python3 -c 'import socket,sys
s = socket.socket(); s.settimeout(0.2); s.connect(("127.0.0.1", int(sys.argv[1])))' "$1"; }
lines() { wc -l <"$1" | tr -d ' '; }
# $tmp/same A B: the two files (A may be - for stdin) hold the same lines, the run id (random per
# run, on every line) aside. A script, so that `sh -c` pipelines can use it too.
cat >"$tmp/same" <<'EOF'
#!/bin/sh
m='s/"run_id":"[^"]*"/"run_id":"RUN_ID"/g'
if [ "$1" = - ]; then sed "$m" >"$0.a.$$"; else sed "$m" "$1" >"$0.a.$$"; fi
sed "$m" "$2" >"$0.b.$$"
cmp -s "$0.a.$$" "$0.b.$$"
rc=$?
rm -f "$0.a.$$" "$0.b.$$"
exit $rc
EOF
chmod 755 "$tmp/same"
start_redis() { # PORT [redis-server options]
    port=$1
    shift
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
        --logfile "$tmp/redis-$port.log" "$@" &
    last_pid=$!
    pids="$pids $!"
    wait_for 10 listening "$port" || fail_early "redis-server on port $port did not start"
}
rcli() { redis-cli -h 127.0.0.1 "$@"; }

# The reference: what a plain file gets.
"$TW" -q -r "$PCAP" -o "$tmp/ref.json" 2>"$tmp/ref.err" || fail_early "reference run failed"
"$TW" -q -r "$PCAP" --events -o "$tmp/ref_all.json" 2>/dev/null || fail_early "reference run failed"
N=$(lines "$tmp/ref.json")
NALL=$(lines "$tmp/ref_all.json")
[ "$N" -gt 10 ] && [ "$NALL" -gt "$N" ] || fail_early "reference has $N alerts, $NALL lines with events"
echo "reference: $N alerts, $NALL lines with events"

# ---- command line: bad URLs are refused at start-up, naming the URL and the reason --------
expect_bad() { # LABEL PATTERN URL
    "$TW" -q -r "$PCAP" -o "$3" >"$tmp/out" 2>"$tmp/err"
    st=$?
    if [ "$st" -eq 1 ] && grep -qF -- "$2" "$tmp/err" && grep -qF -- "-o " "$tmp/err" &&
        [ ! -s "$tmp/out" ]; then
        ok "$1"
    else
        bad "$1: exit $st" "$tmp/err"
    fi
}
expect_bad "bad URL: redis without key" "redis://127.0.0.1:6379: needs a key" "redis://127.0.0.1:6379"
expect_bad "bad URL: unknown scheme" "unknown scheme 'amqp'" "amqp://h/q"
expect_bad "bad URL: syslog port" "syslog+udp://h:99999: bad port '99999'" "syslog+udp://h:99999"
expect_bad "bad URL: unknown format" "kafka://127.0.0.1:9/t?format=json: format 'json' is not native, ecs, asim or cef" "kafka://127.0.0.1:9/t?format=json"
expect_bad "bad URL: librdkafka property" "librdkafka property 'no.such.property'" "kafka://127.0.0.1:9/t?no.such.property=1"
expect_bad "bad URL: password hidden" "password=***" "redis://h/k?password=hunter2&mode=bad"
if grep -q hunter2 "$tmp/err"; then bad "password printed" "$tmp/err"; else ok "password not printed"; fi

# ---- files: several outputs, --events for plain files, append ------------------------------
"$TW" -q -r "$PCAP" --events -o "$tmp/f1.json" -o "file://$tmp/f2.json" -o - >"$tmp/f3.json" 2>"$tmp/err"
check "plain file gets events with --events" "$tmp/err" -- "$tmp/same" "$tmp/f1.json" "$tmp/ref_all.json"
check "stdout next to files, same lines" "$tmp/err" -- "$tmp/same" "$tmp/f3.json" "$tmp/ref_all.json"
check "file:// URL follows --events too" "$tmp/err" -- "$tmp/same" "$tmp/f2.json" "$tmp/ref_all.json"
"$TW" -q -r "$PCAP" -o "file://$tmp/f2.json?append=1&events=alerts" 2>"$tmp/err"
check "?append=1 appends, ?events=alerts" "$tmp/err" -- test "$(lines "$tmp/f2.json")" -eq $((NALL + N))
"$TW" -q -r "$PCAP" -o "$tmp/f1.json" 2>"$tmp/err"
check "a replay truncates by default" "$tmp/err" -- "$tmp/same" "$tmp/f1.json" "$tmp/ref.json"
"$TW" -q -r "$PCAP" --append -o "$tmp/f1.json" 2>"$tmp/err"
check "--append appends" "$tmp/err" -- test "$(lines "$tmp/f1.json")" -eq $((2 * N))

# ---- rsyslog: UDP, TCP (octet counting), the local socket (3164 local and 5424) ----------------
UDP=$(free_port)
TCP=$(free_port)
mkdir -p "$tmp/rs"
cat >"$tmp/rs/rsyslog.conf" <<EOF
global(workDirectory="$tmp/rs" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="fields" type="string"
  string="%protocol-version%|%syslogfacility-text%|%syslogseverity-text%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\n")
ruleset(name="udp") { action(type="omfile" file="$tmp/rs/udp.log" template="fields") }
ruleset(name="tcp") { action(type="omfile" file="$tmp/rs/tcp.log" template="fields") }
ruleset(name="local") { action(type="omfile" file="$tmp/rs/local.log" template="fields") }
ruleset(name="local5424") { action(type="omfile" file="$tmp/rs/local5424.log" template="fields") }
input(type="imudp" address="127.0.0.1" port="$UDP" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="$TCP" ruleset="tcp")
input(type="imuxsock" Socket="$tmp/rs/log" ruleset="local")
input(type="imuxsock" Socket="$tmp/rs/log5424" UseSpecialParser="off" ruleset="local5424")
EOF
rsyslogd -n -f "$tmp/rs/rsyslog.conf" -i "$tmp/rs/rsyslogd.pid" >"$tmp/rs/stderr" 2>&1 &
rs_pid=$!
pids="$pids $!"
if ! wait_for 10 listening "$TCP" || ! wait_for 5 test -S "$tmp/rs/log5424"; then
    fail_early "rsyslogd did not start: $(cat "$tmp/rs/stderr")"
fi
"$TW" -q -r "$PCAP" -o "syslog+udp://127.0.0.1:$UDP" -o "syslog+tcp://127.0.0.1:$TCP?facility=local4" \
    -o "syslog+unix://$tmp/rs/log?app=twlocal" -o "syslog+unix://$tmp/rs/log5424?proto=5424&severity=notice" \
    2>"$tmp/syslog.err"
st=$?
check "syslog run exits 0" "$tmp/syslog.err" -- test "$st" -eq 0
for f in udp tcp local local5424; do
    wait_for 10 test "$(cat "$tmp/rs/$f.log" 2>/dev/null | wc -l)" -ge "$N"
done
sleep 0.5 # nothing more arrives
# Each message as rsyslog parsed it: protocol version, facility, severity, app, procid, msgid,
# SD, and the MSG equal to the line of the file output, every alert exactly once.
cat >"$tmp/syslog_check.py" <<'EOF'
import json, re, sys
def mask(line):  # the run id is random per run
    return re.sub(r'"run_id":"[^"]*"', '"run_id":"RUN_ID"', line)
log, ref, version, facility, sev, app, msgid = sys.argv[1:8]
levels = {"critical": "crit", "high": "err", "medium": "warning", "low": "notice"}
want = [mask(l.rstrip("\n")) for l in open(ref)]
got = []
for line in open(log):
    f = line.rstrip("\n").split("|", 8)
    if len(f) != 9:
        sys.exit("not 9 fields: %r" % line[:100])
    v, fac, s, host, a, pid, mid, sd, msg = f
    if version == "0" and msg.startswith(" "):
        msg = msg[1:]  # RFC 3164: rsyslog keeps the space after "TAG:" in MSG
    if v != version or fac != facility or a != app or mid != msgid or (version == "1" and sd != "-"):
        sys.exit("header %r, want version %s facility %s app %s msgid %s" % (f[:8], version, facility, app, msgid))
    if not pid.isdigit():
        sys.exit("procid %r" % pid)
    ev = json.loads(msg)
    w = sev if sev != "level" else levels.get(ev["rule"]["level"], "info")
    if s != w:
        sys.exit("severity %s for level %s, want %s" % (s, ev["rule"]["level"], w))
    got.append(mask(msg))
if sorted(got) != sorted(want):
    sys.exit("%d messages, %d alerts; %d differ" % (len(got), len(want), len(set(got) ^ set(want))))
EOF
check "syslog+udp: every alert, RFC 5424 as rsyslog parses it" "$tmp/rs/udp.log" -- \
    python3 "$tmp/syslog_check.py" "$tmp/rs/udp.log" "$tmp/ref.json" 1 daemon level tunwatch alert
check "syslog+tcp: every alert whole (octet counting), facility local4" "$tmp/rs/tcp.log" -- \
    python3 "$tmp/syslog_check.py" "$tmp/rs/tcp.log" "$tmp/ref.json" 1 local4 level tunwatch alert
check "syslog+tcp: in order" "$tmp/rs/tcp.log" -- \
    sh -c "cut -d'|' -f9- '$tmp/rs/tcp.log' | '$tmp/same' - '$tmp/ref.json'"
check "syslog+unix: local format, as imuxsock parses it" "$tmp/rs/local.log" -- \
    python3 "$tmp/syslog_check.py" "$tmp/rs/local.log" "$tmp/ref.json" 0 daemon level twlocal -
check "syslog+unix ?proto=5424 (imuxsock UseSpecialParser off), ?severity=notice" "$tmp/rs/local5424.log" -- \
    python3 "$tmp/syslog_check.py" "$tmp/rs/local5424.log" "$tmp/ref.json" 1 daemon notice tunwatch alert

# ---- redis: list, stream, publish, events=all in another db ----------------------------------
RP=$(free_port)
start_redis "$RP"
rcli -p "$RP" SUBSCRIBE tw.chan >"$tmp/sub.out" 2>&1 &
subpid=$!
pids="$pids $subpid"
wait_for 5 grep -q '^subscribe$' "$tmp/sub.out"
"$TW" -q -r "$PCAP" --stats-interval 1 -o "redis://127.0.0.1:$RP/tw.list" \
    -o "redis://127.0.0.1:$RP/tw.stream?mode=stream&maxlen=100000" \
    -o "redis://127.0.0.1:$RP/tw.chan?mode=publish" -o "redis://127.0.0.1:$RP/tw.all?events=all&db=3" \
    -o "redis://127.0.0.1:$RP/tw.ecs?format=ecs" -o "redis://127.0.0.1:$RP/tw.cef?format=cef&events=all" \
    2>"$tmp/redis.err"
st=$?
check "redis run exits 0" "$tmp/redis.err" -- test "$st" -eq 0
rcli -p "$RP" LRANGE tw.list 0 -1 >"$tmp/list.out"
check "redis list: every alert once, in order (RPUSH, LRANGE)" "$tmp/redis.err" -- "$tmp/same" "$tmp/list.out" "$tmp/ref.json"
rcli -p "$RP" XRANGE tw.stream - + >"$tmp/xrange.out"
awk 'prev == "message" { print } { prev = $0 }' "$tmp/xrange.out" >"$tmp/stream.out"
check "redis stream: every alert once, in order (XADD, XRANGE)" "$tmp/xrange.out" -- "$tmp/same" "$tmp/stream.out" "$tmp/ref.json"
wait_for 5 test "$(awk 'prev == "tw.chan" && p2 == "message" { n++ } { p2 = prev; prev = $0 } END { print n + 0 }' "$tmp/sub.out")" -ge "$N"
awk 'p2 == "message" && prev == "tw.chan" { print } { p2 = prev; prev = $0 }' "$tmp/sub.out" >"$tmp/chan.out"
check "redis publish: every alert once, in order (SUBSCRIBE)" "$tmp/sub.out" -- "$tmp/same" "$tmp/chan.out" "$tmp/ref.json"
rcli -p "$RP" -n 3 LRANGE tw.all 0 -1 >"$tmp/all.out"
check "redis ?events=all&db=3: alerts and events" "$tmp/redis.err" -- "$tmp/same" "$tmp/all.out" "$tmp/ref_all.json"
# Each sink in its own format: the lines --output-format gives a file in the same run's order.
"$TW" -q -r "$PCAP" --output-format ecs -o "$tmp/ref.ecs" 2>/dev/null
"$TW" -q -r "$PCAP" --output-format cef --events -o "$tmp/ref_all.cef" 2>/dev/null
rcli -p "$RP" LRANGE tw.ecs 0 -1 >"$tmp/ecs.out"
rcli -p "$RP" LRANGE tw.cef 0 -1 >"$tmp/cef.out"
sed 's/cs5=[0-9a-f-]* /cs5=RUN_ID /' "$tmp/cef.out" >"$tmp/cef.m"
sed 's/cs5=[0-9a-f-]* /cs5=RUN_ID /' "$tmp/ref_all.cef" >"$tmp/ref_all.cef.m"
check "redis ?format=ecs: the ECS lines of --output-format ecs" "$tmp/redis.err" -- \
    "$tmp/same" "$tmp/ecs.out" "$tmp/ref.ecs"
check "redis ?format=cef&events=all: the CEF lines, events too" "$tmp/redis.err" -- \
    cmp -s "$tmp/cef.m" "$tmp/ref_all.cef.m"
check "summary counts per sink" "$tmp/redis.err" -- \
    grep -q "sink redis://127.0.0.1:$RP/tw.list: sent $N, queued 0, spooled 0, in spool 0, dropped 0, failed 0, reconnects 0, left 0" "$tmp/redis.err"
check "stats line counts per sink" "$tmp/redis.err" -- \
    grep -q "\"sinks\":\[{\"name\":\"redis://127.0.0.1:$RP/tw.list\",\"connected\":[a-z]*,\"sent\":$N[,}]" "$tmp/redis.err"

# A collector that comes up after the run started: a queue of 4 lines, the rest spooled; the
# service starts 1.5 s later; every alert arrives exactly once, in order.
LP=$(free_port)
"$TW" -q -r "$PCAP" -o "redis://127.0.0.1:$LP/late?queue_lines=4&backoff_max=0.5" \
    --spool-dir "$tmp/spool" --drain-timeout 30 2>"$tmp/late.err" &
twpid=$!
sleep 1.5
ls "$tmp/spool"/*/ >"$tmp/spool.ls" 2>&1
check "late collector: lines wait in the spool" "$tmp/spool.ls" -- grep -q '\.tmp$\|\.spool$' "$tmp/spool.ls"
start_redis "$LP"
wait "$twpid"
st=$?
rcli -p "$LP" LRANGE late 0 -1 >"$tmp/late.out"
check "late collector: run exits 0" "$tmp/late.err" -- test "$st" -eq 0
check "late collector: every alert exactly once, in order" "$tmp/late.err" -- "$tmp/same" "$tmp/late.out" "$tmp/ref.json"
check "late collector: refused first, then connected, counted" "$tmp/late.err" -- sh -c "
    grep -q 'Connection refused (retrying)' '$tmp/late.err' && grep -q ': connected' '$tmp/late.err' &&
    grep -Eq 'sink redis://127.0.0.1:$LP/late.*: sent $N, queued 0, spooled $((N - 4)), in spool 0, dropped 0, failed 0, reconnects 0, left 0' '$tmp/late.err'"
check "late collector: delivered segments removed" "$tmp/late.err" -- \
    sh -c "! ls '$tmp/spool'/*/ | grep -q 'spool\$\|tmp\$'"

# A collector down for the whole run: the lines stay in the spool for the next run, which
# delivers them before its own, each exactly once.
XP=$(free_port)
"$TW" -q -r "$PCAP" -o "redis://127.0.0.1:$XP/next?spool=$tmp/spool2" --drain-timeout 1 2>"$tmp/next1.err"
st=$?
check "down collector: run exits 0 and says what it kept" "$tmp/next1.err" -- sh -c "
    test $st -eq 0 && grep -q 'not delivered within 1 s: 0 lines lost, $N kept in the spool for the next run' '$tmp/next1.err'"
start_redis "$XP"
"$TW" -q -r "$PCAP" -o "redis://127.0.0.1:$XP/next?spool=$tmp/spool2" --drain-timeout 10 2>"$tmp/next2.err"
rcli -p "$XP" LRANGE next 0 -1 >"$tmp/next.out"
cat "$tmp/ref.json" "$tmp/ref.json" >"$tmp/ref2.json"
check "next run: the spooled alerts, then its own, each once" "$tmp/next2.err" -- "$tmp/same" "$tmp/next.out" "$tmp/ref2.json"

# A full collector (maxmemory reached: OOM on every write) is reported, counted, and nothing
# is lost silently: without a spool the lines are counted lost; with one they are kept.
FP=$(free_port)
start_redis "$FP"
rcli -p "$FP" CONFIG SET maxmemory 1 >/dev/null
"$TW" -q -r "$PCAP" -o "redis://127.0.0.1:$FP/full?backoff_max=0.2" --drain-timeout 1 2>"$tmp/full.err"
check "full collector: reported with redis' reason" "$tmp/full.err" -- grep -q 'RPUSH: OOM command not allowed' "$tmp/full.err"
check "full collector: failures counted, every line counted lost" "$tmp/full.err" -- \
    grep -Eq "sink redis://127.0.0.1:$FP/full.*: sent 0, queued 0, spooled 0, in spool 0, dropped $N, failed [1-9][0-9]*, reconnects 0, left $N" "$tmp/full.err"
"$TW" -q -r "$PCAP" -o "redis://127.0.0.1:$FP/full?backoff_max=0.2&spool=$tmp/spool3" --drain-timeout 1 2>"$tmp/full2.err"
check "full collector with a spool: every line kept" "$tmp/full2.err" -- \
    grep -q "0 lines lost, $N kept in the spool" "$tmp/full2.err"
rcli -p "$FP" CONFIG SET maxmemory 0 >/dev/null
"$TW" -q -r "$PCAP" -o "redis://127.0.0.1:$FP/full?spool=$tmp/spool3" --drain-timeout 10 2>/dev/null
rcli -p "$FP" LRANGE full 0 -1 >"$tmp/full.out"
check "full collector: the kept lines delivered once it has room, then the new" "$tmp/full2.err" -- \
    "$tmp/same" "$tmp/full.out" "$tmp/ref2.json"

# Collectors restarted in the middle of a run: tunwatch reads the capture from a pipe, the
# first half, then Redis and rsyslogd are restarted, then the second half. Each sink notices
# (Redis: the command fails; TCP syslog: the closed connection, before the next line),
# reconnects (counted) and every alert arrives exactly once, in order.
if command -v editcap >/dev/null 2>&1; then
    editcap -F pcap "$PCAP" "$tmp/all.pcap" && editcap -F pcap -r "$tmp/all.pcap" "$tmp/p1.pcap" 1-133 &&
        editcap -F pcap -r "$tmp/all.pcap" "$tmp/p2.pcap" 134-100000 || fail_early "editcap failed"
    RR=$(free_port)
    start_redis "$RR"
    redis_pid=$last_pid
    tcp_before=$(lines "$tmp/rs/tcp.log")
    mkfifo "$tmp/feed"
    timeout 120 "$TW" -q -r "$tmp/feed" -o "redis://127.0.0.1:$RR/re?backoff_max=0.3" \
        -o "syslog+tcp://127.0.0.1:$TCP?backoff_max=0.3" -o "$tmp/re_ref.json" --drain-timeout 20 \
        2>"$tmp/re.err" &
    twpid=$!
    exec 3>"$tmp/feed"
    cat "$tmp/p1.pcap" >&3 || fail_early "the pipe to tunwatch broke"
    stable() { # the list's length stays the same for half a second, and is not 0
        a=$(rcli -p "$RR" LLEN re 3>&-)
        sleep 0.5
        [ "$a" -gt 0 ] && [ "$a" = "$(rcli -p "$RR" LLEN re)" ]
    }
    wait_for 10 stable
    rcli -p "$RR" LRANGE re 0 -1 >"$tmp/re1.out"
    kill "$redis_pid"
    wait "$redis_pid" 2>/dev/null
    kill "$rs_pid"
    wait "$rs_pid" 2>/dev/null
    # (started without fd 3: the pipe must see its writer close)
    start_redis "$RR" 3>&-
    rsyslogd -n -f "$tmp/rs/rsyslog.conf" -i "$tmp/rs/rsyslogd.pid" >>"$tmp/rs/stderr" 2>&1 3>&- &
    rs_pid=$!
    pids="$pids $!"
    wait_for 10 listening "$TCP" || fail_early "rsyslogd did not restart"
    tail -c +25 "$tmp/p2.pcap" >&3
    exec 3>&-
    wait "$twpid"
    st=$?
    rcli -p "$RR" LRANGE re 0 -1 >"$tmp/re2.out"
    M=$(lines "$tmp/re_ref.json")
    check "restart: run exits 0" "$tmp/re.err" -- test "$st" -eq 0
    check "restart: first half before the restart" "$tmp/re.err" -- \
        test "$(lines "$tmp/re1.out")" -gt 0 -a "$(lines "$tmp/re1.out")" -lt "$M"
    check "restart: redis, every alert exactly once, in order" "$tmp/re.err" -- \
        sh -c "cat '$tmp/re1.out' '$tmp/re2.out' | '$tmp/same' - '$tmp/re_ref.json'"
    check "restart: redis reconnect counted" "$tmp/re.err" -- \
        grep -Eq "sink redis://127.0.0.1:$RR/re.*: sent $M, queued 0, spooled 0, in spool 0, dropped 0, failed [1-9][0-9]*, reconnects 1, left 0" "$tmp/re.err"
    wait_for 10 test "$(lines "$tmp/rs/tcp.log")" -ge $((tcp_before + M))
    check "restart: syslog+tcp, every alert exactly once, in order" "$tmp/rs/tcp.log" -- \
        sh -c "tail -n +$((tcp_before + 1)) '$tmp/rs/tcp.log' | cut -d'|' -f9- | '$tmp/same' - '$tmp/re_ref.json'"
    check "restart: syslog+tcp reconnect counted" "$tmp/re.err" -- \
        grep -Eq "sink syslog\+tcp://127.0.0.1:$TCP.*: sent $M, queued 0, spooled 0, in spool 0, dropped 0, failed [1-9][0-9]*, reconnects 1, left 0" "$tmp/re.err"
else
    skip_check "collector restart: editcap not installed (tshark's tools, .ci/deps.sh)"
fi

# ---- Kafka (librdkafka's mock cluster, 3 partitions), read back with kcat -------------------
"$MOCK" tw.alerts 3 >"$tmp/kafka.boot" 2>"$tmp/kafka.err" &
pids="$pids $!"
wait_for 10 test -s "$tmp/kafka.boot" || fail_early "kafka mock did not start: $(cat "$tmp/kafka.err")"
BOOT=$(head -1 "$tmp/kafka.boot")
"$TW" -q -r "$PCAP" -o "kafka://$BOOT/tw.alerts?linger.ms=5&acks=all" -o "$tmp/kref.json" 2>"$tmp/kafka.run"
st=$?
check "kafka run exits 0, every alert acknowledged" "$tmp/kafka.run" -- sh -c "
    test $st -eq 0 && grep -q 'sink kafka://$BOOT/tw.alerts?linger.ms=5&acks=all: sent $N, queued 0, spooled 0, in spool 0, dropped 0, failed 0' '$tmp/kafka.run'"
kcat -b "$BOOT" -C -t tw.alerts -o beginning -e -q -f '%p\t%k\t%s\n' >"$tmp/kcat.out" 2>"$tmp/kcat.err"
cat >"$tmp/kafka_check.py" <<'EOF'
import json, re, sys
def mask(line):  # the run id is random per run
    return re.sub(r'"run_id":"[^"]*"', '"run_id":"RUN_ID"', line)
rows = [l.rstrip("\n").split("\t", 2) for l in open(sys.argv[1])]
ref = [mask(l.rstrip("\n")) for l in open(sys.argv[2])]
if sorted(mask(r[2]) for r in rows) != sorted(ref):
    sys.exit("%d messages read back, %d alerts" % (len(rows), len(ref)))
parts = {}
for p, k, v in rows:
    src = json.loads(v)["event"]["SourceIp"]
    if k != src:
        sys.exit("key %r, SourceIp %r" % (k, src))
    parts.setdefault(k, set()).add(p)
if any(len(s) != 1 for s in parts.values()):
    sys.exit("a source in several partitions: %r" % parts)
EOF
check "kafka: every alert once, keyed by source (one partition per host)" "$tmp/kcat.err" -- \
    python3 "$tmp/kafka_check.py" "$tmp/kcat.out" "$tmp/kref.json"

# Brokers down for a whole run: librdkafka gives up after message.timeout.ms, the lines go to
# the spool (failed counted), and the next run delivers them before its own.
DEAD=$(free_port)
"$TW" -q -r "$PCAP" -o "kafka://127.0.0.1:$DEAD/tw.alerts?message.timeout.ms=1000&spool=$tmp/kspool" \
    --drain-timeout 3 2>"$tmp/kdown.err"
check "kafka down: every line kept in the spool, failures counted" "$tmp/kdown.err" -- sh -c "
    grep -q 'brokers are down' '$tmp/kdown.err' && grep -q '0 lines lost, $N kept in the spool' '$tmp/kdown.err' &&
    grep -Eq 'sink kafka://127.0.0.1:$DEAD/tw.alerts.*: sent 0, queued 0, spooled [1-9][0-9]*, in spool $N, dropped 0, failed [1-9][0-9]*, reconnects 0, left 0' '$tmp/kdown.err'"
# New alerts that come while the spool still holds older lines go behind them, into the spool
# (the order kept): how many depends on how fast the spool drains, 0 to N; all are sent.
"$TW" -q -r "$PCAP" -o "kafka://$BOOT/tw.alerts?spool=$tmp/kspool" 2>"$tmp/kup.err"
kup_spooled=$(sed -n 's/.*: sent [0-9]*, queued 0, spooled \([0-9]*\), in spool 0, .*/\1/p' "$tmp/kup.err")
check "kafka back: the spooled lines and the new ones acknowledged" "$tmp/kup.err" -- sh -c "
    grep -q 'sent $((2 * N)), queued 0, spooled ${kup_spooled:-x}, in spool 0, dropped 0, failed 0' '$tmp/kup.err' &&
    [ ${kup_spooled:-99999} -le $N ]"
kcat -b "$BOOT" -C -t tw.alerts -o beginning -e -q -f '%p\t%k\t%s\n' >"$tmp/kcat2.out" 2>"$tmp/kcat.err"
cat "$tmp/kref.json" "$tmp/kref.json" "$tmp/kref.json" >"$tmp/kref3.json"
check "kafka back: every alert of the three runs once" "$tmp/kcat.err" -- \
    python3 "$tmp/kafka_check.py" "$tmp/kcat2.out" "$tmp/kref3.json"

tally
