"""Fixtures for VM tests: one data directory with the guest image for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qemu.image import ensure_image


@pytest.fixture(scope="session")
def qemu_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("qemu-data")
    ensure_image(data_dir)
    return data_dir
