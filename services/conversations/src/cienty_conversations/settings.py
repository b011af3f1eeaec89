"""Conversations settings (`CIENTY_*` environment variables).

The LLM client reads its own `CIENTY_LLM_*` variables (cienty_llm.settings.LLMSettings); the
knowledge base is reached with `CIENTY_KNOWLEDGE_DATABASE_URL` (pgvector) or the shared
`CIENTY_WEAVIATE_*` / `CIENTY_EMBEDDING_*` variables (cienty_knowledge.settings).
"""

from __future__ import annotations

from pydantic import Field

from cienty_kit.settings import ServiceSettings

OUTBOUND_STREAM = "conversations.outbound"
EVENTS_STREAM = "conversations.events"
ORDER_EVENTS_STREAM = "commerce.order-events"


class ConversationsSettings(ServiceSettings):
    database_url: str = "postgresql://postgres@localhost:5432/cienty_conversations"
    redis_url: str = "redis://localhost:6379/0"
    database_pool_size: int = Field(default=10, ge=1)
    commerce_addr: str = "localhost:50051"
    # Deadline of each call into commerce.
    commerce_timeout_seconds: float = Field(default=3.0, gt=0)
    # The knowledge base searched by the agent: pgvector in this PostgreSQL database, unless
    # CIENTY_VECTOR_BACKEND=weaviate. Empty: the agent has no knowledge base tool.
    knowledge_database_url: str = "postgresql://postgres@localhost:5432/cienty_knowledge"
    knowledge_results: int = Field(default=4, ge=1, le=20)
    # The agent loop: model calls per customer message, and the time the whole turn may take.
    agent_max_steps: int = Field(default=6, ge=1, le=20)
    agent_turn_timeout_seconds: float = Field(default=60.0, gt=0)
    # History sent to the model, in estimated tokens (older turns are summarised).
    agent_history_tokens: int = Field(default=6000, ge=500)
    agent_max_reply_tokens: int = Field(default=600, ge=50)
    # Consecutive turns that failed (model errors, ungrounded answers) before a handover.
    handover_after_failures: int = Field(default=2, ge=1)
    # How long a proposed cart can be confirmed; prices are re-read from commerce on confirm.
    proposal_ttl_minutes: int = Field(default=60, ge=1)
    # A duplicate of a message still being handled waits this long for the first reply.
    duplicate_wait_seconds: float = Field(default=30.0, ge=0)
    outbound_stream: str = OUTBOUND_STREAM
    events_stream: str = EVENTS_STREAM
    stream_max_length: int = Field(default=100_000, ge=1000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_hours: float = Field(default=168, gt=0)
    processed_events_retention_days: float = Field(default=30, gt=0)
    # Proactive notifications from commerce's order events.
    notifications_enabled: bool = True
    order_events_stream: str = ORDER_EVENTS_STREAM
    order_events_group: str = "conversations"
    # Template the WhatsApp gateway uses outside the 24-hour window (Meta-approved, pt_BR).
    order_update_template: str = "atualizacao_pedido"
