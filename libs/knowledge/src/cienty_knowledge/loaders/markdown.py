"""Markdown: ATX and setext headings become "#" lines, front matter gives the title, and lines
inside code blocks that start with '#' are escaped so they never read as headings."""

from __future__ import annotations

import re

import yaml
from markdown_it import MarkdownIt

from cienty_knowledge.loaders.base import Loaded
from cienty_knowledge.loaders.text import decode_text
from cienty_knowledge.normalize import escape_heading_marks, heading_line

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)
_PARSER = MarkdownIt("commonmark")


def _front_matter(text: str) -> tuple[str, str]:
    """(title from the front matter or "", the text without it)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return "", text
    title = meta.get("title") if isinstance(meta, dict) else None
    return (str(title) if title else ""), text[match.end() :]


def load_markdown(data: bytes, name: str) -> Loaded:
    title, text = _front_matter(decode_text(data).replace("\r\n", "\n"))
    lines = text.split("\n")
    replaced: dict[int, str] = {}
    dropped: set[int] = set()
    tokens = _PARSER.parse(text)
    for index, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "heading_open":
            level = int(token.tag[1:])
            content = tokens[index + 1].content if index + 1 < len(tokens) else ""
            if level == 1 and not title:
                title = content
            replaced[start] = heading_line(level, content)
            dropped.update(range(start + 1, end))  # a setext heading's underline
        elif token.type in ("fence", "code_block"):
            for line in range(start, end):
                replaced[line] = escape_heading_marks(lines[line]) if line < len(lines) else ""
    out = [replaced.get(i, line) for i, line in enumerate(lines) if i not in dropped]
    return Loaded(title=title, text="\n".join(out))
