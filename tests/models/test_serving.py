"""The CPU profile end to end: Ray Serve LLM + vLLM serving a tiny random Llama.

The model generates noise, so these tests assert the serving contract (routes, wire format,
streaming, tool calling, structured outputs, embeddings), not the text. Where the output must
be valid JSON, vLLM's structured outputs constrain even a random model: that is what is tested.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from openai import AsyncOpenAI

from tests.models.serving import EMBEDDING_MODEL_ID, MODEL_ID, ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": ["Recife", "Natal", "Manaus"]},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a Brazilian city.",
        "parameters": WEATHER_SCHEMA,
    },
}
MESSAGES: Any = [
    {"role": "system", "content": "Você é o assistente da Cienty."},
    {"role": "user", "content": "Como está o tempo em Recife?"},
]


@pytest.fixture
async def client(stack: ServingStack) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=f"{stack.base_url}/v1", api_key="unused") as openai:
        yield openai


async def test_models_lists_the_served_model(client: AsyncOpenAI) -> None:
    models = await client.models.list()
    assert MODEL_ID in [model.id for model in models.data]


async def test_chat_completion_returns_content_finish_reason_and_usage(
    client: AsyncOpenAI,
) -> None:
    response = await client.chat.completions.create(
        model=MODEL_ID, messages=MESSAGES, max_tokens=8, extra_body={"ignore_eos": True}
    )
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 8
    assert response.usage.prompt_tokens > 0


async def test_streaming_yields_chunks_and_a_final_finish_reason(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL_ID,
        messages=MESSAGES,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = [chunk async for chunk in stream]
    finish_reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert len(finish_reasons) >= 2
    assert finish_reasons[-1] == "length"
    assert all(reason is None for reason in finish_reasons[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


async def test_tools_with_auto_choice_are_accepted(client: AsyncOpenAI) -> None:
    response = await client.chat.completions.create(
        model=MODEL_ID, messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="auto", max_tokens=16
    )
    choice = response.choices[0]
    assert choice.finish_reason in {"stop", "length", "tool_calls"}
    for call in choice.message.tool_calls or []:
        assert call.type == "function"
        assert call.function.name == "get_weather"


async def test_named_tool_choice_returns_arguments_matching_the_schema(
    client: AsyncOpenAI,
) -> None:
    for _ in range(3):  # different random samples, all constrained
        response = await client.chat.completions.create(
            model=MODEL_ID,
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            max_tokens=100,
        )
        calls = response.choices[0].message.tool_calls
        assert calls is not None
        assert len(calls) == 1
        call = calls[0]
        assert call.type == "function"
        assert call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)


async def test_structured_outputs_return_json_matching_the_schema(client: AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "sku": {"type": "string", "enum": ["DIP-500", "AMX-250"]},
            "in_stock": {"type": "boolean"},
        },
        "required": ["sku", "in_stock"],
        "additionalProperties": False,
    }
    response = await client.chat.completions.create(
        model=MODEL_ID,
        messages=MESSAGES,
        max_tokens=100,
        extra_body={"structured_outputs": {"json": schema}},
    )
    assert response.choices[0].finish_reason == "stop"
    content = response.choices[0].message.content
    assert content is not None
    jsonschema.validate(json.loads(content), schema)


async def test_embeddings_return_one_vector_per_input_of_the_model_dimension(
    stack: ServingStack,
) -> None:
    hidden_size = json.loads((stack.model_dir / "config.json").read_text())["hidden_size"]
    async with AsyncOpenAI(
        base_url=f"{stack.base_url}/embeddings/v1", api_key="unused"
    ) as embeddings:
        response = await embeddings.embeddings.create(
            model=EMBEDDING_MODEL_ID, input=["dipirona 500 mg", "amoxicilina"]
        )
    assert [item.index for item in response.data] == [0, 1]
    vectors = [item.embedding for item in response.data]
    assert all(len(vector) == hidden_size for vector in vectors)
    assert vectors[0] != vectors[1]


def test_the_readiness_probe_proved_generation_in_both_applications(stack: ServingStack) -> None:
    # ProbingLLMServer.check_health ran a real 1-token generation (and a real embedding) before
    # Serve marked the replicas healthy; Serve forwards the replicas' lines to the server log.
    log = stack.log()
    for deployment in (f"ProbingLLMServer:{MODEL_ID}", f"ProbingLLMServer:{EMBEDDING_MODEL_ID}"):
        assert any(
            deployment in line and "cienty generation probe passed" in line
            for line in log.splitlines()
        ), deployment


async def test_unknown_model_is_refused(client: AsyncOpenAI) -> None:
    from openai import NotFoundError

    with pytest.raises(NotFoundError):
        await client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=1)
