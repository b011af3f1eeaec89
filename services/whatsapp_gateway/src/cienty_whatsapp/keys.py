"""Every Redis key and stream name the gateway uses, in one place."""

from __future__ import annotations

from cienty_kit.errors import InvalidArgument
from cienty_kit.phones import normalize_phone

INBOUND_GROUP = "gateway"
DEAD_LETTER_STREAM = "whatsapp.dead-letter"
# What staff must know went wrong with an outbound message: fields reason (window_closed,
# rejected, auth_failed, retries_exhausted, unknown_outcome, malformed_entry,
# owner_check_failed, conversations_unavailable, internal_error, delivery_failed), message_id,
# conversation_id, to, author, code, error, attempts, occurred_at.
DELIVERY_FAILURES_STREAM = "whatsapp.delivery-failures"


def inbound_stream(partition: int) -> str:
    """Where the webhook appends a chat's updates (see `InboundItem.partition`)."""
    return f"whatsapp.inbound.{partition}"


def seen(dedupe_key: str) -> str:
    """Set when the webhook accepted an update: Meta's redeliveries are dropped."""
    return f"whatsapp:seen:{dedupe_key}"


# The live inbound workers (a sorted set: member = worker token, score = expiry in ms), so each
# takes its fair share of the partitions.
INBOUND_WORKERS = "whatsapp:inbound:workers"


def inbound_attempts(partition: int) -> str:
    """Attempts per pending entry of a partition (a hash: entry id → count), kept in Redis so a
    message that kills its worker every time still reaches the dead-letter stream."""
    return f"whatsapp:inbound:attempts:{partition}"


def partition_lease(partition: int) -> str:
    """Held by the one worker that works a partition."""
    return f"whatsapp:partition-lease:{partition}"


def customer(number: str) -> str:
    """One key per customer whichever form the number comes in: a `wa_id` ("551187654321",
    maybe without Brazil's ninth digit) or the E.164 "+5511987654321" conversations uses."""
    try:
        return normalize_phone(number).lstrip("+")
    except InvalidArgument:
        return number.lstrip("+")


def window(number: str) -> str:
    """The customer's last message time: the 24-hour customer-service window."""
    return f"whatsapp:window:{customer(number)}"


def flood(number: str) -> str:
    return f"whatsapp:flood:{customer(number)}"


def pace(number: str) -> str:
    """The recipient's next free send slot (a time in ms, a plain string)."""
    return f"whatsapp:pace:{customer(number)}"


def outbound_state(message_id: str) -> str:
    """A hash per outbound message (`outbound.state`): state (sending, partial, retrying, sent,
    failed, suppressed, unknown), token, claimed_by, lease_until, mode, part, parts, attempts,
    wamid, wamids, sent_at, reason, error_code, error, conversation_status, and the delivery
    status Meta reported (delivery, delivery_error)."""
    return f"whatsapp:outbound:{message_id}"


def wamid_to_message(wamid: str) -> str:
    """Meta's id of a message we sent → our outbound message id (for status callbacks)."""
    return f"whatsapp:wamid:{wamid}"
