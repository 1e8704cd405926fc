"""The engine dies with the window that started it, whatever killed the window (``kill -9``, a crash, OOM).

A window starts its engine with a pipe as stdin, which it never writes, and its own pid in
``PONDER_PARENT_PID``. Two daemon threads watch for the window to go, on every platform:

- the pipe: when the window's process ends, the OS closes its end, and the engine's read returns EOF;
- the pid: every ``POLL_S``, whether the parent still runs (same pid and start time, so a reused pid does not
  count), in case the pipe's end was inherited by another process.

Either calls ``on_gone`` once. Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that
forked the child ends, and the window spawns its engine from a short-lived worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import BinaryIO, Callable

from core.api.engine_pids import PARENT_PID_ENV, process_started

log = logging.getLogger(__name__)

POLL_S = 0.5


class ParentWatch:
    def __init__(self, parent_pid: int, on_gone: Callable[[str], None], stdin: BinaryIO | None = None,
                 poll_s: float = POLL_S) -> None:
        """``stdin``: the pipe from the window (None: watch the pid only)."""
        self.parent_pid, self._on_gone, self._poll_s = parent_pid, on_gone, poll_s
        self._stdin = stdin
        self._fired = threading.Event()
        self._parent_started = process_started(parent_pid)

    def start(self) -> ParentWatch:
        if self._parent_started is None:
            self._gone(f"its window (pid {self.parent_pid}) had already exited")
            return self
        threading.Thread(target=self._watch_pid, name="parent-pid-watch", daemon=True).start()
        if self._stdin is not None:
            threading.Thread(target=self._watch_pipe, name="parent-pipe-watch", daemon=True).start()
        return self

    def _watch_pid(self) -> None:
        while not self._fired.wait(self._poll_s):
            if process_started(self.parent_pid) != self._parent_started:
                self._gone(f"its window (pid {self.parent_pid}) exited")
                return

    def _watch_pipe(self) -> None:
        try:
            while self._stdin.read(4096):  # type: ignore[union-attr]
                pass  # the window never writes; anything read is ignored
        except (OSError, ValueError):
            pass
        self._gone("its window closed the engine's stdin pipe (the window exited)")

    def _gone(self, why: str) -> None:
        if not self._fired.is_set():
            self._fired.set()
            log.warning("the engine stops: %s", why)
            self._on_gone(why)


def parent_pid_from(environ: dict[str, str] | None = None) -> int | None:
    """The window's pid from the environment, None when the engine was not started by a window."""
    value = (environ if environ is not None else os.environ).get(PARENT_PID_ENV, "").strip()
    return int(value) if value.isdigit() else None
