"""Whether the facts an answer states can be traced to what the conversation's tools returned.

Facts are the three kinds a customer acts on and a model can make up:
- amounts: every "R$ ..." (`domain.money.amounts_in`);
- order numbers: "#1A2B3C4D" (with or without "#": eight upper-case hex characters with at
  least one digit and one letter), and full order ids;
- SKUs: tokens matching the fixtures' `sku_pattern`.

An amount is grounded when a tool result holds it (an integer under a `*_cents` key, or an
"R$" amount written in any text, such as a knowledge document), or when it is a unit price
that a tool gave times a quantity the answer itself states ("10 cx saem por R$ 45,00").
An order number or SKU is grounded when a tool result holds it, or the customer wrote it
earlier in the conversation (repeating the customer's own reference is not making one up).
Sums of several results are not derived: an answer that adds two totals is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cienty_conversations.domain.money import amounts_in, format_brl

_UUID = re.compile(
    r"\b([0-9a-fA-F]{8})-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
# "#1a2b3c4d" in any case; without "#", only upper case (and see `_mixed`).
_HASH_ORDER = re.compile(r"#([0-9a-fA-F]{8})(?![0-9A-Za-z])")
_BARE_ORDER = re.compile(r"(?<![0-9A-Za-z#])([0-9A-F]{8})(?![0-9A-Za-z-])")
# What a customer types: lower case and a missing "#" are both common.
_TYPED_ORDER = re.compile(r"(?<![0-9A-Za-z#])([0-9a-fA-F]{8})(?![0-9A-Za-z-])")
_AMOUNT_TEXT = re.compile(r"R\$\s*[\d.\s]+(?:[,.]\d{1,2})?", re.IGNORECASE)
_QUANTITY = re.compile(r"(?<![\d,.])(\d{1,5})(?![\d,])")
MAX_MULTIPLIER = 10_000


@dataclass(frozen=True)
class Known:
    """What the conversation's tools returned (and the customer wrote), as checkable facts."""

    amounts: frozenset[int] = frozenset()
    unit_prices: frozenset[int] = frozenset()
    orders: frozenset[str] = frozenset()  # eight upper-case hex characters
    skus: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AnswerCheck:
    text: str
    facts: tuple[str, ...] = ()
    ungrounded: tuple[str, ...] = ()

    @property
    def has_facts(self) -> bool:
        return bool(self.facts)

    @property
    def grounded(self) -> bool:
        return not self.ungrounded


@dataclass
class Evidence:
    """Grows as a conversation goes on: every tool result and customer text so far."""

    sku_pattern: str
    results: list[Any] = field(default_factory=list)
    customer_texts: list[str] = field(default_factory=list)

    def known(self) -> Known:
        return known_facts(self.results, self.customer_texts, self.sku_pattern)


def _strings_and_cents(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from _strings_and_cents(child, str(child_key))
    elif isinstance(value, list | tuple):
        for child in value:
            yield from _strings_and_cents(child, key)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        yield key, value


def known_facts(results: Iterable[Any], customer_texts: Iterable[str], sku_pattern: str) -> Known:
    sku = re.compile(rf"\b(?:{sku_pattern})\b")
    amounts: set[int] = set()
    unit_prices: set[int] = set()
    orders: set[str] = set()
    skus: set[str] = set()
    for result in results:
        for key, value in _strings_and_cents(result):
            if isinstance(value, int):
                if key.endswith("_cents"):
                    amounts.add(value)
                    if key == "unit_price_cents":
                        unit_prices.add(value)
                continue
            amounts |= amounts_in(value)
            orders |= _order_numbers(value, _BARE_ORDER)
            skus |= set(sku.findall(value))
    for text in customer_texts:
        orders |= _order_numbers(text, _TYPED_ORDER)
        skus |= set(sku.findall(text.upper()))
    return Known(frozenset(amounts), frozenset(unit_prices), frozenset(orders), frozenset(skus))


def _order_numbers(text: str, bare: re.Pattern[str]) -> set[str]:
    """Order numbers in `text`, as the eight upper-case characters customers see."""
    found = {m.upper() for m in _UUID.findall(text)}
    rest = _UUID.sub(" ", text)
    found |= {m.upper() for m in _HASH_ORDER.findall(rest)}
    found |= {m.upper() for m in bare.findall(rest) if _mixed(m)}
    return found


def _mixed(token: str) -> bool:
    """An order number has digits and letters; "20261120" or "ABCDEFAB" is something else."""
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def answer_facts(text: str, sku_pattern: str) -> tuple[set[int], set[str], set[str]]:
    """The amounts (centavos), order numbers and SKUs an answer states."""
    amounts = amounts_in(text)
    orders = _order_numbers(text, _BARE_ORDER)
    skus = set(re.findall(rf"\b(?:{sku_pattern})\b", _UUID.sub(" ", text)))
    return amounts, orders, skus


def check_answer(text: str, known: Known, sku_pattern: str) -> AnswerCheck:
    amounts, orders, skus = answer_facts(text, sku_pattern)
    quantities = [int(q) for q in _QUANTITY.findall(_AMOUNT_TEXT.sub(" ", text))]
    facts: list[str] = []
    ungrounded: list[str] = []
    for amount in sorted(amounts):
        label = format_brl(amount)
        facts.append(label)
        if amount in known.amounts or _derived(amount, known.unit_prices, quantities):
            continue
        ungrounded.append(label)
    for order in sorted(orders):
        facts.append(f"#{order}")
        if order not in known.orders:
            ungrounded.append(f"#{order}")
    for sku in sorted(skus):
        facts.append(sku)
        if sku not in known.skus:
            ungrounded.append(sku)
    return AnswerCheck(text, tuple(facts), tuple(ungrounded))


def _derived(amount: int, unit_prices: Iterable[int], quantities: Sequence[int]) -> bool:
    return any(
        price > 0 and amount == price * quantity
        for price in unit_prices
        for quantity in quantities
        if 0 < quantity <= MAX_MULTIPLIER
    )


def grounding_rate(checks: Iterable[AnswerCheck]) -> tuple[float | None, int]:
    """The share of answers stating facts whose every fact is grounded, and how many answers
    stated facts (None when none did: nothing to measure)."""
    factual = [check for check in checks if check.has_facts]
    if not factual:
        return None, 0
    return sum(check.grounded for check in factual) / len(factual), len(factual)
