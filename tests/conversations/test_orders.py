"""Placing orders in two steps, and what the agent may do with orders at all."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from cienty_conversations.domain import replies
from cienty_conversations.domain.proposals import CONFIRM_PREFIX, DECLINE_PREFIX
from tests.conversations.conftest import (
    CUSTOMER_ID,
    MY_ORDER_ID,
    OTHER_ORDER_ID,
    OTHER_PHONE,
    Harness,
)
from tests.conversations.scripted import Say, call


async def propose(harness: Harness, quantity: int = 10) -> str:
    """The customer asks for dipirona; returns the Confirmar button's id."""
    harness.model.script(
        call("create_order", items=[{"sku": "DIP-500", "quantity": quantity}]),
        Say("Separei o pedido para você confirmar."),
    )
    result = await harness.service.handle_message(
        harness.inbound(f"manda {quantity} caixas de dipirona")
    )
    intro, summary = result.messages
    assert intro.text == "Separei o pedido para você confirmar."
    assert f"{quantity} x Dipirona" in summary.text
    [confirm, decline] = summary.buttons
    assert confirm.title == "Confirmar"
    assert decline.title == "Cancelar"
    assert confirm.id.startswith(CONFIRM_PREFIX)
    assert decline.id.startswith(DECLINE_PREFIX)
    return confirm.id


async def test_an_order_is_placed_only_after_confirmation_and_only_once(harness: Harness) -> None:
    confirm = await propose(harness)
    assert harness.commerce.created_by_request == {}  # proposing orders nothing

    placed = await harness.service.handle_message(harness.inbound("", interactive_reply_id=confirm))
    [order_id] = harness.commerce.created_by_request.values()
    order = harness.commerce.orders[order_id]
    assert order.customer_id == CUSTOMER_ID
    assert [(line.sku, line.quantity) for line in order.lines] == [("DIP-500", 10)]
    assert placed.messages[0].text == replies.order_placed(order_id, 4500)

    # The button tapped again (a new WhatsApp message) and a "sim" afterwards: still one order.
    again = await harness.service.handle_message(harness.inbound("", interactive_reply_id=confirm))
    assert again.messages[0].text == replies.order_already_placed(order_id)
    assert len(harness.commerce.created_by_request) == 1
    assert len(harness.model.requests) == 2  # confirmations never go through the model


async def test_an_unambiguous_yes_confirms_the_open_proposal(harness: Harness) -> None:
    await propose(harness)
    await harness.service.handle_message(harness.inbound("Sim, pode mandar!"))
    assert len(harness.commerce.created_by_request) == 1


async def test_a_yes_with_changes_is_not_a_confirmation(harness: Harness) -> None:
    await propose(harness)
    harness.model.script(Say("Quantas caixas você quer?"))
    await harness.service.handle_message(harness.inbound("sim, mas troca para 20"))
    assert harness.commerce.created_by_request == {}


async def test_declining_closes_the_proposal(harness: Harness) -> None:
    confirm = await propose(harness)
    declined = await harness.service.handle_message(harness.inbound("não"))
    assert declined.messages[0].text == replies.PROPOSAL_DECLINED
    late = await harness.service.handle_message(harness.inbound("", interactive_reply_id=confirm))
    assert late.messages[0].text == replies.PROPOSAL_EXPIRED
    assert harness.commerce.created_by_request == {}


async def test_an_expired_proposal_orders_nothing(harness: Harness) -> None:
    confirm = await propose(harness)
    harness.clock.offset += timedelta(hours=2)
    late = await harness.service.handle_message(harness.inbound("", interactive_reply_id=confirm))
    assert late.messages[0].text == replies.PROPOSAL_EXPIRED
    assert harness.commerce.created_by_request == {}


