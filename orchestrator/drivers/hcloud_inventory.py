"""What exists on Hetzner Cloud for Bureau, read (and swept) with the official ``hcloud`` library.

Pulumi state says what Bureau *meant* to create; this module asks the API what *is* there, by
label (``managed-by=bureau``), so the reconciler finds machines whose stack or database row is
gone, and ``destroy`` can sweep leftovers. Every ``hcloud`` exception becomes a driver error here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hcloud import APIException, Client
from hcloud._exceptions import HCloudException
from requests import RequestException

from orchestrator.drivers.base import DriverError, PermanentDriverError, TransientDriverError

MANAGED_SELECTOR = "managed-by=bureau"
_TRANSIENT_CODES = {
    "rate_limit_exceeded",
    "conflict",
    "locked",
    "resource_unavailable",
    "server_error",
    "timeout",
    "unavailable",
    "maintenance",
    "bad_gateway",
}
_T = TypeVar("_T")


@dataclass(frozen=True)
class DeskInventory:
    """The Hetzner resources labelled with one desk id."""

    desk_id: str
    servers: list[Any] = field(default_factory=list)
    volumes: list[Any] = field(default_factory=list)
    firewalls: list[Any] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.servers or self.volumes or self.firewalls)


def translate(operation: str, fn: Callable[[], _T]) -> _T:
    """Run one hcloud call; its exceptions become transient or permanent driver errors."""
    try:
        return fn()
    except APIException as exc:
        raise api_error(operation, exc) from None
    except (RequestException, HCloudException) as exc:
        raise TransientDriverError(f"hetzner {operation}: {type(exc).__name__}: {exc}") from None


def api_error(operation: str, exc: APIException) -> DriverError:
    code = str(exc.code)
    message = f"hetzner {operation}: {exc.message} ({code})"
    if code in _TRANSIENT_CODES or code in {"429", "502", "503", "504"}:
        retry_after = 60.0 if code in {"rate_limit_exceeded", "429"} else None
        return TransientDriverError(message, retry_after=retry_after)
    if code in {"unauthorized", "401", "forbidden", "403"}:
        return PermanentDriverError(message + ": check BUREAU_HCLOUD_TOKEN (read & write token)")
    return PermanentDriverError(message)


def make_client(token: str, api_endpoint: str) -> Client:
    """An hcloud client that does not retry by itself: Bureau's job queue owns retries and
    backoff, and blind retries burn Hetzner's hourly request budget."""
    client = Client(
        token=token,
        api_endpoint=api_endpoint,
        application_name="bureau",
        poll_interval=1.0,
        poll_max_retries=120,
        timeout=30,
    )
    inner = getattr(client, "_client", None)
    if inner is not None and hasattr(inner, "_retry_max_retries"):
        inner._retry_max_retries = 0
    return client


