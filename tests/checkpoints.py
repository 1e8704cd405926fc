"""Tiny random checkpoints in the real Hugging Face layout, built by the tests themselves.

``hf_checkpoint`` saves through ``transformers``' own ``save_pretrained`` (the reference writer), so the
loader is tested against exactly what HF produces; ``random_checkpoint`` uses the project's writer and
needs no transformers (fast, for engine and server tests).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from core.bench.random_checkpoint import random_tensor, write_random_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
R1_TOKENIZER = FIXTURES / "deepseek-r1-distill-qwen-tokenizer"

_BASE = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6, vocab_size=1000,
             hidden_act="silu", torch_dtype="float32", bos_token_id=1, eos_token_id=2)

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "qwen2": {**_BASE, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "rope_theta": 10000.0,
              "tie_word_embeddings": False, "use_sliding_window": False},
    "llama": {**_BASE, "architectures": ["LlamaForCausalLM"], "model_type": "llama", "rope_theta": 500000.0,
              "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
              "tie_word_embeddings": False},
    "qwen3": {**_BASE, "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "rope_theta": 1000000.0,
              "head_dim": 32, "tie_word_embeddings": True},
}


def tiny_config(arch: str, **overrides: Any) -> dict[str, Any]:
    return {**TINY_CONFIGS[arch], **overrides}


def hf_model(path: Path):
    """The transformers reference model for a checkpoint folder (fp32, eager attention)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").eval()


def hf_checkpoint(path: Path, arch: str, seed: int = 0, tokenizer: Path | None = None, **overrides: Any) -> Path:
    """Build a random model with transformers and save it with ``save_pretrained`` (safetensors)."""
    import transformers

    raw = tiny_config(arch, **overrides)
    config_cls = transformers.AutoConfig.for_model(raw["model_type"]).__class__
    cfg = config_cls(**{k: v for k, v in raw.items() if k not in ("architectures", "model_type")})
    cfg.architectures = raw["architectures"]
    model_cls = getattr(transformers, raw["architectures"][0])
    torch.manual_seed(seed)
    model = model_cls(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(random_tensor(name, tuple(p.shape), gen))
    model.save_pretrained(path)
    if tokenizer is not None:
        copy_tokenizer(tokenizer, path)
    return path


def random_checkpoint(path: Path, arch: str = "qwen2", seed: int = 0, tokenizer: Path | None = None,
                      **overrides: Any) -> Path:
    write_random_checkpoint(path, tiny_config(arch, **overrides), seed=seed)
    if tokenizer is not None:
        copy_tokenizer(tokenizer, path)
    return path


def copy_tokenizer(src: Path, dst: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if (src / name).exists():
            shutil.copy(src / name, dst / name)
