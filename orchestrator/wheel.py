"""Build a pure-Python wheel from a source tree without pip, setuptools or the network.

``bureau serve`` must be able to serve the agent wheel on a machine with no package index (nothing
is fetched at run time), so it builds the wheel itself: the PEP 621 ``[project]`` table of
``pyproject.toml`` (name, version, description, requires-python, license, dependencies, scripts),
the packages found by ``[tool.setuptools.packages.find] include``, and their ``.py`` files plus
the ``[tool.setuptools.package-data]`` patterns. Timestamps are fixed, so the same sources give
the same bytes (and the same sha256 in the user-data).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any

_EPOCH = (1980, 1, 1, 0, 0, 0)


class WheelBuildError(ValueError):
    """The source tree cannot be turned into a pure-Python wheel; the message says why."""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def _packages(source: Path, include: list[str]) -> list[Path]:
    found = []
    for init in sorted(source.rglob("__init__.py")):
        package = init.parent
        dotted = ".".join(package.relative_to(source).parts)
        if any(fnmatch.fnmatch(dotted, pattern) for pattern in include) and not any(
            part in ("build", "dist", "__pycache__") or part.endswith(".egg-info")
            for part in package.relative_to(source).parts
        ):
            found.append(package)
    return found


def _files(source: Path, packages: list[Path], data_patterns: list[str]) -> list[Path]:
    files: set[Path] = set()
    for package in packages:
        for path in package.iterdir():
            if not path.is_file() or path.suffix == ".pyc":
                continue
            if path.suffix == ".py" or any(fnmatch.fnmatch(path.name, p) for p in data_patterns):
                files.add(path)
    return sorted(files)


def _metadata(project: dict[str, Any]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    license_ = project.get("license")  # an SPDX string (PEP 639) or the older {text = ...}
    if isinstance(license_, dict) and license_.get("text"):
        lines.append(f"License: {license_['text']}")
    elif isinstance(license_, str) and license_:
        lines.append(f"License: {license_}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(source: Path, out_dir: Path) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` for ``source`` into ``out_dir``."""
    try:
        config = tomllib.loads((source / "pyproject.toml").read_text())
        project = config["project"]
        name, version = str(project["name"]), str(project["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise WheelBuildError(f"{source}/pyproject.toml lacks a usable [project]: {exc}") from None
    tool = config.get("tool", {}).get("setuptools", {})
    include = tool.get("packages", {}).get("find", {}).get("include", [_normalize(name) + "*"])
    data_patterns = [p for patterns in tool.get("package-data", {}).values() for p in patterns]
    packages = _packages(source, include)
    if not packages:
        raise WheelBuildError(f"no package under {source} matches {include}")
    dist_info = f"{_normalize(name)}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = [
        (path.relative_to(source).as_posix(), path.read_bytes())
        for path in _files(source, packages, data_patterns)
    ]
    scripts = project.get("scripts", {})
    top_level = sorted({p.relative_to(source).parts[0] for p in packages})
    entries += [
        (f"{dist_info}/METADATA", _metadata(project).encode()),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: bureau\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{dist_info}/top_level.txt", ("\n".join(top_level) + "\n").encode()),
    ]
    if scripts:
        body = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
        entries.append((f"{dist_info}/entry_points.txt", body.encode()))
    record = [_record_line(n, d) for n, d in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{_normalize(name)}-{version}-py3-none-any.whl"
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry_name, data in entries:
            info = zipfile.ZipInfo(entry_name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    partial.replace(target)
    return target
