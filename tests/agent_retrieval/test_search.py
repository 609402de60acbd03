"""Vector store search: full text without embeddings, hybrid with them, filters and options."""

from __future__ import annotations

from pathlib import Path

from tests.agent_retrieval.conftest import EMBEDDINGS_MODEL, Agent, AgentFactory, upload
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider_replies import Error, rate_limited

DOCS = {
    "refunds.md": "Refund policy: customers in the EU may ask for a refund within 30 days.",
    "shipping.md": "Shipping: parcels leave the warehouse in Leipzig every weekday morning.",
    "security.md": "Security: rotate the database password every ninety days.",
}


def _store(
    agent: Agent, tmp_path: Path, attributes: dict[str, dict[str, object]] | None = None
) -> str:
    store = agent.client.vector_stores.create(name="docs")
    for name, text in DOCS.items():
        file_id = upload(agent, tmp_path, name, text)
        agent.client.vector_stores.files.create(
            vector_store_id=store.id,
            file_id=file_id,
            attributes=(attributes or {}).get(name, {}),  # type: ignore[arg-type]
        )
    agent.wait_store(store.id)
    return store.id


def _search(agent: Agent, store_id: str, **kwargs: object) -> dict[str, object]:
    response = agent.client.vector_stores.with_raw_response.search(store_id, **kwargs)  # type: ignore[arg-type]
    body: dict[str, object] = response.http_response.json()
    return body


def test_without_embeddings_search_is_full_text(agent: Agent, tmp_path: Path) -> None:
    store_id = _store(agent, tmp_path)
    body = _search(agent, store_id, query="refund for EU customers")
    assert body["search_metadata"] == {"mode": "full_text", "notes": []}
    results = agent.client.vector_stores.search(store_id, query="refund for EU customers")
    assert results.data[0].filename == "refunds.md"
    assert 0 < results.data[0].score <= 1
    assert results.data[0].content[0].text.startswith("Refund policy")


def test_with_embeddings_search_is_hybrid(hybrid_agent: Agent, tmp_path: Path) -> None:
    store_id = _store(hybrid_agent, tmp_path)
    body = _search(hybrid_agent, store_id, query="warehouse parcels")
    assert body["search_metadata"]["mode"] == "hybrid"  # type: ignore[index]
    data = body["data"]
    assert isinstance(data, list) and data[0]["filename"] == "shipping.md"
    assert data[0]["score"] == 1.0  # first for both the vector and the full-text list


def test_hybrid_finds_a_match_full_text_cannot_stem(hybrid_agent: Agent, tmp_path: Path) -> None:
    """Vectors of the fake provider hash whole words: same words, same direction."""
    store_id = _store(hybrid_agent, tmp_path)
    results = hybrid_agent.client.vector_stores.search(
        store_id, query="database password", ranking_options={"ranker": "none"}
    )
    assert results.data[0].filename == "security.md"


def test_score_threshold_drops_weak_results(agent: Agent, tmp_path: Path) -> None:
    store_id = _store(agent, tmp_path)
    every = agent.client.vector_stores.search(store_id, query="refund policy shipping")
    assert len(every.data) == 2
    best = max(r.score for r in every.data)
    strict = agent.client.vector_stores.search(
        store_id, query="refund policy shipping", ranking_options={"score_threshold": best}
    )
    assert [r.score for r in strict.data] == [best]


def test_filters_select_files_by_attributes(agent: Agent, tmp_path: Path) -> None:
    attrs = {
        "refunds.md": {"team": "billing", "year": 2024},
        "shipping.md": {"team": "ops", "year": 2023},
        "security.md": {"team": "ops", "year": 2025},
    }
    store_id = _store(agent, tmp_path, attrs)
    results = agent.client.vector_stores.search(
        store_id,
        query="refund shipping database",
        filters={
            "type": "and",
            "filters": [
                {"type": "eq", "key": "team", "value": "ops"},
                {"type": "gte", "key": "year", "value": 2024},
            ],
        },
    )
    assert [r.filename for r in results.data] == ["security.md"]
    assert results.data[0].attributes == {"team": "ops", "year": 2025}


