"""The desk's Pulumi program under Pulumi's mocks: what it declares, with which settings."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra import DeskInfraConfig, InfraConfigError
from infra.desk import standalone_program
from tests.infra.mocks import (
    ATTACHMENT,
    FIREWALL,
    SERVER,
    VOLUME,
    RecordingMocks,
    deploy,
    resolve,
    run_program,
    stack_exports,
    unwrap_secrets,
)
from tests.infra.mocks import mocks as mocks

USER_DATA = "#cloud-config\nhostname: desk-dsk-1\n"


def config(**overrides: Any) -> DeskInfraConfig:
    values: dict[str, Any] = {
        "desk_id": "dsk_1",
        "owner_id": "usr_7",
        "user_data": USER_DATA,
        "control_plane_cidrs": ("203.0.113.5/32", "2001:db8:5::/64"),
    }
    values.update(overrides)
    return DeskInfraConfig(**values)


def test_running_desk_declares_firewall_volume_server_and_attachment(
    mocks: RecordingMocks,
) -> None:
    deploy(config())
    assert sorted(entry.typ for entry in mocks.registered) == sorted(
        [FIREWALL, VOLUME, SERVER, ATTACHMENT]
    )


def test_stopped_desk_keeps_firewall_and_volume_without_server(mocks: RecordingMocks) -> None:
    resources = deploy(config(server_enabled=False, user_data=""))
    assert sorted(entry.typ for entry in mocks.registered) == sorted([FIREWALL, VOLUME])
    assert resources.server is None and resources.attachment is None


def test_stopped_and_running_desk_declare_the_same_volume(mocks: RecordingMocks) -> None:
    deploy(config())
    running = mocks.one(VOLUME)
    mocks.registered.clear()
    deploy(config(server_enabled=False))
    stopped = mocks.one(VOLUME)
    assert (running.name, running.inputs) == (stopped.name, stopped.inputs)


def test_user_data_is_a_secret_input(mocks: RecordingMocks) -> None:
    resources = deploy(config())
    assert resources.server is not None
    value, secret = resolve(resources.server.user_data)
    assert (value, secret) == (USER_DATA, True)
    _, secrets = unwrap_secrets(mocks.one(SERVER).inputs)
    assert secrets == [USER_DATA]


def test_user_data_changes_are_ignored_and_kept_secret_in_state(mocks: RecordingMocks) -> None:
    deploy(config())
    assert mocks.monitor is not None
    options = mocks.monitor.options["server"]
    assert options.ignore_changes == ("userData",)
    assert options.additional_secret_outputs == ("userData",)


def test_every_resource_carries_the_bureau_labels(mocks: RecordingMocks) -> None:
    deploy(config(extra_labels={"env": "test"}))
    labelled = [entry for entry in mocks.registered if entry.typ != ATTACHMENT]
    assert len(labelled) == 3
    for entry in labelled:
        assert entry.inputs["labels"] == {
            "managed-by": "bureau",
            "desk-id": "dsk_1",
            "owner": "usr_7",
            "env": "test",
        }, entry.typ


def test_extra_labels_cannot_override_bureau_labels(mocks: RecordingMocks) -> None:
    deploy(config(extra_labels={"managed-by": "someone-else"}))
    assert mocks.one(SERVER).inputs["labels"]["managed-by"] == "bureau"


def test_firewall_allows_only_the_agent_port_from_the_control_plane(
    mocks: RecordingMocks,
) -> None:
    deploy(config())
    assert mocks.one(FIREWALL).inputs["rules"] == [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": "7443",
            "sourceIps": ["203.0.113.5/32", "2001:db8:5::/64"],
            "description": "bureau agent from the control plane",
        }
    ]


def test_firewall_allows_ssh_only_from_the_given_cidrs(mocks: RecordingMocks) -> None:
    deploy(config(ssh_cidrs=("198.51.100.0/24",)))
    rules = mocks.one(FIREWALL).inputs["rules"]
    ssh = [rule for rule in rules if rule["port"] == "22"]
    assert ssh == [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": "22",
            "sourceIps": ["198.51.100.0/24"],
            "description": "ssh from the desk owner",
        }
    ]


def test_server_is_attached_to_the_firewall(mocks: RecordingMocks) -> None:
    resources = deploy(config())
    firewall_id, _ = resolve(resources.firewall.id)
    assert mocks.one(SERVER).inputs["firewallIds"] == [int(firewall_id)]


def test_volume_is_attached_to_the_server(mocks: RecordingMocks) -> None:
    resources = deploy(config())
    assert resources.server is not None
    volume_id, _ = resolve(resources.volume.id)
    server_id, _ = resolve(resources.server.id)
    attachment = mocks.one(ATTACHMENT).inputs
    assert attachment["volumeId"] == int(volume_id)
    assert attachment["serverId"] == int(server_id)
    assert attachment["automount"] is False


def test_volume_is_formatted_sized_and_placed(mocks: RecordingMocks) -> None:
    deploy(config(volume_size_gib=25, location="hel1"))
    volume = mocks.one(VOLUME).inputs
    assert (volume["size"], volume["location"], volume["format"]) == (25, "hel1", "ext4")
    assert volume["name"] == "desk-dsk-1"


def test_server_defaults_to_cx23_debian_12(mocks: RecordingMocks) -> None:
    deploy(config())
    server = mocks.one(SERVER).inputs
    assert (server["serverType"], server["image"], server["location"]) == (
        "cx23",
        "debian-12",
        "nbg1",
    )
    assert server["publicNets"] == [{"ipv4Enabled": True, "ipv6Enabled": True}]


def test_server_type_image_and_location_can_be_overridden(mocks: RecordingMocks) -> None:
    deploy(config(server_type="cx33", image="ubuntu-24.04", location="fsn1"))
    server = mocks.one(SERVER).inputs
    assert (server["serverType"], server["image"], server["location"]) == (
        "cx33",
        "ubuntu-24.04",
        "fsn1",
    )


def test_running_desk_exports_its_addresses(mocks: RecordingMocks) -> None:
    deploy(config())
    exports = stack_exports()
    assert exports["ipv4"] == "203.0.113.10"
    assert exports["ipv6"] == "2001:db8::1"
    assert exports["volume_id"]


def test_desk_settings_are_exported_without_user_data(mocks: RecordingMocks) -> None:
    deploy(config(ssh_cidrs=("198.51.100.0/24",)))
    exported = stack_exports()["desk"]
    assert exported["owner_id"] == "usr_7"
    assert exported["ssh_cidrs"] == ["198.51.100.0/24"]
    assert "user_data" not in exported
    rebuilt = DeskInfraConfig.from_public_settings(
        exported, user_data="", server_enabled=False, control_plane_cidrs=("203.0.113.5/32",)
    )
    assert rebuilt.public_settings() == exported


def test_stopped_desk_exports_empty_addresses(mocks: RecordingMocks) -> None:
    deploy(config(server_enabled=False))
    exports = stack_exports()
    assert (exports["ipv4"], exports["ipv6"], exports["server_id"]) == ("", "", "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"desk_id": "Dsk 1"}, "desk_id"),
        ({"owner_id": "usr/7"}, "owner_id"),
        ({"control_plane_cidrs": ()}, "control_plane_cidrs"),
        ({"ssh_cidrs": ("not-an-ip",)}, "not-an-ip"),
        ({"volume_size_gib": 5}, "volume_size_gib"),
        ({"extra_labels": {"bad key!": "x"}}, "label"),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InfraConfigError, match=message):
        config(**overrides)


def test_standalone_program_reads_stack_config_with_secret_user_data(
    mocks: RecordingMocks,
) -> None:
    pulumi.runtime.set_all_config(
        {
            "bureau:deskId": "dsk_9",
            "bureau:ownerId": "usr_9",
            "bureau:userData": USER_DATA,
            "bureau:controlPlaneCidrs": '["203.0.113.5/32"]',
            "bureau:serverType": "cx33",
        },
        secret_keys=["bureau:userData"],
    )
    try:
        run_program(standalone_program)
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])
    server = mocks.one(SERVER).inputs
    assert server["serverType"] == "cx33"
    assert server["labels"]["desk-id"] == "dsk_9"
    assert unwrap_secrets(server)[1] == [USER_DATA]


def test_standalone_program_stops_with_server_enabled_false(mocks: RecordingMocks) -> None:
    pulumi.runtime.set_all_config(
        {
            "bureau:deskId": "dsk_9",
            "bureau:ownerId": "usr_9",
            "bureau:controlPlaneCidrs": '["203.0.113.5/32"]',
            "bureau:serverEnabled": "false",
        }
    )
    try:
        run_program(standalone_program)
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])
    assert not mocks.of_type(SERVER)
    assert mocks.one(VOLUME).inputs["labels"]["owner"] == "usr_9"
