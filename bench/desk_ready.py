"""Time from ``POST /v1/desks`` to ``ready`` on the qemu driver (real `bureau serve`, real VMs).

Usage (root, guest image built or buildable; ~10-20 min under TCG):
    .venv/bin/python -m bench.desk_ready [--sequential 5] [--concurrent 3]

Prints, per desk: total seconds, split into driver (provisioning -> booting: disks + QEMU
launch), guest boot (kernel + systemd until cloud-init starts, from the serial console's uptime
stamps), cloud-init (init start -> final finished), agent + enrollment (cloud-init finished ->
enrolling) and health (enrolling -> ready); then p50 for the sequential and the concurrent runs and
QEMU's peak RSS (VmHWM) per desk. Writes the raw figures to bench/out/desk_ready.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import secrets
import signal
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from orchestrator.drivers.qemu import QemuDriver
from orchestrator.image import DEFAULT_IMAGE_NAME
from orchestrator.image.store import install_image
from tests.e2e.processes import start_control_plane, start_fake_provider
from tests.helpers.servers import free_port
from tests.qemu.image import ensure_image

_UP = re.compile(r"running 'init' at .*? Up ([\d.]+) seconds")
_DONE = re.compile(
    r"(?:Cloud-init v\. \S+ finished at .*? Up ([\d.]+) seconds|first boot done after ([\d.]+) s)"
)


@dataclass
class DeskTiming:
    desk_id: str
    total: float
    driver: float
    guest_boot: float | None
    cloud_init: float | None
    agent_enroll: float | None
    health: float
    qemu_peak_rss_mib: float | None
    accelerator: str


def _at(event: dict[str, object]) -> float:
    text = str(event["at"]).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(text).timestamp()


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Bench:
    def __init__(self, tmp: Path, image_dir: Path | None = None) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        if image_dir is None:
            ensure_image(self.data_dir)
        else:  # an experimental image (a directory holding a manifest, e.g. a modified copy)
            install_image(image_dir, self.data_dir, DEFAULT_IMAGE_NAME)
        self.provider, self.provider_url = start_fake_provider(tmp / "provider.log")
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self.token = "adm_" + secrets.token_hex(24)
        provider_port = self.provider_url.rsplit(":", 1)[1]
        env = {
            "BUREAU_DATA_DIR": str(self.data_dir),
            "BUREAU_PORT": str(port),
            "BUREAU_PUBLIC_URL": self.url,
            "BUREAU_DRIVER": "qemu",
            "BUREAU_BOOTSTRAP_ADMIN_TOKEN": self.token,
            "BUREAU_ALLOW_HTTP_ENDPOINTS": "true",
            "BUREAU_HEALTH_TIMEOUT_SECONDS": "900",
            "BUREAU_QEMU_HOST_FORWARDS": f"127.0.0.1:{provider_port}",
        }
        self.endpoint = f"http://10.0.2.100:{provider_port}/v1/chat/completions"
        self.ca = self.data_dir / "tls" / "ca.pem"
        self.control_plane = start_control_plane(
            env, tmp / "control-plane.log", self.url, self.token, self.ca
        )

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=ssl.create_default_context(cafile=str(self.ca)),
            timeout=httpx.Timeout(60, read=120),
        )

    def create(self) -> tuple[str, float]:
        body = {
            "name": f"bench-{uuid.uuid4().hex[:6]}",
            "provider": "openai",
            "api_key": f"sk-bench-{uuid.uuid4().hex}",
            "model": "gpt-4o",
            "endpoint": self.endpoint,
        }
        started = time.time()
        with self.client() as client:
            response = client.post("/v1/desks", json=body)
        response.raise_for_status()
        return str(response.json()["id"]), started

    def wait_ready(self, desk_id: str, started: float) -> DeskTiming:
        events: list[dict[str, object]] = []
        with self.client() as client, client.stream("GET", f"/v1/desks/{desk_id}/events") as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                events.append(event)
                if event["kind"] == "transition" and event["to_state"] in ("ready", "failed"):
                    break
        if events[-1]["to_state"] != "ready":
            raise RuntimeError(f"desk {desk_id} failed: {events[-1]['message']}")
        when = {str(e["to_state"]): _at(e) for e in events if e["kind"] == "transition"}
        desk_dir = self.data_dir / "qemu" / "desks" / desk_id
        console = (desk_dir / "console.log").read_text(errors="replace")
        pid = int((desk_dir / "qemu.pid").read_text())
        accel = json.loads((desk_dir / "desk.json").read_text()).get("accel") or "?"
        up, done = _UP.search(console), _DONE.search(console)
        boot_at = when["booting"]
        guest_boot = float(up.group(1)) if up else None
        done_at = float(done.group(1) or done.group(2)) if done else None
        cloud_init = done_at - float(up.group(1)) if up and done_at is not None else None
        agent = when["enrolling"] - (boot_at + done_at) if done_at is not None else None
        return DeskTiming(
            desk_id=desk_id,
            total=when["ready"] - started,
            driver=boot_at - started,
            guest_boot=guest_boot,
            cloud_init=cloud_init,
            agent_enroll=agent,
            health=when["ready"] - when["enrolling"],
            qemu_peak_rss_mib=_peak_rss_mib(pid),
            accelerator=accel,
        )

    def keep_console(self, desk_id: str, target: Path, linger: float) -> None:
        """Copy the desk's serial console to ``target`` after ``linger`` seconds (diagnostics)."""
        time.sleep(linger)
        source = self.data_dir / "qemu" / "desks" / desk_id / "console.log"
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{desk_id}.console.log").write_bytes(source.read_bytes())

    def delete(self, desk_id: str) -> None:
        with self.client() as client:
            client.delete(f"/v1/desks/{desk_id}").raise_for_status()
            with client.stream("GET", f"/v1/desks/{desk_id}/events") as r:
                for _ in r.iter_lines():
                    pass  # the stream closes after the deleted transition

    def close(self) -> None:
        self.control_plane.stop()
        self.provider.stop()
        leftover = QemuDriver(self.data_dir)  # never leave a VM behind
        for machine in asyncio.run(leftover.list_managed()):
            asyncio.run(leftover.destroy(machine.desk_id, lambda _: None))


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1f}"


