"""The precision planner: which precision to load a model in, on this hardware, for a wanted context.

For each candidate precision it estimates weights + KV cache + workspace (activations of one prefill
chunk, runtime overhead, safety margin), keeps those that fit in free memory, picks the fastest that
keeps the most quality, and explains the choice in plain words for the model panel.

Pure arithmetic: no torch here, so the GUI may import it. ``HardwareInfo`` and ``ModelConfig`` are
only read attribute by attribute.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.hardware import HardwareInfo
    from core.model_config import ModelConfig

logger = logging.getLogger(__name__)

GiB = 1024**3
MiB = 1024**2
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4")
PRECISION_CHOICES = ("auto", *PRECISIONS)  # what a user may ask for
QUANTIZED = ("int8", "int4")  # weight-only: activations and the KV cache use the compute dtype

# --- byte model: what the engine stores --------------------------------------------------------
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}  # dense precisions: every parameter
INT8_WEIGHT_BYTES = 1.0  # int8 matmul weight, per parameter
INT4_WEIGHT_BYTES = 0.5  # int4 matmul weight, two per byte
INT4_GROUP_SIZE = 128  # int4: one scale and one zero per output channel per 128 input channels
QUANT_SCALE_BYTES = 2  # a bf16/fp16 scale: per output channel (int8), per group (int4), per embedding row
INT4_ZERO_BYTES = 2  # int4 zero point per group, stored like the scale
QUANT_EMBEDDING_BYTES = 1  # int8/int4 plans store the token embedding as int8 rows (+ a per-row scale)

# --- workspace model ---------------------------------------------------------------------------
DEFAULT_PREFILL_CHUNK_TOKENS = 512  # prompt tokens prefilled per forward pass
DEFAULT_CONTEXT_CAP = 32_768  # default context when none is asked: min(model maximum, this)
SCORES_BYTES = 4  # attention scores, fp32 (softmax precision) ...
ATTENTION_KV_BLOCK = 512  # ... for one block of keys: fused attention (SDPA) never builds the whole matrix
LOGITS_BYTES = 4  # one row of fp32 logits per sequence
CUDA_OVERHEAD_BYTES = 512 * MiB  # CUDA context, cuBLAS workspaces, allocator slack
PROCESS_OVERHEAD_BYTES = int(0.4 * GiB)  # CPU/MPS: the Python + torch process itself
MARGIN_FRACTION = 0.10  # safety margin: 10% of everything else ...
MIN_MARGIN_BYTES = 256 * MiB  # ... but at least this
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # native bf16 matmul on x86 / aarch64
CPU_FP16_FLAGS = ("avx512_fp16", "amx_fp16", "fphp", "asimdhp")  # native fp16 arithmetic on x86 / aarch64
# int8/int4 compute in fp32 only when their measured products are this much faster with fp32 activations than
# with bf16: bf16 halves the KV cache and, where the CPU has bf16 arithmetic, prefills at twice fp32's speed
# (a few percent on a decode product does not pay for either).
FP32_ACTIVATIONS_MARGIN = 1.2


class PlanError(ValueError):
    """No plan is possible as asked; the message gives the numbers and the ways out."""


@dataclass(frozen=True, slots=True)
class Estimate:
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int  # one prefill chunk's tensors
    overhead_bytes: int  # runtime: CUDA context or the process itself
    margin_bytes: int

    @property
    def workspace_bytes(self) -> int:
        return self.activation_bytes + self.overhead_bytes + self.margin_bytes

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.workspace_bytes

    def describe(self) -> str:
        return (f"weights {format_bytes(self.weights_bytes)}, KV cache {format_bytes(self.kv_cache_bytes)}, "
                f"workspace {format_bytes(self.workspace_bytes)}")

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "workspace_bytes": self.workspace_bytes, "total_bytes": self.total_bytes}


@dataclass(frozen=True, slots=True)
class Candidate:
    precision: str
    estimate: Estimate
    fits: bool  # in free memory; whether the hardware runs it is in ``reason``
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "estimate": self.estimate.to_dict()}


@dataclass(slots=True)
class PrecisionPlan:
    precision: str
    requested: str  # "auto" or the user's override
    device: str
    compute_dtype: str
    kv_dtype: str
    context_tokens: int
    concurrent_sequences: int
    prefill_chunk_tokens: int
    estimate: Estimate
    budget_bytes: int
    candidates: list[Candidate] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """"bf16 on cuda: 18.2 of 22.3 GiB"; "fp32 on cpu: 440 MiB of 20.9 GiB" for a small model."""
        used, budget = format_bytes(self.estimate.total_bytes, like=self.budget_bytes), format_bytes(self.budget_bytes)
        if used.endswith(" GiB") and budget.endswith(" GiB"):
            used = used.removesuffix(" GiB")
        return f"{self.precision} on {self.device}: {used} of {budget}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "estimate": self.estimate.to_dict(),
                "candidates": [c.to_dict() for c in self.candidates], "summary": self.summary()}


def format_bytes(n: float, like: float | None = None) -> str:
    """Bytes in the unit that shows them: ``format_bytes(19.2e9) == '17.9 GiB'``, a 4.5M-parameter model's
    weights ``'17.0 MiB'`` (not "0.0 GiB"). ``like``: a number shown beside it, whose unit it takes when that is
    GiB and ``n`` still shows in it (``'0.4 of 22.1 GiB'``)."""
    if n >= GiB or (like is not None and like >= GiB and n >= 0.1 * GiB):
        return f"{n / GiB:.1f} GiB"
    if n >= MiB:
        return f"{n / MiB:.0f} MiB" if n >= 100 * MiB else f"{n / MiB:.1f} MiB"
    return f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n:.0f} B"


# --- arithmetic --------------------------------------------------------------------------------
def compute_dtype_for(precision: str, hw: HardwareInfo) -> str:
    """Activation and KV cache dtype. Weight-only int8/int4 compute in the best 16-bit type the device has."""
    if precision in DTYPE_BYTES:
        return precision
    if hw.device == "cpu":  # bf16 halves the KV cache; worth it where the CPU does bf16 fast
        measured = _quant_seconds(precision, hw)
        if measured:  # this path's own kernels, timed here: never a 10x slower one; fp32 only when clearly faster
            return "fp32" if measured["fp32"] * FP32_ACTIVATIONS_MARGIN < measured["bf16"] else "bf16"
        if hw.cpu_bf16_faster is not None:  # measured here: trust the measurement
            return "bf16" if hw.cpu_bf16_faster else "fp32"
        return "bf16" if any(f in hw.cpu_flags for f in CPU_BF16_FLAGS) else "fp32"
    return "bf16" if hw.supports_bf16 else "fp16"


def _quant_seconds(precision: str, hw: HardwareInfo) -> dict[str, float]:
    """{"fp32": s, "bf16": s}: the measured product time of ``precision``'s weights per activation dtype."""
    found = {path.partition("/")[2]: s for path, s in hw.cpu_quant_seconds if path.startswith(f"{precision}/")}
    return found if {"fp32", "bf16"} <= found.keys() else {}


