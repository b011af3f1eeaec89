"""Sending what the conversations service queued (`conversations.outbound`) through the Graph
API: at most once per message, in order per customer, paced, within the 24-hour window rule.

`OutboundSender` (sender.py) does the work; `state` holds the at-most-once state machine,
`pacing` the per-recipient token bucket, `render` the payloads, `message` the entry format.
"""

from cienty_whatsapp.outbound.message import OutboundMessage, parse_entry
from cienty_whatsapp.outbound.pacing import Pacer
from cienty_whatsapp.outbound.sender import OutboundSender
from cienty_whatsapp.outbound.state import DeliveryStore

__all__ = ["DeliveryStore", "OutboundMessage", "OutboundSender", "Pacer", "parse_entry"]
