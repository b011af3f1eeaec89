"""An outbound message as Graph API payloads, within the API's limits.

One message may need several API messages (parts), always sent in order:
- text only: one text message; a text longer than 4096 characters is split at paragraph, line
  or word boundaries into several (never cut off);
- 1-3 buttons: reply buttons. Their body holds at most 1024 characters: a longer text goes
  first as text message(s), then the buttons with a short body ("Escolha uma opção:");
- more than 3 options: a list message (one section, at most 10 rows); more than 10 options go
  out as several lists, so no option is ever dropped. A list body holds 4096 characters.
Titles longer than the API allows (20 for a button, 24 for a list row) are shortened by the
payload builders; every such cut is reported as a warning for the log, never done silently.
- a template: the approved template with its positional parameters (outside the 24-hour window).

Every payload carries our message id as `biz_opaque_callback_data` (at most 512 characters),
which Meta repeats in the message's status callbacks: a status can find its message even
before (or without) the wamid mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cienty_whatsapp import graph
from cienty_whatsapp.outbound.message import OutboundMessage

PartKind = Literal["text", "buttons", "list", "template"]

MAX_CALLBACK_DATA = 512
CHOOSE_PROMPT = "Escolha uma opção:"
MORE_OPTIONS_PROMPT = "Mais opções:"
LIST_BUTTON = "Ver opções"


@dataclass(frozen=True, slots=True)
class Part:
    kind: PartKind
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rendered:
    parts: tuple[Part, ...]
    warnings: tuple[str, ...] = ()


def render_free_form(message: OutboundMessage) -> Rendered:
    """The message as session (free-form) messages, allowed inside the 24-hour window."""
    rendered = _free_form(message)
    return Rendered(_tagged(rendered.parts, message.message_id), rendered.warnings)


def render_template(message: OutboundMessage) -> Rendered:
    """The message's template (the only kind allowed outside the 24-hour window)."""
    if message.template is None:
        raise ValueError("the message has no template")
    template = message.template
    payload = graph.template_message(
        message.to, template.name, template.language, template.parameters
    )
    return Rendered(_tagged((Part("template", payload),), message.message_id))


def _tagged(parts: tuple[Part, ...], message_id: str) -> tuple[Part, ...]:
    for part in parts:
        part.payload["biz_opaque_callback_data"] = message_id[:MAX_CALLBACK_DATA]
    return parts


def _free_form(message: OutboundMessage) -> Rendered:
    to, text, buttons = message.to, message.text.strip(), message.buttons
    warnings: list[str] = []
    if not buttons:
        return Rendered(tuple(Part("text", graph.text_message(to, t)) for t in split_text(text)))
    parts: list[Part] = []
    if len(buttons) <= graph.MAX_BUTTONS:
        body = text
        if not text or len(text) > graph.MAX_BUTTON_BODY:
            parts.extend(Part("text", graph.text_message(to, t)) for t in split_text(text))
            body = CHOOSE_PROMPT
        for id_, title in buttons:
            if len(title) > graph.MAX_BUTTON_TITLE:
                warnings.append(f"button title shortened to {graph.MAX_BUTTON_TITLE} characters")
            if len(id_) > graph.MAX_BUTTON_ID:
                warnings.append(f"button id shortened to {graph.MAX_BUTTON_ID} characters")
        parts.append(Part("buttons", graph.buttons_message(to, body, buttons)))
        return Rendered(tuple(parts), tuple(warnings))
    body = text
    if not text or len(text) > graph.MAX_TEXT_BODY:
        parts.extend(Part("text", graph.text_message(to, t)) for t in split_text(text))
        body = CHOOSE_PROMPT
    for id_, title in buttons:
        if len(title) > graph.MAX_LIST_ROW_TITLE:
            warnings.append(f"list row title shortened to {graph.MAX_LIST_ROW_TITLE} characters")
        if len(id_) > graph.MAX_LIST_ROW_ID:
            warnings.append(f"list row id shortened to {graph.MAX_LIST_ROW_ID} characters")
    for start in range(0, len(buttons), graph.MAX_LIST_ROWS):
        rows = buttons[start : start + graph.MAX_LIST_ROWS]
        parts.append(
            Part(
                "list",
                graph.list_message(
                    to, body if start == 0 else MORE_OPTIONS_PROMPT, LIST_BUTTON, rows
                ),
            )
        )
    if len(buttons) > graph.MAX_LIST_ROWS:
        warnings.append(f"{len(buttons)} options sent as {len(parts)} list messages")
    return Rendered(tuple(parts), tuple(warnings))


def split_text(text: str, limit: int = graph.MAX_TEXT_BODY) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a paragraph, line or word
    boundary where there is one; empty text gives no piece."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut >= limit // 2:
                break
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
