"""A provider stand-in in a process of its own, so it does not share the measuring process's GIL.

`python -m bench.llm_stub {openai,anthropic,hang}`: serves the wire-format fake from
tests/fakes on a free local port, prints its URL, and answers every request with the same short
reply (`hang`: an OpenAI-compatible server that never answers) until SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

from tests.fakes import Delay, FakeAnthropicServer, FakeOpenAIServer, Reply, Usage
from tests.fakes.base import FakeLLMServer

ANSWER = Reply(
    "O pedido mínimo é de R$ 300,00 e a entrega leva até dois dias úteis na capital.",
    usage=Usage(120, 24),
)
MODEL = "llama-3.1-8b-instruct"


def main() -> None:
    kinds: dict[str, Callable[[], FakeLLMServer]] = {
        "openai": lambda: FakeOpenAIServer(MODEL, default=ANSWER),
        "anthropic": lambda: FakeAnthropicServer(default=ANSWER),
        "hang": lambda: FakeOpenAIServer(MODEL, default=Delay(3600)),
    }
    fake = kinds[sys.argv[1]]()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with fake:
        print(fake.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
