"""The ingestion pipeline: fetch -> load + normalise -> chunk -> embed -> upsert -> delete stale.

Diffing. A chunk's id is `chunk_id(source, document, position, content hash)`, so the ids a
document would get are known before anything is embedded. The run reads the source's stored
ids once; a document whose ids are all stored is unchanged and costs no embedding and no write;
only chunks whose ids are not stored yet are embedded and upserted. Stored ids that no
document of this run produced (changed chunks, documents that left the source or no longer
match include/exclude) are deleted at the end, after every upsert.

Failures. A document that cannot be fetched or loaded (404, timeout, corrupt PDF, empty or
undecodable file, a loader exception) is listed in the report with its reason and the run goes
on. Such a document KEEPS the chunks an earlier run stored for it: a transient 404 or a server
hiccup must not wipe knowledge the agent answers from. It is removed only when it leaves the
source (or stops matching the selection). A failure of the source as a whole (`SourceError`),
of the store or of the embedder stops the run before anything is deleted.

Crash safety. Upserts are by id, so a run interrupted midway is simply run again: what it had
written is found unchanged, the rest is embedded, and stale chunks are deleted then. Until
that re-run a changed document may hold both its old and new chunks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import structlog

from cienty_knowledge.chunking import Chunker, embedding_text
from cienty_knowledge.embeddings.base import Embedder
from cienty_knowledge.embeddings.factory import prepare_embedder
from cienty_knowledge.loaders import (
    LoaderError,
    format_for_content_type,
    format_for_name,
    load_document,
)
from cienty_knowledge.report import FailedDocument, IngestReport
from cienty_knowledge.sources import RawDocument, Selection, fetch_documents
from cienty_knowledge.spec import KnowledgeSourceSpec
from cienty_knowledge.store.base import VectorStore
from cienty_knowledge.types import Chunk, EmbeddedChunk

Outcome = Literal["ingested", "unchanged", "failed"]
EMBED_BATCH = 128  # chunks per embed() call: large enough for the model to batch well
_DELETE_BATCH = 1000

__all__ = ["EMBED_BATCH", "IngestReport", "Outcome", "Progress", "ingest"]


class Progress(Protocol):
    """Told what the run does; the CLI draws a progress bar from it."""

    def document_done(self, uri: str, outcome: Outcome, chunks: int) -> None: ...

    def chunks_embedded(self, count: int) -> None: ...


class _NoProgress:
    def document_done(self, uri: str, outcome: Outcome, chunks: int) -> None:
        pass

    def chunks_embedded(self, count: int) -> None:
        pass


@runtime_checkable
class ListsDocuments(Protocol):
    """Optional store capability: the documents a source has chunks for. With it the report
    counts removed documents; without it only their chunks are counted."""

    async def documents(self, collection: str, source: str) -> set[str]: ...


@runtime_checkable
class RefreshesStatistics(Protocol):
    """Optional store capability: refresh the planner's statistics after a large change (the
    pgvector keyword search leaves out words its statistics call common)."""

    async def analyze(self, collection: str) -> None: ...


@dataclass
class _Run:
    source: str
    collection: str
    store: VectorStore
    embedder: Embedder
    progress: Progress
    report: IngestReport
    existing: set[str]
    produced: set[str] = field(default_factory=set)  # ids of every chunk seen this run
    seen: set[str] = field(default_factory=set)  # document uris
    unchanged: dict[str, set[str]] = field(default_factory=dict)  # uri -> its ids
    pending: list[Chunk] = field(default_factory=list)
    flushing: asyncio.Task[None] | None = None

    async def flush(self, *, wait: bool) -> None:
        """Embed and upsert the pending chunks; one batch embeds while the next one loads."""
        if self.flushing is not None:
            task, self.flushing = self.flushing, None
            await task
        if self.pending:
            batch, self.pending = self.pending, []
            self.flushing = asyncio.create_task(self._write(batch))
        if wait and self.flushing is not None:
            task, self.flushing = self.flushing, None
            await task

    async def _write(self, batch: list[Chunk]) -> None:
        vectors = await self.embedder.embed([embedding_text(chunk) for chunk in batch])
        if len(vectors) != len(batch):
            raise RuntimeError(f"the embedder returned {len(vectors)} vectors for {len(batch)}")
        await self.store.upsert(
            self.collection,
            [EmbeddedChunk(chunk, vector) for chunk, vector in zip(batch, vectors, strict=True)],
        )
        self.report.chunks_added += len(batch)
        self.progress.chunks_embedded(len(batch))

    async def cancel(self) -> None:
        if self.flushing is not None:
            self.flushing.cancel()
            await asyncio.gather(self.flushing, return_exceptions=True)


async def ingest(
    source_name: str,
    spec: KnowledgeSourceSpec,
    *,
    store: VectorStore,
    embedder: Embedder,
    progress: Progress | None = None,
    embed_batch: int = EMBED_BATCH,
) -> IngestReport:
    """Bring the store's chunks of `source_name` in line with what the source holds now."""
    started = time.perf_counter()
    log = structlog.get_logger(__name__).bind(source=source_name)
    collection = spec.collection
    await prepare_embedder(embedder)
    report = IngestReport(
        source=source_name,
        collection=collection,
        model=embedder.model,
        dimensions=embedder.dimensions,
    )
    await store.ensure_collection(collection, embedder.dimensions)
    run = _Run(
        source=source_name,
        collection=collection,
        store=store,
        embedder=embedder,
        progress=progress or _NoProgress(),
        report=report,
        existing=await store.chunk_ids(collection, source_name),
    )
    chunker = Chunker(
        embedder,
        max_tokens=min(spec.chunking.max_tokens, embedder.max_tokens),
        overlap_tokens=spec.chunking.overlap_tokens,
        model=embedder.model,
    )
    selection = Selection(tuple(spec.include), tuple(spec.exclude))
    try:
        async for raw in fetch_documents(spec.source, selection):
            await _document(run, raw, chunker, spec.language, embed_batch)
        await run.flush(wait=True)
    except BaseException:
        await run.cancel()
        raise
    await _remove_stale(run)
    report.chunks_total = await store.count(collection, source_name)
    report.seconds = time.perf_counter() - started
    log.info(
        "ingest_done",
        seen=report.documents_seen,
        ingested=report.documents_ingested,
        unchanged=report.documents_unchanged,
        failed=len(report.documents_failed),
        chunks_added=report.chunks_added,
        chunks_deleted=report.chunks_deleted,
        seconds=round(report.seconds, 3),
    )
    return report


