"""Write a (float) Transformer back out as a Hugging Face checkpoint: config.json + model.safetensors.

The inverse of the loader's fusing: qkv -> q/k/v, gate_up -> gate/up, HF tensor names, so what training
produces loads in Ponder's engine and in any HF-compatible tool alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from core.models.transformer import Transformer

_DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def hf_state_dict(model: Transformer, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    cfg = model.config
    out: dict[str, torch.Tensor] = {"model.embed_tokens.weight": model.embed_tokens.weight,
                                    "model.norm.weight": model.norm.weight}
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = model.lm_head.weight
    splits = (cfg.q_size, cfg.kv_size, cfg.kv_size)
    for n, layer in enumerate(model.layers):
        p, attn, mlp = f"model.layers.{n}.", layer.self_attn, layer.mlp
        out[p + "input_layernorm.weight"] = layer.input_layernorm.weight
        out[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
        for name, part in zip("qkv", attn.qkv_proj.weight.split(splits)):
            out[p + f"self_attn.{name}_proj.weight"] = part
        if attn.qkv_proj.bias is not None:
            for name, part in zip("qkv", attn.qkv_proj.bias.split(splits)):
                out[p + f"self_attn.{name}_proj.bias"] = part
        out[p + "self_attn.o_proj.weight"] = attn.o_proj.weight
        if attn.o_proj.bias is not None:
            out[p + "self_attn.o_proj.bias"] = attn.o_proj.bias
        if attn.q_norm is not None:
            out[p + "self_attn.q_norm.weight"] = attn.q_norm.weight
            out[p + "self_attn.k_norm.weight"] = attn.k_norm.weight
        gate, up = mlp.gate_up_proj.weight.split(cfg.intermediate_size)
        out[p + "mlp.gate_proj.weight"], out[p + "mlp.up_proj.weight"] = gate, up
        out[p + "mlp.down_proj.weight"] = mlp.down_proj.weight
        if mlp.gate_up_proj.bias is not None:
            gate_b, up_b = mlp.gate_up_proj.bias.split(cfg.intermediate_size)
            out[p + "mlp.gate_proj.bias"], out[p + "mlp.up_proj.bias"] = gate_b, up_b
            out[p + "mlp.down_proj.bias"] = mlp.down_proj.bias
    return {k: v.detach().to(dtype, copy=True).contiguous() for k, v in out.items()}  # no shared storage


def save_hf_checkpoint(model: Transformer, hf_config: dict[str, Any], out_dir: str | Path,
                       dtype: torch.dtype = torch.float32) -> Path:
    """Write model.safetensors and config.json (``hf_config`` with torch_dtype set) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(hf_state_dict(model, dtype), out / "model.safetensors", metadata={"format": "pt"})
    config = {**hf_config, "torch_dtype": _DTYPE_NAMES[dtype]}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out
