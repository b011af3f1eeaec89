"""A task that does one piece of work every so often until it is asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cienty_kit.logging import get_logger


class Periodic(ABC):
    """Runs `tick()` at once, then every `interval_seconds`, until `stop()`. A tick that fails
    because PostgreSQL or the network is away is logged and tried again at the next interval."""

    name = "periodic"

    def __init__(self, *, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._stopping = asyncio.Event()

    @abstractmethod
    async def tick(self) -> Any: ...

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except (SQLAlchemyError, OSError) as error:
                get_logger(__name__).warning(f"{self.name}_failed", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
