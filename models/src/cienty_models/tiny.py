"""A tiny randomly initialised Llama with a Llama-3.1-style chat template, for tests and benchmarks.

It generates noise, but it is a real checkpoint: vLLM loads it like any Llama, so everything
around the weights (OpenAI routes, streaming, tool calling, structured outputs, embeddings) is
exercised for real. The CPU attention kernels need head_dim 64: hidden 128 over 2 heads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

BOS: Final = "<|begin_of_text|>"
EOT: Final = "<|eot_id|>"
SPECIAL_TOKENS: Final = (
    BOS,
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    EOT,
    "<|python_tag|>",
)
VOCAB_SIZE: Final = 1024
HIDDEN_SIZE: Final = 128
MAX_POSITIONS: Final = 4096

# Llama 3.1's JSON tool format, written for this model: tools are listed in the system turn,
# assistant tool calls are rendered as {"name": ..., "parameters": ...}, tool results as an
# `ipython` turn. One tool call per assistant turn, as in Llama 3.1.
CHAT_TEMPLATE: Final = """{{- bos_token -}}
{%- set system = namespace(text="") -%}
{%- if messages and messages[0].role == "system" -%}
  {%- set system.text = messages[0].content if messages[0].content is string
      else messages[0].content | map(attribute="text") | join("\\n") -%}
  {%- set messages = messages[1:] -%}
{%- endif -%}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" -}}
{%- if tools -%}
  {{- "Environment: ipython\\n" -}}
  {{- "You may call one of these functions. To call one, answer only with JSON of the form " -}}
  {{- '{"name": function name, "parameters": object of arguments}.\\n\\n' -}}
  {%- for tool in tools -%}{{- tool | tojson -}}{{- "\\n\\n" -}}{%- endfor -%}
{%- endif -%}
{{- system.text | trim -}}{{- "<|eot_id|>" -}}
{%- for message in messages -%}
  {%- if message.role == "tool" or message.role == "ipython" -%}
    {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" -}}
    {%- if message.content is string -%}{{- {"output": message.content} | tojson -}}
    {%- else -%}{{- {"output": message.content | map(attribute="text") | join("\\n")} | tojson -}}
    {%- endif -%}
  {%- elif message.tool_calls -%}
    {%- if message.tool_calls | length > 1 -%}
      {{- raise_exception("Llama 3.1 calls one tool per assistant turn") -}}
    {%- endif -%}
    {%- set call = message.tool_calls[0].function -%}
    {{- "<|start_header_id|>assistant<|end_header_id|>\\n\\n" -}}
    {{- '{"name": "' + call.name + '", "parameters": ' -}}
    {{- call.arguments if call.arguments is string else call.arguments | tojson -}}
    {{- "}" -}}
  {%- else -%}
    {{- "<|start_header_id|>" + message.role + "<|end_header_id|>\\n\\n" -}}
    {%- if message.content is string -%}{{- message.content | trim -}}
    {%- elif message.content -%}{{- message.content | map(attribute="text") | join("\\n") -}}
    {%- endif -%}
  {%- endif -%}
  {{- "<|eot_id|>" -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- "<|start_header_id|>assistant<|end_header_id|>\\n\\n" -}}
{%- endif -%}
"""

# Enough text for byte-level BPE to learn merges for JSON punctuation and common words.
_CORPUS: Final = (
    "Olá! Você quer comprar dipirona 500 mg, caixa com 10 comprimidos? "
    "The order was confirmed and will ship tomorrow. ",
    '{"name": "get_weather", "parameters": {"city": "Recife", "unit": "celsius"}}',
    '{"sku": "ABC-123", "quantity": 12, "price_cents": 1990, "in_stock": true}',
    "system user assistant tool ipython function arguments parameters name type object "
    "string integer number boolean array properties required enum",
)


def build_tokenizer() -> Any:
    """A byte-level BPE tokenizer (any text encodes) wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(_CORPUS) * 50, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOT,
        pad_token="<|end_of_text|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
    )


def build_tiny_model(directory: Path, *, seed: int = 0) -> Path:
    """Write config, random weights (safetensors) and tokenizer into `directory`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    vocab = tokenizer.get_vocab()
    eos_id = vocab[EOT]
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN_SIZE,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=vocab[BOS],
        eos_token_id=eos_id,
        pad_token_id=vocab["<|end_of_text|>"],
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    # vLLM reads default sampling parameters and stop tokens from here.
    (directory / "generation_config.json").write_text(
        json.dumps({"bos_token_id": vocab[BOS], "eos_token_id": [eos_id], "do_sample": True})
    )
    return directory