def _print(title: str, timings: list[DeskTiming]) -> None:
    print(f"\n{title}")
    print("desk              total  driver  g.boot  cl-init  agent+enr  health  peakRSS(MiB)")
    for t in timings:
        print(
            f"{t.desk_id:16} {_fmt(t.total)} {_fmt(t.driver)} {_fmt(t.guest_boot)}  "
            f"{_fmt(t.cloud_init)}   {_fmt(t.agent_enroll)}  {_fmt(t.health)}  "
            f"{_fmt(t.qemu_peak_rss_mib)}  {t.accelerator}"
        )
    if timings:
        print(f"p50 total: {statistics.median(t.total for t in timings):.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument(
        "--image-dir", type=Path, help="install this built image directory instead of the cache's"
    )
    parser.add_argument(
        "--consoles", type=Path, help="copy each desk's serial console log into this directory"
    )
    parser.add_argument(
        "--linger", type=float, default=0.0, help="seconds to keep a ready desk before the copy"
    )
    args = parser.parse_args()

    def keep(desk_id: str) -> None:
        if args.consoles is not None:
            bench.keep_console(desk_id, args.consoles, args.linger)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the cleanup in `finally`
    with tempfile.TemporaryDirectory(prefix="bureau-bench-") as tmp:
        bench = Bench(Path(tmp), args.image_dir)
        results: dict[str, list[DeskTiming]] = {"sequential": [], "concurrent": []}
        try:
            for _ in range(args.sequential):
                desk_id, started = bench.create()
                timing = bench.wait_ready(desk_id, started)
                print(f"ready: {timing}", flush=True)
                results["sequential"].append(timing)
                keep(desk_id)
                bench.delete(desk_id)
            _print(f"{args.sequential} desks, one at a time", results["sequential"])
            created = [bench.create() for _ in range(args.concurrent)]
            lock = threading.Lock()

            def wait(desk_id: str, started: float) -> None:
                timing = bench.wait_ready(desk_id, started)
                with lock:
                    results["concurrent"].append(timing)

            threads = [threading.Thread(target=wait, args=c) for c in created]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for desk_id, _ in created:
                keep(desk_id)
                bench.delete(desk_id)
            _print(f"{args.concurrent} desks created at once", results["concurrent"])
        finally:
            bench.close()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    raw = {k: [asdict(t) for t in v] for k, v in results.items()}
    (out / "desk_ready.json").write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
