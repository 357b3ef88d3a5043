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
  flow_flood.pcap     resolve_connect's ClientHello flow with the hello in two segments 20 ms
                      apart and, between them, SYNs of 5000 new flows: replayed with
                      --flows 4096, the flow that holds half a hello is not the one evicted.
  buffer_flood.pcap   pools filled by flows stalled holding part of a name, then the real
                      ones 20 s later: 80 TCP flows (10.98.0.0/16) whose SYN is followed by
                      the first 100 bytes of resolve_connect's ClientHello and nothing more,
                      80 mid-stream flows (10.97.0.0/16, no SYN) sending its first byte,
                      80 QUIC flows (10.96.0.0/16) sending the first of the two Initials of
                      quic's x9.localtonet.com hello (addresses and ports changed: the
                      Initial still decrypts). Then resolve_connect's ClientHello flow with
                      the hello in two segments 20 ms apart, the same flow mid-stream (no
                      SYN, client port 52101) with a first segment of 1 byte, and quic's
                      x9.localtonet.com flow. Replayed with --stream-buffers,
                      --midstream-buffers and --quic-states 64, each real one needs what
                      a stalled flow holds.
  offload.pcap        resolve_connect as a capture on the sending host with checksum offload
                      shows it: every TCP/UDP checksum holds the pseudo-header sum the NIC
                      would complete.
  midstream_split.pcap  captures begun mid-flow: the TCP flow of resolve_connect's ClientHello,
                      of dns_tcp's first query and of http's first request, each 8 times
                      (client ports 52001...) without its SYN and SYN-ACK, the first client
                      segment cut after 1, 2 or 3 bytes, the two pieces in order or reversed,
                      and cut into three (1 byte, 3 bytes, the rest) in order or reversed.
                      tshark cannot read a name whose first byte comes after later ones on
                      a flow whose start it has not seen: those rows are in
                      midstream_split.pcap.names.extra.tsv, from tshark on the same flows
                      in order.
  tcp_overlap.pcap    insertion decoys a receiver never gets (IPv4 TTL 1) but a sensor does,
                      with valid checksums: resolve_connect's ClientHello flow 3 times (client
                      ports 53001...): a hello for a benign name at the sequence number of the
                      real one, before it (the real one whole, then in two segments); and the
                      real hello's second half, then the decoy's second half over it, then the
                      first half (reassembly keeps the bytes that came first).

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


def craft_flow_flood(src):
    """The ClientHello flow of resolve_connect with its hello cut in two segments (the first
    100 bytes, then the rest 20 ms later) and, between them, SYNs of 5000 new flows
    (10.99.0.0/16 -> 192.0.2.80:443, one packet each): more new flows than a 4096-flow table
    holds, so the half-read flow is the oldest when they come."""
    flow, first = flow_of(read_pcap(src), lambda p: p.is_hello() and p.version == 4)
    out, gap = [], 20_000
    for i, (ts, p) in enumerate(flow):
        if i < first:
            out.append([ts, p.frame])
            continue
        if i > first:
            out.append([ts + gap, p.frame])
            continue
        data, port = p.payload(), p.sport()
        out.append([ts, tcp_rebuild(p, port, port, data[:100], 0)])
        for k in range(5000):
            saddr = bytes([10, 99, k >> 8, k & 0xff])
            daddr = bytes([192, 0, 2, 80])
            seg = struct.pack("!HHIIBBHHH", 40000 + k % 20000, 443, 1000 + k, 0, 0x50, 0x02,
                              64240, 0, 0)
            seg = seg[:16] + struct.pack("!H", l4_checksum(4, saddr, daddr, 6, seg)) + seg[18:]
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), k & 0xffff, 0x4000, 64, 6,
                             0, saddr, daddr)
            out.append([ts + 1 + k * 3, p.link + ip4_header_fix(ip) + seg])
        out.append([ts + gap, tcp_rebuild(p, port, port, data[100:], 100)])
    return out


