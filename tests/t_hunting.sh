#!/bin/sh
# Hunting over many captures: -r repeatable, directories and quoted patterns, merged in time
# order as one stream (a DNS answer in one file names a connection in another), every path
# that cannot be read named (exit 1 for a path the user named), pcapng files whose interfaces
# have different link types (mergecap of pcaps/linktypes: names equal tshark's), pcap_filename
# on every line, --append, and --report checked against tests/report_check.py. Needs tshark,
# mergecap and editcap (skipped without them, a failure in CI).
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
SUITE=hunting
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -f "$tmp/err" ] && sed 's/^/     /' "$tmp/err" | head -5; }
# expect LABEL STATUS PATTERN -- tunwatch args...: exit status and a stderr line matching PATTERN
expect() {
    label=$1 want=$2 pattern=$3
    shift 4
    "$TW" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then bad "$label: exit $got, want $want"; return; fi
    if ! grep -q -- "$pattern" "$tmp/err"; then bad "$label: no '$pattern' on stderr"; return; fi
    ok "$label"
}
# The output without the keys that name files or depend on them, sorted.
# Lines without what names the run (its random run id) and the file each came from.
strip() {
    sed -e 's/,"sensor":{[^}]*}//' -e 's/,"pcap_filename":"[^"]*"//' -e 's/"pcap_filename":"[^"]*",//' \
        "$1" | sort
}

[ -x "$TW" ] || fail_early "$TW not built"
help=$("$TW" --help 2>&1)
for o in "--read PATH" "repeatable" "--append" "--report" "--report-format" "--test-config"; do
    case "$help" in *"$o"*) ;; *) fail_early "$TW --help lacks $o" ;; esac
done
for t in tshark mergecap editcap; do
    command -v $t >/dev/null 2>&1 || skip "$t is not installed (apt-get install tshark)"
done

# ---- two files, one stream: DNS in one file, everything else in the other, interleaved in
# time. Merged, they give exactly the whole capture's lines; the connections named from the
# DNS answer cache come from the other file's answers.
whole=pcaps/resolve_connect.pcap
tshark -r $whole -Y 'udp.port==53 || tcp.port==53' -w "$tmp/dns.pcap" 2>"$tmp/err" &&
    tshark -r $whole -Y '!(udp.port==53 || tcp.port==53)' -w "$tmp/conn.pcap" 2>"$tmp/err" ||
    fail_early "tshark could not split $whole"
"$TW" -q --events -r $whole >"$tmp/whole.json" 2>"$tmp/err" || bad "whole capture read"
"$TW" -q --events -r "$tmp/conn.pcap" -r "$tmp/dns.pcap" >"$tmp/merged.json" 2>"$tmp/err"
st=$?
if [ $st -ne 0 ]; then
    bad "two files: exit $st"
elif strip "$tmp/whole.json" >"$tmp/a" && strip "$tmp/merged.json" >"$tmp/b" && cmp -s "$tmp/a" "$tmp/b"; then
    ok "two files merged in time order give the whole capture's $(wc -l <"$tmp/a") lines"
else
    diff "$tmp/a" "$tmp/b" | head -5 >"$tmp/err"
    bad "two files merged differ from the whole capture"
fi
"$TW" -q --events -r "$tmp/dns.pcap" -r "$tmp/conn.pcap" >"$tmp/merged2.json" 2>"$tmp/err"
if strip "$tmp/merged2.json" | cmp -s - "$tmp/b"; then
    ok "the order of -r does not change the stream"
else
    bad "the order of -r changes the output"
fi
# The cache carries across files: connections in conn.pcap named from answers in dns.pcap.
named=$(grep '"type":"event"' "$tmp/merged.json" | grep '"evidence":"dns_answer"' |
    grep '"category":"network_connection"' | grep -c "\"pcap_filename\":\"$tmp/conn.pcap\"")
alone=$("$TW" -q --events -r "$tmp/conn.pcap" 2>/dev/null | grep '"type":"event"' |
    grep '"category":"network_connection"' | grep -c '"evidence":"dns_answer"')
if [ "$named" -ge 5 ] && [ "$alone" -eq 0 ]; then
    ok "answers in one file name $named connections in the other (0 when read alone)"
