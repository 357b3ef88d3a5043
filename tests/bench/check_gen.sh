#!/bin/sh
# Checks that tshark decodes a small twgen capture the way twgen meant it: the same DNS query
# names and TLS SNI at the same frames as twgen's names list, no malformed packets, no bad
# checksums, no expert warnings, and the promised variety (IPv6, VLAN, split ClientHellos,
# DNS over TCP, tunnel names, TLS flows to addresses their client resolved). Also checks that
# output is deterministic for a seed.
# Prints one closing line "N passed, N failed, N skipped" (it skips nothing: a missing tool
# is a failure); exits non-zero if any check failed.
#
# Usage: sh tests/bench/check_gen.sh [TWGEN_BINARY] [PACKETS]
#   TWGEN_BINARY defaults to build/bench/twgen; if it does not exist, twgen*.c are compiled
#   into a temporary directory with cc.
set -u

here=$(cd "$(dirname "$0")" && pwd)
twgen=${1:-build/bench/twgen}
packets=${2:-20000}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ ! -x "$twgen" ]; then
    echo "check_gen: $twgen not found, compiling $here/twgen*.c"
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wvla -Wformat=2 -O2 -g \
        -o "$tmp/twgen" "$here"/twgen*.c || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
    twgen=$tmp/twgen
fi
if ! command -v tshark >/dev/null 2>&1; then
    echo "check_gen: tshark not found (apt-get install tshark)"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
    d=$1
    shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}

pcap=$tmp/small.pcap
if ! "$twgen" -n "$packets" -o "$pcap" -N "$tmp/names.tsv" 2>"$tmp/gen.log"; then
    cat "$tmp/gen.log"
    bad "twgen -n $packets"
    echo "$pass passed, $fail failed, 0 skipped"
    exit 1
fi
cat "$tmp/gen.log"
ok "twgen -n $packets"

# Port 8443 is not a TLS port by default in every tshark version.
TS="tshark -n -r $pcap -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
-o ip.check_checksum:TRUE -d tcp.port==8443,tls"

count() { # count DISPLAY_FILTER: frames matching, or -1 if tshark failed
    if $TS -Y "$1" -T fields -e frame.number >"$tmp/count" 2>"$tmp/count.err"; then
        wc -l <"$tmp/count" | tr -d ' '
    else
        grep -v 'Running as user' "$tmp/count.err" >&2
        echo -1
    fi
}

frames=$(count 'frame')
check "tshark reads $frames frames, twgen wrote $packets" [ "$frames" -eq "$packets" ]

# Names: one line per frame, "FRAME<TAB>KIND<TAB>NAME", as twgen -N writes them.
$TS -Y 'dns.flags.response == 0 || tls.handshake.type == 1' -T fields -e frame.number \
    -e dns.qry.name -e tls.handshake.extensions_server_name -E separator=/t 2>"$tmp/ts.err" |
    awk -F '\t' '{ if ($3 != "") print $1 "\tsni\t" $3; else print $1 "\tdns\t" $2 }' \
        >"$tmp/tshark.tsv"
sort "$tmp/tshark.tsv" >"$tmp/got"
sort "$tmp/names.tsv" >"$tmp/want"
n_want=$(wc -l <"$tmp/want" | tr -d ' ')
n_dns=$(grep -c '	dns	' "$tmp/want")
n_sni=$(grep -c '	sni	' "$tmp/want")
check "names list has DNS ($n_dns) and SNI ($n_sni) entries" [ "$n_dns" -gt 0 -a "$n_sni" -gt 0 ]
if cmp -s "$tmp/got" "$tmp/want"; then
    ok "tshark extracts the same $n_want names at the same frames"
else
    bad "tshark names differ from twgen's list (< tshark, > twgen):"
    diff "$tmp/got" "$tmp/want" | head -20
fi
tunnels='ngrok-free\.app|ngrok\.io|ngrok\.app|ngrok-free\.dev|localto\.net|trycloudflare\.com'
tunnels="$tunnels|devtunnels\.ms|loca\.lt|localtonet\.com"
n_tun=$(grep -c -E "\.($tunnels)\$" "$tmp/got")
check "tunnel-service names present ($n_tun)" [ "$n_tun" -gt 0 ]

