"""The image builder's bookkeeping, without building: cache keys, manifest, install, pruning."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orchestrator.image import recipe
from orchestrator.image.manifest import Manifest, file_entry, load_manifest
from orchestrator.image.offline import build_offline
from orchestrator.image.settings import ImageSettings
from orchestrator.image.steps import prune_cache
from orchestrator.image.store import install_image, installed_image

REPO = Path(__file__).resolve().parents[2]


def _fake_image(directory: Path, key: str) -> Manifest:
    directory.mkdir(parents=True)
    for name, body in (("disk.qcow2", b"disk"), ("vmlinuz", b"kernel"), ("initrd.img", b"rd")):
        (directory / name).write_bytes(body + key.encode())
    manifest = Manifest(
        name="cache", source="offline", key=key, boot="kernel", agent_version="0.1.0",
        python_version="3.11.2", built_at="2026-01-01T00:00:00+00:00", build_seconds=1.0,
        files={n: file_entry(directory / n) for n in ("disk.qcow2", "vmlinuz", "initrd.img")},
    )  # fmt: skip
    manifest.save(directory)
    return manifest


def test_recipe_hash_changes_with_any_recipe_file(tmp_path: Path) -> None:
    shutil.copytree(REPO / "agent_image" / "image", tmp_path / "image")
    before = recipe.recipe_hash(tmp_path / "image", "http://mirror")
    assert before == recipe.recipe_hash(tmp_path / "image", "http://mirror")
    assert before != recipe.recipe_hash(tmp_path / "image", "http://other-mirror")
    with (tmp_path / "image" / "packages.txt").open("a") as handle:
        handle.write("htop\n")
    assert before != recipe.recipe_hash(tmp_path / "image", "http://mirror")


def test_agent_hash_follows_agent_sources_not_caches(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    (agent / "bureau_agent" / "__pycache__").mkdir(parents=True)
    (agent / "pyproject.toml").write_text('[project]\nname = "bureau-agent"\nversion = "9.9"\n')
    (agent / "bureau_agent" / "app.py").write_text("x = 1\n")
    before = recipe.agent_hash(agent)
    (agent / "bureau_agent" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    assert recipe.agent_hash(agent) == before
    (agent / "bureau_agent" / "app.py").write_text("x = 2\n")
    assert recipe.agent_hash(agent) != before
    assert recipe.agent_version(agent) == "9.9"


def test_install_links_files_and_reuses_the_same_key(tmp_path: Path) -> None:
    _fake_image(tmp_path / "cache" / "image-a", "a")
    directory, manifest = install_image(tmp_path / "cache" / "image-a", tmp_path / "data", "img")
    assert manifest.name == "img" and manifest.key == "a"
    disk = directory / "disk.qcow2"
    assert os.stat(disk).st_ino == os.stat(tmp_path / "cache" / "image-a" / "disk.qcow2").st_ino
    found = installed_image(tmp_path / "data", "img")
    assert found is not None and found[1].key == "a"
    assert load_manifest(tmp_path / "data" / "images" / "missing") is None


def test_reinstall_of_a_new_build_keeps_the_old_inode_alive_for_desks(tmp_path: Path) -> None:
    _fake_image(tmp_path / "cache" / "image-a", "a")
    _fake_image(tmp_path / "cache" / "image-b", "b")
    directory, _ = install_image(tmp_path / "cache" / "image-a", tmp_path / "data", "img")
    desk_base = tmp_path / "desk-base.qcow2"
    os.link(directory / "disk.qcow2", desk_base)  # what the driver does per desk
    install_image(tmp_path / "cache" / "image-b", tmp_path / "data", "img")
    assert desk_base.read_bytes() == b"diska"
    assert (directory / "disk.qcow2").read_bytes() == b"diskb"


def test_prune_keeps_the_newest_entries(tmp_path: Path) -> None:
    for index, key in enumerate(("old", "mid", "new")):
        _fake_image(tmp_path / f"image-{key}", key)
        os.utime(tmp_path / f"image-{key}", (1000 + index, 1000 + index))
    prune_cache(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image-mid", "image-new"]


@pytest.mark.skipif(os.geteuid() == 0, reason="runs as root: the root check does not apply")
def test_offline_build_without_root_says_what_to_do(tmp_path: Path) -> None:
    from orchestrator.image.errors import ImageBuildError

    with pytest.raises(ImageBuildError, match="needs root"):
        build_offline(ImageSettings(cache=tmp_path), "x", lambda _: None)
