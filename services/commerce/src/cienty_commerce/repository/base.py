"""Helpers shared by the repositories."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cienty_kit.errors import AlreadyExists


async def flush_unique(session: AsyncSession, conflict: Callable[[str], AlreadyExists]) -> None:
    """Flushes pending changes; a unique violation becomes `conflict(constraint_name)`.

    The flush runs in a savepoint, so the surrounding transaction stays usable.
    """
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        cause = getattr(error.orig, "__cause__", None)
        raise conflict(getattr(cause, "constraint_name", "") or "") from None


def fields_of(value: Any) -> dict[str, Any]:
    """The fields of a dataclass instance, shallowly, as a dict."""
    return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
