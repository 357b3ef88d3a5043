#!/usr/bin/env python3
"""Opens a TCP connection now and sends the TLS ClientHello later.

usage: late_hello.py HOST PORT SNI READY_FILE GO_FILE

Connects to HOST:PORT, creates READY_FILE, waits (at most 30 s) until GO_FILE exists, then
does a TLS handshake with SNI on the same connection. t_live.sh sends SIGHUP to tunwatch in
between: the flow was opened before the rule reload and its name is seen after it.
"""
import os
import socket
import ssl
import sys
import time


def main():
    host, port, sni, ready, go = sys.argv[1:6]
    sock = socket.create_connection((host, int(port)), timeout=10)
    open(ready, "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            print("late_hello: no go signal within 30 s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with ctx.wrap_socket(sock, server_hostname=sni) as tls:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        tls.recv(100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
