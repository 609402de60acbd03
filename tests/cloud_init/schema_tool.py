"""Run cloud-init's own schema validator (Debian's package, extracted; see .ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "BUREAU_CLOUD_INIT_ROOT"
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class SchemaResult:
    ok: bool
    output: str


@dataclass(frozen=True)
class SchemaTool:
    argv: tuple[str, ...]
    env: dict[str, str]

    def validate(self, path: Path) -> SchemaResult:
        proc = subprocess.run(
            [*self.argv, "schema", "--config-file", str(path)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return SchemaResult(ok=proc.returncode == 0, output=proc.stdout + proc.stderr)


def find_schema_tool() -> tuple[SchemaTool | None, str]:
    """The validator, or None and why not. With ``BUREAU_CLOUD_INIT_ROOT`` set it must work."""
    root = os.environ.get(ROOT_ENV)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    if root:
        script = Path(root) / "usr/bin/cloud-init"
        env["PYTHONPATH"] = str(Path(root) / "usr/lib/python3/dist-packages")
        tool = SchemaTool((SYSTEM_PYTHON, str(script)), env)
    elif installed := shutil.which("cloud-init"):
        tool = SchemaTool((installed,), env)
    else:
        return None, f"{ROOT_ENV} is unset and cloud-init is not installed"
    probe = subprocess.run(
        [*tool.argv, "schema", "--help"], env=tool.env, capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        message = f"cloud-init schema does not run: {probe.stderr.strip()[-500:]}"
        if root:
            raise RuntimeError(f"{ROOT_ENV}={root} is set but {message}")
        return None, message
    return tool, ""
