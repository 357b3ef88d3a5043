#!/usr/bin/env python3
"""A plain HTTP/1.1 server for the capture namespaces: keeps connections open (keep-alive),
answers every GET/HEAD/POST with a short text body and a Content-Length, on both IPv4 and
IPv6 (one dual-stack socket per port).

  httpd.py PORT...
"""
import http.server
import socket
import socketserver
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says close
    server_version = "tunwatch-test"
    sys_version = ""

    def answer(self, body=True):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        text = ("host %s path %s\n" % (self.headers.get("Host", "-"), self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body:
            self.wfile.write(text)

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.answer()

    def do_HEAD(self):
        self.answer(body=False)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    servers = [Server(("::", int(p)), Handler) for p in sys.argv[1:]]
    threads = [threading.Thread(target=s.serve_forever) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
