"""Meta's envelope → one `InboundItem` per message and per status, in the order Meta sent them.

Every entry, every change and every message and status in it becomes an item: Meta batches up
to 1000 updates in one POST, and an integration that reads only the first one silently loses
the rest. Webhook-level `errors` (in `value.errors`) are not items: they are returned for the
caller to log and count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from cienty_whatsapp.items import DeliveryError, InboundItem, MediaRef
from cienty_whatsapp.webhook.models import (
    MEDIA_TYPES,
    Contact,
    Envelope,
    ErrorInfo,
    Message,
    MessagesChange,
    MessagesValue,
    Status,
)


@dataclass
class Parsed:
    items: list[InboundItem] = field(default_factory=list)
    # `value.errors`: problems Meta reports about the webhook or the account, not about a message.
    errors: list[ErrorInfo] = field(default_factory=list)
    # Changes of other fields than `messages` (acknowledged, not handled here).
    other_changes: list[str] = field(default_factory=list)


def parse_envelope(envelope: Envelope) -> Parsed:
    parsed = Parsed()
    for entry in envelope.entry:
        for change in entry.changes:
            if isinstance(change, MessagesChange):
                _parse_value(change.value, parsed)
            else:
                parsed.other_changes.append(change.field)
    return parsed


def _parse_value(value: MessagesValue, parsed: Parsed) -> None:
    phone_number_id = value.metadata.phone_number_id
    for message in value.messages:
        parsed.items.append(message_item(message, value.contacts, phone_number_id))
    for status in value.statuses:
        parsed.items.append(status_item(status, phone_number_id))
    parsed.errors.extend(value.errors)


def _profile_name(message: Message, contacts: list[Contact]) -> str:
    """The sender's profile name: the contact with the sender's `wa_id` (or BSUID); failing
    that, the only contact of the change (Meta notes that a user's id and number may differ)."""
    for contact in contacts:
        if (message.from_ and contact.wa_id == message.from_) or (
            message.from_user_id and contact.user_id == message.from_user_id
        ):
            return contact.profile.name if contact.profile else ""
    if len(contacts) == 1 and contacts[0].profile is not None:
        return contacts[0].profile.name
    return ""


# Sub-objects of the types whose content is kept raw in `extra`.
TYPED_OBJECTS = frozenset({"location", "contacts", "reaction", "order", "system", "unsupported"})


def _raw(model: Any) -> Any:
    """A sub-object as Meta sent it (the fields it set, unknown ones included)."""
    if isinstance(model, list):
        return [_raw(item) for item in model]
    if isinstance(model, BaseModel):
        return model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return model


def message_item(message: Message, contacts: list[Contact], phone_number_id: str) -> InboundItem:
    text = ""
    reply_id = ""
    media: tuple[MediaRef, ...] = ()
    extra: dict[str, Any] = {}

    if message.type == "text" and message.text is not None:
        text = message.text.body
    elif message.type == "interactive" and message.interactive is not None:
        reply = message.interactive.reply
        if reply is not None:
            reply_id, text = reply.id, reply.title
            if reply.description:
                extra["description"] = reply.description
        else:  # nfm_reply (Flows) and whatever comes next: the worker decides.
            extra["interactive"] = _raw(message.interactive)
    elif message.type == "button" and message.button is not None:
        reply_id, text = message.button.payload or message.button.text, message.button.text
    elif message.type in MEDIA_TYPES and message.media is not None:
        found = message.media
        media = (
            MediaRef(
                id=found.id,
                kind=message.type,
                mime_type=found.mime_type,
                sha256=found.sha256,
                caption=found.caption,
                filename=found.filename,
            ),
        )
        text = found.caption
        rest = {
            key: value
            for key, value in _raw(found).items()
            if key not in ("id", "mime_type", "sha256", "caption", "filename")
        }
        if rest:  # url, voice, animated...
            extra[message.type] = rest
    else:
        # location, contacts, reaction, order, system, unsupported, and any type we do not know:
        # the sub-object as Meta sent it, under its type's name.
        sub: Any = getattr(message, message.type) if message.type in TYPED_OBJECTS else None
        if sub is not None:
            extra[message.type] = _raw(sub)
        elif (unknown := (message.model_extra or {}).get(message.type)) is not None:
            extra[message.type] = unknown

    if message.context:
        extra["context"] = message.context
    if message.referral:
        extra["referral"] = message.referral
    if message.errors:
        extra["errors"] = _raw(message.errors)
    if message.from_user_id:
        extra["user_id"] = message.from_user_id

    return InboundItem(
        kind="message",
        wa_id=message.sender,
        id=message.id,
        timestamp=message.timestamp,
        phone_number_id=phone_number_id,
        type=message.type,
        profile_name=_profile_name(message, contacts),
        text=text,
        interactive_reply_id=reply_id,
        media=media,
        extra=extra,
    )


def delivery_error(error: ErrorInfo) -> DeliveryError:
    return DeliveryError(
        code=error.code,
        title=error.title,
        message=error.message,
        details=error.error_data.details if error.error_data else "",
    )


def status_item(status: Status, phone_number_id: str) -> InboundItem:
    extra: dict[str, Any] = {}
    for name in ("biz_opaque_callback_data", "conversation", "pricing"):
        found = getattr(status, name)
        if found is not None:
            extra[name] = found
    if status.recipient_user_id:
        extra["user_id"] = status.recipient_user_id
    return InboundItem(
        kind="status",
        wa_id=status.recipient,
        id=status.id,
        timestamp=status.timestamp,
        phone_number_id=phone_number_id,
        status=status.status,
        errors=tuple(delivery_error(error) for error in status.errors),
        extra=extra,
    )
