from collections.abc import Callable

from sqlalchemy import text

from cienty.commerce.v1 import customers_pb2
from tests.commerce.conftest import Commerce
from tests.commerce.test_outbox import place_and_progress


async def _count(commerce: Commerce, table: str) -> int:
    async with commerce.database.transaction() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_sweep_removes_only_what_is_past_retention(
    commerce: Commerce, new_customer: Callable[..., customers_pb2.CreateCustomerRequest]
) -> None:
    await place_and_progress(commerce, new_customer)  # 3 events, 2 idempotency keys
    await commerce.app.relay.relay_once()
    swept = await commerce.app.housekeeper.sweep()
    assert (swept.outbox_events, swept.idempotency_keys) == (0, 0)  # all fresh

    async with commerce.database.transaction() as session:
        await session.execute(
            text(
                "UPDATE outbox_events SET published_at = now() - interval '8 days' "
                "WHERE id IN (SELECT min(id) FROM outbox_events)"
            )
        )
        await session.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '31 days' "
                "WHERE scope = 'order'"
            )
        )
        # An unpublished event is never deleted, however old.
        await session.execute(
            text(
                "INSERT INTO outbox_events (stream, event_type, aggregate_id, payload, created_at) "
                "VALUES ('s', 't', 'a', '{}', now() - interval '30 days')"
            )
        )
    swept = await commerce.app.housekeeper.sweep()
    assert (swept.outbox_events, swept.idempotency_keys) == (1, 1)
    assert await _count(commerce, "outbox_events") == 3
    assert await _count(commerce, "idempotency_keys") == 1
