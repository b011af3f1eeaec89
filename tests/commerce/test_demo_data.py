"""Sanity checks for the demo dataset, with check-digit code independent of the project's."""

import re

from cienty_commerce.demo_data import DEMO_CUSTOMERS, DEMO_PRODUCTS

_CNPJ_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_PHONE_RE = re.compile(r"^\+55[1-9]{2}9\d{8}$")
_SKU_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_UFS = frozenset(
    "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split()
)


def _cnpj_digit(digits: list[int], weights: tuple[int, ...]) -> int:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _cnpj_is_valid(cnpj: str) -> bool:
    if len(cnpj) != 14 or not cnpj.isascii() or not cnpj.isdigit():
        return False
    digits = [int(c) for c in cnpj]
    if len(set(digits)) == 1:
        return False
    first = _cnpj_digit(digits[:12], _CNPJ_WEIGHTS_1)
    second = _cnpj_digit([*digits[:12], first], _CNPJ_WEIGHTS_2)
    return digits[12] == first and digits[13] == second


def _ean13_is_valid(gtin: str) -> bool:
    if len(gtin) != 13 or not gtin.isascii() or not gtin.isdigit():
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(gtin[:12]))
    return (10 - total % 10) % 10 == int(gtin[12])


def test_check_digit_helpers_reject_corrupted_values() -> None:
    cnpj = DEMO_CUSTOMERS[0].cnpj
    gtin = DEMO_PRODUCTS[0].gtin
    bad_cnpj = cnpj[:13] + str((int(cnpj[13]) + 1) % 10)
    bad_gtin = gtin[:12] + str((int(gtin[12]) + 1) % 10)
    assert not _cnpj_is_valid(bad_cnpj)
    assert not _ean13_is_valid(bad_gtin)
    assert not _cnpj_is_valid("00000000000000")


def test_dataset_sizes() -> None:
    assert len(DEMO_CUSTOMERS) >= 10
    assert len(DEMO_PRODUCTS) >= 50


def test_every_cnpj_is_valid_head_office() -> None:
    for customer in DEMO_CUSTOMERS:
        assert _cnpj_is_valid(customer.cnpj), customer.cnpj
        assert customer.cnpj[8:12] == "0001", customer.cnpj


def test_every_gtin_is_valid_brazilian_ean13() -> None:
    for product in DEMO_PRODUCTS:
        assert _ean13_is_valid(product.gtin), product.gtin
        assert product.gtin.startswith("789"), product.gtin


def test_customer_identifiers_are_unique() -> None:
    cnpjs = [c.cnpj for c in DEMO_CUSTOMERS]
    phones = [c.phone for c in DEMO_CUSTOMERS]
    emails = [c.email for c in DEMO_CUSTOMERS]
    assert len(set(cnpjs)) == len(cnpjs)
    assert len(set(phones)) == len(phones)
    assert len(set(emails)) == len(emails)


def test_product_identifiers_are_unique() -> None:
    skus = [p.sku for p in DEMO_PRODUCTS]
    gtins = [p.gtin for p in DEMO_PRODUCTS]
    assert len(set(skus)) == len(skus)
    assert len(set(gtins)) == len(gtins)


def test_customer_fields_are_well_formed() -> None:
    for customer in DEMO_CUSTOMERS:
        assert _PHONE_RE.fullmatch(customer.phone), customer.phone
        assert customer.state in _UFS, customer.state
        assert customer.city
        assert customer.legal_name
        assert customer.trade_name
        local, _, domain = customer.email.partition("@")
        assert local, customer.email
        assert domain.endswith(".com.br"), customer.email
    assert len({c.state for c in DEMO_CUSTOMERS}) >= 5


def test_product_fields_are_well_formed() -> None:
    for product in DEMO_PRODUCTS:
        assert _SKU_RE.fullmatch(product.sku), product.sku
        assert product.name
        assert product.manufacturer
        assert product.description
        assert product.unit_price_cents > 0, product.sku
        assert product.stock_quantity >= 0, product.sku


def test_search_has_material_to_rank() -> None:
    dipirona = [p for p in DEMO_PRODUCTS if "dipirona" in p.active_ingredient]
    assert len(dipirona) >= 3
    assert len({p.manufacturer for p in dipirona}) >= 2
    assert any(p.active_ingredient == "" for p in DEMO_PRODUCTS)


def test_names_contain_accented_characters() -> None:
    accented = [p.name for p in DEMO_PRODUCTS if not p.name.isascii()]
    assert len(accented) >= 10
    assert any(not c.legal_name.isascii() for c in DEMO_CUSTOMERS)
