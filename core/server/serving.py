"""The engine thread: the one thread that owns the Engine, and the bridge between it and asyncio.

Shape: async handlers -> the prompt rendered and encoded on a small pool of prompt threads (a chat
template or a long prompt can never hold up the engine thread) -> commands on a thread-safe queue -> the
engine thread (adds, aborts, loads, calls ``engine.step()`` while there is work) -> each result goes to its
request's ``asyncio.Queue`` through a ``Sink`` (``loop.call_soon_threadsafe``). Handlers only read those queues, so
concurrent requests decode together in one batched forward, and aborts (cancel endpoint, disconnects)
take effect before the next step, also for queued or prefilling requests.

An exception inside ``engine.step()`` fails the requests of that step (500 / error chunk) and is logged;
a request whose own sampling or output processing fails is finished alone with its error while the others
go on; the thread keeps serving. A load keeps the old model serving if the new one fails. ``liveness``
measures the engine thread's progress for ``/health``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from core.engine.engine import EngineSnapshot, TokenEvent
from core.engine.launch import Launched, LaunchOptions
from core.server.bridge import Accepted, ChatJob, Failed, Sink
from core.server.counters import RateMeter, Totals
from core.server.errors import (BadRequestError, ConflictError, EngineLoadingError, InternalError, NotFoundError,
                                PonderError, api_error, unavailable_error)
from core.server.liveness import Liveness, Stall
from core.server.model_state import ModelState
from core.api.protocol import DEFAULT_MODEL_ALIAS, ChatCompletionRequest, LoadProgress, LoadStatus
from core.precision import PRECISION_CHOICES

log = logging.getLogger(__name__)

Launcher = Callable[[LaunchOptions, Callable[[str, float], None]], Launched]
PUBLISH_INTERVAL_S = 0.1  # snapshots for status/events/metrics, at most this often while busy
PROMPT_THREADS = 2  # prompts rendered and encoded at once, off the engine thread


@dataclass(frozen=True, slots=True)
class _Abort:
    request_id: str


@dataclass(frozen=True, slots=True)
class _AbortAll:
    error: PonderError


@dataclass(frozen=True, slots=True)
class _Load:
    options: LaunchOptions
    report: Callable[[LoadProgress], None]


class _Stop:
    pass


class EngineService:
    """Runs the engine thread; every public method may be called from any thread."""

    def __init__(self, options: LaunchOptions, launcher: Launcher | None = None,
                 liveness: Liveness | None = None) -> None:
        self._options = options
        self.liveness = liveness or Liveness()
        self._prompts = ThreadPoolExecutor(PROMPT_THREADS, thread_name_prefix="ponder-prompt")
        self._launcher = launcher or _default_launcher
        self._commands: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._model: ModelState | None = None
        self._load = LoadStatus(state="loading", target=str(options.model_dir))
        self._sinks: dict[str, Sink] = {}  # engine thread only: requests inside the engine
        self._read: dict[str, int] = {}  # engine thread only: prompt tokens last reported read, per request
        self._active: set[str] = set()  # requests the handlers are serving (for cancel's 404)
        self._snapshot: EngineSnapshot | None = None
        self._published_s = 0.0
        self._engine_tokens = 0  # the current engine's tokens_generated at the last publish
        self._rate = RateMeter()
        self.totals = Totals()
        self.first_load: Future[ModelState] = Future()
        self._thread = threading.Thread(target=self._run, name="ponder-engine", daemon=True)

    # --- any thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._commands.put(_Load(self._options, self._report_first_load))

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread.is_alive():
            self._commands.put(_Stop())
            self._thread.join(timeout_s)
        self._prompts.shutdown(wait=False, cancel_futures=True)

    def stalled(self) -> Stall | None:
        """The engine thread's stall, if it is stuck (``/health`` answers 503 then)."""
        return self.liveness.stalled()

    @property
    def options(self) -> LaunchOptions:
        return self._options

    @property
    def model(self) -> ModelState | None:
        return self._model

    @property
    def state(self) -> str:
        return self._load.state

    def load_status(self) -> LoadStatus:
        with self._lock:
            return self._load.model_copy()

    def snapshot(self) -> tuple[EngineSnapshot | None, float]:
        """The latest engine snapshot and the generation rate (tokens/s) over the last few seconds."""
        with self._lock:
            return self._snapshot, self._rate.rate(time.monotonic())

    async def prepare_chat(self, request_id: str, request: ChatCompletionRequest, messages: list[dict[str, Any]],
                           sink: Sink) -> ChatJob:
        """Render and encode the chat for the model serving now, on a prompt thread; raises the request's
        ``PonderError`` (503 while loading, 404 for another model's name, 400 for a prompt over the context)."""
        m = self._model
        if m is None or self._load.state != "ready":
            self._count_rejected()
            raise unavailable_error(self._load)
        asked = request.model
        if asked not in (None, "", DEFAULT_MODEL_ALIAS, m.id):
            raise NotFoundError(f"the model {asked!r} is not loaded; this engine serves {m.id!r} (see GET "
                                "/v1/models), or load another with POST /v1/engine/load", param="model",
                                code="model_not_found")

        def prepare() -> ChatJob:
            ids, opened = m.engine.render_chat(messages)
            return ChatJob(request_id, request, ids, opened, m, m.grounder(request), sink)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._prompts, prepare)
        except Exception as exc:  # noqa: BLE001 - mapped once; a template's failure is the request's 4xx
            error = api_error(exc, "preparing the request")
            if error.status >= 500:
                log.error("could not prepare request %s", request_id, exc_info=exc)
            self._count_rejected()
            raise error from None

    def submit_chat(self, job: ChatJob) -> None:
        if self._load.state != "ready":
            self._count_rejected()
            raise unavailable_error(self._load)
        with self._lock:
            self._active.add(job.request_id)
        self._commands.put(job)

    def release(self, request_id: str) -> None:
        """The handler is done with a request (finished, failed or gone)."""
        with self._lock:
            self._active.discard(request_id)

    def is_active(self, request_id: str) -> bool:
        with self._lock:
            return request_id in self._active

    def cancel(self, request_id: str) -> None:
        self._commands.put(_Abort(request_id))

    def abort_all(self, error: PonderError) -> None:
        self._commands.put(_AbortAll(error))

    def request_load(self, options: LaunchOptions, report: Callable[[LoadProgress], None]) -> None:
        with self._lock:
            if self._load.state == "loading":
                raise ConflictError(f"a model is already being loaded ({self._load.target}); wait for it to finish")
            self._load = LoadStatus(state="loading", stage="planning", fraction=0.0, target=str(options.model_dir))
        self._commands.put(_Load(options, report))

    # --- the engine thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                commands = self._next_commands()
                for command in commands:
                    if isinstance(command, _Stop):
                        self._abort_all(EngineLoadingError("the engine is shutting down", code="shutting_down"))
                        return
                    self._handle(command)
                if commands:
                    self._publish(force=True)
                if self._has_work():
                    self.liveness.busy("generating")
                    started = time.monotonic()
                    self._step()
                    self.liveness.step_took(time.monotonic() - started)
                self._publish()
                self.liveness.beat()
            except Exception:  # noqa: BLE001 - the engine thread must survive anything
                log.exception("unexpected error in the engine thread; it keeps serving")
                time.sleep(0.05)

    def _has_work(self) -> bool:
        return self._model is not None and self._model.engine.has_work()

    def _next_commands(self) -> list[object]:
        """Every queued command; waits for one while the engine has nothing to do."""
        if self._has_work():
            commands = []
        else:
            self.liveness.idle()
            commands = [self._commands.get()]
            self.liveness.busy("handling requests")
        while True:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                return commands

    def _handle(self, command: object) -> None:
        if isinstance(command, ChatJob):
            self._add(command)
        elif isinstance(command, _Abort):
            self._abort(command.request_id)
        elif isinstance(command, _AbortAll):
            self._abort_all(command.error)
        elif isinstance(command, _Load):
            self._switch(command)

    def _add(self, job: ChatJob) -> None:
        m = self._model
        if m is None or self._load.state != "ready":
            job.sink(Failed(unavailable_error(self._load)))
            return
        if job.model is not m:
            job.sink(Failed(EngineLoadingError("the engine switched models while this request was being "
                                               "prepared; send it again", code="model_changed",
                                               headers={"Retry-After": "1"})))
            return
        ids = job.prompt_ids
        try:
            m.engine.add(ids, m.sampling_params(job.request, len(ids)), job.opened_think, request_id=job.request_id,
                         grounder=job.grounder)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to its request, mapped once
            error = api_error(exc, "preparing the request")
            if error.status >= 500:
                log.error("could not add request %s", job.request_id, exc_info=exc)
            self._count_rejected()
            job.sink(Failed(error))
            return
        self._sinks[job.request_id] = job.sink
        self._publish(force=True)
        job.sink(Accepted(len(ids)))
        self._report_reading()

    def _abort(self, request_id: str) -> None:
        sink = self._sinks.pop(request_id, None)
        self._read.pop(request_id, None)
        event = self._model.engine.abort(request_id) if self._model else None
        if event is not None:
            self._count_finished(event)
            self._publish(force=True)
            if sink is not None:
                sink(event)

    def _abort_all(self, error: PonderError) -> None:
        for request_id, sink in list(self._sinks.items()):
            if self._model is not None:
                self._model.engine.abort(request_id)
            sink(Failed(error))
        self.totals.failed += len(self._sinks)
        self._sinks.clear()
        self._read.clear()

    def _step(self) -> bool:
        """One forward pass; True when a request finished or was admitted (the snapshot changed).

        The snapshot is published before the events are handed over, so a client that sees its stream
        end (or start) and then asks for the status sees the same state.
        """
        engine = self._model.engine  # type: ignore[union-attr]
        try:
            events = engine.step()
        except Exception as exc:  # noqa: BLE001
            self._fail_step(exc)
            return True
        changed, deliveries = False, []
        for event in events:
            item: Any = event
            self._read.pop(event.request_id, None)  # its prompt is read
            if event.finish_reason:
                sink = self._sinks.pop(event.request_id, None)
                changed = True
                if event.error is not None:  # this request alone failed; the others of the batch go on
                    self.totals.failed += 1
                    item = Failed(InternalError(f"the engine failed while generating this request "
                                                f"({event.error}); it was stopped, the engine keeps serving"))
                else:
                    self._count_finished(event)
            else:
                sink = self._sinks.get(event.request_id)
                changed = changed or event.metrics.completion_tokens == 1  # just admitted and prefilled
            if sink is not None:
                deliveries.append((sink, item))
        self._publish(force=changed)
        for sink, event in deliveries:
            sink(event)
        self._report_reading()
        return changed

    def _report_reading(self) -> None:
        """Each request still reading its prompt gets its progress, when it moved since the last report."""
        if self._model is None:
            return
        for progress in self._model.engine.prefill_progress():
            sink = self._sinks.get(progress.request_id)
            if sink is not None and self._read.get(progress.request_id) != progress.done_tokens:
                self._read[progress.request_id] = progress.done_tokens
                sink(progress)

    def _fail_step(self, exc: Exception) -> None:
        """A forward pass failed: fail the requests it ran (or, if none ran, those waiting); keep serving."""
        log.error("engine step failed; failing the requests of this step", exc_info=exc)
        scheduler = self._model.engine.scheduler  # type: ignore[union-attr]
        victims = list(scheduler.running) or list(scheduler.waiting)
        error = InternalError(f"the engine failed while generating ({type(exc).__name__}: {exc}); "
                              "the request was stopped, the engine keeps serving")
        for seq in victims:
            try:
                self._model.engine.abort(seq.id)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - state may be inconsistent after the failure
                scheduler.finish(seq, "abort")
            sink = self._sinks.pop(seq.id, None)
            self._read.pop(seq.id, None)
            if sink is not None:
                sink(Failed(error))
            self.totals.failed += 1

    def _switch(self, command: _Load) -> None:
        self.liveness.busy("loading a model")
        old = self._model
        if old is not None:
            self._abort_all(EngineLoadingError("the engine is switching to another model; retry when it is ready"))
        with self._lock:
            self._load = LoadStatus(state="loading", stage="planning", fraction=0.0,
                                    target=str(command.options.model_dir))
        progress = _ProgressReporter(self, command.report)
        try:
            launched = self._launcher(command.options, progress)
            new = ModelState.from_launched(launched, command.options)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the old model serving
            self._load_failed(command, old, exc)
            return
        with self._lock:
            self._model, self._options = new, command.options
            self._load = LoadStatus(state="ready")
            self._rate = RateMeter()
            self._engine_tokens = 0
        del old
        _release_memory(new)
        log.info("serving %s (%s)", new.id, new.launched.plan.summary())
        command.report(LoadProgress(event="ready", fraction=1.0, model=new.summary(), plan=new.plan_dict))

    def _load_failed(self, command: _Load, old: ModelState | None, exc: Exception) -> None:
        where = command.options.model_dir
        kept = f"; still serving {old.id} ({old.launched.plan.precision})" if old else ""
        message = f"could not load {where}: {exc}{kept}"
        log.error("%s", message, exc_info=not isinstance(exc, (ValueError, OSError)))
        with self._lock:
            self._load = LoadStatus(state="ready" if old else "failed", error=message)
        command.report(LoadProgress(event="error", message=message, model=old.summary() if old else None))

    def _report_first_load(self, progress: LoadProgress) -> None:
        if progress.event == "ready":
            self.first_load.set_result(self._model)  # type: ignore[arg-type]
        elif progress.event == "error":
            self.first_load.set_exception(RuntimeError(progress.message))

    def _set_progress(self, stage: str, fraction: float) -> None:
        with self._lock:
            self._load = self._load.model_copy(update={"stage": stage, "fraction": fraction})

    def _count_rejected(self) -> None:
        with self._lock:  # the only counter both threads touch
            self.totals.rejected += 1

    def _count_finished(self, event: TokenEvent) -> None:
        reason = event.finish_reason or "unknown"
        self.totals.finished[reason] = self.totals.finished.get(reason, 0) + 1
        self.totals.prompt_tokens += event.metrics.prompt_tokens
        self.totals.cached_prompt_tokens += event.metrics.cached_prompt_tokens

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self._has_work() and now - self._published_s < PUBLISH_INTERVAL_S:
            return
        snap = self._model.engine.snapshot() if self._model else None
        with self._lock:
            self._snapshot, self._published_s = snap, now
            if snap is not None:
                self.totals.tokens_generated += max(0, snap.tokens_generated - self._engine_tokens)
                self._engine_tokens = snap.tokens_generated
                self._rate.add(now, self.totals.tokens_generated)


