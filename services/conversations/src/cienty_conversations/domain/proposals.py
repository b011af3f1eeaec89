"""Carts the agent proposes and the customer confirms: orders are placed in two steps."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from cienty_conversations.domain.conversations import Button
from cienty_conversations.domain.money import format_brl

CONFIRM_PREFIX = "confirmar:"
DECLINE_PREFIX = "recusar:"


class ProposalStatus(enum.StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    SUPERSEDED = "superseded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ProposalLine:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    conversation_id: str
    customer_id: str
    lines: tuple[ProposalLine, ...]
    status: ProposalStatus
    created_at: datetime
    expires_at: datetime
    order_id: str = ""

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def request_id(self) -> str:
        """Commerce's idempotency key: however often the customer confirms, one order."""
        return f"conversations-proposal-{self.id}"

    def is_open(self, now: datetime) -> bool:
        return self.status is ProposalStatus.OPEN and now < self.expires_at

    def with_status(self, status: ProposalStatus, *, order_id: str = "") -> Proposal:
        return replace(self, status=status, order_id=order_id or self.order_id)

    def buttons(self) -> tuple[Button, ...]:
        return (
            Button(f"{CONFIRM_PREFIX}{self.id}", "Confirmar"),
            Button(f"{DECLINE_PREFIX}{self.id}", "Cancelar"),
        )

    def summary(self) -> str:
        """The cart in Portuguese, with the prices commerce gave (never the model's)."""
        rows = [
            f"• {line.quantity} x {line.name} — {format_brl(line.unit_price_cents)} cada = "
            f"{format_brl(line.total_cents)}"
            for line in self.lines
        ]
        return (
            "Resumo do pedido:\n"
            + "\n".join(rows)
            + f"\nTotal: {format_brl(self.total_cents)}\n\n"
            + "Posso confirmar o pedido? Toque em *Confirmar* ou responda *sim*."
        )
