"""One precision of a benchmark run, in its own process: ``python -m core.bench.precision_run CONFIG.json PRECISION``.

Why a child process of the engine, not the engine's own model: loading fp32 next to the model the engine
is serving could double the memory in use (a 7B model in fp32 is 28 GB), an out-of-memory in the middle
of a sweep must not take the engine down, and peak RSS / VRAM are only meaningful when the process holds
nothing but this precision. The child loads through ``launch`` (the planner and loader the engine uses),
measures, and exits; the OS takes all of its memory back.

Protocol on stdout, one JSON object per line: ``{"event": "progress", "stage", "done", "total"}`` ... then
``{"event": "result", "result": {...}}``. Logs go to stderr. The fp32 run writes the reference log-probs
(``CONFIG.json``'s folder / ``fp32_logprobs.pt``) that the later precisions compare against.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import psutil
import torch

from core.bench import quality, timing
from core.bench.heldout import has_heldout, load_heldout
from core.bench.measure import copy_bandwidth_bytes_per_s, decode_matmuls, decode_weight_bytes, matmul_ceiling_step_s
from core.bench.workloads import speed_prompt
from core.api.bench_spec import BASELINE, SuiteConfig, Spread, capped_depths
from core.engine.launch import LaunchOptions, launch
from core.models.loader import FLOAT_PRECISION_DTYPES
from core.hardware import peak_rss_bytes
from core.model_config import ModelConfig

REFERENCE_FILE = "fp32_logprobs.pt"
PROMPT_SLACK = 128  # tokens of chat template and question around a document
T = TypeVar("T")


class Reporter:
    """Progress lines for the parent: ``step(stage)`` once per unit of work."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def step(self, stage: str) -> None:
        self.done += 1
        emit({"event": "progress", "stage": stage, "done": min(self.done, self.total), "total": self.total})


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, allow_nan=True) + "\n")
    sys.stdout.flush()


def work_units(cfg: SuiteConfig, n_depths: int, tasks: bool) -> int:
    """Steps reported: load, warm-up, errors, per depth (batch 1, then one per batch size > 1), bandwidth,
    retention, tasks."""
    per_depth = 1 + sum(1 for b in cfg.batch_sizes if b > 1)
    return 5 + n_depths * per_depth + int(tasks)


def repeated(cfg: SuiteConfig, run: Callable[[int], T], figures: Callable[[list[T]], list[list[float]]]) -> list[T]:
    """``run(r)`` for r = 0, 1, ...: at least ``cfg.repeats`` times, then again while any of ``figures(runs)``
    disagrees by over ``cfg.target_spread``, until ``cfg.max_repeats`` runs or ``cfg.repeat_cap_s`` seconds."""
    runs: list[T] = []
    started = time.perf_counter()
    while len(runs) < cfg.max_repeats:
        runs.append(run(len(runs)))
        if len(runs) < cfg.repeats:
            continue
        settled = all(Spread.of(values).relative <= cfg.target_spread for values in figures(runs))
        if settled or time.perf_counter() - started >= cfg.repeat_cap_s:
            break
    return runs


