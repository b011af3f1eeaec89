"""The readiness probe's decisions: when it runs, and what counts as a failure."""

from __future__ import annotations

import asyncio

import pytest

from cienty_models.probe import GenerationProbe, ProbeFailed


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Engine:
    def __init__(self, *, hang: bool = False, error: Exception | None = None) -> None:
        self.calls = 0
        self.hang = hang
        self.error = error

    async def produce(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.hang:
            await asyncio.Event().wait()


async def test_first_check_probes_because_nothing_was_produced_yet() -> None:
    engine = Engine()
    probe = GenerationProbe(idle_s=30, timeout_s=1, clock=FakeClock())
    assert await probe.check(engine.produce) is True
    assert engine.calls == 1


async def test_recent_output_skips_the_probe_so_a_busy_replica_gets_no_extra_load() -> None:
    clock, engine = FakeClock(), Engine()
    probe = GenerationProbe(idle_s=30, timeout_s=1, clock=clock)
    probe.record_output()
    clock.now += 29.9
    assert await probe.check(engine.produce) is False
    assert engine.calls == 0


async def test_idle_replica_is_probed_again_after_idle_s() -> None:
    clock, engine = FakeClock(), Engine()
    probe = GenerationProbe(idle_s=30, timeout_s=1, clock=clock)
    await probe.check(engine.produce)
    clock.now += 10
    assert await probe.check(engine.produce) is False
    clock.now += 20
    assert await probe.check(engine.produce) is True
    assert engine.calls == 2


async def test_a_hanging_engine_fails_within_the_timeout() -> None:
    probe = GenerationProbe(idle_s=0, timeout_s=0.05)
    with pytest.raises(ProbeFailed, match=r"no output within 0\.05 s"):
        await probe.check(Engine(hang=True).produce)


async def test_an_engine_error_fails_the_probe_and_is_not_counted_as_output() -> None:
    clock = FakeClock()
    probe = GenerationProbe(idle_s=30, timeout_s=1, clock=clock)
    with pytest.raises(ProbeFailed, match="EngineDeadError: gone"):
        await probe.check(Engine(error=type("EngineDeadError", (Exception,), {})("gone")).produce)
    assert probe.last_output_at is None
    assert probe.due()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        GenerationProbe(idle_s=1, timeout_s=0)
