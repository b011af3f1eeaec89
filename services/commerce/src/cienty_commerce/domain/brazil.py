"""Brazilian identifiers: CNPJ (numeric and the alphanumeric form from July 2026), EAN-13,
E.164 phone numbers."""

from __future__ import annotations

import re

from cienty_kit.errors import InvalidArgument
from cienty_kit.phones import normalize_phone

__all__ = [
    "cnpj_check_digits",
    "ean13_check_digit",
    "format_cnpj",
    "normalize_cnpj",
    "normalize_email",
    "normalize_gtin",
    "normalize_phone",
    "normalize_state",
]

_CNPJ_PUNCTUATION = re.compile(r"[.\-/\s]")
_CNPJ_SHAPE = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_CNPJ_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_2 = (6, *_CNPJ_WEIGHTS_1)


def _cnpj_check_digit(body: str, weights: tuple[int, ...]) -> int:
    # Each character counts as its code point minus 48, so digits keep their value and
    # letters get A=17 ... Z=42 (Receita Federal, Nota Técnica COCAD/SUARA/RFB nº 49/2024).
    remainder = (
        sum((ord(char) - 48) * weight for char, weight in zip(body, weights, strict=True)) % 11
    )
    return 0 if remainder < 2 else 11 - remainder


def cnpj_check_digits(body: str) -> str:
    """The two check digits of a 12-character CNPJ body."""
    first = _cnpj_check_digit(body, _CNPJ_WEIGHTS_1)
    second = _cnpj_check_digit(body + str(first), _CNPJ_WEIGHTS_2)
    return f"{first}{second}"


def normalize_cnpj(value: str, field: str = "cnpj") -> str:
    """Validates a CNPJ, formatted ("12.345.678/0001-95") or bare, and returns its 14 characters."""
    cnpj = _CNPJ_PUNCTUATION.sub("", value).upper()
    if not cnpj:
        raise InvalidArgument(field, "is required")
    if not _CNPJ_SHAPE.match(cnpj):
        raise InvalidArgument(
            field, "must have 14 characters: 12 digits or capital letters, then 2 check digits"
        )
    if len(set(cnpj)) == 1:
        raise InvalidArgument(field, "is not a valid CNPJ")
    if cnpj[12:] != cnpj_check_digits(cnpj[:12]):
        raise InvalidArgument(field, "check digits do not match; is it typed correctly?")
    return cnpj


def format_cnpj(cnpj: str) -> str:
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"


def ean13_check_digit(first_twelve: str) -> int:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return (10 - total % 10) % 10


def normalize_gtin(value: str, field: str = "gtin") -> str:
    """Validates an EAN-13 barcode; an empty value means the product has none."""
    gtin = value.strip()
    if not gtin:
        return ""
    if len(gtin) != 13 or not gtin.isascii() or not gtin.isdigit():
        raise InvalidArgument(field, "must be an EAN-13: 13 digits")
    if int(gtin[12]) != ean13_check_digit(gtin[:12]):
        raise InvalidArgument(field, "EAN-13 check digit does not match")
    return gtin


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(value: str, field: str = "email") -> str:
    email = value.strip().lower()
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        raise InvalidArgument(field, "is not a valid e-mail address")
    return email


BRAZILIAN_STATES = frozenset(
    "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split()
)


def normalize_state(value: str, field: str = "state") -> str:
    state = value.strip().upper()
    if state and state not in BRAZILIAN_STATES:
        raise InvalidArgument(field, "must be a Brazilian state code (UF), e.g. SP")
    return state