async def test_a_price_change_since_the_proposal_asks_again(harness: Harness) -> None:
    confirm = await propose(harness)
    product = harness.commerce.products["DIP-500"]
    harness.commerce.products["DIP-500"] = replace(product, unit_price_cents=500)
    changed = await harness.service.handle_message(
        harness.inbound("", interactive_reply_id=confirm)
    )
    notice, summary = changed.messages
    assert notice.text == replies.PRICES_CHANGED
    assert "Total: R$ 50,00" in summary.text
    assert harness.commerce.created_by_request == {}
    # The new proposal is the one that orders; the old button no longer does.
    stale = await harness.service.handle_message(harness.inbound("", interactive_reply_id=confirm))
    assert stale.messages[0].text == replies.PROPOSAL_EXPIRED
    await harness.service.handle_message(
        harness.inbound("", interactive_reply_id=summary.buttons[0].id)
    )
    [order_id] = harness.commerce.created_by_request.values()
    assert harness.commerce.orders[order_id].total_cents == 5000


async def test_a_proposal_beyond_stock_is_refused_by_the_tool(harness: Harness) -> None:
    harness.model.script(
        call("create_order", items=[{"sku": "AMX-500", "quantity": 50}]),
        Say("Só temos 3 caixas de amoxicilina."),
    )
    result = await harness.service.handle_message(harness.inbound("quero 50 amoxicilina"))
    assert [m.buttons for m in result.messages] == [()]
    tool_result = json.loads(harness.model.requests[1].messages[-1].content)
    assert "só há 3 unidades" in tool_result["error"]


async def test_a_confirmation_button_from_another_chat_orders_nothing(harness: Harness) -> None:
    confirm = await propose(harness)
    stolen = await harness.service.handle_message(
        harness.inbound("", phone=OTHER_PHONE, interactive_reply_id=confirm)
    )
    assert stolen.messages[0].text == replies.PROPOSAL_EXPIRED
    assert harness.commerce.created_by_request == {}


async def test_the_model_cannot_reach_another_customers_orders(harness: Harness) -> None:
    """A scripted model that tries every way in: the tools answer "not found" and ignore a
    customer id in the arguments."""
    harness.model.script(
        call("get_order_status", order=OTHER_ORDER_ID),
        call(
            "get_order_status",
            order="#BBBBBBBB",
            customer_id="22222222-2222-2222-2222-222222222222",
        ),
        call("cancel_order", order=OTHER_ORDER_ID, reason="pedido do cliente"),
        call("list_my_orders", customer_id="22222222-2222-2222-2222-222222222222"),
        Say("Não encontrei esse pedido."),
    )
    await harness.service.handle_message(harness.inbound("me mostra o pedido da Farmácia Rival"))
    final = [json.loads(m.content) for m in harness.model.requests[-1].messages if m.role == "tool"]
    assert final[0] == {"error": "pedido não encontrado para este cliente"}
    assert final[1] == {"error": "pedido não encontrado para este cliente"}
    assert final[2] == {"error": "pedido não encontrado para este cliente"}
    assert [o["id"] for o in final[3]["orders"]] == [MY_ORDER_ID]
    assert harness.commerce.orders[OTHER_ORDER_ID].status == "confirmed"  # not cancelled


async def test_own_orders_are_found_by_the_number_customers_see(harness: Harness) -> None:
    harness.model.script(
        call("get_order_status", order="#AAAAAAAA"), Say("Seu pedido foi enviado.")
    )
    await harness.service.handle_message(harness.inbound("cadê o pedido #AAAAAAAA?"))
    result = json.loads(harness.model.requests[-1].messages[-1].content)
    assert result["order"]["id"] == MY_ORDER_ID
    assert result["order"]["status"] == "shipped"


async def test_cancelling_a_shipped_order_is_refused_with_the_reason(harness: Harness) -> None:
    harness.model.script(
        call("cancel_order", order=MY_ORDER_ID),
        Say("Esse pedido já foi enviado e não pode ser cancelado."),
    )
    await harness.service.handle_message(harness.inbound("cancela meu pedido"))
    result = json.loads(harness.model.requests[-1].messages[-1].content)
    assert "não pode mais ser cancelado" in result["error"]
    assert harness.commerce.orders[MY_ORDER_ID].status == "shipped"
