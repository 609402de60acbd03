"""Retrieval quality on a labelled corpus: recall@5 of full-text and hybrid search.

Measured on this corpus (20 answers + 10 distractors, 20 queries) when written: full text
recall@5 1.00 and recall@1 0.90; hybrid recall@5 1.00 and recall@1 0.80 (the fake provider's
bag-of-words vectors count stop words, which a real embeddings model would not). The floors
leave room for tokenizer changes in LanceDB without letting a real regression through.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.agent_retrieval.conftest import Agent, upload
from tests.agent_retrieval.corpus import DISTRACTORS, PASSAGES, QUERIES
from tests.helpers.wait import wait_until

FULL_TEXT_FLOOR = 0.9
HYBRID_FLOOR = 0.9
FULL_TEXT_AT1_FLOOR = 0.8
HYBRID_AT1_FLOOR = 0.7


def recall(agent: Agent, tmp_path: Path) -> tuple[float, float]:
    """(recall@5, recall@1) over ``QUERIES``."""
    corpus = PASSAGES | DISTRACTORS
    ids = [upload(agent, tmp_path, name, text) for name, text in corpus.items()]
    store = agent.client.vector_stores.create(name="quality", file_ids=ids)
    done = agent.wait_store(store.id)
    assert done.file_counts.completed == len(corpus)
    at5 = at1 = 0
    for query, answer in QUERIES:
        results = agent.client.vector_stores.search(store.id, query=query, max_num_results=5)
        names = [r.filename for r in results.data]
        at5 += answer in names
        at1 += names[:1] == [answer]
    return at5 / len(QUERIES), at1 / len(QUERIES)


def test_full_text_recall_at_5(agent: Agent, tmp_path: Path) -> None:
    at5, at1 = recall(agent, tmp_path)
    print(f"full-text recall@5 = {at5:.2f}, recall@1 = {at1:.2f}")
    assert at5 >= FULL_TEXT_FLOOR and at1 >= FULL_TEXT_AT1_FLOOR


def test_hybrid_recall_at_5(hybrid_agent: Agent, tmp_path: Path) -> None:
    at5, at1 = recall(hybrid_agent, tmp_path)
    print(f"hybrid recall@5 = {at5:.2f}, recall@1 = {at1:.2f}")
    assert at5 >= HYBRID_FLOOR and at1 >= HYBRID_AT1_FLOOR


def _vector_indexes(data_dir: Path) -> list[str]:
    """The vector indexes of the agent's chunk vector tables (read from its LanceDB)."""
    import lancedb

    db = lancedb.connect(str(data_dir / "lancedb"))
    names = [n for n in db.list_tables().tables if n.startswith("chunks_vec_")]
    return [
        index.index_type
        for name in names
        for index in db.open_table(name).list_indices()
        if index.columns == ["vector"]
    ]


def _filler(seed: int, words: int) -> str:
    """Unrelated prose-like text (a fixed pseudo-random draw over a made-up vocabulary)."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("aeioukltmnrsv", k=rng.randint(3, 8))) for _ in range(3000)]
    return " ".join(rng.choices(vocab, k=words))


def test_hybrid_recall_at_5_holds_on_the_vector_index(hybrid_agent: Agent, tmp_path: Path) -> None:
    """The labelled corpus among ~1,250 filler chunks: enough for the agent to build its IVF
    index when ingestion goes idle, so the vector half of the search runs on the index."""
    corpus = PASSAGES | DISTRACTORS
    ids = [upload(hybrid_agent, tmp_path, name, text) for name, text in corpus.items()]
    ids += [upload(hybrid_agent, tmp_path, f"filler{i}.txt", _filler(i, 6000)) for i in range(8)]
    chunking = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
    }
    store = hybrid_agent.client.vector_stores.create(
        name="indexed",
        file_ids=ids,
        chunking_strategy=chunking,  # type: ignore[arg-type]
    )
    done = hybrid_agent.wait_store(store.id, timeout=180)
    assert done.file_counts.completed == len(ids)
    assert wait_until(lambda: _vector_indexes(hybrid_agent.data_dir), timeout=120) == ["IvfSq"]
    at5 = 0
    for query, answer in QUERIES:
        results = hybrid_agent.client.vector_stores.search(store.id, query=query, max_num_results=5)
        at5 += answer in [r.filename for r in results.data]
    print(f"hybrid recall@5 on the vector index = {at5 / len(QUERIES):.2f}")
    assert at5 / len(QUERIES) >= HYBRID_FLOOR
