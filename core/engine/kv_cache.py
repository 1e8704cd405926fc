"""KV cache: one contiguous slot per sequence, attention run per sequence over its own slot.

Why slots and not paged blocks: on CPU there is no paged-attention kernel, so paged KV would have to be
gathered into a contiguous copy every step. A slot keeps each sequence's keys contiguous, so decode
attention reads exactly what it needs; the matmuls (where batching pays) still run batched. Slots are
allocated with ``torch.empty``: on CPU the pages of an unused tail are never touched, so resident memory
follows what is actually cached. Prefix reuse is slot-level: a finished sequence's slot keeps its tokens
and can be resumed or copied by a later request with the same prefix (see ``engine/prefix_cache.py``).

Model inputs are flat: tokens [1, N] holding, back to back, one segment per sequence of this step (a
prefill chunk or a single decode token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from core.models.transformer import attend_cached, attend_one


@dataclass(frozen=True, slots=True)
class Segment:
    """``length`` new tokens of the sequence in ``slot``, at positions ``start`` .. start+length-1."""

    slot: int
    start: int
    length: int


class KVCache:
    def __init__(self, num_layers: int, num_slots: int, max_tokens: int, num_kv_heads: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu") -> None:
        self.num_slots, self.max_tokens = num_slots, max_tokens
        self.num_kv_heads, self.head_dim, self.dtype = num_kv_heads, head_dim, dtype
        # Keys and values of a layer in one tensor, [slots, 2*KVH (keys then values), tokens, D]: one copy
        # stores both, and each head's tokens stay contiguous for attention.
        shape = (num_slots, 2 * num_kv_heads, max_tokens, head_dim)
        self.kv = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]

    @property
    def device(self) -> torch.device:
        return self.kv[0].device

    @property
    def bytes_per_token(self) -> int:
        return 2 * len(self.kv) * self.num_kv_heads * self.head_dim * self.dtype.itemsize

    def step(self, segments: list[Segment]) -> "KVStep":
        self.check(segments)
        return KVStep(self, segments)

    def check(self, segments: list[Segment]) -> None:
        for s in segments:
            if s.start + s.length > self.max_tokens:
                raise ValueError(f"slot {s.slot}: {s.start + s.length} tokens exceed the cache's {self.max_tokens}")

    def copy_prefix(self, src_slot: int, dst_slot: int, n_tokens: int) -> None:
        """Copy the first ``n_tokens`` of one slot to another (prefix reuse while the source is busy)."""
        for kv in self.kv:
            kv[dst_slot, :, :n_tokens] = kv[src_slot, :, :n_tokens]


class KVStep:
    """The cache as seen by one forward pass: where to store new k/v and what each query attends to."""

    def __init__(self, cache: KVCache, segments: list[Segment]) -> None:
        self.cache, self.segments = cache, segments
        self.single_decode = len(segments) == 1 and segments[0].length == 1  # the batch-1 hot path
        self.batched_decode = len(segments) > 1 and all(s.length == 1 for s in segments)
        if self.batched_decode:  # one scatter stores every sequence's new k/v
            self._slots = torch.tensor([s.slot for s in segments], device=cache.device)
            self._positions = torch.tensor([s.start for s in segments], device=cache.device)
        # Prefill chunks after the first need an explicit causal mask offset by the cached length.
        self._masks = [None if s.start == 0 or s.length == 1 else _offset_causal_mask(s.start, s.length, cache.device)
                       for s in segments]

    def attend(self, layer: int, q: Tensor, kv: Tensor) -> Tensor:
        """q [1, N, H, D], kv [1, N, 2*KVH, D] (keys then values) -> [1, N, H, D]."""
        cache = self.cache.kv[layer]
        n_heads, n_kv = q.shape[2], kv.shape[2] // 2
        group = n_heads // n_kv
        if self.single_decode:  # as few ops as possible: this runs once per layer per token
            seg = self.segments[0]
            return attend_one(cache, seg.slot, seg.start, q[0, 0], kv[0, 0]).view(q.shape)
        if self.batched_decode:
            cache[self._slots, :, self._positions] = kv[0]
        outs = []
        offset = 0
        for seg, mask in zip(self.segments, self._masks):
            s, end = seg.slot, seg.start + seg.length
            if not self.batched_decode:
                cache[s, :, seg.start:end] = kv[0, offset:offset + seg.length].transpose(0, 1)
            qs = q[0, offset:offset + seg.length]  # [T, H, D]
            if seg.length == 1:
                outs.append(attend_cached(cache, s, end, qs[0]).view(1, n_heads, -1))
            else:
                keys, values = cache[s:s + 1, :n_kv, :end], cache[s:s + 1, n_kv:, :end]  # [1, KVH, S, D]
                out = F.scaled_dot_product_attention(
                    qs.transpose(0, 1).unsqueeze(0), keys, values, attn_mask=mask, is_causal=mask is None,
                    enable_gqa=group > 1)  # [1, H, T, D]
                outs.append(out[0].transpose(0, 1))
            offset += seg.length
        return (outs[0] if len(outs) == 1 else torch.cat(outs)).unsqueeze(0)


def _offset_causal_mask(start: int, length: int, device: torch.device) -> Tensor:
    """[T, start+T] boolean: query i (at position start+i) sees keys 0..start+i."""
    keys = torch.arange(start + length, device=device)
    queries = torch.arange(start, start + length, device=device)
    return keys[None, :] <= queries[:, None]
