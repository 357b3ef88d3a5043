#!/bin/sh
# The training run of the profile-guided build (make, OPT=pgo; see the Makefile):
#
#   sh tests/bench/train.sh INSTRUMENTED_TUNWATCH TWGEN DIR
#
# The instrumented binary reads a capture of the bench's traffic mix (tests/bench/twgen.c,
# another seed and size than make bench times, so the profile is not of the capture it is
# timed on) with one worker and two, and every bundled capture (real clients' traffic) with
# every event written, all with the bundled rules; then the capture again with 3,000 generated
# rules of every kind of hostname test (equals, endswith lists with a port filter, contains,
# startswith, wildcards, 1 of selection*; some broad enough to alert on much of it), once
# compiled and written to a rule cache, once read from it. The counts go to the objects' .gcda
# files.
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
awk 'BEGIN {
    for (i = 0; i < 3000; i++) {
        k = i % 6
        printf "title: training rule %d\nid: train-%d\nlevel: medium\nlogsource:\n", i, i
        printf "  category: %s\ndetection:\n", (k == 2 || k == 5) ? "dns_query" : "network_connection"
        f = (k == 2 || k == 5) ? "QueryName" : "DestinationHostname"
        if (k == 0)
            printf "  selection:\n    %s: h%d.example.com\n  condition: selection\n", f, i
        else if (k == 1)
            printf "  selection:\n    %s|endswith:\n      - .a%d.com\n      - .b%d.%s\n  filter:\n    DestinationPort: 8443\n  condition: selection and not filter\n", f, i, i, (i == 1) ? "net" : "org"
        else if (k == 2)
            printf "  selection:\n    %s|contains: %s\n  condition: selection\n", f, (i == 2) ? "cdn" : "w" i "x"
        else if (k == 3)
            printf "  selection:\n    %s|startswith: p%d\n  condition: selection\n", f, i
        else if (k == 4)
            printf "  selection:\n    %s: \x27*.s%d.*.io\x27\n  condition: selection\n", f, i
        else
            printf "  selection_a:\n    %s|endswith: .q%d.net\n  selection_b:\n    %s|endswith: .%s\n  condition: 1 of selection_*\n", f, i, f, (i == 5) ? "com" : "r" i ".org"
        printf "---\n"
    }
}' >"$dir/train.yml"
"$tw" -q -r "$dir/train.pcap" -R "$dir/train.yml" --rule-cache "$dir/rc" -o /dev/null 2>/dev/null
"$tw" -q -r "$dir/train.pcap" -R "$dir/train.yml" --rule-cache "$dir/rc" -o /dev/null 2>/dev/null
rm -rf "$dir/train.pcap" "$dir/train.yml" "$dir/rc"
