"""`cienty kb ...`: ingest documents into the knowledge base and search it.

In the cluster the operator's Job runs

    cienty kb ingest --source-name NAME --spec-json '<spec>' --report-file /dev/termination-log

and reads the report's counts from the pod's termination message. Exit status 0: the run
completed (documents that failed are listed in the report); 1: nothing could be done (bad
spec or configuration, source, store or embedder unreachable), with the reason on stderr and
as `{"error": ...}` in the report file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from cienty_knowledge.embeddings.base import Embedder
from cienty_knowledge.embeddings.factory import build_embedder, close_embedder
from cienty_knowledge.ingest import Outcome, ingest
from cienty_knowledge.report import TERMINATION_MESSAGE_BYTES, IngestReport
from cienty_knowledge.settings import KnowledgeSettings
from cienty_knowledge.spec import KnowledgeSourceSpec
from cienty_knowledge.store.base import VectorStore

StoreOpener = Callable[[KnowledgeSettings], AbstractAsyncContextManager[VectorStore]]


def _open_store(settings: KnowledgeSettings) -> AbstractAsyncContextManager[VectorStore]:
    from cienty_knowledge.store.factory import open_store

    return open_store(settings)


@dataclass(frozen=True)
class KbDependencies:
    """What the commands connect to; tests pass their own as click's `obj`."""

    open_store: StoreOpener = _open_store
    build_embedder: Callable[[KnowledgeSettings], Embedder] = build_embedder


@click.group()
@click.pass_context
def kb(ctx: click.Context) -> None:
    """The knowledge base: ingest documents, search them with citations."""
    if not isinstance(ctx.obj, KbDependencies):
        ctx.obj = KbDependencies()
    from cienty_kit.logging import configure_logging

    configure_logging(os.environ.get("CIENTY_LOG_LEVEL", "WARNING"), "console", stream=sys.stderr)


# -- ingest ---------------------------------------------------------------------------------


class _Bar:
    """Progress as a tqdm bar on stderr (shown on a terminal only)."""

    def __init__(self) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped]

        self._bar: Any = tqdm(unit="doc", file=sys.stderr, disable=None, dynamic_ncols=True)
        self._chunks = 0

    def document_done(self, uri: str, outcome: Outcome, chunks: int) -> None:
        self._bar.update(1)

    def chunks_embedded(self, count: int) -> None:
        self._chunks += count
        self._bar.set_postfix(embedded=self._chunks, refresh=False)

    def close(self) -> None:
        self._bar.close()


def _fail(message: str, report_file: Path | None, source: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if report_file is not None:
        body = json.dumps({"source": source, "error": message[:3000]}, ensure_ascii=False)
        _write_report(report_file, body)
    sys.exit(1)


def _write_report(path: Path, text: str) -> None:
    try:
        with path.open("w", encoding="utf-8") as file:  # /dev/termination-log: no temp file
            file.write(text)
    except OSError as error:
        click.echo(f"warning: cannot write the report to {path}: {error}", err=True)


def _load_spec(
    paths: tuple[str, ...],
    spec_json: str | None,
    spec_file: Path | None,
    collection: str | None,
    settings: KnowledgeSettings,
) -> KnowledgeSourceSpec:
    if spec_file is not None:
        spec_json = spec_file.read_text(encoding="utf-8")
    if spec_json is not None:
        data: Any = json.loads(spec_json) if spec_json.strip().startswith("{") else None
        if data is None:
            import yaml

            data = yaml.safe_load(spec_json)  # a spec file may be YAML, as in the resource
        if isinstance(data, dict) and paths:
            data["source"] = {"directory": {"path": list(paths)}}
    else:
        data = {
            "source": {"directory": {"path": list(paths)}},
            "chunking": {
                "maxTokens": settings.chunk_max_tokens,
                "overlapTokens": min(settings.chunk_overlap_tokens, settings.chunk_max_tokens - 1),
            },
            "collection": settings.knowledge_collection,
        }
    if collection is not None and isinstance(data, dict):
        data["collection"] = collection
    return KnowledgeSourceSpec.model_validate(data)


def _settings_for(spec: KnowledgeSourceSpec, settings: KnowledgeSettings) -> KnowledgeSettings:
    update: dict[str, Any] = {}
    if spec.embedding.endpoint is not None:
        update["embedding_url"] = spec.embedding.endpoint
    if spec.embedding.model is not None:
        update["embedding_model"] = spec.embedding.model
    return settings.model_copy(update=update) if update else settings


@kb.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--source-name",
    default="local",
    show_default=True,
    help="The source's name in the store (the KnowledgeSource's name).",
)
@click.option("--spec-json", default=None, help="The KnowledgeSource spec as JSON.")
@click.option(
    "--spec-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The spec from a JSON or YAML file.",
)
@click.option("--collection", default=None, help="Override the spec's collection.")
@click.option(
    "--report-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report there as compact JSON of at most 4096 bytes "
    "(a termination message).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def ingest_command(
    deps: KbDependencies,
    paths: tuple[str, ...],
    source_name: str,
    spec_json: str | None,
    spec_file: Path | None,
    collection: str | None,
    report_file: Path | None,
    as_json: bool,
) -> None:
    """Ingest PATHS (files or directories), or the source a spec describes."""  # fmt: skip
    if spec_json is not None and spec_file is not None:
        raise click.UsageError("give --spec-json or --spec-file, not both")
    if not paths and spec_json is None and spec_file is None:
        raise click.UsageError("give PATHS to ingest, or --spec-json / --spec-file")
    try:
        settings = KnowledgeSettings()
    except ValidationError as error:
        _fail(f"invalid configuration: {error}", report_file, source_name)
    try:
        spec = _load_spec(paths, spec_json, spec_file, collection, settings)
    except (ValidationError, ValueError) as error:  # JSONDecodeError and YAMLError included
        _fail(f"invalid spec: {error}", report_file, source_name)
    except Exception as error:
        _fail(f"invalid spec: {type(error).__name__}: {error}", report_file, source_name)
    bar = _Bar()
    try:
        report = asyncio.run(_ingest(deps, _settings_for(spec, settings), source_name, spec, bar))
    except Exception as error:
        bar.close()
        _fail(f"ingestion failed: {type(error).__name__}: {error}", report_file, source_name)
    bar.close()
    if report_file is not None:
        _write_report(report_file, report.to_json(max_bytes=TERMINATION_MESSAGE_BYTES))
    if as_json:
        click.echo(report.to_json())
    else:
        _print_report(report)


