"""One token of one sequence through the model, with as little Python per layer as possible.

Batch-1 decode is the path a desktop user waits on, and on CPU its matmuls are fast enough (an int4
1.5B model: ~23 ms per token on 2 cores) that Python and op dispatch around them cost a noticeable share:
``Module.__call__`` and attribute lookups on every submodule, reshapes between [B, T, ...] and the
kernels' 2-D inputs, the general multi-sequence cache logic. ``TokenDecoder`` composes the same
primitives the modules use (each norm's ``inference_fn``, each projection's matmul, ``rope_into``, ``silu_mul``,
``attend_one``: on CPU one kernel call each) over flat [1, hidden] activations, with every callable looked up
once, and adds each residual inside the norm after it (``RMSNorm.add_inference_fn``, rounded as the forward's
add rounds). It computes exactly what ``Transformer.forward`` computes for that token (tests compare the logits
bit for bit); measured on an int4 R1-Distill-Qwen-1.5B shape, 2 cores: 1.3 ms less per token (25.2 vs 26.6 ms).

Where every projection runs Ponder's CPU kernels, one token of one sequence skips even that: ``NativeDecode``
takes it through all the layers in one kernel call (the same kernels and roundings, the same logits).

It also runs a few tokens of one sequence in one pass (a token and its speculative draft, which the engine
verifies): each projection then multiplies all the rows at once, and each row attends over the cache up to its
own position (one attention call with the causal mask offset to ``pos``); and the decode rows of several
sequences at once (``rows``: batched decode, with or without drafts), each attending over its own cache.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.native_decode import NativeDecode
from core.models.transformer import Transformer, attend_one, rope_into, silu_mul

Matmul = Callable[[Tensor], Tensor]


def matmul_of(layer: nn.Module) -> Matmul:
    """x [N, K] -> [N, out] of a projection with its weights bound: the layer's own ``matmul_fn`` (quantised
    and widening layers), else a plain ``nn.Linear``'s product."""
    if hasattr(layer, "matmul_fn"):
        return layer.matmul_fn()
    return partial(F.linear, weight=layer.weight, bias=layer.bias)


