"""Conversations, their messages and the tool calls the agent made."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from cienty_conversations.domain.conversations import (
    Author,
    Button,
    Channel,
    Conversation,
    ConversationStatus,
    Inbound,
    Media,
    Message,
    NewToolCall,
    StoredToolCall,
    ToolCallRecord,
)
from cienty_conversations.repository.tables import ConversationRow, MessageRow, ToolCallRow
from cienty_kit.database import Session

PREVIEW_CHARS = 120
# The partial unique indexes' predicates, as literal SQL. With a bound parameter PostgreSQL
# matches the index only while it plans with the value: after five executions of a prepared
# statement (a generic plan) ON CONFLICT finds no matching constraint and a lookup scans the
# whole table.
OPEN_CONVERSATION = text("status <> 'closed'")
HAS_EXTERNAL_ID = text("external_id <> ''")


@dataclass(frozen=True, slots=True)
class StoredInbound:
    """A customer message and the state of its turn."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    turn_state: str
    handed_off: bool


def conversation_from_row(row: ConversationRow) -> Conversation:
    return Conversation(
        id=str(row.id),
        channel=Channel(row.channel),
        phone=row.phone,
        status=ConversationStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        assignee=row.assignee,
        handover_reason=row.handover_reason,
        last_message_at=row.last_message_at,
        last_message_preview=row.last_message_preview,
        consecutive_failures=row.consecutive_failures,
    )


