"""Chunking, filters, query rewrite, extraction and the memory size policy, below the API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bureau_agent.files.extract import extract_text
from bureau_agent.memory.store import MemoryStore
from bureau_agent.retrieval.chunking import ChunkingStrategy, chunk_text, count_tokens
from bureau_agent.retrieval.errors import ExtractionError, InvalidRequest
from bureau_agent.retrieval.filters import parse_filter
from bureau_agent.retrieval.lance import Hit, connect
from bureau_agent.retrieval.rewrite import rewrite_query
from bureau_agent.retrieval.search import fuse


def test_chunks_respect_size_and_overlap_in_tokens() -> None:
    text = " ".join(f"token{i}" for i in range(2000))
    strategy = ChunkingStrategy(max_chunk_size_tokens=300, chunk_overlap_tokens=100)
    chunks = chunk_text(text, strategy)
    assert all(c.tokens <= 300 for c in chunks)
    assert all(count_tokens(c.text) <= 301 for c in chunks)  # decode/re-encode may merge one
    first_tail = chunks[0].text.split()[-5:]
    assert " ".join(first_tail) in chunks[1].text  # the overlap repeats the end of the window
    assert chunks[-1].text.rstrip().endswith("token1999")


def test_short_text_is_one_chunk() -> None:
    [chunk] = chunk_text("just a few words", ChunkingStrategy())
    assert chunk.text == "just a few words" and chunk.index == 0


def test_auto_strategy_is_800_400() -> None:
    assert ChunkingStrategy.parse({"type": "auto"}) == ChunkingStrategy(800, 400)
    assert ChunkingStrategy.parse(None).to_api()["static"] == {
        "max_chunk_size_tokens": 800,
        "chunk_overlap_tokens": 400,
    }


def test_boolean_chunk_size_is_not_an_integer() -> None:
    with pytest.raises(InvalidRequest):
        ChunkingStrategy.parse({"type": "static", "static": {"max_chunk_size_tokens": True}})


def test_filters_compare_like_openai() -> None:
    attrs: dict[str, str | float | bool] = {"year": 2024, "team": "ops", "public": True}
    assert parse_filter({"type": "gt", "key": "year", "value": 2023})(attrs)
    assert not parse_filter({"type": "gt", "key": "team", "value": 3})(attrs)
    assert parse_filter({"type": "in", "key": "team", "value": ["ops", "dev"]})(attrs)
    assert parse_filter({"type": "nin", "key": "missing", "value": ["x"]})(attrs)
    assert parse_filter({"type": "eq", "key": "public", "value": True})(attrs)
    assert not parse_filter({"type": "eq", "key": "year", "value": True})(attrs)
    either = {"type": "or", "filters": [{"type": "eq", "key": "team", "value": "dev"},
                                       {"type": "lte", "key": "year", "value": 2024}]}  # fmt: skip
    assert parse_filter(either)(attrs)


def test_in_filter_needs_a_list() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_filter({"type": "in", "key": "team", "value": "ops"})
    assert caught.value.param == "filters.value"


def test_rewrite_is_deterministic_and_keeps_meaning() -> None:
    query = "Could you tell me what the refund policy is for EU customers, please?"
    assert rewrite_query(query) == "refund policy eu customers"
    assert rewrite_query(query) == rewrite_query(query)
    assert rewrite_query("the") == "the"  # nothing left: the original stays


def test_rrf_puts_agreement_first_and_normalises() -> None:
    vector = [Hit("a", 0.9, {}), Hit("b", 0.8, {})]
    text = [Hit("a", 7.0, {}), Hit("c", 5.0, {})]
    ranked = fuse([vector, text])
    assert ranked[0] == ("a", 1.0)
    assert [cid for cid, _ in ranked[1:]] == ["b", "c"] or [cid for cid, _ in ranked[1:]] == [
        "c",
        "b",
    ]
    assert all(0 < score < 1 for _, score in ranked[1:])


def test_jsonl_lines_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"b": \n')
    with pytest.raises(ExtractionError) as caught:
        extract_text("rows.jsonl", path)
    assert caught.value.code == "invalid_file" and "line 2" in caught.value.message


def test_extensionless_text_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "Makefile"
    path.write_text("all:\n\techo build\n")
    assert "echo build" in extract_text("Makefile", path)


def test_memory_bound_evicts_oldest_exchanges_before_notes(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        store = MemoryStore(lambda: None, lambda: 1_800_000_000, max_items=10)
        await store.open(await connect(tmp_path / "lancedb"))
        await store.add("note: keep me", None, "note")
        for i in range(12):
            await store.add(f"exchange {i}", "thread_a", "exchange")
        return [m.text for m in await store.list_all()]

    texts = asyncio.run(scenario())
    assert len(texts) == 10
    assert "note: keep me" in texts
    assert "exchange 0" not in texts and "exchange 2" not in texts and "exchange 11" in texts


def test_memories_survive_reopening_the_database(tmp_path: Path) -> None:
    async def write() -> None:
        store = MemoryStore(lambda: None, lambda: 1_800_000_000)
        await store.open(await connect(tmp_path / "lancedb"))
        await store.add("The deploy key lives in vault at secret/deploy.", "t1", "note")

    async def read() -> list[str]:
        store = MemoryStore(lambda: None, lambda: 1_800_000_000)
        await store.open(await connect(tmp_path / "lancedb"))
        return [m.text for m in await store.search("deploy key vault", 3)]

    asyncio.run(write())
    assert asyncio.run(read()) == ["The deploy key lives in vault at secret/deploy."]
