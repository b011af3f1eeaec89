"""Shared fixtures of the WhatsApp gateway tests (each part adds its own; keep them prefixed)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from cienty.conversations.v1 import conversations_pb2
from cienty_conversations.domain.conversations import Author, Button, Message
from cienty_conversations.service.streams import outbound_entry
from cienty_dev.embedded import EmbeddedRedis
from cienty_whatsapp import keys as whatsapp_keys
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.outbound import OutboundSender
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.simulator.graph_api import VERSION as GRAPH_VERSION
from cienty_whatsapp.simulator.graph_api import GraphState, create_graph_api
from cienty_whatsapp.webhook.app import create_webhook_app
from cienty_whatsapp.webhook.signature import HEADER, sign

# --- webhook ingress ---------------------------------------------------------------------------

WEBHOOK_PAYLOADS = Path(__file__).parent / "payloads"
WEBHOOK_APP_SECRET = "webhook-test-app-secret"
WEBHOOK_VERIFY_TOKEN = "webhook-test-verify-token"
# Its own database of the session's Redis: flushing it leaves the other suites' data alone.
WEBHOOK_REDIS_DB = 9

PostWebhook = Callable[..., Awaitable[httpx.Response]]


def webhook_payload(name: str) -> dict[str, Any]:
    """A recorded-shape payload from tests/whatsapp/payloads/<name>.json."""
    data: dict[str, Any] = json.loads((WEBHOOK_PAYLOADS / f"{name}.json").read_text())
    return data


def webhook_settings_for(redis_url: str, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        environment="test",
        redis_url=redis_url,
        whatsapp_app_secret=WEBHOOK_APP_SECRET,
        whatsapp_verify_token=WEBHOOK_VERIFY_TOKEN,
        **overrides,
    )


@pytest.fixture
def webhook_redis_url(redis_server: EmbeddedRedis) -> str:
    return f"redis://127.0.0.1:{redis_server.port}/{WEBHOOK_REDIS_DB}"


@pytest.fixture
def webhook_settings(webhook_redis_url: str) -> GatewaySettings:
    return webhook_settings_for(webhook_redis_url)


@pytest.fixture
async def webhook_redis(webhook_redis_url: str) -> AsyncIterator[Redis]:
    """A client of the webhook tests' own Redis database, empty at the start of each test."""
    redis = Redis.from_url(webhook_redis_url, socket_timeout=2, socket_connect_timeout=2)
    await redis.flushdb()
    yield redis
    await redis.flushdb()
    await redis.aclose()


