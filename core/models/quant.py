"""The projection layers of a loaded model: weight-only int8 and int4, and bf16/fp16 on CPU.

Decode is memory-bound, so bytes read per token set the speed: int8 halves bf16's bytes, int4 quarters
them. Activations stay in the compute dtype (bf16 where the CPU has native bf16, else fp32).

On CPU, products of a few rows (decode, speculative verification, a few batched streams) run Ponder's own
kernels (``core.kernels``) when the loader found them, which stream the weights at the memory bus's speed;
wider products (prefill chunks) run torch's GEMM. Without them, torch's kernels run every product.

- int8: symmetric, one scale per output channel; ``aten._weight_int8pack_mm`` (CPU and CUDA).
- int4: asymmetric, a scale and a zero per group of input channels (gpt-fast's scheme:
  w = (q - 8) * scale + zero); on CPU with Ponder's kernels in their own layout (``kernels.ops``), else
  ``aten._weight_int4pack_mm_for_cpu``; ``_weight_int4pack_mm`` on CUDA.

Each quantiser works on a block of whole rows, so the loader can quantise a huge matrix (an LM head of
150k rows) a slice at a time and peak memory stays near the final size.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.kernels import cpu_gemm, ops
from core.kernels.build import Kernels

INT4_GROUP_SIZES = (128, 64, 32)
# From this many rows an int8 layer with bf16 activations dequantises its weight (a block of rows at a time) and
# runs the GEMM; below, torch's int8 kernel. Measured on a 2-core AMD EPYC (Zen 5), 8960x1536: 6.9 vs 6.9 ms at 64
# rows, 31 vs 14 at 256, 82 vs 24 at 512. With fp32 activations torch's int8 kernel is never used: 66 vs 9 ms at
# 8 rows.
INT8_DEQUANT_MIN_ROWS = 64
# From this many rows a bf16 or fp16 layer on a CPU without arithmetic in its type widens its weight to fp32 for
# the call (``cpu_gemm.gemm_dtype``): torch's emulated 16-bit GEMM is slow. Measured on a 2-core AMD EPYC (Zen 5),
# fp16 8960x1536: 7.1 vs 6.8 ms at 8 rows, 47 vs 9.7 ms at 64, 343 vs 45 ms at 512.
WIDEN_MIN_ROWS = 8
INT4_ROW_BLOCK = 64  # the CPU int4 packing is independent per block of 64 rows
_CUDA_INNER_K_TILES = 8


def int4_group_size(in_features: int, out_features: int, any_rows: bool = False) -> int | None:
    """Largest supported group that divides the input width; None if the kernels cannot take the shape
    (torch's packed layouts need a multiple of 16 rows, Ponder's kernels, ``any_rows``, take any)."""
    if out_features % 16 and not any_rows:
        return None
    return next((g for g in INT4_GROUP_SIZES if in_features % g == 0), None)


def quantize_int8_rows(w: Tensor) -> tuple[Tensor, Tensor]:
    """w [N, K] float -> (q int8 [N, K], scale fp32 [N]) with w ~= q * scale."""
    w = w.float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(w / scale[:, None]).clamp_(-128, 127).to(torch.int8)
    return q, scale


def quantize_int4_rows(w: Tensor, group: int) -> tuple[Tensor, Tensor]:
    """w [N, K] float -> (q int32 [N, K] in 0..15, scales_and_zeros fp32 [K/group, N, 2])."""
    n, k = w.shape
    wg = w.float().reshape(n, k // group, group)
    lo, hi = wg.amin(dim=-1), wg.amax(dim=-1)
    scale = ((hi - lo) / 15.0).clamp(min=1e-6)
    q = torch.round((wg - lo[..., None]) / scale[..., None]).clamp_(0, 15).to(torch.int32).reshape(n, k)
    zero = lo + scale * 8.0
    return q, torch.stack((scale, zero), dim=-1).transpose(0, 1).contiguous()


def pack_int4(q: Tensor, device: torch.device) -> Tensor:
    """Pack int32 nibbles [N, K] into the layout the int4 matmul kernel of ``device`` expects."""
    if device.type == "cuda":
        nib = (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8).to(device)
        return torch.ops.aten._convert_weight_to_int4pack(nib, _CUDA_INNER_K_TILES)
    return torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)


class CpuLinear(nn.Linear):
    """Float weights on CPU: bf16 and fp16 few-row products through Ponder's kernels (when ``kernels`` is
    set), the rest through torch's GEMM (fp32 through oneDNN: ``core.kernels.cpu_gemm``). With ``widen`` (a CPU
    without arithmetic in the weights' 16-bit type) larger calls run the fp32 GEMM on the weight widened for the
    call (exact: every bf16 and fp16 value is an fp32 value) and round the result back."""

    kernels: Kernels | None = None
    widen: bool = False

    def forward(self, x: Tensor) -> Tensor:
        out = cpu_matmul(x.reshape(-1, x.shape[-1]), self.weight, self.bias, self.kernels, self.widen)
        return out.view(*x.shape[:-1], self.out_features)

    def matmul_fn(self) -> Callable[[Tensor], Tensor]:
        """x [N, K] -> [N, out_features] with the weights bound (for ``TokenDecoder``)."""
        return partial(cpu_matmul, weight=self.weight, bias=self.bias, kernels=self.kernels, widen=self.widen)


def cpu_matmul(x2: Tensor, weight: Tensor, bias: Tensor | None, kernels: Kernels | None, widen: bool) -> Tensor:
    kind = "bf16" if weight.dtype == torch.bfloat16 else "fp16"
    if kernels is not None and x2.shape[0] <= kernels.max_rows[kind]:
        return ops.dense(kernels, x2, weight, bias=bias)
    if widen and x2.shape[0] >= WIDEN_MIN_ROWS:
        # fp32 arithmetic on the weight widened in registers, else a block of rows at a time for the fp32 GEMM
        out = None if kernels is None else ops.gemm_16bit_weights(kernels, x2, weight, bias)
        if out is not None:
            return out
        return ops.gemm_by_row_blocks(x2, weight.shape[0], weight.shape[1], torch.float32,
                                      lambda n0, n1, scratch: scratch.copy_(weight[n0:n1]), bias)
    return cpu_gemm.linear(x2, weight, bias)


class Int8Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype,
                 device: torch.device | str | None = None, kernels: Kernels | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features, self.kernels = in_features, out_features, kernels
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("scales", torch.empty(out_features, dtype=dtype, device=device))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype, device=device), requires_grad=False) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        out = int8_matmul(x.reshape(-1, x.shape[-1]), self.weight, self.scales, self.bias, self.kernels)
        return out.view(*x.shape[:-1], self.out_features)

    def matmul_fn(self) -> Callable[[Tensor], Tensor]:
        """x [N, K] -> [N, out_features] with the weights bound: ``forward`` without reshapes or lookups."""
        return partial(int8_matmul, weight=self.weight, scales=self.scales, bias=self.bias, kernels=self.kernels)


def int8_matmul(x2: Tensor, weight: Tensor, scales: Tensor, bias: Tensor | None,
                kernels: Kernels | None = None) -> Tensor:
    if kernels is not None and x2.shape[0] <= kernels.max_rows["int8"]:
        return ops.dense(kernels, x2, weight, scales, bias)
    if x2.device.type == "cpu":
        dtype = cpu_gemm.gemm_dtype(x2.dtype)
        if dtype == torch.float32 or x2.shape[0] >= INT8_DEQUANT_MIN_ROWS:  # the GEMM on dequantised blocks
            s = scales.to(dtype)[:, None]
            return ops.gemm_by_row_blocks(x2, weight.shape[0], weight.shape[1], dtype,
                                          lambda n0, n1, block: torch.mul(weight[n0:n1], s[n0:n1], out=block), bias)
    elif x2.shape[0] >= INT8_DEQUANT_MIN_ROWS:
        return F.linear(x2, weight * scales[:, None], bias)
    out = torch.ops.aten._weight_int8pack_mm(x2, weight, scales)
    return out if bias is None else out.add_(bias)


class Int4Linear(nn.Module):
    """int4 weights [N, K/2] bytes with a scale and a zero per group. With ``kernels`` (CPU) the bytes are in
    ``ops.pack_int4_rows``' layout and ``scales_and_zeros`` is fp32 [N, K/group, 2]; otherwise in torch's
    packed layout with ``scales_and_zeros`` [K/group, N, 2] in the compute dtype."""

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype, group: int,
                 device: torch.device | str | None = None, kernels: Kernels | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features, self.group, self.kernels = in_features, out_features, group, kernels
        if torch.device(device or "cpu").type == "cuda":
            packed = (out_features // 8, in_features // (_CUDA_INNER_K_TILES * 16), 32, _CUDA_INNER_K_TILES // 2)
            self.register_buffer("weight", torch.empty(packed, dtype=torch.int32, device=device))
        else:
            self.register_buffer("weight", torch.empty(out_features, in_features // 2, dtype=torch.uint8,
                                                       device=device))
        sz_shape = (out_features, in_features // group, 2) if kernels else (in_features // group, out_features, 2)
        self.register_buffer("scales_and_zeros", torch.empty(sz_shape, dtype=torch.float32 if kernels else dtype,
                                                             device=device))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype, device=device), requires_grad=False) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        out = int4_matmul(x.reshape(-1, x.shape[-1]), self.weight, self.group, self.scales_and_zeros, self.bias,
                          self.kernels)
        return out.view(*x.shape[:-1], self.out_features)

    def matmul_fn(self) -> Callable[[Tensor], Tensor]:
        """x [N, K] -> [N, out_features] with the weights bound: ``forward`` without reshapes or lookups."""
        return partial(int4_matmul, weight=self.weight, group=self.group, scales_and_zeros=self.scales_and_zeros,
                       bias=self.bias, kernels=self.kernels)


def int4_matmul(x2: Tensor, weight: Tensor, group: int, scales_and_zeros: Tensor, bias: Tensor | None,
                kernels: Kernels | None = None) -> Tensor:
    if kernels is not None:
        if x2.shape[0] <= kernels.max_rows["int4"]:
            return ops.int4(kernels, x2, weight, scales_and_zeros, group, bias)
        return ops.int4_by_blocks(kernels, x2, weight, scales_and_zeros, group, bias)
    x2 = x2.contiguous()  # the int4 kernels need a dense A
    if x2.is_cuda:
        out = torch.ops.aten._weight_int4pack_mm(x2, weight, group, scales_and_zeros)
    else:
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(x2, weight, group, scales_and_zeros)
    return out if bias is None else out.add_(bias)


class Int8Embedding(nn.Module):
    """Token embedding stored as int8 rows with a scale each; dequantised only for the looked-up rows."""

    def __init__(self, num_embeddings: int, dim: int, dtype: torch.dtype,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.dtype = dtype
        self.register_buffer("weight", torch.empty(num_embeddings, dim, dtype=torch.int8, device=device))
        self.register_buffer("scales", torch.empty(num_embeddings, 1, dtype=dtype, device=device))

    def forward(self, tokens: Tensor) -> Tensor:
        return F.embedding(tokens, self.weight).to(self.dtype) * F.embedding(tokens, self.scales)
