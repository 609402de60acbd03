"""Real processes for the end-to-end test: the fake provider and `bureau serve`."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_fake_provider(log: Path, port: int = 0) -> tuple[Process, str]:
    """The fake LLM provider on 127.0.0.1 (``port``, 0: a free one); returns it and its base URL."""
    handle = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.provider", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()

    def url() -> str | None:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text())
        return found.group(1) if found else None

    started = Process(proc, log)
    try:
        base = wait_until(url, timeout=60, interval=0.1, message="fake provider listening")
    except BaseException:
        started.stop()
        raise
    return started, str(base)


def start_control_plane(env: dict[str, str], log: Path, url: str, token: str, ca: Path) -> Process:
    """`bureau serve` as its own process (HTTPS), waiting until the API answers."""
    handle = log.open("ab")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("bureau")), "serve"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    handle.close()

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"bureau serve exited:\n{log.read_text()[-3000:]}")
        if not ca.exists():
            return False
        context = ssl.create_default_context(cafile=str(ca))
        response = httpx.get(
            f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"}, verify=context
        )
        return response.status_code == 200

    started = Process(proc, log)
    try:
        wait_until(up, timeout=180, interval=0.2, message="bureau serve answering")
    except BaseException:
        started.stop()
        raise
    return started
