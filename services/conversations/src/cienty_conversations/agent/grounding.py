"""Checks that an answer's facts come from tool results, and renders knowledge citations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cienty_conversations.domain.money import amounts_in
from cienty_conversations.ports import KnowledgeHit

MAX_MULTIPLIER = 10_000
_CITATION = re.compile(r"\s?\[K(\d{1,2})\]")


def ungrounded_amounts(text: str, grounded: set[int], unit_prices: Iterable[int]) -> set[int]:
    """Amounts the text states that no tool gave. A whole multiple of a unit price that a tool
    gave ("10 caixas saem por R$ 45,00") counts as grounded."""
    prices = [price for price in unit_prices if price > 0]
    missing = set()
    for amount in amounts_in(text):
        if amount in grounded:
            continue
        if any(amount % price == 0 and amount // price <= MAX_MULTIPLIER for price in prices):
            continue
        missing.add(amount)
    return missing


def render_citations(text: str, hits: Sequence[KnowledgeHit]) -> tuple[str, list[KnowledgeHit]]:
    """Replaces [K1]-style markers with a "Fonte:" line naming the documents; returns the text
    and the hits it cites. Markers that point at no result are dropped."""
    cited: list[KnowledgeHit] = []
    for match in _CITATION.finditer(text):
        index = int(match.group(1)) - 1
        if 0 <= index < len(hits) and hits[index] not in cited:
            cited.append(hits[index])
    clean = _CITATION.sub("", text).strip()
    if not cited:
        return clean, []
    names: list[str] = []
    for hit in cited:
        name = f"{hit.title} — {hit.heading}" if hit.heading else hit.title
        if name not in names:
            names.append(name)
    label = "Fonte" if len(names) == 1 else "Fontes"
    return f"{clean}\n\n📄 {label}: {'; '.join(names)}", cited
