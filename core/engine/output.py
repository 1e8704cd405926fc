"""Turns one sequence's sampled token ids into text, split into reasoning and answer, with stops.

Order per token: end-of-sequence check, incremental detokenisation (never half a character), stop
strings (never emitted, not even in part), then the ``<think>`` splitter.
"""

from __future__ import annotations

from core.engine.sampler import SamplingParams
from core.tokenizer import IncrementalDetokenizer, StopMatcher, Tokenizer
from core.reasoning import ReasoningSplitter


class OutputProcessor:
    def __init__(self, tokenizer: Tokenizer, params: SamplingParams, start_in_reasoning: bool) -> None:
        self.eos_ids = frozenset() if params.ignore_eos else tokenizer.eos_token_ids
        self.detok = IncrementalDetokenizer(tokenizer)
        self.stops = StopMatcher(params.stop)
        self.splitter = ReasoningSplitter(start_in_reasoning)
        self.reasoning_tokens = 0
        self.stopped = False  # eos or a stop string ended the sequence

    def add_token(self, token_id: int) -> tuple[str, str]:
        """The (reasoning, answer) text this token completes; ``stopped`` is set when it ends the sequence."""
        if token_id in self.eos_ids:
            self.stopped = True
            return self._flush()
        was_reasoning = self.splitter.in_reasoning
        text, stopped = self.stops.feed(self.detok.add(token_id))
        reasoning, answer = self.splitter.feed(text)
        if was_reasoning or self.splitter.in_reasoning:
            self.reasoning_tokens += 1
        if stopped:
            self.stopped = True
            tail = self.splitter.finish()
            reasoning, answer = reasoning + tail[0], answer + tail[1]
        return reasoning, answer

    def finish(self) -> tuple[str, str]:
        """Flush held-back text when generation ends for a reason other than a stop (length, abort)."""
        return self._flush()

    def _flush(self) -> tuple[str, str]:
        text, stopped = self.stops.feed(self.detok.flush())
        if not stopped:
            text += self.stops.flush()
        reasoning, answer = self.splitter.feed(text)
        tail = self.splitter.finish()
        return reasoning + tail[0], answer + tail[1]

    @property
    def reasoning_unfinished(self) -> bool:
        return self.splitter.reasoning_unfinished
