"""``ponder generate``: load a model as planned, answer one prompt, stream reasoning and answer apart."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from core.commands import dump_json
from core.commands.plan import describe_plan
from core.engine.launch import LaunchOptions, launch
from core.engine.grounding import QuoteRules, quotable
from core.engine.sampler import SamplingParams
from core.server.model_state import GenerationDefaults
from core.hardware import peak_rss_bytes
from core.precision import format_bytes

DIM, BOLD, RESET = "\033[2m", "\033[1m", "\033[0m"


def run(args: argparse.Namespace) -> int:
    prompt = args.prompt if args.prompt is not None else args.prompt_file.read_text(encoding="utf-8")
    defaults = GenerationDefaults.from_dir(args.model)
    started = time.perf_counter()
    launched = launch(LaunchOptions(args.model, args.precision, args.context, args.device, args.threads,
                                    compile=args.compile))
    engine, the_plan = launched.engine, launched.plan
    load_s = time.perf_counter() - started
    if args.raw:
        ids, opened = engine.tokenizer.encode(prompt, add_special_tokens=True), False
    else:
        messages = ([{"role": "system", "content": args.system}] if args.system else [])
        ids, opened = engine.render_chat(messages + [{"role": "user", "content": prompt}])
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, seed=args.seed,
                            max_tokens=max(1, min(args.max_tokens or defaults.max_tokens, engine.context_tokens - len(ids))),
                            stop=tuple(args.stop), repetition_penalty=args.repetition_penalty,
                            frequency_penalty=args.frequency_penalty, presence_penalty=args.presence_penalty,
                            repetition_guard=not args.no_repetition_guard)
    grounded = args.grounded_quotes if args.grounded_quotes is not None else defaults.quotes is not None
    rules = defaults.quotes or QuoteRules()
    if args.quote_opener:
        rules = replace(rules, opener=args.quote_opener)
    source = "\n\n".join(quotable(t) for t in (args.system, prompt) if t)
    grounder = rules.grounder(engine.tokenizer, source, prompt) if grounded else None

    tty = sys.stdout.isatty() and not args.json
    if not args.json:
        print(describe_plan(the_plan, hw_line=launched.hardware.device_name))
        print(f"Loaded {args.model} in {load_s:.1f} s; prompt {len(ids):,} tokens\n")
    tokens, reasoning, answer, section, last = [], [], [], None, None
    for event in engine.stream(ids, params, start_in_reasoning=opened, grounder=grounder):
        if event.token_id is not None:
            tokens.append(event.token_id)
        reasoning.append(event.reasoning)
        answer.append(event.answer)
        last = event
        if not args.json:
            section = _print_delta(event.reasoning, event.answer, section, tty)
    metrics = last.metrics
    result = {
        "plan": the_plan.to_dict(), "model": str(args.model), "prompt_tokens": len(ids), "token_ids": tokens,
        "reasoning": "".join(reasoning), "answer": "".join(answer), "finish_reason": last.finish_reason,
        "reasoning_unfinished": last.reasoning_unfinished,
        "metrics": {**metrics.to_dict(), "load_s": load_s, "peak_rss_bytes": peak_rss_bytes()},
    }
    if args.json:
        dump_json(result)
        return 0
    note = _ending(metrics.stop_reason, last.reasoning_unfinished, metrics.completion_tokens, params.max_tokens,
                   engine.context_tokens)
    if note:
        print(f"\n[{note}]")
    m = result["metrics"]
    print(f"\n\n{'-' * 60}\nTTFT {_fmt(m['ttft_s'], 's')} · prefill {_fmt(m['prefill_tokens_per_s'], 'tok/s')} · "
          f"decode {_fmt(m['decode_tokens_per_s'], 'tok/s')} · {metrics.completion_tokens} tokens "
          f"({metrics.reasoning_tokens} reasoning) · finish: {last.finish_reason} ({metrics.stop_reason}) · "
          f"peak RSS {format_bytes(m['peak_rss_bytes'])}"
          + (f" · {metrics.grounded_quotes} grounded quote(s)" if grounder is not None else ""))
    return 0


def _ending(stop_reason: str | None, reasoning_unfinished: bool, tokens: int, max_tokens: int, context: int) -> str:
    """What to tell the user when the answer did not end by itself, and what to do about it."""
    cut = "the reasoning ran out of tokens before an answer" if reasoning_unfinished else "the answer was cut off"
    if stop_reason == "max_tokens":
        return f"{cut}: it reached --max-tokens ({max_tokens:,}); raise --max-tokens"
    if stop_reason == "context":
        return f"{cut}: the context ({context:,} tokens) is full; load the model with a longer --context"
    if stop_reason == "repetition":
        return f"the model began repeating itself; stopped after {tokens:,} tokens"
    return ""


def _print_delta(reasoning: str, answer: str, section: str | None, tty: bool) -> str | None:
    if reasoning:
        if section != "reasoning":
            print(f"{BOLD}Thinking…{RESET}" if tty else "=== Thinking ===")
            section = "reasoning"
        print(f"{DIM}{reasoning}{RESET}" if tty else reasoning, end="", flush=True)
    if answer:
        if section != "answer":
            print(f"\n{BOLD}Answer:{RESET}" if tty else "\n=== Answer ===")
            section = "answer"
        print(answer, end="", flush=True)
    return section


def _fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.2f} {unit}" if value < 100 else f"{value:.0f} {unit}"
