"""Per-request context (which RPC, which request, who is calling) readable from any layer.

One context variable holds it all, so setting it costs one `ContextVar.set` per call; the log
processor `add_request_context` copies it into log lines only when a line is written.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

DEFAULT_ACTOR = "service"


@dataclass(frozen=True, slots=True)
class RequestContext:
    rpc: str = ""
    request_id: str = ""
    actor: str = DEFAULT_ACTOR


_NO_REQUEST = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("cienty_request", default=_NO_REQUEST)


def current_actor() -> str:
    """The caller's self-declared actor (`x-cienty-actor` metadata), e.g. "staff:ana"."""
    return _current.get().actor


def enter_request(context: RequestContext) -> Token[RequestContext]:
    return _current.set(context)


def leave_request(token: Token[RequestContext]) -> None:
    _current.reset(token)


def add_request_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: adds `rpc`, `request_id` and `actor` inside a request."""
    context = _current.get()
    if context is not _NO_REQUEST:
        event.setdefault("rpc", context.rpc)
        event.setdefault("request_id", context.request_id)
        event.setdefault("actor", context.actor)
    return event
