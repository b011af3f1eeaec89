"""Loads the demo catalog and customers through the service layer; safe to run repeatedly."""

from __future__ import annotations

from dataclasses import dataclass

from cienty_commerce.demo_data import DEMO_CUSTOMERS, DEMO_PRODUCTS
from cienty_commerce.service.catalog import CatalogService
from cienty_commerce.service.customers import CustomerService
from cienty_kit.errors import AlreadyExists


@dataclass(frozen=True, slots=True)
class SeedReport:
    customers: int
    products_created: int
    products_existing: int


async def seed_demo(customers: CustomerService, catalog: CatalogService) -> SeedReport:
    for demo in DEMO_CUSTOMERS:
        # The request_id makes a re-run return the customer created the first time.
        await customers.create(f"demo-seed:{demo.cnpj}", demo)
    created = existing = 0
    for product in DEMO_PRODUCTS:
        try:
            await catalog.create(product)
            created += 1
        except AlreadyExists:
            existing += 1
    return SeedReport(len(DEMO_CUSTOMERS), created, existing)