else
    bad "answer cache across files: $named connections named across files, $alone alone"
fi
# pcap_filename on every line, naming the file that holds the packet: DNS lines from dns.pcap.
python3 - "$tmp/merged.json" "$tmp/dns.pcap" "$tmp/conn.pcap" >"$tmp/err" <<'PY' && ok "pcap_filename on every line, the file of its packet" || bad "pcap_filename"
import json, sys
out, dns, conn = sys.argv[1:]
bad = 0
for n, line in enumerate(open(out), 1):
    o = json.loads(line)
    f = o.get("pcap_filename")
    want = dns if o["evidence"] == "dns_query" else conn if o["evidence"] in ("tls_sni", "http_host", "dns_answer") and o["category"] == "network_connection" else None
    if f is None or (want is not None and f != want):
        print(f"line {n}: pcap_filename {f!r}, expected {want!r}: {line[:120]}")
        bad += 1
sys.exit(1 if bad else 0)
PY

# ---- directories and patterns
mkdir -p "$tmp/caps/sub/deeper" "$tmp/caps/empty"
cp pcaps/linktypes/ether.pcap "$tmp/caps/"
cp pcaps/linktypes/raw.pcap "$tmp/caps/sub/"
cp pcaps/linktypes/null.pcap "$tmp/caps/sub/deeper/capture-without-extension"
cp pcaps/linktypes/ether.pcap.names.tsv "$tmp/caps/notes.txt"
printf 'not a capture at all\n' >"$tmp/caps/sub/broken.pcap"
"$TW" -q -r "$tmp/caps" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 0 ] && grep -q "files: 3 read, 0 failed while read, 1 skipped" "$tmp/err" &&
    grep -q "sub/broken.pcap: not a capture file.*skipped" "$tmp/err" &&
    ! grep -q "notes.txt" "$tmp/err" &&
    [ "$(grep -c '"pcap_filename":"[^"]*capture-without-extension"' "$tmp/out")" -gt 0 ]; then
    ok "a directory: 3 captures found recursively (one by its magic), a broken .pcap skipped and named"
else
    bad "directory walk (exit $st)"
fi
"$TW" -q -r "$tmp/caps/*.pcap" -r "$tmp/caps/sub/*.pcap" >"$tmp/out" 2>"$tmp/err"
if grep -q "files: 2 read" "$tmp/err" && grep -q "broken.pcap: not a capture" "$tmp/err"; then
    ok "quoted patterns expanded by tunwatch (glob(3))"
else
    bad "patterns"
fi
expect "missing file named, exit 1" 1 "$tmp/nonexistent.pcap: No such file or directory" -- -q -r pcaps/linktypes/ether.pcap -r "$tmp/nonexistent.pcap"
expect "not a capture named, exit 1" 1 "$tmp/caps/notes.txt: not a capture file" -- -q -r "$tmp/caps/notes.txt"
expect "directory without captures, exit 1" 1 "$tmp/caps/empty: no capture file in this directory" -- -q -r "$tmp/caps/empty"
expect "pattern matching nothing, exit 1" 1 "matches this pattern" -- -q -r "$tmp/caps/*.nothing"
cp pcaps/linktypes/ether.pcap "$tmp/secret.pcap"
chmod 600 "$tmp/secret.pcap"
if [ "$(id -u)" -ne 0 ]; then
    chmod 000 "$tmp/secret.pcap"
    expect "unreadable file named, exit 1" 1 "$tmp/secret.pcap: Permission denied" -- -q -r "$tmp/secret.pcap"
elif command -v runuser >/dev/null 2>&1; then
    # the tree may sit where nobody cannot read (a clone under /root): a copy of the binary
    # and the rules in $tmp, which nobody can reach
    cp "$TW" "$tmp/tw" && cp -r rules "$tmp/rules" && chmod -R a+rX "$tmp/tw" "$tmp/rules"
    runuser -u nobody -- "$tmp/tw" -q -R "$tmp/rules" -r "$tmp/secret.pcap" >"$tmp/out" 2>"$tmp/err"
    st=$?
    if [ $st -eq 1 ] && grep -q "$tmp/secret.pcap: Permission denied" "$tmp/err"; then
        ok "unreadable file named, exit 1"
    else
        bad "unreadable file: exit $st"
    fi
else
    skip_check "unreadable file: runuser is not installed"
fi

# ---- pcapng with interfaces of different link types (mergecap writes one IDB per input)
mergecap -F pcapng -w "$tmp/mixed.pcapng" pcaps/linktypes/ether.pcap pcaps/linktypes/null.pcap \
    pcaps/linktypes/raw.pcap pcaps/linktypes/sll.pcap pcaps/linktypes/sll2.pcap 2>"$tmp/err" ||
    fail_early "mergecap failed"
types=$(capinfos -M "$tmp/mixed.pcapng" 2>/dev/null | grep -c 'Encapsulation = ')
tshark -n -r "$tmp/mixed.pcapng" -o tcp.desegment_tcp_streams:TRUE -o tls.desegment_ssl_records:TRUE \
    -o tcp.reassemble_out_of_order:TRUE \
    -Y 'dns.flags.response==0 || tls.handshake.type==1 || http.request' -T fields -E header=y \
    -e frame.number -e ip.src -e ipv6.src -e tcp.srcport -e udp.srcport \
    -e dns.qry.name -e dns.qry.type -e tls.handshake.extensions_server_name -e http.host -e http.request.uri \
    >"$tmp/mixed.names.tsv" 2>/dev/null
"$TW" -q --events -r "$tmp/mixed.pcapng" >"$tmp/mixed.json" 2>"$tmp/err"
st=$?
rows=$(($(wc -l <"$tmp/mixed.names.tsv") - 1))
if [ $st -eq 0 ] && [ "$types" -eq 5 ] && [ "$rows" -ge 10 ] &&
    python3 tests/e2e_check.py "$tmp/mixed.json" "$tmp/mixed.names.tsv" >"$tmp/err" 2>&1; then
    ok "pcapng with 5 link types: the names equal tshark's ($rows rows)"
else
    bad "mixed link types (exit $st, $types link types, $rows tshark rows)"
fi
# The same as the five files read one by one (merged by time).
"$TW" -q --events -r 'pcaps/linktypes/*.pcap' >"$tmp/five.json" 2>"$tmp/err"
if strip "$tmp/five.json" | cmp -s - "$(strip "$tmp/mixed.json" >"$tmp/m"; echo "$tmp/m")"; then
    ok "the mixed pcapng gives the lines of its five source files"
else
    bad "mixed pcapng differs from its five files"
fi
# A stream read once: the mixed pcapng through standard input and through a FIFO (read by the
# pcapng reader, not refused for not seeking), and a classic pcap through a FIFO next to a file.
"$TW" -q --events -r - <"$tmp/mixed.pcapng" >"$tmp/stdin.json" 2>"$tmp/err"
st=$?
if [ $st -eq 0 ] && strip "$tmp/stdin.json" | cmp -s - "$tmp/m"; then
    ok "the mixed pcapng through standard input"
else
    bad "mixed pcapng through standard input (exit $st)"
fi
# With workers, a stream has a reader in front of them (a file is read by each worker): the
# same events (flow ids aside) as one thread.
"$TW" -q --events --workers 2 -r - <"$tmp/mixed.pcapng" >"$tmp/stdin2.json" 2>"$tmp/err"
st=$?
if [ $st -eq 0 ] && python3 tests/same_set.py "$tmp/stdin.json" "$tmp/stdin2.json"; then
    ok "the mixed pcapng through standard input, 2 workers"
else
    bad "mixed pcapng through standard input with 2 workers (exit $st)"
fi
mkfifo "$tmp/fifo"
cat "$tmp/mixed.pcapng" >"$tmp/fifo" &
"$TW" -q --events -r "$tmp/fifo" >"$tmp/fifo.json" 2>"$tmp/err"
st=$?
wait
if [ $st -eq 0 ] && strip "$tmp/fifo.json" | cmp -s - "$tmp/m"; then
    ok "the mixed pcapng through a FIFO"
else
    bad "mixed pcapng through a FIFO (exit $st)"
fi
"$TW" -q --events -r pcaps/resolve_connect.pcap >"$tmp/rc.json" 2>/dev/null
cat pcaps/resolve_connect.pcap >"$tmp/fifo" &
"$TW" -q --events -r "$tmp/fifo" >"$tmp/fifo.json" 2>"$tmp/err"
st=$?
wait
if [ $st -eq 0 ] && strip "$tmp/fifo.json" | cmp -s - "$(strip "$tmp/rc.json" >"$tmp/rc"; echo "$tmp/rc")"; then
    ok "a classic pcap through a FIFO"
else
    bad "classic pcap through a FIFO (exit $st)"
fi
# A stream that goes quiet (tcpdump -w - | tunwatch -r - on a calm network): its writer keeps
# it open after the first 20 packets. What they give is written at once, not when more comes;
# stats lines go on; SIGTERM stops the run at once with its summary; the same lines as the 20
# packets read from a file. One thread, and a reader in front of 2 workers.
editcap -F pcap -r pcaps/resolve_connect.pcap "$tmp/first20.pcap" 1-20 2>/dev/null
"$TW" -q -r "$tmp/first20.pcap" -o "$tmp/first20.json" 2>/dev/null
n20=$(wc -l <"$tmp/first20.json")
# quiet_fifo FILE: the FIFO $tmp/quiet, whose writer ($writer) sends FILE and then keeps it
# open without a word; quiet_end: the writer goes.
quiet_fifo() {
    rm -f "$tmp/quiet"
    mkfifo "$tmp/quiet"
    { cat "$1"; sleep 60; } >"$tmp/quiet" &
    writer=$!
}
quiet_end() {
    kill $writer 2>/dev/null
    pkill -P $writer 2>/dev/null
    wait $writer 2>/dev/null
}
# term_twpid: SIGTERM to $twpid; $st is its exit status, or 137 when it was still running 3 s
# later (then killed).
term_twpid() {
    kill -TERM $twpid
    if wait_for 3 stopped; then
        wait $twpid
        st=$?
    else
        kill -KILL $twpid
        wait $twpid 2>/dev/null
        st=137
    fi
}
stopped() { ! kill -0 $twpid; }
for w in 1 2; do
    quiet_fifo "$tmp/first20.pcap"
    "$TW" -q -r "$tmp/quiet" --workers $w --stats-interval 1 -o "$tmp/quiet.json" \
        2>"$tmp/err" &
    twpid=$!
    seen() { [ "$(wc -l <"$tmp/quiet.json")" -eq "$n20" ]; }
    stats2() { [ "$(grep -c '^{"type":"stats".*"packets":20,' "$tmp/err")" -ge 2 ]; }
    if [ "$n20" -gt 0 ] && wait_for 5 seen && wait_for 5 stats2; then
        term_twpid
        if [ $st -eq 0 ] && grep -q '^tunwatch: 20 packets' "$tmp/err" &&
            cmp -s "$(strip "$tmp/quiet.json" >"$tmp/q"; echo "$tmp/q")" \
                "$(strip "$tmp/first20.json" >"$tmp/f"; echo "$tmp/f")"; then
            ok "a stream gone quiet, --workers $w: its $n20 alerts out at once, stats go on, SIGTERM stops it"
        else
            bad "a stream gone quiet, --workers $w: exit $st after SIGTERM (137: still running 3 s later)"
        fi
    else
        kill -KILL $twpid 2>/dev/null
        wait $twpid 2>/dev/null
        bad "a stream gone quiet, --workers $w: $(wc -l <"$tmp/quiet.json") of $n20 alerts, $(grep -c '"type":"stats"' "$tmp/err") stats lines"
    fi
    quiet_end
done
# Stopped before the stream's first packet (its writer sent the file header only): SIGTERM
# ends the run at once, status 0.
head -c 24 "$tmp/first20.pcap" >"$tmp/header.pcap"
quiet_fifo "$tmp/header.pcap"
"$TW" -q -r "$tmp/quiet" -o "$tmp/quiet.json" 2>"$tmp/err" &
twpid=$!
sleep 0.5
term_twpid
[ $st -eq 0 ] && ok "a stream stopped before its first packet: SIGTERM ends the run, status 0" ||
    bad "a stream stopped before its first packet: exit $st after SIGTERM (137: still running 3 s later)"
quiet_end
# Cut short inside a block: the packets before are read, the file is named, exit 1.
size=$(wc -c <"$tmp/mixed.pcapng")
head -c $((size - 37)) "$tmp/mixed.pcapng" >"$tmp/cut.pcapng"
"$TW" -q --events -r "$tmp/cut.pcapng" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 1 ] && grep -q "$tmp/cut.pcapng: pcapng block at offset [0-9]*: file cut inside the block" "$tmp/err" &&
    [ "$(wc -l <"$tmp/out")" -ge 15 ] && grep -q "files: 0 read, 1 failed while read" "$tmp/err"; then
    ok "a file cut short: named with the block's offset, its packets before read, exit 1"
else
    bad "cut file: exit $st, $(wc -l <"$tmp/out") lines"
fi

# ---- --append
"$TW" -q -r pcaps/tunnels.pcapng -o "$tmp/app.json" 2>/dev/null
n1=$(wc -l <"$tmp/app.json")
"$TW" -q -r pcaps/tunnels.pcapng -o "$tmp/app.json" --append 2>/dev/null
n2=$(wc -l <"$tmp/app.json")
"$TW" -q -r pcaps/tunnels.pcapng -o "$tmp/app.json" 2>/dev/null
n3=$(wc -l <"$tmp/app.json")
if [ "$n1" -gt 0 ] && [ "$n2" -eq $((2 * n1)) ] && [ "$n3" -eq "$n1" ]; then
    ok "--append adds to the output ($n1 + $n1 lines); without it the file is replaced"
else
    bad "--append: $n1, $n2, $n3 lines"
fi

# ---- --report over every capture at once, against an independent computation
for w in 1 2; do
    "$TW" -q -r 'pcaps/*.pcap*' -r pcaps/linktypes --workers $w -o "$tmp/al$w.json" \
        --report "$tmp/rep$w.json" --report-format json 2>"$tmp/err"
    if python3 tests/report_check.py "$tmp/al$w.json" "$tmp/rep$w.json" >"$tmp/err" 2>&1; then
        ok "--report --workers $w: $(tail -1 "$tmp/err")"
    else
        bad "--report --workers $w"
    fi
done
cmp -s "$tmp/rep1.json" "$tmp/rep2.json" && ok "--report is the same with 2 workers" || bad "--report differs with 2 workers"

# ---- every frame counted once whatever the workers: a replay's workers each read every file
# and count the frames of their own flows (the last one those whose flow only decoding tells)
for w in 1 2 3; do
    "$TW" -q -r 'pcaps/*.pcap*' -r pcaps/linktypes --workers $w -o /dev/null 2>"$tmp/sum$w"
    # the decode counters (up to the bypassed packets, which depend on each worker's flows)
    # and the names
    sed -n -e 's/^  decode: \(.*\); bypassed.*/\1/p' -e 's/^  names: //p' "$tmp/sum$w" >"$tmp/cnt$w"
done
if [ "$(wc -l <"$tmp/cnt1")" -eq 2 ] && cmp -s "$tmp/cnt1" "$tmp/cnt2" && cmp -s "$tmp/cnt1" "$tmp/cnt3"; then
    ok "--workers 2 and 3 count the same frames, decodings and names as one: $(head -c 60 "$tmp/cnt1")..."
else
    cp "$tmp/cnt2" "$tmp/err"
    bad "--workers 2 or 3 count other frames than one"
fi
"$TW" -q -r 'pcaps/*.pcap*' --report >/dev/null 2>"$tmp/err"
if grep -q "^SOURCE  *SERVICE  *FIRST SEEN  *LAST SEEN  *COUNT  NAMES" "$tmp/err" &&
    grep -q "^10.20.0.2  *DNS Query For LocaltoNet Tunnel Domain .*a1b2c3.localto.net" "$tmp/err"; then
    ok "--report as text on stderr"
else
    bad "--report text"
fi
expect "bad --report-format" 1 "'xml' is not text or json" -- -q -r pcaps/tunnels.pcapng --report-format xml

tally
