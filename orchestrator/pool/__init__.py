"""The warm pool (issue 9): desks restored from a snapshot of a booted VM in about a second.

Two implementations behind the same three calls: qemu (manager.py: clones of a snapshot; size
``BUREAU_POOL_SIZE``) and Hetzner (hcloud.py: servers booted ahead; ``BUREAU_HCLOUD_POOL_SIZE``).
The control plane calls (all no-ops while the driver's pool size is 0, the default):

- ``await start_pool(driver, settings, runtime)`` in the app's lifespan startup (the Hetzner pool
  needs the runtime's PKI and agent wheel), ``await stop_pool()`` at shutdown;
- ``await try_assign_from_pool(driver, spec, boot, progress)`` in the provisioning job of a NEW
  desk, before ``driver.create``: a ``DeskHandle`` of a running desk whose agent already enrolled
  with ``boot.bootstrap_token``, or None (boot cold, unchanged).
"""

from __future__ import annotations

from typing import Any

from cloud_init.settings import DeskBootSettings
from orchestrator.drivers.base import DeskHandle, DeskSpec, ProgressFn
from orchestrator.pool.manager import PoolManager, control_plane_from_driver

_manager: PoolManager | None = None
_hcloud: Any = None  # orchestrator.pool.hcloud.HcloudPool (imported only with that driver)


def hcloud_pool() -> Any:
    """The running Hetzner pool of this process, or None."""
    return _hcloud


async def _start_hcloud_pool(driver: Any, runtime: Any) -> Any:
    global _hcloud
    from orchestrator.pool.hcloud import HcloudPool, HcloudPoolSettings

    settings = HcloudPoolSettings()
    if _hcloud is not None or settings.size == 0 or runtime is None:
        return _hcloud
    pki = runtime.pki
    pool = HcloudPool(
        driver,
        settings=settings,
        control_plane_url=runtime.settings.public_url,
        control_plane_ca_pem=pki.ca_pem,
        agent_dist=runtime.dist.ensure,
        client_context=pki.agent_client_context,
        sign_csr=pki.sign_agent_csr,
        desk_ca_pem=pki.desk_ca_pem,
    )
    _hcloud = pool
    await pool.start()
    return pool


async def start_pool(driver: object, settings: object, runtime: object = None) -> Any:
    """Start the pool's background work (``settings``: the control plane's; ``runtime``: its
    Runtime, needed by the Hetzner pool)."""
    global _manager
    if getattr(driver, "name", None) == "hcloud":
        return await _start_hcloud_pool(driver, runtime)
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
    global _manager, _hcloud
    if _manager is not None:
        await _manager.stop()
        _manager = None
    if _hcloud is not None:
        await _hcloud.stop()
        _hcloud = None


async def try_assign_from_pool(
    driver: object, spec: DeskSpec, boot: DeskBootSettings, progress: ProgressFn
) -> DeskHandle | None:
    """A desk from the pool, or None: the caller then calls ``driver.create`` (cold path)."""
    name = getattr(driver, "name", None)
    if name == "hcloud" and _hcloud is not None:
        handle: DeskHandle | None = await _hcloud.assign(spec, boot, progress)
        return handle
    if _manager is None or name != "qemu":
        return None
    return await _manager.assign(spec, boot, progress)


def pool_status() -> dict[str, object]:
    """Every pool of this process: ``{"enabled", "pools": [per driver and size class], ...}``
    (what ``GET /v1/pool`` answers and ``bureau pool status`` prints)."""
    parts = [p.status() for p in (_manager, _hcloud) if p is not None]
    return {
        "enabled": any(part.get("enabled") for part in parts),
        "pools": [pool for part in parts for pool in part.get("pools", [])],
        "details": parts,
    }


__all__ = [
    "PoolManager",
    "hcloud_pool",
    "pool_status",
    "start_pool",
    "stop_pool",
    "try_assign_from_pool",
]