def ip4_frame(link, proto, saddr, daddr, seg, ident):
    """An IPv4 frame after link bytes `link`, its L4 checksum and header checksum made."""
    seg = with_checksum(type("P", (), {"proto": proto})(), seg,
                        l4_checksum(4, saddr, daddr, proto, seg))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), ident & 0xffff, 0x4000, 64, proto,
                     0, saddr, daddr)
    return link + ip4_header_fix(ip) + seg


BUFFER_FLOOD = 80  # stalled flows of each kind


def craft_buffer_flood(d, quic_copies=True):
    """See buffer_flood.pcap in the module's text (without the stalled QUIC flows unless
    quic_copies)."""
    rc = read_pcap(os.path.join(d, "resolve_connect.pcap"))
    flow, first = flow_of(rc, lambda p: p.is_hello() and p.version == 4)
    hello = flow[first][1]
    link, hdata = hello.link, hello.payload()
    quic = [[ts, Pkt(f)] for ts, f in read_pcap(os.path.join(d, "quic.pcap"))]
    qflow = [(ts, p) for ts, p in quic
             if p.ok and p.proto == 17 and 43169 in (p.sport(), p.dport())]
    qfirst = next(p for ts, p in qflow if p.sport() == 43169)
    t0, out = flow[0][0] - 30_000_000, []
    for k in range(BUFFER_FLOOD):
        t = t0 + k * 1000
        a = bytes([10, 98, k >> 8, k & 0xff])
        port, isn = 40000 + k, 1000 + k * 7919
        syn = struct.pack("!HHIIBBHHH", port, 443, isn, 0, 0x50, 0x02, 64240, 0, 0)
        seg = struct.pack("!HHIIBBHHH", port, 443, isn + 1, 1, 0x50, 0x18, 64240, 0, 0)
        out.append([t, ip4_frame(link, 6, a, hello.dst, syn, k)])
        out.append([t + 300, ip4_frame(link, 6, a, hello.dst, seg + hdata[:100], k + 1)])
        a = bytes([10, 97, k >> 8, k & 0xff])
        seg = struct.pack("!HHIIBBHHH", port, 443, isn + 1, 1, 0x50, 0x18, 64240, 0, 0)
        out.append([t + 500, ip4_frame(link, 6, a, hello.dst, seg + hdata[:1], k + 2)])
        if not quic_copies:
            continue
        a = bytes([10, 96, k >> 8, k & 0xff])
        udp = struct.pack("!HHHH", port, qfirst.dport(), 8 + len(qfirst.payload()), 0)
        out.append([t + 700, ip4_frame(link, 17, a, qfirst.dst, udp + qfirst.payload(), k + 3)])
    t1 = flow[0][0] - 10_000_000  # 20 s after the last stalled flow
    for i, (ts, p) in enumerate(flow):
        if i != first:
            out.append([ts, p.frame])
            continue
        port = p.sport()
        out.append([ts, tcp_rebuild(p, port, port, hdata[:100], 0)])
        out.append([ts + 20_000, tcp_rebuild(p, port, port, hdata[100:], 100)])
    out += split_flow(flow, first, 52101, flow[-1][0] + 1_000_000, (1,), False)
    qbase = qflow[0][0]
    out += [[out[-1][0] + 1_000_000 + ts - qbase, p.frame] for ts, p in qflow]
    out.sort(key=lambda r: r[0])
    assert out[0][0] >= 0 and t1 > out[(4 if quic_copies else 3) * BUFFER_FLOOD - 1][0]
    return out


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


def flow_of(recs, pred):
    """The packets (ts, Pkt) of the first TCP flow whose first client payload satisfies pred,
    and the index of that packet in the list."""
    seen = set()
    for ts, frame in recs:
        p = Pkt(frame)
        if not (p.ok and p.proto == 6 and p.payload()):
            continue
        key = (p.src, p.sport(), p.dst, p.dport())
        if key in seen:
            continue
        seen.add(key)
        if not pred(p):
            continue
        out, first = [], None
        for ts2, frame2 in recs:
            q = Pkt(frame2)
            if not (q.ok and q.proto == 6):
                continue
            k2 = (q.src, q.sport(), q.dst, q.dport())
            if k2 == key or k2 == (p.dst, p.dport(), p.src, p.sport()):
                if first is None and k2 == key and q.payload():
                    first = len(out)
                out.append((ts2, q))
        return out, first
    sys.exit("no such flow")


