"""A Hetzner world for the pool tests: the fake Hetzner API on loopback, the fake Pulumi engine,
the real hcloud driver, and a "datacenter" that boots what the control plane creates.

The datacenter watches the fake Hetzner API. For each new server it reads the user-data the
control plane rendered for it, exactly as cloud-init would get it, and plays the machine:

- a pool server (label ``pool-slot``) runs the agent's real pool code: it enrolls its pool
  identity with the pool token from its user-data (``bureau_agent.pool.identity``), then serves
  ``TlsPoolServer`` (mutual TLS) with the real ``Resumer`` on a temporary root and a recording
  system; the resume's launcher enrolls the desk with the bootstrap token the resume delivered and
  serves a mutual-TLS agent double on the same port once the resume server let go of it;
- a desk server booted cold (label ``desk-id``, no ``pooled-from``) enrolls with the bootstrap
  token found in its user-data and serves the agent double.

Each server's public IPv4 maps to its own loopback port (``HcloudDriver.agent_url_for``).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bureau_agent.pool.identity import (
    PoolEnrollError,
    TlsPoolServer,
    enroll_pool_identity,
    server_context,
)
from bureau_agent.pool.launch import wait_port_free
from bureau_agent.pool.resume import AGENT_ENV, TOKEN_FILE, LaunchResult, Resumer
from tests.fakes.hetzner import FakeHetzner
from tests.helpers.servers import free_port
from tests.orchestrator.agent_double import TOKEN_RE, AgentDouble
from tests.pool.agent_doubles import RecordingSystem

_SLOT = re.compile(r"--slot-id (\S+) --control-plane-url (\S+)")


def plain_user_data(user_data: str) -> str:
    """What cloud-init reads: gzip+base64 user-data decoded."""
    if user_data.startswith("#cloud-config"):
        return user_data
    return gzip.decompress(base64.b64decode(user_data)).decode()


def write_files(user_data: str) -> dict[str, str]:
    document = yaml.safe_load(plain_user_data(user_data))
    return {entry["path"]: entry["content"] for entry in document.get("write_files", [])}


@dataclass
class Machine:
    server_id: int
    ipv4: str
    port: int
    kind: str
    """``pool`` or ``cold``."""
    slot_id: str = ""
    desk_id: str = ""
    root: Path | None = None
    system: RecordingSystem | None = None
    agent: AgentDouble | None = None
    resumed: threading.Event = field(default_factory=threading.Event)
    error: str = ""


@dataclass
class _DeskLauncher:
    """The resume's launcher: enroll as the desk (real HTTPS to the control plane), then serve
    the agent double on the pool server's port once the resume server released it."""

    machine: Machine
    datacenter: Datacenter

    def launch(self, config_file: Path) -> LaunchResult:
        assert self.machine.root is not None
        env = dict(
            line.split("=", 1) for line in config_file.read_text().splitlines() if "=" in line
        )
        desk_id = env["BUREAU_DESK_ID"]
        url = env["BUREAU_CONTROL_PLANE_URL"]
        token = (self.machine.root / TOKEN_FILE.lstrip("/")).read_text().strip()
        ca = self.machine.root / "etc/bureau/control-plane-ca.pem"
        agent = AgentDouble(desk_id, self.datacenter.workdir / f"agent-{desk_id}")
        response = agent.enroll(url, ca, token)
        if response.status_code != 200:
            return LaunchResult(False, f"enrollment refused: {response.status_code}")
        self.machine.desk_id = desk_id
        self.machine.agent = agent
        self.datacenter.agents[desk_id] = agent
        self.datacenter.serve_later(self.machine, agent)
        return LaunchResult(True)


