"""Text normalisation shared by every loader.

The normalised form is what chunking reads: NFC Unicode, `\\n` line ends, no control or
zero-width characters, words hyphenated across line ends joined again, single spaces inside
lines, at most one blank line in a row, and headings as Markdown ATX lines (`## Prazos`).
Indentation at the start of a line is kept (lists, code).
"""

from __future__ import annotations

import re
import unicodedata

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")

# C0/C1 controls except tab and newline; zero-width characters, BOM and soft hyphen.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\u00ad]")
_SPACES = {"\u00a0", "\u2007", "\u202f", "\u2002", "\u2003", "\u2009", "\u3000"}
_SPACE_CHARS = re.compile("[" + "".join(sorted(_SPACES)) + "]")
# "distri-\nbuição" -> "distribuição": a letter, a hyphen at the end of a line, a lower-case
# letter starting the next one.
_HYPHENATED = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[^\W\d_A-Z])")
_INNER_SPACES = re.compile(r"(?<=\S)[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ATX_NO_SPACE = re.compile(r"^(#{1,6})(?=[^\s#])", re.MULTILINE)


def normalize_text(text: str) -> str:
    """Normalise extracted text (see the module docstring); returns "" for blank input."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _INVISIBLE.sub("", text)
    text = _SPACE_CHARS.sub(" ", text)
    text = _HYPHENATED.sub("", text)
    lines = [_INNER_SPACES.sub(" ", line).rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip("\n").rstrip()


def heading_line(level: int, title: str) -> str:
    """A heading in the normalised form; the title is flattened to one line."""
    flat = " ".join(title.split())
    return f"{'#' * max(1, min(level, 6))} {flat}" if flat else ""


def fix_atx_headings(text: str) -> str:
    """`#Title` -> `# Title` (common in hand-written Markdown and plain-text notes)."""
    return _ATX_NO_SPACE.sub(r"\1 ", text)


def parse_heading(line: str) -> tuple[int, str] | None:
    """(level, title) when `line` is a heading in the normalised form."""
    match = HEADING.match(line)
    if match is None:
        return None
    return len(match.group(1)), match.group(2).strip()


def escape_heading_marks(line: str) -> str:
    """Keep a line that merely starts with '#' (code, hashtags) from reading as a heading."""
    return "\\" + line if line.startswith("#") else line
