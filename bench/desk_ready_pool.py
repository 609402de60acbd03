"""Desk ready from the warm pool: restore, resume and enrollment, p50 over N desks and K at once.

Usage (root, guest image built or buildable; the template boot costs a few minutes under TCG):
    .venv/bin/python3 -m bench.desk_ready_pool [--sequential 10] [--concurrent 3] [--data-dir D]
(A template is reused when the data dir, the interpreter path and the port file match; the same
data dir as BUREAU_TEST_POOL_DIR for tests/pool works when both run under .venv/bin/python3.)

Builds (or reuses, in --data-dir) one pool template whose guest forward leads to an enrollment
double with the real PKI, then for each desk: prepares a slot (not timed: the pool does it in the
background), restores the template's state into it (``restore``), resumes it with the desk's
settings (``resume``: clock, reseed, identity, data disk, files) and waits for its enrollment
(``enroll``: TLS key + POST /v1/agent/enroll), then for the agent's first answer to
``GET /desk/v1/health`` over mutual TLS (``app``: binding the desk's services, opening its
database, serving), which is when the control plane marks a desk ready. ``ready`` is the sum.
It measures the clone's PSS and private memory 5 s later, and once those of a restored, still
paused clone. Prints p50s and writes the raw figures to bench/out/desk_ready_pool.json. The
image is brought up to date with the agent sources first (its agent layer is rebuilt when they
changed; the template follows the image). The cold boot is bench/desk_ready.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from orchestrator.drivers.base import DESK_SIZES
from orchestrator.drivers.qemu_settings import QemuSettings
from orchestrator.image import DEFAULT_IMAGE_NAME, build_image
from orchestrator.pki import Pki
from orchestrator.pool.clone import discard
from orchestrator.pool.machine import RAM_FILE
from orchestrator.pool.manager import PoolManager
from orchestrator.pool.settings import PoolSettings
from tests.e2e.processes import start_fake_provider
from tests.helpers.servers import free_port, serve_asgi
from tests.pool.conftest import PoolEnv
from tests.pool.enroll_double import Enrollments, enroll_app
from tests.pool.test_clones_vm import restore, restore_and_resume


@dataclass
class PoolTiming:
    desk_id: str
    restore_s: float
    resume_s: float
    enroll_s: float
    app_s: float
    total_s: float
    """restore + resume + enroll + app: from taking the slot to the agent's first health answer."""
    idle_pss_mib: float
    idle_private_mib: float
    responsive_s: float = 0.0
    """Part of resume: from ``cont`` to the guest's first answer (it catches up on timers)."""
    guest_steps_ms: dict[str, float] = field(default_factory=dict)
    """The resume's steps as the guest timed them (clock, entropy, ..., enroll)."""
    guest_log: list[str] = field(default_factory=list)
    """The clone's console from its resume on (the pool agent's and uvicorn's lines, with the
    guest kernel's timestamps): where the enrollment and the agent's start spend their time."""


