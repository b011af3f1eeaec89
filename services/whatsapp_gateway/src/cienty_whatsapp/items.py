"""One update from a webhook, as it travels through the inbound streams.

The webhook parses Meta's envelope (`webhook.models`) into these, one per message or status;
the worker turns them into work. An item is a flat, JSON-serialisable record, so a stream
entry is `{"item": <json>}` and survives any restart.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, fields
from typing import Any, Literal

ItemKind = Literal["message", "status"]


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Media a customer sent: Meta's media id (valid 7 days); the file is fetched later."""

    id: str
    kind: str  # image, document, audio, video, sticker
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryError:
    code: int
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class InboundItem:
    """A customer message (`kind="message"`) or a status of one of ours (`kind="status"`).

    `wa_id` is the customer's WhatsApp id (digits of the phone): the chat. `id` is the
    message's wamid (for a status: the wamid of our message it is about). `timestamp` is
    Meta's, in Unix seconds.
    """

    kind: ItemKind
    wa_id: str
    id: str
    timestamp: int
    phone_number_id: str = ""
    # Messages.
    type: str = (
        ""  # text, interactive, button, image, ..., location, contacts, reaction, unsupported
    )
    profile_name: str = ""
    text: str = ""
    interactive_reply_id: str = ""
    media: tuple[MediaRef, ...] = ()
    # Whatever else the type carries (location, contacts, reaction, context...), as Meta sent it.
    extra: dict[str, Any] = field(default_factory=dict)
    # Statuses.
    status: str = ""  # sent, delivered, read, failed, played
    errors: tuple[DeliveryError, ...] = ()

    @property
    def dedupe_key(self) -> str:
        """A message once; a status once per (message, status)."""
        if self.kind == "message":
            return f"message:{self.id}"
        return f"status:{self.id}:{self.status}"

    def partition(self, partitions: int) -> int:
        """The inbound stream of this chat: stable across processes and restarts."""
        return zlib.crc32(self.wa_id.encode()) % partitions

    def to_json(self) -> str:
        # Field by field rather than `dataclasses.asdict`, whose deep copy cost more than the
        # rest of the serialisation on the webhook's hot path.
        data: dict[str, Any] = {name: getattr(self, name) for name in _ITEM_FIELDS}
        data["media"] = [{name: getattr(m, name) for name in _MEDIA_FIELDS} for m in self.media]
        data["errors"] = [{name: getattr(e, name) for name in _ERROR_FIELDS} for e in self.errors]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> InboundItem:
        data = json.loads(raw)
        data["media"] = tuple(MediaRef(**m) for m in data.get("media", ()))
        data["errors"] = tuple(DeliveryError(**e) for e in data.get("errors", ()))
        return cls(**data)


_ITEM_FIELDS = tuple(f.name for f in fields(InboundItem))
_MEDIA_FIELDS = tuple(f.name for f in fields(MediaRef))
_ERROR_FIELDS = tuple(f.name for f in fields(DeliveryError))
