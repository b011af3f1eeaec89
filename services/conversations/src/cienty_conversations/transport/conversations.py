"""ConversationService over gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_conversations.service.conversations import ConversationService
from cienty_conversations.service.events import EventFeed
from cienty_conversations.transport.convert import (
    conversation_to_pb,
    event_to_pb,
    inbound_from_pb,
    message_to_pb,
    outgoing_to_pb,
    status_filter,
)
from cienty_kit.errors import DomainError

Context = grpc.aio.ServicerContext[Any, Any]


class ConversationServicer(conversations_pb2_grpc.ConversationServiceServicer):
    def __init__(self, service: ConversationService, events: EventFeed) -> None:
        self._service = service
        self._events = events

    async def HandleMessage(self, request: pb.InboundMessage, context: Context) -> pb.AgentReply:
        result = await self._service.handle_message(inbound_from_pb(request))
        return pb.AgentReply(
            conversation_id=result.conversation_id,
            messages=[outgoing_to_pb(m) for m in result.messages],
            handed_off=result.handed_off,
        )

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.Conversation:
        conversation = await self._service.get(
            request.id, include_tool_calls=request.include_tool_calls
        )
        return conversation_to_pb(conversation)

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        conversations, token = await self._service.list(
            status=status_filter(request.status),
            requested_page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListConversationsResponse(
            conversations=[conversation_to_pb(c) for c in conversations], next_page_token=token
        )

    async def TakeOver(self, request: pb.TakeOverRequest, context: Context) -> pb.Conversation:
        return conversation_to_pb(
            await self._service.take_over(request.conversation_id, request.staff_id)
        )

    async def ReturnToBot(
        self, request: pb.ReturnToBotRequest, context: Context
    ) -> pb.Conversation:
        return conversation_to_pb(await self._service.return_to_bot(request.conversation_id))

    async def SendStaffMessage(
        self, request: pb.SendStaffMessageRequest, context: Context
    ) -> pb.Message:
        message = await self._service.send_staff_message(
            request.conversation_id, request.staff_id, request.text, request.request_id
        )
        return message_to_pb(message)

    async def CloseConversation(
        self, request: pb.CloseConversationRequest, context: Context
    ) -> pb.Conversation:
        return conversation_to_pb(await self._service.close(request.conversation_id))

    async def WatchConversationEvents(
        self, request: pb.WatchConversationEventsRequest, context: Context
    ) -> AsyncIterator[pb.ConversationEvent]:
        # Streams are not wrapped by the shared interceptor's error mapping: map here.
        try:
            async for cursor, fields in self._events.follow(request.after_cursor):
                yield event_to_pb(cursor, fields)
        except DomainError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
