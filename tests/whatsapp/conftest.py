"""Shared fixtures of the WhatsApp gateway tests (each part adds its own; keep them prefixed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from cienty_dev.embedded import EmbeddedRedis
from cienty_whatsapp.settings import GatewaySettings
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