def run(cfg: SuiteConfig, precision: str, work_dir: Path) -> dict[str, Any]:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    mc = ModelConfig.from_dir(cfg.model_dir)
    reserve = cfg.decode_tokens + timing.SUFFIX_TOKENS
    depths = capped_depths(cfg.depths, mc.max_position_embeddings, reserve)
    doc_tokens = min(cfg.retention_tokens, mc.max_position_embeddings - cfg.retention_max_tokens - PROMPT_SLACK)
    tasks = bool(cfg.task_examples) and has_heldout(cfg.model_dir)  # only a model that ships its questions
    needs = [max([*depths, doc_tokens + PROMPT_SLACK]) + reserve + cfg.retention_max_tokens]
    if tasks:
        questions = load_heldout(cfg.model_dir)[:cfg.task_examples]
        needs.append(max(q.doc_tokens for q in questions) + PROMPT_SLACK + cfg.task_max_tokens)
    context = min(mc.max_position_embeddings, max(needs))
    report = Reporter(work_units(cfg, len(depths), tasks))

    launched = launch(LaunchOptions(cfg.model_dir, precision, context, cfg.device, cfg.threads,
                                    max_sequences=max(cfg.batch_sizes)))
    engine, loaded = launched.engine, launched.loaded
    cuda = loaded.device.type == "cuda"
    result: dict[str, Any] = {
        "precision": precision, "compute_dtype": launched.plan.compute_dtype, "device": loaded.device.type,
        "load_s": loaded.load_seconds, "weights_bytes": loaded.weights_bytes,
        "rss_after_load_bytes": psutil.Process().memory_info().rss, "peak_rss_load_bytes": peak_rss_bytes(),
        "context_tokens": engine.context_tokens, "depths": depths, "notes": list(launched.notes),
    }
    report.step("load")
    busy_from = other_load_clock()
    timing.warm_up(engine)
    report.step("warm-up")
    result["error"] = quality.error_section(engine, cfg.error_tokens, work_dir / REFERENCE_FILE, precision == BASELINE,
                                            cfg.model_dir)
    report.step("error vs fp32")
    hf = _hf_reference(cfg, precision, result["notes"])
    result["speed"] = _speed(engine, cfg, depths, report, hf)
    del hf
    result["bandwidth"] = _bandwidth(engine, cfg, depths, result["speed"])
    report.step("bandwidth")
    result["retention"] = quality.retention(engine, doc_tokens, cfg.retention_positions, cfg.retention_max_tokens,
                                            cfg.seed, cfg.model_dir)
    report.step("retention")
    if tasks:
        result["tasks"] = quality.task_accuracy(engine, cfg.model_dir, cfg.task_examples, cfg.task_max_tokens)
        report.step("task accuracy")
    result["other_load"] = other_load(busy_from)
    result["peak_rss_bytes"] = peak_rss_bytes()
    if cuda:
        result["peak_vram_bytes"] = int(torch.cuda.max_memory_allocated(loaded.device))
    return result


def _speed(engine: Any, cfg: SuiteConfig, depths: list[int], report: Reporter, hf: Any = None) -> dict[str, Any]:
    """Per depth: TTFT, prefill tok/s and decode tok/s at batch 1 from the same runs; decode at larger batches.

    Each run at the shallowest depth is paired with the decode step's weight matmuls alone (the fastest decode
    torch's kernels allow for this weight format), and, with ``hf``, each run with HF transformers on the same
    prompt: ratios are taken per pair (both measured on the same state of the memory bus), then the median.
    """
    out: dict[str, Any] = {}
    ceiling_calls = decode_matmuls(engine.loaded.model)
    vocab = engine.loaded.config.vocab_size
    for d in depths:
        ceilings, hf_prefill, hf_decode = [], [], []

        def one(r: int, d: int = d) -> timing.RequestTiming:
            seed = cfg.seed * 1_000_003 + 17 * r + d
            timed = timing.single(engine, d, cfg.decode_tokens, seed)
            if d == depths[0]:
                ceilings.append(1 / statistics.median(matmul_ceiling_step_s(ceiling_calls) for _ in range(5)))
            if hf is not None:
                prompt = speed_prompt(d, seed, vocab)  # the prompt ``timing.single`` used
                hf_prefill.append(d / hf.prefill_s(prompt))
                hf_decode.append(hf.decode_tokens_per_s(prompt, cfg.decode_tokens))
            return timed

        runs = repeated(cfg, one, lambda rs: [[r.ttft_s for r in rs], [r.decode_tokens_per_s for r in rs]])
        report.step(f"prefill + decode @{d}")
        decode = [r.decode_tokens_per_s for r in runs]
        entry = {"ttft_s": Spread.of([r.ttft_s for r in runs]).to_dict(),
                 "prefill_tok_s": Spread.of([d / r.ttft_s for r in runs]).to_dict(),
                 "decode_tok_s@1": Spread.of(decode).to_dict()}
        if ceilings:
            entry["decode_vs_ceiling"] = Spread.of([a / b for a, b in zip(decode, ceilings)]).to_dict()
        if hf is not None:
            entry |= {"hf_prefill_tok_s": Spread.of(hf_prefill).to_dict(), "hf_decode_tok_s@1": Spread.of(hf_decode).to_dict(),
                      "decode_vs_hf": Spread.of([a / b for a, b in zip(decode, hf_decode)]).to_dict()}
        for b in (b for b in cfg.batch_sizes if b > 1):
            rates = repeated(cfg, lambda r, b=b, d=d: timing.batched(engine, d, b, cfg.decode_tokens,
                                                                     cfg.seed * 7919 + 31 * r + d).decode_tokens_per_s,
                             lambda rs: [rs])
            entry[f"decode_tok_s@{b}"] = Spread.of(rates).to_dict()
            report.step(f"decode batch {b} @{d}")
        out[str(d)] = entry
    return out


