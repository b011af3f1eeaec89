import pytest

from cienty_commerce.domain.brazil import (
    format_cnpj,
    normalize_cnpj,
    normalize_email,
    normalize_gtin,
    normalize_phone,
    normalize_state,
)
from cienty_kit.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11222333000181", "11222333000181"),
        ("11.222.333/0001-81", "11222333000181"),
        (" 11 222 333 0001 81 ", "11222333000181"),
        # Alphanumeric CNPJ (Receita Federal, from July 2026), lower case accepted.
        ("12.ABC.345/01DE-35", "12ABC34501DE35"),
        ("12abc34501de35", "12ABC34501DE35"),
    ],
)
def test_cnpj_accepts_valid_numbers_in_any_format(raw: str, expected: str) -> None:
    assert normalize_cnpj(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("11222333000182", "check digits"),
        ("12ABC34501DE36", "check digits"),
        ("1122233300018", "14 characters"),
        ("112223330001811", "14 characters"),
        ("112223330001A1", "14 characters"),  # a letter where a check digit goes
        ("00000000000000", "not a valid CNPJ"),
        ("", "required"),
    ],
)
def test_cnpj_rejects_bad_numbers_naming_the_field(raw: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        normalize_cnpj(raw)
    assert error.value.field == "cnpj"
    assert problem in error.value.message


def test_cnpj_formatting_round_trip() -> None:
    assert format_cnpj("11222333000181") == "11.222.333/0001-81"


def test_gtin_check_digit() -> None:
    assert normalize_gtin("7891234567895") == "7891234567895"
    assert normalize_gtin("") == ""
    for bad in ("7891234567890", "789123456789", "789123456789a"):
        with pytest.raises(InvalidArgument, match="gtin"):
            normalize_gtin(bad)


@pytest.mark.parametrize(
    "raw",
    [
        "+55 11 98765-4321",
        "(11) 98765-4321",
        "11987654321",
        "+5511987654321",
        "5511987654321",  # WhatsApp wa_id
        "0 11 98765-4321",  # national trunk prefix
    ],
)
def test_phone_is_normalised_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+5511987654321"


@pytest.mark.parametrize("raw", ["", "12345", "+55 00 1234", "telefone"])
def test_bad_phone_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidArgument, match="phone"):
        normalize_phone(raw)


def test_email_and_state() -> None:
    assert normalize_email(" Compras@Drogaria.com.br ") == "compras@drogaria.com.br"
    assert normalize_state("sp") == "SP"
    with pytest.raises(InvalidArgument, match="email"):
        normalize_email("compras@")
    with pytest.raises(InvalidArgument, match="state"):
        normalize_state("XX")
