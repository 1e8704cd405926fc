"""Who runs in the next forward pass: continuous batching with chunked prefill and prefix reuse.

Every step decodes one token for each running sequence and spends what is left of the step's token
budget on chunks of prompts being prefilled, so a long document being prefilled never stalls the streams
already flowing. The prefill chunk shrinks when the model is slow (``tune_prefill``), so a forward pass stays
short enough for Stop to reach a request between two chunks. New requests join at step boundaries when a cache slot is free, starting after the
longest prefix of their prompt that some slot already holds (``prefix_cache``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from typing import Callable

from core.engine.kv_cache import Segment
from core.engine.prefix_cache import SlotPool
from core.engine.sequence import Sequence, Status


MIN_PREFILL_CHUNK = 32  # tokens: below this a chunk costs more in overhead than it saves in latency


class QueueFullError(RuntimeError):
    """Too many requests are waiting; retry later."""


@dataclass(slots=True)
class ScheduledBatch:
    seqs: list[Sequence]
    segments: list[Segment]
    tokens: list[int]  # flat, segment after segment
    sample: list[bool]  # per segment: does this step produce a token for that sequence?
    drafts: list[int] | None = None  # per segment: draft tokens after its fed token (``speculative.py``)


class Scheduler:
    def __init__(self, num_slots: int, copy_prefix: Callable[[int, int, int], None], step_token_budget: int = 512,
                 max_waiting: int = 64, restore: Callable[[int, list[int], int], int] | None = None) -> None:
        """``restore(slot, prompt, cached)``: a longer cached prefix from elsewhere (``disk_cache``), copied into
        ``slot``; returns the prompt tokens cached there now."""
        self.step_token_budget, self.max_waiting, self.restore = step_token_budget, max_waiting, restore
        self.prefill_budget = step_token_budget  # tokens per forward pass now (``tune_prefill``)
        self.slots = SlotPool(num_slots)
        self.copy_prefix = copy_prefix
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []

    def add(self, seq: Sequence) -> None:
        if len(self.waiting) >= self.max_waiting:
            raise QueueFullError(f"{len(self.waiting)} requests are already waiting; retry in a moment")
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> ScheduledBatch | None:
        self._admit()
        seqs, segments, tokens, sample = [], [], [], []
        for seq in self.running:
            if not seq.prefilling:
                seqs.append(seq)
                segments.append(Segment(seq.slot, seq.num_cached, 1))
                tokens.append(seq.output_ids[-1])
                sample.append(True)
        budget = max(self.prefill_budget - len(tokens), 1)
        for seq in self.running:
            if seq.prefilling and budget > 0:
                chunk = seq.prompt_ids[seq.num_cached:seq.num_cached + budget]
                seqs.append(seq)
                segments.append(Segment(seq.slot, seq.num_cached, len(chunk)))
                tokens.extend(chunk)
                sample.append(seq.num_cached + len(chunk) == len(seq.prompt_ids))
                budget -= len(chunk)
        if not seqs:
            return None
        return ScheduledBatch(seqs, segments, tokens, sample)

    def tune_prefill(self, tokens: int, seconds: float, target_s: float) -> None:
        """A pass of ``tokens`` took ``seconds``: size the next ones to take about ``target_s`` (at most halving
        or doubling per pass, between ``MIN_PREFILL_CHUNK`` and the step budget)."""
        if tokens <= 0 or seconds <= 0 or target_s <= 0:
            return
        wanted = int(tokens * target_s / seconds)
        wanted = max(self.prefill_budget // 2, min(self.prefill_budget * 2, wanted))
        self.prefill_budget = max(min(MIN_PREFILL_CHUNK, self.step_token_budget), min(self.step_token_budget, wanted))

    def finish(self, seq: Sequence, reason: str) -> None:
        """Mark finished and free its slot (also for a queued or mid-prefill sequence)."""
        seq.status, seq.finish_reason = Status.FINISHED, reason
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        if seq.slot is not None:
            self.slots.release(seq.slot, seq.all_ids[:seq.num_cached])
            seq.slot = None

    def _admit(self) -> None:
        while self.waiting and self.slots.free_count:
            seq = self.waiting[0]
            busy = {s.slot: s.all_ids[:s.num_cached] for s in self.running}
            grant = self.slots.acquire(seq.prompt_ids, busy)
            if grant is None:
                return
            self.waiting.popleft()
            if grant.copy_from is not None:
                self.copy_prefix(grant.copy_from, grant.slot, grant.cached_tokens)
            cached = grant.cached_tokens
            if self.restore is not None:
                cached = self.restore(grant.slot, seq.prompt_ids, cached)
            seq.slot, seq.num_cached = grant.slot, cached
            seq.metrics.cached_prompt_tokens = seq.num_cached
            seq.status = Status.RUNNING
            seq.metrics.scheduled_s = time.perf_counter()
            self.running.append(seq)
