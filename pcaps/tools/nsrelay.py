#!/usr/bin/env python3
"""Userspace link relays between two network namespaces, used by pcaps/gen.sh.

The test kernel has neither the 8021q module nor sch_netem, so the parts of the
test topology that need them are provided here, in userspace, while the traffic
itself still comes from real programs (dig, openssl, curl) and the real kernel
network stack:

  tun  CNS CDEV SNS SDEV
      Copies IP packets between a tun device in namespace CNS and one in SNS.
      A capture on either tun device has link type RAW (bare IPv4/IPv6).

  tap  CNS CTAP CVETH SNS STAP SVETH TAGS [reorder=PORT]
      Ethernet frames the kernel sends out of tap CTAP are given the 802.1Q /
      802.1ad tags in TAGS (e.g. "8100:100" or "88a8:200,8100:300", or "none")
      and injected on veth CVETH; tagged frames arriving on SVETH are untagged
      and handed to tap STAP (and the same in the other direction).  A capture
      on the veth therefore shows real VLAN / QinQ tagged frames.
      With reorder=PORT, the first data segment of every TCP connection to PORT
      (client to server) is held back and sent after the following segment of
      the same connection, so the server receives the stream out of order.

Runs until killed (SIGTERM).
"""
import ctypes, fcntl, os, select, signal, socket, struct, sys, time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454ca
IFF_TUN, IFF_TAP, IFF_NO_PI = 0x0001, 0x0002, 0x1000
SOL_PACKET, PACKET_AUXDATA = 263, 8
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40

libc = ctypes.CDLL(None, use_errno=True)


def enter_ns(name):
    fd = os.open("/var/run/netns/" + name, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns " + name)
    os.close(fd)


def open_tun(name, flags):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags | IFF_NO_PI))
    return fd


def open_packet(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((ifname, 0))
    return s


def recv_with_tag(s):
    """Return (frame, [(tpid, tci)...] outermost first) for a non-outgoing frame."""
    data, anc, _flags, addr = s.recvmsg(65600, socket.CMSG_SPACE(20))
    if addr[2] == PACKET_OUTGOING:
        return None, None
    tags = []
    for level, typ, cdata in anc:
        if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
            status, _l, _s, _m, _n, tci, tpid = struct.unpack("IIIHHHH", cdata[:20])
            if status & TP_STATUS_VLAN_VALID or tci:
                if not status & TP_STATUS_VLAN_TPID_VALID:
                    tpid = 0x8100
                tags.append((tpid, tci))
    # tags the kernel left in the frame (inner tags of a QinQ stack)
    off = 12
    while len(data) >= off + 4 and struct.unpack("!H", data[off:off + 2])[0] in (0x8100, 0x88a8):
        tpid, tci = struct.unpack("!HH", data[off:off + 4])
        tags.append((tpid, tci))
        data = data[:off] + data[off + 4:]
    return data, tags


def add_tags(frame, tags):
    hdr = b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in tags)
    return frame[:12] + hdr + frame[12:]


def relay_tun(cns, cdev, sns, sdev):
    enter_ns(cns)
    a = open_tun(cdev, IFF_TUN)
    enter_ns(sns)
    b = open_tun(sdev, IFF_TUN)
    peer = {a: b, b: a}
    while True:
        r, _, _ = select.select([a, b], [], [])
        for fd in r:
            os.write(peer[fd], os.read(fd, 65600))


def tcp_info(frame):
    """(flow key, dport, payload length) for an Ethernet/IPv4|IPv6/TCP frame, else None."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800:
        ihl = (frame[14] & 0x0f) * 4
        if frame[23] != 6:
            return None
        tot = struct.unpack("!H", frame[16:18])[0]
        src, dst = frame[26:30], frame[30:34]
        t = 14 + ihl
        plen = 14 + tot - t
    elif et == 0x86dd:
        if frame[20] != 6:
            return None
        src, dst = frame[22:38], frame[38:54]
        t = 54
        plen = 54 + struct.unpack("!H", frame[18:20])[0] - t
    else:
        return None
    sport, dport = struct.unpack("!HH", frame[t:t + 4])
    doff = (frame[t + 12] >> 4) * 4
    return (src, dst, sport, dport), dport, plen - doff


def relay_tap(cns, ctap, cveth, sns, stap, sveth, tagspec, reorder_port):
    tags = [] if tagspec == "none" else [
        (int(t.split(":")[0], 16), int(t.split(":")[1])) for t in tagspec.split(",")]
    enter_ns(cns)
    ct, cp = open_tun(ctap, IFF_TAP), open_packet(cveth)
    tap_macs = {hwaddr(cp, ctap)}
    enter_ns(sns)
    st, sp = open_tun(stap, IFF_TAP), open_packet(sveth)
    tap_macs.add(hwaddr(sp, stap))
    out_sock = {ct: cp, st: sp}
    in_tap = {cp: ct, sp: st}  # frames arriving on a veth go to the tap on that side
    held = {}       # flow -> (frame, deadline)
    seen = set()    # flows whose first data segment was already handled

    def send(fd, frame):
        out_sock[fd].send(add_tags(frame, tags) if tags else frame)

    while True:
        timeout = None
        if held:
            timeout = max(0.0, min(d for _, d in held.values()) - time.monotonic())
        r, _, _ = select.select([ct, st, cp, sp], [], [], timeout)
        now = time.monotonic()
        for flow, (frame, deadline) in list(held.items()):
            if deadline <= now:
                send(ct, frame)
                del held[flow]
        for fd in r:
            if fd in (ct, st):
                frame = os.read(fd, 65600)
                info = tcp_info(frame) if (reorder_port and fd == ct) else None
                if info and info[1] == reorder_port and info[2] > 0:
                    flow = info[0]
                    if flow not in seen:
                        seen.add(flow)
                        held[flow] = (frame, now + 0.2)
                        continue
                    send(fd, frame)
                    if flow in held:
                        send(fd, held.pop(flow)[0])
                    continue
                send(fd, frame)
            else:
                frame, got = recv_with_tag(fd)
                if frame is None:
                    continue
                if tags:
                    if [(p, c & 0x0fff) for p, c in got] != [(p, c) for p, c in tags]:
                        continue
                elif got or frame[6:12] not in tap_macs:
                    # untagged relay: leave the veth's own traffic alone
                    continue
                os.write(in_tap[fd], frame)


def hwaddr(sock, ifname):
    ifr = fcntl.ioctl(sock.fileno(), 0x8927, struct.pack("256s", ifname.encode()))  # SIOCGIFHWADDR
    return ifr[18:24]


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    mode = sys.argv[1]
    if mode == "tun":
        relay_tun(*sys.argv[2:6])
    elif mode == "tap":
        args = sys.argv[2:9]
        port = 0
        for extra in sys.argv[9:]:
            if extra.startswith("reorder="):
                port = int(extra.split("=", 1)[1])
        relay_tap(*args, port)
    else:
        sys.exit("usage: nsrelay.py tun|tap ...")
