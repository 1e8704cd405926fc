"""Numbers about the running engine: the status page, the live event stream, Prometheus ``/metrics``.

Everything is read from the engine thread's published snapshot (never from the engine itself, which
belongs to its thread) plus process memory (psutil) and, on CUDA, torch's allocator counters.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from core.hardware import peak_rss_bytes
from core.api.protocol import EngineEvent, EngineStatus, MemoryUsage, QueueState
from core.server.serving import EngineService


def vram_bytes(service: EngineService) -> tuple[int | None, int | None]:
    """(allocated, reserved) bytes of CUDA memory; (None, None) off CUDA."""
    model = service.model
    if model is None or model.launched.loaded.device.type != "cuda":
        return None, None
    import torch

    device = model.launched.loaded.device
    return int(torch.cuda.memory_allocated(device)), int(torch.cuda.memory_reserved(device))


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def status(service: EngineService, version: str) -> EngineStatus:
    snap, _ = service.snapshot()
    model = service.model
    allocated, reserved = vram_bytes(service)
    memory = MemoryUsage(
        weights_bytes=model.launched.loaded.weights_bytes if model else 0,
        kv_cache_used_bytes=snap.kv_bytes_used if snap else 0, kv_cache_total_bytes=snap.kv_bytes_total if snap else 0,
        rss_bytes=rss_bytes(), peak_rss_bytes=peak_rss_bytes(),
        vram_allocated_bytes=allocated, vram_reserved_bytes=reserved)
    options = service.options
    queue = QueueState(running=snap.running if snap else 0, waiting=snap.waiting if snap else 0,
                       max_sequences=options.max_sequences, max_waiting=options.max_waiting)
    return EngineStatus(
        version=version, load=service.load_status(), model=model.summary() if model else None,
        plan=model.plan_dict if model else None, hardware=model.launched.hardware.to_dict() if model else None,
        memory=memory, queue=queue, kv_tokens_used=snap.kv_tokens_used if snap else 0,
        kv_tokens_total=snap.kv_tokens_total if snap else 0, notes=list(model.launched.notes) if model else [])


def event(service: EngineService) -> EngineEvent:
    snap, rate = service.snapshot()
    allocated, reserved = vram_bytes(service)
    return EngineEvent(
        time=time.time(), state=service.state, tokens_per_s=round(rate, 3),
        last_ttft_s=snap.last_ttft_s if snap else None, rss_bytes=rss_bytes(),
        vram_allocated_bytes=allocated, vram_reserved_bytes=reserved,
        kv_tokens_used=snap.kv_tokens_used if snap else 0, kv_tokens_total=snap.kv_tokens_total if snap else 0,
        kv_bytes_used=snap.kv_bytes_used if snap else 0, kv_bytes_total=snap.kv_bytes_total if snap else 0,
        running=snap.running if snap else 0, waiting=snap.waiting if snap else 0,
        prefilling=snap.prefilling if snap else 0, prefill_tokens_done=snap.prefill_tokens_done if snap else 0,
        prefill_tokens_total=snap.prefill_tokens_total if snap else 0)


def prometheus_text(service: EngineService) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    ev = event(service)
    totals = service.totals
    model = service.model
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], Any]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is None:
                continue
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}")

    metric("ponder_generated_tokens_total", "counter", "Tokens generated since the engine started.",
           [({}, totals.tokens_generated)])
    metric("ponder_prompt_tokens_total", "counter", "Prompt tokens of finished requests.", [({}, totals.prompt_tokens)])
    metric("ponder_cached_prompt_tokens_total", "counter", "Prompt tokens reused from the prefix cache.",
           [({}, totals.cached_prompt_tokens)])
    metric("ponder_requests_finished_total", "counter", "Finished requests by finish reason.",
           [({"reason": r}, n) for r, n in sorted(totals.finished.items())] or [({"reason": "stop"}, 0)])
    metric("ponder_requests_failed_total", "counter", "Requests failed by an engine error, shutdown or model switch.",
           [({}, totals.failed)])
    metric("ponder_requests_rejected_total", "counter", "Requests refused before they ran (busy, loading, invalid).",
           [({}, totals.rejected)])
    metric("ponder_requests_running", "gauge", "Requests holding a cache slot.", [({}, ev.running)])
    metric("ponder_requests_waiting", "gauge", "Requests queued for a cache slot.", [({}, ev.waiting)])
    metric("ponder_generation_tokens_per_second", "gauge", "Generated tokens per second over the last seconds.",
           [({}, ev.tokens_per_s)])
    metric("ponder_last_ttft_seconds", "gauge", "Time to first token of the latest request.", [({}, ev.last_ttft_s)])
    metric("ponder_kv_cache_tokens", "gauge", "KV cache tokens.",
           [({"state": "used"}, ev.kv_tokens_used), ({"state": "total"}, ev.kv_tokens_total)])
    metric("ponder_kv_cache_bytes", "gauge", "KV cache bytes.",
           [({"state": "used"}, ev.kv_bytes_used), ({"state": "total"}, ev.kv_bytes_total)])
    metric("ponder_resident_memory_bytes", "gauge", "Resident memory of the engine process.", [({}, ev.rss_bytes)])
    metric("ponder_peak_resident_memory_bytes", "gauge", "Peak resident memory of the engine process.",
           [({}, peak_rss_bytes())])
    metric("ponder_weights_bytes", "gauge", "Bytes of the loaded weights.",
           [({}, model.launched.loaded.weights_bytes if model else 0)])
    metric("ponder_vram_bytes", "gauge", "CUDA memory of the engine (absent off CUDA).",
           [({"state": "allocated"}, ev.vram_allocated_bytes), ({"state": "reserved"}, ev.vram_reserved_bytes)])
    metric("ponder_model_loaded", "gauge", "1 while a model serves (labels: model, precision, device).",
           [({"model": model.id, "precision": model.launched.plan.precision, "device": model.launched.plan.device},
             1 if service.state == "ready" else 0)] if model else [({}, 0)])
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
