"""What the model catalog does: judge each model for this machine, list the local ones, download, load, delete.

The verdicts come from ``core.catalog`` (the precision planner on each entry's config) with the hardware the
engine reports in its status; until an engine has reported, this computer's CPU and RAM
(``host_hardware_info``). Downloads go through the ``ModelController`` (one at a time; it loads the model with
the planner's choice when done); folder listings and deletions run through ``app.tasks``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.dialogs.catalog_dialog import CatalogDialog
from app.model_controller import ModelController
from app.tasks import TaskRunner
from core.api.protocol import EngineStatus
from core.catalog import CatalogEntry, judge, load_catalog
from core.hardware import HardwareInfo, host_hardware_info
from core.hub import DownloadProgress, format_size
from core.local_models import LocalModel, delete_local_model, list_local_models
from core.precision import DEFAULT_CONTEXT_CAP, format_bytes

log = logging.getLogger(__name__)

TOKEN_KEY = "hub/token"


class CatalogController(QObject):
    def __init__(self, parent_widget: QWidget, models: ModelController, tasks: TaskRunner, settings: QSettings,
                 report: Callable[[BaseException | str, str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.parent_widget, self.models, self.tasks, self.settings, self.report = (parent_widget, models, tasks,
                                                                                   settings, report)
        self.hardware: HardwareInfo | None = None  # the engine's; None until it reported
        self.dialog: CatalogDialog | None = None
        self.entries: list[CatalogEntry] = []
        self.local: list[LocalModel] = []
        self.confirm_deletes = True
        models.hub_token = str(settings.value(TOKEN_KEY, "") or "") or None
        models.status_received.connect(self._status)
        models.download_progressed.connect(self._progress)
        models.download_ended.connect(self._ended)

    # --- showing ---------------------------------------------------------------------------------------
    def show(self) -> CatalogDialog:
        if self.dialog is None:
            self.dialog = CatalogDialog(self.parent_widget)
            self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
            self.dialog.table.download_requested.connect(self.download)
            self.dialog.local_table.load_requested.connect(self.load)
            self.dialog.local_table.delete_requested.connect(self.delete)
            self.dialog.cancel_requested.connect(self.models.cancel_download)
            self.dialog.token_saved.connect(self.save_token)
            self.dialog.token_edit.setText(self.models.hub_token or "")
        if not self.entries:
            try:
                self.entries = load_catalog()
            except (OSError, ValueError) as exc:
                self.report(exc, "The model catalog could not be read")
        self.refresh()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def refresh(self) -> None:
        """Verdicts now (pure arithmetic), local folders on a worker."""
        self._show_verdicts()
        self.tasks.run(list_local_models, name="local models", on_result=self._show_local,
                       on_error=lambda exc: self.report(exc, "The local models could not be listed"))

    def _machine(self) -> HardwareInfo:
        return self.hardware or host_hardware_info()

    def _show_verdicts(self) -> None:
        if self.dialog is None:
            return
        hw = self._machine()
        rows = [(e, judge(e.config, hw)) for e in self.entries]
        downloaded = {m.name for m in self.local if m.source == "downloaded" and m.complete}
        self.dialog.table.show_entries(rows, downloaded)
        memory = {"cuda": "VRAM", "mps": "unified memory"}.get(hw.device, "RAM")
        source = "" if self.hardware is not None else " (CPU and RAM only until the engine has started)"
        self.dialog.show_machine(f"<b>This machine:</b> {hw.device_name} ({hw.device}), "
                                 f"{format_bytes(hw.free_memory_bytes)} of {format_bytes(hw.total_memory_bytes)} "
                                 f"{memory} free{source}. Each verdict is the precision planner's, from the model's "
                                 f"config, for a context of up to {DEFAULT_CONTEXT_CAP:,} tokens (what a load uses); "
                                 "nothing is downloaded to judge it.")

    def _show_local(self, models: list[LocalModel]) -> None:
        self.local = models
        if self.dialog is not None:
            self.dialog.local_table.show_models(models)
            self._show_verdicts()

    def _status(self, status: EngineStatus) -> None:
        if status.hardware:
            try:
                self.hardware = HardwareInfo.from_dict(status.hardware)
            except (TypeError, ValueError) as exc:
                log.info("the engine's hardware facts are unreadable: %s", exc)
        if self.dialog is not None and self.dialog.isVisible():
            self._show_verdicts()

    # --- acting ----------------------------------------------------------------------------------------
    def download(self, repo_id: str) -> None:
        if self.models.downloading:
            return
        if self.dialog is not None:
            self.dialog.show_download(None, f"Looking up {repo_id} on the hub…")
        self.models.download(repo_id)

    def _progress(self, progress: DownloadProgress) -> None:
        if self.dialog is not None:
            self.dialog.show_download(progress)

    def _ended(self, folder: Any, error: Any) -> None:
        if self.dialog is None:
            return
        if folder is not None:
            self.dialog.show_download(None, f"Downloaded to {folder}; loading it with the planner's choice…")
        elif error is not None:
            self.dialog.show_download(None, f"The download stopped: {error}")
        else:
            self.dialog.show_download(None, "Cancelled; downloading it again continues where it stopped.")
        self.refresh()

    def load(self, folder: str) -> None:
        self.models.load(folder, "auto", None)

    def delete(self, folder: str) -> None:
        model = next((m for m in self.local if str(m.path) == folder), None)
        if model is None or not model.deletable:
            return
        loaded = self.models.panel.current_model_path
        if loaded and Path(loaded).resolve() == model.path.resolve():
            self.report(f"{model.name} is the model loaded now: load another one first, then delete it.",
                        "The model is in use")
            return
        if self.confirm_deletes:
            answer = QMessageBox.question(self.dialog or self.parent_widget, "Delete model",
                                          f"Delete {model.name} ({format_size(model.size_bytes)}) from {folder}?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.tasks.run(delete_local_model, Path(folder), name="delete model", on_finished=self.refresh,
                       on_error=lambda exc: self.report(exc, "The model could not be deleted"))

    def save_token(self, token: str) -> None:
        """Kept in the window's settings (a plain file in the user's profile, like ``hf auth login``'s)."""
        self.settings.setValue(TOKEN_KEY, token)
        self.models.hub_token = token or None
        if self.dialog is not None:
            self.dialog.show_download(None, "Token saved: downloads use it from now on." if token
                                      else "Token cleared: downloads use HF_TOKEN or `hf auth login`, if any.")
