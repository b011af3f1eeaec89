"""Initial commerce schema: customers, products, orders, stock movements, idempotency, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from cienty_commerce.repository.tables import (
    CUSTOMER_SEARCH_DOCUMENT,
    PRODUCT_SEARCH_DOCUMENT,
    PRODUCT_SEARCH_VECTOR,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # unaccent() is only STABLE (its dictionary could change); pinning the dictionary makes
    # an IMMUTABLE wrapper that generated columns and indexes accept.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION cienty_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
        """
    )

    op.create_table(
        "customers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("cnpj", sa.String(14), nullable=False),
        sa.Column("legal_name", sa.String(200), nullable=False),
        sa.Column("trade_name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column(
            "search_document",
            sa.Text(),
            sa.Computed(CUSTOMER_SEARCH_DOCUMENT, persisted=True),
            nullable=False,
        ),
        *_timestamps(),
        sa.CheckConstraint("status IN ('active', 'blocked')", name=op.f("ck_customers_status")),
        sa.UniqueConstraint("cnpj", name=op.f("uq_customers_cnpj")),
        sa.UniqueConstraint("phone", name=op.f("uq_customers_phone")),
    )
    op.create_index("ix_customers_created", "customers", ["created_at", "id"])
    op.create_index(
        "ix_customers_search_trgm",
        "customers",
        ["search_document"],
        postgresql_using="gin",
        postgresql_ops={"search_document": "gin_trgm_ops"},
    )

    op.create_table(
        "products",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("gtin", sa.String(13), nullable=False),
        sa.Column("active_ingredient", sa.String(200), nullable=False),
        sa.Column("manufacturer", sa.String(200), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("stock_quantity", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "search_document",
            sa.Text(),
            sa.Computed(PRODUCT_SEARCH_DOCUMENT, persisted=True),
            nullable=False,
        ),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(PRODUCT_SEARCH_VECTOR, persisted=True),
            nullable=False,
        ),
        *_timestamps(),
        sa.CheckConstraint("unit_price_cents > 0", name=op.f("ck_products_price_positive")),
        sa.CheckConstraint("stock_quantity >= 0", name=op.f("ck_products_stock_not_negative")),
    )
    op.create_index(
        "uq_products_gtin",
        "products",
        ["gtin"],
        unique=True,
        postgresql_where=sa.text("gtin <> ''"),
    )
    op.create_index(
        "ix_products_search_trgm",
        "products",
        ["search_document"],
        postgresql_using="gin",
        postgresql_ops={"search_document": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_products_search_vector", "products", ["search_vector"], postgresql_using="gin"
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "customer_id",
            sa.String(36),
            sa.ForeignKey("customers.id", name=op.f("fk_orders_customer_id_customers")),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("cancel_reason", sa.String(500), server_default="", nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_orders_customer_created", "orders", ["customer_id", "created_at", "id"])
    op.create_index("ix_orders_created", "orders", ["created_at", "id"])

    op.create_table(
        "order_lines",
        sa.Column(
            "order_id",
            sa.String(36),
            sa.ForeignKey("orders.id", name=op.f("fk_order_lines_order_id_orders")),
            primary_key=True,
        ),
        sa.Column("line_number", sa.Integer(), primary_key=True),
        sa.Column(
            "sku",
            sa.String(64),
            sa.ForeignKey("products.sku", name=op.f("fk_order_lines_sku_products")),
            nullable=False,
        ),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
    )

    op.create_table(
        "order_status_changes",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "order_id",
            sa.String(36),
            sa.ForeignKey("orders.id", name=op.f("fk_order_status_changes_order_id_orders")),
            nullable=False,
        ),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_order_status_changes_order_id", "order_status_changes", ["order_id"])

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "sku",
            sa.String(64),
            sa.ForeignKey("products.sku", name=op.f("fk_stock_movements_sku_products")),
            nullable=False,
        ),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column(
            "order_id",
            sa.String(36),
            sa.ForeignKey("orders.id", name=op.f("fk_stock_movements_order_id_orders")),
            nullable=True,
        ),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_stock_movements_sku", "stock_movements", ["sku"])

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_outbox_events_unpublished",
        "outbox_events",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "outbox_events",
        "idempotency_keys",
        "stock_movements",
        "order_status_changes",
        "order_lines",
        "orders",
        "products",
        "customers",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS cienty_unaccent(text)")
