"""Meta's payload shapes (tests/whatsapp/payloads, written from Meta's webhook reference pages)
→ typed models → `InboundItem`s. No Redis here: the pure part."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from cienty_whatsapp.items import DeliveryError, InboundItem, MediaRef
from cienty_whatsapp.webhook.models import Envelope, MessagesChange
from cienty_whatsapp.webhook.parse import parse_envelope
from tests.whatsapp.conftest import webhook_payload

PHONE = "5511987654321"
PHONE_NUMBER_ID = "106540352242922"
CONTEXT = {
    "from": "15550783881",
    "id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjAwQkZDRUE2MTk3RDM4NTJGMgA=",
}


def items_of(payload: dict[str, Any]) -> list[InboundItem]:
    return parse_envelope(Envelope.model_validate(payload)).items


def one(name: str) -> InboundItem:
    [item] = items_of(webhook_payload(name))
    assert item.phone_number_id == PHONE_NUMBER_ID
    # Every item survives the stream's JSON unchanged.
    assert InboundItem.from_json(item.to_json()) == item
    return item


def test_text() -> None:
    item = one("text")
    assert (item.kind, item.type, item.wa_id) == ("message", "text", PHONE)
    assert item.id.startswith("wamid.")
    assert item.timestamp == 1764211200
    assert item.text == "Bom dia! Qual o preço da dipirona 500 mg?"
    assert item.profile_name == "Farmácia São Jorge"
    assert (item.interactive_reply_id, item.media, item.extra) == ("", (), {})


def test_interactive_button_reply() -> None:
    item = one("interactive_button_reply")
    assert item.type == "interactive"
    assert (item.interactive_reply_id, item.text) == ("confirm-order", "Confirmar")
    assert item.extra == {"context": CONTEXT}


def test_interactive_list_reply() -> None:
    item = one("interactive_list_reply")
    assert (item.interactive_reply_id, item.text) == ("sku-7891058001155", "Dipirona 500 mg 10 cp")
    assert item.extra["description"] == "R$ 8,90 · em estoque"


def test_interactive_flow_reply_is_kept_raw() -> None:
    payload = webhook_payload("interactive_button_reply")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["interactive"] = {
        "type": "nfm_reply",
        "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"cnpj": "x"}'},
    }
    [item] = items_of(payload)
    assert item.interactive_reply_id == ""
    assert item.extra["interactive"]["nfm_reply"]["name"] == "flow"


def test_template_quick_reply_button() -> None:
    item = one("button")
    assert item.type == "button"
    assert (item.interactive_reply_id, item.text) == ("order-status-yes", "Sim, quero saber")
    assert item.extra == {"context": CONTEXT}


@pytest.mark.parametrize(
    ("name", "media", "rest"),
    [
        (
            "image",
            MediaRef(
                "1003383421387256",
                "image",
                "image/jpeg",
                "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                caption="Receita do cliente",
            ),
            {"url"},
        ),
        (
            "document",
            MediaRef(
                "1195223342105713",
                "document",
                "application/pdf",
                "tqO0BVBsmcNpyWzENmcJ3pm8C4iJNoSIzOxOuVwxXGc=",
                caption="Pedido de compra",
                filename="pedido-0457.pdf",
            ),
            set(),
        ),
        (
            "audio",
            MediaRef(
                "1013859600285441",
                "audio",
                "audio/ogg; codecs=opus",
                "HgQo1ZKxPxzOOIlR3aYbqLdCR4UWzKTUSq2rvdvFJ3Q=",
            ),
            {"voice"},
        ),
        (
            "video",
            MediaRef(
                "1166846181421424",
                "video",
                "video/mp4",
                "ARHbvmC4cbJVuVfs4MwgqYXqRbJ7ea2dHeuA6YdO3+s=",
                caption="Caixa chegou amassada",
            ),
            set(),
        ),
        (
            "sticker",
            MediaRef(
                "1220385839364434",
                "sticker",
                "image/webp",
                "m0Ew9r5m7RO4hYlNjm1cWvvc/bHTV8aQc0WaO6xoqRw=",
            ),
            {"animated"},
        ),
    ],
)
def test_media(name: str, media: MediaRef, rest: set[str]) -> None:
    item = one(name)
    assert item.type == name
    assert item.media == (media,)
    assert item.text == media.caption
    # What MediaRef does not carry (the short-lived URL, voice, animated) stays in `extra`.
    assert set(item.extra.get(name, {})) == rest


def test_location_keeps_the_raw_object() -> None:
    item = one("location")
    assert item.text == ""
    assert item.extra["location"] == {
        "address": "Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
        "latitude": -23.5613,
        "longitude": -46.6565,
        "name": "Farmácia São Jorge",
        "url": "https://farmaciasaojorge.com.br",
    }


def test_contacts_keep_every_field() -> None:
    [card] = one("contacts").extra["contacts"]
    assert card["name"]["formatted_name"] == "Carla Mendes"
    assert card["phones"][0]["wa_id"] == "5511912345678"
    assert card["emails"] == [{"email": "compras@farmaciasaojorge.com.br", "type": "WORK"}]
    assert card["org"]["company"] == "Farmácia São Jorge"


def test_reaction_and_its_removal() -> None:
    assert one("reaction").extra["reaction"] == {"message_id": CONTEXT["id"], "emoji": "👍"}
    # Removing a reaction: the same webhook without `emoji`.
    assert one("reaction_removed").extra["reaction"] == {"message_id": CONTEXT["id"]}


def test_order() -> None:
    order = one("order").extra["order"]
    assert order["catalog_id"] == "194836987003835"
    assert [i["product_retailer_id"] for i in order["product_items"]] == [
        "7891058001155",
        "7896004703398",
    ]
    assert order["product_items"][0] == {
        "product_retailer_id": "7891058001155",
        "quantity": 12,
        "item_price": 8.9,
        "currency": "BRL",
    }


def test_system_message_without_contacts() -> None:
    item = one("system")
    assert (item.type, item.wa_id, item.profile_name) == ("system", PHONE, "")
    assert item.extra["system"]["type"] == "user_changed_number"
    assert item.extra["system"]["wa_id"] == "5511976543210"


def test_unsupported_keeps_its_errors() -> None:
    item = one("unsupported")
    assert item.type == "unsupported"
    assert item.extra["unsupported"] == {"type": "poll_creation"}
    assert item.extra["errors"][0]["code"] == 131051


def test_a_type_we_do_not_know_is_kept() -> None:
    item = one("unknown_type")
    assert item.type == "hologram"
    assert item.extra["hologram"] == {"frames": 24, "caption": "a type Meta may add one day"}


def test_a_user_with_a_username_only_is_keyed_by_bsuid() -> None:
    item = one("username_user")
    assert item.wa_id == "BR.1502576394655843"
    assert item.extra["user_id"] == "BR.1502576394655843"
    assert (item.profile_name, item.text) == ("Carla", "Oi, vocês entregam em Campinas?")


@pytest.mark.parametrize("status", ["sent", "delivered", "read", "played"])
def test_statuses(status: str) -> None:
    item = one(f"status_{status}")
    assert (item.kind, item.status, item.wa_id, item.errors) == ("status", status, PHONE, ())
    assert item.id == CONTEXT["id"]
    assert item.timestamp == 1764211260
    assert item.dedupe_key == f"status:{CONTEXT['id']}:{status}"


def test_sent_status_keeps_conversation_pricing_and_callback_data() -> None:
    item = one("status_sent")
    assert item.extra["biz_opaque_callback_data"] == "outbound:01JDX7K3"
    assert item.extra["pricing"]["category"] == "service"
    assert item.extra["conversation"]["origin"] == {"type": "service"}


def test_failed_status_carries_delivery_errors() -> None:
    item = one("status_failed")
    assert item.errors == (
        DeliveryError(
            code=131047,
            title="Re-engagement message",
            message="Re-engagement message",
            details="Message failed to send because more than 24 hours have passed since the "
            "customer last replied to this number.",
        ),
    )
    assert [e.code for e in one("status_failed_two_errors").errors] == [131026, 131000]


def test_webhook_level_errors_are_not_items() -> None:
    parsed = parse_envelope(Envelope.model_validate(webhook_payload("webhook_errors")))
    assert parsed.items == []
    assert [(e.code, e.error_data.details if e.error_data else "") for e in parsed.errors] == [
        (131052, "Unable to download the media sent by the user.")
    ]


def test_other_fields_are_acknowledged_not_parsed() -> None:
    envelope = Envelope.model_validate(webhook_payload("other_field"))
    assert not isinstance(envelope.entry[0].changes[0], MessagesChange)
    parsed = parse_envelope(envelope)
    assert (parsed.items, parsed.other_changes) == ([], ["message_template_status_update"])


def test_every_entry_change_message_and_status_of_a_batch() -> None:
    """Meta batches: 3 entries x 2 changes x (4 messages + 2 statuses), in order."""
    text = webhook_payload("text")
    status = webhook_payload("status_read")["entry"][0]["changes"][0]["value"]["statuses"][0]
    entries = []
    for e in range(3):
        changes = []
        for c in range(2):
            value = copy.deepcopy(text["entry"][0]["changes"][0]["value"])
            base = value["messages"][0]
            value["messages"] = [
                {**base, "id": f"wamid.batch.{e}.{c}.{m}", "from": f"55119000{e}{c}{m:03d}"}
                for m in range(4)
            ]
            value["contacts"] = [
                {"profile": {"name": f"Cliente {e}{c}{m}"}, "wa_id": f"55119000{e}{c}{m:03d}"}
                for m in range(4)
            ]
            value["statuses"] = [{**status, "id": f"wamid.out.{e}.{c}.{s}"} for s in range(2)]
            changes.append({"field": "messages", "value": value})
        entries.append({"id": f"WABA{e}", "changes": changes})
    items = items_of({"object": "whatsapp_business_account", "entry": entries})
    assert len(items) == 3 * 2 * 6
    messages = [item for item in items if item.kind == "message"]
    assert [item.id for item in messages] == [
        f"wamid.batch.{e}.{c}.{m}" for e in range(3) for c in range(2) for m in range(4)
    ]
    # Each sender gets their own profile name from the change's contacts.
    assert all(item.profile_name == f"Cliente {item.id[-5]}{item.id[-3]}{item.id[-1]}"
               for item in messages)  # fmt: skip
    assert len([item for item in items if item.kind == "status"]) == 12


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    return message


@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param(lambda m: m.pop("id"), id="no id"),
        pytest.param(lambda m: m.update(id=""), id="empty id"),
        pytest.param(lambda m: m.update(id=12345), id="numeric id"),
        pytest.param(lambda m: m.pop("from"), id="no sender"),
        pytest.param(lambda m: m.pop("timestamp"), id="no timestamp"),
        pytest.param(lambda m: m.update(timestamp="yesterday"), id="bad timestamp"),
        pytest.param(lambda m: m.pop("type"), id="no type"),
        pytest.param(lambda m: m.pop("text"), id="text without text"),
        pytest.param(lambda m: m.update(text={"preview": "x"}), id="text without body"),
    ],
)
def test_what_we_depend_on_is_required(break_it: Any) -> None:
    payload = webhook_payload("text")
    break_it(_message(payload))
    with pytest.raises(ValidationError):
        Envelope.model_validate(payload)


@pytest.mark.parametrize(
    ("name", "break_it"),
    [
        ("image", lambda m: m["image"].pop("id")),
        ("interactive_button_reply", lambda m: m["interactive"].pop("button_reply")),
        ("interactive_list_reply", lambda m: m["interactive"]["list_reply"].pop("id")),
        ("button", lambda m: m.pop("button")),
        ("status_read", None),
    ],
)
def test_sub_objects_we_read_are_required(name: str, break_it: Any) -> None:
    payload = webhook_payload(name)
    if break_it is None:  # statuses: the recipient
        payload["entry"][0]["changes"][0]["value"]["statuses"][0].pop("recipient_id")
    else:
        break_it(_message(payload))
    with pytest.raises(ValidationError):
        Envelope.model_validate(payload)


def test_fields_meta_adds_are_accepted() -> None:
    payload = webhook_payload("text")
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["identity_key_hash"] = "DF2lS5v2W6x="
    _message(payload)["brand_new_field"] = {"anything": [1, 2]}
    payload["entry"][0]["time"] = 1764211200
    [item] = items_of(payload)
    assert item.text == "Bom dia! Qual o preço da dipirona 500 mg?"
