"""A benchmark result as a table "metric x precision": the fp32 column is the baseline, others show deltas in %.

One definition of the rows serves the command line (Markdown text, CSV, JSON), the panel's table and its
exports, so what the user sees in the GUI and in a terminal is the same. No torch here.

Each timed figure is "median [min–max]" of n runs; deltas compare medians with fp32's. Error rows have no
delta (fp32's error is 0 by definition; the value itself is the loss).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from core.api.bench_spec import BASELINE, Spread

GiB, MiB = 2**30, 2**20


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # stable id (CSV)
    label: str
    unit: str
    get: Callable[[dict[str, Any]], Spread | float | None]
    fmt: Callable[[float], str]
    better: str = ""  # "lower" | "higher" | "" (no judgement)
    delta: bool = True  # show % change against fp32


@dataclass(frozen=True, slots=True)
class Cell:
    value: float | None  # the median (or the single value); None = not measured
    spread: Spread | None
    text: str
    delta_pct: float | None  # against fp32's median; None for fp32 itself and rows without deltas


@dataclass(frozen=True, slots=True)
class Row:
    metric: Metric
    cells: dict[str, Cell]  # precision -> cell


def _num(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


def _bytes(v: float) -> str:
    return f"{v / GiB:.2f} GiB" if v >= GiB else f"{v / MiB:.1f} MiB"


def _small(v: float) -> str:
    return "0" if v == 0 else (f"{v:.2e}" if abs(v) < 1e-3 else f"{v:.4f}")


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _times(v: float) -> str:
    return f"{v:.2f}x"


def _path(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def get(r: dict[str, Any]) -> Any:
        value: Any = r
        for k in keys:
            if not isinstance(value, dict) or k not in value:
                return None
            value = value[k]
        if isinstance(value, dict) and "median" in value:
            return Spread.from_dict(value) if value["median"] is not None else None
        return value

    return get


def depths_of(result: dict[str, Any]) -> list[int]:
    for entry in result.get("precisions", []):
        if entry.get("depths"):
            return [int(d) for d in entry["depths"]]
    return []


def batch_sizes_of(result: dict[str, Any]) -> list[int]:
    return [int(b) for b in result.get("config", {}).get("batch_sizes", [1])]


def metrics(result: dict[str, Any]) -> list[Metric]:
    """The rows for this result (its depths and batch sizes)."""
    cuda = result.get("machine", {}).get("device") == "cuda"
    peak = machine_peak_bandwidth(result)
    rows = [Metric("load_s", "load time", "s", _path("load_s"), _num(2), "lower"),
            Metric("weights_bytes", "weights memory", "bytes", _path("weights_bytes"), _bytes, "lower"),
            Metric("peak_rss_bytes", "peak RSS", "bytes", _path("peak_rss_bytes"), _bytes, "lower")]
    if cuda:
        rows.append(Metric("peak_vram_bytes", "peak VRAM", "bytes", _path("peak_vram_bytes"), _bytes, "lower"))
    depths = depths_of(result)
    hf = any("hf_decode_tok_s@1" in (e.get("speed") or {}).get(str(d), {}) for e in result.get("precisions", [])
             for d in depths)
    for d in depths:
        s = str(d)
        rows += [Metric(f"ttft_s@{d}", f"TTFT @{d}", "s", _path("speed", s, "ttft_s"), _num(3), "lower"),
                 Metric(f"prefill_tok_s@{d}", f"prefill @{d}", "tok/s", _path("speed", s, "prefill_tok_s"), _num(1),
                        "higher")]
        for b in batch_sizes_of(result):
            rows.append(Metric(f"decode_tok_s@{d}x{b}", f"decode @{d}, batch {b}", "tok/s",
                               _path("speed", s, f"decode_tok_s@{b}"), _num(2), "higher"))
        rows.append(Metric(f"bandwidth_fraction@{d}", f"decode bandwidth @{d} / machine peak", "fraction",
                           _fraction_of_peak(d, peak), _pct, "higher"))
        if d == depths[0]:
            rows.append(Metric(f"decode_vs_ceiling@{d}", f"decode @{d} / its weight matmuls alone", "fraction",
                               _path("speed", s, "decode_vs_ceiling"), _pct, "higher", delta=False))
        if hf:
            rows += [Metric(f"hf_prefill_tok_s@{d}", f"HF transformers prefill @{d}", "tok/s",
                            _path("speed", s, "hf_prefill_tok_s"), _num(1), "higher"),
                     Metric(f"hf_decode_tok_s@{d}", f"HF transformers decode @{d}, batch 1", "tok/s",
                            _path("speed", s, "hf_decode_tok_s@1"), _num(2), "higher"),
                     Metric(f"decode_vs_hf@{d}", f"decode @{d} / HF transformers", "ratio",
                            _path("speed", s, "decode_vs_hf"), _times, "higher", delta=False)]
    rows += [Metric("peak_bandwidth", "copy bandwidth measured (GB/s)", "",
                    lambda r: _scaled(_path("bandwidth", "peak_bytes_s")(r), 1e-9), _num(1), "", delta=False),
             Metric("mean_kl", "mean KL vs fp32", "nats", _path("error", "mean_kl"), _small, "lower", delta=False),
             Metric("top1_agreement", "top-1 agreement vs fp32", "fraction", _path("error", "top1_agreement"), _pct,
                    "higher", delta=False),
             Metric("perplexity", "perplexity (fixed text)", "", _path("error", "perplexity"), _num(2), "lower"),
             Metric("perplexity_change", "perplexity change vs fp32", "fraction", _path("error", "perplexity_change"),
                    _signed_pct, "lower", delta=False),
             Metric("retention", "retention (fact found)", "fraction", _path("retention", "rate"), _pct, "higher",
                    delta=False)]
    if any("tasks" in e for e in result.get("precisions", [])):
        rows.append(Metric("task_accuracy", "task accuracy (held-out)", "fraction", _path("tasks", "accuracy"), _pct,
                           "higher", delta=False))
    return rows


def machine_peak_bandwidth(result: dict[str, Any]) -> float | None:
    """The best copy bandwidth measured in the run (each precision's child measures it; other processes on the
    machine pull single measurements down, so the best one is the closest to the hardware's peak)."""
    best = [_path("bandwidth", "peak_bytes_s")(e) for e in result.get("precisions", [])]
    values = [s.max for s in best if isinstance(s, Spread)]
    return max(values) if values else None


def _fraction_of_peak(depth: int, peak: float | None) -> Callable[[dict[str, Any]], float | None]:
    def get(entry: dict[str, Any]) -> float | None:
        achieved = _path("bandwidth", "per_depth", str(depth), "achieved_bytes_s", "median")(entry)
        return achieved / peak if peak and isinstance(achieved, (int, float)) else None

    return get


def _scaled(value: Spread | float | None, factor: float) -> Spread | float | None:
    if isinstance(value, Spread):
        return Spread(value.median * factor, value.min * factor, value.max * factor, value.n)
    return None if value is None else value * factor


def _signed_pct(v: float) -> str:
    return f"{100 * v:+.2f}%"


def precisions_of(result: dict[str, Any]) -> list[str]:
    return [e["precision"] for e in result.get("precisions", [])]


def table(result: dict[str, Any]) -> list[Row]:
    entries = {e["precision"]: e for e in result.get("precisions", [])}
    base = entries.get(BASELINE)
    rows = []
    for m in metrics(result):
        base_value = _median(m.get(base)) if base and "failed" not in base else None
        cells = {}
        for p, entry in entries.items():
            if "failed" in entry:
                cells[p] = Cell(None, None, "failed", None)
                continue
            raw = m.get(entry)
            value = _median(raw)
            spread = raw if isinstance(raw, Spread) else None
            delta = None
            if m.delta and p != BASELINE and value is not None and base_value:
                delta = 100 * (value - base_value) / base_value
            cells[p] = Cell(value, spread, _text(m, value, spread), delta)
        rows.append(Row(m, cells))
    return rows


def _median(raw: Spread | float | None) -> float | None:
    if isinstance(raw, Spread):
        value = raw.median
    elif isinstance(raw, bool) or raw is None:
        return None
    else:
        value = float(raw)
    return value if math.isfinite(value) else None


def _text(m: Metric, value: float | None, spread: Spread | None) -> str:
    if value is None:
        return "n/a"
    if spread is not None and spread.n > 1:
        return f"{m.fmt(value)} [{m.fmt(spread.min)}–{m.fmt(spread.max)}]"
    return m.fmt(value)


def cell_text(cell: Cell) -> str:
    """The value with its spread, then the delta against fp32."""
    return cell.text + (f" ({cell.delta_pct:+.0f}%)" if cell.delta_pct is not None else "")


def failures(result: dict[str, Any]) -> list[str]:
    out = [f"{e['precision']} failed: {e['failed']}" for e in result.get("precisions", []) if "failed" in e]
    for e in result.get("precisions", []):
        note = (e.get("error") or {}).get("note")
        out += [f"{e['precision']}: {n}" for n in [*(e.get("notes") or []), *([note] if note else [])]]
    return out


def header(result: dict[str, Any]) -> str:
    m, mc, cfg = result.get("machine", {}), result.get("model", {}), result.get("config", {})
    where = m.get("gpu") or m.get("cpu", "?")
    return (f"{mc.get('name', '?')} ({mc.get('parameters', 0) / 1e6:,.1f}M parameters) · "
            f"{'quick' if cfg.get('quick') else 'full'} run, seed {cfg.get('seed', 0)}, "
            f"median [min–max] of {cfg.get('repeats', '?')} · {where}, threads: {m.get('threads', '?')}, "
            f"torch {m.get('torch', '?')} · {result.get('status', '?')}")


def markdown(result: dict[str, Any]) -> str:
    precisions = precisions_of(result)
    lines = [header(result), "", "| metric | " + " | ".join(precisions) + " |", "|---|" + "---|" * len(precisions)]
    for row in table(result):
        unit = f" ({row.metric.unit})" if row.metric.unit not in ("", "bytes", "fraction", "ratio") else ""
        lines.append(f"| {row.metric.label}{unit} | " + " | ".join(cell_text(row.cells[p]) for p in precisions) + " |")
    notes = failures(result)
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


CSV_COLUMNS = ("metric", "label", "unit", "precision", "median", "min", "max", "n", "delta_pct_vs_fp32")


def to_csv(result: dict[str, Any]) -> str:
    """Long format, one line per metric and precision: easy to load into a spreadsheet or pandas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table(result):
        for p, cell in row.cells.items():
            s = cell.spread
            writer.writerow([row.metric.key, row.metric.label, row.metric.unit, p, _csv(cell.value),
                             _csv(s.min if s else cell.value), _csv(s.max if s else cell.value), s.n if s else 1,
                             _csv(cell.delta_pct)])
    return out.getvalue()


def _csv(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False, default=str)


def series(result: dict[str, Any], key: str) -> dict[str, list[tuple[int, float]]]:
    """precision -> [(depth, median)] for a per-depth speed key (``prefill_tok_s``, ``decode_tok_s@1``): charts."""
    out: dict[str, list[tuple[int, float]]] = {}
    for e in result.get("precisions", []):
        points = []
        for d in depths_of(result):
            v = _median(_path("speed", str(d), key)(e))
            if v is not None:
                points.append((d, v))
        if points:
            out[e["precision"]] = points
    return out
