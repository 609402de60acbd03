"""OpenAI's ``POST /v1/chat/completions`` (and OpenRouter's variant of it) for the fake provider."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.provider_errors import RequestError, openai_error, openai_error_body
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

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_TOOLS = 128
OPENROUTER = "openrouter"


def text_of(content: Any) -> str:
    """The text of a message's content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and "text" in part
        )
    return ""


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    """Refuse what OpenAI refuses: bad roles, orphan tool messages, unanswered tool calls."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty array.", "messages")
    pending: dict[str, str] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise RequestError(
                400, f"Invalid value for 'messages[{i}].role'.", f"messages.[{i}].role"
            )
        role = msg["role"]
        _check_content(msg, i)
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                raise RequestError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.pop(call_id)
            continue
        if pending:
            raise RequestError(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                "messages",
            )
        if role == "assistant":
            for call in msg.get("tool_calls") or []:
                pending[str(call.get("id"))] = str(call.get("function", {}).get("name"))
    return messages


def _check_content(msg: dict[str, Any], i: int) -> None:
    """Content is a string or a list of parts; only an assistant with tool calls may omit it."""
    content = msg.get("content")
    if isinstance(content, str | list):
        return
    if content is None and msg["role"] == "assistant" and msg.get("tool_calls"):
        return
    got = "null" if content is None else type(content).__name__
    raise RequestError(
        400,
        f"Invalid type for 'messages[{i}].content': expected one of a string or an array, "
        f"but got {got} instead.",
        f"messages.[{i}].content",
    )


def _tool_names(body: dict[str, Any]) -> list[str]:
    """The offered function names, checked like OpenAI (pattern, length, at most 128 tools)."""
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise RequestError(400, "Invalid type for 'tools': expected an array.", "tools")
    if len(tools) > MAX_TOOLS:
        raise RequestError(
            400,
            f"Invalid 'tools': array too long. Expected an array with maximum length {MAX_TOOLS}, "
            f"but got an array with length {len(tools)} instead.",
            "tools",
        )
    names = []
    for i, tool in enumerate(tools):
        if isinstance(tool, dict) and tool.get("type") == "custom":
            continue  # accepted, never called: the fake only makes function calls
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError(
                400, f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}].function"
            )
        if not TOOL_NAME.fullmatch(function["name"]):
            raise RequestError(
                400,
                f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a "
                "string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                f"tools[{i}].function.name",
            )
        names.append(function["name"])
    return names


def _apply_tool_choice(conv: Conversation, choice: Any) -> None:
    if choice is None:
        return
    if not conv.tools:
        raise RequestError(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        )
    if choice in ("none", "auto", "required"):
        conv.tool_choice = choice
        return
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = [t.get("function", {}).get("name") for t in allowed.get("tools") or []]
        conv.tools = [n for n in conv.tools if n in names]
        conv.tool_choice = "required" if allowed.get("mode") == "required" else "auto"
        return
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if name not in conv.tools:
        raise RequestError(
            400, f"Invalid value for 'tool_choice': no tool named {name!r}.", "tool_choice"
        )
    conv.tool_choice, conv.forced_tool = "named", name


def _apply_response_format(conv: Conversation, fmt: Any, messages: list[Any]) -> None:
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        conv.json_object = True
        if "json" not in json.dumps(messages).lower():
            raise RequestError(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' "
                "of type 'json_object'.",
                "messages",
            )
    elif kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise RequestError(
                400,
                "Missing required parameter: 'response_format.json_schema.name'.",
                "response_format",
            )
        conv.json_schema = spec.get("schema") or {"type": "object"}
    elif kind != "text":
        raise RequestError(400, "Invalid value for 'response_format.type'.", "response_format.type")


def conversation(body: dict[str, Any]) -> Conversation:
    """Validate a chat completions body and extract what the answer depends on."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "you must provide a model parameter", "model")
    messages = _check_messages(body.get("messages"))
    conv = Conversation(model=model, tools=_tool_names(body))
    _apply_tool_choice(conv, body.get("tool_choice"))
    conv.parallel = body.get("parallel_tool_calls", True) is not False
    _apply_response_format(conv, body.get("response_format"), messages)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    conv.max_tokens = limit if isinstance(limit, int) and limit > 0 else None
    conv.stop = _stop_sequences(body.get("stop"))
    users = [m for m in messages if m["role"] == "user"]
    conv.last_user_text = text_of(users[-1].get("content")) if users else ""
    conv.last_role = "tool" if messages[-1]["role"] == "tool" else messages[-1]["role"]
    if conv.last_role == "tool":
        conv.tool_results = _trailing_tool_results(messages)
    conv.prompt_tokens = count_prompt_tokens(messages, body.get("tools"))
    return conv


