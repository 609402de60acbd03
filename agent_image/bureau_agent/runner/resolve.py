"""Resolve a final answer: response_format checks and file_citation annotations."""

from __future__ import annotations

import json
from typing import Any


def format_problem(text: str, response_format: Any) -> str | None:
    """Why ``text`` does not satisfy ``response_format`` (json_object / json_schema), or None."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return None
    try:
        value = json.loads(_strip_fence(text))
    except ValueError as exc:
        return f"the answer is not valid JSON ({exc})"
    if kind == "json_object":
        return None if isinstance(value, dict) else "the answer is not a JSON object"
    from jsonschema import Draft202012Validator  # only runs with a JSON schema pay for it

    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return f"the answer does not match the JSON schema at {where}: {first.message}"
    return None


def _strip_fence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        inner = stripped[3:-3]
        return inner.split("\n", 1)[1] if "\n" in inner else inner
    return stripped


def citation_annotations(text: str, citations: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for marker, file_id in citations.items():
        start = text.find(marker)
        while start != -1:
            out.append(
                {
                    "type": "file_citation",
                    "text": marker,
                    "start_index": start,
                    "end_index": start + len(marker),
                    "file_citation": {"file_id": file_id},
                }
            )
            start = text.find(marker, start + len(marker))
    out.sort(key=lambda a: int(a["start_index"]))
    return out
