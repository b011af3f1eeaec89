"""SQLAlchemy mapping of the conversations schema. Alembic migrations create it; keep both in
step (a test compares them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # One open conversation per number and channel; a closed one is history.
        Index(
            "uq_conversations_open_phone",
            "channel",
            "phone",
            unique=True,
            postgresql_where=text("status <> 'closed'"),
        ),
        Index("ix_conversations_status_last_message", "status", "last_message_at", "id"),
        Index("ix_conversations_last_message", "last_message_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(64), server_default="")
    customer_name: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str] = mapped_column(String(128), server_default="")
    handover_reason: Mapped[str] = mapped_column(String(32), server_default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    # The customer message whose turn is running, and until when that turn may hold it.
    turn_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    turn_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_message_at: Mapped[datetime] = _now()
    last_message_preview: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotency of HandleMessage: a channel's message id is handled once.
        Index(
            "uq_messages_channel_external_id",
            "channel",
            "external_id",
            unique=True,
            postgresql_where=text("external_id <> ''"),
        ),
        # Idempotency of SendStaffMessage.
        Index(
            "uq_messages_conversation_request_id",
            "conversation_id",
            "request_id",
            unique=True,
            postgresql_where=text("request_id <> ''"),
        ),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
        Index("ix_messages_reply_to", "reply_to"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    author: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, server_default="")
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")
    media: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(256), server_default="")
    interactive_reply_id: Mapped[str] = mapped_column(String(256), server_default="")
    request_id: Mapped[str] = mapped_column(String(128), server_default="")
    sender: Mapped[str] = mapped_column(String(128), server_default="")
    # Agent and system answers: the customer message they answer.
    reply_to: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Customer messages: "received" until their turn is stored, then "done".
    turn_state: Mapped[str] = mapped_column(String(16), server_default="")
    handed_off: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Agent answers that were not sent because staff took over while the model was thinking.
    suppressed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class ToolCallRow(Base):
    __tablename__ = "tool_calls"
    __table_args__ = (Index("ix_tool_calls_conversation_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    step: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[Any] = mapped_column(JSONB)
    is_error: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = _now()


class ProposalRow(Base):
    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_conversation_id", "conversation_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(String(64))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str] = mapped_column(String(64), server_default="")
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRow(Base):
    """Stream entries written in the same transaction as the change they announce."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    stream: Mapped[str] = mapped_column(String(128))
    fields: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProcessedEventRow(Base):
    """Events from other services already acted on (exactly-once effects on redelivery)."""

    __tablename__ = "processed_events"

    event_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    processed_at: Mapped[datetime] = _now()
