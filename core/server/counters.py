"""Counters behind ``/metrics`` and the live events: cumulative totals and a tokens-per-second meter."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW_S = 3.0  # tokens/s is measured over this many seconds


@dataclass(slots=True)
class Totals:
    """Cumulative counters since the process started (they survive model switches)."""

    tokens_generated: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    finished: dict[str, int] = field(default_factory=dict)  # by finish reason
    failed: int = 0
    rejected: int = 0


class RateMeter:
    """Tokens per second over the last few seconds, from cumulative (time, tokens) samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, t: float, total: int) -> None:
        self._samples.append((t, total))
        while len(self._samples) > 1 and self._samples[1][0] <= t - self.window_s:
            self._samples.popleft()  # keep one sample at or before the window's start

    def rate(self, now: float) -> float:
        if not self._samples:
            return 0.0
        cutoff = now - self.window_s
        base_t, base_n = self._samples[0]
        for t, n in self._samples:
            if t > cutoff:
                break
            base_t, base_n = t, n
        span = min(self.window_s, now - base_t)
        return max(0.0, (self._samples[-1][1] - base_n) / span) if span > 0 else 0.0
