#!/bin/sh
# Command-line behaviour on bad input and failing output: clear messages, the right exit
# status, nothing lost silently. The checks that build captures need mergecap and editcap
# (wireshark's tools); without them they are skipped (tests/lib.sh), a failure in CI.
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
SUITE=cli
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; sed 's/^/     /' "$tmp/err" | head -5; }
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

expect "no input" 1 "nothing to read" --
expect "missing capture" 1 "/nonexistent.pcap: No such file" -- -r /nonexistent.pcap
expect "bad --home-net" 1 "bad network '10.0.0.1/8'" -- -r pcaps/tunnels.pcapng --home-net 10.0.0.1/8
expect "bad --flows" 1 "--flows" -- -r pcaps/tunnels.pcapng --flows 0
expect "full disk" 2 "writing /dev/full: No space left on device" -- -q -r pcaps/tunnels.pcapng -o /dev/full
expect "bad --local-processes" 1 "'maybe' is not on, off or auto" -- -r pcaps/tunnels.pcapng --local-processes maybe
expect "bad --checksums" 1 "'maybe' is not auto, on or off" -- -r pcaps/tunnels.pcapng --checksums maybe
expect "bad --file-read" 1 "'maybe' is not auto, map or read" -- -r pcaps/tunnels.pcapng --file-read maybe

