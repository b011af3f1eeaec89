"""Loads the demo catalog and customers through the service layer; safe to run repeatedly."""

from __future__ import annotations

from dataclasses import dataclass

from cienty_commerce.demo_data import DEMO_CUSTOMERS, DEMO_PRODUCTS
from cienty_commerce.domain.catalog import NewProduct
from cienty_commerce.domain.customers import NewCustomer
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
        await customers.create(
            f"demo-seed:{demo.cnpj}",
            NewCustomer(
                cnpj=demo.cnpj,
                legal_name=demo.legal_name,
                trade_name=demo.trade_name,
                phone=demo.phone,
                email=demo.email,
                state=demo.state,
                city=demo.city,
            ),
        )
    created = existing = 0
    for product in DEMO_PRODUCTS:
        try:
            await catalog.create(
                NewProduct(
                    sku=product.sku,
                    name=product.name,
                    gtin=product.gtin,
                    active_ingredient=product.active_ingredient,
                    manufacturer=product.manufacturer,
                    unit_price_cents=product.unit_price_cents,
                    stock_quantity=product.stock_quantity,
                    description=product.description,
                )
            )
            created += 1
        except AlreadyExists:
            existing += 1
    return SeedReport(len(DEMO_CUSTOMERS), created, existing)
