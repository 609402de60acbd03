"""The warm-pool server's Pulumi program under Pulumi's mocks: the desk's resources under pool
labels, so a desk can take the stack over with in-place changes only."""

from __future__ import annotations

from typing import Any

import pytest

from infra import DeskInfraConfig, InfraConfigError
from infra.desk import desk_program
from infra.pool import PoolInfraConfig, pool_program
from tests.infra.mocks import (
    SECRET_SIG,
    SECRET_SIG_KEY,
    SERVER,
    RecordingMocks,
    run_program,
    stack_exports,
)
from tests.infra.mocks import mocks as mocks

POOL_TOKEN = "pt_" + "t" * 43
USER_DATA = (
    f"#cloud-config\nwrite_files:\n- path: /etc/bureau/pool-token\n  content: {POOL_TOKEN}\n"
)


def pool_config(**overrides: Any) -> PoolInfraConfig:
    values: dict[str, Any] = {
        "slot_id": "p0123abcd",
        "size_class": "small",
        "user_data": USER_DATA,
        "control_plane_cidrs": ("203.0.113.5/32",),
        "token_sha256": "a" * 64,
        "created_at": 1_790_000_000.0,
    }
    values.update(overrides)
    return PoolInfraConfig(**values)


def test_a_pool_server_declares_the_desks_resources_under_the_same_names(
    mocks: RecordingMocks,
) -> None:
    run_program(pool_program(pool_config()))
    pooled = sorted((entry.typ, entry.name) for entry in mocks.registered)
    mocks.registered.clear()
    desk = DeskInfraConfig(
        desk_id="d0123", owner_id="u1", user_data="", control_plane_cidrs=("203.0.113.5/32",)
    )
    run_program(desk_program(desk))
    assert pooled == sorted((entry.typ, entry.name) for entry in mocks.registered)


def test_pool_resources_carry_pool_labels_and_never_a_desk_id(mocks: RecordingMocks) -> None:
    run_program(pool_program(pool_config()))
    for entry in mocks.registered:
        if "labels" in entry.inputs:
            assert entry.inputs["labels"] == {
                "managed-by": "bureau",
                "pool-slot": "p0123abcd",
                "pool-class": "small",
            }
    assert mocks.one(SERVER).inputs["name"] == "pool-p0123abcd"


def test_the_pool_token_is_only_in_the_secret_user_data_and_never_exported(
    mocks: RecordingMocks,
) -> None:
    run_program(pool_program(pool_config()))
    assert mocks.monitor is not None
    assert "userData" in mocks.monitor.options["server"].ignore_changes
    user_data = mocks.one(SERVER).inputs["userData"]
    assert user_data[SECRET_SIG_KEY] == SECRET_SIG  # encrypted in the stack state
    exports = stack_exports()
    assert POOL_TOKEN not in repr(exports)
    assert exports["pool"]["token_sha256"] == "a" * 64


@pytest.mark.parametrize(
    "field,value",
    [("slot_id", "pool-1"), ("token_sha256", POOL_TOKEN), ("control_plane_cidrs", ())],
)
def test_invalid_pool_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(InfraConfigError):
        pool_config(**{field: value})