class _ProgressReporter:
    """launch()'s (stage, fraction) callback -> LoadProgress events, loading fractions thinned to 2% steps."""

    def __init__(self, service: EngineService, report: Callable[[LoadProgress], None]) -> None:
        self.service, self.report, self.last = service, report, -1.0

    def __call__(self, stage: str, fraction: float) -> None:
        self.service.liveness.beat()
        if stage == "ready":
            return  # the service says ready once the engine serves
        if stage == "loading" and fraction - self.last < 0.02 and fraction < 1.0:
            return
        self.last = fraction if stage == "loading" else self.last
        self.service._set_progress(stage, fraction)
        self.report(LoadProgress(event="planning" if stage == "planning" else "loading", fraction=fraction))


def _release_memory(model: ModelState) -> None:
    gc.collect()
    if model.launched.loaded.device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


def _default_launcher(options: LaunchOptions, on_progress: Callable[[str, float], None]) -> Launched:
    from core.engine.launch import launch

    return launch(options, on_progress)


def load_options(current: LaunchOptions, model: str | None, precision: str | None,
                 context: int | None) -> LaunchOptions:
    """The options of a requested switch: what is given changes; a new model gets its default context."""
    if precision is not None and precision not in PRECISION_CHOICES:
        raise BadRequestError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}",
                              param="precision")
    changes: dict[str, Any] = {}
    if model is not None:
        try:
            folder = Path(model).expanduser().resolve()
            exists = folder.is_dir()
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system, a loop ...
            shown = model if len(model) <= 120 else f"{model[:120]}… ({len(model):,} characters)"
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BadRequestError(f"the model folder {shown!r} cannot be used as a path ({reason})",
                                  param="model") from None
        if not exists:
            raise BadRequestError(f"the model folder {folder} does not exist", param="model")
        changes["model_dir"] = folder
        if folder != Path(current.model_dir).resolve() and context is None:
            changes["context_tokens"] = None
    if precision is not None:
        changes["precision"] = precision
    if context is not None:
        changes["context_tokens"] = context
    return replace(current, **changes)
