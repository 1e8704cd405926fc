"""ModelConfig: the decoder's shape, parsed from a Hugging Face ``config.json``.

One config describes every architecture we run (Qwen2, Llama, Qwen3). Parsing validates the numbers
before anything is allocated, so a corrupt or hostile config fails here with a clear message instead of
as an out-of-memory later. Remote code (``auto_map``) is never honoured.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ModelConfigError(ValueError):
    """The model folder's config.json cannot be used; the message says why and what to do."""


# HF architecture name -> our family name. Each family differs only in flags below.
SUPPORTED_ARCHITECTURES: dict[str, str] = {
    "Qwen2ForCausalLM": "qwen2",
    "LlamaForCausalLM": "llama",
    "Qwen3ForCausalLM": "qwen3",
}
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3")

# Sanity bounds: far above any real model, far below what would exhaust memory while building one.
_LIMITS = {
    "vocab_size": 4_194_304,
    "hidden_size": 65_536,
    "intermediate_size": 524_288,
    "num_hidden_layers": 1_024,
    "num_attention_heads": 1_024,
    "num_key_value_heads": 1_024,
    "head_dim": 1_024,
    "max_position_embeddings": 16_777_216,
}
_MAX_PARAMS = 2_000_000_000_000  # 2T parameters


@dataclass(frozen=True, slots=True)
class RopeConfig:
    """Rotary position embedding parameters (HF ``rope_scaling`` / ``rope_parameters``)."""

    theta: float = 10_000.0
    type: str = "default"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclass(frozen=True, slots=True)
