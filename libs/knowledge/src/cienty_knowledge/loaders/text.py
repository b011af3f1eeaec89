"""Plain text. UTF-8 first; legacy Windows-1252 / Latin-1 files (common in Brazilian office
exports) are accepted too; anything else (binary data, other encodings) is a `LoaderError`."""

from __future__ import annotations

from cienty_knowledge.loaders.base import Loaded, LoaderError
from cienty_knowledge.normalize import fix_atx_headings

# Controls that never appear in text files; seeing one means binary data, not a legacy encoding.
_BINARY_BYTES = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x1B)) | {0x0B, 0x7F}


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM allowed), else Windows-1252; binary data (NUL and other control bytes that
    text never holds) or bytes undefined in both is a LoaderError."""
    if _BINARY_BYTES.intersection(data[:65536]):
        raise LoaderError("binary data, not text (control bytes found)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise LoaderError(
            f"text is neither UTF-8 nor Windows-1252 (byte 0x{data[error.start]:02x} at "
            f"{error.start})"
        ) from error


def load_text(data: bytes, name: str) -> Loaded:
    return Loaded(title="", text=fix_atx_headings(decode_text(data)))
