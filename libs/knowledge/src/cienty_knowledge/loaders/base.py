"""What every loader returns, and the error it raises for a bad document."""

from __future__ import annotations

from dataclasses import dataclass


class LoaderError(Exception):
    """This document cannot be loaded; the message says why (it goes into the report)."""


@dataclass(frozen=True)
class Loaded:
    title: str  # "" when the document names none (the file name is used then)
    text: str  # headings as "#" lines; normalised afterwards
