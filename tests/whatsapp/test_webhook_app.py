"""The webhook over HTTP (in-process ASGI) against a real Redis: handshake, signature, every
payload shape, batches, duplicates, refusals that store nothing, Redis down, health, metrics."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from cienty_dev.embedded import free_port
from cienty_whatsapp import keys
from cienty_whatsapp.items import InboundItem
from cienty_whatsapp.webhook.app import create_webhook_app
from cienty_whatsapp.webhook.intake import MIN_DEDUPE_TTL_SECONDS
from cienty_whatsapp.webhook.signature import HEADER, sign
from tests.whatsapp.conftest import (
    WEBHOOK_APP_SECRET,
    WEBHOOK_PAYLOADS,
    WEBHOOK_VERIFY_TOKEN,
    PostWebhook,
    webhook_payload,
    webhook_settings_for,
)

MESSAGE_PAYLOADS = sorted(
    path.stem
    for path in WEBHOOK_PAYLOADS.glob("*.json")
    if path.stem not in ("webhook_errors", "other_field", "other_object")
)


async def stored(redis: Redis, partitions: int = 16) -> list[InboundItem]:
    """Every item on the inbound streams, stream by stream."""
    found: list[InboundItem] = []
    for partition in range(partitions):
        entries: Any = await redis.xrange(keys.inbound_stream(partition))
        found.extend(InboundItem.from_json(fields[b"item"]) for _, fields in entries)
    return found


async def nothing_stored(redis: Redis) -> bool:
    return await redis.dbsize() == 0


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- verification handshake --------------------------------------------------------------------


async def test_handshake_echoes_the_challenge(webhook_client: httpx.AsyncClient) -> None:
    response = await webhook_client.get(
        "/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": WEBHOOK_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"hub.verify_token": "wrong"}, id="wrong token"),
        pytest.param({"hub.verify_token": ""}, id="empty token"),
        pytest.param({"hub.mode": "unsubscribe"}, id="wrong mode"),
        pytest.param({"hub.challenge": ""}, id="no challenge"),
        pytest.param(None, id="no parameters"),
    ],
)
async def test_handshake_refused(
    webhook_client: httpx.AsyncClient, params: dict[str, str] | None
) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": WEBHOOK_VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    response = await webhook_client.get("/webhook", params={**query, **params} if params else {})
    assert response.status_code == 403
    assert "1158201444" not in response.text


# --- signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["missing", "wrong secret", "wrong prefix", "no prefix", "body changed"],
)
async def test_bad_signatures_store_nothing(
    post_webhook: PostWebhook, webhook_redis: Redis, case: str
) -> None:
    body = json.dumps(webhook_payload("text")).encode()
    good = sign(body, WEBHOOK_APP_SECRET)
    headers = {
        "missing": {},
        "wrong secret": {HEADER: sign(body, "not-the-app-secret")},
        "wrong prefix": {HEADER: "sha1=" + good[7:]},
        "no prefix": {HEADER: good[7:]},
        "body changed": {HEADER: sign(body + b"\n", WEBHOOK_APP_SECRET)},
    }[case]
    before = sample(
        "cienty_whatsapp_webhook_requests_total", {"method": "POST", "outcome": "unsigned"}
    )
    response = await post_webhook(body, secret=None, headers=headers)
    assert response.status_code == 401
    assert await nothing_stored(webhook_redis)
    after = sample(
        "cienty_whatsapp_webhook_requests_total", {"method": "POST", "outcome": "unsigned"}
    )
    assert after == before + 1


async def test_signature_is_checked_before_parsing(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    """Garbage with a wrong signature is a 401 (not a 400): nothing was parsed."""
    response = await post_webhook(b"{not json", secret="wrong")
    assert response.status_code == 401


# --- every payload shape -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGE_PAYLOADS)
async def test_every_payload_shape_is_stored(
    post_webhook: PostWebhook, webhook_redis: Redis, name: str
) -> None:
    payload = webhook_payload(name)
    response = await post_webhook(payload)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    [item] = await stored(webhook_redis)
    value = payload["entry"][0]["changes"][0]["value"]
    meta = (value.get("messages") or value.get("statuses"))[0]
    assert item.id == meta["id"]
    assert item.kind == ("message" if "messages" in value else "status")
    # On its chat's partition, with its seen-key for at least the 7 days Meta may redeliver.
    assert await webhook_redis.xlen(keys.inbound_stream(item.partition(16))) == 1
    assert await webhook_redis.ttl(keys.seen(item.dedupe_key)) >= MIN_DEDUPE_TTL_SECONDS


async def test_failed_status_is_stored_with_its_errors(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    assert (await post_webhook(webhook_payload("status_failed_two_errors"))).status_code == 200
    [item] = await stored(webhook_redis)
    assert item.status == "failed"
    assert [(e.code, e.details) for e in item.errors] == [
        (131026, "Message Undeliverable."),
        (131000, "Something went wrong"),
    ]


async def test_an_unknown_type_is_accepted_never_a_server_error(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    payload = webhook_payload("unknown_type")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("hologram")
    message["type"] = "something_else"  # and without any sub-object at all
    assert (await post_webhook(payload)).status_code == 200
    [item] = await stored(webhook_redis)
    assert (item.type, item.extra) == ("something_else", {})


async def test_webhook_level_errors_are_acknowledged_and_counted(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    before = sample("cienty_whatsapp_webhook_errors_total", {"code": "131052"})
    assert (await post_webhook(webhook_payload("webhook_errors"))).status_code == 200
    assert await nothing_stored(webhook_redis)
    assert sample("cienty_whatsapp_webhook_errors_total", {"code": "131052"}) == before + 1


@pytest.mark.parametrize("name", ["other_object", "other_field"])
async def test_other_objects_and_fields_are_acknowledged_and_ignored(
    post_webhook: PostWebhook, webhook_redis: Redis, name: str
) -> None:
    response = await post_webhook(webhook_payload(name))
    assert response.status_code == 200
    assert await nothing_stored(webhook_redis)


# --- batches and duplicates --------------------------------------------------------------------


def batch(entries: int, changes: int, messages: int, statuses: int) -> dict[str, Any]:
    text = webhook_payload("text")["entry"][0]["changes"][0]["value"]
    status = webhook_payload("status_read")["entry"][0]["changes"][0]["value"]["statuses"][0]
    built = []
    for e in range(entries):
        built_changes = []
        for c in range(changes):
            value = copy.deepcopy(text)
            base = value["messages"][0]
            value["messages"] = [
                {**base, "id": f"wamid.b{e}.{c}.{m}", "from": f"5511{e:02d}{c:02d}{m:05d}"}
                for m in range(messages)
            ]
            value["contacts"] = []
            value["statuses"] = [{**status, "id": f"wamid.o{e}.{c}.{s}"} for s in range(statuses)]
            built_changes.append({"field": "messages", "value": value})
        built.append({"id": f"10229012934{e:04d}", "changes": built_changes})
    return {"object": "whatsapp_business_account", "entry": built}


async def test_a_batch_of_1000_updates_is_stored_whole(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    """Meta's maximum: 1000 updates, over 5 entries x 4 changes x (40 messages + 10 statuses)."""
    payload = batch(5, 4, 40, 10)
    response = await post_webhook(payload)
    assert response.status_code == 200
    items = await stored(webhook_redis)
    assert len(items) == 1000
    assert {item.id for item in items if item.kind == "message"} == {
        f"wamid.b{e}.{c}.{m}" for e in range(5) for c in range(4) for m in range(40)
    }
    # Spread over the partitions by chat, each stream in the order Meta sent the updates.
    sent_order = [
        f"wamid.{kind}{e}.{c}.{n}"
        for e in range(5)
        for c in range(4)
        for kind, count in (("b", 40), ("o", 10))
        for n in range(count)
    ]
    for partition in range(16):
        ids = [i.id for i in items if i.partition(16) == partition]
        assert ids == sorted(ids, key=sent_order.index)
    assert len({item.partition(16) for item in items}) > 8


