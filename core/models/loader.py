"""Load a Hugging Face checkpoint into our Transformer at a chosen precision, tensor by tensor.

The model is built on ``meta`` (no memory), every expected tensor is checked against the headers (names,
shapes, dtypes) before anything large is allocated, then each parameter is allocated at its final dtype
and filled a block of rows at a time: converted (bf16 -> fp32 ...) or quantised (int8/int4) on the way.
Peak memory is the final model plus one staging block. Every block is checked for NaN and infinite values
on the way (one sum per block, a memory pass; the bad row is searched only when that sum is not finite), so a
damaged or crafted file is refused with the tensor's name instead of serving garbage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from core.kernels import cpu_gemm
from core.kernels import ops as kernel_ops
from core.kernels.build import Kernels, kernel_status
from core.models import quant
from core.models.checkpoint import FLOAT_DTYPES, CheckpointError, RowReader, TensorInfo, find_tensors
from core.model_config import ModelConfig
from core.models.transformer import Transformer, rope_inv_freq
from core.precision import PRECISIONS

log = logging.getLogger(__name__)

# The torch dtype of each float precision (core.precision names them without torch); the one such map.
FLOAT_PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
STAGING_BYTES = 64 * 1024 * 1024  # rows converted per block: bounds the extra memory while loading
FINITE_CHECK_ELEMENTS = 1 << 24  # elements summed at once when checking weights for NaN/Inf


@dataclass(slots=True)
class LoadedModel:
    model: Transformer
    config: ModelConfig
    precision: str
    compute_dtype: torch.dtype
    device: torch.device
    load_seconds: float
    weights_bytes: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Target:
    """One of our parameters: HF tensors stacked along rows, and how to store it."""

    name: str  # our module path, e.g. "layers.0.self_attn.qkv_proj"
    sources: tuple[str, ...]
    shape: tuple[int, ...]  # full (stacked) shape
    kind: str  # "linear" | "embedding" | "vector"


def load_model(model_dir: str | Path, precision: str = "fp32", device: str | torch.device = "cpu",
               compute_dtype: torch.dtype | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> LoadedModel:
    """Load ``model_dir`` (HF layout, safetensors) at ``precision`` onto ``device``.

    ``compute_dtype`` is the activation dtype for int8/int4 (default bf16); float precisions compute in
    their own dtype. ``on_progress(done, total)`` is called after each tensor group is loaded.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    start = time.perf_counter()
    device = torch.device(device)
    config = ModelConfig.from_dir(model_dir)
    tensors = find_tensors(model_dir)
    targets = _targets(config)
    _check_tensors(config, targets, tensors)
    dtype = FLOAT_PRECISION_DTYPES.get(precision) or compute_dtype or torch.bfloat16

    with torch.device("meta"):
        model = Transformer(config)
    kernels, notes = None, []
    if device.type == "cpu" and precision != "fp32":
        status = kernel_status()
        kernels = status.kernels
        notes.append(status.reason)
    if precision in ("int8", "int4"):
        notes += _swap_quantized_modules(model, precision, dtype, kernels)
    widen = precision in ("bf16", "fp16") and device.type == "cpu" and cpu_gemm.gemm_dtype(dtype) != dtype
    fp32_on_cpu = precision == "fp32" and device.type == "cpu"  # products through oneDNN (core.kernels.cpu_gemm)
    if widen or fp32_on_cpu or (kernels is not None and precision in ("bf16", "fp16")):
        _swap_linears(model, lambda _, m: _cpu_linear(m, dtype, kernels, widen))
    if widen:
        notes.append(f"{precision} on a CPU without {precision} arithmetic: prefill widens the weights to fp32")
    state: dict[str, Tensor] = {}
    with RowReader() as reader, torch.no_grad():
        for done, target in enumerate(targets, 1):
            if target.name == "lm_head" and config.tie_word_embeddings and precision in FLOAT_PRECISION_DTYPES:
                continue  # tied: shares the embedding tensor, no second copy
            module = model.get_submodule(target.name.partition("#")[0])
            state.update(_load_target(reader, tensors, target, module, precision, dtype, device))
            if on_progress:
                on_progress(done, len(targets))
    model.load_state_dict(state, strict=False, assign=True)
    model.inv_freq = rope_inv_freq(config.rope, config.head_dim).to(device)
    if config.tie_word_embeddings and precision not in ("int8", "int4"):
        model.lm_head.weight = model.embed_tokens.weight
    _check_no_meta(model)
    model.eval().requires_grad_(False)
    weights_bytes = sum(t.numel() * t.element_size() for t in {id(t): t for t in _all_tensors(model)}.values())
    return LoadedModel(model, config, precision, dtype, device, time.perf_counter() - start, weights_bytes, notes)


