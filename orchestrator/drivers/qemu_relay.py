"""Per-connection relay for QEMU ``guestfwd=...-cmd:``: stdin/stdout <-> one TCP connection.

QEMU's ``guestfwd`` with a ``tcp:`` chardev connects once, at start, and serves one guest
connection; with ``cmd:`` it runs a command per guest connection with the connection on the
command's stdin/stdout. This file is that command. It runs as
``python -I -S qemu_relay.py HOST PORT`` (stdlib only, no package import, no ``site``: it starts
in milliseconds).
"""

from __future__ import annotations

import os
import selectors
import socket
import sys


def relay(host: str, port: int) -> None:
    upstream = socket.create_connection((host, port), timeout=10)
    upstream.settimeout(None)
    guest = socket.socket(fileno=os.dup(0))
    selector = selectors.DefaultSelector()
    selector.register(guest, selectors.EVENT_READ, upstream)
    selector.register(upstream, selectors.EVENT_READ, guest)
    open_sides = 2
    while open_sides:
        for key, _ in selector.select():
            source = key.fileobj
            target = key.data
            assert isinstance(source, socket.socket) and isinstance(target, socket.socket)
            data = source.recv(65536)
            if data:
                target.sendall(data)
                continue
            selector.unregister(source)
            open_sides -= 1
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                open_sides = 0


if __name__ == "__main__":
    try:
        relay(sys.argv[1], int(sys.argv[2]))
    except OSError:
        sys.exit(1)
