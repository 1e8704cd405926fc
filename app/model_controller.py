"""What the model panel's buttons do: status, model card, plan estimates, reloads and hub downloads.

Every engine call and every file read runs through ``app.tasks``; results come back to the panel. With no
engine running (no model yet, or it failed), Load starts the local engine on the chosen folder instead
(``start_requested``). With a remote server, plan, precision and reload are "not available on this
server" (the panel says so; nothing is called).

Signals:
    status_received(EngineStatus)
    load_started()
    load_progress(fraction, stage)
    loaded(model_dir, precision, context)   a reload finished: what a restart after a crash must load
    load_failed(exception)
    load_finished()
    start_requested(folder, precision, context)
    error(exception, title)
    download_progressed(DownloadProgress)   bytes, speed, time left (the catalog shows them too)
    download_ended(folder or None, error or None)   a finished download then loads with the planner's choice

Measure CPU speed again: the engine measures bf16 against fp32 now (a busy CPU keeps the measurement it has);
the panel says what happened, and the estimate is asked again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.tasks import Task, TaskRunner
from app.widgets.model_panel import ModelPanel
from core.client import EngineClient, LoadFailedError
from core.hub import DownloadProgress, download_model
from core.local_models import record_use
from core.api.protocol import CpuSpeedResult, EngineEvent, EngineStatus, LoadProgress, PlanResult

log = logging.getLogger(__name__)

MAX_CARD_BYTES = 256 * 1024


def read_model_card(folder: str) -> str | None:
    """The folder's README.md (the Hugging Face model card), or None."""
    path = Path(folder) / "README.md"
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            return f.read(MAX_CARD_BYTES)
    except OSError:
        return None


