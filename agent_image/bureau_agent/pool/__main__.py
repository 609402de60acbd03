"""``python -m bureau_agent.pool``: the unassigned agent of a pooled template (runs as root).

Imports everything the agent will need before the snapshot is taken, waits for one resume on the
agent port, hands the port over to the enrolled agent (a forked child running as ``bureau``), then
supervises it. After a reboot of a resumed desk the regular ``bureau-agent.service`` takes over.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from bureau_agent.pool.launch import ForkLauncher
from bureau_agent.pool.resume import POOL_TOKEN_FILE, Resumer
from bureau_agent.pool.server import PoolServer
from bureau_agent.pool.system import HostSystem

log = logging.getLogger("bureau_agent.pool")


def preload() -> None:
    """Import the agent now so the snapshot holds it (a cold import costs seconds under TCG)."""
    import bureau_agent.app
    import bureau_agent.cli
    import bureau_agent.enroll

    try:  # H5's extensions import heavy libraries lazily; warm them when present.
        import bureau_agent.plugins
        import bureau_agent.retrieval.wiring  # noqa: F401
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bureau_agent.pool")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=7443)
    parser.add_argument("--token-file", type=Path, default=Path(POOL_TOKEN_FILE))
    parser.add_argument("--root", type=Path, default=Path("/"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bureau-pool: %(message)s", stream=sys.stdout)
    system = HostSystem()
    server: PoolServer | None = None
    launcher = ForkLauncher(fds_to_close=lambda: server.open_fds() if server else [])
    resumer = Resumer(args.root, system, launcher)
    if resumer.resumed:
        log.info("already resumed: the regular agent unit serves this desk")
        return 0
    token = args.token_file.read_text().strip()
    preload()
    server = PoolServer((args.host, args.port), resumer, token)
    log.info("unassigned, waiting for a resume on port %d", args.port)
    response = server.serve_until_resumed()
    server.server_close()
    log.info("resumed as desk %s; the agent serves port %d", response.desk_id, args.port)
    resumer.finish(response.enrolled)
    status = launcher.wait_child()
    if status != 0:
        log.info("agent exited with %d: starting bureau-agent.service", status)
        subprocess.run(["systemctl", "start", "--no-block", "bureau-agent.service"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
