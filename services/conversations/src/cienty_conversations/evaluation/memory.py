"""In-memory commerce and knowledge base with the ports' behaviour, for the evaluation
harness (fixed, known facts to grade answers against) and for tests of the agent alone.

They keep the rules the real services enforce that the agent relies on: orders are
idempotent on `request_id`, reserve stock, cancel only before invoicing; unknown ids are
"not found".
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from cienty_conversations.ports import (
    CommerceRejected,
    CustomerInfo,
    KnowledgeHit,
    OrderInfo,
    OrderLineInfo,
    ProductInfo,
)

CANCELLABLE = {"pending", "confirmed"}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", _fold(text)) if len(w) > 2}


@dataclass
class InMemoryCommerce:
    customers: dict[str, CustomerInfo] = field(default_factory=dict)
    products: dict[str, ProductInfo] = field(default_factory=dict)
    orders: dict[str, OrderInfo] = field(default_factory=dict)
    created_by_request: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def customer_by_phone(self, phone: str) -> CustomerInfo | None:
        self.calls.append("customer_by_phone")
        return next((c for c in self.customers.values() if c.phone == phone), None)

    async def customer(self, customer_id: str) -> CustomerInfo | None:
        self.calls.append("customer")
        return self.customers.get(customer_id)

    async def search_products(self, query: str, *, limit: int) -> list[ProductInfo]:
        self.calls.append("search_products")
        wanted = _words(query)
        scored = []
        for product in self.products.values():
            text = f"{product.name} {product.active_ingredient} {product.manufacturer}"
            score = len(wanted & _words(text))
            if score:
                scored.append((-score, product.name, product))
        return [product for *_, product in sorted(scored)[:limit]]

    async def product(self, sku: str) -> ProductInfo | None:
        self.calls.append("product")
        return self.products.get(sku)

    async def orders_of(self, customer_id: str, *, limit: int) -> list[OrderInfo]:
        self.calls.append("orders_of")
        mine = [o for o in self.orders.values() if o.customer_id == customer_id]
        return sorted(mine, key=lambda o: o.created_at, reverse=True)[:limit]

    async def order(self, order_id: str) -> OrderInfo | None:
        self.calls.append("order")
        return self.orders.get(order_id)

    async def create_order(
        self, *, request_id: str, customer_id: str, lines: Sequence[tuple[str, int]]
    ) -> OrderInfo:
        self.calls.append("create_order")
        if request_id in self.created_by_request:
            return self.orders[self.created_by_request[request_id]]
        order_lines = []
        for sku, quantity in lines:
            product = self.products.get(sku)
            if product is None or not product.active:
                raise CommerceRejected(f"produto {sku} não existe")
            if product.stock_quantity < quantity:
                raise CommerceRejected(f"estoque insuficiente de {product.name}")
            order_lines.append(
                OrderLineInfo(
                    sku,
                    product.name,
                    quantity,
                    product.unit_price_cents,
                    quantity * product.unit_price_cents,
                )
            )
        for sku, quantity in lines:
            product = self.products[sku]
            self.products[sku] = replace(product, stock_quantity=product.stock_quantity - quantity)
        order = OrderInfo(
            id=str(uuid.uuid4()),
            customer_id=customer_id,
            status="pending",
            lines=tuple(order_lines),
            total_cents=sum(line.line_total_cents for line in order_lines),
            created_at=datetime.now(UTC),
        )
        self.orders[order.id] = order
        self.created_by_request[request_id] = order.id
        return order

    async def cancel_order(self, order_id: str, *, reason: str) -> OrderInfo:
        self.calls.append("cancel_order")
        order = self.orders[order_id]
        if order.status == "cancelled":
            return order
        if order.status not in CANCELLABLE:
            raise CommerceRejected(f"um pedido {order.status} não pode mais ser cancelado")
        cancelled = replace(order, status="cancelled", cancel_reason=reason)
        self.orders[order_id] = cancelled
        return cancelled


@dataclass(frozen=True)
class KnowledgeDocument:
    title: str
    text: str
    heading: str = ""
    source: str = "avaliacao"


@dataclass
class InMemoryKnowledge:
    """Keyword-overlap search over a few documents (the real one is hybrid search)."""

    documents: list[KnowledgeDocument] = field(default_factory=list)

    async def search(self, query: str, *, k: int) -> list[KnowledgeHit]:
        wanted = _words(query)
        scored = []
        for index, document in enumerate(self.documents):
            overlap = len(wanted & _words(f"{document.title} {document.heading} {document.text}"))
            if overlap:
                scored.append((-overlap, index, document))
        hits = []
        for score, _, document in sorted(scored)[:k]:
            hits.append(
                KnowledgeHit(
                    title=document.title,
                    heading=document.heading,
                    text=document.text,
                    source=document.source,
                    document=f"memory://{document.title}",
                    score=min(1.0, -score / max(1, len(wanted))),
                )
            )
        return hits
