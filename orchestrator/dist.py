"""The agent distribution served to desk VMs from ``<data_dir>/dist`` (``GET /v1/agent/dist/``).

When the directory lacks the wheel of the agent version in ``agent_image/pyproject.toml``, it is
built once from the sources, offline (orchestrator/wheel.py); the sha256 goes into the user-data's
``AgentDist``. An operator may instead drop a wheel (e.g. from ``pip wheel``) into the directory.
"""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from pathlib import Path

from cloud_init.settings import AgentDist
from orchestrator.wheel import WheelBuildError, build_wheel

FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}\.(whl|txt)$")


class DistError(RuntimeError):
    """The agent wheel could not be found or built; the message says what to do."""


class AgentDistStore:
    def __init__(self, dist_dir: Path, source_dir: Path) -> None:
        self.dist_dir = dist_dir
        self.source_dir = source_dir
        self._lock = threading.Lock()
        self._cached: AgentDist | None = None

    def version(self) -> str:
        pyproject = self.source_dir / "pyproject.toml"
        try:
            data = tomllib.loads(pyproject.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DistError(f"cannot read the agent version from {pyproject}: {exc}") from None
        return str(data["project"]["version"])

    def path_of(self, filename: str) -> Path | None:
        """The served file for ``filename``, or None (no traversal, only wheels and .txt)."""
        if not FILENAME_RE.match(filename):
            return None
        path = self.dist_dir / filename
        return path if path.is_file() else None

    def ensure(self) -> AgentDist:
        """The agent wheel's AgentDist, building the wheel if missing (thread safe, cached)."""
        with self._lock:
            if self._cached is not None and (self.dist_dir / self._cached.filename).is_file():
                return self._cached
            version = self.version()
            wheel = self._find(version) or self._build(version)
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            self._cached = AgentDist(version=version, filename=wheel.name, sha256=digest)
            return self._cached

    def _find(self, version: str) -> Path | None:
        matches = sorted(self.dist_dir.glob(f"bureau_agent-{version}-*.whl"))
        return matches[-1] if matches else None

    def _build(self, version: str) -> Path:
        try:
            wheel = build_wheel(self.source_dir, self.dist_dir)
        except (WheelBuildError, OSError) as exc:
            raise DistError(
                f"building the agent wheel from {self.source_dir} failed: {exc}"
            ) from None
        if not wheel.name.startswith(f"bureau_agent-{version}-"):
            raise DistError(f"{self.source_dir} built {wheel.name}, not bureau_agent {version}")
        return wheel
