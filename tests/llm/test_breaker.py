"""The circuit breaker opens on repeated failures, refuses calls, and probes once when half-open."""

from cienty_llm.breaker import BreakerState, CircuitBreaker


def state_of(breaker: CircuitBreaker) -> BreakerState:
    # A function call, so mypy does not narrow the state across calls that change it.
    return breaker.state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 30.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(1, 30.0, clock=clock, on_change=changes.append)
    breaker.record_failure()
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.2
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its verdict
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_opens_again_for_a_full_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker(5, 30.0, clock=clock)
    for _ in range(5):
        breaker.record_failure()
    clock.now += 31
    assert breaker.allow()
    breaker.record_failure()  # one failure is enough while probing
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 29
    assert not breaker.allow()


def test_released_probe_lets_the_next_caller_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock=clock)
    breaker.record_failure()
    clock.now += 11
    assert breaker.allow()
    breaker.release()  # the probe was cancelled: no verdict
    assert breaker.allow()


def test_open_for_overrides_the_threshold_and_the_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker(5, 30.0, clock=clock)
    breaker.record_failure(open_for=3600)  # e.g. a spend limit
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 3599
    assert not breaker.allow()
    clock.now += 2
    assert breaker.allow()
