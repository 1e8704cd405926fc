"""From a model folder to a running engine: probe, plan, load (stepping down once on OOM), build.

The CLI, the server and the benchmark all start an engine this way, so the precision shown to the user
is always the one the planner chose and the loader actually used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from core.engine.engine import DEFAULT_STEP_TOKENS, Engine, EngineConfig
from core.tokenizer import Tokenizer
from core.engine.disk_cache import DiskCacheConfig, model_key
from core.engine.hardware_probe import probe
from core.engine.speculative import SpeculationConfig
from core.hardware import HardwareInfo
from core.kernels.build import kernel_status
from core.model_config import ModelConfig
from core.models.checkpoint import find_tensors
from core.models.loader import FLOAT_PRECISION_DTYPES, LoadedModel, load_model
from core.paths import kv_cache_dir
from core.precision import PrecisionPlan, plan, step_down

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    model_dir: Path
    precision: str = "auto"
    context_tokens: int | None = None
    device: str = "auto"
    threads: int | None = None
    max_sequences: int = 1
    max_waiting: int = 64  # queued requests beyond the running ones; more are refused (QueueFullError)
    compile: bool = False
    step_tokens: int = DEFAULT_STEP_TOKENS  # tokens per forward pass at most (the prefill chunk)
    speculation: bool = True  # prompt-lookup drafts where they measure faster (``core.engine.speculative``)
    kv_disk_mib: int = 0  # long prompts' keys and values kept on disk, at most this much (the server: 4096)


@dataclass(slots=True)
class Launched:
    engine: Engine
    plan: PrecisionPlan
    hardware: HardwareInfo
    loaded: LoadedModel
    notes: list[str] = field(default_factory=list)  # e.g. "stepped down to int8 after running out of memory"


def make_plan(options: LaunchOptions, hw: HardwareInfo | None = None) -> tuple[PrecisionPlan, HardwareInfo]:
    """The plan a load would get; a folder the loader would refuse (no safetensors: pickles only, none at all)
    raises its ``CheckpointError`` here too, so a plan never says "fits" where a load fails."""
    config = ModelConfig.from_dir(options.model_dir)
    find_tensors(options.model_dir)  # headers only: cheap
    hw = hw or probe(options.device)
    return plan(config, hw, options.context_tokens, options.precision, options.max_sequences), hw


def launch(options: LaunchOptions, on_progress: Callable[[str, float], None] | None = None) -> Launched:
    """Plan, load and build. ``on_progress(stage, fraction)`` reports "planning", "loading", "ready"."""
    if options.threads:
        torch.set_num_threads(options.threads)
    report = on_progress or (lambda stage, fraction: None)
    report("planning", 0.0)
    the_plan, hw = make_plan(options)
    tokenizer = Tokenizer.from_dir(options.model_dir)  # fail on a bad tokenizer before loading weights
    notes: list[str] = []
    tensors = lambda done, total: report("loading", done / total)  # noqa: E731
    try:
        loaded = _load(options.model_dir, the_plan, hw, tensors)
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        lower = step_down(the_plan.precision, hw)
        if not is_out_of_memory(exc) or lower is None:
            raise
        note = f"ran out of memory loading at {the_plan.precision} ({exc.__class__.__name__}); retried at {lower}"
        log.warning(note)
        notes.append(note)
        the_plan = plan(ModelConfig.from_dir(options.model_dir), hw, the_plan.context_tokens, lower,
                        options.max_sequences)
        loaded = _load(options.model_dir, the_plan, hw, tensors)
    the_plan = replace(the_plan, reasons=[*the_plan.reasons, *notes, *loaded.notes])
    engine = Engine(loaded, tokenizer, EngineConfig(max_sequences=options.max_sequences,
                                                    context_tokens=the_plan.context_tokens,
                                                    max_waiting=options.max_waiting, compile=options.compile,
                                                    step_token_budget=options.step_tokens,
                                                    speculation=SpeculationConfig(enabled=options.speculation),
                                                    disk_cache=_disk_cache(options, the_plan)))
    report("ready", 1.0)
    return Launched(engine, the_plan, hw, loaded, notes)


def _disk_cache(options: LaunchOptions, the_plan: PrecisionPlan) -> DiskCacheConfig | None:
    if options.kv_disk_mib <= 0:
        return None
    # the kernels that computed the keys and values are part of what they are (int4 prefill differs)
    kernels = kernel_status().kernels if the_plan.device == "cpu" and the_plan.precision != "fp32" else None
    computed_by = f"{the_plan.precision}/{kernels.isa if kernels else 'torch'}"
    return DiskCacheConfig(kv_cache_dir(), model_key(options.model_dir, computed_by),
                           max_bytes=options.kv_disk_mib * 2**20)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's "can't allocate memory" RuntimeError."""
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def _load(model_dir: Path, the_plan: PrecisionPlan, hw: HardwareInfo,
          on_progress: Callable[[int, int], None]) -> LoadedModel:
    compute_dtype = FLOAT_PRECISION_DTYPES[the_plan.compute_dtype]
    return load_model(model_dir, the_plan.precision, hw.device, compute_dtype, on_progress)
