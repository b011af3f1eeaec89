"""HandleMessage: answers, idempotency, concurrency, crashes and the LLM being down."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest

from cienty_conversations.domain import replies
from cienty_conversations.domain.conversations import Channel, ConversationStatus, Inbound
from cienty_conversations.server import conversations_app
from cienty_conversations.service.conversations import _Claimed
from cienty_conversations.settings import ConversationsSettings
from cienty_kit.errors import InvalidArgument, Unavailable
from cienty_llm.types import ChatRequest, Completion
from tests.conversations.conftest import PHONE, Harness, seeded_commerce
from tests.conversations.scripted import Down, Say, ScriptedModel, call


async def test_a_question_is_answered_from_tool_results(harness: Harness) -> None:
    harness.model.script(
        call("search_products", query="dipirona"), Say("A dipirona sai por R$ 4,50.")
    )
    result = await harness.service.handle_message(harness.inbound("quanto está a dipirona?"))
    assert [m.text for m in result.messages] == ["A dipirona sai por R$ 4,50."]
    assert not result.handed_off
    # The second model call saw the tool's result.
    tool_message = harness.model.requests[1].messages[-1]
    assert tool_message.role == "tool"
    assert json.loads(tool_message.content)["products"][0]["unit_price_cents"] == 450
    [entry] = await harness.outbox()
    assert entry["to"] == PHONE
    assert entry["text"] == "A dipirona sai por R$ 4,50."
    assert entry["author"] == "agent"
    conversation = await harness.service.get(result.conversation_id, include_tool_calls=True)
    assert conversation.customer_name == "Drogaria Central"
    assert [m.author.value for m in conversation.messages] == ["customer", "agent"]
    assert [c.name for c in conversation.tool_calls] == ["search_products"]


async def test_the_same_message_twice_returns_the_first_reply_and_changes_nothing(
    harness: Harness,
) -> None:
    harness.model.script(Say("Olá! Como posso ajudar?"))
    first = await harness.service.handle_message(harness.inbound("oi", external_id="wamid.A"))
    again = await harness.service.handle_message(harness.inbound("oi", external_id="wamid.A"))
    assert again == first
    assert len(harness.model.requests) == 1
    assert len(await harness.outbox()) == 1


async def test_concurrent_deliveries_of_one_message_make_one_turn(harness: Harness) -> None:
    harness.model.script(Say("Olá!"))
    inbound = harness.inbound("oi", external_id="wamid.concurrent")
    results = await asyncio.gather(*(harness.service.handle_message(inbound) for _ in range(6)))
    assert all(result == results[0] for result in results)
    assert len(harness.model.requests) == 1
    assert len(await harness.outbox()) == 1


async def test_messages_of_one_chat_take_turns(harness: Harness) -> None:
    harness.model.script(Say("primeira resposta"), Say("segunda resposta"))
    first, second = await asyncio.gather(
        harness.service.handle_message(harness.inbound("primeira")),
        harness.service.handle_message(harness.inbound("segunda")),
    )
    # Each turn saw the previous one finished: the second request carries the first answer.
    later = harness.model.requests[1]
    assert [m.content for m in later.messages if m.role == "assistant"] == [
        first.messages[0].text
        if "primeira" in later.messages[1].content
        else second.messages[0].text
    ]
    assert len(await harness.outbox()) == 2


async def test_a_failure_before_the_reply_is_stored_is_redone_on_redelivery(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = harness.service
    original = service._store_turn

    async def crash(*args: object, **kwargs: object) -> object:
        raise ConnectionResetError("the database connection dropped")

    monkeypatch.setattr(service, "_store_turn", crash)
    harness.model.script(Say("resposta perdida"))
    with pytest.raises(ConnectionResetError):
        await service.handle_message(harness.inbound("oi", external_id="wamid.crash"))
    assert await harness.outbox() == []

    # The failed turn freed the conversation: the redelivery is handled at once.
    monkeypatch.setattr(service, "_store_turn", original)
    harness.model.script(Say("resposta refeita"))
    result = await service.handle_message(harness.inbound("oi", external_id="wamid.crash"))
    assert [m.text for m in result.messages] == ["resposta refeita"]
    assert [e["text"] for e in await harness.outbox()] == ["resposta refeita"]


async def test_a_turn_whose_process_died_is_redone_once_its_lease_expires(
    harness: Harness,
) -> None:
    service = harness.service
    inbound = harness.inbound("oi", external_id="wamid.died")
    # A process claimed the message, then died without a word: only its lease is left.
    assert isinstance(await service._claim(inbound), _Claimed)
    service.duplicate_wait_seconds = 0.2
    with pytest.raises(Unavailable, match="retry"):
        await service.handle_message(inbound)
    assert harness.model.requests == []

    harness.clock.offset += timedelta(minutes=5)
    harness.model.script(Say("resposta refeita"))
    result = await service.handle_message(inbound)
    assert [m.text for m in result.messages] == ["resposta refeita"]


async def test_a_caller_that_gives_up_does_not_abort_the_turn(harness: Harness) -> None:
    class Slow:
        async def complete(self, request: ChatRequest) -> Completion:
            await asyncio.sleep(0.3)
            return await harness.model.complete(request)

    harness.service.agent.model = Slow()
    harness.model.script(Say("cheguei"))
    inbound = harness.inbound("oi", external_id="wamid.deadline")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(harness.service.handle_message(inbound), 0.05)
    # The retry finds the turn finished (or waits for it), and nothing ran twice.
    result = await harness.service.handle_message(inbound)
    assert [m.text for m in result.messages] == ["cheguei"]
    assert len(harness.model.requests) == 1


async def test_every_provider_down_hands_over_with_a_polite_message(harness: Harness) -> None:
    harness.model.script(Down())
    result = await harness.service.handle_message(harness.inbound("cadê meu pedido?"))
    assert result.handed_off
    assert [m.text for m in result.messages] == [replies.HANDOVER["llm_unavailable"]]
    conversation = await harness.service.get(result.conversation_id)
    assert conversation.status is ConversationStatus.WAITING_HUMAN
    assert conversation.handover_reason == "llm_unavailable"
    events = [e["type"] for e in await harness.outbox("conversations.events")]
    assert events == ["message.received", "message.sent", "conversation.handed_over"]


async def test_bad_input_is_refused_before_anything_is_stored(harness: Harness) -> None:
    with pytest.raises(InvalidArgument, match="from_phone"):
        await harness.service.handle_message(harness.inbound("oi", phone="12"))
    with pytest.raises(InvalidArgument, match="text"):
        await harness.service.handle_message(harness.inbound("   "))
    assert await harness.outbox("conversations.events") == []


async def test_many_messages_on_one_pooled_connection(
    conversations_settings: ConversationsSettings,
) -> None:
    """asyncpg prepares statements; after five runs PostgreSQL plans them generically, and an
    ON CONFLICT whose partial-index predicate were a bound parameter would stop matching."""
    model = ScriptedModel()
    settings = conversations_settings.model_copy(update={"database_pool_size": 1})
    async with conversations_app(
        settings,
        model=model,
        commerce=seeded_commerce(),
        use_knowledge_settings=False,
        run_background=False,
    ) as app:
        for n in range(8):
            model.script(Say(f"resposta {n}"))
            inbound = Inbound(
                channel=Channel.WHATSAPP,
                external_id=f"wamid.pool.{uuid.uuid4()}",
                phone=f"+55119700000{n:02d}",
                text="oi",
            )
            first = await app.service.handle_message(inbound)
            again = await app.service.handle_message(inbound)
            assert again == first
        for n in range(8):  # and many messages of one conversation
            model.script(Say(f"outra {n}"))
            await app.service.handle_message(
                Inbound(Channel.WHATSAPP, f"wamid.same.{uuid.uuid4()}", "+5511970000000", "oi")
            )


async def test_a_wa_id_without_the_ninth_digit_is_the_same_customer(harness: Harness) -> None:
    harness.model.script(Say("Olá, Drogaria Central!"))
    result = await harness.service.handle_message(harness.inbound("oi", phone="551187654321"))
    conversation = await harness.service.get(result.conversation_id)
    assert conversation.phone == PHONE
    assert conversation.customer_name == "Drogaria Central"
