"""The tool-calling loop of one customer turn: bounded in model calls and in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cienty_conversations.agent import metrics
from cienty_conversations.agent.grounding import render_citations, ungrounded_amounts
from cienty_conversations.agent.history import Turn, fit, summarise
from cienty_conversations.agent.prompt import system_prompt
from cienty_conversations.agent.tools import Identity, Toolbox, grounded_amounts
from cienty_conversations.domain.conversations import HandoverReason, NewToolCall, OutgoingText
from cienty_conversations.domain.proposals import Proposal
from cienty_conversations.ports import KnowledgeHit
from cienty_kit.logging import get_logger
from cienty_llm.errors import InvalidModelOutput, LLMRequestError, LLMUnavailable
from cienty_llm.types import ChatRequest, Completion, ToolChoice
from cienty_llm.types import Message as ChatMessage

log = get_logger(__name__)

CORRECTION = (
    "[Verificação automática] Sua resposta cita valores que não vieram das ferramentas: {amounts}. "
    "Consulte as ferramentas ou responda sem esses valores."
)


class ChatModel(Protocol):
    async def complete(self, request: ChatRequest) -> Completion: ...


@dataclass
class TurnResult:
    """What the agent decided for one customer message. Tool calls are kept even when the turn
    failed: their effects (a cancelled order) happened."""

    messages: list[OutgoingText] = field(default_factory=list)
    tool_calls: list[NewToolCall] = field(default_factory=list)
    handover: HandoverReason | None = None
    handover_note: str = ""
    proposal: Proposal | None = None
    failure: str = ""
    citations: list[KnowledgeHit] = field(default_factory=list)
    model_calls: int = 0
    model_seconds: float = 0.0
    providers: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failure)


@dataclass
class Agent:
    model: ChatModel
    toolbox: Toolbox
    max_steps: int = 6
    turn_timeout_seconds: float = 60.0
    history_tokens: int = 6000
    max_reply_tokens: int = 600

    async def respond(
        self,
        identity: Identity,
        turns: Sequence[Turn],
        *,
        earlier_results: Sequence[Any] = (),
        now: datetime | None = None,
    ) -> TurnResult:
        """Answers the last turn's customer message. `earlier_results` are tool results of
        earlier turns (their prices may be restated)."""
        result = TurnResult()
        history, dropped = fit(turns, self.history_tokens)
        system = system_prompt(identity, now or datetime.now(UTC), summarise(dropped))
        messages = [ChatMessage.system(system), *history]
        try:
            async with asyncio.timeout(self.turn_timeout_seconds):
                await self._loop(identity, messages, list(earlier_results), result)
        except LLMUnavailable as error:
            log.warning("agent_llm_unavailable", error=str(error))
            result.handover = HandoverReason.LLM_UNAVAILABLE
            result.failure = "llm_unavailable"
        except TimeoutError:
            result.failure = "turn_timeout"
        except (LLMRequestError, InvalidModelOutput) as error:
            log.warning("agent_model_error", error=str(error))
            result.failure = "model_error"
        metrics.TURNS.labels(outcome=_outcome(result)).inc()
        return result

    async def _loop(
        self,
        identity: Identity,
        messages: list[ChatMessage],
        grounding: list[Any],
        result: TurnResult,
    ) -> None:
        tools = self.toolbox.tools_for(identity)
        knowledge: list[KnowledgeHit] = []
        corrected = False
        for step in range(self.max_steps):
            # The last step must answer in words.
            choice: ToolChoice = "none" if step == self.max_steps - 1 else "auto"
            completion = await self._complete(messages, tools, choice, result)
            if completion.tool_calls:
                messages.append(completion.message)
                for call in completion.tool_calls:
                    outcome = await self.toolbox.run(call, identity)
                    metrics.TOOL_CALLS.labels(
                        tool=call.name, outcome="error" if outcome.is_error else "ok"
                    ).inc()
                    result.tool_calls.append(
                        NewToolCall(
                            step=step,
                            call_id=call.id,
                            name=call.name,
                            arguments=dict(call.arguments),
                            result=outcome.result,
                            is_error=outcome.is_error,
                        )
                    )
                    messages.append(
                        ChatMessage.tool_result(
                            call.id, outcome.to_json(), is_error=outcome.is_error
                        )
                    )
                    grounding.append(outcome.result)
                    knowledge.extend(outcome.knowledge)
                    if outcome.proposal is not None:
                        result.proposal = outcome.proposal
                    if outcome.handover_reason is not None:
                        result.handover = HandoverReason.AGENT_DECISION
                        result.handover_note = outcome.handover_reason
                if result.handover is not None:
                    return
                continue
            text = completion.text.strip()
            if not text and result.proposal is None:
                result.failure = "empty_answer"
                return
            unit_prices = _unit_prices(grounding)
            missing = ungrounded_amounts(text, grounded_amounts(grounding), unit_prices)
            if missing:
                metrics.UNGROUNDED.inc()
                log.warning(
                    "agent_ungrounded_amounts", amounts=sorted(missing), corrected=corrected
                )
                if corrected or step == self.max_steps - 1:
                    result.failure = "ungrounded_answer"
                    return
                corrected = True
                listed = ", ".join(f"{amount / 100:.2f}" for amount in sorted(missing))
                messages.append(completion.message)
                messages.append(ChatMessage.user(CORRECTION.format(amounts=listed)))
                continue
            text, result.citations = render_citations(text, knowledge)
            if text:
                result.messages.append(OutgoingText(text))
            if result.proposal is not None:
                result.messages.append(
                    OutgoingText(result.proposal.summary(), result.proposal.buttons())
                )
            return
        result.failure = "step_limit"

    async def _complete(
        self,
        messages: list[ChatMessage],
        tools: Sequence[Any],
        choice: ToolChoice,
        result: TurnResult,
    ) -> Completion:
        started = time.perf_counter()
        try:
            return await self.model.complete(
                ChatRequest(
                    messages=list(messages),
                    tools=tools,
                    tool_choice=choice,
                    max_tokens=self.max_reply_tokens,
                    temperature=0.2,
                )
            )
        finally:
            result.model_calls += 1
            result.model_seconds += time.perf_counter() - started


def _unit_prices(results: Sequence[Any]) -> list[int]:
    prices: set[int] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "unit_price_cents" and isinstance(child, int):
                    prices.add(child)
                else:
                    walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for result in results:
        walk(result)
    return sorted(prices)


def _outcome(result: TurnResult) -> str:
    if result.handover is not None:
        return "handover"
    return result.failure or "answered"
