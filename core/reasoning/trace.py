"""``ReasoningTrace``: the one owner of a streamed answer, from the first delta to the stored chat message.

The worker that reads the stream feeds it (``add`` per delta, ``finish`` once), the store saves what
``stored_stats`` gives, and the window renders ``snapshot()`` copies of it: the steps with their token
counts and times, the reasoning and answer text and token counts, how long it thought, TTFT and tokens/s,
the status, and the server's own figures. Nothing else counts tokens or times a step.

Before the first token, it also holds what the wait is spent on: how much of the prompt the server has read
(``record_prompt``) and, for a document read part by part, which part and the notes so far (``reading``).

Times are seconds since the request was sent (``started_at``, a ``time.monotonic()`` value). Token counts
are one per delta with text (servers stream a token per chunk) until the server's usage says otherwise:
its counts and its TTFT and decode speed win once they arrive.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.reasoning.steps import Step, StepTracker, segment_steps

STREAMING = "streaming"
FINISH_STATUSES = ("complete", "stopped", "interrupted", "error")

# The fields kept with a stored message, beside TTFT, speed and each step's token count and times: what a
# reopened chat shows. Older messages may lack any of them.
_STORED_FIELDS = ("elapsed_s", "prompt_tokens", "completion_tokens", "cached_tokens", "prefill_tokens_per_s",
                  "reasoning_tokens", "answer_tokens", "thought_s", "max_tokens", "finish_reason", "model", "error",
                  "document_strategy", "document_tokens", "document_passages", "stop_reason", "grounded_quotes",
                  "grounding_overrides")


@dataclass(frozen=True, slots=True)
class PromptReading:
    """How much of the prompt the server has read (its ``prompt_progress``), and how fast."""

    done_tokens: int
    total_tokens: int
    cached_tokens: int = 0
    tokens_per_s: float | None = None
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_tokens / self.total_tokens) if self.total_tokens else 0.0


@dataclass(frozen=True, slots=True)
class DocumentReading:
    """A document read part by part before the answer: which part, the time left, the notes taken so far."""

    part: int  # 1-based; the final answer counts as part ``parts + 1``
    parts: int
    eta_s: float | None = None
    notes: str = ""

    @property
    def answering(self) -> bool:
        return self.part > self.parts


@dataclass(slots=True)
class ReasoningTrace:
    started_at: float = 0.0
    max_tokens: int | None = None
    model: str | None = None
    reasoning: str = ""
    answer: str = ""
    steps: tuple[Step, ...] = ()
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    first_s: float | None = None  # the first delta with text
    last_s: float = 0.0  # the latest delta
    thought_s: float | None = None  # when the reasoning ended (the first answer text, or the end)
    status: str = STREAMING  # then one of FINISH_STATUSES
    finish_reason: str | None = None
    error: str | None = None
    # The server's figures (None until it reports them; another OpenAI server may never).
    server_ttft_s: float | None = None
    server_tokens_per_s: float | None = None
    prefill_tokens_per_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    elapsed_s: float | None = None  # request to end, set by finish
    stop_reason: str | None = None  # the server's: eos, stop_string, max_tokens, context, repetition, abort
    grounded_quotes: int | None = None  # quotations the server kept to the documents
    grounding_overrides: int | None = None  # ... and the tokens where that overrode the model's choice
    document_strategy: str | None = None
    document_tokens: int | None = None
    document_passages: list[list[int]] | None = None  # retrieval: [char start, char end] of each passage read
    prompt: PromptReading | None = None  # while the server reads the prompt (None once the answer flows)
    reading: DocumentReading | None = None  # while a long document is read part by part
    _tracker: StepTracker | None = field(default_factory=StepTracker, repr=False, compare=False)

    # --- feeding (the stream's worker) ------------------------------------------------------------------
    def add(self, reasoning: str, answer: str, now: float, n_tokens: int = 1) -> None:
        """One delta that arrived at ``now`` (monotonic); its tokens go to the reasoning if it has text."""
        if not (reasoning or answer):
            return
        t = max(self.last_s, now - self.started_at)
        self.first_s = t if self.first_s is None else self.first_s
        self.last_s = t
        self.prompt = None
        if reasoning:
            self.reasoning += reasoning
            self.reasoning_tokens += n_tokens
            self._feed_steps(reasoning, n_tokens, t)
        else:
            self.answer_tokens += n_tokens
        if answer:
            if self.thought_s is None:
                self._end_reasoning(t)
            self.answer += answer

    def record_server(self, usage: Any = None, stats: Any = None) -> None:
        """The server's usage (``core.api.protocol.Usage``) and Ponder's figures (``PonderStats``), when sent."""
        if usage is not None:
            self.prompt_tokens, self.completion_tokens = usage.prompt_tokens, usage.completion_tokens
            details = usage.prompt_tokens_details
            self.cached_tokens = (details.cached_tokens if details else None) or 0
            reasoning = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else None
            if reasoning is not None:
                self.reasoning_tokens = reasoning
                self.answer_tokens = max(0, usage.completion_tokens - reasoning)
        if stats is not None:
            self.server_ttft_s = stats.ttft_s
            self.server_tokens_per_s = stats.decode_tokens_per_s or None
            self.prefill_tokens_per_s = stats.prefill_tokens_per_s or None
            self.stop_reason = stats.stop_reason
            self.grounded_quotes, self.grounding_overrides = stats.grounded_quotes, stats.grounding_overrides
            self.max_tokens = self.max_tokens or stats.max_tokens

    def record_prompt(self, progress: Any) -> None:
        """The server's ``prompt_progress`` (``core.api.protocol.PromptProgress``): how much of the prompt is read."""
        self.prompt = PromptReading(progress.processed, progress.total, progress.cache, progress.tokens_per_s,
                                    progress.eta_s)

    def record_reading(self, part: int, parts: int, eta_s: float | None, notes: str) -> None:
        """A sequential reading moved to ``part`` of ``parts`` (``parts + 1``: answering from the notes)."""
        self.reading = DocumentReading(part, parts, eta_s, notes)
        self.prompt = None  # each part's request reports its own

    @property
    def waiting(self) -> bool:
        """Streaming, and no text yet: the prompt (or a document) is still being read."""
        return self.streaming and self.first_s is None

    def finish(self, status: str, finish_reason: str | None, now: float, error: str | None = None) -> None:
        """The end, whatever it was: closes the last step; ``status`` is one of ``FINISH_STATUSES``."""
        if status not in FINISH_STATUSES:
            raise ValueError(f"status must be one of {FINISH_STATUSES}, not {status!r}")
        t = max(self.last_s, now - self.started_at)
        if self.thought_s is None:
            self._end_reasoning(t)
        self.status, self.finish_reason, self.error = status, finish_reason, error
        self.elapsed_s = t
        self.prompt = None
        if status == "complete":
            self.reading = None  # a reading cut short stays: the answer says where it stopped

    def _feed_steps(self, text: str, n_tokens: int, t: float) -> None:
        if self.thought_s is not None:  # reasoning after the answer began (unusual): cut it all again
            self._tracker = StepTracker()
            self._tracker.feed(self.reasoning, self.reasoning_tokens, t)
            self._tracker.finish(t)
        else:
            self._tracker.feed(text, n_tokens, t)
        self.steps = tuple(self._tracker.steps)

    def _end_reasoning(self, t: float) -> None:
        self.thought_s = t if self.reasoning.strip() else 0.0
        self._tracker.finish(t)
        self.steps = tuple(self._tracker.steps)

    # --- reading (anyone) -------------------------------------------------------------------------------
    def snapshot(self) -> ReasoningTrace:
        """A detached copy for another thread (the window): it shares nothing that changes."""
        return dataclasses.replace(self, _tracker=None)

    @property
    def streaming(self) -> bool:
        return self.status == STREAMING

    @property
    def tokens(self) -> int:
        return self.reasoning_tokens + self.answer_tokens

    @property
    def ttft_s(self) -> float | None:
        """Time to the first token: the server's figure, else when the first text arrived here."""
        return self.server_ttft_s if self.server_ttft_s is not None else self.first_s

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: the server's figure, else tokens after the first over the time since it."""
        if self.server_tokens_per_s:
            return self.server_tokens_per_s
        if self.first_s is None or self.tokens < 2 or self.last_s <= self.first_s:
            return None
        return (self.tokens - 1) / (self.last_s - self.first_s)

    # --- the stored form ----------------------------------------------------------------------------------
    def stored_stats(self) -> dict[str, Any]:
        """What the store keeps beside the text: every figure, and each step's token count and times."""
        values = {"ttft_s": self.ttft_s, "tokens_per_s": self.tokens_per_s, "tokens": self.tokens,
                  "step_tokens": [s.token_count for s in self.steps],
                  "step_times": [[s.start_s, s.end_s] for s in self.steps]}
        values |= {name: getattr(self, name) for name in _STORED_FIELDS}
        return {k: v for k, v in values.items() if v is not None}

    @classmethod
    def from_stored(cls, reasoning: str, answer: str, status: str, stats: dict[str, Any]) -> ReasoningTrace:
        """A stored message as a finished trace: steps cut again from the text, numbers from ``stats``.

        A message stored while it was still streaming (the app died) comes back as interrupted.
        """
        steps = segment_steps(reasoning)
        tokens, times = stats.get("step_tokens"), stats.get("step_times")
        if isinstance(tokens, list) and len(tokens) == len(steps):
            steps = [dataclasses.replace(s, token_count=int(n)) for s, n in zip(steps, tokens)]
        if isinstance(times, list) and len(times) == len(steps):
            steps = [dataclasses.replace(s, start_s=float(a or 0.0), end_s=None if b is None else float(b))
                     for s, (a, b) in zip(steps, times)]
        trace = cls(reasoning=reasoning, answer=answer, steps=tuple(steps),
                    status=status if status in FINISH_STATUSES else "interrupted", _tracker=None)
        for name in _STORED_FIELDS:
            if stats.get(name) is not None:
                setattr(trace, name, stats[name])
        if "reasoning_tokens" not in stats:
            trace.reasoning_tokens = sum(s.token_count for s in steps)
        trace.server_ttft_s, trace.server_tokens_per_s = stats.get("ttft_s"), stats.get("tokens_per_s")
        return trace