async def _ingest(
    deps: KbDependencies,
    settings: KnowledgeSettings,
    source_name: str,
    spec: KnowledgeSourceSpec,
    bar: _Bar,
) -> IngestReport:
    async with deps.open_store(settings) as store:  # first: a store that is down fails fast
        embedder = deps.build_embedder(settings)
        try:
            return await ingest(source_name, spec, store=store, embedder=embedder, progress=bar)
        finally:
            await close_embedder(embedder)


def _print_report(report: IngestReport) -> None:
    removed = "?" if report.documents_removed is None else report.documents_removed
    click.echo(
        f"Source {report.source!r} -> collection {report.collection!r} "
        f"({report.model}, {report.dimensions} dimensions) in {report.seconds:.1f} s"
    )
    click.echo(
        f"documents: {report.documents_seen} seen, {report.documents_ingested} ingested, "
        f"{report.documents_unchanged} unchanged, {removed} removed, "
        f"{len(report.documents_failed)} failed"
    )
    click.echo(
        f"chunks: {report.chunks_added} added, {report.chunks_deleted} deleted, "
        f"{report.chunks_total} in the store"
    )
    for failed in report.documents_failed:
        click.echo(f"failed: {failed.uri}: {failed.reason}")


# -- search ---------------------------------------------------------------------------------


@kb.command("search")
@click.argument("query")
@click.option("--k", "k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "vector", "keyword"]),
    default="hybrid",
    show_default=True,
)
@click.option("--source", default=None, help="Only this source's chunks.")
@click.option("--language", default=None, help="Only chunks in this language (e.g. pt).")
@click.option("--collection", default=None, help="Default: CIENTY_KNOWLEDGE_COLLECTION.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.pass_obj
def search_command(
    deps: KbDependencies,
    query: str,
    k: int,
    mode: str,
    source: str | None,
    language: str | None,
    collection: str | None,
    as_json: bool,
) -> None:
    """Search the knowledge base; every hit comes with its citation."""  # fmt: skip
    try:
        settings = KnowledgeSettings()
    except ValidationError as error:
        _fail(f"invalid configuration: {error}", None, "")
    try:
        hits = asyncio.run(
            _search(deps, settings, collection or settings.knowledge_collection, query,
                    k=k, mode=mode, source=source, language=language)
        )  # fmt: skip
    except Exception as error:
        _fail(f"search failed: {type(error).__name__}: {error}", None, "")
    if as_json:
        click.echo(json.dumps(hits, ensure_ascii=False))
        return
    if not hits:
        click.echo("no results")
    for rank, hit in enumerate(hits, 1):
        where = hit["heading"] or hit["title"]  # the path usually starts with the title
        click.echo(f"{rank}. [{hit['score']:.4f}] {hit['source']} / {hit['document']} - {where}")
        text = " ".join(str(hit["text"]).split())
        click.echo(f"   {text[:300]}{'...' if len(text) > 300 else ''}")


async def _search(
    deps: KbDependencies,
    settings: KnowledgeSettings,
    collection: str,
    query: str,
    **options: Any,
) -> list[dict[str, Any]]:
    from cienty_knowledge.search import KnowledgeSearch

    async with deps.open_store(settings) as store:
        embedder = deps.build_embedder(settings)
        try:
            hits = await KnowledgeSearch(store, embedder, collection).search(query, **options)
        finally:
            await close_embedder(embedder)
    return [{**hit.citation(), "text": hit.chunk.text} for hit in hits]
