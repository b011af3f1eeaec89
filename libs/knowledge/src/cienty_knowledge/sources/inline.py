"""Documents written in the spec itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

from cienty_knowledge.loaders import format_for_name
from cienty_knowledge.sources.base import RawDocument, Selection
from cienty_knowledge.spec import InlineSource


async def fetch(spec: InlineSource, selection: Selection) -> AsyncIterator[RawDocument]:
    for document in spec.documents:
        if not selection.matches(document.name):
            continue
        yield RawDocument(
            name=document.name,
            uri=document.name,
            data=document.content.encode(),
            format=document.format or format_for_name(document.name) or "text",
        )