def _stop_sequences(stop: Any) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) for s in stops):
        raise RequestError(400, "Invalid 'stop': expected a string or up to 4 strings.", "stop")
    return stops


def _trailing_tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            names[str(call.get("id"))] = str(call.get("function", {}).get("name"))
    results: list[tuple[str, str]] = []
    for msg in reversed(messages):
        if msg["role"] != "tool":
            break
        name = names.get(str(msg.get("tool_call_id")), "unknown")
        results.insert(0, (name, text_of(msg.get("content"))))
    return results


def _usage(conv: Conversation, answer: Answer) -> dict[str, Any]:
    completion = answer.completion_tokens
    return {
        "prompt_tokens": conv.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": conv.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish(answer: Answer) -> str:
    names = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
    }
    return names.get(answer.finish, answer.finish)


def _envelope(conv: Conversation, flavour: str, completion_id: str, obj: str) -> dict[str, Any]:
    head: dict[str, Any] = {
        "id": completion_id,
        "object": obj,
        "created": int(time.time()),
        "model": conv.model,
        "system_fingerprint": "fp_fake",
    }
    if flavour == OPENROUTER:
        head["provider"] = "Fake"
    else:
        head["service_tier"] = "default"
    return head


def completion_body(conv: Conversation, answer: Answer, flavour: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text,
        "refusal": None,
        "annotations": [],
    }
    if answer.calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for call in answer.calls
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _finish(answer),
    }
    if flavour == OPENROUTER:
        choice["native_finish_reason"] = _finish(answer)
    prefix = "gen-" if flavour == OPENROUTER else "chatcmpl-"
    return {
        **_envelope(conv, flavour, new_id(prefix), "chat.completion"),
        "choices": [choice],
        "usage": _usage(conv, answer),
    }


def _deltas(answer: Answer) -> list[tuple[dict[str, Any], str | None]]:
    """Every stream delta in order, with the finish reason on the last."""
    deltas: list[tuple[dict[str, Any], str | None]] = [
        ({"role": "assistant", "content": "", "refusal": None}, None)
    ]
    if answer.text:
        deltas += [({"content": piece}, None) for piece in split_chunks(answer.text, answer.chunks)]
    for index, call in enumerate(answer.calls):
        start = {"index": index, "id": call.id, "type": "function"}
        deltas.append(
            ({"tool_calls": [{**start, "function": {"name": call.name, "arguments": ""}}]}, None)
        )
        for piece in split_json(call.arguments_json()):
            deltas.append(
                ({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None)
            )
    deltas.append(({}, _finish(answer)))
    return deltas


async def completion_stream(
    conv: Conversation, answer: Answer, flavour: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """``data: {chunk}`` lines, then the usage chunk if asked, then ``data: [DONE]``."""
    prefix = "gen-" if flavour == OPENROUTER else "chatcmpl-"
    head = _envelope(conv, flavour, new_id(prefix), "chat.completion.chunk")
    if flavour == OPENROUTER:
        yield b": OPENROUTER PROCESSING\n\n"
    for i, (delta, finish) in enumerate(_deltas(answer)):
        if i and answer.chunk_delay:
            await asyncio.sleep(answer.chunk_delay)
        if finish is not None and answer.stream_error is not None:
            yield f"data: {json.dumps(openai_error_body(answer.stream_error))}\n\n".encode()
            return
        chunk: dict[str, Any] = {
            **head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            chunk["usage"] = None
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    if include_usage:
        last = {**head, "choices": [], "usage": _usage(conv, answer)}
        yield f"data: {json.dumps(last)}\n\n".encode()
    yield b"data: [DONE]\n\n"


async def chat_completions(
    body: dict[str, Any], next_reply: Callable[[Conversation], Reply | None], flavour: str
) -> Response:
    """Answer one chat completions request (validated first, then the script is consumed)."""
    try:
        conv = conversation(body)
    except RequestError as exc:
        return openai_error(Error(exc.status, exc.message), exc.param)
    answer = plan(conv, next_reply(conv), "call_")
    if answer.delay:
        await asyncio.sleep(answer.delay)
    if isinstance(answer, Error):
        return openai_error(answer)
    if answer.stream_error is not None and not body.get("stream"):
        return openai_error(answer.stream_error)
    if body.get("stream"):
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        stream = completion_stream(conv, answer, flavour, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream")
    return JSONResponse(completion_body(conv, answer, flavour))
