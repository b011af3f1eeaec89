"""At most once across crashes, and nothing lost: a sender killed mid-send, a call that never
answers, a live claim, pending entries reclaimed by another replica, order across replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis

from cienty_whatsapp import keys
from cienty_whatsapp.simulator.graph_api import GraphFailure, GraphState, create_graph_api
from tests.whatsapp.conftest import OutboundSenderFactory, OutboundWrite

STREAM = "conversations.outbound"
GROUP = "whatsapp-gateway"
OTHER_PHONE = "+5521998765432"


class AnswerLost(httpx.AsyncBaseTransport):
    """Delivers the request to the stand-in (which sends the message), then never answers:
    the connection to Meta dropped after Meta accepted, or the sender died waiting."""

    def __init__(self, state: GraphState) -> None:
        self._inner = httpx.ASGITransport(app=create_graph_api(state))
        self.reached = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._inner.handle_async_request(request)
        self.reached.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def eventually(condition: Callable[[], bool], *, within: float) -> None:
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not come true in time")


async def state_of(redis: Redis, message_id: str) -> dict[str, str]:
    raw: Any = await redis.hgetall(keys.outbound_state(message_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def failures(redis: Redis) -> list[dict[str, str]]:
    raw: Any = await redis.xrange(keys.DELIVERY_FAILURES_STREAM)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


async def pending(redis: Redis) -> int:
    summary: Any = await redis.xpending(STREAM, GROUP)
    return int(summary["pending"])


async def test_a_sender_killed_during_the_call_never_sends_twice(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Pedido confirmado!")
    lost = AnswerLost(outbound_graph_state)
    doomed = outbound_sender_factory(
        "sender-a", transport=lost, send_timeout_seconds=0.2, lease_margin_seconds=0.1
    )
    task = asyncio.create_task(doomed.process_once())
    await asyncio.wait_for(lost.reached.wait(), 5)
    task.cancel()  # the process dies while Meta's answer is on its way
    await asyncio.gather(task, return_exceptions=True)
    assert len(outbound_graph_state.messages()) == 1
    assert (await state_of(outbound_redis, entry["message_id"]))["state"] == "sending"

    await asyncio.sleep(0.35)  # its claim's lease (0.3 s) runs out; the entry idles
    survivor = outbound_sender_factory("sender-b", reclaim_idle_seconds=0.3)
    assert await survivor.process_once() == 1

    assert len(outbound_graph_state.messages()) == 1  # not sent again
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"]) == ("unknown", "unknown_outcome")
    [failure] = await failures(outbound_redis)
    assert failure["reason"] == "unknown_outcome"
    assert "may have been sent" in failure["error"]
    assert await pending(outbound_redis) == 0


async def test_a_claim_left_behind_is_surfaced_as_unknown(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Pedido confirmado!")
    # What a crash between the claim and the answer leaves: `sending`, its lease long gone.
    await outbound_redis.hset(
        keys.outbound_state(entry["message_id"]),
        mapping={"state": "sending", "token": "dead", "lease_until": "1", "part": "0"},
    )
    await outbound_sender_factory().process_once()
    assert outbound_graph_state.messages() == []
    assert (await state_of(outbound_redis, entry["message_id"]))["state"] == "unknown"
    assert [f["reason"] for f in await failures(outbound_redis)] == ["unknown_outcome"]


async def test_a_call_that_never_answers_is_unknown_not_retried(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Pedido confirmado!")
    sender = outbound_sender_factory(
        transport=AnswerLost(outbound_graph_state), send_timeout_seconds=0.2
    )
    await sender.process_once()
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["reason"]) == ("unknown", "unknown_outcome")
    assert "no answer" in state["error"]
    # The relay publishes the entry again: still only the one send.
    await outbound_write("Pedido confirmado!", message_id=entry["message_id"])
    await outbound_sender_factory("sender-2").process_once()
    assert len(outbound_graph_state.messages()) == 1
    assert len(await failures(outbound_redis)) == 1


async def test_a_live_claim_is_left_to_its_sender(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Pedido confirmado!")
    future_ms = int(time.time() * 1000) + 60_000
    await outbound_redis.hset(
        keys.outbound_state(entry["message_id"]),
        mapping={"state": "sending", "token": "alive", "lease_until": future_ms, "part": "0"},
    )
    await outbound_sender_factory().process_once()
    assert outbound_graph_state.messages() == []
    assert (await state_of(outbound_redis, entry["message_id"]))["state"] == "sending"
    assert await failures(outbound_redis) == []
    assert await pending(outbound_redis) == 1  # comes back later, when that sender is done


async def test_a_crashed_replicas_pending_entries_are_reclaimed_in_order(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    await outbound_sender_factory().ensure_group()
    texts = [f"parte {n}" for n in range(4)]
    for text in texts:
        await outbound_write(text)
    # Replica "dead" read them all, then died before sending any.
    await outbound_redis.xreadgroup(GROUP, "dead", {STREAM: ">"})
    assert await pending(outbound_redis) == 4

    too_soon = outbound_sender_factory("sender-b", reclaim_idle_seconds=30)
    assert await too_soon.process_once() == 0  # a live replica might still be on them
    await asyncio.sleep(0.15)
    survivor = outbound_sender_factory("sender-c", reclaim_idle_seconds=0.1)
    assert await survivor.process_once() == 4

    assert [m.payload["text"]["body"] for m in outbound_graph_state.messages()] == texts
    assert await pending(outbound_redis) == 0


async def test_a_restarted_sender_resumes_its_own_pending_entries(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    await outbound_sender_factory("pod-1").ensure_group()
    await outbound_write("Olá")
    await outbound_redis.xreadgroup(GROUP, "pod-1", {STREAM: ">"})
    restarted = outbound_sender_factory("pod-1")  # same name (a StatefulSet pod)
    assert await restarted.process_once() == 1
    assert len(outbound_graph_state.messages()) == 1


async def test_order_is_kept_across_replicas(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    """Replica A took part 1 of an answer and died; part 2 reached replica B. B holds part 2
    back until part 1 is reclaimed and sent, while another customer's message goes at once."""
    await outbound_sender_factory().ensure_group()
    await outbound_write("parte 1")
    await outbound_redis.xreadgroup(GROUP, "replica-a", {STREAM: ">"})
    await outbound_write("parte 2")
    await outbound_write("outra conversa", to=OTHER_PHONE)

    replica_b = outbound_sender_factory(
        "replica-b", reclaim_idle_seconds=0.4, order_poll_seconds=0.05
    )
    running = asyncio.create_task(replica_b.run())
    await eventually(lambda: len(outbound_graph_state.messages()) == 3, within=10)
    replica_b.stop()
    await asyncio.wait_for(running, 5)

    bodies = [m.payload["text"]["body"] for m in outbound_graph_state.messages()]
    assert bodies == ["outra conversa", "parte 1", "parte 2"]
    assert await pending(outbound_redis) == 0


