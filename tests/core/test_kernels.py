"""Ponder's decode kernels against a float64 reference of the dequantised product, on every instruction set
this CPU runs (an AVX-512 machine checks its AVX2 build too), odd shapes included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from core.kernels import build, cpu_gemm, ops
from core.models import quant

ISAS = build.cpu_isas()
pytestmark = pytest.mark.skipif(not ISAS, reason="this CPU runs none of the kernels' instruction sets")


@pytest.fixture(scope="module", params=ISAS)
def kernels(request) -> build.Kernels:
    try:
        return build._load(request.param)
    except RuntimeError as exc:  # no compiler: the engine runs torch's kernels, nothing to test here
        pytest.skip(str(exc))


def _reference(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    out = x.double() @ w.double().t()
    return out if bias is None else out + bias.double()


def _assert_rounded_from(got: torch.Tensor, reference: torch.Tensor, x: torch.Tensor, w: torch.Tensor,
                         int8_block: int = 0) -> None:
    """``got`` is ``reference`` rounded to got's dtype, up to fp32 summation error (bounded by the sum of
    |x||w| times a few ulps of fp32 times sqrt(K)); with ``int8_block`` (the x86 integer path: 128 inputs for
    int8 weights, 32 where K is no multiple of 128; the group for int4) x is first rounded to int8 per block of that many inputs, off by at most
    max|x| / 254 of its block."""
    eps = {torch.float32: 0.0, torch.bfloat16: 2 ** -8, torch.float16: 2 ** -11}[got.dtype]
    scale = x.double().abs() @ w.double().abs().t()
    bound = reference.abs() * eps + scale * 2 ** -22 * x.shape[1] ** 0.5 + 1e-30
    if int8_block:
        m, k = x.shape
        block_max = x.double().abs().reshape(m, k // int8_block, int8_block).amax(dim=-1)
        bound = bound + (block_max.repeat_interleave(int8_block, dim=1) / 254) @ w.double().abs().t() * (1 + 2 ** -20)
    err = (got.double() - reference).abs()
    assert bool((err <= bound).all()), f"max error / bound {float((err / bound).max()):.2f}"


def _integer_path(kernels: build.Kernels) -> bool:
    """x86 builds multiply int8 and int4 weights by int8 activations (gemv.c, INT_DOT)."""
    return kernels.isa != "neon"


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 9, 16])
@pytest.mark.parametrize("n,k", [(1, 1), (7, 37), (33, 100), (64, 1539), (19, 4133)])
@pytest.mark.parametrize("wdtype", [torch.bfloat16, torch.float16])
def test_dense_kernel_is_the_product_of_the_stored_weights(kernels, m, n, k, wdtype) -> None:
    torch.manual_seed(m * 1000 + n + k)
    w = torch.randn(n, k).to(wdtype)
    x = torch.randn(m, k).to(wdtype)
    bias = torch.randn(n).to(wdtype)
    got = ops.dense(kernels, x, w, bias=None)
    assert got.dtype == wdtype and got.shape == (m, n)
    _assert_rounded_from(got, _reference(x, w), x, w)
    with_bias = ops.dense(kernels, x, w, bias=bias)
    torch.testing.assert_close(with_bias, (got + bias))  # torch's add of the bias, as F.linear would


@pytest.mark.parametrize("xdtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("m,n,k", [(1, 5, 3), (3, 17, 129), (2, 33, 608), (6, 96, 1536)])
def test_int8_kernel_scales_each_row_after_its_sum(kernels, xdtype, m, n, k) -> None:
    torch.manual_seed(n + k)
    q, scale = quant.quantize_int8_rows(torch.randn(n, k))
    x = torch.randn(m, k).to(xdtype)
    got = ops.dense(kernels, x, q, scale.to(xdtype))
    w = q.double() * scale.to(xdtype).double()[:, None]
    block = (128 if k % 128 == 0 else 32) if _integer_path(kernels) and k % 32 == 0 else 0
    _assert_rounded_from(got, _reference(x, w), x, w, block)


@pytest.mark.parametrize("xdtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("m,n,k", [(1, 3, 128), (4, 19, 256), (2, 9, 1408), (7, 64, 1536)])
def test_int4_kernel_is_the_product_of_the_dequantised_weights(kernels, xdtype, group, m, n, k) -> None:
    torch.manual_seed(group + n)
    q, sz = quant.quantize_int4_rows(torch.randn(n, k), group)
    packed, sz_rows = ops.pack_int4_rows(q), sz.transpose(0, 1).contiguous()
    w = ((q.double() - 8) * sz_rows[..., 0].double().repeat_interleave(group, dim=1)
         + sz_rows[..., 1].double().repeat_interleave(group, dim=1))
    x = torch.randn(m, k).to(xdtype)
    got = ops.int4(kernels, x, packed, sz_rows, group)
    _assert_rounded_from(got, _reference(x, w), x, w.abs() + 8 * sz_rows[..., 0].double().abs().max(),
                         group if _integer_path(kernels) else 0)
    # the dequantised rows the prefill path multiplies are exactly these weights
    dense = ops.dequant_int4(kernels, packed, sz_rows, group, 0, n, torch.float32)
    torch.testing.assert_close(dense.double(), w, rtol=2 ** -22, atol=1e-6)
    # a product by dequantised blocks multiplies those weights in the GEMM's dtype (bf16 where the CPU computes in
    # it, else fp32), rounded to nearest even as torch rounds
    xb = torch.randn(40, k).bfloat16()
    wb = ops.dequant_int4(kernels, packed, sz_rows, group, 0, n, cpu_gemm.gemm_dtype(torch.bfloat16))
    assert torch.equal(wb, dense.to(wb.dtype))
    _assert_rounded_from(ops.int4_by_blocks(kernels, xb, packed, sz_rows, group), _reference(xb, wb), xb, wb)


@pytest.mark.parametrize("wdtype", [torch.bfloat16, torch.float16, torch.int8, "int4"])
@pytest.mark.parametrize("k", [320, 4619])  # 4,619: several rows of x take K in spans (gemv.c, block_dense)
def test_a_row_gets_the_same_bits_alone_and_in_a_batch(kernels, wdtype, k) -> None:
    """Speculative verification and batched decode compare rows of a many-row product with one-row ones."""
    torch.manual_seed(0)
    n = 50
    if wdtype == "int4":
        k -= k % 64
        q, sz = quant.quantize_int4_rows(torch.randn(n, k), 64)
        packed, sz_rows = ops.pack_int4_rows(q), sz.transpose(0, 1).contiguous()
        run = lambda rows: ops.int4(kernels, rows, packed, sz_rows, 64)  # noqa: E731
    else:
        w = torch.randn(n, k).to(wdtype) if wdtype != torch.int8 else torch.randint(-128, 128, (n, k), dtype=torch.int8)
        scales = torch.rand(n).bfloat16() if wdtype == torch.int8 else None
        run = lambda rows: ops.dense(kernels, rows, w, scales)  # noqa: E731
    x = torch.randn(11, k).bfloat16()
    batch = run(x)
    for i in range(x.shape[0]):
        assert torch.equal(run(x[i:i + 1]), batch[i:i + 1])


def test_the_kernels_use_the_threads_they_are_given(kernels) -> None:
    torch.manual_seed(0)
    w, x = torch.randn(301, 64).bfloat16(), torch.randn(2, 64).bfloat16()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.dense(kernels, x, w)
        torch.set_num_threads(2)
        assert torch.equal(ops.dense(kernels, x, w), one)  # rows are split, never sums
    finally:
        torch.set_num_threads(threads)


def test_pack_int4_rows_puts_input_j_and_j_plus_16_in_one_byte() -> None:
    q = torch.arange(64).remainder(16).reshape(1, 64)
    packed = ops.pack_int4_rows(q)
    assert packed.shape == (1, 32) and packed.dtype == torch.uint8
    assert int(packed[0, 0]) == (0 | 0 << 4) and int(packed[0, 1]) == (1 | 1 << 4)
    q2 = torch.tensor([[1] * 16 + [2] * 16])
    assert int(ops.pack_int4_rows(q2)[0, 5]) == 1 | 2 << 4


def test_without_a_compiler_the_reason_is_said(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(build, "_status", None)
    try:
        status = build.kernel_status()
        assert status.kernels is None
        assert "could not be built" in status.reason and "torch's kernels run" in status.reason
    finally:
        build._status = None


@pytest.mark.skipif(len(ISAS) < 2, reason="this CPU runs a single instruction set's build")
def test_a_compiler_that_lacks_the_newest_instructions_gets_the_next_build(monkeypatch, tmp_path) -> None:
    cc = shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler")
    refusing = tmp_path / "old-cc"  # a compiler too old for the best instruction set's flag
    refusing.write_text(f"#!/bin/sh\ncase \"$*\" in *{build.ISA_FLAGS[ISAS[0]][1][-1]}*) exit 1;; esac\nexec {cc} \"$@\"\n")
    refusing.chmod(0o755)
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", str(refusing))
    monkeypatch.setattr(build, "_status", None)
    try:
        status = build.kernel_status()
        assert status.kernels is not None and status.kernels.isa == ISAS[1]
        assert build.ISA_LABELS[ISAS[1]] in status.reason
    finally:
        build._status = None


def test_the_kernels_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setenv("PONDER_KERNELS", "off")
    monkeypatch.setattr(build, "_status", None)
    try:
        assert build.kernel_status().kernels is None
    finally:
        build._status = None


def test_isa_choice_follows_the_cpu_flags() -> None:
    assert build.cpu_isas(("avx2", "fma", "f16c"), "x86_64") == ["avx2"]
    assert build.cpu_isas(("avx2", "fma"), "x86_64") == []  # no F16C: no fp16 loads
    full = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl")
    assert build.cpu_isas(full, "x86_64") == ["avx512", "avx2"]
    vnni = (*full, "avx512_vnni", "avx_vnni")
    assert build.cpu_isas(vnni, "x86_64") == ["avx512_vnni", "avx512", "avx2_vnni", "avx2"]
    assert build.cpu_isas((*vnni, "avx512_bf16"), "x86_64")[0] == "avx512_bf16"
    assert build.cpu_isas((), "aarch64") == ["neon"]


CHECKER = Path(__file__).with_name("kernels_check.c")


@pytest.mark.parametrize("target", ["scalar", "neon"])
def test_the_builds_this_cpu_cannot_pick_compute_the_same_products(tmp_path, target) -> None:
    """The NEON build (Apple and ARM laptops) cross-compiled and run under qemu where those tools exist, and
    the portable scalar build natively: every product within 1e-6 of the sum of |x w| of a float64 reference, the
    attention of one token within 1e-5 of float64 attention."""
    if target == "neon":
        cc, runner = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
        if not (cc and runner):
            pytest.skip("needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu qemu-user)")
        flags, run = ["-static"], [runner]
    else:
        cc, run, flags = shutil.which("cc"), [], []
        if not cc:
            pytest.skip("no C compiler")
    exe = tmp_path / "check"
    subprocess.run([cc, "-O2", "-fopenmp", *flags, str(CHECKER), str(build.SOURCE), "-o", str(exe), "-lm"],
                   check=True, capture_output=True)
    done = subprocess.run([*run, str(exe)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "all within bounds" in done.stdout, done.stdout + done.stderr


def test_a_damaged_cached_library_is_built_again(monkeypatch, tmp_path) -> None:
    isa = ISAS[0]
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path))
    damaged = tmp_path / "kernels" / build.library_name(isa)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\x7fELF truncated")
    try:
        kernels = build._load(isa)
    except RuntimeError as exc:  # no compiler here
        pytest.skip(str(exc))
    assert kernels.isa == isa and kernels.path == damaged and damaged.stat().st_size > 1000


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("heads,kv_heads,d,tokens", [(12, 2, 128, 1), (12, 2, 128, 7), (8, 8, 64, 300),
                                                     (16, 4, 64, 1100), (6, 1, 128, 2049)])
def test_attention_kernel_is_softmax_attention_over_the_cached_tokens(kernels, dtype, heads, kv_heads, d,
                                                                      tokens) -> None:
    """One query token over a slot of the cache [slots, 2*KVH, max_tokens, D], chunked over threads for long
    ones, against float64 attention over what is stored: within the rounding of the output to its dtype."""
    torch.manual_seed(tokens)
    cache = torch.randn(3, 2 * kv_heads, tokens + 5, d).to(dtype)
    q = torch.randn(heads, d).to(dtype)
    got = ops.attend_one(kernels, cache, 1, tokens, q)
    keys, values = cache[1, :kv_heads, :tokens].double(), cache[1, kv_heads:, :tokens].double()
    scores = q.double().view(kv_heads, heads // kv_heads, d) @ keys.transpose(1, 2) / d ** 0.5
    reference = (torch.softmax(scores, -1) @ values).reshape(heads, d)
    assert got is not None and got.dtype == dtype and got.shape == (heads, d)
    step = {torch.float32: 1e-6, torch.bfloat16: 8e-3, torch.float16: 1e-3}[dtype]
    assert (got.double() - reference).abs().max() <= step * reference.abs().max() + 1e-6


def test_attention_kernel_declines_a_head_size_it_cannot_take(kernels) -> None:
    """A head size that is not a multiple of the vector width: None, and the caller's own attention runs."""
    width = {"avx2": 8, "avx2_vnni": 8, "neon": 4}.get(kernels.isa, 16)
    cache = torch.randn(1, 2, 10, width + 2)
    assert ops.attend_one(kernels, cache, 0, 10, torch.randn(2, width + 2)) is None


