"""Validation of free-text fields."""

from __future__ import annotations

from cienty_kit.errors import InvalidArgument


def required_text(value: str, field: str, *, max_length: int = 200) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidArgument(field, "is required")
    return optional_text(text, field, max_length=max_length)


def optional_text(value: str, field: str, *, max_length: int = 200) -> str:
    text = " ".join(value.split())
    if len(text) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    return text


def request_id(value: str, field: str = "request_id") -> str:
    key = value.strip()
    if not key:
        raise InvalidArgument(field, "is required; send a unique id (e.g. a UUID) per operation")
    if len(key) > 128:
        raise InvalidArgument(field, "must be at most 128 characters")
    return key
