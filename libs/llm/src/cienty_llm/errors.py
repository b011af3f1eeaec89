"""The client's typed errors: the caller tells "no model answered" from "the request is wrong"."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class FailureReason(StrEnum):
    CONNECT = "connect_error"
    TIMEOUT = "timeout"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SPEND_LIMIT = "spend_limit"
    AUTH = "auth_error"
    STREAM_BROKEN = "stream_broken"
    BREAKER_OPEN = "breaker_open"
    BAD_REQUEST = "bad_request"


# Worth another try on the same provider after a short wait.
RETRYABLE = frozenset(
    {FailureReason.CONNECT, FailureReason.SERVER_ERROR, FailureReason.RATE_LIMITED,
     FailureReason.OVERLOADED}
)  # fmt: skip
# The provider cannot answer: try the next one. A bad request is our fault and goes nowhere.
FAILOVER = frozenset(FailureReason) - {FailureReason.BAD_REQUEST}


class LLMError(Exception):
    """Base class of every error the LLM client raises."""


class ProviderFailure(LLMError):
    """One provider failed one attempt."""

    def __init__(
        self,
        provider: str,
        reason: FailureReason,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {reason.value}: {detail}")
        self.provider = provider
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE

    @property
    def fails_over(self) -> bool:
        return self.reason in FAILOVER


class LLMRequestError(LLMError):
    """The provider rejected the request itself (HTTP 400/404/413/422): retrying cannot help."""

    def __init__(self, failure: ProviderFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class LLMUnavailable(LLMError):
    """Every configured provider failed; the conversation should go to a person."""

    def __init__(self, failures: Sequence[ProviderFailure]) -> None:
        summary = "; ".join(str(failure) for failure in failures) or "no provider configured"
        super().__init__(f"no LLM provider answered: {summary}")
        self.failures = tuple(failures)


class StreamInterrupted(LLMError):
    """A stream failed after text had reached the caller.

    The client never continues such a stream on another provider: the caller discards the
    partial answer and asks again (the breaker has recorded the failure).
    """

    def __init__(self, delivered_text: str, cause: ProviderFailure) -> None:
        super().__init__(f"stream interrupted after {len(delivered_text)} characters: {cause}")
        self.delivered_text = delivered_text
        self.cause = cause


class InvalidModelOutput(LLMError):
    """A structured answer (`response_schema`) did not validate against its schema."""
