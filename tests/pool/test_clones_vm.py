"""Clones of one pool template: restored, resumed, enrolled, and different where it matters.

Boots ONE template per session (tests/pool/conftest.py) and restores a few clones from it.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import re
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud_init.render import agent_env
from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings
from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_proc
from orchestrator.drivers.qemu_desk import DeskDir
from orchestrator.pool.clone import (
    SLOT_TOKEN,
    CloneError,
    Restored,
    discard,
    new_resume_request,
    prepare_slot,
    restore_into,
    resume_clone,
)
from orchestrator.pool.machine import RAM_FILE, STATE_FILE
from orchestrator.pool.seed import read_token_block
from orchestrator.pool.wire import ResumeResponse
from tests.helpers.wait import wait_until
from tests.pool.conftest import PoolEnv

# The first test pays for the session's template boot (minutes under TCG on a loaded host).
pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.timeout(1800)]


def boot_settings(env: PoolEnv, desk_id: str, token: str) -> DeskBootSettings:
    return DeskBootSettings(
        desk_id=desk_id,
        hostname=desk_id.replace("_", "-"),
        control_plane_url=env.guest_control_plane_url,
        control_plane_ca_pem=env.pki.ca_pem,
        bootstrap_token=token,
        agent=AgentBootConfig(provider="openai", model="gpt-4o-mini"),
        agent_dist=AgentDist(version="0.1.0", filename="bureau_agent.whl", sha256="0" * 64),
        data_disk_device="/dev/vdb",
    )


async def restore(env: PoolEnv, desk_id: str) -> Restored:
    slot = await asyncio.to_thread(prepare_slot, env.template, env.manager.slots_dir)
    desk = DeskDir(env.manager.desks_dir, desk_id)
    return await restore_into(
        env.template,
        slot,
        desk,
        name=desk_id,
        restore_timeout=30,
        tcg_tb_size_mib=env.manager.settings.clone_tcg_tb_size_mib,
        kernel_args=env.manager.qemu.kernel_args,
    )


async def restore_and_resume(env: PoolEnv, desk_id: str) -> tuple[Restored, ResumeResponse, int]:
    return await resume(env, await restore(env, desk_id))


#: desk id -> the single-use pool token its slot carried (gone from the desk after the resume).
SLOT_TOKENS: dict[str, str] = {}


async def resume(env: PoolEnv, restored: Restored) -> tuple[Restored, ResumeResponse, int]:
    desk_id = restored.desk.desk_id
    SLOT_TOKENS[desk_id] = restored.pool_token
    token = "bt_" + secrets.token_hex(24)
    env.enrollments.tokens[desk_id] = token
    env.enrollments.issued.append(token)
    boot = boot_settings(env, desk_id, token)
    request = new_resume_request(
        desk_id=desk_id,
        hostname=boot.hostname,
        agent_env=agent_env(boot),
        control_plane_ca_pem=boot.control_plane_ca_pem,
        bootstrap_token=token,
        data_disk_device=boot.data_disk_device,
    )
    answer = await resume_clone(restored, request, within_s=300)
    return restored, answer, time.time_ns()


@pytest.fixture(scope="module")
def two_clones(pool_env: PoolEnv) -> Iterator[list[tuple[Restored, ResumeResponse, int]]]:
    async def both() -> list[tuple[Restored, ResumeResponse, int]]:
        restored = await asyncio.gather(
            restore(pool_env, "dsk_clonea"), restore(pool_env, "dsk_cloneb")
        )
        # Resumed one after the other: the clock check needs a host loop free to read the answer.
        return [await resume(pool_env, clone) for clone in restored]

    results = asyncio.run(both())
    yield results
    for restored, _, _ in results:
        asyncio.run(discard(restored.desk.path))


def test_both_clones_enroll(two_clones: list[tuple[Restored, ResumeResponse, int]]) -> None:
    assert [answer.enrolled for _, answer, _ in two_clones] == [True, True]


def test_clones_draw_different_kernel_random_bytes_after_the_reseed(
    two_clones: list[tuple[Restored, ResumeResponse, int]],
) -> None:
    first, second = (answer for _, answer, _ in two_clones)
    assert first.rng_probe_after != second.rng_probe_after


def test_clones_get_different_machine_ids_and_their_own_hostnames(
    two_clones: list[tuple[Restored, ResumeResponse, int]],
) -> None:
    first, second = (answer for _, answer, _ in two_clones)
    assert first.machine_id != second.machine_id
    assert (first.hostname, second.hostname) == ("dsk-clonea", "dsk-cloneb")


def test_clones_enroll_with_different_tls_keys(
    pool_env: PoolEnv, two_clones: list[tuple[Restored, ResumeResponse, int]]
) -> None:
    keys = pool_env.enrollments.public_keys
    assert keys["dsk_clonea"] != keys["dsk_cloneb"]


def test_guest_clock_is_within_a_second_of_the_host(
    two_clones: list[tuple[Restored, ResumeResponse, int]],
) -> None:
    for _, answer, host_received_ns in two_clones:
        # guest_time_ns was read just before enrollment; add the enrollment's duration back.
        enroll_ms = next(step.ms for step in answer.steps if step.name == "enroll")
        guest_at_answer = answer.guest_time_ns + int(enroll_ms * 1_000_000)
        assert abs(host_received_ns - guest_at_answer) < 1_000_000_000


def test_enrolled_clone_serves_its_agent_over_mutual_tls(
    pool_env: PoolEnv, two_clones: list[tuple[Restored, ResumeResponse, int]]
) -> None:
    restored = two_clones[0][0]
    context = pool_env.pki.agent_client_context()
    context.check_hostname = False  # the chain is still verified against the desk CA

    def health() -> dict[str, Any]:
        response = httpx.get(f"{restored.agent_url}/desk/v1/health", verify=context, timeout=10)
        return dict(response.json()) if response.status_code == 200 else {}

    body = wait_until(health, timeout=240, interval=1.0, message="agent health over mTLS")
    assert body["desk_id"] == "dsk_clonea"
    assert body["status"] == "awaiting_key"


_PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/]{60,}")
_BOOTSTRAP_TOKEN = re.compile(rb"bt_[0-9a-f]{48}")


def _findings(path: Path, needles: list[bytes]) -> list[bytes]:
    """Exact needles, PEM private keys and token-shaped strings in ``path`` (memory-mapped)."""
    if path.stat().st_size == 0:
        return []
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        found = [needle for needle in needles if m.find(needle) != -1]
        for pattern in (_PEM_PRIVATE_KEY, _BOOTSTRAP_TOKEN):
            found += [match.group(0)[:40] for match in pattern.finditer(m)]  # type: ignore[call-overload]
        return found


def _holds(path: Path, needle: bytes) -> bool:
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(needle) != -1


def test_template_files_hold_no_desk_secret(
    pool_env: PoolEnv, two_clones: list[tuple[Restored, ResumeResponse, int]]
) -> None:
    """The clones enrolled with their tokens and made TLS keys; none of it is in the template,
    nor the clones' pool tokens (a template has none: its seed's token block is zeros)."""
    needles = [token.encode() for token in pool_env.enrollments.issued]
    needles += [b"dsk_clonea", b"dsk_cloneb"]
    needles += [SLOT_TOKENS[restored.desk.desk_id].encode() for restored, _, _ in two_clones]
    assert len(needles) >= 6
    assert read_token_block(pool_env.template.path / files.SEED) == ""
    template = pool_env.template.path
    for name in (STATE_FILE, RAM_FILE, files.ROOT, files.DATA, files.SEED):
        assert _findings(template / name, needles) == [], name


def test_an_assigned_clone_keeps_no_pool_token(
    pool_env: PoolEnv, two_clones: list[tuple[Restored, ResumeResponse, int]]
) -> None:
    """Its seed (what the guest reads as /dev/vdc, now and on every later cold boot) carries no
    token after the resume, and no file of the desk -- its disks as the guest sees them (the
    overlay, the template's overlay beneath it, the data disk), seed, logs, records -- holds it.
    The token was real: the clone's agent accepted it (the resume above succeeded)."""
    for restored, answer, _ in two_clones:
        assert answer.enrolled
        token = SLOT_TOKENS[restored.desk.desk_id]
        assert len(token) >= 40
        desk = restored.desk.path
        assert not (desk / SLOT_TOKEN).exists()
        assert read_token_block(desk / files.SEED) == ""
        image_files = {files.BASE, files.KERNEL, files.INITRD}  # the image, built before any token
        for path in sorted(desk.iterdir()):
            if path.is_file() and path.name not in image_files:
                assert not _holds(path, token.encode()), path.name


def test_the_pool_token_of_a_scrubbed_clone_opens_nothing(
    pool_env: PoolEnv, two_clones: list[tuple[Restored, ResumeResponse, int]]
) -> None:
    """After the resume the pool endpoint is gone (the agent serves TLS on the port) and the
    clone's pool token is spent: a second resume with it does not reach a resumer."""
    restored = two_clones[1][0]
    url = f"http://127.0.0.1:{restored.record.agent_port}/pool/v1/resume"
    headers = {"authorization": f"Bearer {SLOT_TOKENS[restored.desk.desk_id]}"}
    try:
        response = httpx.post(url, content=b"{}", headers=headers, timeout=10)
    except httpx.HTTPError:
        return  # the agent's TLS listener does not speak plain HTTP: nothing answered
    assert response.status_code in (400, 404, 409), response.text


def test_a_clone_killed_before_resume_is_removed_without_orphans(pool_env: PoolEnv) -> None:
    async def scenario() -> tuple[int, Path]:
        restored = await restore(pool_env, "dsk_killed")
        os.kill(restored.pid, signal.SIGKILL)
        await asyncio.to_thread(qemu_proc.wait_gone, restored.pid, 10)
        request = new_resume_request(
            desk_id="dsk_killed",
            hostname="dsk-killed",
            agent_env=[],
            control_plane_ca_pem=pool_env.pki.ca_pem,
            bootstrap_token="bt_" + secrets.token_hex(24),
            data_disk_device="/dev/vdb",
        )
        with pytest.raises(CloneError):
            await resume_clone(restored, request, within_s=5)
        await discard(restored.desk.path)
        return restored.pid, restored.desk.path

    pid, path = asyncio.run(scenario())
    assert not qemu_proc.alive(pid)
    assert not path.exists()


def test_corrupt_state_is_killed_by_the_watchdog_and_the_template_dropped(
    pool_env: PoolEnv, tmp_path: Path
) -> None:
    from orchestrator.drivers.base import DESK_SIZES, DeskSpec
    from orchestrator.pool.manager import PoolManager
    from orchestrator.pool.settings import PoolSettings
    from orchestrator.pool.template import Template

    broken_dir = pool_env.manager.templates_dir.parent / "broken" / pool_env.template.path.name
    broken_dir.mkdir(parents=True)
    for item in pool_env.template.path.iterdir():
        if item.name != STATE_FILE and item.is_file():
            (broken_dir / item.name).hardlink_to(item)
    state = (pool_env.template.path / STATE_FILE).read_bytes()
    (broken_dir / STATE_FILE).write_bytes(state[: len(state) // 3] + os.urandom(4096))
    broken = Template.load(broken_dir)
    assert broken is not None
    manager = PoolManager(
        pool_env.data_dir,
        settings=PoolSettings(size=1, restore_timeout_seconds=5),
        qemu=pool_env.manager.qemu,
        control_plane=pool_env.manager.control_plane,
    )
    manager.slots_dir = tmp_path / "slots"
    manager.use_template(broken)
    prepare_slot(broken, manager.slots_dir)
    spec = DeskSpec("dsk_corrupt", "usr_1", "corrupt", DESK_SIZES["small"], user_data="")
    boot = boot_settings(pool_env, "dsk_corrupt", "bt_" + secrets.token_hex(24))
    events: list[str] = []
    handle = asyncio.run(manager.assign(spec, boot, events.append))
    assert handle is None
    assert any("restore failed" in event for event in events)
    assert not DeskDir(manager.desks_dir, "dsk_corrupt").exists()
    assert not broken_dir.exists()
    assert manager.slots() == []
    leftovers = [
        pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, "dsk_corrupt")
    ]
    assert leftovers == []


def _cmdline_has(pid: str, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_restarted_manager_keeps_prepared_slots_and_drops_partial_ones(
    pool_env: PoolEnv, tmp_path: Path
) -> None:
    from orchestrator.pool.manager import PoolManager

    def manager() -> PoolManager:
        fresh = PoolManager(
            pool_env.data_dir,
            settings=pool_env.manager.settings,
            qemu=pool_env.manager.qemu,
            control_plane=pool_env.manager.control_plane,
        )
        fresh.slots_dir = tmp_path / "slots"
        return fresh

    first = manager()
    asyncio.run(first.refill())
    prepared = first.slots(pool_env.template.record.key)
    assert len(prepared) == 1
    (first.slots_dir / "slot-crashed.partial").mkdir()
    second = manager()  # the control plane came back
    second.cleanup()
    asyncio.run(second.refill())
    assert second.slots(pool_env.template.record.key) == prepared
    assert not (second.slots_dir / "slot-crashed.partial").exists()
