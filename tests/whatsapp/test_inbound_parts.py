"""The inbound worker's parts on their own: the media store, how messages are described to
conversations, the flood bucket, the window, partition leases and delivery statuses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from cienty_dev.embedded import EmbeddedRedis
from cienty_whatsapp import keys
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.inbound import render
from cienty_whatsapp.inbound.flood import (
    POLITE_REPLY,
    FloodDecision,
    FloodGuard,
    polite_reply_entry,
)
from cienty_whatsapp.inbound.leases import PartitionLeases, fair_share
from cienty_whatsapp.inbound.media import (
    FileMediaStore,
    MediaUnavailable,
    fetch_media,
    sha256_matches,
)
from cienty_whatsapp.inbound.statuses import DeliveryTracker, StatusOutcome, link_wamid
from cienty_whatsapp.inbound.window import Window
from cienty_whatsapp.items import DeliveryError, InboundItem, MediaRef
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState, create_graph_api

# The inbound tests' own database of the session's Redis (as in test_inbound_worker).
INBOUND_REDIS_DB = 10
WA_ID = "5511987654321"


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(
        f"redis://127.0.0.1:{redis_server.port}/{INBOUND_REDIS_DB}", socket_timeout=5
    )
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def item(**fields: Any) -> InboundItem:
    values: dict[str, Any] = {
        "kind": "message",
        "wa_id": WA_ID,
        "id": "wamid.X",
        "timestamp": 1_767_268_800,  # 2026-01-01 12:00 UTC
        "type": "text",
    }
    values.update(fields)
    return InboundItem(**values)


# --------------------------------------------------------------------------- media


async def test_the_file_store_is_atomic_idempotent_and_keeps_ids_inside_its_directory(
    tmp_path: Path,
) -> None:
    store = FileMediaStore(tmp_path / "media")
    assert await store.get("123") is None
    stored = await store.put("123", b"abc", mime_type="image/png", filename="a.png")
    assert stored.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert (stored.size, stored.mime_type, stored.filename) == (3, "image/png", "a.png")
    assert await asyncio.to_thread(Path(stored.location).read_bytes) == b"abc"
    assert await store.get("123") == stored
    assert await store.put("123", b"abc", mime_type="image/png") == stored  # once
    sidecar = json.loads((tmp_path / "media" / "123.json").read_text())
    assert sidecar["sha256"] == stored.sha256
    # Only the file and its sidecar: no temporary files left behind.
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == ["123", "123.json"]

    odd = await store.put("../../etc/passwd", b"x", mime_type="text/plain")
    assert Path(odd.location).parent == tmp_path / "media"
    assert await store.get("../../etc/passwd") == odd


def test_digests_are_checked_in_hex_or_base64() -> None:
    digest = hashlib.sha256(b"content").digest()
    assert sha256_matches(b"content", digest.hex())
    assert sha256_matches(b"content", digest.hex().upper())
    assert sha256_matches(b"content", base64.b64encode(digest).decode())
    assert sha256_matches(b"content", "")
    assert not sha256_matches(b"other", digest.hex())
    assert not sha256_matches(b"content", "not a digest")


async def test_a_download_with_the_wrong_digest_is_not_stored(tmp_path: Path) -> None:
    state = GraphState()
    state.add_media("55", "image/jpeg", b"jpeg bytes")
    graph = GraphClient(
        f"http://graph.test/{VERSION}",
        "1",
        "token",
        transport=httpx.ASGITransport(app=create_graph_api(state)),
    )
    store = FileMediaStore(tmp_path)
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    with pytest.raises(MediaUnavailable) as caught:
        await fetch_media(graph, store, MediaRef(id="55", kind="image", sha256=wrong))
    assert not caught.value.permanent
    assert await store.get("55") is None
    good = await fetch_media(graph, store, MediaRef(id="55", kind="image"))
    assert good.mime_type == "image/jpeg"
    with pytest.raises(MediaUnavailable) as too_large:
        await fetch_media(
            graph, FileMediaStore(tmp_path / "other"), MediaRef("55", "image"), max_bytes=4
        )
    assert too_large.value.permanent
    await graph.aclose()


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"text": "oi"}, "oi"),
        ({"type": "button", "text": "Sim", "interactive_reply_id": "yes"}, "Sim"),
        ({"type": "interactive", "interactive_reply_id": "row-1"}, "row-1"),
        (
            {
                "type": "location",
                "extra": {
                    "location": {
                        "latitude": -23.55052,
                        "longitude": -46.633308,
                        "name": "Farmácia Central",
                        "address": "Rua A, 1",
                    }
                },
            },
            "[localização: -23.55052, -46.633308 — Farmácia Central, Rua A, 1]",
        ),
        (
            {
                "type": "contacts",
                "extra": {
                    "contacts": [
                        {
                            "name": {"formatted_name": "Maria Souza"},
                            "phones": [{"phone": "+55 11 98765-4321"}],
                        }
                    ]
                },
            },
            "[contato: Maria Souza (+55 11 98765-4321)]",
        ),
        ({"type": "reaction", "extra": {"reaction": {"emoji": "👍"}}}, "[reação 👍]"),
        ({"type": "reaction", "extra": {"reaction": {}}}, "[reação removida]"),
        (
            {"type": "order", "extra": {"order": {"product_items": [{}, {}], "text": "urgente"}}},
            "[pedido pelo catálogo do WhatsApp: 2 itens] urgente",
        ),
        (
            {"type": "system", "extra": {"system": {"body": "O número mudou"}}},
            "[aviso do WhatsApp: O número mudou]",
        ),
        (
            {
                "type": "interactive",
                "extra": {"interactive": {"type": "nfm_reply", "nfm_reply": {"body": "Enviado"}}},
            },
            "[resposta de formulário: Enviado]",
        ),
        ({"type": "unsupported"}, "[tipo de mensagem não suportado]"),
        ({"type": "something_new"}, "[tipo de mensagem não suportado]"),
        ({"type": "text", "text": ""}, "[mensagem sem conteúdo]"),
        (
            {
                "type": "document",
                "text": "segue o pedido",
                "media": (MediaRef("9", "document", filename="pedido.pdf"),),
            },
            "[documento: pedido.pdf] segue o pedido",
        ),
        (
            {
                "type": "audio",
                "media": (MediaRef("9", "audio"),),
                "extra": {"audio": {"voice": True}},
            },
            "[mensagem de voz]",
        ),
    ],
)
def test_every_type_is_described_in_portuguese(fields: dict[str, Any], text: str) -> None:
    assert render.describe(item(**fields)) == text


def test_the_inbound_message_carries_what_conversations_needs() -> None:
    message = render.inbound_message(
        item(
            type="image",
            text="x" * 5000,
            profile_name="P" * 300,
            media=(MediaRef("1", "image", "image/jpeg", caption="x"), MediaRef("2", "image")),
        ),
        unavailable={"2": "404"},
    )
    assert len(message.text) == render.MAX_TEXT
    assert len(message.profile_name) == render.MAX_PROFILE_NAME
    assert [m.id for m in message.media] == ["1"]
    assert message.text.startswith("[imagem] [imagem indisponível (não foi possível baixar")
    assert message.sent_at.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_a_stale_message_says_when_it_was_sent_in_brasilia_time() -> None:
    message = render.inbound_message(item(text="tem dipirona?"), stale=True)
    assert message.text == (
        "[mensagem enviada em 01/01/2026 às 09:00 (horário de Brasília) e recebida com atraso]"
        " tem dipirona?"
    )


# --------------------------------------------------------------------------- flood


async def test_the_bucket_drops_after_the_burst_and_notifies_once_per_episode(
    redis: Redis,
) -> None:
    guard = FloodGuard(redis, burst=3, per_minute=60.0)  # a token a second
    now = 1_000_000.0
    decisions = [await guard.take(WA_ID, now=now) for _ in range(6)]
    assert decisions == [FloodDecision.ALLOW] * 3 + [
        FloodDecision.DROP_AND_NOTIFY,
        FloodDecision.DROP,
        FloodDecision.DROP,
    ]
    # One second later one token is back: still the same episode (under half the bucket).
    assert await guard.take(WA_ID, now=now + 1) is FloodDecision.ALLOW
    assert await guard.take(WA_ID, now=now + 1) is FloodDecision.DROP
    # Refilled: the next flood is a new episode, with a new reply.
    assert [await guard.take(WA_ID, now=now + 30) for _ in range(4)][-1] is (
        FloodDecision.DROP_AND_NOTIFY
    )
    # The other form of the same number shares the bucket (keys.flood normalises it).
    assert await guard.take("+" + WA_ID, now=now + 30) is FloodDecision.DROP
    assert 0 < await redis.pttl(keys.flood(WA_ID)) <= 3000 + 60_000


def test_the_polite_reply_is_an_outbound_entry_once_per_message() -> None:
    entry = polite_reply_entry("551187654321", "wamid.A")  # an old account, no ninth digit
    assert entry["to"] == "+5511987654321"
    assert entry["text"] == POLITE_REPLY
    assert entry == {
        **polite_reply_entry("551187654321", "wamid.A"),
        "created_at": entry["created_at"],
    }
    assert entry["message_id"] != polite_reply_entry("551187654321", "wamid.B")["message_id"]
    uuid.UUID(entry["message_id"])
    assert datetime.fromisoformat(entry["created_at"]).tzinfo is not None
    assert set(entry) == {
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


# --------------------------------------------------------------------------- window, leases


async def test_the_window_never_moves_back_and_a_day_old_message_opens_nothing(
    redis: Redis,
) -> None:
    window = Window(redis)
    now = 2_000_000_000
    assert await window.touch(WA_ID, now - 100, now=now)
    assert not await window.touch(WA_ID, now - 200, now=now)
    assert await redis.get(keys.window(WA_ID)) == str(now - 100).encode()
    assert await window.touch(WA_ID, now - 50, now=now)
    assert await redis.ttl(keys.window(WA_ID)) == 24 * 3600 - 50
    await redis.delete(keys.window(WA_ID))
    assert not await window.touch(WA_ID, now - 25 * 3600, now=now)
    assert not await redis.exists(keys.window(WA_ID))


async def test_a_lease_is_taken_once_renewed_and_released_only_by_its_holder(
    redis: Redis,
) -> None:
    one = PartitionLeases(redis, "one", lease_ms=5000)
    two = PartitionLeases(redis, "two", lease_ms=5000)
    assert await one.acquire([0, 1, 2], want=2) == [0, 1]
    assert await two.acquire([0, 1, 2], want=2) == [2]
    assert await one.renew([0, 1]) == set()
    assert await two.renew([0, 2]) == {0}
    await two.release(0)  # not its lease: nothing happens
    assert await redis.get(keys.partition_lease(0)) == b"one"
    await one.release(0)
    assert await redis.get(keys.partition_lease(0)) is None
    assert await one.announce(1000) == 1
    assert await two.announce(1000) == 2
    assert await two.announce(6001) == 1  # `one` did not announce itself again in time
    assert [fair_share(16, n, 16) for n in (1, 2, 3, 16, 40)] == [16, 8, 6, 1, 1]
    assert fair_share(16, 1, 4) == 4


# --------------------------------------------------------------------------- statuses


async def test_delivery_ranks_and_an_early_status_merged_by_link(redis: Redis) -> None:
    tracker = DeliveryTracker(redis)
    await redis.set(keys.wamid_to_message("wamid.1"), "m1")
    failed = item(
        kind="status",
        id="wamid.1",
        status="failed",
        errors=(DeliveryError(131047, "Re-engagement message"),),
    )
    assert await tracker.apply(item(kind="status", id="wamid.1", status="sent")) is (
        StatusOutcome.APPLIED
    )
    assert await tracker.apply(failed) is StatusOutcome.APPLIED
    assert await tracker.apply(item(kind="status", id="wamid.1", status="sent")) is (
        StatusOutcome.KEPT
    )
    # Delivered after all (another device): the truth for staff; the error stays recorded.
    assert await tracker.apply(item(kind="status", id="wamid.1", status="delivered")) is (
        StatusOutcome.APPLIED
    )
    state = await redis.hgetall(keys.outbound_state("m1"))
    assert state[b"delivery"] == b"delivered"
    assert json.loads(state[b"delivery_error"])["code"] == 131047
    assert await redis.xlen(keys.DELIVERY_FAILURES_STREAM) == 1
    assert await tracker.apply(item(kind="status", id="wamid.1", status="deleted")) is (
        StatusOutcome.IGNORED
    )

    # Early: read, then failed, under the wamid; the link keeps the highest and the error.
    assert await tracker.apply(item(kind="status", id="wamid.2", status="read")) is (
        StatusOutcome.EARLY
    )
    failed_2 = item(kind="status", id="wamid.2", status="failed", errors=(DeliveryError(1),))
    assert await tracker.apply(failed_2) is StatusOutcome.EARLY
    await redis.hset(keys.outbound_state("m2"), mapping={"delivery": "sent"})
    assert await link_wamid(redis, "wamid.2", "m2")
    state = await redis.hgetall(keys.outbound_state("m2"))
    assert state[b"delivery"] == b"read"
    assert b"delivery_error" in state
    assert await redis.ttl(keys.wamid_to_message("wamid.2")) == -1
    assert not await link_wamid(redis, "wamid.3", "m3", ttl_seconds=60)
    assert 0 < await redis.ttl(keys.wamid_to_message("wamid.3")) <= 60
