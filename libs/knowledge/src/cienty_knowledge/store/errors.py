"""Store errors the CLI and the agent turn into a message (and exit 1) instead of a traceback."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the knowledge stores' own errors."""


class UnknownBackend(StoreError, ValueError):
    """`CIENTY_VECTOR_BACKEND` names no store this build knows."""


class StoreUnavailable(StoreError, ConnectionError):
    """The store cannot be reached (database down, Weaviate not answering, bad credentials)."""
