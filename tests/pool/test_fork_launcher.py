"""The hand-over from the root resumer to the agent child (forked after the reseed)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bureau_agent.pool.launch import ForkLauncher

Report = Callable[[dict[str, object]], None]


def test_parent_learns_that_the_child_enrolled(tmp_path: Path) -> None:
    def work(config_file: Path, report: Report) -> None:
        (tmp_path / "child-pid").write_text(str(os.getpid()))
        report({"enrolled": True, "config": str(config_file)})

    launcher = ForkLauncher(user=None, work=work)
    result = launcher.launch(tmp_path / "agent.env")
    assert result.enrolled
    assert launcher.wait_child() == 0
    assert int((tmp_path / "child-pid").read_text()) != os.getpid()


def test_enrollment_error_reaches_the_parent(tmp_path: Path) -> None:
    def work(config_file: Path, report: Report) -> None:
        report({"enrolled": False, "error": "enrollment refused: HTTP 401"})

    launcher = ForkLauncher(user=None, work=work)
    result = launcher.launch(tmp_path / "agent.env")
    assert not result.enrolled
    assert result.error == "enrollment refused: HTTP 401"
    launcher.wait_child()


def test_a_crashing_child_is_reported_not_propagated(tmp_path: Path) -> None:
    def work(config_file: Path, report: Report) -> None:
        raise RuntimeError("boom")

    launcher = ForkLauncher(user=None, work=work)
    result = launcher.launch(tmp_path / "agent.env")
    assert not result.enrolled
    assert result.error is not None and "boom" in result.error
    assert launcher.wait_child() == 3


def _may_unshare() -> bool:
    if os.geteuid() != 0:
        return False
    import subprocess

    return subprocess.run(["unshare", "-m", "true"], check=False).returncode == 0


@pytest.mark.skipif(not _may_unshare(), reason="needs root and mount namespaces")
def test_the_agent_child_runs_in_the_agent_units_sandbox(tmp_path: Path) -> None:
    """What bureau-agent.service gives the agent (PrivateTmp, ProtectSystem=full,
    ProtectControlGroups, LimitNOFILE), the forked child builds for itself; the host (this test
    process) is unaffected."""
    import resource

    from bureau_agent.pool.sandbox import NOFILE, apply_agent_sandbox

    before = {p for d in ("/tmp", "/var/tmp") for p in Path(d).glob("bureau-agent-private-*")}
    marker = f"sandbox-probe-{os.getpid()}"
    read_fd, write_fd = os.pipe()  # the child's /tmp (where tmp_path is) is not this process's

    def work(config_file: Path, report: Report) -> None:
        seen: dict[str, object] = {}
        for path in ("/etc", "/usr", "/sys/fs/cgroup"):
            try:
                Path(path, marker).write_text("x")
                seen[path] = "writable"
            except OSError as exc:
                seen[path] = exc.errno
        Path("/tmp", marker).write_text("child")
        seen["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        os.write(write_fd, json.dumps(seen).encode())
        report({"enrolled": True})

    launcher = ForkLauncher(user=None, work=work, sandbox=apply_agent_sandbox)
    try:
        result = launcher.launch(tmp_path / "agent.env")
        assert launcher.wait_child() == 0
        assert result.enrolled, result.error
        os.close(write_fd)
        seen = json.loads(os.read(read_fd, 65536))
    finally:
        os.close(read_fd)
        after = {p for d in ("/tmp", "/var/tmp") for p in Path(d).glob("bureau-agent-private-*")}
        made = after - before
        import shutil

        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    import errno

    assert not Path("/tmp", marker).exists()
    assert len(made) == 2  # one private directory each for /tmp and /var/tmp
    assert seen["/etc"] == errno.EROFS
    assert seen["/usr"] == errno.EROFS
    assert seen["/sys/fs/cgroup"] == errno.EROFS
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert seen["nofile"] >= (NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard))
    assert not Path("/etc", marker).exists()
