"""The hand-over from the root resumer to the agent child (forked after the reseed)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

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