def weights_bytes(config: ModelConfig, precision: str, compute_dtype: str = "bf16") -> int:
    """Bytes of the loaded weights; norms and biases of int8/int4 plans are kept in ``compute_dtype``."""
    if precision in DTYPE_BYTES:
        return config.num_parameters() * DTYPE_BYTES[precision]
    vocab, hidden = config.vocab_size, config.hidden_size
    layer = sum(_quantized_matrix_bytes(o, i, precision) for o, i in config.layer_linear_shapes())
    lm_head = _quantized_matrix_bytes(vocab, hidden, precision)  # a separate copy even when tied
    embedding = vocab * hidden * QUANT_EMBEDDING_BYTES + vocab * QUANT_SCALE_BYTES
    untied_head = 0 if config.tie_word_embeddings else vocab * hidden
    other = config.num_parameters() - config.num_linear_parameters() - untied_head  # norms, biases
    return layer * config.num_hidden_layers + lm_head + embedding + other * DTYPE_BYTES[compute_dtype]


def _quantized_matrix_bytes(out_features: int, in_features: int, precision: str) -> int:
    if precision == "int8":
        return int(out_features * in_features * INT8_WEIGHT_BYTES) + out_features * QUANT_SCALE_BYTES
    groups = math.ceil(in_features / INT4_GROUP_SIZE)
    return (math.ceil(out_features * in_features * INT4_WEIGHT_BYTES)
            + out_features * groups * (QUANT_SCALE_BYTES + INT4_ZERO_BYTES))


