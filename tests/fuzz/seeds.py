#!/usr/bin/env python3
"""Seeds the fuzzing corpora from the project's captures.

usage: seeds.py CORPUS_DIR PCAP_DIR

Reads classic pcap and pcapng files (Ethernet, SLL, SLL2, raw, NULL link types) and writes:
  fuzz_decode/  one file per frame: a link-type selector byte, then the frame
                (selector = index in tests/fuzz/fuzz_decode.c's link type table)
  fuzz_dns/     UDP payloads from or to port 53, and TCP port-53 payloads without the prefix
  fuzz_tls/     TCP payloads that begin with a TLS handshake record, and the whole client
                streams of pcaps/tools/tlshello.py's crafted hellos (up to 131 KiB)
  fuzz_proxy/   TCP payloads that begin with an HTTP CONNECT request or a PROXY protocol header
  fuzz_http/    TCP payloads that begin with a registered HTTP method and SP (tests/fuzz/fuzz_http.c)
  fuzz_quic/    UDP payloads that begin with a QUIC long header (mode byte 0, one record), and
                each TLS ClientHello of a TCP payload as the frames of two client Initials,
                second half first (mode byte 1; tests/fuzz/fuzz_quic.c seals them)
  fuzz_rulefiles/ the project's rule files and the test indicator and exclusion files, behind
                the selector byte of tests/fuzz/fuzz_rulefiles.c (0 rules, 1 indicators,
                2 exclusions)
  fuzz_yaml/    the project's rule files as they are (tests/fuzz/fuzz_yaml.c)
  fuzz_rulecache/ the project's rule files behind mode byte 0 (compiled, written in the rule
                cache's flat form and restored: tests/fuzz/fuzz_rulecache.c)
  fuzz_pcapng/  the project's pcapng files (their first 64 KiB) as files (tests/fuzz/fuzz_pcapng.c)
  fuzz_capfile/ the project's classic pcap and pcapng files (their first 64 KiB)
                (tests/fuzz/fuzz_capfile.c)
  fuzz_engine/  whole Ethernet captures, a 2-byte length before each frame, in windows of
                up to 64 frames (tests/fuzz/fuzz_engine.c)
"""
import hashlib
import os
import struct
import sys

# Must match the order of the link type table in tests/fuzz/fuzz_decode.c.
DECODE_LINKTYPES = [1, 113, 276, 101, 0, 108, 12, 14, 228, 229]

# How a client stream starts when a proxy preamble comes first (tests/fuzz/fuzz_proxy.c).
PREAMBLES = (b"CONNECT ", b"PROXY ", b"\r\n\r\n\x00\r\nQUIT\n")

# How an HTTP/1.x request starts: the methods tw_http_maybe_request knows (src/proto/http.c).
HTTP_METHODS = tuple(m + b" " for m in (
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
    b"PROPFIND", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"PROPPATCH", b"SEARCH",
    b"REPORT", b"MKCALENDAR", b"MKACTIVITY", b"CHECKOUT", b"MERGE", b"ACL"))


def frames(path):
    with open(path, "rb") as fp:
        data = fp.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xd4, 0x4d) else ">"
        linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
        off = 24
        while off + 16 <= len(data):
            incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            yield linktype, data[off + 16:off + 16 + incl]
            off += 16 + incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        links = []
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12:
                break
            body = data[off + 8:off + blen - 4]
            if btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                ifid, _, _, caplen, _ = struct.unpack(e + "IIIII", body[:20])
                if ifid < len(links):
                    yield links[ifid], body[20:20 + caplen]
            off += blen


def l4_payloads(linktype, frame):
    """Minimal walk to the UDP/TCP payload, enough for seeding."""
    if linktype == 1:
        off, et = 14, frame[12:14]
        while et in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:
            et, off = frame[off + 2:off + 4], off + 4
        ip = frame[off:] if et in (b"\x08\x00", b"\x86\xdd") else b""
    elif linktype == 113:
        ip = frame[16:]
    elif linktype == 276:
        ip = frame[20:]
    elif linktype in (0, 108):
        ip = frame[4:]
    else:
        ip = frame
    if len(ip) < 20:
        return None
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        proto, l4 = ip[9], ip[ihl:]
    elif ip[0] >> 4 == 6 and len(ip) >= 40:
        proto, l4 = ip[6], ip[40:]
    else:
        return None
    if proto == 17 and len(l4) >= 8:
        return "udp", struct.unpack(">HH", l4[:4]), l4[8:]
    if proto == 6 and len(l4) >= 20:
        return "tcp", struct.unpack(">HH", l4[:4]), l4[(l4[12] >> 4) * 4:]
    return None


