"""``ponder models``: the catalog of real models with the planner's verdict for this machine at each precision,
then the model folders on this computer (size on disk, last used); ``--delete`` removes a downloaded one.

The hardware is probed here (the engine's own probe: GPU, free memory, whether bf16 is faster on this CPU);
nothing is downloaded: each verdict comes from the catalog entry's config.
"""

from __future__ import annotations

import argparse
import sys
import datetime as dt
from pathlib import Path

from core.catalog import fit_text, judge, load_catalog
from core.commands import dump_json
from core.hardware import HardwareInfo
from core.hub import format_size
from core.local_models import LocalModel, LocalModelError, delete_local_model, list_local_models
from core.precision import format_bytes


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", type=Path, action="append", default=[],
                   help="also list the model folders in this folder (repeatable)")
    p.add_argument("--context", type=int, help="judge the fit for this context length (default: what a load uses, "
                                               "min(model maximum, 32768))")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--delete", metavar="FOLDER", help="delete this downloaded model folder (a path, or its name "
                                                      "as listed)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    local = list_local_models(args.models_dir)
    if args.delete:
        return _delete(args, local)
    from core.engine.hardware_probe import probe  # torch: only when the command runs

    hw = probe(args.device)
    rows = []
    for entry in load_catalog():
        verdict = judge(entry.config, hw, args.context)
        rows.append((entry, verdict))
    if args.json:
        dump_json({"hardware": hw.to_dict(),
                   "catalog": [{"repo": e.repo_id, "name": e.name, "parameters": e.parameters,
                                "download_bytes": e.download_bytes, "license": e.license,
                                "context_tokens": e.context_tokens, "badge": v.badge, "level": v.level,
                                "chosen": v.chosen, "hint": v.hint, "judged_context_tokens": v.context_tokens,
                                "precisions": [{"precision": f.precision, "fits": f.fits, "needs_bytes": f.needs_bytes,
                                                "runnable": f.runnable} for f in v.fits]}
                               for e, v in rows],
                   "local": [_local_dict(m) for m in local]})
        return 0
    print(_hardware_line(hw))
    print("\nCatalog (pull one with: ponder pull REPO)")
    for entry, verdict in rows:
        print(f"  {entry.repo_id:<44} {entry.parameters / 1e9:5.1f}B  {format_size(entry.download_bytes):>10}  "
              f"ctx {entry.context_tokens:>7,}  {entry.license}")
        print(f"      {verdict.badge}  ·  " + "  ".join(fit_text(f) for f in verdict.fits)
              + (f"\n      {verdict.hint}" if verdict.hint else ""))
    print("\nOn this computer")
    for m in local:
        print(f"  {m.name:<44} {format_size(m.size_bytes):>10}  {m.source:<10}  last used {_when(m.last_used)}"
              f"{'' if m.complete else '  (incomplete: ponder pull continues it)'}\n      {m.path}")
    if not local:
        print("  (none)")
    return 0


def _delete(args: argparse.Namespace, local: list[LocalModel]) -> int:
    target = next((m.path for m in local if args.delete in (m.name, str(m.path))), Path(args.delete))
    try:
        freed = delete_local_model(target, args.models_dir)
    except LocalModelError as exc:
        print(f"ponder models: {exc}", file=sys.stderr)
        return 2
    print(f"Deleted {target} ({format_size(freed)} freed)")
    return 0


def _hardware_line(hw: HardwareInfo) -> str:
    memory = "VRAM" if hw.device == "cuda" else ("unified memory" if hw.device == "mps" else "RAM")
    return (f"This machine: {hw.device_name} ({hw.device}), {format_bytes(hw.free_memory_bytes)} of "
            f"{format_bytes(hw.total_memory_bytes)} {memory} free")


def _when(stamp: float | None) -> str:
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else "never"


def _local_dict(m: LocalModel) -> dict:
    return {"name": m.name, "path": str(m.path), "source": m.source, "size_bytes": m.size_bytes,
            "last_used": m.last_used, "architecture": m.architecture, "complete": m.complete,
            "deletable": m.deletable}
