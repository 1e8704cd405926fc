"""Ponder beside llama.cpp on the same weights, interleaved, paired per round (a script that prints numbers).

    python -m core.bench --llama-bench PATH/llama-bench [--precisions bf16,fp16,int8,int4] [--rounds 3]
                         [--threads N] [--llama-convert PATH/convert_hf_to_gguf.py]
                         [--prefill-tokens 512] [--depth 128]

The random-weight DeepSeek-R1-Distill-Qwen-1.5B checkpoint (``core.bench.random_checkpoint``: speed depends on
shape, not weights) is converted to GGUF once per width by llama.cpp's own converter (``convert_hf_to_gguf.py`` of
the source tree llama-bench was built in, or ``--llama-convert``) and, for Q4_0, its quantizer (``llama-quantize``
beside llama-bench): bf16 -> BF16, fp16 -> F16, int8 -> Q8_0, int4 -> Q4_0, cached beside the checkpoint. Each
round measures every width on both engines, the order swapped every round (the memory bus of a shared machine
swings within minutes, so only pairs measured together are compared): prefill of a 512-token prompt and decode of
``DECODE_TOKENS`` tokens at batch 1 after a 128-token prompt (llama-bench ``-p 512`` and ``-n N -d 128``, one
repetition per call); ``--prefill-tokens`` and ``--depth`` change both lengths (e.g. 2,048 and 8,192). Ponder
runs through ``launch`` (the planner's activation dtype for the width), speculation off.
How to build llama-bench from the ``llama-cpp-python`` sdist: README, "Benchmark".
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.engine.engine import Engine

GGUF_TYPES = {"bf16": "bf16", "fp16": "f16", "int8": "q8_0", "int4": "q4_0"}  # ours -> llama.cpp's
PREFILL_TOKENS = 512
DEPTH_TOKENS = 128
DECODE_TOKENS = 64


@dataclass(frozen=True, slots=True)
class Speeds:
    prefill_tokens_per_s: float
    decode_tokens_per_s: float


def gguf_for(checkpoint: Path, precision: str, llama_bench: Path, converter: Path) -> Path:
    """The checkpoint as GGUF at ``precision``'s llama.cpp type, converted (and quantized) once."""
    kind = GGUF_TYPES[precision]
    out = checkpoint / f"ponder-bench-{kind}.gguf"
    if out.exists():
        return out
    if kind == "q4_0":  # the converter writes no Q4_0: quantize its F16
        source = gguf_for(checkpoint, "fp16", llama_bench, converter)
        quantize = llama_bench.with_name("llama-quantize")
        subprocess.run([str(quantize), str(source), str(out), "Q4_0"], check=True, capture_output=True)
        return out
    subprocess.run([sys.executable, str(converter), str(_convertible(checkpoint)), "--outfile", str(out),
                    "--outtype", kind], check=True, capture_output=True)
    return out


def _convertible(checkpoint: Path) -> Path:
    """The converter asserts that every id of tokenizer.json is below the config's vocab_size; R1-Distill's tokenizer
    has ids past its 151,936 rows. For the converter only: a copy whose embedding and output rows are
    padded with zeros to cover them (never sampled; 0.08% more output rows than Ponder reads)."""
    import torch
    from safetensors.torch import load_file, save_file

    from transformers import AutoTokenizer  # what the converter reads the vocabulary with

    config = json.loads((checkpoint / "config.json").read_text())
    rows = max(AutoTokenizer.from_pretrained(str(checkpoint)).vocab.values()) + 1
    if rows <= config["vocab_size"]:
        return checkpoint
    out = checkpoint.with_name(checkpoint.name + "-gguf-source")
    if not (out / "model.safetensors").exists() or json.loads((out / "config.json").read_text())["vocab_size"] != rows:
        out.mkdir(exist_ok=True)
        tensors = load_file(str(checkpoint / "model.safetensors"))
        for name in ("model.embed_tokens.weight", "lm_head.weight"):
            if name in tensors:
                t = tensors[name]
                tensors[name] = torch.cat([t, t.new_zeros(rows - t.shape[0], t.shape[1])])
        save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
        for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            if (checkpoint / name).exists():
                (out / name).write_bytes((checkpoint / name).read_bytes())
        (out / "config.json").write_text(json.dumps({**config, "vocab_size": rows}, indent=2))
    return out


