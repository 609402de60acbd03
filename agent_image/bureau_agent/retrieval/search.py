"""Search over vector stores: full text alone, or hybrid (vector + full text) with RRF.

Modes (reported in the response's ``search_metadata.mode``):
- ``full_text`` (no embeddings provider): LanceDB's native BM25 full-text search. ``score`` is the
  BM25 score saturated into [0, 1) as ``bm25 / (bm25 + 1)``; with several queries a chunk keeps
  its best score. Results are ordered by score.
- ``hybrid`` (embeddings configured): for every query, a cosine nearest-neighbour list and a BM25
  list; all lists are fused by reciprocal-rank fusion (k = 60). ``score`` is the fused score
  divided by the best attainable one, so 1.0 means "ranked first by every list".
  ``ranking_options.ranker = "none"`` skips fusion and ranks by vector similarity alone
  (``score`` = cosine similarity), which saves the full-text query.
``score_threshold`` drops results whose ``score`` is below it. When the embeddings provider
fails at query time, the search falls back to full text (mode says so) instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bureau_agent.retrieval.chunks import ChunkStore, scope
from bureau_agent.retrieval.embeddings.base import Embedder
from bureau_agent.retrieval.errors import EmbeddingsError
from bureau_agent.retrieval.lance import Hit
from bureau_agent.retrieval.rewrite import rewrite_query

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

RRF_K = 60
POSTFILTER_SHARE = 0.5
MAX_DEPTH = 200
QUERY_VECTOR_CACHE = 256
"""Query embeddings kept (1536 float32 each: 6 KB, 1.5 MB in all)."""
SearchMode = Literal["hybrid", "full_text"]


@dataclass(frozen=True)
class SearchRequest:
    vector_store_ids: Sequence[str]
    queries: Sequence[str]
    max_num_results: int = 20
    score_threshold: float = 0.0
    rewrite: bool = False
    ranker: str = "auto"
    file_ids: Sequence[str] | None = None
    """Restrict to these files (the result of an attribute filter); None means all."""
    share: float = 0.0
    """The searched stores' share of all chunks (0 … 1, 0 = unknown). From one half up, the
    vector search filters its neighbours afterwards (asking for ``depth / share`` of them)
    instead of filtering the table first, which costs several times more in LanceDB."""


@dataclass(frozen=True)
class SearchResult:
    chunk_id: str
    vector_store_id: str
    file_id: str
    text: str
    score: float
    attributes: str


@dataclass
class SearchOutcome:
    results: list[SearchResult]
    search_queries: list[str]
    mode: SearchMode
    notes: list[str] = field(default_factory=list)


def saturate(bm25: float) -> float:
    return bm25 / (bm25 + 1.0) if bm25 > 0 else 0.0


def candidate_depth(max_num_results: int) -> int:
    return min(100, max(20, 3 * max_num_results))


def fuse(lists: Sequence[Sequence[Hit]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion, normalised so that first place in every list scores 1.0."""
    scores: dict[str, float] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (k + rank)
    best = max(1, sum(1 for hits in lists if hits)) / (k + 1)
    return sorted(((cid, s / best) for cid, s in scores.items()), key=lambda p: (-p[1], p[0]))


