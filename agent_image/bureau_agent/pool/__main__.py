"""``python -m bureau_agent.pool``: the unassigned agent of a pooled template (runs as root).

Before the snapshot is taken it imports everything the agent will need, builds the agent's app
(routes warmed, no desk bound) and opens the agent port; it then waits for one resume on that
port, hands the port and the app over to the enrolled agent (a forked child running as
``bureau``, inside the regular agent unit's sandbox: sandbox.py), and supervises it. After a
reboot of a resumed desk the regular ``bureau-agent.service`` takes over. On a qemu clone the pool
token is read from the clone's own seed disk per resume (``--seed-device``, seed_token.py); a
Hetzner pool server passes ``--token-file`` (identity.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bureau_agent.pool.launch import ForkLauncher, Prepared, enroll_and_serve
from bureau_agent.pool.resume import AGENT_DATA_DIR, POOL_TOKEN_FILE, WORKSPACE_DIR, Resumer
from bureau_agent.pool.sandbox import apply_agent_sandbox
from bureau_agent.pool.seed_token import read_seed_token
from bureau_agent.pool.server import PoolServer
from bureau_agent.pool.system import HostSystem

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["PoolServer", "main", "preload"]  # PoolServer: pool.identity swaps it for a TLS one
log = logging.getLogger("bureau_agent.pool")

#: Libraries the agent imports lazily (on a first run, file or search): loaded into the template,
#: they cost a clone nothing until it touches them (its RAM is the template's, copy-on-write).
LAZY_LIBRARIES = ("numpy", "pyarrow", "lancedb", "openai", "anthropic", "bpe_openai", "pypdf")


def _timed(label: str, action: Any) -> Any:
    started = time.perf_counter()
    result = action()
    log.info("preload: %s in %.1f s", label, time.perf_counter() - started)
    return result


def _import_libraries() -> None:
    for name in LAZY_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            log.info("preload: %s is not installed", name)
    try:  # the run loop's token counter loads this encoding on its first call
        from bureau_agent.runner.prepare import count_tokens

        count_tokens("warm")
    except Exception as exc:  # best effort: the agent loads it on its first run
        log.info("preload: token encoding not loaded: %s", exc)


def _import_server() -> None:
    """uvicorn's protocol, lifespan and loop modules (it imports them when it starts)."""
    from uvicorn.config import HTTP_PROTOCOLS, LIFESPAN, LOOP_FACTORIES
    from uvicorn.importer import import_from_string

    import_from_string(HTTP_PROTOCOLS["auto"])
    import_from_string(LIFESPAN["on"])
    factory = LOOP_FACTORIES["auto"]
    if factory is not None:
        import_from_string(factory)
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass


def _import_enrollment_client() -> None:
    """httpx loads its sync transport (httpcore, h11, certifi) when the first ``httpx.Client`` is
    built: without this, the enrollment's client in the clone (enroll.py) imports ~40 modules
    between the reseed and the certificate (under TCG, a large part of the enrollment). No
    connection is made and nothing is kept: the clone builds its own client and TLS context."""
    import ssl

    import httpx

    with httpx.Client(verify=ssl.create_default_context(), timeout=1):
        pass


def _rehearse() -> None:
    """Bind a throwaway app to a throwaway data dir and answer a health check in-process: it
    imports what binding and the first request import lazily (extensions, anyio's backend)."""
    from bureau_agent.app import asgi_get, bind_app, build_app
    from bureau_agent.config import load_config

    with tempfile.TemporaryDirectory(prefix="bureau-preload-") as scratch:
        config = load_config(
            None,
            BUREAU_AGENT_DATA_DIR=Path(scratch) / "agent",
            BUREAU_WORKSPACE_DIR=Path(scratch) / "workspace",
        )
        app = build_app(mutual_tls=False)
        bind_app(app, config)
        status = asyncio.run(asgi_get(app, "/desk/v1/health"))
        if status != 200:
            log.info("preload: rehearsal health check answered %d", status)


