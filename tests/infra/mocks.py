"""Pulumi mocks that record every resource the program registers (no CLI, no engine)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import Stack

from infra import DeskInfraConfig, DeskResources, build_desk

SERVER = "hcloud:index/server:Server"
VOLUME = "hcloud:index/volume:Volume"
FIREWALL = "hcloud:index/firewall:Firewall"
ATTACHMENT = "hcloud:index/volumeAttachment:VolumeAttachment"


SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


@dataclass(frozen=True)
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Options:
    ignore_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    depends_on: tuple[str, ...]


class RecordingMonitor(MockMonitor):  # type: ignore[misc]
    """Also records each resource's options (the plain mocks drop them)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.options: dict[str, Options] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.options[request.name] = Options(
            tuple(request.ignoreChanges),
            tuple(request.additionalSecretOutputs),
            tuple(request.dependencies),
        )
        return super().RegisterResource(request)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[Registered] = []
        self.monitor: RecordingMonitor | None = None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(Registered(args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        if args.typ == SERVER:
            outputs.update(ipv4Address="203.0.113.10", ipv6Address="2001:db8::1")
        return str(1000 + len(self.registered)), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []

    def of_type(self, typ: str) -> list[Registered]:
        return [entry for entry in self.registered if entry.typ == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"{typ}: {len(found)} registered"
        return found[0]


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    """Fresh mocks and a fresh event loop per test (Pulumi's runtime keeps global settings)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recording = RecordingMocks()
    recording.monitor = RecordingMonitor(recording)
    pulumi.runtime.set_mocks(
        recording,
        project="bureau-desks",
        stack="desk-test",
        preview=False,
        monitor=recording.monitor,
    )
    try:
        yield recording
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def deploy(config: DeskInfraConfig) -> DeskResources:
    """Run the program under the mocks until every resource is registered."""
    built: list[DeskResources] = []

    @pulumi.runtime.test  # type: ignore[misc]
    def run() -> pulumi.Output[Any]:
        resources = build_desk(config)
        built.append(resources)
        members = (resources.firewall, resources.volume, resources.server, resources.attachment)
        return pulumi.Output.all(*[member.urn for member in members if member is not None])

    run()
    return built[0]


def run_program(program: Callable[[], None]) -> None:
    """Run an inline program under the mocks until its resources are registered."""

    @pulumi.runtime.test  # type: ignore[misc]
    def run() -> None:
        program()

    run()


def resolve(output: pulumi.Output[Any]) -> tuple[Any, bool]:
    """An output's value and whether it is secret (after ``deploy``)."""
    loop = asyncio.get_event_loop()
    value = loop.run_until_complete(output.future())
    secret = loop.run_until_complete(output.is_secret())
    return value, bool(secret)


def stack_exports() -> dict[str, Any]:
    """What the program exported (``pulumi.export``), resolved."""
    root = pulumi.runtime.settings.get_root_resource()
    assert isinstance(root, Stack)
    loop = asyncio.get_event_loop()
    return {
        name: loop.run_until_complete(pulumi.Output.from_input(value).future())
        for name, value in root.outputs.items()
    }


def unwrap_secrets(value: Any) -> tuple[Any, list[Any]]:
    """Split registered inputs into (inputs with secrets replaced by "[secret]", secret values)."""
    secrets: list[Any] = []

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            if item.get(SECRET_SIG_KEY) == SECRET_SIG:
                secrets.append(item["value"])
                return "[secret]"
            return {key: walk(val) for key, val in item.items()}
        if isinstance(item, list):
            return [walk(val) for val in item]
        return item

    return walk(value), secrets
