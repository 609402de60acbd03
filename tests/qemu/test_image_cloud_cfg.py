"""The image runs ONE cloud-init stage (init): every module Bureau's user-data needs must be in it.

The image masks cloud-config.service and cloud-final.service (each stage is a Python start, ~10 s
under TCG), so a user-data key whose module sits only in the config or final list would be
silently ignored on a local desk. These tests tie the rendered user-data (cold desks and the warm
pool's template) to the image's ``cloud_init_modules``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_init.render import build_document
from orchestrator.pool.seed import template_document
from tests.cloud_init.desks import custom_endpoint_desk, minimal_desk

IMAGE = Path(__file__).resolve().parents[2] / "agent_image" / "image"

#: user-data key -> the cloud-init modules that apply it (in this order). An empty tuple: the key
#: is deliberately not applied by the local image (it has no SSH server), said here explicitly.
MODULES_FOR_KEY: dict[str, tuple[str, ...]] = {
    "hostname": ("set_hostname", "update_hostname"),
    "preserve_hostname": ("set_hostname", "update_hostname"),
    "manage_etc_hosts": ("update_etc_hosts",),
    "users": ("users-groups",),
    "write_files": ("write-files", "write-files-deferred"),
    "runcmd": ("runcmd", "scripts-user"),
    "bootcmd": ("bootcmd",),
    "final_message": ("final-message",),
    "ssh_pwauth": (),
    "disable_root": (),
}


def _image_cloud_cfg() -> dict[str, Any]:
    text = (IMAGE / "files" / "cloud.cfg.d" / "90-bureau.cfg").read_text()
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def _documents() -> dict[str, dict[str, Any]]:
    return {
        "minimal": build_document(minimal_desk()),
        "custom_endpoint": build_document(custom_endpoint_desk()),
        "pool_template": template_document(),
    }


def test_image_runs_no_config_or_final_modules() -> None:
    cfg = _image_cloud_cfg()
    assert cfg["cloud_config_modules"] == []
    assert cfg["cloud_final_modules"] == []


@pytest.mark.parametrize("name", sorted(_documents()))
def test_every_user_data_key_has_its_modules_in_the_init_stage(name: str) -> None:
    modules = _image_cloud_cfg()["cloud_init_modules"]
    for key in _documents()[name]:
        assert key in MODULES_FOR_KEY, f"{name}: no module known for user-data key {key!r}"
        missing = [m for m in MODULES_FOR_KEY[key] if m not in modules]
        assert not missing, f"{name}: {key!r} needs {missing} in cloud_init_modules"


def test_deferred_files_and_scripts_run_after_users_exist() -> None:
    modules = _image_cloud_cfg()["cloud_init_modules"]
    users = modules.index("users-groups")
    assert modules.index("write-files-deferred") > users
    assert modules.index("runcmd") < modules.index("scripts-user")
    assert modules.index("scripts-user") > modules.index("write-files-deferred")
    assert modules[-1] == "final-message"


def test_configure_masks_the_stages_that_no_longer_run() -> None:
    script = (IMAGE / "configure.sh").read_text()
    for unit in ("cloud-init-local.service", "cloud-config.service", "cloud-final.service"):
        assert unit in script
