"""Protobuf <-> domain conversions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty_conversations.domain.conversations import (
    Author,
    Channel,
    Conversation,
    ConversationStatus,
    Inbound,
    Media,
    Message,
    OutgoingText,
)
from cienty_kit.errors import InvalidArgument

STATUS_TO_PB = {
    ConversationStatus.BOT: pb.CONVERSATION_STATUS_BOT,
    ConversationStatus.WAITING_HUMAN: pb.CONVERSATION_STATUS_WAITING_HUMAN,
    ConversationStatus.HUMAN: pb.CONVERSATION_STATUS_HUMAN,
    ConversationStatus.CLOSED: pb.CONVERSATION_STATUS_CLOSED,
}
STATUS_FROM_PB = {value: status for status, value in STATUS_TO_PB.items()}
AUTHOR_TO_PB = {
    Author.CUSTOMER: pb.AUTHOR_CUSTOMER,
    Author.AGENT: pb.AUTHOR_AGENT,
    Author.STAFF: pb.AUTHOR_STAFF,
    Author.SYSTEM: pb.AUTHOR_SYSTEM,
}
CHANNEL_TO_PB = {Channel.WHATSAPP: pb.CHANNEL_WHATSAPP}
CHANNEL_FROM_PB = {value: channel for channel, value in CHANNEL_TO_PB.items()}


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def status_filter(value: int) -> ConversationStatus | None:
    if value == pb.CONVERSATION_STATUS_UNSPECIFIED:
        return None
    try:
        return STATUS_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument("status", "is not a known conversation status") from None


def inbound_from_pb(message: pb.InboundMessage) -> Inbound:
    try:
        channel = CHANNEL_FROM_PB[message.channel]
    except KeyError:
        raise InvalidArgument("channel", "must be CHANNEL_WHATSAPP") from None
    if not message.from_phone:
        raise InvalidArgument("from_phone", "is required")
    return Inbound(
        channel=channel,
        external_id=message.external_id,
        phone=message.from_phone,
        text=message.text,
        interactive_reply_id=message.interactive_reply_id,
        media=tuple(
            Media(
                id=m.id,
                kind=m.kind,
                mime_type=m.mime_type,
                caption=m.caption,
                filename=m.filename,
            )
            for m in message.media
        ),
        sent_at=message.sent_at.ToDatetime(tzinfo=UTC) if message.HasField("sent_at") else None,
        profile_name=message.profile_name[:128],
    )


def outgoing_to_pb(text: OutgoingText) -> pb.OutboundMessage:
    return pb.OutboundMessage(
        text=text.text, buttons=[pb.Button(id=b.id, title=b.title) for b in text.buttons]
    )


def message_to_pb(message: Message) -> pb.Message:
    return pb.Message(
        id=message.id,
        conversation_id=message.conversation_id,
        author=AUTHOR_TO_PB[message.author],
        text=message.text,
        buttons=[pb.Button(id=b.id, title=b.title) for b in message.buttons],
        external_id=message.external_id,
        sender=message.sender,
        media=[
            pb.Media(
                id=m.id, mime_type=m.mime_type, kind=m.kind, caption=m.caption, filename=m.filename
            )
            for m in message.media
        ],
        create_time=timestamp(message.created_at),
    )


def conversation_to_pb(conversation: Conversation) -> pb.Conversation:
    result = pb.Conversation(
        id=conversation.id,
        channel=CHANNEL_TO_PB[conversation.channel],
        customer_phone=conversation.phone,
        customer_id=conversation.customer_id,
        customer_name=conversation.customer_name,
        status=STATUS_TO_PB[conversation.status],
        assignee=conversation.assignee,
        handover_reason=conversation.handover_reason,
        create_time=timestamp(conversation.created_at),
        update_time=timestamp(conversation.updated_at),
        messages=[message_to_pb(m) for m in conversation.messages],
        tool_calls=[
            pb.ToolCallRecord(
                name=call.name,
                arguments_json=json.dumps(call.arguments, ensure_ascii=False),
                result_json=json.dumps(call.result, ensure_ascii=False),
                is_error=call.is_error,
                create_time=timestamp(call.created_at),
            )
            for call in conversation.tool_calls
        ],
        last_message_preview=conversation.last_message_preview,
    )
    if conversation.last_message_at is not None:
        result.last_message_time.CopyFrom(timestamp(conversation.last_message_at))
    return result


def event_to_pb(cursor: str, fields: dict[str, str]) -> pb.ConversationEvent:
    event = pb.ConversationEvent(
        cursor=cursor,
        type=fields.get("type", ""),
        conversation_id=fields.get("conversation_id", ""),
        status=STATUS_TO_PB.get(
            ConversationStatus(fields["status"])
            if fields.get("status")
            else ConversationStatus.BOT,
            pb.CONVERSATION_STATUS_UNSPECIFIED,
        ),
        occur_time=timestamp(datetime.fromisoformat(fields["occurred_at"])),
    )
    if fields.get("message"):
        data = json.loads(fields["message"])
        event.message.CopyFrom(
            pb.Message(
                id=data["id"],
                conversation_id=data["conversation_id"],
                author=AUTHOR_TO_PB[Author(data["author"])],
                text=data["text"],
                buttons=[pb.Button(id=b["id"], title=b["title"]) for b in data["buttons"]],
                external_id=data.get("external_id", ""),
                sender=data.get("sender", ""),
                media=[pb.Media(**m) for m in data.get("media", [])],
                create_time=timestamp(datetime.fromisoformat(data["created_at"])),
            )
        )
    return event
