"""A fake Hetzner Cloud API (the part Bureau uses), served for real on loopback.

State lives in ``FakeHetzner`` (thread safe): servers, volumes, firewalls and actions, with labels.
The HTTP app answers like https://api.hetzner.cloud/v1 for: listing with ``label_selector`` and
pagination, getting one resource, server types with their prices (``server_type_prices``),
deleting servers/volumes/firewalls, detaching volumes, removing firewalls from resources, and
reading actions. Tests script failures (``fail_next``: e.g. 429
``rate_limit_exceeded``) and read the recorded requests. The official ``hcloud`` client talks to
it through ``Client(api_endpoint=<url>)``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

CREATED = "2026-01-01T00:00:00+00:00"
KINDS = ("servers", "volumes", "firewalls")
#: ``GET /server_types``: hourly prices per location, shaped like Hetzner's (strings, EUR).
SERVER_TYPE_PRICES = {"cx23": "0.0050", "cx33": "0.0090", "cx43": "0.0170"}


@dataclass(frozen=True)
class Failure:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str


def matches(labels: Mapping[str, str], selector: str | None) -> bool:
    """Hetzner label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``; comma means and."""
    if not selector:
        return True
    for term in (part.strip() for part in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class FakeHetzner:
    token: str = "fake-hcloud-token"
    servers: dict[int, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[int, dict[str, Any]] = field(default_factory=dict)
    firewalls: dict[int, dict[str, Any]] = field(default_factory=dict)
    actions: dict[int, dict[str, Any]] = field(default_factory=dict)
    server_type_prices: dict[str, str] = field(default_factory=lambda: dict(SERVER_TYPE_PRICES))
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[Failure] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(4001))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- scripting -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every resource, request and scripted failure (between tests)."""
        with self.lock:
            for store in (self.servers, self.volumes, self.firewalls, self.actions):
                store.clear()
            self.requests.clear()
            self._failures.clear()

    def fail_next(
        self,
        status: int = 429,
        code: str = "rate_limit_exceeded",
        message: str = "limit of 3600 requests per hour reached",
        times: int = 1,
    ) -> None:
        with self.lock:
            self._failures.extend([Failure(status, code, message)] * times)

    def add_firewall(
        self, name: str, labels: Mapping[str, str], rules: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        with self.lock:
            fid = next(self._ids)
            self.firewalls[fid] = {
                "id": fid,
                "name": name,
                "labels": dict(labels),
                "rules": list(rules or []),
                "applied_to": [],
                "created": CREATED,
            }
            return self.firewalls[fid]

    def add_volume(
        self, name: str, labels: Mapping[str, str], size: int = 10, location: str = "nbg1"
    ) -> dict[str, Any]:
        with self.lock:
            vid = next(self._ids)
            self.volumes[vid] = {
                "id": vid,
                "name": name,
                "size": size,
                "labels": dict(labels),
                "server": None,
                "location": _location(location),
                "linux_device": f"/dev/disk/by-id/scsi-0HC_Volume_{vid}",
                "status": "available",
                "format": "ext4",
                "protection": {"delete": False},
                "created": CREATED,
            }
            return self.volumes[vid]

    def add_server(
        self,
        name: str,
        labels: Mapping[str, str],
        *,
        server_type: str = "cx23",
        image: str = "debian-12",
        location: str = "nbg1",
        status: str = "running",
        firewall_ids: tuple[int, ...] = (),
        user_data: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            sid = next(self._ids)
            octet = sid % 250 + 1
            self.servers[sid] = {
                "id": sid,
                "name": name,
                "status": status,
                "created": CREATED,
                "labels": dict(labels),
                "public_net": {
                    "ipv4": {
                        "id": sid + 100000,
                        "ip": f"198.51.100.{octet}",
                        "blocked": False,
                        "dns_ptr": "",
                    },
                    "ipv6": {
                        "id": sid + 200000,
                        "ip": f"2001:db8:{sid:x}::/64",
                        "blocked": False,
                        "dns_ptr": [],
                    },
                    "floating_ips": [],
                    "firewalls": [{"id": fid, "status": "applied"} for fid in firewall_ids],
                },
                "private_net": [],
                "server_type": {"id": 1, "name": server_type},
                "image": {"id": 1, "name": image, "type": "system"},
                "location": _location(location),
                "volumes": [],
                "protection": {"delete": False, "rebuild": False},
                "_user_data": user_data,
            }
            for fid in firewall_ids:
                self.firewalls[fid]["applied_to"].append({"type": "server", "server": {"id": sid}})
            return self.servers[sid]

    def attach(self, volume_id: int, server_id: int) -> None:
        with self.lock:
            self.volumes[volume_id]["server"] = server_id
            self.servers[server_id]["volumes"].append(volume_id)

    def detach(self, volume_id: int) -> None:
        with self.lock:
            server_id = self.volumes[volume_id]["server"]
            self.volumes[volume_id]["server"] = None
            if server_id in self.servers:
                self.servers[server_id]["volumes"].remove(volume_id)

    def delete_server(self, server_id: int) -> None:
        """What Hetzner does: volumes are detached and firewalls unapplied with the server."""
        with self.lock:
            server = self.servers.pop(server_id)
            for vid in server["volumes"]:
                self.volumes[vid]["server"] = None
            for firewall in self.firewalls.values():
                firewall["applied_to"] = [
                    res for res in firewall["applied_to"] if res["server"]["id"] != server_id
                ]

    def labelled(self, selector: str) -> dict[str, list[dict[str, Any]]]:
        """Every resource matching ``selector``, by kind (for assertions)."""
        with self.lock:
            return {
                kind: [r for r in getattr(self, kind).values() if matches(r["labels"], selector)]
                for kind in KINDS
            }

    # --- HTTP ------------------------------------------------------------------------------

    def _action(self, command: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
        aid = next(self._ids)
        action = {
            "id": aid,
            "command": command,
            "status": "success",
            "progress": 100,
            "started": CREATED,
            "finished": CREATED,
            "resources": resources,
            "error": None,
        }
        self.actions[aid] = action
        return action

    def _take_failure(self) -> Failure | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    @property
    def app(self) -> FastAPI:
        app = FastAPI()
        fake = self

        @app.middleware("http")
        async def gate(request: Request, call_next: Any) -> Response:
            with fake.lock:
                fake.requests.append(
                    RecordedRequest(request.method, request.url.path, request.url.query)
                )
            if request.headers.get("authorization") != f"Bearer {fake.token}":
                return _error(401, "unauthorized", "unable to authenticate")
            failure = fake._take_failure()
            if failure is not None:
                return _error(failure.status, failure.code, failure.message)
            response: Response = await call_next(request)
            return response

        @app.get("/server_types")
        def server_types(request: Request) -> Response:
            wanted = request.query_params.get("name")
            items = [
                _server_type(index, name, price)
                for index, (name, price) in enumerate(sorted(fake.server_type_prices.items()), 1)
                if wanted in (None, name)
            ]
            pagination = {
                "page": 1,
                "per_page": 50,
                "previous_page": None,
                "next_page": None,
                "last_page": 1,
                "total_entries": len(items),
            }
            return JSONResponse({"server_types": items, "meta": {"pagination": pagination}})

        @app.get("/{kind}")
        def list_resources(kind: str, request: Request) -> Response:
            if kind not in KINDS:
                return _error(404, "not_found", f"unknown resource {kind}")
            params = request.query_params
            page, per_page = int(params.get("page", 1)), int(params.get("per_page", 25))
            with fake.lock:
                items = [
                    _public(item)
                    for item in sorted(getattr(fake, kind).values(), key=lambda r: r["id"])
                    if matches(item["labels"], params.get("label_selector"))
                    and params.get("name") in (None, item["name"])
                ]
            chunk = items[(page - 1) * per_page : page * per_page]
            last = max(1, -(-len(items) // per_page))
            pagination = {
                "page": page,
                "per_page": per_page,
                "previous_page": page - 1 if page > 1 else None,
                "next_page": page + 1 if page < last else None,
                "last_page": last,
                "total_entries": len(items),
            }
            return JSONResponse({kind: chunk, "meta": {"pagination": pagination}})

        @app.get("/{kind}/{rid}")
        def get_resource(kind: str, rid: int) -> Response:
            store = getattr(fake, kind, None) if kind in (*KINDS, "actions") else None
            if store is None or rid not in store:
                return _error(404, "not_found", f"{kind} {rid} not found")
            return JSONResponse({kind.removesuffix("s"): _public(store[rid])})

        @app.delete("/servers/{rid}")
        def delete_server(rid: int) -> Response:
            with fake.lock:
                if rid not in fake.servers:
                    return _error(404, "not_found", f"server {rid} not found")
                fake.delete_server(rid)
                action = fake._action("delete_server", [{"id": rid, "type": "server"}])
            return JSONResponse({"action": action})

        @app.post("/servers/{rid}/actions/poweron")
        def power_on(rid: int) -> Response:
            with fake.lock:
                if rid not in fake.servers:
                    return _error(404, "not_found", f"server {rid} not found")
                fake.servers[rid]["status"] = "running"
                action = fake._action("start_server", [{"id": rid, "type": "server"}])
            return JSONResponse({"action": action})

        @app.post("/volumes/{rid}/actions/detach")
        def detach_volume(rid: int) -> Response:
            with fake.lock:
                if rid not in fake.volumes:
                    return _error(404, "not_found", f"volume {rid} not found")
                fake.detach(rid)
                action = fake._action("detach_volume", [{"id": rid, "type": "volume"}])
            return JSONResponse({"action": action})

        @app.delete("/volumes/{rid}")
        def delete_volume(rid: int) -> Response:
            with fake.lock:
                volume = fake.volumes.get(rid)
                if volume is None:
                    return _error(404, "not_found", f"volume {rid} not found")
                if volume["server"] is not None:
                    return _error(422, "invalid_input", "volume is attached to a server")
                del fake.volumes[rid]
            return Response(status_code=204)

        @app.post("/firewalls/{rid}/actions/remove_from_resources")
        async def unapply_firewall(rid: int, request: Request) -> Response:
            body = await request.json()
            with fake.lock:
                firewall = fake.firewalls.get(rid)
                if firewall is None:
                    return _error(404, "not_found", f"firewall {rid} not found")
                removed = {res["server"]["id"] for res in body.get("remove_from", [])}
                firewall["applied_to"] = [
                    res for res in firewall["applied_to"] if res["server"]["id"] not in removed
                ]
                actions = [
                    fake._action("remove_firewall", [{"id": sid, "type": "server"}])
                    for sid in removed
                ]
            return JSONResponse({"actions": actions})

        @app.delete("/firewalls/{rid}")
        def delete_firewall(rid: int) -> Response:
            with fake.lock:
                firewall = fake.firewalls.get(rid)
                if firewall is None:
                    return _error(404, "not_found", f"firewall {rid} not found")
                if firewall["applied_to"]:
                    return _error(422, "resource_in_use", "firewall is still applied")
                del fake.firewalls[rid]
            return Response(status_code=204)

        return app


def _server_type(index: int, name: str, hourly: str) -> dict[str, Any]:
    monthly = f"{float(hourly) * 624:.4f}"
    prices = [
        {
            "location": location,
            "price_hourly": {"net": hourly, "gross": f"{float(hourly) * 1.19:.4f}"},
            "price_monthly": {"net": monthly, "gross": f"{float(monthly) * 1.19:.4f}"},
            "included_traffic": 20 * 1024**4,
            "price_per_tb_traffic": {"net": "1.0000", "gross": "1.1900"},
        }
        for location in ("fsn1", "nbg1", "hel1")
    ]
    return {
        "id": index,
        "name": name,
        "description": name.upper(),
        "cores": 2 * index,
        "memory": 4.0 * index,
        "disk": 40 * index,
        "deprecated": False,
        "deprecation": None,
        "prices": prices,
        "storage_type": "local",
        "cpu_type": "shared",
        "architecture": "x86",
        "locations": [],
    }


def _location(name: str) -> dict[str, Any]:
    return {"id": 1, "name": name, "network_zone": "eu-central", "country": "DE", "city": name}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if not key.startswith("_")}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