def estimate(config: ModelConfig, precision: str, hw: HardwareInfo, context_tokens: int,
             concurrent_sequences: int = 1,
             prefill_chunk_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS) -> Estimate:
    compute = compute_dtype_for(precision, hw)
    act = DTYPE_BYTES[compute]
    chunk = min(prefill_chunk_tokens, context_tokens)
    activations = (
        chunk * config.hidden_size * act  # hidden states
        + chunk * (config.q_size + 2 * config.kv_size) * act  # fused qkv
        + chunk * 2 * config.intermediate_size * act  # fused gate/up
        + config.num_attention_heads * chunk * min(context_tokens, ATTENTION_KV_BLOCK) * SCORES_BYTES
        + concurrent_sequences * config.vocab_size * LOGITS_BYTES)
    weights = weights_bytes(config, precision, compute)
    kv = int(config.kv_bytes_per_token(act) * context_tokens * concurrent_sequences)
    overhead = CUDA_OVERHEAD_BYTES if hw.device == "cuda" else PROCESS_OVERHEAD_BYTES
    margin = max(int(MARGIN_FRACTION * (weights + kv + activations + overhead)), MIN_MARGIN_BYTES)
    return Estimate(weights, kv, activations, overhead, margin)


def largest_context(config: ModelConfig, precision: str, hw: HardwareInfo, concurrent_sequences: int = 1,
                    prefill_chunk_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS) -> int:
    """The longest context (tokens, up to the model's maximum) that fits at ``precision``; 0 if none."""
    def fits(tokens: int) -> bool:
        est = estimate(config, precision, hw, tokens, concurrent_sequences, prefill_chunk_tokens)
        return est.total_bytes <= hw.free_memory_bytes

    lo, hi = 0, config.max_position_embeddings  # fits(lo) holds (vacuously at 0); the total grows with tokens
    if fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


# --- the planner -------------------------------------------------------------------------------
def preference_order(hw: HardwareInfo) -> list[str]:
    """Precisions the planner tries, best first; fp32 is never chosen automatically on a GPU."""
    if hw.device != "cpu":
        return ["bf16" if hw.supports_bf16 else "fp16", "int8", "int4"]
    dense = ["bf16", "fp32"] if hw.cpu_bf16_faster else ["fp32", "bf16"]
    return [*dense, "int8", "int4"]


def step_down(precision: str, hw: HardwareInfo) -> str | None:
    """The next smaller precision, for "out of memory at load: step down once and retry"; None at int4."""
    if precision == "fp32":
        if hw.device != "cpu":
            return "bf16" if hw.supports_bf16 else "fp16"
        return "bf16" if hw.cpu_bf16_faster else "int8"
    return {"bf16": "int8", "fp16": "int8", "int8": "int4"}.get(precision)


def plan(config: ModelConfig, hw: HardwareInfo, context_tokens: int | None = None, precision: str = "auto",
         concurrent_sequences: int = 1,
         prefill_chunk_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS) -> PrecisionPlan:
    """Choose a precision (or check the user's ``precision``) for ``context_tokens`` per sequence.

    Raises PlanError when nothing fits, the override does not fit or cannot run here, or the context
    is beyond the model's maximum; the message has the numbers and what to change.
    """
    context = _check_inputs(config, context_tokens, precision, concurrent_sequences, prefill_chunk_tokens)
    budget = hw.free_memory_bytes
    order = preference_order(hw)
    listing = order + [p for p in PRECISIONS if p not in order]
    ests = {p: estimate(config, p, hw, context, concurrent_sequences, prefill_chunk_tokens) for p in listing}
    fits = {p: ests[p].total_bytes <= budget for p in listing}
    auto = next((p for p in order if fits[p]), None)
    args = (config, hw, context, concurrent_sequences, prefill_chunk_tokens)
    if precision == "auto":
        if auto is None:
            raise PlanError(_too_big_message(order[-1], ests[order[-1]], None, precision, *args))
        chosen = auto
    else:
        unsupported = _unsupported(precision, hw)
        if unsupported:
            raise PlanError(f"{precision} was requested but is {unsupported}; "
                            f"use {order[0]} (or 'auto') instead")
        if not fits[precision]:
            raise PlanError(_too_big_message(precision, ests[precision], auto, precision, *args))
        chosen = precision

    candidates = [Candidate(p, ests[p], fits[p], _candidate_reason(p, chosen, precision, auto, fits, ests, hw))
                  for p in listing]
    compute = compute_dtype_for(chosen, hw)
    result = PrecisionPlan(chosen, precision, hw.device, compute, compute, context, concurrent_sequences,
                           prefill_chunk_tokens, ests[chosen], budget, candidates,
                           _reasons(chosen, precision, auto, order, ests, config, hw, context, concurrent_sequences))
    logger.debug("precision plan: %s", result.summary())
    return result


