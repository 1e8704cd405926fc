"""Start the engine as a child process and wait for its handshake; stop it cleanly.

The lifecycle the GUI, the load script and the tests share (vLLM's ``RemoteOpenAIServer`` idea): a fresh
random bearer token goes to the child through the environment (never argv), the child prints one JSON
line on stdout when it serves (or an error line when its first load failed), and stopping is terminate,
wait, then kill. The child dies with its parent: its stdin is a pipe the parent never writes and its
environment names the parent's pid (``PONDER_PARENT_PID``), which ``core.server.parent_watch`` watches; it
also leaves a pid file (``core.api.engine_pids``) for the next start to clean up. No torch and no Qt here.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from core.api.engine_pids import PARENT_PID_ENV

TOKEN_ENV = "PONDER_API_TOKEN"  # how the token reaches the engine: never argv, which every user can read
# Windows: a console program started from the (windowed) GUI would open a console window of its own.
NO_CONSOLE_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


class EngineStartError(RuntimeError):
    """The engine exited or failed before it was ready; the message carries its reason."""


class EngineSubprocess:
    def __init__(self, args: Sequence[str] = (), command: Sequence[str] | None = None,
                 env: dict[str, str] | None = None, cwd: str | Path | None = None) -> None:
        """``args`` are the server's options (--model, --precision, ...); ``command`` defaults to
        ``python -m core.server`` (a frozen bundle passes its ``ponder-engine`` executable)."""
        self.token = secrets.token_urlsafe(32)
        self.argv = [*(command or [sys.executable, "-m", "core.server"]), "--port", "0", *args]
        self._env = {**os.environ, **(env or {}), TOKEN_ENV: self.token, PARENT_PID_ENV: str(os.getpid())}
        self._cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.handshake: dict[str, Any] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.handshake['port']}"

    def start(self, timeout_s: float = 300.0) -> dict[str, Any]:
        """Spawn and block until the handshake (or failure); returns the handshake object."""
        # stdin: a pipe never written to; it closes when this process ends, however it ends.
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        stdin=subprocess.PIPE, env=self._env, cwd=self._cwd,
                                        creationflags=NO_CONSOLE_WINDOW)
        tail: list[str] = []
        threading.Thread(target=_drain, args=(self.process.stderr, tail), daemon=True).start()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            self.stop()
            raise EngineStartError(f"the engine did not become ready within {timeout_s:.0f} s") from None
        try:
            message = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError:
            message = {}
        if message.get("event") != "ready":
            self.stop()
            reason = message.get("message") or "".join(tail[-20:]).strip() or "it exited without saying why"
            raise EngineStartError(f"the engine failed to start: {reason}")
        self.handshake = message
        return message

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: requests aborted, a clean exit (the pipe stays open meanwhile)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def __enter__(self) -> "EngineSubprocess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _drain(stream: Any, tail: list[str], keep: int = 200) -> None:
    """Keep reading the child's stderr (so it never blocks on a full pipe), remembering the last lines."""
    for line in stream:
        tail.append(line)
        del tail[:-keep]