def llama_speeds(llama_bench: Path, gguf: Path, threads: int, prefill_tokens: int = PREFILL_TOKENS,
                 depth: int = DEPTH_TOKENS) -> Speeds:
    """llama-bench's pp (prefill_tokens) and tg after ``depth`` tokens (tokens per second, one repetition each)."""
    def run(*args: str) -> float:
        done = subprocess.run([str(llama_bench), "-m", str(gguf), "-t", str(threads), "-r", "1", "-o", "json", *args],
                              check=True, capture_output=True, text=True)
        return float(json.loads(done.stdout)[0]["avg_ts"])

    return Speeds(run("-p", str(prefill_tokens), "-n", "0"),
                  run("-p", "0", "-n", str(DECODE_TOKENS), "-d", str(depth)))


def ponder_speeds(engine: Engine, seed: int, prefill_tokens: int = PREFILL_TOKENS, depth: int = DEPTH_TOKENS) -> Speeds:
    from core.bench.timing import single

    prefill = single(engine, prefill_tokens, 1, seed)
    decode = single(engine, depth, DECODE_TOKENS, seed + 1)
    return Speeds(prefill_tokens / prefill.ttft_s, decode.decode_tokens_per_s)


def find_converter(llama_bench: Path) -> Path:
    """``convert_hf_to_gguf.py`` of the source tree the binary was built in (``<src>/build/bin/llama-bench``)."""
    for parent in llama_bench.resolve().parents:
        candidate = parent / "convert_hf_to_gguf.py"
        if candidate.exists():
            return candidate
    raise SystemExit(f"no convert_hf_to_gguf.py above {llama_bench}; pass --llama-convert PATH")


def compare(llama_bench: Path, precisions: list[str], rounds: int, threads: int | None, converter: Path | None,
            prefill_tokens: int = PREFILL_TOKENS, depth: int = DEPTH_TOKENS) -> int:
    import torch

    from core.bench.random_checkpoint import benchmark_checkpoint
    from core.bench.timing import warm_up
    from core.engine.launch import LaunchOptions, launch

    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    checkpoint = benchmark_checkpoint()
    converter = converter or find_converter(llama_bench)
    widths = [p for p in precisions if p in GGUF_TYPES]
    ggufs = {p: gguf_for(checkpoint, p, llama_bench, converter) for p in widths}

    def loaded(p: str, announce: bool):  # one engine at a time, as the app holds one model: several resident slowed each other
        context = max(1024, prefill_tokens + 8, depth + DECODE_TOKENS + 8)
        launched = launch(LaunchOptions(checkpoint, p, context, "cpu", threads, speculation=False))
        warm_up(launched.engine)
        if announce:
            print(f"{p}: Ponder computes in {launched.plan.compute_dtype}; llama.cpp {GGUF_TYPES[p].upper()}",
                  file=sys.stderr)
        return launched

    print(f"R1-Distill-Qwen-1.5B shape, random weights, {threads} threads; prefill {prefill_tokens} tokens, decode "
          f"{DECODE_TOKENS} tokens at batch 1 after {depth}; tokens/s, Ponder / llama.cpp per round")
    print("| round | width | prefill Ponder | prefill llama.cpp | ratio | decode Ponder | decode llama.cpp | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in range(rounds):
        for p in widths:
            sides: dict[str, Speeds] = {}
            launched = loaded(p, announce=r == 0)
            for side in (("ponder", "llama") if r % 2 == 0 else ("llama", "ponder")):
                sides[side] = (ponder_speeds(launched.engine, 100 * r, prefill_tokens, depth) if side == "ponder"
                               else llama_speeds(llama_bench, ggufs[p], threads, prefill_tokens, depth))
            del launched
            gc.collect()
            ours, theirs = sides["ponder"], sides["llama"]
            print(f"| {r + 1} | {p} / {GGUF_TYPES[p].upper()} | {ours.prefill_tokens_per_s:.1f} | "
                  f"{theirs.prefill_tokens_per_s:.1f} | {ours.prefill_tokens_per_s / theirs.prefill_tokens_per_s:.2f} | "
                  f"{ours.decode_tokens_per_s:.2f} | {theirs.decode_tokens_per_s:.2f} | "
                  f"{ours.decode_tokens_per_s / theirs.decode_tokens_per_s:.2f} |", flush=True)
    return 0
