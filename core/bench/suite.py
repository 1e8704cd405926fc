"""The benchmark suite: every precision this hardware runs, one child process each, fp32 first.

``run_suite(config, on_progress, cancel, on_result=...)`` is what ``POST /v1/bench/runs`` (in the engine
process, on a thread of its own) and ``ponder bench`` both call, so the API and the command line give the same
result. Each precision runs in ``core.bench.precision_run`` (why a child process: see that module); this module
only sequences them, measures with the cores other programs leave free (``threads_for``: on a busy CPU,
torch's every-core default is several times slower and noisier), relays progress with an ETA, hands over the result so far as each precision finishes
(``on_result``: the panel shows a column as soon as it is measured), stops the running child on cancel, and
records the machine. The result is one JSON-ready dict (``core.api.bench_report`` formats it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import psutil

from core.api.bench_spec import SuiteConfig, json_safe
from core.frozen import PRECISION_RUN_FLAG, is_frozen
from core.engine.hardware_probe import probe
from core.hardware import HardwareInfo
from core.model_config import ModelConfig
from core.precision import runnable_precisions

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_VERSION = 1
TERMINATE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class SuiteProgress:
    fraction: float  # of the whole run
    stage: str
    precision: str | None
    index: int  # precision number (0-based) of ``count``
    count: int
    elapsed_s: float
    eta_s: float | None  # None until something is measured


class _Cancelled(Exception):
    pass


def machine_record(hw: HardwareInfo, threads: int | None) -> dict[str, Any]:
    """What a figure depends on besides the model: recorded with every run."""
    gpu = hw.device_name if hw.is_gpu else None
    return {"device": hw.device, "cpu": hw.cpu_name, "gpu": gpu, "ram_bytes": hw.ram_total_bytes,
            "vram_bytes": hw.total_memory_bytes if hw.is_gpu else None, "torch": hw.torch_version,
            "threads": threads or hw.num_threads, "cores": hw.physical_cores, "cpu_flags": list(hw.cpu_flags),
            "name": machine_name(hw)}


def machine_name(hw: HardwareInfo) -> str:
    """A short label to group runs by machine: the compute device and its memory."""
    gib = hw.total_memory_bytes / 2**30
    return f"{hw.device_name} · {gib:.0f} GiB" if hw.is_gpu else f"{hw.cpu_name} · {gib:.0f} GiB RAM"


def model_record(model_dir: Path) -> dict[str, Any]:
    mc = ModelConfig.from_dir(model_dir)
    return {"name": Path(model_dir).resolve().name, "path": str(Path(model_dir).resolve()),
            "architecture": mc.architecture, "parameters": mc.num_parameters(), "layers": mc.num_hidden_layers,
            "max_context": mc.max_position_embeddings}


def run_suite(cfg: SuiteConfig, on_progress: Callable[[SuiteProgress], None] | None = None,
              cancel: threading.Event | None = None, hw: HardwareInfo | None = None,
              on_result: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every precision; returns the result with ``status`` "done" or "cancelled" (partial).
    ``on_result`` gets a copy of the result (``status`` "running") each time a precision has finished."""
    hw = hw or probe(cfg.device)
    precisions = cfg.ordered_precisions(runnable_precisions(hw))
    cancel = cancel or threading.Event()
    started = time.time()
    threads, why = threads_for(cfg, hw)
    cfg = replace(cfg, threads=threads)
    result: dict[str, Any] = {"version": RESULT_VERSION, "status": "running", "started_at": started,
                              "config": cfg.to_dict(), "machine": machine_record(hw, cfg.threads),
                              "model": model_record(cfg.model_dir), "description": cfg.describe(),
                              "notes": [why] if why else [], "precisions": []}

    def report(index: int, fraction: float, stage: str, precision: str | None) -> None:
        overall = (index + fraction) / max(len(precisions), 1)
        elapsed = time.time() - started
        eta = elapsed * (1 - overall) / overall if overall > 0.01 else None
        if on_progress:
            on_progress(SuiteProgress(overall, stage, precision, index, len(precisions), elapsed, eta))

    with tempfile.TemporaryDirectory(prefix="ponder-bench-") as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(cfg.to_dict()), encoding="utf-8")
        try:
            for i, precision in enumerate(precisions):
                report(i, 0.0, "starting", precision)
                t0 = time.time()
                entry = _run_child(config_path, precision, cancel,
                                   lambda f, stage, i=i, p=precision: report(i, f, stage, p))
                entry["seconds"] = time.time() - t0
                result["precisions"].append(entry)
                if on_result is not None:
                    on_result(json_safe({**result, "seconds": time.time() - started}))
        except _Cancelled:
            result["status"] = "cancelled"
    if result["status"] == "running":
        result["status"] = "done"
        report(len(precisions), 0.0, "done", None)
    result["seconds"] = time.time() - started
    return json_safe(result)


