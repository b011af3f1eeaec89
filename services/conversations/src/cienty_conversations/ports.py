"""What the conversations service needs from the outside, as plain data and Protocols.

Adapters: `clients.commerce` (gRPC), `clients.knowledge` (cienty_knowledge search); the
evaluation harness and tests plug in-memory versions in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    id: str
    trade_name: str
    legal_name: str
    phone: str
    active: bool = True

    @property
    def display_name(self) -> str:
        return self.trade_name or self.legal_name


@dataclass(frozen=True, slots=True)
class ProductInfo:
    sku: str
    name: str
    unit_price_cents: int
    stock_quantity: int
    active: bool = True
    active_ingredient: str = ""
    manufacturer: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class OrderLineInfo:
    sku: str
    product_name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


@dataclass(frozen=True, slots=True)
class OrderInfo:
    id: str
    customer_id: str
    # pending, confirmed, invoiced, shipped, delivered, cancelled
    status: str
    lines: tuple[OrderLineInfo, ...]
    total_cents: int
    created_at: datetime
    cancel_reason: str = ""


@dataclass(frozen=True, slots=True)
class KnowledgeHit:
    title: str
    heading: str
    text: str
    source: str
    document: str
    score: float


class CommerceRejected(Exception):
    """Commerce refused a change (out of stock, order not cancellable...); `message` says why
    in terms a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CommerceUnavailable(Exception):
    """Commerce could not be reached in time."""


class Commerce(Protocol):
    async def customer_by_phone(self, phone: str) -> CustomerInfo | None: ...

    async def customer(self, customer_id: str) -> CustomerInfo | None: ...

    async def search_products(self, query: str, *, limit: int) -> list[ProductInfo]: ...

    async def product(self, sku: str) -> ProductInfo | None: ...

    async def orders_of(self, customer_id: str, *, limit: int) -> list[OrderInfo]: ...

    async def order(self, order_id: str) -> OrderInfo | None: ...

    async def create_order(
        self, *, request_id: str, customer_id: str, lines: Sequence[tuple[str, int]]
    ) -> OrderInfo: ...

    async def cancel_order(self, order_id: str, *, reason: str) -> OrderInfo: ...


class Knowledge(Protocol):
    async def search(self, query: str, *, k: int) -> list[KnowledgeHit]: ...
