"""One request's state inside the engine: tokens, cache slot, sampling, output text and timings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

import torch

from core.engine.grounding import QuoteGrounder
from core.engine.repetition import RepetitionGuard
from core.engine.sampler import SamplingParams


class Status(Enum):
    WAITING = "waiting"  # queued, no cache slot yet
    RUNNING = "running"  # has a slot; prefilling (num_cached < len(prompt)) or decoding
    FINISHED = "finished"


@dataclass(slots=True)
class RequestMetrics:
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens whose KV was reused, not recomputed
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    arrival_s: float = 0.0
    scheduled_s: float | None = None
    first_token_s: float | None = None
    finished_s: float | None = None
    stop_reason: str | None = None  # eos | stop_string | max_tokens | context | repetition | abort
    max_tokens: int = 0  # the output cap that applied
    grounded_quotes: int = 0  # quotations decoded under the grounding constraint
    grounding_overrides: int = 0  # tokens where the model's own first choice was not in the document
    draft_tokens: int = 0  # speculative draft tokens verified (``engine/speculative.py``) ...
    accepted_draft_tokens: int = 0  # ... and of those, accepted: emitted without a pass of their own

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.arrival_s

    @property
    def prefill_s(self) -> float | None:
        if self.first_token_s is None or self.scheduled_s is None:
            return None
        return self.first_token_s - self.scheduled_s

    @property
    def prefill_tokens_per_s(self) -> float | None:
        computed = self.prompt_tokens - self.cached_prompt_tokens
        return computed / self.prefill_s if self.prefill_s else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Tokens after the first, over the time since the first (the steady decode rate)."""
        if self.first_token_s is None or self.finished_s is None or self.completion_tokens < 2:
            return None
        elapsed = self.finished_s - self.first_token_s
        return (self.completion_tokens - 1) / elapsed if elapsed > 0 else None

    @property
    def draft_acceptance(self) -> float | None:
        """Share of the draft tokens accepted (None: nothing was drafted)."""
        return self.accepted_draft_tokens / self.draft_tokens if self.draft_tokens else None

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "prompt_tokens": self.prompt_tokens, "cached_prompt_tokens": self.cached_prompt_tokens,
            "completion_tokens": self.completion_tokens, "reasoning_tokens": self.reasoning_tokens,
            "ttft_s": self.ttft_s, "prefill_s": self.prefill_s, "prefill_tokens_per_s": self.prefill_tokens_per_s,
            "decode_tokens_per_s": self.decode_tokens_per_s, "stop_reason": self.stop_reason,
            "grounded_quotes": self.grounded_quotes, "grounding_overrides": self.grounding_overrides,
            "draft_tokens": self.draft_tokens, "accepted_draft_tokens": self.accepted_draft_tokens,
            "draft_acceptance": self.draft_acceptance,
        }


@dataclass(frozen=True, slots=True)
class PrefillProgress:
    """How far the engine has read a request's prompt (llama.cpp's ``prompt_progress``: total, cache, processed,
    time): what a long prompt's progress bar shows."""

    request_id: str
    done_tokens: int  # prompt tokens in the KV cache, computed or reused
    total_tokens: int
    cached_tokens: int  # of those, reused from the prefix cache
    elapsed_s: float  # since the request got its cache slot (0 while it waits for one)

    @property
    def tokens_per_s(self) -> float | None:
        computed = self.done_tokens - self.cached_tokens
        return computed / self.elapsed_s if computed > 0 and self.elapsed_s > 0 else None

    @property
    def eta_s(self) -> float | None:
        rate = self.tokens_per_s
        return (self.total_tokens - self.done_tokens) / rate if rate else None


@dataclass(slots=True)
class Sequence:
    id: str
    prompt_ids: list[int]
    params: SamplingParams
    generator: torch.Generator | None = None
    status: Status = Status.WAITING
    slot: int | None = None
    num_cached: int = 0  # tokens (prompt + output) whose KV is in the slot
    output_ids: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # "stop" | "length" | "abort"
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    grounder: QuoteGrounder | None = None  # quotes of the document must be in the document
    guard: RepetitionGuard | None = None  # stops a looping generation

    def __post_init__(self) -> None:
        self.metrics.prompt_tokens = len(self.prompt_ids)
        self.metrics.max_tokens = self.params.max_tokens
        self.metrics.arrival_s = time.perf_counter()

    @property
    def all_ids(self) -> list[int]:
        return self.prompt_ids + self.output_ids

    @property
    def total_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.output_ids)

    @property
    def prefilling(self) -> bool:
        return self.num_cached < len(self.prompt_ids)

    def prefill_progress(self, now: float) -> PrefillProgress:
        """Prompt tokens read so far (``now``: ``time.perf_counter()``); a queued request has read none."""
        started = self.metrics.scheduled_s
        return PrefillProgress(self.id, min(self.num_cached, len(self.prompt_ids)), len(self.prompt_ids),
                               self.metrics.cached_prompt_tokens, max(0.0, now - started) if started else 0.0)
