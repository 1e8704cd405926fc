"""``ponder bench`` and ``python -m core.bench``: what each precision costs and loses on this machine, as a
table, JSON or CSV.

One harness: the panel's suite (``core.bench.suite``), run here without a server. ``ponder bench`` measures
the bundled model by default; ``python -m core.bench`` a random-weight checkpoint with DeepSeek-R1-Distill-
Qwen-1.5B's exact config (speed depends on shape, not weights), side by side with HF transformers. Progress
goes to stderr, the result to stdout, so ``ponder bench --json > run.json`` works. The arguments are light
(the ``ponder`` parser builds them); the suite, which imports torch, is imported when a run starts.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.api import bench_report as report
from core.api.bench_spec import SuiteConfig
from core.paths import default_model_dir

if TYPE_CHECKING:
    from core.bench.suite import SuiteProgress


def add_bench_arguments(p: argparse.ArgumentParser, model_default: str = "the bundled model") -> None:
    p.add_argument("--model", type=str, help=f"model folder (default: {model_default})")
    p.add_argument("--quick", action="store_true",
                   help="under two minutes for the bundled model: two short depths, repeats until the runs agree "
                        "(at most 2 s each), a short error text, 8 held-out questions")
    p.add_argument("--precisions", help="comma-separated subset, e.g. fp32,bf16,int8 (default: all this machine runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--hf", action=argparse.BooleanOptionalAction, default=False,
                   help="also time HF transformers at fp32/bf16/fp16 on the same prompts (needs transformers)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the full result as JSON")
    out.add_argument("--csv", action="store_true", help="print the table as CSV (one line per metric and precision)")


def config_from_args(args: argparse.Namespace) -> SuiteConfig:
    model = args.model or default_model_dir()
    if model is None:
        raise ValueError("no --model given and the bundled model is not installed")
    precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip()) if args.precisions else None
    return SuiteConfig.make(model, quick=args.quick, precisions=precisions, seed=args.seed, threads=args.threads,
                            device=args.device, hf_reference=args.hf)


def run(args: argparse.Namespace) -> int:
    return run_config(config_from_args(args), args)


def run_config(cfg: SuiteConfig, args: argparse.Namespace) -> int:
    from core.bench.suite import run_suite

    result = run_suite(cfg, _print_progress)
    print(file=sys.stderr)
    if args.json:
        print(report.to_json(result))
    elif args.csv:
        sys.stdout.write(report.to_csv(result))
    else:
        print(report.markdown(result))
    return 0 if result["status"] == "done" else 1


def _print_progress(p: SuiteProgress) -> None:
    eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    where = f"{p.precision} ({p.index + 1}/{p.count}): " if p.precision else ""
    print(f"\r{p.fraction:6.1%}  {where}{p.stage}{eta}".ljust(78), end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m core.bench``: the same harness on DeepSeek-R1-Distill-Qwen-1.5B's shape, full mode, with HF
    transformers beside it; retention is left out (random weights remember nothing)."""
    parser = argparse.ArgumentParser(prog="python -m core.bench", description=__doc__.split("\n\n")[0])
    add_bench_arguments(parser, "a random-weight checkpoint with DeepSeek-R1-Distill-Qwen-1.5B's config, built once")
    parser.set_defaults(hf=True)
    parser.add_argument("--llama-bench", type=Path, metavar="PATH",
                        help="instead of the suite: Ponder beside this llama-bench binary on the same weights "
                             "converted to GGUF, interleaved, ratios per round (core.bench.llama_cpp)")
    parser.add_argument("--llama-convert", type=Path, metavar="PATH",
                        help="llama.cpp's convert_hf_to_gguf.py (default: found above the llama-bench binary)")
    parser.add_argument("--rounds", type=int, default=3, help="with --llama-bench: rounds (default 3)")
    parser.add_argument("--prefill-tokens", type=int, default=512, help="with --llama-bench: prompt length of the "
                        "prefill measurement (default 512)")
    parser.add_argument("--depth", type=int, default=128, help="with --llama-bench: tokens in the cache before the "
                        "decode measurement (default 128)")
    args = parser.parse_args(argv)
    if args.llama_bench is not None:
        from core.bench.llama_cpp import compare

        precisions = [p.strip() for p in (args.precisions or "bf16,fp16,int8,int4").split(",") if p.strip()]
        return compare(args.llama_bench, precisions, args.rounds, args.threads, args.llama_convert,
                       args.prefill_tokens, args.depth)
    if args.model is not None:
        return run(args)
    from core.bench.random_checkpoint import benchmark_checkpoint

    args.model = str(benchmark_checkpoint())
    return run_config(replace(config_from_args(args), retention_positions=()), args)
