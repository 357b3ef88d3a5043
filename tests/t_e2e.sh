#!/bin/sh
# End-to-end: tunwatch over every capture in pcaps/ (made by real clients, see pcaps/README.md)
# with the bundled rules. Checks that every line is valid JSON, that the names with their source
# address and port equal the ones tshark decodes (pcaps/*.names.tsv, and *.names.extra.tsv for
# names tshark cannot decode, each with its reason), that every DNS response is a dns event with
# the answers tshark decodes (tests/dns_answer_check.py), and that the output equals the golden
# file in tests/golden/, and that --workers 3 gives the same lines (flow ids aside). Runs are
# named --sensor-name e2e; the run id (random per run) reads RUN_ID in the golden files.
# TW_UPDATE_GOLDEN=1 rewrites the golden files (review the diff!). Without tshark the
# Community ID check cannot run and the suite is reported as skipped (a failure in CI).
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
SUITE=e2e
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
skipped=0
command -v tshark >/dev/null 2>&1 || skip_check "community_id against tshark: tshark is not installed"
captures=0
for f in pcaps/*.pcap pcaps/*.pcapng pcaps/linktypes/*.pcap; do
    [ -f "$f" ] || continue
    captures=$((captures + 1))
    name=$(echo "$f" | sed 's|^pcaps/||; s|/|__|g')
    out="$tmp/$name.ndjson"
    ok=1
    if ! "$TW" -q -r "$f" -R rules --events --sensor-name e2e -o "$out" 2>"$tmp/$name.err"; then
        echo "FAIL $f: tunwatch exited non-zero"; cat "$tmp/$name.err"; ok=0
    elif ! python3 tests/e2e_check.py "$out" "$f.names.tsv" $([ -f "$f.names.extra.tsv" ] && echo "$f.names.extra.tsv"); then
        echo "FAIL $f: names differ from tshark's"; ok=0
    fi
    golden="tests/golden/$name.ndjson"
    sed 's/"run_id":"[0-9a-f-]\{36\}"/"run_id":"RUN_ID"/' "$out" >"$out.golden"
    if [ "${TW_UPDATE_GOLDEN:-0}" = 1 ]; then
        mkdir -p tests/golden && cp "$out.golden" "$golden"
    elif ! diff -u "$golden" "$out.golden" >"$tmp/$name.diff" 2>&1; then
        echo "FAIL $f: output differs from $golden"; head -40 "$tmp/$name.diff"; ok=0
    fi
    # Every Community ID we write is one tshark computes for the same capture.
    if command -v tshark >/dev/null 2>&1; then
        tshark -n -r "$f" --enable-protocol communityid -T fields -e communityid 2>/dev/null |
            sort -u >"$tmp/$name.cid"
        if ! python3 -c 'import json,sys
want = set(open(sys.argv[2]).read().split())
got = {json.loads(l)["community_id"] for l in open(sys.argv[1])}
bad = got - want
print("  community_id not computed by tshark:", sorted(bad)) if bad else None
sys.exit(1 if bad or not got else 0)' "$out" "$tmp/$name.cid"; then
            echo "FAIL $f: community_id differs from tshark's"; ok=0
        fi
        # Every DNS response is a dns event whose answers are the ones tshark decodes.
        if ! python3 tests/dns_answer_check.py "$out" "$f"; then
            echo "FAIL $f: dns events differ from tshark's decode of the responses"; ok=0
        fi
    fi
    # The capture made for DNS-answer correlation: every connection named (or not) as
    # pcaps/README.md says, checked apart from the golden file.
    if [ "$name" = resolve_connect.pcap ] && ! python3 tests/answer_check.py "$out"; then
        echo "FAIL $f: DNS-answer correlation differs from pcaps/README.md"; ok=0
    fi
    # The bundled rules fire on QUIC SNI and HTTP Host names (cloudflared's among them).
    case $name in
    quic.pcap | http.pcap)
        if ! python3 tests/alert_check.py "$out" "$name"; then
            echo "FAIL $f: bundled rules on QUIC/HTTP names"; ok=0
        fi ;;
    esac
    # Parallel workers must give the same alerts and events (flow ids aside) as one thread,
    # DNS answer correlation included.
    for w in 2 3; do
        if ! "$TW" -q -r "$f" -R rules --events --workers $w --sensor-name e2e -o "$out.w$w" \
            2>"$tmp/$name.err$w"; then
            echo "FAIL $f: tunwatch --workers $w exited non-zero"; cat "$tmp/$name.err$w"; ok=0
        elif ! python3 tests/same_set.py "$out" "$out.w$w"; then
            echo "FAIL $f: --workers $w output differs from the single-thread output"; ok=0
        fi
    done
    if [ $ok = 1 ]; then pass=$((pass + 1)); echo "ok   $f"; else fail=$((fail + 1)); fi
done
[ "$captures" -gt 0 ] || { fail=$((fail + 1)); echo "FAIL no capture in pcaps/"; }

# The crafted evasion captures (pcaps/tools/craft.py, pcaps/README.md): the generator remakes
# them byte for byte from the real captures, with tshark's names (so tshark here decodes the
# same names); tunwatch's summary shows the counters each case must raise, with one thread
# and with --workers 2 (reassembly happens in the reader, before the flow hash); and the
# cases fail as they should with the defence turned off.
expect() {
    case "$1" in
    frag_ipv4.pcap) echo "28 fragments (ipv4 24, ipv6 4), 7 datagrams reassembled" ;;
    frag_overlap.pcap) echo "defrag_overlap 3 defrag_overlap_conflict 1" ;;
    frag_ipv6_vlan.pcap) echo "52 fragments (ipv4 17, ipv6 35), 12 datagrams reassembled" ;;
    frag_flood.pcap) echo "defrag_timeout 1024 defrag_evicted 76" ;;
    tls_decoy.pcap) echo "ip4_bad_checksum 1 tcp_bad_checksum 1 udp_bad_checksum 1" ;;
    offload.pcap) echo "checksum_validation: off (offload detected)" ;;
    midstream_split.pcap) echo "24 mid-stream (24 picked up from their first bytes; 0 sides past" ;;
    tcp_overlap.pcap) echo "overlap_conflict 3 hello_later 2" ;;
    esac
}
crafted="frag_ipv4.pcap frag_overlap.pcap frag_ipv6_vlan.pcap frag_flood.pcap tls_decoy.pcap offload.pcap"
crafted="$crafted midstream_split.pcap tcp_overlap.pcap"
if ! command -v tshark >/dev/null 2>&1; then
    skip_check "crafted captures against tshark: tshark is not installed"
elif ! python3 pcaps/tools/craft.py pcaps "$tmp" >"$tmp/craft.log" 2>&1; then
    echo "FAIL pcaps/tools/craft.py"; cat "$tmp/craft.log"; fail=$((fail + 1))
else
    ok=1
    # and the two checked with options of their own further down
    for c in $crafted flow_flood.pcap buffer_flood.pcap; do
        for x in "$c" "$c.names.tsv" "$c.names.extra.tsv"; do
            [ -f "pcaps/$x" ] || [ -f "$tmp/$x" ] || continue
            cmp -s "$tmp/$x" "pcaps/$x" || { echo "FAIL pcaps/$x differs from what craft.py makes"; ok=0; }
        done
    done
    if [ $ok = 1 ]; then pass=$((pass + 1)); echo "ok   craft.py remakes the crafted captures"; else fail=$((fail + 1)); fi
fi
for c in $crafted; do
    ok=1
    want=$(expect "$c")
    for w in 1 2; do
        "$TW" -q -r "pcaps/$c" -R rules --events --workers $w -o "$tmp/$c.ev$w" 2>"$tmp/$c.sum$w" ||
            { echo "FAIL $c --workers $w: tunwatch exited non-zero"; ok=0; }
        grep -qF "$want" "$tmp/$c.sum$w" || { echo "FAIL $c --workers $w: summary lacks '$want'"; cat "$tmp/$c.sum$w"; ok=0; }
        python3 tests/e2e_check.py "$tmp/$c.ev$w" "pcaps/$c.names.tsv" \
            $([ -f "pcaps/$c.names.extra.tsv" ] && echo "pcaps/$c.names.extra.tsv") >/dev/null ||
            { echo "FAIL $c --workers $w: names differ from tshark's"; ok=0; }
    done
    if [ $ok = 1 ]; then pass=$((pass + 1)); echo "ok   $c: $want"; else fail=$((fail + 1)); fi
done
# An answer that comes after the connection it would name: pcaps/resolve_connect.pcap with its
# first DNS exchange (x7k2.localto.net) moved 0.1 s later, after the connection to
# 10.20.0.11:5000 has ended (tshark, editcap and mergecap cut, move and merge the real
# frames). One thread reads the capture in order and leaves that connection unnamed. Several
# workers must too: worker 0 learns every answer, the others look them up, each at its own
# pace, and worker 0 is ahead (the whole capture is one of its bursts). Their output must
# equal one thread's (flow ids aside).
if ! command -v editcap >/dev/null 2>&1 || ! command -v mergecap >/dev/null 2>&1; then
    skip_check "answer after the connection: editcap or mergecap is not installed"
elif ! tshark -r pcaps/resolve_connect.pcap -Y 'dns.qry.name == "x7k2.localto.net"' -F pcap \
        -w "$tmp/late_dns.pcap" 2>"$tmp/late.err" ||
    ! tshark -r pcaps/resolve_connect.pcap -Y '!(dns.qry.name == "x7k2.localto.net")' -F pcap \
        -w "$tmp/late_rest.pcap" 2>>"$tmp/late.err" ||
    ! editcap -t 0.1 "$tmp/late_dns.pcap" "$tmp/late_dns2.pcap" 2>>"$tmp/late.err" ||
    ! mergecap -F pcap -w "$tmp/late.pcap" "$tmp/late_rest.pcap" "$tmp/late_dns2.pcap" \
        2>>"$tmp/late.err"; then
    fail=$((fail + 1)); echo "FAIL answer after the connection: tshark, editcap or mergecap failed"
    cat "$tmp/late.err"
else
    ok=1
    for w in 1 2 3; do
        "$TW" -q -r "$tmp/late.pcap" -R rules --events --workers $w -o "$tmp/late.ev$w" \
            2>"$tmp/late.sum$w" || { echo "FAIL late.pcap --workers $w: exit non-zero"; ok=0; }
        # the response is read (a dns event), but names no connection made before it
        grep -q '"evidence":"dns_response".*"name":"x7k2.localto.net"' "$tmp/late.ev$w" ||
            { echo "FAIL late.pcap --workers $w: the moved response was not read"; ok=0; }
        if grep '"category":"network_connection"' "$tmp/late.ev$w" |
            grep -q '"dns_answer":{[^}]*"name":"x7k2.localto.net"'; then
            echo "FAIL late.pcap --workers $w: a connection named from a later answer"; ok=0
        fi
        [ $w = 1 ] || python3 tests/same_set.py "$tmp/late.ev1" "$tmp/late.ev$w" ||
            { echo "FAIL late.pcap: --workers $w output differs from the single-thread output"; ok=0; }
    done
    if [ $ok = 1 ]; then
        pass=$((pass + 1)); echo "ok   an answer after the connection names it with 1, 2 or 3 workers"
    else
        fail=$((fail + 1))
    fi
fi
# Without the defences the decoys and the offloaded capture go wrong: the checks above can fail.
"$TW" -q -r pcaps/tls_decoy.pcap -R rules --events --checksums off -o "$tmp/decoy.off" 2>/dev/null
if grep -q '"name":"www.wikipedia.org.test"' "$tmp/decoy.off" &&
    ! python3 tests/e2e_check.py "$tmp/decoy.off" pcaps/tls_decoy.pcap.names.tsv >/dev/null; then
    pass=$((pass + 1)); echo "ok   tls_decoy.pcap with --checksums off reports the decoys"
else
    fail=$((fail + 1)); echo "FAIL tls_decoy.pcap with --checksums off: the decoys are not reported"
fi
# Without mid-stream buffers the names whose first bytes came in a short or late segment are
# lost (the in-order DNS queries are still read: port 53 tells their client).
"$TW" -q -r pcaps/midstream_split.pcap -R rules --events --midstream-buffers 0 -o "$tmp/mid.off" 2>/dev/null
got=$(grep -c '"type":"event".*"evidence":"\(tls_sni\|http_host\|dns_query\)"' "$tmp/mid.off")
if [ "$got" = 4 ]; then
    pass=$((pass + 1)); echo "ok   midstream_split.pcap with --midstream-buffers 0: 4 names of 24"
else
    fail=$((fail + 1)); echo "FAIL midstream_split.pcap with --midstream-buffers 0: $got names, want 4"
fi
"$TW" -q -r pcaps/offload.pcap -R rules --events --checksums on -o "$tmp/offload.on" 2>"$tmp/offload.on.err"
# 104 TCP segments: the 40 pure ACKs are never read (nor validated), the other 64 dropped
if [ ! -s "$tmp/offload.on" ] && grep -q "tcp_bad_checksum 64 udp_bad_checksum 16" "$tmp/offload.on.err"; then
    pass=$((pass + 1)); echo "ok   offload.pcap with --checksums on drops every segment it reads"
else
    fail=$((fail + 1)); echo "FAIL offload.pcap with --checksums on"; cat "$tmp/offload.on.err"
fi
# Eviction: 5000 new flows between the two halves of a hello, in a table of 4096: the flow
# holding half a hello is evicted last, so the flood pushes out others and the name is read.
"$TW" -q -r pcaps/flow_flood.pcap -R rules --events --flows 4096 -o "$tmp/flood.out" 2>"$tmp/flood.err"
if python3 tests/e2e_check.py "$tmp/flood.out" pcaps/flow_flood.pcap.names.tsv >/dev/null &&
    grep -q "905 evicted (0 holding part of a name)" "$tmp/flood.err"; then
    pass=$((pass + 1)); echo "ok   flow_flood.pcap with --flows 4096: the half-read hello survives the flood"
else
    fail=$((fail + 1)); echo "FAIL flow_flood.pcap with --flows 4096"; cat "$tmp/flood.err"
fi
# Pools full of stalled flows (80 half hellos, 80 mid-stream first bytes, 80 first QUIC
# Initials), the real flows 20 s later, pools of 64: each real one takes back the buffer or
# state idle longest (--reclaim-idle, default 10 s) and is read; with --reclaim-idle 0 it is
# refused and all three names are lost.
bf="--stream-buffers 64 --midstream-buffers 64 --quic-states 64"
# shellcheck disable=SC2086
"$TW" -q -r pcaps/buffer_flood.pcap -R rules --events $bf -o "$tmp/bf.out" 2>"$tmp/bf.err"
if python3 tests/e2e_check.py "$tmp/bf.out" pcaps/buffer_flood.pcap.names.tsv \
    pcaps/buffer_flood.pcap.names.extra.tsv >/dev/null &&
    grep -q "stream_no_buffer 16 stream_reclaimed 1 midstream_no_buffer 16 midstream_reclaimed 1 quic_no_state 16 quic_reclaimed 1" "$tmp/bf.err"; then
    pass=$((pass + 1)); echo "ok   buffer_flood.pcap with pools of 64: stalled holders give way, 3 names of 3"
else
    fail=$((fail + 1)); echo "FAIL buffer_flood.pcap with pools of 64"; cat "$tmp/bf.err"
fi
# shellcheck disable=SC2086
"$TW" -q -r pcaps/buffer_flood.pcap -R rules --events $bf --reclaim-idle 0 -o "$tmp/bf.off" 2>"$tmp/bf.off.err"
if ! grep -q '"evidence":"\(tls_sni\|quic_sni\)"' "$tmp/bf.off" &&
    grep -q "stream_no_buffer 17 midstream_no_buffer 20 quic_no_state 17" "$tmp/bf.off.err"; then
    pass=$((pass + 1)); echo "ok   buffer_flood.pcap with --reclaim-idle 0: refused, 0 names of 3"
else
    fail=$((fail + 1)); echo "FAIL buffer_flood.pcap with --reclaim-idle 0"; cat "$tmp/bf.off.err"
fi
# Compression pointers a resolver follows though RFC 9267 asks encoders not to write them
# (pcaps/dns_pointers.pcap, pcaps/README.md): every query name dnsmasq answered is reported,
# flagged, with one thread and with --workers 2; the connection to the address glibc got
# through a CNAME whose target points forward (no SNI) is named from that answer.
ok=1
for w in 1 2; do
    "$TW" -q -r pcaps/dns_pointers.pcap -R rules --events --workers $w -o "$tmp/ptr.ev$w" \
        2>"$tmp/ptr.sum$w" || { echo "FAIL dns_pointers.pcap --workers $w: exit non-zero"; ok=0; }
    grep -q "dns_forward_pointer 7 dns_header_pointer 2" "$tmp/ptr.sum$w" ||
        { echo "FAIL dns_pointers.pcap --workers $w: pointer counters"; cat "$tmp/ptr.sum$w"; ok=0; }
    for n in fwd-after fwd-label chain200 hdr-ptr; do
        grep -q "\"type\":\"alert\".*\"name\":\"$n.localto.net\".*\"dns_oddities\":\[\"forward_pointer\"" \
            "$tmp/ptr.ev$w" || { echo "FAIL dns_pointers.pcap --workers $w: no flagged alert on $n"; ok=0; }
    done
    grep '"category":"network_connection"' "$tmp/ptr.ev$w" | grep '"type":"alert"' |
        grep -q '"evidence":"dns_answer".*"dns_answer":{"name":"cdn-fwd.localto.net","cname_chain":"edge.localto.net"}' ||
        { echo "FAIL dns_pointers.pcap --workers $w: the connection is not named from the answer"; ok=0; }
done
[ "$(cut -f3 pcaps/dns_pointers.servers.tsv | grep -c '^answered$')" = 6 ] ||
    { echo "FAIL pcaps/dns_pointers.servers.tsv: dnsmasq should have answered 5 queries, glibc 1"; ok=0; }
if [ $ok = 1 ]; then
    pass=$((pass + 1)); echo "ok   dns_pointers.pcap: every name a resolver read is reported and flagged"
else
    fail=$((fail + 1))
fi
# server_names sent as host:port (pcaps/sni_port.pcap, openssl s_client to s_server): each is
# reported as sent and flagged, and the bundled rules fire on its host (a trailing dot before
# the port dropped too), with one thread and with --workers 2.
ok=1
for w in 1 2; do
    "$TW" -q -r pcaps/sni_port.pcap -R rules --workers $w -o "$tmp/sniport.al$w" \
        2>"$tmp/sniport.sum$w" || { echo "FAIL sni_port.pcap --workers $w: exit non-zero"; ok=0; }
    grep -q "tls_sni_port 3" "$tmp/sniport.sum$w" ||
        { echo "FAIL sni_port.pcap --workers $w: tls_sni_port"; cat "$tmp/sniport.sum$w"; ok=0; }
    for n in port1.localto.net:443 port2.ngrok-free.app:8443 port3.trycloudflare.com.:4443; do
        h=${n%:*}; h=${h%.}
        grep -q "\"type\":\"alert\".*\"name\":\"$n\",\"name_normalized\":\"$h\".*\"flags\":\[\"sni_port\"\]" \
            "$tmp/sniport.al$w" || { echo "FAIL sni_port.pcap --workers $w: no alert on $n as $h"; ok=0; }
    done
done
if [ $ok = 1 ]; then
    pass=$((pass + 1)); echo "ok   sni_port.pcap: a host:port server_name is matched as its host"
else
    fail=$((fail + 1))
fi
# DNS responses become dns events only while something reads them: a rule of category dns
# or an output of every event. With --workers 2 the rules are in place before the first frame
# (no events held while they load), so the counts are exact. The answers are learnt either
# way (dns_answers.pcap's HTTPS records name nothing, its A records do).
mkdir -p "$tmp/dnsrule"
cat >"$tmp/dnsrule/https_h2.yml" <<'RULE'
title: HTTPS answer offering h2 (a rule that reads DNS responses)
id: 5c3f4a7e-1d2b-4c8e-9f00-0000000d1150
status: test
logsource:
    category: dns
detection:
    selection:
        answers|contains: 'alpn=h2'
    condition: selection
level: high
RULE
"$TW" -r pcaps/dns_answers.pcap -R rules --workers 2 -o "$tmp/dnsev.none" 2>"$tmp/dnsev.none.err"
"$TW" -r pcaps/dns_answers.pcap -R rules -R "$tmp/dnsrule" --workers 2 -o "$tmp/dnsev.rule" \
    2>"$tmp/dnsev.rule.err"
"$TW" -r pcaps/dns_answers.pcap -R rules --events --workers 2 -o "$tmp/dnsev.all" \
    2>"$tmp/dnsev.all.err"
if grep -q "dns responses: 0 dns events (0 with ech.*), 13 not made into events" \
        "$tmp/dnsev.none.err" &&
    grep -q "dns responses: 13 dns events (2 with ech.*), 0 not made" "$tmp/dnsev.rule.err" &&
    [ "$(grep -c '"id":"5c3f4a7e-1d2b-4c8e-9f00-0000000d1150"' "$tmp/dnsev.rule")" -eq 4 ] &&
    [ "$(grep -c '"evidence":"dns_response"' "$tmp/dnsev.all")" -eq 13 ] &&
    grep -q "dns answer cache: .* [1-9][0-9]* learnt" "$tmp/dnsev.none.err"; then
    pass=$((pass + 1)); echo "ok   dns events made only while a dns rule or --events reads them"
else
    fail=$((fail + 1)); echo "FAIL dns events made only while a dns rule or --events reads them"
    grep -h "dns responses\|answer cache" "$tmp"/dnsev.*.err
fi
# A reload that brings the first rule of category dns: the responses after it become dns
# events (the rule's alerts), those before it did not. The capture comes through a FIFO whose
# writer pauses after frame 5 (1 of the 13 responses, 1 of the 4 the rule fires on): SIGHUP
# then, the rest after the reload.
editcap -F pcap -r pcaps/dns_answers.pcap "$tmp/da1.pcap" 1-5 2>/dev/null
"$TW" -q -r "$tmp/da1.pcap" -R rules -R "$tmp/dnsrule" -o "$tmp/da1.json" 2>/dev/null
n_before=$(grep -c '"id":"5c3f4a7e-1d2b-4c8e-9f00-0000000d1150"' "$tmp/da1.json")
n_all=$(grep -c '"id":"5c3f4a7e-1d2b-4c8e-9f00-0000000d1150"' "$tmp/dnsev.rule")
size1=$(wc -c <"$tmp/da1.pcap")
editcap -F pcap -r pcaps/dns_answers.pcap "$tmp/da0.pcap" 1 2>/dev/null
size0=$(wc -c <"$tmp/da0.pcap") # the first frame (not DNS): the run starts with it
for w in 1 2; do
    rm -rf "$tmp/rr" "$tmp/da.fifo"
    mkdir "$tmp/rr"
    cp rules/*.yml "$tmp/rr/"
    mkfifo "$tmp/da.fifo"
    "$TW" -r "$tmp/da.fifo" -R "$tmp/rr" --workers $w --stats-interval 1 -o "$tmp/da.json" \
        2>"$tmp/da.err" &
    twpid=$!
    exec 3>"$tmp/da.fifo"
    # The rules in force before the first response (they load while the capture is read: a
    # response read before would be made into an event, and matched once they are).
    head -c "$size0" pcaps/dns_answers.pcap >&3
    loaded() { grep -q '^{"type":"stats".*"rules_loaded":' "$tmp/da.err"; }
    ok_loaded=false
    wait_for 5 loaded && ok_loaded=true
    tail -c +$((size0 + 1)) pcaps/dns_answers.pcap | head -c $((size1 - size0)) >&3
    part1() { grep -q '^{"type":"stats".*"packets":5,' "$tmp/da.err"; }
    reloaded() { grep -q 'rules reloaded' "$tmp/da.err"; }
    ok_before=false
    if $ok_loaded && wait_for 5 part1; then
        ok_before=true
        cp "$tmp/dnsrule/https_h2.yml" "$tmp/rr/"
        kill -HUP $twpid
        wait_for 5 reloaded || ok_before=false
    fi
    tail -c +$((size1 + 1)) pcaps/dns_answers.pcap >&3
    exec 3>&-
    wait $twpid
    st=$?
    n=$(grep -c '"id":"5c3f4a7e-1d2b-4c8e-9f00-0000000d1150"' "$tmp/da.json")
    if $ok_before && [ $st -eq 0 ] && [ "$n_all" -gt "$n_before" ] && [ "$n" -eq $((n_all - n_before)) ] &&
        grep -q "dns responses: 12 dns events (.*), 1 not made into events" "$tmp/da.err"; then
        pass=$((pass + 1))
        echo "ok   --workers $w: a reload bringing a dns rule makes dns events of the responses after it ($n alerts of $n_all)"
    else
        fail=$((fail + 1))
        echo "FAIL --workers $w: reload bringing a dns rule: exit $st, $n alerts, want $n_all - $n_before (paused: $ok_before)"
        grep -h "dns responses\|reload" "$tmp/da.err"
    fi
done
tally
