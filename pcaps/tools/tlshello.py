#!/usr/bin/env python3
"""Send crafted TLS ClientHellos to a real server and report what it answered.

  tlshello.py HOST PORT [CASE...]     one TCP connection per case (default: every case)
  tlshello.py --list                  the case names

Each case is a TLS 1.3 ClientHello (x25519 key share, P-256/RSA signature algorithms, the
ciphers every server here has) with one oddity a client can use to hide a name from a
sensor that is stricter than the server. The script writes the hello, reads the server's
first records and prints one line per case:

  CASE <tab> accepted|refused|closed <tab> detail

accepted: the server answered with a ServerHello (handshake type 2); refused: it sent an
alert (its description is printed); closed: it closed the connection or went silent.
Random, session id and key share are fixed, so the bytes of a case never change.

The hello_retry_* cases are two hellos: the first offers its key share for a GREASE group
only (RFC 8701: servers ignore it), so the server asks for x25519 with a HelloRetryRequest;
the second (after a ChangeCipherSpec, as TLS 1.3's middlebox compatibility mode sends it)
offers it, with the first's server_name or another. Their verdict is the server's answer to
the second hello.
"""
import socket
import struct
import sys
import time


def u8(v):
    return struct.pack("!B", v)


def u16(v):
    return struct.pack("!H", v)


def u24(v):
    return struct.pack("!I", v)[1:]


def vec(w, data):
    return {1: u8, 2: u16, 3: u24}[w](len(data)) + data


def ext(t, data):
    return u16(t) + vec(2, data)


def sni_ext(*names):
    return ext(0, vec(2, b"".join(b"\0" + vec(2, n.encode()) for n in names)))


CIPHERS = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030]


X25519_SHARE = u16(0x001d) + vec(2, bytes(range(7, 39)))
GREASE_SHARE = u16(0x0a0a) + vec(2, b"\0")


def hello_body(sni=("base.localto.net",), legacy=0x0303, exts_before=(), exts_after=(),
               sni_exts=None, extra_ciphers=0, pad=0, fill=False, groups=(0x001d, 0x0017),
               share=X25519_SHARE):
    """A ClientHello body. sni_exts: a list of server_name extensions (each a list of names)
    instead of one extension with the names of `sni`; groups: supported_groups; share: the
    key_share entries."""
    suites = b"".join(u16(c) for c in CIPHERS)
    # unknown suites (servers skip what they do not know): a way to make a hello large
    suites += b"".join(u16(0x6000 + (i % 0x1000)) for i in range(extra_ciphers))
    exts = b"".join(exts_before)
    if sni_exts is not None:
        exts += b"".join(sni_ext(*names) for names in sni_exts)
    elif sni:
        exts += sni_ext(*sni)
    exts += ext(10, vec(2, b"".join(u16(g) for g in groups)))           # supported_groups
    exts += ext(11, vec(1, b"\0"))                                       # ec_point_formats
    exts += ext(13, vec(2, b"".join(u16(a) for a in (0x0403, 0x0804, 0x0401, 0x0503, 0x0805,
                                                      0x0501, 0x0806, 0x0601))))
    exts += ext(43, vec(1, u16(0x0304) + u16(0x0303)))                   # supported_versions
    exts += ext(45, vec(1, b"\x01"))                                     # psk_key_exchange_modes
    exts += ext(51, vec(2, share))                                       # key_share
    exts += b"".join(exts_after)
    if fill:  # padding up to the largest extensions block, 65535 bytes
        pad = 65535 - len(exts) - 4
    if pad:
        exts += ext(21, b"\0" * pad)                                     # padding
    return (u16(legacy) + bytes(range(0x40, 0x60)) + vec(1, bytes(range(0x80, 0xa0))) +
            vec(2, suites) + vec(1, b"\0") + vec(2, exts))


def handshake(body):
    return b"\x01" + vec(3, body)


def records(msg, size=16384, version=0x0301, first_version=None):
    out = b""
    for i in range(0, len(msg), size):
        v = first_version if (i == 0 and first_version is not None) else version
        out += u8(22) + u16(v) + vec(2, msg[i:i + size])
    return out


def record(rtype, data, version=0x0303):
    return u8(rtype) + u16(version) + vec(2, data)


LONG_SNI = ".".join(["l%02d" % i + "x" * 59 for i in range(23)]) + ".tail.localto.net"


def broken():
    """A hello whose last extension (key_share) claims 4 bytes more than the extensions block
    holds: the server_name, the first extension, is read before the break."""
    body = bytearray(hello_body(sni=("truncated.localto.net",)))
    key_share = ext(51, vec(2, u16(0x001d) + vec(2, bytes(range(7, 39)))))
    at = bytes(body).rindex(key_share)
    body[at + 2:at + 4] = u16(len(key_share) - 4 + 4)
    return records(handshake(bytes(body)))


