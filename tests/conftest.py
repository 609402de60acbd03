"""Shared fixtures: databases, free ports, and the skip rules for optional infrastructure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fakes.fixtures"]

POSTGRES_URL_ENV = "BUREAU_TEST_DATABASE_URL"


def pytest_report_header(config: pytest.Config) -> list[str]:
    url = os.environ.get(POSTGRES_URL_ENV)
    lines = [f"postgres: {url}" if url else f"postgres: skipped ({POSTGRES_URL_ENV} is not set)"]
    qemu = shutil.which("qemu-system-x86_64")
    lines.append(f"qemu: {qemu}" if qemu else "qemu: not installed (vm tests skip)")
    return lines


@pytest.hookimpl(tryfirst=True)  # before xdist's hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with a printed reason, what this machine cannot run; keep VM tests on one worker.

    Under pytest-xdist (``make test`` runs two workers) every VM test joins one ``xdist_group``:
    one worker boots the VMs one module after another (QEMU under TCG wants a core of its own,
    and the VM modules assert on host-wide state such as leftover QEMU processes) while the other
    worker runs everything else beside it.
    """
    no_pg = pytest.mark.skip(reason=f"{POSTGRES_URL_ENV} is not set; PostgreSQL tests skipped")
    no_qemu = pytest.mark.skip(reason="qemu-system-x86_64 is not installed; VM tests skipped")
    has_qemu = shutil.which("qemu-system-x86_64") is not None
    for item in items:
        if "postgres" in item.keywords and not os.environ.get(POSTGRES_URL_ENV):
            item.add_marker(no_pg)
        if "vm" in item.keywords:
            item.add_marker(pytest.mark.xdist_group("vm"))
            if not has_qemu:
                item.add_marker(no_qemu)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a VM test that xdist left out of its group (it did, silently, on pytest 9): its
    module would run split across workers, each half with its own VM."""
    if getattr(item.config.option, "loadgroup", False):
        if "vm" in item.keywords and "@vm" not in item.nodeid:
            pytest.fail(
                "pytest-xdist did not put this VM test in the 'vm' group: check the pytest and "
                "pytest-xdist versions (pyproject.toml pins pytest < 9 for this)",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL URL for tests marked ``postgres`` (they are skipped where it is unset)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    yield url
