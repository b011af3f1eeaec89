"""Every Redis key and stream name the gateway uses, in one place."""

from __future__ import annotations

INBOUND_GROUP = "gateway"
DEAD_LETTER_STREAM = "whatsapp.dead-letter"
DELIVERY_FAILURES_STREAM = "whatsapp.delivery-failures"


def inbound_stream(partition: int) -> str:
    """Where the webhook appends a chat's updates (see `InboundItem.partition`)."""
    return f"whatsapp.inbound.{partition}"


def seen(dedupe_key: str) -> str:
    """Set when the webhook accepted an update: Meta's redeliveries are dropped."""
    return f"whatsapp:seen:{dedupe_key}"


def partition_lease(partition: int) -> str:
    """Held by the one worker that works a partition."""
    return f"whatsapp:partition-lease:{partition}"


def window(wa_id: str) -> str:
    """The customer's last message time: the 24-hour customer-service window."""
    return f"whatsapp:window:{wa_id}"


def flood(wa_id: str) -> str:
    return f"whatsapp:flood:{wa_id}"


def pace(wa_id: str) -> str:
    return f"whatsapp:pace:{wa_id}"


def outbound_state(message_id: str) -> str:
    """A hash per outbound message: state (sending, sent, failed, suppressed), wamid, error,
    and the delivery status Meta reported."""
    return f"whatsapp:outbound:{message_id}"


def wamid_to_message(wamid: str) -> str:
    """Meta's id of a message we sent → our outbound message id (for status callbacks)."""
    return f"whatsapp:wamid:{wamid}"
