"""The ``chunks`` table: every chunk of every vector store file, searchable by text and vector."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bureau_agent.retrieval.chunking import Chunk
from bureau_agent.retrieval.lance import Connector, Hit, TextIndex, sql_in, sql_str

if TYPE_CHECKING:
    import numpy as np

CHUNK_COLUMNS = (
    ("vector_store_id", "string"),
    ("file_id", "string"),
    ("chunk_index", "int32"),
    ("tokens", "int32"),
    ("attributes", "string"),
)


def scope(vector_store_ids: Sequence[str], file_ids: Sequence[str] | None = None) -> str:
    """The filter selecting chunks of these stores (and, if given, only these files)."""
    clause = sql_in("vector_store_id", vector_store_ids)
    if file_ids is not None:
        clause += " AND " + sql_in("file_id", file_ids)
    return clause


class ChunkStore:
    def __init__(self, connector: Connector | None = None) -> None:
        self.index = TextIndex(
            "chunks", CHUNK_COLUMNS, bitmap_columns=("vector_store_id",), connector=connector
        )

    @property
    def generation(self) -> int:
        """Changes whenever chunks are added, deleted or updated."""
        return self.index.generation

    async def open(self, db: Any) -> ChunkStore:
        await self.index.open(db)
        return self

    @staticmethod
    def rows_for(
        vector_store_id: str, file_id: str, attributes: Mapping[str, Any], chunks: Sequence[Chunk]
    ) -> list[dict[str, Any]]:
        attrs = json.dumps(dict(attributes), sort_keys=True)
        return [
            {
                "id": f"{vector_store_id}:{file_id}:{chunk.index}",
                "vector_store_id": vector_store_id,
                "file_id": file_id,
                "chunk_index": chunk.index,
                "tokens": chunk.tokens,
                "attributes": attrs,
                "text": chunk.text,
            }
            for chunk in chunks
        ]

    async def add_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        vectors: Sequence[Sequence[float]] | np.ndarray | None,
        space: str | None,
    ) -> None:
        """Append chunk rows (of any number of files) in one commit per table."""
        await self.index.add(rows, vectors, space)

    async def delete_files(self, vector_store_id: str, file_ids: Sequence[str]) -> None:
        if file_ids:
            await self.index.delete(
                f"vector_store_id = {sql_str(vector_store_id)} AND {sql_in('file_id', file_ids)}"
            )

    async def delete_file(self, vector_store_id: str, file_id: str) -> None:
        await self.index.delete(
            f"vector_store_id = {sql_str(vector_store_id)} AND file_id = {sql_str(file_id)}"
        )

    async def delete_store(self, vector_store_id: str) -> None:
        await self.index.delete(f"vector_store_id = {sql_str(vector_store_id)}")

    async def set_attributes(
        self, vector_store_id: str, file_id: str, attributes: Mapping[str, Any]
    ) -> None:
        where = f"vector_store_id = {sql_str(vector_store_id)} AND file_id = {sql_str(file_id)}"
        await self.index.update(where, {"attributes": json.dumps(dict(attributes), sort_keys=True)})

    async def full_text(
        self, query: str, where: str, limit: int, prefilter: bool = True
    ) -> list[Hit]:
        return await self.index.full_text(query, where, limit, prefilter)

    async def nearest(
        self,
        vector: Sequence[float] | np.ndarray,
        space: str,
        where: str,
        limit: int,
        prefilter: bool = True,
    ) -> list[Hit]:
        return await self.index.nearest(vector, space, where, limit, prefilter)

    async def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return await self.index.fetch(ids)

    async def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        where = f"vector_store_id = {sql_str(vector_store_id)}"
        if file_id is not None:
            where += f" AND file_id = {sql_str(file_id)}"
        return await self.index.count(where)