def _hf_reference(cfg: SuiteConfig, precision: str, notes: list[str]) -> Any:
    """HF transformers on the same checkpoint and dtype, when asked for and possible (else a note says why)."""
    if not cfg.hf_reference:
        return None
    if precision not in FLOAT_PRECISION_DTYPES:
        notes.append(f"HF transformers not compared at {precision} (it has no such weight-only format)")
        return None
    try:
        from core.bench.hf_reference import HFReference

        return HFReference(cfg.model_dir, FLOAT_PRECISION_DTYPES[precision])
    except ImportError:
        notes.append("HF transformers not compared: it is not installed (pip install transformers)")
        return None


def _bandwidth(engine: Any, cfg: SuiteConfig, depths: list[int], speed: dict[str, Any]) -> dict[str, Any]:
    """Bytes one batch-1 decode step reads (weights + the KV cache up to the depth) x steps per second,
    against this machine's peak measured now."""
    device = engine.loaded.device
    peak = Spread.of(repeated(cfg, lambda _r: copy_bandwidth_bytes_per_s(device, cfg.bandwidth_bytes, 3),
                              lambda rs: [rs]))
    weights = decode_weight_bytes(engine.loaded.model)
    per_depth = {}
    for d in depths:
        step_bytes = weights + engine.cache.bytes_per_token * d
        rate = speed[str(d)]["decode_tok_s@1"]
        achieved = {k: rate[k] * step_bytes for k in ("median", "min", "max")}
        per_depth[str(d)] = {"bytes_per_step": step_bytes, "achieved_bytes_s": achieved,
                             "fraction_of_peak": achieved["median"] / peak.median}
    return {"peak_bytes_s": peak.to_dict(), "decode_weight_bytes": weights, "per_depth": per_depth}


def other_load_clock() -> tuple[float, float, float]:
    """(wall, busy CPU seconds of the whole machine, CPU seconds of this process) now."""
    t = psutil.cpu_times()
    own = psutil.Process().cpu_times()
    return time.perf_counter(), sum(t) - t.idle - getattr(t, "iowait", 0.0), own.user + own.system


def other_load(since: tuple[float, float, float]) -> float:
    """Share of all cores that other processes kept busy since ``since`` (0 = idle, 1 = every core busy): the
    figures of a run on a busy machine move more, and the report says so."""
    wall, busy, own = (b - a for a, b in zip(since, other_load_clock(), strict=True))
    return round(max(0.0, busy - own) / max(wall * (psutil.cpu_count() or 1), 1e-9), 3)


def exit_with_parent(interval_s: float = 1.0) -> None:
    """End this process when its parent (the engine or ``ponder bench``) is gone, even after a kill -9."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m core.bench.precision_run CONFIG.json PRECISION", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    exit_with_parent()
    config_path = Path(args[0])
    cfg = SuiteConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    emit({"event": "result", "result": run(cfg, args[1], config_path.parent)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
