"""The local engine's lifecycle, as seen from the GUI: spawn, handshake, watch, restart after a crash, stop.

``EngineProcess`` wraps ``core.api.spawn.EngineSubprocess`` (token through the environment, one JSON
handshake line, terminate -> wait -> kill). Spawning blocks until the model is loaded, so it runs on a
worker (``app.tasks``); the window is usable at once and follows the signals:

    starting()                      a spawn began (first start, restart, or another model)
    ready(base_url, token, handshake)
    failed(message)                 the engine could not start (bad model folder, no memory, ...)
    no_model(message)               no model to start with (the bundled one is not installed)
    crashed(message)                the running engine died (or stopped answering); a restart follows
    restarted()                     the engine is back after a crash (``ready`` follows at once)

Watching: the child's exit is polled every ``POLL_MS`` (``Popen.poll``, no I/O) and ``/health`` every
``HEALTH_MS`` on a worker; ``HEALTH_FAILURES`` failures in a row while the process lives (no answer, or
``engine_stalled``: the engine answers but its engine thread makes no progress) count as a wedged engine,
which is killed and restarted, and ``crashed`` says why. After ``MAX_RESTARTS`` crashes within
``RESTART_WINDOW_S`` it gives up and reports ``failed``. A frozen build (PyInstaller, ``sys.frozen``) runs
the bundle's ``ponder-engine`` executable, next to the window's own, instead of ``python -m core.server``.
The engine dies with the window however the window ends (``core.server.parent_watch``); ``start`` also stops
any engine left by a window that died before (``core.api.engine_pids``).
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from app.tasks import Task, TaskRunner
from core.client import EngineClient, EngineError, EngineStalledError, LoadingError
from core.frozen import ENGINE_EXECUTABLE, is_frozen, sibling_executable
from core.paths import BUNDLED_MODEL, default_model_dir, models_dir
from core.api.engine_pids import stop_orphaned_engines
from core.api.spawn import EngineStartError, EngineSubprocess

log = logging.getLogger(__name__)

POLL_MS = 250
HEALTH_MS = 5000
HEALTH_FAILURES = 3
MAX_RESTARTS = 3
RESTART_WINDOW_S = 120.0
START_TIMEOUT_S = 600.0  # a large model on a slow disk takes minutes


def engine_command() -> list[str] | None:
    """The command that starts the engine: in a frozen bundle its sibling ``ponder-engine`` executable (the
    window's own executable holds no torch), else ``None``: ``EngineSubprocess``'s ``python -m core.server``."""
    if is_frozen():
        return [str(sibling_executable(ENGINE_EXECUTABLE))]
    return None


def bundled_model_dir() -> Path | None:
    return default_model_dir()


def no_model_message() -> str:
    return (f"No model yet: the bundled model ({BUNDLED_MODEL}) is not installed in "
            f"{models_dir()}. Open a model folder (File ▸ Open model folder…) or download one "
            "in the model panel.")


class EngineProcess(QObject):
    starting = Signal()
    ready = Signal(str, str, dict)  # base_url, token, handshake
    failed = Signal(str)
    no_model = Signal(str)
    crashed = Signal(str)
    restarted = Signal()

    def __init__(self, tasks: TaskRunner, model_dir: Path | None = None, *, precision: str = "auto",
                 context: int | None = None, command: Sequence[str] | None = None, extra_args: Sequence[str] = (),
                 env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self.model_dir = Path(model_dir) if model_dir is not None else bundled_model_dir()
        self.precision, self.context = precision, context
        self._command = list(command) if command is not None else engine_command()
        self._extra_args, self._env, self._cwd = list(extra_args), env, cwd
        self._sub: EngineSubprocess | None = None
        self._spawned: list[EngineSubprocess] = []  # every child not yet known to be stopped
        self._generation = 0  # bumps on every spawn/stop: results of older spawns are ignored
        self.state = "idle"  # idle | starting | ready | restarting | failed | no_model | stopped
        self.handshake: dict[str, Any] = {}
        self._crash_times: list[float] = []
        self._restarting = False
        self._health_failures = 0
        self._health_task: Task | None = None
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._check_alive)
        self._health = QTimer(self, interval=HEALTH_MS)
        self._health.timeout.connect(self._check_health)

    # --- state ---------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._sub.base_url if self._sub is not None and self.state == "ready" else ""

    @property
    def token(self) -> str:
        return self._sub.token if self._sub is not None else ""

    @property
    def child(self) -> EngineSubprocess | None:
        """The engine subprocess now in use (its exit status stays readable after ``stop``)."""
        return self._sub

    @property
    def pid(self) -> int | None:
        sub = self._sub
        return sub.process.pid if sub is not None and sub.process is not None else None

    def set_launch(self, model_dir: Path | str | None = None, precision: str | None = None,
                   context: int | None = None) -> None:
        """What the next (re)start loads: call after a successful reload, so a crash restarts the same model."""
        if model_dir is not None:
            self.model_dir = Path(model_dir)
        if precision is not None:
            self.precision = precision
        if context is not None:
            self.context = context

    # --- start / stop ----------------------------------------------------------------------------------
    def start(self, model_dir: Path | str | None = None) -> None:
        """Spawn the engine (stopping a running one first); the outcome comes as ``ready`` or ``failed``."""
        if model_dir is not None:
            self.model_dir = Path(model_dir)
        self._restarting = False
        self._tasks.run(stop_orphaned_engines, name="stop orphaned engines")  # of a window that died before
        self._spawn()

    def restart(self) -> None:
        """Stop and start again with the same model (Engine ▸ Restart engine)."""
        self._restarting = False
        self._spawn()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the engine and wait for it (terminate, wait, kill): for window close and switching to a server."""
        self._generation += 1
        self._halt_watch()
        self._sub = None
        for sub in self._spawned:  # the current one, and any still starting or stopping
            _stop_subprocess(sub, timeout_s)
        self._spawned.clear()
        self.state = "stopped"

    def stop_in_background(self) -> None:
        """Stop without waiting on the GUI thread (switching to a remote server)."""
        self._generation += 1
        self._halt_watch()
        sub, self._sub = self._sub, None
        if sub is not None:
            self._tasks.run(_stop_subprocess, sub, 10.0, name="stop engine")
        self.state = "stopped"

    def _spawn(self) -> None:
        old, self._sub = self._sub, None
        self._generation += 1
        self._halt_watch()
        if old is not None:
            self._tasks.run(_stop_subprocess, old, 10.0, name="stop engine")
        if self.model_dir is None or not (Path(self.model_dir) / "config.json").is_file():
            self.state = "no_model"
            message = no_model_message() if self.model_dir is None else (
                f"{self.model_dir} is not a model folder (it has no config.json). Open a folder in the Hugging "
                "Face layout: config.json, tokenizer.json, model.safetensors.")
            self.no_model.emit(message)
            return
        args = ["--model", str(self.model_dir), "--precision", self.precision, *self._extra_args]
        if self.context:
            args += ["--context", str(self.context)]
        sub = EngineSubprocess(args, command=self._command, env=self._env, cwd=self._cwd)
        self._sub = sub
        self._spawned = [s for s in self._spawned if s.process is None or s.alive()] + [sub]
        self.state = "restarting" if self._restarting else "starting"
        generation = self._generation
        log.info("starting the engine: %s", " ".join(sub.argv))
        self.starting.emit()
        self._tasks.run(sub.start, START_TIMEOUT_S, name="start engine",
                        on_result=lambda hs: self._started(generation, sub, hs),
                        on_error=lambda exc: self._start_failed(generation, sub, exc))

    def _started(self, generation: int, sub: EngineSubprocess, handshake: dict[str, Any]) -> None:
        if generation != self._generation:  # stopped or replaced meanwhile
            self._tasks.run(_stop_subprocess, sub, 10.0, name="stop stale engine")
            return
        self.handshake = dict(handshake)
        self.state = "ready"
        self._health_failures = 0
        self._poll.start()
        self._health.start()
        log.info("engine ready (pid %s) at %s: %s", handshake.get("pid"), sub.base_url, handshake.get("model"))
        if self._restarting:
            self._restarting = False
            self.restarted.emit()
        self.ready.emit(sub.base_url, sub.token, self.handshake)

    def _start_failed(self, generation: int, sub: EngineSubprocess, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._sub = None
        self.state = "failed"
        self._restarting = False
        message = str(exc) if isinstance(exc, EngineStartError) else f"the engine could not start: {exc}"
        log.error("%s", message)
        self.failed.emit(message)

    # --- watching --------------------------------------------------------------------------------------
    def _halt_watch(self) -> None:
        self._poll.stop()
        self._health.stop()
        if self._health_task is not None:
            self._health_task.cancel()
            self._health_task = None

    def _check_alive(self) -> None:
        sub = self._sub
        if sub is None or self.state != "ready" or sub.alive():
            return
        code = sub.process.returncode if sub.process is not None else None
        self._on_crash(f"the engine stopped unexpectedly ({_describe_exit(code)})")

    def _check_health(self) -> None:
        sub = self._sub
        if sub is None or self.state != "ready" or self._health_task is not None:
            return
        generation = self._generation
        self._health_task = self._tasks.run(_probe_health, sub.base_url, sub.token, name="health",
                                            on_result=lambda problem: self._health_result(generation, problem),
                                            on_finished=self._health_done)

    def _health_done(self) -> None:
        self._health_task = None

    def _health_result(self, generation: int, problem: str | None) -> None:
        if generation != self._generation or self.state != "ready":
            return
        self._health_failures = 0 if problem is None else self._health_failures + 1
        if self._health_failures >= HEALTH_FAILURES:
            self._on_crash(f"the engine is wedged ({problem}; {HEALTH_FAILURES} health checks in a row failed)")

    def _on_crash(self, message: str) -> None:
        log.error("%s", message)
        now = time.monotonic()
        self._crash_times = [t for t in self._crash_times if now - t < RESTART_WINDOW_S] + [now]
        self.crashed.emit(message)
        if len(self._crash_times) > MAX_RESTARTS:
            self.stop_in_background()
            self.state = "failed"
            self.failed.emit(f"{message}; it crashed {len(self._crash_times)} times in "
                             f"{RESTART_WINDOW_S:.0f} s, so Ponder stopped restarting it. Try another precision "
                             "or model, then Engine ▸ Restart engine.")
            return
        self._restarting = True
        self._spawn()


def _probe_health(base_url: str, token: str) -> str | None:
    """None when the engine is alive (a model still loading counts), else what is wrong."""
    with EngineClient(base_url, token, timeout=10.0) as client:
        try:
            client.health()
        except EngineStalledError as exc:
            return exc.message
        except LoadingError:
            return None
        except EngineError as exc:
            return f"it does not answer: {exc.message}"
    return None


def _stop_subprocess(sub: EngineSubprocess, timeout_s: float) -> None:
    """Terminate, wait, kill; also for a child still starting (its Popen appears within moments)."""
    deadline = time.monotonic() + 2.0
    while sub.process is None and time.monotonic() < deadline:
        time.sleep(0.01)
    sub.stop(timeout_s)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
