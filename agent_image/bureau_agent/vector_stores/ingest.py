"""Background ingestion: extract, chunk, embed (batched) and index vector store files.

A fixed pool of workers prepares files (CPU work in threads, embedding requests batched by the
embedder), so at most ``workers`` files are in preparation at once. One writer then indexes what
is ready in groups (up to ``WRITE_BATCH`` files per LanceDB commit, because a commit costs far
more than its rows). Every failure is the file's own: it ends ``failed`` with ``last_error``
(``unsupported_file``, ``invalid_file``, or ``server_error`` with the reason); the store and the
other files go on. Files still ``in_progress`` when the agent stopped are queued again at start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bureau_agent.files.extract import extract_text
from bureau_agent.files.storage import FileStorage
from bureau_agent.retrieval.chunking import Chunk, ChunkingStrategy, chunk_text
from bureau_agent.retrieval.chunks import ChunkStore
from bureau_agent.retrieval.embeddings.base import Embedder
from bureau_agent.retrieval.errors import EmbeddingsError, ExtractionError
from bureau_agent.store.db import Database
from bureau_agent.vector_stores import repository as repo

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 4
WRITE_BATCH = 64
IDLE_OPTIMIZE_ROWS = 1000
"""After this many new chunks, an idle queue triggers a full optimize (vector index build)."""


@dataclass
class Ready:
    vector_store_id: str
    file_id: str
    rows: list[dict[str, Any]]
    vectors: np.ndarray | None
    """float32, one row per chunk (compact: Python float lists cost six times more)."""
    space: str | None
    replace: bool
    """The file may have chunks already (re-added, or resumed after a stop): delete them first."""

    @property
    def usage_bytes(self) -> int:
        text = sum(len(row["text"].encode()) for row in self.rows)
        return text + (self.vectors.nbytes if self.vectors is not None else 0)


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
        self._queue: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        self._ready: asyncio.Queue[Ready] = asyncio.Queue(maxsize=2 * WRITE_BATCH)
        """Bounded: preparation waits for the writer instead of piling vectors up in memory."""
        self._tasks: list[asyncio.Task[None]] = []
        self._count = workers
        self._rows_since_optimize = 0
        self._maintenance: asyncio.Task[None] | None = None
        self._maintenance_again = False

    async def start(self) -> None:
        for vector_store_id, file_id in await self.db.run(repo.in_progress):
            self._queue.put_nowait((vector_store_id, file_id, True))
        self._tasks = [
            asyncio.create_task(self._work(), name=f"ingest-{i}") for i in range(self._count)
        ]
        self._tasks.append(asyncio.create_task(self._write(), name="ingest-writer"))

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._tasks.append(self._maintenance)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def submit(self, vector_store_id: str, file_ids: list[str]) -> None:
        for file_id in file_ids:
            self._queue.put_nowait((vector_store_id, file_id, False))

    async def drain(self) -> None:
        """Wait until every queued file has been indexed or failed (tests and the benchmark)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            vector_store_id, file_id, resumed = await self._queue.get()
            ready: Ready | None = None
            try:
                ready = await self.prepare(vector_store_id, file_id, resumed)
            except Exception:  # a bug must not kill the worker; the file is marked failed
                log.exception("ingestion of %s into %s crashed", file_id, vector_store_id)
                await self._fail(vector_store_id, file_id, "server_error", "internal error")
            if ready is None:
                self._queue.task_done()
            else:
                await self._ready.put(ready)  # the writer marks it done

    async def prepare(
        self, vector_store_id: str, file_id: str, resumed: bool = False
    ) -> Ready | None:
        """Extract, chunk and embed one file; None when it failed or needs no work."""

        def _load(conn: sqlite3.Connection) -> tuple[str, str, str, int] | None:
            row = repo.file_row(conn, vector_store_id, file_id)
            if row is None or row["status"] != "in_progress":
                return None
            file = conn.execute("SELECT filename FROM files WHERE id = ?", (file_id,)).fetchone()
            name = file["filename"] if file else ""
            return (name, row["chunking"], row["attributes"], row["chunks"])

        loaded = await self.db.run(_load)
        if loaded is None:
            return None
        filename, chunking_json, attributes_json, previous_chunks = loaded
        path = self.storage.path(file_id)
        if not filename or not path.exists():
            await self._fail(vector_store_id, file_id, "invalid_file", "file not found")
            return None
        strategy = ChunkingStrategy.parse(json.loads(chunking_json))
        try:
            chunks = await asyncio.to_thread(_extract_and_chunk, filename, path, strategy)
            embedder = self._embedder()
            embedded = await embedder.embed([c.text for c in chunks]) if embedder else None
            vectors = _float32(embedded) if embedded else None
        except ExtractionError as exc:
            await self._fail(vector_store_id, file_id, exc.code, exc.message)
            return None
        except EmbeddingsError as exc:
            await self._fail(vector_store_id, file_id, "server_error", f"embeddings: {exc}")
            return None
        rows = ChunkStore.rows_for(vector_store_id, file_id, json.loads(attributes_json), chunks)
        space = embedder.space if embedder is not None and vectors is not None else None
        replace = resumed or previous_chunks > 0
        return Ready(vector_store_id, file_id, rows, vectors, space, replace)

    async def _write(self) -> None:
        while True:
            batch = [await self._ready.get()]
            while len(batch) < WRITE_BATCH and not self._ready.empty():
                batch.append(self._ready.get_nowait())
            try:
                await self._index(batch)
            except Exception as exc:
                log.exception("indexing a batch of %d files failed", len(batch))
                for item in batch:
                    await self._fail(item.vector_store_id, item.file_id, "server_error", str(exc))
            finally:
                self._rows_since_optimize += sum(len(item.rows) for item in batch)
                if self._rows_since_optimize >= IDLE_OPTIMIZE_ROWS and self._idle():
                    self._start_maintenance()
                for _ in batch:
                    self._queue.task_done()

    def _idle(self) -> bool:
        return self._ready.empty() and self._queue.qsize() == 0

    def _start_maintenance(self) -> None:
        """A full optimize (it may build the vector index) beside ingestion, one at a time; asked
        for while one runs, another pass follows it (the running one may predate the last rows,
        e.g. started on a premature idle moment, and would leave them without an index)."""
        self._rows_since_optimize = 0
        if self._maintenance is not None and not self._maintenance.done():
            self._maintenance_again = True
            return
        self._maintenance = asyncio.create_task(self._optimize(), name="ingest-optimize")

    async def _optimize(self) -> None:
        while True:
            self._maintenance_again = False
            try:
                await self.chunks.index.optimize()
            except Exception:
                log.exception("optimizing the chunk index failed")
            if not self._maintenance_again:
                return

    async def _index(self, batch: list[Ready]) -> None:
        by_store: dict[str, list[str]] = defaultdict(list)
        by_space: dict[str | None, list[Ready]] = defaultdict(list)
        for item in batch:
            if item.replace:
                by_store[item.vector_store_id].append(item.file_id)
            by_space[item.space].append(item)
        for store_id, file_ids in by_store.items():  # a re-added file replaces its chunks
            await self.chunks.delete_files(store_id, file_ids)
        for space, items in by_space.items():
            rows = [row for item in items for row in item.rows]
            vectors = None
            if space is not None:
                vectors = _stack([i.vectors for i in items if i.vectors is not None])
            await self.chunks.add_rows(rows, vectors, space)

        def _finish(conn: sqlite3.Connection) -> list[Ready]:
            gone = []
            for item in batch:
                done = repo.finish_file(
                    conn, item.vector_store_id, item.file_id, status="completed",
                    usage=item.usage_bytes, chunks=len(item.rows),
                )  # fmt: skip
                if not done:
                    gone.append(item)
            return gone

        for item in await self.db.run(_finish):  # cancelled or removed meanwhile
            await self.chunks.delete_files(item.vector_store_id, [item.file_id])

    async def _fail(self, vector_store_id: str, file_id: str, code: str, message: str) -> None:
        def _failed(conn: sqlite3.Connection) -> bool:
            error = {"code": code, "message": message}
            return repo.finish_file(conn, vector_store_id, file_id, status="failed", error=error)

        await self.db.run(_failed)


def _extract_and_chunk(filename: str, path: Path, strategy: ChunkingStrategy) -> list[Chunk]:
    text = extract_text(filename, path)
    chunks = chunk_text(text, strategy)
    if not chunks:
        raise ExtractionError("The file contains no extractable text.", code="invalid_file")
    return chunks


def _float32(vectors: list[list[float]]) -> np.ndarray:
    import numpy as np

    return np.asarray(vectors, dtype=np.float32)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    return np.concatenate(parts)
