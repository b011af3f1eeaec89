"""Composition root: builds the conversations service from settings and serves gRPC."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import grpc
from redis.asyncio import Redis

from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_conversations.agent.loop import Agent, ChatModel
from cienty_conversations.agent.tools import Toolbox
from cienty_conversations.clients.commerce import GrpcCommerce
from cienty_conversations.clients.knowledge import KnowledgeBase
from cienty_conversations.ports import Commerce, Knowledge
from cienty_conversations.service.conversations import ConversationService
from cienty_conversations.service.events import EventFeed
from cienty_conversations.service.housekeeping import Housekeeper
from cienty_conversations.service.notifications import OrderNotifier
from cienty_conversations.service.outbox_relay import OutboxRelay
from cienty_conversations.settings import ConversationsSettings
from cienty_conversations.transport.conversations import ConversationServicer
from cienty_kit.database import Database, create_engine
from cienty_kit.grpc.server import GrpcServer
from cienty_kit.logging import get_logger
from cienty_kit.redis import create_redis
from cienty_llm.factory import build_llm_client
from cienty_llm.settings import LLMSettings

log = get_logger(__name__)

SERVICE_NAMES = ("cienty.conversations.v1.ConversationService",)


@dataclass
class ConversationsApp:
    server: GrpcServer
    service: ConversationService
    relay: OutboxRelay
    notifier: OrderNotifier
    housekeeper: Housekeeper
    redis: Redis
    database: Database


@contextlib.asynccontextmanager
async def open_knowledge(settings: ConversationsSettings) -> AsyncIterator[Knowledge | None]:
    """The knowledge base the agent searches, or None when none is configured."""
    from cienty_knowledge.settings import KnowledgeSettings

    knowledge_settings = KnowledgeSettings(database_url=settings.knowledge_database_url)
    if knowledge_settings.vector_backend == "pgvector" and not settings.knowledge_database_url:
        log.warning("knowledge_disabled", detail="CIENTY_KNOWLEDGE_DATABASE_URL is empty")
        yield None
        return
    from cienty_knowledge.embeddings.factory import build_embedder, close_embedder, prepare_embedder
    from cienty_knowledge.search import KnowledgeSearch
    from cienty_knowledge.store.factory import open_store

    async with open_store(knowledge_settings) as store:
        embedder = build_embedder(knowledge_settings)
        try:
            await prepare_embedder(embedder)
            search = KnowledgeSearch(store, embedder, knowledge_settings.knowledge_collection)
            yield KnowledgeBase(search)
        finally:
            await close_embedder(embedder)


@contextlib.asynccontextmanager
async def conversations_app(
    settings: ConversationsSettings,
    *,
    model: ChatModel | None = None,
    commerce: Commerce | None = None,
    knowledge: Knowledge | None = None,
    use_knowledge_settings: bool = True,
    run_background: bool = True,
) -> AsyncIterator[ConversationsApp]:
    """Everything the service needs, wired. Tests pass their own model, commerce or knowledge;
    the rest comes from settings. The outbox relay and the order notifier run (unless
    `run_background` is off) while the context is open."""
    async with contextlib.AsyncExitStack() as stack:
        database = Database(
            create_engine(settings.database_url, pool_size=settings.database_pool_size)
        )
        stack.push_async_callback(database.dispose)
        redis = create_redis(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        if commerce is None:
            grpc_commerce = GrpcCommerce(
                settings.commerce_addr,
                settings.service_token.get_secret_value(),
                timeout_seconds=settings.commerce_timeout_seconds,
            )
            stack.push_async_callback(grpc_commerce.close)
            commerce = grpc_commerce
        if model is None:
            client = build_llm_client(LLMSettings())
            stack.push_async_callback(client.aclose)
            model = client
        if knowledge is None and use_knowledge_settings:
            knowledge = await stack.enter_async_context(open_knowledge(settings))

        relay = OutboxRelay(
            database,
            redis,
            max_length=settings.stream_max_length,
            poll_interval=settings.outbox_poll_seconds,
        )
        agent = Agent(
            model=model,
            toolbox=Toolbox(
                commerce=commerce,
                knowledge=knowledge,
                knowledge_results=settings.knowledge_results,
                proposal_ttl=timedelta(minutes=settings.proposal_ttl_minutes),
            ),
            max_steps=settings.agent_max_steps,
            turn_timeout_seconds=settings.agent_turn_timeout_seconds,
            history_tokens=settings.agent_history_tokens,
            max_reply_tokens=settings.agent_max_reply_tokens,
        )
        service = ConversationService(
            database=database,
            commerce=commerce,
            agent=agent,
            outbound_stream=settings.outbound_stream,
            events_stream=settings.events_stream,
            handover_after_failures=settings.handover_after_failures,
            turn_timeout_seconds=settings.agent_turn_timeout_seconds,
            duplicate_wait_seconds=settings.duplicate_wait_seconds,
            on_outbox_written=relay.wake,
        )
        notifier = OrderNotifier(
            database=database,
            redis=redis,
            commerce=commerce,
            stream=settings.order_events_stream,
            group=settings.order_events_group,
            outbound_stream=settings.outbound_stream,
            events_stream=settings.events_stream,
            template=settings.order_update_template,
            on_outbox_written=relay.wake,
        )
        events = EventFeed(redis, settings.events_stream)
        housekeeper = Housekeeper(
            database,
            outbox_retention=timedelta(hours=settings.outbox_retention_hours),
            processed_events_retention=timedelta(days=settings.processed_events_retention_days),
        )

        def register(server: grpc.aio.Server) -> None:
            conversations_pb2_grpc.add_ConversationServiceServicer_to_server(
                ConversationServicer(service, events), server
            )

        server = GrpcServer(settings, service_names=SERVICE_NAMES, register=register)
        background: list[tuple[asyncio.Task[None], Callable[[], None]]] = []
        if run_background:
            background.append((asyncio.create_task(relay.run(), name="outbox-relay"), relay.stop))
            background.append(
                (asyncio.create_task(housekeeper.run(), name="housekeeping"), housekeeper.stop)
            )
            if settings.notifications_enabled:
                background.append(
                    (asyncio.create_task(notifier.run(), name="order-notifier"), notifier.stop)
                )
        try:
            yield ConversationsApp(server, service, relay, notifier, housekeeper, redis, database)
        finally:
            await service.wait_for_turns()
            for task, stop in background:
                stop()
                try:
                    await asyncio.wait_for(task, timeout=10)
                except TimeoutError:
                    log.warning("background_task_stop_timeout", task=task.get_name())


async def serve(settings: ConversationsSettings) -> None:
    async with conversations_app(settings) as app:
        await app.server.serve_until_signalled()
