"""Checks for vector store request bodies (DESIGN.md §6), each failing with 400 and ``param``."""

from __future__ import annotations

from typing import Any

from bureau_agent.retrieval.errors import InvalidRequest

MAX_FILES_PER_STORE = 10_000
MAX_ATTRIBUTES = 16
MAX_KEY = 64
MAX_VALUE = 512
MAX_NAME = 256
MAX_DESCRIPTION = 512
EXPIRY_DAYS = (1, 365)
RESULTS = (1, 50)
MAX_QUERIES = 10
RANKERS = ("none", "auto", "default-2024-11-15", "default_2024_08_21", "default-2024-08-21")


def check_object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid '{param}': expected an object.", param)
    return value


def optional_str(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid '{key}': expected a string.", key)
    if len(value) > limit:
        raise InvalidRequest(
            f"Invalid '{key}': string too long. Expected a string with maximum length {limit}, "
            f"but got a string with length {len(value)} instead.",
            key,
            code="string_above_max_length",
        )
    return value


def file_ids(value: Any, param: str = "file_ids", limit: int = MAX_FILES_PER_STORE) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"Invalid '{param}': expected an array of file ids.", param)
    if len(value) > limit:
        raise InvalidRequest(
            f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
            f"but got an array with length {len(value)} instead.",
            param,
            code="array_above_max_length",
        )
    return list(dict.fromkeys(value))


def attributes(value: Any, param: str = "attributes") -> dict[str, str | float | bool]:
    if value is None:
        return {}
    check_object(value, param)
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidRequest(
            f"Invalid '{param}': at most {MAX_ATTRIBUTES} attributes, got {len(value)}.",
            param,
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > MAX_KEY:
            raise InvalidRequest(f"Invalid '{param}': key longer than {MAX_KEY} chars.", param)
        if not isinstance(item, str | int | float | bool):
            raise InvalidRequest(
                f"Invalid '{param}.{key}': expected a string, number or boolean.", f"{param}.{key}"
            )
        if isinstance(item, str) and len(item) > MAX_VALUE:
            raise InvalidRequest(
                f"Invalid '{param}.{key}': longer than {MAX_VALUE} chars.", f"{param}.{key}"
            )
    return dict(value)


def expires_after(value: Any, param: str = "expires_after") -> int | None:
    """The ``days`` of an ``expires_after`` policy (anchor ``last_active_at``), or None."""
    if value is None:
        return None
    check_object(value, param)
    if value.get("anchor") != "last_active_at":
        raise InvalidRequest(
            f"Invalid '{param}.anchor': expected 'last_active_at'.", f"{param}.anchor"
        )
    days = value.get("days")
    low, high = EXPIRY_DAYS
    if not isinstance(days, int) or isinstance(days, bool) or not low <= days <= high:
        raise InvalidRequest(
            f"Invalid '{param}.days': expected an integer between {low} and {high}.",
            f"{param}.days",
        )
    return days


def max_num_results(value: Any, param: str = "max_num_results", default: int = 20) -> int:
    if value is None:
        return default
    low, high = RESULTS
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        code = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            code = "integer_below_min_value" if value < low else "integer_above_max_value"
        raise InvalidRequest(
            f"Invalid '{param}': {value!r}. Expected an integer between {low} and {high}.",
            param,
            code=code,
        )
    return value


def ranking_options(value: Any, param: str = "ranking_options") -> tuple[str, float]:
    """(ranker, score_threshold) with OpenAI's defaults (``auto``, 0)."""
    if value is None:
        return "auto", 0.0
    check_object(value, param)
    ranker = value.get("ranker", "auto")
    if ranker not in RANKERS:
        raise InvalidRequest(
            f"Invalid '{param}.ranker': expected one of {', '.join(RANKERS)}.", f"{param}.ranker"
        )
    threshold = value.get("score_threshold", 0.0)
    if (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not 0.0 <= threshold <= 1.0
    ):
        raise InvalidRequest(
            f"Invalid '{param}.score_threshold': {threshold!r}. Expected a number between 0 and 1.",
            f"{param}.score_threshold",
        )
    return str(ranker), float(threshold)


def queries(value: Any, param: str = "query") -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise InvalidRequest(f"Invalid '{param}': expected a string or an array of strings.", param)
    if len(items) > MAX_QUERIES:
        raise InvalidRequest(f"Invalid '{param}': at most {MAX_QUERIES} queries.", param)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise InvalidRequest(f"Invalid '{param}[{i}]': expected a non-empty string.", param)
    return list(items)
