import pytest

from cienty_kit.errors import InvalidArgument
from cienty_kit.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+55 11 98765-4321", "+5511987654321"),
        ("(11) 98765-4321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),  # WhatsApp's wa_id
        # A wa_id without the ninth digit (older WhatsApp accounts): the same customer.
        ("551187654321", "+5511987654321"),
        ("+55 73 9123-4567", "+5573991234567"),
        # Landlines keep their eight digits.
        ("+55 11 3333-4444", "+551133334444"),
        ("+1 650 555 1234", "+16505551234"),
    ],
)
def test_numbers_become_e164(given: str, expected: str) -> None:
    assert normalize_phone(given) == expected


@pytest.mark.parametrize("given", ["", "12", "+55 11 1234", "abc"])
def test_bad_numbers_are_refused_with_the_field_name(given: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^from_phone"):
        normalize_phone(given, "from_phone")


def test_masking_keeps_enough_to_tell_numbers_apart() -> None:
    assert mask_phone("+5511987654321") == "+55119****4321"
