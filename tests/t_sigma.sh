#!/bin/sh
# SigmaHQ's rules, unchanged, read from $TW_SHARED/sigma (tests/lib.sh; never copied into the
# tree). Skipped (exit 77) when they are absent, a failure in CI.
#  1. The seed rules "Communication To LocaltoNet Tunneling Service Initiated" (Windows
#     3ab65069-..., Linux c4568f5d-...) over every capture, with and without the clients
#     inside --home-net.
#  2. Synthetic events from every loaded rule's hostname values (tests/sigma_events.py, its
#     own Sigma evaluator giving the verdicts), checked against the engine by
#     BUILD/tests/test_rules_sigma (test_sigma_cases) with process fields on.
#  3. The whole corpus over every capture: every alert and only those (tests/sigma_pcaps.py's
#     evaluator over the --events output), and the ngrok, cloudflared, devtunnels and
#     LocaltoNet rules on exactly the names pcaps/*.names.tsv holds that their values cover.
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
SUITE=sigma
. tests/lib.sh
SIGMA=$SHARED/sigma
win=$SIGMA/rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml
lnx=$SIGMA/rules/linux/network_connection/net_connection_lnx_domain_localtonet_tunnel.yml
if [ ! -f "$win" ] || [ ! -f "$lnx" ]; then
    skip "seed rules not present under $SIGMA (TW_SHARED)"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
skipped=0
check() { # label, expected Initiated, extra tunwatch args...
    label=$1 initiated=$2
    shift 2
    all="$tmp/all.ndjson"
    : >"$all"
    for f in pcaps/*.pcap pcaps/*.pcapng pcaps/linktypes/*.pcap; do
        [ -f "$f" ] || continue
        if ! "$TW" -q -r "$f" -R "$win" -R "$lnx" --events "$@" >>"$all" 2>"$tmp/err"; then
            echo "FAIL $label: tunwatch failed on $f"; cat "$tmp/err"; fail=$((fail + 1)); return
        fi
        if grep -v '^tunwatch: [0-9]* packets\|^  \|^tunwatch: checksum_validation: off (offload detected' "$tmp/err" | grep -q .; then
            echo "FAIL $label: seed rules did not load cleanly"; cat "$tmp/err"; fail=$((fail + 1)); return
        fi
    done
    if python3 tests/sigma_check.py "$all" "$initiated"; then
        pass=$((pass + 1)); echo "ok   $label"
    else
        fail=$((fail + 1)); echo "FAIL $label"
    fi
    alerts=$(grep -c '"type":"alert"' "$all")
    if [ "$initiated" = true ] && [ "$alerts" -eq 0 ]; then
        echo "FAIL $label: no seed alert at all"; fail=$((fail + 1))
    fi
    if [ "$initiated" = false ] && [ "$alerts" -ne 0 ]; then
        echo "FAIL $label: $alerts alerts although no flow was initiated from inside"; fail=$((fail + 1))
    fi
}
check "seed rules, default home networks" true
check "seed rules, clients outside --home-net" false --home-net 192.0.2.0/24

# 2. Synthetic events per hostname indicator.
if python3 tests/sigma_events.py "$SIGMA" "$tmp/cases.tsv" >"$tmp/gen.out" 2>&1 &&
    TW_SIGMA_CASES="$tmp/cases.tsv" "$BUILD/tests/test_rules_sigma" >"$tmp/cases.out" 2>&1 &&
    grep -q '^sigma cases: .* 0 wrong verdicts' "$tmp/cases.out"; then
    pass=$((pass + 1)); echo "ok   synthetic events: $(grep '^sigma_events:' "$tmp/gen.out" | head -1)"
    grep '^sigma_events: no event' "$tmp/gen.out"
else
    fail=$((fail + 1)); echo "FAIL synthetic events"
    cat "$tmp/gen.out"; grep -i 'sigma case\|FAIL\|ERROR' "$tmp/cases.out" | head -40
fi

# 3. The corpus over the captures.
set --
for f in pcaps/*.pcap pcaps/*.pcapng pcaps/linktypes/*.pcap; do
    [ -f "$f" ] && [ -f "$f.names.tsv" ] || continue
    out="$tmp/$(basename "$f").ndjson"
    if ! "$TW" -q -r "$f" -R "$SIGMA" --events >"$out" 2>"$tmp/err"; then
        echo "FAIL corpus: tunwatch failed on $f"; cat "$tmp/err"; fail=$((fail + 1))
    fi
    if grep -i 'yaml error\|cannot read' "$tmp/err"; then
        echo "FAIL corpus: file errors loading $SIGMA"; fail=$((fail + 1))
    fi
    set -- "$@" "$out" "$f.names.tsv"
done
if python3 tests/sigma_pcaps.py "$SIGMA" "$@" >"$tmp/pcaps.out" 2>&1; then
    pass=$((pass + 1)); echo "ok   corpus over the captures"; grep '^  ' "$tmp/pcaps.out"
else
    fail=$((fail + 1)); echo "FAIL corpus over the captures"; cat "$tmp/pcaps.out"
fi
tally
