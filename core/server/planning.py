"""``POST /v1/engine/plan``: the precision plan a load would get, computed here, without loading anything.

The engine process is the one that knows the hardware (the GUI never imports torch), so the model panel
asks it: "if I loaded this folder at this precision and context, would it fit, and why?". The options are
built exactly as a load builds them (``load_options``), and the hardware is the one probed for the
current model (its free memory was measured before that model was loaded, which is what a reload that
replaces it would have); with no model loaded, the hardware is probed now.
"""

from __future__ import annotations

from core.engine.launch import LaunchOptions, make_plan
from core.engine.hardware_probe import probe, with_kept_cpu_speed
from core.hardware import HardwareInfo
from core.model_config import ModelConfig, ModelConfigError
from core.models.checkpoint import CheckpointError
from core.precision import DEFAULT_CONTEXT_CAP, PlanError, estimate, preference_order
from core.server.errors import BadRequestError
from core.api.protocol import PlanResult
from core.server.serving import EngineService, load_options


def hardware_of(service: EngineService) -> HardwareInfo:
    """The current model's probed hardware (with the CPU speed kept now: it may have been measured again since),
    else a fresh probe (may take a second: run it off the loop)."""
    model = service.model
    return with_kept_cpu_speed(model.launched.hardware) if model is not None else probe(service.options.device)


def plan_load(service: EngineService, model: str | None, precision: str | None, context: int | None,
              hw: HardwareInfo | None = None) -> PlanResult:
    options = load_options(service.options, model, precision, context)
    hw = hw or hardware_of(service)
    folder = str(options.model_dir)
    try:
        the_plan, _ = make_plan(options, hw)
    except (ModelConfigError, CheckpointError) as exc:
        raise BadRequestError(str(exc), param="model") from exc
    except PlanError as exc:
        return PlanResult(model=folder, fits=False, needs_bytes=_needed_bytes(options, hw),
                          budget_bytes=hw.free_memory_bytes, message=str(exc))
    return PlanResult(model=folder, fits=True, precision=the_plan.precision, plan=the_plan.to_dict(),
                      needs_bytes=the_plan.estimate.total_bytes, budget_bytes=the_plan.budget_bytes)


def _needed_bytes(options: LaunchOptions, hw: HardwareInfo) -> int:
    """The estimate of the precision asked for (the smallest candidate for "auto"); 0 if none can be made."""
    try:
        config = ModelConfig.from_dir(options.model_dir)
        precision = options.precision if options.precision != "auto" else preference_order(hw)[-1]
        context = options.context_tokens or min(config.max_position_embeddings, DEFAULT_CONTEXT_CAP)
        context = min(context, config.max_position_embeddings)
        return estimate(config, precision, hw, context, options.max_sequences).total_bytes
    except (ModelConfigError, ValueError, KeyError):
        return 0