def varint(v):
    if v < 64:
        return bytes([v])
    if v < 16384:
        return struct.pack(">H", 0x4000 | v)
    return struct.pack(">I", 0x80000000 | v)


def quic_seeds(proto, payload):
    """fuzz_quic inputs: records of a 2-byte length and bytes, behind a mode byte."""
    if proto == "udp" and payload[0] & 0xc0 == 0xc0:
        yield b"\x00" + struct.pack(">H", len(payload)) + payload
    if proto == "tcp" and len(payload) >= 9 and payload[0] == 0x16 and payload[5] == 1:
        hs = payload[5:5 + struct.unpack(">H", payload[3:5])[0]]
        half = len(hs) // 2
        frames = [b"\x06" + varint(half) + varint(len(hs) - half) + hs[half:],
                  b"\x01\x00\x06\x00" + varint(half) + hs[:half]]
        yield b"\x01" + b"".join(struct.pack(">H", len(f)) + f for f in frames)


def put(d, blob):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(blob).hexdigest()), "wb") as fp:
        fp.write(blob)


def main():
    out, src = sys.argv[1], sys.argv[2]
    n = 0
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".pcap", ".pcapng")):
                continue
            with open(os.path.join(root, name), "rb") as fp:
                head = fp.read()[:65536]
            if name.endswith(".pcapng"):
                put(os.path.join(out, "fuzz_pcapng"), head)
            put(os.path.join(out, "fuzz_capfile"), head)
            eth = [f for lt, f in frames(os.path.join(root, name)) if lt == 1 and len(f) < 65536]
            for i in range(0, len(eth), 64):
                put(os.path.join(out, "fuzz_engine"),
                    b"".join(struct.pack(">H", len(f)) + f for f in eth[i:i + 64]))
            for linktype, frame in frames(os.path.join(root, name)):
                if linktype in DECODE_LINKTYPES:
                    put(os.path.join(out, "fuzz_decode"),
                        bytes([DECODE_LINKTYPES.index(linktype)]) + frame)
                r = l4_payloads(linktype, frame)
                if r is None or not r[2]:
                    continue
                proto, (sport, dport), payload = r
                for seed in quic_seeds(proto, payload):
                    put(os.path.join(out, "fuzz_quic"), seed)
                if 53 in (sport, dport):
                    put(os.path.join(out, "fuzz_dns"), payload if proto == "udp" else payload[2:])
                elif proto == "tcp" and payload[0] == 0x16:
                    put(os.path.join(out, "fuzz_tls"), payload)
                elif proto == "tcp" and payload.startswith(PREAMBLES):
                    put(os.path.join(out, "fuzz_proxy"), payload)
                if proto == "tcp" and payload.lstrip(b"\r\n").startswith(HTTP_METHODS):
                    put(os.path.join(out, "fuzz_http"), payload)
                n += 1
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    # Whole client streams of the crafted hellos of pcaps/tls_lenient.pcap (records skipped
    # before the hello, many records, up to 131 KiB): bigger than any one captured segment.
    sys.path.insert(0, os.path.join(root, "pcaps", "tools"))
    import tlshello
    for make in tlshello.CASES.values():
        put(os.path.join(out, "fuzz_tls"), make())
    for sel, pattern_dir, exts in ((0, "rules", (".yml",)), (1, "tests/intel", ("",)),
                                   (2, "tests/exclude", ("",))):
        d = os.path.join(root, pattern_dir)
        for dirpath, _, names in os.walk(d):
            for name in sorted(names):
                if name.endswith(exts):
                    with open(os.path.join(dirpath, name), "rb") as fp:
                        blob = fp.read()
                    put(os.path.join(out, "fuzz_rulefiles"), bytes([sel]) + blob)
                    if sel == 0:
                        put(os.path.join(out, "fuzz_yaml"), blob)
                        put(os.path.join(out, "fuzz_rulecache"), bytes([0]) + blob)
    print(f"seeds: {n} payloads from {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