def _check_inputs(config: ModelConfig, context_tokens: int | None, precision: str, concurrent: int,
                  chunk: int) -> int:
    if precision != "auto" and precision not in PRECISIONS:
        raise PlanError(f"unknown precision {precision!r}: choose 'auto' or one of {', '.join(PRECISIONS)}")
    if concurrent < 1 or chunk < 1:
        raise PlanError(f"concurrent_sequences ({concurrent}) and prefill_chunk_tokens ({chunk}) must be >= 1")
    limit = config.max_position_embeddings
    context = min(limit, DEFAULT_CONTEXT_CAP) if context_tokens is None else context_tokens
    if context < 1:
        raise PlanError(f"context of {context} tokens is not possible: ask for at least 1 token")
    if context > limit:
        raise PlanError(f"a context of {context:,} tokens is beyond this model's maximum of {limit:,} "
                        f"(max_position_embeddings in config.json); ask for at most {limit:,} tokens")
    return context


def runnable_precisions(hw: HardwareInfo) -> list[str]:
    """Every precision this hardware can run at all (whether the model fits is the plan's question)."""
    return [p for p in PRECISIONS if _unsupported(p, hw) is None]


def _unsupported(precision: str, hw: HardwareInfo) -> str | None:
    """Why this GPU cannot run ``precision`` at all (CPUs run everything, some slowly)."""
    if hw.device == "cpu":
        return None
    if (precision == "bf16" and not hw.supports_bf16) or (precision == "fp16" and not hw.supports_fp16):
        cc = hw.compute_capability
        detail = f" (compute capability {cc[0]}.{cc[1]}; bf16 needs 8.0+)" if cc and precision == "bf16" else ""
        return f"not supported by this GPU{detail}"
    return None


def _speed_note(precision: str, hw: HardwareInfo) -> str | None:
    """Why a runnable precision is not the planner's first choice on this hardware."""
    if hw.device != "cpu":
        if precision == "fp32":
            return "not chosen automatically on a GPU: twice the memory of 16-bit, no quality gain for inference"
        if precision == "fp16" and hw.supports_bf16:
            return "not preferred on this GPU: bf16 has the same size and no overflow risk"
        return None
    if precision == "fp16":
        native = any(f in hw.cpu_flags for f in CPU_FP16_FLAGS)
        return ("not chosen automatically on CPU: bf16 has the same size and no overflow risk"
                + ("" if native else "; this CPU has no fp16 arithmetic, so long prompts are read in fp32"))
    if precision == "fp32" and hw.cpu_bf16_faster:
        return "slower than bf16 on this CPU"
    if precision == "bf16" and not hw.cpu_bf16_faster:
        return ("slower than fp32 on this CPU" if hw.cpu_bf16_faster is False
                else "not measured faster than fp32 on this CPU")
    return None


def _candidate_reason(p: str, chosen: str, requested: str, auto: str | None, fits: dict[str, bool],
                      ests: dict[str, Estimate], hw: HardwareInfo) -> str:
    if p == chosen:
        return "chosen" if requested == "auto" else "chosen (requested)"
    unsupported = _unsupported(p, hw)
    if unsupported:
        return unsupported
    if not fits[p]:
        return (f"does not fit: needs {format_bytes(ests[p].total_bytes)}, "
                f"{format_bytes(hw.free_memory_bytes)} free")
    note = _speed_note(p, hw)
    if note:
        return note
    if p == auto:
        return f"fits; the automatic choice ({chosen} was requested)"
    if p in QUANTIZED and chosen not in QUANTIZED:
        return f"fits, but {chosen} keeps full quality"
    return f"fits, but {chosen} is preferred"


