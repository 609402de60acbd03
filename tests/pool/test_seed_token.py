"""The pool token rides in a clone's own seed copy and is scrubbed after its resume (issue 9).

The template's user-data, seed and files carry no token; a prepared slot's seed copy carries
its single-use token in the last block; after the resume (and at a restart, for a desk a crash
left unscrubbed) the desk keeps a seed without one. Real seed ISOs and disks, no VM.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

import bureau_agent.pool.seed_token as guest
import orchestrator.pool.seed as host
from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_disks
from orchestrator.drivers.qemu_accel import Accel
from orchestrator.drivers.qemu_settings import QemuSettings
from orchestrator.pool.clone import SLOT_TOKEN, prepare_slot, scrub_pool_token
from orchestrator.pool.manager import PoolManager
from orchestrator.pool.settings import PoolSettings
from orchestrator.pool.template import RECORD, Template, TemplateRecord


def test_guest_and_control_plane_agree_on_the_token_block() -> None:
    assert (guest.BLOCK, guest.MAGIC) == (host.TOKEN_BLOCK, host.TOKEN_MAGIC)
    assert guest.SEED_DEVICE == host.GUEST_SEED_DEVICE
    assert guest.parse_block(host.token_block("pt-abc_DEF-123")) == "pt-abc_DEF-123"
    assert guest.parse_block(host.token_block(None)) == ""
    assert guest.parse_block(b"junk" + bytes(4092)) == ""


@pytest.mark.parametrize("bad", ["", "two\nlines", "x" * 5000])
def test_a_token_that_does_not_fit_one_line_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="one short line"):
        host.token_block(bad)


def test_the_template_user_data_holds_no_token_and_starts_the_agent_on_its_seed() -> None:
    text = host.template_user_data()
    doc = yaml.safe_load(text.removeprefix("#cloud-config\n"))
    paths = {entry["path"] for entry in doc["write_files"]}
    assert host.POOL_TOKEN_PATH not in paths
    unit = next(e["content"] for e in doc["write_files"] if e["path"].endswith(host.POOL_UNIT))
    assert f"--seed-device {host.GUEST_SEED_DEVICE}" in unit
    assert "CPUWeight=1000" in unit


def _template(root: Path) -> Template:
    """A template directory with real files (image files are stand-ins: nothing boots)."""
    path = root / "templates" / "small-0123456789abcdef"
    path.mkdir(parents=True)
    for name in (files.BASE, files.KERNEL, files.INITRD):
        (path / name).write_bytes(b"stand-in " + name.encode())
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path / files.ROOT), "64M"], check=True
    )
    qemu_disks.write_seed(
        path / files.SEED,
        host.template_user_data(),
        gzipped=False,
        instance_id="bureau-pool-small-0123456789abcdef",
        hostname="bureau-pool",
    )
    host.append_token_block(path / files.SEED)
    record = TemplateRecord(
        key=path.name, size="small", image="debian", image_key="k", memory_mib=1024, vcpus=1,
        disk_gib=1, accel="tcg", accel_reason="test", tcg_tb_size_mib=64, kernel_cmdline="x",
        forwards=[], control_plane_port=None, binary="qemu-system-x86_64", built_at=0.0,
        build_seconds=0.0,
    )  # fmt: skip
    (path / RECORD).write_text(record.model_dump_json())
    return Template(path, record)


def test_each_slot_gets_its_own_token_in_its_own_seed_copy(tmp_path: Path) -> None:
    template = _template(tmp_path)
    template_seed = (template.path / files.SEED).read_bytes()
    assert guest.read_seed_token(str(template.path / files.SEED)) == ""
    first = prepare_slot(template, tmp_path / "slots")
    second = prepare_slot(template, tmp_path / "slots")
    tokens = [(slot / SLOT_TOKEN).read_text().strip() for slot in (first, second)]
    assert tokens[0] != tokens[1] and min(map(len, tokens)) >= 40
    for slot, token in zip((first, second), tokens, strict=True):
        seed = slot / files.SEED
        assert guest.read_seed_token(str(seed)) == token
        assert seed.stat().st_ino != (template.path / files.SEED).stat().st_ino
        assert seed.stat().st_size == len(template_seed)  # the guest's disk keeps its size
        assert (seed.stat().st_mode & 0o777, (slot / SLOT_TOKEN).stat().st_mode & 0o777) == (
            0o600,
            0o600,
        )
    assert (template.path / files.SEED).read_bytes() == template_seed
    assert template_seed[-host.TOKEN_BLOCK :] == bytes(host.TOKEN_BLOCK)
    assert all(token.encode() not in template_seed for token in tokens)


def test_scrubbing_leaves_the_template_seed_byte_for_byte_and_no_token_anywhere(
    tmp_path: Path,
) -> None:
    template = _template(tmp_path)
    slot = prepare_slot(template, tmp_path / "slots")
    token = (slot / SLOT_TOKEN).read_text().strip()
    assert scrub_pool_token(slot) is True
    assert not (slot / SLOT_TOKEN).exists()
    assert (slot / files.SEED).read_bytes() == (template.path / files.SEED).read_bytes()
    for path in slot.iterdir():
        assert token.encode() not in path.read_bytes(), path.name
    assert scrub_pool_token(slot) is False  # idempotent


def test_a_restarted_manager_scrubs_a_desk_whose_assignment_a_crash_interrupted(
    tmp_path: Path,
) -> None:
    template = _template(tmp_path / "data" / "qemu" / "pool")
    slot = prepare_slot(template, tmp_path / "data" / "qemu" / "pool" / "slots")
    desk = tmp_path / "data" / "qemu" / "desks" / "dsk_crashed"
    desk.parent.mkdir(parents=True)
    slot.rename(desk)  # adopted, restored, then the control plane died before the scrub
    token = (desk / SLOT_TOKEN).read_text().strip()
    manager = PoolManager(
        tmp_path / "data", settings=PoolSettings(size=1), qemu=QemuSettings(accel="tcg")
    )
    manager.cleanup()
    assert not (desk / SLOT_TOKEN).exists()
    assert token.encode() not in (desk / files.SEED).read_bytes()
    assert guest.read_seed_token(str(desk / files.SEED)) == ""


def test_the_pool_command_puts_the_seed_on_the_device_the_guest_reads() -> None:
    from orchestrator.pool.machine import MachineShape, pool_command

    shape = MachineShape(1024, 1, Accel("tcg", "test"), 64, "root=/dev/vda", ())
    cmd = pool_command(
        shape, name="t", ram_file=Path("ram"), share_ram=False, agent_port=1,
        pidfile=Path("pid"), incoming=False,
    )  # fmt: skip
    drives = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-drive"]
    assert [d.split(",")[0] for d in drives] == [
        f"file={files.ROOT}",
        f"file={files.DATA}",
        f"file={files.SEED}",
    ]  # virtio disks in this order: vda, vdb, vdc
    assert all("if=virtio" in d for d in drives)
    assert host.GUEST_SEED_DEVICE == "/dev/vdc"
