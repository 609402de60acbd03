"""DESIGN.md §6 limits on vector stores and search: 400 with ``param`` in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.agent_retrieval.conftest import Agent


def _static(size: int, overlap: int) -> dict[str, Any]:
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def _bad_request(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    body = caught.value.body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("size", [99, 4097])
def test_chunk_size_outside_100_to_4096_is_rejected(agent: Agent, size: int) -> None:
    body = _bad_request(
        lambda: agent.client.vector_stores.create(chunking_strategy=_static(size, 10))  # type: ignore[arg-type]
    )
    assert body["param"] == "chunking_strategy.static.max_chunk_size_tokens"


def test_chunk_size_bounds_are_inclusive(agent: Agent) -> None:
    agent.client.vector_stores.create(chunking_strategy=_static(100, 50))  # type: ignore[arg-type]
    agent.client.vector_stores.create(chunking_strategy=_static(4096, 2048))  # type: ignore[arg-type]


def test_overlap_above_half_the_chunk_is_rejected(agent: Agent) -> None:
    body = _bad_request(
        lambda: agent.client.vector_stores.create(chunking_strategy=_static(800, 401))  # type: ignore[arg-type]
    )
    assert body["param"] == "chunking_strategy.static.chunk_overlap_tokens"


def test_unknown_chunking_type_is_rejected(agent: Agent) -> None:
    body = _bad_request(
        lambda: agent.client.vector_stores.create(chunking_strategy={"type": "semantic"})  # type: ignore[arg-type]
    )
    assert body["param"] == "chunking_strategy.type"


@pytest.mark.parametrize("count", [0, 51])
def test_max_num_results_outside_1_to_50_is_rejected(agent: Agent, count: int) -> None:
    store = agent.client.vector_stores.create()
    body = _bad_request(
        lambda: agent.client.vector_stores.search(store.id, query="x", max_num_results=count)
    )
    assert body["param"] == "max_num_results"


def test_more_than_10000_file_ids_are_rejected(agent: Agent) -> None:
    ids = [f"file_{i:06d}" for i in range(10_001)]
    body = _bad_request(lambda: agent.client.vector_stores.create(file_ids=ids))
    assert body["param"] == "file_ids" and body["code"] == "array_above_max_length"


def test_unknown_file_id_is_rejected(agent: Agent) -> None:
    body = _bad_request(lambda: agent.client.vector_stores.create(file_ids=["file_nope"]))
    assert body["param"] == "file_ids" and "file_nope" in body["message"]


def test_score_threshold_above_one_is_rejected(agent: Agent) -> None:
    store = agent.client.vector_stores.create()
    body = _bad_request(
        lambda: agent.client.vector_stores.search(
            store.id, query="x", ranking_options={"score_threshold": 1.5}
        )
    )
    assert body["param"] == "ranking_options.score_threshold"


def test_malformed_filter_is_rejected_with_its_path(agent: Agent) -> None:
    store = agent.client.vector_stores.create()
    body = _bad_request(
        lambda: agent.client.vector_stores.search(
            store.id,
            query="x",
            filters={"type": "and", "filters": [{"type": "like", "key": "a", "value": 1}]},  # type: ignore[typeddict-item]
        )
    )
    assert body["param"] == "filters.filters[0].type"


def test_too_many_metadata_pairs_are_rejected(agent: Agent) -> None:
    metadata = {f"k{i}": "v" for i in range(17)}
    body = _bad_request(lambda: agent.client.vector_stores.create(metadata=metadata))
    assert body["param"] == "metadata"


def test_expiry_anchor_must_be_last_active_at(agent: Agent) -> None:
    body = _bad_request(
        lambda: agent.client.vector_stores.create(
            expires_after={"anchor": "created_at", "days": 3}  # type: ignore[typeddict-item,arg-type]
        )
    )
    assert body["param"] == "expires_after.anchor"


def test_attributes_with_a_nested_value_are_rejected(agent: Agent) -> None:
    store = agent.client.vector_stores.create()
    body = _bad_request(
        lambda: agent.client.vector_stores.files.create(
            vector_store_id=store.id,
            file_id="file_x",
            attributes={"a": {"b": 1}},  # type: ignore[dict-item]
        )
    )
    assert body["param"] == "attributes.a"


def test_unknown_store_is_a_404(agent: Agent) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        agent.client.vector_stores.search("vs_missing", query="x")
    assert "vs_missing" in str(caught.value)
