"""Carts proposed to customers, waiting for their confirmation."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from cienty_conversations.domain.proposals import Proposal, ProposalLine, ProposalStatus
from cienty_conversations.repository.tables import ProposalRow
from cienty_kit.database import Session


def _from_row(row: ProposalRow) -> Proposal:
    return Proposal(
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        customer_id=row.customer_id,
        lines=tuple(ProposalLine(**line) for line in row.lines),
        status=ProposalStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        order_id=row.order_id,
    )


class ProposalRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, proposal_id: str, *, for_update: bool = False) -> Proposal | None:
        try:
            key = uuid.UUID(proposal_id)
        except ValueError:
            return None
        query = select(ProposalRow).where(ProposalRow.id == key)
        if for_update:
            query = query.with_for_update()
        row = await self._session.scalar(query)
        return _from_row(row) if row else None

    async def latest_open(self, conversation_id: str) -> Proposal | None:
        row = await self._session.scalar(
            select(ProposalRow)
            .where(
                ProposalRow.conversation_id == uuid.UUID(conversation_id),
                ProposalRow.status == ProposalStatus.OPEN.value,
            )
            .order_by(ProposalRow.created_at.desc())
            .limit(1)
            .with_for_update()
        )
        return _from_row(row) if row else None

    async def add(self, proposal: Proposal) -> None:
        """Stores a new proposal; the conversation's older open ones are superseded."""
        await self._session.execute(
            update(ProposalRow)
            .where(
                ProposalRow.conversation_id == uuid.UUID(proposal.conversation_id),
                ProposalRow.status == ProposalStatus.OPEN.value,
            )
            .values(status=ProposalStatus.SUPERSEDED.value)
        )
        await self._session.execute(
            insert(ProposalRow).values(
                id=uuid.UUID(proposal.id),
                conversation_id=uuid.UUID(proposal.conversation_id),
                customer_id=proposal.customer_id,
                lines=[
                    {
                        "sku": line.sku,
                        "name": line.name,
                        "quantity": line.quantity,
                        "unit_price_cents": line.unit_price_cents,
                    }
                    for line in proposal.lines
                ],
                total_cents=proposal.total_cents,
                status=proposal.status.value,
                created_at=proposal.created_at,
                expires_at=proposal.expires_at,
            )
        )

    async def set_status(
        self, proposal_id: str, status: ProposalStatus, *, order_id: str = ""
    ) -> None:
        values: dict[str, str] = {"status": status.value}
        if order_id:
            values["order_id"] = order_id
        await self._session.execute(
            update(ProposalRow).where(ProposalRow.id == uuid.UUID(proposal_id)).values(**values)
        )
