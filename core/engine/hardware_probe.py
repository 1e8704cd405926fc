"""The hardware probe: which device would hold the weights, how much memory it has free, what it computes fast.

It fills in a ``core.hardware.HardwareInfo``; the planner (``core.precision``) decides. It never raises on a
broken driver: a CUDA failure falls back to the CPU and says why in ``notes``. Engine side: it imports torch.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import torch

from core.hardware import HardwareInfo, cpu_has_native_bf16, cpu_name_and_flags
from core.paths import cpu_speed_cache_file

logger = logging.getLogger(__name__)

# bf16 counts as faster only above this fp32/bf16 time ratio, so timing noise cannot flip the choice.
BF16_FASTER_THRESHOLD = 1.05
# The probe: one decode-step linear of a small LLM, x [1, K] @ W.T with W [N, K] (nn.Linear layout).
_PROBE_IN_FEATURES = 2048
_PROBE_OUT_FEATURES = 8192
_PROBE_WARMUP = 3
_PROBE_REPS = 10
# Above this share of the cores busy with other processes, a bf16 measurement is not cached.
MAX_OTHER_LOAD = 0.25


def probe(device: str = "auto", *, measure_bf16: bool = True, cache_path: Path | None = None) -> HardwareInfo:
    """Describe the device that would run the model. ``device``: "auto" | "cuda" | "mps" | "cpu".

    Never raises for driver trouble: anything that goes wrong with CUDA or MPS falls back to the CPU,
    logs the reason and records it in ``notes``. On CPU, ``cpu_bf16_faster`` comes from a short matmul
    measurement, done once per CPU, torch version and thread count and cached on disk.
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
    bf16_faster: bool | None = None
    if measure_bf16:
        try:
            bf16_faster = measure_cpu_bf16_speedup(cache_path) > BF16_FASTER_THRESHOLD
        except Exception as exc:  # noqa: BLE001 - a failed measurement must not stop the engine
            logger.warning("could not measure CPU bf16 speed: %s", exc)
            notes.append(f"bf16 speed not measured: {exc}")
    flags = base.cpu_flags
    return replace(base, device="cpu", device_name=base.cpu_name,
                   total_memory_bytes=base.ram_total_bytes, free_memory_bytes=base.ram_available_bytes,
                   supports_bf16=cpu_has_native_bf16(flags), supports_fp16=True,
                   cpu_bf16_faster=bf16_faster, notes=tuple(notes))


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


# --- CPU bf16 vs fp32 ---------------------------------------------------------------------------
def measure_cpu_bf16_speedup(cache_path: Path | None = None) -> float:
    """fp32 time / bf16 time of a decode-sized matmul on this CPU (> 1: bf16 is faster).

    Measured once per (CPU, torch version, thread count) and cached as JSON, because the answer only
    changes with those and the measurement costs a few hundred milliseconds at start-up. A measurement
    taken while other processes keep the CPU busy is used but not cached: a multi-threaded bf16 kernel
    waiting on a stolen core can look several times slower than it is, and that must not stick.
    """
    path = cache_path or cpu_speed_cache_file()
    cpu_name, _ = cpu_name_and_flags()
    key = f"{cpu_name} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    cache = _read_cache(path)
    entry = cache.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("speedup"), (int, float)) and entry["speedup"] > 0:
        return float(entry["speedup"])
    before = _cpu_clock()
    fp32_s, bf16_s = _time_matmuls()
    other_load = _other_load(before)
    speedup = fp32_s / bf16_s
    logger.info("CPU matmul probe: fp32 %.2f ms, bf16 %.2f ms (bf16 speedup %.2fx), other load %.0f%%",
                fp32_s * 1e3, bf16_s * 1e3, speedup, other_load * 100)
    if other_load > MAX_OTHER_LOAD:
        logger.warning("other processes kept the CPU %.0f%% busy during the bf16 probe; "
                       "not caching the result, it will be measured again next start", other_load * 100)
        return speedup
    cache[key] = {"speedup": speedup, "fp32_s": fp32_s, "bf16_s": bf16_s, "measured_at": time.time()}
    _write_cache(path, cache)
    return speedup


def _time_matmuls() -> tuple[float, float]:
    """Best-of-N seconds of one [1, K] x [K, N] linear in fp32 and in bf16.

    The two dtypes alternate rep by rep so that passing noise hits both alike; the minimum rejects it.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, _PROBE_IN_FEATURES, generator=gen)
    w = torch.randn(_PROBE_OUT_FEATURES, _PROBE_IN_FEATURES, generator=gen)  # nn.Linear layout [N, K]
    operands = [(x, w), (x.to(torch.bfloat16), w.to(torch.bfloat16))]
    best = [float("inf"), float("inf")]
    with torch.inference_mode():
        for rep in range(_PROBE_WARMUP + _PROBE_REPS):
            for i, (xi, wi) in enumerate(operands):
                start = time.perf_counter()
                torch.nn.functional.linear(xi, wi)
                if rep >= _PROBE_WARMUP:
                    best[i] = min(best[i], time.perf_counter() - start)
    return max(best[0], 1e-9), max(best[1], 1e-9)


def _cpu_clock() -> tuple[float, float, float]:
    """(wall, busy CPU seconds of the whole system, CPU seconds of this process)."""
    t = psutil.cpu_times()
    busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
    own = psutil.Process().cpu_times()
    return time.perf_counter(), busy, own.user + own.system


def _other_load(before: tuple[float, float, float]) -> float:
    """Fraction of all cores that other processes used since ``before`` (0 = idle, 1 = all busy)."""
    wall, busy, own = (b - a for a, b in zip(before, _cpu_clock(), strict=True))
    return max(0.0, busy - own) / max(wall * (psutil.cpu_count() or 1), 1e-9)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable cache %s (%s); it will be rewritten", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    """Atomic replace, so a crash mid-write never leaves a corrupt cache; failure only costs a re-measure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("cannot write cache %s: %s (the measurement will be repeated next time)", path, exc)


