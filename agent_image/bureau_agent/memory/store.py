"""The ``memories`` table: one row per remembered exchange or note, searchable like chunks.

Size policy (documented in the README): at most ``max_items`` memories (default 5,000) and at
most ``MAX_TEXT`` characters each (an exchange keeps the head of the user message and of the
answer). When a write goes over the bound, the oldest *exchanges* are evicted first; notes the
model saved with ``remember`` go only when no exchange is left. Every ``OPTIMIZE_EVERY_WRITES``
writes the table is compacted (``optimize``), and deletions prune old versions so a deleted
memory leaves the disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from bureau_agent.ids import new_id
from bureau_agent.retrieval.embeddings.base import Embedder
from bureau_agent.retrieval.errors import EmbeddingsError
from bureau_agent.retrieval.lance import Connector, TextIndex, sql_str
from bureau_agent.retrieval.search import saturate

log = logging.getLogger(__name__)

MAX_TEXT = 4000
DEFAULT_MAX_ITEMS = 5000
Kind = Literal["exchange", "note"]
COLUMNS = (
    ("thread_id", "string"),
    ("kind", "string"),
    ("created_at", "int64"),
    ("seq", "int64"),
)


@dataclass(frozen=True)
class Memory:
    id: str
    text: str
    thread_id: str
    kind: str
    created_at: int
    score: float | None = None
    seq: int = 0

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "memory",
            "text": self.text,
            "thread_id": self.thread_id or None,
            "kind": self.kind,
            "created_at": self.created_at,
        }
        if self.score is not None:
            body["score"] = self.score
        return body

    @classmethod
    def of(cls, row: dict[str, Any], score: float | None = None) -> Memory:
        return cls(
            row["id"], row["text"], row["thread_id"], row["kind"], int(row["created_at"]), score,
            int(row.get("seq") or 0),
        )  # fmt: skip


class MemoryStore:
    def __init__(
        self,
        embedder: Callable[[], Embedder | None],
        now: Callable[[], int],
        max_items: int = DEFAULT_MAX_ITEMS,
        connector: Connector | None = None,
    ) -> None:
        self.index = TextIndex("memories", COLUMNS, connector=connector)
        self._embedder = embedder
        self.now = now
        self.max_items = max_items
        self._write_lock = asyncio.Lock()
        self._last_seq = 0

    async def open(self, db: Any) -> MemoryStore:
        await self.index.open(db)
        return self

    async def add(self, text: str, thread_id: str | None, kind: Kind) -> Memory:
        text = text.strip()[:MAX_TEXT]
        memory = Memory(new_id("mem"), text, thread_id or "", kind, self.now())
        row = {
            "id": memory.id,
            "thread_id": memory.thread_id,
            "kind": kind,
            "created_at": memory.created_at,
            "seq": self._next_seq(),
            "text": text,
        }
        vectors, space = None, None
        embedder = self._embedder()
        if embedder is not None:
            try:
                vectors, space = await embedder.embed([text]), embedder.space
            except EmbeddingsError as exc:
                log.warning("memory stored without embedding (full text only): %s", exc)
        async with self._write_lock:
            await self.index.add([row], vectors, space)
            await self._enforce_bound()
        return memory

    def _next_seq(self) -> int:
        """Insertion order (nanoseconds, strictly increasing in this process)."""
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return self._last_seq

    async def _enforce_bound(self) -> None:
        total = await self.index.count()
        excess = total - self.max_items
        if excess <= 0:
            return
        rows = await self.index.rows("true", ["id", "kind", "seq"])
        rows.sort(key=lambda r: (r["kind"] != "exchange", r["seq"]))
        victims = [r["id"] for r in rows[:excess]]
        for start in range(0, len(victims), 500):
            ids = victims[start : start + 500]
            await self.index.delete("id IN (" + ", ".join(sql_str(i) for i in ids) + ")")

    async def search(
        self,
        query: str,
        limit: int,
        *,
        exclude_thread: str | None = None,
        min_score: float = 0.0,
    ) -> list[Memory]:
        """Best memories for ``query``: score = max(cosine similarity, saturated BM25)."""
        where = f"thread_id != {sql_str(exclude_thread)}" if exclude_thread else None
        depth = max(limit * 3, 20)
        scores: dict[str, float] = {}
        for hit in await self.index.full_text(query, where, depth):
            scores[hit.id] = max(scores.get(hit.id, 0.0), saturate(hit.score))
        embedder = self._embedder()
        if embedder is not None:
            try:
                vector = (await embedder.embed([query]))[0]
                for hit in await self.index.nearest(vector, embedder.space, where, depth):
                    scores[hit.id] = max(scores.get(hit.id, 0.0), hit.score)
            except EmbeddingsError as exc:
                log.warning("memory search without embeddings (full text only): %s", exc)
        ranked = sorted(
            ((i, s) for i, s in scores.items() if s >= min_score), key=lambda p: (-p[1], p[0])
        )[:limit]
        rows = await self.index.fetch([i for i, _ in ranked])
        return [Memory.of(rows[i], round(s, 6)) for i, s in ranked if i in rows]

    async def list_all(self, thread_id: str | None = None) -> list[Memory]:
        where = f"thread_id = {sql_str(thread_id)}" if thread_id else "true"
        rows = await self.index.rows(where)
        memories = [Memory.of(r) for r in rows]
        memories.sort(key=lambda m: -m.seq)
        return memories

    async def get(self, memory_id: str) -> Memory | None:
        rows = await self.index.fetch([memory_id])
        return Memory.of(rows[memory_id]) if memory_id in rows else None

    async def delete(self, ids: Sequence[str]) -> None:
        async with self._write_lock:
            await self.index.delete("id IN (" + ", ".join(sql_str(i) for i in ids) + ")")
            await self.index.optimize(prune=timedelta(seconds=0))

    async def delete_all(self) -> int:
        async with self._write_lock:
            total = await self.index.count()
            await self.index.delete("true")
            await self.index.optimize(prune=timedelta(seconds=0))
            return total