n=$(count '_ws.malformed')
check "no malformed packets ($n)" [ "$n" -eq 0 ]
n=$(count '_ws.expert.severity >= warning')
check "no expert warnings or errors ($n)" [ "$n" -eq 0 ]
n=$(count 'ip.checksum.status == 0 || tcp.checksum.status == 0 ||
           udp.checksum.status == 0 || icmp.checksum.status == 0')
check "no bad IP/TCP/UDP/ICMP checksums ($n)" [ "$n" -eq 0 ]
n=$(count 'tcp.checksum.status == 1')
check "TCP checksums verified ($n good)" [ "$n" -gt 0 ]

n=$(count 'tls.handshake.type == 1 && tcp.reassembled.length > 1448')
check "ClientHellos split over two segments ($n)" [ "$n" -gt 0 ]
n=$(count 'tls.handshake.extensions_key_share_group == 0x11ec')
check "X25519MLKEM768 key shares ($n)" [ "$n" -gt 0 ]
n=$(count 'tls.handshake.type == 1 && tcp.port == 8443')
check "ClientHellos on port 8443 ($n)" [ "$n" -gt 0 ]
n=$(count 'ipv6')
check "IPv6 frames ($n)" [ "$n" -gt 0 ]
n=$(count 'vlan')
check "VLAN-tagged frames ($n)" [ "$n" -gt 0 ]
n=$(count 'dns && tcp')
check "DNS over TCP ($n)" [ "$n" -gt 0 ]
n=$(count 'dns.flags.response == 1 && dns.count.answers > 0')
check "DNS responses with answers ($n)" [ "$n" -gt 0 ]
n=$(count 'arp || icmp')
check "ARP/ICMP noise ($n)" [ "$n" -gt 0 ]
n=$(count 'tcp.len == 1448')
check "full-size data segments ($n)" [ "$n" -gt 0 ]

# Connections that follow a resolution: a TCP flow to port 443 or 8443 (its first segment
# from the client) whose client got the server's address in a DNS answer before it.
$TS -Y '(dns.flags.response == 1 && (dns.a || dns.aaaa)) ||
        ((tcp.dstport == 443 || tcp.dstport == 8443) &&
         ((tcp.flags.syn == 1 && tcp.flags.ack == 0) || tcp.len > 0))' \
    -T fields -e ip.dst -e ipv6.dst -e dns.a -e dns.aaaa -e ip.src -e ipv6.src -e tcp.stream \
    -E separator=/t -E aggregator=, 2>/dev/null |
    awk -F '\t' '
        $3 != "" || $4 != "" {
            c = $1 $2; n = split($3 "," $4, a, ",")
            for (i = 1; i <= n; i++) if (a[i] != "") got[c " " a[i]] = 1
            next
        }
        !($7 in seen) { seen[$7] = 1; flows++; if (($5 $6 " " $1 $2) in got) followed++ }
        END { print flows + 0, followed + 0 }' >"$tmp/follow"
read -r n_flows n_followed <"$tmp/follow"
check "TLS flows to an address their client resolved before ($n_followed of $n_flows)" \
    [ "$n_followed" -gt 0 ]

"$twgen" -n 3000 -o "$tmp/a.pcap" 2>/dev/null
"$twgen" -n 3000 -o "$tmp/b.pcap" 2>/dev/null
"$twgen" -n 3000 -s 99 -o "$tmp/c.pcap" 2>/dev/null
check "same seed, same bytes" cmp -s "$tmp/a.pcap" "$tmp/b.pcap"
check "other seed, other bytes" sh -c "! cmp -s '$tmp/a.pcap' '$tmp/c.pcap'"
# --pcapng: the same packets, as tshark reads them (time, length, protocols, every field).
"$twgen" -n 3000 --pcapng -o "$tmp/a.pcapng" 2>/dev/null
tshark -r "$tmp/a.pcap" -T fields -e frame.time_epoch -e frame.len -e frame.protocols \
    >"$tmp/a.frames" 2>/dev/null
tshark -r "$tmp/a.pcapng" -T fields -e frame.time_epoch -e frame.len -e frame.protocols \
    >"$tmp/a.ng.frames" 2>/dev/null
n=$(wc -l <"$tmp/a.frames" | tr -d ' ')
check "--pcapng writes the same $n packets as pcap (tshark: times, lengths, protocols)" \
    sh -c "[ $n -eq 3000 ] && cmp -s '$tmp/a.frames' '$tmp/a.ng.frames'"
n=$(capinfos -t "$tmp/a.pcapng" 2>/dev/null | sed -n 's/^File type: *//p')
check "--pcapng is pcapng to capinfos ($n)" sh -c "echo '$n' | grep -q pcapng"

"$twgen" --rules 1000 -o "$tmp/rules.yml" 2>/dev/null
n=$(grep -c '^id: ' "$tmp/rules.yml")
u=$(grep '^id: ' "$tmp/rules.yml" | sort -u | wc -l | tr -d ' ')
check "--rules 1000 writes 1000 rules with unique ids ($n, $u unique)" [ "$n" -eq 1000 -a "$u" -eq 1000 ]
hits=0
for suf in $(grep -A14 'matches the bench capture' "$tmp/rules.yml" | sed -n "s/.*|endswith: '\(.*\)'/\1/p"); do
    awk -F '\t' -v s="$suf" 'substr($3, length($3) - length(s) + 1) == s { f = 1 } END { exit !f }' \
        "$tmp/got" && hits=$((hits + 1))
done
check "rules meant to match the capture do match names in it ($hits)" [ "$hits" -gt 0 ]

echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
