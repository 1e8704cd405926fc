"""The model catalog: curated real reasoning models, and whether each fits this machine, before any download.

``resources/catalog/catalog.json`` lists each model with the config.json fields that size it; ``judge`` runs the
precision planner on that config and the engine's hardware facts and says, per precision, whether it fits and
how much memory it needs, plus one badge for the entry ("fits at bf16", "fits at int4 only", "too large: needs
38.2 GiB, 11.0 free"). The window gets the hardware from the engine's status (``HardwareInfo.from_dict``) or,
before an engine has reported, ``core.hardware.host_hardware_info`` (CPU and RAM only); ``ponder models`` probes.

Pure arithmetic and JSON: no torch, no Qt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.hardware import HardwareInfo
from core.model_config import ModelConfig
from core.paths import catalog_file
from core.precision import (DEFAULT_CONTEXT_CAP, DTYPE_BYTES, PRECISIONS, PlanError, estimate, format_bytes,
                            largest_context, plan, runnable_precisions)

_CHECKPOINT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MIN_USEFUL_CONTEXT = 2048  # below this a document barely fits: not worth suggesting


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    repo_id: str
    name: str
    license: str
    about: str
    config: ModelConfig

    @property
    def parameters(self) -> int:
        return self.config.num_parameters()

    @property
    def download_bytes(self) -> int:
        """The safetensors weights as the repository stores them (the config's torch_dtype)."""
        return self.parameters * _CHECKPOINT_BYTES.get(self.config.torch_dtype, 2)

    @property
    def context_tokens(self) -> int:
        return self.config.max_position_embeddings


@dataclass(frozen=True, slots=True)
class PrecisionFit:
    precision: str
    fits: bool
    needs_bytes: int
    runnable: bool = True  # this hardware runs the precision at all (a GPU without bf16 does not)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the planner says about one model on one machine, for one context length."""

    badge: str
    level: str  # "fits" (full quality), "quantized" (int8), "int4_only", "too_large"
    chosen: str | None  # the planner's automatic choice
    fits: tuple[PrecisionFit, ...]
    context_tokens: int
    free_bytes: int
    reasons: tuple[str, ...] = ()
    hint: str = ""  # when too large: the longest context that would fit

    def fit(self, precision: str) -> PrecisionFit:
        return next(f for f in self.fits if f.precision == precision)


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Every entry of the catalog file; a malformed entry raises ``ValueError`` naming it."""
    path = catalog_file() if path is None else Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = []
    for item in data["models"]:
        try:
            entries.append(entry_from_dict(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: the entry {item.get('repo', '?')!r} is malformed: {exc}") from exc
    return entries


def entry_from_dict(item: dict[str, Any]) -> CatalogEntry:
    repo = str(item["repo"])
    return CatalogEntry(repo, str(item.get("name") or repo), str(item.get("license") or "see the model card"),
                        str(item.get("about") or ""), ModelConfig.from_hf(dict(item["config"]), source=repo))


def judge(config: ModelConfig, hw: HardwareInfo, context_tokens: int | None = None) -> Verdict:
    """Per precision, whether ``config`` fits ``hw`` with ``context_tokens`` (default: what a load would use),
    the planner's automatic choice, and the badge."""
    context = min(config.max_position_embeddings, context_tokens or DEFAULT_CONTEXT_CAP)
    runnable = set(runnable_precisions(hw))
    fits = []
    for p in PRECISIONS:
        needs = estimate(config, p, hw, context).total_bytes
        fits.append(PrecisionFit(p, p in runnable and needs <= hw.free_memory_bytes, needs, p in runnable))
    try:
        chosen_plan = plan(config, hw, context)
    except PlanError as exc:
        smallest = min((f for f in fits if f.runnable), key=lambda f: f.needs_bytes)
        badge = (f"too large: needs {format_bytes(smallest.needs_bytes)}, "
                 f"{hw.free_memory_bytes / 2**30:.1f} free")
        tokens = largest_context(config, smallest.precision, hw)
        hint = (f"{smallest.precision} fits with a context of up to {tokens:,} tokens"
                if tokens >= MIN_USEFUL_CONTEXT else "")
        return Verdict(badge, "too_large", None, tuple(fits), context, hw.free_memory_bytes, (str(exc),), hint)
    chosen = chosen_plan.precision
    if chosen in DTYPE_BYTES:
        level, badge = "fits", f"fits at {chosen}"
    elif chosen == "int8":
        level, badge = "quantized", "fits at int8"
    else:
        level, badge = "int4_only", "fits at int4 only"
    return Verdict(badge, level, chosen, tuple(fits), context, hw.free_memory_bytes, tuple(chosen_plan.reasons))


def fit_text(fit: PrecisionFit, compact: bool = False) -> str:
    """A precision's small badge: "bf16 ✓ 4.1 GiB", "fp32 ✗ 30.5 GiB", "fp16 —" (not runnable here);
    ``compact`` leaves out the unit ("bf16 ✓ 4.1")."""
    if not fit.runnable:
        return f"{fit.precision} —"
    size = f"{fit.needs_bytes / 2**30:.1f}" if compact else format_bytes(fit.needs_bytes)
    return f"{fit.precision} {'✓' if fit.fits else '✗'} {size}"

