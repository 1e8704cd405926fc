"""``python -m core.bench.load``: aggregate tokens/s of the real server at 1, 4 and 16 concurrent streams.

Starts the engine process on the given model (default: the random DeepSeek-R1-Distill-Qwen-1.5B-shaped
checkpoint of ``python -m core.bench``), then at each concurrency level runs that many streaming chats
at once through ``core.client`` and reports generated tokens / wall time. Each level is warmed up once
first (the CPU matmul libraries build kernels per batch size on first use). A script, not a test.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from core.bench.random_checkpoint import benchmark_checkpoint
from core.client import EngineClient
from core.api.spawn import EngineSubprocess


def run_level(client: EngineClient, streams: int, max_tokens: int) -> tuple[int, float]:
    """(completion tokens, seconds) for ``streams`` concurrent chats of ``max_tokens`` each."""
    counts = [0] * streams
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            messages = [{"role": "user", "content": f"Request {i}: summarise the quarterly report in detail."}]
            for delta in client.chat_stream(messages, max_tokens=max_tokens, temperature=0.0, ignore_eos=True):
                if delta.usage is not None:
                    counts[i] = delta.usage.completion_tokens
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench.load", description=__doc__)
    p.add_argument("--model", type=Path)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--levels", default="1,4,16")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--no-speculation", action="store_true", help="the engine without prompt-lookup drafts")
    args = p.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    model = args.model or benchmark_checkpoint()
    server = EngineSubprocess(["--model", str(model), "--precision", args.precision, "--threads", str(args.threads),
                               "--max-sequences", str(max(levels)), "--context", "1024",
                               *(["--no-speculation"] if args.no_speculation else [])])
    print(f"starting the engine on {model} ({args.precision}) ...", file=sys.stderr)
    with server:
        client = EngineClient(server.base_url, server.token)
        rows = []
        for n in levels:
            run_level(client, n, 4)  # warm-up: kernels for this batch size
            tokens, seconds = run_level(client, n, args.max_tokens)
            rows.append((n, tokens, seconds, tokens / seconds))
            print(f"{n:>3} streams: {tokens} tokens in {seconds:.1f} s -> {tokens / seconds:.1f} tok/s", file=sys.stderr)
    base = rows[0][3]
    print("| streams | tokens | seconds | aggregate tok/s | vs 1 stream |\n|---|---|---|---|---|")
    for n, tokens, seconds, rate in rows:
        print(f"| {n} | {tokens} | {seconds:.1f} | {rate:.1f} | {rate / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
