#!/bin/sh
# SigmaHQ's seed rules, unchanged, over the project's captures: "Communication To LocaltoNet
# Tunneling Service Initiated" (Windows 3ab65069-..., Linux c4568f5d-...). Read from
# ../shared/sigma when present (never copied into the tree); skipped otherwise.
set -u
BUILD=${BUILD:-build}
TW=$BUILD/tunwatch
SIGMA=${TW_SIGMA:-../shared/sigma}
win=$SIGMA/rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml
lnx=$SIGMA/rules/linux/network_connection/net_connection_lnx_domain_localtonet_tunnel.yml
if [ ! -f "$win" ] || [ ! -f "$lnx" ]; then
    echo "sigma: seed rules not present under $SIGMA, skipped"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
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
        if grep -v '^tunwatch: [0-9]* packets\|^  ' "$tmp/err" | grep -q .; then
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
echo "sigma: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
