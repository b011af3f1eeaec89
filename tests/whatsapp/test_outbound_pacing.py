"""Pacing per recipient: Meta's pair rate (one message every few seconds to one number, short
bursts) kept by a token bucket in Redis shared by all replicas; other recipients never wait."""

from __future__ import annotations

import asyncio
import itertools
import time

from redis.asyncio import Redis

from cienty_whatsapp.outbound.pacing import Pacer
from cienty_whatsapp.simulator.graph_api import PAIR_RATE, GraphState
from tests.whatsapp.conftest import OUTBOUND_PHONE, OutboundSenderFactory, OutboundWrite

OTHER_PHONE = "+5521998765432"
# Redis' clock has millisecond steps; the stand-in's is Python's.
SLACK = 0.01


async def test_a_burst_goes_at_once_then_one_slot_per_interval(outbound_redis: Redis) -> None:
    pacer = Pacer(outbound_redis, interval_seconds=0.2, burst=2)
    waits = [await pacer.reserve("5511987654321") for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]
    for n, wait in enumerate(waits[2:], start=1):
        assert abs(wait - 0.2 * n) < 0.05
    assert await pacer.reserve("5521998765432") == 0.0  # another number, its own bucket


async def test_replicas_share_the_bucket(outbound_redis: Redis) -> None:
    one = Pacer(outbound_redis, interval_seconds=0.2, burst=1)
    two = Pacer(outbound_redis, interval_seconds=0.2, burst=1)
    assert await one.reserve("5511987654321") == 0.0
    assert await two.reserve("5511987654321") > 0.15


async def test_a_pair_rate_error_empties_the_bucket(outbound_redis: Redis) -> None:
    pacer = Pacer(outbound_redis, interval_seconds=0.1, burst=5)
    await pacer.penalize("5511987654321", 1.0)
    assert 0.9 < await pacer.reserve("5511987654321") <= 1.0


async def test_no_pacing_when_the_interval_is_zero(outbound_redis: Redis) -> None:
    pacer = Pacer(outbound_redis, interval_seconds=0, burst=1)
    assert [await pacer.reserve("5511987654321") for _ in range(3)] == [0.0, 0.0, 0.0]


async def test_one_customers_parts_are_spaced_and_in_order_while_others_go_at_once(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
) -> None:
    parts = [f"parte {n} de 5" for n in range(1, 6)]
    for text in parts:
        await outbound_write(text)
    await outbound_write("para outro cliente", to=OTHER_PHONE)
    sender = outbound_sender_factory(settings={"pace_seconds": 0.2, "pace_burst": 2})
    started = time.time()
    await sender.process_once()

    messages = outbound_graph_state.messages()
    first = [m for m in messages if m.payload["to"] == OUTBOUND_PHONE]
    assert [m.payload["text"]["body"] for m in first] == parts
    times = [m.received_at for m in first]
    assert times[1] - started < 0.15  # the burst of two
    for earlier, later in itertools.pairwise(times[1:]):
        assert later - earlier >= 0.2 - SLACK
    [other] = [m for m in messages if m.payload["to"] == OTHER_PHONE]
    assert other.received_at < times[2]  # not held up behind the paced customer


async def test_a_pair_rate_error_is_retried_after_a_pause(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
) -> None:
    outbound_graph_state.fail_next(PAIR_RATE)
    await outbound_write("Olá")
    sender = outbound_sender_factory(
        settings={
            "pace_seconds": 0.05,
            "pace_burst": 3,
            "retry_base_seconds": 0.2,
            "retry_max_seconds": 1.0,
        }
    )
    started = time.time()
    await sender.process_once()
    [sent] = outbound_graph_state.messages()
    assert sent.received_at - started >= 0.1 - SLACK  # at least half the jittered backoff


async def test_many_customers_are_served_concurrently(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
) -> None:
    numbers = [f"+55119876543{n:02d}" for n in range(20)]
    for number in numbers:
        await outbound_write("primeira", to=number)
        await outbound_write("segunda", to=number)
    sender = outbound_sender_factory(settings={"pace_seconds": 0.3, "pace_burst": 1})
    started = time.monotonic()
    await asyncio.wait_for(sender.process_once(), 10)
    # Forty messages, each customer's second one a pacing slot later: about one slot in all.
    assert time.monotonic() - started < 0.3 * 5
    assert len(outbound_graph_state.messages()) == 40
