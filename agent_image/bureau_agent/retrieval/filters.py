"""OpenAI's attribute filters (comparison and compound), validated and evaluated in Python.

Attributes belong to vector store files and live in SQLite, so a filter selects files: the
search then restricts the index to those file ids. Semantics: a comparison on a key the file
lacks is false (``ne`` and ``nin``: true); ``gt/gte/lt/lte`` compare numbers with numbers and
strings with strings, anything else is false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bureau_agent.retrieval.errors import InvalidRequest

Attributes = Mapping[str, str | float | bool]
Predicate = Callable[[Attributes], bool]

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
MAX_DEPTH = 8


def parse_filter(raw: Any, param: str = "filters", depth: int = 0) -> Predicate:
    """Validate ``raw`` and return a predicate over a file's attributes."""
    if not isinstance(raw, dict):
        raise InvalidRequest("A filter must be an object.", param)
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"Filters nest at most {MAX_DEPTH} levels.", param)
    kind = raw.get("type")
    if kind in ("and", "or"):
        items = raw.get("filters")
        if not isinstance(items, list) or not items:
            raise InvalidRequest("A compound filter needs a non-empty 'filters' list.", param)
        parts = [
            parse_filter(item, f"{param}.filters[{i}]", depth + 1) for i, item in enumerate(items)
        ]
        if kind == "and":
            return lambda attrs: all(part(attrs) for part in parts)
        return lambda attrs: any(part(attrs) for part in parts)
    if kind not in COMPARISONS:
        raise InvalidRequest(
            f"Invalid filter type {kind!r}: expected one of {', '.join(COMPARISONS)}, and, or.",
            f"{param}.type",
        )
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("A comparison filter needs a string 'key'.", f"{param}.key")
    if "value" not in raw:
        raise InvalidRequest("A comparison filter needs a 'value'.", f"{param}.value")
    return _comparison(kind, key, raw["value"], f"{param}.value")


def _comparison(kind: str, key: str, value: Any, param: str) -> Predicate:
    if kind in ("in", "nin"):
        if not isinstance(value, list) or not all(_scalar(v) for v in value):
            raise InvalidRequest(f"'{kind}' needs a list of strings or numbers.", param)
        members = list(value)
        if kind == "in":
            return lambda attrs: key in attrs and _member(attrs[key], members)
        return lambda attrs: key not in attrs or not _member(attrs[key], members)
    if not _scalar(value):
        raise InvalidRequest("A comparison value must be a string, number or boolean.", param)
    if kind == "eq":
        return lambda attrs: key in attrs and _equal(attrs[key], value)
    if kind == "ne":
        return lambda attrs: key not in attrs or not _equal(attrs[key], value)
    return lambda attrs: key in attrs and _ordered(kind, attrs[key], value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)


def _member(left: Any, members: list[Any]) -> bool:
    return any(_equal(left, m) for m in members)


def _ordered(kind: str, left: Any, right: Any) -> bool:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    strings = isinstance(left, str) and isinstance(right, str)
    if not (numbers or strings):
        return False
    if kind == "gt":
        return bool(left > right)
    if kind == "gte":
        return bool(left >= right)
    if kind == "lt":
        return bool(left < right)
    return bool(left <= right)
