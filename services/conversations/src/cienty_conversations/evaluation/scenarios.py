"""The evaluation suite as data: fixtures (customers, catalog, orders, knowledge) and scenarios
(customer turns, what each must produce, and the scripted model's steps), read from YAML.

A directory of scenarios holds `fixtures.yaml` (optional: the packaged one is used when it is
missing) and any number of `*.yaml` files with a top-level `scenarios:` list. Every mistake in
a file (an unknown key, a tool that does not exist, an unquoted `yes`) is reported with the
file, scenario and turn it is in, before anything runs.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cienty_conversations.agent.tools import CUSTOMER_TOOLS
from cienty_conversations.evaluation.memory import (
    InMemoryCommerce,
    InMemoryKnowledge,
    KnowledgeDocument,
)
from cienty_conversations.ports import CustomerInfo, OrderInfo, OrderLineInfo, ProductInfo

TOOL_NAMES = frozenset(tool.name for tool in CUSTOMER_TOOLS)
FIXTURES_FILE = "fixtures.yaml"
UNKNOWN_SENDER = "desconhecido"
DEFAULT_SKU_PATTERN = r"[A-Z]{2,6}-[A-Z0-9]{2,8}"
STATUSES = frozenset({"pending", "confirmed", "invoiced", "shipped", "delivered", "cancelled"})


class ScenarioError(ValueError):
    """A scenario or fixtures file is wrong; the message says where."""


def packaged_scenarios() -> Path:
    """The suite shipped with the package."""
    return Path(str(resources.files("cienty_conversations.evaluation") / "scenarios"))


# ---------------------------------------------------------------------------- fixtures
@dataclass(frozen=True)
class Fixtures:
    """The known facts every scenario starts from. Each scenario gets its own copy of the
    commerce data, so what one scenario cancels or orders no other sees."""

    customers: Mapping[str, CustomerInfo]  # by key ("central"), as scenarios name them
    products: Mapping[str, ProductInfo]
    orders: Mapping[str, OrderInfo]
    documents: Sequence[KnowledgeDocument]
    sku_pattern: str = DEFAULT_SKU_PATTERN

    def commerce(self) -> InMemoryCommerce:
        return InMemoryCommerce(
            customers={c.id: c for c in self.customers.values()},
            products=dict(self.products),
            orders=dict(self.orders),
        )

    def knowledge(self) -> InMemoryKnowledge:
        return InMemoryKnowledge(list(self.documents))


# ---------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class ScriptStep:
    """One answer of the scripted model: tool calls, or (`calls` empty) a text reply."""

    calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Expectation:
    tools: tuple[str, ...] = ()  # every one must be called in the turn
    tools_any: tuple[str, ...] = ()  # at least one of them must be called
    forbidden_tools: tuple[str, ...] = ()  # none may be called
    reply_contains_any: tuple[str, ...] = ()
    reply_contains_all: tuple[str, ...] = ()
    reply_not_contains: tuple[str, ...] = ()
    handover: bool = False  # not stated: the turn must NOT hand over
    orders_created: int | None = None  # orders placed since the scenario started
    order_status: Mapping[str, str] = field(default_factory=dict)  # order ref -> status
    cites_knowledge: bool | None = None
    proposal: bool | None = None  # the reply carries Confirmar/Cancelar buttons
    model_called: bool | None = None

    @property
    def checks_tools(self) -> bool:
        return bool(self.tools or self.tools_any or self.forbidden_tools)


@dataclass(frozen=True)
class Turn:
    text: str = ""
    button: str = ""  # "confirm" or "decline": taps that button of the last proposal
    expect: Expectation = Expectation()
    script: tuple[ScriptStep, ...] = ()

    @property
    def label(self) -> str:
        return f"[botão {self.button}]" if self.button else self.text


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    sender: str  # a fixtures customer key, or UNKNOWN_SENDER
    turns: tuple[Turn, ...]
    tags: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Suite:
    fixtures: Fixtures
    scenarios: tuple[Scenario, ...]

    def select(self, names: Sequence[str]) -> Suite:
        """Only the scenarios whose name or tag is in `names` (all when empty)."""
        if not names:
            return self
        wanted = set(names)
        chosen = tuple(s for s in self.scenarios if s.name in wanted or wanted & set(s.tags))
        unknown = wanted - {s.name for s in chosen} - {t for s in chosen for t in s.tags}
        if unknown:
            raise ScenarioError(f"no scenario or tag named {', '.join(sorted(unknown))}")
        return Suite(self.fixtures, chosen)


# ------------------------------------------------------------------------------ loading
def load_suite(directory: Path | None = None) -> Suite:
    directory = directory or packaged_scenarios()
    if not directory.is_dir():
        raise ScenarioError(f"{directory} is not a directory")
    fixtures_path = directory / FIXTURES_FILE
    if not fixtures_path.exists():
        fixtures_path = packaged_scenarios() / FIXTURES_FILE
    fixtures = load_fixtures(fixtures_path)
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == FIXTURES_FILE:
            continue
        scenarios.extend(load_scenarios(path, fixtures))
    if not scenarios:
        raise ScenarioError(f"{directory} has no scenario files (*.yaml with `scenarios:`)")
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"scenario names used twice: {', '.join(duplicates)}")
    return Suite(fixtures, tuple(scenarios))


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML: {error}") from None


class _Reader:
    """Typed access to one YAML mapping, with errors that say where."""

    def __init__(self, data: object, where: str, allowed: set[str]) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = set(data) - allowed
        if unknown:
            raise ScenarioError(
                f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        self.data: dict[str, Any] = data
        self.where = where

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            if value is None:
                raise ScenarioError(f"{self.where}: `{key}` is required")
            raise ScenarioError(
                f"{self.where}: `{key}` must be text, got {value!r} (quote it in YAML)"
            )
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ScenarioError(f"{self.where}: `{key}` must be a whole number, got {value!r}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise ScenarioError(f"{self.where}: `{key}` must be true or false, got {value!r}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{self.where}: `{key}` must be a list of texts (quote them)")
        return tuple(value)

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ScenarioError(f"{self.where}: `{key}` must be a list")
        return value


def load_fixtures(path: Path) -> Fixtures:
    top = _Reader(
        _read(path), str(path), {"customers", "products", "orders", "knowledge", "sku_pattern"}
    )
    sku_pattern = top.text("sku_pattern", DEFAULT_SKU_PATTERN)
    try:
        re.compile(sku_pattern)
    except re.error as error:
        raise ScenarioError(f"{path}: sku_pattern is not a regular expression: {error}") from None
    raw_customers = top.data.get("customers") or {}
    if not isinstance(raw_customers, dict):
        raise ScenarioError(f"{path}: `customers` must map keys to customers")
    customers: dict[str, CustomerInfo] = {}
    for key, raw in raw_customers.items():
        where = f"{path}: customer {key}"
        if key == UNKNOWN_SENDER:
            raise ScenarioError(f"{where}: `{UNKNOWN_SENDER}` is reserved for unknown numbers")
        c = _Reader(raw, where, {"id", "trade_name", "legal_name", "phone", "active"})
        active = c.flag("active")
        customers[str(key)] = CustomerInfo(
            id=_uuid(c.text("id"), where),
            trade_name=c.text("trade_name"),
            legal_name=c.text("legal_name", c.text("trade_name")),
            phone=c.text("phone"),
            active=True if active is None else active,
        )
    products: dict[str, ProductInfo] = {}
    for index, raw in enumerate(top.items("products")):
        where = f"{path}: products[{index}]"
        p = _Reader(
            raw,
            where,
            {
                "sku",
                "name",
                "unit_price_cents",
                "stock",
                "active",
                "active_ingredient",
                "manufacturer",
                "description",
            },
        )
        sku = p.text("sku")
        if not re.fullmatch(sku_pattern, sku):
            raise ScenarioError(f"{where}: sku {sku!r} does not match sku_pattern {sku_pattern!r}")
        active = p.flag("active")
        products[sku] = ProductInfo(
            sku=sku,
            name=p.text("name"),
            unit_price_cents=p.integer("unit_price_cents"),
            stock_quantity=p.integer("stock"),
            active=True if active is None else active,
            active_ingredient=p.text("active_ingredient", ""),
            manufacturer=p.text("manufacturer", ""),
            description=p.text("description", ""),
        )
    orders: dict[str, OrderInfo] = {}
    for index, raw in enumerate(top.items("orders")):
        where = f"{path}: orders[{index}]"
        o = _Reader(raw, where, {"id", "customer", "status", "created_at", "lines"})
        owner = o.text("customer")
        if owner not in customers:
            raise ScenarioError(f"{where}: unknown customer {owner!r}")
        status = o.text("status")
        if status not in STATUSES:
            raise ScenarioError(f"{where}: status must be one of {', '.join(sorted(STATUSES))}")
        lines = []
        for line_index, raw_line in enumerate(o.items("lines")):
            line_where = f"{where}.lines[{line_index}]"
            line = _Reader(raw_line, line_where, {"sku", "quantity"})
            product = products.get(line.text("sku"))
            if product is None:
                raise ScenarioError(f"{line_where}: unknown sku {line.text('sku')!r}")
            quantity = line.integer("quantity")
            lines.append(
                OrderLineInfo(
                    product.sku,
                    product.name,
                    quantity,
                    product.unit_price_cents,
                    quantity * product.unit_price_cents,
                )
            )
        if not lines:
            raise ScenarioError(f"{where}: an order needs lines")
        order_id = _uuid(o.text("id"), where)
        orders[order_id] = OrderInfo(
            id=order_id,
            customer_id=customers[owner].id,
            status=status,
            lines=tuple(lines),
            total_cents=sum(line.line_total_cents for line in lines),
            created_at=_timestamp(o.data.get("created_at"), where),
        )
    documents = []
    for index, raw in enumerate(top.items("knowledge")):
        k = _Reader(raw, f"{path}: knowledge[{index}]", {"title", "heading", "text"})
        documents.append(KnowledgeDocument(k.text("title"), k.text("text"), k.text("heading", "")))
    return Fixtures(customers, products, orders, tuple(documents), sku_pattern)


def load_scenarios(path: Path, fixtures: Fixtures) -> list[Scenario]:
    top = _Reader(_read(path), str(path), {"scenarios"})
    scenarios = []
    for index, raw in enumerate(top.items("scenarios")):
        scenarios.append(_scenario(raw, f"{path}: scenarios[{index}]", fixtures, path.name))
    return scenarios


def _scenario(raw: object, where: str, fixtures: Fixtures, source: str) -> Scenario:
    s = _Reader(raw, where, {"name", "description", "sender", "tags", "turns"})
    name = s.text("name")
    where = f"{where} ({name})"
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ScenarioError(f"{where}: a name is lower-case letters, digits and _")
    sender = s.text("sender")
    if sender != UNKNOWN_SENDER and sender not in fixtures.customers:
        known = ", ".join([*fixtures.customers, UNKNOWN_SENDER])
        raise ScenarioError(f"{where}: sender {sender!r} is not one of {known}")
    raw_turns = s.items("turns")
    if not raw_turns:
        raise ScenarioError(f"{where}: a scenario needs turns")
    turns = tuple(_turn(t, f"{where}, turn {i + 1}") for i, t in enumerate(raw_turns))
    return Scenario(
        name=name,
        description=s.text("description", ""),
        sender=sender,
        turns=turns,
        tags=s.texts("tags"),
        source=source,
    )


def _turn(raw: object, where: str) -> Turn:
    t = _Reader(raw, where, {"customer", "button", "expect", "script"})
    if t.has("customer") == t.has("button"):
        raise ScenarioError(f"{where}: a turn has either `customer: text` or `button:`")
    button = ""
    text = ""
    if t.has("button"):
        button = t.text("button")
        if button not in {"confirm", "decline"}:
            raise ScenarioError(f"{where}: button must be confirm or decline")
    else:
        text = t.text("customer")
        if not text.strip():
            raise ScenarioError(f"{where}: the customer text is empty")
    expect = _expectation(t.data.get("expect") or {}, f"{where}, expect")
    script = tuple(_step(step, f"{where}, script[{i}]") for i, step in enumerate(t.items("script")))
    if button and script:
        raise ScenarioError(f"{where}: button taps never reach the model: remove `script`")
    if script and script[-1].calls and "handover_to_human" not in dict(script[-1].calls):
        # The agent stops right after handing over; otherwise a text answer ends the turn.
        raise ScenarioError(f"{where}: a script ends with `say:` (the answer after the tools)")
    return Turn(text=text, button=button, expect=expect, script=script)


_EXPECT_KEYS = {
    "tools",
    "tools_any",
    "forbidden_tools",
    "reply_contains_any",
    "reply_contains_all",
    "reply_not_contains",
    "handover",
    "orders_created",
    "order_status",
    "cites_knowledge",
    "proposal",
    "model_called",
}


def _expectation(raw: object, where: str) -> Expectation:
    e = _Reader(raw, where, _EXPECT_KEYS)
    forbidden = e.data.get("forbidden_tools")
    forbidden_tools = (
        tuple(sorted(TOOL_NAMES)) if forbidden == "all" else e.texts("forbidden_tools")
    )
    for key, names in (
        ("tools", e.texts("tools")),
        ("tools_any", e.texts("tools_any")),
        ("forbidden_tools", forbidden_tools),
    ):
        unknown = set(names) - TOOL_NAMES
        if unknown:
            raise ScenarioError(f"{where}: `{key}` names unknown tool(s) {sorted(unknown)}")
    raw_status = e.data.get("order_status") or {}
    if not isinstance(raw_status, dict) or not all(
        isinstance(k, str) and v in STATUSES for k, v in raw_status.items()
    ):
        raise ScenarioError(f"{where}: `order_status` maps order numbers to a status")
    handover = e.flag("handover")
    return Expectation(
        tools=e.texts("tools"),
        tools_any=e.texts("tools_any"),
        forbidden_tools=forbidden_tools,
        reply_contains_any=e.texts("reply_contains_any"),
        reply_contains_all=e.texts("reply_contains_all"),
        reply_not_contains=e.texts("reply_not_contains"),
        handover=bool(handover),
        orders_created=e.integer("orders_created") if e.has("orders_created") else None,
        order_status=dict(raw_status),
        cites_knowledge=e.flag("cites_knowledge"),
        proposal=e.flag("proposal"),
        model_called=e.flag("model_called"),
    )


def _step(raw: object, where: str) -> ScriptStep:
    s = _Reader(raw, where, {"call", "args", "calls", "say"})
    kinds = [key for key in ("call", "calls", "say") if s.has(key)]
    if len(kinds) != 1:
        raise ScenarioError(f"{where}: a step is one of `call:` (+ `args:`), `calls:` or `say:`")
    if s.has("say"):
        if s.has("args"):
            raise ScenarioError(f"{where}: `args` goes with `call`")
        return ScriptStep(text=s.text("say"))
    if s.has("call"):
        calls = [{"name": s.data["call"], "args": s.data.get("args") or {}}]
    else:
        calls = s.items("calls")
    parsed: list[tuple[str, Mapping[str, Any]]] = []
    for index, raw_call in enumerate(calls):
        c = _Reader(raw_call, f"{where}, call {index}", {"name", "args"})
        name = c.text("name")
        if name not in TOOL_NAMES:
            raise ScenarioError(f"{where}: unknown tool {name!r}")
        args = c.data.get("args") or {}
        if not isinstance(args, dict):
            raise ScenarioError(f"{where}: `args` must be a mapping")
        parsed.append((name, copy.deepcopy(args)))
    if not parsed:
        raise ScenarioError(f"{where}: `calls` is empty")
    return ScriptStep(calls=tuple(parsed))


def _uuid(value: str, where: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is not a UUID") from None


def _timestamp(value: object, where: str) -> datetime:
    if value is None:
        return datetime(2026, 1, 1, tzinfo=UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ScenarioError(f"{where}: created_at {value!r} is not ISO 8601") from None
    if not isinstance(value, datetime):
        raise ScenarioError(f"{where}: created_at must be a timestamp")
    return value if value.tzinfo else value.replace(tzinfo=UTC)
