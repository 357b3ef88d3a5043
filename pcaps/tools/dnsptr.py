#!/usr/bin/env python3
"""DNS messages whose names use compression pointers the way RFC 9267 asks encoders not to:
forward, into the header, in long chains. Real resolvers still read them, so a sensor that
refuses them can be walked around.

  dnsptr.py query HOST [CASE...]   send each crafted query (default: every case) to a DNS
                                   server on HOST:53, one UDP socket each, and print
                                   CASE <tab> answered|refused|silent <tab> detail
  dnsptr.py serve ADDR             a DNS server on ADDR:53 whose A answers point forward:
                                   a CNAME from the question to a pointer at the next
                                   record's owner, edge.localto.net, and that owner's A
                                   record (10.20.0.21); any other type gets no answer
  dnsptr.py --list                 the query cases

answered: the server's reply has RCODE 0 and at least one answer record (it read the name
and resolved it); refused: a reply with another RCODE (its name and the answer count are
printed); silent: no reply within two seconds. IDs are fixed, so the bytes of a query never
change.
"""
import socket
import struct
import sys

QTYPE_A = struct.pack("!HH", 1, 1)  # A, class IN
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def header(msg_id, qdcount=1, arcount=0):
    # RD set, as a stub resolver sends it
    return struct.pack("!HHHHHH", msg_id, 0x0100, qdcount, 0, 0, arcount)


def name(text):
    out = b""
    for label in text.split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def ptr(offset):
    return struct.pack("!H", 0xC000 | offset)


def case_control():
    """A plain query: no pointer at all."""
    return header(0x7001) + name("plain-control.localto.net") + QTYPE_A


def case_forward():
    """The question name is one pointer, forward to a name after the question section."""
    # header 12, pointer 2, type and class 4: the name starts at 18
    return header(0x7002) + ptr(18) + QTYPE_A + name("fwd-after.localto.net")


def case_forward_label():
    """A label in place, then a pointer forward to the rest of the name."""
    first = bytes([9]) + b"fwd-label"
    at = 12 + len(first) + 2 + 4
    return header(0x7003) + first + ptr(at) + QTYPE_A + name("localto.net")


def case_chain():
    """A pointer to a chain of 200 pointers, each to the next, the last to the name: more
    hops than a name has labels (127), fewer than dnsmasq's limit (255)."""
    hops = 200
    start = 12 + 2 + 4
    chain = b"".join(ptr(start + 2 * (i + 1)) for i in range(hops))
    return header(0x7004) + ptr(start) + QTYPE_A + chain + name("chain200.localto.net")


def case_header():
    """The question name is a pointer into the header, to ARCOUNT, whose two bytes are a
    pointer on to a name after the question (ARCOUNT then reads 49,170)."""
    return header(0x7007, arcount=0xC000 | 18) + ptr(10) + QTYPE_A + name("hdr-ptr.localto.net")


def case_forward_two():
    """Two questions, the first a pointer forward to the second's name."""
    return header(0x7005, qdcount=2) + ptr(18) + QTYPE_A + name("fwd-q2.localto.net") + QTYPE_A


def case_loop():
    """The question name points at itself."""
    return header(0x7006) + ptr(12) + QTYPE_A


CASES = {
    "control": case_control,
    "forward": case_forward,
    "forward_label": case_forward_label,
    "chain200": case_chain,
    "header": case_header,
    "forward_two_questions": case_forward_two,
    "loop": case_loop,
}


def ask(host, msg):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    try:
        s.sendto(msg, (host, 53))
        try:
            reply, _ = s.recvfrom(65535)
        except socket.timeout:
            return "silent", "no reply"
    finally:
        s.close()
    if len(reply) < 12:
        return "refused", "short reply (%d bytes)" % len(reply)
    rcode = reply[3] & 0x0F
    ancount = struct.unpack("!H", reply[6:8])[0]
    detail = "%s, %d answers" % (RCODES.get(rcode, "RCODE %d" % rcode), ancount)
    return ("answered" if rcode == 0 and ancount > 0 else "refused"), detail


def query(host, names):
    for n in names or CASES:
        if n not in CASES:
            sys.exit("dnsptr.py: unknown case %r (--list)" % n)
        verdict, detail = ask(host, CASES[n]())
        print("%s\t%s\t%s" % (n, verdict, detail), flush=True)


def question_end(q):
    i = 12
    while i < len(q) and q[i] != 0:
        if q[i] & 0xC0:
            return None  # the stub resolvers this serves never compress a question
        i += 1 + q[i]
    return i + 5 if i + 5 <= len(q) else None


def serve(addr):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    # dnsmasq holds the wildcard address on port 53 in the same namespace
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 53))
    print("serving on %s:53" % addr, flush=True)
    while True:
        q, peer = s.recvfrom(65535)
        end = question_end(q) if len(q) >= 12 else None
        if end is None:
            continue
        question = q[12:end]
        qtype = struct.unpack("!H", q[end - 4:end - 2])[0]
        flags = 0x8180 | (struct.unpack("!H", q[2:4])[0] & 0x0100)  # QR RA, RD copied
        if qtype != 1:
            s.sendto(q[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + question, peer)
            continue
        # answer 1: the question's name CNAME -> a pointer forward to answer 2's owner
        ans2_at = 12 + len(question) + 2 + 10 + 2
        ans1 = ptr(12) + struct.pack("!HHIH", 5, 1, 300, 2) + ptr(ans2_at)
        ans2 = name("edge.localto.net") + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([10, 20, 0, 21])
        reply = q[:2] + struct.pack("!HHHHH", flags, 1, 2, 0, 0) + question + ans1 + ans2
        s.sendto(reply, peer)


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        print("\n".join(CASES))
    elif len(sys.argv) >= 3 and sys.argv[1] == "query":
        query(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
