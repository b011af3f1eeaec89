"""Idempotency keys: a `request_id` claimed in the same transaction as the work it guards."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cienty_commerce.repository.tables import IdempotencyKeyRow


@dataclass(frozen=True, slots=True)
class PreviousRequest:
    request_hash: str
    resource_id: str


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, scope: str, request_id: str, request_hash: str, resource_id: str
    ) -> PreviousRequest | None:
        """Claims the key for `resource_id` (about to be created in this transaction), or returns
        the request that already holds it.

        A concurrent transaction holding the same key makes this wait until it commits (then the
        earlier request is returned) or rolls back (then the key is claimed here).
        """
        claimed = await self._session.execute(
            insert(IdempotencyKeyRow)
            .values(
                scope=scope,
                request_id=request_id,
                request_hash=request_hash,
                resource_id=resource_id,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKeyRow.request_id)
        )
        if claimed.first() is not None:
            return None
        row = (
            await self._session.execute(
                select(IdempotencyKeyRow.request_hash, IdempotencyKeyRow.resource_id).where(
                    IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.request_id == request_id
                )
            )
        ).one()
        return PreviousRequest(request_hash=row.request_hash, resource_id=row.resource_id or "")
