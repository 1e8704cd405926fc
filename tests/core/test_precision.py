"""The precision planner on simulated hardware (no torch probing), with the real models' config.json files."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from core.hardware import HardwareInfo
from core.model_config import ModelConfig
from core.precision import (GiB, PlanError, compute_dtype_for, estimate, format_bytes, largest_context, plan,
                            step_down, weights_bytes)

CONFIGS = Path(__file__).resolve().parent.parent / "fixtures" / "configs"
REPO = Path(__file__).resolve().parents[2]


def load(name: str) -> ModelConfig:
    return ModelConfig.from_hf(json.loads((CONFIGS / f"{name}.json").read_text()), source=name)


QWEN_1_5B = load("DeepSeek-R1-Distill-Qwen-1.5B")
QWEN_7B = load("DeepSeek-R1-Distill-Qwen-7B")
LLAMA_8B = load("DeepSeek-R1-Distill-Llama-8B")
LLAMA_70B = load("DeepSeek-R1-Distill-Llama-70B")
QWEN3_8B = load("Qwen3-8B")


def gpu(name: str, total_gib: float, free_gib: float, cc: tuple[int, int], bf16: bool) -> HardwareInfo:
    return HardwareInfo(device="cuda", device_name=name, total_memory_bytes=int(total_gib * GiB),
                        free_memory_bytes=int(free_gib * GiB), compute_capability=cc, supports_bf16=bf16,
                        supports_fp16=True)


def cpu(bf16_faster: bool | None, available_gib: float = 20.0,
        flags: tuple[str, ...] = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni")) -> HardwareInfo:
    return HardwareInfo(device="cpu", device_name="AMD EPYC", total_memory_bytes=24 * GiB,
                        free_memory_bytes=int(available_gib * GiB), supports_bf16="avx512_bf16" in flags,
                        supports_fp16=True, cpu_name="AMD EPYC", cpu_flags=flags, ram_total_bytes=24 * GiB,
                        ram_available_bytes=int(available_gib * GiB), cpu_bf16_faster=bf16_faster)


RTX_3070 = gpu("NVIDIA GeForce RTX 3070 Laptop GPU", 8.0, 7.6, (8, 6), True)
RTX_4090 = gpu("NVIDIA GeForce RTX 4090", 24.0, 22.3, (8, 9), True)
GTX_1080_TI = gpu("NVIDIA GeForce GTX 1080 Ti", 11.0, 10.5, (6, 1), False)
RTX_4080 = gpu("NVIDIA GeForce RTX 4080", 16.0, 15.2, (8, 9), True)


# --- byte model ----------------------------------------------------------------------------------
def test_weights_and_kv_of_1_5b_match_hand_count() -> None:
    # Per layer: qkv (1536+2*256)x1536 = 3,145,728; o 1536x1536 = 2,359,296; gate/up 17,920x1536 =
    # 27,525,120; down 1536x8960 = 13,762,560 -> 46,792,704; plus 2 norms (3,072) + qkv bias (2,048).
    # 28 layers = 1,310,339,072; embedding and untied head 2 x 151,936x1536 = 466,747,392; final norm 1,536.
    # Total 1,777,088,000 parameters -> 3,554,176,000 bytes in bf16 (~3.55 GB).
    assert weights_bytes(QWEN_1_5B, "bf16") == pytest.approx(3.554e9, rel=0.01)
    assert weights_bytes(QWEN_1_5B, "fp32") == 2 * weights_bytes(QWEN_1_5B, "bf16")
    # KV: 2 (k, v) x 28 layers x 2 kv heads x 128 dims x 2 bytes = 28,672 B/token; x 32,768 = 0.875 GiB.
    est = estimate(QWEN_1_5B, "bf16", RTX_4090, 32_768)
    assert est.kv_cache_bytes == 28_672 * 32_768
    assert est.total_bytes == est.weights_bytes + est.kv_cache_bytes + est.workspace_bytes


def test_quantized_weights_of_7b_match_hand_count() -> None:
    # Layer matmuls: 4608x3584 + 3584x3584 + 37,888x3584 + 3584x18,944 = 233,046,016 params; x 28.
    # int8: 1 B each + a 2 B scale per output row (49,664 rows/layer); LM head 152,064x3584 int8 + scales;
    # embedding int8 rows + scales; norms and biases (333,312 params) in bf16:
    #   6,525,288,448 + 2,781,184 + 2 x (544,997,376 + 304,128) + 666,624 = 7,619,339,264 B (7.10 GiB).
    assert weights_bytes(QWEN_7B, "int8") == pytest.approx(7_619_339_264, rel=0.01)
    # int4: 0.5 B each (3,262,644,224) + scale and zero (4 B) per 128 inputs per output row (203,915,264);
    # LM head int4 272,498,688 + 17,031,168; embedding int8 545,301,504; norms 666,624 -> 4,302,057,472 B.
    assert weights_bytes(QWEN_7B, "int4") == pytest.approx(4_302_057_472, rel=0.01)


def test_tied_embedding_keeps_a_separate_quantized_head() -> None:
    raw = json.loads((CONFIGS / "DeepSeek-R1-Distill-Qwen-1.5B.json").read_text())
    tied = ModelConfig.from_hf({**raw, "tie_word_embeddings": True})
    head_bf16 = QWEN_1_5B.vocab_size * QWEN_1_5B.hidden_size * 2
    assert weights_bytes(QWEN_1_5B, "bf16") - weights_bytes(tied, "bf16") == head_bf16
    assert weights_bytes(tied, "int8") == weights_bytes(QWEN_1_5B, "int8")


def test_concurrent_sequences_multiply_the_kv_cache() -> None:
    one = estimate(QWEN_7B, "bf16", RTX_4090, 8192)
    four = estimate(QWEN_7B, "bf16", RTX_4090, 8192, concurrent_sequences=4)
    assert four.kv_cache_bytes == 4 * one.kv_cache_bytes


def test_format_bytes() -> None:
    assert format_bytes(17.94 * GiB) == "17.9 GiB"
    assert format_bytes(17.0 * 2**20) == "17.0 MiB" and format_bytes(440 * 2**20) == "440 MiB"  # not "0.0 GiB"
    assert format_bytes(0.4 * GiB, like=22 * GiB) == "0.4 GiB" and format_bytes(3 * 2**10) == "3 KiB"


# --- CPU -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bf16_faster, expected", [(False, "fp32"), (True, "bf16"), (None, "fp32")])
def test_cpu_picks_the_faster_dense_precision(bf16_faster: bool | None, expected: str) -> None:
    result = plan(QWEN_1_5B, cpu(bf16_faster))
    assert (result.precision, result.device, result.compute_dtype, result.kv_dtype) == (
        expected, "cpu", expected, expected)
    assert result.context_tokens == 32_768
    assert result.candidates[0].precision == expected and result.candidates[0].reason == "chosen"
    other = result.candidates[1]
    assert other.fits and other.reason.startswith(("slower than", "not measured faster"))


def test_cpu_with_little_ram_steps_down_to_int8_with_bf16_activations() -> None:
    # bf16 ~5.9 GiB and fp32 ~10.5 GiB at 32k; with 5 GiB available, int8 (~4.1 GiB) is next.
    result = plan(QWEN_1_5B, cpu(True, available_gib=5.0))
    assert result.precision == "int8"
    assert result.compute_dtype == "bf16"  # bf16 measured faster here
    assert "quantized to int8" in result.reasons[0]


def test_measured_bf16_speed_beats_cpu_flags_for_activations() -> None:
    assert compute_dtype_for("int8", cpu(False)) == "fp32"  # has avx512_bf16, but measured slower
    assert compute_dtype_for("int8", cpu(None)) == "bf16"  # not measured: the flags decide


def test_cpu_without_native_bf16_computes_quantized_models_in_fp32() -> None:
    assert compute_dtype_for("int8", cpu(False, flags=("avx2",))) == "fp32"
    assert compute_dtype_for("int4", cpu(True, flags=("avx2",))) == "bf16"


def test_quantized_paths_compute_in_the_activation_dtype_measured_faster_for_their_own_kernels() -> None:
    """The dense probe says fp32 here (a CPU without native bf16), but the int8 and int4 kernels were timed too:
    with fp32 activations they are 10-50x slower (torch's int8/int4 CPU kernels, measured on an AMD EPYC), so the
    plan never picks that path, and says what it measured."""
    times = (("int8/fp32", 0.0121), ("int8/bf16", 0.0011), ("int4/fp32", 0.0277), ("int4/bf16", 0.0005))
    hw = replace(cpu(False, available_gib=5.0, flags=("avx2",)), cpu_quant_seconds=times)
    assert compute_dtype_for("int8", hw) == compute_dtype_for("int4", hw) == "bf16"
    assert compute_dtype_for("bf16", hw) == "bf16" and plan(QWEN_1_5B, hw).precision == "int8"
    result = plan(QWEN_1_5B, hw)
    assert result.compute_dtype == "bf16"
    assert ("int8 with bf16 activations: 1.10 ms for a 1-row and a 4-row decode product measured on this CPU "
            "(fp32: 12.10 ms)") in result.reasons
    slow_bf16 = replace(hw, cpu_quant_seconds=(("int8/fp32", 0.001), ("int8/bf16", 0.004)))
    assert compute_dtype_for("int8", slow_bf16) == "fp32"
    assert compute_dtype_for("int4", slow_bf16) == "fp32"  # int4 not timed: the dense measurement decides
    close = replace(hw, cpu_quant_seconds=(("int4/fp32", 0.00104), ("int4/bf16", 0.00116)))
    assert compute_dtype_for("int4", close) == "bf16"  # 10% on a decode product: bf16's half-size KV cache wins
    assert HardwareInfo.from_dict(hw.to_dict()) == hw


# --- GPUs ----------------------------------------------------------------------------------------
def test_8gib_ampere_never_gets_bf16_for_7b_at_32k() -> None:
    # Hand count, 7B at 32,768 tokens (GiB): KV bf16 = 57,344 B/token x 32,768 = 1.75; activations of one
    # 512-token chunk ~0.05 plus one 512-key block of fp32 scores (28 x 512 x 512 x 4 B = 0.03; fused
    # attention never builds the whole matrix); CUDA overhead 0.5; margin 10%.
    #   bf16: 14.18 + 1.75 + 0.08 + 0.5 = 16.5, +1.65 margin = 18.2  (7.6 free: no)
    #   int8:  7.10 + 1.75 + 0.08 + 0.5 =  9.4, +0.94 margin = 10.4  (no)
    #   int4:  4.01 + 1.75 + 0.08 + 0.5 =  6.3, +0.63 margin =  7.0  (fits)
    result = plan(QWEN_7B, RTX_3070, context_tokens=32_768)
    assert result.precision == "int4" and result.compute_dtype == "bf16"
    reasons = {c.precision: c.reason for c in result.candidates}
    assert reasons["bf16"].startswith("does not fit: needs") and reasons["int8"].startswith("does not fit")
    assert 6.8 * GiB < result.estimate.total_bytes <= RTX_3070.free_memory_bytes
    # At 64k even int4 is too big: a refusal with the numbers and the largest context that fits.
    with pytest.raises(PlanError) as info:
        plan(QWEN_7B, RTX_3070, context_tokens=65_536)
    message = str(info.value)
    assert "7.6 GiB" in message
    tokens = int(re.search(r"at most ([\d,]+) tokens", message).group(1).replace(",", ""))
    assert 32_768 < tokens < 65_536


def test_24gib_ada_runs_7b_at_32k_in_bf16() -> None:
    result = plan(QWEN_7B, RTX_4090, context_tokens=32_768)
    assert result.precision == "bf16" and result.kv_dtype == "bf16"
    assert "supports bf16" in result.reasons[0]
    assert re.fullmatch(r"bf16 on cuda: \d+\.\d of 22\.3 GiB", result.summary())
    by_precision = {c.precision: c for c in result.candidates}
    assert "not chosen automatically" in by_precision["fp32"].reason or not by_precision["fp32"].fits
    json.dumps(result.to_dict())  # JSON-ready


def test_pascal_without_bf16_gets_fp16() -> None:
    result = plan(QWEN_1_5B, GTX_1080_TI)
    assert result.precision == "fp16" and result.compute_dtype == "fp16"
    bf16 = next(c for c in result.candidates if c.precision == "bf16")
    assert bf16.reason.startswith("not supported by this GPU")
    with pytest.raises(PlanError, match="not supported by this GPU"):
        plan(QWEN_1_5B, GTX_1080_TI, precision="bf16")


def test_70b_on_16gib_is_refused_with_numbers_and_ways_out() -> None:
    with pytest.raises(PlanError) as info:
        plan(LLAMA_70B, RTX_4080)
    message = str(info.value)
    need = weights_bytes(LLAMA_70B, "int4", "bf16")
    assert format_bytes(need) in message  # the int4 weights alone (~35 GiB) exceed the card
    assert "int4" in message and "15.2 GiB" in message
    assert "smaller model" in message and "more free VRAM" in message


# --- overrides and limits ------------------------------------------------------------------------
def test_override_that_fits_is_honoured() -> None:
    result = plan(QWEN_1_5B, cpu(False), precision="int8")
    assert result.precision == "int8" and result.requested == "int8"
    assert result.reasons[0] == "int8 was requested; the automatic choice would be fp32"
    chosen = next(c for c in result.candidates if c.precision == "int8")
    assert chosen.reason == "chosen (requested)"


def test_override_that_does_not_fit_is_an_error_with_numbers() -> None:
    with pytest.raises(PlanError) as info:
        plan(QWEN_7B, RTX_4090, precision="fp32")
    message = str(info.value)
    assert "fp32 was requested but does not fit" in message
    assert "22.3 GiB" in message and "bf16, which fits" in message


def test_fp16_on_cpu_is_allowed_with_a_warning() -> None:
    result = plan(QWEN_1_5B, cpu(True), precision="fp16")
    assert result.precision == "fp16"
    assert any("not chosen automatically on CPU" in r and "no fp16 arithmetic" in r for r in result.reasons)


def test_context_beyond_the_model_maximum_is_refused() -> None:
    with pytest.raises(PlanError, match="beyond this model's maximum of 131,072"):
        plan(QWEN_1_5B, RTX_4090, context_tokens=200_000)
    assert plan(QWEN3_8B, RTX_4090).context_tokens == 32_768  # min(40,960, 32,768)
    with pytest.raises(PlanError, match="40,960"):
        plan(QWEN3_8B, RTX_4090, context_tokens=40_961)
    with pytest.raises(PlanError, match="unknown precision"):
        plan(QWEN3_8B, RTX_4090, precision="int3")


def test_largest_context_is_the_exact_boundary() -> None:
    tokens = largest_context(QWEN_7B, "int4", RTX_3070)
    assert estimate(QWEN_7B, "int4", RTX_3070, tokens).total_bytes <= RTX_3070.free_memory_bytes
    assert estimate(QWEN_7B, "int4", RTX_3070, tokens + 1).total_bytes > RTX_3070.free_memory_bytes
    assert largest_context(LLAMA_70B, "int4", RTX_4080) == 0
    assert largest_context(QWEN_1_5B, "bf16", RTX_4090) == QWEN_1_5B.max_position_embeddings


def test_llama_8b_on_a_12gib_card_at_8k_uses_int8() -> None:
    # 8k context: KV 131,072 B/token x 8192 = 1.0 GiB, scores 32 x 512 x 8192 x 4 B = 0.5 GiB, overhead 0.5.
    # bf16: 14.96 + 2.0 + 0.5 = 17.5 (+1.7 margin) -> no; int8: 7.50 + 1.0 + 0.5 + 0.5 = 9.5 (+1.0) -> fits 11.5.
    result = plan(LLAMA_8B, gpu("NVIDIA GeForce RTX 3060", 12.0, 11.5, (8, 6), True), context_tokens=8192)
    assert result.precision == "int8"


def test_step_down() -> None:
    assert [step_down(p, RTX_4090) for p in ("fp32", "bf16", "fp16", "int8", "int4")] == [
        "bf16", "int8", "int8", "int4", None]
    assert step_down("fp32", GTX_1080_TI) == "fp16"
    assert step_down("fp32", cpu(False)) == "int8"
    assert step_down("fp32", cpu(True)) == "bf16"
