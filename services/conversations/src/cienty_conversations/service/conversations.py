"""Handling customer messages and the staff actions around a conversation.

A customer message is handled in three steps, so that no database transaction stays open
while the model thinks:
1. claim — store the message (once per channel message id) and take the conversation's turn
   lease; a duplicate of a finished message gets the stored reply, a duplicate of one in
   progress waits for it, and messages of one chat take turns;
2. decide — the deterministic rules (confirmation, person, sensitive, off-topic) or the agent;
3. finish — store the reply, tool calls and proposal, and queue the outbound messages, in one
   transaction, but only while still holding the lease (a turn whose lease expired, because
   its process stalled or crashed, is redone by whoever reclaimed it).
A crash between 2 and 3 loses nothing: the message stays unanswered until redelivered, and
the tools it ran are idempotent (orders are created with a request id derived from the
proposal, cancelling twice is a no-op).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from cienty_conversations.agent.history import build_turns
from cienty_conversations.agent.loop import Agent, TurnResult
from cienty_conversations.agent.tools import Identity
from cienty_conversations.domain import intents, replies
from cienty_conversations.domain.conversations import (
    Author,
    Channel,
    Conversation,
    ConversationStatus,
    HandoverReason,
    Inbound,
    Message,
    NewToolCall,
    OutgoingText,
    ToolCallRecord,
)
from cienty_conversations.domain.proposals import (
    CONFIRM_PREFIX,
    DECLINE_PREFIX,
    Proposal,
    ProposalLine,
    ProposalStatus,
)
from cienty_conversations.ports import Commerce, CommerceRejected, CommerceUnavailable, CustomerInfo
from cienty_conversations.repository.conversations import (
    ConversationRepository,
    conversation_from_row,
    message_from_row,
    tool_call_record,
)
from cienty_conversations.repository.outbox import OutboxRepository
from cienty_conversations.repository.proposals import ProposalRepository
from cienty_conversations.repository.tables import ConversationRow
from cienty_conversations.service import metrics, streams
from cienty_kit.database import Database, Session
from cienty_kit.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from cienty_kit.logging import get_logger
from cienty_kit.pagination import decode_page_token, encode_page_token, page_size
from cienty_kit.phones import normalize_phone

log = get_logger(__name__)

HISTORY_MESSAGES = 60
DETAIL_MESSAGES = 200
# Beyond the turn's own time limit, before another process may take a stalled turn over.
LEASE_MARGIN = timedelta(seconds=30)
STAFF_PREFIX = "staff:"


@dataclass(frozen=True, slots=True)
class HandleResult:
    conversation_id: str
    messages: list[OutgoingText]
    handed_off: bool


@dataclass
class _Claimed:
    conversation: Conversation
    message_id: uuid.UUID


@dataclass
class _Done:
    """The message was handled already: its stored reply is the answer."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID


class _Busy:
    """Another turn of the conversation (maybe this very message's) holds the lease."""


@dataclass
class _Decision:
    """What a turn produced, to store in the finishing transaction."""

    messages: list[OutgoingText] = field(default_factory=list)
    tool_calls: list[NewToolCall] = field(default_factory=list)
    handover: HandoverReason | None = None
    handover_note: str = ""
    new_proposal: Proposal | None = None
    proposal_status: tuple[str, ProposalStatus, str] | None = None  # id, status, order id
    failure: str = ""
    customer: CustomerInfo | None = None


