"""Runs the scenario suite through the real conversations service and records what happened.

Each customer turn goes through `ConversationService.handle_message` exactly as a WhatsApp
message would (rules, agent loop, tools, proposals, handover, PostgreSQL), with commerce and
the knowledge base in memory so that every fact is known. What a turn is graded on is read
back from what the service stored (the conversation's tool calls and status) and from the
commerce state, never from the model's own account of what it did.

Scenarios run one after another, each on a fresh phone number (so a fresh conversation) and
its own copy of the commerce fixtures; the outbound messages and events they produce go to
evaluation-only stream names and are deleted when the scenario ends, so running against a
shared database sends nothing to anybody.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import text as sql

from cienty_conversations.agent.loop import ChatModel
from cienty_conversations.domain.conversations import (
    Button,
    Channel,
    ConversationStatus,
    Inbound,
)
from cienty_conversations.domain.proposals import CONFIRM_PREFIX, DECLINE_PREFIX
from cienty_conversations.domain.replies import short_id
from cienty_conversations.evaluation.grounding import AnswerCheck, Evidence, check_answer
from cienty_conversations.evaluation.memory import InMemoryCommerce
from cienty_conversations.evaluation.scenarios import (
    UNKNOWN_SENDER,
    Expectation,
    Scenario,
    ScriptStep,
    Suite,
    Turn,
)
from cienty_conversations.ports import CustomerInfo, OrderInfo, ProductInfo
from cienty_conversations.server import ConversationsApp, conversations_app
from cienty_conversations.settings import ConversationsSettings
from cienty_kit.errors import InvalidArgument
from cienty_kit.logging import get_logger
from cienty_kit.phones import normalize_phone
from cienty_llm.types import ChatRequest, Completion

log = get_logger(__name__)

# Outbound messages and events of evaluation conversations: no gateway reads these.
OUTBOUND_STREAM = "conversations.evaluation.outbound"
EVENTS_STREAM = "conversations.evaluation.events"
WITH_A_PERSON = {ConversationStatus.WAITING_HUMAN, ConversationStatus.HUMAN}


class Scripter(Protocol):
    """Feeds a scripted model (a fake OpenAI server) the steps of each turn. Only used when
    the suite runs against a scripted model; a real model ignores the scripts."""

    def before_turn(self, steps: Sequence[ScriptStep]) -> None: ...

    def after_turn(self) -> str:
        """A problem with the script ("2 steps were not used"), or ""."""
        ...


@dataclass
class CountingModel:
    """The model, counted: calls, time and tokens, read per turn by the runner."""

    inner: ChatModel
    calls: int = 0
    seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    async def complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        try:
            completion = await self.inner.complete(request)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started
        self.input_tokens += completion.usage.input_tokens
        self.output_tokens += completion.usage.output_tokens
        return completion


@dataclass
class SwitchableCommerce:
    """The service is wired once; each scenario swaps in its own copy of the fixtures."""

    current: InMemoryCommerce = field(default_factory=InMemoryCommerce)

    async def customer_by_phone(self, phone: str) -> CustomerInfo | None:
        return await self.current.customer_by_phone(phone)

    async def customer(self, customer_id: str) -> CustomerInfo | None:
        return await self.current.customer(customer_id)

    async def search_products(self, query: str, *, limit: int) -> list[ProductInfo]:
        return await self.current.search_products(query, limit=limit)

    async def product(self, sku: str) -> ProductInfo | None:
        return await self.current.product(sku)

    async def orders_of(self, customer_id: str, *, limit: int) -> list[OrderInfo]:
        return await self.current.orders_of(customer_id, limit=limit)

    async def order(self, order_id: str) -> OrderInfo | None:
        return await self.current.order(order_id)

    async def create_order(
        self, *, request_id: str, customer_id: str, lines: Sequence[tuple[str, int]]
    ) -> OrderInfo:
        return await self.current.create_order(
            request_id=request_id, customer_id=customer_id, lines=lines
        )

    async def cancel_order(self, order_id: str, *, reason: str) -> OrderInfo:
        return await self.current.cancel_order(order_id, reason=reason)


# ------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Failure:
    turn: int  # 1-based; 0: the scenario as a whole
    check: str
    detail: str

    def describe(self) -> str:
        where = f"turn {self.turn}" if self.turn else "scenario"
        return f"{where}: {self.check}: {self.detail}"


@dataclass(frozen=True)
class ToolCallSeen:
    name: str
    arguments: Mapping[str, Any]
    result: Any
    is_error: bool


@dataclass
class TurnRecord:
    index: int
    customer: str
    replies: list[str] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)
    tool_calls: list[ToolCallSeen] = field(default_factory=list)
    model_calls: int = 0
    model_seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    bot_in_charge: bool = True  # the bot owned the conversation when the message came
    handover_expected: bool = False
    handed_over: bool = False  # this turn passed the conversation to a person
    handover_reason: str = ""  # why, when it did (llm_unavailable: the model never answered)
    tools_checked: bool = False
    tools_ok: bool = True
    answers: list[AnswerCheck] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass
class ScenarioResult:
    name: str
    description: str
    tags: tuple[str, ...]
    sender: str
    conversation_id: str = ""
    turns: list[TurnRecord] = field(default_factory=list)
    scenario_failures: list[Failure] = field(default_factory=list)
    isolation_violations: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Failure]:
        return [f for turn in self.turns for f in turn.failures] + self.scenario_failures

    @property
    def resolved(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class RunInfo:
    model: str
    llm_url: str
    scenarios_dir: str
    started_at: datetime
    seconds: float


@dataclass(frozen=True)
class RunOptions:
    database_url: str
    llm_url: str = ""
    model: str = ""
    scenarios_dir: str = ""
    # The whole agent turn (every model call and tool in it); the per-call LLM timeouts are
    # set to it too, since the evaluation measures one model without a fallback.
    turn_timeout_seconds: float = 120.0


# ------------------------------------------------------------------------------- running
def build_model(options: RunOptions) -> tuple[ChatModel, Callable[[], Any]]:
    """The LLM client for `options.llm_url`/`options.model` alone: no fallback, so what is
    measured is that one model. Returns it and its async close."""
    from cienty_llm.factory import build_llm_client
    from cienty_llm.settings import LLMSettings

    timeout = options.turn_timeout_seconds
    settings = LLMSettings(
        primary_url=openai_base_url(options.llm_url),
        primary_model=options.model,
        fallback_model=None,
        first_token_timeout_seconds=timeout,
        total_timeout_seconds=timeout,
    )
    client = build_llm_client(settings)
    return client, client.aclose


def openai_base_url(url: str) -> str:
    """`http://host:8000` and `http://host:8000/v1` both mean the OpenAI API at /v1."""
    url = url.rstrip("/")
    if re.fullmatch(r"https?://[^/]+", url):
        return url + "/v1"
    return url


async def run_suite(
    suite: Suite,
    options: RunOptions,
    *,
    model: ChatModel | None = None,
    scripter: Scripter | None = None,
    progress: Callable[[ScenarioResult], None] | None = None,
) -> tuple[RunInfo, list[ScenarioResult]]:
    """Every scenario of `suite`, in order, through one conversations service. `model`
    replaces the LLM client built from the options (tests); `scripter` feeds a scripted
    model each turn's steps."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    close_model: Callable[[], Any] | None = None
    if model is None:
        model, close_model = build_model(options)
    counting = CountingModel(model)
    commerce = SwitchableCommerce()
    settings = ConversationsSettings(
        database_url=options.database_url,
        database_pool_size=2,
        knowledge_database_url="",
        grpc_port=0,
        metrics_port=0,
        outbound_stream=OUTBOUND_STREAM,
        events_stream=EVENTS_STREAM,
        notifications_enabled=False,
        agent_turn_timeout_seconds=options.turn_timeout_seconds,
    )
    results: list[ScenarioResult] = []
    try:
        async with conversations_app(
            settings,
            model=counting,
            commerce=commerce,
            knowledge=suite.fixtures.knowledge(),
            use_knowledge_settings=False,
            run_background=False,
        ) as app:
            run_id = uuid.uuid4().hex[:12]
            for scenario in suite.scenarios:
                runner = _ScenarioRun(app, suite, scenario, commerce, counting, scripter, run_id)
                result = await runner.run()
                results.append(result)
                if progress is not None:
                    progress(result)
    finally:
        if close_model is not None:
            await close_model()
    info = RunInfo(
        model=options.model,
        llm_url=options.llm_url,
        scenarios_dir=options.scenarios_dir,
        started_at=started_at,
        seconds=time.perf_counter() - started,
    )
    return info, results


