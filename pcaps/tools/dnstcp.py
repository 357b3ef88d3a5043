#!/usr/bin/env python3
"""Send DNS queries over TCP with explicit control of how the bytes are written.

  pipeline SERVER NAME[:TYPE]...   all queries in one write, then read all answers
  split    SERVER NAME[:TYPE] CUTS one query written in pieces: CUTS is a comma
                                   separated list of byte offsets into the
                                   length-prefixed message; 0.3 s pause between pieces

Query IDs are fixed (0x7701, 0x7702, ...) so the captures are reproducible.
"""
import socket, struct, sys, time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "TXT": 16, "AAAA": 28, "HTTPS": 65}


def query(qid, spec):
    name, _, qtype = spec.partition(":")
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", TYPES[qtype or "A"], 1)
    return struct.pack("!H", len(msg)) + msg


def connect(server):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(5)
    s.connect((server, 53))
    return s


def read_answers(s, n):
    buf = b""
    got = 0
    while got < n:
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            chunk = s.recv(4096)
            if not chunk:
                return got
            buf += chunk
        ln = struct.unpack("!H", buf[:2])[0]
        buf = buf[2 + ln:]
        got += 1
    return got


def main():
    mode, server = sys.argv[1], sys.argv[2]
    if mode == "pipeline":
        specs = sys.argv[3:]
        s = connect(server)
        s.sendall(b"".join(query(0x7701 + i, q) for i, q in enumerate(specs)))
        got = read_answers(s, len(specs))
    elif mode == "split":
        msg = query(0x7781, sys.argv[3])
        cuts = [0] + [int(c) for c in sys.argv[4].split(",")] + [len(msg)]
        s = connect(server)
        for a, b in zip(cuts, cuts[1:]):
            s.send(msg[a:b])
            if b != len(msg):
                time.sleep(0.3)
        got = read_answers(s, 1)
        specs = [sys.argv[3]]
    else:
        sys.exit(__doc__)
    s.close()
    if got != len(specs):
        sys.exit("dnstcp: %d of %d answers" % (got, len(specs)))


if __name__ == "__main__":
    main()
