"""Message bodies: the request shape and OpenAI's ``thread.message`` object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bureau_agent.api import validation as v
from bureau_agent.api.errors import invalid
from bureau_agent.ids import new_id
from bureau_agent.services import Services

MAX_ATTACHMENTS = 10


class MessageFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None


def text_part(value: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": annotations or []}}


def _content(content: str | list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    if not content:
        raise invalid(param, f"Invalid '{param}': expected at least one content part.")
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(text_part(part["text"]))
        elif kind == "image_file" and isinstance(part.get("image_file"), dict):
            parts.append({"type": "image_file", "image_file": part["image_file"]})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            parts.append({"type": "image_url", "image_url": part["image_url"]})
        else:
            raise invalid(
                f"{param}[{i}]",
                f"Invalid content part '{param}[{i}]': expected text, image_file or image_url.",
            )
    return parts


def _attachments(raw: list[dict[str, Any]] | None, param: str) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if len(raw) > MAX_ATTACHMENTS:
        raise invalid(param, f"Invalid '{param}': at most {MAX_ATTACHMENTS} attachments.")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item.get("file_id"), str):
            raise invalid(f"{param}[{i}].file_id", "Missing required parameter: 'file_id'.")
        tools = item.get("tools") or []
        for j, tool in enumerate(tools):
            if tool.get("type") not in ("code_interpreter", "file_search"):
                raise invalid(
                    f"{param}[{i}].tools[{j}].type", "Expected code_interpreter or file_search."
                )
        out.append({"file_id": item["file_id"], "tools": [{"type": t["type"]} for t in tools]})
    return out


def build_message(
    services: Services, thread_id: str, body: MessageFields, param: str = ""
) -> dict[str, Any]:
    prefix = f"{param}." if param else ""
    v.check_metadata(body.metadata, f"{prefix}metadata")
    return new_message(
        services,
        thread_id,
        role=body.role,
        content=_content(body.content, f"{prefix}content"),
        attachments=_attachments(body.attachments, f"{prefix}attachments"),
        metadata=body.metadata or {},
    )


def new_message(
    services: Services,
    thread_id: str,
    *,
    role: str,
    content: list[dict[str, Any]],
    status: str = "completed",
    assistant_id: str | None = None,
    run_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    now = services.now()
    return {
        "id": new_id("msg"),
        "object": "thread.message",
        "created_at": now,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "run_id": run_id,
        "role": role,
        "content": content,
        "attachments": attachments or [],
        "metadata": metadata or {},
        "status": status,
        "incomplete_details": None,
        "completed_at": now if status == "completed" else None,
        "incomplete_at": None,
    }


def message_text(message: dict[str, Any]) -> str:
    return "\n".join(
        p["text"]["value"] for p in message.get("content", []) if p.get("type") == "text"
    )