async def test_duplicates_in_one_post_and_across_posts_are_stored_once(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    payload = webhook_payload("text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"].append(copy.deepcopy(value["messages"][0]))  # twice in one POST
    payload["entry"].append(copy.deepcopy(payload["entry"][0]))  # and in a second entry
    before = sample("cienty_whatsapp_webhook_duplicates_total", {"kind": "message"})
    assert (await post_webhook(payload)).status_code == 200
    assert (await post_webhook(webhook_payload("text"))).status_code == 200  # Meta redelivers
    [item] = await stored(webhook_redis)
    assert item.text == "Bom dia! Qual o preço da dipirona 500 mg?"
    assert sample("cienty_whatsapp_webhook_duplicates_total", {"kind": "message"}) == before + 4


async def test_a_status_is_stored_once_per_message_and_status(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    for name in ("status_sent", "status_delivered", "status_read", "status_read", "status_sent"):
        assert (await post_webhook(webhook_payload(name))).status_code == 200
    assert [item.status for item in await stored(webhook_redis)] == ["sent", "delivered", "read"]


# --- refusals store nothing --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not JSON"),
        pytest.param(b"\xff\xfe\x00", id="not UTF-8"),
        pytest.param(b"[1, 2, 3]", id="not an object"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_malformed_bodies_are_400_and_store_nothing(
    post_webhook: PostWebhook, webhook_redis: Redis, body: bytes
) -> None:
    response = await post_webhook(body)
    assert response.status_code == 400
    assert await nothing_stored(webhook_redis)


async def test_an_invalid_payload_is_400_and_nothing_of_it_is_stored(
    post_webhook: PostWebhook, webhook_redis: Redis
) -> None:
    """999 good updates and one message without an id: not half of it stored."""
    payload = batch(5, 4, 40, 10)
    del payload["entry"][4]["changes"][3]["value"]["messages"][39]["id"]
    response = await post_webhook(payload)
    assert response.status_code == 400
    assert "id" in response.json()["error"]
    assert await nothing_stored(webhook_redis)  # no stream entries, no seen keys


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"object": "whatsapp_business_account"}, id="no entry"),
        pytest.param(
            {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{}]}]},
            id="change without field",
        ),
        pytest.param(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "messages", "value": {}}]}],
            },
            id="messages without metadata",
        ),
    ],
)
async def test_envelopes_that_do_not_validate(
    post_webhook: PostWebhook, webhook_redis: Redis, payload: dict[str, Any]
) -> None:
    assert (await post_webhook(payload)).status_code == 400
    assert await nothing_stored(webhook_redis)


