"""Retrieval benchmark: ingest 10,000 files (~5 KB each) into one vector store, then search.

Run: ``.venv/bin/python -m bench.retrieval [--files 10000] [--queries 400] [--clients 8]``

What it measures (figures printed as a Markdown table):
- ingestion through the real pipeline (extract, chunk with o200k tokens, embed, LanceDB write,
  SQLite status) with the default 800/400 chunking; chunks per second *excluding embedding
  time* (the embeddings are the fake provider's deterministic 1536-d feature hashing, computed
  in-process, and their time is measured and subtracted);
- peak RSS of the process (target < 1.5 GB);
- hybrid search latency p50/p99 with ``--clients`` concurrent searchers (target p50 < 30 ms,
  p99 < 100 ms), through the same ``SearchEngine`` the API uses (query embedding included);
- the same vector top-k as a brute-force NumPy scan over all vectors, the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import re
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bureau_agent.files import repository as files_repo
from bureau_agent.files.storage import FileStorage
from bureau_agent.retrieval import lance
from bureau_agent.retrieval.chunking import ChunkingStrategy
from bureau_agent.retrieval.chunks import ChunkStore
from bureau_agent.retrieval.lance import connect, space_table_name
from bureau_agent.retrieval.search import SearchEngine, SearchRequest
from bureau_agent.store.db import Database
from bureau_agent.vector_stores import repository as vs_repo
from bureau_agent.vector_stores.ingest import Ingestor

DIMENSIONS = 1536
WORD = re.compile(r"\w+")


class HashEmbedder:
    """The fake provider's embedding (tests/fakes/provider_embeddings.py), vectorised with a
    per-word cache; ``seconds`` accumulates the time spent embedding (excluded from chunks/s)."""

    space = "bench:feature-hash-1536"

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, float]] = {}
        self.seconds = 0.0
        self.inputs = 0

    def _feature(self, token: str) -> tuple[int, float]:
        found = self._cache.get(token)
        if found is None:
            digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
            found = (digest % DIMENSIONS, 1.0 if (digest >> 63) & 1 else -1.0)
            self._cache[token] = found
        return found

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = WORD.findall(text.lower()) or [text.strip().lower() or "<empty>"]
            for token in tokens:
                bucket, sign = self._feature(token)
                out[row, bucket] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        started = time.perf_counter()
        result = self.vectors(texts).tolist()
        self.seconds += time.perf_counter() - started
        self.inputs += len(texts)
        return result

    async def close(self) -> None:
        return None


def make_corpus(files: int, seed: int = 7) -> list[str]:
    """``files`` texts of ~5 KB: sentences over a Zipf-like 8,000-word vocabulary."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "de", "fi"]
    vocab = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(12000)})
    vocab = vocab[:8000]
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(vocab))]
    texts = []
    for _ in range(files):
        words = rng.choices(vocab, weights=weights, k=820)
        sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, 820, 12)]
        texts.append(" ".join(sentences)[:5120])
    return texts


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def peak_rss_mb() -> float:
    """Peak RSS since the last ``reset_peak`` (VmHWM), else since the start of the process."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


async def ingest(
    root: Path, texts: list[str], embedder: HashEmbedder
) -> tuple[ChunkStore, dict[str, float]]:
    db = Database(root / "agent.sqlite3")
    db.add_schema(files_repo.SCHEMA)
    db.add_schema(vs_repo.SCHEMA)
    await db.open()
    storage = FileStorage(root / "files")
    storage.prepare()
    now = int(time.time())
    rows = []
    for i, text in enumerate(texts):
        file_id = f"file_bench{i:06d}"
        storage.path(file_id).write_text(text)
        rows.append(
            files_repo.FileRow(file_id, f"doc{i:05d}.txt", len(text), "assistants", now, None)
        )

    def _setup(conn: sqlite3.Connection) -> None:
        for row in rows:
            files_repo.insert(conn, row)
        vs_repo.insert_store(
            conn, "vs_bench", name="bench", description=None, now=now, expires_after_days=None,
            metadata={},
        )  # fmt: skip
        vs_repo.attach_files(
            conn, "vs_bench", [(r.id, {}) for r in rows], chunking=ChunkingStrategy().to_api(),
            now=now, batch_id=None,
        )  # fmt: skip

    await db.run(_setup)
    chunks = ChunkStore()
    await chunks.open(await connect(root / "lancedb"))
    ingestor = Ingestor(db, storage, chunks, lambda: embedder, workers=4)
    started = time.perf_counter()
    await ingestor.start()
    await ingestor.drain()
    wall = time.perf_counter() - started
    await ingestor.stop()
    optimize_started = time.perf_counter()
    await chunks.index.optimize()
    optimize = time.perf_counter() - optimize_started
    counts = await db.run(lambda c: vs_repo.counts(c, "vector_store_id", "vs_bench"))
    await db.close()
    total_chunks = await chunks.count("vs_bench")
    return chunks, {
        "wall": wall,
        "embed": embedder.seconds,
        "chunks": float(total_chunks),
        "completed": float(counts["completed"]),
        "failed": float(counts["failed"]),
        "optimize": optimize,
    }


async def search_latency(
    chunks: ChunkStore,
    embedder: HashEmbedder | None,
    queries: list[str],
    clients: int,
    ranker: str = "auto",
    cpu: list[float] | None = None,
) -> list[float]:
    """Per-query latencies of ``clients`` concurrent searchers (no embedder: full text).

    ``cpu`` receives the process CPU time per query (all threads: Python and LanceDB's), the
    service time that ``clients`` concurrent searchers share the machine's cores for.
    """
    engine = SearchEngine(chunks, lambda: embedder)
    latencies: list[float] = []
    cpu_started = time.process_time()
    per_client = [queries[i::clients] for i in range(clients)]

    async def client(mine: list[str]) -> None:
        for query in mine:
            started = time.perf_counter()
            # share=1: the store holds every chunk (the service reads this from SQLite)
            request = SearchRequest(
                ["vs_bench"], [query], max_num_results=10, ranker=ranker, share=1.0
            )
            outcome = await engine.search(request)
            latencies.append(time.perf_counter() - started)
            assert outcome.mode == ("hybrid" if embedder else "full_text")

    await asyncio.gather(*(client(mine) for mine in per_client))
    if cpu is not None:
        cpu.append((time.process_time() - cpu_started) / len(queries))
    return latencies


async def numpy_reference(
    chunks: ChunkStore, embedder: HashEmbedder, queries: list[str]
) -> tuple[list[float], list[set[str]]]:
    """Exact top-10 by a NumPy scan over every vector: latencies and the ids found."""
    table = chunks.index._vectors[space_table_name("chunks", embedder.space, DIMENSIONS)]
    arrow = await table.query().select(["id", "vector"]).to_arrow()
    matrix = np.asarray(arrow.column("vector").combine_chunks().values, dtype=np.float32)
    matrix = matrix.reshape(-1, DIMENSIONS)
    ids = arrow.column("id").to_pylist()
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        vector = embedder.vectors([query])[0]
        scores = matrix @ vector
        top = np.argpartition(-scores, 10)[:10]
        top = top[np.argsort(-scores[top])]
        latencies.append(time.perf_counter() - started)
        found.append({ids[i] for i in top})
    return latencies, found


async def ann_recall(
    chunks: ChunkStore, embedder: HashEmbedder, queries: list[str], exact: list[set[str]]
) -> float:
    """Share of the exact top-10 that LanceDB's vector search (as the API runs it) finds."""
    engine = SearchEngine(chunks, lambda: embedder)
    hits = 0
    for query, truth in zip(queries, exact, strict=True):
        request = SearchRequest(["vs_bench"], [query], 10, ranker="none", share=1.0)
        outcome = await engine.search(request)
        hits += len({r.chunk_id for r in outcome.results} & truth)
    return hits / (10 * len(queries))


def _ms(latencies: Sequence[float]) -> str:
    return f"{percentile(latencies, 50) * 1000:.1f} / {percentile(latencies, 99) * 1000:.1f} ms"


async def main_async(args: argparse.Namespace) -> None:
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bureau-bench-rag-"))
    texts = make_corpus(args.files)
    embedder = HashEmbedder()
    lines = [
        f"Retrieval benchmark: {args.files} files (~5 KB each), default chunking 800/400, "
        f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    try:
        if (root / "ingested").exists():
            chunks = ChunkStore()
            await chunks.open(await connect(root / "lancedb"))
            await chunks.index.optimize()  # as the agent would: brings the indexes up to date
            lines.append(f"| ingestion | reused from {root} |")
        else:
            chunks, figures = await ingest(root, texts, embedder)
            (root / "ingested").touch()
            ingest_seconds = figures["wall"] - figures["embed"]
            lines += [
                f"| files completed / failed | {figures['completed']:.0f} / "
                f"{figures['failed']:.0f} |",
                f"| chunks | {figures['chunks']:.0f} |",
                f"| ingestion wall time | {figures['wall']:.1f} s "
                f"(embedding {figures['embed']:.1f} s) |",
                f"| chunks/s excluding embedding time | {figures['chunks'] / ingest_seconds:.0f} |",
                f"| final optimize (compaction, FTS/bitmap indexes, IVF-SQ build) | "
                f"{figures['optimize']:.1f} s |",
                f"| peak RSS through ingestion (process start to end) | {peak_rss_mb():.0f} MB |",
            ]
        if args.nprobes:
            lance.NPROBES = args.nprobes
        rng = random.Random(11)
        n = args.queries
        # distinct queries per phase: the engine caches query embeddings by text
        pool = [" ".join(rng.choice(texts).split()[5:12]) for _ in range(4 * n + 20)]
        queries, warm = pool[:n], pool[4 * n :]
        await search_latency(chunks, embedder, warm, args.clients)  # warm-up
        reset_peak()
        cpu: list[float] = []
        hybrid = await search_latency(chunks, embedder, queries, args.clients, cpu=cpu)
        text_only = await search_latency(chunks, None, pool[n : 2 * n], args.clients, cpu=cpu)
        vector_only = await search_latency(
            chunks, embedder, pool[2 * n : 3 * n], args.clients, "none", cpu=cpu
        )
        single = await search_latency(
            chunks, embedder, pool[3 * n : 3 * n + min(n, 100)], 1, cpu=cpu
        )
        search_peak = peak_rss_mb()
        cores = os.cpu_count() or 1
        brute, exact = await numpy_reference(chunks, embedder, queries)
        recall = await ann_recall(chunks, embedder, queries[:100], exact[:100])
        ratio = statistics.median(single) / statistics.median(brute)
        lines += [
            f"| hybrid search p50 / p99, {args.clients} clients | {_ms(hybrid)} |",
            f"| full-text only p50 / p99, {args.clients} clients | {_ms(text_only)} |",
            f"| vector only (ranker none) p50 / p99, {args.clients} clients | {_ms(vector_only)} |",
            f"| hybrid search p50 / p99, 1 client | {_ms(single)} |",
            f"| CPU time per query (all threads): hybrid / full text / vector, "
            f"{args.clients} clients | {cpu[0] * 1000:.1f} / {cpu[1] * 1000:.1f} / "
            f"{cpu[2] * 1000:.1f} ms |",
            f"| hybrid CPU time per query, 1 client | {cpu[3] * 1000:.1f} ms |",
            f"| floor for the {args.clients}-client hybrid latency: clients x CPU per query / "
            f"{cores} cores | {args.clients * cpu[0] / cores * 1000:.1f} ms |",
            f"| NumPy brute-force vector top-10 p50 / p99, 1 client | {_ms(brute)} |",
            f"| ratio hybrid (1 client) / NumPy, p50 | {ratio:.1f} |",
            f"| peak RSS while searching (8 then 1 clients) | {search_peak:.0f} MB |",
            f"| vector index recall@10 vs the exact NumPy top-10 (nprobes {lance.NPROBES}) | "
            f"{recall:.2f} |",
        ]
        lines.append(
            f"\nload average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        print("\n".join(lines))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--nprobes", type=int, default=0, help="override the IVF probes")
    parser.add_argument("--keep", help="keep (or reuse) the ingested data in this directory")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
