#!/bin/sh
# Output formats (--output-format ecs, asim, cef) and the sensor identity on every line:
#  - --help lists the options, a bad format is refused, the configuration file sets both;
#  - every capture in pcaps/ in every format: each line valid (ECS and ASIM parsed back as JSON
#    with their required keys and allowed values, CEF with a parser written from the CEF
#    specification), and the four formats describe the same alerts and events line by line;
#  - golden files of pcaps/tunnels.pcapng in each format (tests/golden/tunnels.pcapng.*; the
#    run id and this machine's host name masked; TW_UPDATE_GOLDEN=1 rewrites them);
#  - the ASIM form of the seed's hunting query (DstHostname endswith ".localto.net" or
#    ".localtonet.com", NetworkDirection == "Outbound") selects exactly the LocaltoNet
#    connection alerts of pcaps/tunnels.pcapng, and the query as written (=~ "true") none;
#  - the lines build/tests/test_format writes for its fixed and hostile events parse back, the
#    hostile names intact (JSON) or replaced as documented (CEF).
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
SUITE=formats
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"

help=$("$TW" --help 2>&1)
for o in --output-format --sensor-name; do
    case "$help" in *"$o"*) ;; *) fail_early "$TW --help lacks $o" ;; esac
done

if "$TW" -q -r pcaps/tunnels.pcapng --output-format json >"$tmp/out" 2>"$tmp/err"; then
    bad "--output-format json accepted"
elif grep -q "'json' is not native, ecs, asim or cef" "$tmp/err"; then
    ok "bad --output-format refused with its reason"
else
    bad "bad --output-format: no reason on stderr"; cat "$tmp/err"
fi

# The configuration file sets both (the keys are the long option names).
printf 'read = pcaps/tunnels.pcapng\noutput-format = cef\nsensor-name = "tap 7"\nquiet\n' \
    >"$tmp/tw.conf"
if "$TW" -c "$tmp/tw.conf" -R rules -o "$tmp/conf.cef" 2>"$tmp/err" &&
    [ -s "$tmp/conf.cef" ] && ! grep -qv '^CEF:0|tunwatch|tunwatch|' "$tmp/conf.cef" &&
    ! grep -qv ' deviceExternalId=tap 7 ' "$tmp/conf.cef"; then
    ok "configuration file: output-format and sensor-name"
else
    bad "configuration file: output-format and sensor-name"; head -3 "$tmp/conf.cef" "$tmp/err"
fi
# The default sensor name is the host name.
host=$(python3 -c 'import socket; print(socket.gethostname())')
"$TW" -q -r pcaps/tunnels.pcapng -R rules -o "$tmp/default.json" 2>/dev/null
if python3 -c 'import json,sys
names = {json.loads(l)["sensor"]["name"] for l in open(sys.argv[1])}
sys.exit(names != {sys.argv[2]})' "$tmp/default.json" "$host"; then
    ok "default sensor name: the host name ($host)"
else
    bad "default sensor name is not the host name $host"
fi

# Every capture, every format (one python3 run checks them all: it starts slowly).
names=""
for f in pcaps/*.pcap pcaps/*.pcapng pcaps/linktypes/*.pcap; do
    [ -f "$f" ] || continue
    name=$(echo "$f" | sed 's|^pcaps/||; s|/|__|g')
    good=1
    for fmt in native ecs asim cef; do
        if ! "$TW" -q -r "$f" -R rules --events --sensor-name e2e --output-format "$fmt" \
            -o "$tmp/$name.$fmt" 2>"$tmp/err"; then
            bad "$f $fmt: tunwatch exited non-zero"; cat "$tmp/err"; good=0
        fi
    done
    [ $good = 1 ] && names="$names $name"
done
[ -n "$names" ] || fail_early "no capture in pcaps/"
# shellcheck disable=SC2086
python3 tests/format_check.py captures "$tmp" $names >"$tmp/log" 2>&1
pass=$((pass + $(grep -c '^ok ' "$tmp/log")))
fail=$((fail + $(grep -c '^FAIL ' "$tmp/log")))
cat "$tmp/log"
grep -q '^ok \|^FAIL ' "$tmp/log" || bad "format_check.py captures: no verdict"

# Golden files for one capture in each format.
python3 tests/format_check.py golden "$host" \
    ecs "$tmp/tunnels.pcapng.ecs" "$tmp/g.ecs" \
    asim "$tmp/tunnels.pcapng.asim" "$tmp/g.asim" \
    cef "$tmp/tunnels.pcapng.cef" "$tmp/g.cef" || bad "format_check.py golden"
for fmt in ecs asim cef; do
    case $fmt in cef) ext=cef ;; *) ext=$fmt.ndjson ;; esac
    golden=tests/golden/tunnels.pcapng.$ext
    if [ "${TW_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$tmp/g.$fmt" "$golden"
        ok "$golden rewritten"
    elif diff -u "$golden" "$tmp/g.$fmt" >"$tmp/diff" 2>&1; then
        ok "pcaps/tunnels.pcapng --output-format $fmt equals $golden"
    else
        bad "pcaps/tunnels.pcapng --output-format $fmt differs from $golden"; head -40 "$tmp/diff"
    fi
done

# The seed's hunting query in its working ASIM form, over the alerts.
"$TW" -q -r pcaps/tunnels.pcapng -R rules --output-format asim -o "$tmp/alerts.asim" 2>/dev/null
"$TW" -q -r pcaps/tunnels.pcapng -R rules -o "$tmp/alerts.native" 2>/dev/null
if python3 tests/format_check.py asim_query "$tmp/alerts.asim" "$tmp/alerts.native" >"$tmp/log"
then
    ok "ASIM: the working query selects exactly the LocaltoNet connection alerts"; cat "$tmp/log"
else
    bad "ASIM: the working query"; cat "$tmp/log"
fi

# Threat-intel alerts in ECS: rule.ruleset "intel", rule.category the category of the event
# the indicator fired on (an indicator applies to every category): a DNS query and a TLS
# connection to the same listed name.
mkdir -p "$tmp/norules"
printf '# list\nwww.debian.org\n' >"$tmp/intel.txt"
"$TW" -q -r pcaps/tunnels.pcapng -R "$tmp/norules" --intel "$tmp/intel.txt" --output-format ecs \
    -o "$tmp/intel.ecs" 2>"$tmp/err"
if python3 - "$tmp/intel.ecs" >"$tmp/log" 2>&1 <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    o = json.loads(line)
    r = o["rule"]
    assert r["ruleset"] == "intel", r
    cat = "dns_query" if "dns" in o else "network_connection" if "tls" in o else None
    assert r["category"] == cat, (r["category"], cat)
    seen.add(cat)
assert seen == {"dns_query", "network_connection"}, seen
print("intel alerts:", sorted(seen))
PY
then
    ok "ECS: an intel alert's rule.category is its event's (dns_query and network_connection)"
else
    bad "ECS: intel alerts' rule.category"; cat "$tmp/log"; head -3 "$tmp/intel.ecs"
fi

# The fixed and hostile events of test_format, parsed back.
if [ -x "$BUILD/tests/test_format" ]; then
    if TW_FORMAT_LINES="$tmp/dump" "$BUILD/tests/test_format" >"$tmp/log" 2>&1 &&
        python3 tests/format_check.py dump "$tmp/dump" >"$tmp/log"; then
        ok "test_format lines parse back, hostile names intact"; cat "$tmp/log"
    else
        bad "test_format lines"; tail -20 "$tmp/log"
    fi
else
    bad "$BUILD/tests/test_format is not built"
fi
tally
