"""Anthropic's ``POST /v1/messages`` (and ``/v1/messages/count_tokens``) for the fake provider."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.provider_errors import RequestError, anthropic_error, anthropic_error_body
from tests.fakes.provider_replies import Error, Reply
from tests.fakes.provider_script import (
    Answer,
    Conversation,
    count_prompt_tokens,
    new_id,
    plan,
    split_chunks,
    split_json,
)

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise RequestError(400, f"{where}.content: Input should be a valid list")
    return content


def _block_text(blocks: list[dict[str, Any]]) -> str:
    return "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    return content if isinstance(content, str) else _block_text(_blocks(content, "tool_result"))


def _check_messages(messages: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """Refuse what Anthropic refuses: bad roles, tool results without their tool use and back."""
    if not isinstance(messages, list):
        raise RequestError(400, "messages: Field required")
    checked: list[tuple[str, list[dict[str, Any]]]] = []
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant"):
            raise RequestError(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(msg.get("content"), f"messages.{i}")
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            raise RequestError(
                400,
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message",
            )
        results = {str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"}
        if results - pending:
            raise RequestError(
                400,
                f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(sorted(results - pending))}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message.",
            )
        if pending - results:
            raise RequestError(
                400,
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(sorted(pending - results))}. Each `tool_use` block "
                "must have a corresponding `tool_result` block in the next message.",
            )
        pending = {str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
        checked.append((role, blocks))
    return checked


def _tool_choice(conv: Conversation, choice: Any) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise RequestError(400, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if kind == "tool":
        if choice.get("name") not in conv.tools:
            raise RequestError(400, f"tool_choice: Tool '{choice.get('name')}' not found in tools")
        conv.tool_choice, conv.forced_tool = "named", choice["name"]
    else:
        conv.tool_choice = "required" if kind == "any" else str(kind)
    conv.parallel = not choice.get("disable_parallel_tool_use", False)


def _check_tools(tools: Any) -> list[dict[str, Any]]:
    """Client tools need a name matching Anthropic's pattern and an input_schema."""
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise RequestError(400, "tools: Input should be a valid list")
    for i, tool in enumerate(tools):
        if not isinstance(tool.get("name"), str) or not TOOL_NAME.fullmatch(tool["name"]):
            raise RequestError(
                400,
                f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'",
            )
        if tool.get("type", "custom") == "custom" and not isinstance(
            tool.get("input_schema"), dict
        ):
            raise RequestError(400, f"tools.{i}.custom.input_schema: Field required")
    return tools


def conversation(body: dict[str, Any]) -> Conversation:
    """Validate a messages body and extract what the answer depends on."""
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise RequestError(400, f"{name}: Field required")
    model, max_tokens = body["model"], body["max_tokens"]
    if not isinstance(model, str) or not model:
        raise RequestError(400, "model: Input should be a valid string")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestError(400, "max_tokens: Input should be greater than or equal to 1")
    messages = _check_messages(body["messages"])
    tools = _check_tools(body.get("tools") or [])
    conv = Conversation(model=model, tools=[str(t["name"]) for t in tools], max_tokens=max_tokens)
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise RequestError(400, "stop_sequences: Input should be a valid list of strings")
    conv.stop = stops
    _tool_choice(conv, body.get("tool_choice"))
    user_texts = [_block_text(b) for role, b in messages if role == "user" and _block_text(b)]
    conv.last_user_text = user_texts[-1] if user_texts else ""
    if messages:
        role, blocks = messages[-1]
        results = [b for b in blocks if b.get("type") == "tool_result"]
        conv.last_role = "tool" if role == "user" and results else role
        if results:
            names = {
                str(b.get("id")): str(b.get("name"))
                for _, bs in messages
                for b in bs
                if b.get("type") == "tool_use"
            }
            conv.tool_results = [
                (names.get(str(b.get("tool_use_id")), "unknown"), _result_text(b)) for b in results
            ]
    conv.prompt_tokens = count_prompt_tokens(body["messages"], body.get("system"), tools)
    return conv


def _content(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.text:
        blocks.append({"type": "text", "text": answer.text})
    for call in answer.calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments_dict()}
        )
    return blocks


def _usage(conv: Conversation, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": conv.prompt_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def _message(conv: Conversation, answer: Answer | None) -> dict[str, Any]:
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": conv.model,
        "content": _content(answer) if answer else [],
        "stop_reason": STOP_REASONS.get(answer.finish, answer.finish) if answer else None,
        "stop_sequence": answer.stop_sequence if answer else None,
        "usage": _usage(conv, answer.completion_tokens if answer else 1),
    }


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _block_events(answer: Answer) -> list[dict[str, Any]]:
    """Every content block's start, deltas and stop, with a ping after the first start."""
    events: list[dict[str, Any]] = []
    for index, block in enumerate(_content(answer)):
        start = {**block, "text": ""} if block["type"] == "text" else {**block, "input": {}}
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        if index == 0:
            events.append({"type": "ping"})
        if block["type"] == "text":
            deltas = [
                {"type": "text_delta", "text": p}
                for p in split_chunks(block["text"], answer.chunks)
            ]
        else:
            text = json.dumps(block["input"]) if block["input"] else ""
            pieces = split_json(text) if text else [""]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    return events


async def message_stream(conv: Conversation, answer: Answer) -> AsyncIterator[bytes]:
    """Anthropic's order: message_start, blocks (ping after the first), message_delta, stop."""
    yield _event({"type": "message_start", "message": _message(conv, None)})
    for i, event in enumerate(_block_events(answer)):
        if i and answer.chunk_delay and event["type"] == "content_block_delta":
            await asyncio.sleep(answer.chunk_delay)
        if event["type"] == "content_block_stop" and answer.stream_error is not None:
            yield _event(anthropic_error_body(answer.stream_error))
            return
        yield _event(event)
    stop = STOP_REASONS.get(answer.finish, answer.finish)
    yield _event(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": answer.stop_sequence},
            "usage": {"output_tokens": answer.completion_tokens},
        }
    )
    yield _event({"type": "message_stop"})


async def messages(
    body: dict[str, Any], next_reply: Callable[[Conversation], Reply | None]
) -> Response:
    """Answer one messages request (validated first, then the script is consumed)."""
    try:
        conv = conversation(body)
    except RequestError as exc:
        return anthropic_error(Error(exc.status, exc.message))
    answer = plan(conv, next_reply(conv), "toolu_")
    if answer.delay:
        await asyncio.sleep(answer.delay)
    if isinstance(answer, Error):
        return anthropic_error(answer)
    if answer.stream_error is not None and not body.get("stream"):
        return anthropic_error(answer.stream_error)
    if body.get("stream"):
        return StreamingResponse(message_stream(conv, answer), media_type="text/event-stream")
    return JSONResponse(_message(conv, answer))


def count_tokens(body: dict[str, Any]) -> Response:
    """``POST /v1/messages/count_tokens``: the same count the messages usage reports."""
    try:
        conv = conversation({"max_tokens": 1, **body})
    except RequestError as exc:
        return anthropic_error(Error(exc.status, exc.message))
    return JSONResponse({"input_tokens": conv.prompt_tokens})