class ModelController(QObject):
    status_received = Signal(object)
    load_started = Signal()
    load_progress = Signal(float, str)  # fraction, stage
    loaded = Signal(str, str, int)
    load_failed = Signal(object)
    load_finished = Signal()  # after loaded or load_failed
    start_requested = Signal(object, str, object)
    error = Signal(object, str)
    download_progressed = Signal(object)
    download_ended = Signal(object, object)

    def __init__(self, panel: ModelPanel, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel, self.tasks = panel, tasks
        self.client: EngineClient | None = None
        self.mode = "none"  # none | local | remote
        self.loading = False
        self._estimate: Task | None = None
        self._download: Task | None = None
        self._card_for: str | None = None
        self.downloader = download_model  # (repo[@revision], token=...) -> iterator of DownloadProgress
        self.hub_token: str | None = None  # for gated or private repositories (else HF_TOKEN or `hf auth login`)
        self._downloaded: str | None = None
        panel.options_changed.connect(self.estimate)
        panel.load_requested.connect(self.load)
        panel.download_requested.connect(self.download)
        panel.download_cancel_requested.connect(self.cancel_download)
        panel.cpu_speed_requested.connect(self.measure_cpu_speed)

    def set_client(self, client: EngineClient | None, mode: str, info: dict[str, Any] | None = None) -> None:
        self.client, self.mode = client, mode
        info = info or {}
        if mode == "remote":
            self.panel.set_remote(info.get("url", ""), info.get("model"))
        elif client is not None:
            self.panel.set_local()
            self.refresh_status()

    def set_no_engine(self, message: str) -> None:
        self.client, self.mode = None, "none"
        self._card_for = None
        self.panel.set_no_engine(message)

    # --- status and model card -----------------------------------------------------------------------
    def refresh_status(self) -> None:
        client = self.client
        if client is None or self.mode != "local":
            return
        self.tasks.run(client.status, name="status", on_result=self._show_status,
                       on_error=lambda exc: log.info("engine status unavailable: %s", exc))

    def _show_status(self, status: EngineStatus) -> None:
        if self.mode != "local":
            return
        self.panel.show_status(status)
        self.status_received.emit(status)
        if status.model is not None and status.model.path != self._card_for:
            self._card_for = status.model.path
            self.tasks.run(record_use, status.model.path, name="record model use")
            self.tasks.run(read_model_card, status.model.path, name="model card", on_result=self.panel.show_model_card)
        self.estimate(*self.panel.chosen_options())

    def on_event(self, event: EngineEvent) -> None:
        if self.mode == "local":
            self.panel.show_measured(event)

    # --- CPU speed ------------------------------------------------------------------------------------
    def measure_cpu_speed(self) -> None:
        """Measure bf16 against fp32 on the engine's CPU again; then the estimate follows the kept measurement."""
        client = self.client
        if client is None or self.mode != "local":
            self.panel.show_cpu_speed("")
            return
        self.tasks.run(client.measure_cpu_speed, name="cpu speed", on_result=self._cpu_speed_measured,
                       on_error=lambda exc: self.panel.show_cpu_speed(f"Could not measure: {exc}"))

    def _cpu_speed_measured(self, result: CpuSpeedResult) -> None:
        self.panel.show_cpu_speed(result.message)
        self.estimate(*self.panel.chosen_options())

    # --- estimate before loading -----------------------------------------------------------------------
    def estimate(self, folder: str | None, precision: str, context: int | None) -> None:
        client = self.client
        if self.mode == "remote":
            return
        if client is None:
            self.panel.show_estimate(None, "the estimate needs a running engine (it knows the hardware); "
                                           "Load starts it with these settings")
            return
        if self._estimate is not None:
            self._estimate.cancel()
        self._estimate = self.tasks.run(client.plan, folder, precision, context, name="plan",
                                        on_result=self._show_estimate,
                                        on_error=lambda exc: self.panel.show_estimate(None, f"no estimate: {exc}"))

    def _show_estimate(self, result: PlanResult) -> None:
        self.panel.show_estimate(result)

    # --- reload ----------------------------------------------------------------------------------------
    def load(self, folder: str | None, precision: str, context: int | None) -> None:
        if self.mode == "remote" or self.loading:
            return
        client = self.client
        if client is None:
            if folder:
                self.start_requested.emit(folder, precision, context)
            return
        self.loading = True
        self.panel.set_load_progress(0.0, "planning")
        self.load_started.emit()
        self.tasks.iterate(lambda: client.load(folder, precision, context), name="load", on_item=self._load_progress,
                           on_error=self._load_error, on_finished=self._load_done)

    def _load_progress(self, progress: LoadProgress) -> None:
        if progress.event == "ready":
            model, plan = progress.model, progress.plan or {}
            if model is not None:
                self.loaded.emit(model.path, str(plan.get("requested") or "auto"), int(model.context_tokens))
            return
        self.panel.set_load_progress(progress.fraction or 0.0, progress.event)
        self.load_progress.emit(progress.fraction or 0.0, progress.event)

    def _load_error(self, exc: BaseException) -> None:
        self.load_failed.emit(exc)
        title = "The model could not be loaded" if isinstance(exc, LoadFailedError) else "Loading failed"
        self.error.emit(exc, title)

    def _load_done(self) -> None:
        self.loading = False
        self.panel.set_load_progress(None)
        self.load_finished.emit()
        self.refresh_status()

    # --- download --------------------------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._download is not None

    def download(self, repo_id: str) -> None:
        if self._download is not None:
            return
        self.panel.set_download_progress(f"Looking up {repo_id}…", 0.0, True)
        downloader, token = self.downloader, self.hub_token
        self._downloaded = None
        self._download = self.tasks.iterate(lambda: downloader(repo_id, token=token), name="download",
                                            on_item=self._download_progress, on_error=self._download_error,
                                            on_finished=self._download_done)

    def cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()
            self.panel.set_download_progress("Cancelled; the next download of it continues where it stopped.",
                                             None, False)

    def _download_progress(self, p: DownloadProgress) -> None:
        self.download_progressed.emit(p)
        if p.path is not None:
            self._downloaded = str(p.path)
            self.panel.set_download_progress(p.text(), 1.0, True)
            self.panel.set_folder(p.path)
            return
        self.panel.set_download_progress(p.text(), p.fraction, True)

    def _download_error(self, exc: BaseException) -> None:
        self.panel.set_download_progress(str(exc), None, False)
        self.download_ended.emit(None, exc)
        self.error.emit(exc, "The download failed")

    def _download_done(self) -> None:
        task, self._download = self._download, None
        label = self.panel.download_label.text()
        self.panel.set_download_progress(label if task is not None else "", None, False)
        folder, self._downloaded = self._downloaded, None
        if folder is not None:
            self.download_ended.emit(folder, None)
            self.load(folder, "auto", None)  # the planner chooses the precision, as on any start
        elif task is not None and task.cancelled:
            self.download_ended.emit(None, None)
