#!/usr/bin/env python3
"""Rewrite an Ethernet (LINKTYPE_ETHERNET) pcap into BSD loopback (LINKTYPE_NULL).

Linux cannot capture LINKTYPE_NULL (it is what BSD/macOS lo0 produces), so
pcaps/linktypes/null.pcap is derived from the real Ethernet capture
pcaps/linktypes/ether.pcap: each 14-byte Ethernet header (including any
802.1Q tags) is replaced by the 4-byte address-family word in little-endian
host order, AF_INET = 2 and AF_INET6 = 30 (the macOS value; libpcap and
Wireshark also accept 24 and 28).  Non-IP frames (ARP) are dropped, timestamps
and the IP packets themselves are kept byte for byte.

usage: ether2null.py IN.pcap OUT.pcap
"""
import struct, sys

AF = {0x0800: 2, 0x86dd: 30}


def main(src, dst):
    data = open(src, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("not a classic pcap file: " + src)
    vmaj, vmin, tz, sig, snap, lt = struct.unpack(e + "HHiIII", data[4:24])
    if lt & 0xffff != 1:
        sys.exit("link type %d is not Ethernet" % lt)
    out = [data[:4] + struct.pack(e + "HHiIII", vmaj, vmin, tz, sig, snap, 0)]
    off = 24
    while off + 16 <= len(data):
        ts1, ts2, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        hl = 12
        et = struct.unpack("!H", pkt[hl:hl + 2])[0]
        while et in (0x8100, 0x88a8):
            hl += 4
            et = struct.unpack("!H", pkt[hl:hl + 2])[0]
        if et not in AF:
            continue
        body = pkt[hl + 2:]
        hdr = struct.pack("<I", AF[et])
        out.append(struct.pack(e + "IIII", ts1, ts2, len(body) + 4, orig - (hl + 2) + 4) + hdr + body)
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
