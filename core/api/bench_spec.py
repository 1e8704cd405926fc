"""What a benchmark run measures: ``SuiteConfig`` (quick or full), and ``Spread`` (median, min-max of n runs).

Light on purpose (no torch): the server validates requests with it, and the GUI and the CLI format
results with ``core.api.bench_report``, which reads these shapes.

Quick mode is sized to finish within two minutes for the bundled model on a laptop-class CPU (about 5 s of
measuring per precision plus a process start each): two shallow depths, each timing repeated until its runs
agree within ``target_spread`` or ``repeat_cap_s`` is spent, a short next-token error text, retention in a
1,024-token document and 8 held-out questions. Full mode measures the depths of the issue (512, 2k, 8k
tokens, capped by the model's context), with more repeats, text and questions. ``describe()`` says it in words.
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
    repeats: int = 2  # each timed figure is the median of at least this many runs ...
    max_repeats: int = 5  # ... and at most this many: more while the runs disagree by over target_spread ...
    target_spread: float = 0.05  # ... (max - min) / median ...
    repeat_cap_s: float = 2.0  # ... and while one figure's runs have taken less than this
    decode_tokens: int = 8  # tokens generated per decode measurement
    batch_sizes: tuple[int, ...] = (1, 4)
    error_tokens: int = 256  # positions of the text (the model's held-out documents, if it ships them) vs fp32
    retention_positions: tuple[float, ...] = (0.1, 0.5, 0.9)  # where the known fact sits (fraction of the doc)
    retention_tokens: int = 1024  # document length, capped by the model
    retention_max_tokens: int = 192  # generated tokens in which the fact must be answered
    task_examples: int = 8  # held-out questions, for a model that ships them (core.bench.heldout; 0 = skip)
    task_max_tokens: int = 384
    bandwidth_bytes: int = 256 * 2**20  # buffer of the peak-bandwidth (copy) measurement
    hf_reference: bool = False  # also time HF transformers at fp32/bf16/fp16, paired with each run (dev install)
    seed: int = 0
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            raise ValueError(f"unknown precision(s) {', '.join(unknown)}; choose from {', '.join(PRECISIONS)}")
        if self.repeats < 1 or self.max_repeats < self.repeats or self.decode_tokens < 2 or self.error_tokens < 2:
            raise ValueError("repeats must be >= 1 and <= max_repeats, decode_tokens and error_tokens >= 2")
        if not self.depths or min(self.depths) < 8 or not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("depths must be >= 8 tokens and batch sizes >= 1")

    @classmethod
    def make(cls, model_dir: str | Path, quick: bool = True, **overrides: Any) -> SuiteConfig:
        """The quick or full preset for ``model_dir``; ``overrides`` (None values ignored) replace fields."""
        preset = cls(Path(model_dir)) if quick else cls(
            Path(model_dir), quick=False, depths=(512, 2048, 8192), repeats=3, max_repeats=10, repeat_cap_s=20.0,
            decode_tokens=32, error_tokens=1024, retention_positions=(0.1, 0.3, 0.5, 0.7, 0.9),
            retention_tokens=2048, retention_max_tokens=256, task_examples=64, task_max_tokens=1024,
            bandwidth_bytes=1 << 30)
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None}
        return replace(preset, **given)

    def describe(self) -> str:
        """What a run of this config measures, in one paragraph (the CLI's header, the panel's tooltip)."""
        which = ", ".join(self.precisions) if self.precisions else "every precision this machine runs"
        depths = " and ".join(f"{d:,}" for d in self.depths)
        batches = ", ".join(str(b) for b in self.batch_sizes)
        tasks = (f"; accuracy on up to {self.task_examples} held-out questions, for a model that ships them"
                 if self.task_examples else "")
        return (f"{'Quick' if self.quick else 'Full'} run of {which}, fp32 first as the reference: load time and "
                f"memory; time to first token and prefill speed for prompts of {depths} tokens, decode speed at "
                f"batch {batches}, each the median of {self.repeats} to {self.max_repeats} runs (more while they "
                f"differ by over {self.target_spread:.0%}, at most {self.repeat_cap_s:g} s each); next-token error "
                f"against fp32 and perplexity on {self.error_tokens:,} tokens of the model's own held-out documents "
                f"(a fixed English text for other models); retention of a known fact at "
                f"{len(self.retention_positions)} depths of a {self.retention_tokens:,}-token document{tasks}.")

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

    @property
    def relative(self) -> float:
        """(max - min) / median: how much the runs disagree (0 for one run)."""
        return (self.max - self.min) / abs(self.median) if self.median else float("inf")

    def overlaps(self, other: Spread) -> bool:
        """The two ranges share a value: a difference between the medians is within the runs' noise."""
        return self.min <= other.max and other.min <= self.max

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