def memory_mib(pid: int) -> tuple[float, float]:
    """(PSS, private = Private_Clean + Private_Dirty) of a process, MiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Pss", "Private_Clean", "Private_Dirty"):
            fields[name] = int(rest.split()[0])
    return fields["Pss"] / 1024, (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024


def ram_mapping_mib(pid: int, ram_file: Path) -> dict[str, float]:
    """The guest RAM mapping (the template's RAM file, mapped ``share=off``) of a clone, from
    /proc/<pid>/smaps: how much of it is still the shared page cache vs private copies, MiB."""
    totals = {"Rss": 0, "Pss": 0, "Shared_Clean": 0, "Private_Clean": 0, "Private_Dirty": 0}
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:  # a mapping's header line
            inside = line.rstrip().endswith(str(ram_file))
            continue
        name = line.partition(":")[0]
        if inside and name in totals:
            totals[name] += int(line.split()[1])
    return {f"ram_{name.lower()}_mib": kib / 1024 for name, kib in totals.items()}


async def agent_answers(env: PoolEnv, url: str, within_s: float = 120.0) -> None:
    """Until ``GET /desk/v1/health`` answers 200 over mutual TLS (what the control plane waits
    for before it marks a desk ready)."""
    context = env.pki.agent_client_context()
    context.check_hostname = False
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(verify=context, timeout=30) as client:
        while True:
            try:
                if (await client.get(f"{url}/desk/v1/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the agent at {url} did not answer within {within_s:.0f}s")
            await asyncio.sleep(0.02)


async def one(env: PoolEnv, desk_id: str) -> tuple[PoolTiming, Path, int]:
    started = time.perf_counter()
    restored, answer, _ = await restore_and_resume(env, desk_id)
    enrolled = time.perf_counter() - started
    await agent_answers(env, restored.agent_url)
    total = time.perf_counter() - started
    enroll_ms = next(s.ms for s in answer.steps if s.name == "enroll")
    restore_s = restored.timings["restore_ms"] / 1000
    timing = PoolTiming(
        desk_id=desk_id,
        restore_s=restore_s,
        resume_s=enrolled - restore_s - enroll_ms / 1000,
        enroll_s=enroll_ms / 1000,
        app_s=total - enrolled,
        total_s=total,
        idle_pss_mib=0.0,
        idle_private_mib=0.0,
        responsive_s=restored.timings.get("responsive_ms", 0.0) / 1000,
        guest_steps_ms={s.name: round(s.ms, 1) for s in answer.steps},
    )
    return timing, restored.desk.path, restored.pid


def kept_port(data_dir: Path, name: str) -> int:
    """A port remembered in the data dir (as tests/pool/conftest.py does): same forwards, same
    template."""
    port_file = data_dir / f"test-{name}-port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
    return port


def guest_log(desk_dir: Path, limit: int = 60) -> list[str]:
    """The clone's console lines from the agent (journal forwarded to the serial console)."""
    path = desk_dir / "console.log"
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    keep = ("bureau-pool", "uvicorn", "Uvicorn", "Application", "health", "bureau_agent")
    return [line.strip() for line in lines if any(word in line for word in keep)][:limit]


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def run(env: PoolEnv, sequential: int, concurrent: int) -> dict[str, object]:
    seq: list[PoolTiming] = []
    conc: list[PoolTiming] = []
    for i in range(sequential):
        timing, path, pid = await one(env, f"dsk_bench{i:02d}")
        await asyncio.sleep(5)  # let it settle, then measure the resumed clone
        timing.idle_pss_mib, timing.idle_private_mib = memory_mib(pid)
        timing.guest_log = guest_log(path)
        seq.append(timing)
        print(json.dumps({k: v for k, v in asdict(timing).items() if k != "guest_log"}), flush=True)
        await discard(path)
    if concurrent:
        results = await asyncio.gather(*(one(env, f"dsk_conc{i:02d}") for i in range(concurrent)))
        await asyncio.sleep(5)
        for timing, _, pid in results:
            timing.idle_pss_mib, timing.idle_private_mib = memory_mib(pid)
            conc.append(timing)
            print(json.dumps(asdict(timing)), flush=True)
        for _, path, _ in results:
            await discard(path)
    ram_file = env.template.path / RAM_FILE
    timing, path, pid = await one(env, "dsk_mapped")
    await asyncio.sleep(5)
    resumed_ram = ram_mapping_mib(pid, ram_file)
    await discard(path)
    paused = await restore(env, "dsk_paused")
    await asyncio.sleep(2)
    paused_pss, paused_private = memory_mib(paused.pid)
    paused_ram = ram_mapping_mib(paused.pid, ram_file)
    await discard(paused.desk.path)
    summary = {
        "paused_clone_pss_mib": paused_pss,
        "paused_clone_private_mib": paused_private,
        "sequential_p50_ready_s": p50([t.total_s for t in seq]),
        "sequential_p50_restore_s": p50([t.restore_s for t in seq]),
        "sequential_p50_resume_s": p50([t.resume_s for t in seq]),
        "sequential_p50_enroll_s": p50([t.enroll_s for t in seq]),
        "sequential_p50_app_s": p50([t.app_s for t in seq]),
        "sequential_p50_responsive_s": p50([t.responsive_s for t in seq]),
        "sequential_p50_guest_steps_ms": {
            name: p50([t.guest_steps_ms.get(name, 0.0) for t in seq])
            for name in (seq[0].guest_steps_ms if seq else {})
        },
        "concurrent_p50_ready_s": p50([t.total_s for t in conc]),
        "concurrent_p50_app_s": p50([t.app_s for t in conc]),
        "resumed_pss_p50_mib": p50([t.idle_pss_mib for t in seq]),
        "resumed_private_p50_mib": p50([t.idle_private_mib for t in seq]),
        "concurrent_pss_p50_mib": p50([t.idle_pss_mib for t in conc]),
        "concurrent_private_p50_mib": p50([t.idle_private_mib for t in conc]),
        "resumed_clone_guest_ram": resumed_ram,
        "paused_clone_guest_ram": paused_ram,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "template_build_s": env.template.record.build_seconds,
        "template_tb_size_mib": env.template.record.tcg_tb_size_mib,
        "clone_tb_size_mib": env.manager.settings.clone_tcg_tb_size_mib
        or env.template.record.tcg_tb_size_mib,
    }
    return {
        "summary": summary,
        "sequential": [asdict(t) for t in seq],
        "concurrent": [asdict(t) for t in conc],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/var/tmp/bureau-bench-pool"))
    parser.add_argument(
        "--clone-tb-size-mib",
        type=int,
        default=None,
        help="TCG translation cache of the clones (BUREAU_POOL_CLONE_TCG_TB_SIZE_MIB; default: "
        "the template's)",
    )
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    build_image(args.data_dir, name=DEFAULT_IMAGE_NAME, progress=print)  # reused when current
    pki = Pki(args.data_dir / "test-tls", ["127.0.0.1", "10.0.2.100"])
    # The same ports and forwards as tests/pool/conftest.py: a shared data dir finds one template.
    port = kept_port(args.data_dir, "control-plane")
    provider, provider_url = start_fake_provider(
        args.data_dir / "provider.log", port=kept_port(args.data_dir, "provider")
    )
    enrollments = Enrollments()
    app = enroll_app(pki, enrollments)
    try:
        with serve_asgi(app, port=port, certfile=pki.paths.server, keyfile=pki.paths.server_key):
            manager = PoolManager(
                args.data_dir,
                settings=PoolSettings(
                    size=1,
                    restore_timeout_seconds=30,
                    clone_tcg_tb_size_mib=args.clone_tb_size_mib,
                ),
                qemu=QemuSettings(
                    accel="tcg", host_forwards="127.0.0.1:" + provider_url.rsplit(":", 1)[1]
                ),
                control_plane=("127.0.0.1", port),
            )
            template = asyncio.run(manager.template(DESK_SIZES["small"], progress=print))
            env = PoolEnv(
                args.data_dir, manager, template, pki, enrollments, port, provider, provider_url
            )
            result = asyncio.run(run(env, args.sequential, args.concurrent))
    finally:
        provider.stop()
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    (out / "desk_ready_pool.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
