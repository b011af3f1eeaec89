"""Per-request context (who is calling, which request) readable from any layer."""

from __future__ import annotations

from contextvars import ContextVar

DEFAULT_ACTOR = "service"

_actor: ContextVar[str] = ContextVar("cienty_actor", default=DEFAULT_ACTOR)


def current_actor() -> str:
    """The caller's self-declared actor (`x-cienty-actor` metadata), e.g. "staff:ana"."""
    return _actor.get()


def set_actor(actor: str) -> object:
    return _actor.set(actor)


def reset_actor(token: object) -> None:
    _actor.reset(token)  # type: ignore[arg-type]
