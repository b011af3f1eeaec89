"""The outbound entry format and its payloads: pure rules, no Redis, no API."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cienty_conversations.domain.conversations import Author, Button, Message
from cienty_conversations.service.streams import outbound_entry
from cienty_whatsapp import graph
from cienty_whatsapp.outbound.message import (
    MalformedEntry,
    Template,
    parse_entry,
    recipient_key,
    wa_id_candidates,
)
from cienty_whatsapp.outbound.render import (
    CHOOSE_PROMPT,
    MORE_OPTIONS_PROMPT,
    render_free_form,
    render_template,
    split_text,
)

PHONE = "+5511987654321"


def entry(text: str = "Olá", **changes: str) -> dict[str, str]:
    message = Message(
        id="m-1",
        conversation_id="c-1",
        author=Author.AGENT,
        text=text,
        created_at=datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        buttons=(Button("confirmar:1", "Confirmar"), Button("cancelar:1", "Cancelar")),
    )
    fields = outbound_entry(
        message,
        channel="whatsapp",
        to=PHONE,
        template={"name": "atualizacao_pedido", "language": "pt_BR", "parameters": ["#1", "x"]},
    )
    fields.update(changes)
    return fields


def test_an_entry_written_by_conversations_is_parsed_whole() -> None:
    message = parse_entry(entry())
    assert (message.message_id, message.conversation_id, message.to) == ("m-1", "c-1", PHONE)
    assert message.author == "agent"
    assert message.buttons == (("confirmar:1", "Confirmar"), ("cancelar:1", "Cancelar"))
    assert message.template == Template("atualizacao_pedido", "pt_BR", ("#1", "x"))
    assert message.created_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"message_id": ""}, "no message_id"),
        ({"to": "11 9876"}, "E.164"),
        ({"author": "robot"}, "unknown author"),
        ({"buttons": "[{"}, "not JSON"),
        ({"buttons": '[{"id": "a"}]'}, "lacks"),
        ({"template": '{"name": "x"}'}, "needs a name"),
        ({"text": " ", "buttons": "[]", "template": ""}, "nothing to send"),
    ],
)
def test_a_malformed_entry_says_what_is_wrong(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(MalformedEntry, match=problem):
        parse_entry(entry(**changes))


def test_brazilian_mobiles_with_and_without_the_ninth_digit_are_one_recipient() -> None:
    assert recipient_key("+5511987654321") == recipient_key("551187654321") == "5511987654321"
    assert wa_id_candidates("+5511987654321") == ("5511987654321", "551187654321")
    assert wa_id_candidates("+551132654321") == ("551132654321",)  # a landline
    assert wa_id_candidates("+16505551234") == ("16505551234",)


def test_text_with_up_to_three_buttons_is_one_reply_buttons_message() -> None:
    [part] = render_free_form(parse_entry(entry("Confirma o pedido?"))).parts
    assert part.kind == "buttons"
    assert part.payload["to"] == PHONE
    assert part.payload["biz_opaque_callback_data"] == "m-1"
    interactive = part.payload["interactive"]
    assert interactive["body"] == {"text": "Confirma o pedido?"}
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": "confirmar:1", "title": "Confirmar"},
        {"id": "cancelar:1", "title": "Cancelar"},
    ]


def test_a_body_too_long_for_buttons_goes_first_as_text() -> None:
    text = "Resumo do pedido. " * 80  # ~1440 characters, over the 1024 of a buttons body
    parts = render_free_form(parse_entry(entry(text))).parts
    assert [p.kind for p in parts] == ["text", "buttons"]
    assert parts[0].payload["text"]["body"] == text.strip()
    assert parts[1].payload["interactive"]["body"]["text"] == CHOOSE_PROMPT


def test_more_than_three_options_become_a_list_and_none_is_dropped() -> None:
    options = [{"id": f"produto:{n}", "title": f"Produto {n}"} for n in range(13)]
    rendered = render_free_form(
        parse_entry(entry("Qual produto?", buttons=json.dumps(options), template=""))
    )
    assert [p.kind for p in rendered.parts] == ["list", "list"]
    first, second = (p.payload["interactive"] for p in rendered.parts)
    assert first["body"]["text"] == "Qual produto?"
    assert second["body"]["text"] == MORE_OPTIONS_PROMPT
    rows = [r["id"] for p in (first, second) for r in p["action"]["sections"][0]["rows"]]
    assert rows == [o["id"] for o in options]
    assert len(first["action"]["sections"][0]["rows"]) == graph.MAX_LIST_ROWS
    assert rendered.warnings  # two lists for one question is worth a line in the log


def test_titles_over_the_apis_limit_are_shortened_and_reported() -> None:
    buttons = json.dumps([{"id": "a", "title": "Confirmar pedido agora mesmo"}])
    rendered = render_free_form(parse_entry(entry("Confirma?", buttons=buttons)))
    [part] = rendered.parts
    assert part.payload["interactive"]["action"]["buttons"][0]["reply"]["title"] == (
        "Confirmar pedido ago"
    )
    assert rendered.warnings == ("button title shortened to 20 characters",)


def test_a_long_text_is_split_at_boundaries_never_cut_off() -> None:
    paragraph = "palavra " * 300  # 2400 characters
    text = "\n\n".join([paragraph.strip()] * 3)
    pieces = split_text(text)
    assert pieces == [paragraph.strip()] * 3  # cut between paragraphs
    words = split_text("palavra " * 1000)  # no paragraph, no line: cut between words
    assert all(len(p) <= graph.MAX_TEXT_BODY for p in words)
    assert " ".join(words) == ("palavra " * 1000).strip()
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]
    assert split_text("  ") == []


def test_the_template_carries_its_parameters_in_order() -> None:
    [part] = render_template(parse_entry(entry())).parts
    assert part.kind == "template"
    assert part.payload["template"]["name"] == "atualizacao_pedido"
    assert part.payload["template"]["language"] == {"code": "pt_BR"}
    parameters = part.payload["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["#1", "x"]
    assert part.payload["biz_opaque_callback_data"] == "m-1"
