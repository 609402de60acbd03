"""create_driver reads BUREAU_HCLOUD_* and refuses to start without what it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.drivers.factory import DriverUnavailableError, load_driver
from orchestrator.drivers.hcloud import HCLOUD_DATA_DISK, HcloudDriver, create_driver
from orchestrator.drivers.pulumi_engine import AutomationEngine

ENV = {
    "BUREAU_HCLOUD_TOKEN": "tok-123",
    "BUREAU_HCLOUD_PULUMI_PASSPHRASE": "pass-456",
    "BUREAU_HCLOUD_CONTROL_PLANE_CIDRS": "203.0.113.5/32, 2001:db8::/64",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HCLOUD_TOKEN", "PULUMI_CONFIG_PASSPHRASE", *ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_driver_loads_through_the_factory(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    driver = load_driver("hcloud", tmp_path)
    assert isinstance(driver, HcloudDriver)
    assert driver.settings.control_plane_cidrs == ("203.0.113.5/32", "2001:db8::/64")


def test_state_defaults_to_a_file_backend_in_the_data_dir(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    engine = create_driver(tmp_path).engine
    assert isinstance(engine, AutomationEngine)
    assert engine.backend_url == f"file://{tmp_path / 'pulumi'}"
    assert engine.work_dir == tmp_path / "pulumi-work"
    assert engine.plugin_version.count(".") == 2


def test_s3_backend_and_location_come_from_the_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    backend = "s3://bureau-state?endpoint=fsn1.your-objectstorage.com&region=fsn1"
    clean_env.setenv("BUREAU_HCLOUD_BACKEND_URL", backend)
    clean_env.setenv("BUREAU_HCLOUD_LOCATION", "hel1")
    driver = create_driver(tmp_path)
    assert isinstance(driver.engine, AutomationEngine)
    assert driver.engine.backend_url == backend
    assert driver.settings.location == "hel1"


def test_standard_hcloud_and_pulumi_variables_are_accepted(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("HCLOUD_TOKEN", "tok-std")
    clean_env.setenv("PULUMI_CONFIG_PASSPHRASE", "pass-std")
    clean_env.setenv("BUREAU_HCLOUD_CONTROL_PLANE_CIDRS", "203.0.113.5/32")
    driver = create_driver(tmp_path)
    assert driver.settings.token is not None
    assert driver.settings.token.get_secret_value() == "tok-std"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("BUREAU_HCLOUD_TOKEN", "HCLOUD_TOKEN"),
        ("BUREAU_HCLOUD_PULUMI_PASSPHRASE", "PASSPHRASE"),
        ("BUREAU_HCLOUD_CONTROL_PLANE_CIDRS", "CONTROL_PLANE_CIDRS"),
    ],
)
def test_missing_setting_is_named(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, missing: str, message: str
) -> None:
    for name, value in ENV.items():
        if name != missing:
            clean_env.setenv(name, value)
    with pytest.raises(DriverUnavailableError, match=message):
        create_driver(tmp_path)


def test_guest_data_disk_is_the_hetzner_volume(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    assert create_driver(tmp_path).guest_data_disk_device == HCLOUD_DATA_DISK