def tcp_rebuild(p, client_port, old_port, payload=None, seq_delta=0, ttl=None):
    """p's frame with the client's port old_port replaced, the payload replaced and the
    sequence number moved (checksums redone)."""
    hl = (p.seg[12] >> 4) * 4
    h = bytearray(p.seg[:hl])
    if p.sport() == old_port:
        h[0:2] = struct.pack("!H", client_port)
    if p.dport() == old_port:
        h[2:4] = struct.pack("!H", client_port)
    seq = (struct.unpack_from("!I", h, 4)[0] + seq_delta) & 0xffffffff
    h[4:8] = struct.pack("!I", seq)
    seg = bytes(h) + (p.payload() if payload is None else payload)
    seg = with_checksum(p, seg, l4_checksum(p.version, p.src, p.dst, 6, seg))
    ip = None
    if ttl is not None:
        ip = bytearray(p.ip)
        ip[8] = ttl
    return p.rebuild(seg, ip)


def split_flow(flow, first, port, t0, cuts, reverse):
    """The flow without its SYN and SYN-ACK, client port `port`, from time t0, with the first
    client payload cut at `cuts`, the pieces in order or reversed."""
    out, base = [], flow[0][0]
    old = flow[first][1].sport()
    for i, (ts, p) in enumerate(flow):
        t = t0 + ts - base
        if p.seg[13] & 0x02:
            continue
        if i != first:
            out.append([t, tcp_rebuild(p, port, old)])
            continue
        data = p.payload()
        edges = [0] + list(cuts) + [len(data)]
        pieces = [tcp_rebuild(p, port, old, data[a:b], a) for a, b in zip(edges, edges[1:])]
        if reverse:
            pieces.reverse()
        out += spread(t, pieces)
    return out


def midstream_flows(d):
    """The three source flows of midstream_split: a ClientHello, a DNS query, a request."""
    rc = read_pcap(os.path.join(d, "resolve_connect.pcap"))
    dns = read_pcap(os.path.join(d, "dns_tcp.pcap"))
    http = read_pcap(os.path.join(d, "http.pcap"))
    return [flow_of(rc, lambda p: p.is_hello() and p.version == 4),
            flow_of(dns, lambda p: p.dport() == 53),
            flow_of(http, lambda p: p.payload()[:4] in (b"GET ", b"POST"))]


MIDSTREAM_CUTS = [((1,), False), ((1,), True), ((2,), False), ((2,), True), ((3,), False),
                  ((3,), True), ((1, 4), False), ((1, 4), True)]


def craft_midstream_split(d, in_order=False):
    out, port, t0 = [], 52001, None
    for flow, first in midstream_flows(d):
        for cuts, reverse in MIDSTREAM_CUTS:
            t0 = flow[0][0] if t0 is None else t0
            out += split_flow(flow, first, port, t0, cuts, reverse and not in_order)
            port += 1
            t0 = out[-1][0] + 1_000_000
    return out


def craft_tcp_overlap(src, decoys=True):
    flow, first = flow_of(read_pcap(src), lambda p: p.is_hello() and p.version == 4)
    out, t0 = [], flow[0][0]
    for case in range(3):
        port = 53001 + case
        old = flow[first][1].sport()
        base = flow[0][0]
        for i, (ts, p) in enumerate(flow):
            t = t0 + ts - base
            if i != first:
                out.append([t, tcp_rebuild(p, port, old)])
                continue
            real = p.payload()
            decoy, _ = replace_name(real, b"files.example-corp.com", b"www.wikipedia.org.test")
            if case == 0:
                frames = [tcp_rebuild(p, port, old, decoy, ttl=1), tcp_rebuild(p, port, old)]
                frames = frames if decoys else frames[1:]
            elif case == 1:
                frames = [tcp_rebuild(p, port, old, decoy, ttl=1),
                          tcp_rebuild(p, port, old, real[:40]),
                          tcp_rebuild(p, port, old, real[40:], 40)]
                frames = frames if decoys else frames[1:]
            else:
                frames = [tcp_rebuild(p, port, old, real[40:], 40),
                          tcp_rebuild(p, port, old, decoy[40:], 40, ttl=1),
                          tcp_rebuild(p, port, old, real[:40])]
            out += spread(t, frames)
        t0 = out[-1][0] + 1_000_000
    return out


