"""The pooled agent's resume sequence against a temporary root (no privileges needed)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from bureau_agent.pool.resume import (
    STEP_ORDER,
    AlreadyResumed,
    ResumeFailed,
    Resumer,
    env_line,
)
from cloud_init.templates import env_value
from tests.pool.agent_doubles import (
    BOOTSTRAP_TOKEN,
    RecordingLauncher,
    RecordingSystem,
    make_resumer,
    resume_request,
)

TEMPLATE_MACHINE_ID = "0" * 32


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A guest root as the template left it."""
    base = tmp_path / "root"
    (base / "etc/bureau").mkdir(parents=True)
    (base / "etc/machine-id").write_text(TEMPLATE_MACHINE_ID + "\n")
    (base / "etc/hostname").write_text("bureau-pool\n")
    (base / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 bureau-pool\n")
    (base / "etc/bureau/pool-token").write_text("pool-token\n")
    return base


def test_steps_run_in_the_security_order(root: Path) -> None:
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    response = resumer.resume(resume_request(), 0)
    assert [s.name for s in response.steps] == list(STEP_ORDER)
    assert system.log[:4] == ["clock", "entropy", "hostname", "flush /dev/vdb"]
    assert system.log.index("mount bureau-data") < system.log.index("enroll")
    assert system.log[-1] == "enroll"


def test_clock_is_host_time_plus_time_spent_in_the_guest(root: Path) -> None:
    system = RecordingSystem()
    resumer = Resumer(
        root, system, RecordingLauncher(root, system.log), monotonic_ns=lambda: 1_000 + 7_000_000
    )
    resumer.claim()
    request = resume_request()
    resumer.resume(request, 1_000)
    assert system.clock_ns == request.host_time_ns + 7_000_000


def test_kernel_rng_gets_the_host_entropy(root: Path) -> None:
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    request = resume_request()
    response = resumer.resume(request, 0)
    assert system.entropy == request.entropy()
    assert response.rng_probe_before != response.rng_probe_after


def test_two_clones_of_one_root_get_different_machine_ids(root: Path, tmp_path: Path) -> None:
    ids = []
    for name in ("clone-a", "clone-b"):
        clone = shutil.copytree(root, tmp_path / name)
        resumer, _, _ = make_resumer(clone)
        resumer.claim()
        response = resumer.resume(resume_request(), 0)
        written = (clone / "etc/machine-id").read_text().strip()
        assert written == response.machine_id
        ids.append(written)
    assert len(set(ids)) == 2
    assert TEMPLATE_MACHINE_ID not in ids
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_hostname_is_set_and_written(root: Path) -> None:
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    resumer.resume(resume_request(hostname="dsk-abc"), 0)
    assert system.hostname == "dsk-abc"
    assert (root / "etc/hostname").read_text() == "dsk-abc\n"
    hosts = (root / "etc/hosts").read_text()
    assert "127.0.1.1 dsk-abc" in hosts
    assert "bureau-pool" not in hosts


def test_data_disk_is_flushed_mounted_and_bound_over_home_and_agent_data(root: Path) -> None:
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    resumer.resume(resume_request(), 0)
    assert system.mounts == [
        ("/dev/vdb", root / "srv/bureau-data", False),
        (str(root / "srv/bureau-data/home-desk"), root / "home/desk", True),
        (str(root / "srv/bureau-data/var-lib-bureau"), root / "var/lib/bureau", True),
    ]
    fstab = (root / "etc/fstab").read_text()
    assert "UUID=0b7e2c1a-1111-2222-3333-444455556666 /srv/bureau-data ext4" in fstab
    assert "/srv/bureau-data/home-desk /home/desk none bind" in fstab
    assert system.chowns[root / "var/lib/bureau/agent"] == ("bureau", "bureau")
    assert stat.S_IMODE((root / "home/desk/workspace").stat().st_mode) == 0o2770


def test_agent_env_is_written_like_the_cold_path(root: Path) -> None:
    resumer, _, launcher = make_resumer(root)
    resumer.claim()
    request = resume_request()
    resumer.resume(request, 0)
    lines = launcher.seen_env.splitlines()[1:]
    assert lines == [f"{name}={env_value(value)}" for name, value in request.agent_env]


def test_env_quoting_matches_the_cloud_init_renderer() -> None:
    for value in ["plain", "gpt 4o", 'say "hi"', "back\\slash", "https://x.test/v1?a=b&c"]:
        assert env_line("X", value) == f"X={env_value(value)}"


def test_bootstrap_token_is_private_to_the_agent_and_pool_token_is_gone(root: Path) -> None:
    resumer, system, launcher = make_resumer(root)
    resumer.claim()
    resumer.resume(resume_request(), 0)
    token = root / "etc/bureau/bootstrap-token"
    assert launcher.seen_token.strip() == BOOTSTRAP_TOKEN
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert system.chowns[token] == ("bureau", "bureau")
    assert not (root / "etc/bureau/pool-token").exists()


def test_spent_bootstrap_token_is_deleted_and_regular_unit_enabled(root: Path) -> None:
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    resumer.resume(resume_request(), 0)
    resumer.finish(enrolled=True)
    assert not (root / "etc/bureau/bootstrap-token").exists()
    # No daemon-reload: the links are for the next boot (a reload competes with the agent).
    assert ["systemctl", "enable", "--no-reload", "bureau-agent.service"] in system.commands
    assert ["systemctl", "disable", "--no-reload", "bureau-pool.service"] in system.commands


def test_ssh_host_keys_are_regenerated_when_ssh_is_enabled(root: Path) -> None:
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/sshd").touch()
    (root / "etc/ssh").mkdir()
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("template key")
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    resumer.resume(resume_request(ssh_authorized_keys=["ssh-ed25519 AAAA user@test"]), 0)
    assert not (root / "etc/ssh/ssh_host_ed25519_key").exists()
    assert system.log.index("ssh-keygen -A") < system.log.index("mount bureau-data")
    keys = root / "home/desk/.ssh/authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAA user@test\n"


def test_ssh_host_keys_are_left_alone_without_ssh_keys(root: Path) -> None:
    resumer, system, _ = make_resumer(root)
    resumer.claim()
    response = resumer.resume(resume_request(), 0)
    assert "ssh-keygen -A" not in system.log
    assert response.steps[3].detail == "SSH disabled (no key given)"


def test_second_resume_is_refused(root: Path) -> None:
    resumer, _, _ = make_resumer(root)
    resumer.claim()
    with pytest.raises(AlreadyResumed):
        resumer.claim()


def test_resume_stays_spent_across_a_restart_of_the_pool_agent(root: Path) -> None:
    first, _, _ = make_resumer(root)
    first.claim()
    again, _, _ = make_resumer(root)
    assert again.resumed
    with pytest.raises(AlreadyResumed):
        again.claim()


def test_failing_step_is_named_and_enrollment_never_starts(root: Path) -> None:
    resumer, system, _ = make_resumer(root)

    def broken_mount(*_: object, **__: object) -> None:
        raise OSError("mount: wrong fs type")

    system.mount = broken_mount  # type: ignore[method-assign]
    resumer.claim()
    with pytest.raises(ResumeFailed) as failure:
        resumer.resume(resume_request(), 0)
    assert failure.value.step == "data_disk"
    assert "enroll" not in system.log
    assert not (root / "etc/bureau/bootstrap-token").exists()


def test_request_needs_32_bytes_of_entropy() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        resume_request(entropy_b64="c2hvcnQ=")


def test_request_refuses_a_key_in_agent_env() -> None:
    with pytest.raises(ValidationError, match="ASSISTANT_API_KEY may not travel"):
        resume_request(agent_env=[("ASSISTANT_API_KEY", "sk-test-0000")])


def test_bootstrap_token_does_not_print() -> None:
    request = resume_request()
    assert BOOTSTRAP_TOKEN not in repr(request)
    assert BOOTSTRAP_TOKEN in request.model_dump_json()
