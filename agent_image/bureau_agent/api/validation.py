"""The limits the Assistants API promises (DESIGN.md §6), each answered with 400 and ``param``.

Functions take the value and the ``param`` path to report (``tools[3].function.description``) so
routes of every resource share them (assistants, threads, runs, vector stores).
"""

from __future__ import annotations

import re
from typing import Any

from bureau_agent.api.errors import invalid

MAX_NAME = 256
MAX_DESCRIPTION = 512
MAX_INSTRUCTIONS = 256_000
MAX_TOOLS = 128
MAX_FUNCTION_DESCRIPTION = 1024
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_CODE_INTERPRETER_FILES = 20
MAX_VECTOR_STORE_IDS = 1
MAX_VECTOR_STORE_FILES = 10_000
MAX_CHUNK_TOKENS = (100, 4096)
FILE_SEARCH_RESULTS = (1, 50)
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
TOOL_TYPES = ("function", "code_interpreter", "file_search")


def check_length(value: str | None, param: str, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise invalid(
            param,
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{limit}, but got a string with length {len(value)} instead.",
            code="string_above_max_length",
        )


def check_metadata(metadata: dict[str, Any] | None, param: str = "metadata") -> None:
    if metadata is None:
        return
    if len(metadata) > MAX_METADATA_PAIRS:
        raise invalid(
            param,
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{MAX_METADATA_PAIRS} properties, but got an object with {len(metadata)} instead.",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise invalid(
                param,
                f"Invalid '{param}': key '{key[:20]}...' is longer than {MAX_METADATA_KEY} chars.",
                code="string_above_max_length",
            )
        if not isinstance(value, str):
            raise invalid(f"{param}.{key}", f"Invalid '{param}.{key}': expected a string.")
        check_length(value, f"{param}.{key}", MAX_METADATA_VALUE)


def check_range(value: float | None, param: str, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        code = "decimal_below_min_value" if value < low else "decimal_above_max_value"
        raise invalid(
            param,
            f"Invalid '{param}': {value}. Expected a value between {low} and {high}.",
            code=code,
        )


def check_file_search_options(options: Any, param: str) -> None:
    if options is None:
        return
    if not isinstance(options, dict):
        raise invalid(param, f"Invalid '{param}': expected an object.")
    max_results = options.get("max_num_results")
    if max_results is not None:
        if not isinstance(max_results, int) or isinstance(max_results, bool):
            raise invalid(f"{param}.max_num_results", "Expected an integer.")
        check_range(max_results, f"{param}.max_num_results", *FILE_SEARCH_RESULTS)
    ranking = options.get("ranking_options")
    if ranking is not None:
        if not isinstance(ranking, dict):
            raise invalid(f"{param}.ranking_options", "Expected an object.")
        threshold = ranking.get("score_threshold")
        if threshold is not None:
            check_range(float(threshold), f"{param}.ranking_options.score_threshold", 0.0, 1.0)
        ranker = ranking.get("ranker")
        if ranker is not None and ranker not in ("auto", "default_2024_08_21"):
            raise invalid(f"{param}.ranking_options.ranker", f"Invalid ranker '{ranker}'.")


def normalize_tools(tools: list[Any] | None, param: str = "tools") -> list[dict[str, Any]]:
    """Check an Assistants ``tools`` list and return it in OpenAI's response shape."""
    if tools is None:
        return []
    if len(tools) > MAX_TOOLS:
        raise invalid(
            param,
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{MAX_TOOLS}, but got an array with length {len(tools)} instead.",
            code="array_above_max_length",
        )
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        p = f"{param}[{i}]"
        if not isinstance(tool, dict) or tool.get("type") not in TOOL_TYPES:
            raise invalid(
                f"{p}.type",
                f"Invalid value for '{p}.type': expected one of {', '.join(TOOL_TYPES)}.",
            )
        kind = tool["type"]
        if kind == "function":
            out.append({"type": "function", "function": _normalize_function(tool, p)})
        elif kind == "file_search":
            options = tool.get("file_search")
            check_file_search_options(options, f"{p}.file_search")
            fs: dict[str, Any] = dict(options or {})
            ranking = {"ranker": "default_2024_08_21", "score_threshold": 0.0}
            ranking.update(fs.get("ranking_options") or {})
            fs["ranking_options"] = ranking
            out.append({"type": "file_search", "file_search": fs})
        else:
            out.append({"type": "code_interpreter"})
    return out


def _normalize_function(tool: dict[str, Any], p: str) -> dict[str, Any]:
    fn = tool.get("function")
    if not isinstance(fn, dict):
        raise invalid(f"{p}.function", f"Missing required parameter: '{p}.function'.")
    name = fn.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise invalid(
            f"{p}.function.name",
            f"Invalid '{p}.function.name': must match ^[a-zA-Z0-9_-]{{1,64}}$.",
        )
    description = fn.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid(f"{p}.function.description", "Expected a string.")
    check_length(description, f"{p}.function.description", MAX_FUNCTION_DESCRIPTION)
    parameters = fn.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid(f"{p}.function.parameters", "Expected a JSON schema object.")
    strict = fn.get("strict")
    return {
        "name": name,
        "description": description,
        "parameters": parameters if parameters is not None else EMPTY_PARAMETERS,
        "strict": bool(strict) if strict is not None else False,
    }


def check_chunking_strategy(strategy: Any, param: str = "chunking_strategy") -> dict[str, Any]:
    """auto = 800/400; static: max_chunk_size_tokens 100..4096, overlap ≤ half.

    Returns the static form ``{"type": "static", "static": {...}}``.
    """
    if strategy is None or (isinstance(strategy, dict) and strategy.get("type") == "auto"):
        return _static(800, 400)
    if not isinstance(strategy, dict) or strategy.get("type") != "static":
        raise invalid(f"{param}.type", f"Invalid '{param}.type': expected 'auto' or 'static'.")
    static = strategy.get("static")
    if not isinstance(static, dict):
        raise invalid(f"{param}.static", f"Missing required parameter: '{param}.static'.")
    size = static.get("max_chunk_size_tokens")
    overlap = static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or isinstance(size, bool):
        raise invalid(f"{param}.static.max_chunk_size_tokens", "Expected an integer.")
    check_range(size, f"{param}.static.max_chunk_size_tokens", *MAX_CHUNK_TOKENS)
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
        raise invalid(f"{param}.static.chunk_overlap_tokens", "Expected a non-negative integer.")
    if overlap > size // 2:
        raise invalid(
            f"{param}.static.chunk_overlap_tokens",
            f"Invalid '{param}.static.chunk_overlap_tokens': {overlap}. It must not exceed half "
            f"of max_chunk_size_tokens ({size // 2}).",
        )
    return _static(size, overlap)


def _static(size: int, overlap: int) -> dict[str, Any]:
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def _check_id_list(value: Any, param: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(param, f"Invalid '{param}': expected an array of strings.")
    if len(value) > limit:
        raise invalid(
            param,
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{limit}, but got an array with length {len(value)} instead.",
            code="array_above_max_length",
        )
    return list(value)


def check_tool_resources(resources: Any, param: str = "tool_resources") -> dict[str, Any]:
    """Check limits; returns the resources with ``vector_stores`` left for the caller to create."""
    if resources is None:
        return {}
    if not isinstance(resources, dict):
        raise invalid(param, f"Invalid '{param}': expected an object.")
    out: dict[str, Any] = {}
    ci = resources.get("code_interpreter")
    if ci is not None:
        ids = _check_id_list(
            (ci or {}).get("file_ids"),
            f"{param}.code_interpreter.file_ids",
            MAX_CODE_INTERPRETER_FILES,
        )
        out["code_interpreter"] = {"file_ids": ids}
    fs = resources.get("file_search")
    if fs is not None:
        p = f"{param}.file_search"
        ids = _check_id_list(
            (fs or {}).get("vector_store_ids"), f"{p}.vector_store_ids", MAX_VECTOR_STORE_IDS
        )
        stores = (fs or {}).get("vector_stores")
        entry: dict[str, Any] = {"vector_store_ids": ids}
        if stores is not None:
            if not isinstance(stores, list):
                raise invalid(f"{p}.vector_stores", "Expected an array.")
            if len(stores) + len(ids) > MAX_VECTOR_STORE_IDS:
                raise invalid(
                    f"{p}.vector_stores",
                    f"Invalid '{p}': at most {MAX_VECTOR_STORE_IDS} vector store may be attached.",
                    code="array_above_max_length",
                )
            for i, store in enumerate(stores):
                sp = f"{p}.vector_stores[{i}]"
                if not isinstance(store, dict):
                    raise invalid(sp, "Expected an object.")
                _check_id_list(store.get("file_ids"), f"{sp}.file_ids", MAX_VECTOR_STORE_FILES)
                check_chunking_strategy(store.get("chunking_strategy"), f"{sp}.chunking_strategy")
                check_metadata(store.get("metadata"), f"{sp}.metadata")
            entry["vector_stores"] = stores
        out["file_search"] = entry
    return out


def normalize_response_format(value: Any, param: str = "response_format") -> Any:
    """``auto``, ``{"type": "text"|"json_object"}`` or ``{"type": "json_schema", ...}``."""
    if value is None or value == "auto":
        return "auto"
    if not isinstance(value, dict):
        raise invalid(param, f"Invalid '{param}': expected 'auto' or an object.")
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind != "json_schema":
        raise invalid(
            f"{param}.type",
            f"Invalid '{param}.type': expected 'text', 'json_object' or 'json_schema'.",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise invalid(f"{param}.json_schema", f"Missing required parameter: '{param}.json_schema'.")
    name = spec.get("name")
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise invalid(
            f"{param}.json_schema.name",
            f"Invalid '{param}.json_schema.name': must be 1 to 64 characters of a-z, A-Z, 0-9, "
            "underscores and dashes.",
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise invalid(f"{param}.json_schema.schema", "Expected a JSON schema object.")
    if schema is not None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            message = f"Invalid JSON schema: {exc.message}"
            raise invalid(f"{param}.json_schema.schema", message) from None
    out: dict[str, Any] = {"name": name, "schema": schema or {}, "strict": bool(spec.get("strict"))}
    if spec.get("description") is not None:
        out["description"] = spec["description"]
    return {"type": "json_schema", "json_schema": out}