@dataclass
class ConversationService:
    database: Database
    commerce: Commerce
    agent: Agent
    outbound_stream: str = "conversations.outbound"
    events_stream: str = "conversations.events"
    handover_after_failures: int = 2
    turn_timeout_seconds: float = 60.0
    duplicate_wait_seconds: float = 30.0
    on_outbox_written: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _turns: set[asyncio.Task[HandleResult]] = field(default_factory=set, init=False, repr=False)

    # ------------------------------------------------------------------ customer messages
    async def handle_message(self, inbound: Inbound) -> HandleResult:
        inbound = _with_phone(inbound)
        started = time.monotonic()
        deadline = started + self.duplicate_wait_seconds
        delay = 0.05
        while True:
            claim = await self._claim(inbound)
            if isinstance(claim, _Claimed):
                break
            if isinstance(claim, _Done):
                metrics.MESSAGES.labels(outcome="duplicate").inc()
                return await self._stored_reply(claim)
            if time.monotonic() >= deadline:
                raise Unavailable(
                    "an earlier message of this conversation is still being handled; retry"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        # The turn runs to its end even if the caller gives up (a gRPC deadline, a cancelled
        # call): its retry then finds the stored reply instead of a lease to wait out.
        turn = asyncio.create_task(self._run_turn(claim, inbound))
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)
        result = await asyncio.shield(turn)
        metrics.TURN_SECONDS.observe(time.monotonic() - started)
        return result

    async def _run_turn(self, claim: _Claimed, inbound: Inbound) -> HandleResult:
        try:
            decision = await self._decide(claim.conversation, inbound, claim.message_id)
            return await self._finish(claim, decision)
        except BaseException:
            # A failure we can see (a bug, the database away) frees the conversation at once
            # for a redelivery; a process that dies leaves the lease to expire.
            await self._release(claim)
            raise

    async def _release(self, claim: _Claimed) -> None:
        try:
            async with self.database.transaction() as session:
                await ConversationRepository(session).release_turn(
                    uuid.UUID(claim.conversation.id), claim.message_id
                )
        except Exception:
            log.warning("turn_release_failed", conversation_id=claim.conversation.id)

    async def wait_for_turns(self) -> None:
        """Lets turns whose callers gave up finish (called on shutdown)."""
        if self._turns:
            await asyncio.gather(*self._turns, return_exceptions=True)

    async def _claim(self, inbound: Inbound) -> _Claimed | _Done | _Busy:
        async with self.database.transaction() as session:
            repo = ConversationRepository(session)
            stored = await repo.inbound_by_external_id(inbound.channel, inbound.external_id)
            if stored is not None and stored.turn_state == "done":
                return _Done(stored.conversation_id, stored.id)
            if stored is not None:
                row = await repo.get(stored.conversation_id, for_update=True)
                assert row is not None
                message_id = stored.id
            else:
                row = await repo.open_for_update(inbound.channel, inbound.phone)
                added = await repo.add_inbound(row.id, inbound)
                if added is None:  # the same message arrived concurrently and won the insert
                    return _Busy()
                message_id = added.id
                await repo.touch(row, inbound.text or "[mídia]")
                customer_message = message_from_row(
                    await repo.message(message_id)  # with its server timestamps
                )
                await self._event(session, streams.MESSAGE_RECEIVED, row, customer_message)
            now = self.clock()
            holder, lease = row.turn_message_id, row.turn_lease_until
            if holder is not None and lease is not None and lease > now:
                return _Busy()
            row.turn_message_id = message_id
            row.turn_lease_until = now + timedelta(seconds=self.turn_timeout_seconds) + LEASE_MARGIN
            conversation = conversation_from_row(row)
        metrics.MESSAGES.labels(outcome="claimed").inc()
        return _Claimed(conversation, message_id)

    async def _stored_reply(self, stored: _Done) -> HandleResult:
        async with self.database.read() as session:
            repo = ConversationRepository(session)
            rows = await repo.replies_to(stored.message_id)
            inbound = await repo.message(stored.message_id)
        handed_off = inbound.handed_off
        return HandleResult(
            conversation_id=str(stored.conversation_id),
            messages=[
                OutgoingText(row.text, message_from_row(row).buttons)
                for row in rows
                if not row.suppressed
            ],
            handed_off=handed_off,
        )

    async def _decide(
        self, conversation: Conversation, inbound: Inbound, message_id: uuid.UUID
    ) -> _Decision:
        if not conversation.bot_answers:
            return _Decision()  # a person owns it: the bot stays silent
        try:
            customer = await self.commerce.customer_by_phone(inbound.phone)
        except CommerceUnavailable:
            return _Decision(
                messages=[OutgoingText(replies.TRY_AGAIN)], failure="commerce_unavailable"
            )
        decision = await self._rules(conversation, inbound, customer)
        if decision is None:
            decision = await self._ask_agent(conversation, message_id, customer)
        decision.customer = customer
        return decision

    async def _rules(
        self, conversation: Conversation, inbound: Inbound, customer: CustomerInfo | None
    ) -> _Decision | None:
        """What must not depend on a model: confirmations, people, sensitive and off-topic."""
        reply_id = inbound.interactive_reply_id
        if reply_id.startswith((CONFIRM_PREFIX, DECLINE_PREFIX)):
            proposal_id = reply_id.split(":", 1)[1]
            confirm = reply_id.startswith(CONFIRM_PREFIX)
            return await self._answer_proposal(conversation, customer, proposal_id, confirm)
        answer = intents.yes_or_no(inbound.text)
        if answer is not intents.Answer.OTHER and customer is not None:
            async with self.database.read() as session:
                open_proposal = await ProposalRepository(session).latest_open(conversation.id)
            if open_proposal is not None and open_proposal.is_open(self.clock()):
                confirm = answer is intents.Answer.YES
                return await self._answer_proposal(
                    conversation, customer, open_proposal.id, confirm
                )
        if intents.asks_for_person(inbound.text):
            return _Decision(handover=HandoverReason.CUSTOMER_REQUEST)
        if intents.sensitive_topic(inbound.text):
            return _Decision(handover=HandoverReason.SENSITIVE_TOPIC)
        if intents.off_topic(inbound.text):
            metrics.OFF_TOPIC.inc()
            return _Decision(messages=[OutgoingText(replies.OFF_TOPIC)])
        if not inbound.text.strip():
            return _Decision(messages=[OutgoingText(replies.EMPTY_MESSAGE)])
        return None

    async def _answer_proposal(
        self,
        conversation: Conversation,
        customer: CustomerInfo | None,
        proposal_id: str,
        confirm: bool,
    ) -> _Decision:
        async with self.database.read() as session:
            proposal = await ProposalRepository(session).get(proposal_id)
        if (
            proposal is None
            or customer is None
            or proposal.conversation_id != conversation.id
            or proposal.customer_id != customer.id
        ):
            return _Decision(messages=[OutgoingText(replies.PROPOSAL_EXPIRED)])
        if proposal.status is ProposalStatus.CONFIRMED:
            return _Decision(
                messages=[OutgoingText(replies.order_already_placed(proposal.order_id))]
            )
        if not proposal.is_open(self.clock()):
            return _Decision(messages=[OutgoingText(replies.PROPOSAL_EXPIRED)])
        if not confirm:
            return _Decision(
                messages=[OutgoingText(replies.PROPOSAL_DECLINED)],
                proposal_status=(proposal.id, ProposalStatus.DECLINED, ""),
            )
        if not customer.active:
            return _Decision(messages=[OutgoingText(replies.CUSTOMER_BLOCKED)])
        try:
            return await self._place_order(proposal, customer)
        except CommerceUnavailable:
            return _Decision(
                messages=[OutgoingText(replies.TRY_AGAIN)], failure="commerce_unavailable"
            )

    async def _place_order(self, proposal: Proposal, customer: CustomerInfo) -> _Decision:
        current: list[ProposalLine] = []
        changed = False
        for line in proposal.lines:
            product = await self.commerce.product(line.sku)
            if product is None or not product.active or product.stock_quantity <= 0:
                changed = True
                continue
            quantity = min(line.quantity, product.stock_quantity)
            price = product.unit_price_cents
            changed |= quantity != line.quantity or price != line.unit_price_cents
            current.append(ProposalLine(line.sku, product.name, quantity, price))
        if changed:
            # Never order at prices or quantities the customer did not see: propose again.
            if not current:
                return _Decision(
                    messages=[OutgoingText(replies.order_failed("os produtos estão sem estoque"))],
                    proposal_status=(proposal.id, ProposalStatus.FAILED, ""),
                )
            now = self.clock()
            renewed = Proposal(
                id=str(uuid.uuid4()),
                conversation_id=proposal.conversation_id,
                customer_id=customer.id,
                lines=tuple(current),
                status=ProposalStatus.OPEN,
                created_at=now,
                expires_at=now + (proposal.expires_at - proposal.created_at),
            )
            return _Decision(
                messages=[
                    OutgoingText(replies.PRICES_CHANGED),
                    OutgoingText(renewed.summary(), renewed.buttons()),
                ],
                new_proposal=renewed,
            )
        try:
            order = await self.commerce.create_order(
                request_id=proposal.request_id,
                customer_id=customer.id,
                lines=[(line.sku, line.quantity) for line in proposal.lines],
            )
        except CommerceRejected as rejected:
            return _Decision(
                messages=[OutgoingText(replies.order_failed(rejected.message))],
                proposal_status=(proposal.id, ProposalStatus.FAILED, ""),
            )
        metrics.ORDERS_PLACED.inc()
        return _Decision(
            messages=[OutgoingText(replies.order_placed(order.id, order.total_cents))],
            proposal_status=(proposal.id, ProposalStatus.CONFIRMED, order.id),
        )

    async def _ask_agent(
        self, conversation: Conversation, message_id: uuid.UUID, customer: CustomerInfo | None
    ) -> _Decision:
        conversation_uuid = uuid.UUID(conversation.id)
        async with self.database.read() as session:
            repo = ConversationRepository(session)
            rows = await repo.recent_messages(conversation_uuid, HISTORY_MESSAGES)
            history = [message_from_row(row) for row in rows if not row.suppressed]
            calls = await repo.tool_calls_of(
                conversation_uuid, [uuid.UUID(m.id) for m in history if m.author is Author.CUSTOMER]
            )
        # The current message's calls belong to an earlier, unfinished attempt: redo them.
        calls = [call for call in calls if call.message_id != message_id]
        identity = Identity(conversation.id, customer)
        turns = build_turns(history, calls)
        result = await self.agent.respond(
            identity, turns, earlier_results=[call.result for call in calls], now=self.clock()
        )
        return self._from_agent(result, identity, first_reply=not _has_agent_message(history))

    def _from_agent(
        self, result: TurnResult, identity: Identity, *, first_reply: bool
    ) -> _Decision:
        decision = _Decision(
            tool_calls=result.tool_calls,
            handover=result.handover,
            handover_note=result.handover_note,
            new_proposal=result.proposal if not result.failed else None,
            failure=result.failure,
        )
        if result.handover is not None:
            return decision
        if result.failed:
            text = (
                replies.UNGROUNDED if result.failure == "ungrounded_answer" else replies.TRY_AGAIN
            )
            decision.messages = [OutgoingText(text)]
            return decision
        decision.messages = list(result.messages)
        if identity.customer is None and first_reply:
            decision.messages.append(OutgoingText(replies.INVITE_TO_REGISTER))
        return decision

    async def _finish(self, claim: _Claimed, decision: _Decision) -> HandleResult:
        conversation_id = uuid.UUID(claim.conversation.id)
        async with self.database.transaction() as session:
            repo = ConversationRepository(session)
            row = await repo.get(conversation_id, for_update=True)
            if row is None or row.turn_message_id != claim.message_id:
                lost = True
            else:
                lost = False
                result = await self._store_turn(session, row, claim, decision)
        if lost:
            # Our lease expired and another process took the turn: its answer is the one.
            log.warning("turn_lease_lost", conversation_id=claim.conversation.id)
            return await self._await_reply(conversation_id, claim.message_id)
        self.on_outbox_written()
        return result

    async def _await_reply(self, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HandleResult:
        deadline = time.monotonic() + self.duplicate_wait_seconds
        while True:
            async with self.database.read() as session:
                inbound = await ConversationRepository(session).message(message_id)
            if inbound.turn_state == "done":
                return await self._stored_reply(_Done(conversation_id, message_id))
            if time.monotonic() >= deadline:
                raise Unavailable("the message is still being handled; retry")
            await asyncio.sleep(0.1)

    async def _store_turn(
        self, session: Session, row: ConversationRow, claim: _Claimed, decision: _Decision
    ) -> HandleResult:
        repo = ConversationRepository(session)
        proposals = ProposalRepository(session)
        row.turn_message_id = None
        row.turn_lease_until = None
        if decision.customer is not None:
            row.customer_id = decision.customer.id
            row.customer_name = decision.customer.display_name
        if decision.tool_calls:
            await repo.add_tool_calls(row.id, claim.message_id, decision.tool_calls)
        if decision.new_proposal is not None:
            await proposals.add(decision.new_proposal)
        if decision.proposal_status is not None:
            proposal_id, status, order_id = decision.proposal_status
            await proposals.set_status(proposal_id, status, order_id=order_id)

        # Staff took the conversation while the model was thinking: nothing goes out.
        silenced = row.status != ConversationStatus.BOT.value
        handover = decision.handover
        if not silenced and decision.failure and handover is None:
            row.consecutive_failures += 1
            if row.consecutive_failures >= self.handover_after_failures:
                handover = HandoverReason.REPEATED_FAILURES
        elif not decision.failure:
            row.consecutive_failures = 0

        texts = decision.messages
        if handover is not None and not silenced:
            texts = [OutgoingText(replies.HANDOVER[handover.value])]
            row.status = ConversationStatus.WAITING_HUMAN.value
            row.handover_reason = handover.value
            metrics.HANDOVERS.labels(reason=handover.value).inc()
            log.info(
                "conversation_handed_over",
                conversation_id=str(row.id),
                reason=handover.value,
                note=decision.handover_note[:200],
            )

        sent: list[OutgoingText] = []
        for text in texts:
            message = await repo.add_message(
                row.id,
                author=Author.AGENT,
                text=text.text,
                channel=Channel(row.channel),
                buttons=text.buttons,
                reply_to=claim.message_id,
                suppressed=silenced,
            )
            if silenced:
                continue
            sent.append(text)
            await self._send(session, row, message_from_row(message))
        if sent:
            await repo.touch(row, sent[-1].text)
        if handover is not None and not silenced:
            await self._event(session, streams.HANDED_OVER, row)
        handed_off = silenced or handover is not None
        await repo.finish_turn(claim.message_id, handed_off=handed_off)
        return HandleResult(str(row.id), sent, handed_off)

    # --------------------------------------------------------------------- staff actions
    async def get(self, conversation_id: str, *, include_tool_calls: bool = False) -> Conversation:
        key = _conversation_key(conversation_id)
        async with self.database.transaction() as session:
            repo = ConversationRepository(session)
            row = await repo.get(key)
            if row is None:
                raise NotFound(f"conversation {conversation_id} does not exist")
            messages = [
                message_from_row(m) for m in await repo.recent_messages(key, DETAIL_MESSAGES)
            ]
            calls: tuple[ToolCallRecord, ...] = ()
            if include_tool_calls:
                calls = tuple(
                    tool_call_record(c)
                    for c in await repo.tool_calls_of(key, limit=DETAIL_MESSAGES)
                )
            conversation = conversation_from_row(row)
        return _with_details(conversation, messages, calls)

    async def list(
        self, *, status: ConversationStatus | None, requested_page_size: int, page_token: str
    ) -> tuple[list[Conversation], str]:
        size = page_size(requested_page_size, default=50)
        cursor = decode_page_token(page_token, required_keys=frozenset({"at", "id"}))
        after = None
        if cursor is not None:
            try:
                after = (datetime.fromisoformat(cursor["at"]), uuid.UUID(cursor["id"]))
            except (TypeError, ValueError):
                raise InvalidArgument("page_token", "is not a token returned by this API") from None
        async with self.database.read() as session:
            rows = await ConversationRepository(session).page(
                status=status, limit=size + 1, after=after
            )
        page = [conversation_from_row(row) for row in rows[:size]]
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = encode_page_token({"at": last.last_message_at.isoformat(), "id": str(last.id)})
        return page, token

    async def take_over(self, conversation_id: str, staff_id: str) -> Conversation:
        staff_id = _staff(staff_id)
        async with self.database.transaction() as session:
            row = await self._locked(session, conversation_id)
            if row.status == ConversationStatus.CLOSED.value:
                raise FailedPrecondition("the conversation is closed")
            if row.status == ConversationStatus.HUMAN.value and row.assignee != staff_id:
                raise FailedPrecondition(f"the conversation is already with {row.assignee}")
            if row.status != ConversationStatus.HUMAN.value:
                row.status = ConversationStatus.HUMAN.value
                row.assignee = staff_id
                row.updated_at = self.clock()
                await self._event(session, streams.TAKEN_OVER, row)
            conversation = conversation_from_row(row)
        self.on_outbox_written()
        return conversation

    async def return_to_bot(self, conversation_id: str) -> Conversation:
        async with self.database.transaction() as session:
            row = await self._locked(session, conversation_id)
            if row.status == ConversationStatus.CLOSED.value:
                raise FailedPrecondition("the conversation is closed")
            if row.status != ConversationStatus.BOT.value:
                row.status = ConversationStatus.BOT.value
                row.assignee = ""
                row.handover_reason = ""
                row.consecutive_failures = 0
                row.updated_at = self.clock()
                await self._event(session, streams.RETURNED_TO_BOT, row)
            conversation = conversation_from_row(row)
        self.on_outbox_written()
        return conversation

    async def close(self, conversation_id: str) -> Conversation:
        async with self.database.transaction() as session:
            row = await self._locked(session, conversation_id)
            if row.status != ConversationStatus.CLOSED.value:
                row.status = ConversationStatus.CLOSED.value
                row.turn_message_id = None
                row.turn_lease_until = None
                row.updated_at = self.clock()
                await self._event(session, streams.CLOSED, row)
            conversation = conversation_from_row(row)
        self.on_outbox_written()
        return conversation

    async def send_staff_message(
        self, conversation_id: str, staff_id: str, text: str, request_id: str
    ) -> Message:
        staff_id = _staff(staff_id)
        text = text.strip()
        if not 1 <= len(text) <= 4096:
            raise InvalidArgument("text", "must have 1-4096 characters")
        if not 1 <= len(request_id) <= 128:
            raise InvalidArgument("request_id", "must have 1-128 characters")
        async with self.database.transaction() as session:
            repo = ConversationRepository(session)
            row = await self._locked(session, conversation_id)
            existing = await repo.message_by_request_id(row.id, request_id)
            if existing is not None:
                if existing.text != text or existing.sender != staff_id:
                    raise FailedPrecondition(
                        "request_id was already used for another message; use a new one"
                    )
                return message_from_row(existing)
            if row.status != ConversationStatus.HUMAN.value or row.assignee != staff_id:
                raise FailedPrecondition(
                    "take the conversation over (TakeOver) before writing to the customer"
                )
            created = await repo.add_message(
                row.id,
                author=Author.STAFF,
                text=text,
                channel=Channel(row.channel),
                sender=staff_id,
                request_id=request_id,
            )
            message = message_from_row(created)
            await self._send(session, row, message)
            await repo.touch(row, text)
        self.on_outbox_written()
        return message

    # ------------------------------------------------------------------------- helpers
    async def _locked(self, session: Session, conversation_id: str) -> ConversationRow:
        row = await ConversationRepository(session).get(
            _conversation_key(conversation_id), for_update=True
        )
        if row is None:
            raise NotFound(f"conversation {conversation_id} does not exist")
        return row

    async def _send(self, session: Session, row: ConversationRow, message: Message) -> None:
        outbox = OutboxRepository(session)
        await outbox.add(
            self.outbound_stream, streams.outbound_entry(message, channel=row.channel, to=row.phone)
        )
        await self._event(session, streams.MESSAGE_SENT, row, message)

    async def _event(
        self,
        session: Session,
        event_type: str,
        row: ConversationRow,
        message: Message | None = None,
    ) -> None:
        await OutboxRepository(session).add(
            self.events_stream,
            streams.event_entry(
                event_type, str(row.id), row.status, message=message, at=self.clock()
            ),
        )


def _with_phone(inbound: Inbound) -> Inbound:
    return replace(inbound, phone=normalize_phone(inbound.phone, "from_phone"))


def _staff(staff_id: str) -> str:
    staff_id = staff_id.strip()
    if (
        not staff_id.startswith(STAFF_PREFIX)
        or len(staff_id) <= len(STAFF_PREFIX)
        or len(staff_id) > 128
    ):
        raise InvalidArgument("staff_id", 'must look like "staff:<name>" (at most 128 characters)')
    return staff_id


def _conversation_key(conversation_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(conversation_id)
    except ValueError:
        raise InvalidArgument("conversation_id", "is not a conversation id") from None


def _has_agent_message(history: Sequence[Message]) -> bool:
    return any(message.author is Author.AGENT for message in history)


def _with_details(
    conversation: Conversation, messages: Sequence[Message], calls: Sequence[ToolCallRecord]
) -> Conversation:
    return replace(conversation, messages=tuple(messages), tool_calls=tuple(calls))