class TokenDecoder:
    """``decoder(tokens, pos, kv, slot)`` -> logits [n, V] for the ``n`` tokens at ``pos``, ``pos + 1``, ... of
    the sequence in cache ``slot`` (``kv``: the cache's per-layer tensors), storing their keys and values there.

    Built once per loaded model: it binds the weights as they are then (rebuild it after changing them).
    """

    def __init__(self, model: Transformer) -> None:
        cfg = model.config
        self.model = model
        self.heads, self.kv_heads, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.intermediate = cfg.intermediate_size
        self.layers = []
        # the norm after each layer's MLP: the next layer's input norm, the final norm after the last layer
        after_mlp = [block.input_layernorm for block in model.layers[1:]] + [model.norm]
        for block, norm_after in zip(model.layers, after_mlp):
            attn, mlp = block.self_attn, block.mlp
            qk_norms = (attn.q_norm.inference_fn(), attn.k_norm.inference_fn()) if attn.q_norm is not None else None
            self.layers.append((matmul_of(attn.qkv_proj), qk_norms, matmul_of(attn.o_proj),
                                block.post_attention_layernorm.add_inference_fn(), matmul_of(mlp.gate_up_proj),
                                matmul_of(mlp.down_proj), norm_after.add_inference_fn()))
        self.first_norm, self.lm_head = model.layers[0].input_layernorm.inference_fn(), matmul_of(model.lm_head)
        self.native = NativeDecode.build(model)

    def __call__(self, tokens: list[int], pos: int, kv: list[Tensor], slot: int) -> Tensor:
        return self.rows(tokens, [(slot, pos, len(tokens))], kv)

    def rows(self, tokens: list[int], segments: list[tuple[int, int, int]], kv: list[Tensor]) -> Tensor:
        """Logits [n, V] for the tokens of decode segments ``(slot, first position, tokens)`` in order: one token
        of a sequence attends over its cache with ``attend_one``; several (a token and its draft) over the cache
        up to each one's own position, in one attention call with the causal mask offset to the first."""
        if self.native is not None and len(segments) == 1 and segments[0][2] == 1:
            logits = self._native_token(tokens[0], *segments[0][:2], kv)
            if logits is not None:
                return logits
        h, kvh = self.heads, self.kv_heads
        device = kv[0].device
        masks = [None if n == 1 else
                 torch.arange(pos + n, device=device)[None, :] <= torch.arange(pos, pos + n, device=device)[:, None]
                 for _, pos, n in segments]
        single = len(segments) == 1

        def attend(cache: Tensor, qkv: Tensor) -> Tensor:
            outs, r = [], 0
            for (slot, pos, n), mask in zip(segments, masks):
                part = qkv if single else qkv[r:r + n]
                r += n
                if mask is None:
                    outs.append(attend_one(cache, slot, pos, part[0, :h], part[0, h:]).view(1, -1))
                    continue
                cache[slot, :, pos:pos + n] = part[:, h:].transpose(0, 1)
                out = F.scaled_dot_product_attention(
                    part[:, :h].transpose(0, 1)[None], cache[slot:slot + 1, :kvh, :pos + n],
                    cache[slot:slot + 1, kvh:, :pos + n], attn_mask=mask, enable_gqa=h != kvh)[0]  # [H, n, D]
                outs.append(out.transpose(0, 1).reshape(n, -1))
            return outs[0] if len(outs) == 1 else torch.cat(outs)
        positions = [p for _, pos, n in segments for p in range(pos, pos + n)]
        return self._run(tokens, torch.tensor(positions, device=device), kv, attend)

    def _native_token(self, token: int, slot: int, pos: int, kv: list[Tensor]) -> Tensor | None:
        """One token through ``NativeDecode`` (every layer in one kernel call); None where it declines."""
        device = kv[0].device
        x, cos, sin = self.model.inputs(torch.tensor([[token]], device=device), torch.tensor([[pos]], device=device))
        x = x.reshape(-1).contiguous()
        normed = self.first_norm(x)
        if not self.native.decode(x, normed, cos, sin, kv, slot, pos):
            return None
        return self.lm_head(normed.view(1, -1))

    def _run(self, tokens: list[int], positions: Tensor, kv: list[Tensor],
             attend: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """The layers over rows x [n, hidden] at ``positions`` [n]; ``attend(cache, qkv)`` stores the rows' keys and
        values in a layer's cache and returns their attention [n, H * D]."""
        h, kvh, d, inter = self.heads, self.kv_heads, self.head_dim, self.intermediate
        n = len(tokens)
        x, cos, sin = self.model.inputs(torch.tensor([tokens], device=positions.device), positions[None])
        x, cos, sin = x[0], cos[0], sin[0]  # x [n, hidden]; cos, sin [n, 1, D]: broadcast over each token's heads
        normed = self.first_norm(x)
        # each residual add is fused with the norm after it (``add_inference_fn``), rounded as the forward rounds
        for cache, layer in zip(kv, self.layers):
            qkv_proj, qk_norms, o_proj, add_norm2, gate_up_proj, down_proj, add_norm_next = layer
            qkv = qkv_proj(normed).view(n, h + 2 * kvh, d)
            qk = qkv[:, :h + kvh]
            if qk_norms is not None:
                qk = torch.cat((qk_norms[0](qkv[:, :h]), qk_norms[1](qkv[:, h:h + kvh])), dim=1)
            rope_into(qk, cos, sin, qkv[:, :h + kvh])
            x, normed = add_norm2(x, o_proj(attend(cache, qkv)))
            x, normed = add_norm_next(x, down_proj(silu_mul(gate_up_proj(normed), inter)))
        return self.lm_head(normed)
