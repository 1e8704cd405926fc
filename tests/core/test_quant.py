"""Weight-only int8 layers: the int8 kernel (decode-sized batches) and the dequantised GEMM (prefill chunks)
compute the same product of the activations with the dequantised weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.models import quant


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 7, quant.INT8_DEQUANT_MIN_ROWS - 1, quant.INT8_DEQUANT_MIN_ROWS, 300])
def test_int8_linear_matches_its_dequantised_weights_on_both_paths(dtype: torch.dtype, rows: int) -> None:
    torch.manual_seed(0)
    w, bias = torch.randn(96, 64) * 0.05, torch.randn(96)
    q, scale = quant.quantize_int8_rows(w)
    layer = quant.Int8Linear(64, 96, bias=True, dtype=dtype)
    layer.weight.copy_(q)
    layer.scales.copy_(scale)
    layer.bias.data.copy_(bias)
    x = torch.randn(1, rows, 64).to(dtype)
    reference = F.linear(x.float(), q.float() * scale[:, None], bias)  # fp32 product of what is stored
    got = layer(x)
    assert got.shape == (1, rows, 96) and got.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(got.float(), reference, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("rows", [1, quant.FP16_WIDEN_MIN_ROWS - 1, quant.FP16_WIDEN_MIN_ROWS, 300])
def test_widening_fp16_linear_computes_the_fp16_product_on_both_paths(rows: int) -> None:
    """Below the threshold the fp16 kernel, from it the fp32 GEMM on the widened weight: both round the
    exact product of the stored fp16 values to fp16."""
    torch.manual_seed(0)
    layer = quant.CpuLinear(64, 96, bias=True, dtype=torch.float16)
    layer.widen = True
    x = torch.randn(1, rows, 64).half()
    reference = F.linear(x.float(), layer.weight.float(), layer.bias.float())
    got = layer(x)
    assert got.shape == (1, rows, 96) and got.dtype == torch.float16
    torch.testing.assert_close(got.float(), reference, rtol=2e-3, atol=2e-3)
