"""What does not depend on the model: people, sensitive topics, off-topic, staff ownership."""

from __future__ import annotations

import pytest

from cienty_conversations.domain import intents, replies
from cienty_conversations.domain.conversations import ConversationStatus
from cienty_kit.errors import FailedPrecondition, InvalidArgument
from tests.conversations.conftest import STRANGER_PHONE, Harness
from tests.conversations.scripted import Say, call


@pytest.mark.parametrize(
    "text",
    [
        "quero falar com um atendente",
        "Posso falar com uma pessoa?",
        "me passa pro vendedor por favor",
        "preciso de um humano",
    ],
)
def test_requests_for_a_person(text: str) -> None:
    assert intents.asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "quero fazer uma reclamação",
        "vou no Procon",
        "vocês vendem clonazepam? é tarja preta",
        "como funciona a receita controlada?",
        "precisa de notificação de receita azul?",
    ],
)
def test_sensitive_topics(text: str) -> None:
    assert intents.sensitive_topic(text)


@pytest.mark.parametrize(
    "text",
    [
        "escreve um poema sobre o mar",
        "me conta uma piada",
        "quem ganhou o jogo do Flamengo ontem?",
        "faz um código em python que soma dois números",
        "qual a capital da França?",
        "em quem votar nas eleições?",
        "me dá uma receita de bolo de cenoura",
    ],
)
def test_off_topic_requests(text: str) -> None:
    assert intents.off_topic(text)


@pytest.mark.parametrize(
    "text",
    [
        "quanto está a dipirona?",
        "manda 10 caixas de amoxicilina",
        "cadê meu pedido?",
        "qual o pedido mínimo?",
        "vocês aceitam boleto?",
        "a receita do cliente é simples, posso comprar?",
        "qual a política de devolução de vcs?",
        "qual a politica de entrega",
        "o pedido foi partido em 2 entregas?",
        "vcs tem capital de giro pra farmacia?",
        "qual o horário de atendimento humano?",
        "o presidente da rede quer saber o prazo de entrega",
    ],
)
def test_business_messages_are_none_of_those(text: str) -> None:
    assert not intents.asks_for_person(text)
    assert not intents.sensitive_topic(text)
    assert not intents.off_topic(text)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Sim", intents.Answer.YES),
        ("sim, pode mandar!", intents.Answer.YES),
        ("CONFIRMO", intents.Answer.YES),
        ("não", intents.Answer.NO),
        ("nao quero", intents.Answer.NO),
        ("sim, mas troca para 20", intents.Answer.OTHER),
        ("talvez", intents.Answer.OTHER),
    ],
)
def test_confirmations_are_whole_answers(text: str, answer: intents.Answer) -> None:
    assert intents.yes_or_no(text) is answer


async def test_off_topic_gets_a_redirection_and_never_reaches_the_model(harness: Harness) -> None:
    # A model that would happily write the poem is never asked.
    harness.model.script(Say("O mar azul, ondas a cantar..."))
    result = await harness.service.handle_message(harness.inbound("escreve um poema sobre o mar"))
    assert [m.text for m in result.messages] == [replies.OFF_TOPIC]
    assert harness.model.requests == []


async def test_off_topic_instructions_are_in_the_prompt(harness: Harness) -> None:
    harness.model.script(Say("Posso ajudar com pedidos e produtos da Cienty."))
    await harness.service.handle_message(harness.inbound("o que você acha do novo iPhone?"))
    system = harness.model.requests[0].messages[0].content
    assert "Only help with Cienty's business" in system


async def test_a_request_for_a_person_hands_over_and_the_bot_goes_silent(harness: Harness) -> None:
    result = await harness.service.handle_message(harness.inbound("quero falar com um atendente"))
    assert result.handed_off
    assert [m.text for m in result.messages] == [replies.HANDOVER["customer_request"]]
    silent = await harness.service.handle_message(harness.inbound("alô?"))
    assert silent.handed_off
    assert silent.messages == []
    assert harness.model.requests == []
    conversation = await harness.service.get(result.conversation_id)
    assert conversation.status is ConversationStatus.WAITING_HUMAN
    assert [m.text for m in conversation.messages][-1] == "alô?"  # kept for staff


async def test_a_sensitive_topic_hands_over(harness: Harness) -> None:
    result = await harness.service.handle_message(
        harness.inbound("vocês vendem remédio controlado sem receita?")
    )
    assert result.handed_off
    conversation = await harness.service.get(result.conversation_id)
    assert conversation.handover_reason == "sensitive_topic"


async def test_the_model_can_hand_over(harness: Harness) -> None:
    harness.model.script(call("handover_to_human", reason="cliente quer negociar prazo"))
    result = await harness.service.handle_message(harness.inbound("dá pra pagar em 90 dias?"))
    assert result.handed_off
    assert [m.text for m in result.messages] == [replies.HANDOVER["agent_decision"]]