def extra_names(path, recs, ports, reason):
    """path's .names.extra.tsv: tshark's rows, from the capture recs (written next to path for
    the time it takes), of the flows with client ports `ports`, each with the reason."""
    tmp = path + ".tmp.pcap"
    write_pcap(tmp, recs)
    try:
        names(tmp, False)
        with open(tmp + ".names.tsv", encoding="utf-8") as fp:
            rows = fp.read().splitlines()
    finally:
        for f in (tmp, tmp + ".names.tsv"):
            if os.path.exists(f):
                os.remove(f)
    head = rows[0].split("\t")
    tcp, udp = head.index("tcp.srcport"), head.index("udp.srcport")
    with open(path + ".names.extra.tsv", "w", encoding="utf-8") as fp:
        fp.write(rows[0] + "\treason\n")
        for r in rows[1:]:
            f = r.split("\t")
            if int(f[tcp] or f[udp]) in ports:
                fp.write(f"{r}\t{reason}\n")


MIDSTREAM_REASON = ("mid-stream, the first bytes after later ones: tshark 4.0 reassembles from "
                    "the first segment it sees; row from tshark on the same flows in order")
QUIC_DCID_REASON = ("tshark 4.0 takes QUIC Initials with the same Destination Connection ID for "
                    "one connection's, so the real flow's first Initial for a retransmission of "
                    "the stalled copies'; row from tshark on the capture without the copies")
OVERLAP_REASON = ("a second ClientHello at the sequence numbers of the decoy: tshark 4.0 "
                  "reads a retransmission; row from tshark on the capture without the decoys")


def names(path, checksums):
    opts = ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tls.desegment_ssl_records:TRUE",
            "-o", "tcp.reassemble_out_of_order:TRUE", "-d", "tcp.port==5443,tls",
            "-d", "udp.port==4433,quic"]
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
    reversed_ports = {52001 + i for i in range(3 * len(MIDSTREAM_CUTS)) if MIDSTREAM_CUTS[i % len(MIDSTREAM_CUTS)][1]}
    extras = {"midstream_split.pcap": (lambda: craft_midstream_split(d, True), reversed_ports,
                                       MIDSTREAM_REASON),
              "tcp_overlap.pcap": (lambda: craft_tcp_overlap(rc, False), {53001, 53002},
                                   OVERLAP_REASON),
              "buffer_flood.pcap": (lambda: craft_buffer_flood(d, False), {43169},
                                    QUIC_DCID_REASON)}
    jobs = [("frag_ipv4.pcap", craft_frag_ipv4, rc, False),
            ("frag_overlap.pcap", craft_frag_overlap, rc, False),
            ("frag_ipv6_vlan.pcap", craft_frag_ipv6_vlan, v6, False),
            ("frag_flood.pcap", craft_frag_flood, rc, False),
            ("tls_decoy.pcap", craft_tls_decoy, rc, True),
            ("offload.pcap", craft_offload, rc, False),
            ("midstream_split.pcap", craft_midstream_split, d, False),
            ("tcp_overlap.pcap", craft_tcp_overlap, rc, False),
            ("flow_flood.pcap", craft_flow_flood, rc, False),
            ("buffer_flood.pcap", craft_buffer_flood, d, False)]
    for name, fn, src, checksums in jobs:
        path = os.path.join(od, name)
        write_pcap(path, fn(src))
        names(path, checksums)
        n = sum(1 for _ in open(path + ".names.tsv")) - 1
        if name in extras:
            make, ports, reason = extras[name]
            extra_names(path, make(), ports, reason)
            n += sum(1 for _ in open(path + ".names.extra.tsv")) - 1
        print(f"{name:22} {n:3} names")


if __name__ == "__main__":
    main()
