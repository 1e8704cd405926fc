"""The ``ponder`` command line: generate, plan, serve, doc, bench.

Argument parsing lives here and only here; each subcommand builds its config once and hands it on.
Heavy imports (torch) happen inside the subcommands, so ``ponder --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.models.config import ModelConfigError
from core.server.settings import add_serve_arguments

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16", "int8", "int4")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ponder", description="Reason over long documents with local models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser("generate", help="answer one prompt, streaming the reasoning and the answer")
    _model_args(gen)
    src = gen.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message")
    src.add_argument("--prompt-file", type=Path, help="read the user message from a UTF-8 file")
    gen.add_argument("--system", help="an optional system message")
    gen.add_argument("--raw", action="store_true", help="feed the prompt as is, without the chat template")
    gen.add_argument("--max-tokens", type=int, default=1024)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--repetition-penalty", type=float, default=1.0,
                     help="> 1 discourages any token already in the prompt or output (1 = off, default)")
    gen.add_argument("--frequency-penalty", type=float, default=0.0, help="-2 .. 2, per earlier use in the output")
    gen.add_argument("--presence-penalty", type=float, default=0.0, help="-2 .. 2, once a token is in the output")
    gen.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    gen.add_argument("--compile", action="store_true", help="torch.compile the model (needs a compiler)")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")

    pl = sub.add_parser("plan", help="show the memory estimate of every precision and the choice")
    _model_args(pl)
    pl.add_argument("--json", action="store_true")

    srv = sub.add_parser("serve", help="run the engine's OpenAI-compatible API on 127.0.0.1 in the foreground")
    add_serve_arguments(srv)

    from core.commands.doc import add_doc_arguments  # light (no torch); here, as core.commands.doc imports this module

    add_doc_arguments(sub.add_parser("doc", help="show a document's text, token counts and how it fits a context"))

    from core.commands.bench import add_bench_arguments  # light (no torch)

    add_bench_arguments(sub.add_parser("bench", help="measure what each precision costs and loses on this machine"))
    return parser


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="model folder (Hugging Face layout, safetensors)")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto")
    p.add_argument("--context", type=int, help="context length in tokens (default: min(model max, 32768))")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    import importlib

    command = importlib.import_module(f"core.commands.{args.command}")  # imports torch: only now
    try:
        return command.run(args)
    except (ModelConfigError, ValueError, OSError) as exc:
        _fail(args, exc)
        return 2
    except KeyboardInterrupt:
        return 130


def _fail(args: argparse.Namespace, exc: BaseException) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
    else:
        print(f"ponder {args.command}: {exc}", file=sys.stderr)


def dump_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))