@dataclass
class Inventory:
    client: Client

    def managed(self) -> dict[str, DeskInventory]:
        """Every Bureau resource, grouped by the ``desk-id`` label."""
        servers = translate(
            "list servers", lambda: self.client.servers.get_all(label_selector=MANAGED_SELECTOR)
        )
        volumes = translate(
            "list volumes", lambda: self.client.volumes.get_all(label_selector=MANAGED_SELECTOR)
        )
        firewalls = translate(
            "list firewalls",
            lambda: self.client.firewalls.get_all(label_selector=MANAGED_SELECTOR),
        )
        desks: dict[str, DeskInventory] = {}
        for kind, items in (("servers", servers), ("volumes", volumes), ("firewalls", firewalls)):
            for item in items:
                desk_id = (item.labels or {}).get("desk-id")
                if not desk_id:
                    continue
                entry = desks.setdefault(desk_id, DeskInventory(desk_id))
                getattr(entry, kind).append(item)
        return desks

    def of_desk(self, desk_id: str) -> DeskInventory:
        selector = f"{MANAGED_SELECTOR},desk-id={desk_id}"
        return self._listed(desk_id, selector)

    def power_on_if_off(self, desk_id: str, progress: Callable[[str], None]) -> bool:
        """Power on the desk's server when someone shut it down from inside (Pulumi does not
        manage power state); return whether it had to."""
        found = self.of_desk(desk_id)
        for server in found.servers:
            if server.status == "off":
                progress(f"hetzner: server {server.id} was powered off; powering it on")
                action = translate("power on", server.power_on)
                translate("wait for power on", action.wait_until_finished)
                return True
        return False

    def delete_servers(self, desk_id: str, progress: Callable[[str], None]) -> int:
        """Delete the desk's servers only (volumes and firewalls stay); return how many."""
        found = self.of_desk(desk_id)
        for server in found.servers:
            progress(f"hetzner: deleting server {server.id}")
            action = translate("delete server", server.delete)
            translate("wait for server deletion", action.wait_until_finished)
        return len(found.servers)

    def labelled(self, selector: str) -> DeskInventory:
        """Every resource matching ``selector`` (a Hetzner label selector)."""
        return self._listed(selector, selector)

    def _listed(self, key: str, selector: str) -> DeskInventory:
        """Servers, volumes and firewalls matching ``selector``, filed under ``key``."""
        return DeskInventory(
            selector,
            servers=translate(
                "list servers", lambda: self.client.servers.get_all(label_selector=selector)
            ),
            volumes=translate(
                "list volumes", lambda: self.client.volumes.get_all(label_selector=selector)
            ),
            firewalls=translate(
                "list firewalls", lambda: self.client.firewalls.get_all(label_selector=selector)
            ),
        )

    def grouped_by(self, label: str) -> dict[str, DeskInventory]:
        """Bureau resources carrying ``label``, grouped by its value (the warm pool's slots)."""
        found = self.labelled(f"{MANAGED_SELECTOR},{label}")
        groups: dict[str, DeskInventory] = {}
        for kind in ("servers", "volumes", "firewalls"):
            for item in getattr(found, kind):
                value = (item.labels or {}).get(label)
                if value:
                    entry = groups.setdefault(value, DeskInventory(value))
                    getattr(entry, kind).append(item)
        return groups

    def hourly_price(self, server_type: str, location: str) -> float | None:
        """Hetzner's net hourly price (EUR) of ``server_type`` in ``location``, or None when the
        API does not list it there."""
        found = translate(
            "get server type", lambda: self.client.server_types.get_by_name(server_type)
        )
        for price in (found.prices or []) if found is not None else []:
            if price.get("location") == location:
                try:
                    return float(price["price_hourly"]["net"])
                except (KeyError, TypeError, ValueError):
                    return None
        return None

    def sweep(self, desk_id: str, progress: Callable[[str], None]) -> int:
        """Delete whatever is still labelled with ``desk_id`` (servers first, then volumes, then
        firewalls); return how many resources were deleted."""
        return self.sweep_found(self.of_desk(desk_id), progress)

    def sweep_selector(self, selector: str, progress: Callable[[str], None]) -> int:
        """``sweep`` for any label selector (always within ``managed-by=bureau``)."""
        return self.sweep_found(self.labelled(f"{MANAGED_SELECTOR},{selector}"), progress)

    def sweep_found(self, found: DeskInventory, progress: Callable[[str], None]) -> int:
        """Delete ``found`` (servers first, then volumes, then firewalls); return the count."""
        deleted = 0
        gone_servers: set[int] = set()
        for server in found.servers:
            progress(f"hetzner: deleting leftover server {server.id}")
            action = translate("delete server", server.delete)
            translate("wait for server deletion", action.wait_until_finished)
            gone_servers.add(server.id)
            deleted += 1
        for volume in found.volumes:
            # Hetzner detaches volumes (and firewalls) of a deleted server by itself.
            if volume.server is not None and volume.server.id not in gone_servers:
                action = translate("detach volume", volume.detach)
                translate("wait for volume detach", action.wait_until_finished)
            progress(f"hetzner: deleting leftover volume {volume.id}")
            translate("delete volume", volume.delete)
            deleted += 1
        for firewall in found.firewalls:
            still_applied = [
                resource
                for resource in firewall.applied_to or []
                if not (resource.server is not None and resource.server.id in gone_servers)
            ]
            if still_applied:
                actions = translate("detach firewall", _remover(firewall, still_applied))
                for action in actions:
                    translate("wait for firewall detach", action.wait_until_finished)
            progress(f"hetzner: deleting leftover firewall {firewall.id}")
            translate("delete firewall", firewall.delete)
            deleted += 1
        return deleted


def _remover(firewall: Any, resources: list[Any]) -> Callable[[], list[Any]]:
    def remove() -> list[Any]:
        return list(firewall.remove_from_resources(resources))

    return remove
