"""Following `conversations.events` for the staff inbox (WatchConversationEvents)."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis

from cienty_kit.errors import InvalidArgument

_CURSOR = re.compile(r"^\d{1,20}-\d{1,20}$")


class EventFeed:
    def __init__(self, redis: Redis, stream: str, *, block_ms: int = 5000) -> None:
        self._redis = redis
        self._stream = stream
        self._block_ms = block_ms

    async def follow(
        self, after_cursor: str = ""
    ) -> AsyncGenerator[tuple[str, dict[str, str]], None]:
        """Events after `after_cursor` (or from now on), forever; the caller stops iterating."""
        if after_cursor and not _CURSOR.match(after_cursor):
            raise InvalidArgument("after_cursor", "is not a cursor returned by this API")
        cursor = after_cursor
        if not cursor:
            # "$" would miss what is added between two reads: resolve "now" to an id once.
            latest = await self._redis.xrevrange(self._stream, count=1)
            cursor = _text(latest[0][0]) if latest else "0-0"
        while True:
            response: Any = await self._redis.xread(
                {self._stream: cursor}, count=100, block=self._block_ms
            )
            for _, entries in response or []:
                for entry_id, fields in entries:
                    cursor = _text(entry_id)
                    yield cursor, {_text(k): _text(v) for k, v in fields.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
