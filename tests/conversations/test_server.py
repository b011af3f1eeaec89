"""The gRPC surface: auth, status codes, paging, the events stream, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_kit.grpc.client import service_channel
from tests.conversations.conftest import PHONE, TOKEN, Harness
from tests.conversations.scripted import Say


@pytest.fixture
async def stub(
    harness: Harness,
) -> AsyncIterator[conversations_pb2_grpc.ConversationServiceAsyncStub]:
    port = await harness.app.server.start()
    channel = service_channel(f"127.0.0.1:{port}", TOKEN, actor="staff:test")
    yield conversations_pb2_grpc.ConversationServiceStub(channel)
    await channel.close(None)
    await harness.app.server.stop(0)


def inbound(text: str, external_id: str, phone: str = "5511987654321") -> pb.InboundMessage:
    return pb.InboundMessage(
        channel=pb.CHANNEL_WHATSAPP, external_id=external_id, from_phone=phone, text=text
    )


async def test_handle_message_over_grpc(
    harness: Harness, stub: conversations_pb2_grpc.ConversationServiceAsyncStub
) -> None:
    harness.model.script(Say("Olá! Em que posso ajudar?"))
    reply = await stub.HandleMessage(inbound("oi", "wamid.1"), timeout=10)
    assert [m.text for m in reply.messages] == ["Olá! Em que posso ajudar?"]
    assert not reply.handed_off
    again = await stub.HandleMessage(inbound("oi", "wamid.1"), timeout=10)
    assert again == reply

    conversation = await stub.GetConversation(pb.GetConversationRequest(id=reply.conversation_id))
    assert conversation.customer_phone == PHONE  # WhatsApp's wa_id form, normalised
    assert conversation.status == pb.CONVERSATION_STATUS_BOT
    assert [m.author for m in conversation.messages] == [pb.AUTHOR_CUSTOMER, pb.AUTHOR_AGENT]
    assert conversation.messages[0].external_id == "wamid.1"


async def test_errors_carry_canonical_codes(
    harness: Harness, stub: conversations_pb2_grpc.ConversationServiceAsyncStub
) -> None:
    cases: list[tuple[Any, grpc.StatusCode, str]] = [
        (stub.HandleMessage(inbound("oi", "")), grpc.StatusCode.INVALID_ARGUMENT, "external_id"),
        (
            stub.HandleMessage(inbound("oi", "w1", phone="123")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "from_phone",
        ),
        (
            stub.HandleMessage(pb.InboundMessage(external_id="w2", from_phone=PHONE, text="oi")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "channel",
        ),
        (
            stub.GetConversation(
                pb.GetConversationRequest(id="00000000-0000-0000-0000-000000000000")
            ),
            grpc.StatusCode.NOT_FOUND,
            "does not exist",
        ),
        (
            stub.ListConversations(pb.ListConversationsRequest(page_token="garbage")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_token",
        ),
    ]
    for call, code, fragment in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == code
        assert fragment in (caught.value.details() or "")


async def test_calls_without_the_service_token_are_refused(harness: Harness) -> None:
    port = await harness.app.server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = conversations_pb2_grpc.ConversationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListConversations(pb.ListConversationsRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as streamed:
            async for _ in stub.WatchConversationEvents(pb.WatchConversationEventsRequest()):
                pass
        assert streamed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel)
        response = await health.Check(
            health_pb2.HealthCheckRequest(service="cienty.conversations.v1.ConversationService")
        )
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    await harness.app.server.stop(0)


async def test_the_inbox_lists_by_status_page_by_page(
    harness: Harness, stub: conversations_pb2_grpc.ConversationServiceAsyncStub
) -> None:
    for n in range(5):
        harness.model.script(Say(f"resposta {n}"))
        await stub.HandleMessage(inbound("oi", f"w{n}", phone=f"+55119876500{n:02d}"))
    first = await stub.ListConversations(pb.ListConversationsRequest(page_size=2))
    second = await stub.ListConversations(
        pb.ListConversationsRequest(page_size=2, page_token=first.next_page_token)
    )
    third = await stub.ListConversations(
        pb.ListConversationsRequest(page_size=2, page_token=second.next_page_token)
    )
    pages = [first, second, third]
    phones = [c.customer_phone for page in pages for c in page.conversations]
    assert phones == [f"+55119876500{n:02d}" for n in reversed(range(5))]  # newest first
    assert third.next_page_token == ""
    taken = await stub.TakeOver(
        pb.TakeOverRequest(conversation_id=first.conversations[0].id, staff_id="staff:ana")
    )
    assert taken.status == pb.CONVERSATION_STATUS_HUMAN
    human = await stub.ListConversations(
        pb.ListConversationsRequest(status=pb.CONVERSATION_STATUS_HUMAN)
    )
    assert [c.id for c in human.conversations] == [taken.id]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.TakeOver(pb.TakeOverRequest(conversation_id=taken.id, staff_id="staff:bia"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_staff_messages_and_events_stream_to_the_inbox(
    harness: Harness, stub: conversations_pb2_grpc.ConversationServiceAsyncStub
) -> None:
    harness.model.script(Say("Olá!"))
    reply = await stub.HandleMessage(inbound("oi", "w1"))
    await harness.app.relay.relay_once()
    events = stub.WatchConversationEvents(pb.WatchConversationEventsRequest())
    await asyncio.sleep(0.2)  # the stream has resolved "now"

    await stub.TakeOver(
        pb.TakeOverRequest(conversation_id=reply.conversation_id, staff_id="staff:ana")
    )
    sent = await stub.SendStaffMessage(
        pb.SendStaffMessageRequest(
            conversation_id=reply.conversation_id, staff_id="staff:ana", text="Oi!", request_id="r1"
        )
    )
    assert sent.author == pb.AUTHOR_STAFF
    assert sent.sender == "staff:ana"
    await stub.CloseConversation(pb.CloseConversationRequest(conversation_id=reply.conversation_id))
    await harness.app.relay.relay_once()

    received = []
    async for event in events:
        received.append(event)
        if len(received) == 3:
            break
    events.cancel()
    assert [e.type for e in received] == [
        "conversation.taken_over",
        "message.sent",
        "conversation.closed",
    ]
    assert received[1].message.text == "Oi!"
    assert received[2].status == pb.CONVERSATION_STATUS_CLOSED

    bad = stub.WatchConversationEvents(pb.WatchConversationEventsRequest(after_cursor="x"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in bad:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
