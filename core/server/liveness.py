"""Whether the engine thread makes progress: the measure behind ``/health`` and the window's watchdog.

The engine thread says when it waits for work (``idle``), when it takes some up (``busy``, naming it) and
whenever it gets something done (``beat``: a step, a batch of commands, a load stage). It is stuck when it
has been busy without a beat for longer than the work can take: ``stall_after_s``, or ten times the slowest
recent step when steps are slow (a big model on a slow CPU), or ``load_stall_after_s`` while loading (one
large tensor from a slow disk). Answering 200 while the thread is stuck would keep a wedged engine alive.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stall:
    activity: str  # what the engine thread was doing: "generating", "loading a model", ...
    seconds: float  # since its last progress
    limit_s: float

    def describe(self) -> str:
        return (f"the engine thread has made no progress for {self.seconds:.0f} s while {self.activity} (more than "
                f"the {self.limit_s:.0f} s that can take); it is stuck")


class Liveness:
    """Thread-safe; the engine thread reports, any thread asks ``stalled()``."""

    SLOW_STEP_FACTOR = 10.0
    RECENT_STEPS = 64

    def __init__(self, stall_after_s: float = 120.0, load_stall_after_s: float = 300.0) -> None:
        self.stall_after_s, self.load_stall_after_s = stall_after_s, load_stall_after_s
        self._lock = threading.Lock()
        self._activity: str | None = None  # None: idle, waiting for work
        self._last_beat = time.monotonic()
        self._steps: deque[float] = deque(maxlen=self.RECENT_STEPS)

    def idle(self) -> None:
        with self._lock:
            self._activity = None
            self._last_beat = time.monotonic()

    def busy(self, activity: str) -> None:
        with self._lock:
            if self._activity is None:
                self._last_beat = time.monotonic()
            self._activity = activity

    def beat(self) -> None:
        with self._lock:
            self._last_beat = time.monotonic()

    def step_took(self, seconds: float) -> None:
        with self._lock:
            self._steps.append(seconds)
            self._last_beat = time.monotonic()

    def stalled(self, now: float | None = None) -> Stall | None:
        """The stall, if the engine thread has been busy without progress for longer than its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._activity is None:
                return None
            if self._activity == "loading a model":
                limit = self.load_stall_after_s
            else:
                limit = max(self.stall_after_s, self.SLOW_STEP_FACTOR * max(self._steps, default=0.0))
            waited = now - self._last_beat
            return Stall(self._activity, waited, limit) if waited > limit else None
