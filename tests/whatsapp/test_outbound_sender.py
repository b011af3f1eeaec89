"""The outbound sender on real Redis against the stand-in Graph API: what leaves, retries,
permanent errors, the 24-hour window and templates, the owner check."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty_whatsapp import keys
from cienty_whatsapp.outbound.render import CHOOSE_PROMPT
from cienty_whatsapp.simulator.graph_api import (
    PAIR_RATE,
    SERVER_ERROR,
    THROUGHPUT,
    UNDELIVERABLE,
    WINDOW_CLOSED,
    GraphFailure,
    GraphState,
)
from tests.whatsapp.conftest import (
    OUTBOUND_CONVERSATION,
    OUTBOUND_PHONE,
    OutboundConversations,
    OutboundSenderFactory,
    OutboundWrite,
)

STREAM = "conversations.outbound"
GROUP = "whatsapp-gateway"
TEMPLATE = {"name": "atualizacao_pedido", "language": "pt_BR", "parameters": ["#1A2B", "enviado"]}


async def state_of(redis: Redis, message_id: str) -> dict[str, str]:
    raw: Any = await redis.hgetall(keys.outbound_state(message_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def failures(redis: Redis) -> list[dict[str, str]]:
    raw: Any = await redis.xrange(keys.DELIVERY_FAILURES_STREAM)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


async def pending(redis: Redis) -> int:
    summary: Any = await redis.xpending(STREAM, GROUP)
    return int(summary["pending"])


async def test_a_text_is_sent_recorded_and_mapped_back(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Seu pedido saiu para entrega.")
    assert await outbound_sender_factory().process_once() == 1

    [sent] = outbound_graph_state.messages()
    assert sent.payload["type"] == "text"
    assert sent.payload["to"] == OUTBOUND_PHONE
    assert sent.payload["text"] == {"preview_url": False, "body": "Seu pedido saiu para entrega."}
    assert sent.payload["biz_opaque_callback_data"] == entry["message_id"]
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["wamid"], state["mode"]) == ("sent", sent.wamid, "free")
    assert state["sent_at"]
    mapped = await outbound_redis.get(keys.wamid_to_message(sent.wamid))
    assert mapped == entry["message_id"].encode()
    assert 0 < await outbound_redis.ttl(keys.wamid_to_message(sent.wamid)) <= 30 * 24 * 3600
    assert await pending(outbound_redis) == 0


async def test_buttons_and_lists_reach_the_api_as_interactive_messages(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    await outbound_write(
        "Confirma o pedido?", buttons=[("confirmar:9", "Confirmar"), ("cancelar:9", "Cancelar")]
    )
    options = [(f"produto:{n}", f"Dipirona {n}") for n in range(5)]
    await outbound_write("Qual destes?", buttons=options)
    last = await outbound_write("x" * 1500, buttons=[("sim", "Sim")])
    await outbound_sender_factory().process_once()

    kinds = [
        m.payload.get("interactive", {}).get("type", "text")
        for m in outbound_graph_state.messages()
    ]
    assert kinds == ["button", "list", "text", "button"]
    buttons, listing, long_text, after = (m.payload for m in outbound_graph_state.messages())
    assert [b["reply"] for b in buttons["interactive"]["action"]["buttons"]] == [
        {"id": "confirmar:9", "title": "Confirmar"},
        {"id": "cancelar:9", "title": "Cancelar"},
    ]
    rows = listing["interactive"]["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows] == options
    assert listing["interactive"]["body"]["text"] == "Qual destes?"
    assert long_text["text"]["body"] == "x" * 1500
    assert after["interactive"]["body"]["text"] == CHOOSE_PROMPT
    # Both parts of the last message map back to it (statuses come per part).
    two_parts = outbound_graph_state.messages()[2:]
    state = await state_of(outbound_redis, last["message_id"])
    assert state["wamids"].split() == [m.wamid for m in two_parts]
    for part in two_parts:
        assert await outbound_redis.get(keys.wamid_to_message(part.wamid)) == (
            last["message_id"].encode()
        )


async def test_throughput_and_server_errors_are_retried_and_sent_exactly_once(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    outbound_graph_state.fail_next(THROUGHPUT, SERVER_ERROR, THROUGHPUT)
    entry = await outbound_write("Bom dia!")
    await outbound_sender_factory().process_once()

    assert [m.payload["text"]["body"] for m in outbound_graph_state.messages()] == ["Bom dia!"]
    assert not outbound_graph_state.failures
    state = await state_of(outbound_redis, entry["message_id"])
    assert state["state"] == "sent"
    assert await failures(outbound_redis) == []
    # A redelivery of the same entry (the relay publishes at least once) is only acknowledged.
    await outbound_write("Bom dia!", message_id=entry["message_id"])
    await outbound_sender_factory().process_once()
    assert len(outbound_graph_state.messages()) == 1


async def test_retry_after_is_honoured(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
) -> None:
    outbound_graph_state.fail_next(
        GraphFailure(429, 130429, "Rate limit hit", retry_after=0.3), PAIR_RATE
    )
    await outbound_write("Olá")
    started = time.monotonic()
    await outbound_sender_factory(settings={"retry_max_seconds": 1.0}).process_once()
    assert time.monotonic() - started >= 0.3
    assert len(outbound_graph_state.messages()) == 1


async def test_retries_are_bounded_then_staff_is_told(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    outbound_graph_state.fail_next(SERVER_ERROR, SERVER_ERROR, SERVER_ERROR, SERVER_ERROR)
    entry = await outbound_write("Olá")
    await outbound_sender_factory(settings={"max_attempts": 3}).process_once()

    assert outbound_graph_state.messages() == []
    assert len(outbound_graph_state.failures) == 1  # three calls, no fourth
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"], state["error_code"]) == (
        "failed",
        "retries_exhausted",
        "131000",
    )
    [failure] = await failures(outbound_redis)
    assert failure["reason"] == "retries_exhausted"
    assert failure["attempts"] == "3"


async def test_a_permanent_error_is_recorded_for_staff_and_not_retried(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    outbound_graph_state.fail_next(UNDELIVERABLE, SERVER_ERROR)
    entry = await outbound_write("Olá", author="staff")
    await outbound_sender_factory().process_once()

    assert outbound_graph_state.messages() == []
    assert list(outbound_graph_state.failures) == [SERVER_ERROR]  # asked only once
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"], state["error_code"]) == (
        "failed",
        "rejected",
        "131026",
    )
    [failure] = await failures(outbound_redis)
    assert failure["reason"] == "rejected"
    assert failure["code"] == "131026"
    assert "Undeliverable" in failure["error"]
    assert failure["message_id"] == entry["message_id"]
    assert failure["conversation_id"] == OUTBOUND_CONVERSATION
    assert failure["to"] == OUTBOUND_PHONE  # staff needs the number
    assert failure["author"] == "staff"
    assert await pending(outbound_redis) == 0


async def test_a_rejected_access_token_is_an_auth_failure(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_redis: Redis,
) -> None:
    await outbound_write("Olá")
    await outbound_sender_factory(access_token="expired").process_once()
    [failure] = await failures(outbound_redis)
    assert (failure["reason"], failure["code"]) == ("auth_failed", "190")


async def test_outside_the_window_a_notification_goes_as_its_template(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    templates_before = REGISTRY.get_sample_value(
        "cienty_whatsapp_outbound_sent_total", {"kind": "template"}
    )
    entry = await outbound_write(
        "Seu pedido #1A2B foi enviado.", author="system", template=TEMPLATE, window=False
    )
    await outbound_sender_factory().process_once()

    [sent] = outbound_graph_state.messages()
    assert sent.payload["type"] == "template"
    assert sent.payload["template"]["name"] == "atualizacao_pedido"
    assert [p["text"] for p in sent.payload["template"]["components"][0]["parameters"]] == [
        "#1A2B",
        "enviado",
    ]
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["mode"]) == ("sent", "template")
    assert (
        REGISTRY.get_sample_value("cienty_whatsapp_outbound_sent_total", {"kind": "template"})
        == (templates_before or 0) + 1
    )


async def test_inside_the_window_a_notification_goes_as_free_text(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
) -> None:
    await outbound_write("Seu pedido #1A2B foi enviado.", author="system", template=TEMPLATE)
    await outbound_sender_factory().process_once()
    [sent] = outbound_graph_state.messages()
    assert sent.payload["text"]["body"] == "Seu pedido #1A2B foi enviado."


async def test_free_text_outside_the_window_is_not_sent_and_staff_is_told(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Posso ajudar em algo mais?", window=False)
    await outbound_sender_factory().process_once()

    assert outbound_graph_state.messages() == []
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"]) == ("failed", "window_closed")
    [failure] = await failures(outbound_redis)
    assert failure["reason"] == "window_closed"
    assert "outside the 24-hour window" in failure["error"]
    assert await pending(outbound_redis) == 0


async def test_an_old_window_timestamp_counts_as_closed(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    await outbound_redis.set(keys.window("5511987654321"), str(int(time.time()) - 25 * 3600))
    await outbound_write("Olá", window=False)
    await outbound_sender_factory().process_once()
    assert outbound_graph_state.messages() == []


async def test_a_window_opened_under_the_number_without_the_ninth_digit_counts(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    await outbound_redis.set(keys.window("551187654321"), str(int(time.time())))
    await outbound_write("Olá", window=False)
    await outbound_sender_factory().process_once()
    assert len(outbound_graph_state.messages()) == 1


async def test_a_window_closed_answer_falls_back_to_the_template(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    outbound_graph_state.fail_next(WINDOW_CLOSED)  # our window key says open; Meta disagrees
    entry = await outbound_write("Seu pedido foi enviado.", author="system", template=TEMPLATE)
    await outbound_sender_factory().process_once()

    [sent] = outbound_graph_state.messages()
    assert sent.payload["type"] == "template"
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["mode"]) == ("sent", "template")
    assert await failures(outbound_redis) == []


async def test_a_window_closed_answer_without_template_fails(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    outbound_graph_state.fail_next(WINDOW_CLOSED)
    entry = await outbound_write("Olá")
    await outbound_sender_factory().process_once()
    assert outbound_graph_state.messages() == []
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"], state["error_code"]) == (
        "failed",
        "window_closed",
        "131047",
    )


@pytest.mark.parametrize(
    ("status", "author", "sent"),
    [
        (pb.CONVERSATION_STATUS_HUMAN, "agent", False),
        (pb.CONVERSATION_STATUS_CLOSED, "agent", False),
        (pb.CONVERSATION_STATUS_WAITING_HUMAN, "agent", True),  # the handover message itself
        (pb.CONVERSATION_STATUS_BOT, "agent", True),
        (pb.CONVERSATION_STATUS_HUMAN, "staff", True),
        (pb.CONVERSATION_STATUS_HUMAN, "system", True),
    ],
)
async def test_agent_messages_go_only_while_the_bot_owns_the_conversation(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_conversations: OutboundConversations,
    outbound_redis: Redis,
    status: int,
    author: str,
    sent: bool,
) -> None:
    outbound_conversations.statuses[OUTBOUND_CONVERSATION] = status
    entry = await outbound_write("Resposta", author=author)
    await outbound_sender_factory().process_once()

    assert len(outbound_graph_state.messages()) == (1 if sent else 0)
    state = await state_of(outbound_redis, entry["message_id"])
    assert state["state"] == ("sent" if sent else "suppressed")
    assert outbound_conversations.calls == ([OUTBOUND_CONVERSATION] if author == "agent" else [])
    assert await failures(outbound_redis) == []  # a suppressed message is not a failure
    assert await pending(outbound_redis) == 0


async def test_an_unreachable_conversations_service_delays_agent_messages(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_conversations: OutboundConversations,
) -> None:
    unavailable = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down", "down"
    )
    outbound_conversations.errors = [unavailable, unavailable]
    await outbound_write("Resposta")
    await outbound_sender_factory().process_once()
    assert len(outbound_conversations.calls) == 3
    assert len(outbound_graph_state.messages()) == 1


async def test_an_owner_that_cannot_be_checked_is_never_guessed(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_conversations: OutboundConversations,
    outbound_redis: Redis,
) -> None:
    outbound_conversations.errors = [ConnectionError("refused")] * 5
    entry = await outbound_write("Resposta")
    await outbound_sender_factory(settings={"max_attempts": 3}).process_once()
    assert outbound_graph_state.messages() == []
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"]) == ("failed", "conversations_unavailable")


async def test_a_malformed_entry_is_surfaced_and_acknowledged(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    await outbound_redis.xadd(
        STREAM, {"message_id": "m-bad", "to": "+5511987654321", "author": "x"}
    )
    await outbound_redis.xadd(STREAM, {"text": "no id at all"})
    await outbound_redis.xadd(STREAM, {"message_id": "m-sms", "channel": "sms", "to": "+1"})
    assert await outbound_sender_factory().process_once() == 3
    assert outbound_graph_state.messages() == []
    reasons = [(f["reason"], f["message_id"]) for f in await failures(outbound_redis)]
    assert reasons == [("malformed_entry", "m-bad"), ("malformed_entry", "")]
    assert (await state_of(outbound_redis, "m-bad"))["state"] == "failed"
    assert await pending(outbound_redis) == 0
