"""Load a driver by name: each driver module is a plugin exposing ``create_driver``.

Contract for a driver module ``orchestrator.drivers.<name>``::

    def create_driver(data_dir: pathlib.Path) -> Driver

It reads its own settings from the environment (``BUREAU_QEMU_*``, ``BUREAU_HCLOUD_*``,
``BUREAU_SCRIPTED_*``) and keeps its state under ``data_dir`` (the control plane's data dir).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from orchestrator.drivers.base import Driver

DRIVER_MODULES = {
    "qemu": "orchestrator.drivers.qemu",
    "hcloud": "orchestrator.drivers.hcloud",
    "scripted": "orchestrator.drivers.scripted",
}


class DriverUnavailableError(RuntimeError):
    """The configured driver cannot be loaded; the message says why and what to do."""


def load_driver(name: str, data_dir: Path) -> Driver:
    """Import ``orchestrator.drivers.<name>`` and call its ``create_driver(data_dir)``."""
    module_name = DRIVER_MODULES.get(name)
    if module_name is None:
        raise DriverUnavailableError(
            f"unknown driver {name!r}: set BUREAU_DRIVER to one of {', '.join(DRIVER_MODULES)}"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise DriverUnavailableError(
                f"the {name} driver is not available in this build ({module_name} is missing); "
                "set BUREAU_DRIVER to another driver"
            ) from exc
        raise
    factory = getattr(module, "create_driver", None)
    if factory is None:
        raise DriverUnavailableError(f"{module_name} does not define create_driver(data_dir)")
    driver = factory(data_dir)
    if not isinstance(driver, Driver):
        raise DriverUnavailableError(f"{module_name}.create_driver returned a non-driver")
    return driver
