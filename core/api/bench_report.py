"""A benchmark result as a table "metric x precision": the fp32 column is the baseline, others show deltas in %.

One definition of the rows (``core.api.bench_metrics``) serves the command line (Markdown text with its legend,
CSV, JSON), the panel's table and its exports, so what the user sees in the GUI and in a terminal is the same.
No torch here.

Each timed figure is "median [min–max]" of its runs; deltas compare medians with fp32's. A difference is judged
here, once, for every view (``Cell.verdict``: "better", "worse" or None):
- a timed figure whose range overlaps fp32's is "within noise", and so is a share of questions whose difference
  is under two standard errors (eight questions cannot tell 50% from 62%);
- a quality figure (perplexity, retention, task accuracy) can only be worse than fp32, its own reference: a
  precision that scores higher got lucky, it did not gain;
- differences under ``NOISE_PCT`` are not judged.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from core.api.bench_metrics import (INFO, QUALITY, SPEED, Metric, batch_sizes_of, depths_of, machine_peak_bandwidth,
                                    metrics, path)
from core.api.bench_spec import BASELINE, Spread

__all__ = ["BASELINE", "CSV_COLUMNS", "Cell", "Metric", "Row", "batch_sizes_of", "cell_text", "depths_of",
           "failures", "header", "legend", "machine_peak_bandwidth", "markdown", "metrics", "precisions_of", "series",
           "series_spread", "table", "to_csv", "to_json"]

NOISE_PCT = 2.0  # smaller differences are never judged (timer resolution, rounding)
BUSY_LOAD = 0.25  # other programs above this share of the CPU make a run's timings noisy: the report says so


@dataclass(frozen=True, slots=True)
class Cell:
    value: float | None  # the median (or the single value); None = not measured
    spread: Spread | None
    text: str
    delta_pct: float | None  # against fp32's median; None for fp32 itself and rows without deltas
    within_noise: bool = False  # the difference from fp32 is not larger than the runs' own spread
    verdict: str | None = None  # "better" | "worse" than fp32, beyond noise; None: not judged


@dataclass(frozen=True, slots=True)
class Row:
    metric: Metric
    cells: dict[str, Cell]  # precision -> cell


def precisions_of(result: dict[str, Any]) -> list[str]:
    return [e["precision"] for e in result.get("precisions", [])]


def table(result: dict[str, Any]) -> list[Row]:
    entries = {e["precision"]: e for e in result.get("precisions", [])}
    base = entries.get(BASELINE)
    base = base if base and "failed" not in base else None
    rows = []
    for m in metrics(result):
        base_raw = m.get(base) if base else None
        base_value = _median(base_raw)
        base_counts = m.counts(base) if base and m.counts else None
        cells = {}
        for p, entry in entries.items():
            if "failed" in entry:
                cells[p] = Cell(None, None, "failed", None)
                continue
            raw = m.get(entry)
            value = _median(raw)
            spread = raw if isinstance(raw, Spread) else None
            counts = m.counts(entry) if m.counts else None
            delta = None
            if m.delta and p != BASELINE and value is not None and base_value:
                delta = 100 * (value - base_value) / base_value
            within, verdict = (False, None) if p == BASELINE else judge(
                m, value, base_value, spread, base_raw if isinstance(base_raw, Spread) else None, counts, base_counts)
            cells[p] = Cell(value, spread, _text(m, value, spread, counts), delta, within, verdict)
        rows.append(Row(m, cells))
    return rows


def judge(m: Metric, value: float | None, base: float | None, spread: Spread | None, base_spread: Spread | None,
          counts: tuple[int, int] | None, base_counts: tuple[int, int] | None) -> tuple[bool, str | None]:
    """(within noise, verdict) of ``value`` against fp32's ``base``; see the module docstring."""
    if value is None or base is None or not m.better or m.kind == INFO or value == base:
        return False, None
    if counts and base_counts:
        within = _shares_close(counts, base_counts)
    elif m.kind == SPEED and spread and base_spread and spread.n > 1 and base_spread.n > 1:
        within = spread.overlaps(base_spread)
    else:
        within = False
    small = base != 0 and abs(value - base) / abs(base) * 100 < NOISE_PCT
    if within or (small and not counts):
        return within, None
    improved = value < base if m.better == "lower" else value > base
    if improved and m.kind == QUALITY:
        return within, None
    return within, "better" if improved else "worse"


