"""Where documents come from: one module per source kind, each with

    async def fetch(spec, selection: Selection) -> AsyncIterator[RawDocument]

A kind's module is imported only when a spec uses it (S3 and git bring their own
dependencies). To add a kind: write `sources/<kind>.py` and add one line to `_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

from cienty_knowledge.sources.base import RawDocument, Selection, SourceError
from cienty_knowledge.spec import SourceSpec

__all__ = ["RawDocument", "Selection", "SourceError", "fetch_documents"]

_MODULES: dict[str, str] = {
    "directory": "cienty_knowledge.sources.directory",
    "inline": "cienty_knowledge.sources.inline",
    "http": "cienty_knowledge.sources.http",
    "s3": "cienty_knowledge.sources.s3",
    "git": "cienty_knowledge.sources.git",
}


def _fetcher(kind: str) -> Any:
    if kind == "configMap":
        raise SourceError(
            "a configMap source is mounted by the operator, which passes the worker a "
            "`directory` source instead; run the worker with source.directory.path set"
        )
    module_name = _MODULES.get(kind)
    if module_name is None:
        raise SourceError(f"unknown source kind {kind!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise SourceError(
            f"the {kind!r} source is not available in this worker ({error})"
        ) from error
    return module.fetch


async def fetch_documents(source: SourceSpec, selection: Selection) -> AsyncIterator[RawDocument]:
    """The source's documents whose names the selection takes, in the source's order."""
    fetch = _fetcher(source.kind)
    async for raw in fetch(source.selected, selection):
        if selection.matches(raw.name):
            yield raw
