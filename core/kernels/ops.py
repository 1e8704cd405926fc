"""The kernels as torch functions: x [M, K] -> [M, N] in x's dtype, for the few-row products of decode.

Each call is one ctypes call (which releases the GIL) on the tensors' memory; inputs must be contiguous
CPU tensors. ``Kernels.max_rows`` bounds the rows sent here per weight kind: from there on torch's GEMM (or,
for int4, a dequantised block of rows through it) is faster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import Tensor

from core.kernels import cpu_gemm
from core.kernels.build import Kernels

ROW_BLOCK = 64  # rows of x per kernel call (``_row_blocks``)
# int4 weights dequantised per block of rows for prefill-sized products (bounds the temporary copy).
DEQUANT_BLOCK_ELEMENTS = 1 << 22

DTYPE_CODE = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}
WEIGHT_CODE = {torch.bfloat16: 0, torch.float16: 1, torch.int8: 2}


def dense(kernels: Kernels, x: Tensor, weight: Tensor, scales: Tensor | None = None,
          bias: Tensor | None = None) -> Tensor:
    """x [M, K] . weight [N, K]^T (bf16, fp16, or int8 with ``scales`` [N]) + bias -> [M, N] in x's dtype."""
    m, k = x.shape
    n = weight.shape[0]
    x = x.contiguous()
    out = torch.empty(m, n, dtype=x.dtype)
    code, size, threads = DTYPE_CODE[x.dtype], x.element_size(), torch.get_num_threads()
    for m0, rows in _row_blocks(m):
        rc = kernels.lib.ponder_gemv_dense(
            x.data_ptr() + m0 * k * size, code, weight.data_ptr(), WEIGHT_CODE[weight.dtype],
            None if scales is None else scales.data_ptr(), 0 if scales is None else DTYPE_CODE[scales.dtype],
            out.data_ptr() + m0 * n * size, code, rows, n, k, threads)
        if rc:
            raise MemoryError(f"the decode kernel could not allocate {rows}x{k} floats")
    return out if bias is None else out.add_(bias)


def _row_blocks(m: int) -> list[tuple[int, int]]:
    """(first row, rows) of x per kernel call: blocks of ``ROW_BLOCK`` keep x's int8 copy in the core's L2 while
    every weight row is multiplied with it (a prefill of 512 rows would stream it from L3 once per weight row)."""
    return [(m0, min(ROW_BLOCK, m - m0)) for m0 in range(0, m, ROW_BLOCK)]


def int4(kernels: Kernels, x: Tensor, weight: Tensor, scales_and_zeros: Tensor, group: int,
         bias: Tensor | None = None) -> Tensor:
    """x [M, K] . W^T for int4 ``weight`` [N, K/2] in ``pack_int4_rows``' layout with fp32
    ``scales_and_zeros`` [N, K/group, 2] -> [M, N] in x's dtype."""
    m, k = x.shape
    n = weight.shape[0]
    x = x.contiguous()
    out = torch.empty(m, n, dtype=x.dtype)
    code, size, threads = DTYPE_CODE[x.dtype], x.element_size(), torch.get_num_threads()
    for m0, rows in _row_blocks(m):
        rc = kernels.lib.ponder_gemv_int4(x.data_ptr() + m0 * k * size, code, weight.data_ptr(),
                                          scales_and_zeros.data_ptr(), group, out.data_ptr() + m0 * n * size, code,
                                          rows, n, k, threads)
        if rc == 1:
            raise MemoryError(f"the int4 kernel could not allocate {rows}x{k} floats")
        if rc:
            raise ValueError(f"int4 kernel refused K={k}, group={group} (K a multiple of 32 and of the group; "
                             "group 32-256)")
    return out if bias is None else out.add_(bias)


def dequant_int4(kernels: Kernels, weight: Tensor, scales_and_zeros: Tensor, group: int, n0: int, n1: int,
                 dtype: torch.dtype, out: Tensor | None = None) -> Tensor:
    """Rows [n0, n1) of an int4 weight as a dense [n1 - n0, K] tensor of ``dtype`` (written into ``out`` if given)."""
    k = weight.shape[1] * 2
    out = torch.empty(n1 - n0, k, dtype=dtype) if out is None else out
    kernels.lib.ponder_dequant_int4(weight.data_ptr(), scales_and_zeros.data_ptr(), group, n0, n1, k,
                                    out.data_ptr(), DTYPE_CODE[dtype], torch.get_num_threads())
    return out