@pytest.fixture
async def small_client(
    webhook_redis_url: str, webhook_redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    settings = webhook_settings_for(webhook_redis_url, webhook_max_body_bytes=2048)
    transport = httpx.ASGITransport(app=create_webhook_app(settings, webhook_redis))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


async def test_an_oversized_body_is_413_by_content_length(
    small_client: httpx.AsyncClient, webhook_redis: Redis
) -> None:
    body = b'{"object": "whatsapp_business_account", "pad": "' + b"x" * 4096 + b'"}'
    response = await small_client.post(
        "/webhook", content=body, headers={HEADER: sign(body, WEBHOOK_APP_SECRET)}
    )
    assert response.status_code == 413
    assert await nothing_stored(webhook_redis)


async def test_an_oversized_streamed_body_is_413_without_reading_it_all(
    small_client: httpx.AsyncClient, webhook_redis: Redis
) -> None:
    """No Content-Length (chunked): the count stops at the limit; the rest is never read."""
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(100):
            sent.append(index)
            yield b"x" * 1024

    response = await small_client.post("/webhook", content=chunks())
    assert response.status_code == 413
    assert len(sent) < 10
    assert await nothing_stored(webhook_redis)


async def test_a_body_at_the_limit_is_read(
    small_client: httpx.AsyncClient, webhook_redis: Redis
) -> None:
    payload = webhook_payload("text")
    body = json.dumps(payload, separators=(",", ":")).encode()
    body += b" " * (2048 - len(body))
    response = await small_client.post(
        "/webhook", content=body, headers={HEADER: sign(body, WEBHOOK_APP_SECRET)}
    )
    assert response.status_code == 200
    assert len(await stored(webhook_redis)) == 1


# --- Redis down --------------------------------------------------------------------------------


@pytest.fixture
async def dead_redis_client() -> AsyncIterator[httpx.AsyncClient]:
    """The app pointed at a port where nothing listens."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    transport = httpx.ASGITransport(app=create_webhook_app(webhook_settings_for(url), redis))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client
    await redis.aclose()


async def test_redis_down_is_503_so_meta_redelivers(dead_redis_client: httpx.AsyncClient) -> None:
    body = json.dumps(webhook_payload("text")).encode()
    response = await dead_redis_client.post(
        "/webhook", content=body, headers={HEADER: sign(body, WEBHOOK_APP_SECRET)}
    )
    assert response.status_code == 503
    # The other checks do not need Redis: they still answer what they would.
    assert (await dead_redis_client.post("/webhook", content=body)).status_code == 401
    assert (await dead_redis_client.get("/healthz")).status_code == 200
    assert (await dead_redis_client.get("/readyz")).status_code == 503


# --- health and metrics ------------------------------------------------------------------------


async def test_health_and_readiness(webhook_client: httpx.AsyncClient) -> None:
    assert (await webhook_client.get("/healthz")).json() == {"status": "ok"}
    ready = await webhook_client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "redis": True})


async def test_metrics_count_requests_items_and_latency(post_webhook: PostWebhook) -> None:
    accepted = {"method": "POST", "outcome": "accepted"}
    before = {
        "requests": sample("cienty_whatsapp_webhook_requests_total", accepted),
        "text": sample("cienty_whatsapp_webhook_items_total", {"kind": "message", "type": "text"}),
        "failed": sample(
            "cienty_whatsapp_webhook_items_total", {"kind": "status", "type": "failed"}
        ),
        "unknown": sample(
            "cienty_whatsapp_webhook_items_total", {"kind": "message", "type": "other"}
        ),
        "latency": sample("cienty_whatsapp_webhook_seconds_count", {"method": "POST"}),
    }
    for name in ("text", "status_failed", "unknown_type"):
        assert (await post_webhook(webhook_payload(name))).status_code == 200
    assert sample("cienty_whatsapp_webhook_requests_total", accepted) == before["requests"] + 3
    assert (
        sample("cienty_whatsapp_webhook_items_total", {"kind": "message", "type": "text"})
        == before["text"] + 1
    )
    assert (
        sample("cienty_whatsapp_webhook_items_total", {"kind": "status", "type": "failed"})
        == before["failed"] + 1
    )
    assert (
        sample("cienty_whatsapp_webhook_items_total", {"kind": "message", "type": "other"})
        == before["unknown"] + 1
    )
    assert sample("cienty_whatsapp_webhook_seconds_count", {"method": "POST"}) == (
        before["latency"] + 3
    )


async def test_a_dedupe_window_shorter_than_meta_s_redelivery_is_refused(
    webhook_redis_url: str, webhook_redis: Redis
) -> None:
    # The settings refuse it at start-up (the variable is CIENTY_DEDUPE_TTL_HOURS)...
    with pytest.raises(ValueError, match="dedupe_ttl_hours"):
        webhook_settings_for(webhook_redis_url, dedupe_ttl_hours=24)
    # ...and the app refuses settings built around that check.
    settings = webhook_settings_for(webhook_redis_url).model_copy(update={"dedupe_ttl_hours": 24})
    with pytest.raises(ValueError, match="CIENTY_DEDUPE_TTL_HOURS"):
        create_webhook_app(settings, webhook_redis)
