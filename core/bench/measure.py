"""Measurement primitives of the benchmark: the ceilings a decode step is judged against.

- ``matmul_ceiling``: one decode step's weight matmuls alone (every layer's fused projections and the LM
  head, called on the model's own weight tensors through the same kernels, with no attention, norms or
  Python around them): the fastest decode torch could do with this weight format.
- ``copy_bandwidth``: bytes per second this machine streams (STREAM copy), for the roofline
  ``bandwidth / bytes read per token``.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable

import torch
from torch import Tensor, nn

from core.models import quant
from core.models.decode import matmul_of
from core.models.transformer import Transformer


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    """Seconds per call (mean over ``repeats`` calls)."""
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def decode_matmuls(model: Transformer) -> list[Callable[[], Tensor]]:
    """Closures running each weight matmul of one decode step (batch 1) on the model's own weights."""
    dtype = model.compute_dtype
    linears = [m for layer in model.layers
               for m in (layer.self_attn.qkv_proj, layer.self_attn.o_proj, layer.mlp.gate_up_proj, layer.mlp.down_proj)]
    linears.append(model.lm_head)
    calls = []
    for m in linears:
        x = torch.randn(1, m.in_features, dtype=dtype, device=model.norm.weight.device)
        calls.append(partial(matmul_of(m), x))  # the product decode runs, whichever kernel that is
    return calls


@torch.inference_mode()
def matmul_ceiling_step_s(calls: list[Callable[[], Tensor]]) -> float:
    """Seconds for one pass over all decode matmuls."""
    start = time.perf_counter()
    for call in calls:
        call()
    return time.perf_counter() - start


def decode_weight_bytes(model: Transformer) -> int:
    """Bytes of weights one decode step reads: every layer's matmul weights plus the LM head."""
    total = 0
    for m in [*model.layers.modules(), model.lm_head]:
        if isinstance(m, (nn.Linear, quant.Int8Linear, quant.Int4Linear)):
            total += sum(t.numel() * t.element_size() for t in (*m.parameters(), *m.buffers()))
    return total


def copy_bandwidth_bytes_per_s(device: torch.device | str = "cpu", n_bytes: int = 256 * 2**20,
                               repeats: int = 5) -> float:
    """This machine's peak memory bandwidth, STREAM-copy style: best of ``repeats`` copies of a buffer far
    larger than the caches, counting bytes read plus bytes written (on a GPU: device memory)."""
    device = torch.device(device)
    src = torch.ones(n_bytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def copy() -> None:
        dst.copy_(src)
        sync()

    copy()
    best = min(timed(copy) for _ in range(repeats))
    return 2 * n_bytes / best
