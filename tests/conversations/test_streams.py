"""What leaves through Redis: the outbound stream, the events feed, and order notifications."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from cienty_conversations.domain import replies
from cienty_conversations.service.events import EventFeed
from cienty_conversations.service.notifications import OrderNotifier
from tests.conversations.conftest import CUSTOMER_ID, MY_ORDER_ID, PHONE, Harness
from tests.conversations.scripted import Say

ORDER_EVENTS = "commerce.order-events"


async def stream(redis: Redis, name: str) -> list[dict[str, str]]:
    entries: Any = await redis.xrange(name)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def test_the_relay_publishes_replies_in_order_with_the_gateway_fields(
    harness: Harness,
) -> None:
    harness.model.script(Say("primeira"), Say("segunda"))
    await harness.service.handle_message(harness.inbound("oi"))
    await harness.service.handle_message(harness.inbound("e aí"))
    assert await harness.app.relay.relay_once() == 6  # 2 replies, 2 x (received, sent)
    assert await harness.app.relay.relay_once() == 0  # nothing twice
    outbound = await stream(harness.redis, "conversations.outbound")
    assert [e["text"] for e in outbound] == ["primeira", "segunda"]
    first = outbound[0]
    assert set(first) == {
        "message_id",
        "conversation_id",
        "channel",
        "to",
        "author",
        "text",
        "buttons",
        "template",
        "created_at",
    }
    assert (first["channel"], first["to"], first["author"]) == ("whatsapp", PHONE, "agent")
    assert json.loads(first["buttons"]) == []
    assert first["template"] == ""
    events = await stream(harness.redis, "conversations.events")
    assert [e["type"] for e in events] == ["message.received", "message.sent"] * 2


async def test_entries_wait_in_the_outbox_while_redis_is_away(harness: Harness) -> None:
    harness.model.script(Say("olá"))
    await harness.service.handle_message(harness.inbound("oi"))
    relay = harness.app.relay
    good_redis = relay._redis
    relay._redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        with pytest.raises((RedisError, OSError)):
            await relay.relay_once()
    finally:
        await relay._redis.aclose()
        relay._redis = good_redis
    assert await stream(harness.redis, "conversations.outbound") == []
    assert await relay.relay_once() == 3
    assert [e["text"] for e in await stream(harness.redis, "conversations.outbound")] == ["olá"]


async def test_the_events_feed_resumes_from_a_cursor(harness: Harness) -> None:
    feed = EventFeed(harness.redis, "conversations.events", block_ms=100)
    seen: list[tuple[str, dict[str, str]]] = []

    async def watch() -> None:
        async for cursor, fields in feed.follow():
            seen.append((cursor, fields))
            if len(seen) == 2:
                return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    harness.model.script(Say("olá"))
    result = await harness.service.handle_message(harness.inbound("oi"))
    await harness.app.relay.relay_once()
    await asyncio.wait_for(watcher, 5)
    assert [fields["type"] for _, fields in seen] == ["message.received", "message.sent"]
    assert seen[1][1]["conversation_id"] == result.conversation_id
    assert json.loads(seen[1][1]["message"])["text"] == "olá"

    await harness.service.take_over(result.conversation_id, "staff:ana")
    await harness.app.relay.relay_once()
    resumed = feed.follow(seen[1][0])
    _cursor, fields = await asyncio.wait_for(anext(resumed), 5)
    assert fields["type"] == "conversation.taken_over"
    assert fields["status"] == "human"
    await resumed.aclose()


def order_event(status: str, event_id: str, customer_id: str = CUSTOMER_ID) -> dict[Any, Any]:
    payload = {
        "type": "order.status_changed",
        "order_id": MY_ORDER_ID,
        "customer_id": customer_id,
        "from_status": "invoiced",
        "to_status": status,
        "actor": "staff:logistica",
        "reason": "",
        "total_cents": 9000,
        "channel": "whatsapp",
        "occurred_at": "2026-11-27T10:00:00+00:00",
    }
    return {
        "event_id": event_id,
        "type": "order.status_changed",
        "aggregate_id": MY_ORDER_ID,
        "payload": json.dumps(payload),
    }


def notifier(harness: Harness, consumer: str = "notifier-a") -> OrderNotifier:
    return OrderNotifier(
        database=harness.app.database,
        redis=harness.redis,
        commerce=harness.commerce,
        consumer=consumer,
        reclaim_idle_ms=50,
        block_ms=50,
    )


async def test_a_shipped_order_is_told_to_the_customer_once(harness: Harness) -> None:
    first = notifier(harness)
    await first.ensure_group()
    await harness.redis.xadd(ORDER_EVENTS, order_event("shipped", "101"))
    await harness.redis.xadd(ORDER_EVENTS, order_event("invoiced", "102"))  # not told
    # The relay publishes at least once: the same event again.
    await harness.redis.xadd(ORDER_EVENTS, order_event("shipped", "101"))
    assert await first.process_once() == 3

    [entry] = await harness.outbox()
    assert entry["author"] == "system"
    assert entry["to"] == PHONE
    assert entry["text"] == replies.order_update("shipped", MY_ORDER_ID, 9000)
    template = json.loads(entry["template"])
    assert template["name"] == "atualizacao_pedido"
    assert template["language"] == "pt_BR"
    assert template["parameters"][0] == "#AAAAAAAA"

    # A restarted service (another consumer of the group) finds nothing new to tell.
    second = notifier(harness, "notifier-b")
    assert await second.process_once() == 0
    assert len(await harness.outbox()) == 1
    pending: Any = await harness.redis.xpending(ORDER_EVENTS, "conversations")
    assert pending["pending"] == 0


async def test_an_event_left_pending_by_a_crashed_consumer_is_told_by_another(
    harness: Harness,
) -> None:
    crashed = notifier(harness, "crashed")
    await crashed.ensure_group()
    await harness.redis.xadd(ORDER_EVENTS, order_event("delivered", "201"))
    # It read the event and died before acknowledging it.
    await harness.redis.xreadgroup("conversations", "crashed", {ORDER_EVENTS: ">"}, count=10)
    await asyncio.sleep(0.1)
    survivor = notifier(harness, "survivor")
    assert await survivor.process_once() == 1
    [entry] = await harness.outbox()
    assert entry["text"] == replies.order_update("delivered", MY_ORDER_ID, 9000)


async def test_a_notification_joins_the_customers_open_conversation(harness: Harness) -> None:
    harness.model.script(Say("olá"))
    result = await harness.service.handle_message(harness.inbound("oi"))
    worker = notifier(harness)
    await worker.ensure_group()
    await harness.redis.xadd(ORDER_EVENTS, order_event("confirmed", str(uuid.uuid4())))
    await worker.process_once()
    conversation = await harness.service.get(result.conversation_id)
    assert [m.author.value for m in conversation.messages] == ["customer", "agent", "system"]


async def test_events_of_unknown_customers_are_acknowledged_and_dropped(harness: Harness) -> None:
    worker = notifier(harness)
    await worker.ensure_group()
    await harness.redis.xadd(ORDER_EVENTS, order_event("shipped", "301", customer_id="ghost"))
    await harness.redis.xadd(ORDER_EVENTS, {b"type": b"something.else", b"payload": b"{}"})
    assert await worker.process_once() == 2
    assert await harness.outbox() == []
    pending: Any = await harness.redis.xpending(ORDER_EVENTS, "conversations")
    assert pending["pending"] == 0


async def test_housekeeping_deletes_only_what_is_past_its_retention(harness: Harness) -> None:
    harness.model.script(Say("olá"))
    await harness.service.handle_message(harness.inbound("oi"))
    worker = notifier(harness)
    await worker.ensure_group()
    await harness.redis.xadd(ORDER_EVENTS, order_event("shipped", "401"))
    await worker.process_once()
    await harness.app.relay.relay_once()
    async with harness.app.database.transaction() as session:
        # Age half of it: the first outbox entries and the event key.
        await session.execute(
            text(
                "UPDATE outbox SET published_at = now() - interval '8 days' WHERE id IN "
                "(SELECT id FROM outbox ORDER BY id LIMIT 2)"
            )
        )
        await session.execute(
            text("UPDATE processed_events SET processed_at = now() - interval '31 days'")
        )
    swept = await harness.app.housekeeper.sweep()
    assert (swept.outbox_entries, swept.event_keys) == (2, 1)
    async with harness.app.database.read() as session:
        left = (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert left == 3  # still fresh
    assert (await harness.app.housekeeper.sweep()).outbox_entries == 0
