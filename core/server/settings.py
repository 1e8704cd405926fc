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

from core.api.spawn import TOKEN_ENV
from core.paths import BUNDLED_MODEL, default_model_dir, engine_log_file, kv_cache_dir, models_dir
from core.precision import PRECISION_CHOICES

KV_DISK_ENV = "PONDER_KV_DISK_CACHE_MIB"  # the default of --kv-disk-cache (tests set 0: each run reads its prompts)


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
    step_tokens: int = 512
    speculation: bool = True  # prompt-lookup drafts (``core.engine.speculative``), where measured to pay
    kv_disk_mib: int = 4096  # long prompts' keys and values kept on disk (``core.engine.disk_cache``); 0: off
    log_file: Path | None = None
    max_body_mib: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, got {self.port}")
        if self.max_sequences < 1 or self.max_waiting < 1:  # a request always queues before it runs
            raise ValueError(f"--max-sequences and --max-waiting must be at least 1 "
                             f"(got {self.max_sequences}, {self.max_waiting})")
        if self.kv_disk_mib < 0:
            raise ValueError(f"--kv-disk-cache must be 0 (off) or more MiB, got {self.kv_disk_mib}")
        if self.step_tokens < 1:
            raise ValueError(f"--step-tokens must be at least 1, got {self.step_tokens}")
        if self.context_tokens is not None and self.context_tokens < 2:
            raise ValueError(f"--context must be at least 2 tokens, got {self.context_tokens}")


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
    p.add_argument("--step-tokens", type=int, default=512,
                   help="tokens per forward pass at most: a long prompt is read in chunks of this size or less "
                        "(smaller when the model is slow, so Stop is heard between two chunks)")
    p.add_argument("--no-speculation", dest="speculation", action="store_false",
                   help="never draft tokens from the prompt (prompt-lookup speculative decoding; by default it "
                        "runs where it measures faster, and the output is the same either way)")
    default_mib = int(os.environ.get(KV_DISK_ENV, "4096") or 0)
    p.add_argument("--kv-disk-cache", dest="kv_disk_mib", type=int, default=default_mib, metavar="MIB",
                   help=f"keep the keys and values of long prompts (a document) on disk, in {kv_cache_dir()}, so "
                        "asking about the same document again, after a restart too, skips reading it; at most this "
                        f"many MiB, least recently used dropped first (0: off; default ${KV_DISK_ENV} or 4096)")
    p.add_argument("--log-file", type=Path, help=f"log file (default: {engine_log_file()})")
    p.add_argument("--token-stdin", action="store_true",
                   help=f"read the API token from the first line of stdin (else ${TOKEN_ENV}, else a random one)")


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    model = args.model or default_model_dir()
    if model is None:
        raise ValueError(f"no model given and the bundled model ({models_dir() / BUNDLED_MODEL}) "
                         "is not installed; pass --model DIR with a Hugging Face model folder")
    return ServeOptions(model_dir=Path(model), precision=args.precision, context_tokens=args.context, port=args.port,
                        device=args.device, threads=args.threads, max_sequences=args.max_sequences,
                        max_waiting=args.max_waiting, step_tokens=args.step_tokens, speculation=args.speculation,
                        kv_disk_mib=args.kv_disk_mib,
                        log_file=args.log_file or engine_log_file())


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
