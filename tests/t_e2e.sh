#!/bin/sh
# End-to-end: tunwatch over every capture in pcaps/ (made by real clients, see pcaps/README.md)
# with the bundled rules. Checks that every line is valid JSON, that the names with their source
# address and port equal the ones tshark decodes (pcaps/*.names.tsv, and *.names.extra.tsv for
# names tshark cannot decode, each with its reason), and that the output equals the golden file in
# tests/golden/, and that --workers 3 gives the same lines (flow ids aside). Runs are named
# --sensor-name e2e; the run id (random per run) reads RUN_ID in the golden files.
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
    if ! "$TW" -q -r "$f" -R rules --events --workers 3 --sensor-name e2e -o "$out.w3" \
        2>"$tmp/$name.err3"; then
        echo "FAIL $f: tunwatch --workers 3 exited non-zero"; cat "$tmp/$name.err3"; ok=0
    elif ! python3 tests/same_set.py "$out" "$out.w3"; then
        echo "FAIL $f: --workers 3 output differs from the single-thread output"; ok=0
    fi
    if [ $ok = 1 ]; then pass=$((pass + 1)); echo "ok   $f"; else fail=$((fail + 1)); fi
done
[ "$captures" -gt 0 ] || { fail=$((fail + 1)); echo "FAIL no capture in pcaps/"; }
tally
