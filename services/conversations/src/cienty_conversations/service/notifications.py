"""Tells customers about their orders: consumes commerce's `order.status_changed` events.

Each event has its effect once: the outbound message and the event's key are committed in one
transaction, and a redelivered event (a crash before XACK, a reclaimed pending entry, the
relay's at-least-once publishing) finds its key and is only acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from cienty_conversations.domain import replies
from cienty_conversations.domain.conversations import Author, Channel
from cienty_conversations.domain.money import format_brl
from cienty_conversations.ports import Commerce, CommerceUnavailable
from cienty_conversations.repository.conversations import ConversationRepository, message_from_row
from cienty_conversations.repository.outbox import OutboxRepository
from cienty_conversations.repository.processed_events import ProcessedEvents
from cienty_conversations.service import metrics, streams
from cienty_kit.database import Database
from cienty_kit.logging import get_logger
from cienty_kit.phones import mask_phone

log = get_logger(__name__)

NOTIFIED_STATUSES = frozenset({"confirmed", "shipped", "delivered"})


@dataclass
class OrderNotifier:
    database: Database
    redis: Redis
    commerce: Commerce
    stream: str = "commerce.order-events"
    group: str = "conversations"
    consumer: str = ""
    outbound_stream: str = "conversations.outbound"
    events_stream: str = "conversations.events"
    template: str = "atualizacao_pedido"
    # Entries another consumer left pending this long are taken over (it probably crashed).
    reclaim_idle_ms: int = 60_000
    block_ms: int = 1000
    on_outbox_written: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.consumer = self.consumer or f"conversations-{uuid.uuid4().hex[:8]}"
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def ensure_group(self) -> None:
        try:
            # From the beginning of the stream: events published before the first start count.
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                while not self._stopping.is_set():
                    await self.process_once()
                    backoff = 0.5
            except (RedisError, SQLAlchemyError, OSError, CommerceUnavailable) as error:
                log.warning("notifier_failed", error=str(error), retry_in_seconds=backoff)
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 30)

    async def process_once(self) -> int:
        """Handles what is pending for too long elsewhere, then new entries; returns how many."""
        handled = 0
        reclaimed: Any = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.reclaim_idle_ms, "0-0", count=50
        )
        for entry_id, fields in reclaimed[1]:
            await self._handle(entry_id, fields)
            handled += 1
        # Our own pending entries first (after a restart with the same name), then new ones.
        for start in ("0", ">"):
            response: Any = await self.redis.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: start},
                count=50,
                block=None if start == "0" else self.block_ms,
            )
            for _, entries in response or []:
                for entry_id, fields in entries:
                    await self._handle(entry_id, fields)
                    handled += 1
        return handled

    async def _handle(self, entry_id: bytes | str, fields: dict[Any, Any]) -> None:
        if not fields:  # trimmed away while pending
            await self.redis.xack(self.stream, self.group, entry_id)
            return
        event = {_text(k): _text(v) for k, v in fields.items()}
        outcome = await self._notify(event)
        metrics.NOTIFICATIONS.labels(outcome=outcome).inc()
        await self.redis.xack(self.stream, self.group, entry_id)

    async def _notify(self, event: dict[str, str]) -> str:
        if event.get("type") != "order.status_changed":
            return "skipped"
        payload = json.loads(event.get("payload") or "{}")
        status = payload.get("to_status", "")
        if status not in NOTIFIED_STATUSES:
            return "skipped"
        customer = await self.commerce.customer(str(payload.get("customer_id", "")))
        if customer is None or not customer.phone:
            return "skipped"
        order_id = str(payload["order_id"])
        total = int(payload.get("total_cents") or 0)
        text = replies.order_update(status, order_id, total)
        key = f"{self.stream}:{event.get('event_id') or order_id + ':' + status}"
        async with self.database.transaction() as session:
            if not await ProcessedEvents(session).claim(key):
                return "duplicate"
            repo = ConversationRepository(session)
            row = await repo.open_for_update(Channel.WHATSAPP, customer.phone)
            if not row.customer_id:
                row.customer_id = customer.id
                row.customer_name = customer.display_name
            created = await repo.add_message(
                row.id, author=Author.SYSTEM, text=text, channel=Channel(row.channel)
            )
            message = message_from_row(created)
            template = {
                "name": self.template,
                "language": "pt_BR",
                "parameters": [replies.short_id(order_id), status, format_brl(total)],
            }
            outbox = OutboxRepository(session)
            await outbox.add(
                self.outbound_stream,
                streams.outbound_entry(
                    message, channel=row.channel, to=row.phone, template=template
                ),
            )
            await outbox.add(
                self.events_stream,
                streams.event_entry(streams.MESSAGE_SENT, str(row.id), row.status, message=message),
            )
            await repo.touch(row, text)
        self.on_outbox_written()
        log.info("order_notification_queued", status=status, phone=mask_phone(customer.phone))
        return "sent"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
