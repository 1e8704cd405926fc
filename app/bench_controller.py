"""What the benchmark panel's buttons do: start and follow a run in the engine, cancel it, keep and export results.

A run lives in the engine (``POST /v1/bench/runs``); progress is polled on a worker (``client.bench_watch``)
and handed to the panel, with each precision's column as soon as it is measured. The panel follows the
engine: ready when one is connected, and a run whose engine went away (a restart, a switch to a server) ends
there and says so. A finished (or cancelled, partial) result is saved in the store's ``bench_runs``
(model = the model folder's name, with the machine record), which is the panel's history. Exports write
``core.api.bench_report``'s CSV/JSON, or a PNG of the panel.

Signals:
    run_finished(state)          done | cancelled | failed
    exported(path)
    error(exception, title)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from app.tasks import Task, TaskRunner
from app.widgets.benchmark_panel import BenchmarkPanel
from core.api import bench_report as report
from core.client import EngineClient
from core.api.protocol import BenchRun
from core.store import RowNotFound, Store

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
FILTERS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)"}


class BenchController(QObject):
    run_finished = Signal(str)
    exported = Signal(str)
    error = Signal(object, str)

    def __init__(self, panel: BenchmarkPanel, tasks: TaskRunner, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel, self.tasks, self.store = panel, tasks, store
        self.client: EngineClient | None = None
        self.model: str | None = None
        self.run_id: str | None = None
        self.precisions: list[str] | None = None  # None: every precision the engine's hardware runs
        self._watch: Task | None = None
        self.choose_path: Callable[[str, str], str | None] = self._ask_path  # (kind, suggested) -> path; tests swap it
        panel.run_requested.connect(self.start)
        panel.cancel_requested.connect(self.cancel)
        panel.export_requested.connect(self.export)
        panel.history_selected.connect(self.show_saved)

    @property
    def running(self) -> bool:
        return self.run_id is not None

    def set_client(self, client: EngineClient | None, info: dict[str, Any] | None = None) -> None:
        """The engine to benchmark; a remote server (vLLM, ...) has no benchmark endpoints."""
        info = info or {}
        if self.running and client is not self.client:
            self._lost()
        self.client = client if info.get("mode", "local") == "local" or info.get("engine") else None
        self.model = info.get("model") or self.model
        if self.client is None:
            reason = "A remote server cannot be benchmarked here." if client else "Start the engine to run a benchmark."
            self.panel.set_available(False, reason)
        else:
            self.panel.set_available(True)
        self.refresh_history()

    # --- a run ---------------------------------------------------------------------------------------
    def start(self, quick: bool = True) -> None:
        client = self.client
        if client is None or self.running:
            return
        self.panel.set_running(True)
        self.run_id = "starting"
        self.tasks.run(client.bench_start, quick=quick, precisions=self.precisions, name="bench start",
                       on_result=self._started,
                       on_error=self._start_failed)

    def cancel(self) -> None:
        if self.client is not None and self.run_id not in (None, "starting"):
            self.tasks.run(self.client.bench_cancel, self.run_id, name="bench cancel",
                           on_error=lambda exc: self.error.emit(exc, "Could not cancel the benchmark"))

    def _started(self, run: BenchRun) -> None:
        if self.run_id != "starting":
            return  # given up while it started (its engine went away)
        self.run_id = run.id
        client = self.client
        if client is None:
            return
        self._watch = self.tasks.iterate(lambda: client.bench_watch(run.id, POLL_INTERVAL_S), name="bench watch",
                                         on_item=self._on_run, on_error=self._watch_failed)

    def _start_failed(self, exc: BaseException) -> None:
        self.run_id = None
        self.panel.show_finished("failed", str(exc))
        self.error.emit(exc, "Could not start the benchmark")
        self.run_finished.emit("failed")

    def _watch_failed(self, exc: BaseException) -> None:
        if self.run_id is None:
            return
        self.run_id = None
        self.panel.show_finished("failed", f"lost contact with the engine ({exc})")
        self.run_finished.emit("failed")

    def _lost(self) -> None:
        """The engine running the benchmark went away: the run is over, what was measured stays shown."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self.run_id = None
        self.panel.show_finished("failed", "the engine stopped during the run (the precisions measured so far "
                                           "are shown)")
        self.run_finished.emit("failed")

    def _on_run(self, run: BenchRun) -> None:
        if self.run_id is None:
            return  # a run given up (its engine went away)
        if run.state == "running":
            self.panel.show_progress(run.fraction, run.stage, run.precision, run.index, run.count, run.eta_s)
            shown = self.panel.result
            if run.result and run.result.get("precisions") and (
                    shown is None or shown.get("started_at") != run.result.get("started_at")
                    or len(shown.get("precisions", [])) != len(run.result["precisions"])):
                self.panel.show_result(run.result, partial=True)
            return
        self.run_id = None
        saved = None
        if run.result and run.result.get("precisions"):
            saved = self._save(run.result)
            self.panel.show_result(run.result)
        self.refresh_history(saved)
        self.panel.show_finished(run.state, run.message)
        self.run_finished.emit(run.state)

    def _save(self, result: dict[str, Any]) -> int | None:
        model = result.get("model", {}).get("name") or self.model or "unknown"
        self.model = model
        try:
            return self.store.add_bench_run(model, result.get("machine", {}), result.get("config", {}), result).id
        except (ValueError, OSError) as exc:
            self.error.emit(exc, "Could not save the benchmark run")
            return None

    # --- history -------------------------------------------------------------------------------------
    def refresh_history(self, current: int | None = None) -> None:
        """Past runs of this model, newest first, each labelled with its machine (runs differ by machine)."""
        runs = self.store.bench_runs(self.model) if self.model else []
        items = [(r.id, history_label(r.created_at, r.config, r.machine)) for r in runs]
        self.panel.set_history(items, current)

    def show_saved(self, run_id: int) -> None:
        try:
            run = next(r for r in self.store.bench_runs(self.model) if r.id == run_id)
        except (StopIteration, RowNotFound):
            return
        self.panel.show_result(run.results)

    # --- exports -------------------------------------------------------------------------------------
    def export(self, kind: str) -> None:
        result = self.panel.result
        if result is None:
            return
        name = f"bench-{result.get('model', {}).get('name', 'model')}-{time.strftime('%Y%m%d-%H%M')}.{kind}"
        path = self.choose_path(kind, name)
        if not path:
            return
        if kind == "png":
            ok = self.panel.grab().save(path, "PNG")  # GUI thread: grabbing paints widgets
            self._exported(path) if ok else self.error.emit(OSError(f"could not write {path}"), "Export failed")
            return
        text = report.to_csv(result) if kind == "csv" else report.to_json(result)
        self.tasks.run(Path(path).write_text, text, encoding="utf-8", name="bench export",
                       on_result=lambda _: self._exported(path),
                       on_error=lambda exc: self.error.emit(exc, "Could not export the benchmark"))

    def _exported(self, path: str) -> None:
        self.exported.emit(path)

    def _ask_path(self, kind: str, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.panel, "Export the benchmark", suggested, FILTERS[kind])
        return path or None


def history_label(created_at: float, config: dict[str, Any], machine: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created_at))
    mode = "quick" if config.get("quick", True) else "full"
    return f"{when} · {mode} · {machine.get('name') or machine.get('cpu') or '?'}"
