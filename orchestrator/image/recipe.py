"""Cache keys: a hash of the image recipe, and a hash of the agent's sources."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from pathlib import Path

#: Bump when the Python side of the build changes what an image contains.
BUILDER_VERSION = "1"

_SKIP_PARTS = {"__pycache__", ".mypy_cache", "build", "dist"}


def _files(root: Path, suffixes: Iterable[str] | None = None) -> list[Path]:
    wanted = set(suffixes) if suffixes is not None else None
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or _SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        if any(part.endswith(".egg-info") for part in path.relative_to(root).parts):
            continue
        if wanted is None or path.suffix in wanted:
            found.append(path)
    return found


def tree_hash(root: Path, paths: Iterable[Path], *extra: str) -> str:
    """sha256 over relative names and contents (stable across clones and machines)."""
    digest = hashlib.sha256()
    for text in extra:
        digest.update(text.encode() + b"\0")
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def recipe_hash(recipe_dir: Path, mirror: str) -> str:
    """Key of stage 1 (the Debian root filesystem): every file of the recipe + the mirror."""
    return tree_hash(recipe_dir, _files(recipe_dir), BUILDER_VERSION, mirror)


def dependencies_hash(agent_dir: Path) -> str:
    """Key of the dependency wheels: the agent's pyproject alone."""
    return tree_hash(agent_dir, [agent_dir / "pyproject.toml"], BUILDER_VERSION)


def agent_hash(agent_dir: Path) -> str:
    """Key of the agent layer: its pyproject and package sources."""
    package = agent_dir / "bureau_agent"
    paths = [agent_dir / "pyproject.toml", *_files(package)]
    return tree_hash(agent_dir, paths, BUILDER_VERSION)


def agent_version(agent_dir: Path) -> str:
    data = tomllib.loads((agent_dir / "pyproject.toml").read_text())
    return str(data["project"]["version"])