class SearchEngine:
    def __init__(self, chunks: ChunkStore, embedder: Callable[[], Embedder | None]) -> None:
        self.chunks = chunks
        self._embedder = embedder
        self._vector_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        """Query embeddings by (embedding space, query text), least recently used first."""

    async def search(self, request: SearchRequest) -> SearchOutcome:
        queries = [rewrite_query(q) if request.rewrite else q.strip() for q in request.queries]
        outcome = SearchOutcome([], queries, "full_text")
        if request.file_ids is not None and not request.file_ids:
            return outcome
        where = scope(request.vector_store_ids, request.file_ids)
        depth = candidate_depth(request.max_num_results)
        embedder = self._embedder()
        vectors: list[np.ndarray] | None = None
        if embedder is not None:
            try:
                vectors = await self._query_vectors(embedder, queries)
            except EmbeddingsError as exc:
                log.warning("query embedding failed, searching full text only: %s", exc)
                outcome.notes.append(f"embeddings unavailable ({exc}); full-text search only")
        rows: dict[str, dict[str, Any]] = {}
        if embedder is not None and vectors is not None:
            outcome.mode = "hybrid"
            ranked = await self._hybrid(
                queries, vectors, embedder.space, where, depth, request, rows
            )
        else:
            ranked = await self._full_text(queries, where, depth, request, rows)
        ranked = [(cid, _clamp(s)) for cid, s in ranked]
        ranked = [(cid, s) for cid, s in ranked if s >= request.score_threshold]
        ranked = ranked[: request.max_num_results]
        outcome.results = [_result(rows[cid], score) for cid, score in ranked if cid in rows]
        return outcome

    async def _query_vectors(self, embedder: Embedder, queries: Sequence[str]) -> list[np.ndarray]:
        """The queries' embeddings, from the cache when the same text was embedded in the same
        space lately (a model gives the same text the same vector; it saves a provider call)."""
        import numpy as np

        keys = [(embedder.space, q) for q in queries]
        missing = list(dict.fromkeys(q for key, q in zip(keys, queries, strict=True)
                                     if key not in self._vector_cache))  # fmt: skip
        found = {key: self._vector_cache[key] for key in keys if key in self._vector_cache}
        if missing:
            fetched = await embedder.embed(missing)
            for query, vector in zip(missing, fetched, strict=True):
                key = (embedder.space, query)
                found[key] = self._vector_cache[key] = np.asarray(vector, dtype=np.float32)
        for key in keys:
            self._vector_cache.move_to_end(key)
        while len(self._vector_cache) > QUERY_VECTOR_CACHE:
            self._vector_cache.popitem(last=False)
        return [found[key] for key in keys]

    async def _full_text(
        self,
        queries: Sequence[str],
        where: str,
        depth: int,
        request: SearchRequest,
        rows: dict[str, dict[str, Any]],
    ) -> list[tuple[str, float]]:
        prefilter, wide = _plan(request, depth)
        lists = await asyncio.gather(
            *(self.chunks.full_text(q, where, wide, prefilter) for q in queries)
        )
        lists = [hits[:depth] for hits in lists]
        _collect(lists, rows)
        best: dict[str, float] = {}
        for hits in lists:
            for hit in hits:
                best[hit.id] = max(best.get(hit.id, 0.0), saturate(hit.score))
        return sorted(best.items(), key=lambda p: (-p[1], p[0]))

    async def _hybrid(
        self,
        queries: Sequence[str],
        vectors: Sequence[np.ndarray],
        space: str,
        where: str,
        depth: int,
        request: SearchRequest,
        rows: dict[str, dict[str, Any]],
    ) -> list[tuple[str, float]]:
        prefilter, wide = _plan(request, depth)
        vector_lists = [self.chunks.nearest(v, space, where, wide, prefilter) for v in vectors]
        if request.ranker == "none":
            lists = await asyncio.gather(*vector_lists)
            _collect(lists, rows)
            best: dict[str, float] = {}
            for hits in lists:
                for hit in hits:
                    best[hit.id] = max(best.get(hit.id, 0.0), max(hit.score, 0.0))
            return sorted(best.items(), key=lambda p: (-p[1], p[0]))
        text_lists = [self.chunks.full_text(q, where, wide, prefilter) for q in queries]
        lists = await asyncio.gather(*vector_lists, *text_lists)
        lists = [hits[:depth] for hits in lists]
        _collect(lists, rows)
        return fuse(lists)


def _plan(request: SearchRequest, depth: int) -> tuple[bool, int]:
    """(prefilter, candidates to ask for): when the searched stores hold at least
    ``POSTFILTER_SHARE`` of all chunks, filter the best ``depth / share`` candidates afterwards
    instead of filtering the whole table first (several times cheaper in LanceDB)."""
    if request.file_ids is not None or request.share < POSTFILTER_SHARE:
        return True, depth
    return False, min(MAX_DEPTH, math.ceil(depth / request.share))


def _result(row: dict[str, Any], score: float) -> SearchResult:
    return SearchResult(
        chunk_id=row["id"],
        vector_store_id=row["vector_store_id"],
        file_id=row["file_id"],
        text=row["text"],
        score=score,
        attributes=row["attributes"],
    )


def _clamp(score: float) -> float:
    return round(min(max(score, 0.0), 1.0), 6)


def _collect(lists: Sequence[Sequence[Hit]], rows: dict[str, dict[str, Any]]) -> None:
    for hits in lists:
        for hit in hits:
            rows.setdefault(hit.id, hit.row)
