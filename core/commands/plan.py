"""``ponder plan``: every precision's memory estimate for this machine, and the choice with reasons."""

from __future__ import annotations

import argparse

from core.commands import dump_json
from core.engine.launch import LaunchOptions, make_plan
from core.precision import PrecisionPlan, format_bytes


def run(args: argparse.Namespace) -> int:
    options = LaunchOptions(args.model, args.precision, args.context, args.device, args.threads)
    the_plan, hw = make_plan(options)
    if args.json:
        dump_json({"plan": the_plan.to_dict(), "hardware": hw.to_dict()})
    else:
        print(describe_plan(the_plan, hw_line=f"{hw.device_name} · {format_bytes(hw.free_memory_bytes)} free"))
    return 0


def describe_plan(the_plan: PrecisionPlan, hw_line: str = "") -> str:
    lines = [f"Plan: {the_plan.summary()}" + (f"  ({hw_line})" if hw_line else "")]
    lines += [f"  - {r}" for r in the_plan.reasons]
    lines.append(f"  context {the_plan.context_tokens:,} tokens; compute and KV cache in {the_plan.compute_dtype}")
    lines.append("  precision  weights    KV cache   workspace  total")
    for c in the_plan.candidates:
        e = c.estimate
        lines.append(f"  {c.precision:<9}  {format_bytes(e.weights_bytes):>9}  {format_bytes(e.kv_cache_bytes):>9}  "
                     f"{format_bytes(e.workspace_bytes):>9}  {format_bytes(e.total_bytes):>9}  {c.reason}")
    return "\n".join(lines)
