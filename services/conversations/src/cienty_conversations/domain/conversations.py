"""Conversations, their messages and who owns them."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cienty_kit.errors import InvalidArgument

MAX_TEXT_CHARS = 4096
MAX_BUTTONS = 3
MAX_BUTTON_TITLE_CHARS = 20
MAX_BUTTON_ID_CHARS = 256


class Channel(enum.StrEnum):
    WHATSAPP = "whatsapp"


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    WAITING_HUMAN = "waiting_human"
    HUMAN = "human"
    CLOSED = "closed"


class Author(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    STAFF = "staff"
    SYSTEM = "system"


class HandoverReason(enum.StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    SENSITIVE_TOPIC = "sensitive_topic"
    REPEATED_FAILURES = "repeated_failures"
    LLM_UNAVAILABLE = "llm_unavailable"
    AGENT_DECISION = "agent_decision"


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.id) <= MAX_BUTTON_ID_CHARS:
            raise ValueError(f"button id must have 1-{MAX_BUTTON_ID_CHARS} characters")
        if not 1 <= len(self.title) <= MAX_BUTTON_TITLE_CHARS:
            raise ValueError(f"button title must have 1-{MAX_BUTTON_TITLE_CHARS} characters")


@dataclass(frozen=True, slots=True)
class Media:
    id: str
    kind: str
    mime_type: str = ""
    caption: str = ""
    filename: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingText:
    """One message to the customer: text, and up to three reply buttons."""

    text: str
    buttons: tuple[Button, ...] = ()

    def __post_init__(self) -> None:
        if len(self.buttons) > MAX_BUTTONS:
            raise ValueError(f"at most {MAX_BUTTONS} buttons")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A customer message as the channel delivered it (validated)."""

    channel: Channel
    external_id: str
    phone: str
    text: str
    interactive_reply_id: str = ""
    media: tuple[Media, ...] = ()
    sent_at: datetime | None = None
    profile_name: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.external_id) <= 256:
            raise InvalidArgument("external_id", "must have 1-256 characters")
        if len(self.text) > MAX_TEXT_CHARS:
            raise InvalidArgument("text", f"must have at most {MAX_TEXT_CHARS} characters")
        if len(self.interactive_reply_id) > MAX_BUTTON_ID_CHARS:
            raise InvalidArgument(
                "interactive_reply_id", f"must have at most {MAX_BUTTON_ID_CHARS} characters"
            )
        if not (self.text.strip() or self.interactive_reply_id or self.media):
            raise InvalidArgument("text", "a message needs text, an interactive reply or media")


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    author: Author
    text: str
    created_at: datetime
    buttons: tuple[Button, ...] = ()
    external_id: str = ""
    sender: str = ""
    media: tuple[Media, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    name: str
    arguments: dict[str, object]
    result: object
    is_error: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    channel: Channel
    phone: str
    status: ConversationStatus
    created_at: datetime
    updated_at: datetime
    customer_id: str = ""
    customer_name: str = ""
    assignee: str = ""
    handover_reason: str = ""
    last_message_at: datetime | None = None
    last_message_preview: str = ""
    consecutive_failures: int = 0
    messages: tuple[Message, ...] = field(default=())
    tool_calls: tuple[ToolCallRecord, ...] = field(default=())

    @property
    def bot_answers(self) -> bool:
        return self.status is ConversationStatus.BOT


@dataclass(frozen=True, slots=True)
class NewToolCall:
    """A tool call the agent made in a turn, to store with the turn."""

    step: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: Any
    is_error: bool


@dataclass(frozen=True, slots=True)
class StoredToolCall:
    """A stored tool call, with the customer message whose turn made it."""

    message_id: uuid.UUID
    step: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: Any
    is_error: bool
    created_at: datetime
