"""The entries this service writes to Redis Streams (through the outbox).

`conversations.outbound` — one entry per message to send, consumed by the WhatsApp gateway:
  message_id, conversation_id, channel, to (E.164), author (agent|staff|system), text,
  buttons (JSON list of {id, title}), template (JSON {name, language, parameters} or ""),
  created_at (ISO 8601 UTC).
`conversations.events` — what happened, for the staff inbox (WatchConversationEvents):
  type, conversation_id, status, message (JSON or ""), occurred_at.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cienty_conversations.domain.conversations import Button, Message

MESSAGE_RECEIVED = "message.received"
MESSAGE_SENT = "message.sent"
HANDED_OVER = "conversation.handed_over"
TAKEN_OVER = "conversation.taken_over"
RETURNED_TO_BOT = "conversation.returned_to_bot"
CLOSED = "conversation.closed"


def _buttons(buttons: Sequence[Button]) -> str:
    return json.dumps([{"id": b.id, "title": b.title} for b in buttons], ensure_ascii=False)


def outbound_entry(
    message: Message, *, channel: str, to: str, template: dict[str, Any] | None = None
) -> dict[str, str]:
    return {
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "channel": channel,
        "to": to,
        "author": message.author.value,
        "text": message.text,
        "buttons": _buttons(message.buttons),
        "template": json.dumps(template, ensure_ascii=False) if template else "",
        "created_at": message.created_at.astimezone(UTC).isoformat(),
    }


def message_json(message: Message) -> str:
    return json.dumps(
        {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "author": message.author.value,
            "text": message.text,
            "buttons": [{"id": b.id, "title": b.title} for b in message.buttons],
            "external_id": message.external_id,
            "sender": message.sender,
            "media": [
                {
                    "id": m.id,
                    "kind": m.kind,
                    "mime_type": m.mime_type,
                    "caption": m.caption,
                    "filename": m.filename,
                }
                for m in message.media
            ],
            "created_at": message.created_at.astimezone(UTC).isoformat(),
        },
        ensure_ascii=False,
    )


def event_entry(
    event_type: str,
    conversation_id: str,
    status: str,
    *,
    message: Message | None = None,
    at: datetime | None = None,
) -> dict[str, str]:
    return {
        "type": event_type,
        "conversation_id": conversation_id,
        "status": status,
        "message": message_json(message) if message else "",
        "occurred_at": (at or datetime.now(UTC)).astimezone(UTC).isoformat(),
    }