def test_parallel_queries_merge_their_results(agent: Agent, tmp_path: Path) -> None:
    store_id = _store(agent, tmp_path)
    body = _search(agent, store_id, query=["refund", "warehouse"])
    assert body["search_query"] == ["refund", "warehouse"]
    names = {r["filename"] for r in body["data"]}  # type: ignore[attr-defined]
    assert names == {"refunds.md", "shipping.md"}


def test_rewrite_query_strips_filler_and_reports_the_rewrite(agent: Agent, tmp_path: Path) -> None:
    store_id = _store(agent, tmp_path)
    body = _search(
        agent, store_id, query="Can you tell me how often the password rotates?", rewrite_query=True
    )
    assert body["search_query"] == ["often password rotates"]
    assert body["data"][0]["filename"] == "security.md"  # type: ignore[index]


def test_max_num_results_caps_the_results(agent: Agent, tmp_path: Path) -> None:
    store_id = _store(agent, tmp_path)
    results = agent.client.vector_stores.search(
        store_id, query="refund warehouse password", max_num_results=1
    )
    assert len(results.data) == 1


def test_embeddings_rate_limit_is_retried(
    start_agent: AgentFactory, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    fake_provider.provider.queue(EMBEDDINGS_MODEL, rate_limited(0.05))
    with start_agent(embeddings=True) as running:
        store_id = _store(running, tmp_path)
        store = running.client.vector_stores.retrieve(store_id)
        assert store.file_counts.completed == 3
    embed_calls = [r for r in fake_provider.provider.requests if r.path.endswith("/embeddings")]
    assert len(embed_calls) >= 4  # the 429, then one batched request per file


def test_embeddings_failure_fails_the_file_not_the_store(
    start_agent: AgentFactory, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    fake_provider.provider.queue(EMBEDDINGS_MODEL, Error(400, "input too long for this model"))
    with start_agent(embeddings=True) as running:
        first = upload(running, tmp_path, "one.txt", "first file")
        store = running.client.vector_stores.create(file_ids=[first])
        running.wait_store(store.id)
        second = upload(running, tmp_path, "two.txt", "second file")
        running.client.vector_stores.files.create(vector_store_id=store.id, file_id=second)
        done = running.wait_store(store.id)
        failed = running.client.vector_stores.files.retrieve(first, vector_store_id=store.id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error.code == "server_error"
    assert "input too long" in failed.last_error.message
    assert done.status == "completed" and done.file_counts.completed == 1


def test_one_request_embeds_many_chunks(
    start_agent: AgentFactory, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    with start_agent(embeddings=True) as running:
        text = " ".join(f"word{i}" for i in range(3000))
        file_id = upload(running, tmp_path, "long.txt", text)
        store = running.client.vector_stores.create(
            file_ids=[file_id],
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
            },
        )
        running.wait_store(store.id)
    bodies = [r.json for r in fake_provider.provider.requests if r.path.endswith("/embeddings")]
    assert len(bodies) == 1 and len(bodies[0]["input"]) > 20  # type: ignore[index]


def _embedded_inputs(fake: FakeProviderServer) -> list[object]:
    return [r.json["input"] for r in fake.provider.requests if r.path.endswith("/embeddings")]  # type: ignore[index]


def test_a_repeated_query_is_embedded_once(
    hybrid_agent: Agent, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    store_id = _store(hybrid_agent, tmp_path)
    before = len(_embedded_inputs(fake_provider))
    first = _search(hybrid_agent, store_id, query="refund window")
    second = _search(hybrid_agent, store_id, query="refund window")
    assert len(_embedded_inputs(fake_provider)) == before + 1
    assert first["data"] == second["data"]


def test_a_new_query_is_embedded_again(
    hybrid_agent: Agent, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    store_id = _store(hybrid_agent, tmp_path)
    _search(hybrid_agent, store_id, query="refund window")
    _search(hybrid_agent, store_id, query="database password")
    assert _embedded_inputs(fake_provider)[-2:] == [["refund window"], ["database password"]]
