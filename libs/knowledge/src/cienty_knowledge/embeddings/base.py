"""The interface every embedder implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    model: str  # recorded with the vectors: one collection, one model
    dimensions: int
    max_tokens: int  # the model's input limit; chunking stays under it

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text, in order."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens as the model counts them (chunk sizes are in these)."""
        ...
