"""A decode step's matrix products for Llama-3.1-8B and -70B, timed on a real GPU.

vLLM cannot be installed where the GPU is lent to us, so this measures the part of a decode
step that dominates it: every linear layer of the model (attention projections, MLP, LM head)
at the batch sizes vLLM runs, as cuBLAS GEMMs captured in one CUDA graph, in bf16 and in fp8.
The figures are an upper bound for a serving engine (vLLM adds attention over the KV cache,
sampling and scheduling) and the basis of the sizing in docs/llm-serving.md.

`python -m bench.gpu_roofline [--output FILE] [--quick]` on a machine with CUDA and PyTorch.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.document import write_section


@dataclass(frozen=True)
class Architecture:
    name: str
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    layers: int
    vocab: int = 128256
    head_dim: int = 128

    def linears(self, tensor_parallel: int) -> list[tuple[int, int]]:
        """(out, in) of each GEMM in one layer, as one GPU holds it under tensor parallelism."""
        qkv = (self.heads + 2 * self.kv_heads) * self.head_dim // tensor_parallel
        return [
            (qkv, self.hidden),
            (self.hidden, self.heads * self.head_dim // tensor_parallel),
            (2 * self.intermediate // tensor_parallel, self.hidden),
            (self.hidden, self.intermediate // tensor_parallel),
        ]

    def weight_bytes(self, tensor_parallel: int, bytes_per_weight: float) -> float:
        """The weights one decode step reads on one GPU (the embedding table is not read)."""
        per_layer = sum(o * i for o, i in self.linears(tensor_parallel))
        lm_head = self.vocab // tensor_parallel * self.hidden
        return (self.layers * per_layer + lm_head) * bytes_per_weight

    def kv_bytes_per_token(self, bytes_per_value: float) -> float:
        return 2 * self.layers * self.kv_heads * self.head_dim * bytes_per_value


LLAMA_8B = Architecture("Llama-3.1-8B", 4096, 14336, 32, 8, 32)
LLAMA_70B = Architecture("Llama-3.3-70B", 8192, 28672, 64, 8, 80)


def _step_graph(torch: Any, arch: Architecture, tp: int, batch: int, fp8: bool) -> Any:
    """A CUDA graph of one decode step's GEMMs; one layer's weights serve every layer (each
    layer's weights are far larger than L2, so every GEMM still streams them from HBM)."""
    device = torch.device("cuda")
    lm_head = (arch.vocab // tp, arch.hidden)
    shapes = [*arch.linears(tp)]
    if fp8:
        weights = [
            torch.randn(o, i, device=device, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
            for o, i in [*shapes, lm_head]
        ]
        inputs = [
            torch.randn(batch, i, device=device, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
            for _, i in [*shapes, lm_head]
        ]
        one = torch.ones((), device=device, dtype=torch.float32)

        def gemm(x: Any, w: Any) -> Any:
            return torch._scaled_mm(x, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    else:
        weights = [
            torch.randn(o, i, device=device, dtype=torch.bfloat16) for o, i in [*shapes, lm_head]
        ]
        inputs = [
            torch.randn(batch, i, device=device, dtype=torch.bfloat16)
            for _, i in [*shapes, lm_head]
        ]

        def gemm(x: Any, w: Any) -> Any:
            return x @ w.t()

    def step() -> None:
        for _ in range(arch.layers):
            for x, w in zip(inputs[:-1], weights[:-1], strict=True):
                gemm(x, w)
        gemm(inputs[-1], weights[-1])

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph, weights, inputs


def _time_graph(torch: Any, graph: Any, repeats: int) -> float:
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return float(start.elapsed_time(end)) / repeats  # ms


def _bandwidth(torch: Any) -> float:
    source = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / 10
    return float(2 * source.numel() / seconds / 1e12)  # TB/s, bytes read plus written


def measure(quick: bool) -> str:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    name = torch.cuda.get_device_name()
    memory_gib = torch.cuda.get_device_properties(0).total_memory / 1024**3
    bandwidth = _bandwidth(torch)
    batches = [1, 32] if quick else [1, 8, 32, 64, 128, 256]
    cases = [(LLAMA_8B, 1), (LLAMA_70B, 4)] if not quick else [(LLAMA_8B, 1)]
    rows = []
    for arch, tp in cases:
        for fp8 in (False, True):
            for batch in batches:
                padded = max(batch, 16) if fp8 else batch  # fp8 GEMMs want 16-row multiples
                try:
                    graph, *_ = _step_graph(torch, arch, tp, padded, fp8)
                    ms = _time_graph(torch, graph, 5 if quick else 20)
                    del graph
                except RuntimeError as error:  # an fp8 kernel missing on this GPU
                    rows.append(
                        f"| {arch.name} | {tp} | {'fp8' if fp8 else 'bf16'} | {batch} "
                        f"| n/a ({str(error).splitlines()[0][:60]}) | | |"
                    )
                    continue
                finally:
                    torch.cuda.empty_cache()
                gb = arch.weight_bytes(tp, 1 if fp8 else 2) / 1e9
                rows.append(
                    f"| {arch.name} | {tp} | {'fp8' if fp8 else 'bf16'} | {batch} | {ms:.2f} "
                    f"| {batch / ms * 1000:,.0f} | {gb / ms:.2f} |"
                )
                print(rows[-1], flush=True)
    kv_lines = [
        f"- KV cache per token (bf16): {arch.name} "
        f"{arch.kv_bytes_per_token(2) / 1024:.0f} KiB for the whole model"
        for arch in (LLAMA_8B, LLAMA_70B)
    ]
    return "\n".join(
        [
            "## GPU decode-step roofline (Llama linear layers)",
            "",
            "`python -m bench.gpu_roofline`, run on a lent GPU machine (vLLM itself cannot be "
            "installed there: nothing can be downloaded and its wheel is too large to carry).",
            "",
            "### Run",
            "",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
            f"- GPU: {name}, {memory_gib:.0f} GiB; PyTorch {torch.__version__}, "
            f"CUDA {torch.version.cuda}",
            f"- Device-to-device copy: {bandwidth:.2f} TB/s (bytes read plus written)",
            "",
            "### Method",
            "",
            "- One decode step's GEMMs: per layer the fused QKV projection, the output "
            "projection, the fused gate/up projection and the down projection, times the layer "
            "count, plus the LM head; shapes of Llama-3.1-8B (32 layers, hidden 4096, MLP 14336, "
            "32 query / 8 KV heads) and Llama-3.3-70B (80 layers, hidden 8192, MLP 28672, 64 / 8 "
            "heads) as ONE GPU holds them under tensor parallelism (TP), random weights.",
            "- Captured in one CUDA graph (as vLLM runs decode) and replayed 20 times after "
            "warm-up; bf16 via `x @ w.T`, fp8 (e4m3, per-tensor scale) via `torch._scaled_mm` "
            "with the batch padded to 16 rows.",
            "- Not included: attention over the KV cache, all-reduce between TP ranks, "
            "sampling, scheduling. A serving engine is slower than this; use it as the ceiling "
            "and the ratio between configurations.",
            "- `weights read, TB/s`: the layers' and the LM head's weights that one GPU reads "
            "per step, over the step time (the copy above is the machine's ceiling).",
            "",
            "### Results",
            "",
            "| Model | TP | Weights | Batch | ms per step | tokens/s ceiling (batch / step) "
            "| weights read, TB/s |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            *kv_lines,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_roofline", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the page whose section to write, e.g. docs/benchmarks.md",
    )
    args = parser.parse_args(argv)
    text = measure(args.quick)
    print(text)
    if args.output is not None:
        write_section(args.output, "gpu-roofline", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
