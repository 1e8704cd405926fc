"""The hardware probe: which device would hold the weights, how much memory it has free, what it computes fast.

It fills in a ``core.hardware.HardwareInfo``; the planner (``core.precision``) decides. It never raises on a
broken driver: a CUDA failure falls back to the CPU and says why in ``notes``. Engine side: it imports torch.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import psutil
import torch

from core.engine.cpu_speed import CpuSpeed, cpu_speed, kept_speed
from core.hardware import HardwareInfo, cpu_has_native_bf16, cpu_name_and_flags

logger = logging.getLogger(__name__)


def probe(device: str = "auto", *, measure_bf16: bool = True, cache_path: Path | None = None) -> HardwareInfo:
    """Describe the device that would run the model. ``device``: "auto" | "cuda" | "mps" | "cpu".

    Never raises for driver trouble: anything that goes wrong with CUDA or MPS falls back to the CPU,
    logs the reason and records it in ``notes``. On CPU, ``cpu_bf16_faster`` comes from a short matmul
    measurement kept per machine (``core.engine.cpu_speed``).
    """
    if device not in ("auto", "cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cuda', 'mps' or 'cpu'")
    notes: list[str] = []
    base = _host_info()
    if device in ("auto", "cuda"):
        info = _probe_cuda(base, notes, required=device == "cuda")
        if info is not None:
            return info
    if device in ("auto", "mps"):
        info = _probe_mps(base, notes, required=device == "mps")
        if info is not None:
            return info
    speed = CpuSpeed(None, note="not measured")
    if measure_bf16:
        try:
            speed = cpu_speed(cache_path)
        except Exception as exc:  # noqa: BLE001 - a failed measurement must not stop the engine
            logger.warning("could not measure CPU bf16 speed: %s", exc)
            notes.append(f"bf16 speed not measured: {exc}")
            speed = CpuSpeed(None, note=f"not measured: {exc}")
    flags = base.cpu_flags
    return replace(base, device="cpu", device_name=base.cpu_name,
                   total_memory_bytes=base.ram_total_bytes, free_memory_bytes=base.ram_available_bytes,
                   supports_bf16=cpu_has_native_bf16(flags), supports_fp16=True,
                   cpu_bf16_faster=speed.bf16_faster, cpu_bf16_speedup=speed.speedup,
                   cpu_speed_measured_at=speed.measured_at, cpu_speed_note=speed.note,
                   cpu_quant_seconds=speed.paths, notes=tuple(notes))


def _host_info() -> HardwareInfo:
    """CPU and RAM facts, shared by every device kind; the device fields are filled in later."""
    mem = psutil.virtual_memory()
    cpu_name, flags = cpu_name_and_flags()
    return HardwareInfo(
        device="cpu", device_name=cpu_name, total_memory_bytes=mem.total, free_memory_bytes=mem.available,
        cpu_name=cpu_name, cpu_flags=flags,
        physical_cores=psutil.cpu_count(logical=False), logical_cores=psutil.cpu_count(logical=True),
        ram_total_bytes=mem.total, ram_available_bytes=mem.available,
        torch_version=str(torch.__version__), num_threads=torch.get_num_threads(),
    )


def _fallback(reason: str, notes: list[str]) -> None:
    message = f"{reason}; using the CPU"
    logger.warning("%s", message)
    notes.append(message)


def _probe_cuda(base: HardwareInfo, notes: list[str], required: bool) -> HardwareInfo | None:
    try:
        if not torch.cuda.is_available():
            if required:
                _fallback("CUDA was requested but no CUDA device is available", notes)
            return None
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        return replace(base, device="cuda", device_name=str(props.name),
                       total_memory_bytes=int(total), free_memory_bytes=int(free),
                       compute_capability=(int(props.major), int(props.minor)),
                       supports_bf16=bool(torch.cuda.is_bf16_supported(including_emulation=False)),
                       supports_fp16=True, notes=tuple(notes))
    except Exception as exc:  # noqa: BLE001 - a broken driver raises all sorts of things
        _fallback(f"CUDA is installed but not usable ({type(exc).__name__}: {exc})", notes)
        return None


def _probe_mps(base: HardwareInfo, notes: list[str], required: bool) -> HardwareInfo | None:
    try:
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            if required:
                _fallback("MPS was requested but is not available", notes)
            return None
        # Unified memory: Metal's recommended working set bounds what the GPU may use.
        limit = int(torch.mps.recommended_max_memory())
        free = max(0, min(limit - int(torch.mps.driver_allocated_memory()), base.ram_available_bytes))
        try:
            torch.ones(1, dtype=torch.bfloat16, device="mps")
            bf16 = True
        except Exception:  # noqa: BLE001 - bf16 on MPS needs macOS 14
            bf16 = False
        return replace(base, device="mps", device_name=f"Apple GPU ({base.cpu_name})",
                       total_memory_bytes=limit, free_memory_bytes=free,
                       supports_bf16=bf16, supports_fp16=True, notes=tuple(notes))
    except Exception as exc:  # noqa: BLE001
        _fallback(f"MPS is present but not usable ({type(exc).__name__}: {exc})", notes)
        return None


def with_kept_cpu_speed(hw: HardwareInfo, cache_path: Path | None = None) -> HardwareInfo:
    """``hw`` with the bf16/fp32 measurement kept for this machine now (one measured again since ``hw`` was
    probed), without measuring; a GPU's ``hw`` as it is."""
    if hw.device != "cpu":
        return hw
    kept = kept_speed(cache_path)
    return hw if kept is None else replace(hw, cpu_bf16_faster=kept.bf16_faster, cpu_bf16_speedup=kept.speedup,
                                            cpu_speed_measured_at=kept.measured_at, cpu_speed_note=kept.note,
                                            cpu_quant_seconds=kept.paths)
