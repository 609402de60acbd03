"""The agent in a desk: ``python -m bureau_agent.desk [--config FILE]`` (the desk's systemd unit).

The same as ``bureau-agent run``, without building the command line first: typer and its vendored
click are ~0.5 s of a desk's boot under TCG, for one option. Enrolls once (or reuses the
certificate), then serves the API over mutual TLS.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import bureau_agent._lean  # noqa: F401  (before httpx is imported: see the module)
from bureau_agent.app import create_app
from bureau_agent.config import load_config
from bureau_agent.enroll import EnrollmentError, ensure_enrolled
from bureau_agent.serving import desk_server_config, run_server

DEFAULT_CONFIG = Path("/etc/bureau/agent.env")
USAGE = "usage: python -m bureau_agent.desk [--config FILE]"


class UsageError(ValueError):
    pass


def parse_args(args: list[str]) -> Path:
    """The env file named by ``--config FILE`` / ``--config=FILE`` (default: DEFAULT_CONFIG)."""
    match args:
        case []:
            return DEFAULT_CONFIG
        case ["--config", value] if value:
            return Path(value)
        case [arg] if arg.startswith("--config=") and len(arg) > len("--config="):
            return Path(arg.removeprefix("--config="))
    raise UsageError(f"unexpected arguments: {' '.join(args)}")


def run(config_file: Path) -> None:
    """Enroll once (or reuse the certificate on disk), then serve mutual TLS until stopped."""
    settings = load_config(config_file if config_file.exists() else None)
    try:
        tls, creds = ensure_enrolled(settings)
    except EnrollmentError as exc:
        print(f"enrollment failed: {exc}", file=sys.stderr)
        sys.exit(3)
    application = create_app(settings, credentials=creds, mutual_tls=True)
    run_server(desk_server_config(application, settings, tls))


def main(args: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config_file = parse_args(sys.argv[1:] if args is None else args)
    except UsageError as exc:
        print(f"{exc}\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    run(config_file)


if __name__ == "__main__":
    main()
