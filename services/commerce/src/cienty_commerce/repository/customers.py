"""Customer storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cienty_commerce.domain.customers import (
    Customer,
    CustomerChanges,
    CustomerStatus,
    NewCustomer,
)
from cienty_commerce.repository.base import fields_of, flush_unique
from cienty_commerce.repository.tables import CustomerRow
from cienty_kit.errors import AlreadyExists


def _to_domain(row: CustomerRow) -> Customer:
    return Customer(
        id=row.id,
        cnpj=row.cnpj,
        legal_name=row.legal_name,
        trade_name=row.trade_name,
        phone=row.phone,
        email=row.email,
        status=CustomerStatus(row.status),
        state=row.state,
        city=row.city,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _duplicate(constraint: str) -> AlreadyExists:
    field = "phone" if "phone" in constraint else "cnpj"
    return AlreadyExists(f"a customer with this {field} already exists")


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, customer_id: str, new: NewCustomer) -> Customer:
        row = CustomerRow(id=customer_id, status=CustomerStatus.ACTIVE.value, **fields_of(new))
        self._session.add(row)
        await flush_unique(self._session, _duplicate)
        await self._session.refresh(row)
        return _to_domain(row)

    async def get(self, customer_id: str) -> Customer | None:
        statement = select(CustomerRow).where(CustomerRow.id == customer_id)
        row = (await self._session.execute(statement)).scalar_one_or_none()
        return _to_domain(row) if row else None

    async def status_of(self, customer_id: str) -> CustomerStatus | None:
        statement = select(CustomerRow.status).where(CustomerRow.id == customer_id)
        status = (await self._session.execute(statement)).scalar_one_or_none()
        return CustomerStatus(status) if status else None

    async def get_by_phone(self, phone: str) -> Customer | None:
        statement = select(CustomerRow).where(CustomerRow.phone == phone)
        row = (await self._session.execute(statement)).scalar_one_or_none()
        return _to_domain(row) if row else None

    async def update(self, customer_id: str, changes: CustomerChanges) -> Customer | None:
        row = await self._session.get(CustomerRow, customer_id, with_for_update=True)
        if row is None:
            return None
        for name, value in fields_of(changes).items():
            if value is not None:
                setattr(row, name, value.value if isinstance(value, CustomerStatus) else value)
        row.updated_at = func.now()
        await flush_unique(self._session, _duplicate)
        await self._session.refresh(row)
        return _to_domain(row)

    async def page(
        self, *, query: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Customer]:
        """Newest first; `after` is the (created_at, id) of the last customer already seen."""
        statement = select(CustomerRow)
        for term in query.split():  # every word must appear, accents and case ignored
            pattern = func.cienty_unaccent(func.lower(f"%{escape_like(term)}%"))
            statement = statement.where(CustomerRow.search_document.like(pattern))
        if after is not None:
            statement = statement.where(
                tuple_(CustomerRow.created_at, CustomerRow.id) < tuple_(*after)
            )
        statement = statement.order_by(CustomerRow.created_at.desc(), CustomerRow.id.desc())
        rows = (await self._session.execute(statement.limit(limit))).scalars().all()
        return [_to_domain(row) for row in rows]


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
