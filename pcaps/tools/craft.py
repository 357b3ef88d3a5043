#!/usr/bin/env python3
"""Crafted evasion captures, rewritten from the real captures gen.sh made.

usage: craft.py [PCAPDIR [OUTDIR]]   (default: the directory above this script, and PCAPDIR)

Reads PCAPDIR/resolve_connect.pcap and PCAPDIR/ipv6_vlan.pcap (Ethernet, classic pcap) and
writes into OUTDIR, each with its .names.tsv from tshark (same columns and options as
gen.sh, plus -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE;
frames tshark flags with a bad checksum are left out of the table, as the receiver drops them):

  frag_ipv4.pcap      resolve_connect with the names' packets in IPv4 fragments: the 1st DNS
                      query in order, the 2nd reversed, the 3rd each fragment wrapped in VXLAN
                      (UDP 4789), the ClientHello reversed, the 4th query in random order
                      (seeded), the others in order.
  frag_overlap.pcap   resolve_connect with overlaps: the 1st query with a duplicate fragment
                      and an overlapping one of the same bytes; the ClientHello with a later
                      fragment that overlaps the server_name with other letters (reassembly
                      policy "first": the bytes that came first win; tshark keeps the lower
                      offset, and the conflicting fragment is both later and higher).
  frag_ipv6_vlan.pcap ipv6_vlan with every DNS query and ClientHello in fragments: IPv6
                      (fragment header) and IPv4, untagged, behind 802.1Q and 802.1ad+802.1Q.
  frag_flood.pcap     1100 first fragments (UDP to port 53, never completed) from one
                      address, then resolve_connect 40 s later: every one of them times out
                      or is evicted, the names are all read.
  tls_decoy.pcap      resolve_connect with insertion decoys the server drops: before the
                      ClientHello the same segment (same sequence number and length) with a
                      benign server_name and a bad TCP checksum; before the 1st and 2nd DNS
                      queries a query for a benign name with a bad UDP checksum and one with
                      a bad IPv4 header checksum.
  offload.pcap        resolve_connect as a capture on the sending host with checksum offload
                      shows it: every TCP/UDP checksum holds the pseudo-header sum the NIC
                      would complete.

Only the Python standard library is used. The output is deterministic.
"""
import os
import random
import struct
import subprocess
import sys

NAMES_FILTER = "dns.flags.response==0 || tls.handshake.type==1 || http.request"
NAMES_FIELDS = ["frame.number", "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport",
                "dns.qry.name", "dns.qry.type", "tls.handshake.extensions_server_name",
                "http.host", "http.request.uri", "quic.version"]


