"""The repetition guard: stop a generation that has started repeating itself, before it fills the context.

A small or confused model can fall into a loop ("of the8 of the8 of the8 ...", a name over and over) and
would then write until the context is full: minutes of nothing. The guard watches the output for a span
that repeats back to back: for each period ``p`` it keeps how many tokens in a row equal the token ``p``
earlier, and stops the sequence once that run covers four copies of the span and at least ``MIN_RUN``
tokens. R1 traces do repeat a line now and then ("Wait, ..." then the same line again, a check restating a
step), but not four times in a row, word for word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PERIOD = 128  # longest repeating span watched, in tokens (a paragraph)
MIN_RUN = 40  # tokens of exact repetition before a loop is called one (short periods)
COPIES = 4  # ... and the span must have come back this many times


@dataclass(slots=True)
class RepetitionGuard:
    tokens: list[int] = field(default_factory=list)
    _runs: list[int] = field(default_factory=lambda: [0] * (MAX_PERIOD + 1))  # index p: run of out[i] == out[i-p]

    def add(self, token: int) -> bool:
        """Take the next output token; True when the output is now looping."""
        out = self.tokens
        out.append(token)
        runs, n = self._runs, len(out)
        looping = False
        for p in range(1, min(MAX_PERIOD, n - 1) + 1):
            if out[-1] == out[-1 - p]:
                runs[p] += 1
                if runs[p] >= (COPIES - 1) * p and runs[p] >= MIN_RUN:
                    looping = True
            else:
                runs[p] = 0
        return looping
