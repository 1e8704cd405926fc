"""One decoder for Qwen2, Llama and Qwen3: inference, benchmark and training all run this module.

Written for speed on CPU and GPU alike: q/k/v and gate/up are single fused matmuls, rotary embedding is
applied to q and k in one pass, attention is ``scaled_dot_product_attention`` with grouped KV heads never
repeated in memory (one decoding token on CPU: Ponder's own kernel, ``attend_cached``). The KV cache is passed
in explicitly (``forward(tokens, positions, cache)``, as in gpt-fast): ``cache=None`` is plain causal attention
over ``tokens`` (training, reference checks); otherwise ``cache`` is a per-step view of the KV cache that stores
k/v and runs attention over everything cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.kernels import ops
from core.kernels.build import Kernels, kernel_status
from core.model_config import ModelConfig, RopeConfig


class AttentionStep(Protocol):
    """What a KV cache hands the model for one forward pass."""

    def attend(self, layer: int, q: Tensor, kv: Tensor) -> Tensor:
        """Store k|v [B, T, 2*KVH, D] (keys then values) for ``layer``; attend q [B, T, H, D] -> [B, T, H, D]."""
        ...


@dataclass(frozen=True, slots=True)
class TreeMask:
    """Who may attend to whom in rows that pack several continuations of one prefix (training packs them:
    ``build_scripts/training/data.py``).

    The first ``causal`` positions of every row are plain causal (the shared prefix); the queries after them
    follow ``tail`` [B, 1, T - causal, T] (True = may attend). Splitting them lets the prefix (the document)
    take the causal kernel, which skips the masked half, instead of a dense mask over all T x T pairs.
    """

    causal: int
    tail: Tensor

    def to(self, device: torch.device | str) -> TreeMask:
        return TreeMask(self.causal, self.tail.to(device))


def masked_attention(q: Tensor, k: Tensor, v: Tensor, mask: TreeMask | None, gqa: bool) -> Tensor:
    """q, k, v [B, heads, T, D] -> [B, H, T, D]: causal, or as ``mask`` says."""
    if mask is None or mask.causal == q.shape[2]:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    p = mask.causal
    tail = F.scaled_dot_product_attention(q[:, :, p:], k, v, attn_mask=mask.tail, enable_gqa=gqa)
    if p == 0:
        return tail
    head = F.scaled_dot_product_attention(q[:, :, :p], k[:, :, :p], v[:, :, :p], is_causal=True, enable_gqa=gqa)
    return torch.cat((head, tail), dim=2)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self._doubled: tuple[int, int, Tensor] | None = None  # (data_ptr, version, [w, w]) for inference

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and (self.weight.requires_grad or x.requires_grad):
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        return self.inference_fn()(x)

    def doubled_weight(self) -> Tensor:
        """[w, w], cached while the weight is unchanged (see ``rms_norm_inference``)."""
        w = self.weight
        key = (w.data_ptr(), 0 if w.is_inference() else w._version)  # inference tensors have no version
        if self._doubled is None or self._doubled[:2] != key:
            self._doubled = (*key, torch.cat((w, w)))
        return self._doubled[2]

    def inference_fn(self) -> Callable[[Tensor], Tensor]:
        """x -> normed x with the weight as it is now bound (for ``TokenDecoder``): Ponder's kernel on CPU."""
        kernels = cpu_kernels(self.weight)
        if kernels is not None:
            return partial(ops.rms_norm, kernels, weight=self.weight, eps=self.eps)
        return partial(rms_norm_inference, doubled_weight=self.doubled_weight(), eps=self.eps)

    def add_inference_fn(self) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """(x, delta) -> (x + delta, its norm): a residual add and the norm after it, one kernel call on CPU;
        the sum is rounded as ``x + delta`` rounds, so the norm equals ``forward(x + delta)`` bit for bit."""
        kernels = cpu_kernels(self.weight)
        if kernels is not None:
            return partial(_add_rms_norm_kernel, kernels, weight=self.weight, eps=self.eps)
        norm = self.inference_fn()

        def add_norm(x: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
            x = x + delta
            return x, norm(x)
        return add_norm


def _add_rms_norm_kernel(kernels: Kernels, x: Tensor, delta: Tensor, weight: Tensor,
                         eps: float) -> tuple[Tensor, Tensor]:
    return ops.rms_norm(kernels, x, weight, eps, residual=delta)


def cpu_kernels(t: Tensor) -> Kernels | None:
    """Ponder's kernels where ``t`` is a CPU tensor of a dtype they compute in, else None (torch's ops run)."""
    if t.device.type != "cpu" or t.dtype not in ops.DTYPE_CODE:
        return None
    return kernel_status().kernels


def rms_norm_inference(x: Tensor, doubled_weight: Tensor, eps: float) -> Tensor:
    """rms_norm(x) as layer_norm([x, -x]) cut in half: the mean of [x, -x] is 0 and its variance is
    mean(x^2). On CPU layer_norm is one fused kernel while rms_norm is a chain of small ops, so this is
    2-4x faster, and decode runs two norms per layer per token."""
    h = x.shape[-1]
    return torch.layer_norm(torch.cat((x, x.neg()), dim=-1), (2 * h,), doubled_weight, None, eps)[..., :h]


def rope_inv_freq(rope: RopeConfig, head_dim: int) -> Tensor:
    """Inverse frequencies [D/2] in fp32, with Llama-3 or linear scaling applied."""
    inv_freq = 1.0 / (rope.theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if rope.type == "linear":
        inv_freq = inv_freq / rope.factor
    elif rope.type == "llama3":
        low_wavelen = rope.original_max_position_embeddings / rope.low_freq_factor
        high_wavelen = rope.original_max_position_embeddings / rope.high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq)
        smooth = (rope.original_max_position_embeddings / wavelen - rope.low_freq_factor) / (
            rope.high_freq_factor - rope.low_freq_factor)
        smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        inv_freq = torch.where(medium, smoothed, scaled)
    return inv_freq


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.qkv_proj = nn.Linear(cfg.hidden_size, cfg.q_size + 2 * cfg.kv_size, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(cfg.q_size, cfg.hidden_size, bias=cfg.o_proj_bias)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: AttentionStep | None,
                mask: TreeMask | None = None) -> Tensor:
        b, t, _ = x.shape
        h, kvh = self.n_heads, self.n_kv_heads
        qkv = self.qkv_proj(x).view(b, t, h + 2 * kvh, self.head_dim)
        qk = qkv[:, :, :h + kvh]
        if self.q_norm is not None:
            qk = torch.cat((self.q_norm(qkv[:, :, :h]), self.k_norm(qkv[:, :, h:h + kvh])), dim=2)
        if cache is None:  # training / reference: out of place, autograd-safe
            qk = apply_rope(qk, cos, sin)  # q and k rotated in one pass
            q, k, v = qk[:, :, :h], qk[:, :, h:], qkv[:, :, h + kvh:]
            out = masked_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask,
                                   h != kvh).transpose(1, 2)  # [B, T, H, D]
        else:  # inference: rotate in place so k and v stay adjacent in qkv, stored with one copy
            rope_into(qk, cos, sin, qkv[:, :, :h + kvh])
            out = cache.attend(self.layer, qkv[:, :, :h], qkv[:, :, h:])
        return self.o_proj(out.reshape(b, t, h * self.head_dim))


