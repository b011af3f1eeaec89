"""What the platform itself says to customers (Brazilian Portuguese), outside the model."""

from __future__ import annotations

from cienty_conversations.domain.money import format_brl

HANDOVER = {
    "customer_request": (
        "Claro! Vou chamar uma pessoa da nossa equipe para continuar o atendimento. "
        "Em instantes alguém responde por aqui."
    ),
    "sensitive_topic": (
        "Entendo. Esse assunto precisa da atenção de uma pessoa da nossa equipe, "
        "que vai continuar o atendimento por aqui em instantes."
    ),
    "repeated_failures": (
        "Desculpe, não estou conseguindo resolver isso por aqui. Vou passar a conversa para "
        "uma pessoa da nossa equipe, que responde em instantes."
    ),
    "llm_unavailable": (
        "Desculpe, nosso atendimento automático está instável neste momento. Uma pessoa da "
        "nossa equipe vai continuar a conversa por aqui assim que possível."
    ),
    "agent_decision": (
        "Vou passar a conversa para uma pessoa da nossa equipe, que continua o atendimento "
        "por aqui em instantes."
    ),
}

OFF_TOPIC = (
    "Desculpe, por aqui eu só consigo ajudar com assuntos da Cienty: produtos e preços, "
    "pedidos, entregas, pagamentos e a sua conta. Posso ajudar com algum desses?"
)

INVITE_TO_REGISTER = (
    "Não encontrei um cadastro da Cienty para este número. Para comprar e acompanhar pedidos, "
    "faça o cadastro da sua farmácia com o CNPJ em cienty.com.br/cadastro ou peça aqui para "
    "falar com um atendente."
)

CUSTOMER_BLOCKED = (
    "O cadastro da sua empresa está com pendências e não pode fazer pedidos no momento. "
    "Peça para falar com um atendente para regularizar."
)

TRY_AGAIN = (
    "Desculpe, não consegui processar sua mensagem agora. Pode repetir de outro jeito, por favor?"
)

UNGROUNDED = (
    "Desculpe, não consegui confirmar essa informação no nosso sistema agora. "
    "Pode me dizer o nome do produto ou o número do pedido para eu consultar?"
)

EMPTY_MESSAGE = "Recebi sua mensagem, mas ela veio sem texto. Como posso ajudar?"

PROPOSAL_EXPIRED = (
    "Essa proposta de pedido não está mais válida. Se quiser, me diga de novo os produtos "
    "e as quantidades que eu monto um novo resumo."
)

PROPOSAL_DECLINED = "Tudo bem, não fiz o pedido. Posso ajudar com mais alguma coisa?"

PRICES_CHANGED = "Os preços ou o estoque mudaram desde a proposta. Veja o resumo atualizado:"


def order_placed(order_id: str, total_cents: int) -> str:
    return (
        f"Pedido {short_id(order_id)} confirmado! Total: {format_brl(total_cents)}. "
        "Vou avisando por aqui quando ele for faturado, enviado e entregue."
    )


def order_already_placed(order_id: str) -> str:
    return f"Esse pedido já foi feito: {short_id(order_id)}. Nada foi duplicado."


def order_failed(reason: str) -> str:
    return f"Não consegui fazer o pedido: {reason}. Quer ajustar as quantidades?"


ORDER_UPDATES = {
    "confirmed": "Seu pedido {order} foi confirmado e já está em separação.",
    "invoiced": "Seu pedido {order} foi faturado.",
    "shipped": "Seu pedido {order} saiu para entrega! 🚚",
    "delivered": "Seu pedido {order} foi entregue. Obrigado pela compra!",
    "cancelled": "Seu pedido {order} foi cancelado.",
}


def order_update(status: str, order_id: str, total_cents: int) -> str:
    text = ORDER_UPDATES[status].format(order=short_id(order_id))
    return f"{text} Total: {format_brl(total_cents)}."


def short_id(order_id: str) -> str:
    """What customers see of an order id: its first 8 characters, upper case."""
    return "#" + order_id.replace("-", "")[:8].upper()
