"""The health wait that marks a desk ready reacts to the stored agent address (issue 9).

A pooled desk enrolls while its provision job is still running, so the verify job starts before
the machine's address is stored. It must probe as soon as that commit notifies this process, not
a poll interval later: here the notifier wakes only on ``notify`` (never on its timeout), so the
desk becomes ready only if the wait listens to it. Real database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestrator.desks import Desks
from orchestrator.drivers.scripted import ScriptedDriver
from orchestrator.jobs.handlers import wait_healthy
from orchestrator.lifecycle import Notifier, transition
from orchestrator.models import Desk, DeskCreate, DeskState, User
from orchestrator.protocol import Health
from orchestrator.runtime import Runtime, build_runtime
from tests.orchestrator.conftest import make_settings

S = DeskState
AGENT_URL = "https://127.0.0.1:7443"


class WakesOnlyOnNotify(Notifier):
    """A notifier whose waits never time out: only ``notify`` ends them."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    async def wait(self, seconds: float) -> None:
        self.waits += 1
        await super().wait(3600)


class HealthyAgents:
    def __init__(self) -> None:
        self.probed: list[str] = []

    async def health(self, desk_id: str, agent_url: str) -> Health:
        self.probed.append(agent_url)
        return Health(desk_id=desk_id, agent_version="test", status="ok")


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    rt = build_runtime(make_settings(tmp_path / "data", database_url, 1), driver=ScriptedDriver())
    yield rt
    rt.close_sync()


def _booting_desk(rt: Runtime) -> str:
    with rt.db.session() as session:
        user = User(name="ready-signal")
        session.add(user)
        session.commit()
        key = SecretStr("sk-x" * 8)
        body = DeskCreate(name="pooled", provider="openai", api_key=key, model="m")
        desk = Desks(session, user, rt.escrow, "scripted").create(body)
        transition(session, desk, S.PROVISIONING, "provisioning")
        transition(session, desk, S.BOOTING, "the agent enrolled")
        session.add(desk)
        session.commit()
        return desk.id


def _store_address(rt: Runtime, desk_id: str) -> None:
    with rt.db.session() as session:
        desk = session.get(Desk, desk_id)
        assert desk is not None
        desk.agent_url = AGENT_URL
        session.add(desk)
        session.commit()
    rt.notifier.notify()


def test_the_ready_wait_probes_when_the_agent_address_is_stored(runtime: Runtime) -> None:
    notifier = WakesOnlyOnNotify()
    agents = HealthyAgents()
    runtime.notifier = notifier
    runtime.agents = agents  # type: ignore[assignment]
    desk_id = _booting_desk(runtime)

    async def scenario() -> None:
        waiting = asyncio.create_task(wait_healthy(runtime, desk_id, (S.BOOTING,)))
        while notifier.waits == 0:  # no address yet: the wait listens to the notifier
            assert not waiting.done()
            await asyncio.sleep(0.01)
        assert agents.probed == []
        await asyncio.to_thread(_store_address, runtime, desk_id)
        await asyncio.wait_for(waiting, 60)

    asyncio.run(asyncio.wait_for(scenario(), 120))
    assert agents.probed == [AGENT_URL]
    with runtime.db.read_session() as session:
        desk = session.get(Desk, desk_id)
        assert desk is not None and desk.state == S.READY.value
