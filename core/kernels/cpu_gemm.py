"""fp32 products on x86 CPUs through oneDNN's inner product instead of torch's default BLAS.

torch's fp32 ``F.linear`` on CPU calls MKL's sgemm, which takes a generic code path on AMD processors. oneDNN
(shipped inside torch, dispatching on the instruction set itself) computes the same product in fp32 at twice
the speed or more. Measured on an AMD EPYC (Zen 5, 2 cores, AVX-512), torch 2.13, 2 threads: 140-180 GFLOPS
with MKL against 250-400 with oneDNN for 128-2,048 rows of 1536x8960, 8960x1536, 1536x1536 and 256x1536
weights, and a one-row product of the 8960x1536 weight in 1.2 ms against 2.8 ms (the memory bound against
half of it). The relative error against a float64 product stays at fp32's level (about 1e-6 at K = 1536).

This is every fp32 product of inference on CPU: the fp32 precision, and bf16, fp16, int8 and int4 weights
widened or dequantised for a many-row product (a prefill) where the CPU has no arithmetic in the activations'
16-bit type (``gemm_dtype``). Training needs gradients, which oneDNN's op does not give: a product that records
them takes ``F.linear``.
"""

from __future__ import annotations

import logging
import platform
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

from core.hardware import cpu_has_native_bf16, cpu_has_native_fp16, cpu_name_and_flags

log = logging.getLogger(__name__)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)`` for x [M, K]; fp32 on CPU through oneDNN where it works here."""
    if (weight.dtype == torch.float32 and x.dtype == torch.float32 and x.device.type == "cpu"
            and not (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad)) and onednn_usable()):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def gemm_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a many-row CPU product of ``dtype`` activations runs in: its own where the CPU computes in it,
    else fp32 (exact for every bf16 and fp16 value). torch's 16-bit GEMMs without that arithmetic are emulated:
    on an AMD EPYC (Zen 5) with oneDNN held to AVX2, 512x1536 by 8960x1536 ran at 45 GFLOPS in bf16 against 187
    in fp32; without AVX512-FP16, fp16 at 41 against 350 with AVX-512."""
    if dtype == torch.bfloat16 and not _native_bf16() or dtype == torch.float16 and not _native_fp16():
        return torch.float32
    return dtype


@cache
def _native_bf16() -> bool:
    return cpu_has_native_bf16(cpu_name_and_flags()[1])


@cache
def _native_fp16() -> bool:
    return cpu_has_native_fp16()


@cache
def onednn_usable() -> bool:
    """oneDNN's fp32 inner product is present and agrees with torch's own product (checked once)."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available():
        return False
    try:
        gen = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*shape, generator=gen) for shape in ((5, 96), (40, 96), (40,)))
        got = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return bool(torch.allclose(got, F.linear(x, w, b), rtol=1e-5, atol=1e-5))
    except (RuntimeError, AttributeError) as exc:  # an op missing from this build, or failing on this CPU
        log.info("oneDNN fp32 products unavailable (%s); using torch's default", exc)
        return False
