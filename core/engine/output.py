"""Turns one sequence's sampled token ids into text, split into reasoning and answer, with stops.

Order per token: end-of-sequence check, incremental detokenisation (never half a character), stop
strings (never emitted, not even in part), then the ``<think>`` splitter.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.engine.sampler import SamplingParams
from core.tokenizer import IncrementalDetokenizer, StopMatcher, Tokenizer
from core.reasoning import ReasoningSplitter


@dataclass(slots=True)
class TextDelta:
    reasoning: str = ""
    answer: str = ""
    stopped: bool = False  # eos or a stop string ended the sequence

    def add(self, segments: list) -> None:
        for seg in segments:
            if seg.kind == "reasoning":
                self.reasoning += seg.text
            else:
                self.answer += seg.text


class OutputProcessor:
    def __init__(self, tokenizer: Tokenizer, params: SamplingParams, start_in_reasoning: bool) -> None:
        self.eos_ids = frozenset() if params.ignore_eos else tokenizer.eos_token_ids
        self.detok = IncrementalDetokenizer(tokenizer)
        self.stops = StopMatcher(params.stop)
        self.splitter = ReasoningSplitter(start_in_reasoning)
        self.reasoning_tokens = 0

    @property
    def in_reasoning(self) -> bool:
        return self.splitter.in_reasoning

    def add_token(self, token_id: int) -> TextDelta:
        delta = TextDelta()
        if token_id in self.eos_ids:
            delta.stopped = True
            self._flush_into(delta)
            return delta
        was_reasoning = self.splitter.in_reasoning
        text, stopped = self.stops.feed(self.detok.add(token_id))
        delta.add(self.splitter.feed(text))
        if was_reasoning or self.splitter.in_reasoning:
            self.reasoning_tokens += 1
        if stopped:
            delta.stopped = True
            delta.add(self.splitter.finish())
        return delta

    def finish(self) -> TextDelta:
        """Flush held-back text when generation ends for a reason other than a stop (length, abort)."""
        delta = TextDelta()
        self._flush_into(delta)
        return delta

    def _flush_into(self, delta: TextDelta) -> None:
        text, stopped = self.stops.feed(self.detok.flush())
        if not stopped:
            text += self.stops.flush()
        delta.add(self.splitter.feed(text))
        delta.add(self.splitter.finish())

    @property
    def reasoning_unfinished(self) -> bool:
        return self.splitter.reasoning_unfinished
