"""Hand over from the root resumer to the agent: fork, drop to ``bureau``, enroll, serve.

The child is forked after the kernel RNG was reseeded: Python reseeds ``random`` in a fork child
and OpenSSL's DRBGs (the system one and the copy inside ``cryptography``) reseed from the kernel
when they see a new pid, so the TLS key made during enrollment owes nothing to the template's RNG
state. The agent's modules were imported, its app built and its routes warmed before the snapshot,
and it serves on the pool server's listening socket: after enrolling, the child only binds the
desk's services (settings, database, credentials, extensions) and starts serving, where a fresh
``bureau-agent`` process costs many seconds under TCG.

Sandbox: before dropping to ``bureau`` the child builds the regular agent unit's sandbox
(sandbox.py: private /tmp, read-only /usr, /etc, cgroups...), so a pooled desk's agent and its
tools run confined from the first request, not only after the desk's next boot.

Python's hash seed (decision, kept): ``PYTHONHASHSEED`` randomisation happens once, when the
template's interpreter starts, so every clone of one snapshot hashes ``str``/``bytes`` with the
same secret. A fork cannot change it (it is fixed for the interpreter's life); a fresh seed needs
a fresh interpreter, i.e. re-importing the agent (its modules, pydantic, FastAPI, LanceDB and the
warmed app are what the snapshot saves: seconds under TCG) -- the cost the pool exists to avoid.
What the shared seed weakens is hash-flooding resistance of dicts keyed by attacker-chosen
strings; the agent's only network peer is the control plane (mutual TLS), and nothing security
relevant derives from ``hash()``: keys, tokens and ids come from the kernel RNG, reseeded before
this fork (``random`` is reseeded in the child too). A desk's next cold boot starts the agent in
a fresh interpreter with a fresh seed.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import pwd
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bureau_agent.pool.resume import LaunchResult

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("bureau_agent.pool")

ServeFn = Callable[[Path], None]


def drop_privileges(user: str, groups: tuple[str, ...]) -> None:
    """Become ``user`` with its primary group and ``groups`` (like the agent's systemd unit)."""
    entry = pwd.getpwnam(user)
    extra = [grp.getgrnam(name).gr_gid for name in groups]
    os.setgroups([entry.pw_gid, *extra])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir
    os.environ["USER"] = user
    os.umask(0o077)


def wait_port_free(host: str, port: int, timeout: float = 30.0) -> None:
    """The resumer still listens on the agent port until it has answered: wait for it to let go."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise
        time.sleep(0.02)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _usable(listener: socket.socket, port: int) -> bool:
    """A plain listening TCP socket on ``port`` (uvicorn wraps it in the agent's TLS itself)."""
    return type(listener) is socket.socket and listener.getsockname()[1] == port


@dataclass
class Prepared:
    """What the unassigned agent built before the snapshot, for the agent child to use."""

    app: FastAPI | None = None
    """Built by ``bureau_agent.app.build_app`` and warmed; ``bind_app`` gives it the desk."""
    listener: socket.socket | None = None
    """The pool server's listening socket on the agent port: the agent serves TLS on it, so a
    connection made while the agent starts waits in its backlog instead of being refused."""


def enroll_and_serve(
    config_file: Path,
    report: Callable[[dict[str, object]], None],
    prepared: Prepared | None = None,
) -> None:
    """The child's work as the agent user: H4's enrollment, then H4's mutual-TLS server."""
    from bureau_agent.app import PrebuiltMismatch, bind_app, build_app
    from bureau_agent.config import load_config
    from bureau_agent.enroll import EnrollmentError, ensure_enrolled
    from bureau_agent.serving import desk_server_config, run_server

    prepared = prepared or Prepared()
    started = time.perf_counter()
    config = load_config(config_file)
    settings_ms = _ms_since(started)
    try:
        tls, creds = ensure_enrolled(config)
    except EnrollmentError as exc:
        report({"enrolled": False, "error": str(exc)[:500]})
        return
    report({"enrolled": True})
    log.info(
        "enrolled in %.0f ms (settings %.0f ms; key, CSR, POST, files %.0f ms)",
        _ms_since(started),
        settings_ms,
        _ms_since(started) - settings_ms,
    )
    started = time.perf_counter()
    app = prepared.app or build_app(mutual_tls=True)
    try:
        bind_app(app, config, credentials=creds)
    except PrebuiltMismatch as exc:
        log.info("%s: building the agent's services now", exc)
        app = build_app(mutual_tls=True)
        bind_app(app, config, credentials=creds)
    listener = prepared.listener
    if listener is not None and not _usable(listener, config.agent_port):
        listener.close()  # e.g. a TLS-wrapped pool server, or the agent moved to another port
        listener = None
    if listener is None:
        wait_port_free(config.agent_host, config.agent_port)
    server = desk_server_config(app, config, tls)
    log.info("agent bound to its desk in %.0f ms; serving", _ms_since(started))
    run_server(server, listener)


class ForkLauncher:
    def __init__(
        self,
        *,
        user: str | None = "bureau",
        groups: tuple[str, ...] = ("desk",),
        enroll_timeout: float = 120.0,
        fds_to_close: Callable[[], list[int]] = list,
        work: Callable[[Path, Callable[[dict[str, object]], None]], None] = enroll_and_serve,
        sandbox: Callable[[], list[str]] | None = None,
    ) -> None:
        self.user = user
        self.groups = groups
        self.enroll_timeout = enroll_timeout
        self.fds_to_close = fds_to_close
        self.work = work
        self.sandbox = sandbox
        """Run in the child as root before dropping privileges (``sandbox.apply_agent_sandbox``
        in the guest); an error fails the launch."""
        self.child_pid: int | None = None

    def launch(self, config_file: Path) -> LaunchResult:
        read_fd, write_fd = os.pipe()
        forked = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns to the caller
            os.close(read_fd)
            self._child(config_file, write_fd, forked)
        os.close(write_fd)
        self.child_pid = pid
        try:
            return self._await_report(read_fd)
        finally:
            os.close(read_fd)

    def _child(self, config_file: Path, write_fd: int, forked: float) -> None:  # pragma: no cover
        fork_ms = _ms_since(forked)
        status = 0

        def report(message: dict[str, object]) -> None:
            os.write(write_fd, json.dumps(message).encode())
            os.close(write_fd)

        try:
            for fd in self.fds_to_close():
                os.close(fd)
            done = self.sandbox() if self.sandbox is not None else []
            if self.user is not None:
                drop_privileges(self.user, self.groups)
            # One line (each goes through journald to the console on the desk's one vCPU).
            log.info(
                "agent child sandboxed in %.0f ms from the fork (the fork: %.0f ms): %s",
                _ms_since(forked),
                fork_ms,
                "; ".join(done) or "no sandbox",
            )
            self.work(config_file, report)
        except BaseException as exc:  # the child must never unwind into the parent's code
            status = 3
            try:
                report({"enrolled": False, "error": f"agent failed: {exc}"[:500]})
            except OSError:
                pass
        os._exit(status)

    def _await_report(self, read_fd: int) -> LaunchResult:
        deadline = time.monotonic() + self.enroll_timeout
        chunks = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return LaunchResult(False, f"no enrollment within {self.enroll_timeout:.0f}s")
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            chunks += chunk
        try:
            message = json.loads(chunks)
        except ValueError:
            return LaunchResult(False, "the agent exited before enrolling")
        error = message.get("error")
        return LaunchResult(bool(message.get("enrolled")), str(error) if error else None)

    def wait_child(self) -> int:
        """Block until the agent child exits; its exit status."""
        if self.child_pid is None:
            return 0
        _, status = os.waitpid(self.child_pid, 0)
        return os.waitstatus_to_exitcode(status)
