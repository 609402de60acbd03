"""Control-plane benchmark: desk creation and reads under concurrency, job throughput and pickup.

Runs ``bureau serve`` (HTTPS, in-process workers, the scripted driver answering instantly) in a
subprocess, on SQLite and, when ``BUREAU_TEST_DATABASE_URL`` is set, on a fresh PostgreSQL
database, then:

1. creates N desks (default 500) from C concurrent clients (default 50): p50/p99 of POST /v1/desks;
2. waits until every provisioning job is done: jobs/s end to end (first POST -> last job done),
   job pickup latency (job created -> started, from the jobs table), lost/duplicated jobs;
3. reads GET /v1/desks/{id} from C concurrent clients: p50/p99.

Usage: ``.venv/bin/python -m bench.control_plane [--desks 500] [--concurrency 50]``.
The agent wheel is a stand-in file (the scripted driver installs nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from orchestrator.dist import AgentDistStore
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until

REPO = Path(__file__).resolve().parent.parent
ADMIN = "bench-admin-" + secrets.token_hex(16)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def postgres_db(base: str) -> Iterator[str]:
    name = f"bureau_bench_{secrets.token_hex(4)}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


@contextmanager
def control_plane(database_url: str, workdir: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    data_dir = workdir / "data"
    dist = data_dir / "dist"
    dist.mkdir(parents=True)
    version = AgentDistStore(dist, REPO / "agent_image").version()
    (dist / f"bureau_agent-{version}-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    port = free_port()
    env = {
        **os.environ,
        "BUREAU_DATA_DIR": str(data_dir),
        "BUREAU_DATABASE_URL": database_url,
        "BUREAU_DRIVER": "scripted",
        "BUREAU_PORT": str(port),
        "BUREAU_PUBLIC_URL": f"https://127.0.0.1:{port}",
        "BUREAU_BOOTSTRAP_ADMIN_TOKEN": ADMIN,
        "BUREAU_WORKER_CONCURRENCY": "8",
        "BUREAU_JOB_POLL_SECONDS": "0.05",
        "BUREAU_LOG_LEVEL": "warning",
    }
    log = open(workdir / "serve.log", "wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "bureau"), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        ca = data_dir / "tls" / "ca.pem"
        wait_until(lambda: ca.exists(), timeout=120, message="CA written")
        context = ssl.create_default_context(cafile=str(ca))
        wait_until(
            lambda: httpx.get(f"{url}/openapi.json", verify=context).status_code == 200,
            timeout=120,
            message="control plane up",
        )
        yield url, context
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _timed(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    try:
        response = await client.request(method, path, **kw)
    except httpx.RemoteProtocolError:  # a keep-alive connection closed under us: retry once
        start = time.perf_counter()
        response = await client.request(method, path, **kw)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return elapsed, response.json()


async def run_load(
    url: str, context: ssl.SSLContext, desks: int, concurrency: int
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {ADMIN}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, verify=context, headers=headers, limits=limits, timeout=60
    ) as client:
        user = (await client.post("/v1/users", json={"name": "bench"})).json()
        client.headers["authorization"] = f"Bearer {user['token']}"
        names = iter(range(desks))
        create_ms: list[float] = []
        ids: list[str] = []

        async def creator() -> None:
            for n in names:
                body = {
                    "name": f"bench-{n}",
                    "provider": "openai",
                    "api_key": "sk-bench-" + secrets.token_hex(12),
                    "model": "gpt-4o-mini",
                }
                elapsed, desk = await _timed(client, "POST", "/v1/desks", json=body)
                create_ms.append(elapsed)
                ids.append(desk["id"])

        started = time.perf_counter()
        await asyncio.gather(*(creator() for _ in range(concurrency)))
        created_s = time.perf_counter() - started

        async def all_booted() -> float:
            while True:
                booted = 0
                after: str | None = None
                while True:
                    params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
                    page = (await client.get("/v1/desks", params=params)).json()
                    booted += sum(d["state"] == "booting" for d in page["data"])
                    after = page["next_cursor"]
                    if not page["has_more"]:
                        break
                if booted >= desks:
                    return time.perf_counter() - started
                await asyncio.sleep(0.05)

        end_to_end_s = await all_booted()
        read_ms: list[float] = []
        reads = iter(range(desks * 4))

        async def reader() -> None:
            for n in reads:
                elapsed, _ = await _timed(client, "GET", f"/v1/desks/{ids[n % len(ids)]}")
                read_ms.append(elapsed)

        read_started = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(concurrency)))
        read_s = time.perf_counter() - read_started
        serial_ms: list[float] = []
        for n in range(200):  # one client, one request at a time: service time without queueing
            elapsed, _ = await _timed(client, "GET", f"/v1/desks/{ids[n % len(ids)]}")
            serial_ms.append(elapsed)
        idle_ids: list[str] = []
        for n in range(20):  # one at a time, workers idle: pure pickup latency
            body = {
                "name": f"idle-{n}",
                "provider": "openai",
                "api_key": "sk-bench-" + secrets.token_hex(12),
                "model": "gpt-4o-mini",
            }
            idle_ids.append((await client.post("/v1/desks", json=body)).json()["id"])
            await asyncio.sleep(0.3)
    return {
        "idle_ids": idle_ids,
        "ids": ids,
        "create_ms": create_ms,
        "created_s": created_s,
        "end_to_end_s": end_to_end_s,
        "read_ms": read_ms,
        "serial_ms": serial_ms,
        "read_rps": len(read_ms) / read_s,
    }


def job_stats(database_url: str, ids: list[str], idle_ids: list[str]) -> dict[str, Any]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT desk_id, state, attempts, created_at, started_at FROM jobs "
                "WHERE kind = 'provision'"
            )
        ).all()
    engine.dispose()
    per_desk = Counter(r[0] for r in rows)
    pickups: list[float] = []
    idle_pickups: list[float] = []
    idle = set(idle_ids)
    for row in rows:
        created, started = row[3], row[4]
        if isinstance(created, str):  # SQLite returns text through a plain engine
            from datetime import datetime

            created, started = datetime.fromisoformat(created), datetime.fromisoformat(started)
        pickup = (started - created).total_seconds() * 1000
        (idle_pickups if row[0] in idle else pickups).append(pickup)
    return {
        "jobs": len(rows),
        "lost": sum(1 for desk_id in [*ids, *idle_ids] if per_desk[desk_id] == 0),
        "duplicated": sum(1 for c in per_desk.values() if c > 1),
        "not_done": sum(1 for r in rows if r[1] != "done"),
        "retried": sum(1 for r in rows if r[2] > 1),
        "pickup_ms": pickups,
        "idle_pickup_ms": idle_pickups,
    }


def report(label: str, load: dict[str, Any], jobs: dict[str, Any], desks: int, conc: int) -> None:
    print(f"\n== {label}: {desks} desks, concurrency {conc} ==")
    print(
        f"POST /v1/desks      p50 {pct(load['create_ms'], 50):7.1f} ms   "
        f"p99 {pct(load['create_ms'], 99):7.1f} ms   ({desks / load['created_s']:.0f} creates/s)"
    )
    print(
        f"GET /v1/desks/{{id}}  p50 {pct(load['read_ms'], 50):7.1f} ms   "
        f"p99 {pct(load['read_ms'], 99):7.1f} ms   ({load['read_rps']:.0f} req/s)"
    )
    print(
        f"GET, 1 client       p50 {pct(load['serial_ms'], 50):7.1f} ms   "
        f"p99 {pct(load['serial_ms'], 99):7.1f} ms   (200 sequential requests)"
    )
    print(
        f"jobs end to end     {desks / load['end_to_end_s']:7.1f} jobs/s "
        f"(first POST -> last desk booting: {load['end_to_end_s']:.2f} s)"
    )
    print(
        f"job pickup, burst   p50 {pct(jobs['pickup_ms'], 50):7.1f} ms   "
        f"p99 {pct(jobs['pickup_ms'], 99):7.1f} ms"
    )
    print(
        f"job pickup, idle    p50 {pct(jobs['idle_pickup_ms'], 50):7.1f} ms   "
        f"p99 {pct(jobs['idle_pickup_ms'], 99):7.1f} ms   (20 desks created one at a time)"
    )
    print(
        f"jobs: {jobs['jobs']} provision jobs, lost {jobs['lost']}, duplicated "
        f"{jobs['duplicated']}, not done {jobs['not_done']}, retried {jobs['retried']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--desks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    targets: list[tuple[str, Any]] = [("SQLite", None)]
    if os.environ.get("BUREAU_TEST_DATABASE_URL"):
        targets.append(("PostgreSQL", os.environ["BUREAU_TEST_DATABASE_URL"]))
    for label, pg_base in targets:
        workdir = Path(tempfile.mkdtemp(prefix="bureau-bench-"))
        try:
            if pg_base is None:
                dbs: Any = _sqlite(workdir)
            else:
                dbs = postgres_db(pg_base)
            with dbs as database_url, control_plane(database_url, workdir) as (url, context):
                load = asyncio.run(run_load(url, context, args.desks, args.concurrency))
                wait_until(
                    lambda: _done(database_url) >= args.desks + 20, timeout=120, message="jobs"
                )
                jobs = job_stats(database_url, load["ids"], load["idle_ids"])
            report(label, load, jobs, args.desks, args.concurrency)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _done(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM jobs WHERE kind = 'provision' AND state = 'done'")
        ).scalar()
    engine.dispose()
    return int(count or 0)


@contextmanager
def _sqlite(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'bureau.db'}"


if __name__ == "__main__":
    main()
