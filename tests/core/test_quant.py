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


@pytest.mark.parametrize("rows", [1, quant.WIDEN_MIN_ROWS - 1, quant.WIDEN_MIN_ROWS, 300])
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


@pytest.mark.parametrize("rows", [1, 7, 130])
def test_fp32_products_on_cpu_are_fp32_exact_and_keep_their_gradients(rows: int) -> None:
    """fp32 products go through oneDNN where it works (``cpu_gemm``): within fp32 rounding of a float64 product,
    odd shapes too; a product that records gradients takes torch's own, so training still learns."""
    from core.kernels import cpu_gemm

    torch.manual_seed(0)
    x, w, bias = torch.randn(rows, 203), torch.randn(97, 203), torch.randn(97)
    reference = (x.double() @ w.double().t() + bias.double()).float()
    torch.testing.assert_close(cpu_gemm.linear(x, w, bias), reference, rtol=1e-5, atol=1e-4)
    with torch.inference_mode():
        torch.testing.assert_close(cpu_gemm.linear(x, w), reference - bias, rtol=1e-5, atol=1e-4)
    trained = w.clone().requires_grad_(True)
    cpu_gemm.linear(x, trained).sum().backward()
    torch.testing.assert_close(trained.grad, x.sum(0).expand(97, -1), rtol=1e-5, atol=1e-4)


def test_without_bf16_arithmetic_many_row_products_run_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CPU without bf16 arithmetic torch's bf16 GEMM is emulated (a quarter of the fp32 speed or less): a
    prefill-sized product of bf16 activations runs in fp32 on the widened or dequantised weight, and its result
    is the fp32 product rounded to bf16."""
    from core.kernels import cpu_gemm

    monkeypatch.setattr(cpu_gemm, "_native_bf16", lambda: False)
    seen = []
    real = cpu_gemm.linear
    monkeypatch.setattr(cpu_gemm, "linear", lambda x, w, b=None: seen.append((x.dtype, w.dtype)) or real(x, w, b))
    torch.manual_seed(0)
    w = torch.randn(96, 64) * 0.05
    q, scale = quant.quantize_int8_rows(w)
    int8 = quant.Int8Linear(64, 96, bias=False, dtype=torch.bfloat16)
    int8.weight.copy_(q)
    int8.scales.copy_(scale)
    dense = quant.CpuLinear(64, 96, bias=False, dtype=torch.bfloat16)
    dense.weight.data.copy_(w)
    dense.widen = True
    x = torch.randn(100, 64).bfloat16()
    for layer, weight in ((int8, q.float() * int8.scales.float()[:, None]), (dense, dense.weight.float())):
        seen.clear()
        got = layer(x)
        assert got.dtype == torch.bfloat16 and seen == [(torch.float32, torch.float32)]
        torch.testing.assert_close(got, F.linear(x.float(), weight).bfloat16(), rtol=1e-2, atol=1e-2)
