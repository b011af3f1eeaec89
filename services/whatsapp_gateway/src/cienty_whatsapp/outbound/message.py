"""One entry of `conversations.outbound`, parsed and checked.

The conversations service writes (see `cienty_conversations.service.streams.outbound_entry`):
message_id, conversation_id, channel, to (E.164), author (agent|staff|system), text, buttons
(JSON list of {id, title}), template (JSON {name, language, parameters} or ""), created_at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

AUTHORS = frozenset({"agent", "staff", "system"})
WHATSAPP = "whatsapp"
_E164 = re.compile(r"^\+?[1-9]\d{7,14}$")


class MalformedEntry(ValueError):
    """The entry cannot be sent as it is (recorded for staff, never retried)."""


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: str
    conversation_id: str
    channel: str
    to: str
    author: str
    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    template: Template | None = None
    created_at: datetime | None = None

    @property
    def recipient(self) -> str:
        """The key of this customer for pacing and ordering (see `recipient_key`)."""
        return recipient_key(self.to)


def decode_fields(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in fields.items()}


def parse_entry(fields: Mapping[str, str]) -> OutboundMessage:
    """Raises `MalformedEntry` saying what is wrong; `message_id` is checked first so that a
    failure can be recorded against it."""
    message_id = fields.get("message_id", "").strip()
    if not message_id:
        raise MalformedEntry("no message_id")
    to = fields.get("to", "").strip()
    if not _E164.match(to):
        raise MalformedEntry("`to` is not an E.164 number")
    author = fields.get("author", "")
    if author not in AUTHORS:
        raise MalformedEntry(f"unknown author {author[:20]!r}")
    text = fields.get("text", "")
    buttons = _buttons(fields.get("buttons", ""))
    template = _template(fields.get("template", ""))
    if not text.strip() and not buttons and template is None:
        raise MalformedEntry("nothing to send (no text, buttons or template)")
    return OutboundMessage(
        message_id=message_id,
        conversation_id=fields.get("conversation_id", ""),
        channel=fields.get("channel", WHATSAPP) or WHATSAPP,
        to=to if to.startswith("+") else "+" + to,
        author=author,
        text=text,
        buttons=buttons,
        template=template,
        created_at=_datetime(fields.get("created_at", "")),
    )


def recipient_key(to: str) -> str:
    """The customer's digits, with Brazil's mobile ninth digit always present.

    Meta may report a Brazilian mobile's `wa_id` without the ninth digit (55 11 8765-4321) while
    we address it with it (55 11 98765-4321): both forms share one pacing bucket and one
    ordering lane.
    """
    digits = to.lstrip("+")
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789":
        return digits[:4] + "9" + digits[4:]
    return digits


def wa_id_candidates(to: str) -> tuple[str, ...]:
    """The `wa_id`s the inbound side may have recorded for this number (see `recipient_key`)."""
    canonical = recipient_key(to)
    if len(canonical) == 13 and canonical.startswith("55") and canonical[4] == "9":
        return (canonical, canonical[:4] + canonical[5:])
    return (canonical,)


def _buttons(raw: str) -> tuple[tuple[str, str], ...]:
    if not raw.strip():
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        raise MalformedEntry("`buttons` is not JSON") from None
    if not isinstance(value, list):
        raise MalformedEntry("`buttons` is not a list")
    buttons: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict):
            raise MalformedEntry("a button is not an object")
        id_, title = str(item.get("id") or "").strip(), str(item.get("title") or "").strip()
        if not id_ or not title:
            raise MalformedEntry("a button lacks its id or title")
        buttons.append((id_, title))
    return tuple(buttons)


def _template(raw: str) -> Template | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise MalformedEntry("`template` is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedEntry("`template` is not an object")
    name, language = str(value.get("name") or ""), str(value.get("language") or "")
    parameters = value.get("parameters") or []
    if not name or not language or not isinstance(parameters, list):
        raise MalformedEntry("`template` needs a name, a language and a list of parameters")
    return Template(name, language, tuple(str(p) for p in parameters))


def _datetime(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
