"""The desk state machine (DESIGN.md §2): legal transitions only, each one a ``desk_events`` row.

``transition`` is the only code that changes ``Desk.state``. It runs inside the caller's
transaction, so the state and its event commit together; ``Notifier.notify`` after the commit wakes
the SSE streams of this process (other processes' streams find the row on their next poll).
"""

from __future__ import annotations

import asyncio
import threading

from sqlmodel import Session

from orchestrator.models import Desk, DeskEvent, DeskState, utcnow

S = DeskState

#: from -> the states it may move to. ``deleting`` is reachable from everywhere but ``deleted``.
TRANSITIONS: dict[DeskState, frozenset[DeskState]] = {
    S.PENDING: frozenset({S.PROVISIONING, S.FAILED}),
    S.PROVISIONING: frozenset({S.BOOTING, S.FAILED}),
    S.BOOTING: frozenset({S.ENROLLING, S.AWAITING_KEY, S.READY, S.STOPPING, S.FAILED}),
    S.ENROLLING: frozenset({S.READY, S.AWAITING_KEY, S.STOPPING, S.FAILED}),
    S.AWAITING_KEY: frozenset({S.READY, S.STOPPING, S.FAILED}),
    S.READY: frozenset({S.STOPPING, S.AWAITING_KEY, S.FAILED}),
    S.STOPPING: frozenset({S.STOPPED, S.FAILED}),
    S.STOPPED: frozenset({S.STARTING}),
    S.STARTING: frozenset({S.BOOTING, S.FAILED}),
    S.FAILED: frozenset({S.PENDING, S.STARTING}),
    S.DELETING: frozenset({S.DELETED, S.FAILED}),
    S.DELETED: frozenset(),
}
for _state, _targets in list(TRANSITIONS.items()):
    if _state not in (S.DELETING, S.DELETED):
        TRANSITIONS[_state] = _targets | {S.DELETING}

#: States in which something is in progress (a job or the agent is working).
WORKING = frozenset({S.PENDING, S.PROVISIONING, S.BOOTING, S.ENROLLING, S.STOPPING, S.STARTING})
#: States that end an SSE progress watch.
SETTLED = frozenset({S.READY, S.AWAITING_KEY, S.STOPPED, S.FAILED, S.DELETED})


class IllegalTransition(Exception):
    """The desk cannot go to ``target`` from its current state."""

    def __init__(self, current: str, target: str, action: str | None = None) -> None:
        what = action or f"move to {target}"
        super().__init__(f"cannot {what}: the desk is {current}")
        self.current = current
        self.target = target


def can(desk: Desk, target: DeskState) -> bool:
    return target in TRANSITIONS[DeskState(desk.state)]


def transition(
    session: Session,
    desk: Desk,
    target: DeskState,
    message: str = "",
    *,
    reason: str | None = None,
    action: str | None = None,
) -> DeskEvent:
    """Move ``desk`` to ``target`` and add its event (commit is the caller's)."""
    current = DeskState(desk.state)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current.value, target.value, action)
    desk.state = target.value
    desk.reason = reason if target is S.FAILED else None
    desk.updated_at = utcnow()
    event = DeskEvent(
        desk_id=desk.id,
        kind="transition",
        from_state=current.value,
        to_state=target.value,
        message=message or (reason or ""),
    )
    session.add(desk)
    session.add(event)
    return event


def progress(session: Session, desk: Desk, message: str) -> DeskEvent:
    """A driver's step as an event; the state does not change."""
    event = DeskEvent(
        desk_id=desk.id,
        kind="progress",
        from_state=desk.state,
        to_state=desk.state,
        message=message,
    )
    session.add(event)
    return event


class Notifier:
    """Wakes this process's event streams (and idle workers) when something was committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop closed
                with self._lock:
                    self._waiters.discard((loop, event))

    async def wait(self, seconds: float) -> None:
        """Return after a ``notify`` or ``seconds``, whichever comes first."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)
