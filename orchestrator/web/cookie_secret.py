"""The server secret that signs and seals session cookies.

Taken from ``settings.web_secret`` when set (several replicas must share it), else kept in
``<data dir>/web/secret`` (created 0600 on first use), else random per process (sessions then end
when the server restarts).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


def load_cookie_secret(settings: object) -> bytes:
    configured = getattr(settings, "web_secret", None)
    if configured is not None:
        value = (
            configured.get_secret_value() if hasattr(configured, "get_secret_value") else configured
        )
        if str(value):
            return str(value).encode()
    data_dir = getattr(settings, "data_dir", None)
    if data_dir is None:
        return secrets.token_bytes(SECRET_BYTES)
    return _secret_file(Path(data_dir) / "web" / "secret")


def _secret_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(SECRET_BYTES).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
