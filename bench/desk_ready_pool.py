"""Desk ready from the warm pool: restore, resume and enrollment, p50 over N desks and K at once.

Usage (root, guest image built or buildable; the template boot costs a few minutes under TCG):
    .venv/bin/python3 -m bench.desk_ready_pool [--sequential 10] [--concurrent 3] [--data-dir D]
(A template is reused when the data dir, the interpreter path and the port file match; the same
data dir as BUREAU_TEST_POOL_DIR for tests/pool works when both run under .venv/bin/python3.)

Builds (or reuses, in --data-dir) one pool template whose guest forward leads to an enrollment
double with the real PKI, then for each desk: prepares a slot (not timed: the pool does it in the
background), restores the template's state into it (``restore``), resumes it with the desk's
settings (``resume``: clock, reseed, identity, data disk, files) and waits for its enrollment
(``enroll``: TLS key + POST /v1/agent/enroll), then measures the clone's PSS 5 s later (its agent
may still be starting) and once the PSS of a restored, still paused clone. Prints p50s and
writes the raw figures to bench/out/desk_ready_pool.json. The cold boot is bench/desk_ready.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.drivers.base import DESK_SIZES
from orchestrator.drivers.qemu_settings import QemuSettings
from orchestrator.pki import Pki
from orchestrator.pool.clone import discard
from orchestrator.pool.manager import PoolManager
from orchestrator.pool.settings import PoolSettings
from tests.helpers.servers import free_port, serve_asgi
from tests.pool.conftest import PoolEnv
from tests.pool.enroll_double import Enrollments, enroll_app
from tests.pool.test_clones_vm import restore, restore_and_resume
from tests.qemu.image import ensure_image


@dataclass
class PoolTiming:
    desk_id: str
    restore_s: float
    resume_s: float
    enroll_s: float
    total_s: float
    idle_pss_mib: float


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one(env: PoolEnv, desk_id: str) -> tuple[PoolTiming, Path, int]:
    started = time.perf_counter()
    restored, answer, _ = await restore_and_resume(env, desk_id)
    total = time.perf_counter() - started
    enroll_ms = next(s.ms for s in answer.steps if s.name == "enroll")
    restore_s = restored.timings["restore_ms"] / 1000
    timing = PoolTiming(
        desk_id=desk_id,
        restore_s=restore_s,
        resume_s=total - restore_s - enroll_ms / 1000,
        enroll_s=enroll_ms / 1000,
        total_s=total,
        idle_pss_mib=0.0,
    )
    return timing, restored.desk.path, restored.pid


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def run(env: PoolEnv, sequential: int, concurrent: int) -> dict[str, object]:
    seq: list[PoolTiming] = []
    conc: list[PoolTiming] = []
    for i in range(sequential):
        timing, path, pid = await one(env, f"dsk_bench{i:02d}")
        await asyncio.sleep(5)  # let it settle, then measure the resumed clone
        timing.idle_pss_mib = pss_mib(pid)
        seq.append(timing)
        print(json.dumps(asdict(timing)), flush=True)
        await discard(path)
    if concurrent:
        results = await asyncio.gather(*(one(env, f"dsk_conc{i:02d}") for i in range(concurrent)))
        await asyncio.sleep(5)
        for timing, _, pid in results:
            timing.idle_pss_mib = pss_mib(pid)
            conc.append(timing)
            print(json.dumps(asdict(timing)), flush=True)
        for _, path, _ in results:
            await discard(path)
    paused = await restore(env, "dsk_paused")
    await asyncio.sleep(2)
    paused_pss = pss_mib(paused.pid)
    await discard(paused.desk.path)
    summary = {
        "paused_clone_pss_mib": paused_pss,
        "sequential_p50_total_s": p50([t.total_s for t in seq]),
        "sequential_p50_restore_s": p50([t.restore_s for t in seq]),
        "sequential_p50_resume_s": p50([t.resume_s for t in seq]),
        "sequential_p50_enroll_s": p50([t.enroll_s for t in seq]),
        "concurrent_p50_total_s": p50([t.total_s for t in conc]),
        "resumed_pss_p50_mib": p50([t.idle_pss_mib for t in seq + conc]),
        "template_build_s": env.template.record.build_seconds,
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
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_image(args.data_dir)
    pki = Pki(args.data_dir / "test-tls", ["127.0.0.1", "10.0.2.100"])
    port_file = args.data_dir / "test-control-plane-port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
    enrollments = Enrollments()
    app = enroll_app(pki, enrollments)
    with serve_asgi(app, port=port, certfile=pki.paths.server, keyfile=pki.paths.server_key):
        manager = PoolManager(
            args.data_dir,
            settings=PoolSettings(size=1, restore_timeout_seconds=30),
            qemu=QemuSettings(accel="tcg"),
            control_plane=("127.0.0.1", port),
        )
        template = asyncio.run(manager.template(DESK_SIZES["small"], progress=print))
        env = PoolEnv(args.data_dir, manager, template, pki, enrollments, port)
        result = asyncio.run(run(env, args.sequential, args.concurrent))
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    (out / "desk_ready_pool.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
