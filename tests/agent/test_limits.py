"""Every limit of DESIGN.md §6: accepted at the limit, 400 with ``param`` one past it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

Body = dict[str, Any]


def fn(name: str = "f", description: str = "") -> Body:
    return {"type": "function", "function": {"name": name, "description": description}}


def metadata(pairs: int, key_len: int = 1, value_len: int = 1) -> dict[str, str]:
    return {f"{i}".ljust(key_len, "k"): "v" * value_len for i in range(pairs)}


def vector_stores(files: int) -> Body:
    return {"file_search": {"vector_stores": [{"file_ids": [f"file-{i}" for i in range(files)]}]}}


def static(size: int, overlap: int) -> Body:
    store = {
        "file_ids": [],
        "chunking_strategy": {
            "type": "static",
            "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
        },
    }
    return {"file_search": {"vector_stores": [store]}}


def schema(name: str) -> Body:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": {"type": "object"}}}


# (name, field values at the limit, values one past it, the param named in the 400)
CASES: list[tuple[str, Body, Body, str]] = [
    ("name", {"name": "n" * 256}, {"name": "n" * 257}, "name"),
    ("description", {"description": "d" * 512}, {"description": "d" * 513}, "description"),
    (
        "instructions",
        {"instructions": "i" * 256_000},
        {"instructions": "i" * 256_001},
        "instructions",
    ),
    (
        "tools",
        {"tools": [fn(f"f{i}") for i in range(128)]},
        {"tools": [fn(f"f{i}") for i in range(129)]},
        "tools",
    ),
    (
        "function_description",
        {"tools": [fn(description="x" * 1024)]},
        {"tools": [fn(description="x" * 1025)]},
        "tools[0].function.description",
    ),
    ("metadata_pairs", {"metadata": metadata(16)}, {"metadata": metadata(17)}, "metadata"),
    (
        "metadata_key",
        {"metadata": metadata(1, key_len=64)},
        {"metadata": metadata(1, key_len=65)},
        "metadata",
    ),
    (
        "metadata_value",
        {"metadata": metadata(1, value_len=512)},
        {"metadata": metadata(1, value_len=513)},
        "metadata.0",
    ),
    ("temperature_high", {"temperature": 2}, {"temperature": 2.01}, "temperature"),
    ("temperature_low", {"temperature": 0}, {"temperature": -0.01}, "temperature"),
    ("top_p_high", {"top_p": 1}, {"top_p": 1.01}, "top_p"),
    ("top_p_low", {"top_p": 0}, {"top_p": -0.01}, "top_p"),
    (
        "code_interpreter_files",
        {"tool_resources": {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(20)]}}},
        {"tool_resources": {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(21)]}}},
        "tool_resources.code_interpreter.file_ids",
    ),
    (
        "vector_store_ids",
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}},
        "tool_resources.file_search.vector_store_ids",
    ),
    (
        "max_num_results_high",
        {"tools": [{"type": "file_search", "file_search": {"max_num_results": 50}}]},
        {"tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}]},
        "tools[0].file_search.max_num_results",
    ),
    (
        "max_num_results_low",
        {"tools": [{"type": "file_search", "file_search": {"max_num_results": 1}}]},
        {"tools": [{"type": "file_search", "file_search": {"max_num_results": 0}}]},
        "tools[0].file_search.max_num_results",
    ),
    (
        "score_threshold",
        {
            "tools": [
                {"type": "file_search", "file_search": {"ranking_options": {"score_threshold": 1}}}
            ]
        },
        {
            "tools": [
                {
                    "type": "file_search",
                    "file_search": {"ranking_options": {"score_threshold": 1.1}},
                }
            ]
        },
        "tools[0].file_search.ranking_options.score_threshold",
    ),
    (
        "schema_name",
        {"response_format": schema("n" * 64)},
        {"response_format": schema("n" * 65)},
        "response_format.json_schema.name",
    ),
    (
        "schema_name_characters",
        {"response_format": schema("a-Z_0")},
        {"response_format": schema("a b")},
        "response_format.json_schema.name",
    ),
]

# Limits that only a vector store creator can accept: past the limit is a 400 on every agent.
PAST_ONLY: list[tuple[str, Body, str]] = [
    (
        "vector_store_files",
        {"tool_resources": vector_stores(10_001)},
        "tool_resources.file_search.vector_stores[0].file_ids",
    ),
    (
        "chunk_size_low",
        {"tool_resources": static(99, 0)},
        "tool_resources.file_search.vector_stores[0].chunking_strategy.static.max_chunk_size_tokens",
    ),
    (
        "chunk_size_high",
        {"tool_resources": static(4097, 0)},
        "tool_resources.file_search.vector_stores[0].chunking_strategy.static.max_chunk_size_tokens",
    ),
    (
        "chunk_overlap",
        {"tool_resources": static(800, 401)},
        "tool_resources.file_search.vector_stores[0].chunking_strategy.static.chunk_overlap_tokens",
    ),
]


def create(client: openai.OpenAI) -> Callable[..., Any]:
    def call(**body: Any) -> Any:
        return client.beta.assistants.create(model="gpt-4o", **body)

    return call


@pytest.mark.parametrize(("case", "ok", "bad", "param"), CASES, ids=[c[0] for c in CASES])
def test_limit_accepted_at_the_limit(
    client: openai.OpenAI, case: str, ok: Body, bad: Body, param: str
) -> None:
    assert create(client)(**ok).id.startswith("asst_")


@pytest.mark.parametrize(("case", "ok", "bad", "param"), CASES, ids=[c[0] for c in CASES])
def test_limit_refused_past_the_limit(
    client: openai.OpenAI, case: str, ok: Body, bad: Body, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        create(client)(**bad)
    assert info.value.param == param


@pytest.mark.parametrize(("case", "bad", "param"), PAST_ONLY, ids=[c[0] for c in PAST_ONLY])
def test_vector_store_limits_refused_past_the_limit(
    client: openai.OpenAI, case: str, bad: Body, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        create(client)(**bad)
    assert info.value.param == param


def test_thread_metadata_limit(client: openai.OpenAI) -> None:
    assert client.beta.threads.create(metadata=metadata(16)).id
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.threads.create(metadata=metadata(17))
    assert info.value.param == "metadata"


def test_run_temperature_limit(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, temperature=2.5)
    assert info.value.param == "temperature"


AT_LIMIT_CHUNKING = [("chunk_size_low", static(100, 50)), ("chunk_size_high", static(4096, 2048))]


@pytest.mark.parametrize(("case", "ok"), AT_LIMIT_CHUNKING, ids=[c[0] for c in AT_LIMIT_CHUNKING])
def test_chunking_accepted_at_the_limit(client: openai.OpenAI, case: str, ok: Body) -> None:
    created = create(client)(tool_resources=ok)
    assert len(created.tool_resources.file_search.vector_store_ids) == 1  # type: ignore[union-attr,arg-type]
