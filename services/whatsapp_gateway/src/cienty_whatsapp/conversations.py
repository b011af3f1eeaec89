"""The conversations service over gRPC, as the gateway needs it."""

from __future__ import annotations

import grpc

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_kit.grpc.client import service_channel

ACTOR = "whatsapp-gateway"
# Worth another try later: the service or the conversation's turn is busy, or away.
TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)


class ConversationsClient:
    def __init__(self, address: str, token: str) -> None:
        self._channel = service_channel(address, token, actor=ACTOR)
        self._stub = conversations_pb2_grpc.ConversationServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close(None)

    async def handle(self, message: pb.InboundMessage, *, deadline: float) -> pb.AgentReply:
        """Raises grpc.aio.AioRpcError; its code in `TRANSIENT` means retry later."""
        reply: pb.AgentReply = await self._stub.HandleMessage(message, timeout=deadline)
        return reply

    async def status(self, conversation_id: str, *, deadline: float = 5.0) -> int:
        """The conversation's `ConversationStatus` now (who owns it)."""
        conversation = await self._stub.GetConversation(
            pb.GetConversationRequest(id=conversation_id), timeout=deadline
        )
        return int(conversation.status)
