"""Product storage, Portuguese search, and atomic stock changes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Float, bindparam, cast, func, insert, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cienty_commerce.domain.catalog import NewProduct, Product, ProductChanges
from cienty_commerce.repository.base import fields_of, flush_unique
from cienty_commerce.repository.tables import ProductRow, StockMovementRow, table
from cienty_kit.errors import AlreadyExists


@dataclass(frozen=True, slots=True)
class StockTaken:
    name: str
    unit_price_cents: int


def to_domain(row: ProductRow) -> Product:
    return Product(
        sku=row.sku,
        name=row.name,
        gtin=row.gtin,
        active_ingredient=row.active_ingredient,
        manufacturer=row.manufacturer,
        unit_price_cents=row.unit_price_cents,
        stock_quantity=row.stock_quantity,
        active=row.active,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _duplicate(constraint: str) -> AlreadyExists:
    if "gtin" in constraint:
        return AlreadyExists("a product with this gtin already exists")
    return AlreadyExists("a product with this sku already exists")


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, new: NewProduct) -> Product:
        row = ProductRow(active=True, **fields_of(new))
        self._session.add(row)
        await flush_unique(self._session, _duplicate)
        await self._session.refresh(row)
        return to_domain(row)

    async def get(self, sku: str) -> Product | None:
        row = (await self._session.execute(_GET, {"sku": sku})).one_or_none()
        return Product(*row) if row else None

    async def update(self, sku: str, changes: ProductChanges) -> Product | None:
        row = await self._session.get(ProductRow, sku, with_for_update=True)
        if row is None:
            return None
        for name, value in fields_of(changes).items():
            if value is not None:
                setattr(row, name, value)
        row.updated_at = func.now()
        await flush_unique(self._session, _duplicate)
        await self._session.refresh(row)
        return to_domain(row)

    async def take_stock(self, sku: str, quantity: int) -> StockTaken | None:
        """Removes `quantity` from an active product's stock in one atomic statement.

        Returns None, changing nothing, when the product is missing, inactive or short of stock.
        Row locks taken here are held until the transaction ends, so concurrent orders serialise
        per product and can never oversell.
        """
        statement = (
            update(ProductRow)
            .where(
                ProductRow.sku == sku,
                ProductRow.active.is_(True),
                ProductRow.stock_quantity >= quantity,
            )
            .values(stock_quantity=ProductRow.stock_quantity - quantity, updated_at=func.now())
            .returning(ProductRow.name, ProductRow.unit_price_cents)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return StockTaken(name=row.name, unit_price_cents=row.unit_price_cents) if row else None

    async def adjust_stock(self, sku: str, delta: int) -> Product | None:
        """Adds `delta` (may be negative) unless the result would be negative."""
        statement = (
            update(ProductRow)
            .where(ProductRow.sku == sku, ProductRow.stock_quantity + delta >= 0)
            .values(stock_quantity=ProductRow.stock_quantity + delta, updated_at=func.now())
            .returning(ProductRow)
        )
        row = (await self._session.execute(statement)).scalar_one_or_none()
        return to_domain(row) if row else None

    async def record_movement(
        self, *, sku: str, delta: int, reason: str, actor: str, order_id: str | None = None
    ) -> None:
        await self.record_movements([(sku, delta)], reason=reason, actor=actor, order_id=order_id)

    async def record_movements(
        self, changes: list[tuple[str, int]], *, reason: str, actor: str, order_id: str | None
    ) -> None:
        """Appends (sku, delta) stock movements in one statement."""
        await self._session.execute(
            insert(table(StockMovementRow)),
            [
                {"sku": sku, "delta": delta, "reason": reason, "actor": actor, "order_id": order_id}
                for sku, delta in changes
            ],
        )

    async def search(
        self, query: str, *, include_inactive: bool, limit: int, offset: int
    ) -> list[Product]:
        """Best match first. Matching is accent- and case-insensitive on name, active ingredient
        and manufacturer: Portuguese stemming (full text) or trigram word similarity (typos)."""
        statement = _SEARCH if query else _LIST_BY_NAME
        rows = await self._session.execute(
            statement,
            {"q": query, "include_inactive": include_inactive, "limit": limit, "offset": offset},
        )
        return [Product(*row) for row in rows]


# Search statements are built once: per call only the parameters change, and rows are read as
# plain tuples in the order of Product's fields (no ORM entities on this hot path).
_PRODUCT_COLUMNS = (
    ProductRow.sku,
    ProductRow.name,
    ProductRow.gtin,
    ProductRow.active_ingredient,
    ProductRow.manufacturer,
    ProductRow.unit_price_cents,
    ProductRow.stock_quantity,
    ProductRow.active,
    ProductRow.description,
    ProductRow.created_at,
    ProductRow.updated_at,
)
_VISIBLE = or_(ProductRow.active.is_(True), bindparam("include_inactive"))
_NORMALIZED_QUERY = func.cienty_unaccent(func.lower(bindparam("q")))
_TS_QUERY = func.plainto_tsquery(
    literal_column("'portuguese'::regconfig"), func.cienty_unaccent(bindparam("q"))
)
_SCORE = (
    cast(
        func.word_similarity(_NORMALIZED_QUERY, func.cienty_unaccent(func.lower(ProductRow.name))),
        Float,
    )
    * 2
    + func.word_similarity(_NORMALIZED_QUERY, ProductRow.search_document)
    + func.ts_rank(ProductRow.search_vector, _TS_QUERY)
)
_SEARCH = (
    select(*_PRODUCT_COLUMNS)
    .where(
        _VISIBLE,
        or_(
            _NORMALIZED_QUERY.op("<%")(ProductRow.search_document),
            ProductRow.search_vector.op("@@")(_TS_QUERY),
        ),
    )
    .order_by(_SCORE.desc(), ProductRow.name, ProductRow.sku)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_LIST_BY_NAME = (
    select(*_PRODUCT_COLUMNS)
    .where(_VISIBLE)
    .order_by(ProductRow.name, ProductRow.sku)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_GET = select(*_PRODUCT_COLUMNS).where(ProductRow.sku == bindparam("sku"))
