"""Speed through the engine the app uses: TTFT, prefill and decode tokens/s at a context depth.

``run_requests`` drives ``Engine.add`` / ``step`` directly so the decode rate is the steady one: the
clock starts once every request of the batch has its first token (prefill over) and stops when the last
finishes; tokens counted in between. Batch > 1 shares one document prefix (a slot's cached prompt is
copied to the others, as when several questions are asked about one document), so decode at depth d
with batch 4 is measured without paying four prefills.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.bench.workloads import speed_prompt
from core.engine.engine import Engine
from core.engine.sampler import SamplingParams

SUFFIX_TOKENS = 8  # per-request tail after the shared document (batch > 1)


@dataclass(frozen=True, slots=True)
class RequestTiming:
    ttft_s: float  # first request's time to first token
    decode_tokens_per_s: float  # all requests' tokens per second once every one decodes
    prompt_tokens: int
    cached_tokens: int  # prompt tokens served from the prefix cache (first request)


def run_requests(engine: Engine, prompts: list[list[int]], n_tokens: int) -> RequestTiming:
    """Run ``prompts`` together to ``n_tokens`` each (greedy, eos ignored)."""
    params = SamplingParams(max_tokens=n_tokens, ignore_eos=True)
    ids = [engine.add(p, params) for p in prompts]
    first: dict[str, float] = {}
    ttft, cached = 0.0, 0
    decode_start: float | None = None
    counted, remaining = 0, len(ids)
    while remaining:
        events = engine.step()
        now = time.perf_counter()
        for event in events:
            if event.request_id not in first:
                first[event.request_id] = now
                if event.request_id == ids[0]:
                    ttft, cached = event.metrics.ttft_s or 0.0, event.metrics.cached_prompt_tokens
            elif decode_start is not None:
                counted += 1
            if event.finish_reason:
                remaining -= 1
        if decode_start is None and len(first) == len(ids):
            decode_start = now
    elapsed = time.perf_counter() - (decode_start or time.perf_counter())
    rate = counted / elapsed if elapsed > 0 and counted else float("nan")
    return RequestTiming(ttft, rate, len(prompts[0]), cached)


def single(engine: Engine, depth: int, n_tokens: int, seed: int) -> RequestTiming:
    """One request of ``depth`` fresh tokens: TTFT is a full prefill (no prefix shared with earlier runs)."""
    return run_requests(engine, [speed_prompt(depth, seed, engine.loaded.config.vocab_size)], n_tokens)


def batched(engine: Engine, depth: int, batch: int, n_tokens: int, seed: int) -> RequestTiming:
    """``batch`` requests of ``depth`` tokens sharing a document; the document is prefilled once first."""
    vocab = engine.loaded.config.vocab_size
    doc_len = max(depth - SUFFIX_TOKENS, 1)
    document = speed_prompt(doc_len, seed, vocab)
    prompts = [document + speed_prompt(depth - doc_len, seed * 1000 + i + 1, vocab) for i in range(batch)]
    run_requests(engine, [prompts[0]], 1)  # leaves the document in a free slot's cache
    return run_requests(engine, prompts, n_tokens)


def warm_up(engine: Engine) -> None:
    """One short request, so the first measurement does not pay for kernel selection and allocations."""
    run_requests(engine, [speed_prompt(16, 99_999, engine.loaded.config.vocab_size)], 3)
