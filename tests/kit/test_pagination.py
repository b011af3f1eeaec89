import pytest

from cienty_kit.errors import InvalidArgument
from cienty_kit.pagination import MAX_PAGE_SIZE, decode_page_token, encode_page_token, page_size


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0, default=50) == 50
    assert page_size(10, default=50) == 10
    assert page_size(10_000, default=50) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument, match="page_size"):
        page_size(-1, default=50)


def test_token_round_trip_and_tampering() -> None:
    cursor = {"o": 40, "q": "dipirona"}
    token = encode_page_token(cursor)
    assert decode_page_token(token, required_keys=frozenset({"o", "q"})) == cursor
    assert decode_page_token("", required_keys=frozenset({"o"})) is None
    for bad in ("%%%", "bm90IGpzb24", encode_page_token({"x": 1})):
        with pytest.raises(InvalidArgument, match="page_token"):
            decode_page_token(bad, required_keys=frozenset({"o", "q"}))
