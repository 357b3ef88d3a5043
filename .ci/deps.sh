#!/bin/sh
# Installs the Debian packages tunwatch needs, if any is missing.
#   sh .ci/deps.sh run    what building and running tunwatch needs (make demo, make install)
#   sh .ci/deps.sh test   what the tests need on top (make check, make bench, make fuzz)
#   sh .ci/deps.sh [all]  both (make check, .ci/run)
# Installing leaves no new service enabled or started: some test tools (dnsmasq, tinyproxy,
# ngtcp2-server, rsyslog, redis-server) are servers whose Debian packages enable and start
# them; the tests run their own instances (in network namespaces, or on their own sockets). A
# policy-rc.d keeps them from starting during the install (unless one is already in place),
# and units or init scripts enabled by the install are disabled again; services that were
# enabled before are left as they were.
set -eu
RUN_PKGS="build-essential pkg-config libpcap-dev libyaml-dev libpcre2-dev libldns-dev libssl-dev \
librdkafka-dev libhiredis-dev"
TEST_PKGS="libcmocka-dev clang libclang-rt-14-dev python3 python3-yaml tshark tcpdump iproute2 \
dnsutils knot-dnsutils openssl curl gnutls-bin dnsmasq tinyproxy socat ethtool tcpreplay valgrind \
ngtcp2-client ngtcp2-server rsyslog redis-server redis-tools kcat"
case "${1:-all}" in
run) PKGS=$RUN_PKGS ;;
test) PKGS=$TEST_PKGS ;;
all) PKGS="$RUN_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 [run|test|all]" >&2; exit 2 ;;
esac
# The optional DPDK backend (make DPDK=1, make check-dpdk) needs libdpdk-dev as well.
[ "${TW_DEPS_DPDK:-0}" = 1 ] && PKGS="$PKGS libdpdk-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "tunwatch: installing missing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "tunwatch: need root (or sudo) to install:$missing" >&2; exit 1
    fi
fi

# Services enabled now: systemd units wanted by a target, and SysV start links.
enabled() {
    for d in /etc/systemd/system/*.wants; do
        [ -d "$d" ] && for u in "$d"/*; do [ -e "$u" ] || [ -L "$u" ] && echo "unit ${u##*/}"; done
    done
    for l in /etc/rc[2-5].d/S*; do
        [ -e "$l" ] || [ -L "$l" ] && n=${l##*/S??} && echo "initscript $n"
    done
    return 0
}
tmp=$(mktemp -d)
policy=""
cleanup() {
    [ -n "$policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
    rm -rf "$tmp"
}
trap cleanup EXIT
enabled | sort -u >"$tmp/before"
if [ ! -e /usr/sbin/policy-rc.d ]; then
    # 101: "action not allowed": invoke-rc.d starts nothing during the install
    printf '#!/bin/sh\nexit 101\n' >"$tmp/policy-rc.d"
    $SUDO install -m 0755 "$tmp/policy-rc.d" /usr/sbin/policy-rc.d
    policy=1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
enabled | sort -u >"$tmp/after"
comm -13 "$tmp/before" "$tmp/after" | while read -r kind name; do
    echo "tunwatch: disabling $name, enabled by the install" >&2
    case $kind in
    unit) $SUDO systemctl disable --quiet "$name" 2>/dev/null ||
        $SUDO find /etc/systemd/system -path "*.wants/$name" -delete ;;
    initscript) $SUDO update-rc.d "$name" disable >/dev/null 2>&1 || true ;;
    esac
done
