"""Start `cienty llm serve --profile cpu` from .venv-models and wait until it really answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_BIN = REPO_ROOT / ".venv-models" / "bin"
MODEL_ID = "cienty-local"
EMBEDDING_MODEL_ID = "cienty-local-embed"
# Two engines, Ray and the Serve proxies on 2 cores: about 80 s here.
START_DEADLINE_S = 200.0
STOP_GRACE_S = 30.0


class StackFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ServingStack:
    base_url: str
    model_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serving_env() -> dict[str, str]:
    return {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def build_tiny_model(directory: Path) -> Path:
    if not (MODELS_BIN / "cienty").exists():
        raise StackFailed(f"{MODELS_BIN}/cienty is missing: run `make models-venv`")
    subprocess.run(
        [str(MODELS_BIN / "cienty"), "llm", "tiny-model", str(directory)],
        check=True,
        env=serving_env(),
        capture_output=True,
        timeout=120,
    )
    return directory


def _ready(client: httpx.Client) -> bool:
    """Both applications answer: the chat model is listed and generates, embeddings embed."""
    try:
        models = client.get("/v1/models")
        if models.status_code != 200 or MODEL_ID not in models.text:
            return False
        chat = client.post(
            "/v1/chat/completions",
            json={
                "model": MODEL_ID,
                "messages": [{"role": "user", "content": "oi"}],
                "max_tokens": 1,
            },
        )
        embed = client.post(
            "/embeddings/v1/embeddings", json={"model": EMBEDDING_MODEL_ID, "input": "oi"}
        )
    except httpx.TransportError:
        return False
    return chat.status_code == 200 and embed.status_code == 200


def wait_until_ready(stack: ServingStack, deadline_s: float = START_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    with httpx.Client(base_url=stack.base_url, timeout=10.0) as client:
        while time.monotonic() < deadline:
            if stack.process.poll() is not None:
                raise StackFailed(f"the server exited with {stack.process.returncode}")
            if _ready(client):
                return
            time.sleep(2.0)
    raise StackFailed(f"the server was not ready within {deadline_s:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server (a clean Serve and Ray shutdown), then kill its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_S)
    # Ray's raylet, GCS and workers share the server's process group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def start_stack(workdir: Path, *, extra_args: tuple[str, ...] = ()) -> Iterator[ServingStack]:
    model_dir = build_tiny_model(workdir / "tiny-llama")
    port = free_port()
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(MODELS_BIN / "cienty"),
                "llm",
                "serve",
                "--profile",
                "cpu",
                "--model-path",
                str(model_dir),
                "--port",
                str(port),
                *extra_args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=serving_env(),
            start_new_session=True,
        )
    stack = ServingStack(f"http://127.0.0.1:{port}", model_dir, log_path, process)
    try:
        wait_until_ready(stack)
        yield stack
    except BaseException:
        print(f"---- {log_path} ----\n{stack.log()[-20000:]}")
        raise
    finally:
        stop(process)
