"""``/v1/bench/runs``: benchmark runs inside the engine process, one at a time, with progress and cancel.

A run is ``core.bench.suite.run_suite`` on a thread of its own; each precision is measured in a child
process of the engine (see ``core.bench.precision_run`` for why), so the model being served stays loaded
and keeps answering, only slower while a child computes. Progress is kept here for polling (``GET``), with
the result so far once a precision has finished (the panel shows each column as it comes);
``DELETE`` sets the run's cancel event and the suite stops the running child within a fraction of a second.
Finished runs are kept (the last few) until the engine exits; the GUI stores results in its own SQLite.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from core.api.bench_spec import SuiteConfig
from core.bench.suite import SuiteProgress, run_suite
from core.server.errors import BadRequestError, ConflictError, NotFoundError
from core.api.protocol import BenchRequest, BenchRun
from core.server.serving import EngineService

log = logging.getLogger(__name__)

KEEP_RUNS = 8
Runner = Callable[..., dict[str, Any]]  # run_suite's signature


class BenchService:
    def __init__(self, service: EngineService, runner: Runner = run_suite) -> None:
        self.service, self.runner = service, runner
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, BenchRun] = OrderedDict()
        self._cancels: dict[str, threading.Event] = {}
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    def start(self, request: BenchRequest) -> BenchRun:
        cfg = self._config(request)
        with self._lock:
            busy = [r for r in self._runs.values() if r.state == "running"]
            if busy:
                raise ConflictError(f"benchmark run {busy[0].id} is still running; cancel it or wait for it",
                                    code="bench_in_progress")
            run = BenchRun(id=f"bench-{int(time.time())}-{next(self._ids)}", state="running", stage="starting")
            self._runs[run.id] = run
            self._cancels[run.id] = threading.Event()
            while len(self._runs) > KEEP_RUNS:
                old, _ = self._runs.popitem(last=False)
                self._cancels.pop(old, None)
        thread = threading.Thread(target=self._run, args=(run.id, cfg), name=f"ponder-{run.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return run

    def get(self, run_id: str) -> BenchRun:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise NotFoundError(f"no benchmark run with id {run_id!r}", param="run_id", code="bench_not_found")
            return run.model_copy()

    def cancel(self, run_id: str) -> BenchRun:
        run = self.get(run_id)
        if run.state == "running":
            self._cancels[run_id].set()
        return run

    def stop_all(self, timeout_s: float = 8.0) -> None:
        """Cancel every run and wait (bounded) for their child processes to be stopped."""
        for event in list(self._cancels.values()):
            event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _config(self, request: BenchRequest) -> SuiteConfig:
        options = self.service.model.options if self.service.model is not None else self.service.options
        folder = Path(request.model).expanduser().resolve() if request.model else Path(options.model_dir)
        if not (folder / "config.json").is_file():
            raise BadRequestError(f"{folder} is not a model folder (no config.json)", param="model")
        try:
            return SuiteConfig.make(folder, quick=request.quick, precisions=request.precisions, seed=request.seed,
                                    threads=request.threads or options.threads, device=options.device)
        except ValueError as exc:
            raise BadRequestError(str(exc), param="precisions") from exc

    def _run(self, run_id: str, cfg: SuiteConfig) -> None:
        try:
            result = self.runner(cfg, lambda p: self._progress(run_id, p), self._cancels[run_id],
                                 on_result=lambda partial: self._update(run_id, result=partial))
        except Exception as exc:  # noqa: BLE001 - a failed run is reported, the engine keeps serving
            log.exception("benchmark run %s failed", run_id)
            self._update(run_id, state="failed", message=f"{type(exc).__name__}: {exc}", eta_s=None)
            return
        state = "done" if result.get("status") == "done" else "cancelled"
        self._update(run_id, state=state, result=result, eta_s=None, fraction=1.0 if state == "done" else None)

    def _progress(self, run_id: str, p: SuiteProgress) -> None:
        self._update(run_id, fraction=p.fraction, stage=p.stage, precision=p.precision, index=p.index,
                     count=p.count, elapsed_s=p.elapsed_s, eta_s=p.eta_s)

    def _update(self, run_id: str, **changes: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                clean = {k: v for k, v in changes.items() if v is not None or k in ("eta_s",)}
                self._runs[run_id] = run.model_copy(update=clean)
