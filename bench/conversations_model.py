"""The zero-latency model of the conversations benchmark, and the customer messages it reads.

`ZeroLatencyModel` answers in-process and at once, from what the request holds, the way a
tool-calling model would, so that a turn costs the agent exactly what it costs with a real
model minus the model's own time:

- a price question ("Bom dia! Qual o preço de dipirona 500? Tem em estoque?") gets a
  `search_products` call with the product's name, then an answer quoting up to three of the
  products found, each price formatted from the tool result's `unit_price_cents` (so the
  agent's grounding check passes);
- a question about the customer's orders gets `list_my_orders`, then an answer listing them.

Every answer starts with one of `REPLY_PREFIXES`: a turn whose reply does not was replaced by
the agent (a failed or ungrounded turn) and the benchmark counts it as an error.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from cienty_conversations.domain.money import format_brl
from cienty_llm.types import ChatRequest, Completion, Message, ToolCall, Usage

# Names and active ingredients as customers type them; each matches products of the demo
# catalog (cienty_commerce.demo_data).
PRODUCT_QUERIES = (
    "dipirona 500 mg",
    "paracetamol 750",
    "omeprazol 20 mg",
    "amoxicilina 500",
    "losartana 50 mg",
    "ibuprofeno 400",
    "vitamina c",
    "loratadina",
    "metformina 850",
    "sinvastatina 20",
)
ORDER_QUESTIONS = (
    "Oi, como estão os meus últimos pedidos?",
    "Boa tarde! Qual a situação dos meus pedidos?",
    "Meus pedidos já saíram para entrega?",
)
PRODUCTS_PREFIX = "Encontrei no catálogo"
NO_PRODUCTS_PREFIX = "Não encontrei"
ORDERS_PREFIX = "Seus pedidos mais recentes"
NO_ORDERS_PREFIX = "Você ainda não tem pedidos"
FALLBACK_PREFIX = "Posso ajudar"
REPLY_PREFIXES = (
    PRODUCTS_PREFIX,
    NO_PRODUCTS_PREFIX,
    ORDERS_PREFIX,
    NO_ORDERS_PREFIX,
    FALLBACK_PREFIX,
)

_PRICE_QUESTION = re.compile(r"qual o preço de (?P<query>.+?)\?", re.IGNORECASE)
_ids = itertools.count(1)


def price_question(query: str) -> str:
    """A customer's price question about `query`."""
    return f"Bom dia! Qual o preço de {query}? Tem em estoque?"


def orders_question(index: int) -> str:
    return ORDER_QUESTIONS[index % len(ORDER_QUESTIONS)]


class ZeroLatencyModel:
    """A `ChatModel` (cienty_conversations.agent.loop) that answers at once, in-process."""

    def __init__(self, call_prefix: str = "bench") -> None:
        self._call_prefix = call_prefix

    async def complete(self, request: ChatRequest) -> Completion:
        last = request.messages[-1]
        if last.role == "tool":
            return _say(_answer(last.content))
        if last.role == "user" and request.tool_choice != "none":
            match = _PRICE_QUESTION.search(last.content)
            if match is not None:
                return self._call("search_products", {"query": match.group("query")})
            if last.content in ORDER_QUESTIONS:
                return self._call("list_my_orders", {})
        return _say(f"{FALLBACK_PREFIX} com preços, estoque e pedidos. O que você procura?")

    def _call(self, name: str, arguments: dict[str, Any]) -> Completion:
        call = ToolCall(f"call_{self._call_prefix}_{next(_ids)}", name, arguments)
        return Completion(
            message=Message.assistant(tool_calls=[call]),
            finish_reason="tool_calls",
            usage=Usage(1200, 20),
            provider="bench",
            model="zero-latency",
        )


def _say(text: str) -> Completion:
    return Completion(
        message=Message.assistant(text),
        finish_reason="stop",
        usage=Usage(1500, len(text) // 4),
        provider="bench",
        model="zero-latency",
    )


def _answer(tool_result: str) -> str:
    """The reply to the last tool result: the products or orders it lists."""
    try:
        result = json.loads(tool_result)
    except ValueError:
        result = {}
    if not isinstance(result, dict) or "error" in result:
        return f"{FALLBACK_PREFIX} de outra forma? Não consegui consultar agora."
    if "products" in result:
        products = [p for p in result["products"] if isinstance(p, dict)][:3]
        if not products:
            return f"{NO_PRODUCTS_PREFIX} esse produto. Pode me dizer o nome de outro jeito?"
        lines = [
            f"- {p['name']}: {format_brl(int(p['unit_price_cents']))} a unidade"
            + (" (em estoque)" if p.get("in_stock") else " (sem estoque no momento)")
            for p in products
        ]
        return f"{PRODUCTS_PREFIX}:\n" + "\n".join(lines) + "\nQuer que eu prepare um pedido?"
    if "orders" in result:
        orders = [o for o in result["orders"] if isinstance(o, dict)][:3]
        if not orders:
            return f"{NO_ORDERS_PREFIX} conosco. Posso ajudar com um primeiro pedido?"
        lines = [
            f"- #{o['number']} ({o['created_at']}): {o['status_label']}, total "
            f"{format_brl(int(o['total_cents']))}"
            for o in orders
        ]
        return f"{ORDERS_PREFIX}:\n" + "\n".join(lines)
    return f"{FALLBACK_PREFIX} com preços, estoque e pedidos."
