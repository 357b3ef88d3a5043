#!/usr/bin/env python3
"""A stand-in for the service manager's notification socket (sd_notify(3)).

usage: notify_listen.py SOCKET_PATH OUT_FILE SECONDS

Binds a unix datagram socket at SOCKET_PATH and appends every message it receives, one per
line (a message's own newlines become ' | '), to OUT_FILE until SECONDS have passed.
"""
import os
import socket
import sys
import time


def main():
    path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o777)  # tunwatch may write as another user after -u
    end = time.monotonic() + secs
    with open(out, "a", encoding="utf-8") as fp:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                msg = s.recv(4096)
            except socket.timeout:
                break
            fp.write(msg.decode("utf-8", "replace").replace("\n", " | ") + "\n")
            fp.flush()
    os.unlink(path)


if __name__ == "__main__":
    main()