CASES = {
    "baseline": lambda: records(handshake(hello_body())),
    # GREASE (RFC 8701) twice, as Chrome-like hellos with two independently drawn values do
    "duplicate_grease": lambda: records(handshake(hello_body(
        sni=("dupgrease.localto.net",), exts_before=[ext(0x0a0a, b""), ext(0x0a0a, b"")]))),
    "duplicate_unknown": lambda: records(handshake(hello_body(
        sni=("dupunknown.localto.net",), exts_after=[ext(0x7777, b"a"), ext(0x7777, b"b")]))),
    "sni_two_extensions": lambda: records(handshake(hello_body(
        sni_exts=[["decoy-ext.example.com"], ["second-ext.localto.net"]]))),
    "sni_two_names": lambda: records(handshake(hello_body(
        sni=("decoy.example.com", "hidden.localto.net")))),
    "legacy_7f7f": lambda: records(handshake(hello_body(sni=("legacy7f7f.localto.net",),
                                                        legacy=0x7f7f))),
    "legacy_0400": lambda: records(handshake(hello_body(sni=("legacy0400.localto.net",),
                                                        legacy=0x0400))),
    "record_0305": lambda: records(handshake(hello_body(sni=("record0305.localto.net",))),
                                   version=0x0305),
    "record_03ff": lambda: records(handshake(hello_body(sni=("record03ff.localto.net",))),
                                   version=0x03ff),
    "empty_record_before": lambda: record(22, b"", 0x0301) + records(handshake(hello_body(
        sni=("emptyrecord.localto.net",)))),
    "ccs_before": lambda: record(20, b"\x01") + records(handshake(hello_body(
        sni=("ccsbefore.localto.net",)))),
    "alert_before": lambda: record(21, b"\x01\x5a") + records(handshake(hello_body(
        sni=("alertbefore.localto.net",)))),
    "heartbeat_before": lambda: record(24, b"\x01\x00\x10" + b"h" * 16 + b"\0" * 16) +
    records(handshake(hello_body(sni=("heartbeat.localto.net",)))),
    "many_records": lambda: records(handshake(hello_body(sni=("manyrecords.localto.net",))),
                                    size=7),
    "large_100k": lambda: records(handshake(hello_body(
        sni=("large100k.localto.net",), extra_ciphers=25000, pad=50000))),
    "large_max": lambda: records(handshake(hello_body(
        sni=("largemax.localto.net",), extra_ciphers=32767 - len(CIPHERS), fill=True))),
    "long_sni": lambda: records(handshake(hello_body(sni=(LONG_SNI,)))),
    "broken_after_sni": broken,
}

# Two hellos each: the second, sent after the server's HelloRetryRequest, with its names.
RETRY_GROUPS = (0x0a0a, 0x001d, 0x0017)
RETRY_CASES = {
    "hello_retry_same": (("retry-same.localto.net",), ("retry-same.localto.net",)),
    "hello_retry_other": (("decoy-retry.example.com",), ("retry-other.localto.net",)),
}


def retry_hellos(name):
    first, second = RETRY_CASES[name]
    h1 = records(handshake(hello_body(sni=first, groups=RETRY_GROUPS, share=GREASE_SHARE)))
    h2 = record(20, b"\x01") + records(handshake(hello_body(sni=second, groups=RETRY_GROUPS)))
    return h1, h2


HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
          22: "record_overflow", 40: "handshake_failure", 47: "illegal_parameter",
          50: "decode_error", 70: "protocol_version", 80: "internal_error",
          90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
          112: "unrecognized_name"}


def answer(sock, retry=False):
    """The server's verdict on what was sent; retry: a HelloRetryRequest is a verdict of its
    own ("retry") rather than a ServerHello."""
    buf = b""
    deadline = time.time() + 3
    while time.time() < deadline:
        while len(buf) >= 5:
            rtype, rlen = buf[0], struct.unpack("!H", buf[3:5])[0]
            if rtype == 22 and len(buf) >= 6:
                if buf[5] != 2:
                    return "refused", "handshake type %d" % buf[5]
                if retry and len(buf) < 5 + 4 + 2 + 32:
                    break
                if retry and buf[11:43] == HRR_RANDOM:
                    return "retry", "HelloRetryRequest"
                return "accepted", "ServerHello"
            if rtype == 21 and len(buf) >= 7:
                return "refused", "alert " + ALERTS.get(buf[6], str(buf[6]))
            if len(buf) < 5 + rlen:
                break
            buf = buf[5 + rlen:]
        try:
            sock.settimeout(max(0.1, deadline - time.time()))
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return "closed", "reset"
        if not chunk:
            return "closed", "EOF"
        buf += chunk
    return "closed", "no answer"


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(list(CASES) + list(RETRY_CASES)))
        return 0
    host, port = sys.argv[1], int(sys.argv[2])
    names = sys.argv[3:] or list(CASES)
    for name in names:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((host, port))
        if name in RETRY_CASES:
            h1, h2 = retry_hellos(name)
            s.sendall(h1)
            verdict, detail = answer(s, retry=True)
            if verdict == "retry":
                s.sendall(h2)
                verdict, detail = answer(s)
                detail += " after a HelloRetryRequest"
            data = h1 + h2
        else:
            data = CASES[name]()
            s.sendall(data)
            verdict, detail = answer(s)
        s.close()
        print("%s\t%s\t%s\t%d bytes" % (name, verdict, detail, len(data)), flush=True)
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