def threads_for(cfg: SuiteConfig, hw: HardwareInfo, sample_s: float = 0.5) -> tuple[int | None, str | None]:
    """The threads a run measures with, and why when not the usual: the ones asked for; on a CPU otherwise the
    cores other programs leave free. torch's default (every core) on a CPU that others keep busy makes each
    parallel step wait for a descheduled thread: several times slower and noisier than fewer threads."""
    if cfg.threads or hw.device != "cpu":
        return cfg.threads, None
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    busy = psutil.cpu_percent(interval=sample_s) / 100 * (psutil.cpu_count() or 1)
    free = max(1, cores - math.ceil(max(0.0, busy - 0.25)))
    if free >= cores:
        return None, None
    return free, (f"measured with {free} thread{'s' if free > 1 else ''} of {cores} cores: other programs kept "
                  f"{busy:.1f} cores busy when the run started (--threads chooses)")


def precision_run_command() -> list[str]:
    """How to start ``core.bench.precision_run``: ``python -m`` from source; in the frozen bundle the engine
    program itself, with the flag its entry point dispatches on (there is no ``-m`` in a frozen program)."""
    if is_frozen():
        return [sys.executable, PRECISION_RUN_FLAG]
    return [sys.executable, "-m", "core.bench.precision_run"]


def _run_child(config_path: Path, precision: str, cancel: threading.Event,
               on_fraction: Callable[[float, str], None]) -> dict[str, Any]:
    """One precision's child; its result, or ``{"precision", "failed": why}`` if it failed. Raises on cancel."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PONDER_API_TOKEN", None)  # the child serves nothing
    stderr_path = config_path.parent / f"{precision}.stderr"
    with open(stderr_path, "w+", encoding="utf-8") as stderr:
        proc = subprocess.Popen([*precision_run_command(), str(config_path), precision],
                                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, env=env,
                                cwd=REPO_ROOT)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        outcome: dict[str, Any] | None = None
        try:
            while True:
                if cancel.is_set():
                    raise _Cancelled
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:
                    break
                message = _parse(line)
                if message.get("event") == "progress":
                    on_fraction(message["done"] / max(message["total"], 1), str(message.get("stage", "")))
                elif message.get("event") == "result":
                    outcome = message["result"]
        finally:
            _stop(proc)
        if outcome is not None and proc.returncode == 0:
            return outcome
        stderr.seek(0)
        tail = stderr.read()[-1500:].strip()
        log.warning("benchmark of %s failed (exit %s): %s", precision, proc.returncode, tail)
        return {"precision": precision, "failed": _error_line(tail) or f"the measurement exited with {proc.returncode}"}


def _pump(proc: subprocess.Popen, lines: queue.Queue) -> None:
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.put(line)
    lines.put(None)


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(TERMINATE_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def _error_line(tail: str) -> str:
    """The last line of a traceback (the exception), which is what a user can act on."""
    lines = [line for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""
