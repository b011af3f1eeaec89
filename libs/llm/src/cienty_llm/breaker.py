"""A circuit breaker per provider: stop calling a provider that keeps failing, probe it later.

Closed: calls pass; `failure_threshold` consecutive failures open it. Open: calls are refused
until `reset_seconds` pass (or longer, when the provider said how long with `retry-after` or a
spend limit). Half-open: exactly one call, the probe, goes through; its success closes the
breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    # The values are what the `cienty_llm_circuit_breaker_state` gauge exports.
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        reset_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self._threshold = failure_threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._open_until = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, the caller that gets True is the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._set(BreakerState.HALF_OPEN)
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probe_in_flight = False
        self._set(BreakerState.CLOSED)

    def record_failure(self, open_for: float | None = None) -> None:
        """A provider fault; `open_for` opens the breaker at once for at least that long."""
        self._failures += 1
        probing = self._probe_in_flight
        self._probe_in_flight = False
        if probing or open_for is not None or self._failures >= self._threshold:
            self._open_until = self._clock() + max(self._reset_seconds, open_for or 0.0)
            self._set(BreakerState.OPEN)

    def release(self) -> None:
        """The call ended without a verdict on the provider (cancelled, or our bad request)."""
        self._probe_in_flight = False

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
