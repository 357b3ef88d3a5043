#!/bin/sh
# Installs the Debian packages tunwatch needs to build and test, if any is missing.
# Called by `make check`, `make demo`, `make bench`, `make fuzz` and by .ci/run.
set -eu
PKGS="build-essential pkg-config libpcap-dev libyaml-dev libpcre2-dev python3-yaml libldns-dev libcmocka-dev libssl-dev clang \
libclang-rt-14-dev tshark tcpdump iproute2 dnsutils knot-dnsutils openssl curl gnutls-bin \
dnsmasq tinyproxy socat ethtool tcpreplay python3 valgrind ngtcp2-client ngtcp2-server"
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
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
