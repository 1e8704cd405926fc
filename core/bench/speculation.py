"""What prompt-lookup speculation gains on real traces: decode tokens/s with and without it, paired per round.

    python -m core.bench.speculation [--model DIR] [--questions 8] [--rounds 3] [--threads N] [--precision fp32]

A script that prints numbers, not a test: the model's held-out questions (``heldout.json``; the bundled model
by default) are answered greedily, quotes grounded as the server grounds them, one request at a time, first
without speculation then with it (the order swaps every round, so a machine that slows down mid-run moves
both sides alike). Decode tokens/s is the completion tokens after the first over the time after the first
token, summed over the questions; the outputs must be identical (they are checked), so the ratio is the
speed-up alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from core.bench.heldout import load_heldout
from core.engine.engine import Engine, EngineConfig
from core.engine.grounding import QuoteRules, model_quote_rules
from core.engine.sampler import SamplingParams
from core.engine.speculative import SpeculationConfig
from core.models.loader import load_model
from core.paths import default_model_dir
from core.tokenizer import Tokenizer


@dataclass(frozen=True, slots=True)
class Side:
    decode_tokens_per_s: float
    tokens: int
    draft_tokens: int
    accepted_draft_tokens: int
    outputs: tuple[tuple[int, ...], ...]


def run_side(engine: Engine, tokenizer: Tokenizer, messages: list[str], quotes: QuoteRules | None,
             max_tokens: int) -> Side:
    decode_s, decode_tokens, drafted, accepted, outputs = 0.0, 0, 0, 0, []
    for message in messages:
        prompt = tokenizer.prompt_ids([{"role": "user", "content": message}])
        grounder = quotes.for_message(tokenizer, message) if quotes else None
        done = engine.generate_batch([prompt], SamplingParams(max_tokens=max_tokens), grounders=[grounder])[0]
        m = done.metrics
        decode_s += m.finished_s - m.first_token_s
        decode_tokens += m.completion_tokens - 1
        drafted, accepted = drafted + m.draft_tokens, accepted + m.accepted_draft_tokens
        outputs.append(tuple(done.token_ids))
    return Side(decode_tokens / decode_s if decode_s > 0 else 0.0, decode_tokens, drafted, accepted, tuple(outputs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=default_model_dir())
    p.add_argument("--precision", default="fp32")
    p.add_argument("--questions", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=768)
    p.add_argument("--threads", type=int)
    p.add_argument("--no-grounding", action="store_true", help="quotes not grounded (a model whose traces do not "
                                                               "open quotes with the bundled model's phrase)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.model, args.precision)
    tokenizer = Tokenizer.from_dir(args.model)
    quotes = None if args.no_grounding else model_quote_rules(args.model) or QuoteRules()
    questions = load_heldout(args.model)
    step = max(1, len(questions) // args.questions)  # spread over the set: short and long documents
    messages = [q.user_message() for q in questions[::step][:args.questions]]
    context = min(loaded.config.max_position_embeddings, 8192)
    engines = {name: Engine(loaded, tokenizer, EngineConfig(max_sequences=1, context_tokens=context,
                                                             speculation=SpeculationConfig(enabled=name == "on")))
               for name in ("off", "on")}
    run_side(engines["on"], tokenizer, messages[:1], quotes, 64)  # warm both paths' shapes
    run_side(engines["off"], tokenizer, messages[:1], quotes, 64)
    print(f"{args.model.name}, {args.precision}, {torch.get_num_threads()} threads, {len(messages)} held-out "
          f"questions, greedy, grounded quotes", file=sys.stderr)
    print("round  off tok/s  on tok/s  on/off  accepted/drafted")
    ratios = []
    for r in range(args.rounds):
        order = ("off", "on") if r % 2 == 0 else ("on", "off")
        sides = {}
        for name in order:
            started = time.perf_counter()
            sides[name] = run_side(engines[name], tokenizer, messages, quotes, args.max_tokens)
            print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        off, on = sides["off"], sides["on"]
        if on.outputs != off.outputs:
            print("error: the outputs differ with speculation", file=sys.stderr)
            return 1
        ratio = on.decode_tokens_per_s / off.decode_tokens_per_s
        ratios.append(ratio)
        print(f"{r + 1:5d}  {off.decode_tokens_per_s:9.1f}  {on.decode_tokens_per_s:8.1f}  {ratio:6.2f}  "
              f"{on.accepted_draft_tokens}/{on.draft_tokens}")
    print(f"median on/off {sorted(ratios)[len(ratios) // 2]:.2f} ({on.tokens} decode tokens per side per round)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
