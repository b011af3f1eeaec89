"""Files under a local path: a directory checked out or copied, or a mounted ConfigMap.

Names are "/"-separated paths relative to the root (so the same files mounted elsewhere keep
their identity). Entries whose name starts with "." are skipped: that also skips the
`..data` / `..2024_…` directories of a ConfigMap mount, whose keys appear once, as symlinks.
Only files whose extension a loader knows are read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from cienty_knowledge.loaders import format_for_name
from cienty_knowledge.sources.base import MAX_DOCUMENT_BYTES, RawDocument, Selection, SourceError
from cienty_knowledge.spec import DirectorySource


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every visible file under root, sorted."""
    for current, directories, files in os.walk(root):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        base = Path(current)
        for file_name in sorted(files):
            if not file_name.startswith("."):
                path = base / file_name
                yield path.relative_to(root).as_posix(), path


def _listing(paths: list[str]) -> list[tuple[str, Path]]:
    entries: list[tuple[str, Path]] = []
    for given in paths:
        root = Path(given).expanduser()
        if root.is_file():
            entries.append((root.name, root))
        elif root.is_dir():
            prefix = f"{root.resolve().name}/" if len(paths) > 1 else ""
            entries.extend((prefix + name, path) for name, path in _walk(root))
        else:
            raise SourceError(f"no such file or directory: {given}")
    return entries


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise OSError(f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes()


async def fetch(spec: DirectorySource, selection: Selection) -> AsyncIterator[RawDocument]:
    entries = await asyncio.to_thread(_listing, spec.paths)
    seen: set[str] = set()
    for name, path in entries:
        fmt = format_for_name(name)
        if fmt is None or not selection.matches(name):
            continue
        if name in seen:
            yield RawDocument(name=name, uri=name, error="duplicate document name")
            continue
        seen.add(name)
        try:
            data = await asyncio.to_thread(_read, path)
        except OSError as error:
            yield RawDocument(name=name, uri=name, format=fmt, error=f"cannot read: {error}")
            continue
        yield RawDocument(name=name, uri=name, data=data, format=fmt)
