"""A customer's WhatsApp message → the `InboundMessage` conversations handles.

Every type reaches conversations with some text, so staff see it in the inbox and the agent
knows something arrived even when it cannot read it: media get a bracketed label before their
caption ("[imagem] receita"), and types the agent cannot read get a short Portuguese
description ("[localização: -23.5, -46.6]", "[contato: Maria (+55 11 98765-4321)]",
"[tipo de mensagem não suportado]"). A file that could not be downloaded is left out of `media`
and its label says so ("[imagem indisponível]").

A message older than `CIENTY_STALE_MESSAGE_HOURS` (a redelivery days late, or a backlog after an
outage) is forwarded with a note saying when it was sent, in Brasília time, so the agent and staff
read it as an old message rather than a question asked now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty_whatsapp.items import InboundItem

# conversations' limits (InboundMessage validation).
MAX_TEXT = 4096
MAX_REPLY_ID = 256
MAX_PROFILE_NAME = 128

# Brazil has had no daylight saving time since 2019.
BRASILIA = timezone(timedelta(hours=-3), "BRT")

MEDIA_LABELS = {
    "image": "imagem",
    "document": "documento",
    "audio": "áudio",
    "video": "vídeo",
    "sticker": "figurinha",
}
UNSUPPORTED = "[tipo de mensagem não suportado]"
EMPTY = "[mensagem sem conteúdo]"


def inbound_message(
    item: InboundItem,
    *,
    unavailable: Mapping[str, str] | None = None,
    stale: bool = False,
) -> pb.InboundMessage:
    """`unavailable`: media ids whose file could not be fetched (left out of `media`)."""
    missing = unavailable or {}
    text = describe(item, missing)
    if stale:
        text = stale_note(item.timestamp) + " " + text
    media = [
        pb.Media(
            id=ref.id,
            mime_type=ref.mime_type,
            kind=ref.kind,
            caption=ref.caption,
            filename=ref.filename,
        )
        for ref in item.media
        if ref.id not in missing
    ]
    sent_at = Timestamp()
    sent_at.FromSeconds(int(item.timestamp))
    return pb.InboundMessage(
        channel=pb.CHANNEL_WHATSAPP,
        external_id=item.id,
        from_phone=item.wa_id,
        text=_truncate(text, MAX_TEXT),
        interactive_reply_id=item.interactive_reply_id[:MAX_REPLY_ID],
        media=media,
        sent_at=sent_at,
        profile_name=item.profile_name[:MAX_PROFILE_NAME],
    )


def stale_note(timestamp: int) -> str:
    sent = datetime.fromtimestamp(timestamp, UTC).astimezone(BRASILIA)
    return (
        f"[mensagem enviada em {sent:%d/%m/%Y} às {sent:%H:%M} (horário de Brasília) "
        "e recebida com atraso]"
    )


def describe(item: InboundItem, unavailable: Mapping[str, str] | None = None) -> str:
    """The text conversations gets for the message (before the stale note)."""
    missing = unavailable or {}
    kind = item.type
    extra = item.extra
    if kind in ("text", "interactive", "button") and (item.text or item.interactive_reply_id):
        return item.text or item.interactive_reply_id
    if kind == "interactive":
        return _interactive(extra.get("interactive"))
    if item.media:
        labels = []
        for ref in item.media:
            label = MEDIA_LABELS.get(ref.kind, ref.kind or "arquivo")
            if ref.kind == "audio" and _dict(extra.get("audio")).get("voice"):
                label = "mensagem de voz"
            if ref.filename:
                label += f": {ref.filename}"
            if ref.id in missing:
                label = f"{MEDIA_LABELS.get(ref.kind, ref.kind or 'arquivo')} indisponível"
                if ref.filename:
                    label += f": {ref.filename}"
                label += " (não foi possível baixar o arquivo)"
            labels.append(f"[{label}]")
        caption = item.text or next((ref.caption for ref in item.media if ref.caption), "")
        return " ".join([*labels, caption]).strip()
    if kind == "location":
        return _location(_dict(extra.get("location")))
    if kind == "contacts":
        return _contacts(extra.get("contacts"))
    if kind == "reaction":
        emoji = str(_dict(extra.get("reaction")).get("emoji") or "")
        return f"[reação {emoji}]" if emoji else "[reação removida]"
    if kind == "order":
        return _order(_dict(extra.get("order")))
    if kind == "system":
        body = str(_dict(extra.get("system")).get("body") or "")
        return f"[aviso do WhatsApp: {body}]" if body else "[aviso do WhatsApp]"
    if kind == "request_welcome":
        return "[o cliente abriu a conversa]"
    if kind in ("text", "interactive", "button"):
        return EMPTY
    return UNSUPPORTED


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> str:
    try:
        return f"{float(value):.6f}".rstrip("0").rstrip(".")
    except (TypeError, ValueError):
        return "?"


def _location(location: dict[str, Any]) -> str:
    text = f"localização: {_number(location.get('latitude'))}, {_number(location.get('longitude'))}"
    place = ", ".join(
        str(location[k]) for k in ("name", "address") if isinstance(location.get(k), str)
    )
    if place:
        text += f" — {place}"
    return f"[{text}]"


def _contacts(contacts: Any) -> str:
    described = []
    for contact in contacts if isinstance(contacts, list) else []:
        contact = _dict(contact)
        name = _dict(contact.get("name")).get("formatted_name") or ""
        phones = [
            str(_dict(phone).get("phone") or _dict(phone).get("wa_id") or "")
            for phone in contact.get("phones") or []
        ]
        phones = [p for p in phones if p]
        part = str(name) or "sem nome"
        if phones:
            part += f" ({', '.join(phones)})"
        described.append(f"[contato: {part}]")
    return " ".join(described) or "[contato]"


def _order(order: dict[str, Any]) -> str:
    items = order.get("product_items")
    count = len(items) if isinstance(items, list) else 0
    text = f"[pedido pelo catálogo do WhatsApp: {count} {'item' if count == 1 else 'itens'}]"
    note = order.get("text")
    return f"{text} {note}" if isinstance(note, str) and note else text


def _interactive(interactive: Any) -> str:
    """Replies without a button or row id (WhatsApp Flows' `nfm_reply`, future types)."""
    data = _dict(interactive)
    flow = _dict(data.get("nfm_reply"))
    if flow:
        answers = flow.get("response_json") or flow.get("body") or ""
        return f"[resposta de formulário: {answers}]" if answers else "[resposta de formulário]"
    return UNSUPPORTED


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