_STEP = {torch.float32: 2e-6, torch.bfloat16: 8e-3, torch.float16: 1e-3}  # a rounding of each dtype, with margin


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("m,h", [(1, 1536), (3, 100), (9, 64)])
def test_norm_kernel_is_rms_norm_and_rounds_the_residual_sum_as_torch_adds(kernels, dtype, m, h) -> None:
    """RMS norm within a rounding of float64's; with a residual, the sum bit for bit as torch's ``x + r`` (so the
    fused add and norm equal an add followed by the norm), and the norm of that rounded sum."""
    torch.manual_seed(h)
    x, r, w = torch.randn(m, h).to(dtype), torch.randn(m, h).to(dtype), torch.randn(h).to(dtype)

    def reference(v: torch.Tensor) -> torch.Tensor:
        v = v.double()
        return v / (v.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt() * w.double()

    got = ops.rms_norm(kernels, x, w, 1e-6)
    assert got.dtype == dtype and got.shape == x.shape
    assert ((got.double() - reference(x)).abs() <= _STEP[dtype] * reference(x).abs() + 1e-6).all()
    summed, normed = ops.rms_norm(kernels, x, w, 1e-6, residual=r)
    assert torch.equal(summed, x + r)
    assert torch.equal(normed, ops.rms_norm(kernels, x + r, w, 1e-6))


def test_norm_kernel_takes_evenly_spaced_rows_in_place(kernels) -> None:
    """Per-head norms (Qwen3's q and k norms) read heads out of the q|k|v rows without a copy."""
    qkv = torch.randn(4, 6, 32)
    w = torch.randn(32)
    got = ops.rms_norm(kernels, qkv[:, :4], w, 1e-6)
    assert torch.allclose(got, ops.rms_norm(kernels, qkv[:, :4].contiguous(), w, 1e-6), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("tokens,heads,d", [(1, 14, 128), (5, 3, 64), (2, 4, 10)])
def test_rope_kernel_rotates_in_place_like_the_reference(kernels, dtype, tokens, heads, d) -> None:
    """q|k heads rotated in place inside a wider q|k|v row (as the engine does), within one rounding of float64's
    x * cos + roll(x, D/2) * sin; the v heads after them untouched."""
    torch.manual_seed(d)
    qkv = torch.randn(tokens, heads + 2, d).to(dtype)
    cos, sin = torch.randn(tokens, 1, d).to(dtype), torch.randn(tokens, 1, d).to(dtype)
    before = qkv.clone()
    x = before[:, :heads].double()
    reference = x * cos.double() + torch.roll(x, d // 2, dims=-1) * sin.double()
    assert ops.rope(kernels, qkv[:, :heads], cos, sin, qkv[:, :heads])
    got = qkv[:, :heads].double()
    assert ((got - reference).abs() <= _STEP[dtype] * (x.abs() * cos.double().abs() + x.roll(d // 2, -1).abs()
                                                      * sin.double().abs()) + 1e-6).all()
    assert torch.equal(qkv[:, heads:], before[:, heads:])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("m,inter", [(1, 8960), (3, 100), (2, 1500)])
def test_silu_mul_kernel_is_silu_of_gate_times_up(kernels, dtype, m, inter) -> None:
    torch.manual_seed(inter)
    gate_up = (torch.randn(m, 2 * inter) * 6).to(dtype)
    g, u = gate_up[:, :inter].double(), gate_up[:, inter:].double()
    reference = g * torch.sigmoid(g) * u
    got = ops.silu_mul(kernels, gate_up, inter)
    assert got.dtype == dtype and got.shape == (m, inter)
    assert ((got.double() - reference).abs() <= _STEP[dtype] * reference.abs() + 1e-6).all()


@pytest.mark.parametrize("wdtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("m,n,k", [(8, 7, 64), (50, 130, 2056), (97, 33, 1536), (3, 1, 8)])
def test_prefill_kernel_over_16bit_weights_is_their_fp32_product(kernels, wdtype, m, n, k) -> None:
    """The AVX2 build's prefill product (fp32 FMAs on the weights widened in registers; other builds decline and
    the weights are widened into memory for torch's GEMM) within fp32 summation error of float64's, then rounded
    to x's dtype and the bias added as torch adds it."""
    torch.manual_seed(m + n + k)
    x, w, bias = torch.randn(m, k).bfloat16(), torch.randn(n, k).to(wdtype), torch.randn(n).bfloat16()
    got = ops.gemm_16bit_weights(kernels, x, w)
    if kernels.isa not in ("avx2", "avx2_vnni"):
        assert got is None
        return
    assert got is not None and got.dtype == torch.bfloat16 and got.shape == (m, n)
    _assert_rounded_from(got, _reference(x, w), x, w)
    assert torch.equal(ops.gemm_16bit_weights(kernels, x, w, bias), got + bias)
    assert ops.gemm_16bit_weights(kernels, torch.randn(m, k + 4).bfloat16(), torch.randn(n, k + 4).to(wdtype)) is None
