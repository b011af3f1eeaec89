"""Heading-aware chunking, sized in the embedding model's tokens.

A document's normalised text is cut into sections at its "#" headings; a chunk never spans two
sections, and each chunk records the heading path above it ("Entrega > Prazos"). Inside a
section, words are packed up to the token budget, and a cut goes back to the last paragraph or
sentence end when one lies in the second half of the chunk; consecutive chunks of a section
share up to `overlap_tokens` tokens of trailing words.

What gets embedded is `embedding_text(chunk)`: the heading path (or the title when there is no
heading) on a line, then the text, so a short chunk ("O prazo é de 48 horas.") keeps its
context. The budget covers that whole text: it never exceeds `max_tokens` as the model counts
(whenever the heading itself leaves room for text). A chunk's `content_hash` covers the same
embedded text, so renaming a heading changes the chunk's id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

from cienty_knowledge.normalize import parse_heading
from cienty_knowledge.types import Chunk, Document, chunk_id, content_hash

HEADING_SEPARATOR = " > "
_WORD = re.compile(r"\S+\s*")
_SENTENCE_END = re.compile(r"[.!?:;…][\"')\]»”]*\s*$")
_CACHE_LIMIT = 200_000


class TokenCounter(Protocol):
    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]  # heading titles from the top level down
    text: str

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.path)


def split_sections(text: str) -> list[Section]:
    """Sections of a normalised text, in order; sections without text are left out (their
    titles still appear in the paths of the sections below them)."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append(Section(tuple(title for _, title in stack), content))
        body.clear()

    for line in text.split("\n"):
        heading = parse_heading(line)
        if heading is None:
            body.append(line[1:] if line.startswith("\\#") else line)
            continue
        flush()
        level, title = heading
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
    flush()
    return sections


def context_line(heading: str, title: str) -> str:
    return heading or title


def embedding_text(chunk: Chunk) -> str:
    """The text the model embeds for a chunk: its context line, a blank line, its text."""
    context = context_line(chunk.heading, chunk.title)
    return f"{context}\n\n{chunk.text}" if context else chunk.text


class Chunker:
    """Cuts documents into chunks; keep one per run (it caches word token counts)."""

    def __init__(
        self, counter: TokenCounter, *, max_tokens: int, overlap_tokens: int, model: str = ""
    ) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        self._counter = counter
        # Part of every content hash, so chunk ids change with the embedding model: a model
        # swap (even one with the same dimension) re-embeds everything instead of mixing
        # two vector spaces in one collection.
        self.model = model
        self.max_tokens = max_tokens
        # At most half the budget, so every chunk moves the window forward.
        self.overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
        self._cache: dict[str, int] = {}

    def count(self, text: str) -> int:
        return self._counter.count_tokens(text)

    def chunk(self, document: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in split_sections(document.text):
            context = context_line(section.heading, document.title)
            reserved = self.count(context) + 2 if context else 0
            budget = max(self.max_tokens - reserved, self.max_tokens // 2)
            for text in self._pack(section.text, budget, context):
                chunk = Chunk(
                    id="",
                    source=document.source,
                    document=document.uri,
                    title=document.title,
                    heading=section.heading,
                    text=text,
                    position=len(chunks),
                    content_hash="",
                    language=document.language,
                )
                embedded = embedding_text(chunk)
                digest = content_hash(f"{self.model}\x1f{embedded}" if self.model else embedded)
                identity = chunk_id(document.source, document.uri, chunk.position, digest)
                chunks.append(replace(chunk, id=identity, content_hash=digest))
        return chunks

    # -- packing ----------------------------------------------------------------------------

    def _word_tokens(self, word: str) -> int:
        key = word.strip()
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[key] = self.count(key)
        return found

    def _words(self, text: str, budget: int) -> tuple[list[str], list[int]]:
        words: list[str] = []
        counts: list[int] = []
        for match in _WORD.finditer(text):
            word = match.group()
            tokens = self._word_tokens(word)
            if tokens <= budget:
                words.append(word)
                counts.append(tokens)
                continue
            for piece in self._split_long_word(word, budget):  # a URL, a hash, a table row
                words.append(piece)
                counts.append(self._word_tokens(piece))
        return words, counts

    def _split_long_word(self, word: str, budget: int) -> list[str]:
        pieces: list[str] = []
        rest = word
        while rest:
            size = len(rest)
            while size > 1 and self.count(rest[:size]) > budget:
                size = max(1, size * budget // max(self.count(rest[:size]), 1) - 1)
            pieces.append(rest[:size])
            rest = rest[size:]
        return pieces

    def _pack(self, text: str, budget: int, context: str) -> list[str]:
        words, counts = self._words(text, budget)
        out: list[str] = []
        start, n = 0, len(words)
        while start < n:
            end, total = start, 0
            while end < n and total + counts[end] <= budget:
                total += counts[end]
                end += 1
            end = max(end, start + 1)
            if end < n:
                end = self._boundary(words, counts, start, end, budget)
            piece = "".join(words[start:end]).strip()
            # Counting word by word is exact for WordPiece; other tokenizers may merge across
            # words, so the whole text is checked and the cut moves back while it is too long.
            while end - start > 1 and self._too_long(piece, context):
                end -= 1
                piece = "".join(words[start:end]).strip()
            if piece:
                out.append(piece)
            if end >= n:
                break
            back, overlap = end, 0
            while back > start + 1 and overlap + counts[back - 1] <= self.overlap_tokens:
                overlap += counts[back - 1]
                back -= 1
            start = back
        return out

    def _too_long(self, piece: str, context: str) -> bool:
        text = f"{context}\n\n{piece}" if context else piece
        return self.count(text) > self.max_tokens

    @staticmethod
    def _boundary(words: list[str], counts: list[int], start: int, end: int, budget: int) -> int:
        """The best place to cut before `end`: a paragraph end, else a sentence end, else a line
        end, in the second half of the chunk; otherwise `end` itself."""
        floor = budget // 2
        best: dict[int, int] = {}
        tokens = 0
        for index in range(start, end):
            tokens += counts[index]
            if tokens < floor:
                continue
            word = words[index]
            if "\n\n" in word:
                best[0] = index + 1
            elif _SENTENCE_END.search(word):
                best[1] = index + 1
            elif "\n" in word:
                best[2] = index + 1
        for rank in (0, 1, 2):
            if rank in best:
                return best[rank]
        return end
