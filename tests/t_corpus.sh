#!/bin/sh
# Public captures (nDPI, Zeek, suricata-verify, tcpdump, Arkime) against tshark's oracle.
# Skips cleanly when ../shared/corpus is absent. See tests/corpus_check.py.
set -u
BUILD=${BUILD:-build}
CORPUS=${TW_CORPUS:-../shared/corpus}
if [ ! -d "$CORPUS/pcaps" ]; then
    echo "corpus: $CORPUS not present, skipped"
    exit 0
fi
exec python3 tests/corpus_check.py "$BUILD/tunwatch" "$CORPUS" tests/corpus_known_diffs.tsv
