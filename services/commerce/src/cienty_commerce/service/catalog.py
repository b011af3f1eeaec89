"""Catalog use cases: products, search, stock."""

from __future__ import annotations

from cienty_commerce.domain import brazil, text
from cienty_commerce.domain.catalog import (
    NewProduct,
    Product,
    ProductChanges,
    normalize_sku,
    validate_price,
    validate_stock,
)
from cienty_commerce.repository.catalog import ProductRepository
from cienty_commerce.repository.product_cache import ProductCache
from cienty_kit.context import current_actor
from cienty_kit.database import Database
from cienty_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from cienty_kit.pagination import decode_page_token, encode_page_token, page_size

MAX_SEARCH_OFFSET = 10_000


def _validated(new: NewProduct) -> NewProduct:
    return NewProduct(
        sku=normalize_sku(new.sku),
        name=text.required_text(new.name, "name"),
        gtin=brazil.normalize_gtin(new.gtin),
        active_ingredient=text.optional_text(new.active_ingredient, "active_ingredient"),
        manufacturer=text.optional_text(new.manufacturer, "manufacturer"),
        unit_price_cents=validate_price(new.unit_price_cents),
        stock_quantity=validate_stock(new.stock_quantity),
        description=text.optional_text(new.description, "description", max_length=2000),
    )


class CatalogService:
    def __init__(self, database: Database, cache: ProductCache) -> None:
        self._db = database
        self._cache = cache

    async def create(self, new: NewProduct) -> Product:
        product = _validated(new)
        async with self._db.transaction() as session:
            products = ProductRepository(session)
            created = await products.add(product)
            if created.stock_quantity:
                await products.record_movement(
                    sku=created.sku,
                    delta=created.stock_quantity,
                    reason="initial stock",
                    actor=current_actor(),
                )
        await self._cache.invalidate([created.sku])  # whatever a cache may hold is older
        return created

    async def get(self, sku: str) -> Product:
        sku = normalize_sku(sku)
        cached = await self._cache.get(sku)
        if cached is not None:
            return cached
        async with self._db.read() as session:
            product = await ProductRepository(session).get(sku)
        if product is None:
            raise NotFound(f"product {sku} not found")
        await self._cache.put(product)
        return product

    async def update(self, sku: str, changes: ProductChanges) -> Product:
        sku = normalize_sku(sku)
        validated = ProductChanges(
            name=None if changes.name is None else text.required_text(changes.name, "name"),
            gtin=None if changes.gtin is None else brazil.normalize_gtin(changes.gtin),
            active_ingredient=None
            if changes.active_ingredient is None
            else text.optional_text(changes.active_ingredient, "active_ingredient"),
            manufacturer=None
            if changes.manufacturer is None
            else text.optional_text(changes.manufacturer, "manufacturer"),
            unit_price_cents=None
            if changes.unit_price_cents is None
            else validate_price(changes.unit_price_cents),
            active=changes.active,
            description=None
            if changes.description is None
            else text.optional_text(changes.description, "description", max_length=2000),
        )
        async with self._db.transaction() as session:
            product = await ProductRepository(session).update(sku, validated)
        if product is None:
            raise NotFound(f"product {sku} not found")
        await self._cache.invalidate([sku])
        return product

    async def adjust_stock(self, sku: str, delta: int, reason: str) -> Product:
        sku = normalize_sku(sku)
        if delta == 0:
            raise InvalidArgument("delta", "must not be zero")
        reason = text.required_text(reason, "reason", max_length=500)
        async with self._db.transaction() as session:
            products = ProductRepository(session)
            product = await products.adjust_stock(sku, delta)
            if product is None:
                current = await products.get(sku)
                if current is None:
                    raise NotFound(f"product {sku} not found")
                raise FailedPrecondition(
                    f"product {sku} has {current.stock_quantity} units; cannot remove {-delta}"
                )
            await products.record_movement(
                sku=sku, delta=delta, reason=reason, actor=current_actor()
            )
        await self._cache.invalidate([sku])
        return product

    async def search(
        self, *, query: str, include_inactive: bool, page_size_requested: int, page_token: str
    ) -> tuple[list[Product], str]:
        size = page_size(page_size_requested, default=20)
        query = text.optional_text(query, "query")
        cursor = decode_page_token(page_token, required_keys=frozenset({"o", "q", "i"}))
        if cursor is not None and (cursor["q"], cursor["i"]) != (query, include_inactive):
            raise InvalidArgument("page_token", "belongs to a different search")
        offset = int(cursor["o"]) if cursor else 0
        async with self._db.read() as session:
            page = await ProductRepository(session).search(
                query, include_inactive=include_inactive, limit=size + 1, offset=offset
            )
        if len(page) <= size or offset + size >= MAX_SEARCH_OFFSET:
            return page[:size], ""
        token = encode_page_token({"o": offset + size, "q": query, "i": include_inactive})
        return page[:size], token
