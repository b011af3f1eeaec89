"""Composition roots of the gateway's two processes: the webhook and the worker."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import uuid

import uvicorn

from cienty_kit.logging import get_logger
from cienty_kit.redis import create_redis
from cienty_whatsapp.conversations import ConversationsClient
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.inbound.media import FileMediaStore
from cienty_whatsapp.inbound.worker import InboundWorker
from cienty_whatsapp.outbound.sender import OutboundSender
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.webhook.app import create_webhook_app

log = get_logger(__name__)


async def run_webhook(settings: GatewaySettings) -> None:
    """Serves the webhook until SIGTERM (uvicorn finishes the requests in flight)."""
    redis = create_redis(settings.redis_url)
    try:
        app = create_webhook_app(settings, redis)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # generations, which shortens the pauses that make the latency tail at saturation.
        gc.freeze()
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # our structured logging
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
        await uvicorn.Server(config).serve()
    finally:
        await redis.aclose()


def consumer_name() -> str:
    """Unique per process: a restarted pod is a new consumer, and reclaims what the old one
    left pending."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


async def run_worker(settings: GatewaySettings) -> None:
    """The inbound worker and the outbound sender, until SIGTERM: they stop taking new work
    and finish what they hold."""
    redis = create_redis(settings.redis_url)
    graph = GraphClient(
        str(settings.whatsapp_graph_url),
        settings.whatsapp_phone_number_id,
        settings.whatsapp_access_token.get_secret_value(),
    )
    conversations = ConversationsClient(
        settings.conversations_addr, settings.service_token.get_secret_value()
    )
    consumer = consumer_name()
    inbound = InboundWorker(
        settings,
        redis,
        conversations,
        graph,
        FileMediaStore(settings.media_dir),
        consumer=consumer,
    )
    outbound = OutboundSender(settings, redis, graph, conversations, consumer=consumer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(inbound.run(), name="inbound"),
        asyncio.create_task(outbound.run(), name="outbound"),
    ]
    log.info("whatsapp_worker_started", consumer=consumer)
    try:
        done, _ = await asyncio.wait(
            [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            if task in tasks and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        inbound.stop()
        outbound.stop()
        await asyncio.wait(tasks, timeout=settings.shutdown_grace_seconds)
        for task in tasks:
            task.cancel()
        await graph.aclose()
        await conversations.close()
        await redis.aclose()
        log.info("whatsapp_worker_stopped")
