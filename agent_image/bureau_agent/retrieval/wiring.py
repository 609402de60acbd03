"""Builds files, vector stores, file_search and memory for one agent, and plugs them in.

``Retrieval.install(services)`` is called by ``plugins.install_extensions``: it registers the
SQLite schema, the tools, the memory hooks and the inline vector store helper, and returns the
routers and startup/shutdown callables. LanceDB lives in ``<data dir>/lancedb``; uploaded bytes in
``<data dir>/files``.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter

from bureau_agent.files import repository as files_repo
from bureau_agent.files.router import build_router as files_router
from bureau_agent.files.service import FileService
from bureau_agent.files.storage import FileStorage
from bureau_agent.memory.router import build_router as memory_router
from bureau_agent.memory.service import MemoryHooks, MemorySettings
from bureau_agent.memory.store import MemoryStore
from bureau_agent.memory.tools import memory_tools
from bureau_agent.retrieval.chunks import ChunkStore
from bureau_agent.retrieval.embeddings.base import Embedder
from bureau_agent.retrieval.embeddings.openai_embeddings import EmbeddingsConfig, OpenAIEmbedder
from bureau_agent.retrieval.errors import EmbeddingsError
from bureau_agent.retrieval.lance import LazyConnection
from bureau_agent.retrieval.search import SearchEngine
from bureau_agent.services import Services
from bureau_agent.vector_stores import repository as vs_repo
from bureau_agent.vector_stores.batches import BatchService
from bureau_agent.vector_stores.file_search_tool import file_search_tool
from bureau_agent.vector_stores.ingest import Ingestor
from bureau_agent.vector_stores.router import build_router as vector_stores_router
from bureau_agent.vector_stores.service import VectorStoreService

log = logging.getLogger(__name__)


class EmbedderSource:
    """The embedder for the current settings: the control plane's (rotated at run time) first,
    else the ``EMBEDDINGS_*`` environment; None when embeddings are off."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._key: tuple[str, ...] | None = None
        self._embedder: OpenAIEmbedder | None = None
        self._retired: list[OpenAIEmbedder] = []

    def config(self) -> EmbeddingsConfig | None:
        wire = self.services.credentials.embeddings
        if wire is not None:
            return EmbeddingsConfig(
                wire.provider, wire.model, wire.api_key.get_secret_value(), wire.endpoint
            )
        cfg = self.services.config
        if not (cfg.embeddings_provider and cfg.embeddings_model):
            return None
        key = cfg.embeddings_api_key.get_secret_value() if cfg.embeddings_api_key else ""
        return EmbeddingsConfig(
            cfg.embeddings_provider, cfg.embeddings_model, key, cfg.embeddings_url
        )

    def __call__(self) -> Embedder | None:
        config = self.config()
        if config is None:
            return None
        key = (config.provider, config.model, config.api_key, config.endpoint or "")
        if key != self._key or self._embedder is None:
            try:
                embedder = OpenAIEmbedder(config)
            except EmbeddingsError as exc:  # e.g. provider "custom" without an endpoint
                log.warning("embeddings disabled: %s", exc)
                return None
            if self._embedder is not None:
                self._retired.append(self._embedder)
            self._embedder = embedder
            self._key = key
        return self._embedder

    async def close(self) -> None:
        for embedder in [*self._retired, *([self._embedder] if self._embedder else [])]:
            await embedder.close()
        self._retired, self._embedder, self._key = [], None, None


class Retrieval:
    def __init__(self, services: Services) -> None:
        config = services.config
        self.services = services
        data_dir = services.config.data_dir
        self.lance_dir = data_dir / "lancedb"
        self.embedder = EmbedderSource(services)
        self.storage = FileStorage(data_dir / "files")
        self.files = FileService(services.db, self.storage, services.now, config.max_upload_bytes)
        self.lance = LazyConnection(self.lance_dir)
        self.chunks = ChunkStore(self.lance)
        self.engine = SearchEngine(self.chunks, self.embedder)
        self.ingestor = Ingestor(
            services.db, self.storage, self.chunks, self.embedder, config.ingest_workers
        )
        self.stores = VectorStoreService(
            services.db, self.files, self.chunks, self.engine, self.ingestor, services.now
        )
        self.batches = BatchService(self.stores)
        self.memory_settings = MemorySettings.from_config(config)
        self.memory: MemoryStore | None = None
        if self.memory_settings.enabled:
            self.memory = MemoryStore(
                self.embedder, services.now, self.memory_settings.max_items, self.lance
            )

    def install(self) -> tuple[list[APIRouter], list[APIRouter]]:
        """Register schema, tools, hooks and helpers; return (API routers, desk routers)."""
        services = self.services
        services.db.add_schema(files_repo.SCHEMA)
        services.db.add_schema(vs_repo.SCHEMA)
        services.files = self.files
        services.create_vector_store = self.stores.create_inline
        services.add_vector_store_files = self.stores.add_files
        services.tools.register(file_search_tool(self.stores))
        if self.memory is not None:
            for tool in memory_tools(self.memory):
                services.tools.register(tool)
            services.hooks.append(MemoryHooks(self.memory, self.memory_settings))
        api = [files_router(self.files), vector_stores_router(self.stores, self.batches)]
        return api, [memory_router(self.memory)]

    async def start(self) -> None:
        self.storage.prepare()
        await self.ingestor.start()  # LanceDB opens when the first file is indexed or searched

    async def stop(self) -> None:
        await self.ingestor.stop()
        await self.embedder.close()

    async def drain(self) -> None:
        await self.ingestor.drain()
