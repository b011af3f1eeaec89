"""Customer use cases."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime

from cienty_commerce.domain import brazil, text
from cienty_commerce.domain.customers import Customer, CustomerChanges, NewCustomer
from cienty_commerce.repository.customers import CustomerRepository
from cienty_commerce.repository.idempotency import IdempotencyRepository
from cienty_commerce.service.idempotency import fingerprint, reused_request_id
from cienty_kit.database import Database
from cienty_kit.errors import InvalidArgument, NotFound
from cienty_kit.pagination import decode_page_token, encode_page_token, page_size

_SCOPE = "customer"


def parse_id(value: str, field: str = "id") -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be a customer id (UUID)") from None


def _validated(new: NewCustomer) -> NewCustomer:
    return NewCustomer(
        cnpj=brazil.normalize_cnpj(new.cnpj),
        legal_name=text.required_text(new.legal_name, "legal_name"),
        trade_name=text.optional_text(new.trade_name, "trade_name"),
        phone=brazil.normalize_phone(new.phone),
        email=brazil.normalize_email(new.email),
        state=brazil.normalize_state(new.state),
        city=text.optional_text(new.city, "city", max_length=100),
    )


class CustomerService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, request_id: str, new: NewCustomer) -> Customer:
        key = text.request_id(request_id)
        customer = _validated(new)
        request_hash = fingerprint(dataclasses.asdict(customer))
        async with self._db.transaction() as session:
            customer_id = str(uuid.uuid4())
            previous = await IdempotencyRepository(session).claim(
                _SCOPE, key, request_hash, customer_id
            )
            customers = CustomerRepository(session)
            if previous is not None:
                if previous.request_hash != request_hash:
                    raise reused_request_id()
                existing = await customers.get(previous.resource_id)
                assert existing is not None, "customers are never deleted"
                return existing
            return await customers.add(customer_id, customer)

    async def get(self, customer_id: str) -> Customer:
        async with self._db.read() as session:
            customer = await CustomerRepository(session).get(parse_id(customer_id))
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        return customer

    async def get_by_phone(self, phone: str) -> Customer:
        normalized = brazil.normalize_phone(phone)
        async with self._db.transaction() as session:
            customer = await CustomerRepository(session).get_by_phone(normalized)
        if customer is None:
            raise NotFound(f"no customer with phone {normalized}")
        return customer

    async def update(self, customer_id: str, changes: CustomerChanges) -> Customer:
        validated = CustomerChanges(
            legal_name=_maybe(changes.legal_name, lambda v: text.required_text(v, "legal_name")),
            trade_name=_maybe(changes.trade_name, lambda v: text.optional_text(v, "trade_name")),
            phone=_maybe(changes.phone, brazil.normalize_phone),
            email=_maybe(changes.email, brazil.normalize_email),
            status=changes.status,
            state=_maybe(changes.state, brazil.normalize_state),
            city=_maybe(changes.city, lambda v: text.optional_text(v, "city", max_length=100)),
        )
        async with self._db.transaction() as session:
            customer = await CustomerRepository(session).update(parse_id(customer_id), validated)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        return customer

    async def list_customers(
        self, *, query: str, page_size_requested: int, page_token: str
    ) -> tuple[list[Customer], str]:
        size = page_size(page_size_requested, default=50)
        query = text.optional_text(query, "query")
        cursor = decode_page_token(page_token, required_keys=frozenset({"t", "id", "q"}))
        if cursor is not None and cursor["q"] != query:
            raise InvalidArgument("page_token", "belongs to a different query")
        after = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None
        async with self._db.read() as session:
            page = await CustomerRepository(session).page(query=query, limit=size + 1, after=after)
        if len(page) <= size:
            return page, ""
        last = page[size - 1]
        token = encode_page_token({"t": last.created_at.isoformat(), "id": last.id, "q": query})
        return page[:size], token


def _maybe(value: str | None, validate: Callable[[str], str]) -> str | None:
    return None if value is None else validate(value)