def read_pcap(path):
    with open(path, "rb") as fp:
        data = fp.read()
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        sys.exit(f"{path}: not a little-endian classic pcap")
    nano = magic == b"\x4d\x3c\xb2\xa1"
    linktype = struct.unpack_from("<I", data, 20)[0]
    if linktype != 1:
        sys.exit(f"{path}: link type {linktype}, not Ethernet")
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
        off += 16
        ts = sec * 1_000_000 + (frac // 1000 if nano else frac)
        recs.append([ts, data[off:off + incl]])
        off += incl
    return recs


def write_pcap(path, recs):
    with open(path, "wb") as fp:
        fp.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for ts, frame in recs:
            fp.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
            fp.write(frame)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def ip4_header_fix(h):
    h = bytearray(h)
    h[10:12] = b"\0\0"
    h[10:12] = struct.pack("!H", ~csum(bytes(h)) & 0xffff)
    return bytes(h)


def pseudo(version, src, dst, proto, length):
    if version == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def l4_checksum(version, src, dst, proto, seg):
    """The correct checksum of seg (its own field ignored)."""
    off = 16 if proto == 6 else 6
    seg = seg[:off] + b"\0\0" + seg[off + 2:]
    c = ~csum(pseudo(version, src, dst, proto, len(seg)) + seg) & 0xffff
    if proto == 17 and c == 0:
        c = 0xffff
    return c


def partial_checksum(version, src, dst, proto, seg):
    """What Linux leaves in the field under checksum offload: the folded pseudo-header sum."""
    return csum(pseudo(version, src, dst, proto, len(seg)))


class Pkt:
    """An Ethernet frame: link bytes (with VLAN tags), IP header, L4 segment."""

    def __init__(self, frame):
        self.frame = frame
        off, et = 14, struct.unpack_from("!H", frame, 12)[0]
        while et in (0x8100, 0x88a8):
            et = struct.unpack_from("!H", frame, off + 2)[0]
            off += 4
        self.link = frame[:off]
        self.et = et
        self.ok = False
        if et == 0x0800:
            hl = (frame[off] & 0x0f) * 4
            tot = struct.unpack_from("!H", frame, off + 2)[0]
            self.version, self.ip = 4, frame[off:off + hl]
            self.proto = frame[off + 9]
            self.src, self.dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
            self.seg = frame[off + hl:off + tot]
            self.ok = self.proto in (6, 17)
        elif et == 0x86dd:
            plen = struct.unpack_from("!H", frame, off + 4)[0]
            self.version, self.ip = 6, frame[off:off + 40]
            self.proto = frame[off + 6]
            self.src, self.dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
            self.seg = frame[off + 40:off + 40 + plen]
            self.ok = self.proto in (6, 17)
        self.trailer = b""

    def sport(self):
        return struct.unpack_from("!H", self.seg, 0)[0]

    def dport(self):
        return struct.unpack_from("!H", self.seg, 2)[0]

    def payload(self):
        if self.proto == 17:
            return self.seg[8:]
        return self.seg[(self.seg[12] >> 4) * 4:]

    def is_dns_query(self):
        return self.ok and self.proto == 17 and self.dport() == 53

    def is_hello(self):
        p = self.payload() if self.ok and self.proto == 6 else b""
        return len(p) > 6 and p[0] == 0x16 and p[5] == 0x01

    def rebuild(self, seg=None, ip=None):
        """The frame with a new segment (lengths and the IPv4 header checksum redone)."""
        seg = self.seg if seg is None else seg
        ip = bytearray(self.ip if ip is None else ip)
        if self.version == 4:
            ip[2:4] = struct.pack("!H", len(ip) + len(seg))
            ip = ip4_header_fix(bytes(ip))
        else:
            ip[4:6] = struct.pack("!H", len(seg))
        return self.link + bytes(ip) + seg


def with_checksum(p, seg, value):
    off = 16 if p.proto == 6 else 6
    return seg[:off] + struct.pack("!H", value) + seg[off + 2:]


def fragments(p, size, ident, order="in", rng=None):
    """Frames of p's segment cut into fragments of `size` bytes (a multiple of 8), in the given
    order: list of (offset, frame)."""
    seg, out = p.seg, []
    pieces = [(o, seg[o:o + size]) for o in range(0, len(seg), size)]
    for i, (o, data) in enumerate(pieces):
        more = i + 1 < len(pieces)
        out.append((o, frag_frame(p, o, data, more, ident)))
    if order == "reversed":
        out.reverse()
    elif order == "random":
        rng.shuffle(out)
    return out


def frag_frame(p, offset, data, more, ident):
    if p.version == 4:
        ip = bytearray(p.ip)
        ip[4:6] = struct.pack("!H", ident & 0xffff)
        ip[6:8] = struct.pack("!H", (0x2000 if more else 0) | (offset // 8))
        ip[2:4] = struct.pack("!H", len(ip) + len(data))
        return p.link + ip4_header_fix(bytes(ip)) + data
    ip = bytearray(p.ip)
    ip[6] = 44
    ip[4:6] = struct.pack("!H", 8 + len(data))
    fh = struct.pack("!BBHI", p.proto, 0, offset | (1 if more else 0), ident)
    return p.link + bytes(ip) + fh + data


def vxlan_wrap(frame, n):
    """An outer Ethernet/IPv4/UDP 4789/VXLAN around frame, between two tunnel endpoints."""
    inner = struct.pack("!BBHI", 0x08, 0, 0, 42 << 8) + frame
    udp = struct.pack("!HHHH", 40000 + n, 4789, 8 + len(inner), 0) + inner
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x7000 + n, 0, 64, 17, 0,
                     bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    ip = ip4_header_fix(ip)
    udp = udp[:6] + struct.pack("!H", l4_checksum(4, ip[12:16], ip[16:20], 17, udp)) + udp[8:]
    eth = bytes.fromhex("02000000aa01" "02000000aa02") + b"\x08\x00"
    return eth + ip + udp


def spread(ts, frames, step=10):
    return [[ts + i * step, f] for i, f in enumerate(frames)]


def replace_name(payload, old, new):
    assert len(old) == len(new), (old, new)
    i = payload.find(old)
    assert i >= 0, old
    return payload[:i] + new + payload[i + len(old):], i


def craft_frag_ipv4(src):
    recs, out, q, ident = read_pcap(src), [], 0, 0x5100
    rng = random.Random(0x7477)
    for ts, frame in recs:
        p = Pkt(frame)
        ident += 1
        if p.is_dns_query():
            q += 1
            if q == 1:
                fr = [f for _, f in fragments(p, 16, ident)]
            elif q == 2:
                fr = [f for _, f in fragments(p, 16, ident, "reversed")]
            elif q == 3:
                fr = [vxlan_wrap(f, i) for i, (_, f) in enumerate(fragments(p, 24, ident))]
            elif q == 4:
                fr = [f for _, f in fragments(p, 8 * 3, ident, "random", rng)]
            else:
                fr = [f for _, f in fragments(p, 32, ident)]
            out += spread(ts, fr)
        elif p.is_hello() and p.version == 4:
            out += spread(ts, [f for _, f in fragments(p, 64, ident, "reversed")])
        else:
            out.append([ts, frame])
    return out


def craft_frag_overlap(src):
    recs, out, q, ident = read_pcap(src), [], 0, 0x6100
    for ts, frame in recs:
        p = Pkt(frame)
        ident += 1
        if p.is_dns_query() and q == 0:
            q += 1
            fr = fragments(p, 16, ident)
            # a duplicate of the first fragment, and 16 bytes at offset 8 again (same bytes)
            dup = fr[0][1]
            again = frag_frame(p, 8, p.seg[8:24], True, ident)
            out += spread(ts, [fr[0][1], dup, again] + [f for _, f in fr[1:]])
        elif p.is_hello() and p.version == 4:
            sni = b"files.example-corp.com"
            decoy_payload, at = replace_name(p.payload(), sni, b"files.example-corq.net")
            hdr = len(p.seg) - len(p.payload())
            pos = hdr + at  # the name's offset in the segment
            fr = fragments(p, 64, ident)
            # 16 bytes over the name's last letters (where "corp.com" and "corq.net" differ),
            # at a higher offset than the start of the fragment that holds them
            start = (pos + 16) // 8 * 8
            if start == (pos + 16) // 64 * 64:
                start += 8
            end = start + 16
            decoy_seg = p.seg[:hdr] + decoy_payload
            assert decoy_seg[start:end] != p.seg[start:end]
            conflict = frag_frame(p, start, decoy_seg[start:end], True, ident)
            # the conflicting bytes come after the original ones, before the last fragment
            frames = [f for _, f in fr]
            frames.insert(len(frames) - 1, conflict)
            out += spread(ts, frames)
        else:
            out.append([ts, frame])
    return out


def craft_frag_ipv6_vlan(src):
    recs, out, ident = read_pcap(src), [], 0x7100
    for ts, frame in recs:
        p = Pkt(frame)
        ident += 1
        if p.is_dns_query():
            out += spread(ts, [f for _, f in fragments(p, 16, ident, "reversed")])
        elif p.is_hello():
            out += spread(ts, [f for _, f in fragments(p, 96, ident)])
        else:
            out.append([ts, frame])
    return out


def craft_frag_flood(src):
    recs = read_pcap(src)
    t0 = recs[0][0]
    p = Pkt(recs[0][1])
    flood = []
    eth = bytes.fromhex("02000000bb01" "02000000bb02") + b"\x08\x00"
    for i in range(1100):
        data = struct.pack("!HHHH", 30000 + i, 53, 64, 0) + bytes(16)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), i, 0x2000, 64, 17, 0,
                         bytes([198, 51, 100, 7]), bytes([10, 20, 0, 1]))
        flood.append([t0 - 2_000_000 + i * 100, eth + ip4_header_fix(ip) + data])
    del p
    return flood + [[ts + 40_000_000, f] for ts, f in recs]


def benign_qname(msg):
    """The DNS message with every letter of its first question's name replaced (same
    lengths): a name no rule knows."""
    out, i, k = bytearray(msg), 12, 0
    while out[i] != 0:
        n = out[i]
        for j in range(i + 1, i + 1 + n):
            out[j] = b"benign"[k % 6]
            k += 1
        i += 1 + n
    return bytes(out)


def craft_tls_decoy(src):
    recs, out, q = read_pcap(src), [], 0
    for ts, frame in recs:
        p = Pkt(frame)
        if p.is_hello() and p.version == 4:
            payload, _ = replace_name(p.payload(), b"files.example-corp.com",
                                      b"www.wikipedia.org.test")
            hdr = p.seg[:len(p.seg) - len(p.payload())]
            seg = hdr + payload
            good = l4_checksum(4, p.src, p.dst, 6, seg)
            out.append([ts - 20, p.rebuild(with_checksum(p, seg, good ^ 0x5a5a))])
        elif p.is_dns_query() and q < 2:
            q += 1
            seg = p.seg[:8] + benign_qname(p.payload())
            good = l4_checksum(p.version, p.src, p.dst, 17, seg)
            if q == 1:  # a bad UDP checksum
                out.append([ts - 20, p.rebuild(with_checksum(p, seg, good ^ 0x0f0f))])
            else:  # a correct UDP checksum, a bad IPv4 header checksum
                f = bytearray(p.rebuild(with_checksum(p, seg, good)))
                ipo = len(p.link)
                f[ipo + 10] ^= 0x33
                out.append([ts - 20, bytes(f)])
        out.append([ts, frame])
    return out


def craft_offload(src):
    out = []
    for ts, frame in read_pcap(src):
        p = Pkt(frame)
        if p.ok and p.version in (4, 6):
            seg = with_checksum(p, p.seg, partial_checksum(p.version, p.src, p.dst, p.proto, p.seg))
            frame = p.rebuild(seg) + frame[len(p.link) + len(p.ip) + len(p.seg):]
        out.append([ts, frame])
    return out


def names(path, checksums):
    opts = ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tls.desegment_ssl_records:TRUE",
            "-o", "tcp.reassemble_out_of_order:TRUE", "-d", "tcp.port==5443,tls"]
    flt = NAMES_FILTER
    if checksums:
        opts += ["-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                 "-o", "ip.check_checksum:TRUE"]
        flt = f"({flt}) && !(tcp.checksum.status==0 || udp.checksum.status==0 || " \
              "ip.checksum.status==0)"
    cmd = ["tshark", "-n", "-r", path] + opts + ["-Y", flt, "-T", "fields", "-E", "header=y"]
    for f in NAMES_FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, check=True)
    with open(path + ".names.tsv", "wb") as fp:
        fp.write(res.stdout)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(here)
    od = sys.argv[2] if len(sys.argv) > 2 else d
    rc, v6 = os.path.join(d, "resolve_connect.pcap"), os.path.join(d, "ipv6_vlan.pcap")
    jobs = [("frag_ipv4.pcap", craft_frag_ipv4, rc, False),
            ("frag_overlap.pcap", craft_frag_overlap, rc, False),
            ("frag_ipv6_vlan.pcap", craft_frag_ipv6_vlan, v6, False),
            ("frag_flood.pcap", craft_frag_flood, rc, False),
            ("tls_decoy.pcap", craft_tls_decoy, rc, True),
            ("offload.pcap", craft_offload, rc, False)]
    for name, fn, src, checksums in jobs:
        path = os.path.join(od, name)
        write_pcap(path, fn(src))
        names(path, checksums)
        n = sum(1 for _ in open(path + ".names.tsv")) - 1
        print(f"{name:22} {n:3} names")


if __name__ == "__main__":
    main()
