#!/bin/sh
# The training run of the profile-guided build (make, OPT=pgo; see the Makefile):
#
#   sh tests/bench/train.sh INSTRUMENTED_TUNWATCH TWGEN DIR
#
# The instrumented binary reads a capture of the bench's traffic mix (tests/bench/twgen.c,
# another seed and size than make bench times, so the profile is not of the capture it is
# timed on) with one worker and two, and every bundled capture (real clients' traffic) with
# every event written, all with the bundled rules; the counts go to the objects' .gcda files.
set -eu
tw=$1
twgen=$2
dir=$3
"$twgen" -n 200000 -s 0x5eed -o "$dir/train.pcap" >/dev/null 2>&1
"$tw" -q -r "$dir/train.pcap" -R rules -o /dev/null 2>/dev/null
"$tw" -q -r "$dir/train.pcap" -R rules -o /dev/null --workers 2 2>/dev/null
for f in pcaps/*.pcap pcaps/*.pcapng; do
    "$tw" -q -r "$f" -R rules --events -o /dev/null 2>/dev/null
done
rm -f "$dir/train.pcap"
