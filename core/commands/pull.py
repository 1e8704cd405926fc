"""``ponder pull REPO[@revision]``: download a model from the Hugging Face hub into Ponder's models folder.

Progress (bytes, speed, time left) goes to stderr, one line rewritten in place on a terminal, a line every few
seconds otherwise; the folder is printed on stdout at the end (``--json``: one object). Every failure (a bad
repository id, offline, gated, not enough disk space ...) is one line on stderr and exit status 2. Interrupted
(Ctrl+C), the partial file stays: the same command continues it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from core.commands import dump_json
from core.hub import DownloadProgress, HubError, download_model, format_size

LOG_INTERVAL_S = 5.0  # without a terminal: a progress line this often


def add_pull_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("repo", help="owner/name or owner/name@revision on huggingface.co "
                                "(e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B)")
    p.add_argument("--dir", type=Path, help="the model folder to download into "
                                            "(default: ~/.cache/ponder/models/<owner>--<name>)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")


def run(args: argparse.Namespace) -> int:
    last: DownloadProgress | None = None
    shown = 0.0
    live = sys.stderr.isatty()
    try:
        for progress in download_model(args.repo, args.dir, token=os.environ.get("HF_TOKEN") or None):
            last = progress
            now = time.monotonic()
            if progress.path is None and (live or now - shown >= LOG_INTERVAL_S or progress.note):
                shown = now
                line = progress.text()
                print(f"\r{line[:160]:<160}" if live else line, end="" if live else "\n", file=sys.stderr, flush=True)
    except HubError as exc:
        if live and last is not None:
            print(file=sys.stderr)
        _fail(args, exc)
        return 2
    except KeyboardInterrupt:
        print("\nponder pull: stopped; run the same command again to continue where it stopped", file=sys.stderr)
        return 130
    if live:
        print(file=sys.stderr)
    assert last is not None and last.path is not None
    if args.json:
        dump_json({"repo": last.repo_id, "path": str(last.path), "bytes": last.bytes_total})
    else:
        print(f"Downloaded {last.repo_id} ({format_size(last.bytes_total)}) to {last.path}", file=sys.stderr)
        print(f"Try it: ponder plan --model {last.path}", file=sys.stderr)
        print(last.path)
    return 0


def _fail(args: argparse.Namespace, exc: HubError) -> None:
    if getattr(args, "json", False):
        dump_json({"error": {"type": exc.kind, "message": exc.message, "next_step": exc.next_step}})
    else:
        print(f"ponder pull: {exc.one_line()}", file=sys.stderr)
