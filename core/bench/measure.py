"""Measurement primitives of the benchmark: the ceilings a decode step is judged against, and errors.

- ``matmul_ceiling``: one decode step's weight matmuls alone (every layer's fused projections and the LM
  head, called on the model's own weight tensors through the same kernels, with no attention, norms or
  Python around them): the fastest decode torch could do with this weight format.
- ``memory_bandwidth``: bytes per second this machine streams (a large reduction), for the roofline
  ``bandwidth / bytes read per token``.
- ``logit_errors``: max |diff|, top-1 agreement and KL of next-token distributions against fp32.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models import quant
from core.models.transformer import Transformer


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    """Seconds per call (mean over ``repeats`` calls)."""
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def decode_matmuls(model: Transformer) -> list[Callable[[], Tensor]]:
    """Closures running each weight matmul of one decode step (batch 1) on the model's own weights."""
    dtype = model.compute_dtype
    linears = [m for layer in model.layers
               for m in (layer.self_attn.qkv_proj, layer.self_attn.o_proj, layer.mlp.gate_up_proj, layer.mlp.down_proj)]
    linears.append(model.lm_head)
    calls = []
    for m in linears:
        x = torch.randn(1, m.in_features, dtype=dtype, device=model.norm.weight.device)
        calls.append(_raw_matmul(m, x))
    return calls


def _raw_matmul(m: nn.Module, x: Tensor) -> Callable[[], Tensor]:
    if isinstance(m, quant.Int8Linear):
        return lambda: torch.ops.aten._weight_int8pack_mm(x, m.weight, m.scales)
    if isinstance(m, quant.Int4Linear):
        op = torch.ops.aten._weight_int4pack_mm if m.weight.is_cuda else torch.ops.aten._weight_int4pack_mm_for_cpu
        return lambda: op(x, m.weight, m.group, m.scales_and_zeros)
    return lambda: F.linear(x, m.weight)


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


def memory_bandwidth_bytes_per_s(n_bytes: int = 1 << 30, repeats: int = 5) -> float:
    """Read bandwidth: best of ``repeats`` sums over a buffer far larger than the caches."""
    buf = torch.ones(n_bytes // 4, dtype=torch.float32)
    buf.sum()
    best = min(timed(buf.sum) for _ in range(repeats))
    return n_bytes / best


@dataclass(frozen=True, slots=True)
class LogitErrors:
    max_abs_diff: float
    top1_agreement: float
    mean_kl: float  # KL(p_fp32 || p) per position, nats

    def to_dict(self) -> dict[str, float]:
        return {"max_abs_diff": self.max_abs_diff, "top1_agreement": self.top1_agreement, "mean_kl": self.mean_kl}


def logit_errors(reference: Tensor, logits: Tensor) -> LogitErrors:
    """reference, logits [T, V]."""
    ref, got = reference.float(), logits.float()
    ref_logp, got_logp = F.log_softmax(ref, dim=-1), F.log_softmax(got, dim=-1)
    kl = (ref_logp.exp() * (ref_logp - got_logp)).sum(-1).mean()
    return LogitErrors(float((ref - got).abs().max()), float((ref.argmax(-1) == got.argmax(-1)).float().mean()),
                       float(kl))


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