def _targets(cfg: ModelConfig) -> list[_Target]:
    h, i = cfg.hidden_size, cfg.intermediate_size
    out = [_Target("embed_tokens", ("model.embed_tokens.weight",), (cfg.vocab_size, h), "embedding")]
    for n in range(cfg.num_hidden_layers):
        p, a = f"model.layers.{n}.", f"layers.{n}."
        qkv = (cfg.q_size + 2 * cfg.kv_size, h)
        out += [
            _Target(a + "input_layernorm", (p + "input_layernorm.weight",), (h,), "vector"),
            _Target(a + "self_attn.qkv_proj", tuple(p + f"self_attn.{x}_proj.weight" for x in "qkv"), qkv, "linear"),
            _Target(a + "self_attn.o_proj", (p + "self_attn.o_proj.weight",), (h, cfg.q_size), "linear"),
            _Target(a + "post_attention_layernorm", (p + "post_attention_layernorm.weight",), (h,), "vector"),
            _Target(a + "mlp.gate_up_proj", (p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"), (2 * i, h),
                    "linear"),
            _Target(a + "mlp.down_proj", (p + "mlp.down_proj.weight",), (h, i), "linear"),
        ]
        if cfg.attention_bias:
            out.append(_Target(a + "self_attn.qkv_proj#bias", tuple(p + f"self_attn.{x}_proj.bias" for x in "qkv"),
                               (qkv[0],), "vector"))
        if cfg.o_proj_bias:
            out.append(_Target(a + "self_attn.o_proj#bias", (p + "self_attn.o_proj.bias",), (h,), "vector"))
        if cfg.mlp_bias:
            out.append(_Target(a + "mlp.gate_up_proj#bias", (p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias"),
                               (2 * i,), "vector"))
            out.append(_Target(a + "mlp.down_proj#bias", (p + "mlp.down_proj.bias",), (h,), "vector"))
        if cfg.qk_norm:
            out.append(_Target(a + "self_attn.q_norm", (p + "self_attn.q_norm.weight",), (cfg.head_dim,), "vector"))
            out.append(_Target(a + "self_attn.k_norm", (p + "self_attn.k_norm.weight",), (cfg.head_dim,), "vector"))
    out.append(_Target("norm", ("model.norm.weight",), (h,), "vector"))
    head_source = "model.embed_tokens.weight" if cfg.tie_word_embeddings else "lm_head.weight"
    out.append(_Target("lm_head", (head_source,), (cfg.vocab_size, h), "linear"))
    return out


def _check_tensors(cfg: ModelConfig, targets: list[_Target], tensors: dict[str, TensorInfo]) -> None:
    """Every source present with the right shape and a float dtype; raised before any allocation."""
    for target in targets:
        rows = 0
        for name in target.sources:
            info = tensors.get(name)
            if info is None:
                hint = " (config says tie_word_embeddings=false)" if name == "lm_head.weight" else ""
                raise CheckpointError(f"tensor {name!r} is missing from the checkpoint{hint}; the download is "
                                      "incomplete or the files do not match config.json")
            if info.dtype not in FLOAT_DTYPES:
                raise CheckpointError(
                    f"{info.path.name}: tensor {name!r} has dtype {info.dtype}; only F32/BF16/F16 weights are "
                    "supported (pre-quantised GPTQ/AWQ/bitsandbytes checkpoints are not: use the original weights "
                    "and pick int8/int4 in Ponder)")
            if info.shape[1:] != target.shape[1:] or len(info.shape) != len(target.shape):
                raise CheckpointError(f"{info.path.name}: tensor {name!r} has shape {list(info.shape)}, expected "
                                      f"[*, {', '.join(map(str, target.shape[1:]))}] from config.json")
            rows += info.shape[0]
        if rows != target.shape[0]:
            names = " + ".join(target.sources)
            raise CheckpointError(f"{tensors[target.sources[0]].path.name}: {names} has {rows} rows, expected "
                                  f"{target.shape[0]} from config.json")
    known = {s for t in targets for s in t.sources}
    extra = [n for n in tensors if n not in known and not n.endswith("rotary_emb.inv_freq") and n != "lm_head.weight"]
    if extra:
        log.warning("ignoring %d unexpected tensors, e.g. %s", len(extra), extra[:3])


def _cpu_linear(m: nn.Linear, dtype: torch.dtype, kernels: Kernels | None, widen: bool) -> quant.CpuLinear:
    layer = quant.CpuLinear(m.in_features, m.out_features, m.bias is not None, device="meta", dtype=dtype)
    layer.kernels, layer.widen = kernels, widen
    return layer


def _swap_quantized_modules(model: Transformer, precision: str, dtype: torch.dtype,
                            kernels: Kernels | None) -> list[str]:
    """Replace nn.Linear (and the embedding) by their quantised versions, still on meta."""
    notes: list[str] = []

    def quantized(name: str, module: nn.Linear) -> nn.Module:
        bias = module.bias is not None
        group = quant.int4_group_size(module.in_features, module.out_features, kernels is not None) \
            if precision == "int4" else None
        if precision == "int4" and group is not None:
            return quant.Int4Linear(module.in_features, module.out_features, bias, dtype, group, "meta", kernels)
        if precision == "int4":
            notes.append(f"{name}: shape {module.out_features}x{module.in_features} does not suit the int4 "
                         "kernels, kept at int8")
        return quant.Int8Linear(module.in_features, module.out_features, bias, dtype, "meta", kernels)

    _swap_linears(model, quantized)
    emb = model.embed_tokens
    model.embed_tokens = quant.Int8Embedding(emb.num_embeddings, emb.embedding_dim, dtype, "meta")
    return notes


def _swap_linears(model: Transformer, make: Callable[[str, nn.Linear], nn.Module]) -> None:
    """Replace every nn.Linear (still on meta) by ``make(name, module)``."""
    for name, module in list(model.named_modules()):
        if type(module) is nn.Linear:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, make(name, module))


def _load_target(reader: RowReader, tensors: dict[str, TensorInfo], target: _Target, module: nn.Module,
                 precision: str, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    sources = [tensors[s] for s in target.sources]
    rows = _StackedRows(reader, sources)
    name, _, attr = target.name.partition("#")
    if attr:  # a bias vector
        return {f"{name}.{attr}": _convert_rows(rows, target.shape, dtype, device)}
    if isinstance(module, (quant.Int8Linear, quant.Int8Embedding)):
        q = torch.empty(target.shape, dtype=torch.int8, device=device)
        scales = torch.empty(target.shape[0], dtype=dtype, device=device)
        for r0, block in rows.blocks(dtype_bytes=4):
            _check_finite(rows, block, r0)
            bq, bs = quant.quantize_int8_rows(block)
            q[r0:r0 + len(block)] = bq
            scales[r0:r0 + len(block)] = bs
        if isinstance(module, quant.Int8Embedding):
            scales = scales[:, None]
        return {f"{name}.weight": q, f"{name}.scales": scales}
    if isinstance(module, quant.Int4Linear):
        return _load_int4(rows, target, module, dtype, device)
    return {f"{name}.weight": _convert_rows(rows, target.shape, dtype, device)}


def _convert_rows(rows: "_StackedRows", shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    out = torch.empty(shape, dtype=dtype, device=device)
    if device.type == "cpu" and all(s.torch_dtype == dtype for s in rows.sources):
        rows.read_all_into(out)  # same dtype on CPU: read straight into the final buffer
        _check_finite(rows, out, 0)
        return out
    for r0, block in rows.blocks(dtype_bytes=4 + dtype.itemsize):
        _check_finite(rows, block, r0)
        out[r0:r0 + len(block)] = block
    return out


def _load_int4(rows: "_StackedRows", target: _Target, module: quant.Int4Linear, dtype: torch.dtype,
               device: torch.device) -> dict[str, Tensor]:
    n, k = target.shape
    if module.kernels is not None:  # Ponder's layout: rows of nibbles, fp32 (scale, zero) per row and group
        packed = torch.empty(n, k // 2, dtype=torch.uint8)
        sz = torch.empty(n, k // module.group, 2, dtype=torch.float32)
        for r0, block in rows.blocks(dtype_bytes=8):
            _check_finite(rows, block, r0)
            q, block_sz = quant.quantize_int4_rows(block, module.group)
            packed[r0:r0 + len(block)] = kernel_ops.pack_int4_rows(q)
            sz[r0:r0 + len(block)] = block_sz.transpose(0, 1)
        return {f"{target.name}.weight": packed, f"{target.name}.scales_and_zeros": sz}
    sz = torch.empty(k // module.group, n, 2, dtype=dtype, device=device)
    if device.type == "cuda":
        q_all = torch.empty(n, k, dtype=torch.int32)
    else:
        packed = torch.empty(n, k // 2, dtype=torch.uint8)
    for r0, block in rows.blocks(dtype_bytes=8, multiple=quant.INT4_ROW_BLOCK):
        _check_finite(rows, block, r0)
        q, block_sz = quant.quantize_int4_rows(block, module.group)
        sz[:, r0:r0 + len(block)] = block_sz
        if device.type == "cuda":
            q_all[r0:r0 + len(block)] = q
        else:
            packed[r0:r0 + len(block)] = quant.pack_int4(q, device)
    weight = quant.pack_int4(q_all, device) if device.type == "cuda" else packed
    return {f"{target.name}.weight": weight, f"{target.name}.scales_and_zeros": sz}


def _check_finite(rows: "_StackedRows", block: Tensor, r0: int) -> None:
    """Refuse a block of rows (rows ``r0`` on of ``rows``) holding NaN or an infinity, naming the tensor."""
    flat = block.reshape(block.shape[0], -1) if block.dim() > 1 else block.reshape(-1, 1)
    step = max(1, FINITE_CHECK_ELEMENTS // max(1, flat.shape[1]))
    for c0 in range(0, flat.shape[0], step):
        chunk = flat[c0:c0 + step]
        if bool(torch.isfinite(chunk.sum())):  # a NaN or an infinity anywhere makes the sum one
            continue
        bad = (~torch.isfinite(chunk)).any(dim=1).nonzero()
        if bad.numel():  # else the sum only overflowed: huge but finite values
            info, row = rows.source_of(r0 + c0 + int(bad[0]))
            raise CheckpointError(f"{info.path.name}: tensor {info.name!r} holds NaN or infinite values (row {row}); "
                                  "the weights are damaged, download the model again")


class _StackedRows:
    """The rows of several source tensors stacked (q/k/v -> qkv), read in bounded blocks."""

    def __init__(self, reader: RowReader, sources: list[TensorInfo]) -> None:
        self.reader, self.sources = reader, sources
        self.total = sum(s.shape[0] if s.shape else 1 for s in sources)

    def source_of(self, row: int) -> tuple[TensorInfo, int]:
        """The source tensor holding stacked row ``row``, and the row's index in it."""
        base = 0
        for s in self.sources:
            n = s.shape[0] if s.shape else 1
            if row < base + n:
                return s, row - base
            base += n
        return self.sources[-1], row - base

    def read_all_into(self, out: Tensor) -> None:
        r0 = 0
        for s in self.sources:
            n = s.shape[0] if s.shape else 1
            self.reader.read_into(s, out[r0:r0 + n])
            r0 += n

    def blocks(self, dtype_bytes: int, multiple: int = 1) -> Iterator[tuple[int, Tensor]]:
        """Yield (first_row, rows as a float tensor) in blocks of about STAGING_BYTES."""
        row_elems = max(1, self.sources[0].row_bytes // self.sources[0].torch_dtype.itemsize)
        per_block = max(multiple, STAGING_BYTES // (row_elems * dtype_bytes) // multiple * multiple)
        for r0 in range(0, self.total, per_block):
            yield r0, self._read(r0, min(r0 + per_block, self.total))

    def _read(self, r0: int, r1: int) -> Tensor:
        parts, base = [], 0
        for s in self.sources:
            n = s.shape[0] if s.shape else 1
            lo, hi = max(r0, base), min(r1, base + n)
            if lo < hi:
                buf = torch.empty((hi - lo, *s.shape[1:]), dtype=s.torch_dtype)
                self.reader.read_into(s, buf, row_start=lo - base)
                parts.append(buf.float() if buf.dtype != torch.float32 else buf)
            base += n
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _all_tensors(model: nn.Module) -> list[Tensor]:
    return [*model.parameters(), *model.buffers()]


def _check_no_meta(model: nn.Module) -> None:
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_meta:
            raise CheckpointError(f"internal error: {name} was not loaded")

