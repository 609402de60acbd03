"""The turn loop: call the model, run the tools it asks for, feed the results back, repeat.

One ``drive`` call advances a run until it ends (completed, incomplete, failed) or needs the
client (requires_action: the state is saved and ``drive`` returns). ``RunEnded`` subclasses and
provider errors end a run; the manager turns them into the run's final status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bureau_agent.credentials import ProviderSettings
from bureau_agent.providers.base import (
    Completed,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from bureau_agent.providers.errors import ContextLengthExceeded
from bureau_agent.runner import prepare
from bureau_agent.runner.errors import RunFailed, RunIncomplete
from bureau_agent.runner.execute import CallOutcome, invoke_all, placeholder
from bureau_agent.runner.records import RunRecorder
from bureau_agent.runner.resolve import citation_annotations, format_problem
from bureau_agent.runner.state import STATE_KIND, RunState
from bureau_agent.services import Services
from bureau_agent.tools.base import Tool, ToolContext

log = logging.getLogger(__name__)
CAP_NOTE = "Error: the tool call limit of this run was reached; this call was not executed."


@dataclass
class TurnTools:
    builtin: dict[str, Tool]
    functions: dict[str, dict[str, Any]]
    specs: list[ToolSpec] = field(default_factory=list)


def turn_tools(services: Services, run: dict[str, Any]) -> TurnTools:
    builtin = {t.name: t for t in services.tools.for_run(run["tools"])}
    functions = {
        t["function"]["name"]: t["function"] for t in run["tools"] if t["type"] == "function"
    }
    specs = [ToolSpec(t.name, t.description, t.parameters) for t in builtin.values()]
    specs += [
        ToolSpec(f["name"], f.get("description") or "", f["parameters"], bool(f.get("strict")))
        for f in functions.values()
        if f["name"] not in builtin
    ]
    return TurnTools(builtin, functions, specs)


def tool_choice(run: dict[str, Any]) -> str:
    choice = run.get("tool_choice") or "auto"
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function":
        return str(choice["function"]["name"])
    return str(choice.get("type", "auto"))


class Turn:
    """One run's loop over model turns."""

    def __init__(
        self,
        services: Services,
        recorder: RunRecorder,
        state: RunState,
        provider: ProviderSettings,
        context: ToolContext,
    ) -> None:
        self.services = services
        self.rec = recorder
        self.state = state
        self.provider = provider
        self.context = context
        self.model = services.model_factory(provider)
        self.tools = turn_tools(services, recorder.run)
        self.format_retried = False

    @property
    def run(self) -> dict[str, Any]:
        return self.rec.run

    async def drive(self) -> str:
        """Advance until the run ends or requires action; returns the final answer text."""
        while True:
            capped = self.state.tool_calls_used >= self.provider.max_tool_calls
            response, message = await self.call_model(capped)
            if response.tool_calls:
                if capped:
                    if message is not None:
                        await self.close_message(message, response.text)
                    raise RunIncomplete("max_tool_calls")
                if message is not None:
                    await self.close_message(message, response.text)
                if await self.handle_tool_calls(response):
                    return ""
                continue
            answer = await self.finish_answer(response, message)
            if answer is not None:
                return answer

    # -- model call ---------------------------------------------------------------------------

    def settings(self, capped: bool) -> ModelSettings:
        run = self.run
        budget = None
        if run.get("max_completion_tokens"):
            budget = int(run["max_completion_tokens"]) - self.state.completion_tokens
            if budget <= 0:
                raise RunIncomplete("max_completion_tokens")
        fmt = run.get("response_format")
        return ModelSettings(
            temperature=run.get("temperature"),
            top_p=run.get("top_p"),
            max_tokens=budget,
            tool_choice="none" if capped else tool_choice(run),
            parallel_tool_calls=bool(run.get("parallel_tool_calls", True)),
            response_format=fmt if isinstance(fmt, dict) and fmt.get("type") != "text" else None,
        )

    def messages_for_call(self) -> list[Message]:
        limit = self.run.get("max_prompt_tokens")
        if not limit:
            return self.state.messages
        fitted = prepare.fit_to_tokens(self.state.instructions, self.state.messages, int(limit))
        if fitted is None:
            raise RunIncomplete("max_prompt_tokens")
        return fitted

    async def call_model(self, capped: bool) -> tuple[ModelResponse, dict[str, Any] | None]:
        settings = self.settings(capped)
        while True:
            request = ModelRequest(
                model=self.state.model,
                instructions=self.state.instructions,
                messages=self.messages_for_call(),
                tools=self.tools.specs,
                settings=settings,
            )
            message: dict[str, Any] | None = None
            try:
                response: ModelResponse | None = None
                async for event in self.model.stream(request):
                    if isinstance(event, TextDelta):
                        if message is None:
                            message = await self.open_message()
                        self.rec.message_delta(message["id"], event.text)
                    elif isinstance(event, Completed):
                        response = event.response
            except ContextLengthExceeded as exc:
                if message is not None:
                    raise
                self.shrink_context(exc)
                continue
            if response is None:
                raise RunFailed("server_error", "the provider stream ended without a response")
            self.state.prompt_tokens += response.usage.prompt_tokens
            self.state.completion_tokens += response.usage.completion_tokens
            self.last_usage = response.usage
            return response, message

    def shrink_context(self, exc: ContextLengthExceeded) -> None:
        longer = self.provider.longer_context_model
        if longer and self.state.model != longer:
            log.info("run %s: context limit, retrying with %s", self.rec.run_id, longer)
            self.state.model = longer
            return
        if not self.state.truncated:
            shorter = prepare.drop_oldest(self.state.messages)
            if len(shorter) < len(self.state.messages):
                self.state.truncated = True
                self.state.messages = shorter
                return
        raise RunFailed(
            "context_length_exceeded",
            "The conversation does not fit the model's context window"
            + (f" (nor {longer}'s)" if longer else "")
            + f" even after truncation: {exc.message}. Start a new thread or set "
            "ASSISTANT_LONGER_CONTEXT_MODEL.",
        )

    # -- messages -----------------------------------------------------------------------------

    async def open_message(self) -> dict[str, Any]:
        message = await self.rec.new_message()
        details = {"type": "message_creation", "message_creation": {"message_id": message["id"]}}
        self.message_step = await self.rec.new_step("message_creation", details)
        return message

    def usage(self) -> dict[str, int]:
        u = getattr(self, "last_usage", None)
        if u is None:
            return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return {
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
        }

    async def close_message(
        self, message: dict[str, Any], text: str, incomplete: str | None = None
    ) -> dict[str, Any]:
        annotations = citation_annotations(text, self.state.citations)
        message = await self.rec.finish_message(
            message, text, annotations, incomplete_reason=incomplete
        )
        await self.rec.finish_step(self.message_step, "completed", usage=self.usage())
        return message

    async def finish_answer(
        self, response: ModelResponse, message: dict[str, Any] | None
    ) -> str | None:
        """Close the final message; None when the answer is retried (bad JSON format)."""
        text = response.text
        if message is None:
            message = await self.open_message()
        if response.finish_reason == "length":
            await self.close_message(message, text, incomplete="max_tokens")
            raise RunIncomplete("max_completion_tokens")
        problem = format_problem(text, self.run.get("response_format"))
        if problem is None:
            await self.close_message(message, text)
            return text
        await self.services.docs.delete("thread.message", message["id"])
        await self.rec.finish_step(
            self.message_step,
            "failed",
            last_error={"code": "server_error", "message": f"invalid response format: {problem}"},
        )
        if self.format_retried:
            raise RunFailed(
                "invalid_response_format", f"The model's final answer was rejected: {problem}."
            )
        self.format_retried = True
        self.state.messages += [
            Message(role="assistant", content=text),
            Message(
                role="user",
                content=f"Your answer was rejected: {problem}. Answer again with only the JSON.",
            ),
        ]
        return None

    # -- tools --------------------------------------------------------------------------------

    async def handle_tool_calls(self, response: ModelResponse) -> bool:
        """Run the built-ins; True when user functions now wait for the client."""
        calls = response.tool_calls
        remaining = self.provider.max_tool_calls - self.state.tool_calls_used
        allowed, refused = calls[:remaining], calls[remaining:]
        self.state.tool_calls_used += len(allowed)
        self.state.messages.append(
            Message(role="assistant", content=response.text, tool_calls=calls)
        )
        functions = [
            c
            for c in allowed
            if c.name in self.tools.functions and c.name not in self.tools.builtin
        ]
        ours = [c for c in allowed if c not in functions]
        details = {
            "type": "tool_calls",
            "tool_calls": [placeholder(c, self.tools.builtin.get(c.name)) for c in allowed],
        }
        step = await self.rec.new_step("tool_calls", details)
        outcomes = await invoke_all(
            [(c, self.tools.builtin.get(c.name)) for c in ours],
            self.context,
            bool(self.run.get("parallel_tool_calls", True)),
            self.run["tools"],
        )
        self.record_outcomes(step, outcomes)
        results = {o.call.id: o.output for o in outcomes}
        results.update({c.id: CAP_NOTE for c in refused})
        if functions:
            step["usage"] = self.usage()
            await self.services.docs.replace("thread.run.step", step)
            await self.await_client(step, functions, results)
            return True
        await self.rec.finish_step(step, "completed", usage=self.usage())
        self.append_results(calls, results)
        return False

    def record_outcomes(self, step: dict[str, Any], outcomes: list[CallOutcome]) -> None:
        entries = {e["id"]: i for i, e in enumerate(step["step_details"]["tool_calls"])}
        for outcome in outcomes:
            index = entries[outcome.call.id]
            step["step_details"]["tool_calls"][index] = outcome.details
            self.state.citations.update(outcome.citations)
            self.rec.step_delta(
                step["id"],
                {"type": "tool_calls", "tool_calls": [{"index": index, **outcome.details}]},
            )

    def append_results(self, calls: list[ToolCall], results: dict[str, str]) -> None:
        for call in calls:
            output = results.get(call.id, "Error: no output was submitted for this call.")
            self.state.messages.append(Message(role="tool", content=output, tool_call_id=call.id))

    async def await_client(
        self, step: dict[str, Any], functions: list[ToolCall], results: dict[str, str]
    ) -> None:
        self.state.pending_step_id = step["id"]
        self.state.pending_calls = functions
        self.state.answered = results
        await save_state(self.services, self.state)
        now = self.services.now()
        required = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in functions
                ]
            },
        }
        await self.rec.update_run(
            "thread.run.requires_action",
            status="requires_action",
            required_action=required,
            expires_at=now + self.services.config.run_expiry_seconds,
        )


async def save_state(services: Services, state: RunState) -> None:
    doc = state.to_doc()
    if await services.docs.get(STATE_KIND, doc["id"]) is None:
        await services.docs.insert(STATE_KIND, doc, parent=state.run_id)
    else:
        await services.docs.replace(STATE_KIND, doc)


async def load_state(services: Services, run_id: str) -> RunState | None:
    doc = await services.docs.get(STATE_KIND, "state_" + run_id)
    return RunState.from_doc(doc) if doc else None
