"""One precision, measured in a fresh process (so its peak RSS is its own), printed as one JSON line.

Everything is measured through the engine the app uses (``launch`` -> plan -> load -> Engine), and each
comparison is interleaved in rounds (ours, ceiling, HF, ours, ceiling, HF, ...) so the memory bus's
swings hit every contender alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import psutil
import torch

from core.bench.measure import (decode_matmuls, decode_weight_bytes, logit_errors, matmul_ceiling_step_s, median,
                                memory_bandwidth_bytes_per_s)
from core.engine.launch import TORCH_DTYPES, LaunchOptions, launch
from core.engine.sampler import SamplingParams
from core.hardware import peak_rss_bytes

ERROR_TOKENS = 128  # positions compared against fp32
DECODE_PROMPT_TOKENS = 64


def random_prompt(n: int, seed: int, vocab: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1000, min(vocab, 100_000), (n,), generator=g).tolist()


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    context = max(args.prompt_lens) + args.decode_tokens + 64
    launched = launch(LaunchOptions(args.model, args.precision, context, "cpu", args.threads))
    load_peak, rss_after_load = peak_rss_bytes(), psutil.Process().memory_info().rss
    engine, loaded = launched.engine, launched.loaded
    vocab = loaded.config.vocab_size
    result: dict = {
        "precision": args.precision, "compute_dtype": launched.plan.compute_dtype, "threads": args.threads,
        "load_s": loaded.load_seconds, "weights_bytes": loaded.weights_bytes, "rss_after_load_bytes": rss_after_load,
        "peak_rss_load_bytes": load_peak, "decode_weight_bytes": decode_weight_bytes(loaded.model),
    }

    # Error against fp32 on a fixed token sequence.
    tokens = torch.tensor([random_prompt(ERROR_TOKENS, 7, vocab)])
    with torch.inference_mode():
        logits = loaded.model(tokens, torch.arange(ERROR_TOKENS)[None]).float()[0]
    if args.precision == "fp32":
        torch.save(logits, args.reference)
    elif args.reference.exists():
        result["error_vs_fp32"] = logit_errors(torch.load(args.reference), logits).to_dict()
    del logits

    hf = None
    if args.hf and args.precision in TORCH_DTYPES:
        from core.bench.hf_reference import HFReference

        hf = HFReference(args.model, TORCH_DTYPES[args.precision])

    for length in args.prompt_lens:
        ours, theirs = [], []
        for r in range(args.rounds):
            prompt = random_prompt(length, length * 1000 + r, vocab)  # fresh each round: no prefix-cache hits
            last = list(engine.stream(prompt, SamplingParams(max_tokens=1, ignore_eos=True)))[-1]
            ours.append(last.metrics.ttft_s)
            if hf:
                theirs.append(hf.prefill_s(prompt))
        result[f"ttft_s@{length}"] = median(ours)
        result[f"prefill_tok_s@{length}"] = length / median(ours)
        if hf:
            result[f"hf_prefill_tok_s@{length}"] = length / median(theirs)

    calls = decode_matmuls(loaded.model)
    prompt = random_prompt(DECODE_PROMPT_TOKENS, 1, vocab)
    params = SamplingParams(max_tokens=args.decode_tokens, ignore_eos=True)
    ours, ceiling, theirs, bandwidth = [], [], [], []
    for _ in range(args.rounds):
        bandwidth.append(memory_bandwidth_bytes_per_s())
        ceiling.append(1 / median([matmul_ceiling_step_s(calls) for _ in range(5)]))
        ours.append(list(engine.stream(prompt, params))[-1].metrics.decode_tokens_per_s)
        if hf:
            theirs.append(hf.decode_tokens_per_s(prompt, args.decode_tokens))
    result |= {
        "decode_tok_s": median(ours), "decode_tok_s_runs": ours, "ceiling_passes_s": median(ceiling),
        "ceiling_passes_s_runs": ceiling, "bandwidth_bytes_s": median(bandwidth),
        "roofline_tok_s": median(bandwidth) / result["decode_weight_bytes"],
    }
    # Ratios are paired per round (ours and the other measured back to back, on the same state of the
    # memory bus), then the median taken: the bus drifts between rounds by more than the gaps measured.
    result["decode_vs_ceiling"] = median([a / b for a, b in zip(ours, ceiling)])
    if hf:
        result |= {"hf_decode_tok_s": median(theirs), "hf_decode_tok_s_runs": theirs,
                   "decode_vs_hf": median([a / b for a, b in zip(ours, theirs)])}
    result["peak_rss_bytes"] = peak_rss_bytes()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--precision", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-lens", type=lambda s: [int(x) for x in s.split(",")], default=[512, 2048])
    p.add_argument("--decode-tokens", type=int, default=24)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reference", type=Path, required=True, help="fp32 logits file (written by the fp32 run)")
    p.add_argument("--hf", action="store_true", help="also time HF transformers at the same dtype")
    args = p.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
