"""Webhook payloads as the WhatsApp Cloud API sends them, and their signature.

The shapes follow Meta's webhook reference (messages: text, interactive `button_reply` and
`list_reply`, image; statuses: sent, delivered, read): the `whatsapp_business_account`
envelope, `entry[].changes[].value` with `metadata`, `contacts`, `messages` or `statuses`, wamid
ids, Unix timestamps as strings. A payload is signed over the exact bytes that are sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import struct
import time
import zlib
from typing import Any

# The WhatsApp Business Account the simulated number belongs to (entry[].id), and that number
# as customers see it (metadata.display_phone_number). Any digits do: the gateway keys on
# metadata.phone_number_id.
WABA_ID = "100000000000002"
DISPLAY_PHONE_NUMBER = "551140040000"


def signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` header value: HMAC-SHA256 of the raw body, app secret as key."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def new_wamid(wa_id: str) -> str:
    """A message id in Meta's format: `wamid.` + base64 of the chat's number and a random id."""
    digits = wa_id.encode()
    raw = (
        b"\x1c\x18"
        + bytes([len(digits)])
        + digits
        + b"\x15\x02\x00\x12\x18\x14"
        + secrets.token_hex(10).upper().encode()
        + b"\x00"
    )
    return "wamid." + base64.b64encode(raw).decode()


def new_media_id() -> str:
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def now() -> str:
    return str(int(time.time()))


def envelope(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_PHONE_NUMBER,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def message(
    phone_number_id: str,
    *,
    wa_id: str,
    profile_name: str,
    wamid: str,
    timestamp: str,
    type: str,
    content: dict[str, Any],
    context_id: str | None = None,
) -> dict[str, Any]:
    """One customer message of `type`, whose body (`content`) sits under the type's key."""
    body: dict[str, Any] = {}
    if context_id:
        body["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": context_id}
    body |= {"from": wa_id, "id": wamid, "timestamp": timestamp, "type": type, type: content}
    return envelope(
        phone_number_id,
        {
            "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
            "messages": [body],
        },
    )


def text(body: str) -> dict[str, Any]:
    return {"body": body}


def button_reply(reply_id: str, title: str) -> dict[str, Any]:
    return {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}


def list_reply(reply_id: str, title: str, description: str = "") -> dict[str, Any]:
    reply = {"id": reply_id, "title": title}
    if description:
        reply["description"] = description
    return {"type": "list_reply", "list_reply": reply}


def image(media_id: str, mime_type: str, content: bytes, caption: str = "") -> dict[str, Any]:
    """An image message's body; `sha256` is base64, as in Meta's webhooks."""
    body = {
        "mime_type": mime_type,
        "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
        "id": media_id,
    }
    if caption:
        body["caption"] = caption
    return body


def status_update(
    phone_number_id: str, *, wamid: str, status: str, recipient_id: str, timestamp: str
) -> dict[str, Any]:
    """A status callback for one of the business's messages (`sent`, `delivered`, `read`)."""
    update: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": timestamp,
        "recipient_id": recipient_id,
    }
    if status in ("sent", "delivered"):
        # A reply inside the customer-service window (API v24+: no `conversation` object).
        update["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        }
    return envelope(phone_number_id, {"statuses": [update]})


def tiny_png(rgb: tuple[int, int, int], size: int = 16) -> bytes:
    """A valid PNG of one colour, `size` pixels square (a few hundred bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * size  # filter byte "none", then RGB pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )
