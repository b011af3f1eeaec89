"""Customers: businesses identified by CNPJ."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class NewCustomer:
    cnpj: str
    legal_name: str
    trade_name: str
    phone: str
    email: str
    state: str
    city: str


@dataclass(frozen=True, slots=True)
class CustomerChanges:
    legal_name: str | None = None
    trade_name: str | None = None
    phone: str | None = None
    email: str | None = None
    status: CustomerStatus | None = None
    state: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    cnpj: str
    legal_name: str
    trade_name: str
    phone: str
    email: str
    status: CustomerStatus
    state: str
    city: str
    created_at: datetime
    updated_at: datetime
