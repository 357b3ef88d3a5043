#!/bin/sh
# Installs the Debian packages tunwatch needs to build and test, if any is missing.
# Called by `make check`, `make demo`, `make bench`, `make fuzz` and by .ci/run.
set -eu
PKGS="build-essential pkg-config libpcap-dev libyaml-dev libpcre2-dev python3-yaml libldns-dev libcmocka-dev libssl-dev clang \
libclang-rt-14-dev tshark tcpdump iproute2 dnsutils knot-dnsutils openssl curl gnutls-bin \
dnsmasq tinyproxy socat ethtool tcpreplay python3 valgrind ngtcp2-client ngtcp2-server \
librdkafka-dev libhiredis-dev rsyslog redis-server redis-tools kcat"
# Packages that ship a service Debian would start and enable at install: the tests start
# their own instances (tests/t_sinks.sh) and must not find, nor leave, a system one running.
SERVICES="rsyslog:rsyslog redis-server:redis-server"
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
# While installing, invoke-rc.d asks /usr/sbin/policy-rc.d whether it may start a service:
# exit 101 says no. One is put in place only if the system has none, and removed afterwards.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# tunwatch .ci/deps.sh: no service starts during this install\nexit 101\n' |
        $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy=/usr/sbin/policy-rc.d
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
# The services this install brought in are left disabled (and stopped, where systemd runs);
# services that were installed before are left as they were.
for sv in $SERVICES; do
    pkg=${sv%%:*} unit=${sv#*:}
    case " $missing " in *" $pkg "*) ;; *) continue ;; esac
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 ||
            $SUDO systemctl disable "$unit" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -e "/etc/init.d/$unit" ]; then
        $SUDO update-rc.d "$unit" disable >/dev/null 2>&1 || true
    fi
done
