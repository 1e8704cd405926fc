"""Batch-1 decode through every layer in one kernel call (``ponder_decode_token`` in ``core/kernels/gemv.c``).

``TokenDecoder`` composes one kernel call per step from Python (a norm, a projection, rotary, attention, ...):
about ten calls a layer, each with its own dispatch and argument conversion, 8-13 ms of a 60-150 ms pass of a
1.5B model on a 2-core Zen 3. Here the layers' weights are described once (``ponder_layer`` structs) and a token
takes one call for all of them; the C side runs the same kernels in the same order with the same roundings, so
the logits are bit for bit the per-step path's (tested).

It applies where every projection runs Ponder's kernels (bf16/fp16, int8 or int4 weights on CPU with the kernels
loaded); otherwise ``NativeDecode.build`` returns None and the per-step path runs.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor, nn

from core.kernels import ops
from core.kernels.build import Kernels
from core.models.quant import CpuLinear, Int4Linear, Int8Linear
from core.models.transformer import Transformer, cpu_kernels

_PROJ_INT4 = 3  # beside ops.WEIGHT_CODE's kinds (bf16, fp16, int8)


class _Proj(ctypes.Structure):
    _fields_ = [("w", ctypes.c_void_p), ("scales", ctypes.c_void_p), ("bias", ctypes.c_void_p),
                ("kind", ctypes.c_int), ("scale_dtype", ctypes.c_int),
                ("group", ctypes.c_int64), ("n", ctypes.c_int64), ("k", ctypes.c_int64)]


class _Layer(ctypes.Structure):
    _fields_ = [("qkv", _Proj), ("o", _Proj), ("gate_up", _Proj), ("down", _Proj),
                ("post_norm", ctypes.c_void_p), ("next_norm", ctypes.c_void_p),
                ("q_norm", ctypes.c_void_p), ("k_norm", ctypes.c_void_p), ("cache", ctypes.c_void_p)]


def _proj(layer: nn.Module, dtype: torch.dtype) -> _Proj | None:
    """The kernel's description of a projection, or None where its product is not one of Ponder's kernels."""
    bias = getattr(layer, "bias", None)
    if bias is not None and (bias.dtype != dtype or not bias.is_contiguous()):
        return None
    bias_ptr = None if bias is None else bias.data_ptr()
    if isinstance(layer, Int4Linear) and layer.kernels is not None:
        return _Proj(layer.weight.data_ptr(), layer.scales_and_zeros.data_ptr(), bias_ptr, _PROJ_INT4, 0, layer.group,
                     layer.out_features, layer.in_features)
    if isinstance(layer, Int8Linear) and layer.kernels is not None:
        return _Proj(layer.weight.data_ptr(), layer.scales.data_ptr(), bias_ptr, ops.WEIGHT_CODE[torch.int8],
                     ops.DTYPE_CODE[layer.scales.dtype], 0, layer.out_features, layer.in_features)
    if isinstance(layer, CpuLinear) and layer.kernels is not None and layer.weight.dtype in (torch.bfloat16,
                                                                                               torch.float16):
        return _Proj(layer.weight.data_ptr(), None, bias_ptr, ops.WEIGHT_CODE[layer.weight.dtype], 0, 0,
                     layer.out_features, layer.in_features)
    return None


class NativeDecode:
    """``decode(x, normed, cos, sin, kv, slot, pos)``: the layers over one token in one call (see the module)."""

    def __init__(self, kernels: Kernels, model: Transformer, layers: list[_Layer]) -> None:
        cfg = model.config
        self.kernels, self.layers = kernels, (_Layer * len(layers))(*layers)
        self.dtype = model.compute_dtype
        self.dims = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim)
        self.hidden, self.inter, self.eps = cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps

    @classmethod
    def build(cls, model: Transformer) -> NativeDecode | None:
        dtype = model.compute_dtype
        kernels = cpu_kernels(model.norm.weight)
        if kernels is None or dtype not in ops.DTYPE_CODE:
            return None
        after_mlp = [block.input_layernorm for block in model.layers[1:]] + [model.norm]
        layers = []
        for block, norm_after in zip(model.layers, after_mlp):
            attn, mlp = block.self_attn, block.mlp
            projs = [_proj(p, dtype) for p in (attn.qkv_proj, attn.o_proj, mlp.gate_up_proj, mlp.down_proj)]
            norms = [block.post_attention_layernorm.weight, norm_after.weight]
            if attn.q_norm is not None:
                norms += [attn.q_norm.weight, attn.k_norm.weight]
            if any(p is None for p in projs) or any(w.dtype != dtype or not w.is_contiguous() for w in norms):
                return None
            q_norm, k_norm = (norms[2].data_ptr(), norms[3].data_ptr()) if attn.q_norm is not None else (None, None)
            layers.append(_Layer(*projs, norms[0].data_ptr(), norms[1].data_ptr(), q_norm, k_norm, None))
        return cls(kernels, model, layers)

    def decode(self, x: Tensor, normed: Tensor, cos: Tensor, sin: Tensor, kv: list[Tensor], slot: int,
               pos: int) -> bool:
        """Run the layers over one token: ``x`` [hidden] (the embedding) and ``normed`` (x through the first norm)
        are updated in place to the last layer's output and its final norm; its keys and values are stored at
        ``pos`` of ``slot``. False where a kernel declines the shape (a head size the attention cannot take): the
        caller then runs the token its own way, which stores its keys and values over any written here."""
        heads, kv_heads, d = self.dims
        if not (0 <= slot < kv[0].shape[0] and 0 <= pos < kv[0].shape[2]):  # C writes where it is told
            raise IndexError(f"position {pos} of slot {slot} is outside the cache {tuple(kv[0].shape)}")
        if any(c.dtype != self.dtype or not c.is_contiguous() for c in kv):
            return False
        for layer, cache in zip(self.layers, kv):
            layer.cache = cache.data_ptr()
        code = ops.DTYPE_CODE[self.dtype]
        rc = self.kernels.lib.ponder_decode_token(
            ctypes.addressof(self.layers), len(kv), code, code, x.data_ptr(), normed.data_ptr(), cos.data_ptr(), sin.data_ptr(), slot, pos,
            heads, kv_heads, d, kv[0].shape[2], self.hidden, self.inter, self.eps, d ** -0.5, torch.get_num_threads())
        if rc == 1:
            raise MemoryError("the decode kernel could not allocate its activations")
        return rc == 0
