"""What a source yields, its errors, and the include/exclude selection."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cienty_knowledge.loaders import Format

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


class SourceError(Exception):
    """The source as a whole cannot be read (missing directory, bad bucket, clone failed): the
    run stops before it deletes anything."""


@dataclass(frozen=True)
class RawDocument:
    """One document as fetched, not yet loaded."""

    name: str  # what include/exclude globs match: a relative path, "host/path" for URLs
    uri: str  # the document's identity in the store (and in citations)
    data: bytes = b""
    format: Format | None = None  # None: from the content type, else the name's extension
    content_type: str | None = None
    error: str | None = None  # fetching failed: reported, and its previous chunks are kept
    metadata: Mapping[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like globs over "/"-separated names: `*` and `?` stay within one path segment,
    `**/` matches any number of directories (also none), `**` anything; `[...]` classes."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and (close := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : close]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = close + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, name: str) -> bool:
    return _glob_regex(pattern.lstrip("/")).match(name.lstrip("/")) is not None


@dataclass(frozen=True)
class Selection:
    """Which document names a run takes: any include glob (all when none), no exclude glob."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def matches(self, name: str) -> bool:
        if self.include and not any(glob_match(p, name) for p in self.include):
            return False
        return not any(glob_match(p, name) for p in self.exclude)
