"""Phone numbers in E.164, as every service stores and compares them."""

from __future__ import annotations

import re

import phonenumbers

from cienty_kit.errors import InvalidArgument

_PUNCTUATION = re.compile(r"[\s().\-]")


def normalize_phone(value: str, field: str = "phone") -> str:
    """Returns the number in E.164. Numbers without a country code are read as Brazilian;
    12+ bare digits not starting with 0 already carry one (WhatsApp's `wa_id` form).

    A Brazilian mobile number written without its ninth digit (WhatsApp's `wa_id` of many
    older accounts: "551187654321" for "+55 11 98765-4321") gets it back, so that the same
    customer has one number everywhere."""
    raw = value.strip()
    if not raw:
        raise InvalidArgument(field, "is required")
    digits = _PUNCTUATION.sub("", raw)
    if digits.isdigit() and len(digits) >= 12 and not digits.startswith("0"):
        raw = "+" + digits
    try:
        number = phonenumbers.parse(raw, "BR")
    except phonenumbers.NumberParseException:
        raise InvalidArgument(field, "is not a phone number") from None
    number = _with_ninth_digit(number)
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument(field, "is not a valid phone number (use E.164, e.g. +5511987654321)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _with_ninth_digit(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """+55 DDD + 8 digits starting with 6-9 is a mobile number from before 2016's ninth
    digit: Brazil's numbering plan (Anatel) added a leading 9 to every mobile number."""
    national = str(number.national_number)
    if number.country_code != 55 or len(national) != 10 or national[2] not in "6789":
        return number
    if phonenumbers.is_valid_number(number):  # a valid landline or special number stays
        return number
    return phonenumbers.PhoneNumber(
        country_code=55, national_number=int(national[:2] + "9" + national[2:])
    )


def mask_phone(phone: str) -> str:
    """ "+5511987654321" -> "+55119****4321": enough to tell numbers apart in logs."""
    if len(phone) <= 8:
        return "*" * len(phone)
    return phone[:-8] + "****" + phone[-4:]
