"""Loaders: bytes of one document in a known format -> a normalised `Document`.

Every failure a document can cause (empty, undecodable, corrupt PDF, no text) is a
`LoaderError` with a message meant for the ingestion report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any, Literal, get_args

from cienty_knowledge.loaders.base import Loaded, LoaderError
from cienty_knowledge.normalize import normalize_text
from cienty_knowledge.types import Document

Format = Literal["markdown", "html", "text", "pdf"]
FORMATS: tuple[Format, ...] = get_args(Format)

_EXTENSIONS: dict[str, Format] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
    ".pdf": "pdf",
}
_CONTENT_TYPES: dict[str, Format] = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "application/pdf": "pdf",
}

__all__ = [
    "FORMATS",
    "Format",
    "LoaderError",
    "format_for_content_type",
    "format_for_name",
    "load_document",
]


def format_for_name(name: str) -> Format | None:
    """The format a file name's extension says, or None when it is not loadable."""
    return _EXTENSIONS.get(PurePosixPath(name).suffix.lower())


def format_for_content_type(content_type: str | None) -> Format | None:
    if not content_type:
        return None
    return _CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def _loader(fmt: Format) -> Callable[[bytes, str], Loaded]:
    # Imported on use: pypdf and BeautifulSoup cost start-up time a text-only run never needs.
    if fmt == "markdown":
        from cienty_knowledge.loaders.markdown import load_markdown

        return load_markdown
    if fmt == "html":
        from cienty_knowledge.loaders.html import load_html

        return load_html
    if fmt == "pdf":
        from cienty_knowledge.loaders.pdf import load_pdf

        return load_pdf
    from cienty_knowledge.loaders.text import load_text

    return load_text


def load_document(
    data: bytes,
    fmt: Format,
    *,
    source: str,
    uri: str,
    name: str | None = None,
    language: str = "pt",
    metadata: Mapping[str, Any] | None = None,
) -> Document:
    """Load and normalise one document; raises `LoaderError` when it yields no usable text."""
    if not data.strip():
        raise LoaderError("empty document")
    try:
        loaded = _loader(fmt)(data, name or uri)
    except LoaderError:
        raise
    except Exception as error:  # a parser's own bug or limit: this document only
        raise LoaderError(f"{fmt} loader failed: {type(error).__name__}: {error}") from error
    text = normalize_text(loaded.text)
    if not text:
        raise LoaderError("no text found in the document")
    return Document(
        source=source,
        uri=uri,
        title=" ".join(loaded.title.split()) or _title_from_name(name or uri),
        text=text,
        language=language,
        metadata={"format": fmt, **(metadata or {})},
    )


def _title_from_name(name: str) -> str:
    stem = PurePosixPath(name.rstrip("/")).stem or name
    return stem.replace("_", " ").replace("-", " ").strip() or name
