"""Control-plane benchmark: desk creation and reads under concurrency, job throughput and pickup.

Runs ``bureau serve`` (HTTPS, in-process workers, the scripted driver answering instantly) in a
subprocess, on SQLite and, when ``BUREAU_TEST_DATABASE_URL`` is set, on a fresh PostgreSQL
database, then:

1. creates N desks (default 500) from C concurrent clients (default 50): p50/p99 of POST /v1/desks;
2. waits until every desk is booting: jobs/s end to end (first POST -> the last desk's
   ``booting`` event, polled from the database every 0.2 s: polling the API, as this benchmark
   did before, loaded the server it measured), job pickup latency (job created -> started, from
   the jobs table), lost/duplicated jobs;
3. reads GET /v1/desks/{id} from C concurrent clients, closed loop (each client sends its next
   request as soon as the previous one is answered): p50/p99 and requests/s;
4. reads GET /v1/desks/{id} from one client, one request at a time (service time, no queueing);
5. reads GET /v1/desks/{id} open loop: C clients together send R requests/s (default 200) on a
   fixed schedule for a few seconds; latency counts from the scheduled send time, so a late
   server is not hidden by clients that wait (no coordinated omission);
6. creates 20 desks one at a time with the workers idle: pure pickup latency.

The load generator must not be the bottleneck on a small machine. It used to be 50 httpx
clients in one asyncio process; on 2 shared cores that process competed with the server for CPU
and added its own event-loop queueing to every latency. Now the concurrent phases run in
``--client-processes`` processes (default 2), each with a minimal keep-alive HTTP/1.1 client over
TLS on asyncio streams (about 0.2-0.3 ms of client CPU per request, printed below). Every client
connects (TLS handshake) before the clock starts. The server's CPU time per request
(``/proc/<pid>/stat`` before and after each phase) is printed too: one Python process serves the
API (its GIL is its core), so in a closed loop with C clients the mean latency cannot be below
about C x that CPU time, whatever the code does per request.

Usage: ``.venv/bin/python -m bench.control_plane [--desks 500] [--concurrency 50]
[--client-processes 2] [--open-rate 200]``. The agent wheel is a stand-in file (the scripted
driver installs nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import resource
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
def control_plane(database_url: str, workdir: Path) -> Iterator[tuple[str, str, int]]:
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
        # 520 creations by one user: measure the API, not the budget
        "BUREAU_RATE_LIMIT_DESK_CREATE": "",
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
        wait_until(
            lambda: ca.exists() and b"END CERTIFICATE" in ca.read_bytes(),
            timeout=120,
            message="CA written",
        )
        context = ssl.create_default_context(cafile=str(ca))
        wait_until(
            lambda: httpx.get(f"{url}/openapi.json", verify=context).status_code == 200,
            timeout=120,
            message="control plane up",
        )
        yield url, str(ca), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Http1:
    """One keep-alive HTTP/1.1 connection over TLS; one request at a time (the load generator)."""

    def __init__(self, url: str, context: ssl.SSLContext, token: str) -> None:
        parsed = urlsplit(url)
        self.host, self.port = str(parsed.hostname), int(parsed.port or 443)
        self.context = context
        self.prefix = (
            f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\n"
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.context
        )

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            await self.connect()
        assert self.writer is not None and self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.prefix
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        self.writer.write(head + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        lower = raw.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"{method} {path}: no content-length in {raw[:200]!r}")
        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


async def _json_call(conn: Http1, method: str, path: str, body: Any = None) -> tuple[float, Any]:
    payload = json.dumps(body).encode() if body is not None else b""
    start = time.perf_counter()
    status, raw = await conn.call(method, path, payload)
    elapsed = (time.perf_counter() - start) * 1000
    if status >= 400:
        raise RuntimeError(f"{method} {path}: {status} {raw[:200]!r}")
    return elapsed, json.loads(raw)


def _desk_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "api_key": "sk-bench-" + secrets.token_hex(12),
        "model": "gpt-4o-mini",
    }


@dataclass
class Phase:
    """What one client process does: ``kind`` in create|read|open, over ``conns`` connections."""

    kind: str
    url: str
    ca: str
    token: str
    conns: int
    items: list[Any]  # create: desk numbers; read: desk ids to GET (in order)
    rate: float = 0.0  # open: this process's requests per second
    duration: float = 0.0  # open: seconds


async def _client(phase: Phase, ready: Any, go: Any) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=phase.ca)
    conns = [Http1(phase.url, context, phase.token) for _ in range(phase.conns)]
    await asyncio.gather(*(c.connect() for c in conns))
    ready.set()
    await asyncio.to_thread(go.wait)
    latencies: list[float] = []
    ids: list[str] = []
    items = iter(phase.items)
    first = time.perf_counter()
    first_wall = time.time()

    async def closed(conn: Http1) -> None:
        for item in items:
            if phase.kind == "create":
                elapsed, desk = await _json_call(conn, "POST", "/v1/desks", _desk_body(item))
                ids.append(desk["id"])
            else:
                elapsed, _ = await _json_call(conn, "GET", f"/v1/desks/{item}")
            latencies.append(elapsed)

    async def scheduled(conn: Http1, k: int) -> None:
        interval = phase.conns / phase.rate
        offset = interval * k / phase.conns
        n = 0
        while True:
            due = first + offset + n * interval
            if due > first + phase.duration:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            desk_id = phase.items[(n * phase.conns + k) % len(phase.items)]
            status, _raw = await conn.call("GET", f"/v1/desks/{desk_id}")
            if status != 200:
                raise RuntimeError(f"GET /v1/desks/{desk_id}: {status}")
            latencies.append((time.perf_counter() - due) * 1000)
            n += 1

    if phase.kind == "open":
        await asyncio.gather(*(scheduled(c, k) for k, c in enumerate(conns)))
    else:
        await asyncio.gather(*(closed(c) for c in conns))
    last = time.perf_counter()
    await asyncio.gather(*(c.close() for c in conns))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "latencies": latencies,
        "ids": ids,
        "first": first,
        "first_wall": first_wall,
        "last": last,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def _client_main(phase: Phase, ready: Any, go: Any, results: Any) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        results.put(asyncio.run(_client(phase, ready, go)))
    except BaseException as exc:  # the parent reports it
        ready.set()
        results.put({"error": repr(exc)})


def run_clients(phases: list[Phase], server_pid: int) -> dict[str, Any]:
    """Run one phase in ``len(phases)`` client processes that start together once all have
    connected; merged latencies, wall time, server and client CPU seconds."""
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    results = ctx.Queue()
    readies = [ctx.Event() for _ in phases]
    procs = [
        ctx.Process(target=_client_main, args=(phase, ready, go, results), daemon=True)
        for phase, ready in zip(phases, readies, strict=True)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(120)
    cpu_before = server_cpu_seconds(server_pid)
    go.set()
    parts = [results.get(timeout=900) for _ in procs]
    cpu_after = server_cpu_seconds(server_pid)
    for proc in procs:
        proc.join(30)
    errors = [p["error"] for p in parts if "error" in p]
    if errors:
        raise RuntimeError(f"a client process failed: {errors[0]}")
    return {
        "latencies": [x for p in parts for x in p["latencies"]],
        "ids": [x for p in parts for x in p["ids"]],
        "wall_s": max(p["last"] for p in parts) - min(p["first"] for p in parts),
        "first_wall": min(p["first_wall"] for p in parts),
        "server_cpu_s": cpu_after - cpu_before,
        "client_cpu_s": sum(p["cpu_s"] for p in parts),
    }


def server_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[n::parts] for n in range(parts)]


def _conns(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


async def _main_client(url: str, context: ssl.SSLContext, token: str) -> Http1:
    conn = Http1(url, context, token)
    await conn.connect()
    return conn


def run_load(
    url: str, ca: str, server_pid: int, database_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    desks, concurrency, nproc = args.desks, args.concurrency, args.client_processes
    context = ssl.create_default_context(cafile=ca)
    admin = httpx.Client(base_url=url, verify=context, headers={"authorization": f"Bearer {ADMIN}"})
    token = admin.post("/v1/users", json={"name": "bench"}).json()["token"]
    admin.close()
    client = httpx.Client(
        base_url=url, verify=context, headers={"authorization": f"Bearer {token}"}, timeout=60
    )

    def phases(kind: str, items: list[Any], **kw: Any) -> list[Phase]:
        return [
            Phase(kind, url, ca, token, conns, part, **kw)
            for conns, part in zip(_conns(concurrency, nproc), _split(items, nproc), strict=True)
        ]

    numbers = [f"bench-{n}" for n in range(desks)]
    created = run_clients(phases("create", numbers), server_pid)
    ids = created["ids"]
    # The end is read from the desks' own "booting" events (server clock), polled straight from
    # the database at a slow pace: polling the API would load the server we measure.
    last_booting = wait_until(
        lambda: _booting(database_url, desks), timeout=600, interval=0.2, message="all booting"
    )
    assert last_booting is not None
    end_to_end_s = last_booting.timestamp() - created["first_wall"]
    order = [ids[n % len(ids)] for n in range(desks * 4)]
    reads = run_clients(phases("read", order), server_pid)
    opened = run_clients(
        phases("open", ids, rate=args.open_rate / nproc, duration=args.open_seconds), server_pid
    )

    async def serial() -> list[float]:
        conn = await _main_client(url, context, token)
        out = []
        for n in range(200):  # one client, one request at a time: service time, no queueing
            elapsed, _ = await _json_call(conn, "GET", f"/v1/desks/{ids[n % len(ids)]}")
            out.append(elapsed)
        await conn.close()
        return out

    cpu_before = server_cpu_seconds(server_pid)
    serial_ms = asyncio.run(serial())
    serial_cpu = server_cpu_seconds(server_pid) - cpu_before
    idle_ids: list[str] = []
    for n in range(20):  # one at a time, workers idle: pure pickup latency
        idle_ids.append(client.post("/v1/desks", json=_desk_body(f"idle-{n}")).json()["id"])
        time.sleep(0.3)
    client.close()
    return {
        "idle_ids": idle_ids,
        "ids": ids,
        "create": created,
        "end_to_end_s": end_to_end_s,
        "read": reads,
        "open": opened,
        "serial_ms": serial_ms,
        "serial_cpu_ms": serial_cpu * 1000 / len(serial_ms),
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


def _ms_per(cpu_s: float, count: int) -> float:
    return cpu_s * 1000 / max(1, count)


def report(
    label: str, load: dict[str, Any], jobs: dict[str, Any], args: argparse.Namespace
) -> None:
    desks, conc = args.desks, args.concurrency
    create, read, opened = load["create"], load["read"], load["open"]
    print(f"\n== {label}: {desks} desks, concurrency {conc}, {args.client_processes} client "
          f"processes, load average {os.getloadavg()[0]:.1f} ==")  # fmt: skip
    print(
        f"POST /v1/desks      p50 {pct(create['latencies'], 50):7.1f} ms   "
        f"p99 {pct(create['latencies'], 99):7.1f} ms   ({desks / create['wall_s']:.0f} creates/s; "
        f"server CPU {_ms_per(create['server_cpu_s'], desks):.1f} ms per create incl. its job work)"
    )
    n_read = len(read["latencies"])
    per_get = _ms_per(read["server_cpu_s"], n_read)
    print(
        f"GET /v1/desks/{{id}}  p50 {pct(read['latencies'], 50):7.1f} ms   "
        f"p99 {pct(read['latencies'], 99):7.1f} ms   ({n_read / read['wall_s']:.0f} req/s, "
        f"closed loop, {conc} clients; server CPU {per_get:.2f} ms per GET -> "
        f"{conc} x {per_get:.2f} = {conc * per_get:.0f} ms queue floor; "
        f"client CPU {_ms_per(read['client_cpu_s'], n_read):.2f} ms per GET)"
    )
    n_open = len(opened["latencies"])
    print(
        f"GET, open loop      p50 {pct(opened['latencies'], 50):7.1f} ms   "
        f"p99 {pct(opened['latencies'], 99):7.1f} ms   ({n_open / opened['wall_s']:.0f} req/s "
        f"offered by {conc} clients for {args.open_seconds:.0f} s; max "
        f"{max(opened['latencies'] or [float('nan')]):.1f} ms)"
    )
    print(
        f"GET, 1 client       p50 {pct(load['serial_ms'], 50):7.1f} ms   "
        f"p99 {pct(load['serial_ms'], 99):7.1f} ms   (200 sequential requests; server CPU "
        f"{load['serial_cpu_ms']:.2f} ms per GET)"
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
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--open-rate", type=float, default=200.0, help="open-loop GETs per second")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    targets: list[tuple[str, Any]] = []
    if args.only != "postgres":
        targets.append(("SQLite", None))
    if os.environ.get("BUREAU_TEST_DATABASE_URL") and args.only != "sqlite":
        targets.append(("PostgreSQL", os.environ["BUREAU_TEST_DATABASE_URL"]))
    for label, pg_base in targets:
        workdir = Path(tempfile.mkdtemp(prefix="bureau-bench-"))
        try:
            if pg_base is None:
                dbs: Any = _sqlite(workdir)
            else:
                dbs = postgres_db(pg_base)
            with dbs as database_url, control_plane(database_url, workdir) as (url, ca, pid):
                load = run_load(url, ca, pid, database_url, args)
                wait_until(
                    lambda: _done(database_url) >= args.desks + 20, timeout=120, message="jobs"
                )
                jobs = job_stats(database_url, load["ids"], load["idle_ids"])
            report(label, load, jobs, args)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _booting(database_url: str, desks: int) -> datetime | None:
    """When the last of ``desks`` desks reached booting (None while some have not)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        count, last = conn.execute(
            text("SELECT count(*), max(at) FROM desk_events WHERE to_state = 'booting'")
        ).one()
    engine.dispose()
    if int(count or 0) < desks:
        return None
    if isinstance(last, str):  # SQLite returns text through a plain engine
        last = datetime.fromisoformat(last)
    return last if last.tzinfo else last.replace(tzinfo=UTC)


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
