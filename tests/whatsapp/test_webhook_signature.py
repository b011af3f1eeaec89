"""`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the app secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cienty_whatsapp.webhook.signature import sign, verify

SECRET = "app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_sign_is_meta_s_scheme() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"


def test_a_good_signature_verifies() -> None:
    assert verify(BODY, sign(BODY, SECRET), SECRET)
    # Hex case does not matter.
    assert verify(BODY, "sha256=" + sign(BODY, SECRET)[7:].upper(), SECRET)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(sign(BODY, "another-secret"), id="another secret"),
        pytest.param(sign(BODY + b" ", SECRET), id="another body"),
        pytest.param(sign(BODY, SECRET)[7:], id="no prefix"),
        pytest.param("sha1=" + sign(BODY, SECRET)[7:], id="wrong prefix"),
        pytest.param("SHA256=" + sign(BODY, SECRET)[7:], id="prefix case"),
        pytest.param(sign(BODY, SECRET)[:-1], id="truncated"),
        pytest.param("sha256=ééé", id="not hex, not ASCII"),
    ],
)
def test_anything_else_does_not(header: str | None) -> None:
    assert not verify(BODY, header, SECRET)


def test_an_empty_secret_never_verifies() -> None:
    assert not verify(BODY, sign(BODY, ""), "")


def test_the_raw_bytes_are_signed_not_the_json() -> None:
    """Re-serialised JSON (other spacing, escaped accents) has another signature."""
    raw = '{"text": {"body": "Olá"}}'.encode()
    reserialised = b'{"text":{"body":"Ol\\u00e1"}}'
    assert not verify(reserialised, sign(raw, SECRET), SECRET)
