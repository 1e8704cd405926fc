"""The ``ponder`` command: the window, the engine, or one of the command-line tools.

    ponder [FILE...]              the window (with these documents in a chat); the engine starts behind it
    ponder --self-test [...]      the window answers one question and closes (the installer's smoke test)
    ponder engine [...]           the engine server in this process (``python -m core.server``)
    ponder generate|plan|serve|doc|bench [...]

The window is a program of its own (``python -m app``, which never imports torch): this process turns
into it (``exec``) rather than importing it, so nothing here reaches Qt and the window reaches nothing
here. The argument parsers are light; a subcommand's module, which may import torch, is imported only
when that subcommand runs, so ``ponder --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from core.bench.cli import add_bench_arguments
from core.commands.doc import add_doc_arguments
from core.commands.models import add_models_arguments
from core.commands.pull import add_pull_arguments
from core.model_config import ModelConfigError
from core.precision import PRECISION_CHOICES
from core.server.settings import add_serve_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ponder", description="Reason over long documents with local models. "
                                     "Without a command (or with document files) the window opens.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser("generate", help="answer one prompt, streaming the reasoning and the answer")
    _model_args(gen)
    src = gen.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message")
    src.add_argument("--prompt-file", type=Path, help="read the user message from a UTF-8 file")
    gen.add_argument("--system", help="an optional system message")
    gen.add_argument("--raw", action="store_true", help="feed the prompt as is, without the chat template")
    gen.add_argument("--max-tokens", type=int,
                     help="the longest answer (default: the model folder's max_new_tokens, else 8192)")
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--repetition-penalty", type=float, default=1.0,
                     help="> 1 discourages any token already in the prompt or output (1 = off, default)")
    gen.add_argument("--frequency-penalty", type=float, default=0.0, help="-2 .. 2, per earlier use in the output")
    gen.add_argument("--presence-penalty", type=float, default=0.0, help="-2 .. 2, once a token is in the output")
    gen.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    gen.add_argument("--grounded-quotes", action=argparse.BooleanOptionalAction, default=None,
                     help="quotations of the prompt quote only what it says (default: on when the model folder "
                          "names its quote opener, as the bundled model does)")
    gen.add_argument("--quote-opener", help='what opens a quotation (default: the model\'s, else \'The document '
                                            'says: "\')')
    gen.add_argument("--no-repetition-guard", action="store_true",
                     help="keep generating when the output repeats itself word for word")
    gen.add_argument("--compile", action="store_true", help="torch.compile the model (needs a compiler)")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")

    pl = sub.add_parser("plan", help="show the memory estimate of every precision and the choice")
    _model_args(pl)
    pl.add_argument("--json", action="store_true")

    add_serve_arguments(sub.add_parser("serve", help="run the engine's OpenAI-compatible API on 127.0.0.1 in the "
                                                     "foreground"))
    add_doc_arguments(sub.add_parser("doc", help="show a document's text, token counts and how it fits a context"))
    add_bench_arguments(sub.add_parser("bench", help="measure what each precision costs and loses on this machine"))
    add_models_arguments(sub.add_parser("models", help="real models that fit this machine, and the ones on it"))
    add_pull_arguments(sub.add_parser("pull", help="download a model from the Hugging Face hub (resumable)"))
    return parser


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="model folder (Hugging Face layout, safetensors)")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto")
    p.add_argument("--context", type=int, help="context length in tokens (default: min(model max, 32768))")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] == "--self-test" or all(Path(a).is_file() for a in args):
        return run_window(args)
    if args[0] == "engine":
        from core.server.__main__ import main as engine_main

        return engine_main(args[1:], prog="ponder engine")
    parser = build_parser()
    parsed = parser.parse_args(args)
    try:
        return _command(parsed.command).run(parsed)
    except (ModelConfigError, ValueError, OSError) as exc:
        _fail(parsed, exc)
        return 2
    except KeyboardInterrupt:
        return 130


def run_window(args: list[str]) -> int:
    """Become the window program: ``exec`` where the system has it (same process id, signals and exit
    status go straight to the window), else run it and pass its exit status on."""
    argv = [sys.executable, "-m", "app", *args]
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)
    return subprocess.call(argv)


def _command(name: str) -> ModuleType:
    """The subcommand's module (imported now: it may import torch)."""
    if name == "generate":
        from core.commands import generate as module
    elif name == "plan":
        from core.commands import plan as module
    elif name == "serve":
        from core.commands import serve as module
    elif name == "doc":
        from core.commands import doc as module
    elif name == "models":
        from core.commands import models as module
    elif name == "pull":
        from core.commands import pull as module
    else:
        from core.bench import cli as module
    return module


def _fail(args: argparse.Namespace, exc: BaseException) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
    else:
        print(f"ponder {args.command}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