def attend_one(cache: Tensor, slot: int, pos: int, q: Tensor, kv: Tensor) -> Tensor:
    """One new token of one sequence: store its k|v [2*KVH, D] at ``pos`` of ``slot`` in a layer's cache
    [slots, 2*KVH, tokens, D] and attend its q [H, D] over positions 0..pos -> [1, KVH, H/KVH, D]."""
    cache[slot, :, pos] = kv
    return attend_cached(cache, slot, pos + 1, q)


def attend_cached(cache: Tensor, slot: int, tokens: int, q: Tensor) -> Tensor:
    """One query token q [H, D] over the first ``tokens`` cached in ``slot`` -> [1, KVH, H/KVH, D].

    On CPU Ponder's kernel (``ops.attend_one``: 3-4x faster than torch's attention over short caches, as fast
    over long ones, and 3-4x faster in fp16); elsewhere torch's, with the heads sharing a KV head folded into the
    query axis, so no mask and no repeated KV are needed.
    """
    n_kv = cache.shape[1] // 2
    if cache.device.type == "cpu":
        kernels = kernel_status().kernels
        out = None if kernels is None else ops.attend_one(kernels, cache, slot, tokens, q)
        if out is not None:
            return out.view(1, n_kv, q.shape[0] // n_kv, -1)
    keys, values = cache[slot:slot + 1, :n_kv, :tokens], cache[slot:slot + 1, n_kv:, :tokens]
    return F.scaled_dot_product_attention(q.view(1, n_kv, q.shape[0] // n_kv, -1), keys, values)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor, out: Tensor | None = None) -> Tensor:
    """x [B, T, heads, D] rotated by position: x*cos + rotate_half(x)*sin.

    ``sin`` is pre-signed ([-sin, sin]) so rotate_half becomes a plain roll: 3 ops instead of 6.
    """
    rolled = torch.roll(x, x.shape[-1] // 2, dims=-1)
    return torch.addcmul(x * cos, rolled, sin, out=out)


def rope_into(x: Tensor, cos: Tensor, sin: Tensor, out: Tensor) -> None:
    """``apply_rope(x, cos, sin, out=out)`` for inference (no autograd): Ponder's kernel on CPU."""
    kernels = cpu_kernels(x)
    if kernels is None or not ops.rope(kernels, x, cos, sin, out):
        apply_rope(x, cos, sin, out=out)


def silu_mul(gate_up: Tensor, inter: int) -> Tensor:
    """gate_up [..., 2 * inter] -> silu(gate) * up: Ponder's kernel on CPU in inference (one pass, rounded once)."""
    kernels = None if torch.is_grad_enabled() and gate_up.requires_grad else cpu_kernels(gate_up)
    if kernels is not None:
        return ops.silu_mul(kernels, gate_up, inter)
    return F.silu(gate_up[..., :inter]).mul_(gate_up[..., inter:])


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.intermediate = cfg.intermediate_size
        self.gate_up_proj = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(silu_mul(self.gate_up_proj(x), self.intermediate))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, layer)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: AttentionStep | None,
                mask: TreeMask | None = None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.register_buffer("inv_freq", rope_inv_freq(cfg.rope, cfg.head_dim), persistent=False)

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.norm.weight.dtype

    def rope_tables(self, positions: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """cos, signed sin [B, T, 1, D] for positions [B, T] (computed in fp32, like the reference)."""
        freqs = positions.to(torch.float32).unsqueeze(-1) * self.inv_freq  # [B, T, D/2]
        cos, sin = freqs.cos(), freqs.sin()
        return (torch.cat((cos, cos), dim=-1).unsqueeze(2).to(dtype),
                torch.cat((-sin, sin), dim=-1).unsqueeze(2).to(dtype))

    def inputs(self, tokens: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Embeddings of ``tokens`` in the compute dtype, and the rope tables for ``positions``."""
        x = self.embed_tokens(tokens)
        dtype = self.compute_dtype
        if x.dtype != dtype:
            x = x.to(dtype)
        return (x, *self.rope_tables(positions, dtype))

    def forward(self, tokens: Tensor, positions: Tensor, cache: AttentionStep | None = None,
                logits_at: Tensor | None = None, mask: TreeMask | None = None) -> Tensor:
        """tokens, positions [B, T] -> logits [B, T, V], or [N, V] for the flat rows ``logits_at``.

        Asking only for the rows that are sampled (the last prompt token, one row per sequence in
        decode) skips the LM head over the whole prompt: a large part of prefill time on big vocabularies.
        ``mask`` replaces the causal mask without a cache: training uses it to pack several continuations
        of one shared prefix into a row (``TreeMask``, ``build_scripts/training/data.py``).
        """
        x, cos, sin = self.inputs(tokens, positions)
        for layer in self.layers:
            x = layer(x, cos, sin, cache, mask)
        if logits_at is not None:
            x = x.reshape(-1, x.shape[-1]).index_select(0, logits_at)
        return self.lm_head(self.norm(x))
