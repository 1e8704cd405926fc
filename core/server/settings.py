"""The server's launch options: one dataclass, and the arguments that fill it.

``python -m core.server`` and ``ponder serve`` share ``add_serve_arguments`` so both accept the same
flags. No torch here (``ponder --help`` stays instant). The token is deliberately not an argument:
command lines are visible to every user of the machine (``ps``), so it comes from the environment
(``PONDER_API_TOKEN``) or stdin (``--token-stdin``), or is generated.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from core.hardware import default_cache_dir
from core.precision import PRECISIONS

TOKEN_ENV = "PONDER_API_TOKEN"
BUNDLED_MODEL = "ponder-reasoner-mini"
PRECISION_CHOICES = ("auto", *PRECISIONS)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    model_dir: Path
    precision: str = "auto"
    context_tokens: int | None = None
    port: int = 0  # 0 = a free port, announced in the handshake
    device: str = "auto"
    threads: int | None = None
    max_sequences: int = 4
    max_waiting: int = 64
    log_file: Path | None = None
    max_body_mib: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, got {self.port}")
        if self.max_sequences < 1 or self.max_waiting < 1:  # a request always queues before it runs
            raise ValueError(f"--max-sequences and --max-waiting must be at least 1 "
                             f"(got {self.max_sequences}, {self.max_waiting})")
        if self.context_tokens is not None and self.context_tokens < 2:
            raise ValueError(f"--context must be at least 2 tokens, got {self.context_tokens}")


def resources_dir() -> Path:
    """``resources/`` of a source checkout, or of a frozen (PyInstaller) bundle."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) / "resources" if frozen else Path(__file__).resolve().parents[2] / "resources"


DEFAULT_MODEL_FILE = "default-model.txt"  # in resources/models/ of a bundle built with another model (--model)


def default_model_dir() -> Path | None:
    """The model a start without ``--model`` loads: the one ``resources/models/default-model.txt`` names (a
    bundle built with ``build.py --model``), else the bundled ``ponder-reasoner-mini``; None if not installed."""
    models = resources_dir() / "models"
    names = [BUNDLED_MODEL]
    marker = models / DEFAULT_MODEL_FILE
    if marker.is_file():
        named = marker.read_text(encoding="utf-8").strip()
        if named and Path(named).name == named:  # a folder name inside models/, never a path out of it
            names.insert(0, named)
    for name in names:
        if (models / name / "config.json").is_file():
            return models / name
    return None


def default_log_file() -> Path:
    return default_cache_dir() / "logs" / "engine.log"


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help=f"model folder (Hugging Face layout, safetensors); default: the "
                                               f"bundled {BUNDLED_MODEL}")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto")
    p.add_argument("--context", type=int, help="context length in tokens per sequence (default: the planner's)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--max-sequences", type=int, default=4, help="requests decoded together (cache slots)")
    p.add_argument("--max-waiting", type=int, default=64, help="queued requests beyond those; more get 429")
    p.add_argument("--log-file", type=Path, help=f"log file (default: {default_log_file()})")
    p.add_argument("--token-stdin", action="store_true",
                   help=f"read the API token from the first line of stdin (else ${TOKEN_ENV}, else a random one)")


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    model = args.model or default_model_dir()
    if model is None:
        raise ValueError(f"no model given and the bundled model ({resources_dir() / 'models' / BUNDLED_MODEL}) "
                         "is not installed; pass --model DIR with a Hugging Face model folder")
    return ServeOptions(model_dir=Path(model), precision=args.precision, context_tokens=args.context, port=args.port,
                        device=args.device, threads=args.threads, max_sequences=args.max_sequences,
                        max_waiting=args.max_waiting, log_file=args.log_file or default_log_file())


def read_token(from_stdin: bool, stdin: TextIO | None = None) -> tuple[str, bool]:
    """(token, generated). From stdin's first line, else the environment, else a fresh random one."""
    if from_stdin:
        line = (stdin or sys.stdin).readline().strip()
        if not line:
            raise ValueError("--token-stdin was given but the first line of stdin is empty")
        return line, False
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env, False
    return secrets.token_urlsafe(32), True
