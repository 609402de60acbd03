"""One LanceDB database per agent; ``TextIndex`` = a text table with native full-text search plus
one vector table per embedding space.

Why vectors live apart from the text: the vector column's width is fixed per table and depends
on the embeddings model, which the user may turn on, off or change at any time. Text rows (and
their full-text index) stay valid across such changes; a vector table is named after the space
(provider + model + width), so vectors of different models are never compared. Rows embedded in
an older space are still found by full text.

LanceDB and pyarrow are imported on first use and the database opens on first use (an idle
agent without vector stores or memories stays small).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

OPTIMIZE_EVERY_WRITES = 50
VECTOR_INDEX_MIN_ROWS = 1_000
"""From this many vectors ``optimize`` builds the vector index. LanceDB's flat scan decodes every
vector per query (1,200 x 1536: 10.6 ms CPU; IVF-SQ over the same rows: 4.3 ms)."""
VECTOR_INDEX_PREFIX = "vector_ivfsq_p"
"""The vector index's name carries its partition count: ``optimize`` rebuilds it when the table
has grown enough to want twice as many partitions (LanceDB only appends new rows to the
partitions it trained on), and replaces an index of another kind (IVF-flat, before)."""
NPROBES = 32
REFINE_FACTOR = 4
"""IVF-SQ (8-bit scalar quantisation) with ``NPROBES`` of ~sqrt(n)/2 partitions, the
``limit x REFINE_FACTOR`` best re-ranked on the full vectors. Measured on 40k x 1536 (the bench's
feature-hash vectors, recall@10 against an exact NumPy scan, one client, load ~3): IVF-flat
nprobes 16: 11.3 ms, 0.84 (100 probes, i.e. everything: 29.8 ms, 1.00); IVF-SQ nprobes 32
refine 4: 10.2 ms, 0.96 (builds in 8.5 s); IVF-RQ nprobes 32 refine 10: 8.3 ms, 0.93 (19 s);
IVF-HNSW-SQ ef 100: 4.5 ms but 0.58 (67 s)."""


def sql_str(value: str) -> str:
    """A SQL string literal for LanceDB filters (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


def space_table_name(prefix: str, space: str, dim: int) -> str:
    digest = hashlib.sha256(f"{space}|{dim}".encode()).hexdigest()[:12]
    return f"{prefix}_vec_{digest}"


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    """BM25 for full text, cosine similarity for vectors."""
    row: dict[str, Any]


Connector = Callable[[], Awaitable[Any]]
"""Returns the (shared) LanceDB ``AsyncConnection``."""
COLUMN_TYPES = ("string", "int32", "int64")


INDEX_CACHE_BYTES = 384 * 1024 * 1024
METADATA_CACHE_BYTES = 64 * 1024 * 1024
"""LanceDB's caches are unbounded by default (several GB); a desk VM has little memory."""


async def connect(path: Path) -> Any:
    import lancedb

    _mkdir(path)
    session = lancedb.Session(
        index_cache_size_bytes=INDEX_CACHE_BYTES, metadata_cache_size_bytes=METADATA_CACHE_BYTES
    )
    return await lancedb.connect_async(str(path), session=session)


class LazyConnection:
    """The agent's one LanceDB connection, opened by the first caller."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: Any = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> Any:
        if self._db is None:
            async with self._lock:
                if self._db is None:
                    self._db = await connect(self.path)
        return self._db


def _mkdir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


class TextIndex:
    """A text table (``id``, ``text`` and scalar columns) with FTS, and its vector tables.

    Writes from one process only (the agent); every method is safe to call concurrently.
    ``optimize`` runs after ``OPTIMIZE_EVERY_WRITES`` writes: it compacts small fragments, folds
    new rows into the FTS index (unindexed rows are still searched, by a flat scan) and prunes
    old versions so deleted rows leave the disk.
    """

    def __init__(
        self,
        name: str,
        columns: Sequence[tuple[str, str]],
        bitmap_columns: Sequence[str] = (),
        connector: Connector | None = None,
    ) -> None:
        """``columns``: (name, type) with type in ``COLUMN_TYPES``, besides ``id`` and ``text``.
        With ``connector`` the index opens itself on first use; else call ``open(db)``."""
        self.columns = [("id", "string"), *columns, ("text", "string")]
        self._connector = connector
        self._schema: Any = None
        self.bitmap_columns = tuple(bitmap_columns)
        """Low-cardinality filter columns (e.g. the vector store id): a bitmap index keeps
        prefiltered searches as fast as unfiltered ones."""
        self.db: Any = None
        self.name = name
        self._text: Any = None
        self._vectors: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._writes = 0
        self.generation = 0
        """Bumped by every write (add, delete, update): lets callers cache derived figures."""
        self._optimizing = False

    @property
    def schema(self) -> Any:
        if self._schema is None:
            import pyarrow as pa

            types = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64()}
            self._schema = pa.schema([pa.field(n, types[t]) for n, t in self.columns])
        return self._schema

    async def _ready(self) -> None:
        if self._text is None:
            if self._connector is None:
                raise RuntimeError(f"LanceDB table {self.name} is not open")
            async with self._lock:
                if self._text is None:
                    await self.open(await self._connector())

    async def open(self, db: Any) -> TextIndex:
        from lancedb.index import FTS

        self.db = db
        names = await self._table_names()
        if self.name in names:
            self._text = await self.db.open_table(self.name)
        else:
            self._text = await self.db.create_table(self.name, schema=self.schema)
            config = FTS(with_position=False, stem=True, remove_stop_words=True)
            await self._text.create_index("text", config=config)
        prefix = f"{self.name}_vec_"
        for table_name in names:
            if table_name.startswith(prefix):
                self._vectors[table_name] = await self.db.open_table(table_name)
        return self

    async def _table_names(self) -> list[str]:
        response = await self.db.list_tables()
        return list(response.tables)

    async def _vector_table(self, space: str, dim: int, create: bool) -> Any:
        name = space_table_name(self.name, space, dim)
        table = self._vectors.get(name)
        if table is None and create:
            async with self._lock:
                table = self._vectors.get(name)
                if table is None:
                    import pyarrow as pa

                    schema = pa.schema(
                        [*self.schema, pa.field("vector", pa.list_(pa.float32(), dim))]
                    )
                    table = await self.db.create_table(name, schema=schema, exist_ok=True)
                    self._vectors[name] = table
        return table

    async def add(
        self,
        rows: Sequence[Mapping[str, Any]],
        vectors: Sequence[Sequence[float]] | np.ndarray | None = None,
        space: str | None = None,
    ) -> None:
        """Append rows (each with ``id``, ``text`` and the scalar columns) and their vectors.

        The vector table holds a copy of the row (text included) so a vector hit needs no
        second lookup; one ``add`` is one commit per table, so callers batch.
        """
        if not rows:
            return
        import pyarrow as pa

        await self._ready()
        text_batch = pa.Table.from_pylist(list(rows), schema=self.schema)
        if vectors is not None and space is not None and len(vectors):
            import numpy as np

            matrix = np.asarray(vectors, dtype=np.float32)
            dim = int(matrix.shape[1])
            table = await self._vector_table(space, dim, create=True)
            column = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dim)
            await table.add(text_batch.append_column("vector", column))
        await self._text.add(text_batch)
        await self._wrote()

    async def delete(self, where: str) -> None:
        await self._ready()
        await self._text.delete(where)
        for table in list(self._vectors.values()):
            await table.delete(where)
        await self._wrote()

    async def update(self, where: str, values: Mapping[str, Any]) -> None:
        await self._ready()
        await self._text.update(dict(values), where=where)
        for table in list(self._vectors.values()):
            await table.update(dict(values), where=where)
        await self._wrote()

    async def _wrote(self) -> None:
        self.generation += 1
        self._writes += 1
        if self._writes >= OPTIMIZE_EVERY_WRITES and not self._optimizing:
            self._writes = 0
            await self.optimize(vector_index=False)

    async def optimize(
        self, prune: timedelta = timedelta(minutes=1), vector_index: bool = True
    ) -> None:
        """Compact, update the indexes (adding missing ones), drop versions older than ``prune``.

        ``vector_index=False`` skips *building* a missing vector index (a long job, left to
        idle time); existing indexes are always brought up to date.
        """
        await self._ready()
        self._optimizing = True
        try:
            for table in [self._text, *self._vectors.values()]:
                # Compact first: IVF trained on a table of many small fragments (as ingestion
                # leaves it) partitioned 40k bench vectors into two giant lists (nprobes 1 already
                # scanned 16-24k rows); trained after compaction, the lists are balanced.
                with warnings.catch_warnings():
                    # prune=0 (after a user deletes memories) warns about concurrent readers in
                    # other processes; the agent is the only process using its database.
                    warnings.simplefilter("ignore", UserWarning)
                    await table.optimize(cleanup_older_than=prune)
                await self._ensure_indexes(table, vector_index)
        finally:
            self._optimizing = False

    async def _ensure_indexes(self, table: Any, vector_index: bool) -> None:
        from lancedb.index import Bitmap

        indexes = await table.list_indices()
        existing = {tuple(index.columns) for index in indexes}
        rows = int(await table.count_rows())
        if not rows:
            return
        for column in self.bitmap_columns:
            if (column,) not in existing:
                await table.create_index(column, config=Bitmap())
        if vector_index and table is not self._text and rows >= VECTOR_INDEX_MIN_ROWS:
            current = [index.name for index in indexes if tuple(index.columns) == ("vector",)]
            await self._vector_index(table, rows, current)

    @staticmethod
    async def _vector_index(table: Any, rows: int, current: Sequence[str]) -> None:
        """Build the IVF-SQ index, or rebuild it when outgrown or of another kind; the old
        index serves until the new one is committed."""
        from lancedb.index import IvfSq

        partitions = max(8, int(rows**0.5 / 2))
        for name in current:
            built = name.removeprefix(VECTOR_INDEX_PREFIX)
            if name.startswith(VECTOR_INDEX_PREFIX) and built.isdigit():
                if partitions < 2 * int(built):
                    for other in current:
                        if other != name:
                            await table.drop_index(other)
                    return
        config = IvfSq(distance_type="cosine", num_partitions=partitions, sample_rate=64)
        name = f"{VECTOR_INDEX_PREFIX}{partitions}"
        await table.create_index("vector", config=config, name=name)
        for old in current:
            if old != name:
                await table.drop_index(old)

    async def count(self, where: str | None = None) -> int:
        await self._ready()
        return int(await self._text.count_rows(where))

    async def full_text(
        self, query: str, where: str | None, limit: int, prefilter: bool = True
    ) -> list[Hit]:
        """BM25 matches; ``prefilter=False`` filters the ``limit`` best instead (as ``nearest``)."""
        if not query.strip():
            return []
        await self._ready()
        builder = self._text.query().nearest_to_text(query)
        if where:
            builder = builder.where(where)
            if not prefilter:
                builder = builder.postfilter()
        rows = await builder.limit(limit).to_list()
        return [Hit(row["id"], float(row.pop("_score")), row) for row in rows]

    async def nearest(
        self,
        vector: Sequence[float] | np.ndarray,
        space: str,
        where: str | None,
        limit: int,
        prefilter: bool = True,
    ) -> list[Hit]:
        """Cosine nearest neighbours among rows embedded in ``space`` (none if never used).

        ``prefilter=False`` applies ``where`` to the neighbours instead of before the search:
        much cheaper when most rows pass, but it may return fewer than ``limit`` rows.
        """
        await self._ready()
        table = await self._vector_table(space, len(vector), create=False)
        if table is None:
            return []
        query = vector if hasattr(vector, "dtype") else list(vector)  # NumPy arrays as they are
        builder = (
            table.query()
            .nearest_to(query)
            .distance_type("cosine")
            .nprobes(NPROBES)
            .refine_factor(REFINE_FACTOR)
        )
        if where:
            builder = builder.where(where)
            if not prefilter:
                builder = builder.postfilter()
        columns = [name for name, _ in self.columns] + ["_distance"]
        rows = await builder.select(columns).limit(limit).to_list()
        return [Hit(row["id"], 1.0 - float(row.pop("_distance")), row) for row in rows]

    async def rows(
        self, where: str, columns: Sequence[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        await self._ready()
        builder = self._text.query().where(where)
        if columns is not None:
            builder = builder.select(list(columns))
        if limit is not None:
            builder = builder.limit(limit)
        result: list[dict[str, Any]] = await builder.to_list()
        return result

    async def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {row["id"]: row for row in await self.rows(sql_in("id", ids), limit=len(ids))}