def fresh_phone(taken: set[str]) -> str:
    """A valid Brazilian mobile number nobody in the fixtures has."""
    while True:
        candidate = f"+55119{secrets.randbelow(10**8):08d}"
        try:
            phone = normalize_phone(candidate)
        except InvalidArgument:
            continue
        if phone not in taken:
            return phone


class _ScenarioRun:
    def __init__(
        self,
        app: ConversationsApp,
        suite: Suite,
        scenario: Scenario,
        commerce: SwitchableCommerce,
        model: CountingModel,
        scripter: Scripter | None,
        run_id: str,
    ) -> None:
        self.app = app
        self.fixtures = suite.fixtures
        self.scenario = scenario
        self.model = model
        self.scripter = scripter
        self.run_id = run_id
        self.memory = self.fixtures.commerce()
        commerce.current = self.memory
        self.phone = fresh_phone({c.phone for c in self.fixtures.customers.values()})
        self.customer: CustomerInfo | None = None
        if scenario.sender != UNKNOWN_SENDER:
            self.customer = replace(self.fixtures.customers[scenario.sender], phone=self.phone)
            self.memory.customers[self.customer.id] = self.customer
        self.evidence = Evidence(self.fixtures.sku_pattern)
        self.result = ScenarioResult(
            scenario.name, scenario.description, scenario.tags, scenario.sender
        )
        self.status = ConversationStatus.BOT
        self.tool_calls_seen = 0
        self.buttons: tuple[Button, ...] = ()

    async def run(self) -> ScenarioResult:
        try:
            for index, turn in enumerate(self.scenario.turns, start=1):
                record = TurnRecord(index, turn.label)
                self.result.turns.append(record)
                try:
                    await self._turn(turn, record)
                except Exception as error:  # recorded, and the suite goes on
                    log.exception("evaluation_turn_error", scenario=self.scenario.name)
                    record.failures.append(
                        Failure(index, "error", f"{type(error).__name__}: {error}")
                    )
                    break
            self.result.isolation_violations = self._isolation()
            for violation in self.result.isolation_violations:
                self.result.scenario_failures.append(Failure(0, "isolation", violation))
        finally:
            await self._clean_up()
        return self.result

    async def _turn(self, turn: Turn, record: TurnRecord) -> None:
        inbound = self._inbound(turn, record)
        if inbound is None:
            return
        if self.scripter is not None:
            self.scripter.before_turn(turn.script)
        calls, seconds = self.model.calls, self.model.seconds
        tokens_in, tokens_out = self.model.input_tokens, self.model.output_tokens
        started = time.perf_counter()
        handled = await self.app.service.handle_message(inbound)
        record.seconds = time.perf_counter() - started
        record.model_calls = self.model.calls - calls
        record.model_seconds = self.model.seconds - seconds
        record.input_tokens = self.model.input_tokens - tokens_in
        record.output_tokens = self.model.output_tokens - tokens_out
        if self.scripter is not None:
            problem = self.scripter.after_turn()
            if problem:
                record.failures.append(Failure(record.index, "script", problem))

        self.result.conversation_id = handled.conversation_id
        conversation = await self.app.service.get(handled.conversation_id, include_tool_calls=True)
        new_calls = conversation.tool_calls[self.tool_calls_seen :]
        self.tool_calls_seen = len(conversation.tool_calls)
        record.tool_calls = [
            ToolCallSeen(c.name, c.arguments, c.result, c.is_error) for c in new_calls
        ]
        record.replies = [message.text for message in handled.messages]
        record.buttons = [b.id for m in handled.messages for b in m.buttons]
        for message in handled.messages:
            if any(b.id.startswith(CONFIRM_PREFIX) for b in message.buttons):
                self.buttons = message.buttons
        record.bot_in_charge = self.status is ConversationStatus.BOT
        record.handed_over = record.bot_in_charge and conversation.status in WITH_A_PERSON
        if record.handed_over:
            record.handover_reason = conversation.handover_reason
        record.handover_expected = turn.expect.handover
        self.status = conversation.status

        self.evidence.results.extend(call.result for call in record.tool_calls)
        self.evidence.results.extend(_order_record(order) for order in self._placed_orders())
        known = self.evidence.known()
        record.answers = [
            check_answer(text, known, self.fixtures.sku_pattern) for text in record.replies
        ]
        record.failures.extend(self._check(turn.expect, record))

    def _inbound(self, turn: Turn, record: TurnRecord) -> Inbound | None:
        external_id = f"eval-{self.run_id}-{self.scenario.name}-{record.index}"[:256]
        if not turn.button:
            self.evidence.customer_texts.append(turn.text)
            return Inbound(Channel.WHATSAPP, external_id, self.phone, turn.text)
        prefix = CONFIRM_PREFIX if turn.button == "confirm" else DECLINE_PREFIX
        button = next((b for b in self.buttons if b.id.startswith(prefix)), None)
        if button is None:
            record.failures.append(
                Failure(record.index, "button", "no proposal with buttons to tap was sent before")
            )
            return None
        return Inbound(
            Channel.WHATSAPP,
            external_id,
            self.phone,
            button.title,
            interactive_reply_id=button.id,
        )

    def _placed_orders(self) -> list[OrderInfo]:
        return [o for i, o in self.memory.orders.items() if i not in self.fixtures.orders]

    def _check(self, expect: Expectation, record: TurnRecord) -> list[Failure]:
        failures: list[Failure] = []

        def fail(check: str, detail: str) -> None:
            failures.append(Failure(record.index, check, detail))

        called = [call.name for call in record.tool_calls]
        if expect.checks_tools:
            record.tools_checked = True
            missing = [name for name in expect.tools if name not in called]
            if missing:
                fail("tools", f"not called {missing} (called {called})")
            if expect.tools_any and not set(expect.tools_any) & set(called):
                fail("tools_any", f"none of {list(expect.tools_any)} (called {called})")
            forbidden = sorted(set(expect.forbidden_tools) & set(called))
            if forbidden:
                fail("forbidden_tools", f"called {forbidden}")
            record.tools_ok = not failures
        reply = fold("\n".join(record.replies))
        if expect.reply_contains_any and not any(
            fold(option) in reply for option in expect.reply_contains_any
        ):
            fail("reply_contains_any", f"none of {list(expect.reply_contains_any)}")
        absent = [part for part in expect.reply_contains_all if fold(part) not in reply]
        if absent:
            fail("reply_contains_all", f"missing {absent}")
        present = [part for part in expect.reply_not_contains if fold(part) in reply]
        if present:
            fail("reply_not_contains", f"found {present}")
        with_a_person = record.handed_over or not record.bot_in_charge
        if expect.handover and not with_a_person:
            fail("handover", "expected the conversation to go to a person")
        elif not expect.handover and record.handed_over:
            fail(
                "handover",
                f"handed over to a person ({record.handover_reason}), which was not expected",
            )
        elif not expect.handover and with_a_person:
            fail("handover", "the conversation was already with a person")
        if expect.orders_created is not None:
            placed = len(self._placed_orders())
            if placed != expect.orders_created:
                fail("orders_created", f"{placed}, expected {expect.orders_created}")
        for reference, status in expect.order_status.items():
            order = _find_order(self.memory, reference)
            actual = order.status if order else "not found"
            if actual != status:
                fail("order_status", f"{reference} is {actual}, expected {status}")
        if expect.cites_knowledge is not None:
            cites = any(_CITATION.search(text) for text in record.replies)
            if cites and not expect.cites_knowledge:
                fail("cites_knowledge", "cited a source")
            elif not cites and expect.cites_knowledge:
                fail("cites_knowledge", "no source cited")
        if expect.proposal is not None:
            proposed = any(b.startswith(CONFIRM_PREFIX) for b in record.buttons)
            if proposed and not expect.proposal:
                fail("proposal", "proposed an order")
            elif not proposed and expect.proposal:
                fail("proposal", "no order summary with Confirmar/Cancelar buttons")
        if expect.model_called is not None and (record.model_calls > 0) != expect.model_called:
            wanted = "some" if expect.model_called else "none (a rule answers this)"
            fail("model_called", f"{record.model_calls} model calls, expected {wanted}")
        return failures

    def _isolation(self) -> list[str]:
        """Tool results that carried another customer's order (authorization is the tools'
        job: a model that never sees other customers' data cannot leak it)."""
        own = self.customer.id if self.customer else None
        foreign = [o for o in self.fixtures.orders.values() if o.customer_id != own]
        violations = []
        for turn in self.result.turns:
            for call in turn.tool_calls:
                blob = fold(str(call.result))
                for order in foreign:
                    if order.id in blob or fold(short_id(order.id)) in blob:
                        violations.append(
                            f"turn {turn.index}: {call.name} returned order "
                            f"{short_id(order.id)} of another customer"
                        )
        return violations

    async def _clean_up(self) -> None:
        conversation_id = self.result.conversation_id
        if not conversation_id:
            return
        try:
            await self.app.service.close(conversation_id)
            async with self.app.database.transaction() as session:
                await session.execute(
                    sql(
                        "DELETE FROM outbox WHERE stream IN (:outbound, :events) "
                        "AND fields->>'conversation_id' = :id"
                    ),
                    {"outbound": OUTBOUND_STREAM, "events": EVENTS_STREAM, "id": conversation_id},
                )
        except Exception:
            log.exception("evaluation_cleanup_failed", conversation_id=conversation_id)


_CITATION = re.compile(r"📄 Fontes?:")


def _find_order(memory: InMemoryCommerce, reference: str) -> OrderInfo | None:
    compact = reference.strip().lstrip("#").replace("-", "").lower()
    for order_id, order in memory.orders.items():
        if order_id.replace("-", "").lower().startswith(compact):
            return order
    return None


def _order_record(order: OrderInfo) -> dict[str, Any]:
    """An order the customer placed by confirming: the platform's confirmation states it."""
    return {
        "id": order.id,
        "number": short_id(order.id),
        "total_cents": order.total_cents,
        "lines": [
            {
                "sku": line.sku,
                "unit_price_cents": line.unit_price_cents,
                "line_total_cents": line.line_total_cents,
            }
            for line in order.lines
        ],
    }


def fold(text: str) -> str:
    """Lower case, no accents, single spaces, "R$1" as "r$ 1": how replies are matched."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"r\$\s*", "r$ ", plain)
    return " ".join(plain.split())
