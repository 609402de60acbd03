"""Owns this process's run tasks: start, continue after tool outputs, cancel, expire, recover.

Runs execute as asyncio tasks in the agent process. Their state lives in SQLite, so a run waiting
for tool outputs survives a restart; a run caught mid-turn by a restart ends ``failed`` with
``last_error.code = "server_error"`` (``recover`` at startup), never stuck ``in_progress``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bureau_agent.api.errors import OpenAIError
from bureau_agent.api.messages import message_text
from bureau_agent.providers.base import Message
from bureau_agent.providers.errors import ProviderError
from bureau_agent.runner import prepare
from bureau_agent.runner.errors import RunFailed, RunIncomplete
from bureau_agent.runner.events import EventBus
from bureau_agent.runner.loop import Turn, load_state, save_state
from bureau_agent.runner.records import MESSAGE, RUN, STEP, RunRecorder
from bureau_agent.runner.state import STATE_KIND, RunState
from bureau_agent.services import Services
from bureau_agent.tools.base import ToolContext

log = logging.getLogger(__name__)
ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
EXPIRY_SWEEP_SECONDS = 5.0
STOPPED = "The agent stopped while this run was in progress."


class RunManager:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.bus = EventBus()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.live: dict[str, dict[str, Any]] = {}
        self.stopping = False
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.recover()
        self._sweeper = asyncio.create_task(self._sweep_expired())

    async def stop(self) -> None:
        """Shutdown: runs caught mid-turn end failed (server_error), as after a crash."""
        self.stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def recover(self) -> None:
        """End the runs a previous process left mid-turn."""
        now = self.services.now()
        for run in await self.services.docs.with_status(RUN, ["queued", "in_progress"]):
            run.update(
                status="failed",
                failed_at=now,
                expires_at=None,
                last_error={
                    "code": "server_error",
                    "message": "The agent restarted while this run was in progress.",
                },
            )
            await self.services.docs.replace(RUN, run)
            await self._close_children(run["id"], "failed")
        for run in await self.services.docs.with_status(RUN, ["cancelling"]):
            run.update(status="cancelled", cancelled_at=now, expires_at=None)
            await self.services.docs.replace(RUN, run)
            await self._close_children(run["id"], "cancelled")

    async def _close_children(self, run_id: str, status: str) -> None:
        now = self.services.now()
        stamp = f"{status}_at"
        for step in await self.services.docs.all_children(STEP, run_id):
            if step["status"] == "in_progress":
                step.update(status=status, **{stamp: now})
                await self.services.docs.replace(STEP, step)
        run = await self.services.docs.get(RUN, run_id)
        if run is None:
            return
        reason = {"failed": "run_failed", "cancelled": "run_cancelled", "expired": "run_expired"}
        for message in await self.services.docs.all_children(MESSAGE, run["thread_id"]):
            if message.get("run_id") == run_id and message["status"] == "in_progress":
                message.update(
                    status="incomplete",
                    incomplete_at=now,
                    incomplete_details={"reason": reason.get(status, "run_failed")},
                )
                await self.services.docs.replace(MESSAGE, message)

    # -- queries -----------------------------------------------------------------------------

    async def active_run(self, thread_id: str) -> dict[str, Any] | None:
        for run in await self.services.docs.with_status(RUN, list(ACTIVE)):
            if run["thread_id"] == thread_id:
                if await self.expire_if_due(run):
                    continue
                return run
        return None

    async def expire_if_due(self, run: dict[str, Any]) -> bool:
        if run["status"] != "requires_action" or run.get("expires_at") is None:
            return False
        if self.services.now() < run["expires_at"]:
            return False
        recorder = RunRecorder(self.services, self.bus, run)
        await recorder.update_run("thread.run.expired", status="expired", required_action=None)
        await self._close_children(run["id"], "expired")
        self.bus.close(run["id"])
        return True

    async def _sweep_expired(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_SECONDS)
            try:
                for run in await self.services.docs.with_status(RUN, ["requires_action"]):
                    await self.expire_if_due(run)
            except Exception:
                log.exception("expiry sweep failed")

    # -- starting and continuing -------------------------------------------------------------

    def launch(self, run: dict[str, Any], state: RunState | None) -> None:
        task = asyncio.create_task(self._execute(run, state), name=f"run-{run['id']}")
        self.tasks[run["id"]] = task
        self.live[run["id"]] = run
        task.add_done_callback(lambda _: self._forget(run["id"]))

    def _forget(self, run_id: str) -> None:
        self.tasks.pop(run_id, None)
        self.live.pop(run_id, None)

    async def modify(self, run: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
        """Change a run's metadata (also in the running task's copy, which it writes back)."""
        live = self.live.get(run["id"])
        if live is not None:
            live["metadata"] = metadata
        run["metadata"] = metadata
        updated = await self.services.docs.update(
            RUN, run["id"], lambda d: d.update(metadata=metadata)
        )
        return updated or run

    async def continue_with_outputs(
        self, run: dict[str, Any], outputs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        state = await load_state(self.services, run["id"])
        if state is None:
            raise OpenAIError(400, "This run has no pending tool calls.", param="run_id")
        expected = {c.id for c in state.pending_calls}
        given = {}
        for i, item in enumerate(outputs):
            call_id = item.get("tool_call_id")
            if call_id not in expected:
                raise OpenAIError(
                    400,
                    f"No tool call found with id '{call_id}' awaiting output.",
                    param=f"tool_outputs[{i}].tool_call_id",
                )
            given[call_id] = item.get("output") or ""
        missing = expected - set(given)
        if missing:
            raise OpenAIError(
                400,
                "Expected tool outputs for call_ids "
                + str(sorted(expected))
                + f", got {sorted(given)}; missing {sorted(missing)}.",
                param="tool_outputs",
            )
        recorder = RunRecorder(self.services, self.bus, run)
        step = await self.services.docs.get(STEP, state.pending_step_id or "")
        if step is not None:
            for entry in step["step_details"]["tool_calls"]:
                if entry["id"] in given and entry.get("type") == "function":
                    entry["function"]["output"] = given[entry["id"]]
        await recorder.update_run("thread.run.queued", status="queued", required_action=None)
        if step is not None:
            await recorder.finish_step(step, "completed")
        results = dict(state.answered)
        results.update(given)
        last = next(m for m in reversed(state.messages) if m.tool_calls)
        for call in last.tool_calls:
            state.messages.append(
                Message(role="tool", content=results.get(call.id, ""), tool_call_id=call.id)
            )
        state.pending_calls, state.pending_step_id, state.answered = [], None, {}
        self.launch(run, state)
        return run

    async def _initial_state(self, run: dict[str, Any]) -> RunState:
        thread_messages = await self.services.docs.all_children(MESSAGE, run["thread_id"])
        strategy = run.get("truncation_strategy") or {}
        last_n = strategy.get("last_messages") if strategy.get("type") == "last_messages" else None
        messages = prepare.thread_messages(thread_messages, last_n)
        user_text = next(
            (message_text(m) for m in reversed(thread_messages) if m["role"] == "user"), ""
        )
        memory: list[str] = []
        for hook in self.services.hooks:
            try:
                memory += await hook.before_run(run["thread_id"], user_text)
            except Exception:
                log.exception("memory hook before_run failed")
        instructions = prepare.build_instructions(run.get("instructions") or "", None, memory)
        return RunState(
            run_id=run["id"],
            model=run["model"],
            instructions=instructions,
            messages=messages,
            user_text=user_text,
        )

    async def tool_context(self, run: dict[str, Any]) -> ToolContext:
        sandbox = self.services.sandbox
        assert sandbox is not None
        resources: dict[str, Any] = {}
        assistant = await self.services.docs.get("assistant", run["assistant_id"])
        thread = await self.services.docs.get("thread", run["thread_id"])
        for source in (assistant, thread):
            resources.update((source or {}).get("tool_resources") or {})
        attached = []
        for message in await self.services.docs.all_children(MESSAGE, run["thread_id"]):
            for a in message.get("attachments") or []:
                if any(t.get("type") == "code_interpreter" for t in a.get("tools") or []):
                    attached.append(a["file_id"])
        if attached:
            ci = dict(resources.get("code_interpreter") or {})
            ci["file_ids"] = list(dict.fromkeys([*(ci.get("file_ids") or []), *attached]))
            resources["code_interpreter"] = ci
        return ToolContext(
            run_id=run["id"],
            thread_id=run["thread_id"],
            assistant_id=run["assistant_id"],
            workspace=sandbox.workspace,
            env=sandbox.env(),
            tool_user=sandbox.user,
            timeout_seconds=self.services.config.tool_timeout_seconds,
            output_limit=self.services.config.tool_output_limit,
            tool_resources=resources,
            tool_config={},
            files=self.services.files,
        )

    async def _execute(self, run: dict[str, Any], state: RunState | None) -> None:
        recorder = RunRecorder(self.services, self.bus, run)
        try:
            provider = self.services.credentials.provider
            if provider is None:
                raise RunFailed(
                    "invalid_api_key",
                    "No provider key is configured on this desk (awaiting key).",
                )
            if state is None:
                state = await self._initial_state(run)
            await recorder.update_run(
                "thread.run.in_progress",
                status="in_progress",
                started_at=run.get("started_at") or self.services.now(),
            )
            turn = Turn(self.services, recorder, state, provider, await self.tool_context(run))
            answer = await turn.drive()
            if run["status"] == "requires_action":
                return
            await self._finish(recorder, state, "completed")
            for hook in self.services.hooks:
                try:
                    await hook.after_run(run["thread_id"], state.user_text, answer)
                except Exception:
                    log.exception("memory hook after_run failed")
        except asyncio.CancelledError:
            if self.stopping:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._fail(recorder, state, "server_error", STOPPED))
            else:
                await self._cancelled(recorder)
            raise
        except RunIncomplete as exc:
            await self._finish(
                recorder, state, "incomplete", incomplete_details={"reason": exc.reason}
            )
        except RunFailed as exc:
            await self._fail(recorder, state, exc.code, exc.message)
        except ProviderError as exc:
            await self._fail(recorder, state, exc.code, exc.message)
        except Exception as exc:
            log.exception("run %s failed", run["id"])
            await self._fail(
                recorder, state, "server_error", f"Internal error: {type(exc).__name__}"
            )
        finally:
            self.bus.close(run["id"])

    def _usage(self, state: RunState | None) -> dict[str, int] | None:
        if state is None:
            return None
        return {
            "prompt_tokens": state.prompt_tokens,
            "completion_tokens": state.completion_tokens,
            "total_tokens": state.prompt_tokens + state.completion_tokens,
        }

    async def _finish(
        self, recorder: RunRecorder, state: RunState | None, status: str, **changes: Any
    ) -> None:
        now = self.services.now()
        stamp = {"completed": "completed_at", "incomplete": "completed_at"}
        changes[stamp[status]] = now
        await self._close_children(recorder.run_id, "failed" if status != "completed" else status)
        await recorder.update_run(
            f"thread.run.{status}", status=status, usage=self._usage(state), **changes
        )
        await self.services.docs.delete(STATE_KIND, "state_" + recorder.run_id)

    async def _fail(
        self, recorder: RunRecorder, state: RunState | None, code: str, message: str
    ) -> None:
        await self._close_children(recorder.run_id, "failed")
        await recorder.update_run(
            "thread.run.failed",
            status="failed",
            failed_at=self.services.now(),
            last_error={"code": code, "message": message},
            usage=self._usage(state),
        )

    async def _cancelled(self, recorder: RunRecorder) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self._mark_cancelled(recorder))

    async def _mark_cancelled(self, recorder: RunRecorder) -> None:
        await self._close_children(recorder.run_id, "cancelled")
        await recorder.update_run(
            "thread.run.cancelled", status="cancelled", cancelled_at=self.services.now()
        )

    # -- cancel ------------------------------------------------------------------------------

    async def cancel(self, run: dict[str, Any]) -> dict[str, Any]:
        if run["status"] not in ACTIVE:
            raise OpenAIError(
                400, f"Cannot cancel run with status '{run['status']}'.", param="run_id"
            )
        recorder = RunRecorder(self.services, self.bus, run)
        task = self.tasks.get(run["id"])
        if task is not None and not task.done():
            await recorder.update_run("thread.run.cancelling", status="cancelling")
            snapshot = dict(run)
            task.cancel()
            return snapshot
        await self._mark_cancelled(recorder)
        self.bus.close(run["id"])
        return run

    async def cancel_thread(self, thread_id: str) -> None:
        run = await self.active_run(thread_id)
        if run is not None:
            await self.cancel(run)

    async def save(self, state: RunState) -> None:
        await save_state(self.services, state)
