"""Local stand-ins for the LLM providers, speaking their real wire formats, scripted per request.

with FakeOpenAIServer() as primary, FakeAnthropicServer() as fallback:
    primary.enqueue(DropMidStream(after_chunks=3, then=Reply("partial answer")))
    fallback.enqueue(Reply(tool_calls=[ToolCall("lookup", {"sku": "A1"})]))
    ...
    assert fallback.scripted_requests[0].body["messages"] == [...]
"""

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripting import (
    Delay,
    DropMidStream,
    ErrorMidStream,
    Fail,
    RecordedRequest,
    Reply,
    SlowFirstToken,
    Step,
    ToolCall,
    Usage,
)
from tests.fakes.server import BackgroundServer

__all__ = [
    "BackgroundServer",
    "Delay",
    "DropMidStream",
    "ErrorMidStream",
    "Fail",
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "RecordedRequest",
    "Reply",
    "SlowFirstToken",
    "Step",
    "ToolCall",
    "Usage",
]
