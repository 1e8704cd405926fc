"""What a benchmark run measures: ``SuiteConfig`` (quick or full), and ``Spread`` (median, min-max of n runs).

Light on purpose (no torch): the server validates requests with it, and the GUI and the CLI format
results with ``core.api.bench_report``, which reads these shapes.

Quick mode is sized for about a minute on a tiny model: two shallow depths, two repeats, few tokens.
Full mode measures the depths of the issue (512, 2k, 8k tokens), capped by the model's context.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.precision import PRECISIONS

BASELINE = "fp32"


@dataclass(frozen=True, slots=True)
class SuiteConfig:
    model_dir: Path
    quick: bool = True
    precisions: tuple[str, ...] = ()  # empty: every precision this hardware runs, fp32 first
    depths: tuple[int, ...] = (128, 512)  # context depths for prefill / decode, capped by the model
    repeats: int = 2  # each timed figure is the median of this many runs
    decode_tokens: int = 8  # tokens generated per decode measurement
    batch_sizes: tuple[int, ...] = (1, 4)
    error_tokens: int = 128  # positions of the fixed text compared against fp32
    retention_positions: tuple[float, ...] = (0.1, 0.5, 0.9)  # where the fact is planted (fraction of the doc)
    retention_tokens: int = 512  # document length, capped by the model
    retention_max_tokens: int = 48  # generated tokens in which the fact must appear
    task_examples: int = 4  # held-out questions, for a model that ships them (core.bench.heldout; 0 = skip)
    task_max_tokens: int = 256
    bandwidth_bytes: int = 256 * 2**20  # buffer of the peak-bandwidth (copy) measurement
    hf_reference: bool = False  # also time HF transformers at fp32/bf16/fp16, paired with each run (dev install)
    seed: int = 0
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            raise ValueError(f"unknown precision(s) {', '.join(unknown)}; choose from {', '.join(PRECISIONS)}")
        if self.repeats < 1 or self.decode_tokens < 2 or self.error_tokens < 2:
            raise ValueError("repeats must be >= 1, decode_tokens and error_tokens >= 2")
        if not self.depths or min(self.depths) < 8 or not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("depths must be >= 8 tokens and batch sizes >= 1")

    @classmethod
    def make(cls, model_dir: str | Path, quick: bool = True, **overrides: Any) -> SuiteConfig:
        """The quick or full preset for ``model_dir``; ``overrides`` (None values ignored) replace fields."""
        preset = cls(Path(model_dir)) if quick else cls(
            Path(model_dir), quick=False, depths=(512, 2048, 8192), repeats=3, decode_tokens=32, error_tokens=256,
            retention_positions=(0.1, 0.3, 0.5, 0.7, 0.9), retention_tokens=2048, retention_max_tokens=160,
            task_examples=12, task_max_tokens=1024, bandwidth_bytes=1 << 30)
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None}
        return replace(preset, **given)

    def ordered_precisions(self, runnable: list[str]) -> list[str]:
        """The precisions to run here: asked-for (or all runnable) ones, the fp32 baseline first."""
        wanted = [p for p in (self.precisions or PRECISIONS) if p in runnable]
        return sorted(wanted, key=lambda p: (p != BASELINE, PRECISIONS.index(p)))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_dir"] = str(self.model_dir)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteConfig:
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in cls.__dataclass_fields__}
        known["model_dir"] = Path(known["model_dir"])
        return cls(**known)


def capped_depths(depths: tuple[int, ...], max_context: int, reserve: int) -> list[int]:
    """``depths`` that fit ``max_context`` with ``reserve`` tokens left to generate; deeper ones capped, deduplicated."""
    limit = max_context - reserve - 1
    out: list[int] = []
    for d in depths:
        d = min(d, limit)
        if d >= 8 and d not in out:
            out.append(d)
    return out


@dataclass(frozen=True, slots=True)
class Spread:
    """A figure as median of n runs with its min-max, so every number shows how much it moved."""

    median: float
    min: float
    max: float
    n: int
    runs: tuple[float, ...] = field(default=())

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(statistics.median(values), min(values), max(values), len(values), tuple(values))

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.min, "max": self.max, "n": self.n, "runs": list(self.runs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spread:
        median = float(data["median"])
        low, high = data.get("min"), data.get("max")
        return cls(median, median if low is None else float(low), median if high is None else float(high),
                   int(data.get("n") or 1), tuple(v for v in data.get("runs") or () if v is not None))


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (strict JSON: the store and the API refuse NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
