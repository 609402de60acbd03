"""The warm pool (issue 9): desks restored from a snapshot of a booted VM in about a second.

The control plane calls three functions (all no-ops while ``BUREAU_POOL_SIZE`` is 0, the default,
or the driver is not qemu):

- ``await start_pool(driver, settings)`` in the app's lifespan startup, ``await stop_pool()`` at
  shutdown;
- ``await try_assign_from_pool(driver, spec, boot, progress)`` in the provisioning job of a NEW
  desk, before ``driver.create``: a ``DeskHandle`` of a running desk whose agent already enrolled
  with ``boot.bootstrap_token``, or None (boot cold, unchanged).
"""

from __future__ import annotations

from cloud_init.settings import DeskBootSettings
from orchestrator.drivers.base import DeskHandle, DeskSpec, ProgressFn
from orchestrator.pool.manager import PoolManager, control_plane_from_driver

_manager: PoolManager | None = None


async def start_pool(driver: object, settings: object) -> PoolManager | None:
    """Start the pool's background work for a qemu driver (``settings``: the control plane's)."""
    global _manager
    if getattr(driver, "name", None) != "qemu" or _manager is not None:
        return _manager
    data_dir = getattr(driver, "data_dir", None) or getattr(settings, "data_dir", None)
    if data_dir is None:
        return None
    public_url = getattr(settings, "public_url", None)
    translate = getattr(driver, "guest_control_plane_url", None)
    if callable(translate) and isinstance(public_url, str):
        translate(public_url)  # the qemu driver learns the port it forwards
    manager = PoolManager(
        data_dir,
        qemu=getattr(driver, "settings", None),
        control_plane=control_plane_from_driver(driver, public_url),
    )
    if not manager.enabled:
        return None
    _manager = manager
    await manager.start()
    return manager


async def stop_pool() -> None:
    global _manager
    if _manager is not None:
        await _manager.stop()
        _manager = None


async def try_assign_from_pool(
    driver: object, spec: DeskSpec, boot: DeskBootSettings, progress: ProgressFn
) -> DeskHandle | None:
    """A desk from the pool, or None: the caller then calls ``driver.create`` (cold path)."""
    if _manager is None or getattr(driver, "name", None) != "qemu":
        return None
    return await _manager.assign(spec, boot, progress)


def pool_status() -> dict[str, object]:
    return _manager.status() if _manager is not None else {"enabled": False}


__all__ = ["PoolManager", "pool_status", "start_pool", "stop_pool", "try_assign_from_pool"]