@pytest.fixture
async def webhook_client(
    webhook_settings: GatewaySettings, webhook_redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook app in-process (no network), over the real Redis."""
    app = create_webhook_app(webhook_settings, webhook_redis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


@pytest.fixture
def post_webhook(webhook_client: httpx.AsyncClient) -> PostWebhook:
    """POSTs a payload (a dict, or raw bytes) signed as Meta would; `secret=None` leaves the
    signature out, `headers` adds or overrides headers."""

    async def post(
        payload: Mapping[str, Any] | bytes,
        *,
        secret: str | None = WEBHOOK_APP_SECRET,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {"content-type": "application/json"}
        if secret is not None:
            sent[HEADER] = sign(body, secret)
        sent.update(headers or {})
        return await webhook_client.post("/webhook", content=body, headers=sent)

    return post


# --- outbound sender -------------------------------------------------------------------------

# Its own database of the session's Redis (see WEBHOOK_REDIS_DB).
OUTBOUND_REDIS_DB = 11
OUTBOUND_ACCESS_TOKEN = "outbound-test-access-token"
OUTBOUND_PHONE = "+5511987654321"
OUTBOUND_CONVERSATION = "7d3c2b1a-0000-4000-8000-000000000001"


class OutboundConversations:
    """A scriptable stand-in of the conversations service's `status` (who owns a chat)."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.default = conversations_pb2.CONVERSATION_STATUS_BOT
        self.errors: list[BaseException] = []
        self.calls: list[str] = []

    async def status(self, conversation_id: str) -> int:
        self.calls.append(conversation_id)
        if self.errors:
            raise self.errors.pop(0)
        return self.statuses.get(conversation_id, self.default)


def outbound_settings_for(redis_url: str, **overrides: Any) -> GatewaySettings:
    """Tiny pacing and retry times, so the tests stay fast (no pacing unless asked)."""
    values: dict[str, Any] = {
        "environment": "test",
        "redis_url": redis_url,
        "whatsapp_access_token": OUTBOUND_ACCESS_TOKEN,
        "pace_seconds": 0.0,
        "pace_burst": 3,
        "max_attempts": 4,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
def outbound_redis_url(redis_server: EmbeddedRedis) -> str:
    return f"redis://127.0.0.1:{redis_server.port}/{OUTBOUND_REDIS_DB}"


@pytest.fixture
async def outbound_redis(outbound_redis_url: str) -> AsyncIterator[Redis]:
    """A client of the outbound tests' own Redis database, empty at the start of each test."""
    redis = Redis.from_url(outbound_redis_url, socket_timeout=5, socket_connect_timeout=2)
    await redis.flushdb()
    yield redis
    await redis.flushdb()
    await redis.aclose()


@pytest.fixture
def outbound_graph_state() -> GraphState:
    """The stand-in Graph API the senders talk to (what it received, what it answers next)."""
    return GraphState(access_token=OUTBOUND_ACCESS_TOKEN)


@pytest.fixture
def outbound_conversations() -> OutboundConversations:
    return OutboundConversations()


OutboundSenderFactory = Callable[..., OutboundSender]


@pytest.fixture
async def outbound_sender_factory(
    outbound_redis: Redis,
    outbound_redis_url: str,
    outbound_graph_state: GraphState,
    outbound_conversations: OutboundConversations,
) -> AsyncIterator[OutboundSenderFactory]:
    """`make(consumer=..., transport=..., settings={...}, **sender_options)`: a sender over the
    real Redis, the stand-in Graph API in-process, and the scriptable conversations."""
    clients: list[GraphClient] = []

    def make(
        consumer: str = "sender-1",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        access_token: str = OUTBOUND_ACCESS_TOKEN,
        settings: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> OutboundSender:
        client = GraphClient(
            f"http://graph.test/{GRAPH_VERSION}",
            "100000000000001",
            access_token,
            transport=transport or httpx.ASGITransport(app=create_graph_api(outbound_graph_state)),
        )
        clients.append(client)
        options.setdefault("reclaim_idle_seconds", 30.0)
        options.setdefault("block_ms", 50)
        return OutboundSender(
            outbound_settings_for(outbound_redis_url, **(settings or {})),
            outbound_redis,
            client,
            outbound_conversations,
            consumer=consumer,
            **options,
        )

    yield make
    for client in clients:
        await client.aclose()


OutboundWrite = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def outbound_write(outbound_redis: Redis) -> OutboundWrite:
    """Queues a message on `conversations.outbound` exactly as the conversations service does
    (its own `outbound_entry`), and, unless `window=False`, opens the customer's 24-hour
    window as the inbound worker would. Returns the entry's fields."""

    async def write(
        text: str = "Olá! Como posso ajudar?",
        *,
        author: str = "agent",
        to: str = OUTBOUND_PHONE,
        buttons: Sequence[tuple[str, str]] = (),
        template: dict[str, Any] | None = None,
        conversation_id: str = OUTBOUND_CONVERSATION,
        message_id: str | None = None,
        window: bool = True,
        stream: str = "conversations.outbound",
    ) -> dict[str, str]:
        message = Message(
            id=message_id or str(uuid.uuid4()),
            conversation_id=conversation_id,
            author=Author(author),
            text=text,
            created_at=datetime.now(UTC),
            buttons=tuple(Button(id_, title) for id_, title in buttons),
        )
        fields = outbound_entry(message, channel="whatsapp", to=to, template=template)
        if window:
            await outbound_redis.set(
                whatsapp_keys.window(to.lstrip("+")), str(int(time.time())), ex=24 * 3600
            )
        await outbound_redis.xadd(stream, fields)  # type: ignore[arg-type]
        return fields

    return write
