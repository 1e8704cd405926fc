"""The kernels as torch functions: x [M, K] -> [M, N] in x's dtype, for the few-row products of decode.

Each call is one ctypes call (which releases the GIL) on the tensors' memory; inputs must be contiguous
CPU tensors. ``Kernels.max_rows`` bounds the rows sent here per weight kind: from there on torch's GEMM (or,
for int4, a dequantised block of rows through it) is faster.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from core.kernels.build import Kernels

# int4 weights dequantised per block of rows for prefill-sized products (bounds the temporary copy).
DEQUANT_BLOCK_ELEMENTS = 1 << 22

_DTYPE_CODE = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}
_WEIGHT_CODE = {torch.bfloat16: 0, torch.float16: 1, torch.int8: 2}


def dense(kernels: Kernels, x: Tensor, weight: Tensor, scales: Tensor | None = None,
          bias: Tensor | None = None) -> Tensor:
    """x [M, K] . weight [N, K]^T (bf16, fp16, or int8 with ``scales`` [N]) + bias -> [M, N] in x's dtype."""
    m, k = x.shape
    n = weight.shape[0]
    x = x.contiguous()
    out = torch.empty(m, n, dtype=x.dtype)
    rc = kernels.lib.ponder_gemv_dense(
        x.data_ptr(), _DTYPE_CODE[x.dtype], weight.data_ptr(), _WEIGHT_CODE[weight.dtype],
        None if scales is None else scales.data_ptr(), 0 if scales is None else _DTYPE_CODE[scales.dtype],
        out.data_ptr(), _DTYPE_CODE[out.dtype], m, n, k, torch.get_num_threads())
    if rc:
        raise MemoryError(f"the decode kernel could not allocate {m}x{k} floats")
    return out if bias is None else out.add_(bias)


def int4(kernels: Kernels, x: Tensor, weight: Tensor, scales_and_zeros: Tensor, group: int,
         bias: Tensor | None = None) -> Tensor:
    """x [M, K] . W^T for int4 ``weight`` [N, K/2] in ``pack_int4_rows``' layout with fp32
    ``scales_and_zeros`` [N, K/group, 2] -> [M, N] in x's dtype."""
    m, k = x.shape
    n = weight.shape[0]
    x = x.contiguous()
    out = torch.empty(m, n, dtype=x.dtype)
    rc = kernels.lib.ponder_gemv_int4(x.data_ptr(), _DTYPE_CODE[x.dtype], weight.data_ptr(),
                                      scales_and_zeros.data_ptr(), group, out.data_ptr(), _DTYPE_CODE[out.dtype],
                                      m, n, k, torch.get_num_threads())
    if rc:
        raise ValueError(f"int4 kernel refused K={k}, group={group} (K a multiple of 32 and of the group; "
                         "group 32-256)")
    return out if bias is None else out.add_(bias)


def dequant_int4(kernels: Kernels, weight: Tensor, scales_and_zeros: Tensor, group: int, n0: int, n1: int,
                 dtype: torch.dtype) -> Tensor:
    """Rows [n0, n1) of an int4 weight as a dense [n1 - n0, K] tensor of ``dtype``."""
    k = weight.shape[1] * 2
    out = torch.empty(n1 - n0, k, dtype=dtype)
    kernels.lib.ponder_dequant_int4(weight.data_ptr(), scales_and_zeros.data_ptr(), group, n0, n1, k,
                                    out.data_ptr(), _DTYPE_CODE[dtype], torch.get_num_threads())
    return out


def int4_by_blocks(kernels: Kernels, x: Tensor, weight: Tensor, scales_and_zeros: Tensor, group: int,
                   bias: Tensor | None = None) -> Tensor:
    """A prefill-sized int4 product: the weight dequantised a block of rows at a time into x's dtype, each
    block multiplied by torch's GEMM."""
    block = partial(dequant_int4, kernels, weight, scales_and_zeros, group, dtype=x.dtype)
    return gemm_by_row_blocks(x, weight.shape[0], weight.shape[1] * 2, block, bias)


def gemm_by_row_blocks(x: Tensor, n: int, k: int, block: Callable[[int, int], Tensor],
                       bias: Tensor | None = None) -> Tensor:
    """x [M, K] times weights made a block of rows at a time (``block(n0, n1)`` -> [n1 - n0, K] in the GEMM's
    dtype): the temporary copy stays small enough for the caches instead of a whole widened matrix being
    written to memory and read back. The result is in x's dtype."""
    out = torch.empty(x.shape[0], n, dtype=x.dtype)
    step = max(64, DEQUANT_BLOCK_ELEMENTS // k // 64 * 64)
    xw = x
    for n0 in range(0, n, step):
        n1 = min(n, n0 + step)
        w = block(n0, n1)
        xw = xw.to(w.dtype)  # once
        out[:, n0:n1] = xw @ w.t()
    return out if bias is None else out.add_(bias)


def pack_int4_rows(q: Tensor) -> Tensor:
    """int nibbles [N, K] (0..15) -> [N, K/2] uint8: per block of 32 inputs, byte j holds input j (low
    nibble) and input j + 16 (high), so one load of 16 bytes gives 32 consecutive inputs."""
    n, k = q.shape
    blocks = q.to(torch.uint8).reshape(n, k // 32, 2, 16)
    return (blocks[:, :, 0] | blocks[:, :, 1] << 4).reshape(n, k // 2)