async def test_repeated_failures_hand_over(harness: Harness) -> None:
    harness.model.script(Say(""), Say(""))
    first = await harness.service.handle_message(harness.inbound("oi"))
    assert [m.text for m in first.messages] == [replies.TRY_AGAIN]
    assert not first.handed_off
    second = await harness.service.handle_message(harness.inbound("oi??"))
    assert second.handed_off
    assert [m.text for m in second.messages] == [replies.HANDOVER["repeated_failures"]]


async def test_staff_takes_over_writes_and_hands_back(harness: Harness) -> None:
    harness.model.script(Say("Olá!"))
    first = await harness.service.handle_message(harness.inbound("oi"))
    conversation_id = first.conversation_id

    taken = await harness.service.take_over(conversation_id, "staff:ana")
    assert taken.status is ConversationStatus.HUMAN
    assert taken.assignee == "staff:ana"
    with pytest.raises(FailedPrecondition, match="staff:ana"):
        await harness.service.take_over(conversation_id, "staff:bruno")
    with pytest.raises(FailedPrecondition, match="TakeOver"):
        await harness.service.send_staff_message(conversation_id, "staff:bruno", "oi", "r1")

    silent = await harness.service.handle_message(harness.inbound("tem alguém aí?"))
    assert silent.messages == []
    assert silent.handed_off

    sent = await harness.service.send_staff_message(
        conversation_id, "staff:ana", "Oi, sou a Ana!", "r1"
    )
    again = await harness.service.send_staff_message(
        conversation_id, "staff:ana", "Oi, sou a Ana!", "r1"
    )
    assert again.id == sent.id
    with pytest.raises(FailedPrecondition, match="request_id"):
        await harness.service.send_staff_message(conversation_id, "staff:ana", "outro texto", "r1")
    outbound = await harness.outbox()
    assert [(e["author"], e["text"]) for e in outbound] == [
        ("agent", "Olá!"),
        ("staff", "Oi, sou a Ana!"),
    ]

    back = await harness.service.return_to_bot(conversation_id)
    assert back.status is ConversationStatus.BOT
    assert back.assignee == ""
    harness.model.script(Say("Em que posso ajudar?"))
    answered = await harness.service.handle_message(harness.inbound("obrigado"))
    assert [m.text for m in answered.messages] == ["Em que posso ajudar?"]


async def test_a_takeover_while_the_model_thinks_suppresses_the_bot_reply(
    harness: Harness,
) -> None:
    service = harness.service

    class TakesOverMidTurn:
        async def complete(self, request):  # type: ignore[no-untyped-def]
            conversation = (await service.list(status=None, requested_page_size=1, page_token=""))[
                0
            ][0]
            await service.take_over(conversation.id, "staff:ana")
            return await harness.model.complete(request)

    harness.model.script(Say("resposta do bot"))
    service.agent.model = TakesOverMidTurn()
    result = await service.handle_message(harness.inbound("oi"))
    assert result.messages == []
    assert result.handed_off
    assert await harness.outbox() == []


async def test_closing_starts_a_new_conversation_next_time(harness: Harness) -> None:
    harness.model.script(Say("Olá!"), Say("Olá de novo!"))
    first = await harness.service.handle_message(harness.inbound("oi"))
    closed = await harness.service.close(first.conversation_id)
    assert closed.status is ConversationStatus.CLOSED
    assert (await harness.service.close(first.conversation_id)).status is ConversationStatus.CLOSED
    with pytest.raises(FailedPrecondition):
        await harness.service.take_over(first.conversation_id, "staff:ana")
    second = await harness.service.handle_message(harness.inbound("oi"))
    assert second.conversation_id != first.conversation_id


async def test_an_unknown_number_gets_public_tools_and_an_invitation(harness: Harness) -> None:
    harness.model.script(
        call("search_knowledge", query="pedido mínimo"), Say("O pedido mínimo é R$ 300,00 [K1].")
    )
    result = await harness.service.handle_message(
        harness.inbound("qual o pedido mínimo?", phone=STRANGER_PHONE)
    )
    assert harness.model.tool_names(0) == {"search_knowledge", "handover_to_human"}
    answer, invitation = result.messages
    assert answer.text.startswith("O pedido mínimo é R$ 300,00.")
    assert "Fonte: Pedido mínimo" in answer.text
    assert invitation.text == replies.INVITE_TO_REGISTER
    assert "not registered" in harness.model.requests[0].messages[0].content


async def test_an_unknown_number_cannot_use_order_tools_even_if_the_model_tries(
    harness: Harness,
) -> None:
    harness.model.script(call("list_my_orders"), Say("Não encontrei pedidos."))
    await harness.service.handle_message(harness.inbound("meus pedidos", phone=STRANGER_PHONE))
    result = harness.model.requests[-1].messages[-1].content
    assert "não está disponível" in result
    assert "orders_of" not in harness.commerce.calls


async def test_staff_ids_and_ids_are_validated(harness: Harness) -> None:
    with pytest.raises(InvalidArgument, match="staff_id"):
        await harness.service.take_over("00000000-0000-0000-0000-000000000000", "ana")
    with pytest.raises(InvalidArgument, match="conversation_id"):
        await harness.service.get("not-a-uuid")
