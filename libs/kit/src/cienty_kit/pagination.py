"""Page sizes and opaque page tokens (AIP-158)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cienty_kit.errors import InvalidArgument

MAX_PAGE_SIZE = 200


def page_size(requested: int, *, default: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, MAX_PAGE_SIZE)


def encode_page_token(cursor: dict[str, Any]) -> str:
    raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, *, required_keys: frozenset[str]) -> dict[str, Any] | None:
    """Returns the cursor of a token made by `encode_page_token`, or None for an empty token."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token", "is not a token returned by this API") from None
    if not isinstance(cursor, dict) or not required_keys <= cursor.keys():
        raise InvalidArgument("page_token", "is not a token returned by this API")
    return cursor
