"""Keeps personal data out of logs: phone numbers, e-mail addresses and CNPJs are masked in
every string a log line carries, whoever wrote it (our code, a library, an exception)."""

from __future__ import annotations

import re
from typing import Any

# +55 11 98765-4321, 5511987654321, (11) 98765-4321: 10+ digits with phone punctuation.
_PHONE = re.compile(r"(?<![\w.-])\+?\(?(?:\d[\s().-]{0,2}){10,14}\d(?![\w-])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CNPJ = re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b")
# Values whose keys say they are identifiers of things, not people, are left alone.
_SAFE_KEYS = frozenset(
    {"request_id", "conversation_id", "order_id", "message_id", "event_id", "sku", "timestamp"}
)


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"<phone …{digits[-4:]}>"


def redact(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    text = _CNPJ.sub("<cnpj>", text)
    return _PHONE.sub(_mask_phone, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(child) for child in value]
    return value


def redact_personal_data(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: masks personal data in every value but known identifiers."""
    for key, value in event.items():
        if key not in _SAFE_KEYS:
            event[key] = _redact_value(value)
    return event
