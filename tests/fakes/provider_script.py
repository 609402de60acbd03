"""The fake provider's brain: choose the answer to one request, scripted or by default.

Both APIs first reduce a request to a ``Conversation`` (the few facts the answer depends on),
then ``plan`` picks the answer: the scripted reply if one is queued, else a deterministic default
(a ``[[tool:NAME {args}]]`` directive → that tool call; a tool result → ``tool NAME returned: …``;
anything else → ``echo: <last user text>``), and finally applies ``tool_choice``,
``parallel_tool_calls``, the JSON response formats and ``max_tokens`` as the real APIs would.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.provider_replies import Call, Error, Reply, Text

DIRECTIVE = re.compile(r"\[\[tool:([A-Za-z0-9_.\-]+)(.*?)\]\]", re.DOTALL)
RESULT_PREVIEW = 200
FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


@dataclass
class Conversation:
    """What the answer depends on, extracted from an OpenAI or Anthropic request."""

    model: str
    last_role: str = "user"  # user | tool | assistant
    last_user_text: str = ""
    tool_results: list[tuple[str, str]] = field(default_factory=list)  # (tool name, content)
    tools: list[str] = field(default_factory=list)
    tool_choice: str = "auto"  # auto | none | required | named
    forced_tool: str | None = None
    parallel: bool = True
    json_schema: dict[str, Any] | None = None
    json_object: bool = False
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    prompt_tokens: int = 0


@dataclass
class Answer:
    """The chosen answer, API-neutral; ``finish`` is stop, length or tool_calls."""

    text: str | None
    calls: list[Call]
    finish: str
    chunks: int | None = None
    delay: float = 0
    chunk_delay: float = 0
    stream_error: Error | None = None
    stop_sequence: str | None = None

    @property
    def completion_tokens(self) -> int:
        count = count_words(self.text or "")
        for call in self.calls:
            count += 1 + count_words(call.arguments_json())
        return max(count, 1)


def count_words(text: str) -> int:
    """The fake's token count: whitespace-separated words (deterministic, approximate)."""
    return len(text.split())


def count_prompt_tokens(*parts: Any) -> int:
    """Words in every string inside the request parts (messages, system, tools)."""
    total = 0
    stack: list[Any] = list(parts)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += count_words(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            total += 1 if item and isinstance(item[0], dict) and "role" in item[0] else 0
            stack.extend(item)
    return max(total, 1)


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def directive_calls(text: str, offered: list[str]) -> list[Call]:
    """The ``[[tool:NAME {json}]]`` directives in ``text`` whose tool is offered."""
    calls: list[Call] = []
    for match in DIRECTIVE.finditer(text):
        name, raw = match.group(1), match.group(2).strip()
        if name not in offered:
            continue
        if not raw:
            calls.append(Call(name, {}))
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            calls.append(Call(name, raw))
            continue
        calls.append(Call(name, value if isinstance(value, dict) else raw))
    return calls


def default_text(conv: Conversation) -> str:
    if conv.last_role == "tool" and conv.tool_results:
        return "\n".join(
            f"tool {name} returned: {content[:RESULT_PREVIEW]}"
            for name, content in conv.tool_results
        )
    return f"echo: {conv.last_user_text}"


def json_text(conv: Conversation, text: str) -> str:
    """The default answer as valid JSON when a JSON response format was asked for."""
    if conv.json_schema is not None:
        return json.dumps(schema_instance(conv.json_schema, conv.json_schema))
    return json.dumps({"answer": text})


def schema_instance(schema: Any, root: dict[str, Any]) -> Any:
    """A minimal instance of a JSON schema: required properties only, smallest valid values."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return schema_instance(_resolve_ref(schema["$ref"], root), root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0], root)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve_ref(part["$ref"], root) if "$ref" in part else part
            merged = {**merged, **part}
        return schema_instance(merged, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _typed_instance(kind, schema, root)


def _typed_instance(kind: str, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: schema_instance(props.get(name, {}), root) for name in schema.get("required", [])
        }
    if kind == "array":
        return [
            schema_instance(schema.get("items", {}), root) for _ in range(schema.get("minItems", 0))
        ]
    if kind in ("integer", "number"):
        low = schema.get(
            "minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 0
        )
        value = max(low, 0) if "maximum" not in schema else min(max(low, 0), schema["maximum"])
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    return "x" * int(schema.get("minLength", 0))


def _resolve_ref(ref: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        if not part:
            continue
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def plan(conv: Conversation, reply: Reply | None, id_prefix: str) -> Answer | Error:
    """Pick the answer for ``conv``: the scripted ``reply`` (or the default), then the rules."""
    if isinstance(reply, Error):
        return reply
    if reply is None:
        answer = _default_answer(conv)
    elif isinstance(reply, Text):
        answer = Answer(reply.content, [], reply.finish_reason, reply.chunks)
        answer.stream_error = reply.stream_error
    else:
        answer = Answer(
            reply.text, [Call(c.name, c.arguments, c.id) for c in reply.calls], "tool_calls"
        )
    if reply is not None:
        answer.delay, answer.chunk_delay = reply.delay, reply.chunk_delay
    _apply_tool_choice(conv, answer)
    for call in answer.calls:
        call.id = call.id or new_id(id_prefix)
    _apply_stop(conv, answer)
    _apply_max_tokens(conv, answer)
    return answer


def _default_answer(conv: Conversation) -> Answer:
    if conv.last_role == "user" and conv.tool_choice != "none":
        calls = directive_calls(conv.last_user_text, conv.tools)
        if calls:
            return Answer(None, calls, "tool_calls")
    text = default_text(conv)
    if conv.json_schema is not None or conv.json_object:
        text = json_text(conv, text)
    return Answer(text, [], "stop")


def _apply_tool_choice(conv: Conversation, answer: Answer) -> None:
    if answer.calls and (conv.tool_choice == "none" or not conv.tools):
        fallback = default_text(conv)
        answer.text = answer.text or fallback
        answer.calls, answer.finish = [], "stop"
    elif not answer.calls and conv.tools and conv.tool_choice in ("required", "named"):
        answer.calls = [Call(conv.forced_tool or conv.tools[0], {})]
        answer.text, answer.finish = None, "tool_calls"
    if not conv.parallel:
        answer.calls = answer.calls[:1]


def _apply_stop(conv: Conversation, answer: Answer) -> None:
    """Cut the text before the earliest stop sequence, as generation would have stopped."""
    if answer.calls or not answer.text:
        return
    found = [(answer.text.find(s), s) for s in conv.stop if s and s in answer.text]
    if found:
        index, sequence = min(found)
        answer.text, answer.finish, answer.stop_sequence = (
            answer.text[:index],
            "stop_sequence",
            sequence,
        )


def _apply_max_tokens(conv: Conversation, answer: Answer) -> None:
    if conv.max_tokens is None or answer.calls or answer.text is None:
        return
    words = answer.text.split()
    if len(words) > conv.max_tokens:
        answer.text = " ".join(words[: conv.max_tokens])
        answer.finish = "length"


def split_chunks(text: str, chunks: int | None) -> list[str]:
    """Stream pieces that join back to ``text``: one per word, or ``chunks`` even pieces."""
    if not text:
        return [""]
    if chunks is None:
        return re.findall(r"\S+\s*|\s+", text)
    chunks = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), chunks)
    pieces, start = [], 0
    for i in range(chunks):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def split_json(text: str, pieces: int = 3) -> list[str]:
    """Tool-call argument deltas: the JSON string cut in a few pieces."""
    return split_chunks(text, min(pieces, max(1, len(text)))) if text else [""]