# Every bundled capture mapped (--file-read map: parsed in place in the mapping) and read with
# read(2): the same events, with one worker and two (run ids aside; two workers write theirs
# in the order they come to them, so the lines are compared sorted).
same=0
differ=""
for f in pcaps/*.pcap pcaps/*.pcapng; do
    for w in 1 2; do
        "$TW" -r "$f" -R rules --events -o - --workers $w --file-read map 2>/dev/null |
            sed 's/"run_id":"[^"]*"//' | sort >"$tmp/map.ev"
        "$TW" -r "$f" -R rules --events -o - --workers $w --file-read read 2>/dev/null |
            sed 's/"run_id":"[^"]*"//' | sort >"$tmp/read.ev"
        if [ -s "$tmp/map.ev" ] && cmp -s "$tmp/map.ev" "$tmp/read.ev"; then
            same=$((same + 1))
        else
            differ="$differ $f/$w"
        fi
    done
done
if [ -z "$differ" ] && [ "$same" -gt 20 ]; then
    ok "--file-read map and read: the same events on $same capture and worker runs"
else
    echo "differ:$differ" >"$tmp/err"
    bad "--file-read map and read differ"
fi
# The rule cache: refused when it cannot be a directory; a set compiled once (written) and read
# back (used) gives the same alerts on every bundled capture and says the same about the rules
# (a skipped rule's line included); edited rule files are compiled again (the same names: their
# cache file is written over).
expect "--rule-cache not a directory" 1 "not a directory (--rule-cache)" -- -r pcaps/tunnels.pcapng --rule-cache pcaps/tunnels.pcapng
mkdir -p "$tmp/rc-rules"
cp rules/*.yml "$tmp/rc-rules/"
cat >"$tmp/rc-rules/zz-skipped.yml" <<'EOF2'
title: needs a command line
id: rc-skipped
logsource:
  category: network_connection
detection:
  sel:
    CommandLine: 'x'
  condition: sel
EOF2
rc_same=0
rc_differ=""
for f in pcaps/*.pcap pcaps/*.pcapng; do
    rm -rf "$tmp/rc"
    "$TW" -r "$f" -R "$tmp/rc-rules" -o - --rule-cache "$tmp/rc" 2>"$tmp/rc1.err" |
        sed 's/"run_id":"[^"]*"//' >"$tmp/rc1.al"
    "$TW" -r "$f" -R "$tmp/rc-rules" -o - --rule-cache "$tmp/rc" 2>"$tmp/rc2.err" |
        sed 's/"run_id":"[^"]*"//' >"$tmp/rc2.al"
    "$TW" -r "$f" -R "$tmp/rc-rules" -o - 2>/dev/null | sed 's/"run_id":"[^"]*"//' >"$tmp/rc0.al"
    if cmp -s "$tmp/rc0.al" "$tmp/rc1.al" && cmp -s "$tmp/rc0.al" "$tmp/rc2.al" &&
        grep -q "rule rc-skipped skipped" "$tmp/rc2.err" &&
        [ "$(grep -c skipped "$tmp/rc1.err")" = "$(grep -c skipped "$tmp/rc2.err")" ] &&
        [ "$(find "$tmp/rc" -name 'rules-*.twc' -perm 600 | wc -l)" = 1 ]; then
        rc_same=$((rc_same + 1))
    else
        rc_differ="$rc_differ $f"
    fi
done
sed -i 's/localto\.net/localto.nex/' "$tmp/rc-rules"/*.yml
"$TW" -q -r pcaps/tunnels.pcapng -R "$tmp/rc-rules" -o "$tmp/rc3.al" --rule-cache "$tmp/rc" 2>/dev/null
"$TW" -q -r pcaps/tunnels.pcapng -R "$tmp/rc-rules" -o "$tmp/rc4.al" 2>/dev/null
sed -i 's/"run_id":"[^"]*"//' "$tmp/rc3.al" "$tmp/rc4.al"
if [ -z "$rc_differ" ] && [ "$rc_same" -gt 10 ] && cmp -s "$tmp/rc3.al" "$tmp/rc4.al" &&
    [ "$(find "$tmp/rc" -name 'rules-*.twc' | wc -l)" = 1 ]; then
    ok "--rule-cache: the same alerts and rule messages compiled and cached on $rc_same captures; an edited rule compiled again"
else
    echo "differ:$rc_differ" >"$tmp/err"
    bad "--rule-cache: alerts or messages differ"
fi
expect "--defrag-memory too small" 1 "cannot hold 100000 datagram trackers" -- -r pcaps/tunnels.pcapng --defrag-memory 1 --defrag-max-datagrams 100000
expect "--defrag-timeout out of range" 1 "is not a number in range" -- -r pcaps/tunnels.pcapng --defrag-timeout 0
expect "unwritable output" 1 "$tmp/nodir/x.json" -- -q -r pcaps/tunnels.pcapng -o "$tmp/nodir/x.json"

# Workers that cannot make their engines (each makes its own, all at once): the run says so
# and ends, none is left waiting for the others. Address space is limited so that the flow
# tables cannot be mapped (an ASan build reserves terabytes for itself: it cannot run under
# such a limit, so this check is left to the other builds).
if ! ldd "$TW" 2>/dev/null | grep -q libasan; then
    (
        ulimit -v 4000000
        exec timeout 60 "$TW" -q -r pcaps/tunnels.pcapng -o /dev/null --workers 2 \
            --flows 200000000
    ) >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq 1 ] && grep -q "cannot start 2 workers" "$tmp/err"; then
        ok "workers without memory for their engines: named, the run ends"
    else
        bad "workers without memory for their engines: exit $got"
    fi
fi

# More workers than the CPUs the process may run on: said (they take turns), and the run goes
# on with the same alerts; as many as there are CPUs: nothing said.
taskset -c 0 "$TW" -q -r pcaps/tunnels.pcapng -R rules -o "$tmp/cpu1.al" --workers 2 \
    >"$tmp/out" 2>"$tmp/err"
got=$?
"$TW" -q -r pcaps/tunnels.pcapng -R rules -o "$tmp/cpu0.al" >/dev/null 2>&1
if [ "$got" -eq 0 ] && grep -q "warning: --workers 2 but 1 CPU to run on" "$tmp/err" &&
    [ "$(grep -c '"rule"' "$tmp/cpu1.al")" -eq "$(grep -c '"rule"' "$tmp/cpu0.al")" ] &&
    [ -s "$tmp/cpu1.al" ]; then
    ok "more workers than CPUs: a warning, the same alerts"
else
    bad "more workers than CPUs: exit $got"
fi
taskset -c 0 "$TW" -q -r pcaps/tunnels.pcapng -o /dev/null >"$tmp/out" 2>"$tmp/err"
if ! grep -q "CPU" "$tmp/err"; then
    ok "one worker on one CPU: no warning"
else
    bad "one worker on one CPU: warned"
fi

# A link type we do not decode (LINKTYPE_USER0 = 147): named, not crashed on.
printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000\377\377\000\000\223\000\000\000' \
    >"$tmp/user0.pcap"
expect "unsupported link type" 1 "link type 147 is not supported" -- -q -r "$tmp/user0.pcap"

# Broken rule files: each problem named with file (and line), the good rules still load.
mkdir -p "$tmp/rules"
cp rules/tunnel_localtonet.yml "$tmp/rules/"
printf 'title: broken\nid: 6f1d3c1e-0000-4000-8000-000000000001\ndetection:\n  sel: [a\n' \
    >"$tmp/rules/broken.yml"
cat >"$tmp/rules/unsupported.yml" <<'YAML'
title: needs a process field
id: 6f1d3c1e-0000-4000-8000-000000000002
logsource:
    category: network_connection
detection:
    selection:
        Image|endswith: '\ngrok.exe'
    condition: selection
YAML
# (without -q: one line per skipped rule; -q groups them by reason, tests/t_ops.sh)
expect "yaml error names file and line" 0 "broken.yml:5:1: yaml error" -- -r pcaps/tunnels.pcapng -R "$tmp/rules"
if grep -q "unsupported.yml: rule 6f1d3c1e-0000-4000-8000-000000000002 skipped: field 'Image'" "$tmp/err" &&
    grep -q "rules: 2 loaded, 1 skipped, 1 files with errors" "$tmp/err" &&
    grep -q '"type":"alert"' "$tmp/out"; then
    ok "skipped rule named, good rules still alert"
else
    bad "skipped rule named, good rules still alert"
fi

# JA4: a rule on field ja4 fires on exactly the flows whose ClientHello has that fingerprint
# (the demo capture's curl-like hellos: 6 of its 11), and each alert carries it in tls.ja4.
mkdir -p "$tmp/ja4"
cat >"$tmp/ja4/ja4.yml" <<'EOF'
title: Client fingerprint of the demo capture's hellos
id: 6f0e3d1c-5b1a-4c7e-9d2f-0a1b2c3d4e5f
status: experimental
logsource:
    category: network_connection
detection:
    selection:
        ja4: 't13d311000_e8f1e7e78f70_1f22a2ca17c4'
    condition: selection
level: low
EOF
"$TW" -q -r pcaps/tunnels.pcapng -R "$tmp/ja4" >"$tmp/out" 2>"$tmp/err"
n=$(grep -c '"type":"alert"' "$tmp/out")
m=$(grep -c '"ja4":"t13d311000_e8f1e7e78f70_1f22a2ca17c4"' "$tmp/out")
if [ "$n" -eq 6 ] && [ "$m" -eq 6 ]; then ok "ja4 rule field ($n alerts)"; else bad "ja4 rule field ($n alerts, $m with the fingerprint)"; fi

# Sigma proxy fields from HTTP requests: a SigmaHQ-style proxy rule on the User-Agent fires on
# the CONNECT requests curl sent through the proxy (3 of the capture's 4 CONNECTs: the fourth
# client sends no User-Agent), with cs-method set.
mkdir -p "$tmp/ua"
cat >"$tmp/ua/ua.yml" <<'EOF'
title: curl through a proxy
id: 6f0e3d1c-5b1a-4c7e-9d2f-0a1b2c3d4e60
status: experimental
logsource:
    category: proxy
detection:
    selection:
        c-useragent|startswith: 'curl/'
        cs-method: 'CONNECT'
    condition: selection
level: low
EOF
"$TW" -q -r pcaps/connect_proxy.pcap -R "$tmp/ua" >"$tmp/out" 2>"$tmp/err"
n=$(grep -c '"type":"alert"' "$tmp/out")
if [ "$n" -eq 3 ]; then ok "proxy rule on c-useragent and cs-method ($n alerts)"; else bad "proxy rule on c-useragent and cs-method ($n alerts, want 3)"; fi

# A closed pipe stops the replay with a message and status 2 (needs enough output to overflow
# the 1 MiB output buffer: the demo capture 400 times over, with --events).
big="$tmp/big.pcap"
if ! command -v mergecap >/dev/null 2>&1; then
    skip_check "closed pipe reported: mergecap is not installed"
else
    set --
    i=0
    while [ $i -lt 400 ]; do set -- "$@" pcaps/tunnels.pcapng; i=$((i + 1)); done
    if ! mergecap -a -w "$big" "$@" 2>"$tmp/err"; then
        bad "closed pipe reported: mergecap failed"
    else
        "$TW" -q -r "$big" --events 2>"$tmp/err" | head -c 100 >/dev/null
        # POSIX sh has no PIPESTATUS: check the message instead.
        if grep -q "writing stdout: Broken pipe" "$tmp/err"; then ok "closed pipe reported"; else bad "closed pipe reported"; fi
    fi
fi

# --check-rules: the same directory as a report on stdout, exit 1 because a file is broken.
"$TW" --check-rules "$tmp/rules" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 1 ] && grep -q "^rules: 3 files, 2 loaded, 1 skipped, 1 files with errors" "$tmp/out" &&
    grep -q "broken.yml:5:1: yaml error" "$tmp/out" &&
    grep -q "6f1d3c1e-0000-4000-8000-000000000002  field 'Image' needs process attribution" "$tmp/out"; then
    ok "--check-rules: counts, skip reason, error with file:line, exit 1"
else
    bad "--check-rules: counts, skip reason, error with file:line, exit 1 (got $st)"; sed 's/^/     /' "$tmp/out" | head -8
fi
# ... and with process attribution the Image rule loads; a clean directory exits 0.
if "$TW" --check-rules rules --local-processes on >"$tmp/out" 2>"$tmp/err" &&
    grep -q "^rules: 22 files, 44 loaded, 0 skipped, 0 files with errors" "$tmp/out"; then
    ok "--check-rules on the bundled rules: exit 0"
else
    bad "--check-rules on the bundled rules: exit 0"
fi

# --explain: which rule fires on a name and why; exit 1 when nothing would.
if "$TW" --explain X.LocalTo.Net. >"$tmp/out" 2>"$tmp/err" &&
    grep -q "hit    DestinationHostname|endswith: '.localto.net'" "$tmp/out" &&
    grep -q "^2 rules match" "$tmp/out"; then
    ok "--explain x.localto.net: both LocaltoNet rules, with the test that holds"
else
    bad "--explain x.localto.net"; sed 's/^/     /' "$tmp/out" | head -8
fi
# cloudflared's connector names (QUIC SNI quic.cftunnel.com, TLS SNI h2.cftunnel.com on 7844, the
# edge region1.v2.argotunnel.com): both Cloudflare Tunnel rules
for n in quic.cftunnel.com h2.cftunnel.com region1.v2.argotunnel.com cftunnel.com; do
    if "$TW" --explain "$n" >"$tmp/out" 2>"$tmp/err" && grep -q "^2 rules match" "$tmp/out" &&
        [ "$(grep -c 'rules/tunnel_cloudflare_tunnel.yml$' "$tmp/out")" = 2 ]; then
        ok "--explain $n: both Cloudflare Tunnel rules"
    else
        bad "--explain $n: both Cloudflare Tunnel rules"; sed 's/^/     /' "$tmp/out" | head -8
    fi
done
"$TW" --explain localto.net >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q "^0 rules match" "$tmp/out"; then
    ok "--explain localto.net (the bare domain): no rule, exit 1"
else
    bad "--explain localto.net (the bare domain): no rule, exit 1"
fi

# Threat intel: a Zeek intel file and a domain list alert with their file and line.
printf '#fields\tindicator\tindicator_type\tmeta.source\nwww.debian.org\tIntel::DOMAIN\tcli-feed\n' \
    >"$tmp/feed.intel"
printf '# list\n*.example-bank.com\n' >"$tmp/list.txt"
mkdir -p "$tmp/empty"
"$TW" -q -r pcaps/tunnels.pcapng -R "$tmp/empty" --intel "$tmp/feed.intel" --intel "$tmp/list.txt" \
    -o "$tmp/out" 2>"$tmp/err"
if grep -q "\"file\":\"$tmp/feed.intel\",\"line\":2}" "$tmp/out" &&
    grep -q "\"file\":\"$tmp/list.txt\",\"line\":2}" "$tmp/out" &&
    grep -q '"name":"WWW.Example-Bank.COM"' "$tmp/out" &&
    ! grep -q '"name":"deb.debian.org"' "$tmp/out"; then
    ok "--intel: Zeek intel and domain list indicators alert with file and line"
else
    bad "--intel: Zeek intel and domain list indicators alert with file and line"; head -3 "$tmp/out"
fi

# Exclusions: a domain (with its subdomains, not a look-alike) and one rule on one address.
printf '# known good\ndomain=localto.net\nrule=e2835303-1b68-4006-acbf-67b6a6243f54 dst=10.20.0.1\n' \
    >"$tmp/exclude.txt"
"$TW" -q -r pcaps/tunnels.pcapng --exclude "$tmp/exclude.txt" -o "$tmp/out" 2>"$tmp/err"
if grep -q "alerts: 19 (excluded 8, suppressed 0)" "$tmp/err" && ! grep -q '"name":"[^"]*\.localto\.net' "$tmp/out" &&
    grep -q '"name":"x9.localtonet.com"' "$tmp/out" && ! grep -q '"id":"e2835303' "$tmp/out" &&
    grep -q '"id":"4caf0690' "$tmp/out"; then
    ok "--exclude: domain and rule-scoped exclusions drop and count, look-alikes still alert"
else
    bad "--exclude: domain and rule-scoped exclusions drop and count"; grep alerts "$tmp/err"
fi
printf 'domain=ok.example\ndst=10.0.0.1/8\n' >"$tmp/bad_exclude.txt"
expect "bad exclusion line named, file rejected" 0 "bad_exclude.txt:2:" -- -q -r pcaps/tunnels.pcapng --exclude "$tmp/bad_exclude.txt" -o /dev/null

# Suppression: one alert per (rule, source, name) and window; the first alert after the
# window says how many were held back. The demo capture twice, the second copy 1000 s later.
if ! command -v editcap >/dev/null 2>&1 || ! command -v mergecap >/dev/null 2>&1; then
    skip_check "--suppress: editcap or mergecap is not installed"
elif ! editcap -t 1000 pcaps/tunnels.pcapng "$tmp/later.pcapng" 2>"$tmp/err" ||
    ! mergecap -a -w "$tmp/twice.pcapng" pcaps/tunnels.pcapng "$tmp/later.pcapng" 2>"$tmp/err"; then
    bad "--suppress: editcap or mergecap failed"
else
    "$TW" -q -r "$tmp/twice.pcapng" --suppress 300 -o "$tmp/out" 2>"$tmp/err"
    held=$(python3 -c 'import json,sys
print(sum(json.loads(l).get("suppressed_before", 0) for l in open(sys.argv[1])))' "$tmp/out")
    if grep -q "alerts: 42 (excluded 0, suppressed 12)" "$tmp/err" && [ "$held" = 6 ]; then
        ok "--suppress: 21 alerts a copy, 6 held back each time, reported on the next window"
    else
        bad "--suppress: $(grep alerts "$tmp/err"), suppressed_before total $held"
    fi
fi

# The summary names every counter group.
"$TW" -q -r pcaps/tunnels.pcapng -o /dev/null 2>"$tmp/err"
missing=""
for k in "packets," "rules:" "decode:" "names:" "alerts:" "flows:" "not inspected:" "skipped/anomalies:"; do
    grep -q -- "$k" "$tmp/err" || missing="$missing '$k'"
done
if [ -z "$missing" ]; then ok "summary sections"; else bad "summary sections: no$missing"; fi

tally
