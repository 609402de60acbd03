"""``bureau serve`` as an operator starts it: HTTPS with its own CA, admin token printed once."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
from sqlmodel import select

from orchestrator.db import Database
from orchestrator.models import ApiToken
from orchestrator.security import hash_token
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until

BUREAU = Path(sys.executable).parent / "bureau"


def _serve_once(data_dir: Path, database_url: str, port: int) -> str:
    """Start ``bureau serve``, wait until it answers over HTTPS, stop it; return its output."""
    log = data_dir.parent / f"serve-{port}.log"
    env = {
        **os.environ,
        "BUREAU_DATA_DIR": str(data_dir),
        "BUREAU_DATABASE_URL": database_url,
        "BUREAU_DRIVER": "scripted",
        "BUREAU_PORT": str(port),
    }
    env.pop("BUREAU_BOOTSTRAP_ADMIN_TOKEN", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BUREAU), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            ca = data_dir / "tls" / "ca.pem"
            wait_until(lambda: ca.exists(), timeout=60, message="CA written")
            context = ssl.create_default_context(cafile=str(ca))
            url = f"https://127.0.0.1:{port}/v1/me"
            wait_until(lambda: httpx.get(url, verify=context).status_code == 401, timeout=60)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    return log.read_text()


def test_serve_prints_the_admin_token_once_and_it_works(tmp_path: Path, database_url: str):
    data_dir = tmp_path / "data"
    first = _serve_once(data_dir, database_url, free_port())
    token = next(
        line.split(": ", 1)[1] for line in first.splitlines() if line.startswith("admin token: ")
    )
    port = free_port()
    second = _serve_once(data_dir, database_url, port)
    assert "admin token:" not in second
    assert "CA certificate for clients:" in first
    db = Database(database_url)  # the printed token is the admin's (its hash is stored)
    with db.read_session() as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    db.dispose()
    assert row is not None