def _reasons(chosen: str, requested: str, auto: str | None, order: list[str], ests: dict[str, Estimate],
             config: ModelConfig, hw: HardwareInfo, context: int, concurrent: int) -> list[str]:
    est, free = ests[chosen], format_bytes(hw.free_memory_bytes)
    compute = compute_dtype_for(chosen, hw)
    reasons: list[str] = []
    if requested != "auto":
        reasons.append(f"{chosen} was requested" + (f"; the automatic choice would be {auto}"
                                                      if auto and auto != chosen else ""))
        note = _speed_note(chosen, hw)
        if note:
            reasons.append(f"note: {chosen} is {note}")
            logger.warning("requested precision %s is %s", chosen, note)
    elif chosen in QUANTIZED:
        needs = " and ".join(f"{p} needs {format_bytes(ests[p].total_bytes)}" for p in order[: order.index(chosen)])
        reasons.append(f"{needs}, but only {free} are free, so the weights are quantized to {chosen} "
                       f"(weight-only); activations and the KV cache stay in {compute}")
    if chosen in QUANTIZED and _quant_seconds(chosen, hw):
        times = _quant_seconds(chosen, hw)
        other = "fp32" if compute == "bf16" else "bf16"
        slower = "; within the margin, and bf16 halves the KV cache" if times[compute] > times[other] else ""
        reasons.append(f"{chosen} with {compute} activations: {times[compute] * 1e3:.2f} ms for a 1-row and a 4-row "
                       f"decode product measured on this CPU ({other}: {times[other] * 1e3:.2f} ms{slower})")
    else:
        reasons.append(_why_dense(chosen, hw))
    batch = f" for {concurrent} concurrent sequences" if concurrent > 1 else ""
    reasons.append(f"{_param_text(config.num_parameters())} parameters in {chosen} with a {context:,}-token "
                   f"context{batch} need {format_bytes(est.total_bytes)}; {free} are free")
    reasons.append(f"breakdown: {est.describe()} (KV cache and activations in {compute})")
    return reasons


def _why_dense(chosen: str, hw: HardwareInfo) -> str:
    if hw.device != "cpu":
        has = "supports bf16" if chosen == "bf16" else "has no native bf16, so fp16"
        return f"{hw.device_name} {has}, the fastest precision that keeps full quality"
    if chosen == "bf16" and hw.cpu_bf16_faster:
        return f"bf16 measured faster than fp32 on this CPU ({hw.cpu_name}{_measured(hw)}) and needs half the memory"
    if chosen == "bf16":
        return f"bf16 on this CPU ({hw.cpu_name}): native bf16, half the memory of fp32"
    if hw.cpu_bf16_faster is False:
        return f"fp32 measured faster than bf16 on this CPU ({hw.cpu_name}{_measured(hw)}), at full quality"
    why = hw.cpu_speed_note if hw.cpu_speed_note.startswith("not measured") else "not measured yet"
    return (f"bf16's speed on this CPU is {why}, so fp32: full quality, safe everywhere (measure it from the "
            "model panel when the computer is quiet)")


def _measured(hw: HardwareInfo) -> str:
    """"; x1.42, measured on 2025-12-07 and kept for this machine" (the measurement the choice rests on)."""
    parts = [f"x{hw.cpu_bf16_speedup:.2f}"] if hw.cpu_bf16_speedup else []
    if hw.cpu_speed_measured_at:
        when = time.strftime("%Y-%m-%d", time.localtime(hw.cpu_speed_measured_at))
        parts.append(f"measured on {when} on a quiet CPU and kept for this machine")
    return "; " + ", ".join(parts) if parts else ""


def _memory_name(hw: HardwareInfo) -> str:
    return {"cuda": f"VRAM on {hw.device_name}", "mps": "unified memory"}.get(hw.device, "RAM")


def _too_big_message(precision: str, est: Estimate, auto: str | None, requested: str, config: ModelConfig,
                     hw: HardwareInfo, context: int, concurrent: int, chunk: int) -> str:
    memory = _memory_name(hw)
    max_tokens = largest_context(config, precision, hw, concurrent, chunk)
    ways = [f"{auto}, which fits"] if auto else []
    if max_tokens:
        ways.append(f"a context of at most {max_tokens:,} tokens (fits at {precision})")
    elif est.weights_bytes > hw.free_memory_bytes:
        ways.append(f"no context length helps: the {precision} weights alone take {format_bytes(est.weights_bytes)}")
    else:
        ways.append("no context length helps: weights plus runtime overhead already exceed it")
    if concurrent > 1:
        ways.append("fewer concurrent sequences")
    if requested == "auto":
        ways.append("a smaller model")
    ways.append(f"at least {format_bytes(est.total_bytes - hw.free_memory_bytes)} more free {memory}")
    head = (f"{precision} was requested but does not fit" if requested != "auto" else
            f"this {config.num_parameters() / 1e9:.1f}B-parameter model with a {context:,}-token context does "
            f"not fit, even in {precision}, the smallest precision")
    return (f"{head}: it needs {format_bytes(est.total_bytes)} ({est.describe()}) and "
            f"{format_bytes(hw.free_memory_bytes)} of {memory} are free. Ways out: {'; '.join(ways)}")


def _param_text(n: int) -> str:
    """1.8B, 494M, 4.5M: a bundled model is millions, a real one billions."""
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"