class ModelConfig:
    architecture: str  # "qwen2" | "llama" | "qwen3"
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int
    rms_norm_eps: float = 1e-6
    rope: RopeConfig = field(default_factory=RopeConfig)
    tie_word_embeddings: bool = False
    attention_bias: bool = False  # bias on q/k/v projections (Qwen2: always)
    o_proj_bias: bool = False  # bias on the attention output (Llama/Qwen3 with attention_bias; never Qwen2)
    mlp_bias: bool = False
    qk_norm: bool = False  # per-head RMSNorm on q and k before rope (Qwen3)
    torch_dtype: str = "float32"  # dtype the checkpoint was saved in
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    hf_architecture: str = ""

    def __post_init__(self) -> None:
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelConfigError(f"config.json: {name} must be a positive integer, got {value!r}")
            if value > limit:
                raise ModelConfigError(
                    f"config.json: {name}={value} is beyond any supported model (limit {limit}); "
                    "the file is corrupt or not a model config")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ModelConfigError(
                f"config.json: num_attention_heads={self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}")
        if self.head_dim % 2:
            raise ModelConfigError(f"config.json: head_dim={self.head_dim} must be even for rotary embeddings")
        if not (0 < self.rms_norm_eps < 1):
            raise ModelConfigError(f"config.json: rms_norm_eps={self.rms_norm_eps} is out of range")
        if self.num_parameters() > _MAX_PARAMS:
            raise ModelConfigError(
                f"config.json describes {self.num_parameters() / 1e12:.1f}T parameters; refusing to build it")

    # --- sizes (used by the precision planner and the benchmark) ---------------------------------
    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_dim

    def layer_linear_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each weight matrix in one decoder layer, in the fused layout we run."""
        h, i = self.hidden_size, self.intermediate_size
        return [(self.q_size + 2 * self.kv_size, h), (h, self.q_size), (2 * i, h), (h, i)]

    def num_linear_parameters(self) -> int:
        """Parameters in matmul weights: all layers plus the LM head (what decode reads per token)."""
        per_layer = sum(o * i for o, i in self.layer_linear_shapes())
        return per_layer * self.num_hidden_layers + self.vocab_size * self.hidden_size

    def num_parameters(self) -> int:
        h = self.hidden_size
        per_layer = sum(o * i for o, i in self.layer_linear_shapes()) + 2 * h
        if self.attention_bias:
            per_layer += self.q_size + 2 * self.kv_size
        if self.o_proj_bias:
            per_layer += h
        if self.mlp_bias:
            per_layer += 2 * self.intermediate_size + h
        if self.qk_norm:
            per_layer += 2 * self.head_dim
        embed = self.vocab_size * h
        head = 0 if self.tie_word_embeddings else self.vocab_size * h
        return per_layer * self.num_hidden_layers + embed + head + h

    def kv_bytes_per_token(self, bytes_per_element: float) -> float:
        return 2 * self.num_hidden_layers * self.kv_size * bytes_per_element

    # --- parsing ---------------------------------------------------------------------------------
    @classmethod
    def from_dir(cls, model_dir: str | Path) -> "ModelConfig":
        path = Path(model_dir) / "config.json"
        if not path.is_file():
            raise ModelConfigError(f"{path} not found: a model folder needs config.json (Hugging Face layout)")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelConfigError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ModelConfigError(f"{path} must hold a JSON object")
        return cls.from_hf(raw, source=str(path))

    @classmethod
    def from_hf(cls, raw: dict[str, Any], source: str = "config.json") -> "ModelConfig":
        archs = raw.get("architectures")
        hf_arch = archs[0] if isinstance(archs, (list, tuple)) and archs else ""
        family = SUPPORTED_ARCHITECTURES.get(hf_arch) if isinstance(hf_arch, str) else None
        if family is None:
            raise ModelConfigError(
                f"{source}: architecture {hf_arch or '(none given)'!r} is not supported; "
                f"supported: {', '.join(SUPPORTED_ARCHITECTURES)}")
        act = raw.get("hidden_act", "silu")
        if act != "silu":
            raise ModelConfigError(f"{source}: hidden_act {act!r} is not supported (only 'silu')")
        if family == "qwen2" and raw.get("use_sliding_window"):
            raise ModelConfigError(f"{source}: sliding-window attention (use_sliding_window=true) is not supported")

        def get_int(key: str, default: Any = None) -> Any:
            value = raw.get(key, default)
            if value is None:
                raise ModelConfigError(f"{source}: missing required field {key!r}")
            return value

        hidden = get_int("hidden_size")
        heads = get_int("num_attention_heads")
        head_dim = raw.get("head_dim") or (hidden // heads if isinstance(hidden, int) and isinstance(heads, int)
                                           and heads > 0 else 0)
        eos = raw.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list) else ((eos,) if isinstance(eos, int) else ())
        try:
            return cls(
                architecture=family,
                vocab_size=get_int("vocab_size"),
                hidden_size=hidden,
                intermediate_size=get_int("intermediate_size"),
                num_hidden_layers=get_int("num_hidden_layers"),
                num_attention_heads=heads,
                num_key_value_heads=raw.get("num_key_value_heads") or heads,
                head_dim=head_dim,
                max_position_embeddings=get_int("max_position_embeddings", 32768),
                rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
                rope=_parse_rope(raw, source),
                tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
                attention_bias=True if family == "qwen2" else bool(raw.get("attention_bias", False)),
                o_proj_bias=family != "qwen2" and bool(raw.get("attention_bias", False)),
                mlp_bias=bool(raw.get("mlp_bias", False)),
                qk_norm=family == "qwen3",
                torch_dtype=str(raw.get("torch_dtype") or raw.get("dtype") or "float32"),
                bos_token_id=raw.get("bos_token_id"),
                eos_token_ids=eos_ids,
                hf_architecture=hf_arch,
            )
        except ModelConfigError:
            raise
        except (TypeError, ValueError) as exc:  # a field of the wrong JSON type ("1e-6" as text, a list ...)
            raise ModelConfigError(f"{source}: a field has the wrong type ({exc})") from exc

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["rope"] = {f.name: getattr(self.rope, f.name) for f in fields(self.rope)}
        return out


def _parse_rope(raw: dict[str, Any], source: str) -> RopeConfig:
    """Accept both the classic (``rope_theta`` + ``rope_scaling``) and the v5 (``rope_parameters``) forms."""
    params = dict(raw.get("rope_scaling") or {})
    params.update(raw.get("rope_parameters") or {})
    theta = float(params.get("rope_theta", raw.get("rope_theta", 10_000.0)))
    rope_type = params.get("rope_type") or params.get("type") or "default"
    if rope_type not in SUPPORTED_ROPE_TYPES:
        raise ModelConfigError(
            f"{source}: rope scaling type {rope_type!r} is not supported; supported: {', '.join(SUPPORTED_ROPE_TYPES)}")
    if not (math.isfinite(theta) and theta > 0):
        raise ModelConfigError(f"{source}: rope_theta={theta} is out of range")
    factor = float(params.get("factor", 1.0))
    if rope_type != "default" and not (math.isfinite(factor) and factor > 0):
        raise ModelConfigError(f"{source}: rope scaling factor={factor} is out of range")
    return RopeConfig(
        theta=theta,
        type=rope_type,
        factor=factor,
        low_freq_factor=float(params.get("low_freq_factor", 1.0)),
        high_freq_factor=float(params.get("high_freq_factor", 4.0)),
        original_max_position_embeddings=int(params.get("original_max_position_embeddings", 8192)),
    )
