"""Writes a run's objects (run, steps, messages) and emits the matching stream events."""

from __future__ import annotations

from typing import Any

from bureau_agent.api.messages import new_message, text_part
from bureau_agent.ids import new_id
from bureau_agent.runner.events import EventBus
from bureau_agent.services import Services

RUN = "thread.run"
STEP = "thread.run.step"
MESSAGE = "thread.message"
ENDED = {"completed", "failed", "cancelled", "incomplete"}


class RunRecorder:
    """The run document plus everything the loop creates under it, and their events."""

    def __init__(self, services: Services, bus: EventBus, run: dict[str, Any]) -> None:
        self.services = services
        self.bus = bus
        self.run = run

    @property
    def run_id(self) -> str:
        return str(self.run["id"])

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self.bus.emit(self.run_id, event, data)

    async def update_run(self, event: str | None = None, **changes: Any) -> dict[str, Any]:
        self.run.update(changes)
        if changes.get("status") in ENDED:
            self.run["expires_at"] = None  # as OpenAI: only live runs expire
        self.services.docs.replace_later(RUN, self.run)
        if event:
            self.emit(event, dict(self.run))
        return self.run

    async def new_step(self, kind: str, details: dict[str, Any]) -> dict[str, Any]:
        step = {
            "id": new_id("step"),
            "object": "thread.run.step",
            "created_at": self.services.now(),
            "run_id": self.run_id,
            "assistant_id": self.run["assistant_id"],
            "thread_id": self.run["thread_id"],
            "type": kind,
            "status": "in_progress",
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "step_details": details,
            "usage": None,
            "metadata": {},
        }
        self.services.docs.insert_later(STEP, step, parent=self.run_id)
        self.emit("thread.run.step.created", step)
        self.emit("thread.run.step.in_progress", step)
        return step

    def step_delta(self, step_id: str, details: dict[str, Any]) -> None:
        if self.bus.has_subscribers(self.run_id):
            body = {
                "id": step_id,
                "object": "thread.run.step.delta",
                "delta": {"step_details": details},
            }
            self.emit("thread.run.step.delta", body)

    async def finish_step(
        self, step: dict[str, Any], status: str, **changes: Any
    ) -> dict[str, Any]:
        now = self.services.now()
        stamp = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"}
        step.update(changes)
        step["status"] = status
        if status in stamp:
            step[stamp[status]] = now
        if status == "expired":
            step["expired_at"] = now
        self.services.docs.replace_later(STEP, step)
        self.emit(f"thread.run.step.{status}", step)
        return step

    async def new_message(self) -> dict[str, Any]:
        message = new_message(
            self.services,
            self.run["thread_id"],
            role="assistant",
            content=[],
            status="in_progress",
            assistant_id=self.run["assistant_id"],
            run_id=self.run_id,
        )
        self.services.docs.insert_later(
            MESSAGE, message, parent=self.run["thread_id"], run_id=self.run_id
        )
        self.emit("thread.message.created", message)
        self.emit("thread.message.in_progress", message)
        return message

    def message_delta(self, message_id: str, text: str) -> None:
        if self.bus.has_subscribers(self.run_id):
            part = {"index": 0, "type": "text", "text": {"value": text, "annotations": []}}
            body = {
                "id": message_id,
                "object": "thread.message.delta",
                "delta": {"content": [part]},
            }
            self.emit("thread.message.delta", body)

    async def finish_message(
        self,
        message: dict[str, Any],
        text: str,
        annotations: list[dict[str, Any]],
        *,
        incomplete_reason: str | None = None,
    ) -> dict[str, Any]:
        now = self.services.now()
        message["content"] = [text_part(text, annotations)]
        if incomplete_reason:
            message.update(
                status="incomplete",
                incomplete_at=now,
                incomplete_details={"reason": incomplete_reason},
            )
        else:
            message.update(status="completed", completed_at=now)
        self.services.docs.replace_later(MESSAGE, message)
        event = "incomplete" if incomplete_reason else "completed"
        self.emit(f"thread.message.{event}", message)
        return message
