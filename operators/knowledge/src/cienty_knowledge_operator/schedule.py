"""Cron re-syncs: when the next sync of a KnowledgeSource is due."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter  # type: ignore[import-untyped]


def is_valid(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


def next_sync(expression: str, after: datetime) -> datetime:
    """The first cron fire time strictly after `after` (UTC)."""
    fire: datetime = croniter(expression, after.astimezone(UTC)).get_next(datetime)
    return fire.astimezone(UTC)


def is_due(expression: str, last_sync_started: datetime, now: datetime) -> bool:
    """Due once a fire time has passed since the last sync started. Missed fire times (the
    operator was down) collapse into one sync, never a burst."""
    return next_sync(expression, last_sync_started) <= now
