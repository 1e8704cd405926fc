"""The rows of a benchmark table: what each one measures (its legend), how it is read from a result, how shown.

Every row has a ``kind``, which decides how a difference from fp32 is judged (``core.api.bench_report``):
- ``speed``: timed, so it moves from run to run: a difference is only a difference outside the runs' spread;
- ``memory``: exact for a given precision: every difference is real;
- ``quality``: what the precision loses against fp32, its own reference: it can be worse, never "better"
  (a lower perplexity or one more question right at int4 is luck, not a gain);
- ``info``: shown, not judged.
No torch here: the GUI and the CLI both read these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.api.bench_spec import Spread

GiB, MiB = 2**30, 2**20
SPEED, MEMORY, QUALITY, INFO = "speed", "memory", "quality", "info"


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # stable id (CSV)
    label: str
    unit: str
    get: Callable[[dict[str, Any]], Spread | float | None]
    fmt: Callable[[float], str]
    better: str = ""  # "lower" | "higher" | "" (no judgement)
    delta: bool = True  # show % change against fp32
    kind: str = INFO  # speed | memory | quality | info: how a difference from fp32 is judged
    help: str = ""  # the legend: what the row measures, in a sentence
    counts: Callable[[dict[str, Any]], tuple[int, int] | None] | None = None  # (right, asked): a proportion's noise


def _num(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


def _bytes(v: float) -> str:
    return f"{v / GiB:.2f} GiB" if v >= GiB else f"{v / MiB:.1f} MiB"


def _small(v: float) -> str:
    return "0" if v == 0 else (f"{v:.2e}" if abs(v) < 1e-3 else f"{v:.4f}")


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _signed_pct(v: float) -> str:
    return f"{100 * v:+.2f}%"


def _times(v: float) -> str:
    return f"{v:.2f}x"


def path(*keys: str) -> Callable[[dict[str, Any]], Any]:
    """A getter for ``entry[k1][k2]...``; a {median, min, max} dict comes back as a ``Spread``."""
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


def _counts(section: str, right: str, asked: str) -> Callable[[dict[str, Any]], tuple[int, int] | None]:
    def get(entry: dict[str, Any]) -> tuple[int, int] | None:
        data = entry.get(section) or {}
        n, k = data.get(asked), data.get(right)
        return (int(k), int(n)) if isinstance(n, int) and n > 0 and isinstance(k, (int, float)) else None

    return get


def _tasks_right(entry: dict[str, Any]) -> tuple[int, int] | None:
    data = entry.get("tasks") or {}
    n, accuracy = data.get("n"), data.get("accuracy")
    return (round(accuracy * n), int(n)) if isinstance(n, int) and n > 0 and isinstance(accuracy, float) else None


def depths_of(result: dict[str, Any]) -> list[int]:
    for entry in result.get("precisions", []):
        if entry.get("depths"):
            return [int(d) for d in entry["depths"]]
    return []


def batch_sizes_of(result: dict[str, Any]) -> list[int]:
    return [int(b) for b in result.get("config", {}).get("batch_sizes", [1])]


def error_text_of(result: dict[str, Any]) -> str:
    """What the next-token error was measured on ("the model's held-out documents", ...)."""
    for entry in result.get("precisions", []):
        text = (entry.get("error") or {}).get("text")
        if text:
            return str(text)
    return "a fixed text"


def machine_peak_bandwidth(result: dict[str, Any]) -> float | None:
    """The best copy bandwidth measured in the run (each precision's child measures it; other processes on the
    machine pull single measurements down, so the best one is the closest to the hardware's peak)."""
    best = [path("bandwidth", "peak_bytes_s")(e) for e in result.get("precisions", [])]
    values = [s.max for s in best if isinstance(s, Spread)]
    return max(values) if values else None


def _fraction_of_peak(depth: int, peak: float | None) -> Callable[[dict[str, Any]], float | None]:
    def get(entry: dict[str, Any]) -> float | None:
        achieved = path("bandwidth", "per_depth", str(depth), "achieved_bytes_s", "median")(entry)
        return achieved / peak if peak and isinstance(achieved, (int, float)) else None

    return get


def _scaled(value: Spread | float | None, factor: float) -> Spread | float | None:
    if isinstance(value, Spread):
        return Spread(value.median * factor, value.min * factor, value.max * factor, value.n)
    return None if value is None else value * factor


def metrics(result: dict[str, Any]) -> list[Metric]:
    """The rows for this result (its depths, batch sizes and what it measured), each with its legend."""
    cuda = result.get("machine", {}).get("device") == "cuda"
    peak = machine_peak_bandwidth(result)
    rows = [Metric("load_s", "load time", "s", path("load_s"), _num(2), "lower", kind=SPEED,
                   help="seconds from the weights on disk to a model ready to answer, in this precision"),
            Metric("weights_bytes", "weights memory", "bytes", path("weights_bytes"), _bytes, "lower", kind=MEMORY,
                   help="bytes the loaded weights take"),
            Metric("peak_rss_bytes", "peak RSS", "bytes", path("peak_rss_bytes"), _bytes, "lower", kind=MEMORY,
                   help="the most memory the measuring process held (weights, KV cache, workspace, Python itself)")]
    if cuda:
        rows.append(Metric("peak_vram_bytes", "peak VRAM", "bytes", path("peak_vram_bytes"), _bytes, "lower",
                           kind=MEMORY, help="the most GPU memory allocated"))
    depths = depths_of(result)
    hf = any("hf_decode_tok_s@1" in (e.get("speed") or {}).get(str(d), {}) for e in result.get("precisions", [])
             for d in depths)
    for d in depths:
        s = str(d)
        rows += [Metric(f"ttft_s@{d}", f"TTFT @{d}", "s", path("speed", s, "ttft_s"), _num(3), "lower", kind=SPEED,
                        help=f"time to first token for a fresh {d:,}-token prompt: reading it (prefill) and the "
                             "first step"),
                 Metric(f"prefill_tok_s@{d}", f"prefill @{d}", "tok/s", path("speed", s, "prefill_tok_s"), _num(1),
                        "higher", kind=SPEED, help=f"prompt tokens read per second for a {d:,}-token prompt")]
        for b in batch_sizes_of(result):
            rows.append(Metric(f"decode_tok_s@{d}x{b}", f"decode @{d}, batch {b}", "tok/s",
                               path("speed", s, f"decode_tok_s@{b}"), _num(2), "higher", kind=SPEED,
                               help=f"tokens generated per second after a {d:,}-token prompt, {b} request"
                                    f"{'s' if b > 1 else ''} at once (all of them counted)"))
        rows.append(Metric(f"bandwidth_fraction@{d}", f"decode bandwidth @{d} / machine peak", "fraction",
                           _fraction_of_peak(d, peak), _pct, "higher", kind=SPEED,
                           help="bytes one decode step reads (weights and KV cache) times steps per second, over "
                                "the best copy bandwidth measured: how close decoding comes to the memory bus"))
        if d == depths[0]:
            rows.append(Metric(f"decode_vs_ceiling@{d}", f"decode @{d} / its weight matmuls alone", "fraction",
                               path("speed", s, "decode_vs_ceiling"), _pct, "higher", delta=False,
                               help="decode speed over the speed of the same step's weight matmuls run alone: what "
                                    "attention, norms, sampling and Python cost on top"))
        if hf:
            rows += [Metric(f"hf_prefill_tok_s@{d}", f"HF transformers prefill @{d}", "tok/s",
                            path("speed", s, "hf_prefill_tok_s"), _num(1), "higher", kind=SPEED,
                            help="the same prefill in Hugging Face transformers, paired with each run"),
                     Metric(f"hf_decode_tok_s@{d}", f"HF transformers decode @{d}, batch 1", "tok/s",
                            path("speed", s, "hf_decode_tok_s@1"), _num(2), "higher", kind=SPEED,
                            help="the same decode in Hugging Face transformers, paired with each run"),
                     Metric(f"decode_vs_hf@{d}", f"decode @{d} / HF transformers", "ratio",
                            path("speed", s, "decode_vs_hf"), _times, "higher", delta=False,
                            help="Ponder's decode speed over transformers', pair by pair")]
    text = error_text_of(result)
    rows += [Metric("peak_bandwidth", "copy bandwidth measured (GB/s)", "",
                    lambda r: _scaled(path("bandwidth", "peak_bytes_s")(r), 1e-9), _num(1), "", delta=False,
                    help="this machine's memory bandwidth (a large buffer copied), measured beside each precision"),
             Metric("mean_kl", "mean KL vs fp32", "nats", path("error", "mean_kl"), _small, "lower", delta=False,
                    help=f"how far the next-token distribution moves from fp32's, averaged over {text} (0 = same)"),
             Metric("top1_agreement", "top-1 agreement vs fp32", "fraction", path("error", "top1_agreement"), _pct,
                    "higher", delta=False, help=f"positions of {text} where the most likely next token is fp32's"),
             Metric("perplexity", f"perplexity ({'held-out documents' if 'held-out' in text else 'fixed text'})", "",
                    path("error", "perplexity"), _num(2), "lower", kind=QUALITY,
                    help=f"how surprised the model is by each next token of {text} (lower = better; only text the "
                         "model can model says anything)"),
             Metric("perplexity_change", "perplexity change vs fp32", "fraction", path("error", "perplexity_change"),
                    _signed_pct, "lower", delta=False, help="the perplexity's change from fp32's, in percent"),
             Metric("retention", "retention (known fact found)", "fraction", path("retention", "rate"), _pct,
                    "higher", delta=False, kind=QUALITY, counts=_counts("retention", "found", "total"),
                    help="questions with a known answer, asked with their document placed early, midway and late in "
                         "a longer one: the share answered right")]
    if any("tasks" in e for e in result.get("precisions", [])):
        rows.append(Metric("task_accuracy", "task accuracy (held-out)", "fraction", path("tasks", "accuracy"), _pct,
                           "higher", delta=False, kind=QUALITY, counts=_tasks_right,
                           help="the model's own held-out questions (never trained on), answered and graded like "
                                "its evaluation"))
    return rows
