"""Is bf16 faster than fp32 on this CPU? Measured once per machine on a quiet CPU, then kept.

The planner's "auto" on a CPU depends on it, so the answer must not change from one start to the next
because other programs happened to be busy: a multi-threaded bf16 kernel waiting on a stolen core can look
several times slower than it is. Hence:
- the measurement is kept per machine (CPU model and torch version) in ``core.paths.cpu_speed_cache_file``,
  and a kept one is always used, never measured again on its own;
- a measurement during which other programs kept more than ``MAX_OTHER_LOAD`` of the CPU busy is thrown away:
  with nothing kept, bf16's speed counts as not measured (the planner then keeps fp32 and says why), and the
  next start measures again;
- the user can measure again (the model panel's button, ``POST /v1/engine/cpu-speed``): a quiet measurement
  replaces the kept one, a busy one leaves it as it was.
Engine side: it imports torch.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import torch

from core.hardware import cpu_name_and_flags
from core.kernels import cpu_gemm
from core.kernels.build import kernel_status
from core.kernels.ops import pack_int4_rows
from core.models.quant import (cpu_matmul, int4_group_size, int4_matmul, int8_matmul, pack_int4, quantize_int4_rows,
                               quantize_int8_rows)
from core.paths import cpu_speed_cache_file

logger = logging.getLogger(__name__)

BF16_FASTER_THRESHOLD = 1.05  # bf16 counts as faster only above this fp32/bf16 time ratio: noise cannot flip it
MAX_OTHER_LOAD = 0.25  # above this share of the cores busy with other programs, a measurement is thrown away
_PROBE_IN_FEATURES = 2048  # one decode-step linear of a small LLM: x [1, K] @ W.T with W [N, K]
_PROBE_OUT_FEATURES = 8192
_PROBE_BATCH = 4  # rows of the batched product timed beside the one-row one (the engine's default streams)
_PROBE_WARMUP = 3
PROBE_VERSION = 3  # raised when what the probe times changes: a kept measurement of the old probe is not used
_PROBE_REPS = 10


@dataclass(frozen=True, slots=True)
class CpuSpeed:
    """The bf16/fp32 measurement the planner uses (``speedup`` None: not measured, ``note`` says why)."""

    speedup: float | None  # fp32 time / bf16 time of the probe (> 1: bf16 is faster)
    measured_at: float | None = None  # unix time of the measurement kept
    other_load: float | None = None  # share of the CPU other programs used while it was measured
    note: str = ""
    # seconds of one decode-size product per weight-only path, "int8/bf16" (weights / activations) ...: what
    # int8 and int4 compute in (their kernels' speed per activation dtype is not the dense matmul's)
    paths: tuple[tuple[str, float], ...] = ()

    @property
    def bf16_faster(self) -> bool | None:
        return None if self.speedup is None else self.speedup > BF16_FASTER_THRESHOLD


@dataclass(frozen=True, slots=True)
class Remeasured:
    """What measuring again did: the measurement in use now, and whether the new one replaced the old."""

    speed: CpuSpeed
    replaced: bool
    message: str


def machine_key() -> str:
    """What a kept measurement holds for: the CPU model, torch's version, and the kernels the engine runs here
    (a measurement of other kernels says nothing about these)."""
    cpu_name, _ = cpu_name_and_flags()
    status = kernel_status()
    kernels = status.kernels.path.stem if status.kernels is not None else "torch kernels"  # ISA and source hash
    return f"{cpu_name} | torch {torch.__version__} | {kernels} | probe {PROBE_VERSION}"


def cpu_speed(cache_path: Path | None = None) -> CpuSpeed:
    """The kept measurement; with none kept, measured now (kept if the CPU was quiet, else not used)."""
    path = cache_path or cpu_speed_cache_file()
    kept = kept_speed(path)
    if kept is not None:
        return kept
    measured = _measure()
    if measured.other_load is not None and measured.other_load > MAX_OTHER_LOAD:
        logger.warning("other programs kept the CPU %.0f%% busy during the bf16 probe; not using it (the next start "
                       "measures again)", measured.other_load * 100)
        return CpuSpeed(None, None, measured.other_load, _busy_note(measured.other_load))
    _keep(path, measured)
    return measured


def remeasure(cache_path: Path | None = None) -> Remeasured:
    """Measure now, as the user asked: a quiet measurement replaces the kept one, a busy one is thrown away."""
    path = cache_path or cpu_speed_cache_file()
    kept = kept_speed(path)
    measured = _measure()
    if measured.other_load is not None and measured.other_load > MAX_OTHER_LOAD:
        speed = kept or CpuSpeed(None, None, measured.other_load, _busy_note(measured.other_load))
        return Remeasured(speed, False, f"Other programs kept the CPU {measured.other_load:.0%} busy while it was "
                                        "measured, so the measurement was thrown away"
                                        + (" and the one kept is still used." if kept else ".")
                                        + " Try again when the computer is quieter.")
    _keep(path, measured)
    verdict = "faster" if measured.bf16_faster else "not faster"
    return Remeasured(measured, True, f"Measured: bf16 is {verdict} than fp32 on this CPU (x{measured.speedup:.2f}). "
                                      "The next load uses it.")


def kept_speed(cache_path: Path | None = None) -> CpuSpeed | None:
    """The measurement kept for this machine, if any (nothing is measured)."""
    entry = _read(cache_path or cpu_speed_cache_file()).get(machine_key())
    if not isinstance(entry, dict) or not isinstance(entry.get("speedup"), (int, float)) or entry["speedup"] <= 0:
        return None
    paths = entry.get("paths")
    paths = tuple((str(k), float(v)) for k, v in paths.items() if isinstance(v, (int, float)) and v > 0) \
        if isinstance(paths, dict) else ()
    return CpuSpeed(float(entry["speedup"]), entry.get("measured_at"), entry.get("other_load"), "kept", paths)


def _busy_note(load: float) -> str:
    return f"not measured: other programs kept the CPU {load:.0%} busy"


def _measure() -> CpuSpeed:
    before = _cpu_clock()
    fp32_s, bf16_s = _time_matmuls()
    paths = _time_quantized_paths()
    load = _other_load(before)
    speedup = fp32_s / bf16_s
    logger.info("CPU matmul probe: fp32 %.2f ms, bf16 %.2f ms (bf16 speedup %.2fx); %s; other load %.0f%%",
                fp32_s * 1e3, bf16_s * 1e3, speedup, ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in paths.items()),
                load * 100)
    return CpuSpeed(speedup, time.time(), round(load, 3), "measured", tuple(paths.items()))


def _keep(path: Path, speed: CpuSpeed) -> None:
    cache = _read(path)
    cache[machine_key()] = {"speedup": speed.speedup, "measured_at": speed.measured_at,
                            "other_load": speed.other_load, "threads": torch.get_num_threads(),
                            "paths": dict(speed.paths)}
    _write(path, cache)


def _time_matmuls() -> tuple[float, float]:
    """Best-of-N seconds of one [1, K] x [K, N] product in fp32 and in bf16, each through the engine's own path
    (``core.kernels.cpu_gemm`` for fp32, Ponder's kernels for bf16 where they load here).

    The two dtypes alternate rep by rep so that passing noise hits both alike; the minimum rejects it.
    """
    kernels = kernel_status().kernels
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, _PROBE_IN_FEATURES, generator=gen)
    w = torch.randn(_PROBE_OUT_FEATURES, _PROBE_IN_FEATURES, generator=gen)  # nn.Linear layout [N, K]
    runs = {"fp32": partial(cpu_gemm.linear, x, w),
            "bf16": partial(cpu_matmul, x.to(torch.bfloat16), w.to(torch.bfloat16), None, kernels, False)}
    best = _best_times(runs)
    return best["fp32"], best["bf16"]


def _time_quantized_paths() -> dict[str, float]:
    """Best-of-N seconds of the engine's own int8 and int4 products (``core.models.quant``, with Ponder's kernels
    where they load here, laid out as the loader lays them out) at the probe's decode shape, with fp32 and with
    bf16 activations, alternating rep by rep like ``_time_matmuls``. Each path's time is that of a one-row
    product plus a ``_PROBE_BATCH``-row one: several streams decode together, and an activation dtype fast for
    one row can be ten times slower for four (torch's int8 kernel with fp32 activations)."""
    kernels = kernel_status().kernels
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(_PROBE_OUT_FEATURES, _PROBE_IN_FEATURES, generator=gen)
    xs = {rows: torch.randn(rows, _PROBE_IN_FEATURES, generator=gen) for rows in (1, _PROBE_BATCH)}
    q8, scales8 = quantize_int8_rows(w)
    group = int4_group_size(_PROBE_IN_FEATURES, _PROBE_OUT_FEATURES, kernels is not None) or 32
    q4, scales_zeros = quantize_int4_rows(w, group)
    if kernels is not None:  # Ponder's layout (``loader._load_int4``): fp32 (scale, zero) per row and group
        packed, scales_zeros = pack_int4_rows(q4), scales_zeros.transpose(0, 1).contiguous()
    else:
        packed = pack_int4(q4, torch.device("cpu"))
    runs = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        s8 = scales8.to(dtype)
        sz = scales_zeros if kernels is not None else scales_zeros.to(dtype)
        for rows, x in xs.items():
            runs[f"int8/{name}", rows] = partial(int8_matmul, x.to(dtype), q8, s8, None, kernels)
            runs[f"int4/{name}", rows] = partial(int4_matmul, x.to(dtype), packed, group, sz, None, kernels)
    summed: dict[str, float] = {}
    for (path, _), seconds in _best_times(runs).items():
        summed[path] = summed.get(path, 0.0) + seconds
    return summed


def _best_times(runs: dict[Any, Callable[[], object]]) -> dict[Any, float]:
    """Best-of-N seconds of each run, taken in turn rep by rep after a warm-up."""
    best = dict.fromkeys(runs, float("inf"))
    with torch.inference_mode():
        for rep in range(_PROBE_WARMUP + _PROBE_REPS):
            for key, run in runs.items():
                start = time.perf_counter()
                run()
                if rep >= _PROBE_WARMUP:
                    best[key] = min(best[key], time.perf_counter() - start)
    return {k: max(v, 1e-9) for k, v in best.items()}


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


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable cache %s (%s); it will be rewritten", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    """Atomic replace, so a crash mid-write never leaves a corrupt cache; failure only costs a re-measure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("cannot write cache %s: %s (the measurement will be repeated next time)", path, exc)
