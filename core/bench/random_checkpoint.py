"""Random-weight checkpoints in the real Hugging Face layout, for benchmarks and tests.

A model's speed depends on its shape, not its weights, so a random checkpoint with a real config
(DeepSeek-R1-Distill-Qwen-1.5B's, say) runs at the real speed without downloading anything. Weights are
drawn with std 1/sqrt(fan_in) so activations and logits have a realistic spread (precision-error
measurements on near-zero logits would say nothing).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from core.model_config import ModelConfig
from core.paths import bench_dir

# The real DeepSeek-R1-Distill tokenizer the benchmark's checkpoint gets (a source checkout's test fixture).
REPO_TOKENIZER = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "deepseek-r1-distill-qwen-tokenizer"

# config.json of deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B, as shipped.
R1_DISTILL_QWEN_1_5B: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 1536, "initializer_range": 0.02,
    "intermediate_size": 8960, "max_position_embeddings": 131072, "max_window_layers": 21, "model_type": "qwen2",
    "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 10000, "sliding_window": 4096, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.44.0", "use_cache": True, "use_mrope": False, "use_sliding_window": False,
    "vocab_size": 151936,
}

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def hf_tensor_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of the HF checkpoint with its shape (unfused q/k/v and gate/up, as HF stores them)."""
    h, i, d = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (cfg.vocab_size, h), "model.norm.weight": (h,)}
    for n in range(cfg.num_hidden_layers):
        p = f"model.layers.{n}."
        shapes |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (cfg.q_size, h), p + "self_attn.k_proj.weight": (cfg.kv_size, h),
            p + "self_attn.v_proj.weight": (cfg.kv_size, h), p + "self_attn.o_proj.weight": (h, cfg.q_size),
            p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h), p + "mlp.down_proj.weight": (h, i),
        }
        if cfg.attention_bias:
            shapes |= {p + "self_attn.q_proj.bias": (cfg.q_size,), p + "self_attn.k_proj.bias": (cfg.kv_size,),
                       p + "self_attn.v_proj.bias": (cfg.kv_size,)}
        if cfg.o_proj_bias:
            shapes[p + "self_attn.o_proj.bias"] = (h,)
        if cfg.mlp_bias:
            shapes |= {p + "mlp.gate_proj.bias": (i,), p + "mlp.up_proj.bias": (i,), p + "mlp.down_proj.bias": (h,)}
        if cfg.qk_norm:
            shapes |= {p + "self_attn.q_norm.weight": (d,), p + "self_attn.k_norm.weight": (d,)}
    if not cfg.tie_word_embeddings:
        shapes["lm_head.weight"] = (cfg.vocab_size, h)
    return shapes


def random_tensor(name: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if name.endswith("norm.weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    if name.endswith(".bias"):
        return 0.1 * torch.randn(shape, generator=gen)
    if name == "model.embed_tokens.weight":
        return torch.randn(shape, generator=gen)
    return torch.randn(shape, generator=gen) / shape[-1] ** 0.5


def write_random_checkpoint(out_dir: str | Path, hf_config: dict[str, Any], seed: int = 0,
                            max_shard_bytes: int | None = None) -> Path:
    """Write config.json + model.safetensors (or shards with an index) with random weights."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = ModelConfig.from_hf(hf_config)
    dtype = _DTYPES[hf_config.get("torch_dtype", "float32")]
    gen = torch.Generator().manual_seed(seed)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, shape in hf_tensor_shapes(cfg).items():
        t = random_tensor(name, shape, gen).to(dtype)
        nbytes = t.numel() * t.element_size()
        if max_shard_bytes and shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], out / "model.safetensors", metadata={"format": "pt"})
    else:
        weight_map = {}
        for k, shard in enumerate(shards, 1):
            fname = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, out / fname, metadata={"format": "pt"})
            weight_map |= {name: fname for name in shard}
        (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (out / "config.json").write_text(json.dumps(hf_config, indent=2))
    return out


def benchmark_checkpoint(tokenizer: Path | None = REPO_TOKENIZER) -> Path:
    """A random-weight checkpoint with DeepSeek-R1-Distill-Qwen-1.5B's exact config (and, from ``tokenizer``, its
    tokenizer), built once in the cache: the default model of ``python -m core.bench`` and the load benchmark."""
    path = bench_dir() / "r1-distill-qwen-1.5b-random"
    if not (path / "model.safetensors").exists():
        print(f"creating a random-weight R1-Distill-Qwen-1.5B checkpoint in {path} (once)", file=sys.stderr)
        write_random_checkpoint(path, R1_DISTILL_QWEN_1_5B)
    if tokenizer is not None and tokenizer.exists() and not (path / "tokenizer.json").exists():
        for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            shutil.copy(tokenizer / name, path / name)
    return path
