#!/usr/bin/env python3
"""HTTP/1.1 requests with python3's http.client, each request header written in pieces.

  httpsplit.py [--lowercase] ADDRESS PORT HOST...

One TCP connection (TCP_NODELAY) to ADDRESS:PORT; for each HOST one GET request with that
Host field, on the same connection (keep-alive), its response read before the next request.
Every request header is written as four pieces 0.3 s apart, so each piece is a TCP segment
of its own: cut inside the method ("GE" | "T /..."), inside the Host value (three bytes into
it), and between the last two CRLFs. --lowercase writes the field names in lower case
("host: ...", as HTTP/2-minded clients such as Node.js write HTTP/1.1 too).
"""
import http.client
import socket
import sys
import time


class SplitConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        # http.client hands the whole header to send() at once (endheaders)
        if self.sock is None:
            self.connect()
        host_at = data.lower().find(b"\r\nhost: ")
        if host_at < 0 or not data.endswith(b"\r\n\r\n"):
            raise SystemExit("httpsplit: unexpected request header %r" % data[:60])
        cuts = [2, host_at + len(b"\r\nHost: ") + 3, len(data) - 2]
        start = 0
        for cut in cuts + [len(data)]:
            self.sock.sendall(data[start:cut])
            start = cut
            if cut != len(data):
                time.sleep(0.3)


def main():
    args = sys.argv[1:]
    lower = args[0] == "--lowercase"
    if lower:
        args = args[1:]
    addr, port, hosts = args[0], int(args[1]), args[2:]
    conn = SplitConnection(addr, port, timeout=5)
    field = str.lower if lower else str
    for i, host in enumerate(hosts):
        conn.putrequest("GET", "/split/%d" % i, skip_host=True, skip_accept_encoding=True)
        conn.putheader(field("Host"), host if port == 80 else "%s:%d" % (host, port))
        conn.putheader(field("User-Agent"), "Python-http.client/" + sys.version.split()[0])
        conn.putheader(field("Accept"), "*/*")
        conn.endheaders()
        resp = conn.getresponse()
        sys.stdout.write("%s %d %s" % (host, resp.status, resp.read().decode()))
    conn.close()


if __name__ == "__main__":
    main()