async def _document(
    run: _Run, raw: RawDocument, chunker: Chunker, language: str, embed_batch: int
) -> None:
    report = run.report
    if raw.uri in run.seen:
        return  # listed twice (the same URL twice): once is enough
    run.seen.add(raw.uri)
    report.documents_seen += 1
    try:
        if raw.error is not None:
            raise LoaderError(raw.error)
        chunks = await asyncio.to_thread(_chunks, raw, run.source, chunker, language)
    except Exception as error:  # this document only; see the module docstring
        reason = str(error) if isinstance(error, LoaderError) else _describe(error)
        report.documents_failed.append(FailedDocument(raw.uri, reason))
        run.progress.document_done(raw.uri, "failed", 0)
        return
    ids = {chunk.id for chunk in chunks}
    run.produced |= ids
    missing = [chunk for chunk in chunks if chunk.id not in run.existing]
    if missing:
        report.documents_ingested += 1
        run.pending.extend(missing)
        if len(run.pending) >= embed_batch:
            await run.flush(wait=False)
    else:
        run.unchanged[raw.uri] = ids
        report.documents_unchanged += 1  # until a stale chunk shows it shrank
    run.progress.document_done(raw.uri, "ingested" if missing else "unchanged", len(chunks))


def _chunks(raw: RawDocument, source: str, chunker: Chunker, language: str) -> list[Chunk]:
    """Blocking (runs in a worker thread): load, normalise and chunk one document."""
    fmt = raw.format or format_for_content_type(raw.content_type) or format_for_name(raw.name)
    if fmt is None:
        raise LoaderError("unknown document format")
    document = load_document(
        raw.data,
        fmt,
        source=source,
        uri=raw.uri,
        name=raw.name,
        language=language,
        metadata=raw.metadata,
    )
    chunks = chunker.chunk(document)
    if not chunks:
        raise LoaderError("no text to index after chunking")
    return chunks


async def _remove_stale(run: _Run) -> None:
    report, store = run.report, run.store
    kept: set[str] = set()
    failed_with_chunks = 0
    for failed in report.documents_failed:
        ids = await store.chunk_ids(run.collection, run.source, failed.uri)
        kept |= ids
        failed_with_chunks += bool(ids)
    stale = run.existing - run.produced - kept
    if stale:
        # A document whose chunks all exist may still have lost some (it got shorter).
        for uri, ids in run.unchanged.items():
            stored = await store.chunk_ids(run.collection, run.source, uri)
            if stored - ids:
                report.documents_unchanged -= 1
                report.documents_ingested += 1
    if isinstance(store, ListsDocuments):
        stored_documents = await store.documents(run.collection, run.source)
        report.documents_removed = len(stored_documents - run.seen)
    elif not stale:
        report.documents_removed = 0
    for batch in _batches(sorted(stale), _DELETE_BATCH):
        report.chunks_deleted += await store.delete(run.collection, batch)
    if isinstance(store, RefreshesStatistics) and (report.chunks_added or report.chunks_deleted):
        await store.analyze(run.collection)
    report.documents_total = (
        report.documents_ingested + report.documents_unchanged + failed_with_chunks
    )


def _batches(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
