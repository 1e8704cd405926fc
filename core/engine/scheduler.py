"""Who runs in the next forward pass: continuous batching with chunked prefill.

Every step decodes one token for each running sequence and spends what is left of the step's token
budget on one chunk of a waiting prompt, so a long document being prefilled never stalls the streams
already flowing. New requests join at step boundaries when a cache slot is free.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from core.engine.kv_cache import Segment
from core.engine.sequence import Sequence, Status


@dataclass(slots=True)
class ScheduledBatch:
    seqs: list[Sequence]
    segments: list[Segment]
    tokens: list[int]  # flat, segment after segment
    sample: list[bool]  # per segment: does this step produce a token for that sequence?

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)


class Scheduler:
    def __init__(self, num_slots: int, step_token_budget: int = 512) -> None:
        self.step_token_budget = step_token_budget
        self.free_slots: deque[int] = deque(range(num_slots))
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []

    def add(self, seq: Sequence) -> None:
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
        budget = max(self.step_token_budget - len(tokens), 1)
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

    def finish(self, seq: Sequence, reason: str) -> None:
        """Mark finished and free its slot (also for a queued or mid-prefill sequence)."""
        seq.status, seq.finish_reason = Status.FINISHED, reason
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        if seq.slot is not None:
            self.free_slots.append(seq.slot)
            seq.slot = None

    def _admit(self) -> None:
        while self.waiting and self.free_slots:
            seq = self.waiting.popleft()
            seq.slot = self.free_slots.popleft()
            seq.status = Status.RUNNING
            seq.metrics.scheduled_s = time.perf_counter()
            self.running.append(seq)
