"""The guestfwd relay as QEMU runs it: ``/bin/sh -c COMMAND`` with the guest connection as its
stdin/stdout (libslirp's ``cmd:``), relaying to a real TCP server on the host."""

from __future__ import annotations

import socket
import subprocess
import threading

from orchestrator.drivers.qemu_net import relay_command
from orchestrator.drivers.qemu_settings import HostForward


def _echo_upper(server: socket.socket) -> None:
    conn, _ = server.accept()
    with conn:
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.sendall(data.upper())


def test_the_relay_command_carries_a_guest_connection_to_the_host_service() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    thread = threading.Thread(target=_echo_upper, args=(server,), daemon=True)
    thread.start()
    command = relay_command(HostForward(8443, "127.0.0.1", port))
    assert " -I -S " in command  # no site: the venv's .pth files are not read per connection
    guest, relay_end = socket.socketpair()
    with guest, server:
        fd = relay_end.fileno()
        shell = ["/bin/sh", "-c", command]  # how libslirp runs a guestfwd cmd:
        proc = subprocess.Popen(shell, stdin=fd, stdout=fd, stderr=subprocess.PIPE)
        relay_end.close()
        guest.sendall(b"hello through the relay")
        guest.shutdown(socket.SHUT_WR)
        received = b""
        guest.settimeout(30)
        while chunk := guest.recv(4096):
            received += chunk
        _, stderr = proc.communicate(timeout=30)
    thread.join(30)
    assert proc.returncode == 0, stderr.decode()
    assert received == b"HELLO THROUGH THE RELAY"
