"""``python -m core.bench``: what each precision costs on this machine, side by side with HF transformers.

Without ``--model`` it builds (once, cached) a random-weight checkpoint with DeepSeek-R1-Distill-Qwen-1.5B's
exact config: speed depends on shape, not weights. Each precision runs in its own process (``worker``);
the table compares decode with torch's matmul ceiling for that weight format and with the memory
roofline, all measured in the same run. Its ratios (decode / ceiling, decode / HF) pair the two
measurements of each round and report the median over rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.bench.random_checkpoint import R1_DISTILL_QWEN_1_5B, write_random_checkpoint
from core.paths import bench_dir

REPO_TOKENIZER = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "deepseek-r1-distill-qwen-tokenizer"
GB = 1e9


def default_model(tokenizer: Path | None) -> Path:
    path = bench_dir() / "r1-distill-qwen-1.5b-random"
    if not (path / "model.safetensors").exists():
        print(f"creating a random-weight R1-Distill-Qwen-1.5B checkpoint in {path} (once)", file=sys.stderr)
        write_random_checkpoint(path, R1_DISTILL_QWEN_1_5B)
    if tokenizer and not (path / "tokenizer.json").exists():
        for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            shutil.copy(tokenizer / name, path / name)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench", description=__doc__)
    p.add_argument("--model", type=Path, help="model folder (default: random R1-Distill-Qwen-1.5B shape)")
    p.add_argument("--tokenizer", type=Path, default=REPO_TOKENIZER if REPO_TOKENIZER.exists() else None,
                   help="tokenizer folder copied into the default checkpoint")
    p.add_argument("--precisions", default="fp32,bf16,fp16,int8,int4")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-lens", default="512,2048")
    p.add_argument("--decode-tokens", type=int, default=24)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-hf", action="store_true", help="skip HF transformers")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    args = p.parse_args(argv)
    model = args.model or default_model(args.tokenizer)
    precisions = args.precisions.split(",")
    if "fp32" in precisions:  # first: it writes the reference logits the others are compared with
        precisions.remove("fp32")
        precisions.insert(0, "fp32")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision in precisions:
            cmd = [sys.executable, "-m", "core.bench.worker", "--model", str(model), "--precision", precision,
                   "--threads", str(args.threads), "--prompt-lens", args.prompt_lens,
                   "--decode-tokens", str(args.decode_tokens), "--rounds", str(args.rounds),
                   "--reference", str(Path(tmp) / "fp32_logits.pt")] + ([] if args.no_hf else ["--hf"])
            print(f"measuring {precision} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{precision} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(format_table(results, [int(x) for x in args.prompt_lens.split(",")]))
    return 0


def format_table(results: list[dict], prompt_lens: list[int]) -> str:
    def row(label: str, fn) -> str:
        cells = []
        for r in results:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("n/a")
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = ["| metric | " + " | ".join(r["precision"] for r in results) + " |",
             "|---|" + "---|" * len(results),
             row("compute dtype", lambda r: r["compute_dtype"]),
             row("load time (s)", lambda r: f"{r['load_s']:.1f}"),
             row("weights (GB)", lambda r: f"{r['weights_bytes'] / GB:.2f}"),
             row("RSS after load (GB)", lambda r: f"{r['rss_after_load_bytes'] / GB:.2f}"),
             row("peak RSS while loading (GB)", lambda r: f"{r['peak_rss_load_bytes'] / GB:.2f}"),
             row("peak / final RSS", lambda r: f"{r['peak_rss_load_bytes'] / r['rss_after_load_bytes']:.2f}")]
    for n in prompt_lens:
        lines += [row(f"TTFT @{n} (s)", lambda r, n=n: f"{r[f'ttft_s@{n}']:.2f}"),
                  row(f"prefill @{n} (tok/s)", lambda r, n=n: f"{r[f'prefill_tok_s@{n}']:.1f}"),
                  row(f"HF prefill @{n} (tok/s)", lambda r, n=n: f"{r[f'hf_prefill_tok_s@{n}']:.1f}")]
    lines += [row("decode, batch 1 (tok/s)", lambda r: f"{r['decode_tok_s']:.2f}"),
              row("matmul ceiling (passes/s)", lambda r: f"{r['ceiling_passes_s']:.2f}"),
              row("decode / ceiling", lambda r: f"{100 * r['decode_vs_ceiling']:.0f}%"),
              row("HF decode (tok/s)", lambda r: f"{r['hf_decode_tok_s']:.2f}"),
              row("decode / HF", lambda r: f"{r['decode_vs_hf']:.2f}x"),
              row("bytes read per token (GB)", lambda r: f"{r['decode_weight_bytes'] / GB:.2f}"),
              row("memory bandwidth (GB/s)", lambda r: f"{r['bandwidth_bytes_s'] / GB:.1f}"),
              row("bandwidth roofline (tok/s)", lambda r: f"{r['roofline_tok_s']:.2f}"),
              row("max |logit diff| vs fp32", lambda r: f"{r['error_vs_fp32']['max_abs_diff']:.3f}"
                  if r["precision"] != "fp32" else "0"),
              row("top-1 agreement vs fp32", lambda r: f"{100 * r['error_vs_fp32']['top1_agreement']:.1f}%"
                  if r["precision"] != "fp32" else "100%"),
              row("KL vs fp32 (nats)", lambda r: f"{r['error_vs_fp32']['mean_kl']:.5f}"
                  if r["precision"] != "fp32" else "0"),
              row("peak RSS, whole run (GB)", lambda r: f"{r['peak_rss_bytes'] / GB:.2f}")]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
