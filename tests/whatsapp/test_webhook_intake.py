"""The intake script against a real Redis: at most once, on the chat's partition, in order."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from cienty_dev.embedded import free_port
from cienty_whatsapp import keys
from cienty_whatsapp.items import DeliveryError, InboundItem, MediaRef
from cienty_whatsapp.webhook.intake import (
    MIN_DEDUPE_TTL_SECONDS,
    Intake,
    dedupe_ttl_seconds,
)
from cienty_whatsapp.webhook.models import Envelope
from cienty_whatsapp.webhook.parse import parse_envelope
from tests.whatsapp.conftest import WEBHOOK_PAYLOADS, webhook_payload

TTL = 8 * 24 * 3600


def message(wamid: str, wa_id: str = "5511987654321", text: str = "oi") -> InboundItem:
    return InboundItem(
        kind="message", wa_id=wa_id, id=wamid, timestamp=1764211200, type="text", text=text
    )


def status(wamid: str, value: str) -> InboundItem:
    return InboundItem(
        kind="status",
        wa_id="5511987654321",
        id=wamid,
        timestamp=1764211260,
        status=value,
        errors=(DeliveryError(131047, "Re-engagement message"),) if value == "failed" else (),
    )


async def entries(redis: Redis, partition: int) -> list[InboundItem]:
    found: Any = await redis.xrange(keys.inbound_stream(partition))
    return [InboundItem.from_json(fields[b"item"]) for _, fields in found]


async def test_new_items_are_appended_with_their_seen_keys(webhook_redis: Redis) -> None:
    intake = Intake(webhook_redis, partitions=4, dedupe_ttl_seconds=TTL)
    first = message("wamid.1")
    media = InboundItem(
        kind="message",
        wa_id="5511987654321",
        id="wamid.2",
        timestamp=1764211201,
        type="image",
        media=(MediaRef("1003383421387256", "image", "image/jpeg"),),
    )
    assert await intake.append_each([first, media, status("wamid.out", "failed")]) == [
        True,
        True,
        True,
    ]
    assert await entries(webhook_redis, first.partition(4)) == [
        first,
        media,
        status("wamid.out", "failed"),
    ]
    for item in (first, media):
        ttl = await webhook_redis.ttl(keys.seen(item.dedupe_key))
        assert TTL - 5 <= ttl <= TTL


async def test_each_update_is_stored_once(webhook_redis: Redis) -> None:
    intake = Intake(webhook_redis, partitions=4, dedupe_ttl_seconds=TTL)
    assert await intake.append([message("wamid.1"), message("wamid.1", text="copy")]) == 1
    assert await intake.append([message("wamid.1"), message("wamid.2")]) == 1
    # A status is once per (message, status): read after delivered is new, read again is not.
    assert await intake.append([status("wamid.o", "delivered"), status("wamid.o", "read")]) == 2
    assert await intake.append([status("wamid.o", "read")]) == 0
    stream = await entries(webhook_redis, message("x").partition(4))
    assert [(i.id, i.text or i.status) for i in stream] == [
        ("wamid.1", "oi"),
        ("wamid.2", "oi"),
        ("wamid.o", "delivered"),
        ("wamid.o", "read"),
    ]


async def test_concurrent_redeliveries_store_one_entry(webhook_redis: Redis) -> None:
    intake = Intake(webhook_redis, partitions=4, dedupe_ttl_seconds=TTL)
    batch = [message(f"wamid.{n}", wa_id=f"55119{n:08d}") for n in range(50)]
    added = await asyncio.gather(*(intake.append(batch) for _ in range(20)))
    assert sorted(added) == [0] * 19 + [50]
    total = sum([await webhook_redis.xlen(keys.inbound_stream(p)) for p in range(4)])
    assert total == 50


async def test_chats_are_spread_over_partitions_and_stay_on_theirs(webhook_redis: Redis) -> None:
    intake = Intake(webhook_redis, partitions=8, dedupe_ttl_seconds=TTL)
    chats = [f"55119{n:08d}" for n in range(40)]
    await intake.append([message(f"wamid.{c}.{n}", wa_id=c) for n in range(3) for c in chats])
    used = 0
    for partition in range(8):
        stream = await entries(webhook_redis, partition)
        used += bool(stream)
        assert all(item.partition(8) == partition for item in stream)
        for chat in chats:
            mine = [item.id for item in stream if item.wa_id == chat]
            assert mine in ([], [f"wamid.{chat}.{n}" for n in range(3)])
    assert used >= 6


async def test_nothing_to_append(webhook_redis: Redis) -> None:
    assert await Intake(webhook_redis, partitions=1, dedupe_ttl_seconds=TTL).append([]) == 0


def test_the_dedupe_window_covers_meta_s_seven_days() -> None:
    assert dedupe_ttl_seconds(8 * 24) == 8 * 24 * 3600
    assert dedupe_ttl_seconds(7 * 24) == MIN_DEDUPE_TTL_SECONDS
    with pytest.raises(ValueError, match="at least 168"):
        dedupe_ttl_seconds(7 * 24 - 0.5)


def test_the_stream_format_is_inbound_item_s_own() -> None:
    """`InboundItem.to_json()` (the hot path's field-by-field serialiser) writes exactly what
    `dataclasses.asdict` would, for every shape the webhook produces, and reads back equal."""
    produced = [
        item
        for path in sorted(WEBHOOK_PAYLOADS.glob("*.json"))
        if path.stem != "other_object"
        for item in parse_envelope(Envelope.model_validate(webhook_payload(path.stem))).items
    ]
    assert len(produced) > 20
    assert {item.type for item in produced} >= {"text", "image", "order", "hologram"}
    for item in produced:
        assert item.to_json() == json.dumps(asdict(item), ensure_ascii=False, separators=(",", ":"))
        assert InboundItem.from_json(item.to_json()) == item


async def test_concurrent_requests_are_grouped_each_whole(webhook_redis: Redis) -> None:
    """While a call is in flight, later requests wait and go together; each gets its own
    answer, in its own order."""
    intake = Intake(webhook_redis, partitions=4, dedupe_ttl_seconds=TTL)
    requests = [
        [message(f"wamid.{r}.{n}", wa_id=f"55119{r:08d}") for n in range(r % 5 + 1)]
        for r in range(40)
    ]
    requests[7] = requests[7] + [message("wamid.0.0", wa_id="5511900000000")]  # a duplicate
    answers = await asyncio.gather(*(intake.append_each(items) for items in requests))
    assert [len(answer) for answer in answers] == [len(items) for items in requests]
    assert answers[7][-1] is False or answers[0][0] is False  # stored once, whoever came first
    assert sum(sum(answer) for answer in answers) == sum(r % 5 + 1 for r in range(40))
    for r, items in enumerate(requests[:5]):
        stream = await entries(webhook_redis, items[0].partition(4))
        assert [i.id for i in stream if i.wa_id == items[0].wa_id][: r % 5 + 1] == [
            f"wamid.{r}.{n}" for n in range(r % 5 + 1)
        ]


async def test_a_failed_call_fails_every_request_of_its_group() -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    intake = Intake(dead, partitions=4, dedupe_ttl_seconds=TTL)
    results = await asyncio.gather(
        *(intake.append([message(f"wamid.{n}")]) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, RedisConnectionError) for result in results)
    await dead.aclose()
