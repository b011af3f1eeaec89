"""Catalog: products, their prices (integer centavos) and available stock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cienty_kit.errors import InvalidArgument

_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_PRICE_CENTS = 100_000_000  # R$ 1 million per unit is a typo, not a price.
MAX_STOCK = 1_000_000_000


def normalize_sku(value: str, field: str = "sku") -> str:
    sku = value.strip()
    if not sku:
        raise InvalidArgument(field, "is required")
    if not _SKU.match(sku):
        raise InvalidArgument(field, "must be 1-64 characters of letters, digits, '.', '_' or '-'")
    return sku


def validate_price(cents: int, field: str = "unit_price_cents") -> int:
    if cents <= 0:
        raise InvalidArgument(field, "must be a positive number of centavos")
    if cents > MAX_PRICE_CENTS:
        raise InvalidArgument(field, f"must be at most {MAX_PRICE_CENTS} centavos")
    return cents


def validate_stock(quantity: int, field: str = "stock_quantity") -> int:
    if quantity < 0:
        raise InvalidArgument(field, "must not be negative")
    if quantity > MAX_STOCK:
        raise InvalidArgument(field, f"must be at most {MAX_STOCK}")
    return quantity


@dataclass(frozen=True, slots=True)
class NewProduct:
    sku: str
    name: str
    gtin: str
    active_ingredient: str
    manufacturer: str
    unit_price_cents: int
    stock_quantity: int
    description: str


@dataclass(frozen=True, slots=True)
class ProductChanges:
    name: str | None = None
    gtin: str | None = None
    active_ingredient: str | None = None
    manufacturer: str | None = None
    unit_price_cents: int | None = None
    active: bool | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    gtin: str
    active_ingredient: str
    manufacturer: str
    unit_price_cents: int
    stock_quantity: int
    active: bool
    description: str
    created_at: datetime
    updated_at: datetime