def message_from_row(row: MessageRow) -> Message:
    return Message(
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        author=Author(row.author),
        text=row.text,
        created_at=row.created_at,
        buttons=tuple(Button(b["id"], b["title"]) for b in row.buttons),
        external_id=row.external_id,
        sender=row.sender,
        media=tuple(Media(**m) for m in row.media),
    )


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def open_for_update(self, channel: Channel, phone: str) -> ConversationRow:
        """The number's open conversation (created when there is none), locked until the end
        of the transaction, so that concurrent messages of one chat take turns."""
        await self._session.execute(
            insert(ConversationRow)
            .values(id=uuid.uuid4(), channel=channel.value, phone=phone, status="bot")
            .on_conflict_do_nothing(
                index_elements=["channel", "phone"], index_where=OPEN_CONVERSATION
            )
        )
        row = await self._session.scalar(
            select(ConversationRow)
            .where(
                ConversationRow.channel == channel.value,
                ConversationRow.phone == phone,
                OPEN_CONVERSATION,
            )
            .with_for_update()
        )
        assert row is not None  # inserted or already there, and we hold the lock now
        return row

    async def get(
        self, conversation_id: uuid.UUID, *, for_update: bool = False
    ) -> ConversationRow | None:
        query = select(ConversationRow).where(ConversationRow.id == conversation_id)
        if for_update:
            query = query.with_for_update()
        return await self._session.scalar(query)

    async def find_open(self, channel: Channel, phone: str) -> ConversationRow | None:
        return await self._session.scalar(
            select(ConversationRow).where(
                ConversationRow.channel == channel.value,
                ConversationRow.phone == phone,
                OPEN_CONVERSATION,
            )
        )

    async def page(
        self,
        *,
        status: ConversationStatus | None,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[ConversationRow]:
        """Newest activity first; `after` is the (last_message_at, id) of the previous page's
        last row."""
        query = select(ConversationRow)
        if status is not None:
            query = query.where(ConversationRow.status == status.value)
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(
                    ConversationRow.last_message_at < at,
                    and_(ConversationRow.last_message_at == at, ConversationRow.id < last_id),
                )
            )
        query = query.order_by(
            ConversationRow.last_message_at.desc(), ConversationRow.id.desc()
        ).limit(limit)
        return list((await self._session.scalars(query)).all())

    async def add_inbound(
        self, conversation_id: uuid.UUID, inbound: Inbound
    ) -> StoredInbound | None:
        """Stores a customer message; None when this channel message id is already stored."""
        message_id = uuid.uuid4()
        inserted = await self._session.scalar(
            insert(MessageRow)
            .values(
                id=message_id,
                conversation_id=conversation_id,
                author=Author.CUSTOMER.value,
                text=inbound.text,
                media=[_media_json(m) for m in inbound.media],
                channel=inbound.channel.value,
                external_id=inbound.external_id,
                interactive_reply_id=inbound.interactive_reply_id,
                sender=inbound.profile_name,
                turn_state="received",
                **({"created_at": inbound.sent_at} if inbound.sent_at else {}),
            )
            .on_conflict_do_nothing(
                index_elements=["channel", "external_id"], index_where=HAS_EXTERNAL_ID
            )
            .returning(MessageRow.id)
        )
        if inserted is None:
            return None
        return StoredInbound(message_id, conversation_id, "received", False)

    async def message(self, message_id: uuid.UUID) -> MessageRow:
        row = await self._session.get(MessageRow, message_id)
        if row is None:
            raise LookupError(f"message {message_id} does not exist")
        return row

    async def inbound_by_external_id(
        self, channel: Channel, external_id: str
    ) -> StoredInbound | None:
        row = await self._session.scalar(
            select(MessageRow).where(
                MessageRow.channel == channel.value,
                MessageRow.external_id == external_id,
                HAS_EXTERNAL_ID,  # lets a generic plan use the partial unique index
            )
        )
        if row is None:
            return None
        return StoredInbound(row.id, row.conversation_id, row.turn_state, row.handed_off)

    async def add_message(
        self,
        conversation_id: uuid.UUID,
        *,
        author: Author,
        text: str,
        channel: Channel,
        buttons: Sequence[Button] = (),
        reply_to: uuid.UUID | None = None,
        sender: str = "",
        request_id: str = "",
        suppressed: bool = False,
    ) -> MessageRow:
        row = MessageRow(
            id=uuid.uuid4(),
            conversation_id=conversation_id,
            author=author.value,
            text=text,
            buttons=[{"id": b.id, "title": b.title} for b in buttons],
            channel=channel.value,
            reply_to=reply_to,
            sender=sender,
            request_id=request_id,
            suppressed=suppressed,
        )
        self._session.add(row)
        await self._session.flush()
        return row

    async def message_by_request_id(
        self, conversation_id: uuid.UUID, request_id: str
    ) -> MessageRow | None:
        return await self._session.scalar(
            select(MessageRow).where(
                MessageRow.conversation_id == conversation_id, MessageRow.request_id == request_id
            )
        )

    async def replies_to(self, message_id: uuid.UUID) -> list[MessageRow]:
        """What was answered to a customer message (sent or not), in order."""
        rows = await self._session.scalars(
            select(MessageRow).where(MessageRow.reply_to == message_id).order_by(MessageRow.seq)
        )
        return list(rows.all())

    async def release_turn(self, conversation_id: uuid.UUID, message_id: uuid.UUID) -> None:
        """Frees the conversation's turn lease if this message still holds it."""
        await self._session.execute(
            update(ConversationRow)
            .where(
                ConversationRow.id == conversation_id,
                ConversationRow.turn_message_id == message_id,
            )
            .values(turn_message_id=None, turn_lease_until=None)
        )

    async def finish_turn(self, message_id: uuid.UUID, *, handed_off: bool) -> None:
        await self._session.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id)
            .values(turn_state="done", handed_off=handed_off)
        )

    async def recent_messages(self, conversation_id: uuid.UUID, limit: int) -> list[MessageRow]:
        """The last `limit` messages, oldest first."""
        rows = await self._session.scalars(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(MessageRow.seq.desc())
            .limit(limit)
        )
        return list(reversed(rows.all()))

    async def add_tool_calls(
        self, conversation_id: uuid.UUID, message_id: uuid.UUID, calls: Sequence[NewToolCall]
    ) -> None:
        for call in calls:
            self._session.add(
                ToolCallRow(
                    conversation_id=conversation_id,
                    message_id=message_id,
                    step=call.step,
                    call_id=call.call_id,
                    name=call.name,
                    arguments=call.arguments,
                    result=call.result,
                    is_error=call.is_error,
                )
            )
        await self._session.flush()

    async def tool_calls_of(
        self,
        conversation_id: uuid.UUID,
        message_ids: Sequence[uuid.UUID] | None = None,
        limit: int = 200,
    ) -> list[StoredToolCall]:
        query = select(ToolCallRow).where(ToolCallRow.conversation_id == conversation_id)
        if message_ids is not None:
            query = query.where(ToolCallRow.message_id.in_(message_ids))
        rows = await self._session.scalars(query.order_by(ToolCallRow.id.desc()).limit(limit))
        return [
            StoredToolCall(
                message_id=row.message_id,
                step=row.step,
                call_id=row.call_id,
                name=row.name,
                arguments=row.arguments,
                result=row.result,
                is_error=row.is_error,
                created_at=row.created_at,
            )
            for row in reversed(rows.all())
        ]

    async def touch(self, row: ConversationRow, preview: str) -> None:
        # The application's clock, not now(): no UPDATE-then-SELECT round trips on the hot path.
        now = datetime.now(UTC)
        row.last_message_at = now
        row.updated_at = now
        row.last_message_preview = preview[:PREVIEW_CHARS]


def tool_call_record(call: StoredToolCall) -> ToolCallRecord:
    return ToolCallRecord(
        name=call.name,
        arguments=call.arguments,
        result=call.result,
        is_error=call.is_error,
        created_at=call.created_at,
    )


def _media_json(media: Media) -> dict[str, str]:
    return {
        "id": media.id,
        "kind": media.kind,
        "mime_type": media.mime_type,
        "caption": media.caption,
        "filename": media.filename,
    }