def int4_by_blocks(kernels: Kernels, x: Tensor, weight: Tensor, scales_and_zeros: Tensor, group: int,
                   bias: Tensor | None = None) -> Tensor:
    """A prefill-sized int4 product: the weight dequantised a block of rows at a time into x's dtype (fp32 where
    the CPU has no arithmetic in x's: ``cpu_gemm.gemm_dtype``), each block multiplied by the GEMM."""
    dtype = cpu_gemm.gemm_dtype(x.dtype)

    def block(n0: int, n1: int, out: Tensor) -> Tensor:
        return dequant_int4(kernels, weight, scales_and_zeros, group, n0, n1, dtype, out)

    return gemm_by_row_blocks(x, weight.shape[0], weight.shape[1] * 2, dtype, block, bias)


def gemm_16bit_weights(kernels: Kernels, x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor | None:
    """A prefill-sized x [M, K] . weight^T for bf16 or fp16 weights on a CPU without arithmetic in them: fp32
    FMAs on the weights widened in registers (``ponder_gemm_f16w``), the result rounded to x's dtype, then the
    bias added (as ``gemm_by_row_blocks`` does). None where the kernel declines (the caller widens blocks)."""
    m, k = x.shape
    n = weight.shape[0]
    xf = x.to(torch.float32).contiguous()
    out = torch.empty(m, n, dtype=torch.float32)
    if kernels.lib.ponder_gemm_f16w(xf.data_ptr(), weight.data_ptr(), WEIGHT_CODE[weight.dtype], out.data_ptr(),
                                    m, n, k, torch.get_num_threads()):
        return None
    out = out.to(x.dtype)
    return out if bias is None else out.add_(bias)


def gemm_by_row_blocks(x: Tensor, n: int, k: int, dtype: torch.dtype, block: Callable[[int, int, Tensor], Tensor],
                       bias: Tensor | None = None) -> Tensor:
    """x [M, K] times weights made a block of rows at a time in the GEMM's ``dtype`` (``block(n0, n1, out)``
    writes rows [n0, n1) into ``out`` [n1 - n0, K]): the temporary copy stays small enough for the caches
    instead of a whole widened matrix being written to memory and read back, and its buffer is kept between
    calls (a fresh one would be fresh pages, faulted in on every call: 2.4x the time of the copy itself).
    The result is in x's dtype."""
    out = torch.empty(x.shape[0], n, dtype=x.dtype)
    step = min(n, max(64, DEQUANT_BLOCK_ELEMENTS // k // 64 * 64))
    scratch = _scratch(step * k, dtype)
    with torch.no_grad():  # inference only: the kept buffer must never join a graph
        xw = x.to(dtype)
        for n0 in range(0, n, step):
            n1 = min(n, n0 + step)
            w = block(n0, n1, scratch[:(n1 - n0) * k].view(n1 - n0, k))
            out[:, n0:n1] = cpu_gemm.linear(xw, w)
        return out if bias is None else out.add_(bias)


_SCRATCH = threading.local()


def _scratch(elements: int, dtype: torch.dtype) -> Tensor:
    """A flat buffer of at least ``elements`` of ``dtype``, this thread's, kept for the next call."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    buffer = buffers.get(dtype)
    if buffer is None or buffer.numel() < elements:
        with torch.inference_mode(False):  # a normal tensor: filled in inference mode and out of it alike
            buffer = buffers[dtype] = torch.empty(elements, dtype=dtype)
    return buffer


def attend_one(kernels: Kernels, cache: Tensor, slot: int, tokens: int, q: Tensor) -> Tensor | None:
    """One query token over the first ``tokens`` of ``slot`` in a layer's cache [slots, 2*KVH, max_tokens, D]
    (keys then values): q [H, D] -> [H, D], in the cache's dtype; None where the kernel does not take the
    shape (the caller's own attention then runs)."""
    code = DTYPE_CODE.get(cache.dtype)
    if code is None or q.dtype != cache.dtype:
        return None
    _, two_kv, max_tokens, d = cache.shape
    kv_heads = two_kv // 2
    q = q.contiguous()
    out = torch.empty_like(q)
    size = cache.element_size()
    keys = cache.data_ptr() + slot * two_kv * max_tokens * d * size
    rc = kernels.lib.ponder_attend_one(q.data_ptr(), keys, keys + kv_heads * max_tokens * d * size,
                                       code, q.shape[0], kv_heads, tokens, d, max_tokens * d,
                                       d ** -0.5, out.data_ptr(), torch.get_num_threads())
    if rc == 1:
        raise MemoryError(f"the attention kernel could not allocate its scores for {tokens} tokens")
    return None if rc else out


def rms_norm(kernels: Kernels, x: Tensor, weight: Tensor, eps: float, residual: Tensor | None = None) -> Tensor:
    """x [..., h] / sqrt(mean(x^2) + eps) * weight, in fp32 and rounded once, in x's dtype. With ``residual``
    the norm is of x + residual (rounded to x's dtype, as ``x + residual`` would be) and the result is the pair
    (that sum, its norm): a residual add fused with the norm after it."""
    h = x.shape[-1]
    rows = x.reshape(-1, h)  # a view where the rows are evenly spaced (a head's slice of q|k|v), else a copy
    if rows.stride(1) != 1:
        rows = rows.contiguous()
    m = rows.shape[0]
    out = torch.empty(m, h, dtype=x.dtype)
    summed = None
    if residual is not None:
        residual = residual.reshape(m, h).contiguous()
        summed = torch.empty(m, h, dtype=x.dtype)
    weight = weight.contiguous()
    rc = kernels.lib.ponder_rms_norm(rows.data_ptr(), rows.stride(0), None if residual is None else residual.data_ptr(),
                                     None if summed is None else summed.data_ptr(), DTYPE_CODE[x.dtype],
                                     weight.data_ptr(), DTYPE_CODE[weight.dtype], out.data_ptr(), m, h, eps,
                                     torch.get_num_threads())
    if rc:
        raise MemoryError(f"the norm kernel could not allocate {3 * h} floats")
    if summed is None:
        return out.view(x.shape)
    return summed.view(x.shape), out.view(x.shape)


def rope(kernels: Kernels, x: Tensor, cos: Tensor, sin: Tensor, out: Tensor) -> bool:
    """Rotary embedding of x [..., heads, D] into ``out`` (same shape; may be x's memory) with tables cos and
    signed sin broadcast over the heads ([..., 1, D]), as ``x * cos + roll(x, D/2) * sin``. False where the
    layout does not suit the kernel (the caller's torch path then runs)."""
    heads, d = x.shape[-2:]
    if x.dtype not in DTYPE_CODE or cos.dtype != x.dtype or sin.dtype != x.dtype or out.dtype != x.dtype:
        return False
    try:
        src, dst = x.view(-1, heads, d), out.view(-1, heads, d)
    except RuntimeError:  # tokens not evenly spaced in memory
        return False
    m = src.shape[0]
    if src.stride(1) != d or src.stride(2) != 1 or dst.stride(1) != d or dst.stride(2) != 1:
        return False
    c, s = cos.expand(*x.shape[:-2], 1, d).reshape(m, d), sin.expand(*x.shape[:-2], 1, d).reshape(m, d)
    return kernels.lib.ponder_rope(src.data_ptr(), src.stride(0), dst.data_ptr(), dst.stride(0), DTYPE_CODE[x.dtype],
                                   c.data_ptr(), s.data_ptr(), m, heads, d, torch.get_num_threads()) == 0


def silu_mul(kernels: Kernels, gate_up: Tensor, inter: int) -> Tensor:
    """gate_up [..., 2 * inter] (gate, then up) -> silu(gate) * up [..., inter], in fp32 and rounded once."""
    rows = gate_up.reshape(-1, 2 * inter).contiguous()
    out = torch.empty(*gate_up.shape[:-1], inter, dtype=gate_up.dtype)
    kernels.lib.ponder_silu_mul(rows.data_ptr(), DTYPE_CODE[gate_up.dtype], out.data_ptr(), rows.shape[0], inter,
                                torch.get_num_threads())
    return out


def pack_int4_rows(q: Tensor) -> Tensor:
    """int nibbles [N, K] (0..15) -> [N, K/2] uint8: per block of 32 inputs, byte j holds input j (low
    nibble) and input j + 16 (high), so one load of 16 bytes gives 32 consecutive inputs."""
    n, k = q.shape
    blocks = q.to(torch.uint8).reshape(n, k // 32, 2, 16)
    return (blocks[:, :, 0] | blocks[:, :, 1] << 4).reshape(n, k // 2)
