"""A fake ``StackEngine``: Pulumi without the CLI, applied to a ``FakeHetzner``.

``up`` runs the real inline program (infra/) under Pulumi's mocks; each resource it registers is
created in (or kept from) the fake Hetzner state, and resources the program no longer declares are
deleted — the same create / keep / delete decisions Pulumi's engine would take for this program.
A kept resource whose name, labels or firewall rules changed is updated in place in the fake
Hetzner state; one whose server type, image or location changed is replaced (recorded in
``replaced``), as the hcloud provider would. ``rename`` moves a stack's state to a new name.
Stack state (logical name -> Hetzner id) and outputs are kept per stack. Every registered input is
recorded (with secrets still wrapped) so tests can check what would reach Pulumi state unencrypted.
Failures are scriptable per operation; ``interrupt(stack)`` leaves "pending operations" that only a
refresh clears, like a crashed ``pulumi up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.stack import Stack

from orchestrator.drivers.base import DriverError, PermanentDriverError
from orchestrator.drivers.pulumi_engine import PendingOperationsError
from tests.fakes.hetzner import FakeHetzner

SERVER = "hcloud:index/server:Server"
VOLUME = "hcloud:index/volume:Volume"
FIREWALL = "hcloud:index/firewall:Firewall"
ATTACHMENT = "hcloud:index/volumeAttachment:VolumeAttachment"

#: Pulumi runs one program per process at a time (its runtime settings are global).
_PULUMI_RUNTIME = threading.Lock()


@dataclass
class StackResource:
    typ: str
    hetzner_id: int
    inputs: dict[str, Any]


@dataclass
class FakeStack:
    resources: dict[str, StackResource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    pending: bool = False


@dataclass(frozen=True)
class Registration:
    stack: str
    typ: str
    name: str
    inputs: dict[str, Any]


class _ApplyingMocks(pulumi.runtime.Mocks):
    def __init__(self, engine: FakeStackEngine, stack: FakeStack, stack_name: str) -> None:
        self.engine = engine
        self.stack = stack
        self.stack_name = stack_name
        self.seen: set[str] = set()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.engine.registrations.append(Registration(self.stack_name, args.typ, args.name, inputs))
        self.seen.add(args.name)
        plain = _reveal(inputs)
        existing = self.stack.resources.get(args.name)
        if existing is not None and self.engine.replaces(existing, plain):
            self.engine.replaced.append((self.stack_name, args.name))
            self.engine.delete_resource(existing)
            existing = None
        if existing is None or existing.typ != args.typ:
            hetzner_id = self.engine.create(args.typ, plain)
            self.engine.progress_line(f"create {args.name}: done")
        else:
            hetzner_id = existing.hetzner_id  # user_data changes are ignored, like the program says
            self.engine.update_in_place(existing, plain)
        self.stack.resources[args.name] = StackResource(args.typ, hetzner_id, plain)
        outputs = dict(inputs)
        if args.typ == SERVER:
            server = self.engine.hetzner.servers[hetzner_id]
            outputs["ipv4Address"] = server["public_net"]["ipv4"]["ip"]
            outputs["ipv6Address"] = server["public_net"]["ipv6"]["ip"].replace("/64", "1")
        return str(hetzner_id), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@dataclass
class FakeStackEngine:
    hetzner: FakeHetzner
    stacks: dict[str, FakeStack] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    replaced: list[tuple[str, str]] = field(default_factory=list)
    """(stack, logical name) of every resource an ``up`` replaced instead of updating."""
    prepared: int = 0
    chatter: list[str] = field(default_factory=list)
    """Lines every ``up`` reports before its work (e.g. a provider error echoing a request)."""
    active: dict[str, int] = field(default_factory=dict)
    max_active: dict[str, int] = field(default_factory=dict)
    _failures: dict[str, list[DriverError]] = field(default_factory=dict)
    _progress: Callable[[str], None] | None = None
    _gate: threading.Event | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- scripting -------------------------------------------------------------------------

    def fail_next(self, operation: str, error: DriverError) -> None:
        self._failures.setdefault(operation, []).append(error)

    def interrupt(self, stack: str) -> None:
        """Leave ``stack`` as a crashed run would: pending operations until a refresh."""
        self.stacks.setdefault(stack, FakeStack()).pending = True

    def hold(self) -> threading.Event:
        """Block every ``up`` until the returned event is set (to observe overlapping calls)."""
        self._gate = threading.Event()
        return self._gate

    # --- StackEngine -----------------------------------------------------------------------

    def prepare(self) -> None:
        self.prepared += 1

    def up(self, stack: str, program: Callable[[], None], progress: Callable[[str], None]) -> Any:
        with self._operation("up", stack):
            state = self.stacks.setdefault(stack, FakeStack())
            if state.pending:
                raise PendingOperationsError(f"pulumi up: {stack} has 1 pending operation(s)")
            if self._gate is not None:
                self._gate.wait(timeout=10)
            self._progress = progress
            for line in self.chatter:
                progress(line)
            with _PULUMI_RUNTIME:
                state.outputs = self._run_program(program, state, stack)
            self._progress = None
            return dict(state.outputs)

    def destroy(self, stack: str, progress: Callable[[str], None]) -> None:
        with self._operation("destroy", stack):
            state = self.stacks.get(stack)
            if state is None:
                return
            if state.pending:
                raise PendingOperationsError(f"pulumi destroy: {stack} has pending operations")
            self._progress = progress
            self._delete_missing(state, keep=set())
            self._progress = None
            state.outputs = {}

    def refresh(self, stack: str, progress: Callable[[str], None]) -> None:
        with self._operation("refresh", stack):
            state = self.stacks.get(stack)
            if state is not None:
                state.pending = False
                progress("refresh: cleared pending creates")

    def outputs(self, stack: str) -> dict[str, Any] | None:
        with self._operation("outputs", stack):
            state = self.stacks.get(stack)
            return None if state is None else dict(state.outputs)

    def remove(self, stack: str, *, force: bool = False) -> None:
        with self._operation("remove", stack):
            state = self.stacks.get(stack)
            if state is not None and state.resources and not force:
                raise PermanentDriverError(f"pulumi stack rm: {stack} still has resources")
            self.stacks.pop(stack, None)

    def rename(self, stack: str, new_name: str) -> None:
        with self._operation("rename", stack):
            if stack not in self.stacks:
                raise PermanentDriverError(f"pulumi stack rename: no stack {stack}")
            if new_name in self.stacks:
                raise PermanentDriverError(f"pulumi stack rename: {new_name} already exists")
            self.stacks[new_name] = self.stacks.pop(stack)

    # --- the simulated engine ----------------------------------------------------------------

    def progress_line(self, line: str) -> None:
        if self._progress is not None:
            self._progress(line)

    @contextlib.contextmanager
    def _operation(self, name: str, stack: str) -> Iterator[None]:
        with self._lock:
            self.calls.append((name, stack))
            queued = self._failures.get(name)
            failure = queued.pop(0) if queued else None
            if failure is None:
                self.active[stack] = self.active.get(stack, 0) + 1
                self.max_active[stack] = max(self.max_active.get(stack, 0), self.active[stack])
        if failure is not None:
            raise failure
        try:
            yield
        finally:
            with self._lock:
                self.active[stack] -= 1

    def _run_program(
        self, program: Callable[[], None], state: FakeStack, stack: str
    ) -> dict[str, Any]:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        mocks = _ApplyingMocks(self, state, stack)
        try:
            pulumi.runtime.set_mocks(mocks, project="bureau-desks", stack=stack, preview=False)

            @pulumi.runtime.test  # type: ignore[misc]
            def run() -> None:
                program()

            run()
            root = pulumi.runtime.settings.get_root_resource()
            assert isinstance(root, Stack)
            outputs = {
                name: _reveal(loop.run_until_complete(pulumi.Output.from_input(value).future()))
                for name, value in root.outputs.items()
            }
        finally:
            loop.close()
            asyncio.set_event_loop(None)
        self._delete_missing(state, keep=mocks.seen)
        return outputs

    #: Inputs whose change makes Pulumi replace the resource (delete + create) rather than
    #: update it in place; names, labels and firewall rules are updated in place.
    REPLACING_INPUTS = {
        SERVER: ("serverType", "image", "location"),
        VOLUME: ("location",),
        ATTACHMENT: ("serverId", "volumeId"),
        FIREWALL: (),
    }

    def replaces(self, existing: StackResource, inputs: dict[str, Any]) -> bool:
        keys = self.REPLACING_INPUTS.get(existing.typ, ())
        return any(str(existing.inputs.get(k)) != str(inputs.get(k)) for k in keys)

    def update_in_place(self, existing: StackResource, inputs: dict[str, Any]) -> None:
        """What the provider does for a name/label/rules change: the same Hetzner resource."""
        kind = {SERVER: "servers", VOLUME: "volumes", FIREWALL: "firewalls"}.get(existing.typ)
        if kind is None:
            return
        with self.hetzner.lock:
            resource = getattr(self.hetzner, kind).get(existing.hetzner_id)
            if resource is None:
                return
            if "name" in inputs:
                resource["name"] = inputs["name"]
            if "labels" in inputs:
                resource["labels"] = dict(inputs["labels"])
            if existing.typ == FIREWALL and "rules" in inputs:
                resource["rules"] = _firewall_rules(inputs)

    def delete_resource(self, resource: StackResource) -> None:
        hetzner = self.hetzner
        with hetzner.lock:
            if resource.typ == ATTACHMENT:
                vid = int(resource.inputs["volumeId"])
                if vid in hetzner.volumes and hetzner.volumes[vid]["server"] is not None:
                    hetzner.detach(vid)
            elif resource.typ == SERVER and resource.hetzner_id in hetzner.servers:
                hetzner.delete_server(resource.hetzner_id)
            elif resource.typ == VOLUME:
                hetzner.volumes.pop(resource.hetzner_id, None)
            elif resource.typ == FIREWALL:
                hetzner.firewalls.pop(resource.hetzner_id, None)

    def create(self, typ: str, inputs: dict[str, Any]) -> int:
        hetzner = self.hetzner
        if typ == FIREWALL:
            rules = _firewall_rules(inputs)
            return int(hetzner.add_firewall(inputs["name"], inputs["labels"], rules)["id"])
        if typ == VOLUME:
            return int(
                hetzner.add_volume(
                    inputs["name"], inputs["labels"], int(inputs["size"]), inputs["location"]
                )["id"]
            )
        if typ == SERVER:
            return int(
                hetzner.add_server(
                    inputs["name"],
                    inputs["labels"],
                    server_type=inputs["serverType"],
                    image=inputs["image"],
                    location=inputs["location"],
                    firewall_ids=tuple(int(fid) for fid in inputs.get("firewallIds", [])),
                    user_data=inputs.get("userData"),
                )["id"]
            )
        if typ == ATTACHMENT:
            hetzner.attach(int(inputs["volumeId"]), int(inputs["serverId"]))
            return int(inputs["volumeId"]) * 10
        raise AssertionError(f"the fake engine does not know {typ}")

    def _delete_missing(self, state: FakeStack, keep: set[str]) -> None:
        order = {ATTACHMENT: 0, SERVER: 1, VOLUME: 2, FIREWALL: 3}
        doomed = sorted(
            (name for name in state.resources if name not in keep),
            key=lambda name: order[state.resources[name].typ],
        )
        for name in doomed:
            self.delete_resource(state.resources.pop(name))
            self.progress_line(f"delete {name}: done")


def _firewall_rules(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "direction": rule["direction"],
            "protocol": rule["protocol"],
            "port": rule.get("port"),
            "source_ips": rule.get("sourceIps", []),
            "destination_ips": [],
            "description": rule.get("description"),
        }
        for rule in inputs.get("rules", [])
    ]


_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _reveal(value: Any) -> Any:
    """Inputs with Pulumi's secret wrappers removed (what the provider would receive)."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
            return _reveal(value["value"])
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item) for item in value]
    return value


def non_secret_strings(value: Any) -> list[str]:
    """Every string in ``value`` that is NOT inside a Pulumi secret (stored in clear in state)."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
            return []
        return [text for key, item in value.items() for text in [key, *non_secret_strings(item)]]
    if isinstance(value, list):
        return [text for item in value for text in non_secret_strings(item)]
    return [value] if isinstance(value, str) else []