async def test_stopping_leaves_waiting_entries_pending_for_later(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    slow = {"pace_seconds": 30.0, "pace_burst": 1}
    await outbound_write("primeira")
    await outbound_write("segunda")  # must wait 30 s for its pacing slot
    sender = outbound_sender_factory(settings=slow)
    running = asyncio.create_task(sender.run())
    await eventually(lambda: bool(outbound_graph_state.messages()), within=5)
    await asyncio.sleep(0.1)
    sender.stop()
    await asyncio.wait_for(running, 5)  # does not sit out the pacing wait

    assert [m.payload["text"]["body"] for m in outbound_graph_state.messages()] == ["primeira"]
    assert await pending(outbound_redis) == 1


async def test_a_message_in_parts_resumes_after_the_part_that_went(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Resumo. " * 200, buttons=[("confirmar:1", "Confirmar")])
    # The first part (the long text) went, and the sender died before the buttons.
    await outbound_redis.hset(
        keys.outbound_state(entry["message_id"]),
        mapping={"state": "partial", "part": "1", "parts": "2", "mode": "free", "wamids": "w1"},
    )
    await outbound_sender_factory().process_once()
    [sent] = outbound_graph_state.messages()
    assert sent.payload["type"] == "interactive"  # only the buttons; the text is not repeated
    state = await state_of(outbound_redis, entry["message_id"])
    assert (state["state"], state["wamids"]) == ("sent", f"w1 {sent.wamid}")


async def test_a_refused_call_left_retrying_by_a_dead_sender_is_sent(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    entry = await outbound_write("Olá")
    # Meta refused the first try (nothing sent); the sender died during its backoff.
    await outbound_redis.hset(
        keys.outbound_state(entry["message_id"]),
        mapping={"state": "retrying", "part": "0", "mode": "free", "attempts": "1"},
    )
    await outbound_sender_factory().process_once()
    assert len(outbound_graph_state.messages()) == 1
    state = await state_of(outbound_redis, entry["message_id"])
    assert state["state"] == "sent"


async def test_a_long_backoff_is_not_mistaken_for_a_crash(
    outbound_sender_factory: OutboundSenderFactory,
    outbound_write: OutboundWrite,
    outbound_graph_state: GraphState,
    outbound_redis: Redis,
) -> None:
    outbound_graph_state.fail_next(GraphFailure(429, 130429, "Rate limit hit", retry_after=1.0))
    await outbound_write("Olá")
    slow_retry = {"retry_max_seconds": 2.0}
    # replica-a touches what it holds every 0.2 s (a quarter of its own reclaim idle time).
    busy = outbound_sender_factory("replica-a", reclaim_idle_seconds=0.8, settings=slow_retry)
    running = asyncio.create_task(busy.run())
    await eventually(lambda: not outbound_graph_state.failures, within=5)  # refused once
    await asyncio.sleep(0.5)  # longer than replica-b's reclaim idle time, shorter than the backoff
    other = outbound_sender_factory("replica-b", reclaim_idle_seconds=0.4, settings=slow_retry)
    assert await other.process_once() == 0  # replica-a's heartbeat keeps the entry its own
    await eventually(lambda: bool(outbound_graph_state.messages()), within=5)
    busy.stop()
    await asyncio.wait_for(running, 5)
    assert len(outbound_graph_state.messages()) == 1
    assert await pending(outbound_redis) == 0
