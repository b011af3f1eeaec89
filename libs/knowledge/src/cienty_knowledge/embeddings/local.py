"""The packaged all-MiniLM-L6-v2 (384 dimensions), in-process through sentence-transformers.

Encoding runs in a worker thread, one batch list at a time (a lock keeps concurrent callers
from fighting over the CPU cores), so the event loop keeps serving while vectors are computed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cienty_knowledge.embeddings.tokens import TokenizerCounter, packaged_model_path

PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_SPECIAL_TOKENS = 2  # [CLS] and [SEP] take two places of the model's input


def load_sentence_transformer(path: Path | None = None, device: str = "cpu") -> Any:
    """The SentenceTransformer for `path` (default: the packaged MiniLM), loaded offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    quiet: Any = transformers_logging.disable_progress_bar  # untyped
    quiet()
    return SentenceTransformer(
        str(path or packaged_model_path()), device=device, local_files_only=True
    )


class LocalEmbedder:
    def __init__(
        self,
        model_path: Path | None = None,
        *,
        batch_size: int = 32,
        device: str = "cpu",
        model: Any = None,
    ) -> None:
        """`model`: an already loaded SentenceTransformer to share (tests, the benchmark)."""
        self._model = model if model is not None else load_sentence_transformer(model_path, device)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        tokenizer_file = (model_path or packaged_model_path()) / "tokenizer.json"
        self._counter = TokenizerCounter(tokenizer_file)
        self.model = PACKAGED_MODEL if model_path is None else model_path.name
        self.dimensions: int = int(self._model.get_embedding_dimension())
        self.max_tokens: int = int(self._model.max_seq_length) - _SPECIAL_TOKENS

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_sync, list(texts))

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """Blocking: encode in batches (sentence-transformers sorts them by length)."""
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        result: list[list[float]] = vectors.tolist()
        return result

    def count_tokens(self, text: str) -> int:
        return self._counter.count_tokens(text)
