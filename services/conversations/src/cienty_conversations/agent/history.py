"""Turns stored messages and tool calls back into the model's conversation, within a budget.

Whole turns are dropped from the oldest (a tool call is never separated from its result);
what is dropped is summarised in a few lines that go into the system prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from cienty_conversations.domain.conversations import Author, Message, StoredToolCall
from cienty_llm.types import Message as ChatMessage
from cienty_llm.types import ToolCall

SUMMARY_CHARS = 1200
SUMMARY_LINE_CHARS = 160


def estimate_tokens(text: str) -> int:
    """Portuguese runs at about 3.5 characters per token in Llama 3's tokenizer."""
    return len(text) * 2 // 7 + 4


@dataclass
class Turn:
    messages: list[ChatMessage] = field(default_factory=list)
    tokens: int = 0
    customer_text: str = ""

    def add(self, message: ChatMessage) -> None:
        self.messages.append(message)
        arguments = "".join(json.dumps(dict(c.arguments)) for c in message.tool_calls)
        self.tokens += estimate_tokens(message.content + arguments)


def build_turns(messages: Sequence[Message], tool_calls: Sequence[StoredToolCall]) -> list[Turn]:
    """One turn per customer message: it, the tool calls made for it, and what was answered."""
    calls_by_message: dict[str, list[StoredToolCall]] = {}
    for call in tool_calls:
        calls_by_message.setdefault(str(call.message_id), []).append(call)
    turns: list[Turn] = []
    for message in messages:
        if message.author is Author.CUSTOMER or not turns:
            turns.append(Turn())
        turn = turns[-1]
        if message.author is Author.CUSTOMER:
            turn.customer_text = message.text
            turn.add(ChatMessage.user(message.text or "[mídia sem texto]"))
            steps: dict[int, list[StoredToolCall]] = {}
            for call in calls_by_message.get(message.id, []):
                steps.setdefault(call.step, []).append(call)
            for step in sorted(steps):
                calls = steps[step]
                turn.add(
                    ChatMessage.assistant(
                        tool_calls=[ToolCall(c.call_id, c.name, c.arguments) for c in calls]
                    )
                )
                for call in calls:
                    turn.add(
                        ChatMessage.tool_result(
                            call.call_id,
                            json.dumps(call.result, ensure_ascii=False),
                            is_error=call.is_error,
                        )
                    )
        elif message.text:
            # Staff and notifications speak for Cienty too: the model sees them as its side.
            turn.add(ChatMessage.assistant(message.text))
    return turns


def fit(turns: Sequence[Turn], budget_tokens: int) -> tuple[list[ChatMessage], list[Turn]]:
    """The newest turns that fit the budget (at least the last one), and the dropped ones."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if kept and used + turn.tokens > budget_tokens:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    dropped = list(turns[: len(turns) - len(kept)])
    messages = [message for turn in kept for message in turn.messages]
    # A conversation that opens with our side (a notification) still needs a user turn first;
    # the LLM client adds one where a provider requires it.
    return messages, dropped


def summarise(dropped: Sequence[Turn], previous: str = "") -> str:
    """A plain, deterministic summary: what the customer said in the dropped turns."""
    lines = [previous] if previous else []
    for turn in dropped:
        if turn.customer_text:
            text = " ".join(turn.customer_text.split())[:SUMMARY_LINE_CHARS]
            lines.append(f"- Cliente: {text}")
    summary = "\n".join(lines)
    return summary[-SUMMARY_CHARS:]
