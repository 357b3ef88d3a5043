#!/bin/sh
# Public captures (nDPI, Zeek, suricata-verify, tcpdump, Arkime) against tshark's oracle, from
# $TW_SHARED/corpus (tests/lib.sh). Skipped (exit 77) when the corpus is absent, a failure in
# CI. See tests/corpus_check.py.
set -u
BUILD=${BUILD:-build}
SUITE=corpus
. tests/lib.sh
CORPUS=$SHARED/corpus
[ -d "$CORPUS/pcaps" ] || skip "$CORPUS/pcaps not present (TW_SHARED)"
exec python3 tests/corpus_check.py "$BUILD/tunwatch" "$CORPUS" tests/corpus_known_diffs.tsv
