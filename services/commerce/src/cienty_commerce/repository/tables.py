"""SQLAlchemy mapping of the commerce schema. Alembic migrations create it; keep both in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# `cienty_unaccent` is an IMMUTABLE wrapper around unaccent(), created by the first migration,
# so that accent-free search documents can be generated columns with indexes.
PRODUCT_SEARCH_DOCUMENT = (
    "cienty_unaccent(lower(name || ' ' || active_ingredient || ' ' || manufacturer))"
)
PRODUCT_SEARCH_VECTOR = (
    "setweight(to_tsvector('portuguese'::regconfig, cienty_unaccent(name)), 'A') || "
    "setweight(to_tsvector('portuguese'::regconfig, cienty_unaccent(active_ingredient)), 'B') || "
    "setweight(to_tsvector('portuguese'::regconfig, cienty_unaccent(manufacturer)), 'C')"
)
CUSTOMER_SEARCH_DOCUMENT = (
    "cienty_unaccent(lower(cnpj || ' ' || legal_name || ' ' || trade_name || ' ' || phone "
    "|| ' ' || email || ' ' || city))"
)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Server-generated values (timestamps, computed columns) come back with RETURNING.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012


def table(model: type[Base]) -> Table:
    """The Core table of a mapped class, for plain INSERTs on hot paths."""
    return cast(Table, model.__table__)


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cnpj: Mapped[str] = mapped_column(String(14), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    trade_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(100))
    search_document: Mapped[str] = mapped_column(
        Text, Computed(CUSTOMER_SEARCH_DOCUMENT, persisted=True), deferred=True
    )
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("status IN ('active', 'blocked')", name="status"),
        Index("ix_customers_created", "created_at", "id"),
        Index(
            "ix_customers_search_trgm",
            "search_document",
            postgresql_using="gin",
            postgresql_ops={"search_document": "gin_trgm_ops"},
        ),
    )


class ProductRow(Base):
    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    gtin: Mapped[str] = mapped_column(String(13))
    active_ingredient: Mapped[str] = mapped_column(String(200))
    manufacturer: Mapped[str] = mapped_column(String(200))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    stock_quantity: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    description: Mapped[str] = mapped_column(Text)
    # Only filtered and ranked on, never read back: deferred so rows load without them.
    search_document: Mapped[str] = mapped_column(
        Text, Computed(PRODUCT_SEARCH_DOCUMENT, persisted=True), deferred=True
    )
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(PRODUCT_SEARCH_VECTOR, persisted=True), deferred=True
    )
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("unit_price_cents > 0", name="price_positive"),
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        Index("uq_products_gtin", "gtin", unique=True, postgresql_where=text("gtin <> ''")),
        Index(
            "ix_products_search_trgm",
            "search_document",
            postgresql_using="gin",
            postgresql_ops={"search_document": "gin_trgm_ops"},
        ),
        Index("ix_products_search_vector", "search_vector", postgresql_using="gin"),
    )


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    cancel_reason: Mapped[str] = mapped_column(String(500), server_default="")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    lines: Mapped[list[OrderLineRow]] = relationship(
        lazy="raise", order_by="OrderLineRow.line_number"
    )
    history: Mapped[list[OrderStatusChangeRow]] = relationship(
        lazy="raise", order_by="OrderStatusChangeRow.id"
    )

    __table_args__ = (
        Index("ix_orders_customer_created", "customer_id", "created_at", "id"),
        Index("ix_orders_created", "created_at", "id"),
    )


class OrderLineRow(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    line_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class OrderStatusChangeRow(Base):
    __tablename__ = "order_status_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(500))
    changed_at: Mapped[datetime] = _now()


class StockMovementRow(Base):
    """Every change of a product's available stock, with who and why."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), index=True)
    delta: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"))
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = _now()


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()


class OutboxEventRow(Base):
    """Events written in the same transaction as the change they describe; relayed to Redis."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_outbox_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )
