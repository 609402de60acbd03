"""Background ingestion: extract, chunk, embed (batched) and index vector store files.

A fixed pool of workers drains one queue, so at most ``workers`` files are processed at once
(CPU work runs in threads, embedding requests are batched by the embedder). Every failure is the
file's own: it ends ``failed`` with ``last_error`` (``unsupported_file``, ``invalid_file`` or
``server_error`` with the reason); the store and the other files go on. Files still
``in_progress`` when the agent stopped are queued again at start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bureau_agent.files.extract import extract_text
from bureau_agent.files.storage import FileStorage
from bureau_agent.retrieval.chunking import Chunk, ChunkingStrategy, chunk_text
from bureau_agent.retrieval.chunks import ChunkStore
from bureau_agent.retrieval.embeddings.base import Embedder
from bureau_agent.retrieval.errors import EmbeddingsError, ExtractionError
from bureau_agent.store.db import Database
from bureau_agent.vector_stores import repository as repo

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class Prepared:
    chunks: list[Chunk]
    vectors: list[list[float]] | None
    space: str | None

    @property
    def usage_bytes(self) -> int:
        text = sum(len(c.text.encode()) for c in self.chunks)
        width = len(self.vectors[0]) * 4 if self.vectors else 0
        return text + width * len(self.chunks)


class Ingestor:
    def __init__(
        self,
        db: Database,
        storage: FileStorage,
        chunks: ChunkStore,
        embedder: Callable[[], Embedder | None],
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.db = db
        self.storage = storage
        self.chunks = chunks
        self._embedder = embedder
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._count = workers

    async def start(self) -> None:
        for vector_store_id, file_id in await self.db.run(repo.in_progress):
            self._queue.put_nowait((vector_store_id, file_id))
        self._workers = [
            asyncio.create_task(self._work(), name=f"ingest-{i}") for i in range(self._count)
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def submit(self, vector_store_id: str, file_ids: list[str]) -> None:
        for file_id in file_ids:
            self._queue.put_nowait((vector_store_id, file_id))

    async def drain(self) -> None:
        """Wait until every queued file has been processed (tests and the benchmark)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            vector_store_id, file_id = await self._queue.get()
            try:
                await self.ingest(vector_store_id, file_id)
            except Exception:  # a bug must not kill the worker; the file is marked failed
                log.exception("ingestion of %s into %s crashed", file_id, vector_store_id)
                await self._finish_failed(
                    vector_store_id, file_id, "server_error", "internal error"
                )
            finally:
                self._queue.task_done()

    async def ingest(self, vector_store_id: str, file_id: str) -> None:
        def _load(conn: sqlite3.Connection) -> tuple[str, str, str] | None:
            row = repo.file_row(conn, vector_store_id, file_id)
            if row is None or row["status"] != "in_progress":
                return None
            file = conn.execute("SELECT filename FROM files WHERE id = ?", (file_id,)).fetchone()
            return (file["filename"] if file else "", row["chunking"], row["attributes"])

        loaded = await self.db.run(_load)
        if loaded is None:
            return
        filename, chunking_json, attributes_json = loaded
        path = self.storage.path(file_id)
        if not filename or not path.exists():
            await self._finish_failed(vector_store_id, file_id, "invalid_file", "file not found")
            return
        strategy = ChunkingStrategy.parse(json.loads(chunking_json))
        try:
            prepared = await self._prepare(filename, path, strategy)
        except ExtractionError as exc:
            await self._finish_failed(vector_store_id, file_id, exc.code, exc.message)
            return
        except EmbeddingsError as exc:
            await self._finish_failed(
                vector_store_id, file_id, "server_error", f"embeddings: {exc}"
            )
            return
        await self.chunks.delete_file(vector_store_id, file_id)
        await self.chunks.add_file(
            vector_store_id, file_id, json.loads(attributes_json), prepared.chunks,
            prepared.vectors, prepared.space,
        )  # fmt: skip

        def _finish(conn: sqlite3.Connection) -> bool:
            return repo.finish_file(
                conn, vector_store_id, file_id, status="completed",
                usage=prepared.usage_bytes, chunks=len(prepared.chunks),
            )  # fmt: skip

        if not await self.db.run(_finish):  # cancelled or removed meanwhile: take the chunks back
            await self.chunks.delete_file(vector_store_id, file_id)

    async def _prepare(self, filename: str, path: Path, strategy: ChunkingStrategy) -> Prepared:
        chunks = await asyncio.to_thread(_extract_and_chunk, filename, path, strategy)
        embedder = self._embedder()
        if embedder is None or not chunks:
            return Prepared(chunks, None, None)
        vectors = await embedder.embed([c.text for c in chunks])
        return Prepared(chunks, vectors, embedder.space)

    async def _finish_failed(
        self, vector_store_id: str, file_id: str, code: str, message: str
    ) -> None:
        def _fail(conn: sqlite3.Connection) -> bool:
            error = {"code": code, "message": message}
            return repo.finish_file(conn, vector_store_id, file_id, status="failed", error=error)

        await self.db.run(_fail)


def _extract_and_chunk(filename: str, path: Path, strategy: ChunkingStrategy) -> list[Chunk]:
    text = extract_text(filename, path)
    chunks = chunk_text(text, strategy)
    if not chunks:
        raise ExtractionError("The file contains no extractable text.", code="invalid_file")
    return chunks
