"""Brazilian money in text: formatting centavos, and finding the amounts a text states."""

from __future__ import annotations

import re

# "R$ 1.234,56", "R$4,50", "R$ 45", "r$ 1234.5" (a model may slip into the US format).
_AMOUNT = re.compile(r"R\$\s*(\d{1,3}(?:[.\s]\d{3})+|\d+)(?:[,.](\d{1,2}))?", re.IGNORECASE)


def format_brl(cents: int) -> str:
    """12345 -> "R$ 123,45"; 123456789 -> "R$ 1.234.567,89"."""
    sign = "-" if cents < 0 else ""
    reais, centavos = divmod(abs(cents), 100)
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{centavos:02d}"


def amounts_in(text: str) -> set[int]:
    """Every "R$ ..." amount in `text`, in centavos."""
    found = set()
    for match in _AMOUNT.finditer(text):
        reais = int(re.sub(r"[.\s]", "", match.group(1)))
        fraction = match.group(2) or "0"
        centavos = int(fraction.ljust(2, "0"))
        found.add(reais * 100 + centavos)
    return found