def _shares_close(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two shares of right answers differ by less than two standard errors (pooled): noise of the sample."""
    (ka, na), (kb, nb) = a, b
    pooled = (ka + kb) / (na + nb)
    error = math.sqrt(max(pooled * (1 - pooled), 1 / (na + nb)) * (1 / na + 1 / nb))
    return abs(ka / na - kb / nb) < 2 * error


def _median(raw: Spread | float | None) -> float | None:
    if isinstance(raw, Spread):
        value = raw.median
    elif isinstance(raw, bool) or raw is None:
        return None
    else:
        value = float(raw)
    return value if math.isfinite(value) else None


def _text(m: Metric, value: float | None, spread: Spread | None, counts: tuple[int, int] | None = None) -> str:
    if value is None:
        return "n/a"
    if counts is not None:
        return f"{m.fmt(value)} ({counts[0]} of {counts[1]})"
    if spread is not None and spread.n > 1:
        return f"{m.fmt(value)} [{m.fmt(spread.min)}–{m.fmt(spread.max)}]"
    return m.fmt(value)


def cell_text(cell: Cell) -> str:
    """The value with its spread, then the delta against fp32 and whether it is within noise."""
    notes = [f"{cell.delta_pct:+.0f}%"] if cell.delta_pct is not None else []
    if cell.within_noise:
        notes.append("within noise")
    return cell.text + (f" ({', '.join(notes)})" if notes else "")


def failures(result: dict[str, Any]) -> list[str]:
    """Everything that qualifies the numbers: failed precisions, their notes, a busy machine, a baseline that
    measured nothing."""
    entries = result.get("precisions", [])
    out = [str(n) for n in result.get("notes") or []]
    out += [f"{e['precision']} failed: {e['failed']}" for e in entries if "failed" in e]
    for e in entries:
        note = (e.get("error") or {}).get("note")
        out += [f"{e['precision']}: {n}" for n in [*(e.get("notes") or []), *([note] if note else [])]]
    busy = {e["precision"]: e["other_load"] for e in entries
            if isinstance(e.get("other_load"), (int, float)) and e["other_load"] > BUSY_LOAD}
    if busy:
        low, high = min(busy.values()), max(busy.values())
        share = f"{low:.0%}" if round(low * 100) == round(high * 100) else f"{low:.0%}–{high:.0%}"
        which = "every precision" if len(busy) == len(entries) else ", ".join(busy)
        out.append(f"other programs kept the CPU {share} busy while {which} was measured: timings move more than "
                   "usual (see their ranges)")
    base = next((e for e in entries if e.get("precision") == BASELINE and "failed" not in e), None)
    if base is not None and (base.get("retention") or {}).get("total") and not base["retention"].get("found"):
        out.append("fp32 found none of the retention facts: that row says nothing about the other precisions")
    return out


def header(result: dict[str, Any]) -> str:
    m, mc, cfg = result.get("machine", {}), result.get("model", {}), result.get("config", {})
    where = m.get("gpu") or m.get("cpu", "?")
    low, high = cfg.get("repeats", "?"), cfg.get("max_repeats", cfg.get("repeats", "?"))
    runs = f"{low}" if low == high else f"{low}–{high}"
    return (f"{mc.get('name', '?')} ({mc.get('parameters', 0) / 1e6:,.1f}M parameters) · "
            f"{'quick' if cfg.get('quick') else 'full'} run, seed {cfg.get('seed', 0)}, "
            f"median [min–max] of {runs} runs · {where}, threads: {m.get('threads', '?')}, "
            f"torch {m.get('torch', '?')} · {result.get('status', '?')}"
            + (f" in {result['seconds']:.0f} s" if isinstance(result.get("seconds"), (int, float)) else ""))


def legend(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(row label, what it measures) for every row, then how to read a cell."""
    rows = [(m.label, m.help) for m in metrics(result) if m.help]
    return [*rows, ("a cell", "median [fastest–slowest] of the runs, then the change from fp32's median; "
                              "\"within noise\": the ranges overlap (or, for a share of questions, the difference is "
                              "under two standard errors), so the difference is not a difference"),
            ("colours (panel)", "green better, red worse than fp32, only beyond noise; quality rows are never green: "
                                "fp32 is their reference")]


def markdown(result: dict[str, Any]) -> str:
    precisions = precisions_of(result)
    lines = [header(result), "", "| metric | " + " | ".join(precisions) + " |", "|---|" + "---|" * len(precisions)]
    for row in table(result):
        unit = f" ({row.metric.unit})" if row.metric.unit not in ("", "bytes", "fraction", "ratio") else ""
        lines.append(f"| {row.metric.label}{unit} | " + " | ".join(cell_text(row.cells[p]) for p in precisions) + " |")
    notes = failures(result)
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    lines += ["", "Legend:", *[f"- {label}: {text}" for label, text in legend(result)]]
    if result.get("description"):
        lines += ["", str(result["description"])]
    return "\n".join(lines)


CSV_COLUMNS = ("metric", "label", "unit", "precision", "median", "min", "max", "n", "delta_pct_vs_fp32",
               "within_noise")


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
                             _csv(cell.delta_pct), int(cell.within_noise)])
    return out.getvalue()


def _csv(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False, default=str)


def series(result: dict[str, Any], key: str) -> dict[str, list[tuple[int, float]]]:
    """precision -> [(depth, median)] for a per-depth speed key (``prefill_tok_s``, ``decode_tok_s@1``): charts."""
    return {p: [(d, s.median) for d, s in points] for p, points in series_spread(result, key).items()}


def series_spread(result: dict[str, Any], key: str) -> dict[str, list[tuple[int, Spread]]]:
    """precision -> [(depth, Spread)]: the charts draw each point's range, so a crossing within noise shows."""
    out: dict[str, list[tuple[int, Spread]]] = {}
    for e in result.get("precisions", []):
        points = []
        for d in depths_of(result):
            s = path("speed", str(d), key)(e)
            if isinstance(s, Spread) and math.isfinite(s.median):
                points.append((d, s))
        if points:
            out[e["precision"]] = points
    return out