@dataclass
class Datacenter:
    hetzner: FakeHetzner
    workdir: Path
    cp_ca: Path
    """The control plane CA a machine pins (its user-data carries the same certificate)."""
    machines: dict[str, Machine] = field(default_factory=dict)
    agents: dict[str, AgentDouble] = field(default_factory=dict)
    """Enrolled agents by desk id (a desk's certificate lives on its volume)."""
    boot_pool_servers: bool = True
    """False: new pool servers stay unbooted (the pool stays empty while they "boot")."""
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _ports: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def agent_url_for(self, ipv4: str, port: int) -> str:
        with self._lock:
            mapped = self._ports.setdefault(ipv4, free_port())
        return f"https://127.0.0.1:{mapped}"

    def port_of(self, ipv4: str) -> int:
        with self._lock:
            return self._ports.setdefault(ipv4, free_port())

    @contextlib.contextmanager
    def running(self) -> Iterator[Datacenter]:
        watcher = threading.Thread(target=self._watch, name="datacenter", daemon=True)
        watcher.start()
        try:
            yield self
        finally:
            self._stop.set()
            watcher.join(10)
            for thread in self._threads:
                thread.join(10)

    def _watch(self) -> None:
        while not self._stop.is_set():
            with self.hetzner.lock:
                servers = [dict(s) for s in self.hetzner.servers.values()]
            for server in servers:
                self._maybe_boot(server)
            time.sleep(0.05)

    def _maybe_boot(self, server: dict[str, Any]) -> None:
        ipv4 = server["public_net"]["ipv4"]["ip"]
        labels = server["labels"]
        if ipv4 in self.machines:
            return
        if "pool-slot" in labels:
            if not self.boot_pool_servers:
                return
            kind = "pool"
        elif "desk-id" in labels and "pooled-from" not in labels:
            kind = "cold"
        else:
            return
        machine = Machine(server["id"], ipv4, self.port_of(ipv4), kind)
        self.machines[ipv4] = machine
        target = self._boot_pool if kind == "pool" else self._boot_cold
        thread = threading.Thread(target=self._guarded, args=(target, machine, server), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guarded(self, target: Any, machine: Machine, server: dict[str, Any]) -> None:
        try:
            target(machine, server)
        except Exception as exc:  # reported by the test through `errors`
            machine.error = f"{type(exc).__name__}: {exc}"
            self.errors.append(f"{machine.kind} {machine.ipv4}: {machine.error}")

    def _boot_pool(self, machine: Machine, server: dict[str, Any]) -> None:
        files = write_files(server["_user_data"])
        unit = files["/etc/systemd/system/bureau-pool.service"]
        found = _SLOT.search(unit.replace("\\\n", " ").replace("  ", " "))
        assert found, unit
        machine.slot_id, url = found.group(1), found.group(2)
        root = self.workdir / f"root-{machine.slot_id}"
        (root / "etc/bureau").mkdir(parents=True)
        ca = root / "etc/bureau/control-plane-ca.pem"
        ca.write_text(files["/etc/bureau/control-plane-ca.pem"])
        token_file = root / "etc/bureau/pool-token"
        token_file.write_text(files["/etc/bureau/pool-token"])
        machine.root = root
        identity = enroll_pool_identity(machine.slot_id, url, ca, token_file.read_text().strip())
        machine.system = RecordingSystem()
        resumer = Resumer(root, machine.system, _DeskLauncher(machine, self))
        server_ = TlsPoolServer(("127.0.0.1", machine.port), resumer, server_context(identity))
        server_.timeout = 0.2
        try:
            while server_.outcome is None and not self._stop.is_set():
                server_.handle_request()
        finally:
            server_.server_close()
        machine.resumed.set()

    def _boot_cold(self, machine: Machine, server: dict[str, Any]) -> None:
        files = write_files(server["_user_data"])
        token = files["/etc/bureau/bootstrap-token"].strip()
        assert TOKEN_RE.fullmatch(token)
        lines = files["/etc/bureau/agent.env"].splitlines()
        env = dict(line.split("=", 1) for line in lines if "=" in line)
        ca = self.workdir / f"cold-{machine.server_id}-ca.pem"
        ca.write_text(files["/etc/bureau/control-plane-ca.pem"])
        desk_id = env["BUREAU_DESK_ID"]
        agent = self.agents.get(desk_id)
        if agent is None:  # else: its certificate is on the volume, like the real agent's
            agent = AgentDouble(desk_id, self.workdir / f"agent-{desk_id}")
            response = agent.enroll(env["BUREAU_CONTROL_PLANE_URL"].strip('"'), ca, token)
            if response.status_code != 200:
                raise AssertionError(f"cold enrollment refused: {response.text}")
            self.agents[desk_id] = agent
        machine.desk_id = desk_id
        machine.agent = agent
        self.serve_later(machine, agent)

    def serve_later(self, machine: Machine, agent: AgentDouble) -> None:
        def serve() -> None:
            wait_port_free("127.0.0.1", machine.port)
            with agent.serve(machine.port):
                self._stop.wait()

        thread = threading.Thread(target=self._guarded, args=(lambda m, s: serve(), machine, {}))
        thread.daemon = True
        self._threads.append(thread)
        thread.start()


__all__ = ["AGENT_ENV", "Datacenter", "Machine", "PoolEnrollError", "write_files"]