def _prebind(app: FastAPI) -> None:
    """The services every desk's settings share (cloud_init.render.agent_env writes these paths,
    the tool user and memory on); a desk that differs gets fresh ones after enrolling."""
    from bureau_agent.app import prebind_app
    from bureau_agent.config import load_config

    config = load_config(
        None,
        BUREAU_AGENT_DATA_DIR=Path(AGENT_DATA_DIR),
        BUREAU_WORKSPACE_DIR=Path(WORKSPACE_DIR),
        BUREAU_TOOL_USER="desk",
        BUREAU_MEMORY="on",
    )
    try:
        prebind_app(app, config)
    except (OSError, ValueError) as exc:  # e.g. no `desk` user: the agent builds them later
        log.info("preload: desk services not prebuilt: %s", exc)


def preload() -> FastAPI:
    """Everything the agent needs that no desk decides, done now so the snapshot holds it (a
    cold import or a first request costs seconds under TCG); returns the agent's unbound app."""
    import bureau_agent.enroll
    import bureau_agent.serving
    from bureau_agent.app import build_app, warm_routes

    _ = bureau_agent.serving, bureau_agent.enroll
    _timed("lazy libraries", _import_libraries)
    _timed("server modules", _import_server)
    _timed("enrollment client", _import_enrollment_client)
    _timed("rehearsal", _rehearse)
    app: FastAPI = _timed("agent app", lambda: build_app(mutual_tls=True))
    _timed("desk services", lambda: _prebind(app))
    _timed("route warm-up", lambda: warm_routes(app))
    # The clones share the template's memory copy-on-write: keep the collector off these objects.
    gc.collect()
    gc.freeze()
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bureau_agent.pool")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=7443)
    parser.add_argument("--token-file", type=Path, default=Path(POOL_TOKEN_FILE))
    parser.add_argument(
        "--seed-device",
        help="read the pool token from this disk's last block at each resume (a qemu clone: "
        "seed_token.py) instead of --token-file",
    )
    parser.add_argument("--root", type=Path, default=Path("/"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bureau-pool: %(message)s", stream=sys.stdout)
    # httpx logs every request at INFO: the enrollment's line would cost the clone a journal
    # write while it enrolls (its outcome is logged anyway).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    system = HostSystem()
    server: PoolServer | None = None
    prepared = Prepared()

    def work(config_file: Path, report: Any) -> None:
        prepared.listener = server.socket if server is not None else None
        enroll_and_serve(config_file, report, prepared)

    launcher = ForkLauncher(
        fds_to_close=lambda: server.open_fds() if server else [],
        work=work,
        sandbox=apply_agent_sandbox,
    )
    resumer = Resumer(args.root, system, launcher)
    if resumer.resumed:
        log.info("already resumed: the regular agent unit serves this desk")
        return 0
    token: str | Callable[[], str]
    if args.seed_device:
        device = str(args.seed_device)
        token = lambda: read_seed_token(device)  # noqa: E731 - read per resume, never kept
    else:
        token = args.token_file.read_text().strip()
    prepared.app = _timed("everything", preload)
    server = PoolServer((args.host, args.port), resumer, token)
    log.info("unassigned, waiting for a resume on port %d", args.port)
    response = server.serve_until_resumed()
    server.server_close()
    log.info("resumed as desk %s; the agent serves port %d", response.desk_id, args.port)
    # From here this process only tidies up and supervises: the agent child, starting to serve
    # on the desk's one vCPU, goes first (the systemctl calls below inherit the lower priority).
    os.nice(10)
    resumer.finish(response.enrolled)
    status = launcher.wait_child()
    if status != 0:
        log.info("agent exited with %d: starting bureau-agent.service", status)
        subprocess.run(["systemctl", "start", "--no-block", "bureau-agent.service"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
